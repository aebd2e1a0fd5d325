"""MultiPL-E Lua (multiple-lua): Lua 5.4 runs the program.

Lists, tuples and dicts are tables, None is nil (a tuple with a None is a table with a hole).
Deep equality is a function in the tests in place of MultiPL-E's luaunit, which Debian's lua5.4
does not ship: same value type, tables equal key by key, 2 == 2.0 as in Python.
"""

from __future__ import annotations

from starjax.eval.languages.base import Program
from starjax.eval.languages.humaneval_ast import ParsedProblem
from starjax.eval.languages.value_types import Type
from starjax.eval.languages.translator import Translator

# Global (not local), so that code anywhere in the file can call it.
DEEP_EQUAL = """\
function deep_equal(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do
    if not deep_equal(v, b[k]) then return false end
  end
  for k, _ in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end
"""

LUA_RESERVED = frozenset(
    "and break do else elseif end false for function goto if in local nil not or repeat return "
    "then true until while".split())


class Lua(Translator):
  """Lua as MultiPL-E writes it; lua5.4 runs main.lua."""

  ext = "lua"
  name = "Lua"
  stop_tokens = ("\nlocal", "\nfunction", "\n--", "\n\n")
  toolchain = {"lua5.4": "lua5.4"}
  comment_prefix = "--"
  terms = {"array": "table", "list": "table", "tuple": "table", "dictionary": "table",
           "None": "nil", "True": "true", "False": "false"}
  reserved = LUA_RESERVED
  keeps_floats_from_ints = True  # math.type(3.0) is "float"

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
      return "{" + ", ".join(self.literal(v, t) for v in value) + "}"
    return "{" + ", ".join(f"[{self.literal(k, t)}] = {self.literal(v, t)}"
                           for k, v in value.items()) + "}"

  def prompt(self, problem: ParsedProblem) -> str:
    params = ", ".join(self.param_name(p) for p in problem.params)
    return self.comment(problem) + f"local function {problem.name}({params})\n"

  def equal(self, actual: str, expected: str, t: Type) -> str:
    return f"deep_equal({actual}, {expected})"

  def close(self, actual: str, expected: str, tolerance: float) -> str:
    return f"math.abs({actual} - {expected}) < {tolerance!r}"

  def fail_unless(self, condition: str, index: int) -> str:
    return f'  if not ({condition}) then error("test {index} failed") end'

  def tests(self, problem: ParsedProblem) -> str:
    return ("\n\n" + DEEP_EQUAL + "\nlocal function check()\n"
            f"  local candidate = {problem.name}\n"
            + "\n".join(self.check_statements(problem)) + "\nend\n")

  def runner(self, sentinel: str) -> str:
    return f"\ncheck()\nio.write({self.string(sentinel + chr(10))})\n"

  def build(self, source: str) -> Program:
    return Program(files={"main.lua": source}, compile=None, run=("lua5.4", "main.lua"))
