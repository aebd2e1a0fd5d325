"""`run.py evaluate` on hostile samples, run as PID 1 of a PID namespace of its own (the way a
plain `docker run` runs it): it exits 0, writes a result for every line, leaves no process and
no zombie behind, and the host is untouched. Also: the refusal where nothing isolates."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading

import gin
import pytest

import run
from starjax.eval.humaneval import read_humaneval
from tests.eval.conftest import SANDBOX_BACKEND, processes_with, wait_until_gone

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BACKENDS = ["unshare"] if SANDBOX_BACKEND == "unshare" else ["bubblewrap", "unshare"]

# Runs `run.main(argv)` in this very process (PID 1 of the namespace), then lists what is left.
AS_PID_1 = """
import json, os, sys
sys.path.insert(0, {root!r})
import run
rc = run.main(json.loads(sys.argv[1]))
left = []
for pid in os.listdir('/proc'):
    if pid.isdigit() and int(pid) != os.getpid():
        try:
            status = dict(l.split(':', 1) for l in open('/proc/%s/status' % pid) if ':' in l)
            left.append((int(pid), status['Name'].strip(), status['State'].strip()))
        except OSError:
            pass
print('AS-PID-1', json.dumps({{'rc': rc, 'pid': os.getpid(), 'left': left}}))
"""


def hostile_completions(port: int, host_file: str, marker: str) -> dict[str, str]:
  """Bodies for HumanEval/0 (`has_close_elements`); each would pass only if its attack worked."""
  canonical = read_humaneval()["HumanEval/0"]["canonical_solution"]
  return {
      "exit_early": "    import sys\n    sys.exit(0)\n",
      "os_exit": "    import os\n    os._exit(0)\n",
      "kill_all": "    import os, signal\n    os.kill(-1, signal.SIGKILL)\n",
      "kill_parent": "    import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)\n",
      "fork_bomb": "    import os\n    while True:\n        try:\n            os.fork()\n"
                   "        except OSError:\n            pass\n",
      "memory_3gb": "    block = b'x' * (3 << 30)\n    return True\n",
      "threads": "    import threading, time\n    for _ in range(3000):\n"
                 "        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n",
      "sleep_forever": "    import time\n    time.sleep(10 ** 6)\n",
      "spin_ignoring_signals": "    import signal\n    for s in (signal.SIGTERM, signal.SIGINT):\n"
                               "        signal.signal(s, signal.SIG_IGN)\n    while True:\n"
                               "        pass\n",
      "output_flood": "    import sys\n    while True:\n        sys.stdout.write('x' * 65536)\n",
      "stdin": "    import sys\n    return sys.stdin.read() == ''\n",
      "network": f"    import socket\n    socket.create_connection(('127.0.0.1', {port}), 1)\n"
                 "    return True\n",
      "write_host_file": f"    open({host_file!r}, 'w').write('escaped')\n",
      "recursion": "    import sys\n    sys.setrecursionlimit(10 ** 8)\n"
                   "    def f(n):\n        return f(n + 1) + 1\n    return f(0)\n",
      "daemon_left_behind": "    import subprocess\n"
                            f"    subprocess.Popen(['sh', '-c', 'sleep {marker} &'],\n"
                            "                     start_new_session=True)\n" + canonical,
      "binary_output": "    import sys\n    sys.stdout.buffer.write(b'\\xff\\xfe\\x00\\n')\n"
                       "    sys.stdout.flush()\n" + canonical,
      "canonical": canonical,
  }


BENIGN = ("daemon_left_behind", "binary_output", "canonical")


@pytest.fixture
def host_listener():
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


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="needs root and util-linux unshare to start a PID namespace")
@pytest.mark.parametrize("backend", BACKENDS)
def test_evaluate_as_pid_1_contains_hostile_samples_and_leaves_nothing(tmp_path, backend,
                                                                        host_listener):
  if backend == "bubblewrap" and shutil.which("bwrap") is None:
    # .ci/run installs bubblewrap and sets STARJAX_REQUIRE_TOOLCHAINS: there it must run.
    assert os.environ.get("STARJAX_REQUIRE_TOOLCHAINS") != "1", "bubblewrap is not installed"
    pytest.skip("bubblewrap is not installed")
  port, connections = host_listener
  host_file = str(tmp_path / "escaped")
  marker = f"{secrets.randbelow(10**6) + 1000}.{secrets.randbelow(10**6)}"
  completions = hostile_completions(port, host_file, marker)
  samples = tmp_path / "samples.jsonl"
  samples.write_text("".join(json.dumps({"task_id": "HumanEval/0", "completion": c, "name": n})
                             + "\n" for n, c in completions.items()))
  out = tmp_path / "run"
  argv = ["evaluate", "--benchmark=humaneval", f"--samples={samples}", f"--out={out}",
          f"--sandbox={'bwrap' if backend == 'bubblewrap' else backend}", "--timeout=2",
          "--num_workers=2", "--k=1", "--gin.Limits.memory_mb=512",
          "--gin.Limits.max_processes=64", "--gin.Limits.output_mb=1"]
  done = subprocess.run(
      ["unshare", "--pid", "--fork", "--mount-proc", "--", sys.executable, "-c",
       AS_PID_1.format(root=ROOT), json.dumps(argv)],
      cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False)
  report = [line for line in done.stdout.splitlines() if line.startswith("AS-PID-1 ")]
  assert report, (done.returncode, done.stdout[-2000:], done.stderr[-3000:])
  report = json.loads(report[-1][len("AS-PID-1 "):])
  assert report["pid"] == 1
  assert report["rc"] == 0, done.stderr[-3000:]
  assert report["left"] == []  # no process, running or zombie, besides evaluate itself
  results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
  assert [r["name"] for r in results] == list(completions)
  verdicts = {r["name"]: (r["passed"], r["result"]) for r in results}
  for name, (passed, result) in verdicts.items():
    assert passed == (name in BENIGN), (name, result)
    assert result == "passed" or result.startswith(("failed: ", "timed out")), (name, result)
  assert verdicts["exit_early"][1] == "failed: exited before the tests finished (exit code 0)"
  assert verdicts["sleep_forever"][1] == "timed out"
  assert verdicts["output_flood"][1] == "failed: output limit exceeded (1 MiB)"
  assert verdicts["memory_3gb"][1] == "failed: MemoryError"
  assert connections == []
  assert not os.path.exists(host_file)
  assert wait_until_gone(lambda: processes_with(marker)) == []


@pytest.fixture
def restore_sandbox_gin():
  yield
  with gin.unlock_config():
    gin.bind_parameter("Sandbox.isolation", "auto")
    gin.bind_parameter("Sandbox.allow_unsandboxed", False)


def test_evaluate_refuses_where_nothing_isolates(tmp_path, monkeypatch, capsys,
                                                 restore_sandbox_gin):
  real_which = shutil.which
  monkeypatch.setattr(shutil, "which",
                      lambda name: None if name in ("bwrap", "unshare") else real_which(name))
  samples = tmp_path / "samples.jsonl"
  samples.write_text(json.dumps({"task_id": "HumanEval/0", "completion": "    return 1\n"}) + "\n")
  out = tmp_path / "run"
  code = run.main(["evaluate", "--benchmark=humaneval", f"--samples={samples}", f"--out={out}"])
  message = capsys.readouterr().err
  assert code == 2
  assert "no backend can isolate" in message and "--allow_unsandboxed" in message
  assert not (out / "results.jsonl").exists()


def test_forcing_a_backend_that_cannot_work_is_refused(tmp_path, monkeypatch, capsys,
                                                       restore_sandbox_gin):
  real_which = shutil.which
  monkeypatch.setattr(shutil, "which",
                      lambda name: None if name == "bwrap" else real_which(name))
  samples = tmp_path / "samples.jsonl"
  samples.write_text(json.dumps({"task_id": "HumanEval/0", "completion": "    return 1\n"}) + "\n")
  code = run.main(["evaluate", "--benchmark=humaneval", f"--samples={samples}",
                   f"--out={tmp_path / 'run'}", "--sandbox=bwrap"])
  assert code == 2
  assert "bubblewrap (bwrap) is not installed" in capsys.readouterr().err
