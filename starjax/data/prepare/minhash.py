"""MinHash signatures and LSH band keys exactly as BigCode's StarCoder v1 near-dedup.

Shingles: the content split on `[^A-Za-z_0-9]` (empty tokens kept, case kept), word n-grams
joined by a space, as a set of UTF-8 strings. Each shingle is hashed by datasketch's
`sha1_hash32` (the first 4 bytes of SHA-1, little-endian) and permuted by datasketch's
"legacy" scheme: `((a * h + b) mod (2^61 - 1)) & (2^32 - 1)` with uint64 wrap-around in
`a * h + b`, a and b drawn as datasketch draws them. The signatures equal
`datasketch.MinHash(num_perm, seed, scheme="legacy")` fed the same shingles (tested).

`signatures` does a batch of documents at once, in the compiled kernel (`minhash_kernel`: one
numba loop, OpenSSL's SHA-1 per shingle, no Python object per shingle) where it loads. The numpy
path here is the reference it is tested against and the fallback: the shingles of all documents
are hashed and permuted as one array, block by block, and each document's minimum is a segment
reduction, so the per-document cost of numpy calls is paid once per block.

Documents with fewer than `ngram` tokens have no shingles (BigCode's `min_length` rule). They get
no signature and no band keys: they are never near-duplicates (an empty signature would put all
of them in one giant cluster).
"""

from __future__ import annotations

import functools
import hashlib
from typing import Optional, Sequence

import numpy as np

from starjax.data.prepare import minhash_kernel

_WORD_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_0123456789")
_SEPARATOR_TO_SPACE = bytes(c if c in _WORD_BYTES else ord(" ") for c in range(256))
_IS_WORD = np.array([c in _WORD_BYTES for c in range(129)])
_SPACE = ord(" ")
_MERSENNE = np.uint64((1 << 61) - 1)
_MAX_HASH = np.uint32((1 << 32) - 1)
_61 = np.uint64(61)
_OFFSET = np.uint64(8)  # > the largest hi (7): see _offset_permute
_BLOCK = 256  # shingle rows per block: the [block, num_perm] scratch stays in cache
_SHA1 = hashlib.sha1()  # never updated: the template each shingle's hasher is copied from


def _joined(content: str) -> bytes:
  """The tokens joined by single spaces, as bytes.

  Splitting on a one-character pattern and joining with " " is replacing each separator by " ";
  what is left is ASCII, so its UTF-8 is its ASCII. ASCII text goes through a byte table; other
  text as code points (UTF-32) through a numpy table, one byte per code point, as the regular
  expression `[^A-Za-z_0-9]` sees it (the regex costs ~30 ns a character).
  """
  if content.isascii():
    return content.encode("ascii").translate(_SEPARATOR_TO_SPACE)
  codes = np.frombuffer(content.encode("utf-32-le", "surrogatepass"), np.uint32)
  word = _IS_WORD[np.minimum(codes, 128)]  # every code point from 128 up is a separator
  return np.where(word, codes, _SPACE).astype(np.uint8).tobytes()


def _shingle_set(content: str, ngram: int) -> set[bytes]:
  """Word n-grams as slices of the joined text: token i runs between the (i-1)-th and i-th
  space, so an n-gram is one slice, found with numpy instead of n joins per shingle.

  Most repeated shingles are short (indentation is a run of empty tokens: "    " is five of
  them), so shingles of at most 8 bytes are deduplicated in numpy first, packed into one uint64
  each (zero-padded: the text holds no NUL), and only the longer ones are sliced one by one.
  """
  text = _joined(content)
  chars = np.frombuffer(text, np.uint8)
  spaces = np.flatnonzero(chars == _SPACE)
  count = len(spaces) + 2 - ngram  # tokens - ngram + 1
  if count <= 0:
    return set()
  starts = np.concatenate(([0], spaces[:count - 1] + 1))
  ends = np.concatenate((spaces, [len(text)]))[ngram - 1:]
  short = ends - starts <= 8
  long_ = ~short
  grams = set(map(text.__getitem__, map(slice, starts[long_].tolist(), ends[long_].tolist())))
  if short.any():
    first, lengths = starts[short], (ends - starts)[short]
    offsets = np.arange(8)
    padded = np.concatenate((chars, np.zeros(8, np.uint8)))  # a gram may end the text
    packed = padded[first[:, None] + offsets]
    packed[offsets >= lengths[:, None]] = 0
    unique = np.unique(packed.view(np.uint64).ravel())
    grams.update(unique.view("S8").tolist())  # "S" drops the trailing NUL padding
  return grams


def shingles(content: str, ngram: int = 5) -> set[bytes]:
  """The set of word n-grams of `content` (UTF-8), empty if it has fewer than `ngram` tokens."""
  return _shingle_set(content, ngram)


