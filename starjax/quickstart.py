"""The main job, `python run.py`: the whole system on this machine's own code, in minutes.

    1. data   build (or reuse) the local corpus of permissively licensed source files and train
              (or reuse) a byte-level BPE on it
    2. train  a tiny StarCoder-architecture model with FIM on the `local_code` mixture
              (checkpoints, metrics, validation loss; resumes if interrupted)
    3. eval   greedy pass@1 on a HumanEval subset and one MultiPL-E language, in the sandbox
    4. report MODEL_DIR/report.md with loss, throughput and pass@k plots

Configuration: experiments/quickstart.gin; any --gin.NAME=VALUE overrides it
(e.g. --gin.MODEL_DIR=/tmp/qs --gin.TRAIN_STEPS=50).
"""

from __future__ import annotations

import json
import os
import sys
import time

import gin

from starjax import cli, gin_config

QUICKSTART_GIN = "experiments/quickstart.gin"


@gin.configurable
def quickstart_evaluation(benchmarks=("humaneval", "multiple-js"), num_problems: int = 20,
                          max_length: int = 512, batch_size: int = 20):
  """Which benchmarks the quickstart scores (greedy, n = 1) and on how many problems.

  A MultiPL-E language whose toolchain is missing is replaced by the first one present."""
  return dict(benchmarks=tuple(benchmarks), num_problems=num_problems, max_length=max_length,
              batch_size=batch_size)


def stage(number: int, text: str) -> None:
  print(f"\n[{number}/4] {text}", file=sys.stderr, flush=True)


def available_benchmarks(names) -> list[str]:
  """The names whose toolchains are installed; a missing MultiPL-E one is swapped for one that
  is present (the quickstart should run on any machine), with a note."""
  from starjax.eval.benchmarks import benchmark_names, get_benchmark  # pylint: disable=import-outside-toplevel
  chosen = []
  for name in names:
    missing = get_benchmark(name).language.missing_tools()
    if not missing:
      chosen.append(name)
      continue
    for other in benchmark_names():
      if other.startswith("multiple-") and other not in chosen and other not in names:
        if not get_benchmark(other).language.missing_tools():
          print(f"  {name}: {', '.join(missing)} not installed (apt/npm: "
                f"{', '.join(missing.values())}); using {other} instead", file=sys.stderr)
          chosen.append(other)
          break
  return chosen


def evaluate(model_dir: str, settings: dict) -> list[dict]:
  # pylint: disable=import-outside-toplevel
  from starjax.eval.benchmarks import get_benchmark
  from starjax.eval.generation import GenerationSettings, first_fitting, generate_and_score
  from starjax.infer.generator import Generator
  from starjax.model_dir import eval_dir
  generator = Generator.load(model_dir=model_dir)
  generation = GenerationSettings(num_samples=1, temperature=0.0,
                                  max_length=min(settings["max_length"],
                                                 generator.tokens.config.max_seq_len),
                                  batch_size=settings["batch_size"])
  summaries = []
  for name in available_benchmarks(settings["benchmarks"]):
    benchmark = first_fitting(generator, get_benchmark(name), settings["num_problems"],
                              generation)
    summaries.append(generate_and_score(generator, benchmark,
                                        eval_dir(model_dir, "quickstart", name), generation,
                                        ks=(1,)))
  return summaries


def sample_completion(model_dir: str) -> str:
  from starjax.infer import Generator, SamplingConfig  # pylint: disable=import-outside-toplevel
  generator = Generator.load(model_dir=model_dir)
  prompt = "def fibonacci(n):\n    "
  text = generator.complete([prompt], SamplingConfig(max_new_tokens=64,
                                                     stop=("\ndef ", "\nclass ")))[0].text
  return prompt + text


