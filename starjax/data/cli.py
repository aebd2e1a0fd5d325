"""`python run.py data build-local|stats|show`: the code corpus and its tasks.

  data build-local [--roots DIR ...]   collect this machine's permissively licensed source files
                                       (plus DIRs) into the local corpus; train its tokenizer
  data stats [--json]                  per language: files, bytes, tokens (exact, cached)
  data show [--task=NAME] [--n=K] [--json] [--split=S] [--seed=N]
                                       K decoded examples after metadata + FIM, before packing
  data prepare --input=DIR --output=DIR [--opt_out=FILE] [Beam flags]
                                       filters, opt-out, dedup, near-dedup, PII, decontamination
                                       → Stack layout + ledger/ + manifest.json + report.md
  data which --model_dir=D --step=S [--json]
                                       the documents (repository, path) of training step S
  data index|member|search|attribute   governance tools: membership filter + full-text index of
                                       a data root (starjax/data/governance/cli.py)

Every subcommand takes --gin_file=F and --gin.NAME=VALUE (e.g. --gin.data_paths.cache_dir=DIR).
The local tokenizer's size is `local_tokenizer.vocab_size`, else VOCAB_SIZE (bound by any
--gin_file=gin/models/*.gin), else the tiny model's 4096, which the quickstart trains.
"""

from __future__ import annotations

import argparse
import json
import sys

import gin

from starjax import gin_config
from starjax.data import config, corpus_stats, local_corpus, mixing
from starjax.data import tokenizer as tokenizer_lib
from starjax.data.errors import DataError
from starjax.data.governance import cli as governance_cli
from starjax.data.prepare import cli as prepare_cli

QUICKSTART_VOCAB_SIZE = 4096  # gin/models/tiny.gin's VOCAB_SIZE
_DEFAULT_TASK = "local_code"


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="run.py data", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = parser.add_subparsers(dest="action", required=True,
                              metavar="build-local|stats|show|prepare|which|index|member|"
                                      "search|attribute")
  build = sub.add_parser("build-local", help="build the local corpus and its tokenizer")
  build.add_argument("--roots", nargs="+", action="extend", default=[], metavar="DIR",
                     help="extra directories of source code to collect")
  stats = sub.add_parser("stats", help="files, bytes and tokens per language")
  stats.add_argument("--json", action="store_true", help="print one JSON object")
  show = sub.add_parser("show", help="decoded examples of a task or mixture")
  show.add_argument("--task", default=None,
                    help=f"task or mixture (default: MIXTURE_OR_TASK_NAME or {_DEFAULT_TASK})")
  show.add_argument("--n", type=int, default=3, help="number of examples")
  show.add_argument("--split", default="train", choices=("train", "validation"))
  show.add_argument("--seed", type=int, default=0)
  show.add_argument("--json", action="store_true", help="print a JSON list of strings")
  which = sub.add_parser("which", help="the documents of one training step of a run")
  which.add_argument("--model_dir", required=True, help="the run's MODEL_DIR")
  which.add_argument("--step", type=int, required=True, help="a training step (from 1)")
  which.add_argument("--json", action="store_true", help="print one JSON object")
  prepare_cli.add_parser(sub)
  governance_cli.add_parsers(sub)
  return parser


def main(command: str, argv: list[str]) -> int:
  """Entry point used by run.py as main('data', [...]); returns the exit status."""
  del command
  files, bindings, rest = gin_config.split_gin_flags(argv)
  parser = _parser()
  args, unknown = parser.parse_known_args(rest)
  if unknown and args.action not in governance_cli.PASS_THROUGH_ACTIONS + ("prepare",):
    parser.error(f"unrecognized arguments: {' '.join(unknown)}")
  if args.action == "which" and not files:  # the run's own data settings
    files = _run_config(args.model_dir)
  gin_config.parse(files, bindings, finalize=False)
  vocab_note = _settle_vocab_size()
  gin.finalize()
  try:
    if args.action == "build-local":
      return _build_local(args, vocab_note)
    if args.action == "stats":
      return _stats(args)
    if args.action == "prepare":
      return prepare_cli.main(args, unknown)  # unknown flags are Beam's
    if args.action in governance_cli.ACTIONS:
      return governance_cli.run(args, unknown)
    if args.action == "which":
      return _which(args)
    return _show(args)
  except DataError as e:
    print(f"run.py data {args.action}: {e}", file=sys.stderr)
    return 2 if governance_cli.is_usage_error(e) else 1


def _run_config(model_dir: str) -> list[str]:
  import os  # pylint: disable=import-outside-toplevel
  from starjax.model_dir import config_gin_path  # pylint: disable=import-outside-toplevel
  path = config_gin_path(model_dir)
  return [path] if os.path.isfile(path) else []


def _which(args) -> int:
  from starjax.data import provenance  # pylint: disable=import-outside-toplevel
  result = provenance.step_documents(args.model_dir, args.step)
  print(json.dumps(result) if args.json else provenance.format_step(result))
  return 0


