"""Parameterised building blocks with logical axis names: linear maps, LayerNorm, embeddings.

Every parameter carries the logical names of its dimensions (`embed`, `mlp`, `heads`, ...);
`starjax.sharding` maps them to mesh axes through the gin table of logical-axis rules.
Parameters are stored in `param_dtype` and cast to the compute dtype where they are used.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

# Parameters are placed by jax.jit out_shardings computed from their logical names, not
# eagerly at creation, so creation works with or without a mesh (and under eval_shape).
nnx.use_eager_sharding(False)


def logical_param(rngs: nnx.Rngs | None, init, shape: Sequence[int], axes: Sequence[str | None],
                  dtype) -> nnx.Param:
  """A parameter of `shape` initialised by `init(key, shape, dtype)`, named by `axes`."""
  if len(shape) != len(axes):
    raise ValueError(f"shape {tuple(shape)} and logical axes {tuple(axes)} differ in rank")
  key = rngs.params() if rngs is not None else jax.random.key(0)
  return nnx.Param(init(key, tuple(shape), dtype), sharding_names=tuple(axes))


class Linear(nnx.Module):
  """y = x · kernel + bias, contracting the last len(in_shape) dims of x.

  kernel: [*in_shape, *out_shape]; bias: [*out_shape]. `output_major` (a static attribute,
  False as built and checkpointed) means the kernel given at merge time is stored
  [*out_shape, *in_shape] instead (`output_major_kernel`): the decode loop sets it where that
  layout makes its GEMM faster (starjax/infer/decoding.py).
  """

  def __init__(self, in_shape: Sequence[int], out_shape: Sequence[int],
               axes: Sequence[str], *, std: float, use_bias: bool, param_dtype, dtype,
               rngs: nnx.Rngs):
    self.in_rank = len(in_shape)
    self.dtype = dtype
    self.output_major = False
    self.kernel = logical_param(rngs, jax.nn.initializers.normal(std),
                                (*in_shape, *out_shape), axes, param_dtype)
    self.bias = (logical_param(rngs, jax.nn.initializers.zeros, tuple(out_shape),
                               axes[len(in_shape):], param_dtype) if use_bias else None)

  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.kernel[...].astype(self.dtype)
    if self.output_major:
      r, n = self.in_rank, kernel.ndim
      y = jax.lax.dot_general(x.astype(self.dtype), kernel,
                              ((tuple(range(x.ndim - r, x.ndim)), tuple(range(n - r, n))),
                               ((), ())))
    else:
      y = jnp.tensordot(x.astype(self.dtype), kernel, axes=self.in_rank)
    if self.bias is not None:
      y = y + self.bias[...].astype(self.dtype)
    return y


def output_major_kernel(kernel: jax.Array, in_rank: int) -> jax.Array:
  """A Linear kernel [*in, *out] (its in_rank leading dims are the input's) as [*out, *in]."""
  return jnp.transpose(kernel, (*range(in_rank, kernel.ndim), *range(in_rank)))


class LayerNorm(nnx.Module):
  """LayerNorm with scale and bias, normalised in float32 whatever the compute dtype."""

  def __init__(self, size: int, *, eps: float, param_dtype, dtype):
    self.eps = eps
    self.dtype = dtype
    self.scale = logical_param(None, jax.nn.initializers.ones, (size,), ("norm",), param_dtype)
    self.bias = logical_param(None, jax.nn.initializers.zeros, (size,), ("norm",), param_dtype)

  def __call__(self, x: jax.Array) -> jax.Array:
    x32 = x.astype(jnp.float32)
    mean = x32.mean(-1, keepdims=True)
    var = jnp.square(x32 - mean).mean(-1, keepdims=True)
    y = (x32 - mean) * jax.lax.rsqrt(var + self.eps)
    y = y * self.scale[...].astype(jnp.float32) + self.bias[...].astype(jnp.float32)
    return y.astype(self.dtype)


class Embed(nnx.Module):
  """A lookup table [num_embeddings, features]; `attend` multiplies by its transpose."""

  def __init__(self, num_embeddings: int, features: int, axes: tuple[str, str], *, std: float,
               param_dtype, dtype, rngs: nnx.Rngs):
    self.dtype = dtype
    self.embedding = logical_param(rngs, jax.nn.initializers.normal(std),
                                   (num_embeddings, features), axes, param_dtype)

  def __call__(self, ids: jax.Array) -> jax.Array:
    return jnp.take(self.embedding[...], ids, axis=0).astype(self.dtype)

  def attend(self, x: jax.Array) -> jax.Array:
    """[..., features] → [..., num_embeddings]: the tied LM head."""
    return jnp.einsum("...d,vd->...v", x.astype(self.dtype),
                      self.embedding[...].astype(self.dtype))


def dropout(x: jax.Array, rate: float, key: jax.Array | None) -> jax.Array:
  """Inverted dropout; the identity when rate is 0 or no key is given (evaluation)."""
  if rate == 0.0 or key is None:
    return x
  keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
  return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))
