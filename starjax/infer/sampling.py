"""Choosing the next token from logits: greedy, temperature, top-k, top-p (nucleus).

All of it runs inside the jit-compiled decode loop. temperature and top_p are traced values
(changing them does not recompile); whether top-k / top-p filtering happens at all is static.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from starjax import sharding


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


# Candidates examined before falling back to the whole vocabulary. At evaluation temperatures
# (0.2) the nucleus of top_p=0.95 is a handful of tokens; a full sort of 49,152 logits per row
# per step cost 3.5x the rest of a decode step on CPU, and a draw over the full vocabulary
# about a quarter of a step (BENCHMARKS.md).
NUCLEUS_CANDIDATES = 128


def _per_row(value: jax.Array, rows: int) -> jax.Array:
  return jnp.broadcast_to(jnp.asarray(value), (rows,))


def _thresholds(descending, log_norm, top_k, top_p, *, use_top_k, use_top_p):
  """(threshold [b], decided [b]) from each row's largest logits in descending order [b, w]:
  tokens >= threshold are kept (the dtype's minimum when no filter is active for the row);
  decided: the row's top-k and nucleus end within those w logits. A row's top_k <= 0 or
  top_p >= 1 switches that filter off for it."""
  rows, width = descending.shape
  neg_inf = jnp.finfo(descending.dtype).min
  threshold = jnp.full((rows,), neg_inf, descending.dtype)
  decided = jnp.ones((rows,), bool)
  if use_top_k:
    k = _per_row(top_k, rows)
    kth = jnp.take_along_axis(descending, (jnp.clip(k, 1, width) - 1)[:, None], axis=-1)[:, 0]
    threshold = jnp.where(k > 0, jnp.maximum(threshold, kth), threshold)
    decided &= k <= width
  if use_top_p:
    p = _per_row(top_p, rows)
    probs = jnp.exp(descending - log_norm)
    cumulative = jnp.cumsum(probs, axis=-1)
    # The first token whose cumulative probability reaches top_p is the last one kept.
    last = jnp.clip(jnp.sum(cumulative - probs < p[:, None], axis=-1) - 1, 0, width - 1)
    nucleus = jnp.take_along_axis(descending, last[:, None], axis=-1)[:, 0]
    active = p < 1.0
    threshold = jnp.where(active, jnp.maximum(threshold, nucleus), threshold)
    decided &= ~active | (cumulative[:, -1] >= p)
  return threshold, decided


def _full_thresholds(logits, log_norm, top_k, top_p, *, use_top_k, use_top_p):
  """_thresholds over the whole row without sorting it: each threshold is found by bisection
  over the logits' order-preserving integer keys (32 halvings of the key range, each a masked
  count or sum over the row). The k-th largest logit is the largest key with at least k
  logits at or above it; the nucleus's last logit the largest key whose logits at or above it
  hold top_p of the mass. Exact, like the sorted cumulative sum, up to float32 summation
  order. A full sort of [50, 8,192] logits cost ~70 ms a step on CPU, 2.5x a decode step of
  the bench model, and ran at every step at temperature 0.8 (BENCHMARKS.md)."""
  rows = logits.shape[0]
  keys = _order_keys(logits)
  threshold = jnp.full((rows,), jnp.finfo(logits.dtype).min, logits.dtype)

  def largest_key(enough):
    """Per row, the largest key k (of a logit) with enough(logits >= k) true: enough is
    monotone, true at the row's smallest logit's key."""
    lo, hi = jnp.min(keys, axis=-1), jnp.max(keys, axis=-1)

    def halve(_, bounds):
      lo, hi = bounds
      mid = lo + (hi - lo + 1) // 2  # uint32: no overflow, mid > lo while lo < hi
      ok = enough(keys >= mid[:, None])
      return jnp.where(ok, mid, lo), jnp.where(ok, hi, mid - 1)

    return jax.lax.fori_loop(0, 32, halve, (lo, hi))[0]

  if use_top_k:
    k = _per_row(top_k, rows)
    kth = _from_order_keys(largest_key(lambda kept: jnp.sum(kept, axis=-1) >= k))
    threshold = jnp.where(k > 0, jnp.maximum(threshold, kth), threshold)
  if use_top_p:
    p = _per_row(top_p, rows)
    probs = jnp.exp(logits - log_norm)
    nucleus = _from_order_keys(
        largest_key(lambda kept: jnp.sum(jnp.where(kept, probs, 0.0), axis=-1) >= p))
    threshold = jnp.where(p < 1.0, jnp.maximum(threshold, nucleus), threshold)
  return threshold


def _order_keys(x: jax.Array) -> jax.Array:
  """float32 → uint32 with the same order (negative floats' bits reversed, positives' sign
  bit set): bisection over keys visits every representable value between two logits."""
  bits = jax.lax.bitcast_convert_type(x, jnp.uint32)
  return jnp.where(bits >> 31 == 1, ~bits, bits | jnp.uint32(1 << 31))


def _from_order_keys(keys: jax.Array) -> jax.Array:
  bits = jnp.where(keys >> 31 == 1, keys & jnp.uint32(0x7FFFFFFF), ~keys)
  return jax.lax.bitcast_convert_type(bits, jnp.float32)


def _top_candidates(logits):
  """(values, ids) of each row's NUCLEUS_CANDIDATES largest logits, [b, NUCLEUS_CANDIDATES].

  The barrier keeps XLA's simplifier from folding the candidates' slices into their users
  next to a conditional, which turns the CPU TopK kernel back into a full sort (measured:
  ~70 ms for [50, 8192] instead of ~2 ms). Not when the step is partitioned over a mesh: XLA's
  SPMD partitioner fails on a barrier over TopK's tuple (a CHECK in its sharding propagation)."""
  candidates = jax.lax.top_k(logits, NUCLEUS_CANDIDATES)
  if sharding.partitioned():
    return candidates
  return jax.lax.optimization_barrier(candidates)


