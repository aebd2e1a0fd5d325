"""The membership filter: normalisation, sizing, no false negatives, the false-positive rate."""

import random

import numpy as np
import pytest

from starjax.data.governance import index_build, membership


def test_normalize_collapses_whitespace_and_maps_offsets():
  text = "  def f(x):\n\t    return  x\n"
  normalized, offsets = membership.normalize(text)
  assert normalized == "def f(x): return x"
  assert len(offsets) == len(normalized)
  for i, ch in enumerate(normalized):
    assert text[offsets[i]] == ch or (ch == " " and text[offsets[i]].isspace())


def test_filter_shape_meets_its_rate():
  shape = membership.FilterShape.for_capacity(100_000, 0.01)
  assert shape.expected_fp_rate(100_000) <= 0.01
  assert 9 < shape.num_bits / 100_000 < 10.5  # ≈ 9.6 bits per item at 1 %
  assert shape.num_hashes == 7


def test_added_chunks_are_members_and_others_mostly_not():
  rng = random.Random(1)
  chunks = ["".join(rng.choice("abcdefgh ") for _ in range(50)) for _ in range(2000)]
  bloom = membership.BloomFilter(membership.FilterShape.for_capacity(2000, 0.01))
  bloom.add(chunks)
  assert bloom.contains(chunks).all()
  others = ["".join(rng.choice("ijklmnop") for _ in range(50)) for _ in range(20_000)]
  assert bloom.contains(others).mean() < 0.02


def test_every_99_character_span_of_a_training_document_is_found(opened_index, governance_rows):
  """No false negatives: any span of ≥ 99 normalised characters copied from a document, at any
  offset, embedded in unrelated text, is inside a reported span."""
  rng = random.Random(2)
  checked = 0
  for rows in governance_rows.values():
    for row in rows[:12]:
      normalized = membership.normalize_text(row["content"])
      for start in range(0, len(normalized) - 99, 7):
        length = rng.choice([99, 100, 140, 300])
        copy = normalized[start:start + length]
        before = "".join(rng.choice("QWXZ") for _ in range(rng.randint(0, 60))) + "\n"
        text = before + copy + "\n" + "".join(rng.choice("QWXZ") for _ in range(30))
        spans = membership.find_spans(opened_index.bloom, text)
        assert any(s.start <= len(before) + 49 and s.end >= len(before) + len(copy) - 49
                   for s in spans), (row["max_stars_repo_path"], start, length)
        checked += 1
  assert checked > 500


def test_reindented_copy_is_found(opened_index, governance_rows):
  content = governance_rows["python"][3]["content"]
  reindented = "\n".join("\t" + line.strip() for line in content.splitlines()[:15])
  spans = membership.find_spans(opened_index.bloom, reindented)
  assert membership.coverage(spans, len(reindented)) > 0.5


def test_measured_false_positive_rate_is_at_or_below_the_target(governance_index, opened_index):
  _, manifest = governance_index
  spec = manifest["filter"]
  assert spec["measured_fp_rate"] <= spec["target_fp_rate"]
  # and again on other random strings than the build measured with
  assert index_build.measure_fp_rate(opened_index.bloom, 200_000, seed=123) <= spec[
      "target_fp_rate"]


def test_unrelated_text_is_covered_only_by_the_false_positive_rate(opened_index,
                                                                   governance_index):
  """Each window hits with probability p and marks 50 characters: coverage ≈ 50·p."""
  rng = random.Random(3)
  text = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz _(),.=\n") for _ in range(20_000))
  spans = membership.find_spans(opened_index.bloom, text)
  target = governance_index[1]["filter"]["target_fp_rate"]
  assert membership.coverage(spans, len(text)) < 1.5 * membership.CHUNK * target


def test_spans_merge_and_coverage():
  offsets = np.arange(400)
  spans = membership._merge([0, 50, 100, 300], offsets)  # pylint: disable=protected-access
  assert spans == [membership.Span(0, 150), membership.Span(300, 350)]
  assert membership.coverage(spans, 400) == pytest.approx(200 / 400)
