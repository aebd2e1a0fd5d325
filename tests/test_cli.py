"""The one CLI layer (starjax/cli.py): every subcommand answers a missing model, a bad gin
binding and a missing data path with one line that names the problem, and the same exit codes
(0 ok, 1 runtime/data failure, 2 usage/configuration, 130 interrupted, 143 terminated)."""

import os
import subprocess
import sys

import pytest

import run
from starjax import ROOT, cli

MISSING = "/nonexistent/starjax-test"


def one_line_error(capsys) -> str:
  err = capsys.readouterr().err.strip()
  assert "Traceback" not in err and "In call to configurable" not in err, err
  assert len(err.splitlines()) == 1, err
  return err


@pytest.mark.parametrize("argv", [
    ["generate", "--prompt=x"], ["infill", "--prefix=x"], ["chat"],
    ["eval", "--benchmark=humaneval"], ["convert", f"--to_hf={MISSING}/out"],
])
def test_a_missing_model_is_one_line_and_exit_2(argv, capsys):
  assert run.main(argv) == 2
  err = one_line_error(capsys) if argv[0] != "convert" else capsys.readouterr().err
  assert "--model_dir" in err


@pytest.mark.parametrize("argv", [
    ["generate", f"--model_dir={MISSING}", "--prompt=x"],
    ["infill", f"--hf_dir={MISSING}", "--prefix=x"],
    ["eval", "--benchmark=humaneval", f"--model_dir={MISSING}"],
    ["convert", f"--to_hf={MISSING}/out", f"--model_dir={MISSING}"],
    ["convert", f"--from_hf={MISSING}", f"--out={MISSING}/out"],
])
def test_a_model_directory_that_does_not_exist_is_named(argv, capsys):
  assert run.main(argv) == 2
  assert MISSING in one_line_error(capsys)


@pytest.mark.parametrize("argv", [
    ["train", "--gin_file=experiments/quickstart.gin"], ["info"], ["data", "stats"],
    ["generate", f"--model_dir={MISSING}", "--prompt=x"],
    ["eval", "--benchmark=humaneval", f"--model_dir={MISSING}"],
    ["evaluate", "--benchmark=humaneval", f"--samples={MISSING}.jsonl", f"--out={MISSING}"],
    ["convert", f"--to_hf={MISSING}/out", f"--model_dir={MISSING}"], ["quickstart"],
])
def test_a_bad_gin_binding_is_named_with_a_suggestion_and_exit_2(argv, capsys):
  assert run.main([*argv, "--gin.DecoderConfig.hiden_size=3"]) == 2
  err = one_line_error(capsys)
  assert "DecoderConfig.hiden_size" in err and "hidden_size" in err


def test_a_missing_data_path_is_a_data_failure_named_in_one_line(tmp_path, capsys):
  stack = [f"--gin.data_paths.stack_dir={MISSING}", "--gin.MIXTURE_OR_TASK_NAME=stack_python"]
  assert run.main(["train", "--gin_file=experiments/quickstart.gin",
                   f"--gin.MODEL_DIR={tmp_path}/run", *stack]) == 1
  assert f"data_paths.stack_dir={MISSING}" in one_line_error(capsys)
  assert run.main(["data", "show", "--task=stack_python", *stack[:1]]) == 1
  assert f"data_paths.stack_dir={MISSING}" in one_line_error(capsys)


def test_a_missing_samples_file_is_named(capsys):
  assert run.main(["evaluate", "--benchmark=humaneval", f"--samples={MISSING}.jsonl",
                   f"--out={MISSING}"]) == 2
  assert f"{MISSING}.jsonl" in one_line_error(capsys)


def test_gin_decoration_is_not_part_of_the_message():
  error = ValueError("SEQ_LEN=9 exceeds the model's max_seq_len=8\n"
                     "  In call to configurable 'train' (<function train at 0x7f00>)")
  assert cli.message_of(error) == "SEQ_LEN=9 exceeds the model's max_seq_len=8"


@pytest.mark.parametrize("error,code", [
    (KeyboardInterrupt(), 130), (ValueError("bad flag"), 2), (FileNotFoundError("x"), 2),
    (OSError("disk full"), 1), (RuntimeError("diverged"), 1)])
def test_exceptions_map_to_the_documented_exit_codes(error, code):
  from starjax.data.errors import DataError  # pylint: disable=import-outside-toplevel
  assert cli.exit_code_of(error) == code
  assert cli.exit_code_of(DataError("no shards")) == 1
  assert cli.exit_code_of(TypeError("a bug")) is None  # bugs keep their traceback


SLEEPING_COMMAND = """
import os, signal, time
from starjax import cli
signal.signal(signal.SIGALRM, lambda *_: os.kill(os.getpid(), signal.SIGTERM))
signal.alarm(1)
raise SystemExit(cli.run("sleep", lambda command, argv: time.sleep(30), []))
"""


def test_sigterm_ends_a_subcommand_with_143_and_one_line():
  process = subprocess.run([sys.executable, "-c", SLEEPING_COMMAND], cwd=ROOT,
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, PYTHONPATH=ROOT))
  assert process.returncode == 143
  assert "run.py sleep: terminated (SIGTERM)" in process.stderr
  assert "Traceback" not in process.stderr