def _hashes(grams) -> np.ndarray:
  """sha1_hash32 of each shingle, uint64 [len(grams)]: SHA-1's first 4 bytes, little-endian.

  hashlib's SHA-1 (the function datasketch's sha1_hash32 calls). Each hasher is a copy of a
  fresh one, which skips setting up the digest every time (~10 % of the SHA-1 cost for short
  shingles); the 4-byte prefixes are cut from the concatenated digests by numpy rather than by
  struct per shingle.
  """
  copy = _SHA1.copy
  digests = []
  append = digests.append
  for gram in grams:
    h = copy()
    h.update(gram)
    append(h.digest())
  digests = np.frombuffer(b"".join(digests), np.uint8)
  return digests.reshape(-1, 20)[:, :4].copy().view("<u4").ravel().astype(np.uint64)


@functools.lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """datasketch's legacy permutations (a, b), each uint64 [num_perm], for this seed.

  Drawn as datasketch's `MinHash._init_permutations` draws them (a in [1, p), then b in [0, p)
  per permutation from `RandomState(seed)`; equal to its `.permutations`, tested) rather than
  by constructing a MinHash: importing datasketch pulls in scipy, ~0.5 CPU-s in every Beam
  worker process that unpickles this module.
  """
  gen = np.random.RandomState(seed)
  ab = np.array([(gen.randint(1, _MERSENNE, dtype=np.uint64),
                  gen.randint(0, _MERSENNE, dtype=np.uint64)) for _ in range(num_perm)],
                dtype=np.uint64)
  return np.ascontiguousarray(ab[:, 0]), np.ascontiguousarray(ab[:, 1])


def _offset_permute(hashes: np.ndarray, a: np.ndarray, b_offset: np.ndarray, x: np.ndarray,
                    carry: np.ndarray, out: np.ndarray) -> np.ndarray:
  """out[i, j] = datasketch's permuted hash of hashes[i] plus _OFFSET, where that is exact.

  hashes: uint64 [n, 1]; b_offset: b + _OFFSET; x, carry: uint64 [n, num_perm] scratch; out:
  uint32 [n, num_perm]. Without a division: with x = a*h + b (mod 2^64) = hi * 2^61 + lo (hi =
  x >> 61 ≤ 7), x ≡ lo + hi (mod 2^61 - 1) and lo shares x's low 32 bits, so when lo + hi <
  2^61 - 1 the result's low 32 bits are those of x + hi. Computing from x' = x + _OFFSET
  instead gives (value + _OFFSET) mod 2^32 wherever lo ≤ 2^61 - 1 - _OFFSET (then the shortcut
  is exact and x' carries nothing into bit 61), and a value below 2 * _OFFSET where it is not
  (lo' = lo + _OFFSET - 2^61 and the new hi are both small). So every entry that may be wrong,
  and every exact one that wrapped past 2^32 under the offset, is below 2 * _OFFSET: a
  minimum at or above that is exact (`_segment_minima` takes _OFFSET off), and one below it
  sends its document to the exact path (a document of 3,000 shingles: about one in 350).
  """
  np.multiply(hashes, a, out=x)  # wraps mod 2^64, as datasketch's does
  np.add(x, b_offset, out=x)
  np.right_shift(x, _61, out=carry)
  np.add(x, carry, out=carry)
  np.copyto(out, carry, casting="unsafe")  # the uint32 cast is the `& (2^32 - 1)`
  return out


