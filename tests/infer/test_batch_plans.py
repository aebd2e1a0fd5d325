"""Which rows a decoding batch goes on with as its rows finish (starjax/infer/batch_plans.py)."""

import numpy as np

from starjax.infer.batch_plans import shrink, split_by_prompt


def finished(block: int, live_per_block: list[int]) -> np.ndarray:
  """done [len(live_per_block) * block]: the first `live` rows of each block still decoding."""
  return np.concatenate([np.arange(block) >= live for live in live_per_block])


def test_shrink_keeps_equal_power_of_two_blocks_and_drops_empty_ones():
  rows, padding, kept = shrink(finished(16, [3, 5]), 2)
  assert kept.tolist() == [0, 1]
  assert rows.tolist() == [0, 1, 2, 0, 0, 0, 0, 0, 16, 17, 18, 19, 20, 16, 16, 16]
  assert padding.tolist() == [False] * 3 + [True] * 5 + [False] * 5 + [True] * 3
  rows, padding, kept = shrink(finished(16, [0, 2]), 2)  # the first prompt is done
  assert kept.tolist() == [1] and rows.tolist() == [16, 17] and not padding.any()
  assert shrink(finished(16, [9, 2]), 2) is None  # 2 x 16 rows: no fewer than now
  assert shrink(finished(50, [40]), 1) is None    # 64 > 50
  assert len(shrink(finished(50, [26]), 1)[0]) == 32


def test_split_by_prompt_when_one_block_has_few_rows_beside_a_full_one():
  parts = split_by_prompt(finished(16, [1, 16]), 2)  # equal blocks: 32 rows; apart 1 + 16
  assert [(rows.tolist(), padding.tolist(), prompt) for rows, padding, prompt in parts] == [
      ([0], [False], 0), (list(range(16, 32)), [False] * 16, 1)]
  parts = split_by_prompt(finished(50, [3, 50]), 2)  # 100 rows together, 4 + 50 apart
  assert [len(rows) for rows, _, _ in parts] == [4, 50]
  assert parts[0][1].tolist() == [False] * 3 + [True]
  assert split_by_prompt(finished(16, [12, 16]), 2) is None  # 32 rows either way
  assert split_by_prompt(finished(16, [6, 7]), 2) is None    # shrink's 2 x 8 is as good
  assert split_by_prompt(finished(16, [0, 16]), 2) is None   # one prompt left: shrink's job
  assert split_by_prompt(finished(16, [1]), 1) is None
