"""StarCoder's optimizer: schedule shape, decay mask, clipping, skipping non-finite steps."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from starjax.train.optimizer import (OptimizerConfig, learning_rate_schedule, make_optimizer,
                                     weight_decay_mask)


def test_schedule_warms_up_linearly_then_cosines_to_ten_percent():
  schedule = learning_rate_schedule(OptimizerConfig(peak_learning_rate=1.0, warmup_steps=10),
                                    train_steps=110)
  assert float(schedule(0)) == 0.0
  assert float(schedule(5)) == pytest.approx(0.5)
  assert float(schedule(10)) == pytest.approx(1.0)
  assert float(schedule(60)) == pytest.approx(0.55, abs=1e-6)  # halfway: (1 + 0.1) / 2
  assert float(schedule(110)) == pytest.approx(0.1)
  assert float(schedule(500)) == pytest.approx(0.1)


def test_weight_decay_skips_biases_and_layernorm():
  params = {"wte": {"embedding": 1}, "blocks": {"ln_1": {"scale": 1, "bias": 1},
                                                "mlp": {"fc": {"kernel": 1, "bias": 1}}}}
  mask = weight_decay_mask(params)
  assert mask == {"wte": {"embedding": True}, "blocks": {
      "ln_1": {"scale": False, "bias": False}, "mlp": {"fc": {"kernel": True, "bias": False}}}}


def adamw_step(params, grads, **config):
  optimizer = make_optimizer(OptimizerConfig(warmup_steps=0, **config), train_steps=10)
  state = optimizer.init(params)
  updates, state = optimizer.update(grads, state, params)
  return optax.apply_updates(params, updates), state


def test_decay_applies_to_kernels_only():
  params = {"kernel": jnp.ones(3), "bias": jnp.ones(3)}
  zero = jax.tree.map(jnp.zeros_like, params)
  new, _ = adamw_step(params, zero, peak_learning_rate=0.5, weight_decay=0.1)
  np.testing.assert_allclose(new["kernel"], 1 - 0.5 * 0.1, rtol=1e-6)
  np.testing.assert_array_equal(new["bias"], 1.0)


def test_gradients_are_clipped_to_global_norm_one():
  params = {"kernel": jnp.zeros(4)}
  big = {"kernel": jnp.full(4, 100.0)}
  optimizer = optax.chain(optax.clip_by_global_norm(1.0))
  clipped, _ = optimizer.update(big, optimizer.init(params))
  assert float(optax.global_norm(clipped)) == pytest.approx(1.0)
  # and the full optimizer is built with that clip
  new, _ = adamw_step(params, big, peak_learning_rate=1.0, weight_decay=0.0)
  small, _ = adamw_step(params, jax.tree.map(lambda g: g / 100, big), peak_learning_rate=1.0,
                        weight_decay=0.0)
  np.testing.assert_allclose(new["kernel"], small["kernel"], rtol=1e-5)


def test_non_finite_gradient_skips_the_update_and_is_counted():
  params = {"kernel": jnp.ones(2)}
  new, state = adamw_step(params, {"kernel": jnp.array([jnp.nan, 1.0])},
                          peak_learning_rate=0.1)
  np.testing.assert_array_equal(new["kernel"], params["kernel"])
  assert int(state.notfinite_count) == 1 and int(state.total_notfinite) == 1
