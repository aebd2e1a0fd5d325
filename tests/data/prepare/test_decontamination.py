"""Decontamination: the benchmark registry, exact and normalised matches, false positives."""

import glob
import os
import sysconfig
import textwrap

import pytest

import starjax.eval.benchmarks  # noqa: F401  (registers every benchmark's strings)
from starjax.data.prepare import decontamination
from starjax.eval import humaneval


@pytest.fixture(scope="module")
def matcher():
  return decontamination.Matcher(decontamination.benchmark_strings(), min_chars=50)


def test_every_benchmark_starjax_evaluates_is_registered():
  names = decontamination.registered()
  # FIM benchmarks are cut from HumanEval's own solutions: covered by "humaneval".
  assert names == sorted(starjax.eval.benchmarks.left_to_right_names())
  fields = {(s.benchmark, s.field) for s in decontamination.benchmark_strings(["humaneval",
                                                                              "multiple-js"])}
  assert fields == {("humaneval", "prompt"), ("humaneval", "docstring"),
                    ("humaneval", "canonical_solution"), ("multiple-js", "prompt")}


def test_a_benchmark_registered_later_is_searched_for(tmp_path):
  decontamination.register("toy-bench", lambda: [("toy/0", "prompt",
                                                    "def frobnicate_the_widgets(count): return count")])
  try:
    strings = decontamination.benchmark_strings(["toy-bench"])
    hit = decontamination.Matcher(strings, 30).first_hit(
        "x = 1\ndef frobnicate_the_widgets(count): return count\n")
    assert hit.string.reason == "toy-bench:toy/0:prompt" and hit.kind == "exact"
  finally:
    decontamination._REGISTRY.pop("toy-bench")


def _reformatted(problem):
  """The prompt re-indented (4 → 2 spaces) with its docstring re-wrapped at 50 columns."""
  prompt = problem["prompt"].replace("    ", "  ")
  start = prompt.find('"""')
  end = prompt.find('"""', start + 3)
  if start >= 0 and end > start:
    body = " ".join(prompt[start + 3:end].split())
    prompt = prompt[:start + 3] + "\n".join(textwrap.wrap(body, 50)) + prompt[end:]
  return prompt + problem["canonical_solution"].replace("    ", "  ")


def test_recall_is_total_on_verbatim_and_reformatted_copies(matcher):
  problems = humaneval.read_humaneval()
  verbatim = reformatted = 0
  for task_id, problem in problems.items():
    copy = f"import sys\n\n{problem['prompt']}{problem['canonical_solution']}\n"
    hit = matcher.first_hit(copy)
    verbatim += hit is not None and hit.string.task_id == task_id and hit.kind == "exact"
    hit = matcher.first_hit("# solutions\n" + _reformatted(problem))
    reformatted += hit is not None and hit.string.task_id == task_id
  assert verbatim == len(problems) and reformatted == len(problems)


def test_multiple_translations_are_found(matcher):
  problem = next(iter(starjax.eval.benchmarks.get_benchmark("multiple-js").problems.values()))
  hit = matcher.first_hit("// copied\n" + problem.prompt + "  return 1;\n}\n")
  assert hit.string.benchmark == "multiple-js"


def test_false_positives_on_the_standard_library_are_below_a_tenth_of_a_percent(matcher):
  files = sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "*.py")))[:600]
  assert len(files) >= 150
  hits = 0
  for path in files:
    with open(path, encoding="utf-8", errors="replace") as f:
      hits += matcher.first_hit(f.read()) is not None
  assert hits / len(files) < 0.001
