"""MultiPL-E Java (multiple-java): class Problem, javac then java, javatuples on the classpath.

Types: long, double (not MultiPL-E's float: Python floats are doubles), String, boolean; boxed
inside generics; ArrayList, HashMap, Optional, and org.javatuples' Pair/Triplet/... for tuples as
in MultiPL-E (Debian's libjavatuples-java). Unions and Any have no translation. The method name
is camelCase. Deep equality is Objects.equals: equals() of these classes is structural.
"""

from __future__ import annotations

import os

from starjax.eval.languages.base import Program
from starjax.eval.languages.humaneval_ast import ParsedProblem
from starjax.eval.languages.value_types import Type
from starjax.eval.languages.translator import Translator

JAVATUPLES_JAR = "/usr/share/java/javatuples.jar"
JAVATUPLES_PACKAGE = "libjavatuples-java"
# The JVM flags keep start-up short and the footprint small for one-shot programs.
JVM_FLAGS = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss16m", "-Xmx1g")
TUPLE_CLASSES = ("Unit", "Pair", "Triplet", "Quartet", "Quintet", "Sextet", "Septet", "Octet",
                 "Ennead", "Decade")
IMPORTS = ("java.util.*", "java.lang.reflect.*", "org.javatuples.*", "java.security.*",
           "java.math.*", "java.io.*", "java.util.stream.*")
JAVA_RESERVED = frozenset(
    "abstract assert boolean break byte case catch char class const continue default do double "
    "else enum extends final finally float for goto if implements import instanceof int "
    "interface long native new package private protected public return short static strictfp "
    "super switch synchronized this throw throws transient try void volatile while true false "
    "null var record yield".split())


def camel_case(name: str) -> str:
  first, *rest = name.split("_")
  return first + "".join(part[:1].upper() + part[1:] for part in rest)


class Java(Translator):
  """Java as MultiPL-E writes it; javac compiles Problem.java, java runs class Problem."""

  ext = "java"
  name = "Java"
  stop_tokens = ("\n    }\n",)
  toolchain = {"javac": "default-jdk-headless", "java": "default-jdk-headless"}
  terms = {"array": "array list", "list": "array list", "tuple": "pair",
           "dictionary": "hash map", "None": "null", "True": "true", "False": "false"}
  reserved = JAVA_RESERVED

  def missing_tools(self) -> dict[str, str]:
    missing = super().missing_tools()
    if not os.path.exists(JAVATUPLES_JAR):  # a file the programs need, not a binary on PATH
      missing[JAVATUPLES_JAR] = JAVATUPLES_PACKAGE
    return missing

  def function_name(self, name: str) -> str:
    return camel_case(name)

  def type_name(self, t: Type, boxed: bool = False) -> str:
    kind = t.kind
    if kind in ("int", "float", "bool"):
      primitive = {"int": ("long", "Long"), "float": ("double", "Double"),
                   "bool": ("boolean", "Boolean")}[kind]
      return primitive[boxed]
    if kind == "str":
      return "String"
    if kind == "list":
      return f"ArrayList<{self.type_name(t.args[0], True)}>"
    if kind == "dict":
      return f"HashMap<{self.type_name(t.args[0], True)},{self.type_name(t.args[1], True)}>"
    if kind == "optional":
      return f"Optional<{self.type_name(t.args[0], True)}>"
    if kind == "tuple" and 1 <= len(t.args) <= len(TUPLE_CLASSES):
      items = ", ".join(self.type_name(a, True) for a in t.args)
      return f"{TUPLE_CLASSES[len(t.args) - 1]}<{items}>"
    raise self.unsupported(t)

  def literal(self, value: object, t: Type) -> str:
    kind = t.kind
    if kind == "optional":
      if value is None:
        return "Optional.empty()"
      return f"Optional.of({self.literal(value, t.args[0])})"
    if kind == "bool":
      return "true" if value else "false"
    if kind == "int":
      return f"{value}L"
    if kind == "float":
      return self.number(value, t)
    if kind == "str":
      return self.string(value)
    if kind == "list":
      if not value:
        return f"new {self.type_name(t)}()"
      items = ", ".join(self.literal(v, t.args[0]) for v in value)
      return f"new {self.type_name(t)}(Arrays.asList({items}))"
    if kind == "dict":
      if not value:
        return f"new {self.type_name(t)}()"
      entries = ", ".join(f"Map.entry({self.literal(k, t.args[0])}, {self.literal(v, t.args[1])})"
                          for k, v in value.items())
      return f"new {self.type_name(t)}(Map.ofEntries({entries}))"
    if kind == "tuple":
      items = ", ".join(self.literal(v, a) for v, a in zip(value, t.args))
      return f"{TUPLE_CLASSES[len(t.args) - 1]}.with({items})"
    raise self.unsupported(t)

  def prompt(self, problem: ParsedProblem) -> str:
    params = ", ".join(f"{self.type_name(t)} {self.param_name(p)}"
                       for p, t in zip(problem.params, problem.param_types))
    imports = "".join(f"import {i};\n" for i in IMPORTS)
    return (imports + "class Problem {\n" + self.comment(problem, indent="    ")
            + f"    public static {self.type_name(problem.return_type)} "
            f"{self.function_name(problem.name)}({params}) {{\n")

  def tests(self, problem: ParsedProblem) -> str:
    # Java has no first-class `candidate`: the checks call the method itself.
    checks = self.check_statements(problem, callee=self.function_name(problem.name))
    return "\n    }\n    static void check() {\n" + "\n".join(checks) + "\n    }\n"

  def equal(self, actual: str, expected: str, t: Type) -> str:
    return f"Objects.equals({actual}, {expected})"

  def fail_unless(self, condition: str, index: int) -> str:
    return f'        if (!({condition})) throw new AssertionError("test {index} failed");'

  def runner(self, sentinel: str) -> str:
    return ("    public static void main(String[] args) {\n        check();\n"
            f"        System.out.println({self.string(sentinel)});\n    }}\n}}\n")

  def build(self, source: str) -> Program:
    javac_flags = tuple(f"-J{flag}" for flag in JVM_FLAGS)
    return Program(files={"Problem.java": source},
                   compile=("javac", *javac_flags, "-encoding", "UTF-8", "-nowarn",
                            "-cp", JAVATUPLES_JAR, "-d", ".", "Problem.java"),
                   run=("java", *JVM_FLAGS, "-cp", f"{JAVATUPLES_JAR}:.", "Problem"))
