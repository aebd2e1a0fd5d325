"""The audit ledger: one row per input document saying which stage decided its fate and why.

Columns: doc_index, doc_id (`<shard>#<row>`), shard, language, repo, path (the input's
`max_stars_repo_name` / `max_stars_repo_path`), bytes (content bytes in), output_bytes,
stage (`filter`, `opt_out`, `exact_dedup`, `near_dedup`, `pii`, `decontamination`, or `none`),
decision (`kept`, `removed`, `redacted`), reason, cluster_id (the near-duplicate cluster's id =
its smallest doc_index, on every member of a cluster of two or more) and pii (the redacted
spans: type, start, end in the input content). Files `ledger/ledger-NNNNN.parquet`, each holding
a contiguous range of doc_index in order.
"""

from __future__ import annotations

import collections
import glob
import os

import pyarrow as pa
import pyarrow.parquet as pq

from starjax.data.errors import DataError

DIRECTORY = "ledger"
DECISIONS = ("kept", "removed", "redacted")
SCHEMA = pa.schema([
    ("doc_index", pa.int64()), ("doc_id", pa.string()), ("shard", pa.string()),
    ("language", pa.string()), ("repo", pa.string()), ("path", pa.string()),
    ("bytes", pa.int64()), ("output_bytes", pa.int64()), ("stage", pa.string()),
    ("decision", pa.string()), ("reason", pa.string()), ("cluster_id", pa.int64()),
    ("pii", pa.list_(pa.struct([("type", pa.string()), ("start", pa.int64()),
                                ("end", pa.int64())]))),
])


def row(doc: dict) -> dict:
  """The ledger row of a document that has been through the pipeline (its `output_bytes` are
  its content's bytes as written)."""
  kept = doc["decision"] != "removed"
  return {
      "doc_index": doc["doc_index"], "doc_id": doc["doc_id"], "shard": doc["shard"],
      "language": doc["language"], "repo": doc["repo"], "path": doc["path"],
      "bytes": doc["bytes"],
      "output_bytes": doc["output_bytes"] if kept else 0,
      "stage": doc["stage"], "decision": doc["decision"], "reason": doc["reason"],
      "cluster_id": doc.get("cluster_id"),
      "pii": [{"type": t, "start": s, "end": e} for t, s, e in doc.get("pii") or ()],
  }


def write(rows: list[dict], path: str) -> int:
  """Writes ledger rows sorted by doc_index; returns how many."""
  rows = sorted(rows, key=lambda r: r["doc_index"])
  os.makedirs(os.path.dirname(path), exist_ok=True)
  pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), path, compression="zstd")
  return len(rows)


def file_name(part: int) -> str:
  return os.path.join(DIRECTORY, f"ledger-{part:05d}.parquet")


def read(root: str, columns=None) -> pa.Table:
  """The whole ledger of an output root (all columns unless `columns`)."""
  files = sorted(glob.glob(os.path.join(root, DIRECTORY, "*.parquet")))
  if not files:
    raise DataError(f"{root}: no {DIRECTORY}/*.parquet; is this a `data prepare` output?")
  return pa.concat_tables(pq.read_table(f, columns=columns) for f in files)


def reconcile(table: pa.Table, input_rows: int, output_rows_by_shard: dict[str, int]) -> dict:
  """Checks the ledger against input and output and returns the counts per stage.

  Every input document has exactly one row; the kept and redacted rows of each shard are
  exactly the rows written for it. DataError when anything does not add up.
  Returns {stage: {decision: count}}.
  """
  indices = table.column("doc_index").to_pylist()
  if len(indices) != input_rows or len(set(indices)) != input_rows:
    raise DataError(f"ledger has {len(indices)} rows ({len(set(indices))} distinct documents) "
                    f"for {input_rows} input rows")
  kept = collections.Counter()
  counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
  for shard, stage, decision in zip(table.column("shard").to_pylist(),
                                    table.column("stage").to_pylist(),
                                    table.column("decision").to_pylist()):
    counts[stage][decision] += 1
    if decision != "removed":
      kept[shard] += 1
  written = {k: v for k, v in output_rows_by_shard.items() if v}
  if dict(kept) != written:
    diff = sorted(set(kept.items()) ^ set(written.items()))[:5]
    raise DataError(f"ledger and output rows disagree: {diff}")
  return {stage: dict(c) for stage, c in sorted(counts.items())}
