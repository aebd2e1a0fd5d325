"""What the translators write: signatures, literals, equality, comments, layout, drop counts.

These need no toolchain; tests/eval/languages/test_programs.py runs the programs.
"""

from __future__ import annotations

import pytest

from starjax.eval.benchmarks import get_benchmark
from starjax.eval.languages import LANGUAGE_MODULES, get_language
from starjax.eval.languages.humaneval_ast import parse_problem
from starjax.eval.languages.translator import Translator
from tests.eval.languages.jobs import MULTIPLE_EXTS, human_eval, translate

# Problems each language drops (HumanEval numbers). Every language drops 32, 38 and 50 (their
# docstrings rely on Python helpers in the prompt); the rest is what the language cannot type.
DROPPED = {
    "js": {32, 38, 50, 92},
    "ts": {32, 38, 50, 92},
    "cpp": {22, 32, 38, 50, 92},
    "java": {22, 32, 38, 50, 92, 95, 103, 125, 137},
    "rs": {22, 32, 38, 50, 92, 95, 103, 125, 137},
    "go": {12, 22, 32, 38, 50, 90, 92, 95, 103, 125, 128, 136, 137, 162},
    "php": {32, 38, 50},
    "rb": {32, 38, 50},
    "lua": {32, 38, 50},
    "pl": {32, 38, 50, 92},
    "sh": {7, 22, 29, 32, 38, 50, 113},
    "cs": {22, 32, 38, 50, 92, 95, 103, 125, 137},
    "d": {22, 32, 38, 50, 92, 95, 103, 125, 137},
    "r": {32, 38, 50, 92, 95, 114},     # 95: int dict keys; 114: beyond R's exact doubles
    "rkt": {32, 38, 50},
    "scala": {22, 32, 38, 50, 92, 95, 103, 125, 137},
}

# MultiPL-E's stop strings.
STOP_TOKENS = {
    "js": ("\nfunction ", "\n/*", "\n//", "\nconsole.log"),
    "ts": ("\nfunction ", "\n/*", "\n//", "\nconsole.log"),
    "cpp": ("\n}",),
    "java": ("\n    }\n",),
    "rs": ("\n}",),
    "go": ("\nfunc", "struct", "\n// "),
    "php": ("\nfunction", "\n?>", "\n//", "\n#"),
    "rb": ("\nclass", "\ndef", "\n#", "\n\n"),
    "lua": ("\nlocal", "\nfunction", "\n--", "\n\n"),
    "pl": ("\nsub", "\n#", "\n\n"),
    "sh": ("\n}",),
    "cs": ("\n    }\n",),
    "d": ("\n}",),
    "r": ("\n#", "\n```"),
    "rkt": ("\n(define ", "\n#|", "\n;", "\n("),
    "scala": ("\n    }\n",),
}

# The last line of HumanEval/0's prompt: the signature the model continues.
SIGNATURES = {
    "js": "function has_close_elements(numbers, threshold){",
    "ts": "function has_close_elements(numbers: number[], threshold: number): boolean {",
    "cpp": "bool has_close_elements(std::vector<double> numbers, double threshold) {",
    "java": ("    public static boolean hasCloseElements(ArrayList<Double> numbers, "
             "double threshold) {"),
    "rs": "fn has_close_elements(numbers: Vec<f64>, threshold: f64) -> bool {",
    "go": "func has_close_elements(numbers []float64, threshold float64) bool {",
    "php": "function has_close_elements($numbers, $threshold) {",
    "rb": "def has_close_elements(numbers, threshold)",
    "lua": "local function has_close_elements(numbers, threshold)",
    "pl": "    my($numbers, $threshold) = @_;",
    "sh": "has_close_elements() {",
    "cs": "    public static bool HasCloseElements(List<double> numbers, double threshold) {",
    "d": "{",
    "r": "has_close_elements <- function(numbers, threshold) {",
    "rkt": "(define (has_close_elements numbers threshold)",
    "scala": "    def hasCloseElements(numbers : List[Double], threshold : Double) : Boolean = {",
}

# How each language writes HumanEval/136's first expected value, (None, 1).
TUPLE_OF_OPTIONALS = {
    "js": "[undefined, 1]",
    "ts": "[undefined, 1]",
    "cpp": "std::tuple<std::optional<long>, std::optional<long>>(std::nullopt, 1)",
    "java": "Pair.with(Optional.empty(), Optional.of(1L))",
    "rs": "(None, Some(1))",
    "php": "array(null, 1)",
    "rb": "[nil, 1]",
    "lua": "{nil, 1}",
    "pl": "[undef, 1]",
    "sh": '"None 1"',
    "cs": "new Tuple<long?, long?>(null, 1L)",
}


def test_every_multiple_language_is_registered():
  assert set(MULTIPLE_EXTS) == set(STOP_TOKENS)
  assert LANGUAGE_MODULES["cs"] == "csharp"
  for ext in MULTIPLE_EXTS:
    language = get_language(ext)
    assert isinstance(language, Translator) and language.ext == ext


