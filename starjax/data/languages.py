"""Programming languages: file extensions → language names, and language names → task names.

Language names follow The Stack / StarCoderData folder names (`python`, `c`, `cpp`,
`c-sharp`, `javascript`, ...). Extensions follow GitHub Linguist's primary assignment, with the
ambiguous `.h` going to C as in The Stack.
"""

from __future__ import annotations

import os
import re
from typing import Optional

# language → extensions (lowercase, with the dot). Order is irrelevant; each extension is unique.
LANGUAGE_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "python": (".py", ".pyi", ".pyw"),
    "cython": (".pyx", ".pxd", ".pxi"),
    "c": (".c", ".h"),
    "cpp": (".cpp", ".cc", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++", ".inl", ".ipp", ".tcc",
            ".tpp"),
    "cuda": (".cu", ".cuh"),
    "c-sharp": (".cs",),
    "java": (".java",),
    "kotlin": (".kt", ".kts"),
    "scala": (".scala",),
    "javascript": (".js", ".mjs", ".cjs", ".jsx"),
    "typescript": (".ts", ".tsx", ".mts", ".cts"),
    "go": (".go",),
    "rust": (".rs",),
    "ruby": (".rb", ".rake", ".gemspec"),
    "perl": (".pl", ".pm"),
    "php": (".php",),
    "lua": (".lua",),
    "shell": (".sh", ".bash", ".zsh", ".ksh"),
    "powershell": (".ps1", ".psm1"),
    "batchfile": (".bat", ".cmd"),
    "r": (".r",),
    "julia": (".jl",),
    "haskell": (".hs",),
    "swift": (".swift",),
    "sql": (".sql",),
    "assembly": (".s", ".asm"),
    "html": (".html", ".htm"),
    "css": (".css",),
    "markdown": (".md", ".markdown"),
    "restructuredtext": (".rst",),
    "tex": (".tex",),
    "yaml": (".yaml", ".yml"),
    "json": (".json",),
    "toml": (".toml",),
    "protocol-buffer": (".proto",),
    "cmake": (".cmake",),
}

# Files recognised by their whole name rather than an extension.
LANGUAGE_FILENAMES: dict[str, str] = {
    "CMakeLists.txt": "cmake",
    "Makefile": "makefile",
    "GNUmakefile": "makefile",
    "Dockerfile": "dockerfile",
}

EXTENSION_TO_LANGUAGE: dict[str, str] = {
    ext: lang for lang, exts in LANGUAGE_EXTENSIONS.items() for ext in exts}

# Languages whose files are data rather than programs: StarCoder kept only small ones.
DATA_LANGUAGES = frozenset({"json", "yaml"})


def language_of(path: str) -> Optional[str]:
  """The language of a file from its name, or None if it is not a source file we know."""
  name = os.path.basename(path)
  if name in LANGUAGE_FILENAMES:
    return LANGUAGE_FILENAMES[name]
  _, ext = os.path.splitext(name)
  return EXTENSION_TO_LANGUAGE.get(ext.lower())


_TASK_SAFE = re.compile(r"[^a-z0-9_]")


def task_suffix(language: str) -> str:
  """The language as it appears in task names: `c-sharp` → `c_sharp`, `C++` → `cpp`.

  seqio task names allow only word characters, dots and colons.
  """
  name = language.strip().lower().replace("c++", "cpp").replace("c#", "c-sharp")
  name = _TASK_SAFE.sub("_", name.replace("+", "p").replace("#", "sharp"))
  return name.strip("_") or "unknown"
