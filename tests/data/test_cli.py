import json

import pytest

from starjax.data import cli
from tests.data.conftest import VOCAB_SIZE


def run(capsys, cache, *argv):
  status = cli.main("data", [*argv, f"--gin.data_paths.cache_dir={cache}",
                             f"--gin.VOCAB_SIZE={VOCAB_SIZE}"])
  out, err = capsys.readouterr()
  return status, out, err


def test_stats_json_reports_languages_and_paths(capsys, local_build):
  status, out, _ = run(capsys, local_build[0], "stats", "--json")
  assert status == 0
  stats = json.loads(out)
  assert {"languages", "corpus_path", "tokenizer_path"} <= set(stats)
  python = stats["languages"]["python"]
  assert python["files"] >= 3 and python["bytes"] > 0 and python["tokens"] > 0
  assert sum(e["roundtrip_failures"] for e in stats["languages"].values()) == 0
  assert sum(e["mixture_rate"] for e in stats["languages"].values()) == pytest.approx(1.0)
  assert stats["tokenizer_path"].endswith(f"-v{VOCAB_SIZE}/tokenizer.json")


def test_stats_prints_a_table(capsys, local_build):
  status, out, _ = run(capsys, local_build[0], "stats")
  assert status == 0 and "python" in out and "encode → decode mismatches: 0" in out


def test_show_json_gives_decoded_examples(capsys, local_build):
  status, out, _ = run(capsys, local_build[0], "show", "--task=local_python", "--n=4", "--json",
                       "--gin.code_preprocessing.fim_rate=1.0")
  assert status == 0
  examples = json.loads(out)
  assert len(examples) == 4 and all(isinstance(e, str) for e in examples)
  assert all(e.startswith("<fim_prefix>") and e.endswith("<|endoftext|>") for e in examples)


def test_show_defaults_to_the_local_mixture(capsys, local_build):
  status, out, _ = run(capsys, local_build[0], "show", "--n=2")
  assert status == 0 and out.count("──── local_code example") == 2


def test_bad_input_is_reported_not_raised(capsys, tmp_path):
  status, _, err = run(capsys, tmp_path, "stats")
  assert status == 1 and "no local corpus" in err and "build-local" in err
  status, _, err = run(capsys, tmp_path, "build-local", "--roots", str(tmp_path / "missing"),
                       "--gin.local_corpus.system_trees=False")
  assert status == 1 and "missing: no such directory" in err


def test_unknown_subcommands_are_usage_errors(capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli.main("data", ["frobnicate"])
  assert exit_info.value.code == 2
