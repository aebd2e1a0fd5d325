"""MultiPL-E Scala (multiple-scala): Scala 2.11 (MultiPL-E's version), object Problem.

Types: Long, Double (Python floats are doubles), String, Boolean, List[T], tuples, Map[K, V],
Option[T]; unions and Any have no translation. Method names are camelCase as in MultiPL-E. Deep
equality is ==, structural for all of these. scalac runs as a plain JVM program (the compiler
jar), so no compile daemon is started; -nowarn keeps warnings out of the way.
"""

from __future__ import annotations

import os

from starjax.eval.languages.base import Program
from starjax.eval.languages.humaneval_ast import ParsedProblem
from starjax.eval.languages.java import JVM_FLAGS, camel_case
from starjax.eval.languages.value_types import Type
from starjax.eval.languages.translator import Translator

SCALA_LIB = "/usr/share/scala-2.11/lib"
SCALA_PACKAGE = "scala"
SCALA_RESERVED = frozenset(
    "abstract case catch class def do else extends false final finally for forSome if implicit "
    "import lazy match new null object override package private protected return sealed super "
    "this throw trait try true type val var while with yield".split())


def jar(name: str) -> str:
  return os.path.join(SCALA_LIB, f"{name}.jar")


class Scala(Translator):
  """Scala as MultiPL-E writes it; scalac compiles Problem.scala, java runs object Problem."""

  ext = "scala"
  name = "Scala"
  stop_tokens = ("\n    }\n",)
  toolchain = {"scala": SCALA_PACKAGE, "java": "default-jdk-headless"}
  terms = {"array": "list", "tuple": "tuple", "dictionary": "map", "None": "None",
           "True": "true", "False": "false"}
  reserved = SCALA_RESERVED

  def missing_tools(self) -> dict[str, str]:
    missing = super().missing_tools()
    if not os.path.exists(jar("scala-compiler")):
      missing[jar("scala-compiler")] = SCALA_PACKAGE
    return missing

  def function_name(self, name: str) -> str:
    return camel_case(name)

  def type_name(self, t: Type) -> str:
    scalar = {"int": "Long", "float": "Double", "str": "String", "bool": "Boolean"}
    if t.kind in scalar:
      return scalar[t.kind]
    if t.kind == "list":
      return f"List[{self.type_name(t.args[0])}]"
    if t.kind == "tuple":
      return f"({', '.join(self.type_name(a) for a in t.args)})" if len(t.args) > 1 \
          else f"Tuple1[{self.type_name(t.args[0])}]"
    if t.kind == "dict":
      return f"Map[{self.type_name(t.args[0])}, {self.type_name(t.args[1])}]"
    if t.kind == "optional":
      return f"Option[{self.type_name(t.args[0])}]"
    raise self.unsupported(t)

  def literal(self, value: object, t: Type) -> str:
    kind = t.kind
    if kind == "optional":
      return "None" if value is None else f"Some({self.literal(value, t.args[0])})"
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
      return (f"List[{self.type_name(t.args[0])}]("
              + ", ".join(self.literal(v, t.args[0]) for v in value) + ")")
    if kind == "tuple":
      items = [self.literal(v, a) for v, a in zip(value, t.args)]
      return f"({', '.join(items)})" if len(items) > 1 else f"Tuple1({items[0]})"
    if kind == "dict":
      return (f"Map[{self.type_name(t.args[0])}, {self.type_name(t.args[1])}]("
              + ", ".join(f"{self.literal(k, t.args[0])} -> {self.literal(v, t.args[1])}"
                          for k, v in value.items()) + ")")
    raise self.unsupported(t)

  def prompt(self, problem: ParsedProblem) -> str:
    params = ", ".join(f"{self.param_name(p)} : {self.type_name(t)}"
                       for p, t in zip(problem.params, problem.param_types))
    name = self.function_name(problem.name)
    return ("import scala.math._\nimport scala.collection.mutable._\nobject Problem {\n"
            + self.comment(problem, indent="    ")
            + f"    def {name}({params}) : {self.type_name(problem.return_type)} = {{\n")

  def call(self, function: str, args: list[str]) -> str:
    return f"{function}({', '.join(args)})"

  def equal(self, actual: str, expected: str, t: Type) -> str:
    return f"{actual} == {expected}"

  def close(self, actual: str, expected: str, tolerance: float) -> str:
    return f"abs({actual} - {expected}) < {tolerance!r}"

  def fail_unless(self, condition: str, index: int) -> str:
    return f'        if (!({condition})) throw new AssertionError("test {index} failed")'

  def tests(self, problem: ParsedProblem) -> str:
    return ("\n    }\n    def check() : Unit = {\n"
            + "\n".join(self.check_statements(problem, self.function_name(problem.name)))
            + "\n    }\n")

  def runner(self, sentinel: str) -> str:
    return ("    def main(args: Array[String]) : Unit = {\n        check()\n"
            f"        System.out.println({self.string(sentinel)})\n"
            "        System.out.flush()\n    }\n}\n")

  def build(self, source: str) -> Program:
    compiler_cp = ":".join(jar(n) for n in ("scala-compiler", "scala-library", "scala-reflect"))
    return Program(files={"Problem.scala": source},
                   compile=("java", *JVM_FLAGS, "-cp", compiler_cp, "scala.tools.nsc.Main",
                            "-usejavacp", "-nowarn", "-d", ".", "Problem.scala"),
                   run=("java", *JVM_FLAGS, "-cp", f"{jar('scala-library')}:.", "Problem"))
