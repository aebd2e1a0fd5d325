"""The train step: weighted loss, gradient accumulation equivalence, non-finite skipping."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from starjax.model import DecoderConfig
from starjax.train.optimizer import OptimizerConfig
from starjax.train.trainer import Trainer
from tests.train.synthetic import synthetic_batch

CONFIG = DecoderConfig(vocab_size=128, num_layers=2, hidden_size=64, num_heads=4,
                       num_kv_heads=1, mlp_dim=256, max_seq_len=32)
OPT = OptimizerConfig(peak_learning_rate=1e-3, warmup_steps=0)


def trainer(microbatches=1, config=CONFIG):
  return Trainer(config, train_steps=10, batch_size=8, seq_len=32, optimizer_config=OPT,
                 microbatches=microbatches, seed=0)


@pytest.fixture(scope="module")
def whole():
  return trainer(1)


def test_four_microbatches_of_two_equal_one_batch_of_eight(whole):
  batch = synthetic_batch(0, seq_len=32, batch_size=8)
  one_state, one = whole.step(whole.init_state(), batch)
  accumulated = trainer(4)
  four_state, four = accumulated.step(accumulated.init_state(), batch)
  assert float(four["loss"]) == pytest.approx(float(one["loss"]), rel=1e-5)
  assert float(four["grad_norm"]) == pytest.approx(float(one["grad_norm"]), rel=1e-4)
  flat_one = jax.tree_util.tree_flatten_with_path(one_state.params)[0]
  for (path, a), b in zip(flat_one, jax.tree.leaves(four_state.params)):
    if "'key']['bias'" in jax.tree_util.keystr(path):
      # The key bias adds the same amount to every logit of a query: its gradient is exactly
      # zero in exact arithmetic, so Adam's g/|g| amplifies pure rounding noise there.
      continue
    np.testing.assert_allclose(a, b, atol=3e-6, err_msg=jax.tree_util.keystr(path))


def test_tokens_with_zero_loss_weight_do_not_count(whole):
  batch = synthetic_batch(1, seq_len=32, batch_size=8)
  changed = dict(batch)
  changed["decoder_target_tokens"] = np.where(batch["decoder_loss_weights"] == 0, 7,
                                              batch["decoder_target_tokens"])
  changed["decoder_loss_weights"] = batch["decoder_loss_weights"].copy()
  _, a = whole.step(whole.init_state(), batch)
  # Re-weighting: masking out half the tokens changes the loss, changing masked targets not.
  masked = dict(batch)
  masked["decoder_target_tokens"] = np.where(batch["decoder_loss_weights"] == 0, 3,
                                             batch["decoder_target_tokens"])
  _, b = whole.step(whole.init_state(), masked)
  assert float(a["loss"]) == float(b["loss"])
  half = dict(batch)
  half["decoder_loss_weights"] = batch["decoder_loss_weights"] * (np.arange(32) < 16)
  _, c = whole.step(whole.init_state(), half)
  assert float(c["loss_tokens"]) < float(a["loss_tokens"])
  assert float(c["loss"]) != pytest.approx(float(a["loss"]))


def test_non_finite_parameters_skip_the_step_and_keep_the_state(whole):
  state = whole.init_state()
  poisoned = jax.tree.map(lambda x: x, state.params)
  poisoned["wte"]["embedding"] = poisoned["wte"]["embedding"].at[0, 0].set(jnp.nan)
  state = dataclasses.replace(state, params=poisoned)
  before = jax.device_get(state.params)
  new_state, metrics = whole.step(state, synthetic_batch(0, seq_len=32, batch_size=8))
  assert int(metrics["skipped"]) == 1 and int(metrics["consecutive_nonfinite"]) == 1
  after = jax.device_get(new_state.params)
  np.testing.assert_array_equal(after["blocks"]["mlp"]["fc"]["kernel"],
                                before["blocks"]["mlp"]["fc"]["kernel"])
  assert int(new_state.step) == 1  # the data position still advances


def test_step_learns_the_synthetic_sequences(whole):
  state = whole.init_state()
  losses = []
  for i in range(6):
    state, metrics = whole.step(state, synthetic_batch(i, seq_len=32, batch_size=8))
    losses.append(float(metrics["loss"]))
  assert losses[-1] < losses[0] - 0.2
