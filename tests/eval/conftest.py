"""Fixtures of the evaluation tests: sandboxes, a toy problem, and a check that nothing survives."""

from __future__ import annotations

import os
import shutil

import psutil
import pytest

from starjax.eval.execution import check_completion
from starjax.eval.languages import get_language
from starjax.eval.problem import Problem
from starjax.eval.sandbox import Limits, Sandbox
from tests import toolchains

# Small limits keep hostile programs cheap; they are still far above what a benign program needs.
TEST_LIMITS = Limits(memory_mb=512, max_processes=64, output_mb=1.0, tmp_mb=16)


def toy_problem(tests: str = "def check(candidate):\n    assert candidate() == 1\n") -> Problem:
  """A Python problem whose tests want answer() == 1; completions are the function body."""
  return Problem(task_id="toy/0", prompt="def answer():\n", tests=tests, entry_point="answer",
                 language="py", stop_tokens=())


@pytest.fixture(scope="session")
def python():
  return get_language("py")


# The backend of the `sandbox` fixture: bubblewrap unless STARJAX_SANDBOX=unshare (.ci/run runs
# the sandbox tests a second time that way, on a machine where bubblewrap is installed).
SANDBOX_BACKEND = os.environ.get("STARJAX_SANDBOX", "bubblewrap")


def backend_sandbox(backend: str, limits: Limits = TEST_LIMITS) -> Sandbox:
  """A real sandbox of one backend ('bubblewrap' or 'unshare'), as the evaluator uses it."""
  if backend == "bubblewrap" and shutil.which("bwrap") is None:
    toolchains.missing("bubblewrap is not installed: apt-get install bubblewrap")
  return Sandbox(limits, isolation=backend)


@pytest.fixture(scope="session")
def sandbox():
  """The real sandbox of SANDBOX_BACKEND (as the evaluator uses it), with TEST_LIMITS."""
  return backend_sandbox(SANDBOX_BACKEND)


@pytest.fixture(scope="session")
def fallback_sandbox():
  """The rlimit-only sandbox that runs where bubblewrap is missing, forced."""
  return Sandbox(TEST_LIMITS, isolation="rlimits")


@pytest.fixture
def run_toy(python, sandbox):
  """check_completion of a body for the toy problem in the bubblewrap sandbox."""
  def run(body: str, *, timeout: float = 5.0, tests: str | None = None, box: Sandbox | None = None):
    problem = toy_problem(tests) if tests else toy_problem()
    return check_completion(python, problem, body, timeout=timeout, sandbox=box or sandbox)
  return run


def processes_with(marker: str) -> list[psutil.Process]:
  """Host processes whose command line mentions `marker` (the test's own excluded)."""
  found = []
  for process in psutil.process_iter(["cmdline"]):
    try:
      if any(marker in part for part in process.info["cmdline"] or ()):
        found.append(process)
    except psutil.Error:
      pass
  return found


def wait_until_gone(find, timeout: float = 3.0) -> list:
  """Polls find() until it returns nothing or `timeout` passes; returns what is left.

  Killed processes need a moment to be reaped by the kernel after the evaluation returns.
  """
  import time
  deadline = time.monotonic() + timeout
  left = find()
  while left and time.monotonic() < deadline:
    time.sleep(0.05)
    left = find()
  return left


def sandbox_processes(box: Sandbox) -> list[psutil.Process]:
  """Host processes running under one of the uids `box` gave to its runs."""
  uids = box.run_uids()
  found = []
  for process in psutil.process_iter(["uids"]):
    try:
      if process.info["uids"] and process.info["uids"].real in uids:
        found.append(process)
    except psutil.Error:
      pass
  return found
