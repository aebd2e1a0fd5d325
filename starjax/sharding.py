"""Device meshes and logical-axis rules: where every parameter, optimizer slot and batch lives.

The mesh has four axes, t5x/MaxText style: `data` (pure data parallelism: replicated
parameters), `fsdp` (data parallelism with parameters and optimizer state sharded across it),
`context` (the sequence dimension of activations split across chips, for long contexts:
starjax/model/context_parallel.py) and `tensor` (Megatron-style tensor parallelism over heads,
MLP and vocabulary). Sizes come
from gin; -1 takes the remaining devices. Parameters and activations name their dimensions
logically (`embed`, `heads`, `act_batch`, ...); one priority-ordered table per mesh, in gin,
maps those names to mesh axes. A rule is skipped for a dimension it does not divide (MQA's
single key/value head stays replicated on a tensor axis of 2), so one table serves every size.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
from typing import Any, Sequence

import gin
import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

# `context` sits between `fsdp` and `tensor`: it all-gathers keys and values in every layer,
# so it gets nearer (faster-linked) chips than the data axes, `tensor` the nearest.
MESH_AXES = ("data", "fsdp", "context", "tensor")

# (logical name, mesh axis or axes or None), first match wins, t5x semantics.
STANDARD_LOGICAL_AXIS_RULES = (
    # activations
    ("act_batch", ("data", "fsdp")),
    ("act_length", "context"),
    ("act_embed", None),
    ("act_heads", "tensor"),
    ("act_kv_heads", "tensor"),
    ("act_mlp", "tensor"),
    ("act_vocab", "tensor"),
    # the KV cache of decoding (one head for MQA: replicated over `tensor`, which it cannot split)
    ("cache_batch", ("data", "fsdp")),
    ("cache_length", None),
    ("cache_kv_heads", "tensor"),
    ("cache_head_dim", None),
    # parameters
    ("vocab", "tensor"),
    ("embed", "fsdp"),
    ("heads", "tensor"),
    ("kv_heads", "tensor"),
    ("mlp", "tensor"),
    ("head_dim", None),
    ("positions", None),
    ("layers", None),
    ("norm", None),
)


class MeshError(ValueError):
  """A mesh that does not fit the devices or the batch; the message names the fix."""


@gin.configurable
@dataclasses.dataclass(frozen=True)
class MeshConfig:
  """Mesh axis sizes (-1 = the remaining devices) and the logical-axis rules for this mesh.

  context: chips the sequence of every activation is split over (context parallelism; the
    sequence length must be a multiple of 2 × context, see starjax/model/context_parallel.py).

  expected_devices: if set, the device count this mesh file was written for (a pod slice);
    `info` uses it to report per-device memory without the devices being present.
  topology: the TPU slice this mesh is laid over, as libtpu names it ('v4:4x8x8',
    'v5p:4x4x4', 'v5e:2x2'); `info --aot` compiles the train step for it (starjax/train/aot.py).
  hbm_gib: memory per chip that `info --aot` checks the compiled peak against (default: the
    chip's published HBM, or what the present devices report).
  """

  data: int = -1
  fsdp: int = 1
  tensor: int = 1
  context: int = 1
  logical_axis_rules: tuple = STANDARD_LOGICAL_AXIS_RULES
  expected_devices: int | None = None
  topology: str | None = None
  hbm_gib: float | None = None

  def axis_sizes(self, num_devices: int | None = None) -> dict[str, int]:
    """Resolves -1 against `num_devices` (default: expected_devices or all JAX devices)."""
    if num_devices is None:
      num_devices = self.expected_devices or jax.device_count()
    sizes = {"data": self.data, "fsdp": self.fsdp, "context": self.context,
             "tensor": self.tensor}
    free = [name for name, size in sizes.items() if size == -1]
    if len(free) > 1:
      raise MeshError(f"mesh {sizes}: at most one axis may be -1 (the remaining devices)")
    for name, size in sizes.items():
      if size == 0 or size < -1:
        raise MeshError(f"mesh axis {name}={size}: sizes must be positive or -1 "
                        f"(MeshConfig.{name} in gin/mesh/*.gin)")
    fixed = math.prod(size for size in sizes.values() if size != -1)
    if free:
      if num_devices % fixed:
        raise MeshError(
            f"mesh {sizes} cannot use {num_devices} devices: the fixed axes multiply to "
            f"{fixed}, which does not divide {num_devices}. Change MeshConfig in the mesh gin "
            f"file or the device count (XLA_FLAGS=--xla_force_host_platform_device_count=N).")
      sizes[free[0]] = num_devices // fixed
    elif fixed != num_devices:
      raise MeshError(
          f"mesh {sizes} needs {fixed} devices but {num_devices} are present. Use a mesh file "
          f"for this machine (gin/mesh/cpu.gin for 1 device) or set one axis to -1.")
    return sizes

  def create(self) -> Mesh:
    """The jax Mesh over all devices of this process group."""
    sizes = self.axis_sizes(jax.device_count())
    if self.expected_devices and self.expected_devices != jax.device_count():
      raise MeshError(f"this mesh file was written for {self.expected_devices} devices but "
                      f"{jax.device_count()} are present")
    shape = tuple(sizes[a] for a in MESH_AXES)
    return jax.make_mesh(shape, MESH_AXES,
                         axis_types=(jax.sharding.AxisType.Auto,) * len(MESH_AXES))


def logical_to_spec(logical_axes: Sequence[str | None], rules: Sequence[tuple[str, Any]],
                    shape: Sequence[int] | None = None,
                    axis_sizes: dict[str, int] | None = None) -> P:
  """Maps logical dimension names to a PartitionSpec.

  For each dimension the first rule naming it is used, unless a mesh axis of that rule is
  already taken by an earlier dimension or (when shape and axis_sizes are given) the mesh axes
  do not divide the dimension; then the next matching rule is tried, else it is replicated.
  """
  used: set[str] = set()
  spec = []
  for dim, name in enumerate(logical_axes):
    chosen = None
    for rule_name, mesh_axes in rules:
      if rule_name != name:
        continue
      if mesh_axes is None:
        break
      axes = (mesh_axes,) if isinstance(mesh_axes, str) else tuple(mesh_axes)
      if used & set(axes):
        continue
      if shape is not None and axis_sizes is not None:
        # Drop mesh axes of size 1 (they change nothing) and check divisibility.
        axes = tuple(a for a in axes if axis_sizes.get(a, 1) > 1)
        if not axes:
          break
        if shape[dim] % math.prod(axis_sizes[a] for a in axes):
          continue
      chosen = axes if len(axes) > 1 else axes[0]
      used.update(axes)
      break
    spec.append(chosen)
  return P(*spec)


def _axis_sizes_of(mesh) -> dict[str, int]:
  return dict(zip(mesh.axis_names, mesh.devices.shape)) if hasattr(mesh, "devices") else dict(
      zip(mesh.axis_names, mesh.axis_sizes))


def specs_like_params(tree, param_specs) -> Any:
  """PartitionSpecs for a tree of optimizer state: each leaf whose key path ends with a
  parameter's path (Adam's mu and nu mirror the parameters) gets that parameter's spec;
  scalars and anything else are replicated."""
  by_path = {}
  for path, spec in jax.tree_util.tree_flatten_with_path(
      param_specs, is_leaf=lambda x: isinstance(x, P))[0]:
    by_path[_path_key(path)] = spec

  def spec_of(path, leaf):
    key = _path_key(path)
    for start in range(len(key)):
      spec = by_path.get(key[start:])
      if spec is not None and len(spec) <= np.ndim(leaf):
        return spec
    return P()
  return jax.tree_util.tree_map_with_path(spec_of, tree)


def _path_key(path) -> tuple:
  parts = []
  for entry in path:
    for attr in ("key", "name", "idx"):
      if hasattr(entry, attr):
        parts.append(str(getattr(entry, attr)))
        break
    else:
      parts.append(str(entry))
  # nnx Variables flatten through a `value` entry; it is not part of the parameter's name.
  return tuple(p for p in parts if p != "value")


def named(mesh: Mesh, specs):
  """PartitionSpecs → NamedShardings on `mesh` (same tree)."""
  return jax.tree.map(lambda s: NamedSharding(mesh, s), specs,
                      is_leaf=lambda x: isinstance(x, P))


def batch_spec(rules) -> P:
  """[batch, length] features: batch over the data-parallel axes, length unsharded (with
  context parallelism the step reorders each row and then splits it: token ids are a few bytes
  per position, so every context shard receiving whole rows costs nothing)."""
  return P(*logical_to_spec(("act_batch",), rules), None)


def check_batch_divides(global_batch: int, mesh: Mesh, rules, what: str = "BATCH_SIZE") -> None:
  spec = batch_spec(rules)
  axes = spec[0] if spec else None
  axes = (axes,) if isinstance(axes, str) else tuple(axes or ())
  shards = math.prod(_axis_sizes_of(mesh)[a] for a in axes)
  if global_batch % shards:
    raise MeshError(
        f"{what}={global_batch} is not divisible by the {shards} data-parallel shards of mesh "
        f"{_axis_sizes_of(mesh)} (axes {axes}); use a multiple of {shards}.")


def _sequence_axes(rules, sizes: dict[str, int]) -> tuple[str, ...]:
  """The mesh axes (of size > 1) that the rules split activations' `act_length` over."""
  spec = logical_to_spec(("act_length",), rules)
  axes = spec[0] if spec else None
  return tuple(a for a in ((axes,) if isinstance(axes, str) else tuple(axes or ()))
               if sizes.get(a, 1) > 1)


