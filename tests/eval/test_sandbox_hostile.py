"""Hostile completions in both sandbox backends: each is contained and counted as failed.

Each body returns the right answer (1) only if its attack worked, so "counted as failed" is the
proof of containment; the tests also check that nothing it started outlives the evaluation and
that no zombie is left for the evaluator (or anyone) to reap. Every test runs under bubblewrap
and under unshare (STARJAX_SANDBOX=unshare restricts it to unshare, as without bubblewrap).
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import threading

import psutil
import pytest

from tests.eval.conftest import (SANDBOX_BACKEND, TEST_LIMITS, backend_sandbox, processes_with,
                                 sandbox_processes, wait_until_gone)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the fresh-uid checks need root")

BACKENDS = ["unshare"] if SANDBOX_BACKEND == "unshare" else ["bubblewrap", "unshare"]


@pytest.fixture(scope="module", params=BACKENDS)
def sandbox(request):
  """Overrides conftest's: every test of this module runs in each backend."""
  return backend_sandbox(request.param)


def zombie_children() -> list[psutil.Process]:
  found = []
  for child in psutil.Process().children():
    try:
      if child.status() == psutil.STATUS_ZOMBIE:
        found.append(child)
    except psutil.Error:
      pass
  return found


@pytest.fixture
def no_survivors(sandbox):
  yield
  assert wait_until_gone(lambda: sandbox_processes(sandbox)) == []
  assert wait_until_gone(zombie_children) == []


def test_fork_bomb_is_contained(run_toy, no_survivors):
  verdict = run_toy("    import os\n    while True:\n        try:\n            os.fork()\n"
                    "        except OSError:\n            pass\n", timeout=1.0)
  assert verdict.result == "timed out"
  assert verdict.wall_time < 5.0


def test_process_count_is_limited(run_toy, no_survivors):
  verdict = run_toy(
      "    import os, time\n    forked = 0\n    try:\n        while forked < 10000:\n"
      "            if os.fork() == 0:\n"
      "                time.sleep(30)\n                os._exit(0)\n"
      "            forked += 1\n    except OSError:\n        print('forked', forked)\n"
      "    return 1 if forked >= 10000 else 0\n")
  assert verdict.result == "failed: AssertionError"
  forked = int(verdict.stdout.split("forked ")[1].split()[0])
  assert 0 < forked < TEST_LIMITS.max_processes


def test_thread_bomb_is_contained(run_toy, no_survivors):
  verdict = run_toy(
      "    import threading, time\n    try:\n        for _ in range(10000):\n"
      "            threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
      "    except RuntimeError:\n        return 0\n    return 1\n")
  assert verdict.result == "failed: AssertionError"


def test_memory_bomb_fails_at_the_limit(run_toy, no_survivors):
  verdict = run_toy("    chunks = []\n    for _ in range(64):\n"
                    "        chunks.append(b'x' * (64 << 20))\n    return 1\n")
  assert verdict.result == "failed: MemoryError"


def test_shared_memory_counts_against_the_limit(run_toy, no_survivors):
  # MAP_SHARED|MAP_ANONYMOUS memory escapes RLIMIT_DATA; the supervisor sees it as RssShmem.
  verdict = run_toy("    import mmap, time\n    m = mmap.mmap(-1, 900 << 20)\n"
                    "    for i in range(0, 900 << 20, 4096):\n        m[i] = 1\n"
                    "    time.sleep(2)\n    return 1\n")
  assert verdict.result == f"failed: memory limit exceeded ({TEST_LIMITS.memory_mb} MiB)"


def test_memory_of_forked_children_adds_up(run_toy, no_survivors):
  # Each child stays under the per-process rlimit; together they exceed the sandbox's memory.
  verdict = run_toy(
      "    import os, time\n    for _ in range(4):\n        if os.fork() == 0:\n"
      "            block = b'x' * (300 << 20)\n            time.sleep(5)\n            os._exit(0)\n"
      "    for _ in range(4):\n        os.wait()\n    return 1\n", timeout=8.0)
  assert verdict.result == f"failed: memory limit exceeded ({TEST_LIMITS.memory_mb} MiB)"
  assert verdict.wall_time < 5.0


@pytest.mark.parametrize("ignore", ["pass", "time.sleep(0.01)"])
def test_loop_that_ignores_signals_is_killed_at_the_deadline(run_toy, no_survivors, ignore):
  verdict = run_toy(
      "    import signal, time\n"
      "    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU,\n"
      "              signal.SIGALRM):\n"
      f"        signal.signal(s, signal.SIG_IGN)\n    while True:\n        {ignore}\n",
      timeout=1.0)
  assert verdict.result == "timed out"
  assert verdict.wall_time < 4.0


@pytest.fixture
def host_listener():
  """A TCP server on the host's loopback; reachable from any process sharing the network."""
  server = socket.socket()
  server.bind(("127.0.0.1", 0))
  server.listen(8)
  connections = []
  def accept():
    try:
      while True:
        connections.append(server.accept()[0])
    except OSError:
      pass
  threading.Thread(target=accept, daemon=True).start()
  yield server.getsockname()[1], connections
  server.close()


def test_network_is_unreachable(run_toy, no_survivors, host_listener):
  port, connections = host_listener
  verdict = run_toy(
      "    import socket\n    for host in ('127.0.0.1', 'pypi.org', '1.1.1.1'):\n        try:\n"
      f"            socket.create_connection((host, {port}), timeout=1).close()\n"
      "            return 1\n        except OSError:\n            pass\n    return 0\n")
  assert verdict.result == "failed: AssertionError"
  assert connections == []


