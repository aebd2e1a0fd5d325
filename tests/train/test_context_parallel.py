"""Context parallelism: the load-balanced layout, and training on data 2 × context 4 simulated
CPU devices equal to one device (forward logits, gradients, losses) with packed sequences."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from starjax import ROOT
from starjax.model.context_parallel import (from_load_balanced, load_balanced_order,
                                            query_block, to_load_balanced)
from starjax.sharding import MeshConfig, MeshError, check_sequence_divides


def test_each_shard_holds_chunk_i_and_its_mirror():
  # 16 tokens over 2 shards = 4 chunks of 4: shard 0 gets chunks 0 and 3, shard 1 chunks 1, 2.
  np.testing.assert_array_equal(load_balanced_order(16, 2),
                                [0, 1, 2, 3, 12, 13, 14, 15, 4, 5, 6, 7, 8, 9, 10, 11])
  np.testing.assert_array_equal(load_balanced_order(8, 1), np.arange(8))


def test_causal_work_is_equal_across_shards():
  # Keys visible to a query = its index + 1; each shard's sum is the same.
  order = load_balanced_order(64, 4).reshape(4, 16)
  work = (order + 1).sum(axis=1)
  assert len(set(work.tolist())) == 1


def test_layout_round_trips_every_feature_together():
  x = np.arange(2 * 24 * 3).reshape(2, 24, 3)
  laid_out = np.asarray(to_load_balanced(x, 3))
  np.testing.assert_array_equal(laid_out[:, :, 0] // 3 % 24,
                                np.broadcast_to(load_balanced_order(24, 3), (2, 24)))
  np.testing.assert_array_equal(np.asarray(from_load_balanced(laid_out, 3)), x)


def test_query_blocks_never_straddle_two_chunks():
  assert query_block(16384, 4, 512) == 512  # chunks of 2048
  assert query_block(96, 4, 512) == 12  # a chunk smaller than the preferred block


class _Mesh:
  """What the sequence checks read of a mesh: its axis names and device grid."""
  axis_names = ("data", "fsdp", "context", "tensor")

  def __init__(self, context):
    self.devices = np.empty((2, 1, context, 1))


def test_sequence_that_does_not_split_into_chunks_is_a_clear_error():
  with pytest.raises(ValueError, match="not a multiple of 2 × context degree 4"):
    load_balanced_order(20, 4)
  rules = MeshConfig().logical_axis_rules
  with pytest.raises(MeshError, match="SEQ_LEN=20 .* multiple of 8 or MeshConfig.context=1"):
    check_sequence_divides(20, _Mesh(4), rules)
  check_sequence_divides(24, _Mesh(4), rules)
  check_sequence_divides(20, _Mesh(1), rules)  # no context axis: any length
  assert MeshConfig(data=2, context=4).axis_sizes(8) == {"data": 2, "fsdp": 1, "context": 4,
                                                         "tensor": 1}


@pytest.mark.slow  # one 8-device process: ~45 s of CPU (compiles on 1 and 8 devices)
def test_context_parallel_training_matches_one_device(tmp_path):
  out = tmp_path / "context.json"
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
             PYTHONPATH=ROOT)
  proc = subprocess.run([sys.executable, "tests/train/context_worker.py", str(out),
                         "starcoder:2", "starcoder2:0"], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  result = json.loads(out.read_text())
  for model in ("starcoder", "starcoder2"):
    r = result[model]
    # The logits really were split: batch over data, sequence over context.
    assert r["logits_spec"][:2] == ["data", "context"], (model, r["logits_spec"])
    assert r["logits_max_diff"] <= 1e-5 * max(1.0, r["logits_max_abs"]), (model, r)
    for diff, scale in zip(r["grad_max_diff"], r["grad_max_abs"]):
      assert diff <= 1e-5 * scale + 1e-7, (model, diff, scale)
  losses = result["starcoder"]["losses"]
  assert len(losses["one"]) == 2
  np.testing.assert_allclose(losses["context"], losses["one"], rtol=1e-5)
