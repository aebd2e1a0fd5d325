"""Gin on the command line, t5x style: `--gin_file=F` (repeatable) and `--gin.NAME=VALUE`.

Values are taken as typed: anything that is not a Python literal or a gin reference
(`@fn`, `%MACRO`) is a string, so `--gin.MODEL_DIR=/tmp/run` needs no extra quotes.
Errors name the flag or file and say how to fix it.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import re
import importlib
import os
from typing import Sequence

import gin
import gin.config_parser

from starjax import ROOT


class GinFlagError(ValueError):
  """A --gin_file or --gin.NAME flag that cannot be used; the message says why and how to fix it."""


# Modules whose @gin.configurable functions and classes gin files may name, imported before any
# parsing so that bindings resolve. Every one must exist: a misspelt name fails loudly here.
CONFIGURABLE_MODULES = (
    "starjax.model.config",
    "starjax.sharding",
    "starjax.train.optimizer",
    "starjax.train.trainer",
    "starjax.model_dir",
    "starjax.data",
    "starjax.data.prepare.stages",
    "starjax.data.governance.index_build",
    "starjax.infer",
    "starjax.eval",
    "starjax.eval.generation",
    "starjax.eval.hooks",
    "starjax.quickstart",
)


def import_configurables() -> None:
  for name in CONFIGURABLE_MODULES:
    importlib.import_module(name)


def split_gin_flags(argv: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
  """Separates gin flags from the rest of a command line.

  Returns (gin_files, gin_bindings, remaining_argv). Bindings are gin statements
  (`NAME = VALUE`) with string values already quoted.
  """
  files, bindings, rest = [], [], []
  argv = list(argv)
  i = 0
  while i < len(argv):
    arg = argv[i]
    if arg == "--gin_file" or arg == "--gin_file=":
      if i + 1 >= len(argv):
        raise GinFlagError("--gin_file needs a path, e.g. --gin_file=gin/models/tiny.gin")
      files.append(argv[i + 1])
      i += 2
      continue
    if arg.startswith("--gin_file="):
      files.append(arg[len("--gin_file="):])
    elif arg.startswith("--gin."):
      body = arg[len("--gin."):]
      if "=" not in body:
        if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
          body = f"{body}={argv[i + 1]}"
          i += 1
        else:
          raise GinFlagError(f"{arg}: a gin binding needs a value, e.g. --gin.MODEL_DIR=/tmp/run")
      name, value = body.split("=", 1)
      bindings.append(f"{name.strip()} = {as_gin_value(value)}")
    elif arg.startswith("--gin_bindings="):  # t5x spelling, accepted for familiarity
      bindings.append(arg[len("--gin_bindings="):])
    else:
      rest.append(arg)
    i += 1
  return files, bindings, rest


class _AcceptReferences(gin.config_parser.ParserDelegate):
  """Lets gin's parser check a value's syntax without resolving @references or %MACROS."""

  def configurable_reference(self, scoped_name, evaluate):
    return scoped_name

  def macro(self, macro_name):
    return macro_name


def as_gin_value(text: str) -> str:
  """Returns `text` as gin source: valid gin values (literals, @refs, %MACROS, lists of
  them) unchanged, anything else quoted as a string."""
  stripped = text.strip()
  if not stripped:
    return "''"
  try:
    ast.literal_eval(stripped)
    return stripped
  except (ValueError, SyntaxError):
    pass
  if any(c in stripped for c in "@%"):
    try:
      parser = gin.config_parser.ConfigParser(f"value = {stripped}\n", _AcceptReferences())
      if len(list(parser)) == 1:
        return stripped
    except (SyntaxError, ValueError):
      pass
  return repr(text)


def resolve_gin_file(path: str) -> str:
  """Finds a gin file as given, relative to the working directory, or to the repository root."""
  candidates = [path, os.path.join(ROOT, path)]
  if not path.endswith(".gin"):
    candidates += [p + ".gin" for p in candidates]
  for candidate in candidates:
    if os.path.isfile(candidate):
      return os.path.abspath(candidate)
  known = sorted(
      os.path.relpath(os.path.join(d, f), ROOT)
      for d, _, fs in os.walk(os.path.join(ROOT, "gin")) for f in fs if f.endswith(".gin"))
  known += sorted(
      os.path.relpath(os.path.join(ROOT, "experiments", f), ROOT)
      for f in os.listdir(os.path.join(ROOT, "experiments")) if f.endswith(".gin")
  ) if os.path.isdir(os.path.join(ROOT, "experiments")) else []
  close = difflib.get_close_matches(path, known, n=3, cutoff=0.4)
  hint = f" Did you mean {', '.join(close)}?" if close else ""
  raise GinFlagError(
      f"--gin_file={path}: no such file (looked in {os.getcwd()} and {ROOT}).{hint} "
      f"Available: {', '.join(known)}")


def parse(files: Sequence[str], bindings: Sequence[str], *, finalize: bool = True) -> None:
  """Imports starjax's configurables and applies gin files then bindings (later ones win)."""
  import_configurables()
  gin.clear_config()
  gin.add_config_file_search_path(ROOT)
  resolved = [resolve_gin_file(f) for f in files]
  for path in resolved:
    try:
      gin.parse_config_file(path)
    except (ValueError, KeyError, SyntaxError, IOError) as e:
      raise GinFlagError(f"--gin_file={path}: {explain_gin_error(e)}") from e
  for binding in bindings:
    try:
      gin.parse_config(binding)
    except (ValueError, KeyError, SyntaxError) as e:
      raise GinFlagError(
          f"--gin.{binding.replace(' = ', '=', 1)}: {explain_gin_error(e)}") from e
  if finalize:
    gin.finalize()


