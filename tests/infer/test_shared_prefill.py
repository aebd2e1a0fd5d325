"""Rows that share a prompt (n samples of one problem) are prefilled once and still decode as
if each had been prefilled on its own."""

import numpy as np
from flax import nnx

from starjax.infer.decoding import TokenGenerator
from starjax.infer.sampling import SamplingConfig
from starjax.model import DecoderConfig, create_decoder

CONFIG = DecoderConfig(vocab_size=97, num_layers=2, hidden_size=32, num_heads=4, num_kv_heads=1,
                       mlp_dim=64, max_seq_len=64)


def make_generator():
  params = nnx.to_pure_dict(nnx.state(create_decoder(CONFIG, seed=5)))
  return TokenGenerator(CONFIG, params, eos_id=0, chunk_size=4, prompt_bucket=8)


def test_shared_prompt_rows_decode_like_separate_prompts():
  generator = make_generator()
  a, b = [5, 9, 11, 3], [7, 8]
  greedy = SamplingConfig(max_new_tokens=10)
  together = [g.tokens for g in generator.generate([a, b, a, a], greedy)]
  alone_a = generator.generate([a], greedy)[0].tokens
  alone_b = generator.generate([b], greedy)[0].tokens
  assert together == [alone_a, alone_b, alone_a, alone_a]


def test_samples_of_one_prompt_are_independent_and_seeded():
  generator = make_generator()
  sampling = SamplingConfig(max_new_tokens=8, temperature=1.0, seed=3)
  rows = [g.tokens for g in generator.generate([[4, 2, 6]] * 8, sampling)]
  assert len({tuple(r) for r in rows}) > 1  # each row sampled its own tokens, the first too
  assert len({r[0] for r in rows if r}) > 1
  assert rows == [g.tokens for g in generator.generate([[4, 2, 6]] * 8, sampling)]
  assert np.all([len(r) <= 8 for r in rows])
