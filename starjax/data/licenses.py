"""Licenses: recognise them in package metadata, SPDX expressions and license texts, and decide
whether code may go into the corpus.

Like The Stack, only permissively licensed code is kept. A license is permissive when it is in
`PERMISSIVE` (MIT/BSD/Apache/ISC/zlib/PSF/... and public-domain dedications). Expressions are
evaluated three-valued: `A OR B` is permissive if either is, `A AND B` only if both are, and an
unrecognised name makes the result unknown (excluded and counted, never guessed).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterable, Optional

PERMISSIVE = frozenset({
    "MIT", "MIT-0", "MIT-CMU", "X11", "ISC", "0BSD", "BSD-2-Clause", "BSD-3-Clause",
    "BSD-2-Clause-Patent", "Apache-1.1", "Apache-2.0", "Zlib", "PSF-2.0", "CNRI-Python", "CC0-1.0",
    "Unlicense", "public-domain", "BSL-1.0", "Artistic-2.0", "UPL-1.0", "NCSA", "PostgreSQL",
    "HPND", "Unicode-DFS-2016", "Unicode-3.0", "WTFPL", "BlueOak-1.0.0", "curl", "Libpng",
    "libpng-2.0", "FTL", "Matplotlib",
})

# (pattern over a lowercased, punctuation-normalised name, canonical id). First match wins.
_NAME_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"^(the )?mit( license)?$|^expat( license)?$|^mit/x11$", "MIT"),
    (r"^mit-0$|^mit no attribution$", "MIT-0"),
    (r"^mit-cmu$|^cmu$", "MIT-CMU"),
    (r"^x11$", "X11"),
    (r"^apache[- ]?(license|software license)?[ ,-]*(version )?2(\.0)?( license)?$"
     r"|^asl ?2(\.0)?$|^apache( license| software license)?$|^apache2$", "Apache-2.0"),
    (r"^apache-2(\.0)?-llvm-exceptions?$", "Apache-2.0 WITH LLVM-exception"),
    (r"^apache[- ]?1\.1$", "Apache-1.1"),
    (r"^(bsd-2-clause(-patent)?|2-clause bsd|bsd 2-clause( license)?|simplified bsd( license)?"
     r"|freebsd|bsd-2)$", "BSD-2-Clause"),
    (r"^(bsd|bsd license|bsd-3-clause|bsd 3-clause( license)?|3-clause bsd( license)?|new bsd"
     r"( license)?|modified bsd( license)?|revised bsd( license)?|bsd-3|bsd-new|go)$",
     "BSD-3-Clause"),
    (r"^0bsd$", "0BSD"),
    (r"^isc( license)?( \(iscl\))?$|^iscl$", "ISC"),
    (r"^zlib(/libpng)?( license)?$", "Zlib"),
    (r"^(psf|psfl|psf-2(\.0)?|python software foundation( license)?|python-2\.0(\.1)?|python"
     r"|psf license)$", "PSF-2.0"),
    (r"^cnri-python$", "CNRI-Python"),
    (r"^cc0(-1\.0)?( universal)?$|^cc0 1\.0 universal$", "CC0-1.0"),
    (r"^(the )?unlicense$", "Unlicense"),
    (r"^public[- ]domain$|^pd$", "public-domain"),
    (r"^(bsl-1\.0|boost( software license)?( 1\.0)?)$", "BSL-1.0"),
    (r"^artistic-2(\.0)?$|^artistic license 2\.0$", "Artistic-2.0"),
    (r"^artistic(-1\.0)?(-perl)?$|^artistic license$", "Artistic-1.0"),
    (r"^ruby$", "Ruby"),
    (r"^(upl-1\.0|ncsa|postgresql|hpnd|wtfpl|curl|ftl|libpng|libpng-2\.0|blueoak-1\.0\.0"
     r"|unicode-dfs-2016|unicode-3\.0|matplotlib)$", "<same>"),
    (r"^(l|a)?gpl|^gnu (lesser |library |affero )?general public", "<copyleft>"),
    (r"^mpl|^mozilla public|^epl|^eclipse public|^cddl|^eupl|^osl|^cecill|^sspl|^ms-rl",
     "<copyleft>"),
    (r"proprietary|^other/proprietary|commercial", "LicenseRef-proprietary"),
)

_SAME_CASE = {name.lower(): name for name in PERMISSIVE}
_WITH_EXCEPTION_PERMISSIVE = frozenset({"Apache-2.0 WITH LLVM-exception"})


@dataclasses.dataclass(frozen=True)
class License:
  """A recognised license expression and whether it allows the code into the corpus.

  permissive: True, False, or None when some part could not be recognised (= excluded).
  """
  expression: str
  permissive: Optional[bool]


def canonical_name(name: str) -> Optional[str]:
  """A single license name as an SPDX-like id (`Apache 2.0` → `Apache-2.0`), or None."""
  key = re.sub(r"\s+", " ", name.strip().strip(".,;").lower())
  key = key.replace("_", "-")
  key = re.sub(r"^license ?:: ?(osi approved ?:: ?)?", "", key)
  for pattern, canonical in _NAME_PATTERNS:
    if re.search(pattern, key):
      if canonical == "<same>":
        return _SAME_CASE.get(key, key)
      if canonical == "<copyleft>":
        return re.sub(r"[^A-Za-z0-9.+-]+", "-", name.strip()).strip("-")
      return canonical
  return None


def _is_permissive(canonical: Optional[str]) -> Optional[bool]:
  if canonical is None:
    return None
  return canonical in PERMISSIVE or canonical in _WITH_EXCEPTION_PERMISSIVE


def _tokenize(expression: str) -> list[str]:
  # `LicenseRef-unknown(name)` is what parse_atom writes for a name it does not know: one
  # token, so that an expression stored in a corpus parses again to the same verdict.
  return re.findall(r"LicenseRef-unknown\([^()]*\)|\(|\)|[^\s()]+", expression)


def parse_expression(expression: str) -> Optional[License]:
  """Parses an SPDX or Debian-style expression (`MIT OR Apache-2.0`, `GPL-1+ or Artistic`,
  `Apache-2.0 WITH LLVM-exception`). Returns None if it is empty or malformed."""
  tokens = _tokenize(expression)
  if not tokens:
    return None
  pos = 0

  def peek() -> Optional[str]:
    return tokens[pos] if pos < len(tokens) else None

  def parse_or():
    nonlocal pos
    parts = [parse_and()]
    while (peek() or "").upper() == "OR":
      pos += 1
      parts.append(parse_and())
    if len(parts) == 1:
      return parts[0]
    values = [p[1] for p in parts]
    value = True if True in values else (None if None in values else False)
    return " OR ".join(p[0] for p in parts), value

  def parse_and():
    nonlocal pos
    parts = [parse_with()]
    while (peek() or "").upper() == "AND":
      pos += 1
      parts.append(parse_with())
    if len(parts) == 1:
      return parts[0]
    values = [p[1] for p in parts]
    value = False if False in values else (None if None in values else True)
    return " AND ".join(p[0] for p in parts), value

  def parse_with():
    nonlocal pos
    base = parse_atom()
    if (peek() or "").upper() == "WITH":
      pos += 1
      exception = peek()
      if exception is None:
        raise ValueError("WITH without an exception")
      pos += 1
      # An exception only adds permissions: the base license decides.
      return f"{base[0]} WITH {exception}", base[1]
    return base

  def parse_atom():
    nonlocal pos
    token = peek()
    if token is None:
      raise ValueError("unexpected end")
    if token == "(":
      pos += 1
      inner = parse_or()
      if peek() != ")":
        raise ValueError("unbalanced parenthesis")
      pos += 1
      return f"({inner[0]})", inner[1]
    # A name may be several words ("Apache License 2.0"): take words up to an operator.
    if token.startswith("LicenseRef-unknown("):
      pos += 1
      return token, None
    words = []
    while peek() is not None and peek() not in "()" and peek().upper() not in ("AND", "OR",
                                                                                "WITH"):
      words.append(peek())
      pos += 1
    if not words:
      raise ValueError(f"expected a license name at {token!r}")
    name = " ".join(words)
    canonical = canonical_name(name)
    return (canonical or f"LicenseRef-unknown({name})"), _is_permissive(canonical)

  try:
    text, value = parse_or()
  except ValueError:
    return None
  if pos != len(tokens):
    return None
  return License(text, value)


# License texts: (regex over lowercased text with collapsed whitespace, id). The match that starts
# earliest in the text wins, so a LICENSE file is classified by its first license statement.
_TEXT_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"apache license,? version 2\.0|licensed under the apache license", "Apache-2.0"),
    (r"permission is hereby granted, free of charge, to any person obtaining a copy", "MIT"),
    (r"redistribution and use in source and binary forms", "<bsd>"),
    (r"permission to use, copy, modify, and(/or)? distribute this software for any purpose with "
     r"or without fee is hereby granted", "ISC"),
    (r"python software foundation license|psf license agreement", "PSF-2.0"),
    (r"this software is provided ['\"]?as-is['\"]?, without any express or implied warranty",
     "Zlib"),
    (r"boost software license", "BSL-1.0"),
    (r"this is free and unencumbered software released into the public domain", "Unlicense"),
    (r"creative commons (legal code|zero)|\bcc0 1\.0 universal", "CC0-1.0"),
    (r"the artistic license 2\.0", "Artistic-2.0"),
    (r"license agreement for matplotlib", "Matplotlib"),
    (r"gnu affero general public license", "AGPL"),
    (r"gnu (lesser|library) general public license", "LGPL"),
    (r"gnu general public license", "GPL"),
    (r"mozilla public license", "MPL-2.0"),
    (r"eclipse public license", "EPL-2.0"),
    (r"common development and distribution license", "CDDL-1.0"),
)


def license_from_text(text: str) -> Optional[License]:
  """Recognises a license from its text (a LICENSE/COPYING file). None if unrecognised."""
  head = re.sub(r"\s+", " ", text[:6000].lower())
  best: Optional[tuple[int, str]] = None
  for pattern, spdx in _TEXT_PATTERNS:
    match = re.search(pattern, head)
    if match and (best is None or match.start() < best[0]):
      best = (match.start(), spdx)
  if best is None:
    return None
  spdx = best[1]
  if spdx == "<bsd>":
    spdx = ("BSD-3-Clause" if re.search(r"neither the name|endorse or promote", head)
            else "BSD-2-Clause")
  return License(spdx, spdx in PERMISSIVE)


_SPDX_HEADER = re.compile(r"SPDX-License-Identifier:\s*([^\n\r]*)")


def license_from_spdx_header(head: str) -> Optional[License]:
  """The license a file declares in an `SPDX-License-Identifier:` line, if any."""
  match = _SPDX_HEADER.search(head)
  if not match:
    return None
  expression = re.split(r"\*/|-->|\"|'", match.group(1))[0].strip()
  return parse_expression(expression)


def license_from_classifiers(classifiers: Iterable[str]) -> Optional[License]:
  """From trove classifiers (`License :: OSI Approved :: MIT License`). Several are taken to
  apply together (AND): a package listing GPL among its licenses is not kept."""
  names = []
  for classifier in classifiers:
    parts = [p.strip() for p in classifier.split("::")]
    if parts[0] != "License" or parts[-1] in ("OSI Approved", "License"):
      continue
    names.append(parts[-1].replace(" License", "").strip() or parts[-1])
  if not names:
    return None
  results = []
  for name in names:
    canonical = canonical_name(name) or canonical_name(name + " License")
    results.append((canonical or f"LicenseRef-unknown({name})", _is_permissive(canonical)))
  values = [r[1] for r in results]
  value = False if False in values else (None if None in values else True)
  return License(" AND ".join(r[0] for r in results), value)


def license_from_field(field: str) -> Optional[License]:
  """From a free-form metadata field: a short name/expression, or the license text itself."""
  field = (field or "").strip()
  if not field or field.upper() in ("UNKNOWN", "NONE", "DUAL LICENSE", "OTHER"):
    return None
  first_line = field.splitlines()[0].strip()
  if len(first_line) <= 80:
    parsed = parse_expression(first_line.replace("/", " OR ") if "/" in first_line
                              and "x11" not in first_line.lower() else first_line)
    if parsed and parsed.permissive is not None:
      return parsed
  elif _SPDX_OPERATOR.search(first_line):
    # A long SPDX expression (a package that bundles six licenses) rather than the first line
    # of a license text: what the local corpus stores for such packages.
    parsed = parse_expression(first_line)
    if parsed and parsed.permissive is not None:
      return parsed
  return license_from_text(field)


_SPDX_OPERATOR = re.compile(r"\s(AND|OR|WITH)\s")
