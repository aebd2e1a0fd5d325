"""Randomness keyed by index: hashes, uniforms and permutations that are pure functions of
integers (seed, task, epoch, document index, stream), never of a stateful generator.

    keyed_uniform(key, doc, stream)   → float64 in [0, 1) per document (vectorized over doc)
    feistel_permutation(n, key)       → a permutation of range(n) (cycle-walking Feistel)
    epoch_order(chunk_sizes, key, window_chunks)
                                      → the documents of one epoch in training order

All arithmetic is uint64 numpy with explicit wrap-around, so results are the same on every
machine, process count and numpy version; nothing depends on where a run was resumed.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_ROUNDS = 6


def splitmix64(x: np.ndarray | int) -> np.ndarray:
  """SplitMix64's finalizer: a bijective, well-mixing map of uint64 → uint64 (vectorized)."""
  x = np.asarray(x, dtype=np.uint64)
  with np.errstate(over="ignore"):
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def derive_key(*parts: int | str) -> int:
  """A uint64 key from a tuple such as (seed, task name, epoch): stable across runs."""
  text = "\0".join(str(p) for p in parts).encode()
  return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def keyed_hash(key: int, index: np.ndarray | int, stream: int = 0) -> np.ndarray:
  """uint64 hash of (key, index, stream); index may be an array."""
  index = np.asarray(index, dtype=np.uint64)
  with np.errstate(over="ignore"):
    mixed = splitmix64(np.uint64(key) ^ splitmix64(np.uint64(stream)))
    return splitmix64(mixed ^ splitmix64(index))


def keyed_uniform(key: int, index: np.ndarray | int, stream: int = 0) -> np.ndarray:
  """Uniform float64 in [0, 1) from the top 53 bits of keyed_hash."""
  return (keyed_hash(key, index, stream) >> np.uint64(11)).astype(np.float64) * (2.0 ** -53)


def feistel_permutation(n: int, key: int, index: np.ndarray | None = None) -> np.ndarray:
  """π(index) for a pseudo-random permutation π of range(n) keyed by `key`.

  A balanced Feistel network on the smallest even number of bits covering n, with cycle walking
  (re-applying the network until the value falls below n), so π is a bijection of range(n).
  Any single index costs O(1) (expected < 4 network passes); index=None evaluates all of range(n).
  """
  if n <= 0:
    return np.zeros(0, np.int64)
  x = np.arange(n, dtype=np.uint64) if index is None else np.asarray(index, np.uint64).copy()
  if n == 1:
    return np.zeros_like(x, dtype=np.int64)
  half = max(1, ((n - 1).bit_length() + 1) // 2)
  mask = np.uint64((1 << half) - 1)
  round_keys = [np.uint64(derive_key(key, "feistel", r)) for r in range(_ROUNDS)]

  def network(v: np.ndarray) -> np.ndarray:
    left, right = v >> np.uint64(half), v & mask
    for rk in round_keys:
      left, right = right, left ^ (splitmix64(right ^ rk) & mask)
    return (left << np.uint64(half)) | right

  x = network(x)
  outside = x >= np.uint64(n)
  while outside.any():
    x[outside] = network(x[outside])
    outside = x >= np.uint64(n)
  return x.astype(np.int64)


def epoch_order(chunk_sizes: Sequence[int], key: int, window_chunks: int) -> np.ndarray:
  """The documents of one epoch in training order: int64 [sum(chunk_sizes)].

  Documents are numbered in storage order and stored in chunks (parquet row groups) of the
  given sizes. The chunks are permuted (Feistel), then taken `window_chunks` at a time, and the
  documents within each window are permuted again: a full shuffle at the chunk level and a
  local one within windows, so that reading stays within a few cached chunks at a time.
  """
  sizes = np.asarray(chunk_sizes, np.int64)
  starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]) if len(sizes) else np.zeros(0, np.int64)
  chunks = feistel_permutation(len(sizes), derive_key(key, "chunks"))
  pieces = []
  for w, first in enumerate(range(0, len(chunks), window_chunks)):
    window = chunks[first:first + window_chunks]
    docs = np.concatenate([np.arange(starts[c], starts[c] + sizes[c]) for c in window])
    pieces.append(docs[feistel_permutation(len(docs), derive_key(key, "window", w))])
  return np.concatenate(pieces) if pieces else np.zeros(0, np.int64)
