"""`data prepare` throughput on the local corpus, and near-dedup next to plain datasketch.

    python benchmarks/prepare.py [--input=DIR] [--docs=N] [--workers=K] [--near_only]

1. A subset of N documents of the input (default: the local corpus that `data build-local`
   builds), spread over its languages, is written as a Stack-format root. `--docs=0` takes the
   whole input as it is (every shard, every row group): the scale at which a corpus is really
   prepared, where Beam's fixed start-up cost (about 11 s for the first pipeline in a process,
   see BENCHMARKS.md) no longer decides the ratio.
2. Each stage's function alone, one core: MB/s.
3. The whole pipeline (`data prepare`, DirectRunner, K worker processes): MB/s and MB/s per core.
4. Near-dedup only (every other stage off), in the pipeline, next to a straightforward
   datasketch implementation of BigCode's algorithm in one process (BigCode's shingling,
   `MinHash(num_perm=256, seed=42, scheme="legacy").update_batch(shingles)` per document,
   `MinHashLSH(params=(25, 10))` insert + query, union-find): documents per second, and the
   clusters must be the same. starjax's time is `data prepare`'s whole run (Beam start-up,
   reading parquet, near-dedup, writing shards + ledger, manifest, report); datasketch's is
   signatures + LSH + union-find over documents already in memory. Both also per CPU-second
   summed over every process (starjax runs K workers, datasketch one process): that is the
   per-core comparison. Also the same pipeline with every stage off (its fixed cost: workers,
   reading, writing, ledger, report), and the signature kernels alone on one core.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import os
import re
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import gin  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

import starjax.eval.benchmarks  # noqa: E402,F401  (registers the decontamination strings)
from starjax.data import config, filters, local_corpus  # noqa: E402
from starjax.data.prepare import cli, decontamination, documents, ledger, minhash  # noqa: E402
from starjax.data.prepare import pii  # noqa: E402


def subset(source: str, target: str, docs: int) -> list[dict]:
  """Writes about `docs` documents of `source`, round-robin over its shards, under `target`."""
  input_shards = documents.discover(source)
  per_shard = max(1, docs // len(input_shards))
  rows_out = []
  for shard in input_shards:
    table = pq.ParquetFile(shard.path).read_row_group(0) if shard.row_groups else None
    if table is None:
      continue
    table = table.slice(0, per_shard)
    path = os.path.join(target, shard.relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(table, path)
    rows_out.extend(table.to_pylist())
  return rows_out


def whole_input(source: str) -> list[dict]:
  """Every row of `source`, in doc_index order (shards as `documents.discover` sorts them)."""
  rows = []
  for shard in documents.discover(source):
    rows.extend(pq.ParquetFile(shard.path).read(columns=["content"]).to_pylist())
  return rows


def stage_rates(rows: list[dict]) -> dict[str, float]:
  """MB/s of each stage's work on one core."""
  texts = [(r["content"], r.get("lang") or "") for r in rows if r["content"]]
  megabytes = sum(len(t.encode()) for t, _ in texts) / 1e6
  strings = decontamination.benchmark_strings()
  matcher = decontamination.Matcher(strings, 50)
  work = {
      "filter (quality)": lambda t, l: filters.quality_problem(t, l),
      "exact_dedup (sha256)": lambda t, l: hashlib.sha256(t.encode()).digest(),
      "near_dedup (signature + bands)": lambda t, l: (
          lambda s: s is not None and minhash.band_keys(s, 25, 10))(minhash.signature(t)),
      "pii (detect + redact)": lambda t, l: pii.redact_document(t, l),
      "decontamination": lambda t, l: matcher.first_hit(t),
  }
  out = {}
  for name, fn in work.items():
    start = time.process_time()
    for text, language in texts:
      fn(text, language)
    out[name] = megabytes / (time.process_time() - start)
  return out


_KERNEL_SAMPLE = 4000
_NON_ALPHA = re.compile("[^A-Za-z_0-9]")


