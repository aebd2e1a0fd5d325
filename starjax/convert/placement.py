"""Building parameters directly in their shards from a reader, one layer at a time.

A stacked parameter ([layers, ...]) is the biggest single array of a model (a 15B model's
MLP kernel is 40 layers × 6144 × 24576). Assembling it on the host and then copying it to its
devices would briefly hold it twice, so instead the device array is allocated empty and each
layer is read (only the region of each device's shard) and written into it in place by a
jitted update whose input buffer is donated. Host memory beyond the model itself stays at one
layer's shard.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

# reader(index) → np.ndarray for `index`, a tuple of slices over the array's shape.
Reader = Callable[[tuple[slice, ...]], np.ndarray]
# layer_reader(layer, index) → np.ndarray of that layer's region `index`.
LayerReader = Callable[[int, tuple[slice, ...]], np.ndarray]


def normalized(index: tuple[slice, ...], shape: tuple[int, ...]) -> tuple[slice, ...]:
  """Slices with explicit start and stop (make_array_from_callback passes slice(None))."""
  return tuple(slice(*s.indices(n)) for s, n in zip(index, shape))


def place(shape: tuple[int, ...], dtype, sharding: jax.sharding.Sharding,
          read: Reader) -> jax.Array:
  """An array of `shape` on `sharding` whose every device shard is read by `read`."""
  return jax.make_array_from_callback(
      shape, sharding, lambda index: np.asarray(read(normalized(index, shape)), dtype))


def place_stacked(shape: tuple[int, ...], dtype, sharding: jax.sharding.Sharding,
                  read_layer: LayerReader) -> jax.Array:
  """A [layers, ...] array built layer by layer in place (see the module docstring)."""
  layer_sharding = _layer_sharding(sharding)
  if layer_sharding is None:  # the layers axis itself is sharded: each shard reads its layers
    def read(index):
      out = np.empty(tuple(s.stop - s.start for s in index), dtype)
      for k, layer in enumerate(range(index[0].start, index[0].stop)):
        out[k] = read_layer(layer, index[1:])
      return out
    return place(shape, dtype, sharding, read)
  stacked = _zeros(shape, jnp.dtype(dtype), sharding)
  for layer in range(shape[0]):
    value = place(shape[1:], dtype, layer_sharding, functools.partial(read_layer, layer))
    stacked = _set_layer(stacked, value, np.int32(layer))
  return stacked


def _layer_sharding(sharding: jax.sharding.Sharding) -> jax.sharding.Sharding | None:
  """The sharding of one layer of a stacked array, or None when layers are split over devices."""
  if isinstance(sharding, jax.sharding.SingleDeviceSharding):
    return sharding
  if isinstance(sharding, NamedSharding):
    spec = tuple(sharding.spec)
    if spec and spec[0] is not None:
      return None
    return NamedSharding(sharding.mesh, P(*spec[1:]))
  return None


@functools.lru_cache(maxsize=256)
def _zeros_fn(shape, dtype, sharding):
  return jax.jit(lambda: jnp.zeros(shape, dtype), out_shardings=sharding)


def _zeros(shape, dtype, sharding) -> jax.Array:
  return _zeros_fn(tuple(shape), dtype, sharding)()


@functools.partial(jax.jit, donate_argnums=0)
def _set_layer(stacked: jax.Array, value: jax.Array, layer: jax.Array) -> jax.Array:
  return jax.lax.dynamic_update_index_in_dim(stacked, value.astype(stacked.dtype), layer, 0)
