"""A seqio DataSource over parquet shards in The Stack's schema (local corpus or The Stack).

Each shard file is streamed by `starjax.data.shards` inside a `tf.data` generator; files are
shuffled (seeded) and interleaved. With several processes, each reads its own subset of files
(`shard_info`); seqio falls back to sharding rows when a language has fewer files than processes.
"""

from __future__ import annotations

import collections
from typing import Callable, Mapping, Optional, Sequence

import numpy as np
import seqio
import tensorflow as tf

from starjax.data import shards
from starjax.data.errors import DataError

OUTPUT_SIGNATURE = {
    "content": tf.TensorSpec([None], tf.string),
    "max_stars_repo_name": tf.TensorSpec([None], tf.string),
    "max_stars_repo_path": tf.TensorSpec([None], tf.string),
    "max_stars_count": tf.TensorSpec([None], tf.int64),
}
_CYCLE_LENGTH = 4  # files read at once per task: bounds memory, mixes neighbouring documents


class ParquetCodeSource(seqio.DataSource):
  """Documents of one language from parquet shards.

  Args:
    description: shown in errors, e.g. "local corpus /path (python)".
    files: {split: shard paths}, or a function returning it (resolved on first use).
    language: if set, keep only rows whose `lang` column equals it (shared multi-language files).
    row_filters: {split: predicate on (repository, path)} for splits carved out of the same files
      by hashing (The Stack's validation split); splits without one take every row.
    shuffle_buffer_size: documents in the shuffle buffer (after the file shuffle), when
      shuffling. The source shuffles; its task does not (it would shuffle tokenized pieces).
  """

  def __init__(self, description: str,
               files: Mapping[str, Sequence[str]] | Callable[[], Mapping[str, Sequence[str]]],
               language: Optional[str] = None,
               row_filters: Optional[Mapping[str, Callable[[str, str], bool]]] = None,
               shuffle_buffer_size: int = 1000):
    self._description = description
    self._files_source = files
    self._files = None
    self._language = language
    self._row_filters = dict(row_filters or {})
    self._shuffle_buffer_size = shuffle_buffer_size
    # Only splits with files exist: a language with a single local file has no validation
    # split, and mixtures skip it there instead of failing.
    splits = ("train", "validation") if callable(files) else tuple(
        split for split in ("train", "validation") if files.get(split))
    super().__init__(splits=splits, caching_permitted=False, performs_internal_shuffling=True)

  @property
  def supports_arbitrary_sharding(self) -> bool:
    return False

  def row_selection(self, split: str) -> tuple[list[str], Optional[str],
                                               Optional[Callable[[str, str], bool]]]:
    """(files, language, row filter) of a split: what random access indexes (same rows as
    get_dataset reads)."""
    return list(self.list_shards(split)), self._language, self._row_filters.get(split)

  def list_shards(self, split: str) -> Sequence[str]:
    if self._files is None:
      source = self._files_source
      self._files = {k: list(v) for k, v in (source() if callable(source) else source).items()}
    return self._files.get(split, [])

  def get_dataset(self, split: str = "train", shuffle: bool = True, seed: Optional[int] = None,
                  shard_info: Optional[seqio.ShardInfo] = None, *, sequence_length=None,
                  use_cached=False, num_epochs=1) -> tf.data.Dataset:
    del sequence_length, use_cached, num_epochs  # not ours to handle
    files = list(self.list_shards(split))
    if not files:
      raise DataError(f"{self._description}: no shard files for split '{split}'")
    if shard_info is not None:
      files = files[shard_info.index::shard_info.num_shards]
      if not files:
        raise DataError(f"{self._description}: no files for process {shard_info.index} of "
                        f"{shard_info.num_shards}")
    for path in files:
      shards.open_shard(path)  # fail early, in Python, with the file's name
    files_ds = tf.data.Dataset.from_tensor_slices(np.array(files, dtype=object).astype(bytes))
    if shuffle:
      files_ds = files_ds.shuffle(len(files), seed=seed)
    keep = self._row_filters.get(split)
    language = self._language

    def read(path: bytes):
      path = path.decode()
      counts = collections.Counter()
      for batch in shards.iter_documents(path, language=language, keep=keep, counts=counts):
        yield {"content": batch.content, "max_stars_repo_name": batch.repo,
               "max_stars_repo_path": batch.path,
               "max_stars_count": np.asarray(batch.stars, np.int64)}
      usable = counts.pop("usable", 0)
      if usable == 0 and counts:  # rows were there, none of them usable: wrong data
        raise DataError(f"{path}: every row was skipped ({dict(counts)}); is this the right "
                        "data?")

    ds = files_ds.interleave(
        lambda path: tf.data.Dataset.from_generator(read, args=(path,),
                                                    output_signature=OUTPUT_SIGNATURE),
        # Sequential: reading is cheap, and parallel interleave would prefetch from every file
        # of every task of a mixture at once.
        cycle_length=min(len(files), _CYCLE_LENGTH), block_length=1)
    ds = ds.unbatch()
    if shuffle:
      ds = ds.shuffle(self._shuffle_buffer_size, seed=seed)
    return ds
