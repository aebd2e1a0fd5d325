"""Stage decisions that need no pipeline: license verdicts, the kept document of a cluster,
gin options."""

import pytest

from starjax.data.errors import DataError
from starjax.data.prepare import pipeline, stages


def _doc(index, license_="MIT", stars=0, recency=""):
  return {"doc_index": index, "doc_id": f"s#{index}", "license": license_, "stars": stars,
          "recency": recency}


def test_license_lists_are_permissive_only_when_every_license_is():
  assert pipeline._license_permissive(None) is True  # no information: the row passes
  assert pipeline._license_permissive(["MIT", "Apache-2.0"]) is True
  assert pipeline._license_permissive(["MIT", "GPL-3.0-only"]) is False
  assert pipeline._license_permissive("no idea what this is") is None


def _kept_and_removed(docs, keep):
  out = list(pipeline._choose((0, docs), keep))
  return out[0]["doc_index"], sorted(o.value["doc_index"] for o in out[1:])


def test_v1_keeps_the_lowest_index_of_a_cluster():
  docs = [_doc(7, stars=99), _doc(3), _doc(5, stars=1000)]
  assert _kept_and_removed(docs, "lowest_index") == (3, [5, 7])


def test_quality_keeps_permissive_then_stars_then_recency_then_lowest_index():
  docs = [_doc(1, "GPL-3.0-only", stars=10**6), _doc(2, stars=5), _doc(3, stars=50),
          _doc(4, stars=50, recency="2023-01-01"), _doc(5, stars=50, recency="2023-01-01")]
  assert _kept_and_removed(docs, "quality") == (4, [1, 2, 3, 5])
  removed = list(pipeline._choose((0, docs), "quality"))[1]
  assert removed.value["stage"] == "near_dedup" and removed.value["reason"] == \
      "near-duplicate of s#4"


def test_stage_options_reject_impossible_settings():
  with pytest.raises(DataError, match="must not exceed near_dedup.num_perm"):
    stages.near_dedup(bands=30, rows=10)
  with pytest.raises(DataError, match="pii.types: unknown"):
    stages.pii(types=("email", "phone"))
  with pytest.raises(DataError, match="decontamination.min_chars=5"):
    stages.decontamination(min_chars=5)
  assert stages.near_dedup().bands * stages.near_dedup().rows == 250  # BigCode: 25 x 10