def _settle_vocab_size() -> str:
  """Binds the quickstart's size when gin leaves the local tokenizer's size open."""
  if config.local_tokenizer().vocab_size or gin_config.macro_value("VOCAB_SIZE"):
    return ""
  gin.bind_parameter("local_tokenizer.vocab_size", QUICKSTART_VOCAB_SIZE)
  return (f"(VOCAB_SIZE unbound: using the quickstart's {QUICKSTART_VOCAB_SIZE}; pass "
          "--gin_file=gin/models/<model>.gin or --gin.VOCAB_SIZE=N for another size)")


def _build_local(args, vocab_note: str) -> int:
  cache_dir = config.data_paths().cache_dir
  options = config.local_corpus()
  options = options.__class__(**{**options.__dict__, "roots": options.roots + tuple(args.roots)})
  manifest = local_corpus.build_local_corpus(cache_dir, options)
  corpus = local_corpus.corpus_dir(cache_dir)
  print(f"local corpus: {corpus}")
  print(f"  kept {manifest['kept_files']} of {manifest['candidates']} candidate files from "
        f"{manifest['packages']} packages")
  print(f"  skipped: {json.dumps(manifest['skipped'])}")
  print(f"  {'language':<18}{'files':>8}{'val':>6}{'MB':>10}")
  for language, entry in sorted(manifest["languages"].items(), key=lambda kv: -kv[1]["files"]):
    print(f"  {language:<18}{entry['files']:>8}{entry['validation_files']:>6}"
          f"{entry['bytes'] / 1e6:>10.2f}")
  enough = [l for l, e in manifest["languages"].items() if e["files"] >= 20]
  print(f"  {len(enough)} languages with at least 20 files")
  vocab_size = tokenizer_lib.local_vocab_size()
  path = tokenizer_lib.ensure_tokenizer(vocab_size, corpus=corpus)
  print(f"tokenizer ({vocab_size} tokens): {path} {vocab_note}".rstrip())
  return 0


def _stats(args) -> int:
  corpus = local_corpus.corpus_dir(config.data_paths().cache_dir)
  manifest = local_corpus.read_manifest(corpus)
  path = tokenizer_lib.ensure_tokenizer(corpus=corpus)
  counts = corpus_stats.local_token_counts(corpus, path, progress=not args.json)
  # The rates `local_code` samples with (from the cached estimates, as training uses them).
  weighting = config.mixture_weighting()
  rates = mixing.mixture_rates(corpus_stats.local_token_estimates(corpus, path),
                               weighting.alpha, weighting.cap)
  languages = {}
  for language, entry in sorted(manifest["languages"].items()):
    languages[language] = {k: entry[k] for k in ("files", "validation_files", "bytes",
                                                 "validation_bytes")}
    languages[language].update(counts[language], mixture_rate=rates.get(language, 0.0))
  if args.json:
    print(json.dumps({"languages": languages, "corpus_path": corpus, "tokenizer_path": path,
                      "vocab_size": tokenizer_lib.load_tokenizer(path).get_vocab_size(),
                      "skipped": manifest["skipped"], "licenses": manifest["licenses"]},
                     indent=1, sort_keys=True))
    return 0
  print(f"corpus: {corpus}\ntokenizer: {path}")
  print(f"{'language':<18}{'files':>8}{'MB':>10}{'tokens':>14}{'bytes/token':>13}"
        f"{'local_code %':>14}")
  for language, e in sorted(languages.items(), key=lambda kv: -kv[1]["tokens"]):
    ratio = e["bytes"] / e["tokens"] if e["tokens"] else float("nan")
    print(f"{language:<18}{e['files']:>8}{e['bytes'] / 1e6:>10.2f}{e['tokens']:>14,}"
          f"{ratio:>13.2f}{100 * e['mixture_rate']:>14.3f}")
  total = {k: sum(e[k] for e in languages.values()) for k in ("files", "bytes", "tokens",
                                                              "roundtrip_failures")}
  print(f"{'total':<18}{total['files']:>8}{total['bytes'] / 1e6:>10.2f}{total['tokens']:>14,}")
  print(f"encode → decode mismatches: {total['roundtrip_failures']}")
  return 0


def _show(args) -> int:
  if args.n < 1:
    raise DataError(f"--n={args.n}: must be at least 1")
  name = args.task or gin_config.macro_value("MIXTURE_OR_TASK_NAME") or _DEFAULT_TASK
  if name.startswith("local_"):
    tokenizer_lib.ensure_tokenizer()
  from starjax.data import tasks  # TensorFlow only when needed
  tasks.register_tasks()
  provider = tasks.get(name)
  ds = provider.get_dataset(sequence_length=None, split=args.split, shuffle=True,
                            seed=args.seed, num_epochs=1)
  vocabulary = provider.output_features["targets"].vocabulary
  texts = [vocabulary.tokenizer.decode(example["targets"].tolist(), skip_special_tokens=False)
           for example in ds.take(args.n).as_numpy_iterator()]
  if not texts:
    raise DataError(f"{name}: the {args.split} split yielded no examples")
  if args.json:
    print(json.dumps(texts, ensure_ascii=False))
  else:
    for i, text in enumerate(texts):
      print(f"──── {name} example {i + 1}/{len(texts)} ({len(text)} characters) ────")
      print(text)
  return 0
