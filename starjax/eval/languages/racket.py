"""MultiPL-E Racket (multiple-rkt): `#lang racket`, racket runs the module.

Lists and tuples are lists, dicts are immutable `hash` tables (equal?-keyed), None is #f as in
MultiPL-E. Deep equality is a function in the tests (`deep-equal?`): numbers compare with `=` (so
an exact 3 equals 3.0, as in Python), pairs, vectors and hash tables element by element.
"""

from __future__ import annotations

from starjax.eval.languages.base import Program, UntranslatableError
from starjax.eval.languages.humaneval_ast import ParsedProblem
from starjax.eval.languages.value_types import Type
from starjax.eval.languages.translator import Translator

DEEP_EQUAL = """\
(define (deep-equal? a b)
  (cond [(and (number? a) (number? b)) (= a b)]
        [(and (pair? a) (pair? b))
         (and (deep-equal? (car a) (car b)) (deep-equal? (cdr a) (cdr b)))]
        [(and (vector? a) (vector? b)) (deep-equal? (vector->list a) (vector->list b))]
        [(and (hash? a) (hash? b))
         (and (= (hash-count a) (hash-count b))
              (for/and ([(k v) (in-hash a)])
                (and (hash-has-key? b k) (deep-equal? v (hash-ref b k)))))]
        [else (equal? a b)]))
"""


class Racket(Translator):
  """Racket as MultiPL-E writes it; `racket main.rkt` runs it."""

  ext = "rkt"
  name = "Racket"
  stop_tokens = ("\n(define ", "\n#|", "\n;", "\n(")
  toolchain = {"racket": "racket"}
  comment_prefix = ";;"
  terms = {"array": "list", "tuple": "list", "dictionary": "hash", "None": "#f",
           "True": "#t", "False": "#f"}
  keeps_floats_from_ints = True  # 3 is exact, 3.0 inexact

  def literal(self, value: object, t: Type) -> str:
    if value is None or value is False:
      return "#f"
    if value is True:
      return "#t"
    if isinstance(value, int):
      return str(value)
    if isinstance(value, float):
      return {"inf": "+inf.0", "-inf": "-inf.0", "nan": "+nan.0"}.get(repr(value), repr(value))
    if isinstance(value, str):
      return self.string(value)
    if isinstance(value, (list, tuple)):
      return "(list" + "".join(" " + self.literal(v, t) for v in value) + ")"
    if isinstance(value, dict):
      return "(hash" + "".join(f" {self.literal(k, t)} {self.literal(v, t)}"
                               for k, v in value.items()) + ")"
    raise UntranslatableError(f"Racket has no literal for {type(value).__name__}")

  def prompt(self, problem: ParsedProblem) -> str:
    params = "".join(" " + self.param_name(p) for p in problem.params)
    return "#lang racket\n\n" + self.comment(problem) + f"(define ({problem.name}{params})\n"

  def call(self, function: str, args: list[str]) -> str:
    return "(" + function + "".join(" " + a for a in args) + ")"

  def equal(self, actual: str, expected: str, t: Type) -> str:
    return f"(deep-equal? {actual} {expected})"

  def close(self, actual: str, expected: str, tolerance: float) -> str:
    return f"(< (abs (- {actual} {expected})) {tolerance!r})"

  def fail_unless(self, condition: str, index: int) -> str:
    return f'  (unless {condition} (error "test {index} failed"))'

  def tests(self, problem: ParsedProblem) -> str:
    return ("\n\n" + DEEP_EQUAL + "\n(define (test-humaneval)\n"
            f"  (define candidate {problem.name})\n"
            + "\n".join(self.check_statements(problem)) + ")\n")

  def runner(self, sentinel: str) -> str:
    return f"\n(test-humaneval)\n(display {self.string(sentinel + chr(10))})\n"

  def build(self, source: str) -> Program:
    return Program(files={"main.rkt": source}, compile=None, run=("racket", "main.rkt"))
