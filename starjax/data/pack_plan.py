"""Packing decided by index: which document pieces fill global row g, without reading the rows
before it.

    global row g  →  block j = g // rows_per_block  →  (task t, its k-th block)   mixture schedule
                  →  the token range [k·B, (k+1)·B) of task t's stream          B = block budget
                  →  document pieces (epoch, doc, [a, b) of its tokens)          epoch plan
                  →  tokenize those documents, concatenate the pieces, cut into rows

Each task's stream is its epochs back to back; epoch e lists the documents in the order
`index_shuffle.epoch_order` gives for (seed, task, e), each taking its *exact* length in that
epoch (keyed_preprocessing.planned_lengths: the store's per-document token counts plus what
that epoch's metadata and FIM add), so the plan is a prefix sum: block k's pieces come from a
binary search, and the block's tokens are exactly its pieces' tokens. With fill = 1 (the
default) every row is full: no token is dropped and none is padding; a document longer than a
row continues in the next row (and block) as a new segment. Segment ids, positions and shifted
inputs are exact per piece, so attention and loss never cross a document boundary.

Counts are taken lazily (token_counts): the first epoch's prefix sum grows as far as the plan is
read, so a short run counts about what it trains on; an offset beyond the first epoch needs the
epochs' totals, hence every document counted once (then cached with the store). Metadata/FIM
choices repeat every CHOICE_PERIOD epochs (a fresh order every epoch), so epoch starts are
arithmetic: locating any offset is O(1) after the one-time count.

The mixture schedule is a fixed period of `PERIOD` blocks in which task t holds round(rate·PERIOD)
slots spread evenly, so any window of blocks holds each task's share to within a few blocks.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from typing import Sequence

import numpy as np

from starjax.data import index_shuffle, keyed_preprocessing, read_ahead
from starjax.data.errors import DataError
from starjax.data.random_access import DocumentIndex, DocumentSource
from starjax.data.token_counts import TokenCounts
from starjax.tokens import EOS_ID

PERIOD = 1 << 16
# The first epoch's prefix grows by this many documents at a time while they are being counted
# (a task's share of read_ahead's window sets it in a PackPlan): about what the next blocks pack,
# so that counting does not run far ahead of packing and the content ids just counted are still
# cached when packed. Any step gives the same prefix sums.
_EXTEND_DOCS = 64
# Epoch e's metadata/FIM choices are those of epoch e mod CHOICE_PERIOD (the order is new every
# epoch). Epoch lengths then repeat with that period, so any token offset maps to its epoch by
# arithmetic instead of summing every epoch before it; no real run trains 64 epochs.
CHOICE_PERIOD = 64


@dataclasses.dataclass(frozen=True)
class Piece:
  task: int
  epoch: int
  doc: int
  start: int  # token offsets within the document's `length` tokens: [start, end)
  end: int
  length: int


@dataclasses.dataclass
class _Epoch:
  order: np.ndarray  # int64 [num_docs]: the documents in training order
  ends: np.ndarray   # int64 [k]: cumulative exact lengths of order[:k], k grows lazily


class TaskStream:
  """One task's infinite stream of epochs, addressable by exact token offset."""

  def __init__(self, name: str, index: DocumentIndex, counts: TokenCounts, *,
               rates: keyed_preprocessing.Rates, seed: int, window_chunks: int):
    self.name, self.index, self.counts, self.rates = name, index, counts, rates
    self.key = index_shuffle.derive_key(seed, name)
    self.window_chunks = window_chunks
    self._epochs: dict[int, _Epoch] = {}
    self._cycle_starts = None
    self.extend_docs = _EXTEND_DOCS
    self.read_ahead = None  # (read_ahead.ContentReadAhead, this task's index in it) or None

  def epoch_key(self, epoch: int) -> int:
    """The key of the epoch's document order."""
    return index_shuffle.derive_key(self.key, "epoch", epoch)

  def choice_key(self, epoch: int) -> int:
    """The key of the epoch's metadata and FIM choices (they repeat every CHOICE_PERIOD)."""
    return index_shuffle.derive_key(self.key, "choices", epoch % CHOICE_PERIOD)

  def fim_mask(self, epoch: int, docs: np.ndarray) -> np.ndarray:
    """bool [len(docs)]: which of `docs` are FIM examples in `epoch`."""
    return keyed_preprocessing.Choices.of(self.choice_key(epoch), docs, self.rates).fim

  def lengths(self, epoch: int, docs: np.ndarray) -> np.ndarray:
    """Exact tokens of documents `docs` in `epoch` (counting them first if needed)."""
    prepared = (functools.partial(self.read_ahead[0].take, self.read_ahead[1])
                if self.read_ahead else None)
    self.counts.ensure(docs, prepared, fim=functools.partial(self.fim_mask, epoch))
    return keyed_preprocessing.planned_lengths(docs, self.choice_key(epoch), self.rates,
                                               self.counts)

  def _epoch(self, epoch: int) -> _Epoch:
    """The epoch's order and prefix sums so far; the last two epochs kept."""
    hit = self._epochs.get(epoch)
    if hit is None:
      order = index_shuffle.epoch_order(self.index.chunk_sizes, self.epoch_key(epoch),
                                        self.window_chunks)
      hit = self._epochs[epoch] = _Epoch(order, np.zeros(0, np.int64))
      while len(self._epochs) > 2:
        self._epochs.pop(next(iter(self._epochs)))
    return hit

  def _extend(self, epoch: int, ep: _Epoch, offset: int) -> None:
    """Grows `ep.ends` until it covers token `offset` of the epoch or the whole epoch."""
    while len(ep.ends) < len(ep.order) and (not len(ep.ends) or ep.ends[-1] <= offset):
      k = len(ep.ends)
      step = len(ep.order) - k if self.counts.complete else self.extend_docs
      base = ep.ends[-1] if k else 0
      lengths = self.lengths(epoch, ep.order[k:k + step])
      ep.ends = np.concatenate([ep.ends, base + np.cumsum(lengths)])

  def _cycle(self) -> np.ndarray:
    """int64 [CHOICE_PERIOD + 1]: where each epoch of a cycle starts, and the cycle's tokens
    (needs every document counted; computed once)."""
    if self._cycle_starts is None:
      self.counts.ensure_all()
      docs = np.arange(len(self.index))
      totals = [int(self.lengths(m, docs).sum()) for m in range(CHOICE_PERIOD)]
      self._cycle_starts = np.concatenate([[0], np.cumsum(totals)]).astype(np.int64)
    return self._cycle_starts

  def _locate(self, offset: int) -> tuple[int, int]:
    """(epoch, offset within it) of stream token `offset`, in O(1) once every document is
    counted: epochs repeat their lengths every CHOICE_PERIOD epochs."""
    if not self.counts.complete:  # still counting the first epoch: grow its prefix
      ep = self._epoch(0)
      self._extend(0, ep, offset)
      if ep.ends[-1] > offset:
        return 0, offset
    starts = self._cycle()
    cycle, rest = divmod(offset, int(starts[-1]))
    m = int(np.searchsorted(starts, rest, side="right")) - 1
    return cycle * CHOICE_PERIOD + m, rest - int(starts[m])

  def pieces(self, task: int, start: int, end: int) -> list[Piece]:
    """Pieces covering token offsets [start, end) of the stream."""
    out = []
    while start < end:
      epoch, offset = self._locate(start)
      ep = self._epoch(epoch)
      self._extend(epoch, ep, offset + (end - start) - 1)
      position = int(np.searchsorted(ep.ends, offset, side="right"))
      doc_end = int(ep.ends[position])
      doc_start = int(ep.ends[position - 1]) if position else 0
      take = min(end - start, doc_end - offset)
      out.append(Piece(task, epoch, int(ep.order[position]), offset - doc_start,
                       offset - doc_start + take, doc_end - doc_start))
      start += take
    if self.read_ahead and out:
      # Read from what will be tokenized next: the count frontier while counting, else here.
      frontier = len(ep.ends) if len(ep.ends) < len(ep.order) else position
      self.read_ahead[0].want(self.read_ahead[1], epoch, ep.order, frontier)
    return out


