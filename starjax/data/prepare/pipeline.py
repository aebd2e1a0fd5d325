"""The `data prepare` Beam pipeline: read → filter → opt-out → exact dedup → near-dedup → PII →
decontamination → output shards + ledger, all under a staging directory.

Every stage is a transform that passes documents on and sends the ones it removes to a side
output; the ledger is the union of all of them. Documents are dicts (`documents.read_row_group`)
gaining `stage`, `decision`, `reason`, `cluster_id` and `pii` on the way. Everything a stage
needs from a document's content is computed where the row group is read (`ReadRowGroup`), so
only small records cross a shuffle and the writer reads the kept rows again from the input. No
step gathers the corpus in one place: dedup groups by content hash, near-dedup by LSH band,
clusters are computed by `components.ConnectedComponents`, and output/ledger files are written
per shard.
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
from starjax.data.prepare.near_dedup import DocIds, NearDedup, add_band_keys
from starjax.data.prepare.opt_out import OptOutList
from starjax.data.prepare.stages import PrepareOptions

OUTPUT_DATA = "data"


def _filter_reason(doc, options) -> Optional[str]:
  """Unusable rows (null, empty, not UTF-8) always; license and quality when enabled."""
  reason = doc["skip"]
  if reason is None and options.enabled:
    if options.license:
      verdict = license_permissive(doc["license"])
      if verdict is not True:
        reason = "license_not_permissive" if verdict is False else "license_unknown"
    if reason is None and options.quality:
      reason = filters.quality_problem(doc["content"], doc["language"])
  return reason


def _without_content(doc: dict) -> dict:
  return {k: v for k, v in doc.items() if k != "content"}


class ReadRowGroup(beam.DoFn):
  """One row group → its documents without their contents, each carrying what the later stages
  need from it, computed here where the content is at hand:

  - filter and opt-out decide at once (removed documents go to the REMOVED output);
  - `content_sha256` for exact dedup, `band_keys` for near-dedup (one signature batch per row
    group);
  - `pii_redaction` ((reason, spans, redacted text) or None) and `contamination` (the
    decontamination reason, matched on the redacted text, or None), which `_conclude` applies
    to the documents that survive dedup, so that a removed near-duplicate records no PII;
  - `output_bytes`, the content's bytes as it would be written.

  Contents therefore never cross a shuffle; `documents.write_kept` reads them again.
  """

  def __init__(self, shards_by_name: dict, options: PrepareOptions, opt_out: OptOutList,
               strings: Sequence[decontamination.BenchmarkString]):
    self._shards = shards_by_name
    self._o = options
    self._opt_out = opt_out if options.opt_out.enabled and len(opt_out) else None
    self._strings = list(strings) if options.decontamination.enabled else []
    self._pii_types = options.pii.types if options.pii.enabled else ()
    self._matcher = None

  def setup(self):
    if self._o.decontamination.enabled:
      self._matcher = decontamination.Matcher(self._strings, self._o.decontamination.min_chars)

  def process(self, work):
    relative, row_group = work
    survivors = []
    for doc in documents.read_row_group(self._shards[relative], row_group):
      reason = _filter_reason(doc, self._o.filters)
      if reason:
        yield removed(_without_content(doc), "filter", reason)
        continue
      reason = self._opt_out.reason(doc["repo"]) if self._opt_out else None
      if reason:
        yield removed(_without_content(doc), "opt_out", reason)
        continue
      survivors.append(doc)
    if self._o.near_dedup.enabled:
      add_band_keys(survivors, self._o.near_dedup)
    for doc in survivors:
      yield self._inspected(doc)

  def _inspected(self, doc: dict) -> dict:
    content = doc["content"]
    out = _without_content(doc)
    if self._o.exact_dedup.enabled:
      out["content_sha256"] = hashlib.sha256(content.encode("utf-8")).hexdigest()
    text, spans = content, ()
    if self._pii_types:
      text, spans = pii_lib.redact_document(content, doc["language"], self._pii_types)
    out["pii_redaction"] = None
    if spans:
      counts = pii_lib.counts_by_type(spans)
      out["pii_redaction"] = (",".join(f"{k}:{v}" for k, v in sorted(counts.items())),
                              [(s.type, s.start, s.end) for s in spans], text)
    hit = self._matcher.first_hit(text) if self._matcher else None
    out["contamination"] = f"{hit.string.reason}:{hit.kind}" if hit else None
    out["output_bytes"] = len(text.encode("utf-8"))
    return out


def _content_key(doc):
  return doc["content_sha256"], doc


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


def _conclude(doc):
  """A document that survived dedup: redacted if PII was found (BigCode's order: PII, then
  decontamination), removed if it holds a benchmark string, otherwise kept."""
  if doc["pii_redaction"]:
    reason, spans, _ = doc["pii_redaction"]
    doc = dict(doc, stage="pii", decision="redacted", reason=reason, pii=spans)
  if doc["contamination"]:
    yield removed(doc, "decontamination", doc["contamination"])
  else:
    yield doc if doc.get("decision") else dict(doc, stage="none", decision="kept", reason="")


def _to_writer(doc):
  """(shard, (doc_index, the redacted text or None)): all the writer needs of a kept row."""
  redaction = doc["pii_redaction"]
  return doc["shard"], (doc["doc_index"], redaction[2] if redaction else None)


class WriteShards(beam.DoFn):

  def __init__(self, shards_by_name: dict, staging: str):
    self._shards = shards_by_name
    self._staging = staging

  def process(self, item):
    relative, kept = item
    path = os.path.join(self._staging, relative)
    rows, _ = documents.write_kept(self._shards[relative], list(kept), path)
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
  read = (p | "RowGroups" >> beam.Create(work)
          | "Spread" >> beam.Reshuffle()
          | "Read" >> beam.ParDo(ReadRowGroup(by_name, options, opt_out, strings)).with_outputs(
              REMOVED, main="kept"))
  docs = read.kept
  removed_docs = [read[REMOVED]]
  if options.exact_dedup.enabled:
    stage = docs | "ExactDedup" >> ExactDedup()
    docs = stage.kept
    removed_docs.append(stage[REMOVED])
  if options.near_dedup.enabled:
    doc_ids = DocIds([(s.first_index, s.relative) for s in input_shards if s.rows])
    docs, near_removed = docs | "NearDedup" >> NearDedup(options.near_dedup, num_documents,
                                                         doc_ids)
    removed_docs.append(near_removed)
  stage = docs | "Conclude" >> beam.FlatMap(_conclude).with_outputs(REMOVED, main="kept")
  kept = stage.kept
  removed_docs.append(stage[REMOVED])
  _ = (kept | "ToWriter" >> beam.Map(_to_writer)
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
