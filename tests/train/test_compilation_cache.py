"""The persistent compilation cache: a second process running the same training program reads
every executable back instead of compiling it, and the time to the first step is logged."""

import os

import pytest

from starjax.train.metrics import read_metrics
from tests.train.conftest import SYNTHETIC_GIN, run_cli


@pytest.mark.slow
def test_a_second_process_reads_the_train_step_from_the_cache(tmp_path):
  cache = tmp_path / "cache"
  common = ["train", f"--gin_file={SYNTHETIC_GIN}", "--gin.TRAIN_STEPS=2",
            f"--gin.compilation_cache.directory={cache}",
            "--gin.compilation_cache.min_compile_seconds=0"]
  first = run_cli(*common, f"--gin.MODEL_DIR={tmp_path / 'first'}", timeout=900)
  assert first.returncode == 0, first.stderr[-2000:]
  entries = set(os.listdir(cache))
  assert entries
  record = read_metrics(str(tmp_path / "first"))[0]
  assert record["time_to_first_step_seconds"] >= (record["compile_seconds"]
                                                   + record["restore_seconds"])
  assert "first step done" in first.stderr and str(cache) in first.stderr

  second = run_cli(*common, f"--gin.MODEL_DIR={tmp_path / 'second'}", timeout=900)
  assert second.returncode == 0, second.stderr[-2000:]
  assert set(os.listdir(cache)) == entries  # nothing compiled anew: all read back


def test_the_cache_can_be_turned_off(tmp_path):
  from starjax.train.compilation_cache import compilation_cache  # pylint: disable=import-outside-toplevel
  assert compilation_cache(str(tmp_path), enabled=False) is None
  assert not os.listdir(tmp_path)
