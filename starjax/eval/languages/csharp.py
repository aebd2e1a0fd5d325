"""MultiPL-E C# (multiple-cs): Mono's mcs compiles, mono runs.

Types: long, double (not MultiPL-E's float: Python floats are doubles), string, bool,
List<T>, Dictionary<K, V>, Tuple<...>, and T? for an Optional value type (a reference type is
nullable as it is). Unions and Any have no translation. The method name is PascalCase.
Deep equality is a function in the tests: MultiPL-E's `.Equals` compares a List by reference,
so a correct list result failed there. Ours walks lists and dictionaries and uses Equals on
the rest (structural for Tuple, by value for numbers and strings).
"""

from __future__ import annotations

from starjax.eval.languages.base import Program
from starjax.eval.languages.humaneval_ast import ParsedProblem
from starjax.eval.languages.value_types import Type
from starjax.eval.languages.translator import Translator

USINGS = ("System", "System.Numerics", "System.Diagnostics", "System.Collections.Generic",
          "System.Linq", "System.Text", "System.Security.Cryptography")

DEEP_EQUAL = """\
    static bool DeepEqual(object a, object b) {
        if (a == null || b == null) return a == null && b == null;
        var listA = a as System.Collections.IList;
        var listB = b as System.Collections.IList;
        if (listA != null && listB != null) {
            if (listA.Count != listB.Count) return false;
            for (int i = 0; i < listA.Count; i++) {
                if (!DeepEqual(listA[i], listB[i])) return false;
            }
            return true;
        }
        var dictA = a as System.Collections.IDictionary;
        var dictB = b as System.Collections.IDictionary;
        if (dictA != null && dictB != null) {
            if (dictA.Count != dictB.Count) return false;
            foreach (object key in dictA.Keys) {
                if (!dictB.Contains(key) || !DeepEqual(dictA[key], dictB[key])) return false;
            }
            return true;
        }
        if (listA != null || listB != null || dictA != null || dictB != null) return false;
        return a.Equals(b);
    }
"""

CSHARP_RESERVED = frozenset(
    "abstract as base bool break byte case catch char checked class const continue decimal "
    "default delegate do double else enum event explicit extern false finally fixed float for "
    "foreach goto if implicit in int interface internal is lock long namespace new null object "
    "operator out override params private protected public readonly ref return sbyte sealed "
    "short sizeof stackalloc static string struct switch this throw true try typeof uint ulong "
    "unchecked unsafe ushort using virtual void volatile while".split())


def pascal_case(name: str) -> str:
  return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


class CSharp(Translator):
  """C# as MultiPL-E writes it; mcs compiles main.cs to main.exe, mono runs it."""

  ext = "cs"
  name = "C#"
  stop_tokens = ("\n    }\n",)
  toolchain = {"mcs": "mono-mcs", "mono": "mono-runtime"}
  terms = {"list": "list", "tuple": "tuple", "dictionary": "dictionary", "None": "null",
           "True": "true", "False": "false"}
  reserved = CSHARP_RESERVED

  def function_name(self, name: str) -> str:
    return pascal_case(name)

  def param_name(self, name: str) -> str:
    return "@" + name if name in self.reserved else name  # C#'s escape for keywords

  def type_name(self, t: Type) -> str:
    kind = t.kind
    scalar = {"int": "long", "float": "double", "str": "string", "bool": "bool"}
    if kind in scalar:
      return scalar[kind]
    if kind == "list":
      return f"List<{self.type_name(t.args[0])}>"
    if kind == "dict":
      return f"Dictionary<{self.type_name(t.args[0])},{self.type_name(t.args[1])}>"
    if kind == "tuple" and 1 <= len(t.args) <= 7:
      return f"Tuple<{', '.join(self.type_name(a) for a in t.args)}>"
    if kind == "optional":
      inner = self.type_name(t.args[0])
      return f"{inner}?" if t.args[0].kind in ("int", "float", "bool") else inner
    raise self.unsupported(t)

  def literal(self, value: object, t: Type) -> str:
    kind = t.kind
    if kind == "optional":
      return "null" if value is None else self.literal(value, t.args[0])
    if kind == "bool":
      return "true" if value else "false"
    if kind == "int":
      return f"{value}L"
    if kind == "float":
      return self.number(value, t)
    if kind == "str":
      return self.string(value)
    if kind == "list":
      items = ", ".join(self.literal(v, t.args[0]) for v in value)
      if not value:
        return f"new {self.type_name(t)}()"
      return f"new {self.type_name(t)}(new {self.type_name(t.args[0])}[]{{{items}}})"
    if kind == "dict":
      entries = ", ".join(f"{{{self.literal(k, t.args[0])}, {self.literal(v, t.args[1])}}}"
                          for k, v in value.items())
      return f"new {self.type_name(t)}{{{entries}}}"
    if kind == "tuple":
      items = ", ".join(self.literal(v, a) for v, a in zip(value, t.args))
      return f"new {self.type_name(t)}({items})"
    raise self.unsupported(t)

  def prompt(self, problem: ParsedProblem) -> str:
    params = ", ".join(f"{self.type_name(t)} {self.param_name(p)}"
                       for p, t in zip(problem.params, problem.param_types))
    usings = "".join(f"using {u};\n" for u in USINGS)
    return (usings + "class Problem {\n" + self.comment(problem, indent="    ")
            + f"    public static {self.type_name(problem.return_type)} "
            f"{self.function_name(problem.name)}({params}) {{\n")

  def equal(self, actual: str, expected: str, t: Type) -> str:
    return f"DeepEqual({actual}, {expected})"

  def close(self, actual: str, expected: str, tolerance: float) -> str:
    return f"Math.Abs({actual} - {expected}) < {tolerance!r}"

  def fail_unless(self, condition: str, index: int) -> str:
    return f'        if (!({condition})) throw new Exception("test {index} failed");'

  def tests(self, problem: ParsedProblem) -> str:
    # C# has no first-class `candidate` of a generic signature: call the method itself.
    checks = self.check_statements(problem, callee=self.function_name(problem.name))
    return ("\n    }\n" + DEEP_EQUAL + "    static void Check() {\n" + "\n".join(checks)
            + "\n    }\n")

  def runner(self, sentinel: str) -> str:
    return ("    public static void Main(string[] args) {\n        Check();\n"
            f"        Console.WriteLine({self.string(sentinel)});\n    }}\n}}\n")

  def build(self, source: str) -> Program:
    return Program(files={"main.cs": source},
                   compile=("mcs", "-r:System.Numerics.dll", "-nowarn:162,168,219,414",
                            "-out:main.exe", "main.cs"),
                   run=("mono", "main.exe"))
