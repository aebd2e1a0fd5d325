"""What a test run's verdict is and why: passed, failed (and why), timed out, compile error.

A program passes only if its tests ran to the end: the run exits 0 *and* its stdout has the
sentinel line that the test code prints as its very last act. The sentinel is fresh random text
per program, so an early `exit(0)`, `os._exit(0)` or `process.exit(0)` in a completion fails.
"""

from __future__ import annotations

import dataclasses
import secrets
import signal

from starjax.eval.sandbox import Limits
from starjax.eval.supervisor import Outcome

# How much of a reason (a compiler error, the last line of a traceback) goes into `result`.
REASON_CHARS = 200
# How much of stdout/stderr a Verdict keeps (the sandbox captures more: head and tail).
VERDICT_OUTPUT_CHARS = 4000
# Lines the JVM adds to stderr because the sandbox sets JAVA_TOOL_OPTIONS; never a reason.
NOISE_PREFIXES = ("Picked up JAVA_TOOL_OPTIONS",)


@dataclasses.dataclass(frozen=True)
class Verdict:
  """The judgement of one completion.

  passed: the tests ran to the end and succeeded.
  result: 'passed', 'failed: <why>', 'timed out' or 'compile error: <why>'.
  exit_code: of the test run (None when it did not end by itself or never ran).
  stdout, stderr: of the test run, or of the compiler when compilation failed (head and tail).
  wall_time: seconds spent compiling and running.
  """

  passed: bool
  result: str
  exit_code: int | None
  stdout: str
  stderr: str
  wall_time: float


def new_sentinel() -> str:
  """Fresh text for the test code to print last; a completion cannot guess it."""
  return f"starjax-tests-finished-{secrets.token_hex(16)}"


def text(data: bytes) -> str:
  """Program output as text: invalid UTF-8 (binary output) becomes U+FFFD, long output is cut."""
  decoded = data.decode("utf-8", errors="replace")
  if len(decoded) <= VERDICT_OUTPUT_CHARS:
    return decoded
  half = VERDICT_OUTPUT_CHARS // 2
  return f"{decoded[:half]}\n[...]\n{decoded[-half:]}"


def judge(outcome: Outcome, sentinel: str, limits: Limits) -> tuple[bool, str]:
  """(passed, result) of a test run."""
  if outcome.cancelled:
    return False, "cancelled"
  if outcome.timed_out:
    return False, "timed out"
  if outcome.memory_exceeded:
    return False, f"failed: memory limit exceeded ({limits.memory_mb} MiB)"
  if outcome.output_exceeded:
    return False, f"failed: output limit exceeded ({limits.output_mb:g} MiB)"
  # Not necessarily on a line of its own: a program may have written bytes without a newline.
  finished = sentinel.encode() in outcome.stdout
  if outcome.exit_code == 0:
    if finished:
      return True, "passed"
    return False, "failed: exited before the tests finished (exit code 0)"
  reason = last_line(outcome.stderr) or exit_description(outcome.exit_code)
  if finished:
    return False, f"failed: {exit_description(outcome.exit_code)} after the tests finished"
  return False, f"failed: {reason}"


def compile_failure(outcome: Outcome, limits: Limits) -> str:
  if outcome.cancelled:
    return "cancelled"
  if outcome.timed_out:
    return "compile error: timed out"
  if outcome.memory_exceeded:
    return f"compile error: memory limit exceeded ({limits.memory_mb} MiB)"
  lines = [l.strip() for l in text(outcome.stderr + b"\n" + outcome.stdout).splitlines()]
  lines = [l for l in lines if l and not l.startswith(NOISE_PREFIXES)]
  errors = [l for l in lines if "error" in l.lower()]
  reason = (errors or lines or [exit_description(outcome.exit_code)])[0]
  return f"compile error: {reason[:REASON_CHARS]}"


def last_line(output: bytes) -> str:
  """The last meaningful line of a stream (a traceback's exception line), shortened."""
  for line in reversed(text(output).splitlines()):
    line = line.strip()
    if line and not line.startswith(NOISE_PREFIXES):
      return line[:REASON_CHARS]
  return ""


def exit_description(exit_code: int | None) -> str:
  """'exit code 3', 'killed by SIGKILL' (fallback) or 'exit code 137 (SIGKILL)' (bubblewrap)."""
  if exit_code is None:
    return "killed"
  if exit_code < 0:
    return f"killed by {signal_name(-exit_code)}"
  if exit_code > 128 and signal_name(exit_code - 128):
    return f"exit code {exit_code} ({signal_name(exit_code - 128)})"
  return f"exit code {exit_code}"


def signal_name(number: int) -> str:
  try:
    return signal.Signals(number).name
  except ValueError:
    return ""
