"""MultiPL-E Go (multiple-go): package main, `go build` then run.

Types as in MultiPL-E: int, float64, string, bool, []T, map[K]V, and []interface{} for tuples;
Go has no Optional or union, so those problems are dropped. The prompt imports only fmt, as
MultiPL-E's does (there the tests use it; here the runner does), so an unused import cannot fail
a correct completion.

Deep equality is generated per type (eqSlice/eqMap with an element comparison) rather than
MultiPL-E's comparison of fmt's "%v" strings, under which []string{"a b"} equals
[]string{"a", "b"}; and unlike reflect.DeepEqual it takes a nil slice as equal to an empty one.
"""

from __future__ import annotations

from starjax.eval.languages.base import Program
from starjax.eval.languages.humaneval_ast import ParsedProblem
from starjax.eval.languages.value_types import Type
from starjax.eval.languages.translator import Translator

GO_RESERVED = frozenset(
    "break case chan const continue default defer else fallthrough for func go goto if import "
    "interface map package range return select struct switch type var "
    # Predeclared names a parameter would shadow (a parameter `string` hides the type).
    "bool byte complex64 complex128 error float32 float64 int int8 int16 int32 int64 rune "
    "string uint uint8 uint16 uint32 uint64 uintptr true false iota nil append cap close "
    "complex copy delete imag len make new panic print println real recover any max min "
    "clear".split())

HELPERS = """\
func eqSlice[T any](a, b []T, eq func(T, T) bool) bool {
    if len(a) != len(b) {
        return false
    }
    for i := range a {
        if !eq(a[i], b[i]) {
            return false
        }
    }
    return true
}

func eqMap[K comparable, V any](a, b map[K]V, eq func(V, V) bool) bool {
    if len(a) != len(b) {
        return false
    }
    for k, va := range a {
        vb, ok := b[k]
        if !ok || !eq(va, vb) {
            return false
        }
    }
    return true
}

func closeTo(a, b, tolerance float64) bool {
    d := a - b
    return -tolerance < d && d < tolerance
}
"""

# The build cache and GOPATH in the sandbox's private /tmp (the rest is read-only); no module
# lookups, no cgo (a pure Go program needs no C compiler).
GO_ENV = {"GOCACHE": "/tmp/go-cache", "GOPATH": "/tmp/go-path", "GO111MODULE": "off",
          "CGO_ENABLED": "0"}


class Go(Translator):
  """Go as MultiPL-E writes it (package main rather than a _test.go file); go build ./main."""

  ext = "go"
  name = "Go"
  stop_tokens = ("\nfunc", "struct", "\n// ")
  toolchain = {"go": "golang-go"}
  terms = {"array": "list", "tuple": "list", "dictionary": "map", "None": "nil",
           "True": "true", "False": "false"}
  reserved = GO_RESERVED

  def type_name(self, t: Type) -> str:
    kind = t.kind
    scalar = {"int": "int", "float": "float64", "str": "string", "bool": "bool"}
    if kind in scalar:
      return scalar[kind]
    if kind == "list":
      return f"[]{self.type_name(t.args[0])}"
    if kind == "tuple":
      for item in t.args:
        self.type_name(item)  # refuses what Go cannot type, also inside a tuple
      return "[]interface{}"
    if kind == "dict":
      return f"map[{self.type_name(t.args[0])}]{self.type_name(t.args[1])}"
    raise self.unsupported(t)

  def literal(self, value: object, t: Type) -> str:
    kind = t.kind
    if kind == "bool":
      return "true" if value else "false"
    if kind in ("int", "float"):
      return self.number(value, t)
    if kind == "str":
      return self.string(value)
    if kind == "list":
      return self.type_name(t) + "{" + ", ".join(self.literal(v, t.args[0]) for v in value) + "}"
    if kind == "tuple":
      self.type_name(t)
      return "[]interface{}{" + ", ".join(self.literal(v, a) for v, a in zip(value, t.args)) + "}"
    if kind == "dict":
      entries = ", ".join(f"{self.literal(k, t.args[0])}: {self.literal(v, t.args[1])}"
                          for k, v in value.items())
      return self.type_name(t) + "{" + entries + "}"
    raise self.unsupported(t)

  def prompt(self, problem: ParsedProblem) -> str:
    params = ", ".join(f"{self.param_name(p)} {self.type_name(t)}"
                       for p, t in zip(problem.params, problem.param_types))
    return ('package main\n\nimport (\n    "fmt"\n)\n\n' + self.comment(problem)
            + f"func {problem.name}({params}) {self.type_name(problem.return_type)} {{\n")

  def equal(self, actual: str, expected: str, t: Type) -> str:
    if t.kind == "list":
      return f"eqSlice({actual}, {expected}, {self._element_equal(t.args[0])})"
    if t.kind == "tuple":
      # Tuple items are scalars here, compared as interface values (dynamic type and value).
      return f"eqSlice({actual}, {expected}, func(x, y interface{{}}) bool {{ return x == y }})"
    if t.kind == "dict":
      return f"eqMap({actual}, {expected}, {self._element_equal(t.args[1])})"
    return f"{actual} == {expected}"

  def _element_equal(self, t: Type) -> str:
    name = self.type_name(t)
    return f"func(x, y {name}) bool {{ return {self.equal('x', 'y', t)} }}"

  def close(self, actual: str, expected: str, tolerance: float) -> str:
    return f"closeTo({actual}, {expected}, {tolerance!r})"

  def fail_unless(self, condition: str, index: int) -> str:
    return f'    if !({condition}) {{\n        panic("test {index} failed")\n    }}'

  def tests(self, problem: ParsedProblem) -> str:
    return ("\n}\n\n" + HELPERS + "\nfunc check() {\n"
            f"    candidate := {problem.name}\n"
            + "\n".join(self.check_statements(problem)) + "\n}\n")

  def runner(self, sentinel: str) -> str:
    return f"\nfunc main() {{\n    check()\n    fmt.Println({self.string(sentinel)})\n}}\n"

  def sandbox_env(self) -> dict[str, str]:
    return dict(GO_ENV)

  def build(self, source: str) -> Program:
    return Program(files={"main.go": source}, compile=("go", "build", "-o", "main", "main.go"),
                   run=("./main",))
