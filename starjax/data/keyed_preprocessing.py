"""StarCoder's metadata and FIM transforms with randomness keyed by (key, document index), and
token sequences whose length is known before they are tokenized.

The same transformations as `starjax.data.preprocessors` (the tf.data pipeline), on Python
strings: metadata fields each with probability `metadata_rate` (`<reponame>`, `<filename>`,
`<gh_stars>`, then a newline if any), then, with probability `fim_rate`, a character-level FIM
split at two uniform positions, SPM with probability `spm_rate`, laid out by
`starjax.tokens.fim_parts`. Every random choice is `keyed_uniform(key, doc, stream)` with `key`
derived from (seed, task, epoch): the same document in the same epoch is always transformed the
same way, whatever the number of processes or where the run was resumed. Literal special-token
strings in a document are text, as in the tf.data pipeline (preprocessors.TEXT_MARK).

Exact lengths, so a pack plan can be exact without tokenizing every epoch (`planned_lengths`):
- a document without FIM is its metadata fields, the newline and its content, each tokenized on
  its own, then <|endoftext|>: its length is the sum of per-document counts (token_counts).
- a FIM document's pieces P, S, M are tokenized after the split, which can cost or save a token
  or two where a split cuts a token. As in BigCode's Megatron FIM (the published training), the
  example keeps the unsplit length plus the three FIM tokens: the suffix gives up its last
  tokens (then the middle, then the prefix) when longer, and is padded with <fim_pad> when
  shorter. `encode` counts both (a small fraction of a token per document).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from starjax.data import piece_tokens
from starjax.data.errors import DataError
from starjax.data.index_shuffle import keyed_uniform
from starjax.data.preprocessors import TEXT_MARK, encode_marked, mark_special_text
from starjax.tokens import (EOS_ID, FILENAME, FIM_MIDDLE_ID, FIM_PAD_ID, FIM_PREFIX_ID,
                            FIM_SUFFIX_ID, GH_STARS, REPONAME, fim_parts)

_STAR_EDGES = (1, 10, 100, 1000)
_STAR_NAMES = ("0", "1-10", "10-100", "100-1000", "1000+")
# Streams of keyed_uniform: three metadata fields, FIM or not, SPM or PSM, two split points.
_REPO, _PATH, _STARS, _FIM, _SPM, _POINT_A, _POINT_B = range(7)
FIM_CONTROL_TOKENS = 3
_EOS = np.array([EOS_ID], np.int32)
# Texts up to this many characters (metadata fields, the ends of FIM pieces) are tokenized one by
# one on the calling thread: a batch call queues behind the read-ahead's batch in the Rust
# tokenizer's thread pool, which stalled the consumer for the length of that batch.
_SMALL_TEXT = 4096


@dataclasses.dataclass(frozen=True)
class Rates:
  metadata_rate: float = 0.2
  fim_rate: float = 0.5
  spm_rate: float = 0.5


def stars_bucket(stars: int) -> str:
  """GitHub stars → StarCoder's bucket (negative = unknown → "0")."""
  return _STAR_NAMES[stars_index(stars)]


def stars_index(stars: int) -> int:
  return sum(stars >= e for e in _STAR_EDGES)


@dataclasses.dataclass(frozen=True)
class FieldTokens:
  """Token counts that do not depend on the document: the newline, `<gh_stars>` + each bucket."""
  newline: int
  stars: np.ndarray  # int64 [5]

  @classmethod
  def of(cls, vocabulary) -> "FieldTokens":
    ids = vocabulary.encode_batch(["\n"] + [GH_STARS + b for b in _STAR_NAMES])
    return cls(len(ids[0]), np.array([len(x) for x in ids[1:]], np.int64))


@dataclasses.dataclass
class Choices:
  """The keyed choices for documents `ids` under `key`: bool/float arrays [len(ids)]."""
  fields: np.ndarray  # bool [n, 3]: repo, path, stars
  fim: np.ndarray
  spm: np.ndarray
  point_a: np.ndarray
  point_b: np.ndarray

  @classmethod
  def of(cls, key: int, doc_ids, rates: Rates) -> "Choices":
    ids = np.asarray(doc_ids, np.int64)
    u = lambda s: keyed_uniform(key, ids, s)
    fields = np.stack([u(s) < rates.metadata_rate for s in (_REPO, _PATH, _STARS)], axis=1)
    return cls(fields, u(_FIM) < rates.fim_rate, u(_SPM) < rates.spm_rate, u(_POINT_A),
               u(_POINT_B))


