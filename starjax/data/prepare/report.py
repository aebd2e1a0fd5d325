"""`report.md` of a `data prepare` run: what each stage removed, per language, and why.

Sections: per-stage counts and bytes, per-language counts by stage, the near-dedup cluster size
distribution and the LSH detection curve (PNG plots next to the report, under `report/`), PII
spans by type, decontamination hits by benchmark. Deterministic: the same ledger gives the
same bytes (plots are written without timestamps).
"""

from __future__ import annotations

import collections
import os

import pyarrow as pa

from starjax.data.prepare import minhash
from starjax.data.prepare.stages import STAGES

PLOTS = "report"


def _table(header: list[str], rows: list[list]) -> list[str]:
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
  return lines


def summarise(table: pa.Table) -> dict:
  """Counts for the report and the manifest, from the ledger."""
  cols = {name: table.column(name).to_pylist() for name in
          ("language", "stage", "decision", "reason", "bytes", "output_bytes", "cluster_id")}
  by_stage = collections.defaultdict(lambda: collections.Counter())
  by_language = collections.defaultdict(lambda: collections.Counter())
  clusters = collections.Counter()
  benchmarks = collections.Counter()
  for language, stage, decision, reason, size, out_size, cluster in zip(*cols.values()):
    by_stage[stage][decision] += 1
    by_stage[stage]["bytes_in"] += size
    by_stage[stage]["bytes_out"] += out_size
    by_language[language][stage if decision == "removed" else decision] += 1
    by_language[language]["input"] += 1
    by_language[language]["bytes_removed"] += size - out_size
    if cluster is not None:
      clusters[cluster] += 1
    if stage == "decontamination":
      benchmarks[reason.split(":", 1)[0]] += 1
  pii_types = collections.Counter()
  for spans in table.column("pii").to_pylist():
    for span in spans or ():
      pii_types[span["type"]] += 1
  return {
      "by_stage": {k: dict(v) for k, v in sorted(by_stage.items())},
      "by_language": {k: dict(v) for k, v in sorted(by_language.items())},
      "cluster_sizes": dict(sorted(collections.Counter(clusters.values()).items())),
      "pii_by_type": dict(sorted(pii_types.items())),
      "decontamination_by_benchmark": dict(sorted(benchmarks.items())),
  }


def _plots(summary: dict, directory: str, bands: int, rows: int) -> list[str]:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  os.makedirs(directory, exist_ok=True)
  names = []
  sizes = summary["cluster_sizes"]
  fig, ax = plt.subplots(figsize=(6, 3.5))
  if sizes:
    ax.bar([str(k) for k in sizes], list(sizes.values()))
  ax.set_xlabel("documents per near-duplicate cluster")
  ax.set_ylabel("clusters")
  ax.set_yscale("log" if sizes and max(sizes.values()) > 100 else "linear")
  ax.set_title("near-dedup cluster sizes")
  fig.tight_layout()
  fig.savefig(os.path.join(directory, "cluster_sizes.png"), metadata={"Software": None})
  plt.close(fig)
  names.append("cluster_sizes.png")
  fig, ax = plt.subplots(figsize=(6, 3.5))
  s = [i / 100 for i in range(101)]
  ax.plot(s, [minhash.detection_probability(x, bands, rows) for x in s])
  ax.set_xlabel("Jaccard similarity of a pair")
  ax.set_ylabel("P(detected)")
  ax.set_title(f"LSH detection curve, {bands} bands x {rows} rows")
  ax.grid(True, alpha=0.3)
  fig.tight_layout()
  fig.savefig(os.path.join(directory, "lsh_detection.png"), metadata={"Software": None})
  plt.close(fig)
  names.append("lsh_detection.png")
  return names


def write(root: str, summary: dict, manifest: dict) -> None:
  """Writes root/report.md and root/report/*.png."""
  near = manifest["config"]["near_dedup"]
  plots = _plots(summary, os.path.join(root, PLOTS), near["bands"], near["rows"])
  lines = ["# data prepare report", "",
           f"Input: `{manifest['input']['root']}` ({manifest['input']['rows']:,} documents, "
           f"fingerprint `{manifest['input']['fingerprint'][:16]}`); output "
           f"{manifest['output']['rows']:,} documents (fingerprint "
           f"`{manifest['output']['fingerprint'][:16]}`).", "", "## By stage", ""]
  rows = []
  for stage in STAGES + ("none",):
    c = summary["by_stage"].get(stage, {})
    if not c:
      continue
    removed_bytes = c.get("bytes_in", 0) - c.get("bytes_out", 0)
    rows.append([stage, c.get("removed", 0), c.get("redacted", 0), c.get("kept", 0),
                 f"{removed_bytes / 1e6:.2f}"])
  lines += _table(["stage", "removed", "redacted", "kept", "MB removed"], rows)
  lines += ["", "## By language (documents)", ""]
  columns = ["input"] + list(STAGES) + ["redacted", "kept"]
  rows = [[language] + [c.get(k, 0) for k in columns] + [f"{c.get('bytes_removed', 0) / 1e6:.2f}"]
          for language, c in summary["by_language"].items()]
  lines += _table(["language"] + [c if c in ("input", "redacted", "kept") else f"−{c}"
                                  for c in columns] + ["MB removed"], rows)
  lines += ["", "## Near-duplicate clusters", "",
            f"Clusters of two or more documents, by size ({near['bands']} bands x "
            f"{near['rows']} rows, keep = {near['keep']}):", ""]
  lines += _table(["size", "clusters"], [[k, v] for k, v in summary["cluster_sizes"].items()])
  lines += ["", f"![cluster sizes]({PLOTS}/{plots[0]})", "",
            f"![LSH detection curve]({PLOTS}/{plots[1]})", "", "## PII (spans redacted)", ""]
  lines += _table(["type", "spans"], [[k, v] for k, v in summary["pii_by_type"].items()])
  decon = manifest.get("decontamination", {})
  lines += ["", "## Decontamination (documents removed)", "",
            f"Against {decon.get('strings', 0):,} strings of {len(decon.get('benchmarks', []))} "
            f"benchmarks ({decon.get('skipped_short', 0)} shorter than "
            f"{manifest['config']['decontamination']['min_chars']} characters not searched).", ""]
  lines += _table(["benchmark", "documents"],
                  [[k, v] for k, v in summary["decontamination_by_benchmark"].items()])
  with open(os.path.join(root, "report.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
