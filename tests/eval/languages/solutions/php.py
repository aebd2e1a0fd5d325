"""PHP solutions (multiple-php)."""

from tests.eval.languages.solutions import Solution

SOLUTIONS = {
    "HumanEval/0": Solution(
        correct="""\
    for ($i = 0; $i < count($numbers); $i++) {
        for ($j = $i + 1; $j < count($numbers); $j++) {
            if (abs($numbers[$i] - $numbers[$j]) < $threshold) return true;
        }
    }
    return false;
}
""",
        wrong="""\
    for ($i = 1; $i < count($numbers); $i++) {
        if (abs($numbers[$i] - $numbers[$i - 1]) < $threshold) return true;
    }
    return false;
}
"""),
    "HumanEval/4": Solution(
        correct="""\
    $mean = array_sum($numbers) / count($numbers);
    $total = 0;
    foreach ($numbers as $x) $total += abs($x - $mean);
    return $total / count($numbers);
}
""",
        wrong="""\
    $mean = array_sum($numbers) / count($numbers);
    $total = 0;
    foreach ($numbers as $x) $total += abs($x - $mean);
    return $total / (count($numbers) - 1);
}
"""),
    "HumanEval/12": Solution(
        correct="""\
    if (count($strings) == 0) return null;
    $best = $strings[0];
    foreach ($strings as $s) if (strlen($s) > strlen($best)) $best = $s;
    return $best;
}
""",
        wrong="""\
    $best = "";
    foreach ($strings as $s) if (strlen($s) > strlen($best)) $best = $s;
    return $best;
}
"""),
    # strlen is PHP's own: the entry point is string_length.
    "HumanEval/23": Solution(
        correct="""\
    return strlen($string);
}
""",
        wrong="""\
    return strlen(trim($string, "a"));
}
"""),
    "HumanEval/29": Solution(
        correct="""\
    return array_values(array_filter($strings, fn($s) => str_starts_with($s, $prefix)));
}
""",
        # array_filter keeps the keys: [0 => .., 4 => .., 5 => ..] is not a list.
        wrong="""\
    return array_filter($strings, fn($s) => str_starts_with($s, $prefix));
}
"""),
    # An associative array; order does not matter, as in a Python dict.
    "HumanEval/111": Solution(
        correct="""\
    $counts = array();
    foreach (explode(" ", $test) as $w) if ($w !== "") $counts[$w] = ($counts[$w] ?? 0) + 1;
    if (count($counts) == 0) return array();
    $most = max($counts);
    return array_reverse(array_filter($counts, fn($v) => $v == $most));
}
""",
        wrong="""\
    $counts = array();
    foreach (explode(" ", $test) as $w) if ($w !== "") $counts[$w] = ($counts[$w] ?? 0) + 1;
    return $counts;
}
"""),
    "HumanEval/136": Solution(
        correct="""\
    $neg = array_filter($lst, fn($x) => $x < 0);
    $pos = array_filter($lst, fn($x) => $x > 0);
    return array(count($neg) ? max($neg) : null, count($pos) ? min($pos) : null);
}
""",
        wrong="""\
    $neg = array_filter($lst, fn($x) => $x < 0);
    $pos = array_filter($lst, fn($x) => $x >= 0);
    return array(count($neg) ? max($neg) : null, count($pos) ? min($pos) : null);
}
"""),
    # The tests tell 3.0 from 3, and PHP can too.
    "HumanEval/92": Solution(
        correct="""\
    if (!is_int($x) || !is_int($y) || !is_int($z)) return false;
    return $x + $y == $z || $x + $z == $y || $y + $z == $x;
}
""",
        wrong="""\
    if (floor($x) != $x || floor($y) != $y || floor($z) != $z) return false;
    return $x + $y == $z || $x + $z == $y || $y + $z == $x;
}
"""),
}

EARLY_EXIT = """\
    exit(0);
}
"""
