"""The sandbox every generated program runs in: Linux namespaces + rlimits + a supervisor.

Two backends give the same isolation; `auto` takes bubblewrap when it works, else unshare, and
says once which one it uses. Where neither can isolate (no user namespaces, a seccomp filter),
Sandbox() refuses with how to fix it, unless allow_unsandboxed (`--allow_unsandboxed`) asks for
the rlimit-only fallback.

Isolation (bubblewrap, `bwrap`):
- no network (own network namespace: only a loopback that no host service listens on), own PID,
  IPC and UTS namespaces; the program's PID 1 is bwrap, so when the program ends or is killed,
  the kernel kills everything it left behind; `--die-with-parent` ties it to the evaluator.
- a read-only system (/usr, /etc, /opt and the /bin, /lib links) plus the read-only install
  directories of the interpreters it needs; a private writable /tmp and /dev/shm (size-limited
  tmpfs) and a writable working directory (the program's own, bound at /sandbox); nothing else of
  the host (no /home, /root, /var, /run).
- an unprivileged uid: when the evaluator runs as root, bwrap mounts as root, keeps only
  CAP_SETUID/CAP_SETGID, and the launcher switches to a fresh uid of its own (one per concurrent
  run, never a real user's) before anything untrusted runs. Otherwise a user namespace maps
  the caller to uid 65534 inside, and further user namespaces are disabled.
- a clean environment (`--clearenv`): none of the caller's variables, only those below.

Isolation (util-linux `unshare`, on every distribution; starjax/eval/launcher.py does the rest):
- `unshare --net --pid --mount --ipc --uts --fork` (plus `--user --map-root-user` for a non-root
  caller); `setpriv --pdeathsig KILL` ties it to the evaluator. The launcher, PID 1 of the new
  PID namespace, mounts a new root on a tmpfs: the same read-only system and interpreter
  directories, a private /tmp and /dev/shm, a few device nodes, a fresh /proc, the working
  directory at /sandbox; then pivot_root and the old root is detached (no /home, no caller's
  working directory). As root it switches to a fresh uid like bubblewrap's; then it forks the
  program, which enters a user namespace of its own as uid 65534 without capabilities (and
  with no_new_privs). The launcher stays as init: it reaps orphans and, when the program ends,
  exits with its status, which makes the kernel kill everything left in the namespace.

Limits (set by a tiny launcher inside the sandbox, so that RLIMIT_NPROC counts per sandbox:
since Linux 5.14 the count is kept per user namespace or, as root, per fresh uid):
- CPU seconds per process, RLIMIT_DATA = memory per process, RLIMIT_AS = a larger address
  space (the JVM and node reserve far more than they use: RLIMIT_AS at the memory limit keeps
  the JVM from starting), RLIMIT_NPROC (processes + threads), RLIMIT_FSIZE, RLIMIT_NOFILE;
- the memory of the whole process tree (resident private + shared) and the wall clock are
  enforced by starjax/eval/supervisor.py, which also caps stdout/stderr.
- managed runtimes are told the limit so they fail cleanly instead of hitting it:
  JAVA_TOOL_OPTIONS=-XX:MaxRAM, NODE_OPTIONS=--max-old-space-size, GOMEMLIMIT.

The rlimit-only fallback (isolation='rlimits', or allow_unsandboxed when nothing isolates): the
same launcher applies the rlimits and reaps the program's whole tree as a child subreaper, and a
loud warning says what is missing: the program then sees the host's files and network and runs
as the caller (as root, root: RLIMIT_NPROC does not bind root, and kill(-1) would reach every
process). Never chosen silently.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import secrets
import shutil
import sys
import tempfile
import threading
import warnings
from typing import Mapping, Sequence

import gin

from starjax.eval import supervisor

# Where the program's working directory appears inside the sandbox.
WORKDIR = "/sandbox"
# Host directories bound read-only into every sandbox, when present.
SYSTEM_DIRS = ("/usr", "/etc", "/opt")
# Top-level names that are symlinks into /usr on merged-/usr systems and directories elsewhere.
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The uid inside a user namespace (the "nobody" of most distributions).
NAMESPACE_UID = 65534
INSTALL_HINT = ("install it with `apt-get install bubblewrap` (Debian/Ubuntu) or "
                "`dnf install bubblewrap`")
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


class SandboxUnavailableError(RuntimeError):
  """No backend can isolate programs here; the message says why and how to fix it."""


_reported: set[str] = set()
_reported_lock = threading.Lock()


def report_once(message: str) -> None:
  """Logs which sandbox is in use, once per process and message."""
  with _reported_lock:
    if message in _reported:
      return
    _reported.add(message)
  logging.getLogger(__name__).info("%s", message)

# The script every sandboxed command starts with (see starjax/eval/launcher.py), run as
# `python -I -S -c LAUNCHER SPEC ARGV...`. Read as text: it runs in the sandbox, not here.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "launcher.py"),
          encoding="utf-8") as _launcher_file:
  LAUNCHER = _launcher_file.read()


@gin.configurable
@dataclasses.dataclass(frozen=True)
class Limits:
  """Resource limits of one sandboxed run.

  memory_mb: private memory per process (RLIMIT_DATA) and resident memory of the whole
    process tree (supervisor). address_space_mb: RLIMIT_AS per process; None = 2 × memory_mb,
    room for the JVM's and V8's reservations. max_processes: processes + threads (RLIMIT_NPROC).
  file_size_mb: largest file it may write. open_files: RLIMIT_NOFILE.
  output_mb: stdout + stderr beyond this kill the program. captured_kb: bytes kept per stream.
  tmp_mb: size of the private /tmp (and a quarter of it for /dev/shm).
  nice: the programs' niceness: they compete with each other as equals, but a fork bomb's
    hundreds of spinning processes cannot starve the supervisor that enforces the deadline.
  The CPU limit follows the timeout of each run: 2 × timeout + 1 s (runtimes use several cores).
  """

  memory_mb: int = 2048
  address_space_mb: int | None = None
  max_processes: int = 256
  file_size_mb: int = 64
  open_files: int = 256
  output_mb: float = 8.0
  captured_kb: int = 64
  tmp_mb: int = 256
  nice: int = 19

  def rlimits(self, timeout: float) -> dict[str, list[int]]:
    cpu = math.ceil(2 * timeout) + 1
    data = self.memory_mb << 20
    address_space = (self.address_space_mb or 2 * self.memory_mb) << 20
    return {
        "RLIMIT_CPU": [cpu, cpu + 1],  # SIGXCPU first, SIGKILL a second later
        "RLIMIT_DATA": [data, data],
        "RLIMIT_AS": [address_space, address_space],
        "RLIMIT_NPROC": [self.max_processes, self.max_processes],
        "RLIMIT_FSIZE": [self.file_size_mb << 20, self.file_size_mb << 20],
        "RLIMIT_NOFILE": [self.open_files, self.open_files],
        "RLIMIT_CORE": [0, 0],
    }

  def runtime_env(self) -> dict[str, str]:
    """Tells managed runtimes the limit so they size their heaps below it and fail cleanly."""
    return {
        "JAVA_TOOL_OPTIONS": f"-XX:MaxRAM={self.memory_mb}m",
        "NODE_OPTIONS": f"--max-old-space-size={self.memory_mb // 2}",
        "GOMEMLIMIT": f"{self.memory_mb}MiB",
    }


def add_flags(parser) -> None:
  """Adds --sandbox and --allow_unsandboxed to an argparse parser (run.py eval/evaluate)."""
  parser.add_argument("--sandbox", choices=("auto", "bwrap", "unshare"), default=None,
                      help="isolation backend: auto (bubblewrap, else unshare; the default), "
                      "bwrap or unshare (that one, or an error); gin Sandbox.isolation")
  parser.add_argument("--allow_unsandboxed", action="store_true",
                      help="where no backend can isolate, run programs with rlimits only "
                      "(they can read your files and use the network) instead of refusing")


def apply_flags(args) -> "Sandbox":
  """Binds the flags of add_flags into gin and checks at once that the sandbox works (before any
  generation). Returns that Sandbox; raises SandboxUnavailableError with the fix."""
  with gin.unlock_config():
    if args.sandbox is not None:
      gin.bind_parameter("Sandbox.isolation", args.sandbox)
    if args.allow_unsandboxed:
      gin.bind_parameter("Sandbox.allow_unsandboxed", True)
  return Sandbox()


@functools.lru_cache(maxsize=None)
def _system_roots() -> tuple[str, ...]:
  return SYSTEM_DIRS + tuple(os.path.realpath(p) for p in SYSTEM_LINKS if os.path.exists(p))


def under_system_dirs(path: str) -> bool:
  """Whether `path` is already visible in every sandbox (under /usr, /etc, /opt or a /lib link)."""
  real = os.path.realpath(path)
  return any(real == root or real.startswith(root.rstrip("/") + "/") for root in _system_roots())


def install_dir(binary: str) -> str | None:
  """The directory to bind for a toolchain binary found on the host PATH, or None if none is needed.

  `…/versions/3.11.7/bin/python3` → `…/versions/3.11.7` (the install prefix, which also holds
  its libraries); a binary outside a `bin/` directory → its own directory.
  """
  found = shutil.which(binary)
  if not found or under_system_dirs(found):
    return None
  folder = os.path.dirname(os.path.realpath(found))
  return os.path.dirname(folder) if os.path.basename(folder) == "bin" else folder


@functools.lru_cache(maxsize=None)
def interpreter_paths(executable: str = sys.executable) -> tuple[str, ...]:
  """Host paths a Python interpreter needs inside the sandbox: its prefixes (venv and base).

  Only this process's own prefixes are known; for another interpreter, its install prefix.
  """
  paths = {os.path.dirname(os.path.dirname(os.path.realpath(executable)))}
  if executable == sys.executable:
    paths |= {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
  return tuple(sorted(p for p in paths if not under_system_dirs(p)))


@gin.configurable(denylist=["limits", "launcher_python"])
class Sandbox:
  """Runs commands confined as described in this module's docstring. Thread-safe.

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
    self._privileges = privileges
    self._drop_to_fresh_uid = False
    self._bwrap = shutil.which("bwrap")
    self._unshare = shutil.which("unshare")
    self._setpriv = shutil.which("setpriv")
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
    # The unshare backend as root always takes fresh uids: a user namespace mapping root
    # would leave the program root's files (it owns them).
    self._drop_to_fresh_uid = os.geteuid() == 0 and (
        isolation == "unshare" or (isolation == "bubblewrap" and self._privileges == "auto"))

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
    if backend == "bubblewrap" and self._bwrap is None:
      return f"bubblewrap (bwrap) is not installed; {INSTALL_HINT}"
    if backend == "unshare" and (self._unshare is None or self._setpriv is None):
      return "util-linux unshare/setpriv is not installed; `apt-get install util-linux`"
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
    if self.isolation in BACKENDS:
      uid = "fresh unprivileged uid per run" if self._drop_to_fresh_uid else (
          f"uid {NAMESPACE_UID} in a user namespace")
      if self.isolation == "unshare":
        uid += f" (uid {NAMESPACE_UID} in the program's own user namespace)"
    else:
      uid = "the caller's (no isolation: rlimits only)"
    return {"isolation": self.isolation, "uid": uid, **dataclasses.asdict(self.limits)}

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
    if self.isolation in BACKENDS and self._drop_to_fresh_uid:
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
    paths = sorted(set(interpreter_paths(self.launcher_python)) |
                   {os.path.realpath(p) for p in ro_paths})
    paths = [p for p in paths if not under_system_dirs(p)
             and not any(p.startswith(q + "/") for q in paths)]
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
    launcher = [self.launcher_python, "-I", "-S", "-c", LAUNCHER]
    if self.isolation == "bubblewrap":
      command = self._bubblewrap_argv(workdir, paths, variables, uid) + launcher
      host_env = {}
    elif self.isolation == "unshare":
      spec.update(self._namespace_spec(workdir, paths))
      command, host_env = self._unshare_argv(uid) + launcher, variables
    else:
      spec["supervise"] = 1
      spec["nproc_extra"] = self.limits.max_processes
      del spec["RLIMIT_NPROC"]  # the launcher sets it relative to the caller's existing tasks
      command, host_env = launcher, variables
    return command + [";".join(f"{k}={v}" for k, v in spec.items()), *argv], host_env

  def _environment(self, paths: Sequence[str], extra: Mapping[str, str] | None) -> dict[str, str]:
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

  def _bubblewrap_argv(self, workdir: str, paths: Sequence[str], variables: Mapping[str, str],
                       uid: int | None) -> list[str]:
    limits = self.limits
    args = [self._bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
            "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
    if uid is None:
      args += ["--unshare-user", "--uid", str(NAMESPACE_UID), "--gid", str(NAMESPACE_UID),
               "--disable-userns"]
    else:
      # Root in the sandbox only until the launcher's setuid: it needs nothing else.
      args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    args.append("--clearenv")
    for name, value in variables.items():
      args += ["--setenv", name, value]
    for folder in SYSTEM_DIRS:
      if os.path.isdir(folder):
        args += ["--ro-bind", folder, folder]
    for link in SYSTEM_LINKS:
      if os.path.islink(link):
        args += ["--symlink", os.readlink(link), link]
      elif os.path.isdir(link):
        args += ["--ro-bind", link, link]
    args += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(limits.tmp_mb << 20), "--tmpfs", "/tmp",
             "--perms", "1777", "--size", str(limits.tmp_mb << 18), "--tmpfs", "/dev/shm"]
    made = {"/", "/tmp", "/dev", "/proc"}
    for path in paths:
      # bwrap would copy the host's modes onto the parents it creates (/root is 0700).
      parents = []
      parent = os.path.dirname(path)
      while parent not in made:
        parents.append(parent)
        parent = os.path.dirname(parent)
      for parent in reversed(parents):
        args += ["--perms", "0755", "--dir", parent]
        made.add(parent)
      args += ["--ro-bind", path, path]
    args += ["--bind", workdir, WORKDIR, "--chdir", WORKDIR, "--"]
    return args

  def _unshare_argv(self, uid: int | None) -> list[str]:
    args = [self._setpriv, "--pdeathsig", "KILL", "--", self._unshare]
    if uid is None and os.geteuid() != 0:
      args += ["--user", "--map-root-user"]
    return args + ["--net", "--pid", "--fork", "--kill-child", "--mount", "--ipc", "--uts",
                   "--propagation", "private", "--"]

  def _namespace_spec(self, workdir: str, paths: Sequence[str]) -> dict[str, object]:
    """What the launcher mounts in the unshare backend (see starjax/eval/launcher.py)."""
    ro = [folder for folder in SYSTEM_DIRS if os.path.isdir(folder)]
    links = []
    for link in SYSTEM_LINKS:
      if os.path.islink(link):
        links.append(f"{link}>{os.readlink(link)}")
      elif os.path.isdir(link):
        ro.append(link)
    ro += paths
    for path in ro + [workdir]:
      if any(c in path for c in ":;,>"):
        raise ValueError(f"sandbox path {path!r}: the unshare backend cannot bind a path with "
                         "':', ';', ',' or '>' in it; move it or use --sandbox=bwrap")
    return {"namespace": 1, "ro": ":".join(ro), "links": ",".join(links),
            "workdir": os.path.realpath(workdir), "tmp_bytes": self.limits.tmp_mb << 20,
            "shm_bytes": self.limits.tmp_mb << 18}

  def _acquire_uid(self) -> int:
    with self._lock:
      if self._free_uids:
        return self._free_uids.pop()
      self._next_uid += 1
      return self._next_uid

  def _release_uid(self, uid: int) -> None:
    with self._lock:
      self._free_uids.append(uid)
