"""`run.py data prepare` on the command line: exit codes and one-line errors."""

from starjax.data import cli as data_cli


def test_bad_input_exits_1_with_a_one_line_error_naming_the_directory(tmp_path, capsys):
  status = data_cli.main("data", ["prepare", f"--input={tmp_path / 'nowhere'}",
                                  f"--output={tmp_path / 'out'}"])
  err = capsys.readouterr().err.strip().splitlines()
  assert status == 1 and len(err) == 1
  assert err[0].startswith("run.py data prepare: --input=") and "no such directory" in err[0]


def test_gin_bindings_reach_the_stage_options(tmp_path, capsys):
  status = data_cli.main("data", ["prepare", f"--input={tmp_path}/in", f"--output={tmp_path}/o",
                                  "--gin.near_dedup.keep=best"])
  err = capsys.readouterr().err.strip().splitlines()
  assert status == 1 and len(err) == 1
  assert "near_dedup.keep='best': must be one of lowest_index, quality" in err[0]
