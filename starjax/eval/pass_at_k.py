"""pass@k by the unbiased estimator of Chen et al. (2021), "Evaluating Large Language Models
Trained on Code": with n samples of which c pass, pass@k = 1 - C(n - c, k) / C(n, k).

Uneven numbers of samples: each task's estimate uses its own n, and pass@k is reported only for
k ≤ the smallest n over the scored tasks (an estimate for k > n does not exist). The reported
value is the mean over the tasks that have samples; tasks without any are not averaged in (the
summary counts them as missing).
"""

from __future__ import annotations

from typing import Iterable, Mapping


def pass_at_k(num_samples: int, num_correct: int, k: int) -> float:
  """The probability that at least one of k samples, drawn without replacement from
  num_samples of which num_correct pass, passes. Requires 1 ≤ k ≤ num_samples."""
  if not 1 <= k <= num_samples:
    raise ValueError(f"pass@{k} needs 1 <= k <= n, got n={num_samples}")
  if not 0 <= num_correct <= num_samples:
    raise ValueError(f"num_correct={num_correct} must be within 0..{num_samples}")
  if num_samples - num_correct < k:
    return 1.0
  # C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i): no huge binomials, no overflow.
  all_fail = 1.0
  for i in range(num_samples - num_correct + 1, num_samples + 1):
    all_fail *= 1.0 - k / i
  return 1.0 - all_fail


def mean_pass_at_k(counts: Mapping[str, tuple[int, int]], ks: Iterable[int]
                   ) -> tuple[dict[str, float], list[int]]:
  """Mean pass@k over tasks.

  counts: task_id → (num_samples, num_correct), tasks with num_samples ≥ 1.
  ks: the k to report. Returns ({"pass@k": value} for each k ≤ the smallest num_samples, the
  ks left out because some task has fewer samples than k).
  """
  if not counts:
    return {}, sorted(set(ks))
  fewest = min(n for n, _ in counts.values())
  reported, omitted = {}, []
  for k in sorted(set(ks)):
    if k > fewest:
      omitted.append(k)
      continue
    estimates = [pass_at_k(n, c, k) for n, c in counts.values()]
    reported[f"pass@{k}"] = sum(estimates) / len(estimates)
  return reported, omitted
