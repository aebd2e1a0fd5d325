"""Batches for the trainer: packed, deterministic, step-indexed.

    train_batches(name, seq_len=..., batch_size=..., seed=..., shard_index=..., num_shards=...,
                  start_batch=...)  → infinite iterator of dicts of int32 [batch, seq_len]
    validation_batches(name, ...)   → list of such dicts from the validation split
    vocab_size(name)                → the vocabulary size of a task or mixture

Each dict holds seqio DecoderFeatureConverter's five features (see `starjax.data.packing`).
The stream is a pure function of its arguments: batch i is always the same. By default
(`indexed_pipeline.enabled`) batches come from `starjax.data.indexed_loader`: batch i is read
directly (random-access documents, index-keyed shuffle/metadata/FIM, a pack plan), so resuming
at `start_batch` costs the same at any step, and rows [p·b, (p+1)·b) of the one-process global
batch of P·b rows are exactly what process p of P yields. With `indexed_pipeline.enabled=False`
the streaming tf.data pipeline is used: `start_batch` replays up to that batch (`tf.data` skip)
and each process reads its own files.
"""

from __future__ import annotations

import logging
from typing import Iterator

import numpy as np
import seqio
import tensorflow as tf

from starjax.data import config, indexed_loader, tasks
from starjax.data.errors import DataError
from starjax.data.packing import MODEL_FEATURES, EosZeroDecoderFeatureConverter

_VALIDATION_SEED = 0
# Bound at import: a generator closed during interpreter shutdown must not look up `tf`.
_OpError = tf.errors.OpError


def _dataset(name: str, *, split: str, seq_len: int, seed: int, shuffle: bool,
             shard_index: int, num_shards: int, num_epochs) -> tf.data.Dataset:
  if seq_len < 1:
    raise DataError(f"seq_len={seq_len}: must be positive (bind SEQ_LEN)")
  if not 0 <= shard_index < num_shards:
    raise DataError(f"shard_index={shard_index} is not in [0, num_shards={num_shards})")
  provider = _provider(name)
  if split not in provider.splits:
    raise DataError(f"{name} has no {split} split (a language with a single file holds none "
                    "out); validate on a mixture such as local_code")
  ds = provider.get_dataset(
      sequence_length={"targets": seq_len}, split=split, shuffle=shuffle, seed=seed,
      shard_info=seqio.ShardInfo(shard_index, num_shards) if num_shards > 1 else None,
      num_epochs=num_epochs, use_cached=False)
  ds = EosZeroDecoderFeatureConverter(pack=True)(ds, {"targets": seq_len})
  options = tf.data.Options()
  options.deterministic = True  # parallel stages must not reorder: batch i is a function of i
  return ds.with_options(options)


def _provider(name: str):
  """The registered task or mixture with its tokenizer loaded (the local one is trained on
  first use), so that a missing tokenizer is reported here rather than from a tf.data worker."""
  tasks.register_tasks()
  provider = tasks.get(name)
  provider.output_features["targets"].vocabulary.tokenizer  # pylint: disable=pointless-statement
  return provider


def _numpy_batches(ds: tf.data.Dataset, name: str) -> Iterator[dict[str, np.ndarray]]:
  try:
    for batch in ds.as_numpy_iterator():
      yield {k: np.asarray(batch[k], np.int32) for k in MODEL_FEATURES}
  except _OpError as e:
    # A DataError raised inside a tf.data generator arrives wrapped; keep its message.
    message = e.message.strip().splitlines()
    detail = next((l for l in reversed(message) if "DataError" in l), message[-1] if message
                  else str(e))
    raise DataError(f"{name}: the input pipeline failed: {detail}") from e


def train_batches(mixture_or_task_name: str, *, seq_len: int, batch_size: int, seed: int = 0,
                  shard_index: int = 0, num_shards: int = 1,
                  start_batch: int = 0) -> Iterator[dict[str, np.ndarray]]:
  """Packed training batches, repeating forever.

  Args:
    mixture_or_task_name: e.g. `local_code`, `stack_starcoderdata`, `local_python`.
    seq_len: tokens per row.
    batch_size: rows per batch on this process.
    seed: shuffling, mixing, metadata and FIM randomness.
    shard_index, num_shards: this process's share; each process reads its own files.
    start_batch: index of the first batch to yield (resume after a checkpoint).
  Yields:
    {feature: int32 [batch_size, seq_len]} for the five decoder features.
  """
  if batch_size < 1 or start_batch < 0:
    raise DataError(f"batch_size={batch_size} must be ≥ 1 and start_batch={start_batch} ≥ 0")
  if config.indexed_pipeline().enabled:
    yield from indexed_loader.train_batches(
        mixture_or_task_name, seq_len=seq_len, batch_size=batch_size, seed=seed,
        shard_index=shard_index, num_shards=num_shards, start_batch=start_batch)
    return
  ds = _dataset(mixture_or_task_name, split="train", seq_len=seq_len, seed=seed, shuffle=True,
                shard_index=shard_index, num_shards=num_shards, num_epochs=None)
  ds = ds.batch(batch_size, drop_remainder=True).skip(start_batch).prefetch(2)
  produced = 0
  for batch in _numpy_batches(ds, mixture_or_task_name):
    produced += 1
    yield batch
  raise DataError(f"{mixture_or_task_name}: the training stream ended after {produced} batches; "
                  "its data yields no examples (see the warnings about skipped rows above)")


def data_fingerprint(mixture_or_task_name: str, *, seq_len: int, global_batch_size: int,
                     seed: int = 0) -> dict | None:
  """What train_batches' stream is a function of (None for the tf.data pipeline, which
  records nothing beyond its arguments); see indexed_loader.fingerprint."""
  if not config.indexed_pipeline().enabled:
    return None
  return indexed_loader.fingerprint(mixture_or_task_name, seq_len=seq_len,
                                    global_batch_size=global_batch_size, seed=seed)


def validation_batches(mixture_or_task_name: str, *, seq_len: int, batch_size: int,
                       num_batches: int, shard_index: int = 0,
                       num_shards: int = 1) -> list[dict[str, np.ndarray]]:
  """`num_batches` packed batches from the validation split, the same on every call.

  If the split holds fewer, it is cycled (with a warning) so that the count is always met.
  Returns:
    A list of {feature: int32 [batch_size, seq_len]}.
  """
  if num_batches < 1 or batch_size < 1:
    raise DataError(f"num_batches={num_batches} and batch_size={batch_size} must be ≥ 1")
  common = dict(split="validation", seq_len=seq_len, seed=_VALIDATION_SEED, shuffle=False,
                shard_index=shard_index, num_shards=num_shards)
  one_pass = _dataset(mixture_or_task_name, num_epochs=1, **common)
  batches = list(_numpy_batches(
      one_pass.batch(batch_size, drop_remainder=True).take(num_batches), mixture_or_task_name))
  if len(batches) < num_batches:
    logging.warning("%s: the validation split holds %d batches of %dx%d, cycling it for %d",
                    mixture_or_task_name, len(batches), batch_size, seq_len, num_batches)
    cycled = _dataset(mixture_or_task_name, num_epochs=None, **common)
    batches = list(_numpy_batches(
        cycled.batch(batch_size, drop_remainder=True).take(num_batches), mixture_or_task_name))
  if len(batches) < num_batches:
    raise DataError(f"{mixture_or_task_name}: the validation split yields no examples")
  return batches


def vocab_size(mixture_or_task_name: str) -> int:
  """Size of the vocabulary (tokenizer) of a task or mixture."""
  provider = _provider(mixture_or_task_name)
  return provider.output_features["targets"].vocabulary.vocab_size
