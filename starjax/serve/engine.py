"""The slot engine: continuous batching as pure jitted functions over the model's KV cache.

    state = engine.init()                                  # N empty slots, one KVCache [N, S]
    state, first = engine.prefill_slots(state, pieces)     # k prompts of one bucket, in place
    state, sampled = engine.generate(state, active)        # one token for every slot
    # one prompt through a one-slot row, scoring it (and the row API serve_step.py times)
    row, first, scores = engine.prefill(row, tokens, start, sampling, presence)  # a bucket
    state = engine.insert(state, row, first, slot, sampling)            # into a free slot

The cache is the model's own `KVCache` (per-layer [slots, cache_len, kv_heads, head_dim],
logical axes CACHE_AXES, sharded by the mesh's rules). A slot's sequence starts at cache
position 0, so a token's position is its cache index and each slot writes at its own index:
the step runs Decoder.decode over all slots with one cache index per slot (int32 [slots]).
Prompts are right-padded to a length bucket (padding has segment id 0 and is never attended,
then overwritten by the tokens generated after it), so each bucket compiles once. A prefill
may start after tokens already in the slot (`start`): that is prefix reuse, the next keystroke
prefilling only what it adds. Everything is fixed-shape: after warm-up nothing recompiles.

Waiting prompts are prefilled several at once (`prefill_slots`: k rows of one bucket, k from a
fixed set). A prefill's cost on the bench model is mostly one pass over the weights (a
16-token prefill costs about what a 16-slot decode step does), so k prompts in one call pay it
once; the call reads each row's prefix from its source slot and writes the result straight
into its target slot of the donated state (no one-slot row copies, no separate insert).
Prompt log-probabilities (OpenAI `echo` + `logprobs`, TGI `decoder_input_details`) come from
the prefill's own logits, in a variant of each bucket's prefill compiled at warm-up: asking for
them never recompiles, and the other requests run the LM head on their last token only.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from starjax.infer.decoding import TokenGenerator
from starjax.model import KVCache
from starjax.serve.sampling import TOP_LOGPROBS, Sampled, SlotSampling, sample_slots

DEFAULT_BUCKETS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
# Prompts one prefill call takes (each k compiles once per bucket; a group of waiting prompts
# is split into these, largest first, so nothing is padded with empty rows).
PREFILL_BATCHES = (1, 2, 4, 8)


@dataclasses.dataclass(frozen=True)
class Piece:
  """One prompt's prefill in a batched call: `tokens` written at cache positions start.. of
  `slot`, after the first `start` tokens cached in `source` (the slot itself, another slot
  whose prefix it reuses, or any slot when start is 0). sampling: host scalars
  (`sampling_arrays`); presence: bool [vocab], the prompt's tokens."""
  slot: int
  source: int
  tokens: tuple
  start: int
  sampling: SlotSampling
  presence: np.ndarray


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class PromptScores:
  """Log-probabilities of a prefill's tokens under the model, each token given the ones before
  it; entry 0 (the first token prefilled) has no logits before it and is 0."""
  logprob: jax.Array       # float32 [bucket]
  top_ids: jax.Array       # int32 [bucket, TOP_LOGPROBS]: the likeliest tokens at that place
  top_logprobs: jax.Array  # float32 [bucket, TOP_LOGPROBS]


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class EngineState:
  """Device state of all slots."""
  cache: KVCache        # [slots, cache_len, ...]
  token: jax.Array      # int32 [slots]: last sampled token, fed (and cached) at the next step
  index: jax.Array      # int32 [slots]: its cache index = its position
  steps: jax.Array      # int32 [slots]: tokens sampled so far (folded into the slot's key)
  presence: jax.Array   # bool [slots, vocab]: tokens seen (repetition penalty)
  sampling: SlotSampling


def sampling_arrays(temperature, top_k, top_p, repetition_penalty, seed) -> SlotSampling:
  """A one-slot SlotSampling from host values (the arguments of prefill/insert)."""
  return SlotSampling(temperature=np.float32(temperature), top_k=np.int32(top_k),
                      top_p=np.float32(top_p),
                      repetition_penalty=np.float32(repetition_penalty),
                      key=np.uint32(seed & 0xFFFFFFFF))


