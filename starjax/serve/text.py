"""Streaming text from tokens: UTF-8-safe incremental detokenisation and stop strings that
may span token boundaries.

A byte-level BPE token can end in the middle of a UTF-8 character (an emoji is often three
tokens); decoding such a prefix gives U+FFFD. IncrementalDetokenizer releases text only once
it decodes cleanly (text-generation-inference's prefix/read offsets, so each token costs a
short decode, not the whole sequence). StopMatcher holds back the tail of the text that could
still become a stop string, so a stream never shows text that the final answer cuts.
"""

from __future__ import annotations

from typing import Callable, Sequence

REPLACEMENT = "\ufffd"


class IncrementalDetokenizer:
  """push(token id) → the new text it completes ('' while a character is still partial)."""

  def __init__(self, decode: Callable[[Sequence[int]], str]):
    self._decode = decode
    self.ids: list[int] = []
    self._prefix = 0   # ids[_prefix:_read] decode to text already released (context)
    self._read = 0

  def push(self, token_id: int) -> str:
    self.ids.append(token_id)
    before = self._decode(self.ids[self._prefix:self._read])
    after = self._decode(self.ids[self._prefix:])
    if len(after) > len(before) and not after.endswith(REPLACEMENT):
      self._prefix, self._read = self._read, len(self.ids)
      return after[len(before):]
    return ""

  def flush(self) -> str:
    """Whatever is still held back (a partial character at the end decodes as U+FFFD)."""
    before = self._decode(self.ids[self._prefix:self._read])
    after = self._decode(self.ids[self._prefix:])
    self._prefix = self._read = len(self.ids)
    return after[len(before):]


class StopMatcher:
  """Finds the earliest stop string in growing text and says how much is safe to show."""

  def __init__(self, stops: Sequence[str]):
    self.stops = tuple(s for s in stops if s)

  def find(self, text: str, since: int = 0) -> int:
    """Index of the earliest stop string in text (searching from near `since`), or -1."""
    longest = max((len(s) for s in self.stops), default=0)
    start = max(0, since - longest + 1)
    hits = [i for i in (text.find(s, start) for s in self.stops) if i >= 0]
    return min(hits) if hits else -1

  def safe_length(self, text: str) -> int:
    """How much of text (with no stop string in it) can be shown: all but a tail that is the
    beginning of some stop string."""
    held = 0
    for stop in self.stops:
      for k in range(min(len(stop) - 1, len(text)), held, -1):
        if text.endswith(stop[:k]):
          held = k
          break
    return len(text) - held