def _keep(logits, threshold):
  return jnp.where(logits >= threshold[:, None], logits, jnp.finfo(logits.dtype).min)


def filter_logits(logits: jax.Array, top_k: jax.Array, top_p: jax.Array, *, use_top_k: bool,
                  use_top_p: bool) -> jax.Array:
  """Sets logits outside the top-k / nucleus to the dtype's minimum. logits: float32
  [batch, vocab]; top_k, top_p: scalars or per row [batch] (top_k <= 0 or top_p >= 1: that
  filter is off for the row).

  Exact: the thresholds come from the NUCLEUS_CANDIDATES largest logits when every row's
  top-k and nucleus end inside them (the common case), else from the whole row
  (`_full_thresholds`)."""
  if not (use_top_k or use_top_p):
    return logits
  flags = dict(use_top_k=use_top_k, use_top_p=use_top_p)
  # Probabilities with the whole row's normaliser, so the candidates' cumulative mass is the
  # same as in the whole row.
  log_norm = jax.nn.logsumexp(logits, axis=-1, keepdims=True)
  if logits.shape[-1] <= NUCLEUS_CANDIDATES:
    return _keep(logits, _full_thresholds(logits, log_norm, top_k, top_p, **flags))
  candidates, _ = _top_candidates(logits)
  threshold, decided = _thresholds(candidates, log_norm, top_k, top_p, **flags)
  return _keep(logits, _settled(logits, log_norm, threshold, decided, top_k, top_p, **flags))


def _settled(logits, log_norm, threshold, decided, top_k, top_p, **flags):
  """Each row's threshold: the candidates' where they decided it, else the whole row's (that
  search runs only when some row needs it)."""
  return jax.lax.cond(
      jnp.all(decided), lambda: threshold,
      lambda: jnp.where(decided, threshold,
                        _full_thresholds(logits, log_norm, top_k, top_p, **flags)))


def _gumbel(keys: jax.Array, shape) -> jax.Array:
  """Gumbel noise [b, w]: from one key for the whole batch, or from each row's key ([b])."""
  if keys.ndim == 0:
    return jax.random.gumbel(keys, shape)
  return jax.vmap(lambda key: jax.random.gumbel(key, shape[1:]))(keys)


