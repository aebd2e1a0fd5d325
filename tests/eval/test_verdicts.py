"""Judging a finished run: the verdict and the reason it gives, from exit code, sentinel, stderr."""

from __future__ import annotations

import pytest

from starjax.eval.sandbox import Limits
from starjax.eval.supervisor import Outcome
from starjax.eval.verdicts import compile_failure, judge, last_line

SENTINEL = "starjax-tests-finished-0123"


def outcome(exit_code=0, stdout=b"", stderr=b"", **flags):
  values = dict(timed_out=False, memory_exceeded=False, output_exceeded=False, cancelled=False)
  values.update(flags)
  return Outcome(exit_code=exit_code, stdout=stdout, stderr=stderr, wall_time=0.1,
                 peak_memory_bytes=0, output_bytes=len(stdout) + len(stderr), **values)


@pytest.mark.parametrize("run, verdict", [
    (outcome(0, SENTINEL.encode() + b"\n"), (True, "passed")),
    (outcome(0, b"\xff\xfe" + SENTINEL.encode()), (True, "passed")),
    (outcome(0, b"all good\n"), (False, "failed: exited before the tests finished (exit code 0)")),
    (outcome(3, SENTINEL.encode()), (False, "failed: exit code 3 after the tests finished")),
    (outcome(1, b"", b"Traceback (most recent call last):\n  File \"p.py\"\nKeyError: 3\n"),
     (False, "failed: KeyError: 3")),
    (outcome(137), (False, "failed: exit code 137 (SIGKILL)")),
    (outcome(-9), (False, "failed: killed by SIGKILL")),
    (outcome(None, timed_out=True), (False, "timed out")),
    (outcome(None, memory_exceeded=True), (False, "failed: memory limit exceeded (2048 MiB)")),
    (outcome(None, output_exceeded=True), (False, "failed: output limit exceeded (8 MiB)")),
])
def test_judge(run, verdict):
  assert judge(run, SENTINEL, Limits()) == verdict


@pytest.mark.parametrize("stderr, reason", [
    (b"Traceback (most recent call last):\n  File \"p.py\", line 3\n    assert x\nAssertionError\n",
     "AssertionError"),
    (b"Traceback (most recent call last):\n  File \"p.py\", line 1\nStopIteration\n",
     "StopIteration"),
    (b"/sandbox/main.js:30\n  throw new Error(\"test 0 failed\");\n  ^\n\nError: test 0 failed\n"
     b"    at test (/sandbox/main.js:30:35)\n\nNode.js v20.20.2\n", "Error: test 0 failed"),
    (b"Picked up JAVA_TOOL_OPTIONS: -XX:MaxRAM=2048m\nException in thread \"main\" "
     b"java.lang.AssertionError\n\tat Main.main(Main.java:12)\n",
     "Exception in thread \"main\" java.lang.AssertionError"),
    (b"panic: test 0 failed\n\ngoroutine 1 [running]:\nmain.main()\n\t/sandbox/main.go:20\n"
     b"exit status 2\n", "panic: test 0 failed"),
    (b"thread 'main' panicked at main.rs:10:5:\nassertion `left == right` failed\n  left: 1\n"
     b"note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
     "assertion `left == right` failed"),
    (b"", ""),
])
def test_reason_is_the_line_that_names_the_error(stderr, reason):
  assert last_line(stderr) == reason


@pytest.mark.parametrize("stderr, result", [
    (b"main.ts(34,1): error TS1005: '}' expected.\n",
     "compile error: main.ts(34,1): error TS1005: '}' expected."),
    (b"# command-line-arguments\n./main.go:12:1: missing return\n",
     "compile error: ./main.go:12:1: missing return"),
    (b"Picked up JAVA_TOOL_OPTIONS: -XX:MaxRAM=2048m\nProblem.java:18: error: missing return "
     b"statement\n", "compile error: Problem.java:18: error: missing return statement"),
    (b"", "compile error: exit code 1"),
])
def test_compile_failure_quotes_the_first_error(stderr, result):
  assert compile_failure(outcome(1, b"", stderr), Limits()) == result
  assert compile_failure(outcome(None, timed_out=True), Limits()) == "compile error: timed out"
