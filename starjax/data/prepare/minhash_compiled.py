"""The numba code of the MinHash kernel (see `minhash_kernel`, which loads libcrypto first).

Module-level functions and constants, so numba's on-disk cache finds them again in every process
(a closure's captured values would make each process compile anew, ~2 s).
"""

import numpy as np
from numba import njit, types

# SHA-1's entry points, resolved by name when the code is linked (libcrypto is loaded by then), so
# the cached machine code holds no process-specific address.
_sha1_init = types.ExternalFunction("SHA1_Init", types.intc(types.voidptr))
_sha1_update = types.ExternalFunction("SHA1_Update",
                                      types.intc(types.voidptr, types.voidptr, types.uintp))
_sha1_final = types.ExternalFunction("SHA1_Final", types.intc(types.voidptr, types.voidptr))

_SPACE = np.uint8(ord(" "))
_P = np.uint64((1 << 61) - 1)
_SHIFT = np.uint64(61)
_LOW32 = np.uint64((1 << 32) - 1)
_MAX_HASH = np.uint32((1 << 32) - 1)
_SHA_CTX_BYTES = 128  # sizeof(SHA_CTX) is 96 on every OpenSSL; room to spare


@njit(nogil=True, cache=True)
def fold(values, count, a, b, row):
  """row[j] = min(row[j], permuted value j of each distinct one of the sorted values[:count])."""
  for g in range(count):
    if g > 0 and values[g] == values[g - 1]:
      continue
    h = np.uint64(values[g])
    for j in range(a.shape[0]):
      x = a[j] * h + b[j]  # wraps mod 2^64, as datasketch's numpy does
      r = (x & _P) + (x >> _SHIFT)
      if r >= _P:
        r -= _P
      v = np.uint32(r & _LOW32)
      if v < row[j]:
        row[j] = v


@njit(nogil=True, cache=True)
def minima(text, bounds, ngram, a, b, out, has):
  """out[k] = signature of the k-th document with shingles; has[d] = whether document d has.

  text: uint8, the joined texts one after another; bounds: int64 [docs + 1] offsets into it.
  Returns the number of rows of `out` written.
  """
  ctx = np.empty(_SHA_CTX_BYTES, np.uint8)
  digest = np.empty(20, np.uint8)
  base = text.ctypes.data
  rows = 0
  for d in range(bounds.shape[0] - 1):
    lo, hi = bounds[d], bounds[d + 1]
    spaces = 0
    for i in range(lo, hi):
      if text[i] == _SPACE:
        spaces += 1
    count = spaces + 2 - ngram  # tokens - ngram + 1
    if count <= 0:
      has[d] = False
      continue
    has[d] = True
    token_end = np.empty(spaces + 1, np.int64)
    k = 0
    for i in range(lo, hi):
      if text[i] == _SPACE:
        token_end[k] = i
        k += 1
    token_end[spaces] = hi
    values = np.empty(count, np.uint32)
    for g in range(count):
      start = lo if g == 0 else token_end[g - 1] + 1
      end = token_end[g + ngram - 1]
      _sha1_init(ctx.ctypes.data)
      _sha1_update(ctx.ctypes.data, base + np.uintp(start), np.uintp(end - start))
      _sha1_final(digest.ctypes.data, ctx.ctypes.data)
      values[g] = (np.uint32(digest[0]) | (np.uint32(digest[1]) << np.uint32(8))
                   | (np.uint32(digest[2]) << np.uint32(16))
                   | (np.uint32(digest[3]) << np.uint32(24)))
    values.sort()
    row = out[rows]
    row[:] = _MAX_HASH
    fold(values, count, a, b, row)
    rows += 1
  return rows
