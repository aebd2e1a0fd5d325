"""Perl solutions (multiple-pl)."""

from tests.eval.languages.solutions import Solution

SOLUTIONS = {
    # Returns 1 and 0 (not MultiPL-E's 1 and ""): booleans compare by truth.
    "HumanEval/0": Solution(
        correct="""\
    for my $i (0 .. $#$numbers) {
        for my $j ($i + 1 .. $#$numbers) {
            return 1 if abs($numbers->[$i] - $numbers->[$j]) < $threshold;
        }
    }
    return 0;
}
""",
        wrong="""\
    for my $i (1 .. $#$numbers) {
        return 1 if abs($numbers->[$i] - $numbers->[$i - 1]) < $threshold;
    }
    return 0;
}
"""),
    "HumanEval/4": Solution(
        correct="""\
    my ($sum, $total) = (0, 0);
    $sum += $_ for @$numbers;
    my $mean = $sum / @$numbers;
    $total += abs($_ - $mean) for @$numbers;
    return $total / @$numbers;
}
""",
        wrong="""\
    my ($sum, $total) = (0, 0);
    $sum += $_ for @$numbers;
    my $mean = $sum / @$numbers;
    $total += abs($_ - $mean) for @$numbers;
    return $total / (@$numbers - 1);
}
"""),
    "HumanEval/12": Solution(
        correct="""\
    my $best;
    for my $s (@$strings) {
        $best = $s if !defined($best) || length($s) > length($best);
    }
    return $best;
}
""",
        wrong="""\
    my $best = "";
    for my $s (@$strings) {
        $best = $s if length($s) > length($best);
    }
    return $best;
}
"""),
    "HumanEval/29": Solution(
        correct="""\
    return [grep { index($_, $prefix) == 0 } @$strings];
}
""",
        wrong="""\
    my %seen;
    return [grep { index($_, $prefix) == 0 && !$seen{$_}++ } @$strings];
}
"""),
    "HumanEval/111": Solution(
        correct="""\
    my %counts;
    $counts{$_}++ for grep { $_ ne "" } split / /, $test;
    my $most = 0;
    for (values %counts) { $most = $_ if $_ > $most; }
    return { map { $_ => $counts{$_} } grep { $counts{$_} == $most } keys %counts };
}
""",
        wrong="""\
    my %counts;
    $counts{$_}++ for grep { $_ ne "" } split / /, $test;
    return \\%counts;
}
"""),
    "HumanEval/136": Solution(
        correct="""\
    my ($neg, $pos);
    for my $x (@$lst) {
        $neg = $x if $x < 0 && (!defined($neg) || $x > $neg);
        $pos = $x if $x > 0 && (!defined($pos) || $x < $pos);
    }
    return [$neg, $pos];
}
""",
        wrong="""\
    my ($neg, $pos);
    for my $x (@$lst) {
        $neg = $x if $x < 0 && (!defined($neg) || $x > $neg);
        $pos = $x if $x >= 0 && (!defined($pos) || $x < $pos);
    }
    return [$neg, $pos];
}
"""),
}

EARLY_EXIT = """\
    exit 0;
}
"""