def _categorical(keys: jax.Array, logits: jax.Array) -> jax.Array:
  if keys.ndim == 0:
    return jax.random.categorical(keys, logits, axis=-1).astype(jnp.int32)
  return jax.vmap(lambda key, row: jax.random.categorical(key, row))(keys, logits).astype(
      jnp.int32)


def draw_filtered(scaled: jax.Array, keys: jax.Array, top_k: jax.Array, top_p: jax.Array, *,
                  use_top_k: bool, use_top_p: bool, used: jax.Array | None = None
                  ) -> jax.Array:
  """A token per row, int32 [b], drawn from softmax(scaled) over the row's top-k / nucleus
  (scaled: float32 [b, vocab], already divided by the temperature; top_k, top_p as in
  filter_logits; keys: one PRNG key for the batch or one per row [b]).

  When a row's kept tokens all lie within the NUCLEUS_CANDIDATES largest logits (the common
  case at evaluation temperatures) the draw is a Gumbel-max over those candidates alone: the
  same distribution as over the filtered vocabulary, without noise for every token. Other
  rows draw over the filtered vocabulary. Which way a row goes depends on that row only, so
  rows never influence each other's tokens. used: bool [b], rows whose token is wanted
  (default all); the others (e.g. greedy slots) never make the full-vocabulary draw run."""
  rows, vocab = scaled.shape
  if not (use_top_k or use_top_p) or vocab <= NUCLEUS_CANDIDATES:
    return _categorical(keys, filter_logits(scaled, top_k, top_p, use_top_k=use_top_k,
                                            use_top_p=use_top_p))
  flags = dict(use_top_k=use_top_k, use_top_p=use_top_p)
  used = jnp.ones((rows,), bool) if used is None else used
  log_norm = jax.nn.logsumexp(scaled, axis=-1, keepdims=True)
  candidates, ids = _top_candidates(scaled)
  threshold, decided = _thresholds(candidates, log_norm, top_k, top_p, **flags)
  # Strictly above the smallest candidate: no token outside the candidates ties the threshold.
  inside = decided & (threshold > candidates[:, -1])
  noisy = _keep(candidates, threshold) + _gumbel(keys, candidates.shape)
  fast = jnp.take_along_axis(ids, jnp.argmax(noisy, axis=-1)[:, None], axis=-1)[:, 0]

  def over_vocabulary():
    full = _settled(scaled, log_norm, threshold, decided, top_k, top_p, **flags)
    return _categorical(keys, _keep(scaled, full))

  drawn = jax.lax.cond(jnp.all(inside | ~used), lambda: jnp.zeros_like(fast), over_vocabulary)
  return jnp.where(inside, fast, drawn)


def sample_tokens(logits: jax.Array, key: jax.Array, temperature: jax.Array, top_k: jax.Array,
                  top_p: jax.Array, *, greedy: bool, use_top_k: bool, use_top_p: bool
                  ) -> jax.Array:
  """Next token per row: int32 [batch] from float32 logits [batch, vocab]."""
  if greedy:
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)
  scaled = logits / jnp.maximum(temperature, 1e-6)
  return draw_filtered(scaled, key, top_k, top_p, use_top_k=use_top_k, use_top_p=use_top_p)


def row_keys(key: jax.Array, ids: jax.Array) -> jax.Array:
  """Given row r's key, fold_in(key, r) (ids: int32 [b], each batch row's r): a row draws the
  same noise whatever the batch around it and wherever it sits in it, so laying rows out in
  blocks or dropping finished ones (TokenGenerator.generate) changes no row's tokens."""
  return jax.vmap(jax.random.fold_in, (None, 0))(key, ids.astype(jnp.uint32))


def step_keys(keys: jax.Array, step) -> jax.Array:
  """Each row's key for the token it samples at `step` (0 = the prefill's)."""
  return jax.vmap(jax.random.fold_in, (0, None))(keys, jnp.asarray(step, jnp.uint32))
