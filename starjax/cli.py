"""The command line's one layer, shared by every subcommand of run.py: gin flags and argparse,
logging, the shared flag groups (which model, how to sample), and exceptions → exit codes.

    0    ok
    1    a runtime or data failure (DataError, a step that diverged, an I/O error)
    2    a usage or configuration error (a flag, gin binding, mesh, checkpoint or path to fix)
    130  interrupted (Ctrl-C)
    143  terminated (SIGTERM; training saves a checkpoint first)

An anticipated error is one line, `run.py COMMAND: message`, never a traceback; gin's own
decoration of errors raised inside configurables (`In call to configurable ...`) is dropped.
"""

from __future__ import annotations

import argparse
import codecs
import logging
import re
import signal
import sys
from typing import Callable, Sequence

from starjax import gin_config

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143

GIN_EPILOG = ("Every subcommand takes --gin_file=F (repeatable) and --gin.NAME=VALUE "
              "(e.g. --gin.MODEL_DIR=/tmp/run). Exit status: 0 ok, 1 runtime or data failure, "
              "2 usage or configuration error, 130 interrupted, 143 terminated.")


class UsageError(ValueError):
  """A flag or value the user must change; the message names it and the fix (exit 2)."""


class Terminated(SystemExit):
  """SIGTERM outside a handler of the command's own (training installs one to checkpoint)."""

  def __init__(self):
    super().__init__(EXIT_TERMINATED)
    self.message = "terminated (SIGTERM)"


def parser(command: str, description: str | None = None, *,
           epilog: str | None = None) -> argparse.ArgumentParser:
  """An argparse parser for `run.py COMMAND` (argparse's own usage errors exit 2)."""
  return argparse.ArgumentParser(prog=f"run.py {command}", description=description,
                                 epilog=" ".join(x for x in (epilog, GIN_EPILOG) if x),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)


def parse(argv: Sequence[str], build_parser: Callable[[], argparse.ArgumentParser] | argparse.ArgumentParser,
          *, gin_files: Sequence[str] = (), require_gin_file: bool = False,
          finalize: bool = True) -> argparse.Namespace:
  """Splits gin flags from the rest, applies gin (`gin_files` first, then the command line's
  files and bindings), then parses the remaining flags. `build_parser` may be a callable: it
  is built after gin, so that its defaults can come from gin (e.g. gin/runs/eval.gin)."""
  files, bindings, rest = gin_config.split_gin_flags(argv)
  if require_gin_file and not files:
    raise UsageError("no --gin_file given: pass an experiment, e.g. "
                     "--gin_file=experiments/quickstart.gin")
  gin_config.parse([*gin_files, *files], bindings, finalize=finalize)
  built = build_parser() if callable(build_parser) else build_parser
  args = built.parse_args(rest)
  args.gin_files = list(files)
  return args


def setup_logging(level: int = logging.WARNING, starjax_level: int = logging.INFO) -> None:
  logging.basicConfig(level=level, format="%(asctime)s %(name)s: %(message)s")
  logging.getLogger("starjax").setLevel(starjax_level)


def unescape(text: str | None) -> str | None:
  """Shell-friendly escapes in text flags (--prompt, --stop, ...): '\\n' means a newline."""
  return None if text is None else codecs.decode(text, "unicode_escape")


# -- shared flag groups -----------------------------------------------------------------------
def add_model_flags(parser_: argparse.ArgumentParser) -> None:
  """Which model: --model_dir (a starjax run) or --hf_dir (a Hugging Face directory)."""
  group = parser_.add_argument_group("model (exactly one of --model_dir, --hf_dir)")
  group.add_argument("--model_dir", help="a starjax MODEL_DIR (its newest checkpoint is used)")
  group.add_argument("--hf_dir", help="a Hugging Face model directory (gpt_bigcode/starcoder2)")
  group.add_argument("--tokenizer", help="tokenizer.json (default: the model directory's)")


def require_one_model(args) -> None:
  if bool(getattr(args, "model_dir", None)) == bool(getattr(args, "hf_dir", None)):
    raise UsageError("give exactly one of --model_dir or --hf_dir (--model_dir=DIR: a starjax "
                     "run; --hf_dir=DIR: a Hugging Face model directory)")


