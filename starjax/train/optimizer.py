"""StarCoder's optimizer as optax transformations: clip → AdamW (masked decay) → skip non-finite.

    apply_if_finite(chain(clip_by_global_norm(1.0), adamw(warmup→cosine, β=(0.9, 0.95),
                                                         ε=1e-8, wd=0.1, mask=no biases/norms)))

A step whose loss or gradient is not finite changes nothing (optax.apply_if_finite); the
trainer stops with a clear error after `max_consecutive_nonfinite` such steps in a row.
"""

from __future__ import annotations

import dataclasses

import gin
import jax
import optax

# Parameters named like this are biases or LayerNorm scales/offsets: no weight decay.
NO_DECAY_NAMES = ("bias", "scale")


@gin.configurable
@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
  """AdamW and its schedule; defaults are StarCoder's pretraining settings.

  peak_learning_rate: reached after warmup_steps of linear warmup from 0.
  decay_steps: total schedule length (warmup included); None = the run's TRAIN_STEPS.
  final_learning_rate_fraction: cosine decays to this fraction of the peak (StarCoder: 10 %).
  schedule: 'cosine' (warmup then cosine) or 'constant' (warmup then flat).
  max_consecutive_nonfinite: this many skipped steps in a row stop training.
  """

  peak_learning_rate: float = 3e-4
  warmup_steps: int = 2000
  decay_steps: int | None = None
  final_learning_rate_fraction: float = 0.1
  schedule: str = "cosine"
  b1: float = 0.9
  b2: float = 0.95
  eps: float = 1e-8
  weight_decay: float = 0.1
  clip_norm: float = 1.0
  max_consecutive_nonfinite: int = 5


def learning_rate_schedule(config: OptimizerConfig, train_steps: int) -> optax.Schedule:
  """Linear warmup to the peak, then cosine to final_learning_rate_fraction × peak."""
  decay_steps = config.decay_steps or train_steps
  warmup = min(config.warmup_steps, max(decay_steps - 1, 0))
  if config.schedule == "constant":
    return optax.join_schedules(
        [optax.linear_schedule(0.0, config.peak_learning_rate, max(warmup, 1)),
         optax.constant_schedule(config.peak_learning_rate)], [warmup])
  if config.schedule != "cosine":
    raise ValueError(f"OptimizerConfig.schedule={config.schedule!r}; use 'cosine' or 'constant'")
  return optax.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=config.peak_learning_rate, warmup_steps=warmup,
      decay_steps=max(decay_steps, warmup + 1),
      end_value=config.peak_learning_rate * config.final_learning_rate_fraction)


def weight_decay_mask(params):
  """True for parameters that decay (kernels, embeddings), False for biases and norms."""
  def decays(path, _):
    last = path[-1]
    name = getattr(last, "key", getattr(last, "name", str(last)))
    return str(name) not in NO_DECAY_NAMES
  return jax.tree_util.tree_map_with_path(decays, params)


def make_optimizer(config: OptimizerConfig, train_steps: int) -> optax.GradientTransformation:
  """The full transformation; its state is what checkpoints store besides the parameters."""
  inner = optax.chain(
      optax.clip_by_global_norm(config.clip_norm),
      optax.adamw(learning_rate_schedule(config, train_steps), b1=config.b1, b2=config.b2,
                  eps=config.eps, weight_decay=config.weight_decay, mask=weight_decay_mask),
  )
  # One more than the stopping threshold, so apply_if_finite never lets a NaN update through
  # before the trainer has stopped.
  return optax.apply_if_finite(inner, max_consecutive_errors=config.max_consecutive_nonfinite + 1)
