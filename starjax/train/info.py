"""`python run.py info`: parameters, FLOPs per token and bytes per device for a config and mesh.

Everything is derived from shapes (nnx.eval_shape, the logical-axis rules and the mesh sizes),
so a 15.5B model on a 256-chip mesh is described on a laptop without allocating anything.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import jax
import numpy as np
from flax import nnx

from starjax import gin_config, sharding
from starjax.model import DecoderConfig, abstract_decoder
from starjax.model.flops import flops_per_token, parameter_count
from starjax.train.optimizer import OptimizerConfig, make_optimizer


def bytes_per_device(tree, specs, axis_sizes: dict[str, int]) -> int:
  """Bytes one device holds of `tree` (ShapeDtypeStructs) sharded by `specs` (PartitionSpecs)."""
  total = 0
  leaves = jax.tree.leaves(tree)
  spec_leaves = jax.tree.leaves(specs, is_leaf=lambda x: isinstance(x, jax.sharding.PartitionSpec))
  for leaf, spec in zip(leaves, spec_leaves):
    shards = 1
    for entry in spec:
      for axis in ((entry,) if isinstance(entry, str) else (entry or ())):
        shards *= axis_sizes[axis]
    total += math.prod(leaf.shape) * np.dtype(leaf.dtype).itemsize // shards
  return total


def describe(model_config: DecoderConfig, mesh_config: sharding.MeshConfig,
             optimizer_config: OptimizerConfig, *, seq_len: int | None = None,
             num_devices: int | None = None) -> dict:
  """The numbers `info` prints, as a dict."""
  sizes = mesh_config.axis_sizes(num_devices)
  graphdef, abstract_state = nnx.split(abstract_decoder(model_config))
  del graphdef
  params = nnx.to_pure_dict(abstract_state)
  specs = sharding.param_specs(abstract_state, mesh_config.logical_axis_rules, sizes)
  opt_state = jax.eval_shape(make_optimizer(optimizer_config, 1).init, params)
  opt_specs = sharding.specs_like_params(opt_state, specs)
  counted = sum(math.prod(x.shape) for x in jax.tree.leaves(params))
  analytic = parameter_count(model_config)
  assert counted == analytic, (counted, analytic)  # the formula and the module must agree
  flops = flops_per_token(model_config, seq_len)
  param_bytes = bytes_per_device(params, specs, sizes)
  opt_bytes = bytes_per_device(opt_state, opt_specs, sizes)
  return {
      "parameters": counted,
      "seq_len": flops.seq_len,
      "flops_per_token_forward": flops.forward,
      "flops_per_token_training": flops.training,
      "mesh": sizes,
      "devices": math.prod(sizes.values()),
      "param_bytes_per_device": param_bytes,
      "optimizer_bytes_per_device": opt_bytes,
      "state_bytes_per_device": param_bytes + opt_bytes,
      "param_dtype": model_config.param_dtype,
      "compute_dtype": model_config.dtype,
  }


def _human(n: int) -> str:
  return f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.2f} M"


def _gib(n: float) -> str:
  return f"{n / 2**30:,.2f} GiB"


def format_report(model_config: DecoderConfig, info: dict) -> str:
  c = model_config
  lines = [
      f"model           {c.num_layers} layers × {c.hidden_size} hidden, {c.num_heads} heads "
      f"({c.num_kv_heads} kv, head_dim {c.resolved_head_dim}), mlp {c.mlp_dim}, "
      f"vocab {c.vocab_size}, {c.position_embedding} positions"
      + (f", sliding window {c.sliding_window}" if c.sliding_window else "")
      + (", tied head" if c.tie_embeddings else ", untied head"),
      f"parameters      {info['parameters']:,} ({_human(info['parameters'])})",
      f"FLOPs/token     {info['flops_per_token_forward']:.4g} forward, "
      f"{info['flops_per_token_training']:.4g} training (seq_len {info['seq_len']}, causal "
      f"attention counted once)",
      "mesh            " + " × ".join(f"{k} {v}" for k, v in info["mesh"].items())
      + f" = {info['devices']} devices",
      f"per device      parameters {_gib(info['param_bytes_per_device'])} "
      f"({info['param_dtype']}) + optimizer state {_gib(info['optimizer_bytes_per_device'])} "
      f"= {_gib(info['state_bytes_per_device'])}",
  ]
  return "\n".join(lines)


def main(command: str, argv: list[str]) -> int:
  files, bindings, rest = gin_config.split_gin_flags(argv)
  parser = argparse.ArgumentParser(prog=f"run.py {command}", description=__doc__)
  parser.add_argument("--num_devices", type=int, default=None,
                      help="devices to lay the mesh over (default: the mesh file's "
                           "expected_devices, else the devices present)")
  parser.add_argument("--seq_len", type=int, default=None,
                      help="sequence length for FLOPs (default: SEQ_LEN if bound, else the "
                           "model's max_seq_len)")
  parser.add_argument("--json", action="store_true", help="print a JSON object")
  parser.add_argument("--aot", action="store_true",
                      help="compile the experiment's train step for its mesh's TPU topology "
                           "(MeshConfig.topology; needs requirements-tpu.txt) and report "
                           "memory per chip, FLOPs and collectives; exit 1 if it does not fit")
  args = parser.parse_args(rest)
  gin_config.parse(files, bindings, finalize=False)
  if args.aot:
    from starjax.train import aot  # pylint: disable=import-outside-toplevel
    return aot.main(command, as_json=args.json, seq_len=args.seq_len)
  seq_len = args.seq_len or gin_config.macro_value("SEQ_LEN")
  model_config = DecoderConfig()
  try:
    info = describe(model_config, sharding.MeshConfig(), OptimizerConfig(), seq_len=seq_len,
                    num_devices=args.num_devices)
  except sharding.MeshError as e:
    print(f"run.py {command}: {e} (or pass --num_devices=N)", file=sys.stderr)
    return 2
  print(json.dumps(info, indent=1) if args.json else format_report(model_config, info))
  return 0
