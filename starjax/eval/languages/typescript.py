"""MultiPL-E TypeScript (multiple-ts): JavaScript with types, type-checked by tsc.

tsc (npm `typescript`; its 7.x compiler is native, ~0.3 s a program) checks the types and
writes main.js; a type error fails the program, as in MultiPL-E. node 20 cannot strip types
itself (that came in node 22.6), so there is no cheaper correct way to run it.
Types: number (int and float alike), string, boolean, T[], [A, B], {[key: string]: V},
T | undefined for Optional, A | B for unions, any.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil

from starjax.eval.languages.base import Program
from starjax.eval.languages.humaneval_ast import ParsedProblem
from starjax.eval.languages.value_types import Type
from starjax.eval.languages.javascript import DEEP_EQUAL, JavaScript

# --skipLibCheck and the two libs (of the default's many) halve tsc's time; one thread is
# plenty for one file and keeps under the sandbox's process limit.
TSC_FLAGS = ("--target", "esnext", "--lib", "esnext,dom", "--skipLibCheck", "--singleThreaded")


@functools.lru_cache(maxsize=1)
def tsc_binary() -> str:
  """TypeScript 7's native compiler when installed (0.2 s faster a program than the `tsc`
  node script that starts it), else `tsc`."""
  script = shutil.which("tsc")
  if script is None:
    return "tsc"
  package = os.path.dirname(os.path.dirname(os.path.realpath(script)))
  arch = {"x86_64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "")
  native = os.path.join(package, "node_modules", "@typescript",
                        f"typescript-{platform.system().lower()}-{arch}", "lib", "tsc")
  return native if os.access(native, os.X_OK) else "tsc"


class TypeScript(JavaScript):
  """TypeScript as MultiPL-E writes it; tsc compiles main.ts, node runs main.js."""

  ext = "ts"
  name = "TypeScript"
  toolchain = {"tsc": "npm:typescript", "node": "nodejs"}

  def type_name(self, t: Type) -> str:
    kind = t.kind
    if kind in ("int", "float"):
      return "number"
    if kind in ("str", "bool", "any"):
      return {"str": "string", "bool": "boolean", "any": "any"}[kind]
    if kind == "none":
      return "undefined"
    if kind == "list":
      inner = self.type_name(t.args[0])
      return f"({inner})[]" if "|" in inner else f"{inner}[]"
    if kind == "tuple":
      return "[" + ", ".join(self.type_name(a) for a in t.args) + "]"
    if kind == "dict":
      key = "number" if t.args[0].kind in ("int", "float") else "string"
      return f"{{[key: {key}]: {self.type_name(t.args[1])}}}"
    if kind == "optional":
      return f"{self.type_name(t.args[0])} | undefined"
    if kind == "union":
      return " | ".join(self.type_name(a) for a in t.args)
    raise self.unsupported(t)

  def signature(self, problem: ParsedProblem) -> str:
    params = ", ".join(f"{self.param_name(p)}: {self.type_name(t)}"
                       for p, t in zip(problem.params, problem.param_types))
    return (f"function {self.function_name(problem.name)}({params}): "
            f"{self.type_name(problem.return_type)} {{\n")

  def test_helpers(self) -> str:
    # No @types/node in the sandbox: declare the one node global the runner uses.
    typed = DEEP_EQUAL.replace("function deepEqual(a, b) {",
                               "function deepEqual(a: any, b: any): boolean {")
    return "declare var process: any;\n" + typed

  def build(self, source: str) -> Program:
    return Program(files={"main.ts": source},
                   compile=(tsc_binary(), *TSC_FLAGS, "main.ts"),
                   run=("node", "main.js"))
