"""Reports of evaluation summaries: a markdown table per benchmark/language and a pass@k bar chart.

Input: summary dicts as evaluate_samples returns them (and summary.json holds), one per
benchmark. Used at the end of `run.py eval` / `run.py evaluate` and by the quickstart's report.
"""

from __future__ import annotations

import os
import re
from typing import Mapping, Sequence

from starjax.eval.contamination import markdown_split
from starjax.eval.languages import get_language

REPORT_FILE = "report.md"
CHART_FILE = "pass_at_k.png"


def pass_at_k_keys(summaries: Sequence[Mapping]) -> list[str]:
  """The pass@k keys present in any summary, by k."""
  keys = {key for summary in summaries for key in summary if re.fullmatch(r"pass@\d+", key)}
  return sorted(keys, key=lambda key: int(key[5:]))


def language_name(summary: Mapping) -> str:
  try:
    return get_language(summary["language"]).name
  except (ValueError, ImportError):
    return summary["language"]


def markdown_table(summaries: Sequence[Mapping]) -> str:
  """One row per benchmark: language, problems scored, samples per task, pass@k (percent),
  and how many results were timeouts, compile errors or invalid input lines."""
  keys = pass_at_k_keys(summaries)
  header = (["benchmark", "language", "problems", "samples/task"] + keys
            + ["timed out", "compile errors", "invalid lines"])
  rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for summary in summaries:
    per_task = summary["samples_per_task"]
    samples = (str(per_task["min"]) if per_task["min"] == per_task["max"]
               else f"{per_task['min']}–{per_task['max']}")
    problems = f"{summary['num_tasks_scored']}/{summary['num_problems']}"
    if summary.get("num_dropped_problems"):
      problems += f" ({summary['num_dropped_problems']} untranslatable)"
    results = summary.get("results", {})
    cells = [summary["benchmark"], language_name(summary), problems, samples]
    cells += [f"{100 * summary[key]:.2f}" if key in summary else "–" for key in keys]
    cells += [str(results.get("timed out", 0)), str(results.get("compile error", 0)),
              str(summary.get("num_invalid_lines", 0))]
    rows.append("| " + " | ".join(cells) + " |")
  return "\n".join(rows) + "\n"


def bar_chart(summaries: Sequence[Mapping], path: str, title: str = "pass@k") -> str:
  """Writes a grouped bar chart (one group per benchmark, one bar per k) as PNG; returns path."""
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  keys = pass_at_k_keys(summaries)
  names = [summary["benchmark"] for summary in summaries]
  width = 0.8 / max(1, len(keys))
  figure, axes = plt.subplots(figsize=(max(4.0, 1.2 * len(names) + 2), 3.5))
  for i, key in enumerate(keys):
    positions = [j + (i - (len(keys) - 1) / 2) * width for j in range(len(names))]
    values = [100 * summary.get(key, 0.0) for summary in summaries]
    bars = axes.bar(positions, values, width, label=key)
    axes.bar_label(bars, fmt="%.1f", fontsize=7)
  axes.set_xticks(range(len(names)), names, rotation=30 if len(names) > 4 else 0, ha="right"
                  if len(names) > 4 else "center")
  axes.set_ylabel("%")
  axes.set_ylim(0, 105)
  axes.set_title(title)
  if keys:
    axes.legend(fontsize=8)
  figure.tight_layout()
  figure.savefig(path, dpi=120)
  plt.close(figure)
  return path


def write_report(out_dir: str, summaries: Sequence[Mapping], title: str = "Evaluation"
                 ) -> tuple[str, str]:
  """Writes out_dir/report.md (the table, the chart, the sandbox used) and out_dir/pass_at_k.png.

  Returns (report path, chart path).
  """
  os.makedirs(out_dir, exist_ok=True)
  chart = bar_chart(summaries, os.path.join(out_dir, CHART_FILE), title=f"{title}: pass@k")
  lines = [f"# {title}\n", markdown_table(summaries), f"![pass@k]({CHART_FILE})\n"]
  split = markdown_split(summaries)  # only when evaluated with --index
  if split:
    lines.append(split)
  for summary in summaries:
    notes = []
    if summary.get("omitted"):
      notes.append(f"not reported: {summary['omitted']}")
    if summary.get("num_tasks_missing"):
      notes.append(f"{summary['num_tasks_missing']} problems had no samples")
    sandbox = summary.get("sandbox", {})
    if sandbox:
      notes.append(f"sandbox: {sandbox.get('isolation')}, {sandbox.get('memory_mb')} MiB, "
                   f"timeout {summary.get('timeouts', {}).get('run')} s")
    if notes:
      lines.append(f"- **{summary['benchmark']}**: " + "; ".join(notes))
  report = os.path.join(out_dir, REPORT_FILE)
  with open(report, "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
  return report, chart
