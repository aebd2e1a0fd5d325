"""MultiPL-E Perl (multiple-pl): perl runs the program.

Lists and tuples are array references, dicts hash references, None undef, True 1 and False ""
(as MultiPL-E writes them). Deep equality is a sub in the tests instead of MultiPL-E's
Test::Deep (not in Perl's core). It is told the type it compares, because a Perl scalar does not
know it: numbers compare with ==, strings with eq, booleans by truth, so a correct `return 0`
for False passes where eq_deeply(0, "") would fail it.
"""

from __future__ import annotations

from starjax.eval.languages.base import Program
from starjax.eval.languages.humaneval_ast import ParsedProblem
from starjax.eval.languages.value_types import Type
from starjax.eval.languages.translator import Translator

DEEP_EQUAL = """\
use Scalar::Util qw(looks_like_number);

# $type: "int", "float", "str", "bool", "any", or [list => T], [tuple => T...], [dict => K, V],
# [optional => T].
sub deep_equal {
    my ($x, $y, $type) = @_;
    return (!!$x eq !!$y) if !ref($type) && $type eq "bool";
    return !defined($x) && !defined($y) if !defined($x) || !defined($y);
    my ($kind, @args) = ref($type) ? @$type : ($type);
    return deep_equal($x, $y, $args[0]) if $kind eq "optional";
    if ($kind eq "any") {
        return 0 if ref($x) ne ref($y);
        ($kind, @args) = ref($x) eq "ARRAY" ? ("list", "any")
            : ref($x) eq "HASH" ? ("dict", "any", "any") : ("scalar");
    }
    if ($kind eq "list" || $kind eq "tuple") {
        return 0 unless ref($x) eq "ARRAY" && ref($y) eq "ARRAY" && @$x == @$y;
        for my $i (0 .. $#$x) {
            return 0 unless deep_equal($x->[$i], $y->[$i], $kind eq "list" ? $args[0] : $args[$i]);
        }
        return 1;
    }
    if ($kind eq "dict") {
        return 0 unless ref($x) eq "HASH" && ref($y) eq "HASH" && keys(%$x) == keys(%$y);
        for my $k (keys %$x) {
            return 0 unless exists $y->{$k} && deep_equal($x->{$k}, $y->{$k}, $args[1]);
        }
        return 1;
    }
    return 0 if ref($x) || ref($y);
    return $x == $y if looks_like_number($x) && looks_like_number($y) && $kind ne "str";
    return $x eq $y;
}
"""


class Perl(Translator):
  """Perl as MultiPL-E writes it; perl runs main.pl."""

  ext = "pl"
  name = "Perl"
  stop_tokens = ("\nsub", "\n#", "\n\n")
  toolchain = {"perl": "perl"}
  comment_prefix = "#"
  terms = {"list": "array", "tuple": "array", "dictionary": "hash", "None": "undef",
           "True": "1", "False": "''"}

  def string(self, s: str) -> str:
    # Double quotes interpolate $x and @x: escape both sigils.
    return super().string(s).replace("$", "\\$").replace("@", "\\@")

  def literal(self, value: object, t: Type) -> str:
    if value is None:
      return "undef"
    if isinstance(value, bool):
      return "1" if value else '""'
    if isinstance(value, (int, float)):
      return repr(value)
    if isinstance(value, str):
      return self.string(value)
    if isinstance(value, (list, tuple)):
      return "[" + ", ".join(self.literal(v, t) for v in value) + "]"
    return "{" + ", ".join(f"{self.literal(k, t)} => {self.literal(v, t)}"
                           for k, v in value.items()) + "}"

  def param_name(self, name: str) -> str:
    return "$" + name

  def prompt(self, problem: ParsedProblem) -> str:
    params = ", ".join(self.param_name(p) for p in problem.params)
    return self.comment(problem) + f"sub {problem.name} {{\n    my({params}) = @_;\n"

  def call_candidate(self, callee: str, args: list[str]) -> str:
    return f"${callee}->({', '.join(args)})"

  def type_spec(self, t: Type) -> str:
    """The type as deep_equal's third argument."""
    if t.kind in ("int", "float", "str", "bool"):
      return f'"{t.kind}"'
    if t.kind in ("list", "tuple", "dict", "optional"):
      return f'["{t.kind}", {", ".join(self.type_spec(a) for a in t.args)}]'
    return '"any"'

  def equal(self, actual: str, expected: str, t: Type) -> str:
    return f"deep_equal({actual}, {expected}, {self.type_spec(t)})"

  def close(self, actual: str, expected: str, tolerance: float) -> str:
    return f"abs({actual} - {expected}) < {tolerance!r}"

  def fail_unless(self, condition: str, index: int) -> str:
    return f'    die "test {index} failed\\n" unless {condition};'

  def tests(self, problem: ParsedProblem) -> str:
    return ("\n\n" + DEEP_EQUAL + "\nsub testhumaneval {\n"
            f"    my $candidate = \\&{problem.name};\n"
            + "\n".join(self.check_statements(problem)) + "\n}\n")

  def runner(self, sentinel: str) -> str:
    return f"\ntesthumaneval();\nprint {self.string(sentinel + chr(10))};\n"

  def build(self, source: str) -> Program:
    return Program(files={"main.pl": source}, compile=None, run=("perl", "main.pl"))
