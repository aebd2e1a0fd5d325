"""The sandbox's modes and benign programs: what works inside, and the fallback without bwrap."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile

import pytest

from starjax.eval import sandbox as sandbox_lib
from starjax.eval.sandbox import Sandbox
from starjax.eval.supervisor import supervise
from tests import toolchains
from tests.eval.conftest import TEST_LIMITS, processes_with, wait_until_gone

BENIGN = {
    "fork_and_wait": "    import os\n    pid = os.fork()\n    if pid == 0:\n        os._exit(7)\n"
                     "    return 1 if os.WEXITSTATUS(os.waitpid(pid, 0)[1]) == 7 else 0\n",
    "multiprocessing_pool": "    import multiprocessing\n"
                            "    with multiprocessing.Pool(2) as pool:\n"
                            "        return 1 if pool.map(abs, [-1, 1]) == [1, 1] else 0\n",
    "subprocess": "    import subprocess\n"
                  "    return int(subprocess.run(['sh', '-c', 'echo 1'], capture_output=True,"
                  " text=True).stdout)\n",
    "threads": "    import concurrent.futures as f\n    with f.ThreadPoolExecutor(8) as ex:\n"
               "        return 1 if sum(ex.map(abs, [-1] * 8)) == 8 else 0\n",
    "files_in_workdir_and_tmp": "    open('out.txt', 'w').write('1')\n"
                                "    open('/tmp/t', 'w').write('1')\n"
                                "    return int(open('out.txt').read()) * "
                                "int(open('/tmp/t').read())\n",
    "stderr_and_stdout": "    import sys\n    print('to stdout')\n"
                         "    print('to stderr', file=sys.stderr)\n    return 1\n",
}


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_benign_programs_pass(run_toy, name):
  verdict = run_toy(BENIGN[name])
  assert verdict.passed, verdict


@pytest.mark.skipif(os.geteuid() != 0, reason="fresh uids are used only when running as root")
def test_runs_as_a_fresh_unprivileged_uid(run_toy, sandbox):
  verdict = run_toy("    import os\n    print('uid', os.getuid(), os.getgid(), os.getgroups())\n"
                    "    print('map', *open('/proc/self/uid_map').read().split())\n"
                    "    return 1\n")
  assert verdict.passed, verdict
  uid, gid = (int(x) for x in verdict.stdout.split("uid ")[1].split()[:2])
  if sandbox.isolation == "unshare":
    # uid 65534 of the program's own user namespace, which is the fresh uid on the host.
    assert uid == gid == 65534
    inside, host, count = verdict.stdout.split("map ")[1].split()[:3]
    assert (inside, count) == ("65534", "1") and int(host) in sandbox.run_uids()
    assert "[65534]" in verdict.stdout or "[]" in verdict.stdout
  else:
    assert uid in sandbox.run_uids() and gid == uid
    assert "[]" in verdict.stdout  # no supplementary groups


def test_sandbox_sees_only_the_system_and_its_directory(run_toy):
  verdict = run_toy("    import os\n    print(sorted(os.listdir('/')), os.getcwd())\n"
                    "    return 1\n")
  assert verdict.passed, verdict
  listing = verdict.stdout
  assert "/sandbox" in listing
  for hidden in ("'home'", "'root'", "'var'", "'run'", "'work'"):
    if hidden == "'root'" and sandbox_lib.interpreter_paths() and any(
        p.startswith("/root/") for p in sandbox_lib.interpreter_paths()):
      continue  # the interpreter lives under /root here: only its own directory is bound
    assert hidden not in listing


@pytest.mark.parametrize("form", ["code object", "source"])
def test_launcher_runs_compiled_here_or_as_source(sandbox, tmp_path, form):
  # This interpreter gets the launcher's code object, compiled once; another gets its source.
  launcher = sys.executable
  if form == "source":
    others = [p for p in ("/usr/bin/python3", "/usr/local/bin/python3") if os.path.exists(p)
              and os.path.realpath(p) != os.path.realpath(sys.executable)]
    if not others:
      pytest.skip("no second Python interpreter in /usr/bin or /usr/local/bin")
    launcher = others[0]
  box = Sandbox(TEST_LIMITS, isolation=sandbox.isolation, launcher_python=launcher)
  assert ("marshal" in sandbox_lib.sandbox.launcher_code(launcher)) == (form == "code object")
  (tmp_path / "p.py").write_text("import sys\nprint(sys.argv[1:], __name__)\n")
  outcome = box.run([launcher, "-S", "p.py", "x"], str(tmp_path), timeout=10)
  assert (outcome.exit_code, outcome.stdout) == (0, b"['x'] __main__\n"), outcome


# --- the user-namespace mode (what a non-root caller gets) ---------------------------------------

@pytest.fixture(scope="module")
def userns_sandbox():
  if shutil.which("bwrap") is None:
    toolchains.missing("bubblewrap is not installed: apt-get install bubblewrap")
  return Sandbox(TEST_LIMITS, isolation="bubblewrap", privileges="userns")


def test_user_namespace_mode_runs_as_nobody(run_toy, userns_sandbox):
  verdict = run_toy("    import os\n    return 1 if os.getuid() == 65534 else 0\n",
                    box=userns_sandbox)
  assert verdict.passed, verdict


FORK_COUNTER = (
    "import os, time\nforked = 0\ntry:\n    while forked < 10000:\n        if os.fork() == 0:\n"
    "            time.sleep(30)\n            os._exit(0)\n        forked += 1\nexcept OSError:\n"
    "    pass\nprint('forked', forked, 'uid', os.getuid())\n")


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv")
                    or not os.path.exists("/usr/bin/python3"),
                    reason="needs root to become a non-root caller, setpriv and /usr/bin/python3")
def test_non_root_caller_gets_a_process_limit_per_sandbox():
  # As root the kernel exempts uid 0 from RLIMIT_NPROC, so become an ordinary user (65534) to
  # run the exact command line a non-root evaluator runs: bwrap maps it into a user namespace,
  # where the launcher's RLIMIT_NPROC counts only this sandbox's processes.
  box = Sandbox(TEST_LIMITS, isolation="bubblewrap", privileges="userns",
                launcher_python="/usr/bin/python3")
  workdir = tempfile.mkdtemp(prefix="starjax-test-nonroot-")
  try:
    os.chown(workdir, 65534, 65534)
    command, env = box.command(["/usr/bin/python3", "-c", FORK_COUNTER], workdir, timeout=10)
    become_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    outcome = supervise(become_nobody + command, cwd=workdir, env=env, timeout=10,
                        memory_limit_bytes=2 << 30, output_limit_bytes=1 << 20,
                        captured_bytes=4096)
  finally:
    shutil.rmtree(workdir)
  assert outcome.exit_code == 0, outcome
  words = outcome.stdout.decode().split()
  assert words[3] == "65534"
  assert 0 < int(words[1]) < TEST_LIMITS.max_processes


# --- the rlimit-only fallback ------------------------------------------------------------------

def without(monkeypatch, *tools, replacement=None):
  """Makes shutil.which (as the sandbox sees it) find `replacement` instead of each tool."""
  real_which = shutil.which
  monkeypatch.setattr(shutil, "which",
                      lambda name: replacement if name in tools else real_which(name))


def test_missing_bubblewrap_falls_back_to_unshare(monkeypatch, caplog):
  without(monkeypatch, "bwrap")
  with caplog.at_level("INFO", logger="starjax.eval.sandbox"):
    box = Sandbox(TEST_LIMITS)
  assert box.isolation == "unshare"
  assert box.describe()["isolation"] == "unshare"
  assert any("sandbox: unshare (bubblewrap (bwrap) is not installed" in r.getMessage()
             for r in caplog.records)


def test_broken_bubblewrap_falls_back_to_unshare(monkeypatch):
  without(monkeypatch, "bwrap", replacement="/bin/false")
  assert Sandbox(TEST_LIMITS).isolation == "unshare"


def test_no_isolating_backend_refuses_and_says_how_to_fix_it(monkeypatch):
  without(monkeypatch, "bwrap", "unshare")
  with pytest.raises(sandbox_lib.SandboxUnavailableError,
                     match="no backend can isolate.*apt-get install bubblewrap.*--allow_unsandbox"):
    Sandbox(TEST_LIMITS)


def test_unshare_without_namespaces_refuses(monkeypatch):
  # `unshare` that cannot create namespaces (here: one that always fails) is not isolation.
  without(monkeypatch, "bwrap", "unshare", replacement="/bin/false")
  with pytest.raises(sandbox_lib.SandboxUnavailableError, match="unshare cannot create"):
    Sandbox(TEST_LIMITS)
  with pytest.raises(sandbox_lib.SandboxUnavailableError, match="unshare cannot create"):
    Sandbox(TEST_LIMITS, isolation="unshare")


def test_allow_unsandboxed_warns_loudly_and_falls_back(monkeypatch):
  without(monkeypatch, "bwrap", "unshare")
  with pytest.warns(RuntimeWarning, match="SANDBOX DEGRADED .*--allow_unsandboxed"):
    box = Sandbox(TEST_LIMITS, allow_unsandboxed=True)
  assert box.isolation == "rlimits"
  assert box.describe()["isolation"] == "rlimits"


def test_requiring_bubblewrap_without_it_is_an_error(monkeypatch):
  without(monkeypatch, "bwrap")
  with pytest.raises(sandbox_lib.SandboxUnavailableError, match="apt-get install bubblewrap"):
    Sandbox(TEST_LIMITS, isolation="bwrap")


def test_sandbox_backend_is_a_gin_setting():
  import gin  # pylint: disable=import-outside-toplevel
  with gin.unlock_config():
    gin.bind_parameter("Sandbox.isolation", "unshare")
  try:
    assert Sandbox(TEST_LIMITS).isolation == "unshare"
  finally:
    with gin.unlock_config():
      gin.bind_parameter("Sandbox.isolation", "auto")


@pytest.mark.parametrize("name", ["fork_and_wait", "multiprocessing_pool", "subprocess"])
def test_fallback_runs_benign_programs(run_toy, fallback_sandbox, name):
  assert run_toy(BENIGN[name], box=fallback_sandbox).passed


def test_fallback_still_fails_early_exit(run_toy, fallback_sandbox):
  verdict = run_toy("    import os\n    os._exit(0)\n", box=fallback_sandbox)
  assert verdict.result == "failed: exited before the tests finished (exit code 0)"


def test_fallback_limits_memory(run_toy, fallback_sandbox):
  verdict = run_toy("    chunks = [b'x' * (64 << 20) for _ in range(64)]\n    return 1\n",
                    box=fallback_sandbox)
  assert verdict.result == "failed: MemoryError"


def test_fallback_cuts_output(run_toy, fallback_sandbox):
  verdict = run_toy("    while True:\n        print('x' * 4096)\n", box=fallback_sandbox)
  assert verdict.result.startswith("failed: output limit exceeded")


def test_fallback_clears_the_environment(run_toy, fallback_sandbox, monkeypatch):
  monkeypatch.setenv("STARJAX_TEST_SECRET", "visible")
  verdict = run_toy("    import os\n    return 1 if 'STARJAX_TEST_SECRET' in os.environ else 0\n",
                    box=fallback_sandbox)
  assert verdict.result == "failed: AssertionError"


@pytest.mark.parametrize("timeout, body_end", [(5.0, "    return 1\n"),
                                               (1.0, "    while True:\n        pass\n")])
def test_fallback_kills_what_the_program_left_behind(run_toy, fallback_sandbox, timeout, body_end):
  # Daemonized (double fork + setsid): only the launcher's subreaper can still find it.
  marker = f"{secrets.randbelow(10**6) + 1000}.{secrets.randbelow(10**6)}"
  run_toy("    import subprocess\n"
          f"    subprocess.Popen(['sh', '-c', 'sleep {marker} &'], start_new_session=True)\n"
          + body_end, box=fallback_sandbox, timeout=timeout)
  assert wait_until_gone(lambda: processes_with(marker)) == []
