"""The rlimit-only fallback (isolation='rlimits', or --allow_unsandboxed where nothing isolates).

The launcher applies the rlimits and reaps the program's whole tree as a child subreaper; the
program sees the host's files and network and runs as the caller (as root, root: RLIMIT_NPROC
does not bind root, and kill(-1) would reach every process). It is no sandbox: Sandbox
(sandbox.py) takes it only on purpose, or with a loud warning, never silently.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from starjax.eval.sandbox.limits import Limits


class RlimitsOnly:
  """Runs the launcher as it is, telling it to supervise the program's tree itself."""

  name = "rlimits"

  def missing(self) -> str | None:
    return None  # needs nothing but the launcher's interpreter

  def drops_to_fresh_uid(self) -> bool:
    return False

  def wrap(self, launcher: Sequence[str], spec: dict, *, workdir: str, paths: Sequence[str],
           variables: Mapping[str, str], uid: int | None,
           limits: Limits) -> tuple[list[str], dict[str, str]]:
    """The launcher's command itself and its (clean) environment. In `spec`, RLIMIT_NPROC becomes
    relative to the caller's existing tasks (the launcher counts them: no namespace of its own)."""
    del workdir, paths, uid  # nothing is mounted and no uid is given
    spec["supervise"] = 1
    spec["nproc_extra"] = limits.max_processes
    del spec["RLIMIT_NPROC"]
    return list(launcher), dict(variables)

  def describe_uid(self, fresh_uids: bool) -> str:
    del fresh_uids
    return "the caller's (no isolation: rlimits only)"
