"""Token ids of a piece of a text from the ids of the whole, tokenizing only near its ends.

    tokenized = tokenize_contents(vocabulary, texts)       # ids + sync points of each text
    plan = piece_plan(text, offset, x, y, tokenized)       # text[x:y], content at text[offset:]
    ids = assemble(plan, encoded_windows, tokenized)       # == tokenizing text[x:y] itself

A FIM document is tokenized as three pieces cut at arbitrary characters, but its content was
just tokenized whole to count it; tokenizing it again doubled the first epoch's work for half
the documents. For StarCoder's tokenizer (no normalizer; individual digits, then GPT-2's
byte-level regex; BPE within each pre-token) a position j whose previous character is "\\n"
and whose own is printable ASCII is a pre-token boundary in any substring that holds both
characters: "\\n" can only be in a whitespace match, and that match cannot take in a
non-space character. Left of such a boundary the regex never looks past character j, right of
it matching depends only on what follows; so the tokens between two such sync points are the
whole text's tokens between them, and a piece is [tokens of text[x:sL+1] but its last, which is
the lone character at sL] + whole[sL:sR] + [tokens of text[sR:y]]. Any other tokenizer shape
(checked from the tokenizer file) tokenizes pieces directly.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from typing import Sequence

import numpy as np

from starjax.data.preprocessors import TEXT_MARK, encode_marked

# The character after "\n" must be a non-space the regex's \S and \s agree on everywhere.
_SYNC = re.compile(r"\n[!-~]")
_MIN_GAP = 48  # characters between kept sync points: fewer lookups, windows still short
_NO_SYNC = np.zeros(0, np.int64)


@dataclasses.dataclass
class Tokenized:
  """A text's token ids (int32 [n]) and its sync points: character positions (int64 [k]) and
  the index of the token that starts at each (int64 [k])."""
  ids: np.ndarray
  sync_chars: np.ndarray = dataclasses.field(default_factory=lambda: _NO_SYNC)
  sync_tokens: np.ndarray = dataclasses.field(default_factory=lambda: _NO_SYNC)


@functools.lru_cache(maxsize=None)
def supported(tokenizer_path: str) -> bool:
  """Whether the tokenizer file has the shape the sync-point argument holds for."""
  try:
    with open(tokenizer_path) as f:
      spec = json.load(f)
  except (OSError, ValueError):
    return False
  pre = spec.get("pre_tokenizer") or {}
  steps = pre.get("pretokenizers") if pre.get("type") == "Sequence" else [pre]
  steps = list(steps or [])
  if steps and steps[0].get("type") == "Digits":
    if not steps[0].get("individual_digits"):
      return False
    steps = steps[1:]
  byte_level = (len(steps) == 1 and steps[0].get("type") == "ByteLevel"
                and steps[0].get("use_regex", True) and not steps[0].get("add_prefix_space"))
  model = spec.get("model") or {}
  return (byte_level and spec.get("normalizer") is None and model.get("type") == "BPE"
          and model.get("dropout") in (None, 0, 0.0))


def tokenize_contents(vocabulary, texts: Sequence[str],
                      sync: bool | Sequence[bool] = True) -> list[Tokenized]:
  """Each text's ids as preprocessors.encode_marked gives them, with sync points for the texts
  `sync` selects (one flag, or one per text) that hold no TEXT_MARK, when the tokenizer is
  supported."""
  flags = [bool(sync)] * len(texts) if isinstance(sync, bool) else [bool(f) for f in sync]
  if not supported(vocabulary.tokenizer_path):
    flags = [False] * len(texts)
  out: list[Tokenized | None] = [None] * len(texts)
  marked = [i for i, t in enumerate(texts) if TEXT_MARK in t]
  if marked:
    for i, ids in zip(marked, encode_marked(vocabulary, [texts[i] for i in marked])):
      out[i] = Tokenized(np.asarray(ids, np.int32))
  tokenizer = vocabulary.tokenizer
  for with_sync in (True, False):
    chosen = [i for i, t in enumerate(texts) if out[i] is None and flags[i] == with_sync]
    if not chosen:
      continue
    # Without sync points no offsets are needed: the tokenizer's faster call (same ids).
    encode = (tokenizer.encode_batch if with_sync
              else getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch))
    for i, e in zip(chosen, encode([texts[i] for i in chosen], add_special_tokens=False)):
      out[i] = _with_sync(texts[i], e) if with_sync else Tokenized(np.asarray(e.ids, np.int32))
  return out


def _with_sync(text: str, encoding) -> Tokenized:
  chars, tokens, last = [], [], -_MIN_GAP
  for m in _SYNC.finditer(text):
    j = m.start() + 1
    if j - last < _MIN_GAP:
      continue
    t = encoding.char_to_token(j)
    # The token holding j must start there (it does, by the argument above; a tokenizer that
    # disagrees only loses this sync point).
    if t is not None and encoding.token_to_chars(t)[0] == j:
      chars.append(j)
      tokens.append(t)
      last = j
  return Tokenized(np.asarray(encoding.ids, np.int32), np.asarray(chars, np.int64),
                   np.asarray(tokens, np.int64))


@dataclasses.dataclass(frozen=True)
class PiecePlan:
  """text[x:y] as: tokens of `left` without its last, whole ids [start, stop), tokens of
  `right`; or, when no two sync points fall inside, `left` = text[x:y] tokenized whole."""
  left: str
  start: int = 0
  stop: int = 0
  right: str | None = None


def piece_plan(text: str, offset: int, x: int, y: int, tokenized: Tokenized | None) -> PiecePlan:
  """How to get the ids of text[x:y] when text[offset:] is the content `tokenized` holds."""
  if tokenized is not None and len(tokenized.sync_chars) and y - x >= 2:
    chars = tokenized.sync_chars + offset
    first = int(np.searchsorted(chars, x + 1, side="left"))
    last = int(np.searchsorted(chars, y - 1, side="right")) - 1
    if first <= last:
      left_end, right_start = int(chars[first]), int(chars[last])
      return PiecePlan(text[x:left_end + 1], int(tokenized.sync_tokens[first]),
                       int(tokenized.sync_tokens[last]), text[right_start:y])
  return PiecePlan(text[x:y])


def windows(plan: PiecePlan) -> list[str]:
  """The texts to tokenize for `plan` (one or two)."""
  return [plan.left] if plan.right is None else [plan.left, plan.right]


def assemble(plan: PiecePlan, encoded: Sequence[Sequence[int]],
             tokenized: Tokenized | None) -> np.ndarray:
  """text[x:y]'s ids (int32) from `plan` and the ids of its windows (in `windows` order)."""
  if plan.right is None:
    return np.asarray(encoded[0], np.int32)
  left, right = encoded
  return np.concatenate([np.asarray(left[:-1], np.int32), tokenized.ids[plan.start:plan.stop],
                         np.asarray(right, np.int32)])
