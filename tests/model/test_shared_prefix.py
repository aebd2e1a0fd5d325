"""Attention of rows that continue prompts held once (starjax/model/shared_prefix.py) equals
the masked attention over each row's copy of its prompt followed by its own slots; the rows'
block layout (grouped_rows) and when prompts are held once."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from starjax.model.attention import MaskInfo, dot_product_attention
from starjax.model.shared_prefix import (PrefixCache, grouped_rows, holds_prefix,
                                         shared_prefix_attention)


@pytest.mark.parametrize("kv_heads", [1, 4])
@pytest.mark.parametrize("queries", [1, 3])
@pytest.mark.parametrize("window", [None, 5])
@pytest.mark.parametrize("prompts", [1, 2])
def test_a_shared_prefix_attends_like_a_copy_in_every_row(kv_heads, queries, window, prompts):
  rng = np.random.default_rng(kv_heads * 10 + queries)
  b, p, s = 4, 12, 10
  pads = np.array([4, 7][:prompts])  # each prompt's first slots are left padding
  rows = np.repeat(np.arange(prompts), b // prompts)  # each row's prompt: equal blocks
  normal = lambda *shape: jnp.asarray(rng.normal(size=shape), jnp.float32)  # noqa: E731
  q = normal(b, queries, 4, 16)
  prefix_k, prefix_v = normal(prompts, p, kv_heads, 16), normal(prompts, p, kv_heads, 16)
  k, v = normal(b, s, kv_heads, 16), normal(b, s, kv_heads, 16)
  start = np.array([0, 4, s - queries, 2])  # each row's own slots written so far differ
  q_index = jnp.asarray(start[:, None] + np.arange(queries), jnp.int32)
  own = jnp.asarray(np.arange(s)[None] < (start + queries)[:, None], jnp.int32)
  prompt = jnp.asarray(np.arange(p)[None] >= pads[:, None], jnp.int32)
  held = PrefixCache(key=(prefix_k,), value=(prefix_v,), segment_ids=prompt)
  info = MaskInfo(q_index=q_index, q_segment_ids=jnp.ones((b, queries), jnp.int32),
                  kv_segment_ids=own, prefix_segment_ids=held.segment_ids)
  ours = jax.jit(lambda *a: shared_prefix_attention(*a, sliding_window=window))(
      q, k, v, prefix_k, prefix_v, info)
  # The same cache with each row's prompt copied into it ahead of its own slots.
  copied = MaskInfo(q_index=q_index + p, q_segment_ids=info.q_segment_ids,
                    kv_segment_ids=jnp.concatenate([prompt[rows], own], axis=1))
  whole_k = jnp.concatenate([prefix_k[rows], k], axis=1)
  whole_v = jnp.concatenate([prefix_v[rows], v], axis=1)
  expected = dot_product_attention(q, whole_k, whole_v, copied, sliding_window=window,
                                   implementation="xla")
  np.testing.assert_allclose(ours, expected, atol=2e-5)
  if window is not None and queries == 1:
    # the window cuts the prompt off for the row furthest on, not for row 0
    moved = prefix_k.at[:, p - 1].set(100.0)  # a prompt's last slot: in row 0's window only
    again = shared_prefix_attention(q, k, v, moved, prefix_v, info, sliding_window=window)
    np.testing.assert_allclose(again[2], ours[2], atol=1e-6)
    assert not np.allclose(again[0], ours[0], atol=1e-3)


def test_a_row_never_attends_another_prompt():
  rng = np.random.default_rng(3)
  normal = lambda *shape: jnp.asarray(rng.normal(size=shape), jnp.float32)  # noqa: E731
  b, p, s = 4, 8, 6
  q, k, v = normal(b, 1, 2, 16), normal(b, s, 1, 16), normal(b, s, 1, 16)
  prefix_k, prefix_v = normal(2, p, 1, 16), normal(2, p, 1, 16)
  held = PrefixCache(key=(prefix_k,), value=(prefix_v,), segment_ids=jnp.ones((2, p), jnp.int32))
  info = MaskInfo(q_index=jnp.full((b, 1), 2, jnp.int32), q_segment_ids=jnp.ones((b, 1), jnp.int32),
                  kv_segment_ids=jnp.asarray(np.arange(s)[None] <= 2, jnp.int32).repeat(b, 0),
                  prefix_segment_ids=held.segment_ids)  # rows 0-1 continue prompt 0, 2-3 prompt 1
  before = shared_prefix_attention(q, k, v, prefix_k, prefix_v, info, sliding_window=None)
  # Prompt 1's values changed: the rows of prompt 0 do not see it, those of prompt 1 do.
  after = shared_prefix_attention(q, k, v, prefix_k, prefix_v.at[1].add(5.0), info,
                                  sliding_window=None)
  np.testing.assert_allclose(after[:2], before[:2], atol=1e-6)
  assert not np.allclose(after[2], before[2], atol=1e-2)
  assert not np.allclose(after[3], before[3], atol=1e-2)


def test_rows_are_laid_out_in_equal_blocks_one_per_prompt():
  # rows of prompts 0, 1, 0, 1, 1: prompt 1's block is the longest, prompt 0's is padded
  layout = grouped_rows(np.array([0, 1, 0, 1, 1]), 2)
  assert layout.tolist() == [0, 2, -1, 1, 3, 4]
  assert grouped_rows(np.zeros(5, int), 1).tolist() == [0, 1, 2, 3, 4]


def test_prompts_are_held_once_when_their_blocks_need_little_padding():
  assert holds_prefix(np.zeros(50, int), 1)
  assert holds_prefix(np.repeat([0, 1], 50), 2)
  assert holds_prefix(np.array([0] * 5 + [1] * 3), 2)      # 10 rows for 8
  assert not holds_prefix(np.array([0, 1, 0, 0]), 2)       # 6 rows for 4
  assert not holds_prefix(np.array([0, 1]), 2)             # nothing shared
  assert not holds_prefix(np.repeat(np.arange(3), 4), 3)   # more prompts than MAX_SHARED_PROMPTS
