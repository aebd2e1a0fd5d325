"""`run.py eval-diff A B`: problems that flipped, pass@1 difference with a paired bootstrap CI."""

import json

import numpy as np
import pytest

import run
from starjax.eval import diff


def write_run(directory, passed_by_task, benchmark="humaneval"):
  directory.mkdir(parents=True)
  with open(directory / "results.jsonl", "w") as f:
    for task, verdicts in passed_by_task.items():
      for passed in verdicts:
        f.write(json.dumps({"task_id": task, "completion": "x", "passed": passed,
                            "result": "passed" if passed else "failed: x"}) + "\n")
  (directory / "summary.json").write_text(json.dumps({"benchmark": benchmark}))


def test_flipped_problems_and_difference(tmp_path):
  write_run(tmp_path / "a" / "humaneval", {"t0": [True], "t1": [False], "t2": [True], "t3": [False]})
  write_run(tmp_path / "b" / "humaneval", {"t0": [True], "t1": [True], "t2": [False], "t3": [True]})
  result = diff.diff_runs(str(tmp_path / "a"), str(tmp_path / "b"), resamples=2000)["humaneval"]
  assert result["pass@1_a"] == 0.5 and result["pass@1_b"] == 0.75
  assert result["difference"] == pytest.approx(0.25)
  assert result["fixed"] == ["t1", "t3"] and result["broken"] == ["t2"]
  assert result["ci_low"] <= 0.25 <= result["ci_high"]


def test_bootstrap_interval_is_paired():
  # B is A plus the same 0.1 on every problem: pairing makes the interval a point.
  a = np.linspace(0, 0.8, 50)
  low, high = diff.paired_bootstrap(a, a + 0.1, resamples=500, seed=0, confidence=0.95)
  assert low == pytest.approx(0.1) and high == pytest.approx(0.1)


def test_identical_runs_have_a_zero_interval(tmp_path):
  runs = {f"t{i}": [i % 3 == 0, i % 2 == 0] for i in range(30)}
  write_run(tmp_path / "a", runs)
  write_run(tmp_path / "b", runs)
  result = diff.diff_runs(str(tmp_path / "a"), str(tmp_path / "b"))["humaneval"]
  assert result["difference"] == result["ci_low"] == result["ci_high"] == 0
  assert result["fixed"] == result["broken"] == []


def test_command_prints_the_comparison(tmp_path, capsys):
  write_run(tmp_path / "a", {"t0": [False], "t1": [True]})
  write_run(tmp_path / "b", {"t0": [True], "t1": [True]})
  assert run.main(["eval-diff", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
  out = capsys.readouterr().out
  assert "humaneval: 2 problems  pass@1 A 50.00  B 100.00  B-A +50.00 points" in out
  assert "now solved: t0" in out


def test_missing_directory_is_a_usage_error(tmp_path, capsys):
  assert run.main(["eval-diff", str(tmp_path / "nope"), str(tmp_path)]) == 2
  assert "no such evaluation directory" in capsys.readouterr().err
