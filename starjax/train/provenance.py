"""Where a training batch came from: the data fingerprint a run resumes against, and per logged
step the global sample-id range and a hash of the global batch (in metrics.jsonl).

    fingerprint = data_fingerprint(batch_source, name, seq_len=, global_batch_size=, seed=)
    check_resume(meta, fingerprint, allow_data_change=False)   # refuses what changed
    digests = row_digests(numpy_batch)                          # uint8 [rows, 16], per process
    batch_provenance(batch_index, global_batch_size, digests)   # sample-id range, batch_hash

The batch hash is a hash of the row hashes in global row order (process p holds rows
[p·b, (p+1)·b)), so it is the same for 1, 2 or 4 processes reading the same global batch.
"""

from __future__ import annotations

import hashlib

import numpy as np

from starjax.tokens import DECODER_FEATURES

_DIGEST_BYTES = 16


class DataFingerprintMismatch(ValueError):
  """Resuming on data other than the checkpoint's (exit 2: opt in or restore the data)."""


def data_fingerprint(batch_source, name: str, *, seq_len: int, global_batch_size: int,
                     seed: int) -> dict | None:
  """The source's fingerprint of its stream (None when the source offers none, e.g. tests'
  synthetic batches): `batch_source.fingerprint(name, seq_len=, global_batch_size=, seed=)`."""
  fingerprint = getattr(batch_source, "fingerprint", None)
  if fingerprint is None:
    return None
  return fingerprint(name, seq_len=seq_len, global_batch_size=global_batch_size, seed=seed)


def check_resume(meta: dict, fingerprint: dict | None, *, allow_data_change: bool) -> None:
  """Raises DataFingerprintMismatch, naming every changed setting, when the checkpoint's
  recorded data fingerprint differs from the current one (unless allow_data_change)."""
  recorded = meta.get("data_fingerprint")
  if recorded is None or fingerprint is None or allow_data_change:
    return
  if recorded.get("digest") == fingerprint.get("digest"):
    return
  from starjax.data.pack_plan import fingerprint_changes  # pylint: disable=import-outside-toplevel
  changes = fingerprint_changes(recorded, fingerprint) or ["digest"]
  raise DataFingerprintMismatch(
      f"the checkpoint at step {meta.get('step')} was trained on other data than this run would "
      f"read from its step on: {'; '.join(changes[:8])}"
      f"{' …' if len(changes) > 8 else ''}. Restore the data/settings, or continue on the new "
      "data with --gin.train.allow_data_change=True")


def row_digests(batch: dict) -> np.ndarray:
  """uint8 [rows, 16]: a blake2b digest of each row's five decoder features."""
  rows = next(iter(batch.values())).shape[0]
  out = np.zeros((rows, _DIGEST_BYTES), np.uint8)
  arrays = [np.ascontiguousarray(np.asarray(batch[k], np.int32)) for k in DECODER_FEATURES]
  for r in range(rows):
    h = hashlib.blake2b(digest_size=_DIGEST_BYTES)
    for a in arrays:
      h.update(a[r].tobytes())
    out[r] = np.frombuffer(h.digest(), np.uint8)
  return out


def global_row_digests(local: np.ndarray) -> np.ndarray:
  """All processes' row digests in global row order (a collective when there are several)."""
  import jax  # pylint: disable=import-outside-toplevel
  if jax.process_count() == 1:
    return local
  from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel
  gathered = np.asarray(multihost_utils.process_allgather(local))
  return gathered.reshape(-1, local.shape[-1])


def batch_provenance(batch_index: int, global_batch_size: int, digests: np.ndarray) -> dict:
  """{"first_sample_id", "last_sample_id": global row ids (inclusive), "batch_hash": hex} of
  batch `batch_index` (the data position it was read at)."""
  first = batch_index * global_batch_size
  return {"first_sample_id": first, "last_sample_id": first + global_batch_size - 1,
          "batch_hash": hashlib.sha256(np.ascontiguousarray(digests).tobytes()).hexdigest()[:32]}
