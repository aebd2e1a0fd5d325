"""Loads HF directories onto a simulated 8-device mesh (data 2 × fsdp 2 × tensor 2) and prints
a JSON report; run by test_mesh.py in its own process (the device count is fixed at JAX start).

    python tests/convert/mesh_worker.py HF_DIR [HF_DIR ...]
"""

import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

# pylint: disable=wrong-import-position
import json

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from starjax.convert import hf, safetensors_io
from starjax.sharding import MeshConfig

READS: list[tuple[str, tuple]] = []
_read = safetensors_io.Checkpoint.read


def recording_read(self, name, rows=None, cols=None):
  block = _read(self, name, rows, cols)
  READS.append((name, block.shape))
  return block


def report(path: str) -> dict:
  single = hf.load_pretrained(path)
  safetensors_io.Checkpoint.read = recording_read
  READS.clear()
  meshed = hf.load_pretrained(path, mesh_config=MeshConfig(data=2, fsdp=2, tensor=2))
  safetensors_io.Checkpoint.read = _read
  a = nnx.to_pure_dict(nnx.state(single))
  b = nnx.to_pure_dict(nnx.state(meshed))
  equal = all(np.array_equal(np.asarray(x), np.asarray(y))
              for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
  specs = {"/".join(map(str, path_)): str(leaf.sharding.spec)
           for path_, leaf in jax.tree_util.tree_flatten_with_path(b)[0]
           for path_ in [[getattr(k, "key", k) for k in path_]]}
  tokens = jnp.asarray(np.random.default_rng(0).integers(0, single.config.vocab_size, (2, 16)),
                       jnp.int32)
  diff = float(np.abs(np.asarray(single(tokens)) - np.asarray(meshed(tokens))).max())
  full_shapes = {name: info.shape for name, info in
                 safetensors_io.Checkpoint.open(path).tensors.items()}
  return {"equal": equal, "specs": specs, "logit_diff": diff,
          "reads": [(name, list(shape), list(full_shapes[name])) for name, shape in READS]}


if __name__ == "__main__":
  print(json.dumps({path: report(path) for path in sys.argv[1:]}))
