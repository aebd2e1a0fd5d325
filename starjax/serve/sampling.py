"""Next tokens for all decode slots at once, each slot with its own sampling parameters.

The parameters are arrays over slots ([slots]), not static flags, so one compiled step serves
greedy and sampled requests side by side and one request's settings never touch another's
tokens: each slot draws from its own key, folded with its own step count.
Greedy (temperature 0) is argmax of the raw logits, exactly as `run.py generate` decodes.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from starjax.infer.sampling import draw_filtered

# Alternatives reported per token (OpenAI `logprobs`, TGI `top_n_tokens`), at most.
TOP_LOGPROBS = 5


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class SlotSampling:
  """Per-slot sampling parameters, each [slots]."""
  temperature: jax.Array         # float32; 0 = greedy
  top_k: jax.Array               # int32; 0 = no top-k filter
  top_p: jax.Array               # float32; 1 = no nucleus filter
  repetition_penalty: jax.Array  # float32; 1 = none (CTRL's penalty, as transformers applies it)
  key: jax.Array                 # typed PRNG keys, one per slot (from the request's seed)


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class Sampled:
  """What a step returns per slot: the token, its log-probability and the top alternatives."""
  token: jax.Array       # int32 [slots]
  logprob: jax.Array     # float32 [slots]
  top_ids: jax.Array     # int32 [slots, TOP_LOGPROBS]
  top_logprobs: jax.Array  # float32 [slots, TOP_LOGPROBS]


def apply_repetition_penalty(logits, presence, penalty):
  """CTRL's repetition penalty on tokens already seen (presence: bool [slots, vocab])."""
  penalised = jnp.where(logits > 0, logits / penalty[:, None], logits * penalty[:, None])
  return jnp.where(presence, penalised, logits)


def sample_slots(logits: jax.Array, params: SlotSampling, steps: jax.Array,
                 presence: jax.Array) -> Sampled:
  """logits float32 [slots, vocab]; steps int32 [slots] (each slot's own step count, folded
  into its key); presence bool [slots, vocab] (tokens seen, for the repetition penalty)."""
  logprobs_all = jax.nn.log_softmax(logits, axis=-1)
  logits = jax.lax.cond(jnp.any(params.repetition_penalty != 1.0),
                        lambda x: apply_repetition_penalty(x, presence,
                                                           params.repetition_penalty),
                        lambda x: x, logits)
  greedy_tokens = jnp.argmax(logits, axis=-1).astype(jnp.int32)
  sampled = params.temperature > 0
  keys = jax.vmap(jax.random.fold_in)(params.key, steps)

  def draw(scaled):
    # Greedy slots filter nothing, so they never send the batch to the full-vocabulary path.
    return draw_filtered(scaled, keys, jnp.where(sampled, params.top_k, 0),
                         jnp.where(sampled, params.top_p, 1.0), use_top_k=True,
                         use_top_p=True, used=sampled)

  scaled = logits / jnp.maximum(params.temperature, 1e-6)[:, None]
  # An all-greedy step draws nothing.
  drawn = jax.lax.cond(jnp.any(sampled), draw, lambda x: greedy_tokens, scaled)
  token = jnp.where(sampled, drawn, greedy_tokens)
  logprob = jnp.take_along_axis(logprobs_all, token[:, None], axis=-1)[:, 0]
  top_logprobs, top_ids = jax.lax.top_k(logprobs_all, TOP_LOGPROBS)
  return Sampled(token=token, logprob=logprob, top_ids=top_ids.astype(jnp.int32),
                 top_logprobs=top_logprobs)
