"""bigcode-evaluation-harness's files, next to starjax's own in every evaluation directory.

    evaluation_results.json   {"<task>": {"pass@1": ..., "pass@10": ...}, "config": {...}}
    generations_<task>.json   one JSON list per problem, in the benchmark's task order, of that
                              problem's generations

A harness generation of a left-to-right task is the whole program text the model produced
(prompt + completion); for the fill-in-the-middle benchmarks it is the middle. The config block
has the harness's keys (model, temperature, top_p, n_samples, max_length_generation, prefix,
do_sample, seed, batch_size) plus starjax's: dataset_sha256 and the toolchain versions.

`run.py evaluate --samples=generations_<task>.json` reads such a file back (read_generations):
generations are matched to problems by position, and the prompt each starts with is removed
(the harness strips the prompt before generating, so its text may start with prompt.strip()).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Mapping

from starjax.eval import results as results_lib
from starjax.eval.benchmarks import Benchmark
from starjax.eval.generation import completion_after
from starjax.eval.infilling import dataset_sha256

RESULTS_FILE = "evaluation_results.json"


def generations_file(benchmark: Benchmark) -> str:
  return f"generations_{benchmark.name}.json"


def is_fim(benchmark: Benchmark) -> bool:
  return bool(getattr(benchmark.language, "fim", False))


def toolchain_versions(benchmark: Benchmark) -> dict[str, str]:
  """tool → the first line its version flag prints (Python: this interpreter's version)."""
  versions = {"python": sys.version.split()[0]}
  for tool in benchmark.language.toolchain:
    versions[tool] = tool_version(tool)
  return versions


def tool_version(tool: str) -> str:
  for flag in ("--version", "-version", "version"):
    try:
      ran = subprocess.run([tool, flag], capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
      return "not found"
    lines = [line.strip() for line in (ran.stdout + ran.stderr).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("Picked up JAVA_TOOL_OPTIONS")]
    if ran.returncode == 0 and lines:
      return lines[0]
  return "unknown"


def write_harness_files(out_dir: str, benchmark: Benchmark, summary: Mapping[str, Any],
                        config: Mapping[str, Any] | None = None) -> tuple[str, str]:
  """Writes OUT_DIR/evaluation_results.json and OUT_DIR/generations_<task>.json from the run's
  results.jsonl and summary. config: the harness config keys known to the caller (model,
  temperature, ...). Returns the two paths."""
  by_task: dict[str, list[str]] = {task_id: [] for task_id in benchmark.problems}
  with open(os.path.join(out_dir, results_lib.RESULTS_FILE), encoding="utf-8") as f:
    for line in f:
      record = json.loads(line)
      task_id, completion = record.get("task_id"), record.get("completion")
      if task_id in by_task and isinstance(completion, str):
        prefix = "" if is_fim(benchmark) else benchmark.problems[task_id].prompt
        by_task[task_id].append(prefix + completion)
  generations_path = os.path.join(out_dir, generations_file(benchmark))
  results_lib.write_json_atomic(generations_path, list(by_task.values()))
  scores = {key: value for key, value in summary.items() if key.startswith("pass@")}
  full_config = {
      "tasks": benchmark.name,
      "model": None,
      "n_samples": summary.get("samples_per_task", {}).get("max"),
      **dict(config or {}),
      "dataset_sha256": dataset_sha256(benchmark.problems),
      "num_problems": len(benchmark.problems),
      "toolchain_versions": toolchain_versions(benchmark),
      "sandbox": summary.get("sandbox"),
  }
  results_path = os.path.join(out_dir, RESULTS_FILE)
  results_lib.write_json_atomic(results_path, {benchmark.name: scores, "config": full_config})
  return results_path, generations_path


def looks_like_generations(path: str) -> bool:
  """Whether `path` holds a harness generations file (a JSON list) rather than JSONL samples."""
  with open(path, encoding="utf-8", errors="replace") as f:
    head = f.read(4096).lstrip()
  return head.startswith("[")


def read_generations(path: str, benchmark: Benchmark) -> list[dict[str, str]]:
  """The samples ({"task_id", "completion"}) of a harness generations file for `benchmark`.

  Raises ValueError when the file is not a list of lists of strings, or holds more problems
  than the benchmark (problems are matched by position; fewer means the first N, as --limit).
  """
  with open(path, encoding="utf-8") as f:
    try:
      data = json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError(f"--samples={path}: not JSON ({e})") from None
  if not isinstance(data, list) or not all(
      isinstance(row, list) and all(isinstance(g, str) for g in row) for row in data):
    raise ValueError(f"--samples={path}: a harness generations file is a JSON list (one per "
                     "problem) of lists of strings")
  task_ids = list(benchmark.problems)
  if len(data) > len(task_ids):
    raise ValueError(f"--samples={path}: {len(data)} problems, but {benchmark.name} has "
                     f"{len(task_ids)}; generations are matched to problems by position, so "
                     "they must come from the same task")
  samples = []
  for task_id, row in zip(task_ids, data):
    problem = benchmark.problems[task_id]
    for generation in row:
      samples.append({"task_id": task_id,
                      "completion": generation if is_fim(benchmark)
                      else strip_prompt(problem.prompt, generation)})
  return samples


def strip_prompt(prompt: str, generation: str) -> str:
  """The completion after `prompt` in a harness generation (which may start with the prompt as
  it is, rstripped, or stripped)."""
  for candidate in (prompt, prompt.rstrip(), prompt.strip()):
    if candidate and generation.startswith(candidate):
      return completion_after(prompt, generation[len(candidate):]) if candidate != prompt \
          else generation[len(candidate):]
  return generation


def samples_argument(path: str, benchmark: Benchmark):
  """What `run.py evaluate --samples=PATH` scores: PATH itself (JSONL samples), or the samples
  of a harness generations file."""
  if os.path.isfile(path) and looks_like_generations(path):
    return read_generations(path, benchmark)
  return path
