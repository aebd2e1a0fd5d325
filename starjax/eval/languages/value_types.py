"""The Python types of HumanEval's values, as the MultiPL-E translators see them.

A Type comes from an annotation (`List[int]`), from a test value (`[1, 2.5]` is List[float]),
or from both: unify() joins the types of all the values a parameter takes (int with float is
float, T with None is Optional[T], tuples of different lengths are a list, anything else a
union) and refine() fills the holes of an annotation (`list` → List[int]) with that.
"""

from __future__ import annotations

import ast
import dataclasses

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
