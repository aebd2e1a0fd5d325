"""MultiPL-E Rust (multiple-rs): rustc, edition 2021, no crates (no network at run time).

Types as in MultiPL-E: isize, f64, String, bool, Vec<T>, tuples, HashMap<K, V>, Option<T>;
unions and Any have no translation. Deep equality is PartialEq (==), structural for all of
these. The code keeps to what Debian 12's rustc 1.63 accepts.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

from starjax.eval.languages.base import Program
from starjax.eval.languages.humaneval_ast import ParsedProblem
from starjax.eval.languages.value_types import Type
from starjax.eval.languages.translator import Translator

RUST_RESERVED = frozenset(
    "as break const continue crate else enum extern false fn for if impl in let loop match mod "
    "move mut pub ref return self Self static struct super trait true type unsafe use where "
    "while async await dyn abstract become box do final macro override priv typeof unsized "
    "virtual yield try".split())


@functools.lru_cache(maxsize=1)
def real_rustc() -> str | None:
  """The rustc binary itself. On a rustup install the `rustc` on PATH is a proxy that needs
  ~/.rustup, which the sandbox does not show; the sysroot's bin/rustc runs without it."""
  found = shutil.which("rustc")
  if found is None:
    return None
  try:
    sysroot = subprocess.run([found, "--print", "sysroot"], capture_output=True, text=True,
                             timeout=60, check=True).stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return found
  real = os.path.join(sysroot, "bin", "rustc")
  return real if os.path.isfile(real) else found


class Rust(Translator):
  """Rust as MultiPL-E writes it; rustc builds ./main."""

  ext = "rs"
  name = "Rust"
  stop_tokens = ("\n}",)
  toolchain = {"rustc": "rustc"}
  terms = {"array": "vector", "list": "vector", "tuple": "tuple", "dictionary": "HashMap",
           "True": "true", "False": "false"}
  reserved = RUST_RESERVED

  def type_name(self, t: Type) -> str:
    kind = t.kind
    scalar = {"int": "isize", "float": "f64", "str": "String", "bool": "bool"}
    if kind in scalar:
      return scalar[kind]
    if kind == "list":
      return f"Vec<{self.type_name(t.args[0])}>"
    if kind == "tuple":
      items = [self.type_name(a) for a in t.args]
      return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if kind == "dict":
      return f"HashMap<{self.type_name(t.args[0])}, {self.type_name(t.args[1])}>"
    if kind == "optional":
      return f"Option<{self.type_name(t.args[0])}>"
    raise self.unsupported(t)

  def literal(self, value: object, t: Type) -> str:
    kind = t.kind
    if kind == "optional":
      return "None" if value is None else f"Some({self.literal(value, t.args[0])})"
    if kind == "bool":
      return "true" if value else "false"
    if kind in ("int", "float"):
      return self.number(value, t)
    if kind == "str":
      return f"String::from({self.string(value)})"
    if kind == "list":
      if not value:  # a typed empty vector: `vec![]` leaves == without an element type
        return f"Vec::<{self.type_name(t.args[0])}>::new()"
      return "vec![" + ", ".join(self.literal(v, t.args[0]) for v in value) + "]"
    if kind == "tuple":
      items = [self.literal(v, a) for v, a in zip(value, t.args)]
      return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if kind == "dict":
      if not value:
        return f"{self.type_name(t).replace('<', '::<', 1)}::new()"
      entries = ", ".join(f"({self.literal(k, t.args[0])}, {self.literal(v, t.args[1])})"
                          for k, v in value.items())
      return f"HashMap::from([{entries}])"
    raise self.unsupported(t)

  def prompt(self, problem: ParsedProblem) -> str:
    params = ", ".join(f"{self.param_name(p)}: {self.type_name(t)}"
                       for p, t in zip(problem.params, problem.param_types))
    types = (*problem.param_types, problem.return_type)
    uses = "use std::collections::HashMap;\n\n" if any("HashMap" in self.type_name(t)
                                                        for t in types) else ""
    return (uses + self.comment(problem)
            + f"fn {problem.name}({params}) -> {self.type_name(problem.return_type)} {{\n")

  def equal(self, actual: str, expected: str, t: Type) -> str:
    return f"{actual} == {expected}"

  def close(self, actual: str, expected: str, tolerance: float) -> str:
    return f"({actual} - {expected}).abs() < {tolerance!r}"

  def fail_unless(self, condition: str, index: int) -> str:
    return f'    if !({condition}) {{ panic!("test {index} failed"); }}'

  def tests(self, problem: ParsedProblem) -> str:
    return ("\n}\n\nfn check() {\n"
            f"    let candidate = {problem.name};\n"
            + "\n".join(self.check_statements(problem)) + "\n}\n")

  def runner(self, sentinel: str) -> str:
    return f"\nfn main() {{\n    check();\n    println!(\"{{}}\", {self.string(sentinel)});\n}}\n"

  def sandbox_paths(self) -> tuple[str, ...]:
    from starjax.eval import sandbox  # pylint: disable=import-outside-toplevel
    rustc = real_rustc()
    if rustc is None or sandbox.under_system_dirs(rustc):
      return ()
    return (os.path.dirname(os.path.dirname(rustc)),)  # the sysroot: bin/ and lib/

  def build(self, source: str) -> Program:
    return Program(files={"main.rs": source},
                   compile=(real_rustc() or "rustc", "--edition", "2021", "-C", "debuginfo=0",
                            "-A", "warnings", "-o", "main", "main.rs"),
                   run=("./main",))
