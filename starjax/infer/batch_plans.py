"""Which rows a decoding batch goes on with, between chunks, as its rows finish.

A step costs every row of the batch, finished or not, so `TokenGenerator.generate` gathers the
rows still decoding into a smaller batch whenever that saves rows. Sizes are powers of two, so
that a run compiles a handful of decode shapes rather than one per row count. A batch holding a
few prompts once keeps its rows in equal blocks, one per prompt (the prefix attention is one
batched GEMM over the blocks): `shrink` keeps them equal, and `split_by_prompt` says when
separate batches, one per prompt, would carry far fewer rows than equal blocks.
"""

from __future__ import annotations

import numpy as np


def _live_rows(done: np.ndarray, groups: int):
  """(block size, each block's live row indices, the blocks that have any)."""
  block = len(done) // groups
  live = [np.flatnonzero(~done[j * block:(j + 1) * block]) + j * block for j in range(groups)]
  return block, live, [j for j in range(groups) if len(live[j])]


def shrink(done: np.ndarray, groups: int):
  """How a batch of `groups` equal blocks of rows (done: bool [b], each row's) shrinks: every
  block that still has live rows keeps them, padded (with its first row) to the next power of
  two at or above the most any block has; blocks with none are dropped. Returns (rows [b'],
  padding bool [b'], kept blocks) when that is fewer rows than b, else None."""
  block, live, kept = _live_rows(done, groups)
  size = 1 << (max(len(live[j]) for j in kept) - 1).bit_length()
  if len(kept) * size >= len(done):
    return None
  rows = np.concatenate([np.concatenate((live[j], np.full(size - len(live[j]), j * block)))
                         for j in kept])
  padding = np.concatenate([np.arange(size) >= len(live[j]) for j in kept])
  return rows, padding, np.asarray(kept)


def split_by_prompt(done: np.ndarray, groups: int):
  """When a batch of `groups` equal blocks (one per prompt held once) would decode on as at
  least a third fewer rows as one batch per prompt, those batches: [(rows, padding, prompt)]
  for each block with live rows, its live rows padded to the next power of two (or the whole
  block, if that is no more); else None. A block with few rows left beside one with many is
  what makes equal blocks carry padding (shrink pads every block to the largest)."""
  block, live, kept = _live_rows(done, groups)
  if len(kept) < 2:
    return None  # one prompt left: shrink drops the others' blocks
  together = shrink(done, groups)
  rows_together = len(done) if together is None else len(together[0])
  parts = []
  for j in kept:
    size = 1 << (len(live[j]) - 1).bit_length()
    if size >= block:
      rows, padding = np.arange(j * block, (j + 1) * block), np.zeros(block, bool)
    else:
      rows = np.concatenate((live[j], np.full(size - len(live[j]), j * block)))
      padding = np.arange(size) >= len(live[j])
    parts.append((rows, padding, j))
  if 3 * sum(len(rows) for rows, _, _ in parts) > 2 * rows_together:
    return None
  return parts
