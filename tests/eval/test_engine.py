"""evaluate_samples: parallel, deduplicated, resumable scoring into results.jsonl, summary.json."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

import pytest

from starjax.eval.benchmarks import Benchmark, get_benchmark
from starjax.eval.execution import Timeouts, ToolchainMissingError, evaluate_samples
from starjax.eval.humaneval import read_humaneval
from starjax.eval.languages.base import Program
from starjax.eval.languages.python import Python
from starjax.eval.results import RunDirectoryConflict
from tests.eval.conftest import sandbox_processes, toy_problem, wait_until_gone

WRONG = "    return None\n"
# Near misses: plausible but wrong bodies that the tests must catch.
NEAR_MISSES = {
    "HumanEval/2": "    return number % 1.0 + 1e-3\n",
    "HumanEval/4": "    mean = sum(numbers) / len(numbers)\n"
                   "    return sum(abs(x - mean) for x in numbers) / (len(numbers) - 1)\n",
    "HumanEval/13": "    while b:\n        a, b = b, a % b\n    return a + 1\n",
    "HumanEval/23": "    return len(string) - 1\n",
}


def write_jsonl(path, rows) -> str:
  with open(path, "w") as f:
    for row in rows:
      f.write(row if isinstance(row, str) else json.dumps(row) + "\n")
  return str(path)


def read_jsonl(path):
  with open(path) as f:
    return [json.loads(line) for line in f]


@pytest.fixture
def evaluate(sandbox, tmp_path):
  def run(benchmark, rows, out="out", **kwargs):
    samples = rows if isinstance(rows, str) else write_jsonl(tmp_path / f"{out}.jsonl", rows)
    kwargs.setdefault("timeouts", Timeouts(run=5.0))
    return evaluate_samples(benchmark, samples, str(tmp_path / out), sandbox=sandbox,
                            progress=False, **kwargs)
  return run


def test_canonical_solutions_pass_and_wrong_ones_fail(evaluate, tmp_path):
  problems = read_humaneval()
  rows = []
  for task_id, raw in problems.items():
    rows.append({"task_id": task_id, "completion": raw["canonical_solution"], "kind": "canonical"})
    rows.append({"task_id": task_id, "completion": NEAR_MISSES.get(task_id, WRONG),
                 "kind": "wrong"})
  summary = evaluate("humaneval", rows, ks=(1, 2, 10))
  results = read_jsonl(tmp_path / "out" / "results.jsonl")
  failures = [(r["task_id"], r["result"]) for r in results if r["kind"] == "canonical"
              and not r["passed"]]
  assert failures == []
  assert not any(r["passed"] for r in results if r["kind"] == "wrong")
  assert summary["pass@1"] == pytest.approx(0.5) and summary["pass@2"] == 1.0
  assert "pass@10" not in summary and "pass@10" in summary["omitted"]
  assert summary["num_tasks_scored"] == 164 and summary["num_samples"] == 328
  assert summary["results"]["passed"] == 164


def test_results_keep_input_order_and_keys(evaluate, tmp_path):
  rows = [{"task_id": "HumanEval/3", "completion": WRONG, "completion_id": 0, "model": "m"},
          {"task_id": "HumanEval/0", "completion": read_humaneval()["HumanEval/0"][
              "canonical_solution"], "passed": False, "result": "stale"},
          {"task_id": "HumanEval/3", "completion": "    return False\n"}]
  evaluate("humaneval", rows)
  results = read_jsonl(tmp_path / "out" / "results.jsonl")
  assert [r["task_id"] for r in results] == ["HumanEval/3", "HumanEval/0", "HumanEval/3"]
  assert results[0]["model"] == "m" and results[0]["completion_id"] == 0
  assert results[1]["passed"] is True and results[1]["result"] == "passed"  # stale keys replaced
  assert list(results[0])[-2:] == ["passed", "result"]


def test_identical_programs_run_once(evaluate, sandbox, monkeypatch):
  calls = []
  real_run = sandbox.run
  monkeypatch.setattr(sandbox, "run", lambda *a, **k: calls.append(a[0]) or real_run(*a, **k))
  rows = [{"task_id": "HumanEval/3", "completion": WRONG}] * 5
  rows += [{"task_id": "HumanEval/4", "completion": WRONG}] * 2
  summary = evaluate("humaneval", rows, ks=(1, 2, 5))
  assert len(calls) == 2
  assert summary["num_programs"] == 2 and summary["num_samples"] == 7
  assert summary["samples_per_task"] == {"min": 2, "max": 5}
  assert "pass@1" in summary and "pass@2" in summary and "pass@5" not in summary


class CompiledPython(Python):
  """A compiled language made of Python: compile = byte-compile, run = the .pyc."""
  name = "CompiledPython"

  def program(self, problem, completion, sentinel):
    source = super().program(problem, completion, sentinel).files["program.py"]
    return Program(
        files={"source.py": source},
        compile=(sys.executable, "-c", "import py_compile; py_compile.compile("
                 "'source.py', cfile='built.pyc', doraise=True)"),
        run=(sys.executable, "built.pyc"))


def test_compiled_languages_compile_once_per_program(evaluate, sandbox, monkeypatch):
  calls = []
  real_run = sandbox.run
  monkeypatch.setattr(sandbox, "run",
                      lambda *a, **k: calls.append(tuple(a[0])) or real_run(*a, **k))
  benchmark = Benchmark("compiled-toy", CompiledPython(), {"toy/0": toy_problem()}, {})
  rows = [{"task_id": "toy/0", "completion": "    return 1\n"}] * 3
  rows += [{"task_id": "toy/0", "completion": "    return (\n"}] * 2  # a syntax error
  summary = evaluate(benchmark, rows)
  compiles = [c for c in calls if c[1] == "-c"]
  runs = [c for c in calls if c[1:] == ("built.pyc",)]
  assert len(compiles) == 2 and len(runs) == 1  # the broken program is never run
  assert summary["results"] == {"passed": 3, "compile error": 2}


def test_interrupted_run_resumes_without_rerunning_scored_programs(evaluate, sandbox, tmp_path,
                                                                  monkeypatch):
  rows = [{"task_id": f"HumanEval/{i}", "completion": WRONG} for i in range(6)]
  rows.append("{\"task_id\": \"HumanEval/0\", \"compl")  # a torn line: invalid, counted
  calls = []
  real_run = sandbox.run
  def interrupted_on_the_fourth(*args, **kwargs):
    calls.append(args[0])
    if len(calls) == 4:
      raise KeyboardInterrupt
    return real_run(*args, **kwargs)
  monkeypatch.setattr(sandbox, "run", interrupted_on_the_fourth)
  with pytest.raises(KeyboardInterrupt):
    evaluate("humaneval", rows, num_workers=1)
  partial = [r for r in read_jsonl(tmp_path / "out" / "results.jsonl") if "task_id" in r]
  assert len(partial) == 3
  with open(tmp_path / "out" / "results.jsonl", "a") as f:
    f.write('{"task_id": "HumanEval/5", "completion": "    return None\\n", "pass')  # torn write
  monkeypatch.setattr(sandbox, "run", real_run)
  summary = evaluate("humaneval", str(tmp_path / "out.jsonl"))  # the same command again
  assert summary["num_programs_run"] == 3 and summary["num_programs"] == 6
  results = read_jsonl(tmp_path / "out" / "results.jsonl")
  assert [r.get("task_id") for r in results] == [f"HumanEval/{i}" for i in range(6)] + [None]
  assert results[-1]["result"].startswith("invalid input: line 7: not JSON")
  assert summary["num_invalid_lines"] == 1


def test_other_samples_in_the_same_directory_are_refused(evaluate, tmp_path):
  evaluate("humaneval", [{"task_id": "HumanEval/1", "completion": WRONG}])
  before = (tmp_path / "out" / "results.jsonl").read_text()
  other = write_jsonl(tmp_path / "other.jsonl", [{"task_id": "HumanEval/2", "completion": WRONG}])
  with pytest.raises(RunDirectoryConflict, match="samples_sha256"):
    evaluate("humaneval", other)
  assert (tmp_path / "out" / "results.jsonl").read_text() == before


def test_bad_lines_are_counted_not_fatal(evaluate, tmp_path):
  rows = ["not json at all\n", "[1, 2]\n", "\n",
          {"task_id": "HumanEval/999", "completion": WRONG},
          {"task_id": "HumanEval/1"},
          {"task_id": "HumanEval/1", "completion": 7},
          {"task_id": "HumanEval/1", "completion": WRONG, "completion_id": 3},
          {"task_id": "HumanEval/1", "completion": WRONG, "completion_id": 3},
          {"task_id": "HumanEval/1", "completion": WRONG}]
  summary = evaluate("humaneval", rows)
  errors = [e["error"] for e in summary["invalid_lines"]]
  assert summary["num_invalid_lines"] == 6
  assert errors[0].startswith("not JSON")
  assert "a JSON list" in errors[1]
  assert "unknown task_id" in errors[2] and "HumanEval/0 … HumanEval/163" in errors[2]
  assert "no 'completion' key" in errors[3]
  assert "'completion' is a int" in errors[4]
  assert "duplicate sample" in errors[5] and "line 7" in errors[5]
  assert [e["line"] for e in summary["invalid_lines"]] == [1, 2, 4, 5, 6, 8]  # line 3 is blank
  assert summary["num_samples"] == 2 and summary["results"]["invalid input"] == 6
  assert len(read_jsonl(tmp_path / "out" / "results.jsonl")) == 8


def test_missing_samples_file_names_it(evaluate, tmp_path):
  with pytest.raises(FileNotFoundError, match="--samples=.*nowhere.jsonl: no such file"):
    evaluate("humaneval", str(tmp_path / "nowhere.jsonl"))


def test_missing_toolchain_stops_before_anything_is_written(evaluate, tmp_path):
  class NeedsTool(Python):
    toolchain = {"starjax-no-such-tool": "starjax-tool-package"}
  benchmark = Benchmark("needs-tool", NeedsTool(), {"toy/0": toy_problem()}, {})
  with pytest.raises(ToolchainMissingError, match="apt-get install starjax-tool-package"):
    evaluate(benchmark, [{"task_id": "toy/0", "completion": WRONG}])
  assert not (tmp_path / "out").exists()


def test_in_memory_samples_are_saved_in_the_run_directory(sandbox, tmp_path):
  benchmark = get_benchmark("humaneval").subset(["HumanEval/2"])
  samples = [{"task_id": "HumanEval/2", "completion": "    return number % 1.0\n"}]
  summary = evaluate_samples(benchmark, samples, str(tmp_path / "hook"), ks=(1,),
                             sandbox=sandbox, progress=False)
  assert summary["pass@1"] == 1.0 and summary["num_problems"] == 1
  assert read_jsonl(tmp_path / "hook" / "samples.jsonl") == samples


def test_interrupt_stops_running_programs_at_once(evaluate, sandbox, request):
  rows = [{"task_id": f"HumanEval/{i}", "completion": "    while True:\n        pass\n"}
          for i in range(4)]
  # A real SIGINT, as Ctrl-C sends: it interrupts the main thread's wait for verdicts. Python's
  # own handler is installed for the test: a shell starts background jobs with SIGINT ignored.
  previous = signal.signal(signal.SIGINT, signal.default_int_handler)
  request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))
  threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
  start = time.monotonic()
  with pytest.raises(KeyboardInterrupt):
    evaluate("humaneval", rows, timeouts=Timeouts(run=60.0))
  assert time.monotonic() - start < 5.0
  assert wait_until_gone(lambda: sandbox_processes(sandbox)) == []
  assert not sandbox.cancel.is_set()  # the sandbox stays usable
