"""The sandbox every generated program runs in: Linux namespaces + rlimits + a supervisor.

Model output is untrusted code. Each program runs confined by one backend, which gives the same
isolation either way: own user, PID, mount, network, IPC and UTS namespaces, a read-only system,
a private /tmp, no access to the caller's home or working directory, a clean environment, an
unprivileged uid; plus rlimits, a wall-clock timeout, a memory cap on the whole process tree
and an output cap.

    sandbox.py     Sandbox: picks the backend (bubblewrap, else unshare; or refuses), runs
                   commands under starjax/eval/supervisor.py
    bubblewrap.py  the bubblewrap backend (`--sandbox=bwrap`)
    unshare.py     the util-linux unshare backend (`--sandbox=unshare`)
    rlimits.py     the rlimit-only fallback (`--allow_unsandboxed`, never silently)
    launcher.py    the first process inside every sandbox: mounts (unshare), uid, rlimits
    limits.py      Limits: the resource limits of one run (gin `Limits.*`)
    paths.py       which host paths every sandbox sees read-only
    flags.py       --sandbox and --allow_unsandboxed
"""

from starjax.eval.sandbox.flags import add_flags, apply_flags
from starjax.eval.sandbox.limits import Limits
from starjax.eval.sandbox.paths import (SYSTEM_DIRS, SYSTEM_LINKS, WORKDIR, install_dir,
                                        interpreter_paths, under_system_dirs)
from starjax.eval.sandbox.sandbox import (BACKENDS, ISOLATIONS, LAUNCHER, REFUSAL_FIX, Sandbox,
                                          SandboxUnavailableError, report_once)

__all__ = ["BACKENDS", "ISOLATIONS", "LAUNCHER", "Limits", "REFUSAL_FIX", "SYSTEM_DIRS",
           "SYSTEM_LINKS", "Sandbox", "SandboxUnavailableError", "WORKDIR", "add_flags",
           "apply_flags", "install_dir", "interpreter_paths", "report_once", "under_system_dirs"]
