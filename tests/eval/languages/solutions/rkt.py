"""Racket solutions (multiple-rkt)."""

from tests.eval.languages.solutions import Solution

SOLUTIONS = {
    "HumanEval/0": Solution(
        correct="""\
  (for*/or ([(a i) (in-indexed numbers)] [(b j) (in-indexed numbers)])
    (and (not (= i j)) (< (abs (- a b)) threshold))))
""",
        wrong="""\
  (for/or ([a numbers] [b (if (null? numbers) '() (cdr numbers))])
    (< (abs (- a b)) threshold)))
"""),
    "HumanEval/12": Solution(
        correct="""\
  (for/fold ([best #f]) ([s strings])
    (if (or (not best) (> (string-length s) (string-length best))) s best)))
""",
        wrong="""\
  (for/fold ([best ""]) ([s strings])
    (if (> (string-length s) (string-length best)) s best)))
"""),
    "HumanEval/111": Solution(
        correct="""\
  (define words (string-split test))
  (define counts (for/fold ([h (hash)]) ([w words]) (hash-update h w add1 0)))
  (if (hash-empty? counts)
      (hash)
      (let ([top (apply max (hash-values counts))])
        (for/hash ([(k v) (in-hash counts)] #:when (= v top)) (values k v)))))
""",
        wrong="""\
  (for/fold ([h (hash)]) ([w (string-split test)]) (hash-update h w add1 0)))
"""),
}

EARLY_EXIT = "  (exit 0))\n"
