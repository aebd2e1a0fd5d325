#!/usr/bin/env python
"""starjax command line. `python run.py` alone runs the quickstart; `python run.py --help` lists
the subcommands. Every subcommand takes --gin_file=F (repeatable) and --gin.NAME=VALUE."""

import importlib
import sys

# subcommand → (module with main(argv) -> int, one-line help)
SUBCOMMANDS = {
    "train": ("starjax.train.cli", "train or resume from the newest checkpoint in MODEL_DIR"),
    "info": ("starjax.train.info", "parameters, FLOPs/token, bytes per device; allocates nothing"),
    "data": ("starjax.data.cli", "build-local | stats | show: the code corpus and its tasks"),
    "generate": ("starjax.infer.cli", "complete a prompt (--model_dir or --hf_dir)"),
    "infill": ("starjax.infer.cli", "fill in the middle between --prefix and --suffix"),
    "chat": ("starjax.infer.cli", "technical-assistant chat REPL"),
    "eval": ("starjax.eval.cli", "generate completions for a benchmark and score them"),
    "evaluate": ("starjax.eval.cli", "score given completions: --benchmark --samples --out"),
    "eval-diff": ("starjax.eval.diff", "compare two evaluation runs problem by problem"),
    "convert": ("starjax.convert.cli", "Hugging Face <-> starjax checkpoints"),
    "serve": ("starjax.serve.cli", "HTTP server: TGI, OpenAI and llama.cpp APIs, playground"),
    "quickstart": ("starjax.quickstart", "the main job (same as no arguments)"),
}


def usage() -> str:
  lines = [__doc__, "", "subcommands:"]
  lines += [f"  {name:<11} {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
  return "\n".join(lines)


def split_command(argv: list[str]) -> tuple[str, list[str]]:
  """(subcommand, its arguments); 'help' for -h/--help, 'quickstart' when none is named."""
  if argv and argv[0] in ("-h", "--help", "help"):
    return "help", []
  if not argv or argv[0].startswith("-"):
    return "quickstart", argv
  return argv[0], argv[1:]


def main(argv: list[str]) -> int:
  command, rest = split_command(argv)
  if command == "help":
    print(usage())
    return 0
  if command not in SUBCOMMANDS:
    print(f"run.py: unknown subcommand {command!r}.\n\n{usage()}", file=sys.stderr)
    return 2
  from starjax import cli  # the one layer that maps errors to exit codes
  return cli.run(command, lambda c, a: importlib.import_module(SUBCOMMANDS[command][0]).main(c, a),
                 rest)


# Commands that run XLA computations on the host for more than a moment get glibc's malloc
# tuned for XLA (starjax/allocator.py: ~25 % faster CPU training steps); convert keeps the
# default so that its peak memory stays low.
FAST_MALLOC_COMMANDS = {"quickstart", "train", "generate", "infill", "chat", "eval", "serve"}

if __name__ == "__main__":
  from starjax import allocator
  if split_command(sys.argv[1:])[0] in FAST_MALLOC_COMMANDS:
    allocator.reexec_with_tuned_malloc()
  allocator.forget_tunables()
  sys.exit(main(sys.argv[1:]))
