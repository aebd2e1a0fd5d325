"""Choosing the next token from logits: greedy, temperature, top-k, top-p (nucleus).

All of it runs inside the jit-compiled decode loop. temperature and top_p are traced values
(changing them does not recompile); whether top-k / top-p filtering happens at all is static.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
  """How completions are drawn.

  temperature: 0 = greedy (argmax); otherwise logits are divided by it before sampling.
  top_k: keep the k most likely tokens (0 = all). top_p: keep the smallest set of tokens whose
  probability reaches top_p (1.0 = all). max_new_tokens: per sequence. stop: strings that end
  a completion (checked on decoded text; the returned text is cut before the first one).
  seed: the sampling RNG. num_samples: completions per prompt.
  """
  temperature: float = 0.0
  top_k: int = 0
  top_p: float = 1.0
  max_new_tokens: int = 128
  stop: tuple[str, ...] = ()
  seed: int = 0
  num_samples: int = 1

  def __post_init__(self):
    problems = []
    if self.temperature < 0:
      problems.append(f"temperature={self.temperature} must be >= 0 (0 = greedy)")
    if self.top_k < 0:
      problems.append(f"top_k={self.top_k} must be >= 0 (0 = no top-k filter)")
    if not 0 < self.top_p <= 1:
      problems.append(f"top_p={self.top_p} must be in (0, 1]")
    if self.max_new_tokens < 1:
      problems.append(f"max_new_tokens={self.max_new_tokens} must be >= 1")
    if self.num_samples < 1:
      problems.append(f"num_samples={self.num_samples} must be >= 1")
    if problems:
      raise ValueError("; ".join(problems))

  @property
  def greedy(self) -> bool:
    return self.temperature == 0.0


# Candidates examined before falling back to sorting the whole vocabulary. At evaluation
# temperatures (0.2) the nucleus of top_p=0.95 is a handful of tokens; a full sort of 49,152
# logits per row per step cost 3.5x the rest of a decode step on CPU (BENCHMARKS.md).
NUCLEUS_CANDIDATES = 64


def filter_logits(logits: jax.Array, top_k: jax.Array, top_p: jax.Array, *, use_top_k: bool,
                  use_top_p: bool) -> jax.Array:
  """Sets logits outside the top-k / nucleus to -inf. logits: float32 [batch, vocab].

  Exact: the thresholds come from the NUCLEUS_CANDIDATES largest logits when every row's
  top-k and nucleus end inside them (the common case), else from the fully sorted row."""
  if not (use_top_k or use_top_p):
    return logits
  vocab = logits.shape[-1]
  neg_inf = jnp.finfo(logits.dtype).min
  # Probabilities with the whole row's normaliser, so the candidates' cumulative mass is the
  # same as in the sorted row.
  log_norm = jax.nn.logsumexp(logits, axis=-1, keepdims=True)

  def thresholds(descending):
    """(per-row threshold, whether it is decided within `descending`'s length)."""
    threshold = jnp.full(logits.shape[:1], neg_inf, logits.dtype)
    decided = jnp.ones(logits.shape[:1], bool)
    if use_top_k:
      k = jnp.clip(top_k, 1, vocab)
      threshold = jnp.maximum(threshold, descending[:, jnp.minimum(k, descending.shape[-1]) - 1])
      decided &= k <= descending.shape[-1]
    if use_top_p:
      probs = jnp.exp(descending - log_norm)
      cumulative = jnp.cumsum(probs, axis=-1)
      # The first token whose cumulative probability reaches top_p is the last one kept.
      last = jnp.sum(cumulative - probs < top_p, axis=-1) - 1
      threshold = jnp.maximum(threshold, jnp.take_along_axis(descending, last[:, None],
                                                             axis=-1)[:, 0])
      decided &= cumulative[:, -1] >= top_p
    return threshold, decided

  def from_sorted(_):
    return thresholds(jnp.sort(logits, axis=-1)[:, ::-1])[0]

  if vocab <= NUCLEUS_CANDIDATES:
    threshold = from_sorted(None)
  else:
    candidates, _ = jax.lax.top_k(logits, NUCLEUS_CANDIDATES)
    threshold, decided = thresholds(candidates)
    threshold = jax.lax.cond(jnp.all(decided), lambda _: threshold, from_sorted, None)
  return jnp.where(logits >= threshold[:, None], logits, neg_inf)


def sample_tokens(logits: jax.Array, key: jax.Array, temperature: jax.Array, top_k: jax.Array,
                  top_p: jax.Array, *, greedy: bool, use_top_k: bool, use_top_p: bool
                  ) -> jax.Array:
  """Next token per row: int32 [batch] from float32 logits [batch, vocab]."""
  if greedy:
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)
  scaled = logits / jnp.maximum(temperature, 1e-6)
  scaled = filter_logits(scaled, top_k, top_p, use_top_k=use_top_k, use_top_p=use_top_p)
  return jax.random.categorical(key, scaled, axis=-1).astype(jnp.int32)
