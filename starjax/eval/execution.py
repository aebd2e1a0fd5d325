"""Executing completions: one program in the sandbox (check_completion) and, below, the engine.

check_completion builds prompt + completion + tests with a fresh sentinel (starjax/eval/verdicts.py
says why), compiles it once, runs it once in the sandbox and returns its Verdict.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import tempfile
import threading

import gin

from starjax.eval import sandbox as sandbox_lib
from starjax.eval.languages.base import Language, Program
from starjax.eval.problem import Problem
from starjax.eval.verdicts import Verdict, compile_failure, judge, new_sentinel, text


@gin.configurable
@dataclasses.dataclass(frozen=True)
class Timeouts:
  """Wall-clock seconds for running one program's tests and for compiling it."""

  run: float = 10.0
  compile: float = 60.0


class ToolchainMissingError(RuntimeError):
  """A language's compiler or interpreter is not installed; the message says which package."""


def install_command(package: str) -> str:
  """How to install a package named in Language.toolchain ('npm:<pkg>' or a Debian package)."""
  if package.startswith("npm:"):
    return f"npm install -g {package[4:]}"
  return f"apt-get install {package}"


def require_toolchain(language: Language) -> None:
  """Raises ToolchainMissingError naming what to install when a tool of `language` is missing."""
  missing = language.missing_tools()
  if missing:
    how = "; ".join(f"{tool}: {install_command(package)}" for tool, package in missing.items())
    raise ToolchainMissingError(
        f"{language.name} (multiple-{language.ext}) is skipped: {', '.join(missing)} not found "
        f"on PATH. Install {how} (.ci/apt-packages.txt and .ci/npm-packages.txt list them all).")


_default_sandbox: sandbox_lib.Sandbox | None = None
_default_sandbox_lock = threading.Lock()


def default_sandbox() -> sandbox_lib.Sandbox:
  """One shared Sandbox with the gin-configured Limits, made on first use (it probes bwrap once)."""
  global _default_sandbox
  with _default_sandbox_lock:
    if _default_sandbox is None:
      _default_sandbox = sandbox_lib.Sandbox()
    return _default_sandbox


def check_completion(language: Language, problem: Problem, completion: str, *,
                     timeout: float | None = None, compile_timeout: float | None = None,
                     sandbox: sandbox_lib.Sandbox | None = None) -> Verdict:
  """Builds prompt + completion + tests with a fresh sentinel, compiles and runs it in the sandbox.

  timeout / compile_timeout: wall-clock seconds (default: the gin-configured Timeouts).
  sandbox: default_sandbox() unless given. Raises ToolchainMissingError when the language's
  tools are not installed. Returns the Verdict.
  """
  require_toolchain(language)
  timeouts = Timeouts()
  sentinel = new_sentinel()
  program = language.program(problem, completion, sentinel)
  return run_program(
      program, sentinel, sandbox=sandbox or default_sandbox(),
      timeout=timeouts.run if timeout is None else timeout,
      compile_timeout=timeouts.compile if compile_timeout is None else compile_timeout,
      ro_paths=language.sandbox_paths(), env=language.sandbox_env())


def run_program(program: Program, sentinel: str, *, sandbox: sandbox_lib.Sandbox, timeout: float,
                compile_timeout: float, ro_paths=(), env=None) -> Verdict:
  """Writes the program's files into a fresh directory, compiles once, runs once, judges, cleans up."""
  workdir = tempfile.mkdtemp(prefix="starjax-program-")
  try:
    write_files(workdir, program.files)
    spent = 0.0
    if program.compile:
      built = sandbox.run(program.compile, workdir, timeout=compile_timeout, ro_paths=ro_paths,
                          env=env)
      spent += built.wall_time
      if built.cancelled or built.timed_out or built.memory_exceeded or built.exit_code != 0:
        return Verdict(
            passed=False, result=compile_failure(built, sandbox.limits), exit_code=built.exit_code,
            stdout=text(built.stdout), stderr=text(built.stderr), wall_time=spent)
    ran = sandbox.run(program.run, workdir, timeout=timeout, ro_paths=ro_paths, env=env)
    passed, result = judge(ran, sentinel, sandbox.limits)
    return Verdict(passed=passed, result=result, exit_code=ran.exit_code, stdout=text(ran.stdout),
                   stderr=text(ran.stderr), wall_time=spent + ran.wall_time)
  finally:
    remove_tree(workdir)


def write_files(workdir: str, files: dict[str, str]) -> None:
  for name, content in files.items():
    path = os.path.normpath(os.path.join(workdir, name))
    if os.path.isabs(name) or not path.startswith(workdir + os.sep):
      raise ValueError(f"Program file {name!r} is outside the program's directory")
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
      f.write(content)
    os.chmod(path, 0o644)  # readable by the sandbox's uid whatever the caller's umask


def remove_tree(path: str) -> None:
  """Removes a program's directory even where the program took its own permissions away."""
  def make_writable_and_retry(function, target, _):
    try:
      os.chmod(os.path.dirname(target), stat.S_IRWXU)
      if os.path.isdir(target) and not os.path.islink(target):
        os.chmod(target, stat.S_IRWXU)
      function(target)
    except OSError:
      pass
  shutil.rmtree(path, onerror=make_writable_and_retry)


