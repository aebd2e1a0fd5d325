"""A deterministic, learnable batch source for trainer tests (no corpus needed).

Each row packs a few "documents": an arithmetic progression of token ids modulo the vocab,
so the next token is predictable and loss falls quickly. Batch i depends only on (seed, i,
shard), like the real pipeline, so resumed runs see the same data.
"""

import os
import signal

import gin
import numpy as np


def synthetic_batch(index: int, *, seq_len: int, batch_size: int, seed: int = 0,
                    shard_index: int = 0, vocab_size: int = 128) -> dict:
  rng = np.random.default_rng([seed, index, shard_index])
  tokens = np.zeros((batch_size, seq_len + 1), np.int32)
  segments = np.zeros((batch_size, seq_len + 1), np.int32)
  positions = np.zeros((batch_size, seq_len + 1), np.int32)
  for row in range(batch_size):
    start, segment = 0, 1
    while start < seq_len + 1:
      length = int(rng.integers(seq_len // 4, seq_len + 1))
      end = min(start + length, seq_len + 1)
      first, stride = rng.integers(1, vocab_size), rng.integers(1, 4)
      tokens[row, start:end] = (first + stride * np.arange(end - start)) % (vocab_size - 1) + 1
      segments[row, start:end] = segment
      positions[row, start:end] = np.arange(end - start)
      start, segment = end, segment + 1
  inputs, targets = tokens[:, :-1], tokens[:, 1:]
  same = segments[:, :-1] == segments[:, 1:]
  return {
      "decoder_input_tokens": inputs,
      "decoder_target_tokens": targets,
      "decoder_loss_weights": same.astype(np.int32),
      "decoder_segment_ids": segments[:, :-1],
      "decoder_positions": positions[:, :-1],
  }


@gin.configurable
def synthetic_batches(name: str, *, seq_len: int, batch_size: int, seed: int = 0,
                      shard_index: int = 0, num_shards: int = 1, start_batch: int = 0,
                      vocab_size: int = 128):
  del name
  index = start_batch
  while True:
    # The global batch is the same however many processes share it; each takes its rows.
    full = synthetic_batch(index, seq_len=seq_len, batch_size=batch_size * num_shards,
                           seed=seed, vocab_size=vocab_size)
    rows = slice(shard_index * batch_size, (shard_index + 1) * batch_size)
    yield {k: v[rows] for k, v in full.items()}
    index += 1


@gin.configurable
def synthetic_validation(name: str, *, seq_len: int, batch_size: int, num_batches: int,
                         shard_index: int = 0, num_shards: int = 1, vocab_size: int = 128):
  del name
  rows = slice(shard_index * batch_size, (shard_index + 1) * batch_size)
  return [{k: v[rows] for k, v in synthetic_batch(
      10_000 + i, seq_len=seq_len, batch_size=batch_size * num_shards, seed=99,
      vocab_size=vocab_size).items()} for i in range(num_batches)]


class SigtermAt:
  """A trainer hook that sends this process SIGTERM at one step: a simulated preemption."""

  def __init__(self, step: int):
    self.step = step
    self.every = 1

  def __call__(self, context):
    if context.step == self.step:
      os.kill(os.getpid(), signal.SIGTERM)
    return None


@gin.configurable
def sigterm_at(step: int = 4):
  return SigtermAt(step)
