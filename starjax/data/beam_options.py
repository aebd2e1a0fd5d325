"""The Beam options starjax's pipelines (`data prepare`, `data index`) run with by default.

Any Beam flag the user passes wins (`--runner=FlinkRunner`, `--direct_num_workers=4`, …). Without
`--runner`, the pipeline runs on Beam's local batch engine, the FnApiRunner, named explicitly:
since Beam 2.6x the DirectRunner first tries the Prism runner, which downloads a Go binary
from GitHub. Offline that fails (after a DNS look-up, or a connection timeout where packets are
dropped) and leaves an empty /tmp/beam-temp* directory each run; online it runs the pipeline on
Prism, where `--direct_running_mode` and `--direct_num_workers` mean nothing. Offline the
DirectRunner then runs the pipeline on the FnApiRunner, handing it the pipeline's options for
its worker processes; `LocalRunner` does exactly that, without the attempt at Prism.
"""

from __future__ import annotations

import os
from typing import Sequence

from apache_beam.runners.runner import PipelineRunner

LOCAL_RUNNER = "starjax.data.beam_options.LocalRunner"
_LOCAL = ("DirectRunner", "FnApiRunner", LOCAL_RUNNER)


class LocalRunner(PipelineRunner):
  """Beam's local batch engine (the FnApiRunner), given the pipeline's options as the
  DirectRunner gives them (so worker processes get `--default_sdk_harness_log_level` and the
  rest), without the DirectRunner's attempt at Prism. `--runner=` takes its qualified name."""

  def run_pipeline(self, pipeline, options):
    # Imported here, as the DirectRunner does: the portability modules are heavy.
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle
    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    provision = fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
    return fn_runner.FnApiRunner(provision_info=provision).run_pipeline(pipeline, options)


def _given(args: Sequence[str], flag: str) -> bool:
  return any(a == flag or a.startswith(flag + "=") for a in args)


def one_process(args: Sequence[str]) -> list[str]:
  """`args` with the local runner in this process (FnApiRunner in memory, one worker) in place of
  any running mode and worker count: no worker processes, no gRPC data plane between them."""
  kept = [a for a in args if not (_given([a], "--direct_running_mode")
                                  or _given([a], "--direct_num_workers"))]
  return kept + ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def is_local_multi_process(args: Sequence[str]) -> bool:
  """Whether `args` run the pipeline on the local runner with several worker processes."""
  runner = next((a.split("=", 1)[1] for a in args if a.startswith("--runner=")), LOCAL_RUNNER)
  mode = next((a.split("=", 1)[1] for a in args if a.startswith("--direct_running_mode=")),
              "in_memory")
  return runner in _LOCAL and mode == "multi_processing"


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
