"""Benchmarks by name: 'humaneval' (Python), 'multiple-<ext>' (HumanEval translated by
starjax's own MultiPL-E translators, starjax/eval/languages/<lang>.py) and the fill-in-the-middle
ones built from HumanEval (starjax/eval/infilling.py)."""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Iterable

from starjax.data.prepare import decontamination
from starjax.eval import humaneval, infilling
from starjax.eval.infilling import FIM_BENCHMARKS
from starjax.eval.languages import LANGUAGE_MODULES, Language, UntranslatableError, get_language
from starjax.eval.problem import Problem


@dataclasses.dataclass(frozen=True)
class Benchmark:
  """A named set of problems in one language.

  name: 'humaneval' or 'multiple-<ext>'. language: the Language that builds its programs.
  problems: task_id → Problem, in HumanEval order (task ids are HumanEval's for every language).
  dropped: task_id → why the translator could not express that problem (MultiPL-E only).
  """

  name: str
  language: Language
  problems: dict[str, Problem]
  dropped: dict[str, str]

  def subset(self, task_ids: Iterable[str]) -> "Benchmark":
    """The same benchmark restricted to task_ids (e.g. a training-time hook's 20 problems)."""
    wanted = list(task_ids)
    for task_id in wanted:
      if task_id not in self.problems:
        raise ValueError(f"{self.name} has no task {task_id!r}: {self.why_missing(task_id)}")
    return dataclasses.replace(self, problems={t: self.problems[t] for t in wanted})


  def why_missing(self, task_id: str) -> str:
    """Why task_id is not one of this benchmark's problems (for error messages)."""
    if task_id in self.dropped:
      return f"dropped as untranslatable ({self.dropped[task_id]})"
    ids = list(self.problems)
    known = f"{ids[0]} … {ids[-1]}" if ids else "none"
    return f"unknown task_id (its task ids are {known})"


def benchmark_names() -> list[str]:
  """Every name get_benchmark accepts."""
  return left_to_right_names() + list(FIM_BENCHMARKS)


def left_to_right_names() -> list[str]:
  """HumanEval and the MultiPL-E languages (the FIM benchmarks are HumanEval's own problems)."""
  return ["humaneval"] + [f"multiple-{ext}" for ext in LANGUAGE_MODULES if ext != "py"]


# MultiPL-E languages of StarCoder's table that starjax cannot run: asking for one says why
# (it is never scored as 0).
UNAVAILABLE = {
    "jl": "Julia has no Debian package here (MultiPL-E's multiple-jl needs julia), so starjax "
          "has no Julia translator or executor",
    "swift": "Swift has no Debian package here (MultiPL-E's multiple-swift needs swiftc), so "
             "starjax has no Swift translator or executor",
}


class BenchmarkUnavailable(ValueError):
  """A known benchmark that cannot run on this machine; the message says why."""


@functools.lru_cache(maxsize=None)
def get_benchmark(name: str) -> Benchmark:
  """The Benchmark called `name`; ValueError listing the known names when there is none."""
  if name == "humaneval":
    return Benchmark(name=name, language=get_language("py"),
                     problems=humaneval.humaneval_problems(), dropped={})
  if name in FIM_BENCHMARKS:
    return Benchmark(name=name, language=infilling.fim_language(name),
                     problems=infilling.fim_problems(name), dropped={})
  ext = name[len("multiple-"):] if name.startswith("multiple-") else None
  if ext in UNAVAILABLE:
    raise BenchmarkUnavailable(f"{name} is unavailable here (not scored, so no pass@1): "
                               f"{UNAVAILABLE[ext]}")
  if ext is None or ext == "py" or ext not in LANGUAGE_MODULES:
    raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(benchmark_names())}")
  try:
    language = get_language(ext)
  except ImportError as e:
    raise ValueError(
        f"benchmark {name!r}: its translator starjax/eval/languages/{LANGUAGE_MODULES[ext]}.py "
        f"cannot be imported ({e})") from e
  problems, dropped = {}, {}
  for task_id, raw in humaneval.read_humaneval().items():
    try:
      problems[task_id] = language.translate(raw)
    except UntranslatableError as e:
      dropped[task_id] = str(e) or type(e).__name__
  return Benchmark(name=name, language=language, problems=problems, dropped=dropped)


_DOCSTRING = re.compile(r'("""|\'\'\')(.*?)\1', re.DOTALL)


def contamination_strings(name: str) -> list[tuple[str, str, str]]:
  """(task_id, field, text) of benchmark `name` that training data must not contain.

  humaneval: each prompt, its docstring and its canonical solution (what BigCode removed);
  multiple-<ext>: each translated prompt.
  """
  out = []
  if name == "humaneval":
    for task_id, raw in humaneval.read_humaneval().items():
      out.append((task_id, "prompt", raw["prompt"]))
      docstrings = _DOCSTRING.findall(raw["prompt"])
      if docstrings:
        out.append((task_id, "docstring", docstrings[-1][1]))
      out.append((task_id, "canonical_solution", raw["canonical_solution"]))
    return out
  for task_id, problem in get_benchmark(name).problems.items():
    out.append((task_id, "prompt", problem.prompt))
  return out


# Every benchmark here is one `data prepare` decontaminates against (the registry lives in the
# data package, which must not import evaluation; evaluation feeds it instead).
for _name in left_to_right_names():
  decontamination.register(_name, functools.partial(contamination_strings, _name))
