"""Attention of many rows that continue a few prompts: the prompts' keys and values held once.

n samples of one problem share their prompt. Copying its keys and values into every row's
cache makes each decode step read them n times, as n small per-row dots; held once as a
PrefixCache [u, prompt_len, kv_heads, head_dim] (u prompts, e.g. two problems' 50 samples in
one 100-row batch), the queries of every row meet them in one GEMM per kv head (and the
probabilities meet the values in another), and each row's own cache holds only what it
generated. A row attends only its own prompt's columns (KVCache.prefix_rows names it): with
u prompts a row's scores span u x prompt_len columns, which at u = 2 costs what the copies
did (MAX_SHARED_PROMPTS) and saves their memory. The two parts share one softmax: its maximum and sum
are taken over both, so the result is the attention over the row's concatenated cache.

Slots: each prompt occupies slots 0..prompt_len-1 and a row's own slot i is prompt_len + i,
which is what a sliding window measures against. Left padding of a prompt has segment 0 and
is never attended.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

# Most distinct prompts a batch holds once; more are copied into their rows' caches. Each row
# scores every held prompt's columns: at two prompts of 160 tokens in a 100-row batch of the
# bench model that cost as much as the copies (12.7 samples/s either way, against 15.8 for
# one prompt; BENCHMARKS.md), so beyond two it would cost more than it saves.
MAX_SHARED_PROMPTS = 2


def holds_prefix(prompts: int, rows: int) -> bool:
  """Whether a batch of `rows` rows continuing `prompts` distinct prompts holds them once."""
  return prompts < rows and prompts <= MAX_SHARED_PROMPTS


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class PrefixCache:
  """u prompts' keys and values, shared by the rows of a batch that continue them.

  key, value: tuples of num_layers arrays [u, prompt_len, kv_heads, head_dim].
  segment_ids: [u, prompt_len]: 1 on a prompt's tokens, 0 on its left padding.
  """
  key: tuple[jax.Array, ...]
  value: tuple[jax.Array, ...]
  segment_ids: jax.Array

  def row_segments(self, rows: jax.Array | None) -> jax.Array:
    """The prefix's segment ids as each row sees them, [b, u * prompt_len] (rows: int32 [b],
    each row's prompt): 0 on every other prompt's columns. One prompt: [1, prompt_len]."""
    u, p = self.segment_ids.shape
    if u == 1:
      return self.segment_ids
    prompt_of_column = jnp.repeat(jnp.arange(u, dtype=jnp.int32), p)
    mine = prompt_of_column[None, :] == rows[:, None]
    return jnp.where(mine, self.segment_ids.reshape(1, u * p), 0)


def shared_prefix_attention(q, k, v, prefix_key, prefix_value, info, *,
                            sliding_window: int | None) -> jax.Array:
  """q [b, t, heads, d]; k/v [b, s, kv_heads, d] each row's own cache (masked by info, whose
  q_index counts own slots); prefix_key/value [u, p, kv_heads, d], masked by
  info.prefix_segment_ids (PrefixCache.row_segments) → [b, t, heads, d].

  The own part is the cache-major attention of starjax.model.attention (the cache as the
  major operand of both dots); the prefix part folds every row's queries into the GEMM's rows.
  """
  from starjax.model.attention import attention_mask  # pylint: disable=import-outside-toplevel
  b, t, h, d = q.shape
  kv_heads, p = k.shape[2], prefix_key.shape[1]
  columns = prefix_key.shape[0] * p
  prefix_key = prefix_key.reshape(columns, kv_heads, d)
  prefix_value = prefix_value.reshape(columns, kv_heads, d)
  q = q.reshape(b, t, kv_heads, h // kv_heads, d)
  scale = d ** -0.5
  lowest = jnp.finfo(jnp.float32).min
  # own: k [b, s, kv, d] · q [b, t, kv, g, d] over d, batched over (b, kv) → [b, kv, s, t, g]
  own = jax.lax.dot_general(k, q, (((3,), (4,)), ((0, 2), (0, 2))),
                            preferred_element_type=jnp.float32) * scale
  own_mask = jnp.swapaxes(attention_mask(info, sliding_window), 2, 3)  # [b, 1, s, t]
  own = jnp.where(own_mask[..., None], own, lowest)
  # shared: prefix_key [u·p, kv, d] · q [b, t, kv, g, d] over d, batched over kv
  # → [kv, u·p, b, t, g]: one [u·p, d] x [d, b·t·g] GEMM per kv head
  shared = jax.lax.dot_general(prefix_key, q, (((2,), (4,)), ((1,), (2,))),
                               preferred_element_type=jnp.float32) * scale
  slot = (jnp.arange(columns, dtype=jnp.int32) % p)[:, None, None]    # [u·p, 1, 1]
  # [u·p, b or 1, 1]: the row's own prompt's tokens
  shared_mask = jnp.transpose(info.prefix_segment_ids != 0)[:, :, None]
  if sliding_window is not None:
    query_slot = (info.q_index + p)[None]                             # [1, b, t]
    shared_mask = shared_mask & (query_slot - slot < sliding_window)
  shared = jnp.where(shared_mask[None, ..., None], shared, lowest)
  # One softmax over both parts: the maximum and the sum run over own and shared keys.
  top = jnp.maximum(jnp.max(own, axis=2), jnp.transpose(jnp.max(shared, axis=1), (1, 0, 2, 3)))
  own = jnp.exp(own - top[:, :, None])                                # [b, kv, s, t, g]
  shared = jnp.exp(shared - jnp.transpose(top, (1, 0, 2, 3))[:, None])  # [kv, p, b, t, g]
  total = jnp.sum(own, axis=2) + jnp.transpose(jnp.sum(shared, axis=1), (1, 0, 2, 3))
  own, shared = own.astype(v.dtype), shared.astype(v.dtype)
  # own probs [b, kv, s, t, g] · v [b, s, kv, d] over s → [b, kv, t, g, d]
  out = jax.lax.dot_general(own, v, (((2,), (1,)), ((0, 1), (0, 2))),
                            preferred_element_type=jnp.float32)
  # shared probs [kv, u·p, b, t, g] · prefix_value [u·p, kv, d] over u·p, batched over kv
  # → [kv, b, t, g, d]
  out_shared = jax.lax.dot_general(shared, prefix_value, (((1,), (0,)), ((0,), (1,))),
                                   preferred_element_type=jnp.float32)
  out = (out + jnp.transpose(out_shared, (1, 0, 2, 3, 4))) / total[..., None]
  return jnp.transpose(out, (0, 2, 1, 3, 4)).reshape(b, t, h, d).astype(q.dtype)
