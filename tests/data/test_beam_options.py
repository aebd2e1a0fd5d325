"""The Beam options starjax's pipelines run with by default (starjax/data/beam_options.py)."""

import glob
import os
import tempfile

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from starjax.data.beam_options import (LOCAL_RUNNER, is_local_multi_process, one_process,
                                       with_defaults)


def test_without_a_runner_the_local_engine_runs_on_every_core():
  args = with_defaults([], every_core=True)
  assert f"--runner={LOCAL_RUNNER}" in args  # not the DirectRunner, which first tries Prism
  assert "--direct_running_mode=multi_processing" in args
  assert f"--direct_num_workers={os.cpu_count() or 1}" in args
  assert "--default_sdk_harness_log_level=WARNING" in args
  assert with_defaults([], every_core=False) == [f"--runner={LOCAL_RUNNER}",
                                                 "--default_sdk_harness_log_level=WARNING"]


def test_the_local_runner_runs_a_pipeline_and_leaves_no_temporary_directory():
  temp = lambda: set(glob.glob(os.path.join(tempfile.gettempdir(), "beam-temp*")))  # noqa: E731
  before = temp()
  args = with_defaults(["--direct_running_mode=in_memory"], every_core=False)
  with beam.Pipeline(options=PipelineOptions(args)) as p:
    counts = (p | beam.Create(["a", "b", "a", "c", "a"]) | beam.Map(lambda w: (w, 1))
              | beam.CombinePerKey(sum))
    assert_that(counts, equal_to([("a", 3), ("b", 1), ("c", 1)]))
  assert type(p.runner).__name__ == "LocalRunner"
  assert temp() - before == set()  # the DirectRunner's Prism attempt leaves one per run


def test_the_users_beam_flags_win():
  args = with_defaults(["--runner=DirectRunner", "--direct_running_mode=in_memory"],
                       every_core=True)
  assert [a for a in args if a.startswith("--runner")] == ["--runner=DirectRunner"]
  assert [a for a in args if a.startswith("--direct_running_mode")] == [
      "--direct_running_mode=in_memory"]
  assert "--direct_num_workers=" + str(os.cpu_count() or 1) in args
  args = with_defaults(["--runner=FlinkRunner", "--flink_master=host:8081"], every_core=True)
  assert not [a for a in args if a.startswith("--direct_")]  # a cluster runner's own workers
  assert with_defaults(["--direct_num_workers=3", "--default_sdk_harness_log_level=INFO"],
                       every_core=True).count("--direct_num_workers=3") == 1


def test_one_process_replaces_the_running_mode_and_worker_count():
  args = with_defaults([], every_core=True)
  assert is_local_multi_process(args)
  single = one_process(args)
  assert not is_local_multi_process(single)
  assert [a for a in single if a.startswith("--direct_")] == [
      "--direct_running_mode=in_memory", "--direct_num_workers=1"]
  assert f"--runner={LOCAL_RUNNER}" in single
  assert not is_local_multi_process(["--runner=FlinkRunner",
                                     "--direct_running_mode=multi_processing"])
  assert not is_local_multi_process(["--direct_num_workers=2"])  # Beam's default: in memory
