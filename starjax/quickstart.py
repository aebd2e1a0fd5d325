"""The main job, `python run.py`: the whole system on this machine's own code, in minutes.

    1. data   build (or reuse) the local corpus of permissively licensed source files; run
              `data prepare` (filters, opt-out, dedup, near-dedup, PII, decontamination) on
              the evenly spread subset the model trains on (local_preparation.max_bytes); train
              (or reuse) a byte-level BPE on the prepared data; index it (`data index`)
    2. train  a tiny StarCoder-architecture model with FIM on the `local_code` mixture of the
              prepared data (checkpoints, metrics, validation loss; resumes if interrupted)
    3. eval   greedy pass@1 on a HumanEval subset and one MultiPL-E language, in the sandbox,
              split into problems found in the training data and clean ones (`eval --index`)
    4. report MODEL_DIR/report.md with what prepare removed, loss, throughput and pass@k plots

Configuration: experiments/quickstart.gin; any --gin.NAME=VALUE overrides it
(e.g. --gin.MODEL_DIR=/tmp/qs --gin.TRAIN_STEPS=50).
"""

from __future__ import annotations

import json
import logging
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


def evaluate(model_dir: str, settings: dict, index_dir: str | None = None) -> list[dict]:
  """Greedy pass@1 per benchmark; with index_dir (the training data's governance index) each
  summary also splits it into clean and contaminated problems (as `eval --index` does)."""
  # pylint: disable=import-outside-toplevel
  from starjax.eval import contamination
  from starjax.eval.benchmarks import get_benchmark
  from starjax.eval.generation import GenerationSettings, first_fitting, generate_and_score
  from starjax.infer.generator import Generator
  from starjax.model_dir import eval_dir
  index, check = contamination.open_for_eval(index_dir, model_dir, command="quickstart")
  generator = Generator.load(model_dir=model_dir)
  generation = GenerationSettings(num_samples=1, temperature=0.0,
                                  max_length=min(settings["max_length"],
                                                 generator.tokens.config.max_seq_len),
                                  batch_size=settings["batch_size"])
  summaries = []
  for name in available_benchmarks(settings["benchmarks"]):
    benchmark = first_fitting(generator, get_benchmark(name), settings["num_problems"],
                              generation)
    out = eval_dir(model_dir, "quickstart", name)
    summary = generate_and_score(generator, benchmark, out, generation, ks=(1,))
    if index is not None:
      summary = contamination.add_split(summary, benchmark, index, out, check)
    summaries.append(summary)
  if index is not None:
    index.close()
  return summaries


def sample_completion(model_dir: str) -> str:
  from starjax.infer import Generator, SamplingConfig  # pylint: disable=import-outside-toplevel
  generator = Generator.load(model_dir=model_dir)
  prompt = "def fibonacci(n):\n    "
  text = generator.complete([prompt], SamplingConfig(max_new_tokens=64,
                                                     stop=("\ndef ", "\nclass ")))[0].text
  return prompt + text


def data_section(corpus: str, prepared: str, tokenizer: str, index_dir: str | None) -> list[str]:
  """The report's Data section: the corpus, what `data prepare` removed from the subset the
  model trains on (per stage, documents and MB), the tokenizer and the governance index."""
  from starjax.data import prepared_local  # pylint: disable=import-outside-toplevel
  with open(os.path.join(corpus, "manifest.json"), encoding="utf-8") as f:
    languages = json.load(f).get("languages", {})
  with open(os.path.join(prepared, "manifest.json"), encoding="utf-8") as f:
    manifest = json.load(f)
  info = manifest["prepared"]
  subset = info["subset"]
  kept = manifest["kept_files"]
  lines = [
      "## Data\n",
      f"- corpus: `{corpus}`: {len(languages)} languages, "
      f"{sum(v.get('files', 0) + v.get('validation_files', 0) for v in languages.values()):,} "
      f"files, {subset['corpus_bytes'] / 1e6:,.0f} MB",
      f"- trained on: an evenly spread {100 * subset['fraction_of_files']:.2f} % of its files "
      f"(every file in ~{1 / subset['fraction_of_files']:.0f} of each language: "
      f"{subset['files']:,} files, {subset['bytes'] / 1e6:.1f} MB) after `data prepare`: "
      f"{kept:,} files in {len(manifest['languages'])} languages kept, in `{info['data_root']}`",
      f"- prepare's report: [{info['report']}]({info['report']}) (ledger, cluster sizes, LSH "
      "curve, PII by type)\n",
      "| stage (in order) | files removed | files redacted | MB removed | why |",
      "|---|---|---|---|---|"]
  for stage, _ in prepared_local.STAGES:  # prepare's order (the manifest's keys are sorted)
    ran = info["stages"].get(stage, False)
    if not ran:
      lines.append(f"| {stage} | – | – | – | switched off |")
      continue
    c = info["by_stage"].get(stage, {})
    why = ", ".join(f"{reason} {n:,}" for reason, n in sorted(
        info.get("reasons", {}).get(stage, {}).items(), key=lambda item: -item[1])[:3])
    lines.append(f"| {stage} | {c.get('removed', 0):,} | {c.get('redacted', 0):,} | "
                 f"{(c.get('bytes_in', 0) - c.get('bytes_out', 0)) / 1e6:.2f} | {why} |")
  untouched = info["by_stage"].get("none", {})
  lines.append(f"\n{untouched.get('kept', 0):,} files ({untouched.get('bytes_in', 0) / 1e6:.1f} "
               "MB) passed every stage untouched.\n")
  if info.get("pii_by_type"):
    lines.append("- PII spans redacted: " + ", ".join(
        f"{kind} {n:,}" for kind, n in sorted(info["pii_by_type"].items())))
  decontaminated = info.get("decontamination_by_benchmark") or {}
  lines.append("- decontamination: " + (", ".join(
      f"{name} {n:,}" for name, n in sorted(decontaminated.items())) or "no benchmark text "
      "found") + "\n")
  lines.append(f"- tokenizer: `{tokenizer}` (trained on the prepared data)")
  if index_dir:
    lines.append(f"- governance index of the prepared data: `{index_dir}` (`python run.py data "
                 f"attribute --index={index_dir} --file=F`)")
  return lines + [""]


