"""The supervisor on plain host processes: output capture, deadlines, killing whole trees."""

from __future__ import annotations

import secrets
import sys

from starjax.eval.supervisor import CappedOutput, supervise
from tests.eval.conftest import processes_with, wait_until_gone

MiB = 1 << 20


def run(code: str, timeout: float = 5.0, **limits):
  settings = dict(memory_limit_bytes=512 * MiB, output_limit_bytes=MiB, captured_bytes=1000)
  settings.update(limits)
  return supervise([sys.executable, "-c", code], cwd="/", env={}, timeout=timeout, **settings)


def test_capped_output_keeps_head_and_tail():
  stream = CappedOutput(10)
  for chunk in (b"abc", b"defgh", b"ijklmnop", b"XYZ"):
    stream.write(chunk)
  assert stream.total_bytes == 19
  assert stream.value() == b"abcde\n[... 9 bytes omitted ...]\nopXYZ"


def test_capped_output_keeps_short_streams_whole():
  stream = CappedOutput(10)
  stream.write(b"short")
  assert stream.value() == b"short"


def test_exit_code_and_output_are_reported():
  outcome = run("import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)")
  assert (outcome.exit_code, outcome.stdout, outcome.stderr) == (3, b"out\n", b"err\n")
  assert not (outcome.timed_out or outcome.memory_exceeded or outcome.output_exceeded)


def test_program_that_closes_its_pipes_still_gets_its_deadline():
  outcome = run("import os, time; os.close(1); os.close(2); time.sleep(30)", timeout=0.5)
  assert outcome.timed_out and outcome.exit_code is None
  assert outcome.wall_time < 3


def test_deadline_kills_setsid_grandchildren():
  marker = f"{secrets.randbelow(10**6) + 1000}.{secrets.randbelow(10**6)}"
  outcome = run(
      "import subprocess, time\n"
      f"subprocess.Popen(['sleep', '{marker}'], start_new_session=True)\ntime.sleep(30)",
      timeout=0.5)
  assert outcome.timed_out
  assert wait_until_gone(lambda: processes_with(marker)) == []


def test_memory_of_the_tree_is_watched():
  outcome = run("import time; x = b'x' * (300 << 20); time.sleep(10)", memory_limit_bytes=100 * MiB)
  assert outcome.memory_exceeded and outcome.peak_memory_bytes > 100 * MiB
  assert outcome.wall_time < 5


def test_output_beyond_the_limit_kills():
  outcome = run("while True: print('x' * 1000)")
  assert outcome.output_exceeded and outcome.output_bytes > MiB
  assert len(outcome.stdout) < 1100
