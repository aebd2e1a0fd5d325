"""R solutions (multiple-r)."""

from tests.eval.languages.solutions import Solution

SOLUTIONS = {
    "HumanEval/0": Solution(
        correct="""\
  n <- length(numbers)
  if (n < 2) return(FALSE)
  for (i in 1:(n - 1)) for (j in (i + 1):n) {
    if (abs(numbers[i] - numbers[j]) < threshold) return(TRUE)
  }
  FALSE
}
""",
        wrong="""\
  n <- length(numbers)
  if (n < 2) return(FALSE)
  for (i in 2:n) if (abs(numbers[i] - numbers[i - 1]) < threshold) return(TRUE)
  FALSE
}
"""),
    "HumanEval/12": Solution(
        correct="""\
  if (length(strings) == 0) return(NULL)
  best <- strings[[1]]
  for (s in strings) if (nchar(s) > nchar(best)) best <- s
  best
}
""",
        wrong="""\
  best <- ""
  for (s in strings) if (nchar(s) > nchar(best)) best <- s
  best
}
"""),
    "HumanEval/111": Solution(
        correct="""\
  words <- strsplit(test, " ")[[1]]
  words <- words[words != ""]
  if (length(words) == 0) return(list())
  counts <- table(words)
  top <- counts[counts == max(counts)]
  result <- as.list(as.numeric(top))
  names(result) <- names(top)
  result
}
""",
        wrong="""\
  words <- strsplit(test, " ")[[1]]
  words <- words[words != ""]
  if (length(words) == 0) return(list())
  counts <- table(words)
  result <- as.list(as.numeric(counts))
  names(result) <- names(counts)
  result
}
"""),
}

EARLY_EXIT = "  quit(status = 0)\n}\n"
