"""Rows that share a prompt (n samples of one problem) are prefilled once and still decode as
if each had been prefilled on its own."""

import dataclasses

import numpy as np
from flax import nnx

from starjax.infer.decoding import TokenGenerator
from starjax.infer.sampling import SamplingConfig
from starjax.model import DecoderConfig, create_decoder

CONFIG = DecoderConfig(vocab_size=97, num_layers=2, hidden_size=32, num_heads=4, num_kv_heads=1,
                       mlp_dim=64, max_seq_len=64)


def make_generator(config=CONFIG):
  params = nnx.to_pure_dict(nnx.state(create_decoder(config, seed=5)))
  return TokenGenerator(config, params, eos_id=0, chunk_size=4, prompt_bucket=8)


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


# StarCoder2's kind: GQA, RoPE and a sliding window shorter than prompt + completion (the
# MQA kind takes the same path in the tests above).
WINDOWED = dataclasses.replace(CONFIG, num_kv_heads=2, position_embedding="rope",
                               sliding_window=12)


def test_a_prompt_held_once_and_a_growing_cache_decode_like_copies():
  """Samples of one prompt attend to it held once (a PrefixCache) while each row's own cache
  grows by cache_step slots; with every row holding a copy in a full-length cache instead, the
  same seed gives the same tokens, greedy and sampled, through a shrinking batch."""
  held, copied = make_generator(WINDOWED), make_generator(WINDOWED)
  held.cache_step = 8  # grows 8 → 16 → 24 own slots over the 20 tokens
  copied.share_prefix, copied.cache_step = False, 0
  seen = []  # (prompt held once, own cache slots) of every decode chunk of `held`
  decode = held._decode  # pylint: disable=protected-access

  def recording(params, state, *args, **kwargs):
    seen.append((state.cache.prefix is not None, state.cache.segment_ids.shape[1]))
    return decode(params, state, *args, **kwargs)

  held._decode = recording  # pylint: disable=protected-access
  prompt = [5, 9, 11, 3, 17]
  stop = lambda row, ids: len(ids) >= 4 + 2 * row  # noqa: E731  rows stop at their own lengths
  for sampling in (SamplingConfig(max_new_tokens=20),
                   SamplingConfig(max_new_tokens=20, temperature=0.9, top_p=0.9, seed=4)):
    ours = held.generate([prompt] * 8, sampling, stop)
    theirs = copied.generate([prompt] * 8, sampling, stop)
    assert [g.tokens for g in ours] == [g.tokens for g in theirs]
    assert [g.finish_reason for g in ours] == [g.finish_reason for g in theirs]
    assert all(held_once for held_once, _ in seen)
    assert sorted({slots for _, slots in seen}) == [8, 16, 24]
    seen.clear()


def test_two_prompts_held_once_decode_like_copies():
  """Two problems' samples in one batch (eval's problems_per_batch): both prompts held once,
  the rows in one block per prompt (padded when the counts differ), give the tokens of every
  row holding a copy of its prompt, whatever order the rows come in, through a shrinking batch
  that drops a prompt once all its rows are done, or splits into one batch per prompt."""
  held, copied = make_generator(WINDOWED), make_generator(WINDOWED)
  copied.share_prefix, copied.cache_step = False, 0
  seen = []  # (prompts held once, rows) in every decode chunk of `held`
  decode = held._decode  # pylint: disable=protected-access

  def recording(params, state, *args, **kwargs):
    prefix = state.cache.prefix
    seen.append((0 if prefix is None else prefix.segment_ids.shape[0], len(state.token)))
    return decode(params, state, *args, **kwargs)

  held._decode = recording  # pylint: disable=protected-access
  first, second = [5, 9, 11, 3, 17], [8, 2, 2, 14, 6, 21, 7, 30, 4]  # different lengths
  stop = lambda row, ids: len(ids) >= 3 + 2 * (row % 5)  # noqa: E731
  # the rows of `first` stop after 2 tokens, those of `second` run on: first's block drops
  early = lambda row, ids: len(ids) >= (2 if row % 2 == 0 else 14)  # noqa: E731
  cases = [([first] * 4 + [second] * 4, stop, [(2, 8)]),
           ([first, second] * 4, stop, [(2, 8)]),
           ([first] * 5 + [second] * 3, stop, [(2, 10)]),   # second's block padded to 5
           ([first, second] * 8, early, [(2, 16), (1, 8)])]
  # one of first's rows runs on beside all of second's: equal blocks would carry 15 padding
  # rows, so the batch splits into a batch per prompt, first's one row decoded, then second's
  lone = lambda row, ids: len(ids) >= (2 if 0 < row < 16 else 14)  # noqa: E731
  split = [(2, 32)] + [(1, 1)] * 3 + [(1, 16)] * 3
  cases.append(([first] * 16 + [second] * 16, lone, split))
  for prompts, check, chunks in cases:
    for sampling in (SamplingConfig(max_new_tokens=16),
                     SamplingConfig(max_new_tokens=16, temperature=0.9, top_p=0.9, seed=2)):
      ours = held.generate(prompts, sampling, check)
      theirs = copied.generate(prompts, sampling, check)
      assert [g.tokens for g in ours] == [g.tokens for g in theirs]
      assert [g.finish_reason for g in ours] == [g.finish_reason for g in theirs]
      assert seen[:len(chunks)] == chunks, seen
      seen.clear()
  # Each prompt's own token budget: a row's tokens are those of a batch of its prompt alone.
  sampling = SamplingConfig(max_new_tokens=16, temperature=0.9, top_p=0.9, seed=2)
  budgets = [7] * 4 + [16] * 4
  ours = held.generate([first] * 4 + [second] * 4, sampling, max_new_tokens=budgets)
  alone = copied.generate([first] * 4, dataclasses.replace(sampling, max_new_tokens=7))
  assert [g.tokens for g in ours[:4]] == [g.tokens for g in alone]
  assert all(len(g.tokens) <= 7 for g in ours[:4]) and len(ours[4].tokens) > 7
  assert [g.finish_reason for g in ours[:4]] == [g.finish_reason for g in alone]
