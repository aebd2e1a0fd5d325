"""Tokenizes, on a background thread, the content of the documents a pack plan reads next.

    ahead = ContentReadAhead(plan.tasks, ahead_docs(rates))
    ahead.want(task, epoch, order, position)   # the plan is at order[position] of task's epoch
    ahead.take(task, doc_ids)                  # {doc: Prepared} of those done (or in flight)
    ahead.close()

The Rust tokenizer releases the GIL, so it runs while the consumer packs, reads and assembles:
on two cores that is most of the first epoch's idle core. Each task is read `ahead` documents
ahead of where its stream was last asked for (`ahead_docs`: a share of _AHEAD_DOCS by its
mixture rate), so memory stays bounded. It changes no result: a document's tokens are a pure function of the
document, and whatever was not done ahead is tokenized by the consumer as before, so batches are
the same whatever the thread's timing.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
from typing import Sequence

import numpy as np

from starjax.data import keyed_preprocessing, piece_tokens
from starjax.data.random_access import Document, DocumentSource

_AHEAD_DOCS = 128   # documents tokenized ahead over all tasks (~3k tokens each: ~2 MB of ids)
_MIN_AHEAD = 4      # per task, however small its rate
_BATCH_DOCS = 32    # documents per tokenizer call (enough texts for the Rust threads)
log = logging.getLogger("starjax.data")


def ahead_docs(rates: Sequence[float]) -> list[int]:
  """Documents to read ahead per task, by its share of the mixture."""
  rates = np.asarray(rates, np.float64) / max(float(np.sum(rates)), 1e-12)
  return [max(_MIN_AHEAD, int(np.ceil(r * _AHEAD_DOCS))) for r in rates]


@dataclasses.dataclass
class Prepared:
  """A document read and tokenized ahead: its content's ids and sync points, and the token
  counts of its repository and path fields and its stars bucket (as token_counts keeps them)."""
  document: Document
  content: piece_tokens.Tokenized
  repo: int
  path: int
  stars: int


@dataclasses.dataclass
class _Window:
  epoch: int
  order: np.ndarray
  cursor: int   # order[:cursor] was handed to the tokenizer (or is behind the plan)
  stop: int     # read up to order[stop)


class ContentReadAhead:
  """Per task (index into `tasks`, pack_plan.TaskData), the next `ahead[task]` documents of
  its stream, tokenized ahead."""

  def __init__(self, tasks: Sequence, ahead: Sequence[int]):
    self._ahead = [max(1, int(a)) for a in ahead]
    # Own sources: a DocumentSource's row-group cache is not shared between threads.
    self._sources = [DocumentSource(t.source.index, cached_chunks=t.source.cached_chunks)
                     for t in tasks]
    self._vocabularies = [t.vocabulary for t in tasks]
    self._streams = [t.stream for t in tasks]  # only their pure fim_mask is called here
    self._windows: dict[int, _Window] = {}
    self._ready: dict[tuple[int, int], Prepared] = {}
    self._in_flight: set[tuple[int, int]] = set()
    self._cond = threading.Condition()
    self._stopped = False
    self._thread = threading.Thread(target=self._run, daemon=True, name="starjax-read-ahead")
    self._thread.start()

  def want(self, task: int, epoch: int, order: np.ndarray, position: int) -> None:
    """The plan has reached order[position] of `task`'s `epoch`: read the next ones."""
    with self._cond:
      w = self._windows.get(task)
      if w is None or w.epoch != epoch or w.order is not order:
        w = self._windows[task] = _Window(epoch, order, position, position)
      w.cursor = max(w.cursor, position)
      w.stop = min(len(order), position + self._ahead[task])
      self._cond.notify_all()

  def take(self, task: int, doc_ids: Sequence[int]) -> dict[int, Prepared]:
    """The Prepared of those `doc_ids` that were read ahead (waiting for those in flight);
    they are handed over once."""
    out = {}
    with self._cond:
      for d in doc_ids:
        key = (task, int(d))
        while key in self._in_flight and not self._stopped:
          self._cond.wait()
        hit = self._ready.pop(key, None)
        if hit is not None:
          out[int(d)] = hit
    return out

  def close(self) -> None:
    with self._cond:
      self._stopped = True
      self._cond.notify_all()
    self._thread.join()

  def _next_work(self) -> list[tuple[int, int, int]]:
    """(task, doc, epoch) to tokenize next, the furthest-behind tasks first (lock held)."""
    work = []
    behind = sorted(self._windows.items(), key=lambda kv: (kv[1].stop - kv[1].cursor) /
                    self._ahead[kv[0]], reverse=True)
    for task, w in behind:
      take = min(w.stop - w.cursor, _BATCH_DOCS - len(work))
      if take <= 0:
        continue
      work += [(task, int(d), w.epoch) for d in w.order[w.cursor:w.cursor + take]]
      w.cursor += take
      if len(work) >= _BATCH_DOCS:
        break
    work = [k for k in work if k[:2] not in self._ready]
    self._in_flight.update(k[:2] for k in work)
    # Bounded memory: what the plan went past without taking is dropped.
    while len(self._ready) > 2 * _AHEAD_DOCS + len(self._windows) * _MIN_AHEAD:
      self._ready.pop(next(iter(self._ready)))
    return work

  def _run(self) -> None:
    while True:
      with self._cond:
        while not self._stopped and not (work := self._next_work()):
          self._cond.wait()
        if self._stopped:
          return
      try:
        prepared = self._prepare(work)
      except Exception as e:  # pylint: disable=broad-except
        # The consumer reads and tokenizes these itself and reports the error there.
        log.debug("read-ahead stopped: %s", e)
        prepared = {}
        with self._cond:
          self._stopped = True
      with self._cond:
        self._ready.update(prepared)
        self._in_flight.difference_update(k[:2] for k in work)
        self._cond.notify_all()

  def _prepare(self, work: list[tuple[int, int, int]]) -> dict[tuple[int, int], Prepared]:
    """(task, doc, epoch) → Prepared; sync points only for the epoch's FIM documents."""
    by_vocabulary = collections.defaultdict(list)
    for task, doc, epoch in work:
      by_vocabulary[id(self._vocabularies[task])].append((task, doc, epoch))
    out = {}
    for keys in by_vocabulary.values():
      documents = [self._sources[t].read([d])[0] for t, d, _ in keys]
      sync = [bool(self._streams[t].fim_mask(e, np.array([d]))[0]) for t, d, e in keys]
      content, (repo, path, stars) = keyed_preprocessing.count_tokens(
          documents, self._vocabularies[keys[0][0]], sync)
      for i, (t, d, _) in enumerate(keys):
        out[(t, d)] = Prepared(documents[i], content[i], int(repo[i]), int(path[i]),
                               int(stars[i]))
    return out
