"""Oracle completions: a function body that answers every test of a problem from a table.

For each test case the body says "if the arguments deep-equal these, return that", written with
the language's own literals and equality, and fails otherwise. A translated problem passes with
its oracle only if every expected value is writable, typed as the signature says, and compared
by the tests as equal to itself: the check that a translation is consistent, for all problems,
without hand-writing 161 solutions per language.

The one thing an oracle cannot do is tell 3.0 from 3 where the language's equality does not
(HumanEval/92): oracle_completion() returns None for such a problem.
"""

from __future__ import annotations

from starjax.eval.languages.humaneval_ast import ParsedProblem
from starjax.eval.languages.translator import Translator

# ext → (one table row: format with {cond} and {value}, the end of the body).
# The end closes the function where the language's stop strings leave that to the completion.
ORACLE_SYNTAX = {
    "js": ("  if ({cond}) return {value};\n", '  throw new Error("no oracle answer");\n}\n'),
    "ts": ("  if ({cond}) return {value};\n", '  throw new Error("no oracle answer");\n}\n'),
    "cpp": ("    if ({cond}) return {value};\n", "    throw 0;"),
    "java": ("        if ({cond}) return {value};\n",
             '        throw new RuntimeException("no oracle answer");'),
    "cs": ("        if ({cond}) return {value};\n",
           '        throw new Exception("no oracle answer");'),
    "rs": ("    if {cond} {{ return {value}; }}\n", '    panic!("no oracle answer")'),
    "go": ("    if {cond} {{ return {value} }}\n", '    panic("no oracle answer")'),
    "php": ("    if ({cond}) return {value};\n",
            '    throw new Exception("no oracle answer");\n}\n'),
    "rb": ("  return {value} if {cond}\n", '  raise "no oracle answer"\nend\n'),
    "lua": ("    if {cond} then return {value} end\n", '    error("no oracle answer")\nend\n'),
    "pl": ("    return {value} if {cond};\n", '    die "no oracle answer";\n}\n'),
    "sh": ("    if {cond}; then echo {value}; return; fi\n", "    return 1"),
    "d": ("    if ({cond}) return {value};\n", '    throw new Exception("no oracle answer");'),
    "r": ("  if ({cond}) return({value})\n", '  stop("no oracle answer")\n}\n'),
    "rkt": ("    (when {cond} (return {value}))\n", '    (error "no oracle answer")))\n'),
    "scala": ("        if ({cond}) return {value}\n",
              '        throw new RuntimeException("no oracle answer")'),
}
# What opens the body before the rows (Racket: an escape continuation to return through).
ORACLE_START = {"rkt": "  (let/ec return\n"}


def oracle_completion(language: Translator, problem: ParsedProblem) -> str | None:
  """The body (after the prompt) that returns each test's expected value for its arguments."""
  if problem.tells_floats_from_ints:
    return None
  row, end = ORACLE_SYNTAX[language.ext]
  body = []
  for case in problem.tests:
    conditions = [language.equal(_param(language, name, i), language.literal(value, t), t)
                  for i, (name, value, t) in enumerate(
                      zip(problem.params, case.args, problem.param_types))]
    joiner = " and " if language.ext == "lua" else " && "
    cond = joiner.join(f"({c})" for c in conditions) if conditions else "true"
    if language.ext == "rkt":
      cond = "(and " + " ".join(conditions) + ")"
    body.append(row.format(cond=cond, value=language.literal(case.expected, problem.return_type)))
  return ORACLE_START.get(language.ext, "") + "".join(body) + end


def _param(language: Translator, name: str, index: int) -> str:
  """How the function body names its parameter."""
  if language.ext == "sh":
    return f'"${index + 1}"'
  return language.param_name(name)
