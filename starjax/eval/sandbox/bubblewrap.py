"""The bubblewrap backend (`--sandbox=bwrap`): bwrap builds the namespaces and the filesystem.

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
- a clean environment (`--clearenv`): none of the caller's variables, only the sandbox's own.
"""

from __future__ import annotations

import os
import shutil
from typing import Mapping, Sequence

from starjax.eval.sandbox import paths as paths_lib
from starjax.eval.sandbox.limits import Limits

# The uid inside a user namespace (the "nobody" of most distributions).
NAMESPACE_UID = 65534
INSTALL_HINT = ("install it with `apt-get install bubblewrap` (Debian/Ubuntu) or "
                "`dnf install bubblewrap`")


class Bubblewrap:
  """Wraps the launcher's command line in bwrap. privileges: 'auto' (as root: a fresh uid per
  run) or 'userns' (a user namespace even as root, what non-root callers get)."""

  name = "bubblewrap"

  def __init__(self, privileges: str = "auto"):
    self.privileges = privileges
    self.bwrap = shutil.which("bwrap")

  def missing(self) -> str | None:
    """Why this backend cannot even be tried here, or None."""
    if self.bwrap is None:
      return f"bubblewrap (bwrap) is not installed; {INSTALL_HINT}"
    return None

  def drops_to_fresh_uid(self) -> bool:
    return os.geteuid() == 0 and self.privileges == "auto"

  def wrap(self, launcher: Sequence[str], spec: dict, *, workdir: str, paths: Sequence[str],
           variables: Mapping[str, str], uid: int | None,
           limits: Limits) -> tuple[list[str], dict[str, str]]:
    """The command that runs `launcher` inside bwrap, and its host environment (empty: bwrap
    sets the sandbox's own with --setenv). `spec` needs nothing more."""
    del spec  # the launcher only sets limits and the uid here; bwrap did the rest
    args = [self.bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
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
    for folder in paths_lib.system_dirs():
      args += ["--ro-bind", folder, folder]
    for link, target in paths_lib.system_links().items():
      args += ["--symlink", target, link]
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
    args += ["--bind", workdir, paths_lib.WORKDIR, "--chdir", paths_lib.WORKDIR, "--"]
    return args + list(launcher), {}

  def describe_uid(self, fresh_uids: bool) -> str:
    return "fresh unprivileged uid per run" if fresh_uids else (
        f"uid {NAMESPACE_UID} in a user namespace")
