"""The candidate draw: tokens come from the right set with the right probabilities, rows whose
set reaches past the candidates draw over the vocabulary exactly as before, and a row's token
never depends on its neighbours."""

import jax
import jax.numpy as jnp
import numpy as np

from starjax.infer import sampling
from starjax.infer.sampling import draw_filtered, filter_logits

VOCAB = 4 * sampling.NUCLEUS_CANDIDATES


def kept_probabilities(row, k, p):
  """The reference: softmax of the row restricted to its top-k / nucleus (sorted, in numpy)."""
  order = np.sort(row)[::-1]
  threshold = order[min(k, row.size) - 1] if k else -np.inf
  if p < 1.0:
    probs = np.exp(order - np.logaddexp.reduce(order))
    threshold = max(threshold, order[np.sum(np.cumsum(probs) - probs < p) - 1])
  weights = np.where(row >= threshold, np.exp(row - row.max()), 0.0)
  return weights / weights.sum()


def peaked_row(seed=0):
  return (np.random.default_rng(seed).standard_normal(VOCAB) * 3).astype(np.float32)


def test_candidate_draws_follow_the_filtered_distribution():
  row = peaked_row()
  rows = 20_000
  for k, p in ((0, 0.9), (7, 1.0), (7, 0.9)):
    tokens = np.asarray(draw_filtered(jnp.tile(jnp.asarray(row), (rows, 1)), jax.random.key(0),
                                      jnp.int32(k), jnp.float32(p), use_top_k=k > 0,
                                      use_top_p=p < 1.0))
    expected = kept_probabilities(row, k, p)
    assert 1 < np.count_nonzero(expected) < sampling.NUCLEUS_CANDIDATES  # the candidate path
    assert set(np.unique(tokens)) <= set(np.flatnonzero(expected))
    frequency = np.bincount(tokens, minlength=VOCAB) / rows
    np.testing.assert_allclose(frequency, expected, atol=0.015)


def test_a_set_past_the_candidates_draws_over_the_filtered_vocabulary():
  flat = (np.random.default_rng(1).standard_normal((3, VOCAB)) * 0.01).astype(np.float32)
  key = jax.random.key(4)
  for k, p in ((0, 0.95), (3 * sampling.NUCLEUS_CANDIDATES, 1.0)):
    args = (jnp.int32(k), jnp.float32(p))
    flags = dict(use_top_k=k > 0, use_top_p=p < 1.0)
    drawn = draw_filtered(jnp.asarray(flat), key, *args, **flags)
    before = jax.random.categorical(key, filter_logits(jnp.asarray(flat), *args, **flags))
    np.testing.assert_array_equal(drawn, before)


def test_ties_at_the_threshold_beyond_the_candidates_are_kept():
  # top_k=1 of a constant row keeps every token (>= the threshold), as filter_logits does.
  rows = jnp.zeros((2_000, VOCAB), jnp.float32)
  tokens = draw_filtered(rows, jax.random.key(2), jnp.int32(1), jnp.float32(1.0),
                         use_top_k=True, use_top_p=False)
  assert len(np.unique(np.asarray(tokens))) > sampling.NUCLEUS_CANDIDATES


def test_a_rows_token_does_not_depend_on_its_neighbours():
  peaked = jnp.asarray(peaked_row(3))
  flat = jnp.asarray(np.random.default_rng(5).standard_normal(VOCAB).astype(np.float32) * 0.01)
  keys = jax.random.split(jax.random.key(7), 3)
  top_k, top_p = jnp.asarray([0, 5, 0], jnp.int32), jnp.asarray([0.9, 1.0, 0.9], jnp.float32)
  flags = dict(use_top_k=True, use_top_p=True)
  mixed = draw_filtered(jnp.stack([peaked, peaked, flat]), keys, top_k, top_p, **flags)
  alone = draw_filtered(jnp.stack([peaked, peaked, peaked]), keys, top_k, top_p, **flags)
  assert mixed[:2].tolist() == alone[:2].tolist()


def test_per_row_filters_equal_each_row_filtered_alone():
  logits = jnp.asarray(np.stack([peaked_row(i) for i in range(4)]))
  top_k = jnp.asarray([0, 3, 0, 200], jnp.int32)  # 0 = no top-k; 200 > the candidates
  top_p = jnp.asarray([0.9, 1.0, 1.0, 0.5], jnp.float32)  # 1 = no nucleus
  together = filter_logits(logits, top_k, top_p, use_top_k=True, use_top_p=True)
  for i in range(4):
    alone = filter_logits(logits[i:i + 1], top_k[i], top_p[i], use_top_k=True, use_top_p=True)
    np.testing.assert_array_equal(together[i:i + 1], alone)
  np.testing.assert_array_equal(together[2], logits[2])  # neither filter on


def test_the_full_rows_thresholds_by_bisection_equal_the_sorted_ones():
  """The fallback's thresholds (bisection over order keys, no sort) equal those of the sorted
  row: flat and peaked rows, ties, signed zeros, negative logits, per-row top-k / top-p."""
  rng = np.random.default_rng(11)
  rows = [rng.standard_normal(VOCAB) * scale for scale in (0.01, 1.0, 3.0, 30.0)]
  rows.append(np.round(rng.standard_normal(VOCAB) * 2) / 2)  # many ties
  rows.append(np.zeros(VOCAB))
  signed = np.zeros(VOCAB)
  signed[::2] = -0.0
  signed[:5] = [4.0, 4.0, -1.0, 3.0, 3.0]
  rows.append(signed)
  rows.append(rng.standard_normal(VOCAB) - 50.0)
  logits = jnp.asarray(np.stack(rows).astype(np.float32))
  log_norm = jax.nn.logsumexp(logits, axis=-1, keepdims=True)
  descending = jnp.sort(logits, axis=-1)[:, ::-1]
  n = logits.shape[0]
  for top_k, top_p in ((0, 0.95), (1, 1.0), (50, 1.0), (3, 0.5), (VOCAB, 0.999), (0, 1e-6)):
    for per_row in (False, True):
      k = jnp.asarray(rng.integers(0, VOCAB, n), jnp.int32) if per_row else jnp.int32(top_k)
      p = jnp.asarray(rng.uniform(0.05, 1.0, n), jnp.float32) if per_row else jnp.float32(top_p)
      flags = dict(use_top_k=per_row or top_k > 0, use_top_p=per_row or top_p < 1.0)
      bisected = sampling._full_thresholds(logits, log_norm, k, p, **flags)  # pylint: disable=protected-access
      expected = sampling._thresholds(descending, log_norm, k, p, **flags)[0]  # pylint: disable=protected-access
      np.testing.assert_array_equal(np.asarray(logits >= bisected[:, None]),
                                    np.asarray(logits >= expected[:, None]),
                                    err_msg=f"top_k={top_k} top_p={top_p} per_row={per_row}")
