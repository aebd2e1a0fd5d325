"""Hand-written completions per language (module = the language's ext, e.g. `js.py`).

Each module defines
  SOLUTIONS: task_id → Solution(correct, wrong): a correct body that must pass the translated
    tests, and a plausibly wrong one (an off-by-one, a dropped None, a dict of all counts) that
    must fail them; together they cover lists, strings, dicts, floats, tuples and optionals.
  EARLY_EXIT: a body for HumanEval/0 that exits with status 0 before the tests end (None where
    the prompt gives no way to, as in Go without an `os` import).
Bodies continue the translated prompt exactly as a model's completion would (closing the
function only where the language's stop strings leave that to the completion).
"""

from __future__ import annotations

import importlib
import typing


class Solution(typing.NamedTuple):
  correct: str
  wrong: str


def load(ext: str):
  """The solutions module of a language."""
  return importlib.import_module(f"tests.eval.languages.solutions.{ext}")
