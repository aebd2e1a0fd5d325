"""The unshare backend (`--sandbox=unshare`): namespaces from util-linux, on every distribution.

- `unshare --net --pid --mount --ipc --uts --fork` (plus `--user --map-root-user` for a non-root
  caller); `setpriv --pdeathsig KILL` ties it to the evaluator.
- the launcher (starjax/eval/sandbox/launcher.py), PID 1 of the new PID namespace, mounts a new
  root on a tmpfs: the same read-only system and interpreter directories as bubblewrap's, a
  private /tmp and /dev/shm, a few device nodes, a fresh /proc, the working directory at
  /sandbox; then pivot_root and the old root is detached (no /home, no caller's working
  directory).
- as root it switches to a fresh uid like bubblewrap's (always: a user namespace mapping root
  would leave the program root's files); then it forks the program, which enters a user
  namespace of its own as uid 65534 without capabilities (and with no_new_privs).
- the launcher stays as init: it reaps orphans and, when the program ends, exits with its
  status, which makes the kernel kill everything left in the namespace.
- the environment is the supervisor's to give: only the sandbox's own variables.
"""

from __future__ import annotations

import os
import shutil
from typing import Mapping, Sequence

from starjax.eval.sandbox import paths as paths_lib
from starjax.eval.sandbox.limits import Limits

# The uid of the program in its own user namespace.
NAMESPACE_UID = 65534
# Characters the launcher's spec uses as separators (see launcher.py).
SPEC_SEPARATORS = ":;,>"


class Unshare:
  """Wraps the launcher's command line in setpriv + util-linux unshare, and tells the launcher
  (through its spec) what to mount."""

  name = "unshare"

  def __init__(self):
    self.unshare = shutil.which("unshare")
    self.setpriv = shutil.which("setpriv")

  def missing(self) -> str | None:
    """Why this backend cannot even be tried here, or None."""
    if self.unshare is None or self.setpriv is None:
      return "util-linux unshare/setpriv is not installed; `apt-get install util-linux`"
    return None

  def drops_to_fresh_uid(self) -> bool:
    return os.geteuid() == 0

  def wrap(self, launcher: Sequence[str], spec: dict, *, workdir: str, paths: Sequence[str],
           variables: Mapping[str, str], uid: int | None,
           limits: Limits) -> tuple[list[str], dict[str, str]]:
    """The command that runs `launcher` as init of fresh namespaces, and its host environment
    (`variables`: nothing else of the caller's). Adds the mounts to `spec`."""
    spec.update(self.namespace_spec(workdir, paths, limits))
    args = [self.setpriv, "--pdeathsig", "KILL", "--", self.unshare]
    if uid is None and os.geteuid() != 0:
      args += ["--user", "--map-root-user"]
    args += ["--net", "--pid", "--fork", "--kill-child", "--mount", "--ipc", "--uts",
             "--propagation", "private", "--"]
    return args + list(launcher), dict(variables)

  @staticmethod
  def namespace_spec(workdir: str, paths: Sequence[str], limits: Limits) -> dict[str, object]:
    """What the launcher mounts (see launcher.py's namespace=1)."""
    ro = paths_lib.system_dirs() + list(paths)
    links = [f"{link}>{target}" for link, target in paths_lib.system_links().items()]
    for path in ro + [workdir]:
      if any(c in path for c in SPEC_SEPARATORS):
        raise ValueError(f"sandbox path {path!r}: the unshare backend cannot bind a path with "
                         "':', ';', ',' or '>' in it; move it or use --sandbox=bwrap")
    return {"namespace": 1, "ro": ":".join(ro), "links": ",".join(links),
            "workdir": os.path.realpath(workdir), "tmp_bytes": limits.tmp_mb << 20,
            "shm_bytes": limits.tmp_mb << 18}

  def describe_uid(self, fresh_uids: bool) -> str:
    uid = "fresh unprivileged uid per run" if fresh_uids else (
        f"uid {NAMESPACE_UID} in a user namespace")
    return uid + f" (uid {NAMESPACE_UID} in the program's own user namespace)"
