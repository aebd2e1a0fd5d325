"""Stage decisions that need no pipeline: license verdicts, the kept document of a cluster,
gin options."""

import pytest

from starjax.data.errors import DataError
from starjax.data.prepare import decision, near_dedup, stages


def _doc(index, license_="MIT", stars=0, recency=""):
  return {"doc_index": index, "doc_id": f"s#{index}", "license": license_, "stars": stars,
          "recency": recency}


def test_license_lists_are_permissive_only_when_every_license_is():
  assert decision.license_permissive(None) is True  # no information: the row passes
  assert decision.license_permissive(["MIT", "Apache-2.0"]) is True
  assert decision.license_permissive(["MIT", "GPL-3.0-only"]) is False
  assert decision.license_permissive("no idea what this is") is None


def _decisions(docs, keep):
  """near_dedup's choice for one cluster (root 0) of these documents: {doc_index: kept_by}."""
  members = [(i, doc_id, rank) for i, (doc_id, rank) in map(near_dedup._member, docs)]
  out = list(near_dedup._decide((0, members), keep))
  assert all(cluster_id == 0 for _, (cluster_id, _) in out)
  return {index: kept_by for index, (_, kept_by) in out}


def _kept_and_removed(docs, keep):
  decisions = _decisions(docs, keep)
  kept = [i for i, by in decisions.items() if by is None]
  assert len(kept) == 1 and len(decisions) == len(docs)
  return kept[0], sorted(i for i, by in decisions.items() if by is not None)


def test_v1_keeps_the_lowest_index_of_a_cluster():
  docs = [_doc(7, stars=99), _doc(3), _doc(5, stars=1000)]
  assert _kept_and_removed(docs, "lowest_index") == (3, [5, 7])


def test_quality_keeps_permissive_then_stars_then_recency_then_lowest_index():
  docs = [_doc(1, "GPL-3.0-only", stars=10**6), _doc(2, stars=5), _doc(3, stars=50),
          _doc(4, stars=50, recency="2023-01-01"), _doc(5, stars=50, recency="2023-01-01")]
  assert _kept_and_removed(docs, "quality") == (4, [1, 2, 3, 5])
  assert set(_decisions(docs, "quality").values()) == {None, "s#4"}


def test_a_removed_member_names_the_kept_document_and_keeps_its_cluster_id():
  doc = dict(_doc(9), content="x")
  (out,) = near_dedup._apply((9, {"doc": [doc], "decision": [(4, "s#4")]}))
  assert out.tag == decision.REMOVED
  assert (out.value["stage"], out.value["reason"], out.value["cluster_id"]) == \
      ("near_dedup", "near-duplicate of s#4", 4)
  (kept,) = near_dedup._apply((4, {"doc": [dict(_doc(4))], "decision": [(4, None)]}))
  assert kept["cluster_id"] == 4 and "decision" not in kept


def test_stage_options_reject_impossible_settings():
  with pytest.raises(DataError, match="must not exceed near_dedup.num_perm"):
    stages.near_dedup(bands=30, rows=10)
  with pytest.raises(DataError, match="pii.types: unknown"):
    stages.pii(types=("email", "phone"))
  with pytest.raises(DataError, match="decontamination.min_chars=5"):
    stages.decontamination(min_chars=5)
  assert stages.near_dedup().bands * stages.near_dedup().rows == 250  # BigCode: 25 x 10


def test_a_cluster_label_or_decision_without_its_document_is_an_error_naming_it():
  # Labels are made from the documents themselves, so this means the runner lost or split a
  # group: fail loudly instead of keeping a near-duplicate.
  with pytest.raises(RuntimeError, match="document 7 has 0 member records and 1 cluster labels"):
    list(near_dedup._by_cluster((7, {"member": [], "root": [3]})))
  with pytest.raises(RuntimeError, match="document 7 arrived 0 times with 1 cluster decisions"):
    list(near_dedup._apply((7, {"doc": [], "decision": [(3, "s#3")]})))
  assert list(near_dedup._by_cluster((7, {"member": [("s#7", (True, 0, ""))], "root": []}))) == []
