"""Rust solutions (multiple-rs). The stop string "\\n}" leaves the closing brace to the tests."""

from tests.eval.languages.solutions import Solution

SOLUTIONS = {
    "HumanEval/0": Solution(
        correct="""\
    for i in 0..numbers.len() {
        for j in (i + 1)..numbers.len() {
            if (numbers[i] - numbers[j]).abs() < threshold {
                return true;
            }
        }
    }
    false""",
        wrong="""\
    numbers.windows(2).any(|w| (w[0] - w[1]).abs() < threshold)"""),
    "HumanEval/4": Solution(
        correct="""\
    let n = numbers.len() as f64;
    let mean = numbers.iter().sum::<f64>() / n;
    numbers.iter().map(|x| (x - mean).abs()).sum::<f64>() / n""",
        wrong="""\
    let n = numbers.len() as f64;
    let mean = numbers.iter().sum::<f64>() / n;
    numbers.iter().map(|x| (x - mean).abs()).sum::<f64>() / (n - 1.0)"""),
    # Option<String>.
    "HumanEval/12": Solution(
        correct="""\
    let mut best: Option<String> = None;
    for s in strings {
        if best.as_ref().map_or(true, |b| s.len() > b.len()) {
            best = Some(s);
        }
    }
    best""",
        wrong="""\
    let mut best = String::new();
    for s in strings {
        if s.len() > best.len() {
            best = s;
        }
    }
    Some(best)"""),
    "HumanEval/29": Solution(
        correct="""\
    strings.into_iter().filter(|s| s.starts_with(&prefix)).collect()""",
        wrong="""\
    let mut out: Vec<String> = Vec::new();
    for s in strings {
        if s.starts_with(&prefix) && !out.contains(&s) {
            out.push(s);
        }
    }
    out"""),
    # HashMap<String, isize>.
    "HumanEval/111": Solution(
        correct="""\
    let mut counts: HashMap<String, isize> = HashMap::new();
    for w in test.split_whitespace() {
        *counts.entry(w.to_string()).or_insert(0) += 1;
    }
    let most = counts.values().copied().max().unwrap_or(0);
    counts.into_iter().filter(|(_, v)| *v == most).collect()""",
        wrong="""\
    let mut counts: HashMap<String, isize> = HashMap::new();
    for w in test.split_whitespace() {
        *counts.entry(w.to_string()).or_insert(0) += 1;
    }
    counts"""),
    # A tuple of Options.
    "HumanEval/136": Solution(
        correct="""\
    let neg = lst.iter().copied().filter(|x| *x < 0).max();
    let pos = lst.iter().copied().filter(|x| *x > 0).min();
    (neg, pos)""",
        wrong="""\
    let neg = lst.iter().copied().filter(|x| *x < 0).max();
    let pos = lst.iter().copied().filter(|x| *x >= 0).min();
    (neg, pos)"""),
}

EARLY_EXIT = """\
    std::process::exit(0)"""
