"""Near-dedup as a Beam transform: MinHash LSH band keys → buckets → edges → connected
components → one document kept per cluster.

Only small values cross a shuffle: documents arrive without their contents, carrying their band
keys (`add_band_keys`, run where the contents are read: signatures are computed for a batch of
documents at once by `minhash.signatures`); band keys carry a document's index, the cluster
choice sees each member's (doc_id, license verdict, stars, recency), and each document meets its
decision in a join by index.
"""

from __future__ import annotations

import bisect
from typing import Optional, Sequence

import apache_beam as beam

from starjax.data.prepare import components, minhash
from starjax.data.prepare.decision import REMOVED, license_permissive, removed

BAND_KEYS = "band_keys"


def add_band_keys(docs: Sequence[dict], options) -> None:
  """Sets each document's BAND_KEYS from its content, one signature batch for all of them;
  documents with fewer than `ngram` tokens get none (see minhash)."""
  if not docs:
    return
  sigs, has = minhash.signatures([d["content"] for d in docs], num_perm=options.num_perm,
                                 seed=options.seed, ngram=options.ngram)
  keys = iter(minhash.band_keys_batch(sigs, options.bands, options.rows))
  for doc, h in zip(docs, has):
    doc[BAND_KEYS] = next(keys) if h else []


def _band_keys(doc):
  for key in doc[BAND_KEYS]:
    yield key, doc["doc_index"]


def _keyed_by_index(doc):
  """(doc_index, the document without its band keys): what the decision join carries."""
  return doc["doc_index"], {k: v for k, v in doc.items() if k != BAND_KEYS}


def _bucket_edges(item):
  """A star from the smallest member of an LSH bucket to each other member."""
  _, members = item
  members = sorted(set(members))
  for other in members[1:]:
    yield members[0], other


def _member(doc: dict):
  """What choosing a cluster's kept document needs: (doc_index, (doc_id, rank))."""
  rank = (license_permissive(doc["license"]) is True, doc["stars"], doc["recency"])
  return doc["doc_index"], (doc["doc_id"], rank)


def _by_cluster(item):
  """A labelled document → (root, (doc_index, doc_id, rank)); unlabelled ones drop out."""
  index, joined = item
  roots = list(joined["root"])
  if not roots:
    return
  members = list(joined["member"])
  if len(members) != 1 or len(roots) != 1:
    raise RuntimeError(f"near_dedup: document {index} has {len(members)} member records and "
                       f"{len(roots)} cluster labels (expected 1 and 1)")
  doc_id, rank = members[0]
  yield roots[0], (index, doc_id, rank)


def _decide(item, keep: str):
  """One cluster → (doc_index, (cluster_id, None if kept else the kept doc_id)) per member.

  lowest_index (StarCoder v1) keeps the smallest index; quality (StarCoder2) keeps the
  permissive one, then the most stars, then the most recent; ties by index.
  """
  root, members = item
  members = sorted(members)  # by doc_index
  if keep == "quality":
    members = sorted(members, key=lambda m: m[2], reverse=True)  # stable: ties stay by index
  kept_index, kept_id, _ = members[0]
  yield kept_index, (root, None)
  for index, _, _ in members[1:]:
    yield index, (root, kept_id)


def _apply(item):
  """A document and its decision (if it is in a cluster) → kept, or removed side output."""
  index, joined = item
  docs, decisions = list(joined["doc"]), list(joined["decision"])
  if len(docs) != 1 or len(decisions) > 1:
    raise RuntimeError(f"near_dedup: document {index} arrived {len(docs)} times with "
                       f"{len(decisions)} cluster decisions (expected once, with at most one)")
  doc = docs[0]
  if not decisions:
    yield doc
    return
  cluster_id, kept_id = decisions[0]
  doc = dict(doc, cluster_id=cluster_id)
  if kept_id is None:
    yield doc
  else:
    yield removed(doc, "near_dedup", f"near-duplicate of {kept_id}")


class DocIds:
  """doc_id of a doc_index without looking the document up: `<shard>#<row>`, from the shards'
  first indices (what documents.read_row_group assigns)."""

  def __init__(self, shards: Sequence[tuple[int, str]]):
    shards = sorted(shards)
    self._first = [first for first, _ in shards]
    self._relative = [relative for _, relative in shards]

  def __call__(self, index: int) -> str:
    at = bisect.bisect_right(self._first, index) - 1
    return f"{self._relative[at]}#{index - self._first[at]}"


def _lowest_index_decision(label, doc_ids: DocIds):
  """StarCoder v1 keeps a cluster's smallest index, which is its root: no member records."""
  index, root = label
  return index, (root, None if index == root else doc_ids(root))


class NearDedup(beam.PTransform):
  """PCollection[doc with BAND_KEYS] → (kept docs, removed docs, both without BAND_KEYS):
  MinHash LSH near-dedup, one kept per cluster, `cluster_id` set on every member of a cluster of
  two or more.

  doc_ids: when given, `keep="lowest_index"` decides from the labels alone (the kept document
  is the component's root), skipping the join with the members' records.
  """

  def __init__(self, options, num_documents: int, doc_ids: Optional[DocIds] = None):
    super().__init__()
    self._o = options
    self._rounds = options.components_rounds or components.default_rounds(num_documents)
    self._doc_ids = doc_ids

  def expand(self, docs):
    edges = (docs
             | "BandKeys" >> beam.FlatMap(_band_keys)
             | "GroupByBand" >> beam.GroupByKey()
             | "BucketEdges" >> beam.FlatMap(_bucket_edges))
    labels = edges | "Components" >> components.ConnectedComponents(self._rounds)
    if self._o.keep == "lowest_index" and self._doc_ids is not None:
      decisions = labels | "Decide" >> beam.Map(_lowest_index_decision, self._doc_ids)
    else:
      members = docs | "Members" >> beam.Map(_member)
      decisions = ({"member": members, "root": labels}
                   | "JoinLabels" >> beam.CoGroupByKey()
                   | "ByCluster" >> beam.FlatMap(_by_cluster)
                   | "GroupByCluster" >> beam.GroupByKey()
                   | "Decide" >> beam.FlatMap(_decide, self._o.keep))
    keyed = docs | "KeyByIndex" >> beam.Map(_keyed_by_index)
    applied = ({"doc": keyed, "decision": decisions}
               | "JoinDecisions" >> beam.CoGroupByKey()
               | "Apply" >> beam.FlatMap(_apply).with_outputs(REMOVED, main="kept"))
    return applied.kept, applied[REMOVED]
