"""Contamination-aware evaluation: problems injected into the training data before indexing are
found, and pass@k is split into clean and contaminated problems."""

from __future__ import annotations

import json

import pytest

import run
from starjax.eval import contamination, execution
from starjax.eval.benchmarks import get_benchmark
from starjax.eval.humaneval import read_humaneval
from tests.data.governance.corpus import corpus_rows, write_root

INJECTED_WHOLE = ("HumanEval/2", "HumanEval/5", "HumanEval/11")  # prompt + canonical solution
INJECTED_PROMPT = ("HumanEval/7",)  # the prompt only
SCORED = [f"HumanEval/{i}" for i in range(12)]


def contaminated_rows():
  rows = corpus_rows(seed=11, per_language=20)
  problems = read_humaneval()
  for i, task_id in enumerate(INJECTED_WHOLE + INJECTED_PROMPT):
    problem = problems[task_id]
    text = problem["prompt"] + (problem["canonical_solution"] if task_id in INJECTED_WHOLE
                                else "    pass\n")
    base = rows["python"][i]
    rows["python"].append({**base, "content": base["content"][:300] + "\n\n" + text + "\n\n"
                           + base["content"][300:600],
                           "max_stars_repo_name": "leaky/benchmark-solutions",
                           "max_stars_repo_path": f"solutions/problem_{task_id.split('/')[1]}.py",
                           "max_stars_repo_licenses": ["MIT"]})
  return rows


@pytest.fixture(scope="module")
def contaminated_index(tmp_path_factory):
  from starjax.data.governance import index_build
  root = write_root(tmp_path_factory.mktemp("contaminated_root"), contaminated_rows())
  output = tmp_path_factory.mktemp("contaminated_index") / "index"
  index_build.build_index(str(root), str(output), index_build.index_options(fp_samples=20_000))
  return str(root), str(output)


def test_injected_problems_are_found_and_no_others(contaminated_index):
  index = contamination.open_index(contaminated_index[1])
  found = contamination.find_contaminated(get_benchmark("humaneval"), index)
  assert sorted(found) == sorted(INJECTED_WHOLE + INJECTED_PROMPT)
  evidence = found["HumanEval/5"]
  assert evidence["coverage"] >= contamination.MIN_COVERAGE
  assert {"repo": "leaky/benchmark-solutions", "path": "solutions/problem_5.py",
          "license": "MIT"} in evidence["sources"]


def test_split_pass_at_k_counts_each_group():
  records = [{"task_id": "a", "passed": True, "result": "passed"},
             {"task_id": "a", "passed": False, "result": "failed: x"},
             {"task_id": "b", "passed": False, "result": "failed: x"},
             {"task_id": "c", "passed": True, "result": "passed"},
             {"task_id": "c", "passed": True, "result": "passed"},
             {"line": 7, "passed": False, "result": "invalid input: line 7: not JSON"}]
  split = contamination.split_pass_at_k(records, {"c"}, [1, 2])
  assert split["pass@1_clean"] == pytest.approx((0.5 + 0.0) / 2)
  assert split["pass@1_contaminated"] == 1.0
  assert split["pass@2_contaminated"] == 1.0
  assert split["pass@2_clean"] is None  # task b has one sample only


@pytest.fixture
def test_sandbox(monkeypatch, sandbox):
  monkeypatch.setattr(execution.sandbox_lib, "Sandbox", lambda *a, **k: sandbox)


def test_evaluate_with_index_splits_the_summary_and_the_report(contaminated_index, tmp_path,
                                                              test_sandbox):
  problems = read_humaneval()
  contaminated = set(INJECTED_WHOLE + INJECTED_PROMPT)
  samples = tmp_path / "samples.jsonl"
  with open(samples, "w") as f:
    for task_id in SCORED:  # contaminated problems (and HumanEval/0) solved, the others not
      good = task_id in contaminated or task_id == "HumanEval/0"
      completion = problems[task_id]["canonical_solution"] if good else "    return None\n"
      f.write(json.dumps({"task_id": task_id, "completion": completion}) + "\n")
  out = tmp_path / "run"
  assert run.main(["evaluate", "--benchmark=humaneval", f"--samples={samples}", f"--out={out}",
                   "--k=1", f"--index={contaminated_index[1]}"]) == 0
  summary = json.loads((out / "summary.json").read_text())
  assert summary["contaminated_task_ids"] == ["HumanEval/2", "HumanEval/5", "HumanEval/7",
                                              "HumanEval/11"]
  assert summary["pass@1"] == pytest.approx(5 / 12)
  assert summary["pass@1_contaminated"] == 1.0
  assert summary["pass@1_clean"] == pytest.approx(1 / 8)
  assert summary["contamination"]["num_contaminated"] == 4
  evidence = json.loads((out / contamination.EVIDENCE_FILE).read_text())
  assert sorted(evidence) == sorted(contaminated)
  report = (out / "report.md").read_text()
  assert "## Contamination" in report
  assert "| humaneval | 4 | 160 | 41.67 | 12.50 | 100.00 |" in report


def test_evaluate_with_a_missing_index_is_an_error_before_scoring(tmp_path, capsys):
  samples = tmp_path / "samples.jsonl"
  samples.write_text(json.dumps({"task_id": "HumanEval/0", "completion": "    pass\n"}) + "\n")
  status = run.main(["evaluate", "--benchmark=humaneval", f"--samples={samples}",
                     f"--out={tmp_path / 'run'}", f"--index={tmp_path / 'no-index'}"])
  assert status == 2
  assert "no such directory" in capsys.readouterr().err
  assert not (tmp_path / "run" / "results.jsonl").exists()


def _model_dir(tmp_path, name, stack_dir):
  model_dir = tmp_path / name
  model_dir.mkdir()
  (model_dir / "config.gin").write_text(
      f"# Macros:\nMIXTURE_OR_TASK_NAME = 'stack_python'\n\n"
      f"data_paths.stack_dir = '{stack_dir}'\n")
  return str(model_dir)


def test_an_index_of_other_data_than_the_models_is_reported(contaminated_index, tmp_path,
                                                            capsys):
  other = write_root(tmp_path / "other", corpus_rows(seed=99, per_language=3), shards=1)
  index, check = contamination.open_for_eval(contaminated_index[1],
                                             _model_dir(tmp_path, "other_model", other))
  assert check["matches_model_data"] is False
  error = capsys.readouterr().err
  assert "warning" in error and "built from other data" in error and str(other) in error
  _, check = contamination.open_for_eval(
      contaminated_index[1], _model_dir(tmp_path, "model", contaminated_index[0]))
  assert check["matches_model_data"] is True
  assert index.fingerprint == check["data_fingerprint"]
