"""Attribution of generated code, in two passes (BigCode's editor tool): the membership filter
finds the spans that may come from the training data, then the full-text index finds, for each
span, the training documents that contain it, verified by exact (whitespace-normalised) substring
match, with their repository, path and license.

`attribute(index, text)` is the function a server's `POST /attribute` calls.
"""

from __future__ import annotations

import dataclasses
from typing import Union

from starjax.data.governance import index_dir, membership

# Search candidates verified per span, and sources reported per span.
CANDIDATES = 20
MAX_SOURCES = 10


@dataclasses.dataclass(frozen=True)
class Source:
  doc_id: str
  repo: str
  path: str
  license: str
  language: str


@dataclasses.dataclass(frozen=True)
class AttributedSpan:
  """Characters [start, end) of the input and the verified training documents holding them
  (empty: the filter's hit was not confirmed, a false positive)."""
  start: int
  end: int
  sources: tuple[Source, ...]


def _cores(span_text: str) -> list[str]:
  """The normalised span, then the span less one chunk at one or both ends (at least one chunk
  left): a span may carry up to a chunk of adjacent false-positive windows at either end."""
  needle = membership.normalize_text(span_text)
  chunk = membership.CHUNK
  cores = [needle, needle[chunk:], needle[:-chunk], needle[chunk:-chunk]]
  return [core for i, core in enumerate(cores) if len(core) >= chunk and core not in cores[:i]]


def span_sources(index: index_dir.GovernanceIndex, span_text: str) -> tuple[Source, ...]:
  """The training documents (at most MAX_SOURCES) that contain span_text, or else its largest
  core (see _cores): search candidates, each verified by exact normalised substring match."""
  for core in _cores(span_text):
    sources = []
    for hit, content in index.search.containing(core, limit=CANDIDATES):
      if core in membership.normalize_text(content):
        sources.append(Source(hit.doc_id, hit.repo, hit.path, hit.license, hit.language))
        if len(sources) == MAX_SOURCES:
          break
    if sources:
      return tuple(sources)
  return ()


def attribute_spans(index: index_dir.GovernanceIndex, text: str) -> list[AttributedSpan]:
  """The membership spans of `text`, each with its verified sources (empty when the filter's hit
  is not confirmed: a false positive)."""
  return [AttributedSpan(span.start, span.end, span_sources(index, text[span.start:span.end]))
          for span in membership.find_spans(index.bloom, text)]


def attribute(index: Union[index_dir.GovernanceIndex, str], text: str) -> dict:
  """The JSON answer of `data attribute --json` (and of a server's POST /attribute):
  {"spans": [{"start", "end", "sources": [{"repo", "path", "license"}]}]}, offsets in
  characters of `text`. index: an opened index or its directory."""
  if isinstance(index, str):
    index = index_dir.open_index(index)
  return {"spans": [
      {"start": s.start, "end": s.end,
       "sources": [{"repo": src.repo, "path": src.path, "license": src.license}
                   for src in s.sources]}
      for s in attribute_spans(index, text)]}


def verified_coverage(spans: list[AttributedSpan], length: int) -> float:
  """Fraction of `length` characters inside spans that have at least one verified source."""
  confirmed = [membership.Span(s.start, s.end) for s in spans if s.sources]
  return membership.coverage(confirmed, length)
