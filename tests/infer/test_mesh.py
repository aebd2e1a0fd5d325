"""Inference on a mesh: parameters and KV cache sharded by the logical-axis rules, and the same
greedy tokens as one device, through the Python API and `run.py eval`."""

import json
import os
import subprocess
import sys

import pytest

from starjax import ROOT
from starjax.model import DecoderConfig
from tests.conftest import write_model_dir

# GQA with 4 query and 2 key/value heads, so that the `tensor` axis (2) splits both.
SHARDABLE = DecoderConfig(vocab_size=512, num_layers=2, hidden_size=64, num_heads=4,
                          num_kv_heads=2, mlp_dim=128, max_seq_len=1024)


@pytest.fixture(scope="module")
def mesh_report(tmp_path_factory, tokenizer_path):
  model_dir = write_model_dir(tmp_path_factory.mktemp("shardable"), SHARDABLE, tokenizer_path)
  out = str(tmp_path_factory.mktemp("mesh_eval"))
  env = dict(os.environ, PYTHONPATH=ROOT, STARJAX_MALLOC_TUNING="0")
  result = subprocess.run([sys.executable, "tests/infer/mesh_worker.py", model_dir, out],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_parameters_and_cache_are_sharded_by_the_logical_axis_rules(mesh_report):
  assert mesh_report["devices"] == 8
  assert mesh_report["query_spec"] == "('fsdp', 'tensor')"
  assert mesh_report["query_devices"] == 8
  # cache [batch, length, kv_heads, head_dim]: batch over data × fsdp, kv heads over tensor
  assert mesh_report["cache_spec"] == "(('data', 'fsdp'), None, 'tensor')"


@pytest.mark.slow
def test_greedy_tokens_on_eight_devices_equal_one_device(mesh_report):
  assert mesh_report["complete_equal"]
  assert mesh_report["infill_equal"]


@pytest.mark.slow
def test_eval_on_a_mesh_writes_the_same_greedy_samples_as_one_device(mesh_report):
  assert mesh_report["eval_exit_single"] == 0 and mesh_report["eval_exit_mesh"] == 0
  assert mesh_report["eval_equal"]


def test_a_mesh_that_cannot_apply_is_an_error_not_ignored(model_dir, capsys):
  import run  # pylint: disable=import-outside-toplevel
  code = run.main(["generate", f"--model_dir={model_dir}", "--prompt=x",
                   "--gin_file=gin/mesh/cpu_sim8.gin"])
  assert code == 2
  assert "needs 8 devices but 1 are present" in capsys.readouterr().err