def write_report(model_dir: str, summaries: list[dict], corpus: str, prepared: str,
                 tokenizer: str, index_dir: str | None, seconds: dict) -> str:
  """MODEL_DIR/report.md with the plots next to it; returns its path."""
  # pylint: disable=import-outside-toplevel
  from starjax.eval import contamination, report as eval_report
  from starjax.train import plots
  from starjax.train.metrics import read_metrics
  from starjax.model_dir import report_path
  plots.plot_run(model_dir)
  chart = eval_report.bar_chart(summaries, os.path.join(model_dir, "pass_at_k.png"),
                                title="quickstart: greedy pass@1") if summaries else None
  records = read_metrics(model_dir)
  last = records[-1] if records else {}
  validation = [r for r in records if "validation_loss" in r]
  steady = records[1:] or records  # the first step includes warm-up
  median = lambda values: sorted(values)[len(values) // 2] if values else float("nan")  # noqa: E731
  parameters = next((r["parameters"] for r in records if "parameters" in r), None)
  lines = [
      "# starjax quickstart\n",
      f"A tiny StarCoder-architecture model ({parameters or 0:,} parameters) trained with FIM "
      "on this machine's own permissively licensed code.\n",
      *data_section(corpus, prepared, tokenizer, index_dir),
      "## Training\n",
      f"- steps: {last.get('step')}, final train loss {last.get('loss', float('nan')):.3f}"
      + (f", validation loss {validation[-1]['validation_loss']:.3f} (step "
         f"{validation[-1]['step']})" if validation else ""),
      f"- throughput: median {median([r['tokens_per_second'] for r in steady]):,.0f} tokens/s, "
      f"MFU {100 * median([r['mfu'] for r in steady]):.1f} %\n",
      "![loss](loss.png)\n", "![throughput](throughput.png)\n",
      "## Evaluation (greedy, n = 1, in the sandbox)\n",
      eval_report.markdown_table(summaries) if summaries else "no benchmark could run\n",
      contamination.markdown_split(summaries),
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
  logging.basicConfig(level=logging.WARNING, format="%(message)s")
  model_dir = gin_config.macro_value("MODEL_DIR")
  seconds = {}

  # pylint: disable-next=import-outside-toplevel
  from starjax.data import config, ensure_local_corpus, ensure_tokenizer, prepared_local
  if not config.local_preparation().enabled:
    raise cli.UsageError("the quickstart trains on the prepared local corpus: keep "
                         "local_preparation.enabled = True (experiments/quickstart.gin)")
  stage(1, "data: the local code corpus, data prepare, its tokenizer and governance index")
  logging.getLogger("apache_beam").setLevel(logging.ERROR)  # its workers' chatter
  started = time.time()
  corpus = ensure_local_corpus(progress=True)
  seconds["corpus"] = time.time() - started
  started = time.time()
  prepared = prepared_local.ensure_prepared_corpus(corpus=corpus, progress=True)
  seconds["data prepare"] = time.time() - started
  started = time.time()
  tokenizer = ensure_tokenizer(corpus=prepared, progress=True)
  seconds["tokenizer"] = time.time() - started
  started = time.time()
  index_dir = prepared_local.ensure_index(prepared, progress=True)
  seconds["data index"] = time.time() - started

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
    summaries = evaluate(model_dir, quickstart_evaluation(), index_dir)
    seconds["eval"] = time.time() - started
  else:
    stage(3, "eval: skipped (--skip_eval)")

  stage(4, "report")
  path = write_report(model_dir, summaries, corpus, prepared, tokenizer, index_dir, seconds)
  print(f"\ntrained to step {result.final_step}; report: {path}\n"
        f"plots: {os.path.join(model_dir, 'loss.png')}, "
        f"{os.path.join(model_dir, 'throughput.png')}"
        + (f", {os.path.join(model_dir, 'pass_at_k.png')}" if summaries else ""))
  return 0
