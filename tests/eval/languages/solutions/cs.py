"""C# solutions (multiple-cs). The stop string leaves the method's closing brace to the tests."""

from tests.eval.languages.solutions import Solution

SOLUTIONS = {
    "HumanEval/0": Solution(
        correct="""\
        for (int i = 0; i < numbers.Count; i++)
            for (int j = i + 1; j < numbers.Count; j++)
                if (Math.Abs(numbers[i] - numbers[j]) < threshold) return true;
        return false;""",
        wrong="""\
        for (int i = 1; i < numbers.Count; i++)
            if (Math.Abs(numbers[i] - numbers[i - 1]) < threshold) return true;
        return false;"""),
    "HumanEval/4": Solution(
        correct="""\
        double mean = numbers.Average();
        return numbers.Select(x => Math.Abs(x - mean)).Average();""",
        wrong="""\
        double mean = numbers.Average();
        return numbers.Select(x => Math.Abs(x - mean)).Sum() / (numbers.Count - 1);"""),
    # Optional[str] is a nullable string.
    "HumanEval/12": Solution(
        correct="""\
        string best = null;
        foreach (string s in strings) if (best == null || s.Length > best.Length) best = s;
        return best;""",
        wrong="""\
        string best = "";
        foreach (string s in strings) if (s.Length > best.Length) best = s;
        return best;"""),
    # A List compares by its items, not by reference.
    "HumanEval/29": Solution(
        correct="""\
        return strings.Where(s => s.StartsWith(prefix)).ToList();""",
        wrong="""\
        return strings.Where(s => s.StartsWith(prefix)).Distinct().ToList();"""),
    "HumanEval/111": Solution(
        correct="""\
        var counts = new Dictionary<string, long>();
        foreach (var w in test.Split(' '))
            if (w != "") counts[w] = counts.ContainsKey(w) ? counts[w] + 1 : 1;
        long most = counts.Count == 0 ? 0 : counts.Values.Max();
        return counts.Where(kv => kv.Value == most).ToDictionary(kv => kv.Key, kv => kv.Value);""",
        wrong="""\
        var counts = new Dictionary<string, long>();
        foreach (var w in test.Split(' '))
            if (w != "") counts[w] = counts.ContainsKey(w) ? counts[w] + 1 : 1;
        return counts;"""),
    # Tuple<long?, long?>.
    "HumanEval/136": Solution(
        correct="""\
        long? neg = null, pos = null;
        foreach (long x in lst) {
            if (x < 0 && (neg == null || x > neg)) neg = x;
            if (x > 0 && (pos == null || x < pos)) pos = x;
        }
        return Tuple.Create(neg, pos);""",
        wrong="""\
        long? neg = null, pos = null;
        foreach (long x in lst) {
            if (x < 0 && (neg == null || x > neg)) neg = x;
            if (x >= 0 && (pos == null || x < pos)) pos = x;
        }
        return Tuple.Create(neg, pos);"""),
}

EARLY_EXIT = """\
        Environment.Exit(0);
        return false;"""
