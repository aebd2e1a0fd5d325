"""TypeScript solutions (multiple-ts): the JavaScript ones, typed; a type error fails."""

from tests.eval.languages.solutions import Solution

SOLUTIONS = {
    # A list of floats in, a bool out.
    "HumanEval/0": Solution(
        correct="""\
  for (let i = 0; i < numbers.length; i++)
    for (let j = i + 1; j < numbers.length; j++)
      if (Math.abs(numbers[i] - numbers[j]) < threshold) return true;
  return false;
}
""",
        # Compares neighbours only, without sorting first.
        wrong="""\
  for (let i = 1; i < numbers.length; i++)
    if (Math.abs(numbers[i] - numbers[i - 1]) < threshold) return true;
  return false;
}
"""),
    # A float out, checked within a tolerance.
    "HumanEval/4": Solution(
        correct="""\
  const mean = numbers.reduce((a, b) => a + b, 0) / numbers.length;
  return numbers.reduce((a, x) => a + Math.abs(x - mean), 0) / numbers.length;
}
""",
        wrong="""\
  const mean = numbers.reduce((a, b) => a + b, 0) / numbers.length;
  return numbers.reduce((a, x) => a + Math.abs(x - mean), 0) / (numbers.length - 1);
}
"""),
    # An optional string: null is as good as undefined for None; "" is not.
    "HumanEval/12": Solution(
        correct="""\
  if (strings.length === 0) return undefined;
  let best = strings[0];
  for (const s of strings) if (s.length > best.length) best = s;
  return best;
}
""",
        wrong="""\
  let best = "";
  for (const s of strings) if (s.length > best.length) best = s;
  return best;
}
"""),
    # Lists of strings.
    "HumanEval/29": Solution(
        correct="""\
  return strings.filter((s) => s.startsWith(prefix));
}
""",
        # Drops duplicates.
        wrong="""\
  return [...new Set(strings.filter((s) => s.startsWith(prefix)))];
}
"""),
    # A dict out.
    "HumanEval/111": Solution(
        correct="""\
  const counts: {[key: string]: number} = {};
  for (const w of test.split(" ")) if (w) counts[w] = (counts[w] || 0) + 1;
  const most = Math.max(0, ...Object.values(counts));
  const result: {[key: string]: number} = {};
  for (const [k, v] of Object.entries(counts)) if (v === most) result[k] = v;
  return result;
}
""",
        # Every count, not only the largest.
        wrong="""\
  const counts: {[key: string]: number} = {};
  for (const w of test.split(" ")) if (w) counts[w] = (counts[w] || 0) + 1;
  return counts;
}
"""),
    # A tuple of optionals.
    "HumanEval/136": Solution(
        correct="""\
  const neg = lst.filter((x) => x < 0), pos = lst.filter((x) => x > 0);
  return [neg.length ? Math.max(...neg) : undefined, pos.length ? Math.min(...pos) : undefined];
}
""",
        # Takes 0 as positive.
        wrong="""\
  const neg = lst.filter((x) => x < 0), pos = lst.filter((x) => x >= 0);
  return [neg.length ? Math.max(...neg) : undefined, pos.length ? Math.min(...pos) : undefined];
}
"""),
}

# Unions: a number or a string, in and out.
SOLUTIONS["HumanEval/137"] = Solution(
    correct="""\
  const value = (v: number | string): number =>
    typeof v === "string" ? parseFloat(v.replace(",", ".")) : v;
  if (value(a) === value(b)) return undefined;
  return value(a) > value(b) ? a : b;
}
""",
    # Returns a value when the two are equal.
    wrong="""\
  const value = (v: number | string): number =>
    typeof v === "string" ? parseFloat(v.replace(",", ".")) : v;
  return value(a) >= value(b) ? a : b;
}
""")

# Right at run time, wrong for tsc: the signature promises a boolean.
TYPE_ERROR = """\
  return numbers.length > 1 ? "yes" : "no";
}
"""

EARLY_EXIT = """\
  process.exit(0);
  return false;
}
"""
