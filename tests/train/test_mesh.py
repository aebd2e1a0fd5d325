"""Sharding on a simulated 8-device mesh (data 2 × fsdp 2 × tensor 2): parameters really are
sharded, losses match one device, and checkpoints move between the meshes both ways."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from starjax import ROOT
from starjax.model import DecoderConfig
from starjax.sharding import (STANDARD_LOGICAL_AXIS_RULES, MeshConfig, MeshError, batch_spec,
                              logical_to_spec)
from starjax.model_dir import Checkpointer
from starjax.train.optimizer import OptimizerConfig
from starjax.train.trainer import Trainer
from tests.train.synthetic import synthetic_batch

CONFIG = DecoderConfig(vocab_size=128, num_layers=2, hidden_size=64, num_heads=4,
                       num_kv_heads=1, mlp_dim=256, max_seq_len=32)
STEPS = 4


def make_trainer(mesh_config):
  return Trainer(CONFIG, train_steps=10, batch_size=8, seq_len=32, mesh_config=mesh_config,
                 optimizer_config=OptimizerConfig(peak_learning_rate=1e-3, warmup_steps=1))


def train_steps_losses(trainer, state, steps):
  losses = []
  for i in range(steps):
    state, metrics = trainer.step(state, synthetic_batch(i, seq_len=32, batch_size=8))
    losses.append(float(metrics["loss"]))
  return state, losses


def param_digest(params) -> list[float]:
  return [float(np.asarray(x, np.float64).sum()) for x in jax.tree.leaves(params)]


def test_rules_skip_axes_that_do_not_divide_a_dimension():
  sizes = {"data": 2, "fsdp": 2, "tensor": 2}
  rules = STANDARD_LOGICAL_AXIS_RULES
  assert logical_to_spec(("embed", "mlp"), rules, (64, 256), sizes) == P("fsdp", "tensor")
  # MQA: one key/value head cannot be split over tensor=2, so it is replicated.
  assert logical_to_spec(("embed", "kv_heads", "head_dim"), rules, (64, 1, 16), sizes) == \
      P("fsdp", None, None)
  # Activations: batch over the data axes, the sequence over `context` (context parallelism)
  # where that axis has more than one device; batches arrive with whole rows.
  assert logical_to_spec(("act_batch", "act_length"), rules) == P(("data", "fsdp"), "context")
  assert logical_to_spec(("act_batch", "act_length"), rules, (8, 32),
                         dict(sizes, context=1)) == P(("data", "fsdp"), None)
  assert batch_spec(rules) == P(("data", "fsdp"), None)


def test_mesh_that_does_not_divide_the_devices_is_a_clear_error():
  with pytest.raises(MeshError, match="needs 3 devices but 8 are present"):
    MeshConfig(data=3, fsdp=1, tensor=1).axis_sizes(8)
  with pytest.raises(MeshError, match="does not divide 8"):
    MeshConfig(data=-1, fsdp=3).axis_sizes(8)
  assert MeshConfig(data=-1, fsdp=2, tensor=2).axis_sizes(8) == {"data": 2, "fsdp": 2,
                                                                 "context": 1, "tensor": 2}


def test_sim8_mesh_shards_parameters_matches_one_device_and_moves_checkpoints(tmp_path):
  one = make_trainer(MeshConfig(data=1, fsdp=1, tensor=1))
  state = one.init_state()
  one_ckpt = str(tmp_path / "one")
  writer = Checkpointer(one_ckpt)
  writer.save(0, state.params, {"step": state.step, "opt_state": state.opt_state,
                                "rng": state.rng}, {"model_config": CONFIG.to_json()}, force=True)
  writer.close()
  initial_digest = param_digest(state.params)
  state, losses = train_steps_losses(one, state, STEPS)

  out = tmp_path / "sim8.json"
  eight_ckpt = str(tmp_path / "eight")
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
             PYTHONPATH=ROOT)
  proc = subprocess.run([sys.executable, "tests/train/sim8_worker.py", str(out), one_ckpt,
                         eight_ckpt, str(STEPS)], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  result = json.loads(out.read_text())

  # Really sharded: vocab 128 over tensor, embed 64 over fsdp → [64, 32] per device.
  assert result["layout"]["wte"] == [[64, 32]] * 8
  # MLP kernel [layers, embed, mlp] → embed over fsdp, mlp over tensor.
  assert result["layout"]["fc"] == [[2, 32, 128]] * 8
  assert result["layout"]["mu_fc"] == [[2, 32, 128]] * 8  # Adam moments sharded alike
  np.testing.assert_allclose(result["losses"], losses, rtol=1e-3)
  # 1 device → 8 devices: same values, sharded.
  np.testing.assert_allclose(result["restored_digest"], initial_digest, rtol=1e-6)
  assert result["restored_sharded"] and result["restored_step"] == 0
  # 8 devices → 1 device.
  restored = Checkpointer(eight_ckpt, read_only=True).restore(one.abstract_params)[0]
  np.testing.assert_allclose(param_digest(restored), result["final_digest"], rtol=1e-6)
  # Same training on both meshes (atol: the key bias's gradient is rounding noise around 0).
  np.testing.assert_allclose(param_digest(restored), param_digest(state.params), rtol=1e-4,
                             atol=2e-3)
