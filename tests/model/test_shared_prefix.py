"""Attention of rows that continue one prompt held once (starjax/model/shared_prefix.py) equals
the masked attention over each row's copy of the prompt followed by its own slots."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from starjax.model.attention import MaskInfo, dot_product_attention
from starjax.model.shared_prefix import shared_prefix_attention


@pytest.mark.parametrize("kv_heads", [1, 4])
@pytest.mark.parametrize("queries", [1, 3])
@pytest.mark.parametrize("window", [None, 5])
def test_a_shared_prefix_attends_like_a_copy_in_every_row(kv_heads, queries, window):
  rng = np.random.default_rng(kv_heads * 10 + queries)
  b, p, s, pad = 3, 12, 10, 4  # the prompt's first `pad` slots are left padding
  normal = lambda *shape: jnp.asarray(rng.normal(size=shape), jnp.float32)  # noqa: E731
  q = normal(b, queries, 4, 16)
  prefix_k, prefix_v = normal(1, p, kv_heads, 16), normal(1, p, kv_heads, 16)
  k, v = normal(b, s, kv_heads, 16), normal(b, s, kv_heads, 16)
  start = np.array([0, 4, s - queries])  # each row's own slots written so far differ
  q_index = jnp.asarray(start[:, None] + np.arange(queries), jnp.int32)
  own = jnp.asarray(np.arange(s)[None] < (start + queries)[:, None], jnp.int32)
  prompt = jnp.asarray(np.arange(p)[None] >= pad, jnp.int32)
  info = MaskInfo(q_index=q_index, q_segment_ids=jnp.ones((b, queries), jnp.int32),
                  kv_segment_ids=own, prefix_segment_ids=prompt)
  ours = jax.jit(lambda *a: shared_prefix_attention(*a, sliding_window=window))(
      q, k, v, prefix_k, prefix_v, info)
  # The same cache with the prompt copied into every row ahead of its own slots.
  copied = MaskInfo(q_index=q_index + p, q_segment_ids=info.q_segment_ids,
                    kv_segment_ids=jnp.concatenate([jnp.repeat(prompt, b, 0), own], axis=1))
  whole_k = jnp.concatenate([jnp.repeat(prefix_k, b, 0), k], axis=1)
  whole_v = jnp.concatenate([jnp.repeat(prefix_v, b, 0), v], axis=1)
  expected = dot_product_attention(q, whole_k, whole_v, copied, sliding_window=window,
                                   implementation="xla")
  np.testing.assert_allclose(ours, expected, atol=2e-5)
  if window is not None and queries == 1:
    # the window cuts the prompt off for the row furthest on, not for row 0
    moved = prefix_k.at[:, p - 1].set(100.0)  # the prompt's last slot: in row 0's window only
    again = shared_prefix_attention(q, k, v, moved, prefix_v, info, sliding_window=window)
    np.testing.assert_allclose(again[2], ours[2], atol=1e-6)
    assert not np.allclose(again[0], ours[0], atol=1e-3)
