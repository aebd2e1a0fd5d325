"""MultiPL-E R (multiple-r): Rscript runs the program.

Values as MultiPL-E writes them: a list of scalars is a vector `c(...)`, anything nested or
holding a NULL is a `list(...)`, a dict with string keys is a named list, None is NULL. Deep
equality is a function in the tests (`deep_equal`): numbers compare by value (a `length()` is an
integer, a literal a double), vectors and lists element by element, named lists by name.
"""

from __future__ import annotations

import re

from starjax.eval.languages.base import Program, UntranslatableError
from starjax.eval.languages.humaneval_ast import ParsedProblem
from starjax.eval.languages.value_types import Type
from starjax.eval.languages.translator import Translator

DEEP_EQUAL = """\
deep_equal <- function(a, b) {
  if (length(a) == 0 && length(b) == 0) return(TRUE)
  if (length(a) != length(b)) return(FALSE)
  if (is.list(a) || is.list(b)) {
    if (is.null(names(a)) != is.null(names(b))) return(FALSE)
    if (!is.null(names(a))) {
      if (!setequal(names(a), names(b))) return(FALSE)
      b <- b[names(a)]
    }
    for (i in seq_along(a)) if (!deep_equal(a[[i]], b[[i]])) return(FALSE)
    return(TRUE)
  }
  if (is.numeric(a) && is.numeric(b)) return(isTRUE(all(a == b)))
  if (typeof(a) != typeof(b)) return(FALSE)
  isTRUE(all(a == b))
}
"""

R_RESERVED = frozenset(
    "if else repeat while function for next break TRUE FALSE NULL Inf NaN NA NA_integer_ "
    "NA_real_ NA_character_ in".split())


class R(Translator):
  """R as MultiPL-E writes it; Rscript runs main.r."""

  ext = "r"
  name = "R"
  stop_tokens = ("\n#", "\n```")
  toolchain = {"Rscript": "r-base-core"}
  comment_prefix = "#"
  terms = {"array": "vector", "list": "vector", "tuple": "list", "dictionary": "named list",
           "None": "NULL", "True": "TRUE", "False": "FALSE"}
  reserved = R_RESERVED

  def literal(self, value: object, t: Type) -> str:
    if value is None:
      return "NULL"
    if isinstance(value, bool):
      return "TRUE" if value else "FALSE"
    if isinstance(value, int):
      if abs(value) >= 2 ** 53:
        raise UntranslatableError(f"{value} is beyond R's exact doubles")
      return str(value)
    if isinstance(value, float):
      return {"inf": "Inf", "-inf": "-Inf", "nan": "NaN"}.get(repr(value), repr(value))
    if isinstance(value, str):
      return self.string(value)
    if isinstance(value, (list, tuple)):
      items = [self.literal(v, t) for v in value]
      scalar = all(isinstance(v, (bool, int, float, str)) for v in value)
      kinds = {str if isinstance(v, str) else bool if isinstance(v, bool) else float
               for v in value}
      if scalar and len(kinds) <= 1:
        return "c(" + ", ".join(items) + ")"
      return "list(" + ", ".join(items) + ")"
    if isinstance(value, dict):
      if not value:
        return "list()"
      if not all(isinstance(k, str) for k in value):
        raise UntranslatableError("a dict with non-string keys has no named-list literal")
      return "list(" + ", ".join(f"{self.name_of(k)} = {self.literal(v, t)}"
                                 for k, v in value.items()) + ")"
    raise UntranslatableError(f"R has no literal for {type(value).__name__}")

  @staticmethod
  def name_of(key: str) -> str:
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9._]*", key) and key not in R_RESERVED:
      return key
    return "`" + key.replace("\\", "\\\\").replace("`", "\\`") + "`"

  def prompt(self, problem: ParsedProblem) -> str:
    params = ", ".join(self.param_name(p) for p in problem.params)
    return self.comment(problem) + f"{problem.name} <- function({params}) {{\n"

  def equal(self, actual: str, expected: str, t: Type) -> str:
    return f"deep_equal({actual}, {expected})"

  def close(self, actual: str, expected: str, tolerance: float) -> str:
    return f"abs({actual} - {expected}) < {tolerance!r}"

  def fail_unless(self, condition: str, index: int) -> str:
    return f'  if (!isTRUE({condition})) stop("test {index} failed")'

  def tests(self, problem: ParsedProblem) -> str:
    return ("\n\n" + DEEP_EQUAL + "\ntest_humaneval <- function() {\n"
            f"  candidate <- {problem.name}\n"
            + "\n".join(self.check_statements(problem)) + "\n}\n")

  def runner(self, sentinel: str) -> str:
    return f"\ntest_humaneval()\ncat({self.string(sentinel + chr(10))})\n"

  def build(self, source: str) -> Program:
    return Program(files={"main.r": source}, compile=None,
                   run=("Rscript", "--vanilla", "main.r"))
