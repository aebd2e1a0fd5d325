"""Decoding against a KV cache: the cache-major attention of a decode step equals the masked
XLA path, and a per-row cache index (the serving engine's slots) equals each row decoded alone."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from starjax.model import DecoderConfig, KVCache, create_decoder, unstack_layers
from starjax.model.attention import MaskInfo, dot_product_attention, write_cache

SMALL = DecoderConfig(vocab_size=97, num_layers=2, hidden_size=64, num_heads=4, num_kv_heads=1,
                      mlp_dim=128, max_seq_len=32)


@pytest.mark.parametrize("kv_heads", [1, 2, 4])
@pytest.mark.parametrize("queries", [1, 3])
@pytest.mark.parametrize("window", [None, 4])
def test_cache_major_attention_equals_the_masked_xla_path(kv_heads, queries, window):
  rng = np.random.default_rng(kv_heads * 10 + queries)
  b, s = 3, 20
  q = jnp.asarray(rng.normal(size=(b, queries, 4, 16)), jnp.float32)
  k = jnp.asarray(rng.normal(size=(b, s, kv_heads, 16)), jnp.float32)
  v = jnp.asarray(rng.normal(size=(b, s, kv_heads, 16)), jnp.float32)
  start = np.array([0, 7, s - queries])  # each row at its own length, one at the cache's end
  q_index = jnp.asarray(start[:, None] + np.arange(queries), jnp.int32)
  filled = jnp.asarray(np.arange(s)[None] < (start + queries)[:, None], jnp.int32)
  info = MaskInfo(q_index=q_index, q_segment_ids=jnp.ones((b, queries), jnp.int32),
                  kv_segment_ids=filled)
  ours = jax.jit(lambda *a: dot_product_attention(*a, sliding_window=window,
                                                  implementation="auto"))(q, k, v, info)
  xla = dot_product_attention(q, k, v, info, sliding_window=window, implementation="xla")
  np.testing.assert_allclose(ours, xla, atol=1e-5)


def test_write_cache_per_row_index_writes_each_row_at_its_own_place():
  cache = jnp.zeros((3, 8, 1, 2))
  new = jnp.arange(3 * 2 * 2, dtype=jnp.float32).reshape(3, 2, 1, 2) + 1
  written = write_cache(cache, new, jnp.asarray([0, 3, 6], jnp.int32))
  for row, at in enumerate([0, 3, 6]):
    expected = jax.lax.dynamic_update_slice_in_dim(cache[row:row + 1], new[row:row + 1], at, 1)
    np.testing.assert_array_equal(written[row:row + 1], expected)
  shared = write_cache(cache, new, jnp.int32(2))
  np.testing.assert_array_equal(shared[:, 2:4], new)


@pytest.mark.parametrize("kv_heads", [1, 2])
def test_a_per_row_cache_index_equals_each_row_decoded_alone(kv_heads):
  """Two rows prefilled to different lengths, then one step with int32 [b] cache indices:
  the logits and caches are those of each row stepped alone at its scalar index."""
  config = dataclasses.replace(SMALL, num_kv_heads=kv_heads)
  graphdef, state = nnx.split(create_decoder(config, seed=4))
  layers = unstack_layers(nnx.to_pure_dict(state))["blocks"]
  decode = jax.jit(lambda p, *a: nnx.merge(graphdef, p).decode(*a, layers))
  rng = np.random.default_rng(1)
  lengths = [5, 11]
  rows = []
  for n in lengths:
    prompt = jnp.asarray(rng.integers(1, 97, (1, n)), jnp.int32)
    _, cache = decode(state, prompt, jnp.arange(n, dtype=jnp.int32)[None],
                      KVCache.zeros(config, 1, 16), jnp.int32(0))
    rows.append(cache)
  batch = jax.tree.map(lambda *r: jnp.concatenate(r), *rows)
  token = jnp.asarray([[7], [9]], jnp.int32)
  index = jnp.asarray(lengths, jnp.int32)
  logits, stepped = decode(state, token, index[:, None], batch, index)
  for row, n in enumerate(lengths):
    alone, cache = decode(state, token[row:row + 1], jnp.full((1, 1), n, jnp.int32), rows[row],
                          jnp.int32(n))
    np.testing.assert_allclose(logits[row], alone[0], atol=1e-5)
    for got, want in zip(jax.tree.leaves(stepped), jax.tree.leaves(cache)):
      np.testing.assert_allclose(got[row], want[0], atol=1e-6)
