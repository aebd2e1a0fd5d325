"""`run.py eval-diff A B`: two evaluation runs compared problem by problem.

    python run.py eval-diff runs/a/eval runs/b/eval [--resamples=10000] [--seed=0] [--json]

A and B are evaluation directories: a run directory (holding results.jsonl) or a directory of
them (`run.py eval`'s OUT/<benchmark>/). For every benchmark both have, on the problems both
scored: pass@1 of each (the mean over problems of passed/n), their difference B − A with a
paired bootstrap confidence interval (problems resampled with replacement, the same resample for
A and B), and the problems that flipped: solved by most samples in one run and not in the other
(with one sample per problem, passed in one and failed in the other).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from starjax.eval import results as results_lib


def pass_fractions(results_path: str) -> dict[str, float]:
  """task_id → passed / samples in a results.jsonl (invalid-input lines are not samples)."""
  counts: dict[str, list[int]] = {}
  with open(results_path, encoding="utf-8", errors="replace") as f:
    for line in f:
      try:
        record = json.loads(line)
      except json.JSONDecodeError:
        continue
      if not isinstance(record, dict) or not isinstance(record.get("task_id"), str):
        continue
      if str(record.get("result", "")).startswith(results_lib.INVALID):
        continue
      n_and_c = counts.setdefault(record["task_id"], [0, 0])
      n_and_c[0] += 1
      n_and_c[1] += bool(record.get("passed"))
  return {task: c / n for task, (n, c) in counts.items()}


def find_runs(path: str) -> dict[str, str]:
  """benchmark → results.jsonl under an evaluation directory (itself or its subdirectories)."""
  if os.path.isfile(path):
    return {benchmark_of(os.path.dirname(path) or "."): path}
  if not os.path.isdir(path):
    raise FileNotFoundError(f"{path}: no such evaluation directory")
  own = os.path.join(path, results_lib.RESULTS_FILE)
  if os.path.exists(own):
    return {benchmark_of(path): own}
  runs = {}
  for name in sorted(os.listdir(path)):
    candidate = os.path.join(path, name, results_lib.RESULTS_FILE)
    if os.path.exists(candidate):
      runs[benchmark_of(os.path.join(path, name))] = candidate
  if not runs:
    raise FileNotFoundError(f"{path}: neither it nor a subdirectory holds {results_lib.RESULTS_FILE}")
  return runs


def benchmark_of(run_dir: str) -> str:
  for name in (results_lib.SUMMARY_FILE, results_lib.MANIFEST_FILE):
    try:
      with open(os.path.join(run_dir, name), encoding="utf-8") as f:
        return json.load(f)["benchmark"]
    except (OSError, ValueError, KeyError, TypeError):
      continue
  return os.path.basename(os.path.abspath(run_dir))


def paired_bootstrap(a: np.ndarray, b: np.ndarray, *, resamples: int, seed: int,
                     confidence: float) -> tuple[float, float]:
  """The confidence interval of mean(b − a) over problems: `resamples` resamples of the
  problems with replacement, each applied to both runs. a, b: float [problems]."""
  rng = np.random.default_rng(seed)
  diffs = b - a
  picks = rng.integers(0, len(diffs), size=(resamples, len(diffs)))
  means = diffs[picks].mean(axis=1)
  tail = (1 - confidence) / 2 * 100
  low, high = np.percentile(means, [tail, 100 - tail])
  return float(low), float(high)


def compare(a: dict[str, float], b: dict[str, float], *, resamples: int = 10_000, seed: int = 0,
            confidence: float = 0.95) -> dict:
  """The comparison of one benchmark's per-problem pass fractions in runs A and B."""
  tasks = [t for t in a if t in b]
  if not tasks:
    raise ValueError("the two runs share no scored problem")
  pa = np.array([a[t] for t in tasks], dtype=np.float64)
  pb = np.array([b[t] for t in tasks], dtype=np.float64)
  low, high = paired_bootstrap(pa, pb, resamples=resamples, seed=seed, confidence=confidence)
  return {
      "num_problems": len(tasks),
      "only_in_a": sorted(set(a) - set(b)),
      "only_in_b": sorted(set(b) - set(a)),
      "pass@1_a": float(pa.mean()),
      "pass@1_b": float(pb.mean()),
      "difference": float(pb.mean() - pa.mean()),
      "confidence": confidence,
      "ci_low": low,
      "ci_high": high,
      "resamples": resamples,
      "fixed": [t for t, x, y in zip(tasks, pa, pb) if x < 0.5 <= y],    # B solves, A did not
      "broken": [t for t, x, y in zip(tasks, pa, pb) if y < 0.5 <= x],   # A solved, B does not
      "num_changed": int(np.sum(pa != pb)),
  }


def diff_runs(path_a: str, path_b: str, **kwargs) -> dict[str, dict]:
  """benchmark → compare(...) for every benchmark both evaluation directories hold."""
  runs_a, runs_b = find_runs(path_a), find_runs(path_b)
  common = [name for name in runs_a if name in runs_b]
  if not common:
    raise ValueError(f"{path_a} has {', '.join(runs_a)} and {path_b} has {', '.join(runs_b)}: "
                     "no benchmark in common")
  return {name: compare(pass_fractions(runs_a[name]), pass_fractions(runs_b[name]), **kwargs)
          for name in common}


def format_diff(diffs: dict[str, dict], path_a: str, path_b: str) -> str:
  lines = [f"A = {path_a}\nB = {path_b}\n"]
  for name, d in diffs.items():
    pct = lambda x: f"{100 * x:.2f}"  # pylint: disable=unnecessary-lambda-assignment
    lines.append(
        f"{name}: {d['num_problems']} problems  pass@1 A {pct(d['pass@1_a'])}  B "
        f"{pct(d['pass@1_b'])}  B-A {d['difference'] * 100:+.2f} points "
        f"({d['confidence']:.0%} CI {d['ci_low'] * 100:+.2f} … {d['ci_high'] * 100:+.2f}, paired "
        f"bootstrap, {d['resamples']} resamples)")
    lines.append(f"  flipped: {len(d['fixed'])} now solved, {len(d['broken'])} no longer solved; "
                 f"{d['num_changed']} problems changed pass fraction")
    for label, tasks in (("now solved", d["fixed"]), ("no longer solved", d["broken"])):
      if tasks:
        lines.append(f"  {label}: {', '.join(tasks)}")
    for label, tasks in (("only in A", d["only_in_a"]), ("only in B", d["only_in_b"])):
      if tasks:
        lines.append(f"  {label} (not compared): {len(tasks)}")
  return "\n".join(lines)


def main(command: str, argv: list[str]) -> int:
  """Entry point of `run.py eval-diff`; returns the exit status."""
  from starjax import cli  # pylint: disable=import-outside-toplevel
  parser = cli.parser(command, __doc__.split("\n\n")[0])
  parser.add_argument("a", help="evaluation directory of run A")
  parser.add_argument("b", help="evaluation directory of run B")
  parser.add_argument("--resamples", type=int, default=10_000)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--confidence", type=float, default=0.95)
  parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
  args = cli.parse(argv, parser)
  if args.resamples < 1 or not 0 < args.confidence < 1:
    raise cli.UsageError("--resamples must be ≥ 1 and --confidence in (0, 1)")
  try:
    diffs = diff_runs(args.a, args.b, resamples=args.resamples, seed=args.seed,
                      confidence=args.confidence)
  except (FileNotFoundError, ValueError) as e:
    raise cli.UsageError(str(e)) from None
  print(json.dumps(diffs, indent=2) if args.json else format_diff(diffs, args.a, args.b))
  sys.stdout.flush()
  return 0