def _fields(doc) -> tuple[str, str, str]:
  return (REPONAME + mark_special_text(doc.repo), FILENAME + mark_special_text(doc.path),
          GH_STARS + stars_bucket(doc.stars))


def _fim_bounds(n: int, a: float, b: float) -> tuple[int, int]:
  """The two split positions of a text of n characters (code points, as the published FIM
  and tf's UTF8_CHAR count)."""
  low, high = sorted(min(int(u * (n + 1)), n) for u in (a, b))
  return low, high


def _fim_split(text: str, a: float, b: float) -> tuple[str, str, str]:
  """(prefix, middle, suffix) of `text` at two uniform character positions."""
  low, high = _fim_bounds(len(text), a, b)
  return text[:low], text[low:high], text[high:]


def _marked_text(doc, chosen: np.ndarray) -> str:
  header = "".join(f for f, keep in zip(_fields(doc), chosen) if keep)
  content = mark_special_text(doc.content)
  return f"{header}\n{content}" if header else content


def transform(documents: Sequence, doc_ids: Sequence[int], key: int, rates: Rates) -> list[str]:
  """The training texts of `documents` (random_access.Document) with indices `doc_ids`."""
  c = Choices.of(key, doc_ids, rates)
  texts = []
  for i, doc in enumerate(documents):
    text = _marked_text(doc, c.fields[i])
    if c.fim[i]:
      prefix, middle, suffix = _fim_split(text, c.point_a[i], c.point_b[i])
      text = "".join(fim_parts(prefix, suffix, middle, spm=bool(c.spm[i])))
    texts.append(text.replace(TEXT_MARK, ""))
  return texts


def count_tokens(documents: Sequence, vocabulary, sync: bool | Sequence[bool] = True):
  """Per document: its content's piece_tokens.Tokenized (ids, and sync points where `sync`,
  one flag or one per document, asks: FIM documents need them) and the token counts of its `<reponame>` and `<filename>` fields and its stars bucket
  (int32/int32/int8 arrays)."""
  n = len(documents)
  content = piece_tokens.tokenize_contents(
      vocabulary, [mark_special_text(d.content) for d in documents], sync=sync)
  ids = encode_texts(vocabulary, [f for d in documents for f in _fields(d)[:2]])
  fields = np.array([len(x) for x in ids], np.int32).reshape(n, 2)
  stars = np.array([stars_index(d.stars) for d in documents], np.int8)
  return content, (fields[:, 0], fields[:, 1], stars)


def planned_lengths(doc_ids, key: int, rates: Rates, counts) -> np.ndarray:
  """int64 [len(doc_ids)]: the exact tokens `encode` gives each document (EOS included), from
  token_counts.TokenCounts `counts` (which must hold these documents)."""
  ids = np.asarray(doc_ids, np.int64)
  c = Choices.of(key, ids, rates)
  field_tokens = np.stack([counts.repo[ids], counts.path_tokens[ids],
                           counts.fields.stars[counts.stars[ids]]], axis=1).astype(np.int64)
  header = (field_tokens * c.fields).sum(axis=1) + c.fields.any(axis=1) * counts.fields.newline
  return header + counts.content[ids] + c.fim * FIM_CONTROL_TOKENS + 1


def encode_texts(vocabulary, texts: Sequence[str]) -> list[list[int]]:
  """preprocessors.encode_marked of `texts`: the long ones in one batch call (parallel in the
  Rust tokenizer), the short ones one by one."""
  out: list = [None] * len(texts)
  large = [i for i, t in enumerate(texts) if len(t) > _SMALL_TEXT]
  if large:
    for i, t in zip(large, piece_tokens.tokenize_contents(vocabulary, [texts[i] for i in large],
                                                          sync=False)):
      out[i] = t.ids.tolist()
  tokenizer = vocabulary.tokenizer
  for i, t in enumerate(texts):
    if out[i] is None:
      out[i] = [x for part in t.split(TEXT_MARK)
                for x in tokenizer.encode(part, add_special_tokens=False).ids]
  return out


