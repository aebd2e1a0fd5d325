"""The training step: weighted cross-entropy, gradient accumulation, one optimizer update.

A pure function of (TrainState, batch), compiled by jax.jit with in/out shardings and the
state donated (see starjax.train.trainer). The per-step dropout key is derived from the base
key and the step, so a resumed run draws exactly the same randomness.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import optax
from flax import nnx

from starjax import sharding
from starjax.model import context_parallel
from starjax.tokens import DECODER_FEATURES as FEATURES


@flax.struct.dataclass
class TrainState:
  """Everything a checkpoint restores: step, parameters (pure dict), optimizer state, base RNG."""
  step: jax.Array
  params: Any
  opt_state: Any
  rng: jax.Array  # raw uint32[2] key: saves and restores like any array


def weighted_cross_entropy(graphdef, params, batch, dropout_rng=None):
  """Sum over tokens of weight × cross-entropy (float32), and the sum of weights.

  batch: DecoderFeatureConverter features, each [batch, length]. Under a mesh that splits
  the sequence (context parallelism) every feature is first reordered into the load-balanced
  layout, together, so the sums are those of sequence order.
  """
  model = nnx.merge(graphdef, params)
  split = sharding.active_sequence_axes()
  if split is not None:
    batch = {k: context_parallel.to_load_balanced(v, split[2]) for k, v in batch.items()}
  logits = model(batch["decoder_input_tokens"], batch["decoder_positions"],
                 batch["decoder_segment_ids"], dropout_rng=dropout_rng,
                 load_balanced=split is not None)
  losses = optax.softmax_cross_entropy_with_integer_labels(
      logits.astype(jnp.float32), batch["decoder_target_tokens"])
  weights = batch["decoder_loss_weights"].astype(jnp.float32)
  return jnp.sum(losses * weights), jnp.sum(weights)


def make_train_step(graphdef, optimizer: optax.GradientTransformation,
                    schedule: optax.Schedule, *, microbatches: int = 1,
                    dropout: bool = False) -> Callable:
  """Returns train_step(state, batch) → (state, metrics).

  With microbatches > 1 the batch is split along its batch axis and gradients of the summed
  weighted loss are accumulated in a lax.scan; dividing by the total weight at the end makes
  the update identical (up to float rounding) to one step on the whole batch.
  """

  def grads_of(params, batch, rng):
    (loss_sum, weight_sum), grads = jax.value_and_grad(
        lambda p: weighted_cross_entropy(graphdef, p, batch, rng), has_aux=True)(params)
    return loss_sum, weight_sum, grads

  def train_step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
    step_rng = jax.random.fold_in(state.rng, state.step) if dropout else None
    if microbatches == 1:
      loss_sum, weight_sum, grads = grads_of(state.params, batch, step_rng)
    else:
      def split(x):
        # [B, T] → [micro, B/micro, T] keeping each microbatch spread over the data shards.
        x = x.reshape(x.shape[0] // microbatches, microbatches, *x.shape[1:])
        return jnp.swapaxes(x, 0, 1)
      micro = {k: split(v) for k, v in batch.items()}
      zeros = jax.tree.map(jnp.zeros_like, state.params)

      def accumulate(carry, xs):
        index, mb = xs
        rng = jax.random.fold_in(step_rng, index) if step_rng is not None else None
        l, w, g = grads_of(state.params, mb, rng)
        return (carry[0] + l, carry[1] + w, jax.tree.map(jnp.add, carry[2], g)), None

      (loss_sum, weight_sum, grads), _ = jax.lax.scan(
          accumulate, (jnp.float32(0), jnp.float32(0), zeros),
          (jnp.arange(microbatches), micro))
    denominator = jnp.maximum(weight_sum, 1.0)
    grads = jax.tree.map(lambda g: g / denominator, grads)
    loss = loss_sum / denominator
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    # The schedule advances only on applied updates (skipped steps leave Adam's count alone).
    applied_before = state.step - state.opt_state.total_notfinite
    metrics = {
        "loss": loss,
        "grad_norm": optax.global_norm(grads),
        "learning_rate": schedule(applied_before),
        "loss_tokens": weight_sum,
        "skipped": (~opt_state.last_finite).astype(jnp.int32),
        "consecutive_nonfinite": opt_state.notfinite_count,
        "total_nonfinite": opt_state.total_notfinite,
    }
    new_state = TrainState(step=state.step + 1, params=params, opt_state=opt_state,
                           rng=state.rng)
    return new_state, metrics

  return train_step


def make_eval_step(graphdef) -> Callable:
  """eval_step(params, batch) → (weighted loss sum, weight sum): validation loss pieces."""
  def eval_step(params, batch):
    return weighted_cross_entropy(graphdef, params, batch)
  return eval_step
