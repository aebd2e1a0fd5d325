"""D, R, Racket and Scala (multiple-d, -r, -rkt, -scala): known-good, failing-assert,
syntax-error and timeout programs get the right verdicts in the sandbox; what a compiler or
runtime prints on stderr as a warning does not fail a correct program; Julia and Swift are
reported unavailable, never scored."""

from __future__ import annotations

import concurrent.futures

import pytest

import run
from starjax.eval import execution
from starjax.eval.benchmarks import BenchmarkUnavailable, get_benchmark
from starjax.eval.languages import get_language
from tests.eval.languages import solutions
from tests.eval.languages.conftest import skip_without_toolchain
from tests.eval.languages.jobs import translate

SYNTAX_ERROR = {"d": "    return (true;\n", "r": "  if (TRUE {\n}\n",
                "rkt": "  (let ([x 1)\n", "scala": "        val x = = 1\n"}
LOOP_FOREVER = {"d": "    while (true) {}\n", "r": "  repeat {}\n}\n",
                "rkt": "  (let loop () (loop)))\n", "scala": "        while (true) {}\n        false\n"}
WARN_FIRST = {"d": '    pragma(msg, "Warning: a compile-time note on stderr");\n',
              "r": '  warning("a warning on stderr")\n',
              "rkt": '  (eprintf "warning: on stderr\\n")\n',
              "scala": '        System.err.println("warning: on stderr")\n'}
# A syntax error is caught by the compiler where there is one, else it fails the run.
SYNTAX_VERDICT = {"d": "compile error", "scala": "compile error", "r": "failed", "rkt": "failed"}
RUN_TIMEOUT = 4.0
# Programs that should finish get room: `#lang racket` alone takes seconds on a busy 2-core box.
SLACK = 30.0


def programs(ext):
  """kind → completion of HumanEval/0 in language ext."""
  solution = solutions.load(ext).SOLUTIONS["HumanEval/0"]
  return {"right": solution.correct, "failing assert": solution.wrong,
          "syntax error": SYNTAX_ERROR[ext], "timeout": LOOP_FOREVER[ext],
          "warning on stderr": WARN_FIRST[ext] + solution.correct}


def verdicts_of(ext):
  skip_without_toolchain(ext)
  language, problem = get_language(ext), translate(ext, "HumanEval/0")
  with concurrent.futures.ThreadPoolExecutor(2) as pool:
    futures = {kind: pool.submit(execution.check_completion, language, problem, completion,
                                 timeout=RUN_TIMEOUT if kind == "timeout" else SLACK)
               for kind, completion in programs(ext).items()}
    return {kind: future.result() for kind, future in futures.items()}


def check_verdicts(ext):
  verdicts = verdicts_of(ext)
  describe = lambda k: f"{ext} {k}: {verdicts[k].result}\n{verdicts[k].stderr[-1500:]}"
  assert verdicts["right"].passed, describe("right")
  assert verdicts["warning on stderr"].passed, describe("warning on stderr")
  assert verdicts["failing assert"].result.startswith("failed"), describe("failing assert")
  assert verdicts["syntax error"].result.startswith(SYNTAX_VERDICT[ext]), describe("syntax error")
  assert verdicts["timeout"].result == "timed out", describe("timeout")


@pytest.mark.parametrize("ext", ["d", "r", "rkt"])
def test_verdicts_of_each_kind_of_program(ext):
  check_verdicts(ext)


@pytest.mark.slow  # five scalac runs of several seconds each
def test_verdicts_of_each_kind_of_scala_program():
  check_verdicts("scala")


@pytest.mark.parametrize("ext", ["d", "r", "rkt", "scala"])
def test_problem_counts_are_close_to_multiple_es(ext):
  # MultiPL-E: d 156, r 161, racket 161, scala 160; each drop is listed with its reason.
  multiple_e = {"d": 156, "r": 161, "rkt": 161, "scala": 160}
  benchmark = get_benchmark(f"multiple-{ext}")
  assert abs(len(benchmark.problems) - multiple_e[ext]) <= 5
  assert len(benchmark.problems) + len(benchmark.dropped) == 164
  assert all(benchmark.dropped.values())


@pytest.mark.parametrize("name", ["multiple-jl", "multiple-swift"])
def test_julia_and_swift_are_unavailable_not_zero(name, tmp_path, capsys):
  with pytest.raises(BenchmarkUnavailable, match="unavailable here"):
    get_benchmark(name)
  samples = tmp_path / "s.jsonl"
  samples.write_text('{"task_id": "HumanEval/0", "completion": ""}\n')
  assert run.main(["evaluate", f"--benchmark={name}", f"--samples={samples}",
                   f"--out={tmp_path / 'out'}"]) == 2
  assert "no Debian package" in capsys.readouterr().err
  assert not (tmp_path / "out" / "summary.json").exists()
