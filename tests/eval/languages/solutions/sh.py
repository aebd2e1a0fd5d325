"""Bash solutions (multiple-sh): arguments and results in MultiPL-E's string encoding.

The stop string "\\n}" leaves the closing brace to the tests. HumanEval/29 is dropped in Bash
(its lists hold "john doe"); /92 shows that "3.0" and "3" stay apart.
"""

from tests.eval.languages.solutions import Solution

SOLUTIONS = {
    "HumanEval/0": Solution(
        correct="""\
    awk -v list="$1" -v t="$2" 'BEGIN {
        n = split(list, x, " ")
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) {
            d = x[i] - x[j]; if (d < 0) d = -d
            if (d < t) { print "true"; exit }
        }
        print "false"
    }'""",
        wrong="""\
    awk -v list="$1" -v t="$2" 'BEGIN {
        n = split(list, x, " ")
        for (i = 2; i <= n; i++) {
            d = x[i] - x[i - 1]; if (d < 0) d = -d
            if (d < t) { print "true"; exit }
        }
        print "false"
    }'"""),
    # A float, checked within the tolerance.
    "HumanEval/4": Solution(
        correct="""\
    awk -v list="$1" 'BEGIN {
        n = split(list, x, " ")
        for (i = 1; i <= n; i++) s += x[i]
        m = s / n
        for (i = 1; i <= n; i++) { d = x[i] - m; t += (d < 0 ? -d : d) }
        printf "%.12f\\n", t / n
    }'""",
        wrong="""\
    awk -v list="$1" 'BEGIN {
        n = split(list, x, " ")
        for (i = 1; i <= n; i++) s += x[i]
        m = s / n
        for (i = 1; i <= n; i++) { d = x[i] - m; t += (d < 0 ? -d : d) }
        printf "%.12f\\n", t / (n - 1)
    }'"""),
    # None is printed as "None".
    "HumanEval/12": Solution(
        correct="""\
    local best="" found=0 s
    for s in $1; do
        if [[ $found == 0 ]] || (( ${#s} > ${#best} )); then best=$s; found=1; fi
    done
    if [[ $found == 0 ]]; then echo None; else echo "$best"; fi""",
        wrong="""\
    local best="" s
    for s in $1; do
        if (( ${#s} > ${#best} )); then best=$s; fi
    done
    echo "$best\""""),
    # A dict is key,value lines, in the order of first appearance.
    "HumanEval/111": Solution(
        correct="""\
    declare -A counts
    local most=0 w
    for w in $1; do
        counts[$w]=$(( ${counts[$w]:-0} + 1 ))
        if (( counts[$w] > most )); then most=${counts[$w]}; fi
    done
    for w in $1; do
        if [[ ${counts[$w]} == "$most" ]]; then echo "$w,$most"; counts[$w]=done; fi
    done""",
        wrong="""\
    declare -A counts
    local w
    for w in $1; do counts[$w]=$(( ${counts[$w]:-0} + 1 )); done
    for w in $1; do
        if [[ ${counts[$w]} != done ]]; then echo "$w,${counts[$w]}"; counts[$w]=done; fi
    done"""),
    # A tuple is a space-separated line.
    "HumanEval/136": Solution(
        correct="""\
    local neg=None pos=None x
    for x in $1; do
        if (( x < 0 )); then
            if [[ $neg == None ]] || (( x > neg )); then neg=$x; fi
        elif (( x > 0 )); then
            if [[ $pos == None ]] || (( x < pos )); then pos=$x; fi
        fi
    done
    echo "$neg $pos\"""",
        wrong="""\
    local neg=None pos=None x
    for x in $1; do
        if (( x < 0 )); then
            if [[ $neg == None ]] || (( x > neg )); then neg=$x; fi
        elif (( x >= 0 )); then
            if [[ $pos == None ]] || (( x < pos )); then pos=$x; fi
        fi
    done
    echo "$neg $pos\""""),
    "HumanEval/92": Solution(
        correct="""\
    local v
    for v in "$1" "$2" "$3"; do
        [[ $v =~ ^-?[0-9]+$ ]] || { echo false; return; }
    done
    if (( $1 + $2 == $3 || $1 + $3 == $2 || $2 + $3 == $1 )); then
        echo true
    else
        echo false
    fi""",
        # 3.0 passes for an integer here.
        wrong="""\
    awk -v x="$1" -v y="$2" -v z="$3" 'BEGIN {
        if (x != int(x) || y != int(y) || z != int(z)) { print "false"; exit }
        print ((x + y == z || x + z == y || y + z == x) ? "true" : "false")
    }'"""),
}

# Inside $(...) this ends only the subshell; the check then sees no output and fails.
EARLY_EXIT = """\
    exit 0"""
