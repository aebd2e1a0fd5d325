"""Mixture rates from token counts: weight ∝ tokens**alpha, optionally capped per language."""

from __future__ import annotations

from typing import Mapping, Optional

from starjax.data.errors import DataError


def mixture_rates(tokens: Mapping[str, float], alpha: float = 1.0,
                  cap: Optional[float] = None) -> dict[str, float]:
  """Sampling rates (summing to 1) for tasks with the given token counts.

  Args:
    tokens: {task name: tokens in its train split}; every count must be > 0.
    alpha: temperature exponent; 1 keeps the natural distribution, 0.3 flattens it a lot.
    cap: optional largest rate of any task; the excess goes to the others in proportion to their
      weights (repeatedly, until no task exceeds the cap).
  Returns:
    {task name: rate}.
  """
  if not tokens:
    raise DataError("a mixture needs at least one task with tokens")
  bad = {name: n for name, n in tokens.items() if not n > 0}
  if bad:
    raise DataError(f"tasks without tokens cannot be weighted: {bad}")
  weights = {name: float(n) ** alpha for name, n in tokens.items()}
  total = sum(weights.values())
  rates = {name: w / total for name, w in weights.items()}
  if cap is None:
    return rates
  if cap * len(rates) < 1.0 - 1e-12:
    raise DataError(f"mixture_weighting.cap={cap} is too small for {len(rates)} tasks: the rates "
                    f"must sum to 1, so the cap must be at least {1.0 / len(rates):.4f}")
  capped: set[str] = set()
  while True:
    over = {name for name, r in rates.items() if r > cap + 1e-12 and name not in capped}
    if not over:
      return rates
    capped |= over
    free = [name for name in rates if name not in capped]
    remaining = 1.0 - cap * len(capped)
    free_weight = sum(weights[name] for name in free)
    rates = {name: cap if name in capped else remaining * weights[name] / free_weight
             for name in rates}