def add_sampling_flags(parser_: argparse.ArgumentParser, *, max_new_tokens: int = 128,
                       temperature: float = 0.0, top_p: float = 1.0, top_k: int = 0,
                       num_samples: int = 1, seed: int = 0) -> None:
  """How to sample; the defaults are the caller's (each command has its published ones)."""
  group = parser_.add_argument_group("sampling")
  group.add_argument("--max_new_tokens", type=int, default=max_new_tokens)
  group.add_argument("--temperature", type=float, default=temperature, help="0 = greedy")
  group.add_argument("--top_p", type=float, default=top_p)
  group.add_argument("--top_k", type=int, default=top_k)
  group.add_argument("--seed", type=int, default=seed)
  group.add_argument("--num_samples", type=int, default=num_samples)
  group.add_argument("--stop", action="append", default=[],
                     help="stop string (repeatable; '\\n' escapes allowed)")


def sampling_from(args):
  """The SamplingConfig of add_sampling_flags' flags."""
  from starjax.infer.sampling import SamplingConfig  # pylint: disable=import-outside-toplevel
  return SamplingConfig(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                        max_new_tokens=args.max_new_tokens,
                        stop=tuple(unescape(s) for s in args.stop), seed=args.seed,
                        num_samples=args.num_samples)


def mesh_from_gin():
  """The MeshConfig bound by a --gin_file=gin/mesh/... (None when gin binds no mesh). A mesh
  that cannot apply to the devices raises MeshError here: it is never silently ignored."""
  import dataclasses  # pylint: disable=import-outside-toplevel
  import gin  # pylint: disable=import-outside-toplevel
  from starjax.sharding import MeshConfig  # pylint: disable=import-outside-toplevel
  bound = False
  for field in dataclasses.fields(MeshConfig):
    try:
      gin.query_parameter(f"MeshConfig.{field.name}")
      bound = True
    except ValueError:
      continue
  if not bound:
    return None
  config = MeshConfig()
  config.create()  # checks the axis sizes against the devices now, with the fix in the message
  return config


# -- exceptions → exit codes ------------------------------------------------------------------
_GIN_DECORATION = re.compile(r"^\s*In call to configurable .*$", re.MULTILINE)


def message_of(error: BaseException) -> str:
  """The error's message without gin's `In call to configurable ...` lines."""
  text = _GIN_DECORATION.sub("", str(error)).strip()
  return re.sub(r"\n\s*\n", "\n", text) or type(error).__name__


def exit_code_of(error: BaseException) -> int | None:
  """The exit code of an anticipated error, or None for a bug (which gets its traceback)."""
  # pylint: disable=import-outside-toplevel
  from starjax.data.errors import DataError
  if isinstance(error, KeyboardInterrupt):
    return EXIT_INTERRUPTED
  if isinstance(error, DataError):
    return EXIT_FAILURE
  if isinstance(error, (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
                        PermissionError)) or type(error).__name__ in _USAGE_ERRORS:
    return EXIT_USAGE  # flags, gin, meshes, checkpoints, paths: the message says what to change
  if type(error).__name__ in _RUNTIME_ERRORS or isinstance(error, (OSError, RuntimeError)):
    return EXIT_FAILURE
  return None


# Anticipated runtime failures by name (their modules load only with their commands).
_RUNTIME_ERRORS = ("NonFiniteTrainingError",)
# ... and usage errors that are not ValueErrors: a toolchain or sandbox to install first.
_USAGE_ERRORS = ("ToolchainMissingError", "SandboxUnavailableError")


def run(command: str, main: Callable[[str, list[str]], int | None], argv: list[str]) -> int:
  """Runs a subcommand's main(command, argv) and turns what it raises into an exit code."""
  import gin  # pylint: disable=import-outside-toplevel
  gin.clear_config()  # each command starts from a clean, unlocked gin (notebooks, tests)
  previous = None
  try:
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
  except ValueError:  # not the main thread (a notebook's worker, a test thread)
    pass
  try:
    return main(command, argv) or EXIT_OK
  except SystemExit as e:
    message = getattr(e, "message", None)
    if message:
      print(f"run.py {command}: {message}", file=sys.stderr)
    return e.code if isinstance(e.code, int) else (EXIT_OK if e.code is None else EXIT_FAILURE)
  except BaseException as e:  # pylint: disable=broad-except
    code = exit_code_of(e)
    if code is None:
      raise
    if code == EXIT_INTERRUPTED:
      print(f"\nrun.py {command}: interrupted" + (f": {message_of(e)}" if str(e) else ""),
            file=sys.stderr)
    else:
      print(f"run.py {command}: {message_of(e)}", file=sys.stderr)
    return code
  finally:
    if previous is not None:
      signal.signal(signal.SIGTERM, previous)
    gin.clear_config()  # nothing locked or bound outlives the command (later imports register)


def _raise_terminated(signum, frame):
  del signum, frame
  raise Terminated()
