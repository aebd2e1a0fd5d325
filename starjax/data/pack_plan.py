"""Packing decided by index: which document pieces fill global row g, without reading the rows
before it.

    global row g  →  block j = g // rows_per_block  →  (task t, its k-th block)   mixture schedule
                  →  the estimated-token range [k·B, (k+1)·B) of task t's stream   B = block budget
                  →  document pieces (epoch, doc, [a, b) of its estimated tokens)  epoch plan
                  →  tokenize those documents, concatenate the pieces, cut into rows

Each task's stream is its epochs back to back; epoch e lists the documents in the order
`index_shuffle.epoch_order` gives for (seed, task, e), each taking an *estimated* token length
(bytes × the task's measured tokens per byte, plus metadata, fixed offline, the same in every
epoch), so the plan is a prefix sum: block k's pieces come from a binary search. When the block
is read, a piece's actual tokens are the same fraction of the document's actual tokens
(`[a·T//E, b·T//E)`), so the pieces of a document partition it exactly. A block's actual tokens
fill its rows end to end (pieces cut at row ends become two segments); what exceeds the block is
dropped and a shortfall is padding, both counted. Segment ids, positions and shifted inputs are
exact per piece, so attention and loss never cross a document boundary.

The mixture schedule is a fixed period of `PERIOD` blocks in which task t holds round(rate·PERIOD)
slots spread evenly, so any window of blocks holds each task's share to within a few blocks.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Sequence

import numpy as np

from starjax.data import index_shuffle, keyed_preprocessing
from starjax.data.errors import DataError
from starjax.data.random_access import DocumentIndex, DocumentSource
from starjax.tokens import EOS_ID

PERIOD = 1 << 16


@dataclasses.dataclass(frozen=True)
class Piece:
  task: int
  epoch: int
  doc: int
  start: int  # estimated-token offsets within the document, [start, end) of `estimate`
  end: int
  estimate: int


class TaskStream:
  """One task's infinite stream of epochs, addressable by estimated-token offset."""

  def __init__(self, name: str, index: DocumentIndex, *, tokens_per_byte: float,
               metadata_rate: float, seed: int, window_chunks: int):
    self.name, self.index = name, index
    self.tokens_per_byte = tokens_per_byte
    # +1: the <|endoftext|> every document ends with; metadata only in its expected share.
    self.estimates = np.maximum(1, np.rint(
        tokens_per_byte * (index.content_bytes + metadata_rate * (index.meta_bytes + 16))
    ).astype(np.int64)) + 1
    self.epoch_tokens = int(self.estimates.sum())
    self.key = index_shuffle.derive_key(seed, name)
    self.window_chunks = window_chunks
    self._epochs: dict[int, tuple[np.ndarray, np.ndarray]] = {}

  def epoch_key(self, epoch: int) -> int:
    return index_shuffle.derive_key(self.key, "epoch", epoch)

  def _epoch(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """(documents in order, cumulative estimated tokens) of one epoch; the last two kept."""
    hit = self._epochs.get(epoch)
    if hit is None:
      order = index_shuffle.epoch_order(self.index.chunk_sizes, self.epoch_key(epoch),
                                        self.window_chunks)
      hit = self._epochs[epoch] = (order, np.cumsum(self.estimates[order]))
      while len(self._epochs) > 2:
        self._epochs.pop(next(iter(self._epochs)))
    return hit

  def pieces(self, task: int, start: int, end: int) -> list[Piece]:
    """Pieces covering estimated-token offsets [start, end) of the stream."""
    out = []
    while start < end:
      epoch, offset = divmod(start, self.epoch_tokens)
      order, ends = self._epoch(epoch)
      position = int(np.searchsorted(ends, offset, side="right"))
      doc_end = int(ends[position])
      doc_start = doc_end - int(self.estimates[order[position]])
      take = min(end - start, doc_end - offset)
      out.append(Piece(task, epoch, int(order[position]), offset - doc_start,
                       offset - doc_start + take, doc_end - doc_start))
      start += take
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
  vocabulary: object  # has encode_batch(list[str]) -> list[list[int]]
  rates: keyed_preprocessing.Rates


class PackPlan:
  """Rows of packed tokens as a pure function of their global row index.

  Args:
    tasks: the tasks of the mixture (one for a single task), in schedule order.
    rates: their mixture rates.
    seq_len: tokens per row.
    rows_per_block: rows filled together from one task's pieces.
    fill: estimated tokens per block as a share of its rows' tokens.
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
    self.dropped_tokens = self.padding_tokens = 0

  def block_pieces(self, block: int) -> list[Piece]:
    task, k = self.schedule.locate(block)
    budget = self.block_budget
    return self.tasks[task].stream.pieces(task, k * budget, (k + 1) * budget)

  def rows(self, first_row: int, count: int) -> tuple[dict[str, np.ndarray], list[list[Piece]]]:
    """Global rows [first_row, first_row + count): the five decoder features, int32
    [count, seq_len], and per row the pieces whose tokens it holds."""
    R, L = self.rows_per_block, self.seq_len
    blocks = range(first_row // R, (first_row + count - 1) // R + 1)
    pieces = {j: self.block_pieces(j) for j in blocks}
    self._tokenize([p for ps in pieces.values() for p in ps])
    features = {k: np.zeros((len(blocks) * R, L), np.int32) for k in _FEATURES}
    row_pieces: list[list[Piece]] = []
    for b, j in enumerate(blocks):
      block, owners = self._pack(pieces[j])
      for k in _FEATURES:
        features[k][b * R:(b + 1) * R] = block[k]
      row_pieces.extend([pieces[j][i] for i in owner] for owner in owners)
    skip = first_row - blocks[0] * R
    return ({k: v[skip:skip + count] for k, v in features.items()},
            row_pieces[skip:skip + count])

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
        missing[key] = None
    by_task = collections.defaultdict(list)
    for key in missing:
      by_task[(key[0], key[1])].append(key[2])
    for (task, epoch), docs in by_task.items():
      data = self.tasks[task]
      texts = keyed_preprocessing.transform(data.source.read(docs), docs,
                                            data.stream.epoch_key(epoch), data.rates)
      for doc, ids in zip(docs, data.vocabulary.encode_batch(texts)):
        self._tokens[(task, epoch, doc)] = np.asarray(ids + [EOS_ID], np.int32)
    while len(self._tokens) > max(self._token_cache_docs, len(pieces)):
      self._tokens.popitem(last=False)

  def _pack(self, pieces: Sequence[Piece]) -> tuple[dict[str, np.ndarray], list[list[int]]]:
    R, L = self.rows_per_block, self.seq_len
    capacity = R * L
    tokens, labels = [], []
    for i, p in enumerate(pieces):
      ids = self._tokens[(p.task, p.epoch, p.doc)]
      n = len(ids)
      part = ids[p.start * n // p.estimate:p.end * n // p.estimate]
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
    owners = [sorted(set(label[r][real[r]].tolist())) for r in range(R)]
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