def sequence_shards(mesh, rules) -> int:
  """How many shards the rules split activations' sequence dimension into on `mesh`: the
  context-parallel degree, 1 without it."""
  sizes = _axis_sizes_of(mesh)
  return math.prod(sizes[a] for a in _sequence_axes(rules, sizes))


def check_sequence_divides(seq_len: int, mesh, rules) -> None:
  degree = sequence_shards(mesh, rules)
  if degree > 1 and seq_len % (2 * degree):
    raise MeshError(
        f"SEQ_LEN={seq_len} cannot be split over the context axis of mesh "
        f"{_axis_sizes_of(mesh)}: context parallelism cuts each sequence into 2 × {degree} = "
        f"{2 * degree} equal chunks; use a multiple of {2 * degree} or MeshConfig.context=1.")


def shard_batch(batch: dict[str, np.ndarray], sharding: NamedSharding) -> dict[str, jax.Array]:
  """Assembles per-process numpy batches into global jax Arrays (multi-host aware)."""
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in batch.items()}


# Activation sharding constraints, active while a jitted function is traced under
# `activation_sharding(mesh, rules)`; without it `constrain` does nothing (single device,
# notebooks), so the model never needs to know about meshes.
_CONTEXT = threading.local()


@contextlib.contextmanager
def activation_sharding(mesh: Mesh, rules):
  previous = getattr(_CONTEXT, "value", None)
  _CONTEXT.value = (mesh, tuple(rules), _axis_sizes_of(mesh))
  try:
    yield
  finally:
    _CONTEXT.value = previous


