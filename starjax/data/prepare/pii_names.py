"""Names of people where source files state them: author, maintainer and copyright lines.

BigCode found names with an NER model (StarPII), which cannot be downloaded here. Code names
people in a few fixed places, and those are what this searches:

- `__author__ = "…"`, `__maintainer__`, `__credits__ = ["…", "…"]` (Python);
- `@author …` (Javadoc, PHPDoc, JSDoc); `Author:`, `Authors:`, `Maintainer:`, `Written by`,
  `Created by` (Xcode's file headers), `Contributed by`, `Developed by` in comments;
- `Copyright (c) 2015-2019 …`, `(C) 2020 …`, `© 2021 …`;
- commit trailers: `Signed-off-by:`, `Co-authored-by:`, `Reviewed-by:`, `Acked-by:`, …;
- package metadata: `"author": "…"` (package.json, composer.json), `authors = ["…"]` (Cargo,
  pyproject).

A name is two to five words, capitalised, with initials (`J. R. R.`), hyphens (`Jean-Luc`),
apostrophes (`O'Brien`) and particles inside (`van der`, `de la`, `bin`); several may follow one
context (`Jane Doe and John Smith`, a `__credits__` list). Not names: organisations (`Google
LLC`, `The Go Authors`, `Microsoft Corporation`, `Free Software Foundation`, `… contributors`),
words in capitals (`NVIDIA CORPORATION`), one-word handles (`@author jdoe`, BigCode's
separate "username" class) and code (`author = models.ForeignKey(...)`). A name in prose
outside these contexts is not found: that is the price of not guessing.
"""

from __future__ import annotations

import re
from typing import Iterable, Iterator

_YEARS = r"\d{4}(?:\s*[-–,]\s*(?:\d{4}|present))*,?\s+"
_CONTEXT = re.compile(
    r"(?i)(?:"
    r"__(?:author|maintainer|credits)__\s*=\s*[\[(]?\s*[\"']"
    r"|@author\b:?\s+"
    r"|\b(?:authors?|maintainers?)\s*:\s*"
    r"|\b(?:written|created|contributed|developed)\s+by\s+"
    r"|\b(?:signed-off-by|co-authored-by|reviewed-by|acked-by|reported-by|tested-by"
    r"|suggested-by|helped-by):\s*"
    r"|\bcopyright\s*(?:\(c\)|©)?\s*(?:" + _YEARS + r")?(?:by\s+)?"
    r"|(?:\(c\)|©)\s*" + _YEARS +
    r"|[\"']authors?[\"']\s*:\s*\[?\s*[\"']"
    r"|\bauthors?\s*=\s*\[?\s*[\"']"
    r")")
# One word of a name: letters, inner hyphens/apostrophes, an optional final period (initials).
_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’-](?=[^\W\d_]))*\.?")
# Between the names of a list: a comma, `and`, `&`, with the quotes of a list of strings.
_SEPARATOR = re.compile(r"[\"']?\s*(?:,\s*(?:and\s+)?|\s+and\s+|\s*&\s*)[\"']?")
_PARTICLES = frozenset(
    "van von der den de da di del della dos das du la le bin ibn al el ter ten y zu".split())
# Words that make a holder an organisation (or the context prose, not a person).
_NOT_PERSON = frozenset("""
    inc inc. llc ltd ltd. limited corp corp. corporation company co co. gmbh ag sa srl bv plc
    foundation authors author contributors developers maintainers team project group labs lab
    university universität université universidad università universiteit institute software systems technologies technology solutions
    community organization organisation association consortium committee society network
    google microsoft facebook meta apple amazon oracle ibm intel nvidia mozilla apache linux
    xcode github gitlab the all rights reserved license licensed public open source free
    todo unknown unascribed anonymous none nobody admin user root your name
    international business machines microsystems security research laboratories laboratory
    polytechnique polytechnic school college department center centre national agency press
    media studio studios visual works industries holdings partners associates consulting
    services digital data cloud ventures games entertainment electronics instruments
    """.split())