def _exact_minimum(hashes: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """uint32 [num_perm]: min over hashes (uint64 [n]) of ((a*h + b) mod 2^64 mod (2^61 - 1))
  & (2^32 - 1), datasketch's formula as written, block by block."""
  out = np.full(len(a), _MAX_HASH, np.uint32)
  for lo in range(0, len(hashes), _BLOCK):
    x = hashes[lo:lo + _BLOCK, None] * a + b
    np.remainder(x, _MERSENNE, out=x)
    np.minimum(out, x.astype(np.uint32).min(axis=0), out=out)  # the mask, then the minimum
  return out


def _segment_minima(hashes: np.ndarray, starts: np.ndarray, a: np.ndarray, b: np.ndarray
                    ) -> np.ndarray:
  """uint32 [len(starts), len(a)]: the permuted minimum of each segment of `hashes`.

  hashes: uint64 [n], the concatenated shingle hashes of the documents; starts: int [docs],
  where each document's (non-empty) segment begins; a, b: the permutations. Blocks of rows are
  permuted into reused buffers; each document's piece of a block is reduced and folded into
  its row of `out`. Documents whose offset minimum is in the doubtful range are redone exactly.
  """
  num_perm = len(a)
  b_offset = b + _OFFSET
  out = np.full((len(starts), num_perm), _MAX_HASH, np.uint32)
  ends = np.append(starts[1:], len(hashes)).tolist()
  starts = starts.tolist()
  rows = min(_BLOCK, len(hashes))
  x, carry = np.empty((rows, num_perm), np.uint64), np.empty((rows, num_perm), np.uint64)
  permuted = np.empty((rows, num_perm), np.uint32)
  doc = 0
  with np.errstate(over="ignore"):
    for lo in range(0, len(hashes), _BLOCK):
      hi = min(lo + _BLOCK, len(hashes))
      n = hi - lo
      block = _offset_permute(hashes[lo:hi, None], a, b_offset, x[:n], carry[:n], permuted[:n])
      while doc < len(starts) and starts[doc] < hi:
        piece = block[max(starts[doc], lo) - lo:min(ends[doc], hi) - lo]
        np.minimum(out[doc], piece.min(axis=0), out=out[doc])
        if ends[doc] > hi:
          break  # continues in the next block
        doc += 1
    doubtful = (out < 2 * _OFFSET).any(axis=1)
    out -= np.uint32(_OFFSET)
    for d in np.flatnonzero(doubtful).tolist():
      out[d] = _exact_minimum(hashes[starts[d]:ends[d]], a, b)
  return out


def signatures(contents: Sequence[str], *, num_perm: int = 256, seed: int = 42, ngram: int = 5
               ) -> tuple[np.ndarray, np.ndarray]:
  """MinHash signatures of a batch of documents.

  Returns (signatures, has_shingles): uint32 [documents with shingles, num_perm] (the values
  are below 2^32, so uint32 holds datasketch's uint64 hashvalues exactly) and bool
  [len(contents)], False for documents with fewer than `ngram` tokens (no signature).
  The compiled kernel (`minhash_kernel`) computes them where it loads, else numpy; the two
  are equal.
  """
  if minhash_kernel.unavailable_reason() is None:
    return minhash_kernel.signatures([_joined(c) for c in contents], ngram,
                                     *permutations(num_perm, seed))
  return _numpy_signatures(contents, num_perm=num_perm, seed=seed, ngram=ngram)


def _numpy_signatures(contents: Sequence[str], *, num_perm: int, seed: int, ngram: int
                      ) -> tuple[np.ndarray, np.ndarray]:
  """`signatures` without the compiled kernel: hashlib per distinct shingle, numpy blocks."""
  per_doc = [_hashes(grams) if (grams := _shingle_set(c, ngram)) else None for c in contents]
  has = np.array([h is not None for h in per_doc], bool)
  kept = [h for h in per_doc if h is not None]
  if not kept:
    return np.empty((0, num_perm), np.uint32), has
  lengths = np.fromiter(map(len, kept), np.int64, len(kept))
  starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
  return _segment_minima(np.concatenate(kept), starts, *permutations(num_perm, seed)), has


def signature(content: str, *, num_perm: int = 256, seed: int = 42, ngram: int = 5
              ) -> Optional[np.ndarray]:
  """uint64 [num_perm] MinHash of the document's shingles, or None if it has none."""
  sigs, has = signatures([content], num_perm=num_perm, seed=seed, ngram=ngram)
  return sigs[0].astype(np.uint64) if has[0] else None


def signature_of_shingles(grams: set[bytes], *, num_perm: int = 256, seed: int = 42
                          ) -> np.ndarray:
  """uint64 [num_perm] MinHash of a non-empty set of shingles."""
  hashes = _hashes(grams)
  minima = _segment_minima(hashes, np.zeros(1, np.int64), *permutations(num_perm, seed))
  return minima[0].astype(np.uint64)


def band_keys_batch(sigs: np.ndarray, bands: int, rows: int) -> list[list[bytes]]:
  """Per document, one key per LSH band: the band's index (2 bytes) and its `rows` hash values
  (uint32 each), as bytes. sigs: uint32 or uint64 [documents, ≥ bands * rows].

  Two documents share a key exactly when datasketch's MinHashLSH(params=(bands, rows)) puts them
  in the same bucket of that band (the key is a one-to-one encoding of (band, values)).
  """
  docs = len(sigs)
  values = np.ascontiguousarray(sigs[:, :bands * rows], np.uint32).reshape(docs, bands, rows)
  width = 2 + 4 * rows
  keys = np.empty((docs, bands, width), np.uint8)
  keys[:, :, 0] = np.arange(bands) >> 8
  keys[:, :, 1] = np.arange(bands) & 0xFF
  keys[:, :, 2:] = values.view(np.uint8).reshape(docs, bands, 4 * rows)
  flat = keys.reshape(docs * bands, width).view(f"V{width}").ravel().tolist()
  return [flat[i * bands:(i + 1) * bands] for i in range(docs)]


def band_keys(sig: np.ndarray, bands: int, rows: int) -> list[bytes]:
  """The LSH band keys of one signature (see band_keys_batch)."""
  return band_keys_batch(np.asarray(sig)[None, :], bands, rows)[0]


def detection_probability(similarity: float, bands: int = 25, rows: int = 10) -> float:
  """P(two documents of Jaccard `similarity` share at least one band): 1-(1-s^rows)^bands."""
  return 1.0 - (1.0 - similarity ** rows) ** bands
