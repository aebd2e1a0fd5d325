"""bigcode-evaluation-harness's evaluation_results.json and generations_<task>.json: written by
every evaluation, read back by `run.py evaluate` with the same pass@1."""

import json

import pytest

import run
from starjax.eval import execution, harness_format
from starjax.eval.benchmarks import get_benchmark
from starjax.eval.humaneval import read_humaneval


@pytest.fixture(autouse=True)
def test_sandbox(monkeypatch, sandbox):
  monkeypatch.setattr(execution.sandbox_lib, "Sandbox", lambda *a, **k: sandbox)


def evaluate(tmp_path, name, samples_path, out):
  return run.main(["evaluate", f"--benchmark={name}", f"--samples={samples_path}",
                   f"--out={tmp_path / out}", "--k=1"])


def test_evaluate_writes_harness_files_that_round_trip(tmp_path):
  raws = read_humaneval()
  rows = [{"task_id": "HumanEval/0", "completion": raws["HumanEval/0"]["canonical_solution"]},
          {"task_id": "HumanEval/0", "completion": "    return 0\n"},
          {"task_id": "HumanEval/1", "completion": raws["HumanEval/1"]["canonical_solution"]},
          {"task_id": "HumanEval/1", "completion": "    pass\n"}]
  (tmp_path / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
  assert evaluate(tmp_path, "humaneval", tmp_path / "s.jsonl", "first") == 0
  results = json.loads((tmp_path / "first" / "evaluation_results.json").read_text())
  assert results["humaneval"] == {"pass@1": 0.5}
  config = results["config"]
  assert config["dataset_sha256"] and config["toolchain_versions"]["python"]
  generations = json.loads((tmp_path / "first" / "generations_humaneval.json").read_text())
  assert len(generations) == 164 and generations[2:] == [[]] * 162
  assert generations[0][0] == raws["HumanEval/0"]["prompt"] + raws["HumanEval/0"]["canonical_solution"]
  # A harness generations file scores the same.
  assert evaluate(tmp_path, "humaneval", tmp_path / "first" / "generations_humaneval.json",
                  "second") == 0
  again = json.loads((tmp_path / "second" / "evaluation_results.json").read_text())
  assert again["humaneval"] == results["humaneval"]


def test_harness_generations_may_start_with_the_stripped_prompt():
  benchmark = get_benchmark("humaneval")
  raw = read_humaneval()["HumanEval/2"]
  # the harness generates after prompt.strip() and writes prompt.strip() + generation
  generation = raw["prompt"].strip() + "\n" + raw["canonical_solution"]
  assert harness_format.strip_prompt(raw["prompt"], generation) == raw["canonical_solution"]
  assert benchmark.problems["HumanEval/2"].prompt == raw["prompt"]


def test_fim_generations_are_the_middles(tmp_path):
  benchmark = get_benchmark("humaneval-infill-single")
  path = tmp_path / "g.json"
  path.write_text(json.dumps([["    return 1\n"]]))
  assert harness_format.read_generations(str(path), benchmark) == [
      {"task_id": "SingleLineInfilling/HumanEval/0/L0", "completion": "    return 1\n"}]


def test_a_generations_file_longer_than_the_benchmark_is_refused(tmp_path, capsys):
  (tmp_path / "g.json").write_text(json.dumps([["x"]] * 165))
  assert evaluate(tmp_path, "humaneval", tmp_path / "g.json", "out") == 2
  assert "matched to problems by position" in capsys.readouterr().err
