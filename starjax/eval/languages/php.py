"""MultiPL-E PHP (multiple-php): php-cli runs the program.

Lists, tuples and dicts are arrays, None is null. Deep equality is a function in the tests, not
MultiPL-E's `!==`: that one fails a correct 2 for an expected 2.0 (4/2 is an int in PHP) and
a dict built in another key order. Ours: numbers by value, other scalars strictly, a list only
by a list in the same order, a dict by the same keys in any order.
"""

from __future__ import annotations

from starjax.eval.languages.base import Program
from starjax.eval.languages.humaneval_ast import ParsedProblem
from starjax.eval.languages.value_types import Type
from starjax.eval.languages.translator import Translator

DEEP_EQUAL = """\
function deep_equal($a, $b) {
    if (is_array($a) && is_array($b)) {
        if (count($a) !== count($b) || array_is_list($a) !== array_is_list($b)) {
            return false;
        }
        if (array_is_list($b)) {
            foreach ($b as $i => $v) {
                if (!deep_equal($a[$i], $v)) return false;
            }
            return true;
        }
        foreach ($b as $k => $v) {
            if (!array_key_exists($k, $a) || !deep_equal($a[$k], $v)) return false;
        }
        return true;
    }
    if ((is_int($a) || is_float($a)) && (is_int($b) || is_float($b))) {
        return $a == $b;
    }
    return $a === $b;
}
"""

PHP_BUILTIN_CLASHES = {"strlen": "string_length"}


class Php(Translator):
  """PHP as MultiPL-E writes it; php runs main.php."""

  ext = "php"
  name = "PHP"
  stop_tokens = ("\nfunction", "\n?>", "\n//", "\n#")
  toolchain = {"php": "php-cli"}
  terms = {"list": "array", "tuple": "array", "dictionary": "array", "None": "null",
           "True": "true", "False": "false"}
  keeps_floats_from_ints = True  # is_float(3.0) is true, is_float(3) is not

  def string(self, s: str) -> str:
    # Double quotes expand $name: escape $ as well.
    return super().string(s).replace("$", "\\$")

  def literal(self, value: object, t: Type) -> str:
    if value is None:
      return "null"
    if isinstance(value, bool):
      return "true" if value else "false"
    if isinstance(value, (int, float)):
      return repr(value)
    if isinstance(value, str):
      return self.string(value)
    if isinstance(value, (list, tuple)):
      return "array(" + ", ".join(self.literal(v, t) for v in value) + ")"
    return "array(" + ", ".join(f"{self.literal(k, t)} => {self.literal(v, t)}"
                                for k, v in value.items()) + ")"

  def function_name(self, name: str) -> str:
    # PHP cannot redeclare its own functions, case-insensitively; of the HumanEval entry points
    # only strlen is one (checked against PHP 8.2's get_defined_functions()).
    return PHP_BUILTIN_CLASHES.get(name.lower(), name)

  def param_name(self, name: str) -> str:
    return "$" + name

  def prompt(self, problem: ParsedProblem) -> str:
    params = ", ".join(self.param_name(p) for p in problem.params)
    return ("<?php\n" + self.comment(problem)
            + f"function {self.function_name(problem.name)}({params}) {{\n")

  def equal(self, actual: str, expected: str, t: Type) -> str:
    return f"deep_equal({actual}, {expected})"

  def close(self, actual: str, expected: str, tolerance: float) -> str:
    return f"abs({actual} - {expected}) < {tolerance!r}"

  def fail_unless(self, condition: str, index: int) -> str:
    return f'    if (!({condition})) {{ throw new Exception("test {index} failed"); }}'

  def tests(self, problem: ParsedProblem) -> str:
    return ("\n\n" + DEEP_EQUAL + "\nfunction candidate(...$args) {\n"
            f"    return {self.function_name(problem.name)}(...$args);\n}}\n\n"
            "function test(): void {\n"
            + "\n".join(self.check_statements(problem)) + "\n}\n")

  def runner(self, sentinel: str) -> str:
    return f"\ntest();\necho {self.string(sentinel + chr(10))};\n"

  def build(self, source: str) -> Program:
    return Program(files={"main.php": source}, compile=None, run=("php", "main.php"))
