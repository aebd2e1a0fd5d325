"""Ruby solutions (multiple-rb)."""

from tests.eval.languages.solutions import Solution

SOLUTIONS = {
    "HumanEval/0": Solution(
        correct="""\
  numbers.combination(2).any? { |a, b| (a - b).abs < threshold }
end
""",
        wrong="""\
  numbers.each_cons(2).any? { |a, b| (a - b).abs < threshold }
end
"""),
    "HumanEval/4": Solution(
        correct="""\
  mean = numbers.sum / numbers.size.to_f
  numbers.sum { |x| (x - mean).abs } / numbers.size
end
""",
        wrong="""\
  mean = numbers.sum / numbers.size.to_f
  numbers.sum { |x| (x - mean).abs } / (numbers.size - 1)
end
"""),
    "HumanEval/12": Solution(
        correct="""\
  strings.max_by(&:length)
end
""",
        wrong="""\
  strings.max_by(&:length) || ""
end
"""),
    "HumanEval/29": Solution(
        correct="""\
  strings.select { |s| s.start_with?(prefix) }
end
""",
        wrong="""\
  strings.select { |s| s.start_with?(prefix) }.uniq
end
"""),
    "HumanEval/111": Solution(
        correct="""\
  counts = test.split(" ").tally
  counts.select { |_, v| v == counts.values.max }
end
""",
        wrong="""\
  test.split(" ").tally
end
"""),
    "HumanEval/136": Solution(
        correct="""\
  [lst.select(&:negative?).max, lst.select(&:positive?).min]
end
""",
        wrong="""\
  [lst.select(&:negative?).max, lst.reject(&:negative?).min]
end
"""),
    # The tests tell 3.0 from 3, and Ruby can too.
    "HumanEval/92": Solution(
        correct="""\
  return false unless [x, y, z].all? { |v| v.is_a?(Integer) }
  x + y == z || x + z == y || y + z == x
end
""",
        wrong="""\
  return false unless [x, y, z].all? { |v| v == v.floor }
  x + y == z || x + z == y || y + z == x
end
"""),
}

EARLY_EXIT = """\
  exit 0
end
"""