def write_report(model_dir: str, summaries: list[dict], corpus: str, tokenizer: str,
                 seconds: dict) -> str:
  """MODEL_DIR/report.md with the plots next to it; returns its path."""
  from starjax.eval import report as eval_report  # pylint: disable=import-outside-toplevel
  from starjax.train import plots  # pylint: disable=import-outside-toplevel
  from starjax.train.metrics import read_metrics  # pylint: disable=import-outside-toplevel
  from starjax.model_dir import report_path  # pylint: disable=import-outside-toplevel
  plots.plot_run(model_dir)
  chart = eval_report.bar_chart(summaries, os.path.join(model_dir, "pass_at_k.png"),
                                title="quickstart: greedy pass@1") if summaries else None
  records = read_metrics(model_dir)
  last = records[-1] if records else {}
  validation = [r for r in records if "validation_loss" in r]
  with open(os.path.join(corpus, "manifest.json")) as f:
    manifest = json.load(f)
  languages = manifest.get("languages", {})
  steady = records[1:] or records  # the first step includes warm-up
  median = lambda values: sorted(values)[len(values) // 2] if values else float("nan")  # noqa: E731
  parameters = next((r["parameters"] for r in records if "parameters" in r), None)
  lines = [
      "# starjax quickstart\n",
      f"A tiny StarCoder-architecture model ({parameters or 0:,} parameters) trained with FIM "
      "on this machine's own permissively licensed code.\n",
      "## Data\n",
      f"- corpus: `{corpus}`: {len(languages)} languages, "
      f"{sum(v.get('files', 0) for v in languages.values()):,} files",
      f"- tokenizer: `{tokenizer}`\n",
      "## Training\n",
      f"- steps: {last.get('step')}, final train loss {last.get('loss', float('nan')):.3f}"
      + (f", validation loss {validation[-1]['validation_loss']:.3f} (step "
         f"{validation[-1]['step']})" if validation else ""),
      f"- throughput: median {median([r['tokens_per_second'] for r in steady]):,.0f} tokens/s, "
      f"MFU {100 * median([r['mfu'] for r in steady]):.1f} %\n",
      "![loss](loss.png)\n", "![throughput](throughput.png)\n",
      "## Evaluation (greedy, n = 1, in the sandbox)\n",
      eval_report.markdown_table(summaries) if summaries else "no benchmark could run\n",
      "A model this small, trained for minutes on a CPU, is expected to score about 0: the "
      "point here is the whole pipeline, the same one that scores real StarCoder weights "
      "(`python run.py eval --hf_dir=...`, see the README).\n",
  ]
  if chart:
    lines.append("![pass@k](pass_at_k.png)\n")
  lines += ["## A completion\n", "```python", sample_completion(model_dir), "```\n",
            "## Time\n"] + [f"- {k}: {v:.0f} s" for k, v in seconds.items()]
  path = report_path(model_dir)
  with open(path + ".tmp", "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
  os.replace(path + ".tmp", path)
  return path


def main(command: str, argv: list[str]) -> int:
  def build_parser():
    parser = cli.parser("quickstart", __doc__)
    parser.prog = "run.py"
    parser.add_argument("--skip_eval", action="store_true", help="train and report only")
    return parser
  args = cli.parse(argv, build_parser, gin_files=[QUICKSTART_GIN])
  import logging  # pylint: disable=import-outside-toplevel
  logging.basicConfig(level=logging.WARNING, format="%(message)s")
  model_dir = gin_config.macro_value("MODEL_DIR")
  seconds = {}

  from starjax.data import ensure_local_corpus, ensure_tokenizer  # pylint: disable=import-outside-toplevel
  started = time.time()
  stage(1, "data: the local code corpus and its tokenizer")
  corpus = ensure_local_corpus(progress=True)
  tokenizer = ensure_tokenizer(progress=True)
  seconds["data"] = time.time() - started

  started = time.time()
  stage(2, f"train: {gin_config.macro_value('TRAIN_STEPS')} steps of a tiny StarCoder on "
           f"local_code, into {model_dir} (rerun to resume)")
  from starjax.train import trainer  # pylint: disable=import-outside-toplevel
  result = trainer.train()
  seconds["train"] = time.time() - started
  if result.resumed_from is not None and result.resumed_from >= result.final_step:
    print(f"  already trained to step {result.resumed_from}: reusing {model_dir} (delete it, "
          f"or pass --gin.MODEL_DIR=..., to train again)", file=sys.stderr)

  summaries = []
  started = time.time()
  if not args.skip_eval:
    stage(3, "eval: greedy pass@1 in the sandbox")
    summaries = evaluate(model_dir, quickstart_evaluation())
    seconds["eval"] = time.time() - started
  else:
    stage(3, "eval: skipped (--skip_eval)")

  stage(4, "report")
  path = write_report(model_dir, summaries, corpus, tokenizer, seconds)
  print(f"\ntrained to step {result.final_step}; report: {path}\n"
        f"plots: {os.path.join(model_dir, 'loss.png')}, "
        f"{os.path.join(model_dir, 'throughput.png')}"
        + (f", {os.path.join(model_dir, 'pass_at_k.png')}" if summaries else ""))
  return 0