def test_writes_outside_the_working_directory_fail(run_toy, no_survivors, tmp_path):
  host_file = tmp_path / "escaped"
  marker = f"starjax-private-tmp-{secrets.token_hex(8)}"
  verdict = run_toy(
      f"    open('/tmp/{marker}', 'w').write('private /tmp is fine')\n"
      "    open('written-here', 'w').write('the working directory is fine')\n"
      f"    for path in ({str(host_file)!r}, '/usr/escaped', '/etc/escaped', '/escaped',\n"
      "                 '/root/escaped', '/home/escaped', '/proc/sys/kernel/hostname'):\n"
      "        try:\n            open(path, 'w').write('x')\n            return 1\n"
      "        except OSError:\n            pass\n    return 0\n")
  assert verdict.result == "failed: AssertionError"
  assert not host_file.exists()
  assert not os.path.exists(f"/tmp/{marker}")


def test_callers_environment_is_invisible(run_toy, no_survivors, monkeypatch):
  secret = f"starjax-secret-{secrets.token_hex(8)}"
  monkeypatch.setenv("STARJAX_TEST_SECRET", secret)  # in the evaluator's environment
  # ... and in the initial environment of another of the caller's processes (/proc/PID/environ).
  holder = subprocess.Popen(["sleep", "30"], env={"STARJAX_TEST_SECRET": secret})
  try:
    verdict = run_toy(
        "    import glob, os\n"
        f"    if any({secret!r} in v for v in os.environ.values()):\n        return 1\n"
        "    for path in glob.glob('/proc/*/environ'):\n        try:\n"
        f"            if {secret!r}.encode() in open(path, 'rb').read():\n"
        "                return 1\n"
        "        except OSError:\n            pass\n    return 0\n")
  finally:
    holder.kill()
    holder.wait()
  assert verdict.result == "failed: AssertionError"


@pytest.mark.skipif(not os.path.exists("/etc/shadow"), reason="no /etc/shadow on this host")
def test_root_only_files_are_unreadable(run_toy, no_survivors):
  verdict = run_toy(
      "    for path in ('/etc/shadow', '/proc/1/environ', '/proc/1/root/etc/shadow'):\n"
      "        try:\n            open(path, 'rb').read()\n            return 1\n"
      "        except OSError:\n            pass\n    return 0\n")
  assert verdict.result == "failed: AssertionError"


def test_unbounded_output_is_cut_and_fails(run_toy, no_survivors):
  verdict = run_toy("    import sys\n    while True:\n        sys.stdout.write('x' * 4096)\n"
                    "        sys.stderr.write('y' * 4096)\n")
  assert verdict.result == f"failed: output limit exceeded ({TEST_LIMITS.output_mb:g} MiB)"
  assert len(verdict.stdout) < 10_000 and len(verdict.stderr) < 10_000
  assert verdict.wall_time < 3.0


def test_killing_the_parent_fails(run_toy, no_survivors):
  verdict = run_toy(
      "    import os, signal, time\n    parent = os.getppid()\n    try:\n"
      "        os.kill(parent, signal.SIGKILL)\n    except OSError:\n        return 0\n"
      "    time.sleep(0.3)\n    try:\n        os.kill(parent, 0)\n    except ProcessLookupError:\n"
      "        return 1\n    return 0\n")
  assert not verdict.passed


def test_killing_every_process_spares_the_evaluator_and_other_runs(run_toy, no_survivors):
  benign = {}
  def slow_benign():
    benign["verdict"] = run_toy("    import time\n    time.sleep(1.5)\n    return 1\n")
  neighbour = threading.Thread(target=slow_benign)
  neighbour.start()
  verdict = run_toy(
      "    import os, signal, time\n    time.sleep(0.5)\n"
      f"    for target in (-1, {os.getpid()}, {os.getppid()}):\n        try:\n"
      "            os.kill(target, signal.SIGKILL)\n        except OSError:\n            pass\n"
      "    return 0\n")
  neighbour.join()
  assert verdict.result == "failed: AssertionError"
  assert benign["verdict"].passed, benign["verdict"]


def test_children_left_behind_are_killed(run_toy, no_survivors):
  marker = f"{secrets.randbelow(10**6) + 1000}.{secrets.randbelow(10**6)}"
  verdict = run_toy(
      "    import subprocess\n"
      f"    subprocess.Popen(['sh', '-c', 'sleep {marker} & sleep {marker}'],\n"
      "                     start_new_session=True)\n"
      "    return 1\n")
  assert verdict.passed, verdict  # a correct answer; what it started must still die
  assert wait_until_gone(lambda: processes_with(marker)) == []


def test_early_self_kill_fails(run_toy, no_survivors):
  verdict = run_toy("    import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)\n")
  assert verdict.result == "failed: exit code 137 (SIGKILL)"


@pytest.mark.parametrize("attack, expected", [
    ("open('big', 'wb').write(b'x' * (80 << 20))", "failed: OSError: [Errno 27] File too large"),
    ("open('/tmp/big', 'wb').write(b'x' * (32 << 20))",
     "failed: OSError: [Errno 28] No space left on device"),
    ("[open('program.py') for _ in range(1000)]",
     "failed: OSError: [Errno 24] Too many open files: 'program.py'"),
])
def test_file_limits(run_toy, no_survivors, attack, expected):
  verdict = run_toy(f"    {attack}\n    return 1\n")
  assert verdict.result == expected
