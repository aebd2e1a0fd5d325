"""The shared base of the MultiPL-E languages: HumanEval problem → prompt, tests, program.

A MultiPL-E problem in language L is the HumanEval problem with
- a prompt: L's preamble, the docstring as L comments (Python words such as "list" or "None"
  reworded to L's, `>>>` examples rewritten in L's syntax), then the signature to continue;
- tests: every HumanEval assertion as a deep-equality check in L, inside one test function;
- a runner that program() appends: call the test function, then print the sentinel. Since that
  print is the program's last act, a completion that exits early never prints it and fails.

Each language subclass says only what differs: its literals, types, calls, equality, comment
style and layout, and how to build and run a program. What it cannot express (a union type in
Java, a list of dicts in Bash) it refuses with UntranslatableError, and the problem is dropped.
"""

from __future__ import annotations

import abc
import re

from starjax.eval.languages import humaneval_ast
from starjax.eval.languages.base import Language, Program, UntranslatableError
from starjax.eval.languages.humaneval_ast import Example, ParsedProblem, TestCase
from starjax.eval.languages.value_types import Type, conforms
from starjax.eval.problem import Problem


class Translator(Language):
  """A MultiPL-E language: translates HumanEval problems and builds the programs to run."""

  comment_prefix: str = "//"
  # Python words of the docstrings → this language's (MultiPL-E's "reworded" prompts).
  terms: dict[str, str] = {}
  # Identifiers that cannot name a parameter here; they get a trailing underscore.
  reserved: frozenset[str] = frozenset()
  # Whether 3.0 and 3 stay different values (HumanEval/92 needs it: its tests tell them apart).
  keeps_floats_from_ints: bool = False

  # --- what every language says ------------------------------------------------------------

  @abc.abstractmethod
  def literal(self, value: object, t: Type) -> str:
    """The expression for a Python value known to be of type t."""

  @abc.abstractmethod
  def prompt(self, problem: ParsedProblem) -> str:
    """The text the model continues: preamble, docstring comment, signature."""

  @abc.abstractmethod
  def tests(self, problem: ParsedProblem) -> str:
    """The text after the completion: closes the function if the stop strings cut its end,
    defines the test function, built from check_statements()."""

  @abc.abstractmethod
  def runner(self, sentinel: str) -> str:
    """Appended after the tests: calls the test function, then prints the sentinel, last."""

  @abc.abstractmethod
  def build(self, source: str) -> Program:
    """The Program (files, compile and run argv) for one complete source text."""

  @abc.abstractmethod
  def equal(self, actual: str, expected: str, t: Type) -> str:
    """A boolean expression: actual deep-equals expected, both of type t."""

  @abc.abstractmethod
  def fail_unless(self, condition: str, index: int) -> str:
    """The statement that ends the program with a failure (naming test `index`) unless
    condition holds."""

  def close(self, actual: str, expected: str, tolerance: float) -> str:
    """A boolean expression: |actual - expected| < tolerance (HumanEval/2 and /4)."""
    return f"Math.abs({actual} - {expected}) < {tolerance!r}"

  # --- defaults that most languages keep --------------------------------------------------

  def function_name(self, name: str) -> str:
    """The entry point's name in this language."""
    return name

  def param_name(self, name: str) -> str:
    return name + "_" if name in self.reserved else name

  def call(self, function: str, args: list[str]) -> str:
    """A call of a named function (the docstring's examples)."""
    return f"{function}({', '.join(args)})"

  def call_candidate(self, callee: str, args: list[str]) -> str:
    """A call in the tests, of `candidate` (a variable holding the entry point) or the
    entry point itself."""
    return self.call(callee, args)

  def string(self, s: str) -> str:
    """A string literal (double-quoted, C-style escapes)."""
    escaped = (s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\t", "\\t").replace("\r", "\\r"))
    return f'"{escaped}"'

  def number(self, value: int | float, t: Type) -> str:
    """A number; an int in a float position gets a decimal point (Rust, Go need one)."""
    if t.kind == "float" or isinstance(value, float):
      text = repr(float(value))
      if text in ("inf", "-inf", "nan"):
        raise UntranslatableError(f"the float {text} has no literal")
      return text
    return str(value)

  # --- shared machinery ---------------------------------------------------------------------

  def translate(self, problem: dict) -> Problem:
    parsed = humaneval_ast.parse_problem(problem)
    if parsed.tells_floats_from_ints and not self.keeps_floats_from_ints:
      raise UntranslatableError(f"the tests tell 3.0 from 3, which {self.name} cannot")
    return Problem(task_id=parsed.task_id, prompt=self.prompt(parsed), tests=self.tests(parsed),
                   entry_point=self.function_name(parsed.name), language=self.ext,
                   stop_tokens=tuple(self.stop_tokens))

  def program(self, problem: Problem, completion: str, sentinel: str) -> Program:
    return self.build(problem.prompt + completion + problem.tests + self.runner(sentinel))

  def check_statements(self, problem: ParsedProblem, callee: str = "candidate") -> list[str]:
    """One fail_unless(...) statement per test case, calling `callee`."""
    statements = []
    for i, case in enumerate(problem.tests):
      actual = self.test_call(problem, case, callee)
      expected = self.literal(case.expected, problem.return_type)
      condition = (self.equal(actual, expected, problem.return_type) if case.tolerance is None
                   else self.close(actual, expected, case.tolerance))
      statements.append(self.fail_unless(condition, i))
    return statements

  def test_call(self, problem: ParsedProblem, case: TestCase, callee: str) -> str:
    args = [self.literal(v, t) for v, t in zip(case.args, problem.param_types)]
    return self.call_candidate(callee, args)

  def comment(self, problem: ParsedProblem, indent: str = "") -> str:
    """The docstring as line comments, reworded, with its examples in this language."""
    lines: list[str] = []
    for part in problem.docstring:
      if isinstance(part, Example):
        lines.extend(self.example(problem, part).split("\n"))
      else:
        lines.extend(self.reword(part).split("\n"))
    return "".join(f"{indent}{self.comment_prefix} {line}".rstrip() + "\n" for line in lines)

  def example(self, problem: ParsedProblem, example: Example) -> str:
    """A `>>>` example as MultiPL-E writes it: the call and its result in this language."""
    fits = len(example.args) == len(problem.params) and all(
        conforms(v, t) for v, t in zip(example.args, problem.param_types))
    if not fits or not conforms(example.expected, problem.return_type):
      return example.source  # an example outside the types the tests imply: keep it as written
    try:
      args = [self.literal(v, t) for v, t in zip(example.args, problem.param_types)]
      call = self.call(self.function_name(problem.name), args)
      result = self.literal(example.expected, problem.return_type)
    except UntranslatableError:
      return example.source
    return f">>> {call}\n{result}"

  def reword(self, text: str) -> str:
    """Python's words (list, dictionary, None, True, ...) → this language's, with a/an fixed."""
    if not self.terms:
      return text
    words = "|".join(re.escape(w) for w in sorted(self.terms, key=len, reverse=True))

    def swap(match: re.Match) -> str:
      article, replacement = match.group(1), self.terms[match.group(2)]
      if not article:
        return replacement
      fixed = "an" if replacement[0].lower() in "aeiou" else "a"
      return f"{fixed.capitalize() if article[0].isupper() else fixed} {replacement}"

    # One pass, so that a replacement is never replaced again (list → array list in Java).
    return re.sub(rf"\b(?:(an?|An?) )?({words})\b", swap, text)

  def unsupported(self, t: Type) -> UntranslatableError:
    return UntranslatableError(f"{self.name} has no type for {t}")
