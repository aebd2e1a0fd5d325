"""Evaluation languages, by MultiPL-E extension. Benchmarks: 'humaneval' (py), 'multiple-<ext>'.

Each module defines one Language subclass; modules are imported on first use so that a missing
module or toolchain of one language never breaks the others.
"""

from __future__ import annotations

import importlib

from starjax.eval.languages.base import Language, Program, UntranslatableError

# ext → module under starjax/eval/languages/ that defines the Language with that ext.
LANGUAGE_MODULES = {
    "py": "python",
    "js": "javascript",
    "ts": "typescript",
    "cpp": "cpp",
    "java": "java",
    "rs": "rust",
    "go": "go",
    "php": "php",
    "rb": "ruby",
    "lua": "lua",
    "pl": "perl",
    "sh": "bash",
    "cs": "csharp",
    "d": "d",
    "r": "r",
    "rkt": "racket",
    "scala": "scala",
}


def get_language(ext: str) -> Language:
  """The Language for a MultiPL-E extension ('js', 'cpp', ...) or 'py'."""
  if ext not in LANGUAGE_MODULES:
    raise ValueError(
        f"unknown language {ext!r}; known: {', '.join(sorted(LANGUAGE_MODULES))}")
  module = importlib.import_module(f"starjax.eval.languages.{LANGUAGE_MODULES[ext]}")
  for value in vars(module).values():
    if isinstance(value, type) and issubclass(value, Language) and getattr(value, "ext", None) == ext:
      return value()
  raise ValueError(f"starjax/eval/languages/{LANGUAGE_MODULES[ext]}.py defines no Language with ext={ext!r}")


__all__ = ["Language", "Program", "UntranslatableError", "LANGUAGE_MODULES", "get_language"]
