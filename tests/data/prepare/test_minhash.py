"""MinHash signatures and LSH bands equal BigCode's scheme in datasketch."""

import random

import numpy as np
from datasketch import MinHash, MinHashLSH

from starjax.data.prepare import minhash

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
