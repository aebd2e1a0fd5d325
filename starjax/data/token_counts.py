"""Exact token counts of a random-access store's documents, counted once and kept with the store.

    counts = TokenCounts.load(index, source, vocabulary, cache_dir)
    counts.ensure(doc_ids)        # tokenizes the documents not yet counted
    counts.content[doc_ids]       # int32 tokens of each document's content (-1: not counted)
    counts.ensure_all()           # the whole store (needed beyond the first epoch)

Per document: the tokens of its content and of each metadata field as the keyed preprocessing
encodes them (`<reponame>repo`, `<filename>path`, `<gh_stars>bucket`, each on its own), which is
all a pack plan needs to know a document's exact length in any epoch (keyed_preprocessing
.planned_lengths). Counting is lazy, in the order the plan asks for documents, so a short run
counts little more than what it trains on; the counts are saved next to the document index,
keyed by it and the tokenizer file, so that a document is counted once per store.
The documents just counted and their content ids stay in a small cache, so packing does not
read or tokenize them again.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import os
import threading
import time
from typing import Sequence

import numpy as np

from starjax.data import keyed_preprocessing, piece_tokens
from starjax.data import tokenizer as tokenizer_lib
from starjax.data.random_access import DocumentIndex, DocumentSource

FORMAT_VERSION = 1
_SAVE_EVERY = 256       # documents counted between saves (a killed run recounts at most these)
_RECENT_IDS = 2048      # documents whose content ids are kept for packing (int32: a few MB)
_COUNT_WORKERS = 2      # threads of the one-time pass (the tokenizer itself uses every core)
log = logging.getLogger("starjax.data")


class TokenCounts:
  """Exact per-document token counts of one DocumentIndex under one tokenizer.

  Arrays are [num_docs]: `content`, `repo`, `path` int32 (-1 until counted), `stars` int8
  (the document's stars bucket, 0..4).
  """

  def __init__(self, index: DocumentIndex, source: DocumentSource, vocabulary, path: str | None):
    self.index, self.source, self.vocabulary, self.path = index, source, vocabulary, path
    n = len(index)
    self.content = np.full(n, -1, np.int32)
    self.repo = np.full(n, -1, np.int32)
    self.path_tokens = np.full(n, -1, np.int32)
    self.stars = np.zeros(n, np.int8)
    self.known = 0
    self._unsaved = 0
    self._recent: collections.OrderedDict = collections.OrderedDict()
    self.fields = keyed_preprocessing.FieldTokens.of(vocabulary)

  @classmethod
  def load(cls, index: DocumentIndex, source: DocumentSource, vocabulary,
           cache_dir: str | None) -> "TokenCounts":
    """The counts of `index` (what an earlier run counted, when cached)."""
    path = None
    if cache_dir:
      digest = tokenizer_lib.file_digest(vocabulary.tokenizer_path)
      path = os.path.join(cache_dir, "random_access",
                          f"{index.digest[:32]}.tokens-{digest[:16]}-v{FORMAT_VERSION}.npz")
    counts = cls(index, source, vocabulary, path)
    if path and os.path.isfile(path):
      try:
        with np.load(path) as z:
          arrays = {k: z[k] for k in ("content", "repo", "path_tokens", "stars")}
        if any(len(a) != len(index) for a in arrays.values()):
          raise ValueError(f"{len(arrays['content'])} documents, the index has {len(index)}")
        counts.content, counts.repo = arrays["content"], arrays["repo"]
        counts.path_tokens, counts.stars = arrays["path_tokens"], arrays["stars"]
        counts.known = int((counts.content >= 0).sum())
      except (OSError, ValueError, KeyError) as e:
        log.warning("%s: unreadable token counts (%s); counting again", path, e)
    return counts

  @property
  def complete(self) -> bool:
    return self.known == len(self.index)

  def ensure(self, doc_ids: Sequence[int] | np.ndarray, prepared=None, keep: bool = True,
             fim=None) -> None:
    """Counts the documents among `doc_ids` not counted yet (reading and tokenizing them).

    Args:
      prepared: optional function (doc ids) → {doc: read_ahead.Prepared} of those already
        read and tokenized (by a read-ahead thread); the rest are tokenized here.
      keep: keep the documents and their content ids for packing (`recent`).
      fim: optional function (doc ids) → bool mask of those packed as FIM (their kept ids get
        sync points, piece_tokens); None: all when `keep`.
    """
    ids = np.asarray(doc_ids, np.int64)
    missing = np.unique(ids[self.content[ids] < 0])
    if not len(missing):
      return
    ready = prepared(missing.tolist()) if prepared is not None else {}
    rest = [d for d in missing.tolist() if d not in ready]
    if rest:
      documents = self.source.read(rest)
      sync = fim(np.asarray(rest)) if (keep and fim is not None) else keep
      content, (repo, path, stars) = keyed_preprocessing.count_tokens(documents,
                                                                       self.vocabulary, sync)
      for i, d in enumerate(rest):
        self._count(d, documents[i], content[i], repo[i], path[i], stars[i], keep)
    for d, p in ready.items():
      self._count(d, p.document, p.content, p.repo, p.path, p.stars, keep)
    while len(self._recent) > _RECENT_IDS:
      self._recent.popitem(last=False)
    self.known += len(missing)
    self._unsaved += len(missing)
    if self._unsaved >= _SAVE_EVERY or self.complete:
      self.save()

  def _count(self, d: int, document, content: piece_tokens.Tokenized, repo, path, stars,
             keep: bool):
    self.content[d], self.repo[d] = len(content.ids), repo
    self.path_tokens[d], self.stars[d] = path, stars
    if keep:
      self._recent[d] = (document, content)

  def recent(self, doc: int) -> tuple | None:
    """(Document, piece_tokens.Tokenized of its content) if this process just counted it;
    handed over once."""
    return self._recent.pop(doc, None)

  def ensure_all(self, workers: int = _COUNT_WORKERS) -> None:
    """Counts every document: a row group at a time in storage order (each decoded once), on
    `workers` threads, so that reading and marking overlap the Rust tokenizer."""
    if self.complete:
      return
    started, n = time.perf_counter(), len(self.index)
    log.info("counting the tokens of %s documents once (%s)", f"{n - self.known:,}", self.path)
    bounds = np.concatenate([[0], np.cumsum(self.index.chunk_sizes)])
    todo = [docs for first, last in zip(bounds[:-1], bounds[1:])
            if len(docs := np.arange(first, last)[self.content[first:last] < 0])]
    local = threading.local()

    def count(docs):
      if not hasattr(local, "source"):  # a DocumentSource is not shared between threads
        local.source = DocumentSource(self.index, cached_chunks=1)
      documents = local.source.read(docs)
      return docs, keyed_preprocessing.count_tokens(documents, self.vocabulary, sync=False)

    with concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:
      pending = collections.deque()
      for docs in todo:
        pending.append(pool.submit(count, docs))
        if len(pending) > 2 * workers:  # two row groups per worker in flight
          self._merge(*pending.popleft().result())
      while pending:
        self._merge(*pending.popleft().result())
    self.save()
    log.info("counted in %.1f s", time.perf_counter() - started)

  def _merge(self, docs: np.ndarray, counted) -> None:
    content, (repo, path, stars) = counted
    self.content[docs] = [len(t.ids) for t in content]
    self.repo[docs], self.path_tokens[docs], self.stars[docs] = repo, path, stars
    self.known += len(docs)
    self._unsaved += len(docs)
    if self._unsaved >= 16 * _SAVE_EVERY:  # a pass saves less often: the whole array each time
      self.save()

  def save(self) -> None:
    self._unsaved = 0
    if not self.path:
      return
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    tmp = f"{self.path}.{os.getpid()}.tmp.npz"
    np.savez(tmp, content=self.content, repo=self.repo, path_tokens=self.path_tokens,
             stars=self.stars)
    os.replace(tmp, self.path)
