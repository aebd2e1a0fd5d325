"""MultiPL-E JavaScript (multiple-js): node runs the program as is.

Lists and tuples are arrays, dicts are objects, None is undefined. Deep equality is a small
function in the tests rather than node's assert.deepEqual, whose loose mode MultiPL-E uses
(it passes 1 == "1"): ours is strict except that null and undefined are both "no value".
"""

from __future__ import annotations

from starjax.eval.languages.base import Program
from starjax.eval.languages.humaneval_ast import ParsedProblem
from starjax.eval.languages.value_types import Type
from starjax.eval.languages.translator import Translator

# Strict deep equality; null ~ undefined, since Python's None reads as either.
DEEP_EQUAL = """\
function deepEqual(a, b) {
  if (a === b || (a == null && b == null)) return true;
  if (typeof a === "number" && typeof b === "number") return Number.isNaN(a) && Number.isNaN(b);
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
}
"""

JS_RESERVED = frozenset(
    "break case catch class const continue debugger default delete do else enum export extends "
    "false finally for function if import in instanceof new null return super switch this throw "
    "true try typeof var void while with yield let static implements interface package private "
    "protected public await arguments eval".split())


class JavaScript(Translator):
  """JavaScript as MultiPL-E writes it; node runs main.js."""

  ext = "js"
  name = "JavaScript"
  stop_tokens = ("\nfunction ", "\n/*", "\n//", "\nconsole.log")
  toolchain = {"node": "nodejs"}
  terms = {"list": "array", "tuple": "array", "dictionary": "object", "None": "undefined",
           "True": "true", "False": "false"}
  reserved = JS_RESERVED

  def literal(self, value: object, t: Type) -> str:
    # Dynamic: the Python value is written as is; t only matters to typed subclasses.
    if value is None:
      return "undefined"
    if isinstance(value, bool):
      return "true" if value else "false"
    if isinstance(value, (int, float)):
      return self.number(value, t)
    if isinstance(value, str):
      return self.string(value)
    if isinstance(value, (list, tuple)):
      return "[" + ", ".join(self.literal(v, t) for v in value) + "]"
    return "{" + ", ".join(f"{self.literal(k, t)}: {self.literal(v, t)}"
                           for k, v in value.items()) + "}"

  def number(self, value: int | float, t: Type) -> str:
    return repr(value)  # JavaScript has one number type; 3 and 3.0 are the same value

  def signature(self, problem: ParsedProblem) -> str:
    params = ", ".join(self.param_name(p) for p in problem.params)
    return f"function {self.function_name(problem.name)}({params}){{\n"

  def prompt(self, problem: ParsedProblem) -> str:
    return self.comment(problem) + self.signature(problem)

  def equal(self, actual: str, expected: str, t: Type) -> str:
    return f"deepEqual({actual}, {expected})"

  def fail_unless(self, condition: str, index: int) -> str:
    return f'  if (!({condition})) throw new Error("test {index} failed");'

  def tests(self, problem: ParsedProblem) -> str:
    return ("\n\n" + self.test_helpers() + "\nfunction test() {\n"
            f"  let candidate = {self.function_name(problem.name)};\n"
            + "\n".join(self.check_statements(problem)) + "\n}\n")

  def test_helpers(self) -> str:
    return DEEP_EQUAL

  def runner(self, sentinel: str) -> str:
    # process.stdout.write: console.log is an ordinary global a completion could replace.
    return f"\ntest();\nprocess.stdout.write({self.string(sentinel + chr(10))});\n"

  def build(self, source: str) -> Program:
    return Program(files={"main.js": source}, compile=None, run=("node", "main.js"))