@pytest.mark.parametrize("ext", MULTIPLE_EXTS)
def test_dropped_problems_are_the_expected_ones(ext):
  benchmark = get_benchmark(f"multiple-{ext}")
  assert {int(t.split("/")[1]) for t in benchmark.dropped} == DROPPED[ext], benchmark.dropped
  assert len(benchmark.problems) == 164 - len(DROPPED[ext])
  assert all(reason for reason in benchmark.dropped.values())


@pytest.mark.parametrize("ext", MULTIPLE_EXTS)
def test_stop_tokens_are_multiple_es(ext):
  assert translate(ext, "HumanEval/0").stop_tokens == STOP_TOKENS[ext]


@pytest.mark.parametrize("ext", MULTIPLE_EXTS)
def test_signature_is_typed_from_the_annotations(ext):
  assert translate(ext, "HumanEval/0").prompt.rstrip("\n").split("\n")[-1] == SIGNATURES[ext]


@pytest.mark.parametrize("ext", MULTIPLE_EXTS)
def test_problem_keeps_the_humaneval_task_id(ext):
  problem = translate(ext, "HumanEval/0")
  assert (problem.task_id, problem.language) == ("HumanEval/0", ext)
  expected_name = {"java": "hasCloseElements", "cs": "HasCloseElements",
                   "scala": "hasCloseElements"}
  assert problem.entry_point == expected_name.get(ext, "has_close_elements")


@pytest.mark.parametrize("ext", sorted(TUPLE_OF_OPTIONALS))
def test_tuple_of_optionals_literal(ext):
  assert TUPLE_OF_OPTIONALS[ext] in translate(ext, "HumanEval/136").tests


@pytest.mark.parametrize("ext", MULTIPLE_EXTS)
def test_docstring_becomes_comments_with_examples_in_the_language(ext):
  prompt = translate(ext, "HumanEval/0").prompt
  comment = {"rb": "#", "pl": "#", "sh": "#", "lua": "--", "r": "#", "rkt": ";;"}.get(ext, "//")
  assert f"{comment} Check if in given " in prompt
  assert f"{comment} given threshold.\n" in prompt


def test_examples_are_written_in_the_target_syntax():
  assert ("// >>> has_close_elements(std::vector<double>({1.0, 2.0, 3.0}), 0.5)\n// false\n"
          in translate("cpp", "HumanEval/0").prompt)
  assert ("# >>> has_close_elements([1.0, 2.0, 3.0], 0.5)\n# \"\"\n"
          in translate("pl", "HumanEval/0").prompt)
  assert ("    // >>> longest(new ArrayList<String>())\n    // Optional.empty()\n"
          in translate("java", "HumanEval/12").prompt)


def test_python_words_are_reworded():
  assert ("Return undefined in case the input array is empty"
          in translate("js", "HumanEval/12").prompt)
  assert "return a HashMap" in translate("rs", "HumanEval/111").prompt
  assert "Filter an input array list of strings" in translate("java", "HumanEval/29").prompt


def test_go_compares_nested_slices_element_by_element():
  go = get_language("go")
  problem = parse_problem(human_eval()["HumanEval/87"])
  assert go.equal("a", "b", problem.return_type) == (
      "eqSlice(a, b, func(x, y []interface{}) bool { return eqSlice(x, y, "
      "func(x, y interface{}) bool { return x == y }) })")


def test_perl_equality_is_told_the_type():
  assert ('deep_equal($candidate->("abcde", "ae"), ["bcd", ""], ["tuple", "str", "bool"])'
          in translate("pl", "HumanEval/112").tests)


def test_bash_encodes_nested_lists_as_lines():
  assert "$'1 2 3 4 5 6\\n1 2 3 4 1 6\\n1 2 3 4 5 1'" in translate("sh", "HumanEval/87").tests


def test_names_that_clash_are_renamed():
  assert "function string_length($string) {" in translate("php", "HumanEval/23").prompt
  assert "std::vector<std::string> operator_," in translate("cpp", "HumanEval/160").prompt
  assert "func do_algebra(operator []string" in translate("go", "HumanEval/160").prompt
  assert "func strlen(string_ string) int {" in translate("go", "HumanEval/23").prompt
  assert "public static long Strlen(string @string) {" in translate("cs", "HumanEval/23").prompt


@pytest.mark.parametrize("ext", MULTIPLE_EXTS)
def test_the_sentinel_is_printed_after_the_tests(ext):
  language = get_language(ext)
  program = language.program(translate(ext, "HumanEval/0"), "<completion>", "SENTINEL-123")
  source = next(iter(program.files.values()))
  assert source.count("SENTINEL-123") == 1
  assert source.index("<completion>") < source.index("SENTINEL-123")
  assert source.rindex("SENTINEL-123") > source.rindex("failed")