class MixtureSchedule:
  """Block j → (task, the task's block count before j): O(1), a fixed period of slots."""

  def __init__(self, rates: Sequence[float], period: int = PERIOD):
    rates = np.asarray(rates, np.float64)
    if len(rates) == 0 or not (rates >= 0).all() or rates.sum() <= 0:
      raise DataError(f"mixture rates {rates.tolist()} must be ≥ 0 with a positive sum")
    rates = rates / rates.sum()
    counts = np.floor(rates * period).astype(np.int64)
    counts[(rates > 0) & (counts == 0)] = 1
    while counts.sum() > period:  # the forced 1s above: take back from the largest
      counts[np.argmax(counts)] -= 1
    remainders = rates * period - counts
    for t in np.argsort(-remainders, kind="stable")[:period - counts.sum()]:
      counts[t] += 1
    self.counts, self.period = counts, period
    times = np.concatenate([(np.arange(c) + 0.5) / c for c in counts if c])
    owner = np.concatenate([np.full(c, t) for t, c in enumerate(counts) if c])
    rank = np.concatenate([np.arange(c) for c in counts if c])
    order = np.lexsort((owner, times))
    self.task, self.rank = owner[order], rank[order]

  @property
  def rates(self) -> np.ndarray:
    return self.counts / self.period

  def locate(self, block: int) -> tuple[int, int]:
    cycle, slot = divmod(block, self.period)
    task = int(self.task[slot])
    return task, cycle * int(self.counts[task]) + int(self.rank[slot])


