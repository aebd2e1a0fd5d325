"""`python run.py evaluate` and `python run.py eval` from the command line."""

from __future__ import annotations

import json

import pytest

import run
from starjax.eval import cli, execution
from starjax.eval.humaneval import read_humaneval


@pytest.fixture(autouse=True)
def test_sandbox(monkeypatch, sandbox):
  # The CLI builds its own Sandbox from gin; give it the session's (same isolation, small limits).
  monkeypatch.setattr(execution.sandbox_lib, "Sandbox", lambda *a, **k: sandbox)


def write_samples(path, rows):
  path.write_text("".join(row if isinstance(row, str) else json.dumps(row) + "\n" for row in rows))
  return str(path)


def canonical(task_id):
  return {"task_id": task_id, "completion": read_humaneval()[task_id]["canonical_solution"]}


def test_evaluate_writes_results_and_summary_and_prints_them(tmp_path, capsys):
  samples = write_samples(tmp_path / "s.jsonl", [
      canonical("HumanEval/0"), {"task_id": "HumanEval/0", "completion": "    return 0\n"},
      canonical("HumanEval/1"), canonical("HumanEval/1")])
  out = tmp_path / "run"
  assert run.main(["evaluate", "--benchmark=humaneval", f"--samples={samples}", f"--out={out}",
                   "--k=1,2"]) == 0
  printed = capsys.readouterr().out
  summary = json.loads((out / "summary.json").read_text())
  assert summary["pass@1"] == pytest.approx(0.75) and summary["pass@2"] == 1.0
  assert json.loads(printed[:printed.index("\n}\n") + 2]) == summary
  assert "| humaneval | Python | 2/164 | 2 | 75.00 | 100.00 |" in printed
  assert len((out / "results.jsonl").read_text().splitlines()) == 4
  assert (out / "report.md").exists() and (out / "pass_at_k.png").read_bytes()[:4] == b"\x89PNG"


def test_unknown_benchmark_is_a_usage_error_listing_names(tmp_path, capsys):
  samples = write_samples(tmp_path / "s.jsonl", [canonical("HumanEval/0")])
  assert run.main(["evaluate", "--benchmark=humaneval-plus", f"--samples={samples}",
                   f"--out={tmp_path / 'o'}"]) == 2
  error = capsys.readouterr().err
  assert "--benchmark=humaneval-plus: unknown benchmark" in error and "multiple-rs" in error


def test_invalid_lines_make_the_exit_status_one(tmp_path, capsys):
  samples = write_samples(tmp_path / "s.jsonl", [canonical("HumanEval/0"), "{oops\n"])
  assert run.main(["evaluate", "--benchmark=humaneval", f"--samples={samples}",
                   f"--out={tmp_path / 'o'}"]) == 1
  error = capsys.readouterr().err
  assert "1 line(s)" in error and "line 2: not JSON" in error
  assert json.loads((tmp_path / "o" / "summary.json").read_text())["pass@1"] == 1.0


def test_missing_samples_file_is_named(tmp_path, capsys):
  assert run.main(["evaluate", "--benchmark=humaneval", f"--samples={tmp_path}/none.jsonl",
                   f"--out={tmp_path / 'o'}"]) == 2
  assert f"--samples={tmp_path}/none.jsonl: no such file" in capsys.readouterr().err


def test_gin_bindings_set_the_timeout(tmp_path, capsys):
  samples = write_samples(tmp_path / "s.jsonl", [
      {"task_id": "HumanEval/0", "completion": "    while True:\n        pass\n"}])
  assert run.main(["evaluate", "--benchmark=humaneval", f"--samples={samples}",
                   f"--out={tmp_path / 'o'}", "--gin.Timeouts.run=0.5"]) == 0
  summary = json.loads((tmp_path / "o" / "summary.json").read_text())
  assert summary["timeouts"]["run"] == 0.5 and summary["results"] == {"timed out": 1}


def test_timeout_flag_overrides_gin(tmp_path):
  samples = write_samples(tmp_path / "s.jsonl", [canonical("HumanEval/0")])
  assert run.main(["evaluate", "--benchmark=humaneval", f"--samples={samples}",
                   f"--out={tmp_path / 'o'}", "--timeout=7", "--gin.Timeouts.run=0.5"]) == 0
  assert json.loads((tmp_path / "o" / "summary.json").read_text())["timeouts"]["run"] == 7


def test_bad_k_is_refused(tmp_path, capsys):
  with pytest.raises(SystemExit) as exit_:
    cli.evaluate_main(["--benchmark=humaneval", "--samples=x", "--out=y", "--k=0,1"])
  assert exit_.value.code == 2
  assert "--k=0,1: give positive integers" in capsys.readouterr().err


def test_other_samples_in_a_used_directory_are_refused(tmp_path, capsys):
  first = write_samples(tmp_path / "a.jsonl", [canonical("HumanEval/0")])
  second = write_samples(tmp_path / "b.jsonl", [canonical("HumanEval/1")])
  out = tmp_path / "o"
  assert run.main(["evaluate", "--benchmark=humaneval", f"--samples={first}", f"--out={out}"]) == 0
  capsys.readouterr()
  assert run.main(["evaluate", "--benchmark=humaneval", f"--samples={second}", f"--out={out}"]) == 2
  assert "holds results of another evaluation" in capsys.readouterr().err


def test_eval_needs_exactly_one_model_source(capsys):
  assert run.main(["eval", "--benchmark=humaneval"]) == 2
  assert "give exactly one of --model_dir or --hf_dir" in capsys.readouterr().err
  assert run.main(["eval", "--benchmark=nonesuch", "--model_dir=/x", "--hf_dir=/y"]) == 2
