"""Java solutions (multiple-java).

The stop string leaves the method's closing brace to the tests.
"""

from tests.eval.languages.solutions import Solution

SOLUTIONS = {
    "HumanEval/0": Solution(
        correct="""\
        for (int i = 0; i < numbers.size(); i++)
            for (int j = i + 1; j < numbers.size(); j++)
                if (Math.abs(numbers.get(i) - numbers.get(j)) < threshold) return true;
        return false;""",
        wrong="""\
        for (int i = 1; i < numbers.size(); i++)
            if (Math.abs(numbers.get(i) - numbers.get(i - 1)) < threshold) return true;
        return false;"""),
    "HumanEval/4": Solution(
        correct="""\
        double mean = numbers.stream().mapToDouble(x -> x).average().orElse(0);
        return numbers.stream().mapToDouble(x -> Math.abs(x - mean)).sum() / numbers.size();""",
        wrong="""\
        double mean = numbers.stream().mapToDouble(x -> x).average().orElse(0);
        double total = numbers.stream().mapToDouble(x -> Math.abs(x - mean)).sum();
        return total / (numbers.size() - 1);"""),
    # Optional<String>.
    "HumanEval/12": Solution(
        correct="""\
        if (strings.isEmpty()) return Optional.empty();
        String best = strings.get(0);
        for (String s : strings) if (s.length() > best.length()) best = s;
        return Optional.of(best);""",
        wrong="""\
        String best = "";
        for (String s : strings) if (s.length() > best.length()) best = s;
        return Optional.of(best);"""),
    "HumanEval/29": Solution(
        correct="""\
        ArrayList<String> out = new ArrayList<>();
        for (String s : strings) if (s.startsWith(prefix)) out.add(s);
        return out;""",
        wrong="""\
        ArrayList<String> out = new ArrayList<>();
        for (String s : strings) if (s.startsWith(prefix) && !out.contains(s)) out.add(s);
        return out;"""),
    # HashMap<String,Long>.
    "HumanEval/111": Solution(
        correct="""\
        HashMap<String, Long> counts = new HashMap<>();
        for (String w : test.split(" ")) if (!w.isEmpty()) counts.merge(w, 1L, Long::sum);
        long most = counts.values().stream().mapToLong(x -> x).max().orElse(0);
        HashMap<String, Long> out = new HashMap<>();
        for (Map.Entry<String, Long> e : counts.entrySet())
            if (e.getValue() == most) out.put(e.getKey(), e.getValue());
        return out;""",
        wrong="""\
        HashMap<String, Long> counts = new HashMap<>();
        for (String w : test.split(" ")) if (!w.isEmpty()) counts.merge(w, 1L, Long::sum);
        return counts;"""),
    # A javatuples Pair of Optionals.
    "HumanEval/136": Solution(
        correct="""\
        Optional<Long> neg = lst.stream().filter(x -> x < 0).max(Long::compare);
        Optional<Long> pos = lst.stream().filter(x -> x > 0).min(Long::compare);
        return Pair.with(neg, pos);""",
        wrong="""\
        Optional<Long> neg = lst.stream().filter(x -> x < 0).max(Long::compare);
        Optional<Long> pos = lst.stream().filter(x -> x >= 0).min(Long::compare);
        return Pair.with(neg, pos);"""),
}

EARLY_EXIT = """\
        System.exit(0);
        return false;"""
