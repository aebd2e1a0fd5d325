"""Conversion streams: converting a multi-shard checkpoint never holds the model twice.

The checkpoint is a StarCoder2-architecture model of ~340 MB (float32), written as a
transformers save would (tensor names and shapes from transformers' own model, random values,
safetensors shards with an index), and converted by `run.py convert` in a fresh process.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file
from transformers import AutoModelForCausalLM

from starjax import ROOT
from starjax.convert import safetensors_io
from tests.convert import hf_models

SHARD_BYTES = 40_000_000
# Peak memory above the post-import baseline, as a multiple of the checkpoint's size. Holding
# the model once is 1×; a second copy anywhere would be 2× (or more).
MAX_PEAK_RATIO = 1.7


def write_checkpoint(path: str, config) -> int:
  """Random weights for `config` as safetensors shards + index; returns the bytes written."""
  with torch.device("meta"):  # names and shapes only
    shapes = {name: tuple(p.shape) for name, p in
              AutoModelForCausalLM.from_config(config).state_dict().items()}
  rng = np.random.default_rng(0)
  shards, current, size = [], {}, 0
  for name, shape in shapes.items():
    current[name] = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
    size += current[name].nbytes
    if sum(t.nbytes for t in current.values()) >= SHARD_BYTES:
      shards.append(current)
      current = {}
  if current:
    shards.append(current)
  weight_map = {}
  for i, tensors in enumerate(shards):
    file_name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
    save_file(tensors, os.path.join(path, file_name), metadata={"format": "pt"})
    weight_map.update({name: file_name for name in tensors})
  with open(os.path.join(path, safetensors_io.INDEX_FILE), "w") as f:
    json.dump({"metadata": {"total_size": size}, "weight_map": weight_map}, f)
  config.save_pretrained(path)
  return size


@pytest.mark.slow
def test_converting_a_sharded_checkpoint_peaks_well_below_two_copies(tmp_path):
  config = hf_models.hf_config("starcoder2", vocab_size=8192)
  for key, value in dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                         num_attention_heads=12, num_key_value_heads=2, sliding_window=64,
                         max_position_embeddings=256).items():
    setattr(config, key, value)
  source = tmp_path / "hf"
  source.mkdir()
  size = write_checkpoint(str(source), config)
  assert size > 300_000_000 and len(list(source.glob("model-*.safetensors"))) >= 4
  result = subprocess.run(
      [sys.executable, "tests/convert/memory_worker.py", str(source), str(tmp_path / "out")],
      cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True,
      timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  memory = json.loads(result.stdout.strip().splitlines()[-1])
  assert memory["exit_code"] == 0
  ratio = (memory["peak_rss"] - memory["baseline_rss"]) / size
  print(f"checkpoint {size / 1e6:.0f} MB: peak {ratio:.2f}× its size above the baseline")
  assert ratio < MAX_PEAK_RATIO
  assert os.path.isdir(tmp_path / "out" / "checkpoints" / "0")
