"""The MinHash signature kernel compiled: no Python object per shingle.

`minhash.signatures` in numpy pays, for every distinct shingle, a bytes slice, a set insert and
three hashlib calls (~1.5 µs together), and permutes in six passes over memory. This kernel does
the same computation in one numba loop per document:

- shingles are found in the space-joined text (`minhash._joined`: every separator became a
  space, so an n-gram is the bytes from the start of token i to the end of token i + n - 1);
- each occurrence is hashed by OpenSSL's SHA-1 (`SHA1_Init/Update/Final` of the libcrypto that
  this Python's hashlib is linked against: the same SHA-1, ~70 ns a shingle instead of ~450 ns
  through hashlib's objects), its first 4 bytes little-endian as datasketch's `sha1_hash32`;
- the 32-bit values are sorted and each distinct one is permuted once. Deduplicating the hash
  values instead of the shingles gives the same minima: equal shingles have equal hashes, and a
  repeated value cannot change a minimum;
- the permutation is datasketch's legacy formula, exactly: x = a*h + b with uint64 wrap-around,
  x mod (2^61 - 1) as (x & p) + (x >> 61) less p when that reaches p (x >> 61 ≤ 7, so one
  subtraction is always enough), then the low 32 bits.

`minhash.signatures` uses this kernel where numba and libcrypto's SHA-1 entry points load (every
supported platform; `unavailable_reason()` says why not otherwise) and its numpy path elsewhere;
both equal datasketch (tested). Compiled code is cached beside this module (numba's `cache=True`),
so a Beam worker loads it instead of compiling (~2 s once per machine). The numba code itself is
`minhash_compiled`, imported only here, after libcrypto is loaded.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
from typing import Optional, Sequence

import numpy as np


def _hashlib_libcrypto() -> Optional[str]:
  """The path of the libcrypto that hashlib's `_hashlib` extension has loaded, if any.

  Taking the very library hashlib uses keeps one SHA-1 implementation per process; a name
  search (`find_library`) is the fallback where /proc is not there.
  """
  try:
    import _hashlib  # noqa: F401  (loads libcrypto into this process)
  except ImportError:
    return ctypes.util.find_library("crypto")
  try:
    with open("/proc/self/maps") as maps:
      for line in maps:
        path = line.split(None, 5)[-1].strip()
        if "/libcrypto" in path and path.startswith("/"):
          return path
  except OSError:
    pass
  return ctypes.util.find_library("crypto")


@functools.lru_cache(maxsize=1)
def _compiled():
  """((minima, fold), None) once numba has the kernels, or (None, reason) where it cannot
  (said once per process: the numpy path is ~3.5x slower, not wrong)."""
  kernels, reason = _load()
  if reason:
    logging.getLogger(__name__).warning("near-dedup uses the numpy MinHash path: %s", reason)
  return kernels, reason


def _load():
  path = _hashlib_libcrypto()
  if not path:
    return None, "no libcrypto found (hashlib is not linked against OpenSSL)"
  try:
    library = ctypes.CDLL(path)
    for name in ("SHA1_Init", "SHA1_Update", "SHA1_Final"):
      getattr(library, name)
  except (OSError, AttributeError) as error:
    return None, f"{path} has no SHA1_Init/SHA1_Update/SHA1_Final: {error}"
  try:
    import llvmlite.binding
    llvmlite.binding.load_library_permanently(path)  # before any kernel is compiled or loaded
    from starjax.data.prepare import minhash_compiled
  except ImportError as error:
    return None, f"numba is not installed ({error}); pip install -r requirements.txt"
  return (minhash_compiled.minima, minhash_compiled.fold), None


def unavailable_reason() -> Optional[str]:
  """None where the compiled kernel works here, else why not (the numpy path is used)."""
  return _compiled()[1]


def signatures(joined: Sequence[bytes], ngram: int, a: np.ndarray, b: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
  """(uint32 [documents with shingles, num_perm], bool [documents]) from joined texts.

  `joined` are `minhash._joined` of each document. Call only where `unavailable_reason()` is
  None.
  """
  minima, _ = _kernels()
  lengths = np.fromiter(map(len, joined), np.int64, len(joined))
  bounds = np.concatenate(([0], np.cumsum(lengths)))
  text = np.frombuffer(b"".join(joined) or b"\0", np.uint8)
  out = np.empty((len(joined), len(a)), np.uint32)
  has = np.zeros(len(joined), bool)
  rows = minima(text, bounds, ngram, np.ascontiguousarray(a, np.uint64),
                np.ascontiguousarray(b, np.uint64), out, has)
  return out[:rows], has


def permuted_minimum(hashes: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """uint32 [num_perm]: the compiled permutation's minimum over 32-bit `hashes` (the part of
  the kernel after SHA-1, on chosen values: where the residue wraps is tested through it)."""
  _, fold = _kernels()
  values = np.sort(np.asarray(hashes, np.uint32))
  row = np.full(len(a), (1 << 32) - 1, np.uint32)
  fold(values, len(values), np.ascontiguousarray(a, np.uint64), np.ascontiguousarray(b, np.uint64),
       row)
  return row


def _kernels():
  kernels, reason = _compiled()
  if kernels is None:
    raise RuntimeError(f"the compiled MinHash kernel is unavailable here: {reason}")
  return kernels
