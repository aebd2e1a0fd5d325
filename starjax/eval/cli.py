"""`run.py evaluate` (score completions made anywhere) and `run.py eval` (generate, then score).

    python run.py evaluate --benchmark=humaneval --samples=samples.jsonl --out=/tmp/eval
        [--k=1,10,100] [--num_workers=N] [--timeout=SECONDS]
        [--sandbox=auto|bwrap|unshare] [--allow_unsandboxed]
        [--gin.Limits.memory_mb=4096] [--gin.Timeouts.compile=120]

writes DIR/results.jsonl, DIR/summary.json, DIR/report.md and DIR/pass_at_k.png, and prints the
summary. Run the same command again after an interruption: it resumes. Exit status: 0, 1 when
some input lines were invalid (they are counted and listed), 2 for a usage error (also: no
sandbox backend can isolate here, and --allow_unsandboxed was not given), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys

from starjax import gin_config
from starjax.eval import contamination, report
from starjax.eval import harness_format
from starjax.eval import sandbox as sandbox_lib
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
      "--gin.Timeouts.compile=120 (starjax/eval/sandbox/limits.py, starjax/eval/execution.py). "
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
  contamination.add_index_flag(parser)
  sandbox_lib.add_flags(parser)
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
    sandbox_lib.apply_flags(args)
  except sandbox_lib.SandboxUnavailableError as e:
    return usage_error(str(e))
  try:
    index, check = contamination.open_for_eval(args.index, command="evaluate")
    samples = harness_format.samples_argument(args.samples, benchmark)
    summary = evaluate_samples(benchmark, samples, args.out, ks=args.k,
                               num_workers=args.num_workers, timeouts=timeouts)
    if index is not None:
      summary = contamination.add_split(summary, benchmark, index, args.out, check)
  except (ToolchainMissingError, RunDirectoryConflict, FileNotFoundError, ValueError) as e:
    return usage_error(str(e))
  except KeyboardInterrupt:
    print(f"\nrun.py evaluate: interrupted. Every verdict so far is in {args.out}/results.jsonl; "
          "run the same command again to resume.", file=sys.stderr)
    return 130
  print(json.dumps(summary, indent=2, ensure_ascii=False))
  harness_format.write_harness_files(args.out, benchmark, summary, {"samples": args.samples})
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


EVAL_GIN = "gin/runs/eval.gin"  # the published generation settings, read before any flag


def eval_parser() -> argparse.ArgumentParser:
  """`run.py eval`'s flags; sampling defaults are gin's GenerationSettings (gin/runs/eval.gin),
  so build this after gin is parsed."""
  from starjax import cli  # pylint: disable=import-outside-toplevel
  from starjax.eval.generation import GenerationSettings  # pylint: disable=import-outside-toplevel
  defaults = GenerationSettings()
  parser = cli.parser(
      "eval", "Generate completions for benchmarks with a model, then score them in the "
      "sandbox. Defaults are the published settings of gin/runs/eval.gin (temperature "
      f"{defaults.temperature}, top-p {defaults.top_p}, n={defaults.num_samples}, max length "
      f"{defaults.max_length}). Output per benchmark in OUT/<benchmark>/ (samples.jsonl, "
      "results.jsonl, summary.json), and OUT/report.md + OUT/pass_at_k.png over all of them. "
      "Rerunning the same command resumes. A --gin_file=gin/mesh/... shards the model.")
  parser.add_argument("--benchmark", required=True,
                      help=f"comma-separated, from: {', '.join(benchmark_names())}, perplexity "
                      "(bits per byte of the local validation split at 1K/2K/4K/8K tokens)")
  cli.add_model_flags(parser)
  parser.add_argument("--out", help="output directory (default with --model_dir: MODEL_DIR/eval)")
  parser.add_argument("--n", type=int, default=defaults.num_samples, help="samples per problem")
  parser.add_argument("--temperature", type=float, default=defaults.temperature,
                      help="0 = greedy")
  parser.add_argument("--top_p", type=float, default=defaults.top_p)
  parser.add_argument("--max_length", type=int, default=defaults.max_length,
                      help="tokens of prompt + completion, as in the BigCode harness")
  parser.add_argument("--prompted", action="store_true", default=defaults.prompted,
                      help="HumanEval with the '<filename>solutions/solution_1.py' prefix")
  parser.add_argument("--limit", type=int, default=None, help="only the first N problems")
  parser.add_argument("--stratified", type=int, default=None, metavar="N",
                      help="N tasks spread over every HumanEval problem (FIM benchmarks, e.g. "
                      "humaneval-infill-multi's 5,815)")
  parser.add_argument("--spm", action="store_true",
                      help="FIM benchmarks: suffix-prefix-middle prompts (default PSM)")
  parser.add_argument("--preset", action="append", default=[], choices=sorted(PRESETS),
                      help="a gin file of gin/runs/ applied after gin/runs/eval.gin: "
                      "starcoder-paper (T 0.2, top-p 0.95, n 50, max length 512), prompted "
                      "(HumanEval with the solutions-file prefix)")
  parser.add_argument("--batch_size", type=int, default=defaults.batch_size,
                      help="sequences decoded together")
  parser.add_argument("--seed", type=int, default=defaults.seed)
  parser.add_argument("--k", type=parse_ks, default=DEFAULT_KS)
  parser.add_argument("--num_workers", type=int, default=None)
  contamination.add_index_flag(parser)
  sandbox_lib.add_flags(parser)
  return parser


def eval_main(argv: list[str]) -> int:
  """`run.py eval`: generate completions for benchmarks with a model, then score them."""
  from starjax import cli  # pylint: disable=import-outside-toplevel
  from starjax.eval.generation import (GenerationSettings,  # pylint: disable=import-outside-toplevel
                                       generate_and_score, task_subset)
  from starjax.infer.generator import Generator  # pylint: disable=import-outside-toplevel
  from starjax.model_dir import eval_dir  # pylint: disable=import-outside-toplevel
  args = cli.parse(argv, eval_parser, gin_files=[EVAL_GIN, *preset_files(argv)])
  logging.basicConfig(level=logging.INFO, format="%(message)s")
  cli.require_one_model(args)
  out = args.out or (eval_dir(args.model_dir) if args.model_dir else None)
  if not out:
    return usage_error("--out is required with --hf_dir", "eval")
  if args.n < 1:
    return usage_error(f"--n={args.n}: give at least 1 sample per problem", "eval")
  try:
    sandbox_lib.apply_flags(args)
  except sandbox_lib.SandboxUnavailableError as e:
    return usage_error(str(e), "eval")
  try:
    names = [name.strip() for name in args.benchmark.split(",") if name.strip()]
    benchmarks = [chosen_tasks(get_benchmark(name), args) for name in names
                  if name != PERPLEXITY]
    for benchmark in benchmarks:
      if args.prompted and benchmark.language.ext != "py":
        raise ValueError(f"--prompted is a Python file header; {benchmark.name} is not Python")
    index, check = contamination.open_for_eval(args.index, args.model_dir)
    generator = Generator.load(model_dir=args.model_dir, hf_dir=args.hf_dir,
                               tokenizer_path=args.tokenizer, mesh_config=cli.mesh_from_gin())
    settings = GenerationSettings(num_samples=args.n, temperature=args.temperature,
                                  top_p=args.top_p, max_length=args.max_length,
                                  prompted=args.prompted, batch_size=args.batch_size,
                                  seed=args.seed,
                                  spm=args.spm or GenerationSettings().spm)
    if PERPLEXITY in names:
      run_perplexity(generator, os.path.join(out, PERPLEXITY))
    summaries = []
    for benchmark in benchmarks:
      summary = generate_and_score(generator, benchmark, os.path.join(out, benchmark.name),
                                   settings, ks=args.k, num_workers=args.num_workers)
      if index is not None:
        summary = contamination.add_split(summary, benchmark, index,
                                          os.path.join(out, benchmark.name), check)
      summaries.append(summary)
      speed = summary.get("generation", {}).get("samples_per_second")
      print(json.dumps({k: v for k, v in summary.items() if k.startswith("pass@")}),
            f"{benchmark.name}", "" if speed is None else f"({speed:.2f} samples/s)", flush=True)
  except (ToolchainMissingError, RunDirectoryConflict, FileNotFoundError, ValueError) as e:
    return usage_error(str(e), "eval")
  except KeyboardInterrupt:
    print(f"\nrun.py eval: interrupted; samples and verdicts so far are in {out}; run the same "
          "command again to resume.", file=sys.stderr)
    return 130
  if not summaries:  # perplexity alone
    return 0
  report_path, chart_path = report.write_report(out, summaries, title="evaluation")
  print("\n" + report.markdown_table(summaries))
  print(f"report: {report_path}\nchart: {chart_path}")
  return 0


def run_perplexity(generator, out_dir: str) -> dict:
  """--benchmark=perplexity: bits per byte of the local validation split, written to
  OUT/perplexity/summary.json and printed as a table."""
  from starjax.eval import perplexity  # pylint: disable=import-outside-toplevel
  result = perplexity.evaluate_perplexity(generator, perplexity.validation_documents())
  path = perplexity.write_summary(out_dir, result)
  print(perplexity.markdown_table(result) + f"\nperplexity: {path}", flush=True)
  return result


# --preset=NAME → gin/runs/NAME.gin, parsed after gin/runs/eval.gin (so flags still override).
PRESETS = {"starcoder-paper": "gin/runs/starcoder-paper.gin", "prompted": "gin/runs/prompted.gin"}
PERPLEXITY = "perplexity"  # --benchmark=perplexity: bits per byte (starjax/eval/perplexity.py)


def preset_files(argv: list[str]) -> list[str]:
  """The gin files of the --preset flags in argv (argparse checks the names afterwards)."""
  names = []
  for i, arg in enumerate(argv):
    if arg.startswith("--preset="):
      names.append(arg.split("=", 1)[1])
    elif arg == "--preset" and i + 1 < len(argv):
      names.append(argv[i + 1])
  return [PRESETS[name] for name in names if name in PRESETS]


def chosen_tasks(benchmark, args):
  """The tasks of `benchmark` that --stratified and --limit select."""
  from starjax.eval.generation import task_subset  # pylint: disable=import-outside-toplevel
  from starjax.eval.infilling import stratified_task_ids  # pylint: disable=import-outside-toplevel
  if args.stratified:
    benchmark = benchmark.subset(stratified_task_ids(benchmark.problems, args.stratified))
  return task_subset(benchmark, None, args.limit)


def usage_error(message: str, command: str = "evaluate") -> int:
  print(f"run.py {command}: {message}", file=sys.stderr)
  return 2