def active_sequence_axes():
  """(mesh, mesh axes, degree) the active activation_sharding() splits the sequence dimension
  (`act_length`) over, or None when it does not split it (no mesh, or context degree 1)."""
  context = getattr(_CONTEXT, "value", None)
  if context is None:
    return None
  mesh, rules, sizes = context
  axes = _sequence_axes(rules, sizes)
  degree = math.prod(sizes[a] for a in axes)
  return (mesh, axes, degree) if degree > 1 else None


def partitioned() -> bool:
  """Whether the function being traced is split over several devices (an activation_sharding()
  over a mesh of more than one device is active)."""
  context = getattr(_CONTEXT, "value", None)
  return context is not None and math.prod(context[2].values()) > 1


def constrain(x: jax.Array, logical_axes: Sequence[str | None]) -> jax.Array:
  """with_sharding_constraint by logical names, under an active activation_sharding()."""
  context = getattr(_CONTEXT, "value", None)
  if context is None:
    return x
  mesh, rules, sizes = context
  if math.prod(sizes.values()) == 1:
    return x
  spec = logical_to_spec(logical_axes, rules, x.shape, sizes)
  return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec))


def param_specs(abstract_state: nnx.State, rules, axis_sizes: dict[str, int]) -> dict:
  """PartitionSpecs of a model's parameters as a pure nested dict (the train-state layout)."""
  specs: dict = {}
  for path, variable in abstract_state.flat_state():
    names = variable.get_metadata().get("out_sharding")
    spec = (logical_to_spec(names, rules, variable.value.shape, axis_sizes)
            if names is not None else P())
    node = specs
    for part in path[:-1]:
      node = node.setdefault(part, {})
    node[path[-1]] = spec
  return specs
