"""Governance index benchmark: `data index` build throughput, membership and search latency,
and index size, on the local corpus (or any Stack-format root).

    python benchmarks/governance.py                          # the local corpus, builds the index
    python benchmarks/governance.py --input=PREPARED --reuse --write
    python benchmarks/governance.py --direct_num_workers=2 --direct_running_mode=multi_processing

Build: MB of document text per second of wall time and per CPU-second (this process and its
Beam workers). Membership: µs per 1 KB of input (every offset tested), on 1 KB pieces copied
from training documents and on random text. Search: ms per query, two-word queries and
six-word phrases drawn from the documents. Attribution: ms per 1 KB copied from a document.
--write replaces the section between the governance markers in BENCHMARKS.md. Other --options
are Beam pipeline options.
"""

import argparse
import datetime
import os
import platform
import random
import re
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

START, END = "<!-- governance:start -->", "<!-- governance:end -->"


def cpu_seconds() -> float:
  own = resource.getrusage(resource.RUSAGE_SELF)
  children = resource.getrusage(resource.RUSAGE_CHILDREN)
  return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def sample_documents(root: str, count: int, seed: int) -> list[str]:
  from starjax.data.governance import documents  # pylint: disable=import-outside-toplevel
  rng = random.Random(seed)
  shards = documents.root_shards(root)
  picked = rng.sample(shards, min(len(shards), 40))
  texts = []
  for language, path in picked:
    texts += [d.content for d in documents.read_documents(root, language, path)
              if len(d.content) > 2000][:max(1, count // len(picked) + 1)]
  rng.shuffle(texts)
  return texts[:count]


def timed(function, items) -> list[float]:
  out = []
  for item in items:
    start = time.perf_counter()
    function(item)
    out.append(time.perf_counter() - start)
  return out


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--input", default=None, help="data root (default: the local corpus)")
  parser.add_argument("--output", default="/tmp/starjax-governance-index")
  parser.add_argument("--reuse", action="store_true", help="time queries on an existing index")
  parser.add_argument("--queries", type=int, default=300)
  parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
  args, beam_args = parser.parse_known_args()
  from starjax.data import config, local_corpus  # pylint: disable=import-outside-toplevel
  from starjax.data.governance import (attribution, index_build,  # pylint: disable=import-outside-toplevel
                                       index_dir, membership)
  root = args.input or local_corpus.corpus_dir(config.data_paths().cache_dir)
  load_before = os.getloadavg()[0]
  if not args.reuse:
    wall, cpu = time.perf_counter(), cpu_seconds()
    manifest = index_build.build_index(root, args.output, index_build.index_options(),
                                       beam_args=beam_args)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    build = {"wall": wall, "cpu": cpu, "pipeline": manifest["pipeline_seconds"]}
  else:
    build = None
  index = index_dir.open_index(args.output)
  manifest = index.manifest
  mb = manifest["data_bytes"] / 1e6
  rng = random.Random(0)
  docs = sample_documents(root, args.queries, seed=0)
  copies = []
  for text in docs:
    start = rng.randrange(0, len(text) - 1000)
    copies.append(text[start:start + 1000])
  alphabet = "abcdefghijklmnopqrstuvwxyz_ (){}[]=+-*/.,:;\n"
  randoms = ["".join(rng.choice(alphabet) for _ in range(1000)) for _ in range(len(docs))]
  member_copy = timed(lambda t: membership.find_spans(index.bloom, t), copies)
  member_random = timed(lambda t: membership.find_spans(index.bloom, t), randoms)
  found = sum(membership.coverage(membership.find_spans(index.bloom, t), len(t)) for t in copies
              ) / len(copies)
  words = [re.findall(r"\b[A-Za-z_]{4,}\b", text) for text in docs]
  bare = [" ".join(rng.sample(w, 2)) for w in words if len(w) >= 2]
  phrases = []
  for w in words:
    if len(w) >= 6:
      i = rng.randrange(0, len(w) - 6)
      phrases.append('"' + " ".join(w[i:i + 6]) + '"')
  search_bare = timed(lambda q: index.search.search(q, top=10), bare)
  search_phrase = timed(lambda q: index.search.search(q, top=10), phrases)
  attribute = timed(lambda t: attribution.attribute(index, t), copies[:100])

  def stats(xs, scale, unit, digits):
    return (f"{scale * statistics.median(xs):,.{digits}f} {unit} (min {scale * min(xs):,.{digits}f}"
            f", p95 {scale * sorted(xs)[int(0.95 * len(xs))]:,.{digits}f})")
  ms = lambda xs: stats(xs, 1e3, "ms", 2)
  us = lambda xs: stats(xs, 1e6, "µs", 0)
  f, s = manifest["filter"], manifest["search"]
  lines = [
      f"On {os.path.basename(root.rstrip('/'))} ({manifest['num_documents']:,} documents, "
      f"{mb:,.1f} MB of text, {len(manifest['languages'])} languages), "
      f"{datetime.date.today().isoformat()}, {platform.machine()} {os.cpu_count()} CPU cores, "
      f"load average {load_before:.1f} before the run and {os.getloadavg()[0]:.1f} after it "
      f"(other work on the machine inflates wall times and latencies; CPU-seconds less so). "
      f"Beam options: "
      f"{' '.join(manifest['beam_options']) or '(DirectRunner defaults)'}.", "",
      "| measurement | result |", "|---|---|"]
  if build is None:
    cpu = manifest.get("build_cpu_seconds")
    per_core = f"; **{mb / cpu:.2f} MB/s per core**" if cpu else ""
    lines += [f"| `data index` build (recorded in the manifest) | pipeline "
              f"{manifest['pipeline_seconds']:.1f} s, whole build {manifest['build_seconds']:.1f} s"
              f" wall{per_core} |"]
  if build:
    lines += [f"| `data index` build (whole command, wall) | {build['wall']:.1f} s: "
              f"{mb / build['wall']:.2f} MB/s; {build['cpu'] / build['wall']:.2f} cores busy → "
              f"**{mb / build['cpu']:.2f} MB/s per core** |",
              f"| of which the Beam pipeline | {build['pipeline']:.1f} s |"]
  lines += [
      f"| membership filter | {f['bytes'] / 1e6:.1f} MB = **{100 * f['fraction_of_data']:.1f} % "
      f"of the data** ({f['num_bits'] / max(1, manifest['num_chunks']):.1f} bits per chunk, "
      f"{f['num_hashes']} hashes) |",
      f"| false-positive rate per window | measured {100 * f['measured_fp_rate']:.3f} % on "
      f"{f['fp_samples']:,} random strings; target {100 * f['target_fp_rate']:.2f} % |",
      f"| search index (SQLite FTS5, text included) | {s['bytes'] / 1e6:.0f} MB = "
      f"{100 * s['fraction_of_data']:.0f} % of the data |",
      f"| membership, 1 KB copied from a document | {us(member_copy)} per KB; "
      f"{100 * found:.0f} % of it covered |",
      f"| membership, 1 KB of random text | {us(member_random)} per KB |",
      f"| search, two words (AND), top 10 | {ms(search_bare)} per query ({len(bare)} queries) |",
      f"| search, six-word phrase, top 10 | {ms(search_phrase)} per query ({len(phrases)}) |",
      f"| attribution of 1 KB copied from a document | {ms(attribute)} |",
  ]
  text = "\n".join(lines) + "\n"
  print(text)
  if args.write:
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "BENCHMARKS.md")
    with open(path, encoding="utf-8") as handle:
      current = handle.read()
    section = f"{START}\n{text}{END}"
    if START in current:
      current = current[:current.index(START)] + section + current[current.index(END) + len(END):]
    else:
      current = current.rstrip("\n") + (
          "\n\n## Governance index (`benchmarks/governance.py`)\n\n" + section + "\n")
    with open(path, "w", encoding="utf-8") as handle:
      handle.write(current)
    print(f"updated {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