class Engine:
  """Compiled prefill / insert / generate over one model (a TokenGenerator's parameters,
  placement and mesh).

  slots: decode slots (the batch of every step). cache_len: positions per slot (prompt +
  generated tokens), at most the model's context. buckets: prefill lengths (each ≤ cache_len;
  cache_len itself is always one). chunk: the most tokens one prefill takes (rounded down to a
  bucket; default cache_len): a longer prompt is prefilled in pieces (`pieces`), so that it
  pays for its own length plus less than one bucket's padding, not for the next bucket up.
  batches: how many prompts one prefill call may take (each ≤ slots), and prefill_tokens the
  most tokens such a call holds (k × bucket; one prompt always fits).
  """

  def __init__(self, tokens: TokenGenerator, *, slots: int = 8, cache_len: int | None = None,
               buckets=DEFAULT_BUCKETS, chunk: int | None = None, batches=PREFILL_BATCHES,
               prefill_tokens: int = 1024):
    self.tokens = tokens
    self.config = tokens.config
    self.slots = slots
    self.cache_len = min(cache_len or self.config.max_seq_len, self.config.max_seq_len)
    self.buckets = tuple(sorted({b for b in buckets if b < self.cache_len} | {self.cache_len}))
    self.chunk = max([b for b in self.buckets if b <= (chunk or self.cache_len)]
                     or self.buckets[:1])
    self.vocab = self.config.vocab_size
    self.batches = tuple(sorted({k for k in batches if 1 <= k <= slots} | {1}))
    self.prefill_tokens = prefill_tokens
    self._init = jax.jit(self._init_fn)
    self._prefill_slots = jax.jit(self._prefill_slots_fn, donate_argnames=("state",),
                                  static_argnames=("fresh",))
    self._prefill = jax.jit(self._prefill_fn, static_argnames=("prompt_logprobs",))
    self._extract = jax.jit(self._extract_fn)
    self._insert = jax.jit(self._insert_fn, donate_argnames=("state",))
    self._generate = jax.jit(self._generate_fn, donate_argnames=("state",))

  # -- host API ----------------------------------------------------------------------------
  def bucket(self, length: int) -> int:
    """The smallest prefill bucket holding `length` tokens."""
    for b in self.buckets:
      if b >= length:
        return b
    raise ValueError(f"{length} tokens exceed the cache length {self.cache_len}")

  def pieces(self, start: int, end: int) -> list[tuple[int, int]] | None:
    """The prefills that take tokens start..end after `start` cached ones: (from, to) pieces
    of `chunk` tokens, then the rest; None when the last one's bucket would overflow the
    cache (then prefill from 0 in one bucket, which always fits)."""
    pieces = []
    while end - start > self.chunk:
      pieces.append((start, start + self.chunk))
      start += self.chunk
    if start + self.bucket(end - start) > self.cache_len:
      return None
    return pieces + [(start, end)]

  def batch_sizes(self, bucket: int) -> tuple[int, ...]:
    """The prompt counts one prefill call of `bucket` takes (compiled at warm-up)."""
    return tuple(k for k in self.batches if k == 1 or k * bucket <= self.prefill_tokens)

  def split(self, count: int, bucket: int) -> list[int]:
    """`count` prompts of one bucket as the fewest calls of compiled sizes, largest first."""
    sizes, calls = self.batch_sizes(bucket), []
    while count:
      calls.append(max(k for k in sizes if k <= count))
      count -= calls[-1]
    return calls

  def init(self) -> EngineState:
    with self.context():
      return self._init()

  def prefill_slots(self, state: EngineState, pieces: Sequence[Piece]
                    ) -> tuple[EngineState, Sampled]:
    """Prefills the pieces (all of one bucket, as many as a compiled size) in one call, each
    into its slot of `state` (donated), which is then about to feed the piece's sampled first
    token at cache index start + len(tokens). The slots must differ, and no piece's source
    may be another's slot. Returns the new state and the first tokens, Sampled [k].
    Pieces that all start at 0 run a variant whose attention sees only the bucket's positions,
    not the whole (empty) cache row: a 128-token prefill spends a fifth of its time less."""
    k = len(pieces)
    bucket = self.bucket(max(len(p.tokens) for p in pieces))
    if k not in self.batch_sizes(bucket):
      raise ValueError(f"{k} prefills of bucket {bucket}: compiled sizes are "
                       f"{self.batch_sizes(bucket)}")
    tokens = np.zeros((k, bucket), np.int32)
    for i, p in enumerate(pieces):
      tokens[i, :len(p.tokens)] = p.tokens
      if p.start + bucket > self.cache_len:
        raise ValueError(f"prefill of {len(p.tokens)} tokens at {p.start} does not fit "
                         f"cache_len {self.cache_len}")
    column = lambda f: np.array([f(p) for p in pieces])  # noqa: E731
    sampling = jax.tree.map(lambda *xs: np.stack(xs), *[p.sampling for p in pieces])
    with self.context():
      return self._prefill_slots(
          self.tokens.params, state, column(lambda p: p.slot).astype(np.int32),
          column(lambda p: p.source).astype(np.int32), tokens,
          column(lambda p: p.start).astype(np.int32),
          column(lambda p: len(p.tokens)).astype(np.int32), sampling,
          np.stack([p.presence for p in pieces]), fresh=all(p.start == 0 for p in pieces))

  def prefill(self, row: KVCache | None, tokens, start: int, sampling: SlotSampling,
              presence: np.ndarray, prompt_logprobs: bool = False):
    """Runs tokens (a prompt, or what it adds to the `start` tokens already in `row`) through
    the model into a one-slot cache and samples the first new token.

    row: a one-slot KVCache (`extract`) or None for an empty one. tokens: int sequence, padded
    here to a bucket; start + bucket must fit the cache. presence: bool [vocab], the prompt's
    tokens. prompt_logprobs: also score the tokens (else the scores are zeros). Returns (row,
    Sampled of one slot, PromptScores of the bucket: entries past len(tokens) are padding)."""
    n = len(tokens)
    padded = np.zeros((1, self.bucket(n)), np.int32)
    padded[0, :n] = tokens
    if start + padded.shape[1] > self.cache_len:
      raise ValueError(f"prefill of {n} tokens at {start} does not fit cache_len "
                       f"{self.cache_len}")
    with self.context():
      if row is None:
        row = self._empty_row()
      return self._prefill(self.tokens.params, row, padded, np.int32(start), np.int32(n),
                           sampling, presence[None], prompt_logprobs=bool(prompt_logprobs))

  def extract(self, state: EngineState, slot: int) -> KVCache:
    """The one-slot cache of `slot` (to prefill after its cached prefix)."""
    with self.context():
      return self._extract(state, np.int32(slot))

  def insert(self, state: EngineState, row: KVCache, first: Sampled, slot: int, next_index: int,
             sampling: SlotSampling, presence: np.ndarray) -> EngineState:
    """state with `slot` holding row's cache, about to feed `first` at cache index next_index."""
    with self.context():
      return self._insert(state, row, first, np.int32(slot), np.int32(next_index), sampling,
                          presence[None])

  def generate(self, state: EngineState, active: np.ndarray) -> tuple[EngineState, Sampled]:
    """One decode step for every slot; slots where active is False keep their index."""
    with self.context():
      return self._generate(self.tokens.params, state, active)

  def warm_up(self) -> None:
    """Compiles everything serving runs: each bucket's batched prefill at each compiled size,
    its scoring prefill (one fresh row) with insert, and the decode step. Afterwards no
    request compiles anything."""
    state = self.init()
    sampling = sampling_arrays(0.0, 0, 1.0, 1.0, 0)
    presence = np.zeros(self.vocab, bool)
    active = np.zeros(self.slots, bool)
    active[0] = True
    for bucket in self.buckets:
      row, first, _ = self.prefill(None, [0] * bucket, 0, sampling, presence,
                                   prompt_logprobs=True)
      state = self.insert(state, row, first, 0, min(bucket, self.cache_len - 1), sampling,
                          presence)
      for k in self.batch_sizes(bucket):
        # fresh, and (where it fits) after a one-token prefix
        for start in (0, 1) if 1 + bucket <= self.cache_len else (0,):
          pieces = [Piece(slot=i, source=i, tokens=(0,) * bucket, start=start,
                          sampling=sampling, presence=presence) for i in range(k)]
          state, first = self.prefill_slots(state, pieces)
      state, sampled = self.generate(state, active)
    jax.block_until_ready(sampled)

  def context(self):
    return self.tokens._sharding_context()  # pylint: disable=protected-access

  def _empty_row(self) -> KVCache:
    if not hasattr(self, "_zero_row"):
      self._zero_row = jax.jit(lambda: KVCache.zeros(self.config, 1, self.cache_len))()
    return self._zero_row

  # -- compiled pieces ---------------------------------------------------------------------
  def _init_fn(self) -> EngineState:
    n = self.slots
    sampling = SlotSampling(temperature=jnp.zeros(n, jnp.float32), top_k=jnp.zeros(n, jnp.int32),
                            top_p=jnp.ones(n, jnp.float32),
                            repetition_penalty=jnp.ones(n, jnp.float32),
                            key=jax.random.split(jax.random.key(0), n))
    return EngineState(cache=KVCache.zeros(self.config, n, self.cache_len),
                       token=jnp.zeros(n, jnp.int32), index=jnp.zeros(n, jnp.int32),
                       steps=jnp.zeros(n, jnp.int32), presence=jnp.zeros((n, self.vocab), bool),
                       sampling=sampling)

  def _prefill_fn(self, params, row: KVCache, tokens, start, length, sampling, presence,
                  prompt_logprobs):
    t = tokens.shape[1]
    model, layers = self.tokens._model(params)  # pylint: disable=protected-access
    # Forget what the slot held from `start` on: only its first `start` tokens are reused.
    kept = jnp.arange(self.cache_len)[None] < start
    row = dataclasses.replace(row, segment_ids=jnp.where(kept, row.segment_ids, 0))
    real = (jnp.arange(t)[None] < length).astype(jnp.int32)
    positions = start + jnp.arange(t, dtype=jnp.int32)[None]
    hidden, row = model.decode_hidden(tokens, positions, row, start, layers, segment_ids=real)
    # Only the last real token's logits are sampled from: the LM head runs on that one unless
    # the prompt is scored (a fifth of a prefill's work on the bench model).
    if prompt_logprobs:
      logits = model.head(hidden)[0]
      last = jax.lax.dynamic_slice_in_dim(logits, length - 1, 1)
      scores = _score_prompt(logits, tokens[0])
    else:
      last = model.head(jax.lax.dynamic_slice_in_dim(hidden, length - 1, 1, axis=1))[0]
      scores = _no_scores(tokens[0])
    one = _one_slot(sampling)
    return row, sample_slots(last, one, jnp.zeros(1, jnp.int32), presence), scores

  def _prefill_slots_fn(self, params, state: EngineState, slots, sources, tokens, starts,
                        lengths, sampling, presence, fresh) -> tuple[EngineState, Sampled]:
    k, t = tokens.shape
    model, layers = self.tokens._model(params)  # pylint: disable=protected-access
    if fresh:
      # Nothing is reused: rows of the bucket's length (written to the slots' front below).
      rows = KVCache.zeros(self.config, k, t)
    else:
      # Each row starts from its source slot's cache, keeping only its first `start` tokens.
      rows = jax.tree.map(lambda a: a[sources], state.cache)
      kept = jnp.arange(self.cache_len)[None] < starts[:, None]
      rows = dataclasses.replace(rows, segment_ids=jnp.where(kept, rows.segment_ids, 0))
    real = (jnp.arange(t)[None] < lengths[:, None]).astype(jnp.int32)
    positions = starts[:, None] + jnp.arange(t, dtype=jnp.int32)[None]
    hidden, rows = model.decode_hidden(tokens, positions, rows, starts, layers, segment_ids=real)
    # The LM head on each row's last real token only (it keeps the [b, t, embed] rank).
    last = jnp.take_along_axis(hidden, (lengths - 1)[:, None, None], axis=1)
    logits = model.head(last)[:, 0]
    sampling = dataclasses.replace(sampling, key=jax.vmap(jax.random.key)(sampling.key))
    first = sample_slots(logits, sampling, jnp.zeros(k, jnp.int32), presence)
    presence = presence.at[jnp.arange(k), first.token].set(True)
    put = lambda a, r: a.at[slots].set(r.astype(a.dtype))  # noqa: E731
    if fresh:
      # The slot's keys past the bucket stay, unattended: their segment ids are 0.
      front = lambda a, r: a.at[slots, :t].set(r.astype(a.dtype))  # noqa: E731
      segments = jnp.pad(rows.segment_ids, ((0, 0), (0, self.cache_len - t)))
      cache = KVCache(key=tuple(map(front, state.cache.key, rows.key)),
                      value=tuple(map(front, state.cache.value, rows.value)),
                      segment_ids=put(state.cache.segment_ids, segments))
    else:
      cache = jax.tree.map(put, state.cache, rows)
    return EngineState(
        cache=cache, token=put(state.token, first.token),
        index=put(state.index, starts + lengths), steps=put(state.steps, jnp.ones(k, jnp.int32)),
        presence=put(state.presence, presence),
        sampling=jax.tree.map(put, state.sampling, sampling)), first

  def _extract_fn(self, state: EngineState, slot) -> KVCache:
    take = lambda a: jax.lax.dynamic_slice_in_dim(a, slot, 1, axis=0)  # noqa: E731
    return jax.tree.map(take, state.cache)

  def _insert_fn(self, state: EngineState, row: KVCache, first: Sampled, slot, next_index,
                 sampling, presence) -> EngineState:
    put = lambda a, r: jax.lax.dynamic_update_slice_in_dim(a, r.astype(a.dtype), slot, axis=0)  # noqa: E731
    one = _one_slot(sampling)
    presence = presence.at[0, first.token[0]].set(True)
    return EngineState(
        cache=jax.tree.map(put, state.cache, row),
        token=put(state.token, first.token), index=put(state.index, next_index[None]),
        steps=put(state.steps, jnp.ones(1, jnp.int32)), presence=put(state.presence, presence),
        sampling=jax.tree.map(put, state.sampling, one))

  def _generate_fn(self, params, state: EngineState, active) -> tuple[EngineState, Sampled]:
    model, layers = self.tokens._model(params)  # pylint: disable=protected-access
    # One batch of all slots, each writing its key/value at its own index in place (the cache
    # is donated); its attention reads the cache where it lies (attention._cache_major).
    logits, cache = model.decode(state.token[:, None], state.index[:, None], state.cache,
                                 state.index, layers)
    logits = logits[:, 0]
    sampled = sample_slots(logits, state.sampling, state.steps, state.presence)
    token = jnp.where(active, sampled.token, state.token)
    presence = state.presence.at[jnp.arange(self.slots), token].set(
        state.presence[jnp.arange(self.slots), token] | active)
    step = active.astype(jnp.int32)
    return EngineState(cache=cache, token=token, index=state.index + step,
                       steps=state.steps + step, presence=presence,
                       sampling=state.sampling), sampled


