"""Scala solutions (multiple-scala). Few: each program is a scalac run of several seconds."""

from tests.eval.languages.solutions import Solution

SOLUTIONS = {
    "HumanEval/0": Solution(
        correct="""\
        numbers.zipWithIndex.exists { case (a, i) =>
          numbers.zipWithIndex.exists { case (b, j) => i != j && abs(a - b) < threshold } }
""",
        wrong="""\
        numbers.zip(numbers.drop(1)).exists { case (a, b) => abs(a - b) < threshold }
"""),
    "HumanEval/12": Solution(
        correct="""\
        if (strings.isEmpty) None
        else Some(strings.reduceLeft((best, s) => if (s.length > best.length) s else best))
""",
        wrong="""\
        Some(strings.foldLeft("")((best, s) => if (s.length > best.length) s else best))
"""),
}

EARLY_EXIT = "        System.exit(0)\n        false\n"
TYPE_ERROR = '        "yes"\n'
