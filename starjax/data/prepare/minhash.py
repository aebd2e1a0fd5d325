"""MinHash signatures and LSH band keys exactly as BigCode's StarCoder v1 near-dedup.

Shingles: the content split on `[^A-Za-z_0-9]` (empty tokens kept, case kept), word n-grams
joined by a space, as a set of UTF-8 strings. Each shingle is hashed by datasketch's
`sha1_hash32` (the first 4 bytes of SHA-1, little-endian) and permuted by datasketch's
"legacy" scheme: `((a * h + b) mod (2^61 - 1)) & (2^32 - 1)` with uint64 wrap-around in
`a * h + b`, a and b taken from datasketch itself. The signatures equal
`datasketch.MinHash(num_perm, seed, scheme="legacy")` fed the same shingles (tested); the
permutation is applied in place on blocks of shingles and the minimum taken in uint32, ~3x
faster than datasketch's update_batch for the same result.

Documents with fewer than `ngram` tokens have no shingles (BigCode's `min_length` rule). They get
no signature and no band keys: they are never near-duplicates (an empty signature would put all
of them in one giant cluster).
"""

from __future__ import annotations

import functools
import re
from typing import Optional

import numpy as np
from datasketch import MinHash
from datasketch.minhash import sha1_hash32

_NON_ALPHA = re.compile(r"[^A-Za-z_0-9]")
_MERSENNE = np.uint64((1 << 61) - 1)
_MAX_HASH = np.uint64((1 << 32) - 1)
_CHUNK = 256  # shingles per block: the [chunk, num_perm] block stays in cache, reused


def shingles(content: str, ngram: int = 5) -> set[bytes]:
  """The set of word n-grams of `content` (UTF-8), empty if it has fewer than `ngram` tokens."""
  tokens = _NON_ALPHA.split(content)
  if len(tokens) < ngram:
    return set()
  grams = set(map(" ".join, zip(*(tokens[i:] for i in range(ngram)))))
  return {g.encode("utf-8") for g in grams}


@functools.lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """datasketch's legacy permutations (a, b), each uint64 [num_perm], for this seed."""
  a, b = MinHash(num_perm=num_perm, seed=seed, scheme="legacy").permutations
  return np.asarray(a, np.uint64), np.asarray(b, np.uint64)


def signature(content: str, *, num_perm: int = 256, seed: int = 42, ngram: int = 5
              ) -> Optional[np.ndarray]:
  """uint64 [num_perm] MinHash of the document's shingles, or None if it has none."""
  grams = shingles(content, ngram)
  return signature_of_shingles(grams, num_perm=num_perm, seed=seed) if grams else None


def signature_of_shingles(grams: set[bytes], *, num_perm: int = 256, seed: int = 42
                          ) -> np.ndarray:
  """uint64 [num_perm] MinHash of a non-empty set of shingles."""
  a, b = permutations(num_perm, seed)
  hashes = np.fromiter((sha1_hash32(g) for g in grams), np.uint64, len(grams))
  out = np.full(num_perm, np.uint32(_MAX_HASH), np.uint32)
  block = np.empty((min(_CHUNK, len(hashes)), num_perm), np.uint64)
  with np.errstate(over="ignore"):
    for start in range(0, len(hashes), _CHUNK):
      h = hashes[start:start + _CHUNK, None]
      x = block[:len(h)]
      np.multiply(h, a, out=x)  # wraps mod 2^64, as datasketch's does
      np.add(x, b, out=x)
      np.remainder(x, _MERSENNE, out=x)
      # `& (2^32 - 1)` is the cast to uint32, whose min numpy vectorises (uint64's it does not).
      np.minimum(out, x.astype(np.uint32).min(axis=0), out=out)
  return out.astype(np.uint64)


def band_keys(sig: np.ndarray, bands: int, rows: int) -> list[bytes]:
  """One key per LSH band: the band's index and its `rows` hash values, as bytes.

  Two documents share a key exactly when datasketch's MinHashLSH(params=(bands, rows)) puts them
  in the same bucket of that band.
  """
  return [band.to_bytes(2, "big") + sig[band * rows:(band + 1) * rows].tobytes()
          for band in range(bands)]


def detection_probability(similarity: float, bands: int = 25, rows: int = 10) -> float:
  """P(two documents of Jaccard `similarity` share at least one band): 1-(1-s^rows)^bands."""
  return 1.0 - (1.0 - similarity ** rows) ** bands
