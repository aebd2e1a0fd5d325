"""The full-text index of the training documents: SQLite FTS5 (in Python's standard library) with
BM25 ranking, over content, repository, path, license and language.

An index is one or more shard databases (`search-NNNNN-of-NNNNN.sqlite`): documents go to a shard
by a stable hash of their doc id, each shard is written by one worker of the build pipeline, and
a query runs on every shard and merges the hits by score. Like Elasticsearch's default search
(query-then-fetch), each shard scores with its own term statistics.

Tokens are unicode61 words with `_` kept inside identifiers (`parse_args` is one token, as in
Elasticsearch's standard analyzer). Query syntax (`data search --query`): bare words must all
occur (AND); "double-quoted text" is a phrase (consecutive tokens); `repo:`, `path:`, `license:`
or `language:` before a word or phrase restricts it to that field.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import os
import re
import sqlite3
from typing import Iterable, Optional, Sequence

from starjax.data.errors import DataError

TABLE = "documents"
TOKENIZER = "unicode61 remove_diacritics 0 tokenchars '_'"
# Column weights of bm25(): content, repo, path, license, language (the UNINDEXED ones get none).
_WEIGHTS = (1.0, 2.0, 2.0, 0.5, 0.5)
_FIELDS = ("repo", "path", "license", "language")
_QUERY_TERM = re.compile(r'(?:(\w+):)?(?:"((?:[^"]|"")*)"|(\S+))')
_WORD = re.compile(r"\w+")
SNIPPET_TOKENS = 24


def shard_name(shard: int, num_shards: int) -> str:
  return f"search-{shard:05d}-of-{num_shards:05d}.sqlite"


def shard_of(doc_id: str, num_shards: int) -> int:
  """The shard a document goes to: stable across runs and machines."""
  digest = hashlib.blake2b(doc_id.encode(), digest_size=8).digest()
  return int.from_bytes(digest, "big") % num_shards


def write_shard(path: str, documents: Iterable) -> int:
  """Writes one shard database of `documents` (governance.documents.Document, any order: they
  are stored sorted by doc id, so a shard's bytes depend only on its documents). Returns the
  number written."""
  rows = sorted(documents, key=lambda d: d.doc_id)
  temporary = path + ".tmp"
  if os.path.exists(temporary):
    os.remove(temporary)
  connection = sqlite3.connect(temporary)
  try:
    connection.execute(
        f"CREATE VIRTUAL TABLE {TABLE} USING fts5(content, repo, path, license, language, "
        f"doc_id UNINDEXED, stars UNINDEXED, tokenize = \"{TOKENIZER}\")")
    connection.executemany(
        f"INSERT INTO {TABLE} (content, repo, path, license, language, doc_id, stars) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        ((d.content, d.repo, d.path, d.license, d.language, d.doc_id, d.stars) for d in rows))
    connection.execute(f"INSERT INTO {TABLE}({TABLE}) VALUES ('optimize')")
    connection.commit()
  finally:
    connection.close()
  os.replace(temporary, path)
  return len(rows)


@dataclasses.dataclass(frozen=True)
class Hit:
  """One search result. score: BM25 (higher is better); snippet: content around the matches,
  with matched tokens between « and »."""
  doc_id: str
  repo: str
  path: str
  license: str
  language: str
  stars: int
  score: float
  snippet: str


def fts_query(query: str) -> str:
  """The FTS5 expression of a user query (see the module docstring); "" if it has no words.

  Every term becomes a quoted FTS5 string, so punctuation in code (`foo.bar(`) is tokenized like
  the documents instead of being read as query syntax.
  """
  terms = []
  for match in _QUERY_TERM.finditer(query):
    field, phrase, word = match.group(1), match.group(2), match.group(3)
    text = phrase.replace('""', '"') if phrase is not None else word
    if field is not None and field not in _FIELDS:  # not a field name: `a:b` is text
      text, field = f"{field}:{text}", None
    if not _WORD.search(text):
      continue
    term = '"' + text.replace('"', '""') + '"'
    terms.append(f"{field} : {term}" if field else term)
  return " AND ".join(terms)


def phrase_query(text: str, max_tokens: int = 64) -> str:
  """An FTS5 phrase of the whole words of a text span: the first and last tokens, which the span
  may cut, are dropped; at most max_tokens from the middle. "" if nothing is left."""
  words = _WORD.findall(text)
  if len(words) > 2:
    words = words[1:-1]
  if len(words) > max_tokens:
    middle = (len(words) - max_tokens) // 2
    words = words[middle:middle + max_tokens]
  return ('"' + " ".join(words) + '"') if words else ""


class SearchIndex:
  """Read access to the shard databases of an index directory."""

  def __init__(self, paths: Sequence[str]):
    self.paths = list(paths)
    self._connections = []
    for path in self.paths:
      if not os.path.isfile(path):
        raise DataError(f"{path}: search index shard missing; rebuild the index with "
                        "`python run.py data index --input=DATA --output=INDEX`")
      try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        connection.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
      except sqlite3.DatabaseError as e:
        raise DataError(f"{path}: corrupt search index shard ({e}); rebuild the index with "
                        "`python run.py data index --input=DATA --output=INDEX`") from e
      self._connections.append(connection)

  def close(self) -> None:
    for connection in self._connections:
      connection.close()
    self._connections = []

  def num_documents(self) -> int:
    return sum(c.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
               for c in self._connections)

  def _run(self, expression: str, top: int, language: Optional[str], with_content: bool = False
           ) -> list[tuple[Hit, Optional[str]]]:
    sql = (f"SELECT doc_id, repo, path, license, language, stars, "
           f"bm25({TABLE}, {', '.join(map(str, _WEIGHTS))}) AS rank, "
           f"snippet({TABLE}, 0, '«', '»', '…', {SNIPPET_TOKENS}), "
           f"{'content' if with_content else 'NULL'} "
           f"FROM {TABLE} WHERE {TABLE} MATCH ?")
    parameters: list = [expression]
    if language:
      sql += " AND lower(language) = lower(?)"
      parameters.append(language)
    sql += " ORDER BY rank LIMIT ?"
    parameters.append(top)
    rows = []
    for connection in self._connections:
      try:
        rows.extend(connection.execute(sql, parameters).fetchall())
      except sqlite3.OperationalError as e:
        if "fts5" in str(e) or "syntax" in str(e):
          raise DataError(f"query {expression!r}: {e}") from e
        raise DataError(f"search index: {e}") from e
      except sqlite3.DatabaseError as e:
        raise DataError(f"search index: corrupt shard ({e}); rebuild the index") from e
    best = heapq.nsmallest(top, rows, key=lambda r: (r[6], r[0]))
    return [(Hit(doc_id=r[0], repo=r[1], path=r[2], license=r[3], language=r[4], stars=int(r[5]),
                 score=-float(r[6]), snippet=r[7]), r[8]) for r in best]

  def search(self, query: str, top: int = 10, language: Optional[str] = None) -> list[Hit]:
    """Ranked hits of a user query (module docstring syntax), best first."""
    expression = fts_query(query)
    if not expression:
      raise DataError(f"--query={query!r}: no words to search for")
    return [hit for hit, _ in self._run(expression, top, language)]

  def containing(self, text: str, limit: int = 20) -> list[tuple[Hit, str]]:
    """Candidate documents for a text span: (hit, full content) of the best phrase matches of
    its whole words. Callers verify the exact text themselves."""
    expression = phrase_query(text)
    if not expression:
      return []
    return self._run(expression, limit, None, with_content=True)
