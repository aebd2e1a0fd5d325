"""The training loop end to end: metrics, checkpoints, resume, safety of MODEL_DIR."""

import glob
import os
import shutil

import jax
import numpy as np
import pytest

from starjax.model_dir import CheckpointMismatchError, Checkpointer
from starjax.train.metrics import read_metrics
from starjax.train.trainer import NonFiniteTrainingError
from tests.train.conftest import train_in_process

REQUIRED = ("step", "loss", "learning_rate", "grad_norm", "tokens_per_second", "mfu")


def test_metrics_jsonl_has_every_step_with_required_fields(trained_dir):
  records = read_metrics(trained_dir)
  assert [r["step"] for r in records] == list(range(1, 9))
  for record in records:
    for key in REQUIRED:
      assert key in record and np.isfinite(record[key]), (key, record)
    assert 0 < record["mfu"] < 1
  assert records[-1]["loss"] < records[0]["loss"]
  assert {r["step"] for r in records if "validation_loss" in r} == {4, 8}


def test_tensorboard_events_and_operative_config_are_written(trained_dir):
  assert glob.glob(os.path.join(trained_dir, "tensorboard", "events.out.tfevents.*"))
  config = open(os.path.join(trained_dir, "config.gin")).read()
  assert f"MODEL_DIR = '{trained_dir}'" in config
  assert "DecoderConfig.hidden_size = 64" in config


def test_keeps_last_two_plus_every_fourth_checkpoint(trained_dir):
  assert Checkpointer(trained_dir, read_only=True).all_steps() == [4, 6, 8]


def test_finished_run_is_not_retrained(trained_dir):
  before = open(os.path.join(trained_dir, "metrics.jsonl")).read()
  result = train_in_process(trained_dir)
  assert result.final_step == 8 and result.resumed_from == 8
  assert open(os.path.join(trained_dir, "metrics.jsonl")).read() == before


def test_checkpoint_of_another_shape_is_refused_and_nothing_is_touched(trained_dir, tmp_path):
  model_dir = str(tmp_path / "run")
  shutil.copytree(trained_dir, model_dir)
  snapshot = {p: open(p, "rb").read() for p in glob.glob(f"{model_dir}/*") if os.path.isfile(p)}
  with pytest.raises(CheckpointMismatchError, match="hidden_size: checkpoint 64 vs config 32"):
    train_in_process(model_dir, "DecoderConfig.hidden_size = 32", "TRAIN_STEPS = 10")
  for path, content in snapshot.items():
    assert open(path, "rb").read() == content, path
  assert Checkpointer(model_dir, read_only=True).all_steps() == [4, 6, 8]


def test_a_save_cut_short_leaves_the_previous_checkpoint_usable(trained_dir, tmp_path):
  model_dir = str(tmp_path / "run")
  shutil.copytree(trained_dir, model_dir)
  # What a process killed mid-save leaves: an unfinished temporary step directory.
  partial = os.path.join(model_dir, "checkpoints", "10.orbax-checkpoint-tmp-1795650000")
  shutil.copytree(os.path.join(model_dir, "checkpoints", "8"), partial)
  for name in glob.glob(os.path.join(partial, "**", "commit_success.txt"), recursive=True):
    os.remove(name)
  shutil.rmtree(os.path.join(partial, "params"))
  assert Checkpointer(model_dir, read_only=True).latest_step() == 8
  result = train_in_process(model_dir, "TRAIN_STEPS = 10")
  assert result.resumed_from == 8 and result.final_step == 10
  steps = [r["step"] for r in read_metrics(model_dir)]
  assert steps == list(range(1, 11))
  assert 10 in Checkpointer(model_dir, read_only=True).all_steps()


def test_repeated_non_finite_steps_stop_training_with_a_clear_error(trained_dir, tmp_path):
  # A diverged model: parameters with NaNs, used to start a fine-tuning run.
  source = str(tmp_path / "diverged")
  checkpointer = Checkpointer(trained_dir, read_only=True)
  meta = checkpointer.restore_meta()
  abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype),
                          checkpointer.manager.item_metadata(8)["params"])
  params = checkpointer.restore(abstract, step=8)[0]
  params["ln_f"]["scale"] = params["ln_f"]["scale"] * np.nan
  writer = Checkpointer(source)
  writer.save(0, params, None, meta, force=True)
  writer.close()
  model_dir = str(tmp_path / "run")
  with pytest.raises(NonFiniteTrainingError, match="not finite for 2 steps in a row"):
    train_in_process(model_dir, f"train.init_params_from = '{source}'",
                     "OptimizerConfig.max_consecutive_nonfinite = 2")
  records = read_metrics(model_dir)
  assert [r["skipped_steps"] for r in records] == [1]
