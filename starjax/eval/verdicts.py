"""What a test run's verdict is and why: passed, failed (and why), timed out, compile error.

A program passes only if its tests ran to the end: the run exits 0 *and* its stdout has the
sentinel line that the test code prints as its very last act. The sentinel is fresh random text
per program, so an early `exit(0)`, `os._exit(0)` or `process.exit(0)` in a completion fails.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import signal

from starjax.eval.sandbox import Limits
from starjax.eval.supervisor import Outcome

# How much of a reason (a compiler error, the last line of a traceback) goes into `result`.
REASON_CHARS = 200
# How much of stdout/stderr a Verdict keeps (the sandbox captures more: head and tail).
VERDICT_OUTPUT_CHARS = 4000
# Lines that are never the reason: the JVM's note on JAVA_TOOL_OPTIONS (set by the sandbox),
# node's version trailer, rustc's backtrace hint, the capture's omission marker.
NOISE_PREFIXES = ("Picked up JAVA_TOOL_OPTIONS", "Node.js v", "note: run with `RUST_BACKTRACE",
                  "[... ")
# A compiler diagnostic that does not say "error": `./main.go:12:1: missing return`.
DIAGNOSTIC = re.compile(r"^\S+:\d+(:\d+)?: ")
# A line that names what went wrong, in the runtimes' own words (tracebacks, panics, throws).
ERROR_WORDS = re.compile(r"Error|Exception|panic|[Aa]ssert|failed|FAIL|error|Traceback")


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
  """The result of a failed compilation: its first error line (the one a programmer reads first:
  `error` in it, else a `file:line:` diagnostic such as Go's), else the first line."""
  if outcome.cancelled:
    return "cancelled"
  if outcome.timed_out:
    return "compile error: timed out"
  if outcome.memory_exceeded:
    return f"compile error: memory limit exceeded ({limits.memory_mb} MiB)"
  lines = [l.strip() for l in text(outcome.stderr + b"\n" + outcome.stdout).splitlines()]
  lines = [l for l in lines if l and not l.startswith(NOISE_PREFIXES)]
  errors = [l for l in lines if "error" in l.lower()]
  diagnostics = [l for l in lines if DIAGNOSTIC.match(l)]
  reason = (errors or diagnostics or lines or [exit_description(outcome.exit_code)])[0]
  return f"compile error: {reason[:REASON_CHARS]}"


def last_line(output: bytes) -> str:
  """Why a run failed, from its stderr: the last unindented line that names an error (Python's
  exception line, node's `Error: ...` above its stack, a Go or Rust panic), else the last
  unindented line; shortened. Indented lines are stack frames."""
  lines = [line.rstrip() for line in text(output).splitlines()]
  lines = [line for line in lines
           if line and not line[0].isspace() and not line.startswith(NOISE_PREFIXES)]
  for line in reversed(lines):
    if ERROR_WORDS.search(line) and not line.startswith("Traceback"):
      return line[:REASON_CHARS]
  return lines[-1][:REASON_CHARS] if lines else ""


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
