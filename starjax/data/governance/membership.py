"""The membership filter: a Bloom filter over normalised 50-character chunks of the training data
(the "Data Portraits" test BigCode released with StarCoder).

Normalisation collapses every run of whitespace to one space and strips the ends, so a copy that
was re-indented or re-wrapped still matches. Each training document's normalised text is cut into
non-overlapping CHUNK-character chunks (offsets 0, 50, 100, …; a shorter tail is dropped). A query
tests the window at *every* offset of its normalised text, so any span whose normalised text is
at least 2·CHUNK − 1 = 99 characters long contains one whole chunk of its source and is found
(no false negatives); an unrelated window hits with the filter's false-positive rate.

The filter is a numpy bit array; each chunk's CHUNK characters (UTF-8) are hashed once with
XXH3-128 (the xxhash library, seed 0: 6x faster than hashlib's BLAKE2b on 50-byte strings, which
is what a query of every offset spends its time on), and its `num_hashes` bit positions come
from the two 64-bit halves by double hashing (Kirsch & Mitzenmacher 2006: h1 + i·h2 mod m).
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Iterable, Sequence

import numpy as np
import xxhash

CHUNK = 50
HASH = "xxh3-128 seed 0, double hashing"
_WHITESPACE = re.compile(r"\s+")


def normalize(text: str) -> tuple[str, np.ndarray]:
  """Collapses whitespace runs to one space and strips both ends.

  Returns (normalised text, int64 [len(normalised)]: the offset in `text` of each of its
  characters; a collapsed run maps to its first whitespace character).
  """
  pieces, offsets = [], []
  position = 0
  for match in _WHITESPACE.finditer(text):
    if match.start() > position:
      pieces.append(text[position:match.start()])
      offsets.append(np.arange(position, match.start(), dtype=np.int64))
    pieces.append(" ")
    offsets.append(np.array([match.start()], dtype=np.int64))
    position = match.end()
  if position < len(text):
    pieces.append(text[position:])
    offsets.append(np.arange(position, len(text), dtype=np.int64))
  normalized = "".join(pieces)
  offset = np.concatenate(offsets) if offsets else np.zeros(0, dtype=np.int64)
  start = 1 if normalized.startswith(" ") else 0
  end = len(normalized) - 1 if normalized.endswith(" ") and len(normalized) > start else len(
      normalized)
  return normalized[start:end], offset[start:end]


def normalize_text(text: str) -> str:
  """normalize() without the offsets. str.split() splits on the characters `\\s` matches
  (str.isspace) and is ~10x faster than the regular expression."""
  return " ".join(text.split())


def training_chunks(text: str) -> list[str]:
  """The non-overlapping CHUNK-character chunks of a training document's normalised text."""
  normalized = normalize_text(text)
  return [normalized[i:i + CHUNK] for i in range(0, len(normalized) - CHUNK + 1, CHUNK)]


def num_chunks(text: str) -> int:
  """len(training_chunks(text)), without building them."""
  return len(normalize_text(text)) // CHUNK


