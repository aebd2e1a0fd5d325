"""Decontamination: finding files that contain an evaluation benchmark's text.

The registry: a benchmark registers a function that returns its strings (`register`); the
evaluation package does so for HumanEval (prompts, docstrings, canonical solutions) and for
every MultiPL-E translation starjax produces (starjax/eval/benchmarks.py), so a benchmark added
there is decontaminated against automatically. The registry lives here, in the data package,
and evaluation feeds it: data stays below evaluation (data → model → train → infer → eval) and
never imports it. Any command that parses gin imports `starjax.eval` (gin_config's configurable
modules), which fills the registry before the pipeline is built.

Matching, for each document:
- exact: the benchmark string is a substring of the document (BigCode's rule);
- normalised: case-folded, runs of whitespace collapsed to one space, stripped; the normalised
  string is a substring of the normalised document. This catches re-indented and re-wrapped
  copies. Strings shorter than `min_chars` after normalisation are not searched for at all.
Lookup is by a probe: the `_PROBE` characters of the normalised string that follow its first
space, held in a dict; a document is scanned only at positions after a space, and a full
comparison happens only where a probe matches.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from typing import Callable, Iterable, Optional, Sequence

_PROBE = 24
_WHITESPACE = re.compile(r"\s+")
_SPACE = re.compile(" ")

# name → function returning (task_id, field, text) triples
_REGISTRY: dict[str, Callable[[], Iterable[tuple[str, str, str]]]] = {}
_LOCK = threading.Lock()


def register(name: str, strings: Callable[[], Iterable[tuple[str, str, str]]]) -> None:
  """Registers benchmark `name`: `strings()` returns its (task_id, field, text) triples, e.g.
  ("HumanEval/0", "canonical_solution", "    for idx, elem in …"). Called lazily, once."""
  with _LOCK:
    _REGISTRY[name] = strings


def registered() -> list[str]:
  """The names of the registered benchmarks, sorted."""
  with _LOCK:
    return sorted(_REGISTRY)


def benchmark_strings(names: Optional[Sequence[str]] = None) -> list["BenchmarkString"]:
  """Every string of the named benchmarks (all registered ones when None), sorted."""
  from starjax.data.errors import DataError
  with _LOCK:
    registry = dict(_REGISTRY)
  names = sorted(registry) if names is None else list(names)
  unknown = [n for n in names if n not in registry]
  if unknown:
    raise DataError(f"decontamination.benchmarks: unknown {unknown}; registered: "
                    f"{', '.join(sorted(registry)) or 'none'}")
  out = []
  for name in names:
    for task_id, field, text in registry[name]():
      if text and text.strip():
        out.append(BenchmarkString(name, task_id, field, text))
  return sorted(set(out))


def normalise(text: str) -> str:
  """Case-folded, whitespace runs collapsed to one space, stripped."""
  return _WHITESPACE.sub(" ", text.casefold()).strip()


@dataclasses.dataclass(frozen=True, order=True)
class BenchmarkString:
  benchmark: str
  task_id: str
  field: str
  text: str

  @property
  def reason(self) -> str:
    """What the ledger records for a hit: benchmark:task_id:field."""
    return f"{self.benchmark}:{self.task_id}:{self.field}"


@dataclasses.dataclass(frozen=True)
class Hit:
  string: BenchmarkString
  kind: str  # "exact" or "normalised"


class Matcher:
  """Finds the first benchmark string a document contains.

  Args:
    strings: what to look for.
    min_chars: shorter strings (normalised) are skipped; `skipped` counts them.
  """

  def __init__(self, strings: Sequence[BenchmarkString], min_chars: int):
    self.strings = list(strings)
    self.skipped = 0
    self._probes: dict[str, list[tuple[int, str, BenchmarkString]]] = {}
    self._unprobed: list[tuple[str, BenchmarkString]] = []
    for s in self.strings:
      norm = normalise(s.text)
      if len(norm) < min_chars:
        self.skipped += 1
        continue
      offset = norm.find(" ") + 1
      if offset == 0 or len(norm) - offset < _PROBE:
        self._unprobed.append((norm, s))
        continue
      self._probes.setdefault(norm[offset:offset + _PROBE], []).append((offset, norm, s))

  @property
  def searched(self) -> int:
    return len(self.strings) - self.skipped

  def first_hit(self, text: str) -> Optional[Hit]:
    """The smallest (benchmark, task_id, field) string found in `text`, exact hits first;
    None if there is none."""
    norm = normalise(text)
    found: list[BenchmarkString] = []
    probes = self._probes
    positions = [0]
    positions.extend(m.end() for m in _SPACE.finditer(norm))
    for p in positions:
      candidates = probes.get(norm[p:p + _PROBE])
      if candidates:
        for offset, string_norm, s in candidates:
          if p >= offset and norm.startswith(string_norm, p - offset):
            found.append(s)
    for string_norm, s in self._unprobed:
      if string_norm in norm:
        found.append(s)
    if not found:
      return None
    exact = [s for s in found if s.text in text]
    return Hit(min(exact), "exact") if exact else Hit(min(found), "normalised")
