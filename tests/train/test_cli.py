"""`run.py train` and `run.py info` as a user runs them: exact resume after preemption in a
second process, clear errors for bad gin and meshes, info for the published shapes."""

import json
import os

import pytest

from starjax.train.metrics import read_metrics
from tests.train.conftest import SYNTHETIC_GIN, run_cli


def test_preempted_run_resumes_in_a_new_process_with_bitwise_identical_losses(trained_dir,
                                                                              tmp_path):
  model_dir = str(tmp_path / "run")
  common = ["train", f"--gin_file={SYNTHETIC_GIN}", f"--gin.MODEL_DIR={model_dir}"]
  first = run_cli(*common, "--gin.train.hooks=[@sigterm_at()]", "--gin.sigterm_at.step=4")
  assert first.returncode == 143, first.stderr[-2000:]
  assert "preempted at step 4" in first.stderr
  assert [r["step"] for r in read_metrics(model_dir)] == [1, 2, 3, 4]
  second = run_cli(*common)
  assert second.returncode == 0, second.stderr[-2000:]
  resumed = [(r["step"], r["loss"], r["grad_norm"]) for r in read_metrics(model_dir)]
  straight = [(r["step"], r["loss"], r["grad_norm"]) for r in read_metrics(trained_dir)]
  assert resumed == straight  # exact equality: same data, RNG and optimizer state


def test_unknown_gin_binding_names_it_and_suggests_the_right_one(tmp_path):
  result = run_cli("train", f"--gin_file={SYNTHETIC_GIN}", f"--gin.MODEL_DIR={tmp_path}",
                   "--gin.DecoderConfig.hiden_size=3")
  assert result.returncode == 2
  assert "DecoderConfig.hiden_size" in result.stderr
  assert not os.listdir(tmp_path)


def test_missing_gin_file_is_named_with_a_suggestion():
  result = run_cli("train", "--gin_file=gin/models/tiny_typo.gin")
  assert result.returncode == 2
  assert "gin/models/tiny_typo.gin: no such file" in result.stderr
  assert "gin/models/tiny.gin" in result.stderr


def test_mesh_that_does_not_fit_the_devices_is_refused(tmp_path):
  result = run_cli("train", f"--gin_file={SYNTHETIC_GIN}", f"--gin.MODEL_DIR={tmp_path}/run",
                   "--gin.MeshConfig.data=3")
  assert result.returncode == 2
  assert "needs 3 devices but 1 are present" in result.stderr


def test_batch_that_the_mesh_cannot_split_is_refused(tmp_path):
  result = run_cli("train", f"--gin_file={SYNTHETIC_GIN}", f"--gin.MODEL_DIR={tmp_path}/run",
                   "--gin_file=gin/mesh/cpu_sim8.gin", "--gin.BATCH_SIZE=6",
                   env={"XLA_FLAGS": "--xla_force_host_platform_device_count=8"})
  assert result.returncode == 2
  assert "BATCH_SIZE=6 is not divisible by the 4 data-parallel shards" in result.stderr


def test_info_prints_starcoder_15b_parameters_without_allocating():
  result = run_cli("info", "--gin_file=gin/models/starcoder_15b.gin")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "15,517,456,384" in result.stdout
  assert "FLOPs/token" in result.stdout and "per device" in result.stdout


def test_info_json_reports_per_device_bytes_under_a_pod_mesh():
  result = run_cli("info", "--gin_file=gin/models/starcoder_15b.gin",
                   "--gin_file=gin/mesh/tpu_v4_512.gin", "--json")
  info = json.loads(result.stdout)
  assert info["devices"] == 256 and info["parameters"] == 15_517_456_384
  # fp32 params + Adam's two moments, split 64 ways (fsdp) ... the 1-D tensors replicate.
  assert info["state_bytes_per_device"] == pytest.approx(15_517_456_384 * 12 / 64, rel=0.01)
