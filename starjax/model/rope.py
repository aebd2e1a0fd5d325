"""Rotary position embeddings in transformers' `rotate_half` convention (Starcoder2).

The two halves of each head are rotated as pairs (i, i + head_dim/2), not interleaved pairs;
this matters for bitwise parity with Hugging Face checkpoints.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def rope_frequencies(positions: jax.Array, head_dim: int, theta: float):
  """cos and sin tables for `positions` [batch, length] → each [batch, length, 1, head_dim]."""
  inv_freq = 1.0 / (theta ** (jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim))
  angles = positions.astype(jnp.float32)[..., None] * inv_freq  # [b, t, head_dim/2]
  angles = jnp.concatenate([angles, angles], axis=-1)[:, :, None, :]
  return jnp.cos(angles), jnp.sin(angles)


def apply_rope(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
  """Rotates x [batch, length, heads, head_dim] by the angles in cos/sin (float32 math)."""
  x32 = x.astype(jnp.float32)
  half = x.shape[-1] // 2
  rotated = jnp.concatenate([-x32[..., half:], x32[..., :half]], axis=-1)
  return (x32 * cos + rotated * sin).astype(x.dtype)
