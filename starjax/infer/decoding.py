"""Batched autoregressive decoding with a KV cache, compiled once per shape.

    prompts (left-padded to a bucket) ─ prefill (one forward pass fills the cache, samples
    token 1) ─ decode loop: lax.while_loop over steps, each feeding one token per sequence
    through Decoder.decode and sampling the next; runs in chunks of `chunk_size` steps so the
    host can check stop strings between chunks (no per-token Python dispatch).

The cache keeps only num_kv_heads heads (one for MQA). Padding slots carry segment id 0 and
are never attended; positions count real tokens only, so padding changes no logits.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from starjax import sharding
from starjax.infer.batch_plans import shrink, split_by_prompt
from starjax.infer.sampling import SamplingConfig, row_keys, sample_tokens, step_keys
from starjax.model import DecoderConfig, KVCache, abstract_decoder, unstack_layers
from starjax.model.layers import output_major_kernel
from starjax.model.shared_prefix import PrefixCache, grouped_rows, holds_prefix
from jax.sharding import PartitionSpec as P

# Batches of at least this many rows decode with the MLP kernel layout of TokenGenerator's
# loop graph (see there).
LOOP_LAYOUT_ROWS = 32

# Batches of at least this many rows shrink to the next power of two at or above the rows
# still decoding whenever that is smaller (see TokenGenerator.generate).
COMPACT_MIN_ROWS = 8

# Slots by which a row's cache grows on one CPU device (see TokenGenerator.__init__).
CACHE_STEP = 64

# (row, generated token ids so far) → True if the row should stop (e.g. a stop string).
StopCheck = Callable[[int, list[int]], bool]


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class DecodeState:
  cache: KVCache
  index: jax.Array      # int32 []: cache slot that `token` will be written to
  token: jax.Array      # int32 [b]: last sampled token, fed at the next step
  position: jax.Array   # int32 [b]: its position
  done: jax.Array       # bool [b]
  output: jax.Array     # int32 [b, max_new_tokens]
  count: jax.Array      # int32 []: tokens generated so far (all rows)
  limit: jax.Array      # int32 [b]: each row's max_new_tokens (the output buffer may be longer)
  key: jax.Array        # [b]: each row's own PRNG key; step t draws with fold_in(key, t)


@dataclasses.dataclass(frozen=True)
class Generated:
  tokens: list[int]     # completion token ids, without the EOS
  finish_reason: str    # 'eos' | 'stop' | 'length'


def _bucket(n: int, multiple: int) -> int:
  return max(multiple, math.ceil(n / multiple) * multiple)


class TokenGenerator:
  """Generates token ids from token-id prompts for one model (parameters as a pure dict).

  mesh_config: place parameters and the KV cache on a mesh by the logical-axis rules, like
  training (default: one device). chunk_size: decode steps between host-side stop checks.
  """

  def __init__(self, config: DecoderConfig, params, *, eos_id: int = 0,
               mesh_config: sharding.MeshConfig | None = None, chunk_size: int = 32,
               prompt_bucket: int = 32):
    self.config = config
    self.eos_id = eos_id
    self.chunk_size = chunk_size
    self.prompt_bucket = prompt_bucket
    abstract = abstract_decoder(config)
    self.graphdef = nnx.graphdef(abstract)
    self.mesh = mesh_config.create() if mesh_config is not None else None
    # The decode loop's graph for batches of LOOP_LAYOUT_ROWS rows or more reads the MLP
    # up-projection kernel as [mlp, embed]: on one CPU device its GEMM is then an x·Wᵀ
    # product, which XLA's CPU GEMM ran 1.3-1.5x faster at 32-50 rows (as fast at 56-128,
    # slower at 16), ~13 % of a step at issue 16's n = 50 batches. The loop transposes the
    # kernels once per call (each chunk_size steps: ~5 % of a one-row chunk, hence the floor).
    # Other backends choose their own operand layouts; a partitioned step keeps the stored one.
    self.loop_layout = self.mesh is None and jax.devices()[0].platform == "cpu"
    abstract.blocks.mlp.fc.output_major = True
    self.loop_graphdef = nnx.graphdef(abstract)
    self.rules = mesh_config.logical_axis_rules if mesh_config is not None else ()
    self.mesh_config = mesh_config
    self.params = self._place(params)
    self._prefill = jax.jit(self._prefill_fn, static_argnames=("cache_len", "max_new_tokens",
                                                               "greedy", "use_top_k",
                                                               "use_top_p"))
    self._prefill_shared = jax.jit(self._prefill_shared_fn,
                                   static_argnames=("cache_len", "max_new_tokens", "held",
                                                    "greedy", "use_top_k", "use_top_p"))
    self._decode = jax.jit(self._decode_fn, static_argnames=("greedy", "use_top_k",
                                                             "use_top_p"),
                           donate_argnames=("state",))
    self._select_rows = jax.jit(_select_rows)
    self._grow = jax.jit(_grow, static_argnames=("length",))
    # n samples of a prompt (of a few prompts: holds_prefix) attend to its keys and values held
    # once (a PrefixCache) instead of a copy in every row (starjax/model/shared_prefix.py);
    # a mesh keeps the copies, which its batch sharding lays out like every other row.
    self.share_prefix = self.mesh is None
    # On one CPU device each row's cache grows by CACHE_STEP slots as decoding reaches its end,
    # so that a step attends over the slots written so far rather than the whole buffer (at
    # 512 slots the cache's positions cost ~30 % of a 50-row step); every length is one more
    # compiled decode shape, which elsewhere costs more than it saves.
    self.cache_step = CACHE_STEP if self.loop_layout else 0

  @staticmethod
  def param_shardings(config: DecoderConfig, mesh_config: sharding.MeshConfig) -> dict:
    """NamedShardings of the (stacked) parameter tree on mesh_config's mesh by its rules: what
    a checkpoint is restored onto for sharded inference."""
    abstract_state = nnx.split(abstract_decoder(config))[1]
    specs = sharding.param_specs(abstract_state, mesh_config.logical_axis_rules,
                                 mesh_config.axis_sizes(jax.device_count()))
    return sharding.named(mesh_config.create(), specs)

  def _place(self, params) -> dict:
    """The parameters with per-layer blocks, on the mesh when there is one (each layer's arrays
    keep their stacked spec less the `layers` dimension)."""
    layers = unstack_layers(params)
    if self.mesh is None:
      return layers
    stacked = self.param_shardings(self.config, self.mesh_config)
    per_layer = jax.tree.map(lambda s: jax.sharding.NamedSharding(self.mesh, P(*s.spec[1:])),
                             stacked["blocks"])
    count = len(layers["blocks"])
    return jax.device_put(layers, dict(stacked, blocks=(per_layer,) * count))

  def with_params(self, params) -> "TokenGenerator":
    """This generator (same compiled functions, mesh and settings) over other parameters of the
    same shapes, e.g. a training step's."""
    clone = copy.copy(self)
    clone.params = self._place(params)
    return clone

  def _sharding_context(self):
    if self.mesh is None:
      return contextlib.nullcontext()
    stack = contextlib.ExitStack()
    stack.enter_context(self.mesh)
    stack.enter_context(sharding.activation_sharding(self.mesh, self.rules))
    return stack

  # -- compiled pieces ----------------------------------------------------------------------
  def _model(self, params, *, loop: bool = False):
    """The decoder and its per-layer block parameters. The stacked blocks the module needs are
    rebuilt from the layers, but nothing reads them, so XLA drops the stack. loop: the decode
    loop's graph and kernel layout (`loop_layout`)."""
    layers, graphdef = params["blocks"], self.graphdef
    if loop and self.loop_layout:
      layers, graphdef = tuple(_output_major_fc(layer) for layer in layers), self.loop_graphdef
    stacked = dict(params, blocks=jax.tree.map(lambda *xs: jnp.stack(xs), *layers))
    return nnx.merge(graphdef, stacked), layers

  def _prefill_fn(self, params, tokens, segment_ids, key, limit, temperature, top_k, top_p, *,
                  cache_len, max_new_tokens, greedy, use_top_k, use_top_p):
    b, p = tokens.shape
    positions = jnp.maximum(jnp.cumsum(segment_ids, axis=1) - 1, 0).astype(jnp.int32)
    cache = KVCache.zeros(self.config, b, cache_len)
    model, layers = self._model(params)
    logits, cache = model.decode(tokens, positions, cache, jnp.int32(0), layers,
                                 segment_ids=segment_ids)
    key = row_keys(key, jnp.arange(b, dtype=jnp.int32))
    first = sample_tokens(logits[:, -1], step_keys(key, 0), temperature, top_k, top_p,
                          greedy=greedy, use_top_k=use_top_k, use_top_p=use_top_p)
    output = jnp.full((b, max_new_tokens), self.eos_id, jnp.int32).at[:, 0].set(first)
    done = (first == self.eos_id) | (limit <= 1)
    return DecodeState(cache=cache, index=jnp.int32(p), token=first,
                       position=positions[:, -1] + 1, done=done, output=output,
                       count=jnp.int32(1), limit=limit, key=key)

  def _prefill_shared_fn(self, params, tokens, segment_ids, rows, ids, key, limit, temperature,
                         top_k, top_p, *, cache_len, max_new_tokens, held, greedy, use_top_k,
                         use_top_p):
    """_prefill_fn over the distinct prompts only [u, p], then each of the b output rows samples
    its own first token from its prompt's last logits (rows: int32 [b] → prompt index; ids:
    int32 [b], the given row whose PRNG key it draws with): n samples of one prompt cost one
    prefill. held: the prompts become the cache's shared prefix (the rows in u equal blocks,
    grouped_rows) and each row's own cache (cache_len slots) starts empty; otherwise they are
    copied into their rows' caches (cache_len slots from the prompt's first)."""
    positions = jnp.maximum(jnp.cumsum(segment_ids, axis=1) - 1, 0).astype(jnp.int32)
    cache = KVCache.zeros(self.config, tokens.shape[0], tokens.shape[1] if held else cache_len)
    model, layers = self._model(params)
    logits, cache = model.decode(tokens, positions, cache, jnp.int32(0), layers,
                                 segment_ids=segment_ids)
    b = rows.shape[0]
    if held:
      shared = PrefixCache(key=cache.key, value=cache.value, segment_ids=cache.segment_ids)
      cache = dataclasses.replace(KVCache.zeros(self.config, b, cache_len), prefix=shared)
    else:
      cache = jax.tree.map(lambda x: x[rows], cache)
    key = row_keys(key, ids)
    first = sample_tokens(logits[rows, -1], step_keys(key, 0), temperature, top_k, top_p,
                          greedy=greedy, use_top_k=use_top_k, use_top_p=use_top_p)
    output = jnp.full((b, max_new_tokens), self.eos_id, jnp.int32).at[:, 0].set(first)
    done = (first == self.eos_id) | (limit <= 1)
    return DecodeState(cache=cache, index=jnp.int32(0 if held else tokens.shape[1]),
                       token=first, position=positions[rows, -1] + 1, done=done, output=output,
                       count=jnp.int32(1), limit=limit, key=key)

  def _decode_fn(self, params, state: DecodeState, steps, temperature, top_k, top_p, *,
                 greedy, use_top_k, use_top_p):
    model, layers = self._model(params, loop=state.token.shape[0] >= LOOP_LAYOUT_ROWS)
    limit = jnp.minimum(state.count + steps, jnp.max(state.limit))

    def cond(s):
      return (s.count < limit) & ~jnp.all(s.done)

    def body(s):
      logits, cache = model.decode(s.token[:, None], s.position[:, None], s.cache, s.index,
                                   layers)
      new = sample_tokens(logits[:, 0], step_keys(s.key, s.count), temperature, top_k, top_p,
                          greedy=greedy, use_top_k=use_top_k, use_top_p=use_top_p)
      new = jnp.where(s.done, self.eos_id, new)
      output = jax.lax.dynamic_update_slice_in_dim(s.output, new[:, None], s.count, axis=1)
      done = s.done | (new == self.eos_id) | (s.count + 1 >= s.limit)
      return DecodeState(cache=cache, index=s.index + 1, token=new, position=s.position + 1,
                         done=done, output=output, count=s.count + 1, limit=s.limit, key=s.key)

    return jax.lax.while_loop(cond, body, state)

  # -- host loop ----------------------------------------------------------------------------
  def _capacity(self, index: int, full: int) -> int:
    """Own cache slots for a decode chunk whose first token goes to slot `index`: the whole
    buffer, or (cache_step) the next multiple of it that holds the chunk."""
    if not self.cache_step:
      return full
    return min(full, _bucket(index + self.chunk_size, self.cache_step))

  def check_lengths(self, prompts: Sequence[Sequence[int]],
                    max_new_tokens: int | Sequence[int]) -> None:
    """max_new_tokens: one for every prompt, or each prompt's own."""
    if not prompts:
      raise ValueError("no prompts given")
    limit = self.config.max_seq_len
    budgets = _per_prompt(max_new_tokens, len(prompts))
    for i, (prompt, max_new_tokens) in enumerate(zip(prompts, budgets)):
      if len(prompt) == 0:
        raise ValueError(f"prompt {i} is empty: give at least one token of context")
      if len(prompt) > limit:
        raise ValueError(f"prompt {i} has {len(prompt)} tokens, longer than the model's "
                         f"context of {limit}; shorten it")
      if len(prompt) + max_new_tokens > limit:
        raise ValueError(
            f"prompt {i} ({len(prompt)} tokens) + max_new_tokens={max_new_tokens} exceeds the "
            f"model's context of {limit}; use max_new_tokens <= {limit - len(prompt)}")

  def generate(self, prompts: Sequence[Sequence[int]], sampling: SamplingConfig,
               stop_check: StopCheck | None = None,
               max_new_tokens: Sequence[int] | None = None) -> list[Generated]:
    """Completes every prompt (token ids, no padding); returns one Generated per prompt.

    Rows finish at EOS, when stop_check says so (checked every chunk_size tokens), or after
    sampling.max_new_tokens (max_new_tokens: each prompt's own, at most that). Rows never
    influence each other: a row's tokens are those it would get in a batch of its own.
    """
    limits = _per_prompt(sampling.max_new_tokens if max_new_tokens is None else max_new_tokens,
                         len(prompts))
    if max(limits) > sampling.max_new_tokens:
      raise ValueError(f"max_new_tokens: a prompt's {max(limits)} exceeds "
                       f"sampling.max_new_tokens={sampling.max_new_tokens}; raise it")
    self.check_lengths(prompts, limits)
    b = len(prompts)
    p = _bucket(max(len(x) for x in prompts), self.prompt_bucket)
    # A prompt that several rows share (n samples of one problem) is prefilled once; a few
    # such prompts are held once, their rows laid out in equal blocks (grouped_rows).
    distinct = list(dict.fromkeys(tuple(prompt) for prompt in prompts))
    shared = len(distinct) < b
    index = {prompt: i for i, prompt in enumerate(distinct)}
    prompt_of = np.asarray([index[tuple(prompt)] for prompt in prompts])
    held = shared and self.share_prefix and holds_prefix(prompt_of, len(distinct))
    # batch row → prompt row (-1: padding of a block, or after compaction)
    origin = grouped_rows(prompt_of, len(distinct)) if held else np.arange(b)
    groups = len(distinct) if held else 1  # blocks of rows, one per prompt held once
    tokens = np.zeros((len(distinct) if shared else b, p), np.int32)
    segments = np.zeros_like(tokens)
    for row, prompt in enumerate(distinct if shared else prompts):
      tokens[row, p - len(prompt):] = prompt
      segments[row, p - len(prompt):] = 1
    max_new = max(limits)
    # The output buffer (and cache) is bucketed so nearby lengths share one compilation;
    # generation still stops at exactly max_new tokens.
    buffer = _bucket(max_new, self.prompt_bucket)
    static = dict(greedy=sampling.greedy, use_top_k=sampling.top_k > 0,
                  use_top_p=sampling.top_p < 1.0)
    dynamic = (jnp.float32(sampling.temperature), jnp.int32(sampling.top_k),
               jnp.float32(sampling.top_p))
    # A row's first own slot: after the prompt, or 0 when the prompt is a shared prefix.
    base = 0 if held else p
    full = base + buffer
    with self._sharding_context():
      if shared:
        given = np.maximum(origin, 0)
        rows = (np.repeat(np.arange(groups), len(origin) // groups) if held
                else prompt_of[given])
        # Padding rows get a budget of one token: done at the prefill.
        budget = np.where(origin >= 0, np.asarray(limits)[given], 1)
        state = self._prefill_shared(self.params, jnp.asarray(tokens), jnp.asarray(segments),
                                     jnp.asarray(rows, jnp.int32),
                                     jnp.asarray(given, jnp.int32),
                                     jax.random.key(sampling.seed),
                                     jnp.asarray(budget, jnp.int32),
                                     *dynamic, cache_len=self._capacity(base, full),
                                     max_new_tokens=buffer, held=held, **static)
      else:
        state = self._prefill(self.params, jnp.asarray(tokens), jnp.asarray(segments),
                              jax.random.key(sampling.seed), jnp.asarray(limits, jnp.int32),
                              *dynamic,
                              cache_len=self._capacity(base, full), max_new_tokens=buffer,
                              **static)
      # Rows finish at different steps (a problem's samples stop at their own stop string),
      # but a step costs every row of the batch. So between chunks the batch shrinks to the
      # next power of two at or above the rows still decoding (in each prompt's block, and
      # without the blocks of prompts that are done), whenever that is smaller: their cache
      # and state are gathered, and each keeps its own PRNG key, so no row's tokens change.
      # When one prompt's block has few rows left and another's many, equal blocks would carry
      # the few as padding: the batch splits into one batch per prompt instead
      # (split_by_prompt), each decoded on. Every shrink is one more compiled decode shape; a
      # mesh's batch sharding fixes its batch size.
      outputs = np.full((b, buffer), self.eos_id, np.int32)
      stopped = np.zeros(b, bool)        # by prompt row

      def finish(state, origin, rows):
        outputs[origin[rows]] = np.asarray(state.output)[rows]

      def decode(state, origin, groups):
        while True:
          count = int(state.count)
          done = np.asarray(state.done) | (origin < 0)
          if stop_check is not None:
            output = np.asarray(state.output[:, :count])
            for row in np.flatnonzero((origin >= 0) & ~stopped[np.maximum(origin, 0)]):
              if stop_check(int(origin[row]), _until_eos(output[row], self.eos_id)):
                stopped[origin[row]] = True
            now = done | stopped[np.maximum(origin, 0)]
            if not np.array_equal(now, done) and not np.all(now):
              state = dataclasses.replace(state, done=jnp.asarray(now))
            done = now
          if np.all(done) or count >= max_new:
            break
          compacts = self.mesh is None and len(origin) >= COMPACT_MIN_ROWS
          parts = split_by_prompt(done, groups) if compacts and groups > 1 else None
          if parts is not None:
            finish(state, origin, np.flatnonzero(done & (origin >= 0)))
            for rows, padding, prompt in parts:
              part = self._select_rows(state, jnp.asarray(rows, jnp.int32),
                                       jnp.asarray([prompt], jnp.int32))
              part = dataclasses.replace(part, done=part.done | jnp.asarray(padding))
              decode(part, np.where(padding, -1, origin[rows]), 1)
            return
          plan = shrink(done, groups) if compacts else None
          if plan is not None:
            rows, padding, kept = plan
            finish(state, origin, np.flatnonzero(done & (origin >= 0)))
            prompts_kept = (jnp.asarray(kept, jnp.int32) if held and len(kept) < groups
                            else None)
            state = self._select_rows(state, jnp.asarray(rows, jnp.int32), prompts_kept)
            state = dataclasses.replace(state, done=state.done | jnp.asarray(padding))
            origin = np.where(padding, -1, origin[rows])
            groups = len(kept)
          capacity = self._capacity(base + count - 1, full)  # `token` goes to slot base+count-1
          if capacity > state.cache.segment_ids.shape[1]:
            state = self._grow(state, length=capacity)
          state = self._decode(self.params, state, jnp.int32(self.chunk_size), *dynamic,
                               **static)
        finish(state, origin, np.flatnonzero(origin >= 0))

      decode(state, origin, groups)
    output = outputs[:, :max_new]
    results = []
    for row in range(b):
      ids = _until_eos(output[row], self.eos_id)
      if stopped[row]:
        reason = "stop"
      elif len(ids) < limits[row]:
        reason = "eos"
      else:
        reason = "length"
      results.append(Generated(tokens=ids, finish_reason=reason))
    return results


def _per_prompt(max_new_tokens: int | Sequence[int], prompts: int) -> list[int]:
  if np.ndim(max_new_tokens) == 0:  # one for all (a Python or numpy integer)
    return [int(max_new_tokens)] * prompts
  if len(max_new_tokens) != prompts:
    raise ValueError(f"max_new_tokens: {len(max_new_tokens)} given for {prompts} prompts; "
                     f"give one per prompt")
  return [int(n) for n in max_new_tokens]


def _select_rows(state: DecodeState, rows: jax.Array,
                 prompts: jax.Array | None = None) -> DecodeState:
  """The state of the batch made of `rows` (int32 [b']) of this one; a shared prefix stays, or
  keeps only `prompts` (int32 [u'], when the blocks of the others are dropped)."""
  take = lambda x: x[rows]  # noqa: E731
  cache = _map_own(take, state.cache)
  if prompts is not None:
    cache = dataclasses.replace(cache, prefix=cache.prefix.select(prompts))
  return dataclasses.replace(state, cache=cache, token=take(state.token),
                             position=take(state.position), done=take(state.done),
                             output=take(state.output), limit=take(state.limit),
                             key=take(state.key))


def _grow(state: DecodeState, length: int) -> DecodeState:
  """The state with each row's own cache extended to `length` slots (new slots empty)."""
  def pad(x):
    return jnp.pad(x, [(0, 0), (0, length - x.shape[1])] + [(0, 0)] * (x.ndim - 2))
  return dataclasses.replace(state, cache=_map_own(pad, state.cache))


def _map_own(fn, cache: KVCache) -> KVCache:
  """fn over each row's own cache arrays [b, slots, ...]; a shared prefix is left as it is."""
  return dataclasses.replace(cache, key=tuple(map(fn, cache.key)),
                             value=tuple(map(fn, cache.value)), segment_ids=fn(cache.segment_ids))


def _output_major_fc(layer: dict) -> dict:
  """One block's parameters with its MLP up-projection kernel stored [mlp, embed]. The barrier
  keeps the transposed copy: without it XLA folds the transpose into the GEMM's operand layout
  and reads the kernel as stored again."""
  fc = dict(layer["mlp"]["fc"])
  fc["kernel"] = jax.lax.optimization_barrier(output_major_kernel(fc["kernel"], 1))
  return dict(layer, mlp=dict(layer["mlp"], fc=fc))


def _until_eos(ids: np.ndarray, eos_id: int) -> list[int]:
  hits = np.flatnonzero(ids == eos_id)
  return ids[: hits[0]].tolist() if hits.size else ids.tolist()
