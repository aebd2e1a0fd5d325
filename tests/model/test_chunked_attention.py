"""Query-chunked attention (attention_impl='chunked') equals the einsum path: forward and
gradients, with packed segments, padding and sliding windows."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from starjax.model.attention import MaskInfo, _einsum_attention, attention_mask
from starjax.model.chunked_attention import chunked_attention


def packed_info(batch: int, length: int) -> MaskInfo:
  # Two documents and trailing padding per row, boundaries inside the query blocks.
  segments = np.zeros((batch, length), np.int32)
  segments[:, : length // 3] = 1
  segments[:, length // 3: length - 5] = 2
  index = np.broadcast_to(np.arange(length, dtype=np.int32), (batch, length))
  return MaskInfo(q_index=jnp.asarray(index), q_segment_ids=jnp.asarray(segments),
                  kv_segment_ids=jnp.asarray(segments), self_attention=True)


@pytest.mark.parametrize("window", [None, 7, 20, 64])
def test_chunked_attention_equals_einsum_forward_and_gradients(window):
  b, t, h, kv, d = 2, 64, 4, 2, 8
  q, k, v = (jax.random.normal(jax.random.key(i), (b, t, n, d))
             for i, n in enumerate((h, kv, kv)))
  info = packed_info(b, t)
  # Padding queries (segment 0) attend nothing; their outputs are unspecified and unweighted.
  real = np.asarray(info.q_segment_ids != 0)[:, :, None, None]
  weights = jax.random.normal(jax.random.key(9), (b, t, h, d)) * real

  def loss(fn, q, k, v):
    return jnp.sum(fn(q, k, v) * weights)

  chunked = lambda q, k, v: chunked_attention(q, k, v, info, sliding_window=window, block=16)  # noqa: E731
  full = lambda q, k, v: _einsum_attention(q, k, v, attention_mask(info, window), 0.0, None)  # noqa: E731
  np.testing.assert_allclose(chunked(q, k, v) * real, full(q, k, v) * real, atol=1e-5)
  got = jax.grad(lambda *a: loss(chunked, *a), argnums=(0, 1, 2))(q, k, v)
  want = jax.grad(lambda *a: loss(full, *a), argnums=(0, 1, 2))(q, k, v)
  for g, w in zip(got, want):
    np.testing.assert_allclose(g, w, atol=1e-4)


def test_chunked_attention_with_dropout_is_deterministic_per_key():
  b, t, h, d = 1, 32, 2, 8
  q = k = v = jax.random.normal(jax.random.key(0), (b, t, h, d))
  info = packed_info(b, t)
  run = lambda key: chunked_attention(q, k, v, info, sliding_window=None, dropout_rate=0.5,  # noqa: E731
                                      dropout_key=key, block=8)
  np.testing.assert_array_equal(run(jax.random.key(1)), run(jax.random.key(1)))
  assert not np.allclose(run(jax.random.key(1)), run(jax.random.key(2)))
