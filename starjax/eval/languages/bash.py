"""MultiPL-E Bash (multiple-sh): bash runs the program; values travel as strings.

MultiPL-E's encoding: arguments are strings and the function prints its result. A list (or
tuple) is its items separated by spaces, a list of lists one line per inner list, a dict one
"key,value" line per entry; True/False are "true"/"false", None is "None". Equality is string
equality of the printed result (`[[ $(candidate ...) == "..." ]]`), which is deep equality under
this encoding. What the encoding cannot carry unambiguously is dropped: items containing
whitespace, deeper nesting, dicts inside lists, values ending in a newline.
Each check runs the candidate in a command substitution, i.e. a subshell, so an `exit 0` in a
completion ends only that subshell and the check fails.
"""

from __future__ import annotations

from starjax.eval.languages.base import Program, UntranslatableError
from starjax.eval.languages.humaneval_ast import ParsedProblem
from starjax.eval.languages.value_types import Type
from starjax.eval.languages.translator import Translator


def _scalar(value: object) -> str:
  if value is None:
    return "None"
  if isinstance(value, bool):
    return "true" if value else "false"
  if isinstance(value, (int, float, str)):
    return value if isinstance(value, str) else repr(value)
  raise UntranslatableError("a list holds both collections and plain values, which Bash's "
                            "lines of words cannot")


def _item(value: object) -> str:
  text = _scalar(value)
  if any(c.isspace() for c in text):
    raise UntranslatableError(f"list item {text!r} contains whitespace, the item separator")
  return text


def encode(value: object) -> str:
  """The string MultiPL-E's Bash encoding gives a Python value."""
  if isinstance(value, (list, tuple)):
    if value and all(isinstance(v, (list, tuple)) for v in value):
      return "\n".join(" ".join(_item(v) for v in row) for row in value)
    return " ".join(_item(v) for v in value)
  if isinstance(value, dict):
    for k, v in value.items():
      if "," in _scalar(k) or "\n" in _scalar(k) + _scalar(v):
        raise UntranslatableError(f"dict entry {k!r}: {v!r} does not fit one key,value line")
    return "\n".join(f"{_scalar(k)},{_scalar(v)}" for k, v in value.items())
  return _scalar(value)


def quote(text: str) -> str:
  """A Bash word for text: "..." where that reads plainly, $'...' for control characters."""
  if any(c in text for c in "\n\t\r"):
    escaped = (text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
               .replace("\t", "\\t").replace("\r", "\\r"))
    return f"$'{escaped}'"
  escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`")
  return f'"{escaped}"'


def _describe(t: Type) -> str:
  """What a parameter's string holds, for the prompt's comment (as MultiPL-E adds)."""
  if t.kind in ("list", "tuple"):
    inner = t.args[0] if t.kind == "list" else None
    if inner is not None and inner.kind in ("list", "tuple"):
      return "a newline-separated, space-separated list"
    return "a space-separated list"
  if t.kind == "dict":
    return "a two column CSV in key,value order"
  return {"int": "an integer", "float": "a floating point", "str": "a string",
          "bool": "a boolean (true or false)"}.get(t.kind, "an argument")


class Bash(Translator):
  """Bash as MultiPL-E writes it; bash runs main.sh."""

  ext = "sh"
  name = "Bash"
  stop_tokens = ("\n}",)
  toolchain = {"bash": "bash", "awk": "mawk"}
  comment_prefix = "#"
  terms = {"tuple": "list", "dictionary": "CSV", "True": "true", "False": "false"}
  keeps_floats_from_ints = True  # "3.0" and "3" are different strings

  def literal(self, value: object, t: Type) -> str:
    text = encode(value)
    if text != text.rstrip("\n"):
      raise UntranslatableError("a value ends in a newline, which $(...) strips")
    return quote(text)

  def call(self, function: str, args: list[str]) -> str:
    return f"$({' '.join([function, *args])})"

  def prompt(self, problem: ParsedProblem) -> str:
    for t in (*problem.param_types, problem.return_type):
      if t.kind in ("list", "tuple") and t.args and any(
          a.kind in ("dict", "list", "tuple") and any(b.kind in ("list", "tuple", "dict")
                                                      for b in a.args) for a in t.args):
        raise UntranslatableError(f"{t} nests deeper than Bash's lines of words")
      if t.kind in ("list", "tuple") and any(a.kind == "dict" for a in t.args):
        raise UntranslatableError(f"{t} has dicts inside a list")
    described = "".join(f"# ${i + 1} is {_describe(t)}\n"
                        for i, t in enumerate(problem.param_types))
    return ("#!/bin/bash\n" + self.comment(problem) + ("#\n" + described if described else "")
            + f"{problem.name}() {{\n")

  def equal(self, actual: str, expected: str, t: Type) -> str:
    return f"[[ {actual} == {expected} ]]"

  def close(self, actual: str, expected: str, tolerance: float) -> str:
    return (f'awk -v a={actual} -v b={expected} '
            f"'BEGIN {{ d = a - b; exit !(d < {tolerance!r} && -d < {tolerance!r}) }}'")

  def fail_unless(self, condition: str, index: int) -> str:
    return f'    {condition} || {{ echo "test {index} failed" >&2; exit 1; }}'

  def tests(self, problem: ParsedProblem) -> str:
    return ("\n}\n\ncandidate() {\n"
            f'    {problem.name} "$@"\n}}\n\nrun_test() {{\n'
            + "\n".join(self.check_statements(problem)) + "\n}\n")

  def runner(self, sentinel: str) -> str:
    return f"\nrun_test\nprintf '%s\\n' {quote(sentinel)}\n"

  def build(self, source: str) -> Program:
    return Program(files={"main.sh": source}, compile=None, run=("bash", "main.sh"))
