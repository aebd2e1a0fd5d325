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
The content ids just counted stay in a small cache, so packing does not tokenize them again.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from typing import Sequence

import numpy as np

from starjax.data import keyed_preprocessing
from starjax.data import tokenizer as tokenizer_lib
from starjax.data.random_access import DocumentIndex, DocumentSource

FORMAT_VERSION = 1
_SAVE_EVERY = 256       # documents counted between saves (a killed run recounts at most these)
_RECENT_IDS = 2048      # documents whose content ids are kept for packing (int32: a few MB)
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

  def ensure(self, doc_ids: Sequence[int] | np.ndarray) -> None:
    """Counts the documents among `doc_ids` not counted yet (reading and tokenizing them)."""
    ids = np.asarray(doc_ids, np.int64)
    missing = np.unique(ids[self.content[ids] < 0])
    if not len(missing):
      return
    documents = self.source.read(missing)
    content_ids, field_counts = keyed_preprocessing.count_tokens(documents, self.vocabulary)
    for d, ids_ in zip(missing.tolist(), content_ids):
      self.content[d] = len(ids_)
      self._recent[d] = np.asarray(ids_, np.int32)
    self.repo[missing], self.path_tokens[missing], self.stars[missing] = field_counts
    while len(self._recent) > _RECENT_IDS:
      self._recent.popitem(last=False)
    self.known += len(missing)
    self._unsaved += len(missing)
    if self._unsaved >= _SAVE_EVERY or self.complete:
      self.save()

  def recent_content_ids(self, doc: int) -> np.ndarray | None:
    """The content's token ids if this process just counted them (else None)."""
    return self._recent.pop(doc, None)

  def ensure_all(self) -> None:
    """Counts every document (storage order, a row group at a time, so each is decoded once)."""
    if self.complete:
      return
    started, n = time.perf_counter(), len(self.index)
    log.info("counting the tokens of %s documents once (%s)", f"{n - self.known:,}", self.path)
    bounds = np.concatenate([[0], np.cumsum(self.index.chunk_sizes)])
    for first, last in zip(bounds[:-1], bounds[1:]):
      self.ensure(np.arange(first, last))
    self.save()
    log.info("counted in %.1f s", time.perf_counter() - started)

  def save(self) -> None:
    self._unsaved = 0
    if not self.path:
      return
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    tmp = f"{self.path}.{os.getpid()}.tmp.npz"
    np.savez(tmp, content=self.content, repo=self.repo, path_tokens=self.path_tokens,
             stars=self.stars)
    os.replace(tmp, self.path)
