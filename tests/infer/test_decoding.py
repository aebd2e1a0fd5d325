"""KV-cache decoding: exact logits at every position, batched greedy equals the full forward
pass, per-sequence stops, sampling controls, and clear errors."""

import dataclasses
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from starjax.infer import decoding
from starjax.infer.decoding import LOOP_LAYOUT_ROWS, TokenGenerator
from starjax.infer.sampling import SamplingConfig, filter_logits
from starjax.model import DecoderConfig, KVCache, create_decoder, unstack_layers

BASE = DecoderConfig(vocab_size=101, num_layers=2, hidden_size=64, num_heads=4, num_kv_heads=1,
                     mlp_dim=128, max_seq_len=64)
VARIANTS = {
    "mqa": BASE,
    "gqa": dataclasses.replace(BASE, num_kv_heads=2),
    "mha": dataclasses.replace(BASE, num_kv_heads=4),
    "gqa_rope_window": dataclasses.replace(BASE, num_kv_heads=2, position_embedding="rope",
                                           sliding_window=5, tie_embeddings=False),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_cached_logits_equal_the_full_forward_pass_at_every_position(name):
  config = VARIANTS[name]
  model = create_decoder(config, seed=1)
  graphdef, params = nnx.split(model)
  tokens = jnp.asarray(np.random.default_rng(0).integers(1, 101, (2, 20)), jnp.int32)
  full = jax.jit(lambda p, t: nnx.merge(graphdef, p)(t))(params, tokens)

  layers = unstack_layers(nnx.to_pure_dict(params))["blocks"]

  @jax.jit
  def step(p, token, position, cache, index):
    return nnx.merge(graphdef, p).decode(token, position, cache, index, layers)

  cache = KVCache.zeros(config, 2, 24)
  for i in range(20):
    logits, cache = step(params, tokens[:, i:i + 1], jnp.full((2, 1), i, jnp.int32), cache,
                         jnp.int32(i))
    np.testing.assert_allclose(logits[:, 0], full[:, i], atol=1e-5, err_msg=f"position {i}")


@pytest.fixture(scope="module")
def generator():
  model = create_decoder(BASE, seed=2)
  return model, TokenGenerator(BASE, nnx.to_pure_dict(nnx.state(model)), eos_id=0,
                               chunk_size=4, prompt_bucket=8)


_FORWARD = {}


def greedy_reference(model, prompt, steps, width=32):
  """Greedy continuation by repeated full forward passes (no cache). Sequences are right-padded
  to one width so this compiles once; causality makes the padding irrelevant."""
  graphdef, params = nnx.split(model)
  if id(model) not in _FORWARD:
    _FORWARD[id(model)] = jax.jit(lambda p, t: nnx.merge(graphdef, p)(t))
  forward = _FORWARD[id(model)]
  sequence = list(prompt)
  for _ in range(steps):
    padded = jnp.asarray([sequence + [0] * (width - len(sequence))])
    sequence.append(int(jnp.argmax(forward(params, padded)[0, len(sequence) - 1])))
  return sequence[len(prompt):]


def test_batched_greedy_with_left_padding_equals_one_prompt_at_a_time(generator):
  model, gen = generator
  prompts = [[5, 6, 7, 8, 9, 10, 11, 12, 13], [3, 4], [42]]
  outputs = gen.generate(prompts, SamplingConfig(max_new_tokens=10))
  for prompt, out in zip(prompts, outputs):
    expected = greedy_reference(model, prompt, 10)
    if 0 in expected:
      expected = expected[:expected.index(0)]
    assert out.tokens == expected


def test_a_wide_batch_decodes_the_same_with_the_loop_kernel_layout(generator):
  """Batches of LOOP_LAYOUT_ROWS rows or more read the MLP up-projection kernel as [mlp, embed]
  on CPU (an x·Wᵀ GEMM, checked in the compiled loop); their tokens equal the stored layout's
  and the full forward pass's."""
  model, gen = generator
  assert gen.loop_layout  # one CPU device
  rng = np.random.default_rng(3)
  prompts = [rng.integers(1, 101, rng.integers(1, 9)).tolist() for _ in range(LOOP_LAYOUT_ROWS)]
  stored = TokenGenerator(BASE, gen.params, eos_id=0, chunk_size=4, prompt_bucket=8)
  stored.loop_layout = False
  sampling = SamplingConfig(max_new_tokens=8)
  wide, plain = gen.generate(prompts, sampling), stored.generate(prompts, sampling)
  assert [o.tokens for o in wide] == [o.tokens for o in plain]
  for prompt, out in list(zip(prompts, wide))[:3]:
    expected = greedy_reference(model, prompt, 8)
    assert out.tokens == (expected[:expected.index(0)] if 0 in expected else expected)
  hot = SamplingConfig(max_new_tokens=8, temperature=0.7, top_p=0.9, seed=4)
  assert ([o.tokens for o in gen.generate(prompts, hot)]
          == [o.tokens for o in stored.generate(prompts, hot)])

  def fc_dots(generator):
    state = generator._prefill(generator.params, jnp.ones((LOOP_LAYOUT_ROWS, 8), jnp.int32),  # pylint: disable=protected-access
                               jnp.ones((LOOP_LAYOUT_ROWS, 8), jnp.int32), jax.random.key(0),
                               jnp.int32(8), jnp.float32(0), jnp.int32(0), jnp.float32(1),
                               cache_len=16, max_new_tokens=8, greedy=True, use_top_k=False,
                               use_top_p=False)
    hlo = generator._decode.lower(generator.params, state, jnp.int32(4), jnp.float32(0),  # pylint: disable=protected-access
                                  jnp.int32(0), jnp.float32(1), greedy=True, use_top_k=False,
                                  use_top_p=False).compile().as_text()
    return [line for line in hlo.splitlines()
            if re.search(rf"= f32\[{LOOP_LAYOUT_ROWS},{BASE.mlp_dim}\]\S* dot\(", line)]

  loop_dots, stored_dots = fc_dots(gen), fc_dots(stored)
  assert len(loop_dots) == len(stored_dots) == BASE.num_layers
  assert all("rhs_contracting_dims={1}" in line for line in loop_dots), loop_dots
  assert all("rhs_contracting_dims={0}" in line for line in stored_dots), stored_dots


def test_a_finished_sequence_stops_while_the_others_go_on(generator):
  model, gen = generator
  prompts = [[5, 6, 7], [9, 8]]
  free = [greedy_reference(model, p, 12) for p in prompts]
  eos = free[0][2]  # make row 0's third token the end-of-text token
  stopping = TokenGenerator(BASE, gen.params, eos_id=eos, chunk_size=4, prompt_bucket=8)
  outputs = stopping.generate(prompts, SamplingConfig(max_new_tokens=12))
  assert outputs[0].tokens == free[0][:2] and outputs[0].finish_reason == "eos"
  row1 = free[1][:free[1].index(eos)] if eos in free[1] else free[1]
  assert outputs[1].tokens == row1


def test_stop_check_ends_only_its_own_row(generator):
  _, gen = generator
  prompts = [[5, 6, 7], [9, 8]]
  free = gen.generate(prompts, SamplingConfig(max_new_tokens=16))
  outputs = gen.generate(prompts, SamplingConfig(max_new_tokens=16),
                         stop_check=lambda row, ids: row == 0 and len(ids) >= 5)
  assert outputs[0].finish_reason == "stop"
  assert 5 <= len(outputs[0].tokens) < 16 and outputs[0].tokens == free[0].tokens[:len(outputs[0].tokens)]
  assert outputs[1].tokens == free[1].tokens


def test_a_batch_shrinks_as_its_rows_stop_and_no_row_changes(generator, monkeypatch):
  """Rows that stop early leave the batch (16 → 8 → 4 rows here); the others keep their cache
  and their own PRNG keys, so every row's tokens and finish reason equal those of a batch that
  never shrinks, greedy and sampled."""
  _, gen = generator
  rng = np.random.default_rng(7)
  prompts = [rng.integers(1, 101, rng.integers(1, 9)).tolist() for _ in range(16)]
  lengths = [4] * 8 + [8] * 4 + [13, 16, 20, 30]  # chunk_size 4: rows leave at chunk ends
  stop = lambda row, ids: len(ids) >= lengths[row]  # noqa: E731
  shapes = []
  decode = gen._decode  # pylint: disable=protected-access

  def recording(params, state, *args, **kwargs):
    shapes.append(state.token.shape[0])
    return decode(params, state, *args, **kwargs)

  for sampling in (SamplingConfig(max_new_tokens=24, seed=2),
                   SamplingConfig(max_new_tokens=24, temperature=0.9, top_p=0.95, seed=2)):
    shapes.clear()
    monkeypatch.setattr(gen, "_decode", recording)
    shrunk = gen.generate(prompts, sampling, stop_check=stop)
    assert shapes[0] == 16 and 8 in shapes and shapes[-1] == 4, shapes
    monkeypatch.setattr(decoding, "COMPACT_MIN_ROWS", 10**6)
    shapes.clear()
    whole = gen.generate(prompts, sampling, stop_check=stop)
    assert set(shapes) == {16}
    monkeypatch.undo()
    assert [(o.tokens, o.finish_reason) for o in shrunk] == [(o.tokens, o.finish_reason)
                                                              for o in whole]
    for row, out in enumerate(shrunk):
      if lengths[row] < 24 and out.finish_reason != "eos":
        assert out.finish_reason == "stop" and len(out.tokens) >= lengths[row], (row, out)


def test_sampling_is_seeded_and_top_k_one_is_greedy(generator):
  _, gen = generator
  prompt = [[5, 6, 7]]
  greedy = gen.generate(prompt, SamplingConfig(max_new_tokens=12))[0].tokens
  hot = SamplingConfig(max_new_tokens=12, temperature=1.5, seed=1)
  a, b = gen.generate(prompt, hot)[0].tokens, gen.generate(prompt, hot)[0].tokens
  c = gen.generate(prompt, dataclasses.replace(hot, seed=2))[0].tokens
  assert a == b and a != c
  assert gen.generate(prompt, dataclasses.replace(hot, top_k=1))[0].tokens == greedy
  assert gen.generate(prompt, dataclasses.replace(hot, top_p=1e-6))[0].tokens == greedy


def test_filters_keep_the_top_k_and_the_nucleus():
  logits = jnp.log(jnp.asarray([[0.5, 0.3, 0.15, 0.05]], jnp.float32))
  kept = lambda x: np.isfinite(x) & (x > -1e30)  # noqa: E731
  top2 = filter_logits(logits, jnp.int32(2), jnp.float32(1), use_top_k=True, use_top_p=False)
  np.testing.assert_array_equal(kept(top2), [[True, True, False, False]])
  nucleus = filter_logits(logits, jnp.int32(0), jnp.float32(0.8), use_top_k=False,
                          use_top_p=True)
  np.testing.assert_array_equal(kept(nucleus), [[True, True, False, False]])
  wider = filter_logits(logits, jnp.int32(0), jnp.float32(0.81), use_top_k=False,
                        use_top_p=True)
  np.testing.assert_array_equal(kept(wider), [[True, True, True, False]])


def test_nucleus_from_candidates_equals_the_fully_sorted_one():
  # Peaked rows end inside the NUCLEUS_CANDIDATES largest logits (the fast path); flat rows and
  # a top_k beyond the candidates take the sort. Both must keep exactly the reference set.
  from starjax.infer import sampling  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  vocab = 4 * sampling.NUCLEUS_CANDIDATES
  peaked = rng.standard_normal((3, vocab)).astype(np.float32) * 8
  flat = rng.standard_normal((3, vocab)).astype(np.float32) * 0.01

  def reference(x, k, p):
    out = x.copy()
    for row in out:
      order = np.sort(row)[::-1]
      threshold = order[min(k, vocab) - 1] if k else -np.inf
      if p < 1.0:
        probs = np.exp(order - np.logaddexp.reduce(order))
        threshold = max(threshold, order[np.sum(np.cumsum(probs) - probs < p) - 1])
      row[row < threshold] = -np.inf
    return np.isfinite(out)

  for x in (peaked, flat):
    for k, p in ((0, 0.95), (0, 0.5), (5, 0.95), (3 * sampling.NUCLEUS_CANDIDATES, 1.0)):
      got = filter_logits(jnp.asarray(x), jnp.int32(k), jnp.float32(p), use_top_k=k > 0,
                          use_top_p=p < 1.0)
      np.testing.assert_array_equal(np.asarray(got) > -1e30, reference(x, k, p))


def test_bad_lengths_are_clear_errors(generator):
  _, gen = generator
  with pytest.raises(ValueError, match="prompt 0 is empty"):
    gen.generate([[]], SamplingConfig())
  with pytest.raises(ValueError, match="longer than the model's context of 64"):
    gen.generate([[1] * 65], SamplingConfig())
  with pytest.raises(ValueError, match="use max_new_tokens <= 54"):
    gen.generate([[1] * 10], SamplingConfig(max_new_tokens=60))
  with pytest.raises(ValueError, match="top_p"):
    SamplingConfig(top_p=0)
