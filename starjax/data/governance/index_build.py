"""`run.py data index`: the Apache Beam pipeline that builds a governance index of a data root.

One read of the shards feeds three branches:

    shards ─ read documents ─┬─ count chunks, bytes, documents ────────────── manifest sizes
                             │        └── (side input: the filter's shape)
                             ├─ hash chunks into a bit array per bundle ─ OR ─ membership.npy
                             └─ key by shard of doc id ─ GroupByKey ─ write ─ search-*.sqlite

Everything is written to a temporary directory beside the output and moved into place at the
end, so an interrupted build leaves no index that a query would read. The false-positive rate
is then measured on random strings and recorded in the manifest. Beam's own options (e.g.
`--direct_num_workers=2 --direct_running_mode=multi_processing`, or another `--runner`) pass
through the command line.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import resource
import shutil
import time
from typing import Optional, Sequence

import gin
import numpy as np

from starjax.data import beam_options
from starjax.data.errors import DataError
from starjax.data.governance import documents as documents_lib
from starjax.data.governance import fingerprint, index_dir, membership, search_index


@dataclasses.dataclass(frozen=True)
class IndexOptions:
  false_positive_rate: float
  search_shards: int
  fp_samples: int
  seed: int


@gin.configurable(module="starjax.data")
def index_options(false_positive_rate: float = 0.001, search_shards: int = 1,
                  fp_samples: int = 200_000, seed: int = 0) -> IndexOptions:
  """How `run.py data index` builds an index.

  Args:
    false_positive_rate: the target rate of a 50-character window not in the data hitting the
      membership filter; the filter is sized for 70 % of it so that the rate measured after the
      build stays under it. 0.001 ≈ 15 bits per chunk, ~4 % of the data's size.
    search_shards: databases the full-text index is split into (one writer each); raise it for
      corpora of many GB so that the writers run in parallel.
    fp_samples: random strings the false-positive rate is measured on.
    seed: of those random strings.
  """
  if not 0.0 < false_positive_rate < 1.0:
    raise DataError(f"index_options.false_positive_rate={false_positive_rate}: give a rate "
                    "within (0, 1), e.g. 0.001")
  if search_shards < 1:
    raise DataError(f"index_options.search_shards={search_shards}: give at least 1")
  if fp_samples < 1000:
    raise DataError(f"index_options.fp_samples={fp_samples}: give at least 1000")
  return IndexOptions(false_positive_rate, search_shards, fp_samples, seed)


_SIZING_MARGIN = 0.7
_INSERT_BATCH = 200_000


def filter_shape(num_chunks: int, options: IndexOptions) -> membership.FilterShape:
  return membership.FilterShape.for_capacity(num_chunks,
                                             _SIZING_MARGIN * options.false_positive_rate)


def measure_fp_rate(bloom: membership.BloomFilter, samples: int, seed: int) -> float:
  """Fraction of `samples` random 50-character printable-ASCII strings that hit the filter
  (random strings of that length are, in practice, never in the data)."""
  rng = np.random.default_rng(seed)
  hits = 0
  for start in range(0, samples, 20_000):
    n = min(20_000, samples - start)
    codes = rng.integers(33, 127, size=(n, membership.CHUNK), dtype=np.uint8)
    strings = [row.tobytes().decode("ascii") for row in codes]
    hits += int(bloom.contains(strings).sum())
  return hits / samples


def _pipeline_stages(beam):
  """The DoFns and CombineFns, defined once Beam is imported (it is imported only to build)."""

  class InsertChunks(beam.DoFn):
    """Hashes each document's chunks into one bit array per bundle (inserted in batches of
    _INSERT_BATCH chunks: the bit updates are vectorised per batch)."""

    def start_bundle(self):
      self._bloom = None
      self._pending = []

    def process(self, document, shape):
      if self._bloom is None:
        self._bloom = membership.BloomFilter(shape)
      self._pending += membership.training_chunks(document.content)
      if len(self._pending) >= _INSERT_BATCH:
        self._bloom.add(self._pending)
        self._pending = []

    def finish_bundle(self):
      if self._bloom is not None:
        self._bloom.add(self._pending)
        self._pending = []
        from apache_beam.transforms import window  # pylint: disable=import-outside-toplevel
        from apache_beam.utils.windowed_value import WindowedValue  # pylint: disable=import-outside-toplevel
        yield WindowedValue(self._bloom.bits, window.GlobalWindow().max_timestamp(),
                            [window.GlobalWindow()])
        self._bloom = None

  class OrBits(beam.CombineFn):
    def create_accumulator(self):
      return None

    def add_input(self, accumulator, bits):
      if accumulator is None:
        return np.array(bits, copy=True)
      np.bitwise_or(accumulator, bits, out=accumulator)
      return accumulator

    def merge_accumulators(self, accumulators):
      merged = None
      for bits in accumulators:
        if bits is not None:
          merged = self.add_input(merged, bits)
      return merged

    def extract_output(self, accumulator):
      return accumulator

  class SumStats(beam.CombineFn):
    """Documents, chunks, UTF-8 bytes, characters, per language."""

    def create_accumulator(self):
      return {}

    def add_input(self, accumulator, stats):
      language, values = stats
      entry = accumulator.setdefault(language, [0, 0, 0, 0])
      for i, v in enumerate(values):
        entry[i] += v
      return accumulator

    def merge_accumulators(self, accumulators):
      merged = {}
      for accumulator in accumulators:
        for language, values in accumulator.items():
          self.add_input(merged, (language, values))
      return merged

    def extract_output(self, accumulator):
      return accumulator

  return InsertChunks, OrBits, SumStats


def _document_stats(document: documents_lib.Document):
  return (document.language, (1, membership.num_chunks(document.content),
                              len(document.content.encode("utf-8")), len(document.content)))


def _cpu_seconds() -> float:
  own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
      resource.RUSAGE_CHILDREN)
  return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _write_json(path: str, value) -> None:
  with open(path, "w", encoding="utf-8") as f:
    json.dump(value, f, indent=1, sort_keys=True)


def run_pipeline(root: str, work: str, shard_files: Sequence[tuple[str, str]],
                 options: IndexOptions, beam_args: Sequence[str]) -> None:
  """Runs the Beam pipeline; leaves stats.json, membership.npy and the search shards in `work`."""
  import apache_beam as beam  # pylint: disable=import-outside-toplevel
  from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=import-outside-toplevel

  InsertChunks, OrBits, SumStats = _pipeline_stages(beam)
  num_shards = options.search_shards

  def write_stats(stats):
    _write_json(os.path.join(work, "stats.json"), stats)

  def write_filter(bits, shape):
    if bits is None:  # no document had a whole chunk
      bits = membership.BloomFilter(shape).bits
    np.save(os.path.join(work, index_dir.FILTER), bits, allow_pickle=False)

  def write_search_shard(keyed):
    shard, docs = keyed
    search_index.write_shard(os.path.join(work, search_index.shard_name(shard, num_shards)), docs)

  def shape_of(stats):
    return filter_shape(sum(v[1] for v in stats.values()), options)

  pipeline_options = PipelineOptions(beam_options.with_defaults(beam_args, every_core=False))
  with beam.Pipeline(options=pipeline_options) as p:
    docs = (p | "shards" >> beam.Create(list(shard_files))
            | "spread shards" >> beam.Reshuffle()
            | "read" >> beam.FlatMapTuple(
                lambda language, path: documents_lib.read_documents(root, language, path)))
    stats = (docs | "stats" >> beam.Map(_document_stats)
             | "sum stats" >> beam.CombineGlobally(SumStats()))
    stats | "write stats" >> beam.Map(write_stats)
    shape = stats | "filter shape" >> beam.Map(shape_of)
    (docs | "hash chunks" >> beam.ParDo(InsertChunks(), beam.pvalue.AsSingleton(shape))
     | "or bits" >> beam.CombineGlobally(OrBits())
     | "write filter" >> beam.Map(write_filter, beam.pvalue.AsSingleton(shape)))
    (docs | "key by shard" >> beam.Map(
        lambda d: (search_index.shard_of(d.doc_id, num_shards), d))
     | "group shards" >> beam.GroupByKey()
     | "write search" >> beam.Map(write_search_shard))


def _check_output(output: str, root: str) -> None:
  if os.path.abspath(output) == os.path.abspath(root) or os.path.abspath(root).startswith(
      os.path.abspath(output) + os.sep):
    raise DataError(f"--output={output}: would replace the data being indexed; give another "
                    "directory")
  if os.path.isdir(output) and os.listdir(output) and not os.path.isfile(
      os.path.join(output, index_dir.MANIFEST)):
    raise DataError(f"--output={output}: exists and is not a governance index (no "
                    f"{index_dir.MANIFEST}); give a new or empty directory, nothing was touched")
  if os.path.exists(output) and not os.path.isdir(output):
    raise DataError(f"--output={output}: exists and is not a directory")


def build_index(root: str, output: str, options: Optional[IndexOptions] = None,
                beam_args: Sequence[str] = ()) -> dict:
  """Builds the governance index of a Stack-format data root (prepared or not).

  Args:
    root: the data root (data/<language>/*.parquet, <language>/*.parquet, or *.parquet with a
      `lang` column). output: the index directory (created, or replaced if it holds an index).
    options: default index_options() as gin binds it. beam_args: Beam pipeline options.
  Returns:
    The manifest written to OUTPUT/manifest.json.
  """
  options = options or index_options()
  root = os.path.abspath(root)
  output = os.path.abspath(output)
  _check_output(output, root)
  start, cpu_start = time.monotonic(), _cpu_seconds()
  shard_files = documents_lib.root_shards(root)
  data_fingerprint = fingerprint.data_fingerprint(root)
  work = f"{output}.tmp-{os.getpid()}"
  shutil.rmtree(work, ignore_errors=True)
  os.makedirs(work)
  try:
    run_pipeline(root, work, shard_files, options, beam_args)
    with open(os.path.join(work, "stats.json"), encoding="utf-8") as f:
      stats = json.load(f)
    os.remove(os.path.join(work, "stats.json"))
    pipeline_seconds = time.monotonic() - start
    num_chunks = sum(v[1] for v in stats.values())
    shape = filter_shape(num_chunks, options)
    bloom = membership.BloomFilter(shape, np.load(os.path.join(work, index_dir.FILTER)))
    measured = measure_fp_rate(bloom, options.fp_samples, options.seed)
    search_files = sorted(name for name in os.listdir(work) if name.startswith("search-"))
    data_bytes = sum(v[2] for v in stats.values())
    filter_bytes = os.path.getsize(os.path.join(work, index_dir.FILTER))
    search_bytes = sum(os.path.getsize(os.path.join(work, n)) for n in search_files)
    shard_bytes = sum(os.path.getsize(path) for _, path in shard_files)
    manifest = {
        "format_version": index_dir.FORMAT_VERSION,
        "data_root": root,
        "data_fingerprint": data_fingerprint,
        "prepared_fingerprints": fingerprint.prepared_fingerprints(root),
        "num_shards_read": len(shard_files),
        "num_documents": sum(v[0] for v in stats.values()),
        "num_chunks": num_chunks,
        "data_bytes": data_bytes,
        "data_characters": sum(v[3] for v in stats.values()),
        "parquet_bytes": shard_bytes,
        "languages": {language: {"documents": v[0], "chunks": v[1], "bytes": v[2]}
                      for language, v in sorted(stats.items())},
        "filter": {
            "file": index_dir.FILTER, "chunk": membership.CHUNK, "hash": membership.HASH,
            "normalisation": "whitespace runs collapsed to one space, ends stripped",
            "num_bits": shape.num_bits, "num_hashes": shape.num_hashes,
            "target_fp_rate": options.false_positive_rate,
            "expected_fp_rate": shape.expected_fp_rate(num_chunks),
            "measured_fp_rate": measured, "fp_samples": options.fp_samples,
            "fill_ratio": bloom.fill_ratio(), "bytes": filter_bytes,
            "fraction_of_data": filter_bytes / data_bytes if data_bytes else 0.0,
        },
        "search": {"engine": f"SQLite {search_index.sqlite3.sqlite_version} FTS5, bm25",
                   "tokenizer": search_index.TOKENIZER, "files": search_files,
                   "bytes": search_bytes,
                   "fraction_of_data": search_bytes / data_bytes if data_bytes else 0.0},
        "pipeline_seconds": round(pipeline_seconds, 3),
        "build_seconds": round(time.monotonic() - start, 3),
        # this process and its Beam workers (when they are child processes): MB/s per core
        "build_cpu_seconds": round(_cpu_seconds() - cpu_start, 3),
        "beam_options": list(beam_args),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if manifest["num_documents"] == 0:
      raise DataError(f"--input={root}: its shards hold no usable documents (all empty or "
                      "non-UTF-8)")
    _write_json(os.path.join(work, index_dir.MANIFEST), manifest)
    if os.path.isdir(output):
      old = f"{output}.old-{os.getpid()}"
      os.replace(output, old)
      os.replace(work, output)
      shutil.rmtree(old)
    else:
      os.replace(work, output)
    return manifest
  finally:
    shutil.rmtree(work, ignore_errors=True)
