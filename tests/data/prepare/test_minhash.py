"""MinHash signatures and LSH bands equal BigCode's scheme in datasketch."""

import random
import re

import numpy as np
from datasketch import MinHash, MinHashLSH

from starjax.data.prepare import minhash, minhash_kernel

_CODE = "\n".join(f"def handler_{i}(request, response):\n    return request.get('k{i}') or {i}"
                  for i in range(30))


def _datasketch(grams):
  m = MinHash(num_perm=256, seed=42, scheme="legacy")
  m.update_batch(list(grams))
  return m


def test_shingles_split_on_non_alphanumerics_keep_empty_tokens_and_case():
  grams = minhash.shingles("A,b  c.D_1 e", ngram=5)
  # tokens: A, b, '', c, D_1, e  → two 5-grams, the empty token kept, case kept
  assert grams == {b"A b  c D_1", b"b  c D_1 e"}


def _straightforward_shingles(content, ngram=5):
  """BigCode's definition, written the obvious way: the reference for the fast one."""
  tokens = re.split(r"[^A-Za-z_0-9]", content)
  if len(tokens) < ngram:
    return set()
  return {" ".join(tokens[i:i + ngram]).encode() for i in range(len(tokens) - ngram + 1)}


_TRICKY = [
    "", "a b c d", "a b c d e", "é ü ∑ x_y z1 2 3 4 5 6", "  \n\t  ", "日本語 テキスト a b c d e f",
    "        return x\n" * 20 + "if a:\n    b = [1, 2]\n",  # runs of empty tokens, short grams
    "x" * 300 + " " + "y " * 40, "a,,b;;c..d e f g h\x00i j k",
    "".join(map(chr, range(128))) * 2 + " a b c d e f",  # every ASCII separator and word byte
    # non-ASCII separators, an astral character, a lone surrogate
    "".join(map(chr, range(400))) + " x\U0001F600y a\ud800b c d e f",
]


def test_shingles_equal_the_straightforward_definition_on_tricky_text():
  for text in _TRICKY + [_CODE]:
    for ngram in (1, 3, 5, 9):
      assert minhash.shingles(text, ngram) == _straightforward_shingles(text, ngram), (text, ngram)


def test_batch_signatures_equal_datasketch_per_document():
  # Documents from 0 to ~2,000 shingles, so pieces of one document span several blocks and one
  # block holds many documents.
  rng = random.Random(2)
  docs = _TRICKY + [" ".join(f"w{rng.randrange(n)}" for _ in range(n)) for n in
                    (6, 7, 40, 300, 2000, 5, 9)] + [_CODE]
  sigs, has = minhash.signatures(docs)
  assert has.tolist() == [bool(minhash.shingles(d)) for d in docs]
  expected = [_datasketch(minhash.shingles(d)).hashvalues for d in docs if minhash.shingles(d)]
  assert sigs.shape == (len(expected), 256) and np.array_equal(sigs, np.array(expected))


def _exact_minima(hashes, starts, a, b):
  """datasketch's formula in Python integers: min over a segment of ((a*h+b) mod 2^64 mod p)
  & (2^32 - 1), per permutation."""
  p = (1 << 61) - 1
  ends = list(starts[1:]) + [len(hashes)]
  return [[min((((int(aj) * int(h) + int(bj)) % (1 << 64)) % p) & 0xFFFFFFFF
                for h in hashes[s:e]) for aj, bj in zip(a, b)] for s, e in zip(starts, ends)]


def test_permutation_without_division_is_exact_where_the_residue_wraps():
  # With a = 1, x = h + b: each b starts 12 below a place where the shortcut needs care (a
  # multiple of 2^61 - 1, 2^61, the top of uint64) and h walks across it, so x takes every
  # value around it. One document per row checks every entry; longer ones check minima.
  p = (1 << 61) - 1
  b = np.array([p - 12, 2 * p - 12, (1 << 61) - 12, 7 * p - 12, (1 << 64) - 12, 3 * p - 12,
                (3 << 61) - 12, 123456789, (1 << 62) - 12, 5 * p - 4], np.uint64)
  a = np.ones(len(b), np.uint64)
  hashes = np.array(list(range(25)) + list(range(24, -1, -1)) + [3, 11, 12, 13, 20],
                    np.uint64)
  for starts in (np.arange(len(hashes)), np.array([0, 5, 11, 12, 30, 49, 50])):
    got = minhash._segment_minima(hashes, starts, a, b)
    assert got.tolist() == _exact_minima(hashes.tolist(), starts.tolist(), a, b)


def test_permutations_are_datasketchs():
  for num_perm, seed in ((256, 42), (16, 7)):
    a, b = minhash.permutations(num_perm, seed)
    theirs = MinHash(num_perm=num_perm, seed=seed, scheme="legacy").permutations
    assert a.tolist() == theirs[0].tolist() and b.tolist() == theirs[1].tolist()


def test_permutation_of_ordinary_values_is_exact():
  rng = np.random.default_rng(0)
  a, b = minhash.permutations(256, 42)
  hashes = rng.integers(0, 1 << 32, 300, dtype=np.uint64)
  starts = np.array([0, 1, 2, 40, 41, 299])
  got = minhash._segment_minima(hashes, starts, a, b)
  assert got.tolist() == _exact_minima(hashes.tolist(), starts.tolist(), a, b)


