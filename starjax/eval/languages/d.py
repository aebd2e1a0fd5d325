"""MultiPL-E D (multiple-d): ldc2 (LDC, the LLVM D compiler) builds ./main.

Types: long, double (Python floats are doubles), string, bool, dynamic arrays T[], associative
arrays V[K], std.typecons Tuple!(...) and Nullable!T; unions and Any have no translation. D's ==
is structural for all of these. Compiler warnings are not errors (no -w).
"""

from __future__ import annotations

from starjax.eval.languages.base import Program
from starjax.eval.languages.humaneval_ast import ParsedProblem
from starjax.eval.languages.value_types import Type
from starjax.eval.languages.translator import Translator

D_RESERVED = frozenset(
    "abstract alias align asm assert auto body bool break byte case cast catch cdouble cent "
    "cfloat char class const continue creal dchar debug default delegate delete deprecated do "
    "double else enum export extern false final finally float for foreach foreach_reverse "
    "function goto idouble if ifloat immutable import in inout int interface invariant ireal is "
    "lazy long macro mixin module new nothrow null out override package pragma private protected "
    "public pure real ref return scope shared short static struct super switch synchronized "
    "template this throw true try typeid typeof ubyte ucent uint ulong union unittest ushort "
    "version void wchar while with string".split())


class D(Translator):
  """D as MultiPL-E writes it (std.math and std.typecons imported); ldc2 compiles main.d."""

  ext = "d"
  name = "D"
  stop_tokens = ("\n}",)
  toolchain = {"ldc2": "ldc"}
  terms = {"array": "array", "list": "array", "tuple": "tuple", "dictionary": "associative array",
           "None": "null", "True": "true", "False": "false"}
  reserved = D_RESERVED

  def type_name(self, t: Type) -> str:
    scalar = {"int": "long", "float": "double", "str": "string", "bool": "bool"}
    if t.kind in scalar:
      return scalar[t.kind]
    if t.kind == "list":
      return f"{self.type_name(t.args[0])}[]"
    if t.kind == "tuple":
      return f"Tuple!({', '.join(self.type_name(a) for a in t.args)})"
    if t.kind == "dict":
      return f"{self.type_name(t.args[1])}[{self.type_name(t.args[0])}]"
    if t.kind == "optional":
      return f"Nullable!({self.type_name(t.args[0])})"
    raise self.unsupported(t)

  def literal(self, value: object, t: Type) -> str:
    kind = t.kind
    if kind == "optional":
      name = self.type_name(t)
      return f"{name}()" if value is None else f"{name}({self.literal(value, t.args[0])})"
    if kind == "bool":
      return "true" if value else "false"
    if kind == "int":
      if not -2 ** 63 <= value < 2 ** 63:
        raise self.unsupported(t)
      return f"{value}L"
    if kind == "float":
      return self.number(value, t)
    if kind == "str":
      return self.string(value)
    if kind == "list":
      if not value:
        return f"(({self.type_name(t)}).init)"
      return "[" + ", ".join(self.literal(v, t.args[0]) for v in value) + "]"
    if kind == "tuple":
      return "tuple(" + ", ".join(self.literal(v, a) for v, a in zip(value, t.args)) + ")"
    if kind == "dict":
      if not value:
        return f"(({self.type_name(t)}).init)"
      return "[" + ", ".join(f"{self.literal(k, t.args[0])}: {self.literal(v, t.args[1])}"
                             for k, v in value.items()) + "]"
    raise self.unsupported(t)

  def prompt(self, problem: ParsedProblem) -> str:
    params = ", ".join(f"{self.type_name(t)} {self.param_name(p)}"
                       for p, t in zip(problem.params, problem.param_types))
    return ("import std.math;\nimport std.typecons;\n" + self.comment(problem)
            + f"{self.type_name(problem.return_type)} {problem.name}({params}) \n{{\n")

  def equal(self, actual: str, expected: str, t: Type) -> str:
    return f"{actual} == {expected}"

  def close(self, actual: str, expected: str, tolerance: float) -> str:
    return f"abs({actual} - {expected}) < {tolerance!r}"

  def fail_unless(self, condition: str, index: int) -> str:
    return f'    if (!({condition})) throw new Exception("test {index} failed");'

  def tests(self, problem: ParsedProblem) -> str:
    return ("\n}\n\nvoid check()\n{\n"
            f"    auto candidate = &{problem.name};\n"
            + "\n".join(self.check_statements(problem)) + "\n}\n")

  def runner(self, sentinel: str) -> str:
    return ("\nvoid main()\n{\n    import std.stdio : writeln, stdout;\n    check();\n"
            f"    writeln({self.string(sentinel)});\n    stdout.flush();\n}}\n")

  def build(self, source: str) -> Program:
    return Program(files={"main.d": source}, compile=("ldc2", "-O0", "-of=main", "main.d"),
                   run=("./main",))
