"""Go solutions (multiple-go). The prompt imports only fmt; "\\n}" leaves the brace to the tests.

Go has no Optional here (those problems are dropped), so HumanEval/28 and /107 (a tuple, as
[]interface{}) stand in for /12 and /136.
"""

from tests.eval.languages.solutions import Solution

SOLUTIONS = {
    "HumanEval/0": Solution(
        correct="""\
    for i := range numbers {
        for j := i + 1; j < len(numbers); j++ {
            d := numbers[i] - numbers[j]
            if d < 0 {
                d = -d
            }
            if d < threshold {
                return true
            }
        }
    }
    return false""",
        wrong="""\
    for i := 1; i < len(numbers); i++ {
        d := numbers[i] - numbers[i-1]
        if d < 0 {
            d = -d
        }
        if d < threshold {
            return true
        }
    }
    return false"""),
    "HumanEval/4": Solution(
        correct="""\
    mean := 0.0
    for _, x := range numbers {
        mean += x
    }
    mean /= float64(len(numbers))
    total := 0.0
    for _, x := range numbers {
        if x > mean {
            total += x - mean
        } else {
            total += mean - x
        }
    }
    return total / float64(len(numbers))""",
        wrong="""\
    mean := 0.0
    for _, x := range numbers {
        mean += x
    }
    mean /= float64(len(numbers))
    total := 0.0
    for _, x := range numbers {
        if x > mean {
            total += x - mean
        } else {
            total += mean - x
        }
    }
    return total / float64(len(numbers)-1)"""),
    # A list of strings in, a string out.
    "HumanEval/28": Solution(
        correct="""\
    out := ""
    for _, s := range strings {
        out += s
    }
    return out""",
        wrong="""\
    out := ""
    for i, s := range strings {
        if i > 0 {
            out += " "
        }
        out += s
    }
    return out"""),
    # A nil slice is as good as an empty one.
    "HumanEval/29": Solution(
        correct="""\
    var out []string
    for _, s := range strings {
        if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
            out = append(out, s)
        }
    }
    return out""",
        wrong="""\
    var out []string
    seen := map[string]bool{}
    for _, s := range strings {
        if len(s) >= len(prefix) && s[:len(prefix)] == prefix && !seen[s] {
            seen[s] = true
            out = append(out, s)
        }
    }
    return out"""),
    # map[string]int.
    "HumanEval/111": Solution(
        correct="""\
    counts := map[string]int{}
    most := 0
    word := ""
    for _, c := range test + " " {
        if c != ' ' {
            word += string(c)
            continue
        }
        if word != "" {
            counts[word]++
            if counts[word] > most {
                most = counts[word]
            }
        }
        word = ""
    }
    out := map[string]int{}
    for k, v := range counts {
        if v == most {
            out[k] = v
        }
    }
    return out""",
        wrong="""\
    counts := map[string]int{}
    word := ""
    for _, c := range test + " " {
        if c != ' ' {
            word += string(c)
            continue
        }
        if word != "" {
            counts[word]++
        }
        word = ""
    }
    return counts"""),
    # A tuple, []interface{} as in MultiPL-E.
    "HumanEval/107": Solution(
        correct="""\
    even, odd := 0, 0
    for i := 1; i <= n; i++ {
        s := fmt.Sprint(i)
        palindrome := true
        for a, b := 0, len(s)-1; a < b; a, b = a+1, b-1 {
            if s[a] != s[b] {
                palindrome = false
            }
        }
        if palindrome && i%2 == 0 {
            even++
        } else if palindrome {
            odd++
        }
    }
    return []interface{}{even, odd}""",
        # Stops before n.
        wrong="""\
    even, odd := 0, 0
    for i := 1; i < n; i++ {
        s := fmt.Sprint(i)
        palindrome := true
        for a, b := 0, len(s)-1; a < b; a, b = a+1, b-1 {
            if s[a] != s[b] {
                palindrome = false
            }
        }
        if palindrome && i%2 == 0 {
            even++
        } else if palindrome {
            odd++
        }
    }
    return []interface{}{even, odd}"""),
}

# Exiting needs os.Exit, and the prompt does not import os: a completion cannot exit early.
EARLY_EXIT = None