def chunk_hashes(chunks: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
  """The two 64-bit hash halves of each chunk: (uint64 [n], uint64 [n])."""
  if not chunks:
    empty = np.zeros(0, dtype=np.uint64)
    return empty, empty
  digest = xxhash.xxh3_128_digest
  digests = b"".join(digest(c.encode("utf-8", "surrogatepass")) for c in chunks)
  halves = np.frombuffer(digests, dtype="<u8").reshape(-1, 2)
  return halves[:, 0], halves[:, 1]


@dataclasses.dataclass(frozen=True)
class FilterShape:
  """num_bits m and num_hashes k of a Bloom filter for `capacity` items at `target_fp_rate`."""
  num_bits: int
  num_hashes: int

  @classmethod
  def for_capacity(cls, capacity: int, target_fp_rate: float) -> "FilterShape":
    """The optimal shape, m = -n ln p / (ln 2)² and k ≈ m/n · ln 2, with m grown by 1 % steps
    until the integer k gives an expected rate ≤ target_fp_rate at n = capacity."""
    if not 0.0 < target_fp_rate < 1.0:
      raise ValueError(f"false-positive rate {target_fp_rate}: must be within (0, 1)")
    n = max(1, capacity)
    bits = max(64, math.ceil(-n * math.log(target_fp_rate) / math.log(2) ** 2))
    while True:
      bits = -(-bits // 8) * 8  # whole bytes
      ideal = bits / n * math.log(2)
      shape = min((cls(bits, max(1, k)) for k in (math.floor(ideal), math.ceil(ideal))),
                  key=lambda s: s.expected_fp_rate(n))
      if shape.expected_fp_rate(n) <= target_fp_rate:
        return shape
      bits = math.ceil(bits * 1.01)

  def expected_fp_rate(self, items: int) -> float:
    """(1 - e^(-k n / m))^k."""
    return (1.0 - math.exp(-self.num_hashes * items / self.num_bits)) ** self.num_hashes


class BloomFilter:
  """A Bloom filter of CHUNK-character strings over a packed bit array (uint8 [num_bits / 8])."""

  def __init__(self, shape: FilterShape, bits: np.ndarray | None = None):
    self.shape = shape
    if bits is None:
      bits = np.zeros(shape.num_bits // 8, dtype=np.uint8)
    if bits.dtype != np.uint8 or bits.shape != (shape.num_bits // 8,):
      raise ValueError(f"bit array {bits.dtype}{list(bits.shape)} does not fit a filter of "
                       f"{shape.num_bits} bits")
    self.bits = bits

  def _positions(self, h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
    """uint64 [n, num_hashes] bit positions (uint64 arithmetic wraps, as double hashing wants)."""
    i = np.arange(self.shape.num_hashes, dtype=np.uint64)
    return (h1[:, None] + i[None, :] * h2[:, None]) % np.uint64(self.shape.num_bits)

  def add(self, chunks: Sequence[str]) -> None:
    """Inserts the chunks."""
    self.add_hashes(*chunk_hashes(chunks))

  def add_hashes(self, h1: np.ndarray, h2: np.ndarray) -> None:
    if not len(h1):
      return
    # Sorted positions, their bit masks OR-ed per byte: one fancy-indexed update instead of
    # ufunc.at's element-wise loop (several times faster on large batches; np.unique is slow).
    positions = np.sort(self._positions(h1, h2).ravel())
    byte = (positions >> np.uint64(3)).astype(np.int64)
    masks = np.uint8(1) << (positions & np.uint64(7)).astype(np.uint8)
    starts = np.flatnonzero(np.concatenate(([True], byte[1:] != byte[:-1])))
    self.bits[byte[starts]] |= np.bitwise_or.reduceat(masks, starts)

  def contains(self, chunks: Sequence[str]) -> np.ndarray:
    """bool [len(chunks)]: whether each chunk may be in the filter."""
    return self.contains_hashes(*chunk_hashes(chunks))

  def contains_hashes(self, h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
    positions = self._positions(h1, h2)
    set_bits = (self.bits[(positions >> np.uint64(3)).astype(np.int64)]
                >> (positions & np.uint64(7)).astype(np.uint8)) & 1
    return set_bits.all(axis=1)

  def union(self, other: "BloomFilter") -> "BloomFilter":
    """In place: the filter of both filters' items (same shape)."""
    if other.shape != self.shape:
      raise ValueError(f"cannot merge filters of shapes {self.shape} and {other.shape}")
    np.bitwise_or(self.bits, other.bits, out=self.bits)
    return self

  def fill_ratio(self) -> float:
    """Fraction of bits set."""
    return float(np.unpackbits(self.bits).mean()) if self.bits.size else 0.0


@dataclasses.dataclass(frozen=True)
class Span:
  """Characters [start, end) of a query text."""
  start: int
  end: int


def query_windows(text: str) -> tuple[str, np.ndarray, list[str]]:
  """(normalised text, its offsets into `text`, the CHUNK-character window at every offset)."""
  normalized, offsets = normalize(text)
  windows = [normalized[i:i + CHUNK] for i in range(len(normalized) - CHUNK + 1)]
  return normalized, offsets, windows


def find_spans(bloom: BloomFilter, text: str) -> list[Span]:
  """The spans of `text` whose windows hit the filter: overlapping or adjacent hit windows merge.

  Offsets are characters of `text` (not of its normalised form); a span ends after the last
  character of its last window.
  """
  _, offsets, windows = query_windows(text)
  if not windows:
    return []
  hits = np.flatnonzero(bloom.contains(windows))
  return _merge(hits, offsets)


def _merge(hits: Iterable[int], offsets: np.ndarray) -> list[Span]:
  spans: list[Span] = []
  start = end = None
  for i in hits:
    if start is not None and i <= end:  # overlaps or touches the current span
      end = int(i) + CHUNK
      continue
    if start is not None:
      spans.append(Span(int(offsets[start]), int(offsets[end - 1]) + 1))
    start, end = int(i), int(i) + CHUNK
  if start is not None:
    spans.append(Span(int(offsets[start]), int(offsets[end - 1]) + 1))
  return spans


def coverage(spans: Sequence[Span], length: int) -> float:
  """Fraction of `length` characters inside the (disjoint) spans."""
  return sum(s.end - s.start for s in spans) / length if length else 0.0