# What follows an organisation's name on a copyright line (`Sun Microsystems, Inc.`).
_LEGAL_SUFFIX = re.compile(
    r"\s*,?\s*(?:Inc|LLC|L\.L\.C|Ltd|Limited|Corp|Corporation|GmbH|AG|S\.A|SA|SAS|BV|B\.V|PLC|"
    r"Co|Pty|Oy|AB|ASA|KK|K\.K)\b")
_MAX_WORDS = 5


def _words(text: str, at: int, line_end: int) -> list[re.Match]:
  """The words of one candidate name from `at`: single spaces between them, same line."""
  out = []
  position = at
  while position < line_end and len(out) <= _MAX_WORDS:
    m = _WORD.match(text, position, line_end)
    if not m:
      break
    out.append(m)
    position = m.end()
    if m.group().endswith(".") and len(m.group()) > 2:
      break  # a sentence ends here (`J.` is an initial, `Doe.` is not)
    if position < line_end and text[position] == " " and not (
        position + 1 < line_end and text[position + 1] == " "):
      position += 1
    else:
      break
  return out


def _name_end(words: list[re.Match]) -> int:
  """How many of `words` form a person's name (0: not a name). Stops at the first word that
  is neither capitalised, an initial, nor a particle between capitalised words."""
  taken, capitalised = 0, 0
  for m in words:
    word = m.group().rstrip(".")
    low = word.lower()
    if low in _NOT_PERSON and taken == 0:
      return 0
    if word[:1].isupper():
      if low in _NOT_PERSON or (len(word) > 1 and word.isupper()):
        return 0
      taken += 1
      capitalised += 1
    elif low in _PARTICLES and taken > 0:
      taken += 1
    else:
      break
  while taken and words[taken - 1].group().rstrip(".").lower() in _PARTICLES:
    taken -= 1  # a name does not end in `van`
  if capitalised < 2 or taken > _MAX_WORDS:
    return 0
  if words[0].group().rstrip(".").lower() in _PARTICLES:
    return 0
  return taken


def _names_after(text: str, at: int) -> Iterator[tuple[int, int]]:
  """(start, end) of each name in the list that starts at `at`."""
  line_end = text.find("\n", at)
  line_end = len(text) if line_end < 0 else line_end
  while at < line_end:
    words = _words(text, at, line_end)
    taken = _name_end(words)
    if not taken:
      return
    last = words[taken - 1]
    end = last.end()
    if text[end - 1] == "." and len(last.group()) > 2:
      end -= 1  # the sentence's period, not an initial's
    if _LEGAL_SUFFIX.match(text, last.end(), line_end):
      return
    yield words[0].start(), end
    separator = _SEPARATOR.match(text, end, line_end)
    if not separator:
      return
    at = separator.end()


# A word every context contains. Searching for these first and running `_CONTEXT` on their
# lines only is ~15x faster than `_CONTEXT` over the whole file (it has to try every
# alternative at every position), and finds the same names.
_ANCHOR = re.compile(r"(?i)author|maintainer|copyright|credits|\bby\b|\(c\)|©")
# The same on ASCII text lowered (same positions), without (?i): ~1.7x faster.
_ANCHOR_LOWER = re.compile(r"author|maintainer|copyright|credits|\bby\b|\(c\)")


def names(text: str) -> Iterable[tuple[int, int]]:
  """(start, end) of every person's name in an author, maintainer or copyright context."""
  seen = set()
  line_end = -1
  anchors = (_ANCHOR_LOWER.finditer(text.lower()) if text.isascii() else _ANCHOR.finditer(text))
  for anchor in anchors:
    if anchor.start() < line_end:
      continue  # this line was searched
    line_start = text.rfind("\n", 0, anchor.start()) + 1
    line_end = text.find("\n", anchor.end())
    line_end = len(text) if line_end < 0 else line_end
    for context in _CONTEXT.finditer(text, line_start, line_end):
      for span in _names_after(text, context.end()):
        if span not in seen:
          seen.add(span)
          yield span