def bigcode_shingles(content: str, ngram: int = 5) -> set[bytes]:
  """BigCode's shingling as their near-dedup script writes it (split, n-grams, join)."""
  tokens = _NON_ALPHA.split(content)
  if len(tokens) < ngram:
    return set()
  return {" ".join(t).encode("utf-8") for t in zip(*(tokens[i:] for i in range(ngram)))}


def datasketch_minhash(content: str):
  from datasketch import MinHash
  grams = bigcode_shingles(content) if content else set()
  if not grams:
    return None
  m = MinHash(num_perm=256, seed=42, scheme="legacy")
  m.update_batch(grams)
  return m


def kernel_rates(rows: list[dict]) -> tuple[float, float]:
  """Documents/s on one core (CPU time): datasketch MinHash + MinHashLSH.insert per document
  against starjax's batched signatures + band keys (equal signatures checked)."""
  import numpy as np
  from datasketch import MinHashLSH
  contents = [r["content"] or "" for r in rows]
  start = time.process_time()
  lsh = MinHashLSH(num_perm=256, params=(25, 10))
  theirs = []
  for index, content in enumerate(contents):
    m = datasketch_minhash(content)
    if m is not None:
      lsh.insert(index, m)
      theirs.append(m.hashvalues)
  theirs_seconds = time.process_time() - start
  start = time.process_time()
  ours = []
  for lo in range(0, len(contents), 128):
    sigs, _ = minhash.signatures(contents[lo:lo + 128])
    minhash.band_keys_batch(sigs, 25, 10)
    ours.append(sigs)
  ours_seconds = time.process_time() - start
  if not np.array_equal(np.concatenate(ours), np.array(theirs)):
    raise AssertionError("signatures differ from datasketch's")
  return len(rows) / theirs_seconds, len(rows) / ours_seconds


def datasketch_near_dedup(rows: list[dict]) -> tuple[list[set], float]:
  """BigCode's near-dedup written directly against datasketch; (clusters, seconds)."""
  from datasketch import MinHashLSH
  start = time.perf_counter()
  lsh = MinHashLSH(num_perm=256, params=(25, 10))
  hashes = {}
  for index, row in enumerate(rows):
    m = datasketch_minhash(row["content"])
    if m is None:
      continue
    lsh.insert(index, m)
    hashes[index] = m
  parent = {}

  def find(x):
    parent.setdefault(x, x)
    while parent[x] != x:
      parent[x] = parent[parent[x]]
      x = parent[x]
    return x

  for index, m in hashes.items():
    for other in lsh.query(m):
      a, b = find(index), find(other)
      if a != b:
        parent[max(a, b)] = min(a, b)
  groups = collections.defaultdict(set)
  for index in hashes:
    groups[find(index)].add(index)
  seconds = time.perf_counter() - start
  return [g for g in groups.values() if len(g) > 1], seconds


def cpu_seconds() -> float:
  """User + system CPU time of this process and of its finished children (Beam's workers are
  subprocesses that the runner waits for when the pipeline ends)."""
  own, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                    resource.RUSAGE_CHILDREN))
  return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_prepare(subset_dir: str, output: str, beam: list[str]) -> tuple[float, float]:
  """(wall seconds, CPU seconds over every process) of one `data prepare` run."""
  wall, cpu = time.perf_counter(), cpu_seconds()
  cli.prepare(subset_dir, output, None, beam, progress=lambda *_: None)
  return time.perf_counter() - wall, cpu_seconds() - cpu


