"""The step-indexed training input: seqio Tasks/Mixtures → random-access documents → pack plan.

    plan = pack_plan_for("local_code", seq_len=512, seed=0)        # cached per arguments
    train_batches(...)       the contract of starjax.data.loader.train_batches, read in O(1)
    fingerprint(...)         what the batches depend on (recorded in checkpoints)
    step_rows(plan, step, global_batch_size)   → features and pieces of one global step

seqio stays the definition of the data: the task or mixture names the tasks, each task's
ParquetCodeSource names its files, language and row filter, its preprocessors carry the
metadata/FIM rates, its vocabulary tokenizes, and the mixture's rates set the schedule. Global
row g = step × global_batch_size + r is a pure function of (fingerprint, seed, g), so process p
of P reads rows [p·b, (p+1)·b) of each global batch and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Iterator

import numpy as np

from starjax.data import config, keyed_preprocessing, preprocessors, tasks
from starjax.data import tokenizer as tokenizer_lib
from starjax.data.errors import DataError
from starjax.data.pack_plan import (PackPlan, TaskData, TaskStream,  # noqa: F401
                                    fingerprint_changes)
from starjax.data.random_access import DocumentIndex, DocumentSource
from starjax.data.sources import ParquetCodeSource
from starjax.data.token_counts import TokenCounts

PIPELINE = "indexed/2"  # 2: exact document lengths (token_counts)
_LOOKAHEAD_TOKENS = 1 << 16  # tokens of this process's rows read (and tokenized) together
_lock = threading.RLock()
_plans: dict[tuple, PackPlan] = {}


def pack_plan_for(name: str, *, seq_len: int, seed: int) -> PackPlan:
  """The PackPlan of a registered task or mixture under the current gin config (cached)."""
  options = config.indexed_pipeline()
  paths = config.data_paths()
  key = (name, seq_len, seed, options, paths, config.stack_splits(), config.mixture_weighting(),
         config.code_preprocessing())
  with _lock:
    plan = _plans.get(key)
    if plan is None:
      plan = _plans[key] = _build(name, seq_len, seed, options, paths.cache_dir)
    return plan


def _build(name, seq_len, seed, options, cache_dir) -> PackPlan:
  tasks.register_tasks()
  provider = tasks.get(name)
  members = getattr(provider, "tasks", None)
  if members is None or not hasattr(provider, "get_rate"):
    members, rates = [provider], [1.0]
  else:
    rates = [float(provider.get_rate(t)) for t in members]
    members, rates = zip(*[(t, r) for t, r in zip(members, rates) if r > 0]) if any(
        r > 0 for r in rates) else ((), ())
  if not members:
    raise DataError(f"{name}: no task with a positive rate")
  data = [_task_data(t, seed, options, cache_dir) for t in members]
  return PackPlan(data, rates, seq_len=seq_len, rows_per_block=options.rows_per_block,
                  fill=options.fill)


def _task_data(task, seed: int, options, cache_dir: str) -> TaskData:
  source = task.source
  if not isinstance(source, ParquetCodeSource):
    raise DataError(f"{task.name}: its source is not a ParquetCodeSource; the indexed pipeline "
                    "reads parquet shards (set --gin.indexed_pipeline.enabled=False)")
  files, language, keep = source.row_selection("train")
  selection = f"{task.name}/train/validation_fraction={config.stack_splits()}"
  index = DocumentIndex.build_or_load(files, selection=selection, language=language, keep=keep,
                                      cache_dir=cache_dir)
  documents = DocumentSource(index, cached_chunks=options.window_chunks + 4)
  vocabulary = task.output_features["targets"].vocabulary
  rates = _rates(task)
  counts = TokenCounts.load(index, documents, vocabulary, cache_dir)
  stream = TaskStream(task.name, index, counts, rates=rates, seed=seed,
                      window_chunks=options.window_chunks)
  return TaskData(stream, documents, vocabulary, rates)


def _rates(task) -> keyed_preprocessing.Rates:
  """metadata/FIM rates from the task's own preprocessors (starjax's three, in order)."""
  steps = list(task.preprocessors)
  funcs = [getattr(p, "func", p) for p in steps]
  if funcs != [preprocessors.add_metadata, preprocessors.apply_fim,
               preprocessors.tokenize_with_eos]:
    raise DataError(f"{task.name}: preprocessors other than add_metadata → apply_fim → "
                    "tokenize_with_eos; the indexed pipeline applies only those (set "
                    "--gin.indexed_pipeline.enabled=False to use the tf.data pipeline)")
  meta, fim = steps[0].keywords, steps[1].keywords
  return keyed_preprocessing.Rates(meta.get("metadata_rate", 0.2), fim.get("fim_rate", 0.5),
                                   fim.get("spm_rate", 0.5))


def fingerprint(name: str, *, seq_len: int, global_batch_size: int, seed: int) -> dict:
  """What the training batches are a function of; `digest` hashes the rest."""
  plan = pack_plan_for(name, seq_len=seq_len, seed=seed)
  options = config.indexed_pipeline()
  per_task = {}
  for data, slots in zip(plan.tasks, plan.schedule.counts):
    per_task[data.stream.name] = {
        "store": data.stream.index.digest[:16], "documents": len(data.stream.index),
        "mixture_slots": f"{int(slots)}/{plan.schedule.period}",
        "metadata_rate": data.rates.metadata_rate, "fim_rate": data.rates.fim_rate,
        "spm_rate": data.rates.spm_rate,
        "tokenizer": tokenizer_lib.file_digest(data.vocabulary.tokenizer_path)[:16]}
  value = {"pipeline": PIPELINE, "mixture_or_task_name": name, "seq_len": seq_len,
           "global_batch_size": global_batch_size, "seed": seed,
           "rows_per_block": options.rows_per_block, "fill": options.fill,
           "window_chunks": options.window_chunks, "tasks": per_task}
  value["digest"] = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
  return value


def step_rows(plan: PackPlan, step: int, global_batch_size: int, *, shard_index: int = 0,
              num_shards: int = 1):
  """(features int32 [b, seq_len], pieces per row) of process shard_index's rows of `step`."""
  b = global_batch_size // num_shards
  return plan.rows(step * global_batch_size + shard_index * b, b)


def train_batches(name: str, *, seq_len: int, batch_size: int, seed: int = 0,
                  shard_index: int = 0, num_shards: int = 1,
                  start_batch: int = 0) -> Iterator[dict[str, np.ndarray]]:
  """starjax.data.loader.train_batches, step-indexed (see there for the arguments)."""
  if seq_len < 1:
    raise DataError(f"seq_len={seq_len}: must be positive (bind SEQ_LEN)")
  if not 0 <= shard_index < num_shards:
    raise DataError(f"shard_index={shard_index} is not in [0, num_shards={num_shards})")
  plan = pack_plan_for(name, seq_len=seq_len, seed=seed)
  global_batch = batch_size * num_shards
  # After the first, steps are read a few at a time, so that their documents are tokenized in
  # one batch (the first batch of a resumed run comes as soon as it can).
  ahead = max(1, -(-_LOOKAHEAD_TOKENS // (batch_size * seq_len)))
  reader = plan.start_read_ahead()
  try:
    step, count = start_batch, 1
    while True:
      ranges = [((s * global_batch + shard_index * batch_size), batch_size)
                for s in range(step, step + count)]
      for features, _ in plan.rows_many(ranges):
        yield features
      step, count = step + count, ahead
  finally:
    plan.stop_read_ahead(reader)
