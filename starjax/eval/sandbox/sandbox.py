"""Sandbox: chooses a backend that isolates here, and runs commands in it under the supervisor.

`auto` takes bubblewrap when it works, else unshare, and says once which one it uses. Where
neither can isolate (no user namespaces, a seccomp filter), Sandbox() refuses with how to fix
it, unless allow_unsandboxed (`--allow_unsandboxed`) asks for the rlimit-only fallback, with a
loud warning. Every command starts with the launcher (launcher.py: limits, uid, the program),
which the backend wraps (bubblewrap.py, unshare.py, rlimits.py); starjax/eval/supervisor.py
then enforces the wall clock, the memory of the whole tree and the output cap.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import marshal
import os
import secrets
import sys
import tempfile
import threading
import warnings
from typing import Mapping, Sequence

import gin

from starjax.eval import supervisor
from starjax.eval.sandbox import paths as paths_lib
from starjax.eval.sandbox.bubblewrap import INSTALL_HINT, Bubblewrap
from starjax.eval.sandbox.limits import Limits
from starjax.eval.sandbox.rlimits import RlimitsOnly
from starjax.eval.sandbox.unshare import Unshare

# The backends by their names in `--sandbox=` and in summary.json; 'bwrap' is bubblewrap's alias.
BACKENDS = ("bubblewrap", "unshare")
ISOLATIONS = ("auto", "bubblewrap", "bwrap", "unshare", "rlimits")
REFUSAL_FIX = (
    "Generated programs are untrusted code; starjax runs them only in a sandbox. Fix: install "
    "bubblewrap (`apt-get install bubblewrap`), or allow user namespaces (`sysctl -w "
    "kernel.unprivileged_userns_clone=1` on Debian/Ubuntu kernels, `sysctl -w "
    "user.max_user_namespaces=15000`; in a container, run it with a seccomp profile that allows "
    "unshare/clone of namespaces), or pass --allow_unsandboxed to run them with rlimits only "
    "(they can then read your files, use the network and signal your processes)")
# The uid of the program inside a user namespace (the "nobody" of most distributions).
NAMESPACE_UID = 65534

# The script every sandboxed command starts with (see launcher.py), run as
# `python -I -S -c LAUNCHER SPEC ARGV...`. Read as text: it runs in the sandbox, not here.
LAUNCHER_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "launcher.py")
with open(LAUNCHER_PATH, encoding="utf-8") as _launcher_file:
  LAUNCHER = _launcher_file.read()


@functools.lru_cache(maxsize=None)
def launcher_code(python: str) -> str:
  """The `-c` text that runs the launcher in `python`.

  For this very interpreter, the launcher's code object, compiled here once and marshalled
  (compiling its source again in every sandboxed program costs each ~2 ms of CPU, a tenth of
  its start-up); marshal's format is the interpreter's own, so any other gets the source.
  """
  if os.path.realpath(python) != os.path.realpath(sys.executable):
    return LAUNCHER
  code = marshal.dumps(compile(LAUNCHER, LAUNCHER_PATH, "exec"))
  return f"import marshal;exec(marshal.loads(bytes.fromhex('{code.hex()}')))"


class SandboxUnavailableError(RuntimeError):
  """No backend can isolate programs here; the message says why and how to fix it."""


_reported: set[str] = set()
_reported_lock = threading.Lock()


def report_once(message: str) -> None:
  """Logs (logger starjax.eval.sandbox) which sandbox is in use, once per process and message."""
  with _reported_lock:
    if message in _reported:
      return
    _reported.add(message)
  logging.getLogger("starjax.eval.sandbox").info("%s", message)


@gin.configurable(denylist=["limits", "launcher_python"])
class Sandbox:
  """Runs commands confined (see the backends' modules for how). Thread-safe.

  limits: the Limits of every run. isolation (gin `Sandbox.isolation`, `--sandbox=`): 'auto'
  (bubblewrap when it works, else unshare), 'bubblewrap' (alias 'bwrap') or 'unshare' (that
  backend, SandboxUnavailableError when it does not work here), or 'rlimits' (the fallback, on
  purpose). allow_unsandboxed (`--allow_unsandboxed`): with 'auto', fall back to rlimits with a
  loud warning where no backend works, instead of raising SandboxUnavailableError.
  privileges: 'auto' (as root: a fresh uid per run; otherwise a user namespace) or 'userns'
  (bubblewrap only: a user namespace even as root; what non-root callers get).
  launcher_python: the interpreter of the launcher inside the sandbox (bound read-only).
  """

  def __init__(self, limits: Limits | None = None, isolation: str = "auto",
               privileges: str = "auto", launcher_python: str = sys.executable,
               allow_unsandboxed: bool = False):
    if isolation not in ISOLATIONS:
      raise ValueError(f"isolation={isolation!r}: use one of {', '.join(ISOLATIONS)}")
    if privileges not in ("auto", "userns"):
      raise ValueError(f"privileges={privileges!r}: use 'auto' or 'userns'")
    self.limits = limits or Limits()
    self.launcher_python = launcher_python
    self.cancel = threading.Event()
    self._lock = threading.Lock()
    self._backends = {"bubblewrap": Bubblewrap(privileges), "unshare": Unshare(),
                      "rlimits": RlimitsOnly()}
    self._free_uids: list[int] = []
    # A random block far above real users' ids, so that no file or process of the host matches,
    # nor one of another evaluator's sandboxes.
    self._first_uid = 2_000_000_000 + secrets.randbelow(1_000_000) * 1000
    self._next_uid = self._first_uid
    self.isolation = self._choose_isolation("bubblewrap" if isolation == "bwrap" else isolation,
                                            allow_unsandboxed)
    self._use(self.isolation)

  def _use(self, isolation: str) -> None:
    self.isolation = isolation
    self._backend = self._backends[isolation]
    self._drop_to_fresh_uid = self._backend.drops_to_fresh_uid()

  def _choose_isolation(self, requested: str, allow_unsandboxed: bool) -> str:
    if requested == "rlimits":
      return "rlimits"
    problems = []
    for backend in (BACKENDS if requested == "auto" else (requested,)):
      problem = self._probe(backend)
      if problem is None:
        why = f" ({'; '.join(problems)})" if problems else ""
        report_once(f"sandbox: {backend}{why}; {self.describe_backend(backend)}")
        return backend
      problems.append(problem)
    if requested != "auto":
      raise SandboxUnavailableError(f"sandbox: {problems[0]}. {REFUSAL_FIX}")
    if not allow_unsandboxed:
      raise SandboxUnavailableError(
          f"sandbox: no backend can isolate programs here ({'; '.join(problems)}). {REFUSAL_FIX}")
    warnings.warn(
        "\n" + "!" * 78 + f"\nSANDBOX DEGRADED (--allow_unsandboxed): {'; '.join(problems)}.\n"
        "Generated programs now run with rlimits only: they can read your files, use the "
        "network and signal your processes.\n" + "!" * 78, RuntimeWarning, stacklevel=3)
    return "rlimits"

  def _probe(self, backend: str) -> str | None:
    """None when a trivial program runs in the backend's full sandbox, else why it does not."""
    problem = self._backends[backend].missing()
    if problem is not None:
      return problem
    self._use(backend)
    with tempfile.TemporaryDirectory(prefix="starjax-sandbox-probe-") as workdir:
      try:
        outcome = self.run(["true"], workdir, timeout=30)
      except OSError as e:
        return f"{backend} cannot start ({e})"
    if outcome.exit_code == 0:
      return None
    message = outcome.stderr.decode(errors="replace").strip() or f"exit code {outcome.exit_code}"
    return f"{backend} cannot create the sandbox here ({message[-300:]})"

  def describe_backend(self, backend: str) -> str:
    """One line on what `backend` (the one in use) confines, for the start-up report."""
    del backend  # both backends give the same isolation
    uid = "a fresh unprivileged uid per run" if self._drop_to_fresh_uid else (
        f"uid {NAMESPACE_UID} in a user namespace")
    return (f"user, PID, mount, network, IPC and UTS namespaces, read-only system, private "
            f"/tmp, {uid}, rlimits, wall-clock and memory supervision")

  def run_uids(self) -> range:
    """The uids this sandbox has given to runs so far (empty unless it drops to fresh uids)."""
    with self._lock:
      return range(self._first_uid + 1, self._next_uid + 1)

  def describe(self) -> dict:
    """The isolation and limits in effect, for summary.json."""
    return {"isolation": self.isolation,
            "uid": self._backend.describe_uid(self._drop_to_fresh_uid),
            **dataclasses.asdict(self.limits)}

  def run(self, argv: Sequence[str], workdir: str, *, timeout: float,
          ro_paths: Sequence[str] = (), env: Mapping[str, str] | None = None
          ) -> supervisor.Outcome:
    """Runs argv (a program name on the sandbox PATH, or an absolute path) confined.

    workdir: host directory that becomes the writable working directory (/sandbox inside).
    timeout: wall-clock seconds. ro_paths: extra host paths bound read-only at the same place
    (toolchains outside the system directories). env: variables added to the clean environment.
    Returns the supervisor.Outcome.
    """
    uid = None
    if self._drop_to_fresh_uid:
      uid = self._acquire_uid()
      # Owner: the sandbox uid; group root (bwrap, without CAP_DAC_OVERRIDE, must chdir into it).
      os.chown(workdir, uid, 0)
      os.chmod(workdir, 0o770)
    try:
      command, host_env = self.command(argv, workdir, timeout=timeout, ro_paths=ro_paths,
                                       env=env, uid=uid)
      return supervisor.supervise(
          command, cwd=workdir, env=host_env, timeout=timeout,
          memory_limit_bytes=self.limits.memory_mb << 20,
          output_limit_bytes=int(self.limits.output_mb * (1 << 20)),
          captured_bytes=self.limits.captured_kb << 10, cancel=self.cancel)
    finally:
      if uid is not None:
        self._release_uid(uid)

  def command(self, argv: Sequence[str], workdir: str, *, timeout: float,
              ro_paths: Sequence[str] = (), env: Mapping[str, str] | None = None,
              uid: int | None = None) -> tuple[list[str], dict[str, str]]:
    """The command line (and its host environment) that run() supervises.

    uid: the fresh uid the launcher switches to (root callers), None to keep the caller's.
    """
    paths = paths_lib.bound_paths(
        list(paths_lib.interpreter_paths(self.launcher_python)) + list(ro_paths))
    variables = self._environment(paths, env)
    # The launcher's spec: `name=value;...` (parsing JSON would double its start-up time).
    spec = {name: f"{soft}:{hard}" for name, (soft, hard) in self.limits.rlimits(timeout).items()}
    if self.limits.nice:
      spec["nice"] = self.limits.nice
    if uid is not None:
      spec["uid"] = uid
    argv = list(argv)
    if (len(argv) >= 3 and argv[1] == "-S" and
        os.path.realpath(argv[0]) == os.path.realpath(self.launcher_python)):
      spec["python_script"] = 1
      argv = argv[2:]
    launcher = [self.launcher_python, "-I", "-S", "-c", launcher_code(self.launcher_python)]
    command, host_env = self._backend.wrap(launcher, spec, workdir=workdir, paths=paths,
                                           variables=variables, uid=uid, limits=self.limits)
    return command + [";".join(f"{k}={v}" for k, v in spec.items()), *argv], host_env

  def _environment(self, paths: Sequence[str], extra: Mapping[str, str] | None) -> dict[str, str]:
    """The sandbox's whole environment: none of the caller's variables."""
    bins = [os.path.join(p, "bin") for p in paths if os.path.isdir(os.path.join(p, "bin"))]
    variables = {
        "PATH": ":".join(bins + ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin",
                                 "/sbin", "/bin"]),
        "HOME": "/tmp", "TMPDIR": "/tmp", "USER": "sandbox", "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
    }
    variables.update(self.limits.runtime_env())
    variables.update(extra or {})
    return variables

  def _acquire_uid(self) -> int:
    with self._lock:
      if self._free_uids:
        return self._free_uids.pop()
      self._next_uid += 1
      return self._next_uid

  def _release_uid(self, uid: int) -> None:
    with self._lock:
      self._free_uids.append(uid)

