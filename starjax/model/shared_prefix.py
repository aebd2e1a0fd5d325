"""Attention of many rows that continue a few prompts: the prompts' keys and values held once.

n samples of one problem share their prompt. Copying its keys and values into every row's
cache makes each decode step read them n times, as n small per-row dots; held once as a
PrefixCache [u, prompt_len, kv_heads, head_dim] (u prompts, e.g. two problems' 50 samples in
one 100-row batch), the queries of every row meet them in one GEMM per prompt and kv head
(and the probabilities meet the values in another), and each row's own cache holds only what
it generated.

Rows come in u equal blocks, block j continuing prompt j (`grouped_rows` lays them out;
padding rows fill a short block), so a block's queries meet only its own prompt's keys: with
two prompts a step scores what it would for one. Scoring every prompt's columns from every
row and masking the others cost what the copies did (BENCHMARKS.md). The two parts share one
softmax: its maximum and sum are taken over both, so the result is the attention over the
row's concatenated cache.

Slots: each prompt occupies slots 0..prompt_len-1 and a row's own slot i is prompt_len + i,
which is what a sliding window measures against. Left padding of a prompt has segment 0 and
is never attended.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

# Most distinct prompts a batch holds once; more are copied into their rows' caches. Eval's
# problems_per_batch is what puts several in a batch (BENCHMARKS.md measures two).
MAX_SHARED_PROMPTS = 2

# A batch whose blocks would need more than this share of padding rows copies its prompts
# instead (e.g. 3 samples of one prompt and 1 of another: 6 rows for 4).
MAX_PADDING = 0.25


def grouped_rows(prompt_of: np.ndarray, prompts: int) -> np.ndarray:
  """The batch's row layout for rows continuing `prompts` prompts held once (prompt_of: int
  [n], each given row's prompt): u equal blocks, block j holding the rows of prompt j in their
  order, then -1 (padding) up to the largest block's count. Returns int [u * block]: each
  batch row's given row, or -1."""
  counts = np.bincount(prompt_of, minlength=prompts)
  block = int(counts.max())
  layout = np.full(prompts * block, -1, np.int64)
  for j in range(prompts):
    members = np.flatnonzero(prompt_of == j)
    layout[j * block: j * block + len(members)] = members
  return layout


def holds_prefix(prompt_of: np.ndarray, prompts: int) -> bool:
  """Whether rows continuing `prompts` distinct prompts (prompt_of: each row's) hold them once:
  fewer prompts than rows, at most MAX_SHARED_PROMPTS, and blocks that need little padding."""
  rows = len(prompt_of)
  if not prompts < rows or prompts > MAX_SHARED_PROMPTS:
    return False
  return len(grouped_rows(prompt_of, prompts)) <= rows * (1 + MAX_PADDING)


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class PrefixCache:
  """u prompts' keys and values, shared by the rows of a batch that continue them (u equal
  blocks of rows, block j continuing prompt j).

  key, value: tuples of num_layers arrays [u, prompt_len, kv_heads, head_dim].
  segment_ids: [u, prompt_len]: 1 on a prompt's tokens, 0 on its left padding.
  """
  key: tuple[jax.Array, ...]
  value: tuple[jax.Array, ...]
  segment_ids: jax.Array

  def select(self, prompts: jax.Array) -> "PrefixCache":
    """The prefix of the given prompts only (int32 [u']), e.g. when a prompt's rows are done."""
    take = lambda x: x[prompts]  # noqa: E731
    return PrefixCache(key=tuple(map(take, self.key)), value=tuple(map(take, self.value)),
                       segment_ids=take(self.segment_ids))