@dataclasses.dataclass
class FitStats:
  """Tokens the FIM length rule took from suffixes (trimmed) or added as <fim_pad> (padded)."""
  trimmed: int = 0
  padded: int = 0
  fim_documents: int = 0


def encode(documents: Sequence, doc_ids: Sequence[int], key: int, rates: Rates, vocabulary,
           lengths: np.ndarray, *, content_ids=None, stats: FitStats | None = None
           ) -> list[np.ndarray]:
  """Token ids (int32, ending in <|endoftext|>) of each document, exactly `lengths[i]` long.

  Args:
    documents, doc_ids: the documents and their indices.
    key, rates: the keyed choices (as `transform`).
    lengths: planned_lengths of these documents.
    content_ids: optional function doc id → its content's piece_tokens.Tokenized (already
      tokenized) or None; a FIM document's pieces then tokenize only near their ends.
    stats: where to add what the FIM length rule trimmed and padded.
  """
  c = Choices.of(key, doc_ids, rates)
  stats = stats if stats is not None else FitStats()
  texts, slots = [], []  # what to tokenize, and per document where its pieces are in `texts`

  def add(text: str) -> int:
    texts.append(text)
    return len(texts) - 1

  newline = add("\n")
  for i, (doc, d) in enumerate(zip(documents, doc_ids)):
    known = content_ids(int(d)) if content_ids else None
    if c.fim[i]:
      text = _marked_text(doc, c.fields[i])
      low, high = _fim_bounds(len(text), c.point_a[i], c.point_b[i])
      offset = len(text) - len(doc.content)
      if known is None or TEXT_MARK in text or text[offset:] != doc.content:
        known = None  # marked text or no ids: tokenize the three pieces themselves
      plans = [piece_tokens.piece_plan(text, offset, x, y, known)
               for x, y in ((0, low), (low, high), (high, len(text)))]
      slots.append((known, [(p, [add(w) for w in piece_tokens.windows(p)]) for p in plans]))
    else:
      fields = [add(f) for f, keep in zip(_fields(doc), c.fields[i]) if keep]
      slots.append((fields, known.ids if known is not None
                    else add(mark_special_text(doc.content))))
  ids = encode_texts(vocabulary, texts)
  out = []
  for i, slot in enumerate(slots):
    if c.fim[i]:
      stats.fim_documents += 1
      known, plans = slot
      prefix, middle, suffix = (piece_tokens.assemble(p, [ids[w] for w in where], known)
                                for p, where in plans)
      excess = (len(prefix) + len(middle) + len(suffix) + FIM_CONTROL_TOKENS + 1
                - int(lengths[i]))
      pad = max(0, -excess)
      stats.padded += pad
      stats.trimmed += max(0, excess)
      suffix = np.concatenate([suffix, np.full(pad, FIM_PAD_ID, np.int32)])
      for piece in ("suffix", "middle", "prefix"):  # BigCode's order: the suffix gives first
        if excess <= 0:
          break
        tokens = {"suffix": suffix, "middle": middle, "prefix": prefix}[piece]
        cut = min(excess, len(tokens))
        tokens = tokens[:len(tokens) - cut]
        excess -= cut
        if piece == "suffix":
          suffix = tokens
        elif piece == "middle":
          middle = tokens
        else:
          prefix = tokens
      if c.spm[i]:
        parts = [[FIM_PREFIX_ID, FIM_SUFFIX_ID], suffix, [FIM_MIDDLE_ID], prefix, middle]
      else:
        parts = [[FIM_PREFIX_ID], prefix, [FIM_SUFFIX_ID], suffix, [FIM_MIDDLE_ID], middle]
    else:
      fields, content = slot
      parts = [ids[f] for f in fields] + ([ids[newline]] if fields else [])
      parts.append(ids[content] if isinstance(content, int) else content)
    row = np.concatenate([np.asarray(x, np.int32) for x in parts] + [_EOS])
    if len(row) != int(lengths[i]):
      raise DataError(f"document {doc_ids[i]}: {len(row)} tokens where its token counts plan "
                      f"{lengths[i]}: the cached counts do not match the data; delete "
                      "random_access/*.tokens-*.npz under data_paths.cache_dir to recount")
    out.append(row)
  return out
