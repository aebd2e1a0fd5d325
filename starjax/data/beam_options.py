"""The Beam options starjax's pipelines (`data prepare`, `data index`) run with by default.

Any Beam flag the user passes wins (`--runner=FlinkRunner`, `--direct_num_workers=4`, …). Without
`--runner`, the pipeline runs on Beam's local batch engine, the FnApiRunner, named explicitly:
since Beam 2.6x the DirectRunner first tries the Prism runner, which downloads a Go binary
from GitHub. Offline that fails (after a DNS look-up, or a connection timeout where packets are
dropped) and leaves an empty /tmp/beam-temp* directory each run; online it runs the pipeline on
Prism, where `--direct_running_mode` and `--direct_num_workers` mean nothing. Either way the
DirectRunner then falls back to the FnApiRunner, so naming it runs the same engine, always.
"""

from __future__ import annotations

import os
from typing import Sequence

LOCAL_RUNNER = "FnApiRunner"
_LOCAL = ("DirectRunner", "FnApiRunner")


def _given(args: Sequence[str], flag: str) -> bool:
  return any(a == flag or a.startswith(flag + "=") for a in args)


def with_defaults(user_args: Sequence[str], *, every_core: bool) -> list[str]:
  """user_args plus the local runner (when none is chosen) and quiet workers; every_core: a
  local runner's pipeline runs in one worker process per core unless the user said otherwise
  (otherwise Beam's own default, in one process)."""
  args = list(user_args)
  if not _given(args, "--runner"):
    args.append(f"--runner={LOCAL_RUNNER}")
  runner = next((a.split("=", 1)[1] for a in args if a.startswith("--runner=")), LOCAL_RUNNER)
  if every_core and runner in _LOCAL:
    if not _given(args, "--direct_running_mode"):
      args.append("--direct_running_mode=multi_processing")
    if not _given(args, "--direct_num_workers"):
      args.append(f"--direct_num_workers={os.cpu_count() or 1}")
  if not _given(args, "--default_sdk_harness_log_level"):
    args.append("--default_sdk_harness_log_level=WARNING")  # workers' INFO lines drown ours
  return args