def _score_prompt(logits, tokens) -> PromptScores:
  """logits float32 [t, vocab] of tokens int32 [t]: token i is scored by the logits at i - 1
  (the raw distribution, as the generated tokens' logprobs are)."""
  logprobs = jax.nn.log_softmax(logits[:-1], axis=-1)
  chosen = jnp.take_along_axis(logprobs, tokens[1:, None], axis=-1)[:, 0]
  top_logprobs, top_ids = jax.lax.top_k(logprobs, TOP_LOGPROBS)
  pad = lambda a: jnp.concatenate([jnp.zeros_like(a[:1]), a])  # noqa: E731
  return PromptScores(logprob=pad(chosen), top_ids=pad(top_ids.astype(jnp.int32)),
                      top_logprobs=pad(top_logprobs))


def _no_scores(tokens) -> PromptScores:
  t = tokens.shape[0]
  return PromptScores(logprob=jnp.zeros(t, jnp.float32),
                      top_ids=jnp.zeros((t, TOP_LOGPROBS), jnp.int32),
                      top_logprobs=jnp.zeros((t, TOP_LOGPROBS), jnp.float32))


def _one_slot(sampling: SlotSampling) -> SlotSampling:
  """A host SlotSampling of scalars as a [1] batch, the seed made a PRNG key."""
  return SlotSampling(temperature=jnp.reshape(sampling.temperature, (1,)),
                      top_k=jnp.reshape(sampling.top_k, (1,)),
                      top_p=jnp.reshape(sampling.top_p, (1,)),
                      repetition_penalty=jnp.reshape(sampling.repetition_penalty, (1,)),
                      key=jax.random.key(sampling.key)[None])


@contextlib.contextmanager
def count_compilations():
  """Counts XLA compilations in the block: `with count_compilations() as n: ...; n[0]`."""
  count = [0]

  def listener(event, duration, **_):
    del duration
    if event == "/jax/core/compile/backend_compile_duration":
      count[0] += 1

  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    yield count
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)
