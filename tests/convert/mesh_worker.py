"""Loads HF directories onto a simulated 8-device mesh (data 2 × fsdp 2 × tensor 2) and prints
a JSON report; run by test_mesh.py in its own process (the device count is fixed at JAX start).

    python tests/convert/mesh_worker.py OUT_DIR HF_DIR [HF_DIR ...]

Also converts the first HF_DIR with `run.py convert --gin_file=gin/mesh/cpu_sim8.gin` into
OUT_DIR and reports whether the checkpoint restores to the single-device parameters.
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

from starjax.convert import cli, hf, safetensors_io
from starjax.model_dir import restore_params
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


def converted_on_mesh_equals_single_device(hf_dir: str, out: str) -> bool:
  code = cli.main("convert", [f"--from_hf={hf_dir}", f"--out={out}",
                              "--gin_file=gin/mesh/cpu_sim8.gin"])
  restored = restore_params(out)[1]
  single = nnx.to_pure_dict(nnx.state(hf.load_pretrained(hf_dir)))
  return code == 0 and all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in
                           zip(jax.tree.leaves(restored), jax.tree.leaves(single)))


if __name__ == "__main__":
  out_dir, *hf_dirs = sys.argv[1:]
  result = {path: report(path) for path in hf_dirs}
  result["cli_equal"] = converted_on_mesh_equals_single_device(hf_dirs[0], out_dir)
  print(json.dumps(result))