def test_documents_with_fewer_tokens_than_the_ngram_have_no_signature():
  assert minhash.shingles("a b c d", ngram=5) == set()
  assert minhash.signature("a b c d") is None


def test_signature_equals_datasketch_legacy_minhash_over_the_same_shingles():
  grams = minhash.shingles(_CODE)
  assert np.array_equal(minhash.signature(_CODE), _datasketch(grams).hashvalues)


def test_band_keys_group_documents_as_datasketch_minhash_lsh_does():
  rng = random.Random(0)
  base = [f"w{rng.randrange(400)}" for _ in range(300)]
  docs = {}
  for i in range(40):
    words = list(base)
    for _ in range(rng.choice((3, 30, 150))):  # from near-copies to unrelated
      words[rng.randrange(len(words))] = f"x{rng.randrange(10**6)}"
    docs[i] = " ".join(words)
  lsh = MinHashLSH(num_perm=256, params=(25, 10))
  hashes = {}
  for i, text in docs.items():
    m = _datasketch(minhash.shingles(text))
    lsh.insert(i, m)
    hashes[i] = m
  buckets = {}
  for i, text in docs.items():
    for key in minhash.band_keys(minhash.signature(text), 25, 10):
      buckets.setdefault(key, set()).add(i)
  ours = {i: set().union(*(b for b in buckets.values() if i in b)) - {i} for i in docs}
  theirs = {i: set(lsh.query(hashes[i])) - {i} for i in docs}
  assert ours == theirs
  assert any(ours.values()) and not all(len(v) == len(docs) - 1 for v in ours.values())


def _pair_with_jaccard(rng, similarity, size=100):
  """Two shingle sets of Jaccard similarity exactly `similarity` (|A∩B| / |A∪B|)."""
  union = size
  common = round(similarity * union)
  only = union - common
  tokens = [f"{rng.random()}".encode() for _ in range(union)]
  shared, rest = tokens[:common], tokens[common:]
  return set(shared + rest[:only // 2]), set(shared + rest[only // 2:])


def test_detection_rate_follows_the_lsh_s_curve():
  rng = random.Random(1)
  for similarity in (0.5, 0.65, 0.75, 0.9):
    trials, detected = 300, 0
    for _ in range(trials):
      a, b = _pair_with_jaccard(rng, similarity)
      keys_a = set(minhash.band_keys(minhash.signature_of_shingles(a), 25, 10))
      keys_b = set(minhash.band_keys(minhash.signature_of_shingles(b), 25, 10))
      detected += bool(keys_a & keys_b)
    expected = minhash.detection_probability(similarity)
    assert abs(detected / trials - expected) < 0.08, (similarity, detected / trials, expected)


def test_compiled_kernel_loads_on_supported_platforms():
  # numba is pinned and CPython's hashlib links libcrypto: the fast path must be the one used.
  assert minhash_kernel.unavailable_reason() is None


def test_compiled_kernel_equals_datasketch_and_the_numpy_path_for_every_ngram():
  rng = random.Random(5)
  docs = _TRICKY + [_CODE, "x " * 3000, "same words here again " * 400] + [
      " ".join(f"w{rng.randrange(50)}" for _ in range(n)) for n in (4, 5, 6, 700)]
  a, b = minhash.permutations(256, 42)
  for ngram in (1, 3, 5, 9):
    joined = [minhash._joined(d) for d in docs]
    sigs, has = minhash_kernel.signatures(joined, ngram, a, b)
    reference = [_straightforward_shingles(d, ngram) for d in docs]
    assert has.tolist() == [bool(g) for g in reference], ngram
    expected = [_datasketch(g).hashvalues for g in reference if g]
    assert np.array_equal(sigs, np.array(expected)), ngram
    numpy_sigs, numpy_has = minhash._numpy_signatures(docs, num_perm=256, seed=42, ngram=ngram)
    assert np.array_equal(numpy_sigs, sigs) and np.array_equal(numpy_has, has)


def test_compiled_kernel_with_no_document_having_shingles():
  a, b = minhash.permutations(16, 1)
  sigs, has = minhash_kernel.signatures([b"", b"a b"], 5, a, b)
  assert sigs.shape == (0, 16) and has.tolist() == [False, False]
  sigs, has = minhash_kernel.signatures([], 5, a, b)
  assert sigs.shape == (0, 16) and has.tolist() == []


def test_compiled_permutation_is_exact_where_the_residue_wraps():
  # As for the numpy path: x = h + b walks across multiples of 2^61 - 1, 2^61 and 2^64.
  p = (1 << 61) - 1
  b = np.array([p - 12, 2 * p - 12, (1 << 61) - 12, 7 * p - 12, (1 << 64) - 12, 3 * p - 12,
                (3 << 61) - 12, 123456789, (1 << 62) - 12, 5 * p - 4], np.uint64)
  a = np.ones(len(b), np.uint64)
  for h in range(25):
    got = minhash_kernel.permuted_minimum(np.array([h, 24 - h + 3]), a, b)
    assert got.tolist() == _exact_minima([h, 24 - h + 3], [0], a, b)[0], h
  rng = np.random.default_rng(1)
  a, b = minhash.permutations(256, 42)
  hashes = rng.integers(0, 1 << 32, 500, dtype=np.uint64)
  hashes[100:200] = hashes[:100]  # repeats change no minimum
  assert minhash_kernel.permuted_minimum(hashes, a, b).tolist() == _exact_minima(
      hashes.tolist(), [0], a, b)[0]