def starjax_clusters(output: str, first_index: dict) -> list[set]:
  table = ledger.read(output, columns=["doc_index", "cluster_id"]).to_pylist()
  groups = collections.defaultdict(set)
  for r in table:
    if r["cluster_id"] is not None:
      groups[r["cluster_id"]].add(r["doc_index"])
  return list(groups.values())


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--input", default=None, help="Stack-format root (default: local corpus)")
  parser.add_argument("--docs", type=int, default=4000,
                      help="documents in the subset; 0: the whole input, read in place")
  parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
  parser.add_argument("--near_only", action="store_true",
                      help="only the near-dedup comparison (skip stage rates, whole pipeline)")
  args = parser.parse_args()
  source = args.input or local_corpus.corpus_dir(config.data_paths().cache_dir)
  with tempfile.TemporaryDirectory() as tmp:
    if args.docs > 0:
      subset_dir = os.path.join(tmp, "in")
      rows = subset(source, subset_dir, args.docs)
    else:
      subset_dir, rows = source, whole_input(source)
    megabytes = sum(len((r["content"] or "").encode()) for r in rows) / 1e6
    print(f"input: {len(rows):,} documents, {megabytes:.1f} MB from {source}")
    beam = ["--direct_running_mode=multi_processing", f"--direct_num_workers={args.workers}"]
    if not args.near_only:
      for name, rate in stage_rates(rows).items():
        print(f"  stage {name:<34} {rate:8.2f} MB/s (one core)")
      start = time.perf_counter()
      cli.prepare(subset_dir, os.path.join(tmp, "all"), None, beam, progress=lambda *_: None)
      seconds = time.perf_counter() - start
      print(f"whole pipeline, {args.workers} workers: {seconds:.1f} s, {megabytes / seconds:.2f} "
            f"MB/s, {megabytes / seconds / args.workers:.2f} MB/s per core")
    # A sample is enough for a per-core rate (the whole corpus would add 14 min of datasketch).
    sample = rows[:_KERNEL_SAMPLE]
    theirs_rate, ours_rate = kernel_rates(sample)
    print(f"signature kernels, one core, {len(sample):,} documents: datasketch MinHash + LSH insert {theirs_rate:,.0f} "
          f"docs/s; starjax signatures + band keys {ours_rate:,.0f} docs/s "
          f"({ours_rate / theirs_rate:.2f}x)")
    for binding in ("prepare_filters.enabled", "exact_dedup.enabled", "pii.enabled",
                    "decontamination.enabled", "opt_out.enabled"):
      gin.bind_parameter(binding, False)
    ours_seconds, ours_cpu = timed_prepare(subset_dir, os.path.join(tmp, "near"), beam)
    gin.bind_parameter("near_dedup.enabled", False)
    fixed_seconds, fixed_cpu = timed_prepare(subset_dir, os.path.join(tmp, "none"), beam)
    gin.clear_config()
    # doc_index order = shards sorted by relative path, rows in order: the same as `rows`
    # only if subset() wrote them in that order, which it does (discover() sorts the same way).
    theirs_cpu = time.process_time()
    theirs, theirs_seconds = datasketch_near_dedup(rows)
    theirs_cpu = time.process_time() - theirs_cpu
    ours = starjax_clusters(os.path.join(tmp, "near"), {})
    same = sorted(map(sorted, ours)) == sorted(map(sorted, theirs))
    n = len(rows)
    print(f"near-dedup only: starjax (Beam, {args.workers} workers, read + write included) "
          f"{n / ours_seconds:,.0f} docs/s; datasketch MinHash + MinHashLSH (one process) "
          f"{n / theirs_seconds:,.0f} docs/s; ratio {theirs_seconds / ours_seconds:.2f}x; "
          f"clusters: {len(ours)} vs {len(theirs)}, same: {same}")
    print(f"  per CPU-second (every process): starjax {n / ours_cpu:,.0f} docs "
          f"({ours_cpu:.1f} CPU-s in {ours_seconds:.1f} s), datasketch {n / theirs_cpu:,.0f} "
          f"docs ({theirs_cpu:.1f} CPU-s); ratio {theirs_cpu / ours_cpu:.2f}x")
    own = ours_seconds - fixed_seconds
    own_cpu = ours_cpu - fixed_cpu
    print(f"  the same pipeline with every stage off: {fixed_seconds:.1f} s ({fixed_cpu:.1f} "
          f"CPU-s); near-dedup's own share {own:.1f} s → {n / max(own, 1e-9):,.0f} docs/s "
          f"({theirs_seconds / max(own, 1e-9):.2f}x datasketch), {own_cpu:.1f} CPU-s "
          f"({theirs_cpu / max(own_cpu, 1e-9):.2f}x per CPU-second)")
    print(f"  load: {os.getloadavg()[0]:.1f} (1-minute average, {os.cpu_count()} cores)")
    return 0 if same else 1


if __name__ == "__main__":
  sys.exit(main())