def explain_gin_error(error: Exception) -> str:
  """Turns gin's message into one that suggests what the user probably meant."""
  message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
  message = message.rstrip(".")
  unknown = re.search(r"No configurable matching '([^']*)'", message)
  configurable = re.search(r"Configurable '([^']*)'", message)
  parameter = re.search(r"parameter named '([^']*)'", message)
  message += "."
  if unknown:
    names = sorted({name for _, name in _registered_configurables()})
    close = difflib.get_close_matches(unknown.group(1).split(".")[-1], names, n=3, cutoff=0.5)
    if close:
      message += f" Did you mean {', '.join(close)}?"
  elif configurable and parameter:
    parameters = _parameters_of(configurable.group(1))
    close = difflib.get_close_matches(parameter.group(1), parameters, n=3, cutoff=0.5)
    if close:
      message += f" Did you mean {', '.join(close)}?"
    elif parameters:
      message += f" Its parameters: {', '.join(parameters)}."
  return message + " `python run.py info --gin_file=...` shows a working configuration."


def _parameters_of(name: str) -> list[str]:
  registry = gin.config._REGISTRY  # pylint: disable=protected-access
  for selector, configurable in registry.items():
    if selector == name or selector.endswith("." + name):
      try:
        return sorted(inspect.signature(configurable.wrapped).parameters)
      except (TypeError, ValueError, AttributeError):
        return []
  return []


def _registered_configurables():
  registry = gin.config._REGISTRY  # pylint: disable=protected-access
  for selector, _ in registry.items():
    yield selector.rsplit(".", 1)[0] if "." in selector else "", selector.rsplit(".", 1)[-1]


def macro_value(name: str, default=None):
  """The value of a gin macro such as MODEL_DIR, or `default` when it is unbound."""
  try:
    return gin.query_parameter(f"%{name.lstrip('%')}")
  except ValueError:
    return default


def write_operative_config(model_dir: str) -> str:
  """Writes the operative gin config to MODEL_DIR/config.gin atomically; returns its path."""
  from starjax.model_dir import config_gin_path  # pylint: disable=import-outside-toplevel
  os.makedirs(model_dir, exist_ok=True)
  path = config_gin_path(model_dir)
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    f.write(gin.operative_config_str())
  os.replace(tmp, path)
  return path