def shared_prefix_attention(q, k, v, prefix_key, prefix_value, info, *,
                            sliding_window: int | None) -> jax.Array:
  """q [b, t, heads, d]; k/v [b, s, kv_heads, d] each row's own cache (masked by info, whose
  q_index counts own slots); prefix_key/value [u, p, kv_heads, d] (b = u blocks of rows, block
  j continuing prompt j), masked by info.prefix_segment_ids [u, p] → [b, t, heads, d].

  The own part is the cache-major attention of starjax.model.attention (the cache as the
  major operand of both dots); the prefix part folds a block's queries into the GEMM's rows.
  """
  from starjax.model.attention import attention_mask  # pylint: disable=import-outside-toplevel
  b, t, h, d = q.shape
  u, p, kv_heads = prefix_key.shape[:3]
  block = b // u
  q = q.reshape(b, t, kv_heads, h // kv_heads, d)
  grouped = q.reshape(u, block, t, kv_heads, h // kv_heads, d)
  scale = d ** -0.5
  lowest = jnp.finfo(jnp.float32).min
  # own: k [b, s, kv, d] · q [b, t, kv, g, d] over d, batched over (b, kv) → [b, kv, s, t, g]
  own = jax.lax.dot_general(k, q, (((3,), (4,)), ((0, 2), (0, 2))),
                            preferred_element_type=jnp.float32) * scale
  own_mask = jnp.swapaxes(attention_mask(info, sliding_window), 2, 3)  # [b, 1, s, t]
  own = jnp.where(own_mask[..., None], own, lowest)
  # shared: prefix_key [u, p, kv, d] · q [u, block, t, kv, g, d] over d, batched over (u, kv)
  # → [u, kv, p, block, t, g]: one [p, d] x [d, block·t·g] GEMM per prompt and kv head
  shared = jax.lax.dot_general(prefix_key, grouped, (((3,), (5,)), ((0, 2), (0, 3))),
                               preferred_element_type=jnp.float32) * scale
  shared_mask = (info.prefix_segment_ids != 0)[:, None, :, None, None]  # [u, 1, p, 1, 1]
  if sliding_window is not None:
    slot = jnp.arange(p, dtype=jnp.int32)[None, None, :, None, None]    # [1, 1, p, 1, 1]
    query_slot = (info.q_index + p).reshape(u, 1, 1, block, t)
    shared_mask = shared_mask & (query_slot - slot < sliding_window)
  shared = jnp.where(shared_mask[..., None], shared, lowest)

  def by_row(x):  # [u, kv, block, t, g, ...] → [b, kv, t, g, ...]
    x = jnp.swapaxes(x, 1, 2)
    return x.reshape(b, *x.shape[2:])

  def by_block(x):  # [b, kv, t, g] → [u, kv, block, t, g]
    return jnp.swapaxes(x.reshape(u, block, *x.shape[1:]), 1, 2)

  # One softmax over both parts: the maximum and the sum run over own and shared keys.
  top = jnp.maximum(jnp.max(own, axis=2), by_row(jnp.max(shared, axis=2)))  # [b, kv, t, g]
  own = jnp.exp(own - top[:, :, None])                                # [b, kv, s, t, g]
  shared = jnp.exp(shared - by_block(top)[:, :, None])                # [u, kv, p, block, t, g]
  total = jnp.sum(own, axis=2) + by_row(jnp.sum(shared, axis=2))
  own, shared = own.astype(v.dtype), shared.astype(v.dtype)
  # own probs [b, kv, s, t, g] · v [b, s, kv, d] over s → [b, kv, t, g, d]
  out = jax.lax.dot_general(own, v, (((2,), (1,)), ((0, 1), (0, 2))),
                            preferred_element_type=jnp.float32)
  # shared probs [u, kv, p, block, t, g] · prefix_value [u, p, kv, d] over p, batched over
  # (u, kv) → [u, kv, block, t, g, d]
  out_shared = jax.lax.dot_general(shared, prefix_value, (((2,), (1,)), ((0, 1), (0, 2))),
                                   preferred_element_type=jnp.float32)
  out = (out + by_row(out_shared)) / total[..., None]
  return jnp.transpose(out, (0, 2, 1, 3, 4)).reshape(b, t, h, d).astype(q.dtype)
