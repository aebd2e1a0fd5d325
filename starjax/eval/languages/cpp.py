"""MultiPL-E C++ (multiple-cpp): g++ -std=c++17, one translation unit.

Types: long, double, std::string, bool, std::vector, std::tuple, std::map, std::optional, and
std::variant for unions (HumanEval/103, /125, /137). Floats are double, not MultiPL-E's float:
Python's floats are doubles and the tests' expected values assume that precision.
Deep equality is the standard library's operator==, which is structural for every one of these.
Checks are plain `if`s, not assert(): NDEBUG or a redefined assert cannot switch them off.

Parsing <bits/stdc++.h> is most of a compile (~1.3 of ~1.6 s), so the first C++ program
precompiles it, once per machine and g++ version, into ~/.cache/starjax/cpp-pch/ (100 MB),
which every compile then force-includes (4× faster; the prompt's own includes become no-ops).
Where that cannot be built, programs compile without it: slower, same result.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading

from starjax.eval.languages import value_types
from starjax.eval.languages.base import Program
from starjax.eval.languages.humaneval_ast import ParsedProblem
from starjax.eval.languages.value_types import Type
from starjax.eval.languages.translator import Translator

CPP_RESERVED = frozenset(
    "alignas alignof and and_eq asm auto bitand bitor bool break case catch char class compl "
    "const constexpr const_cast continue decltype default delete do double dynamic_cast else "
    "enum explicit export extern false float for friend goto if inline int long mutable "
    "namespace new noexcept not not_eq nullptr operator or or_eq private protected public "
    "register reinterpret_cast return short signed sizeof static static_assert static_cast "
    "struct switch template this thread_local throw true try typedef typeid typename union "
    "unsigned using virtual void volatile wchar_t while xor xor_eq".split())

CXX_FLAGS = ("-std=c++17",)  # a precompiled header is used only under the flags it was built with
_pch_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _precompiled_header_dir() -> str | None:
  gxx = shutil.which("g++")
  if gxx is None:
    return None
  try:
    version = subprocess.run([gxx, "--version"], capture_output=True, text=True, timeout=60,
                             check=True).stdout
    key = hashlib.sha256((version + " ".join(CXX_FLAGS)).encode()).hexdigest()[:16]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    root = os.path.join(cache, "starjax", "cpp-pch", key)
    header = os.path.join(root, "stdc++.h")
    if not os.path.isfile(header + ".gch"):
      os.makedirs(root, exist_ok=True)
      with tempfile.TemporaryDirectory(dir=root) as scratch:
        draft = os.path.join(scratch, "stdc++.h")
        with open(draft, "w") as f:
          f.write("#include <bits/stdc++.h>\n")
        subprocess.run([gxx, *CXX_FLAGS, "-x", "c++-header", draft, "-o", draft + ".gch"],
                       capture_output=True, timeout=600, check=True)
        for name in (draft, draft + ".gch"):
          os.chmod(name, 0o644)  # readable by the sandbox's uid
        # Atomic renames, the .gch last: another evaluator may be building it too.
        os.replace(draft, header)
        os.replace(draft + ".gch", header + ".gch")
    return root
  except (OSError, subprocess.SubprocessError):
    return None


def precompiled_header_dir() -> str | None:
  """A directory with stdc++.h and its stdc++.h.gch for this g++ and CXX_FLAGS (built on first
  use), or None when that cannot be built."""
  with _pch_lock:
    return _precompiled_header_dir()


class Cpp(Translator):
  """C++ as MultiPL-E writes it (with double for float); g++ builds ./main."""

  ext = "cpp"
  name = "C++"
  stop_tokens = ("\n}",)
  toolchain = {"g++": "g++"}
  terms = {"list": "vector", "tuple": "tuple", "dictionary": "map", "True": "true",
           "False": "false"}
  reserved = CPP_RESERVED

  def type_name(self, t: Type) -> str:
    kind = t.kind
    scalar = {"int": "long", "float": "double", "str": "std::string", "bool": "bool"}
    if kind in scalar:
      return scalar[kind]
    if kind == "list":
      return f"std::vector<{self.type_name(t.args[0])}>"
    if kind == "tuple":
      return f"std::tuple<{', '.join(self.type_name(a) for a in t.args)}>"
    if kind == "dict":
      return f"std::map<{self.type_name(t.args[0])}, {self.type_name(t.args[1])}>"
    if kind == "optional":
      return f"std::optional<{self.type_name(t.args[0])}>"
    if kind == "union":
      return f"std::variant<{', '.join(self.type_name(a) for a in t.args)}>"
    raise self.unsupported(t)

  def literal(self, value: object, t: Type) -> str:
    kind = t.kind
    if kind == "optional":
      return "std::nullopt" if value is None else self.literal(value, t.args[0])
    if kind == "union":
      # Name the alternative: a bare "..." would convert to bool before std::string.
      member = _member(value, t)
      inner = self.literal(value, member)
      if member.kind == "str":
        inner = f"std::string({inner})"
      return f"{self.type_name(t)}({inner})"
    if kind == "bool":
      return "true" if value else "false"
    if kind in ("int", "float"):
      return self.number(value, t)
    if kind == "str":
      return self.string(value)
    if kind == "list":
      items = ", ".join(self.literal(v, t.args[0]) for v in value)
      return f"{self.type_name(t)}({{{items}}})" if value else f"{self.type_name(t)}()"
    if kind == "tuple":
      return f"{self.type_name(t)}({', '.join(self.literal(v, a) for v, a in zip(value, t.args))})"
    if kind == "dict":
      items = ", ".join(f"{{{self.literal(k, t.args[0])}, {self.literal(v, t.args[1])}}}"
                        for k, v in value.items())
      return f"{self.type_name(t)}({{{items}}})" if value else f"{self.type_name(t)}()"
    raise self.unsupported(t)

  def prompt(self, problem: ParsedProblem) -> str:
    params = ", ".join(f"{self.type_name(t)} {self.param_name(p)}"
                       for p, t in zip(problem.params, problem.param_types))
    return ("#include<assert.h>\n#include<bits/stdc++.h>\n" + self.comment(problem)
            + f"{self.type_name(problem.return_type)} {problem.name}({params}) {{\n")

  def equal(self, actual: str, expected: str, t: Type) -> str:
    return f"{actual} == {expected}"

  def close(self, actual: str, expected: str, tolerance: float) -> str:
    return f"std::abs({actual} - {expected}) < {tolerance!r}"

  def fail_unless(self, condition: str, index: int) -> str:
    return (f'    if (!({condition})) {{ std::cerr << "test {index} failed" << std::endl; '
            "std::exit(1); }")

  def tests(self, problem: ParsedProblem) -> str:
    # A typed pointer, not auto: overload resolution then finds ours when the entry point's
    # name is also a C library function's (HumanEval/23 is strlen).
    params = ", ".join(self.type_name(t) for t in problem.param_types)
    return ("\n}\n\nvoid check() {\n"
            f"    {self.type_name(problem.return_type)} (*candidate)({params}) = {problem.name};\n"
            + "\n".join(self.check_statements(problem)) + "\n}\n")

  def runner(self, sentinel: str) -> str:
    return ("\nint main() {\n    check();\n"
            f"    std::cout << {self.string(sentinel)} << std::endl;\n    return 0;\n}}\n")

  def sandbox_paths(self) -> tuple[str, ...]:
    pch = precompiled_header_dir()
    return super().sandbox_paths() + ((pch,) if pch else ())

  def build(self, source: str) -> Program:
    pch = precompiled_header_dir()
    # <pch>/stdc++.h (which includes <bits/stdc++.h>) comes first in the unit, so g++ loads
    # <pch>/stdc++.h.gch for it; the program's own includes then find everything guarded.
    header = ("-include", os.path.join(pch, "stdc++.h")) if pch else ()
    return Program(files={"main.cpp": source},
                   compile=("g++", *CXX_FLAGS, *header, "-o", "main", "main.cpp"),
                   run=("./main",))


def _member(value: object, union: Type) -> Type:
  """The union member a value is written as: its own type if listed, else the first that fits."""
  own = value_types.value_type(value)
  if own in union.args:
    return own
  return next(m for m in union.args if value_types.conforms(value, m))
