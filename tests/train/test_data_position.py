"""The data position in checkpoints: the fingerprint a resume is checked against, and the
provenance (sample-id range, batch hash) of every logged step."""

import gin
import numpy as np
import pytest

from starjax.train import provenance
from starjax.train.metrics import read_metrics
from tests.train.conftest import train_in_process
from tests.train.synthetic import synthetic_batch, synthetic_batches

DATA = {"version": 1}


@gin.configurable
def fingerprinted_batches(name, **kwargs):
  yield from synthetic_batches(name, **kwargs)


def _fingerprint(name, *, seq_len, global_batch_size, seed):
  value = {"mixture_or_task_name": name, "seq_len": seq_len,
           "global_batch_size": global_batch_size, "seed": seed, "version": DATA["version"]}
  return dict(value, digest=str(sorted(value.items())))


fingerprinted_batches.fingerprint = _fingerprint
SOURCE = ("train.batch_source = @fingerprinted_batches", "train.eval_every = None")


def test_a_changed_fingerprint_is_refused_with_what_changed():
  old = _fingerprint("local_code", seq_len=32, global_batch_size=8, seed=0)
  new = _fingerprint("local_code", seq_len=64, global_batch_size=8, seed=0)
  with pytest.raises(provenance.DataFingerprintMismatch, match=r"step 4 .*seq_len: 32 → 64"):
    provenance.check_resume({"step": 4, "data_fingerprint": old}, new, allow_data_change=False)
  provenance.check_resume({"step": 4, "data_fingerprint": old}, new, allow_data_change=True)
  provenance.check_resume({"step": 4, "data_fingerprint": old}, dict(old), allow_data_change=False)
  provenance.check_resume({"step": 4}, new, allow_data_change=False)  # older checkpoints


@pytest.mark.slow
def test_resuming_on_changed_data_is_refused_unless_allowed(tmp_path):
  model_dir = str(tmp_path / "run")
  DATA["version"] = 1
  train_in_process(model_dir, *SOURCE, "TRAIN_STEPS = 2")
  DATA["version"] = 2
  with pytest.raises(provenance.DataFingerprintMismatch, match=r"version: 1 → 2.*"
                     r"allow_data_change=True"):
    train_in_process(model_dir, *SOURCE, "TRAIN_STEPS = 4")
  result = train_in_process(model_dir, *SOURCE, "TRAIN_STEPS = 4",
                            "train.allow_data_change = True")
  assert result.final_step == 4
  DATA["version"] = 1


def test_each_logged_step_records_its_sample_ids_and_the_global_batch_hash(trained_dir):
  records = read_metrics(trained_dir)
  for record in records:
    index = record["step"] - 1
    assert (record["first_sample_id"], record["last_sample_id"]) == (8 * index, 8 * index + 7)
    batch = synthetic_batch(index, seq_len=32, batch_size=8)
    expected = provenance.batch_provenance(index, 8, provenance.row_digests(batch))
    assert record["batch_hash"] == expected["batch_hash"]
  assert len({r["batch_hash"] for r in records}) == len(records)


def test_the_batch_hash_does_not_depend_on_the_number_of_processes():
  batch = synthetic_batch(3, seq_len=16, batch_size=8)
  whole = provenance.row_digests(batch)
  halves = np.concatenate([provenance.row_digests({k: v[p * 4:(p + 1) * 4]
                                                   for k, v in batch.items()})
                           for p in range(2)])
  assert np.array_equal(whole, halves)
