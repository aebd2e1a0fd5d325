"""What the training loop reads: batch sources, the data's tokenizer, and a prefetcher that
keeps the input pipeline ahead of the device."""

from __future__ import annotations

import queue
import threading
from typing import Callable, Iterator

# batch_source(name, seq_len=, batch_size=, seed=, shard_index=, num_shards=, start_batch=)
BatchSource = Callable[..., Iterator[dict]]


def seqio_batches(name: str, **kwargs) -> Iterator[dict]:
  """The default batch source: starjax.data's packed seqio pipeline."""
  from starjax.data import loader  # pylint: disable=import-outside-toplevel
  return loader.train_batches(name, **kwargs)


def _seqio_fingerprint(name: str, **kwargs) -> dict | None:
  from starjax.data import loader  # pylint: disable=import-outside-toplevel
  return loader.data_fingerprint(name, **kwargs)


# What the stream is a function of (seq_len=, global_batch_size=, seed=); recorded in
# checkpoints and checked on resume (starjax.train.provenance).
seqio_batches.fingerprint = _seqio_fingerprint


def seqio_validation_batches(name: str, **kwargs) -> list[dict]:
  from starjax.data import loader  # pylint: disable=import-outside-toplevel
  return loader.validation_batches(name, **kwargs)


def seqio_tokenizer_path(name: str) -> str | None:
  """The tokenizer.json behind a seqio task or mixture (None if it has no such file)."""
  from starjax.data import tasks  # pylint: disable=import-outside-toplevel
  tasks.register_tasks()
  vocabulary = tasks.get(name).output_features["targets"].vocabulary
  return getattr(vocabulary, "tokenizer_path", None)


class Prefetcher:
  """Runs the input pipeline (and host→device transfer) in a thread, `depth` batches ahead.

  close() stops the thread and closes the source iterator, so that a tf.data pipeline is torn
  down while the interpreter is still whole.
  """

  def __init__(self, iterator: Iterator[dict], convert: Callable[[dict], dict], depth: int = 2):
    self._iterator = iterator
    self._queue: queue.Queue = queue.Queue(maxsize=depth)
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._work, args=(convert,), daemon=True,
                                    name="starjax-prefetch")
    self._thread.start()

  def _work(self, convert):
    try:
      for item in self._iterator:
        if not self._put(convert(item)):
          break
      else:
        self._put(RuntimeError("the batch source ended; training needs an infinite stream "
                               "(starjax.data.loader.train_batches repeats its data)"))
    except BaseException as e:  # surfaced in the training thread
      self._put(e)
    finally:
      close = getattr(self._iterator, "close", None)
      if close is not None:
        close()

  def _put(self, item) -> bool:
    while not self._stop.is_set():
      try:
        self._queue.put(item, timeout=0.1)
        return True
      except queue.Full:
        continue
    return False

  def __iter__(self):
    return self

  def __next__(self) -> dict:
    item = self._queue.get()
    if isinstance(item, BaseException):
      raise item
    return item

  def close(self) -> None:
    self._stop.set()
    while self._thread.is_alive():
      try:
        self._queue.get(timeout=0.1)
      except queue.Empty:
        pass
