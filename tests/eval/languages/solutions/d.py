"""D solutions (multiple-d)."""

from tests.eval.languages.solutions import Solution

SOLUTIONS = {
    "HumanEval/0": Solution(
        correct="""\
    foreach (i, a; numbers)
        foreach (j, b; numbers)
            if (i != j && abs(a - b) < threshold) return true;
    return false;
""",
        wrong="""\
    foreach (i; 1 .. numbers.length)
        if (abs(numbers[i] - numbers[i - 1]) < threshold) return true;
    return false;
"""),
    "HumanEval/12": Solution(
        correct="""\
    Nullable!(string) best;
    foreach (s; strings)
        if (best.isNull || s.length > best.get.length) best = s;
    return best;
""",
        wrong="""\
    string best = "";
    foreach (s; strings)
        if (s.length > best.length) best = s;
    return Nullable!(string)(best);
"""),
    "HumanEval/111": Solution(
        correct="""\
    import std.array : split;
    long[string] counts;
    foreach (w; test.split(" "))
        if (w.length) counts[w] += 1;
    long top = 0;
    foreach (v; counts.byValue) if (v > top) top = v;
    long[string] result;
    foreach (k, v; counts) if (v == top) result[k] = v;
    return result;
""",
        wrong="""\
    import std.array : split;
    long[string] counts;
    foreach (w; test.split(" "))
        if (w.length) counts[w] += 1;
    return counts;
"""),
}

EARLY_EXIT = "    import core.stdc.stdlib : exit;\n    exit(0);\n    return false;\n"
TYPE_ERROR = '    return "yes";\n'
