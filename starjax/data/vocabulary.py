"""StarCoder's byte-level BPE as a seqio Vocabulary.

The `tokenizer.json` is loaded lazily, on first use, from a path or from a function that returns
one: tasks are registered before gin has decided the vocabulary size, and before the local
tokenizer is trained. Unlike seqio's default vocabularies, EOS is id 0 (as in StarCoder), which is
also seqio's padding id; `starjax.data.packing` deals with the consequences.
"""

from __future__ import annotations

import threading
from typing import Callable, Iterable, Sequence, Union

import numpy as np
import seqio
import tensorflow as tf
import tokenizers

from starjax.data import tokenizer as tokenizer_lib


class StarCoderVocabulary(seqio.Vocabulary):
  """A `tokenizers` byte-level BPE (StarCoder's special tokens at ids 0-18) for seqio.

  Args:
    tokenizer_path: a `tokenizer.json` path, or a function returning one (called once, lazily).
  """

  def __init__(self, tokenizer_path: Union[str, Callable[[], str]]):
    super().__init__(extra_ids=0)
    self._path_source = tokenizer_path
    self._path = None
    self._tokenizer = None
    self._lock = threading.Lock()

  @property
  def tokenizer_path(self) -> str:
    if self._path is None:
      source = self._path_source
      self._path = source() if callable(source) else source
    return self._path

  @property
  def tokenizer(self) -> tokenizers.Tokenizer:
    with self._lock:
      if self._tokenizer is None:
        self._tokenizer = tokenizer_lib.load_tokenizer(self.tokenizer_path)
      return self._tokenizer

  @property
  def eos_id(self) -> int:
    return tokenizer_lib.EOS_ID

  @property
  def bos_id(self) -> int:
    return tokenizer_lib.EOS_ID  # StarCoder: bos = eos = <|endoftext|>

  @property
  def unk_id(self):
    return None  # byte-level: every input is representable

  @property
  def _base_vocab_size(self) -> int:
    return self.tokenizer.get_vocab_size(with_added_tokens=True)

  def _encode(self, s: str) -> list[int]:
    return self.tokenizer.encode(s, add_special_tokens=False).ids

  def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of many texts at once (parallel in the Rust tokenizer, without the GIL)."""
    return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

  def _decode(self, ids: Iterable[int]) -> str:
    return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=False)

  def _encode_tf(self, s: tf.Tensor) -> tf.Tensor:
    """Scalar string → int32 [length]."""
    ids = tf.numpy_function(
        lambda b: np.asarray(self._encode(np.asarray(b).item().decode("utf-8")), np.int32), [s],
        tf.int32, stateful=False)
    ids.set_shape([None])
    return ids

  def _decode_tf(self, ids: tf.Tensor) -> tf.Tensor:
    """int32 [..., length] → string [...]."""
    def decode(array):
      flat = array.reshape(-1, array.shape[-1]) if array.ndim else array.reshape(1, 0)
      out = np.array([self._decode(row).encode("utf-8") for row in flat], dtype=object)
      return out.reshape(array.shape[:-1])
    text = tf.numpy_function(decode, [ids], tf.string, stateful=False)
    text.set_shape(ids.shape[:-1])
    return text

  def decode_tf(self, ids: tf.Tensor) -> tf.Tensor:
    """Decodes through the first EOS. seqio's version pads after EOS with id 0, which here is
    EOS itself and would decode to a run of `<|endoftext|>`; dropping instead."""
    def through_eos(array):
      flat = array.reshape(-1, array.shape[-1])
      rows = []
      for row in flat:
        stop = np.flatnonzero(row == self.eos_id)
        rows.append(self._decode(row[:stop[0] + 1] if stop.size else row).encode("utf-8"))
      return np.array(rows, dtype=object).reshape(array.shape[:-1])
    text = tf.numpy_function(through_eos, [ids], tf.string, stateful=False)
    text.set_shape(ids.shape[:-1])
    return text

  def __eq__(self, other) -> bool:
    if not isinstance(other, StarCoderVocabulary):
      return False
    return self is other or self.tokenizer_path == other.tokenizer_path

  def __hash__(self) -> int:
    return id(self)

  def __str__(self) -> str:
    path = self._path or "(not resolved yet)"
    return f"StarCoderVocabulary({path})"
