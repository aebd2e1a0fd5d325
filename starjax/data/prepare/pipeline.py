"""The `data prepare` Beam pipeline: read → filter → opt-out → exact dedup → near-dedup → PII →
decontamination → output shards + ledger, all under a staging directory.

Every stage is a transform that passes documents on and sends the ones it removes to a side
output; the ledger is the union of all of them. Documents are dicts (`documents.read_row_group`)
gaining `stage`, `decision`, `reason`, `cluster_id` and `pii` on the way. No step gathers the
corpus in one place: dedup groups by content hash, near-dedup by LSH band, clusters are computed
by `components.ConnectedComponents`, and output/ledger files are written per shard.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import Optional, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from starjax.data import beam_options, filters
from starjax.data.errors import DataError
from starjax.data.prepare import decontamination, documents, ledger
from starjax.data.prepare import pii as pii_lib
from starjax.data.prepare.decision import REMOVED, license_permissive, removed
from starjax.data.prepare.near_dedup import DocIds, NearDedup
from starjax.data.prepare.opt_out import OptOutList
from starjax.data.prepare.stages import PrepareOptions

OUTPUT_DATA = "data"


class FilterStage(beam.DoFn):
  """Unusable rows (null, empty, not UTF-8) always; license and quality when enabled."""

  def __init__(self, options):
    self._options = options

  def process(self, doc):
    reason = doc["skip"]
    if reason is None and self._options.enabled:
      if self._options.license:
        verdict = license_permissive(doc["license"])
        if verdict is not True:
          reason = "license_not_permissive" if verdict is False else "license_unknown"
      if reason is None and self._options.quality:
        reason = filters.quality_problem(doc["content"], doc["language"])
    if reason:
      yield removed(doc, "filter", reason)
    else:
      yield doc


class OptOutStage(beam.DoFn):

  def __init__(self, opt_out: OptOutList):
    self._opt_out = opt_out

  def process(self, doc):
    reason = self._opt_out.reason(doc["repo"])
    if reason:
      yield removed(doc, "opt_out", reason)
    else:
      yield doc


def _content_key(doc):
  return hashlib.sha256(doc["content"].encode("utf-8")).hexdigest(), doc


def _keep_first(item):
  _, docs = item
  docs = sorted(docs, key=lambda d: d["doc_index"])
  yield docs[0]
  for d in docs[1:]:
    yield removed(d, "exact_dedup", f"duplicate of {docs[0]['doc_id']}")


class ExactDedup(beam.PTransform):

  def expand(self, docs):
    return (docs | "ByContentHash" >> beam.Map(_content_key)
            | "GroupByContent" >> beam.GroupByKey()
            | "KeepFirst" >> beam.FlatMap(_keep_first).with_outputs(REMOVED, main="kept"))


class PiiStage(beam.DoFn):

  def __init__(self, options):
    self._types = options.types

  def process(self, doc):
    text, spans = pii_lib.redact_document(doc["content"], doc["language"], self._types)
    if spans:
      counts = pii_lib.counts_by_type(spans)
      doc = dict(doc, content=text, stage="pii", decision="redacted",
                 reason=",".join(f"{k}:{v}" for k, v in sorted(counts.items())),
                 pii=[(s.type, s.start, s.end) for s in spans])
    yield doc


class DecontaminationStage(beam.DoFn):

  def __init__(self, strings: Sequence[decontamination.BenchmarkString], min_chars: int):
    self._strings = list(strings)
    self._min_chars = min_chars
    self._matcher = None

  def setup(self):
    self._matcher = decontamination.Matcher(self._strings, self._min_chars)

  def process(self, doc):
    hit = self._matcher.first_hit(doc["content"])
    if hit:
      yield removed(doc, "decontamination", f"{hit.string.reason}:{hit.kind}")
    else:
      yield doc


def _mark_kept(doc):
  if doc.get("decision") is None:
    doc = dict(doc, stage="none", decision="kept", reason="")
  return doc


class WriteShards(beam.DoFn):

  def __init__(self, shards_by_name: dict, staging: str):
    self._shards = shards_by_name
    self._staging = staging

  def process(self, item):
    relative, docs = item
    shard = self._shards[relative]
    path = os.path.join(self._staging, relative)
    rows, _ = documents.write_shard(list(docs), documents.input_schema(shard), path)
    yield relative, rows


class WriteLedger(beam.DoFn):

  def __init__(self, staging: str):
    self._staging = staging

  def process(self, item):
    part, rows = item
    yield ledger.write(list(rows), os.path.join(self._staging, ledger.file_name(part)))


def build(p: beam.Pipeline, input_shards: list[documents.Shard], staging: str,
          options: PrepareOptions, opt_out: OptOutList,
          strings: Sequence[decontamination.BenchmarkString]) -> None:
  """Adds the whole pipeline to `p`; its files land under `staging` (shards at their input's
  relative paths, the ledger under ledger/)."""
  by_name = {s.relative: s for s in input_shards}
  num_documents = sum(s.rows for s in input_shards)
  work = [(s.relative, g) for s in input_shards for g in range(s.row_groups)]
  docs = (p | "RowGroups" >> beam.Create(work)
          | "Spread" >> beam.Reshuffle()
          | "Read" >> beam.FlatMap(lambda w: documents.read_row_group(by_name[w[0]], w[1])))
  removed_docs = []
  stage = docs | "Filter" >> beam.ParDo(FilterStage(options.filters)).with_outputs(
      REMOVED, main="kept")
  docs = stage.kept
  removed_docs.append(stage[REMOVED])
  if options.opt_out.enabled and len(opt_out):
    stage = docs | "OptOut" >> beam.ParDo(OptOutStage(opt_out)).with_outputs(REMOVED,
                                                                             main="kept")
    docs = stage.kept
    removed_docs.append(stage[REMOVED])
  if options.exact_dedup.enabled:
    stage = docs | "ExactDedup" >> ExactDedup()
    docs = stage.kept
    removed_docs.append(stage[REMOVED])
  if options.near_dedup.enabled:
    doc_ids = DocIds([(s.first_index, s.relative) for s in input_shards if s.rows])
    docs, near_removed = docs | "NearDedup" >> NearDedup(options.near_dedup, num_documents,
                                                         doc_ids)
    removed_docs.append(near_removed)
  if options.pii.enabled and options.pii.types:
    docs = docs | "Pii" >> beam.ParDo(PiiStage(options.pii))
  if options.decontamination.enabled:
    stage = docs | "Decontamination" >> beam.ParDo(DecontaminationStage(
        strings, options.decontamination.min_chars)).with_outputs(REMOVED, main="kept")
    docs = stage.kept
    removed_docs.append(stage[REMOVED])
  kept = docs | "MarkKept" >> beam.Map(_mark_kept)
  _ = (kept | "ByShard" >> beam.Map(lambda d: (d["shard"], d))
       | "GroupByShard" >> beam.GroupByKey()
       | "WriteShards" >> beam.ParDo(WriteShards(by_name, staging)))
  per_file = options.ledger_rows_per_file
  _ = ((kept, *removed_docs) | "AllDecisions" >> beam.Flatten()
       | "LedgerRow" >> beam.Map(lambda d: (d["doc_index"] // per_file, ledger.row(d)))
       | "GroupLedger" >> beam.GroupByKey()
       | "WriteLedger" >> beam.ParDo(WriteLedger(staging)))


class LostElements(DataError):
  """The runner delivered a shuffle incompletely: a document met its decision zero times, or the
  ledger does not account for every input row. The code is deterministic, so this is the
  runner's doing (Beam's local multi-process runner has shown it; BENCHMARKS.md)."""


# The checks inside the pipeline that only a lost or duplicated element can trip.
_LOST = re.compile(r"near_dedup: document \d+ (arrived|has) [^\n]*")


def run(input_shards, staging, options, opt_out, strings, beam_args: Sequence[str]) -> None:
  """Builds and runs the pipeline; a DataError raised in a worker comes back as DataError, a
  failed element check as LostElements."""
  pipeline_options = PipelineOptions(list(beam_args))
  try:
    with beam.Pipeline(options=pipeline_options) as p:
      build(p, input_shards, staging, options, opt_out, strings)
  except DataError:
    raise
  except Exception as e:  # a worker's DataError arrives wrapped in the runner's exception
    lost = _LOST.search(str(e))
    if lost:
      raise LostElements(lost.group(0).strip()) from e
    match = re.search(r"DataError: (.+)", str(e))
    if match:
      raise DataError(match.group(1).strip()) from e
    raise


def default_beam_args(user_args: Sequence[str]) -> list[str]:
  """Beam's own flags, plus the local runner on every core unless the user chose otherwise."""
  return beam_options.with_defaults(user_args, every_core=True)