@dataclasses.dataclass
class TaskData:
  stream: TaskStream
  source: DocumentSource
  vocabulary: object  # StarCoderVocabulary: encode_batch(list[str]) -> list[list[int]]
  rates: keyed_preprocessing.Rates


class PackPlan:
  """Rows of packed tokens as a pure function of their global row index.

  Args:
    tasks: the tasks of the mixture (one for a single task), in schedule order.
    rates: their mixture rates.
    seq_len: tokens per row.
    rows_per_block: rows filled together from one task's pieces.
    fill: the tokens of each block's pieces as a share of its rows' tokens (1: rows are full).
  """

  def __init__(self, tasks: Sequence[TaskData], rates: Sequence[float], *, seq_len: int,
               rows_per_block: int, fill: float, token_cache_docs: int = 256):
    if seq_len < 1 or rows_per_block < 1 or not 0 < fill <= 2:
      raise DataError(f"seq_len={seq_len}, rows_per_block={rows_per_block} must be ≥ 1 and "
                      f"fill={fill} in (0, 2]")
    self.tasks, self.schedule = list(tasks), MixtureSchedule(rates)
    self.seq_len, self.rows_per_block = seq_len, rows_per_block
    self.block_budget = max(1, int(round(rows_per_block * seq_len * fill)))
    self._tokens: collections.OrderedDict = collections.OrderedDict()
    self._token_cache_docs = token_cache_docs
    # With exact lengths both stay 0 at fill = 1 (fill < 1 pads, > 1 drops: on purpose only).
    self.dropped_tokens = self.padding_tokens = 0
    self.fim_fit = keyed_preprocessing.FitStats()
    self.read_ahead: read_ahead.ContentReadAhead | None = None
    for data, ahead in zip(self.tasks, read_ahead.ahead_docs(self.schedule.rates)):
      data.stream.extend_docs = max(4, ahead // 2)

  def attach(self, ahead: read_ahead.ContentReadAhead | None) -> None:
    """Documents are read and tokenized ahead by `ahead` (None: by the caller, as needed)."""
    self.read_ahead = ahead
    for t, data in enumerate(self.tasks):
      data.stream.read_ahead = (ahead, t) if ahead is not None else None

  def start_read_ahead(self) -> read_ahead.ContentReadAhead:
    """A read-ahead thread for this plan, attached (close it with `stop_read_ahead`)."""
    ahead = read_ahead.ContentReadAhead(self.tasks, [2 * d.stream.extend_docs
                                                     for d in self.tasks])
    self.attach(ahead)
    return ahead

  def stop_read_ahead(self, ahead: read_ahead.ContentReadAhead) -> None:
    if self.read_ahead is ahead:
      self.attach(None)
    ahead.close()

  def block_pieces(self, block: int) -> list[Piece]:
    task, k = self.schedule.locate(block)
    budget = self.block_budget
    return self.tasks[task].stream.pieces(task, k * budget, (k + 1) * budget)

  def rows(self, first_row: int, count: int) -> tuple[dict[str, np.ndarray], list[list[Piece]]]:
    """Global rows [first_row, first_row + count): the five decoder features, int32
    [count, seq_len], and per row the pieces it holds (each its [start, end) in that row)."""
    return self.rows_many([(first_row, count)])[0]

  def rows_many(self, ranges: Sequence[tuple[int, int]]
                ) -> list[tuple[dict[str, np.ndarray], list[list[Piece]]]]:
    """`rows` of several (first_row, count) ranges, their documents tokenized together (one
    batch for the Rust tokenizer's threads instead of a few documents at a time)."""
    R = self.rows_per_block
    spans = [range(first // R, (first + count - 1) // R + 1) for first, count in ranges]
    pieces = {j: self.block_pieces(j) for blocks in spans for j in blocks}
    self._tokenize([p for ps in pieces.values() for p in ps])
    packed = {j: self._pack(ps) for j, ps in pieces.items()}
    out = []
    for (first, count), blocks in zip(ranges, spans):
      features = {k: np.concatenate([packed[j][0][k] for j in blocks]) for k in _FEATURES}
      row_pieces = [row for j in blocks for row in packed[j][1]]
      skip = first - blocks[0] * R
      out.append(({k: v[skip:skip + count] for k, v in features.items()},
                  row_pieces[skip:skip + count]))
    return out

  def token_ids(self, piece: Piece) -> np.ndarray:
    """The whole document's token ids (after metadata/FIM, ending in <|endoftext|>)."""
    self._tokenize([piece])
    return self._tokens[(piece.task, piece.epoch, piece.doc)]

  def _tokenize(self, pieces: Sequence[Piece]) -> None:
    missing = {}
    for p in pieces:
      key = (p.task, p.epoch, p.doc)
      if key in self._tokens:
        self._tokens.move_to_end(key)
      else:
        missing[key] = p.length
    by_task = collections.defaultdict(list)
    for key, length in missing.items():
      by_task[(key[0], key[1])].append((key[2], length))
    for (task, epoch), docs in by_task.items():
      data = self.tasks[task]
      ids, lengths = zip(*docs)
      # Documents just counted or read ahead come with their content's ids; the rest are read.
      known = {d: hit for d in ids if (hit := data.stream.counts.recent(d)) is not None}
      if self.read_ahead is not None:
        rest = [d for d in ids if d not in known]
        known.update((d, (p.document, p.content)) for d, p in
                     self.read_ahead.take(task, rest).items())
      rest = [d for d in ids if d not in known]
      read = dict(zip(rest, data.source.read(rest)))
      documents = [known[d][0] if d in known else read[d] for d in ids]
      rows = keyed_preprocessing.encode(
          documents, ids, data.stream.choice_key(epoch), data.rates, data.vocabulary,
          np.asarray(lengths), content_ids=lambda d: known[d][1] if d in known else None,
          stats=self.fim_fit)
      for doc, row in zip(ids, rows):
        self._tokens[(task, epoch, doc)] = row
    while len(self._tokens) > max(self._token_cache_docs, len(pieces)):
      self._tokens.popitem(last=False)

  def _pack(self, pieces: Sequence[Piece]) -> tuple[dict[str, np.ndarray], list[list[Piece]]]:
    R, L = self.rows_per_block, self.seq_len
    capacity = R * L
    tokens, labels = [], []
    for i, p in enumerate(pieces):
      part = self._tokens[(p.task, p.epoch, p.doc)][p.start:p.end]
      tokens.append(part)
      labels.append(np.full(len(part), i, np.int32))
    flat = np.concatenate(tokens) if tokens else np.zeros(0, np.int32)
    label = np.concatenate(labels) if labels else np.zeros(0, np.int32)
    self.dropped_tokens += max(0, len(flat) - capacity)
    self.padding_tokens += max(0, capacity - len(flat))
    flat = np.pad(flat[:capacity], (0, max(0, capacity - len(flat)))).reshape(R, L)
    label = np.pad(label[:capacity], (0, max(0, capacity - len(label))),
                   constant_values=-1).reshape(R, L)
    real = label >= 0
    start = np.ones_like(real)
    start[:, 1:] = label[:, 1:] != label[:, :-1]
    start &= real
    segment = np.cumsum(start, axis=1) * real
    column = np.broadcast_to(np.arange(L), (R, L))
    positions = (column - np.maximum.accumulate(np.where(start, column, 0), axis=1)) * real
    inputs = np.where(start, EOS_ID, np.roll(flat, 1, axis=1)) * real
    features = {"decoder_target_tokens": flat * real, "decoder_input_tokens": inputs,
                "decoder_loss_weights": real.astype(np.int32), "decoder_segment_ids": segment,
                "decoder_positions": positions}
    # Per row, the part of each piece it holds (a piece cut at a row end continues in the next).
    owners: list[list[Piece]] = [[] for _ in range(R)]
    first = 0
    for p, part in zip(pieces, tokens):
      last = min(first + len(part), capacity)
      for r in range(first // L, (last - 1) // L + 1) if last > first else ():
        a, b = max(first, r * L), min(last, (r + 1) * L)
        owners[r].append(dataclasses.replace(p, start=p.start + a - first,
                                             end=p.start + b - first))
      first += len(part)
    return {k: v.astype(np.int32) for k, v in features.items()}, owners


def fingerprint_changes(old: dict, new: dict) -> list[str]:
  """'key: old → new' for every leaf that differs (digest left out)."""
  def flat(d, prefix=""):
    out = {}
    for k, v in (d or {}).items():
      if k == "digest" and not prefix:
        continue
      if isinstance(v, dict):
        out.update(flat(v, f"{prefix}{k}."))
      else:
        out[f"{prefix}{k}"] = v
    return out
  a, b = flat(old), flat(new)
  return [f"{k}: {a.get(k, '(none)')} → {b.get(k, '(none)')}"
          for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


_FEATURES = ("decoder_input_tokens", "decoder_target_tokens", "decoder_loss_weights",
             "decoder_segment_ids", "decoder_positions")
