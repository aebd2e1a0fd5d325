"""The run directory of one evaluation: results.jsonl, summary.json and run.json.

results.jsonl: one JSON object per input line, the line's own keys plus `passed` and `result`.
It is appended to (and flushed) as each program's verdict arrives, so an interrupted run loses
nothing that was scored; the next run with the same samples and settings reads it back, scores
only what is missing, and at the end rewrites it atomically in input order.
run.json: what the directory holds results of (benchmark, samples file digest, settings); a run
with other samples or settings refuses the directory instead of mixing results.
summary.json: pass@k and counts (see build_summary), written atomically at the end.
"""

from __future__ import annotations

import collections
import json
import os
from typing import Any, Iterable, Mapping

RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"
MANIFEST_FILE = "run.json"
INVALID = "invalid input"
# How many invalid lines summary.json quotes (all are counted; all are in results.jsonl).
QUOTED_INVALID_LINES = 20


class RunDirectoryConflict(ValueError):
  """The output directory holds results of a different evaluation."""


def write_json_atomic(path: str, value: Any) -> None:
  temporary = path + ".tmp"
  with open(temporary, "w", encoding="utf-8") as f:
    json.dump(value, f, indent=2, ensure_ascii=False)
    f.write("\n")
  os.replace(temporary, path)


def claim_run_directory(out_dir: str, manifest: Mapping[str, Any]) -> None:
  """Makes out_dir this run's directory, or checks that it already is (resume).

  manifest: what identifies the evaluation (benchmark, samples digest, settings). Raises
  RunDirectoryConflict when out_dir holds results of another one; nothing in it is touched then.
  """
  os.makedirs(out_dir, exist_ok=True)
  manifest_path = os.path.join(out_dir, MANIFEST_FILE)
  results_path = os.path.join(out_dir, RESULTS_FILE)
  fix = (f"Use another --out, or delete {results_path} and {manifest_path} to score from scratch.")
  if os.path.exists(manifest_path):
    with open(manifest_path, encoding="utf-8") as f:
      previous = json.load(f)
    for key, value in manifest.items():
      if previous.get(key) != value:
        raise RunDirectoryConflict(
            f"{out_dir} holds results of another evaluation: its {key} is "
            f"{previous.get(key)!r}, this one's is {value!r}. {fix}")
    return
  if os.path.exists(results_path):
    raise RunDirectoryConflict(f"{results_path} exists but {manifest_path} does not, so it is "
                               f"unknown what it holds results of. {fix}")
  write_json_atomic(manifest_path, dict(manifest))


def load_scored(out_dir: str) -> dict[tuple[str, str], tuple[bool, str]]:
  """Verdicts already in out_dir/results.jsonl, by (task_id, completion).

  A torn last line (a crash mid-write), invalid-input and cancelled records are skipped: they
  are recomputed.
  """
  scored = {}
  path = os.path.join(out_dir, RESULTS_FILE)
  if not os.path.exists(path):
    return scored
  with open(path, encoding="utf-8", errors="replace") as f:
    for text in f:
      try:
        record = json.loads(text)
        key = (record["task_id"], record["completion"])
        passed, result = record["passed"], record["result"]
      except (json.JSONDecodeError, KeyError, TypeError):
        continue
      if (isinstance(key[0], str) and isinstance(key[1], str) and isinstance(passed, bool)
          and isinstance(result, str) and not result.startswith((INVALID, "cancelled"))):
        scored[key] = (passed, result)
  return scored


class ResultsLog:
  """Appends result records to out_dir/results.jsonl, flushed one by one."""

  def __init__(self, out_dir: str):
    self.path = os.path.join(out_dir, RESULTS_FILE)
    self._file = open(self.path, "a", encoding="utf-8")

  def append(self, record: Mapping[str, Any]) -> None:
    self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
    self._file.flush()

  def close(self) -> None:
    self._file.close()


def rewrite_in_order(out_dir: str, records: Iterable[Mapping[str, Any]]) -> str:
  """Replaces results.jsonl atomically with `records` (one per input line, in input order)."""
  path = os.path.join(out_dir, RESULTS_FILE)
  temporary = path + ".tmp"
  with open(temporary, "w", encoding="utf-8") as f:
    for record in records:
      f.write(json.dumps(record, ensure_ascii=False) + "\n")
  os.replace(temporary, path)
  return path


def result_category(result: str) -> str:
  """'passed', 'failed', 'timed out', 'compile error' or 'invalid input'."""
  return result.split(":", 1)[0]


def build_summary(*, benchmark, counts: Mapping[str, tuple[int, int]],
                  pass_at_k: Mapping[str, float], omitted_ks: list[int],
                  records: list[Mapping[str, Any]], invalid: list[tuple[int, str]],
                  extra: Mapping[str, Any]) -> dict[str, Any]:
  """summary.json's content.

  counts: task_id → (samples, passed) of scored tasks. records: every input line's result record.
  invalid: (line, why) of the lines that could not be scored. extra: settings, paths, timing.
  """
  samples_per_task = [n for n, _ in counts.values()]
  summary: dict[str, Any] = {"benchmark": benchmark.name, "language": benchmark.language.ext}
  summary.update(pass_at_k)
  summary.update({
      "num_problems": len(benchmark.problems),
      "num_tasks_scored": len(counts),
      "num_tasks_missing": len(benchmark.problems) - len(counts),
      "num_samples": sum(samples_per_task),
      "samples_per_task": ({"min": min(samples_per_task), "max": max(samples_per_task)}
                           if samples_per_task else {"min": 0, "max": 0}),
      "results": dict(collections.Counter(result_category(r["result"]) for r in records)),
      "num_invalid_lines": len(invalid),
      "invalid_lines": [{"line": line, "error": why}
                        for line, why in invalid[:QUOTED_INVALID_LINES]],
  })
  if omitted_ks:
    fewest = summary["samples_per_task"]["min"]
    summary["omitted"] = (f"pass@{', pass@'.join(map(str, omitted_ks))}: needs at least k samples "
                          f"of every task, and the fewest any task has is {fewest}")
  if benchmark.dropped:
    summary["num_dropped_problems"] = len(benchmark.dropped)
    summary["dropped_problems"] = dict(benchmark.dropped)
  summary.update(extra)
  return summary
