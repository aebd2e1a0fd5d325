"""Query-chunked attention: long training sequences without [t, s] scores in memory.

The einsum path materialises float32 scores [batch, heads, t, s] for the whole sequence, and
the backward pass keeps them: 48 heads at 8,192 tokens are 12.9 GB per sequence and layer,
more than a TPU v4 chip holds. Here queries go through a lax.scan in blocks of QUERY_BLOCK,
each block against only the keys it can see (all of them, or with a sliding window the
window's span), and each block is rematerialised in the backward pass, so one block's scores
[batch, heads, block, span] are alive at a time. The mask (causal, packed segments, window,
padding) and attention-probability dropout are the einsum path's; results equal it to float
rounding. For full forward passes over a sequence (training, validation, prefill).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# Queries per block: [block, 8192] float32 scores are 16 MB per head, and the matmuls stay
# large enough to keep a TPU's MXU (128 × 128) busy.
QUERY_BLOCK = 512


def chunked_attention(q, k, v, info, *, sliding_window: int | None, dropout_rate: float = 0.0,
                      dropout_key: jax.Array | None = None, block: int = QUERY_BLOCK):
  """q [b, t, heads, d], k/v [b, s, kv_heads, d], info: attention.MaskInfo → [b, t, heads, d].

  A t that `block` does not divide (short sequences) is one block.
  """
  from starjax.model.attention import MaskInfo, _einsum_attention, attention_mask  # pylint: disable=import-outside-toplevel
  b, t, h, d = q.shape
  s = k.shape[1]
  if t <= block or t % block:
    block = t
  n = t // block
  # Keys one block of queries can reach: with a window, the block's own span plus window - 1
  # keys before it (clamped to the sequence); else every key.
  span = s if sliding_window is None else min(s, block + sliding_window - 1)
  use_dropout = dropout_rate > 0.0 and dropout_key is not None

  def blocks(x):  # [b, t, ...] → [n, b, block, ...]
    return jnp.swapaxes(x.reshape(b, n, block, *x.shape[2:]), 0, 1)

  @jax.checkpoint
  def attend(i, q_block, q_index, q_segments):
    if span == s:
      start = jnp.int32(0)
      keys, values, kv_segments = k, v, info.kv_segment_ids
    else:
      first_query = jnp.min(q_index)
      start = jnp.clip(first_query - (sliding_window - 1), 0, s - span).astype(jnp.int32)
      keys = jax.lax.dynamic_slice_in_dim(k, start, span, axis=1)
      values = jax.lax.dynamic_slice_in_dim(v, start, span, axis=1)
      kv_segments = jax.lax.dynamic_slice_in_dim(info.kv_segment_ids, start, span, axis=1)
    mask = attention_mask(MaskInfo(q_index=q_index - start, q_segment_ids=q_segments,
                                   kv_segment_ids=kv_segments), sliding_window)
    key = jax.random.fold_in(dropout_key, i) if use_dropout else None
    return _einsum_attention(q_block, keys, values, mask, dropout_rate if use_dropout else 0.0,
                             key)

  def step(carry, xs):
    return carry, attend(*xs)

  _, out = jax.lax.scan(step, None, (jnp.arange(n), blocks(q), blocks(info.q_index),
                                     blocks(info.q_segment_ids)))
  return jnp.swapaxes(out, 0, 1).reshape(b, t, h, d)
