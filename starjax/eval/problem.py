"""A benchmark problem: what the model continues and the tests its completion must pass."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Problem:
  """One problem of a benchmark, in one language.

  task_id: the HumanEval id (`HumanEval/0`) for HumanEval and every MultiPL-E language.
  prompt: the text the model continues (signature + docstring/comments).
  tests: test code that follows prompt + completion in the program.
  entry_point: the function under test, in the target language's spelling.
  language: the Language.ext it is written in ('py', 'js', 'cpp', ...).
  stop_tokens: generation stops at the first of these in the completion.
  """

  task_id: str
  prompt: str
  tests: str
  entry_point: str
  language: str
  stop_tokens: tuple[str, ...]
