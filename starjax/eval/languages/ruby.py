"""MultiPL-E Ruby (multiple-rb): ruby runs the program.

Lists and tuples are arrays, dicts are hashes, None is nil. Ruby's == is already deep equality
with Python's semantics (2 == 2.0, hashes in any order), so the checks use it directly, without
MultiPL-E's test/unit (which runs at exit and prints a report to parse).
"""

from __future__ import annotations

from starjax.eval.languages.base import Program
from starjax.eval.languages.humaneval_ast import ParsedProblem
from starjax.eval.languages.value_types import Type
from starjax.eval.languages.translator import Translator

RUBY_RESERVED = frozenset(
    "BEGIN END alias and begin break case class def defined? do else elsif end ensure false for "
    "if in module next nil not or redo rescue retry return self super then true undef unless "
    "until when while yield __FILE__ __LINE__ __method__".split())


class Ruby(Translator):
  """Ruby as MultiPL-E writes it; ruby runs main.rb."""

  ext = "rb"
  name = "Ruby"
  stop_tokens = ("\nclass", "\ndef", "\n#", "\n\n")
  toolchain = {"ruby": "ruby"}
  comment_prefix = "#"
  terms = {"list": "array", "tuple": "array", "dictionary": "hash", "None": "nil",
           "True": "true", "False": "false"}
  reserved = RUBY_RESERVED
  keeps_floats_from_ints = True  # 3.0.is_a?(Float)

  def string(self, s: str) -> str:
    # Double quotes interpolate #{...}, #$x and #@x: escape every #.
    return super().string(s).replace("#", "\\#")

  def literal(self, value: object, t: Type) -> str:
    if value is None:
      return "nil"
    if isinstance(value, bool):
      return "true" if value else "false"
    if isinstance(value, (int, float)):
      return repr(value)
    if isinstance(value, str):
      return self.string(value)
    if isinstance(value, (list, tuple)):
      return "[" + ", ".join(self.literal(v, t) for v in value) + "]"
    return "{" + ", ".join(f"{self.literal(k, t)} => {self.literal(v, t)}"
                           for k, v in value.items()) + "}"

  def param_name(self, name: str) -> str:
    # A capitalised name would be a constant, not a parameter (HumanEval/84's N).
    name = name[:1].lower() + name[1:]
    return name + "_" if name in self.reserved else name

  def prompt(self, problem: ParsedProblem) -> str:
    params = ", ".join(self.param_name(p) for p in problem.params)
    return self.comment(problem) + f"def {problem.name}({params})\n"

  def call_candidate(self, callee: str, args: list[str]) -> str:
    return f"{callee}.call({', '.join(args)})"

  def equal(self, actual: str, expected: str, t: Type) -> str:
    return f"{actual} == {expected}"

  def close(self, actual: str, expected: str, tolerance: float) -> str:
    return f"({actual} - {expected}).abs < {tolerance!r}"

  def fail_unless(self, condition: str, index: int) -> str:
    return f'  raise "test {index} failed" unless {condition}'

  def tests(self, problem: ParsedProblem) -> str:
    return ("\n\ndef check\n"
            f"  candidate = method(:{problem.name})\n"
            + "\n".join(self.check_statements(problem)) + "\nend\n")

  def runner(self, sentinel: str) -> str:
    return f"\ncheck\n$stdout.write({self.string(sentinel + chr(10))})\n"

  def build(self, source: str) -> Program:
    return Program(files={"main.rb": source}, compile=None, run=("ruby", "main.rb"))
