"""The near-dedup transform in a pipeline: both keep rules, cluster ids, the short-document
rule."""

import json

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from starjax.data.beam_options import with_defaults
from starjax.data.prepare import near_dedup, stages

IN_PROCESS = with_defaults(["--direct_running_mode=in_memory"], every_core=False)

_TEXT = " ".join(f"token{i} = compute(value{i}, scale={i % 7})" for i in range(60))


def _doc(index, content, stars=0):
  return {"doc_index": index, "doc_id": f"s#{index}", "content": content, "license": "MIT",
          "stars": stars, "recency": ""}


_DOCS = [_doc(0, _TEXT), _doc(1, "def other():\n    return " + "x + " * 80 + "1"),
         _doc(2, _TEXT.replace("value7,", "value7b,"), stars=500), _doc(3, "a b c"),
         _doc(4, "a b c")]  # 3 and 4: under 5 tokens, never clustered (exact dedup's job)


def _run(keep, doc_ids, tmp_path):
  options = stages.near_dedup(keep=keep)
  docs = [dict(d) for d in _DOCS]
  near_dedup.add_band_keys(docs, options)
  out = tmp_path / f"{keep}.json"
  with beam.Pipeline(options=PipelineOptions(IN_PROCESS)) as p:
    kept, removed = (p | beam.Create(docs)
                     | near_dedup.NearDedup(options, len(_DOCS), doc_ids))
    _ = ((kept | "K" >> beam.Map(lambda d: ("kept", d["doc_index"], d.get("cluster_id"),
                                            near_dedup.BAND_KEYS in d and "with band keys")),
          removed | "R" >> beam.Map(lambda d: ("removed", d["doc_index"], d["cluster_id"],
                                               d["reason"])))
         | beam.Flatten() | beam.combiners.ToList()
         | beam.Map(lambda rows: out.write_text(json.dumps(sorted(rows)))))
  return [tuple(r) for r in json.loads(out.read_text())]


@pytest.mark.parametrize("doc_ids", [None, near_dedup.DocIds([(0, "s")])],
                         ids=["member-join", "from-labels"])
def test_lowest_index_keeps_the_first_member_and_marks_the_cluster(doc_ids, tmp_path):
  assert _run("lowest_index", doc_ids, tmp_path) == [
      ("kept", 0, 0, False), ("kept", 1, None, False), ("kept", 3, None, False),
      ("kept", 4, None, False),
      ("removed", 2, 0, "near-duplicate of s#0")]


def test_quality_keeps_the_most_starred_member(tmp_path):
  assert _run("quality", near_dedup.DocIds([(0, "s")]), tmp_path) == [
      ("kept", 1, None, False), ("kept", 2, 0, False), ("kept", 3, None, False),
      ("kept", 4, None, False),
      ("removed", 0, 0, "near-duplicate of s#2")]


def test_doc_ids_follow_the_shards_first_indices():
  doc_ids = near_dedup.DocIds([(10, "data/go/b.parquet"), (0, "data/c/a.parquet")])
  assert [doc_ids(0), doc_ids(9), doc_ids(10), doc_ids(12)] == [
      "data/c/a.parquet#0", "data/c/a.parquet#9", "data/go/b.parquet#0", "data/go/b.parquet#2"]


def test_short_documents_get_no_band_keys_and_the_others_one_per_band():
  options = stages.near_dedup()
  docs = [dict(d) for d in _DOCS]
  near_dedup.add_band_keys(docs, options)
  assert [len(d[near_dedup.BAND_KEYS]) for d in docs] == [25, 25, 25, 0, 0]
  assert len(set(docs[0][near_dedup.BAND_KEYS]) & set(docs[2][near_dedup.BAND_KEYS])) >= 1
