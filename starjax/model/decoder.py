"""The StarCoder-family decoder: embeddings, a scanned stack of pre-LayerNorm blocks, LM head.

    tokens [b, t] ─ wte (+ wpe[positions]) ─ dropout ─┬─ block × num_layers (lax.scan) ─ ln_f ─ head
    block:  x += dropout(attn(ln_1(x)));  x += dropout(mlp(ln_2(x)))

Blocks are created with nnx.vmap, so every block parameter has a leading `layers` axis and
the stack compiles once however deep it is; the remat policy wraps the scanned body.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from starjax.model.attention import Attention, LayerCache, MaskInfo, write_cache
from starjax.model.config import REMAT_POLICIES, DecoderConfig
from starjax.model.context_parallel import load_balanced_order
from starjax.model.layers import Embed, LayerNorm, Linear, dropout
from starjax.model.shared_prefix import PrefixCache
from starjax.sharding import active_sequence_axes, constrain


class MLP(nnx.Module):
  """c_fc → tanh-approximated GELU → c_proj."""

  def __init__(self, config: DecoderConfig, *, rngs: nnx.Rngs):
    c = config
    common = dict(use_bias=c.use_bias, param_dtype=c.weight_dtype, dtype=c.compute_dtype,
                  rngs=rngs)
    self.fc = Linear((c.hidden_size,), (c.mlp_dim,), ("embed", "mlp"),
                     std=c.resolved_init_std, **common)
    self.proj = Linear((c.mlp_dim,), (c.hidden_size,), ("mlp", "embed"),
                       std=c.resolved_init_std / (2 * c.num_layers) ** 0.5, **common)

  def __call__(self, x):
    h = constrain(self.fc(x), ("act_batch", "act_length", "act_mlp"))
    return self.proj(jax.nn.gelu(h, approximate=True))


class Block(nnx.Module):
  """One pre-LayerNorm transformer block."""

  def __init__(self, config: DecoderConfig, *, rngs: nnx.Rngs):
    c = config
    self.dropout_rate = c.dropout_rate
    norm = dict(eps=c.layer_norm_eps, param_dtype=c.weight_dtype, dtype=c.compute_dtype)
    self.ln_1 = LayerNorm(c.hidden_size, **norm)
    self.attn = Attention(c, rngs=rngs)
    self.ln_2 = LayerNorm(c.hidden_size, **norm)
    self.mlp = MLP(c, rngs=rngs)

  def __call__(self, x, positions, info: MaskInfo, *, cache=None, cache_index=None,
               dropout_key=None):
    keys = (jax.random.split(dropout_key, 3) if dropout_key is not None else [None] * 3)
    a, cache = self.attn(self.ln_1(x), positions, info, cache=cache, cache_index=cache_index,
                         dropout_key=keys[0])
    x = x + dropout(a, self.dropout_rate, keys[1])
    x = x + dropout(self.mlp(self.ln_2(x)), self.dropout_rate, keys[2])
    return constrain(x, ("act_batch", "act_length", "act_embed")), cache


# Logical axes of the KV cache (sharded by the mesh's rules like parameters and activations).
CACHE_AXES = ("cache_batch", "cache_length", "cache_kv_heads", "cache_head_dim")


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class KVCache:
  """Decoding state of the whole stack, one array per layer.

  key, value: tuples of num_layers arrays [batch, cache_len, kv_heads, head_dim] (logical axes
    CACHE_AXES): only num_kv_heads are stored (one head for MQA), which is what makes MQA
    decoding cheap. Per-layer arrays, not one stacked array, so that a decode step updates each
    layer's cache in place instead of slicing and re-stacking the whole stack.
  segment_ids: [batch, cache_len]: 1 for filled positions, 0 for padding / not yet written.
  prefix: the prompts the rows continue, held once (starjax/model/shared_prefix.py: the rows
    in u equal blocks, block j continuing prompt j), or None; key/value/segment_ids then hold
    each row's own slots after it, and cache indices count those slots.
  """
  key: tuple[jax.Array, ...]
  value: tuple[jax.Array, ...]
  segment_ids: jax.Array
  prefix: PrefixCache | None = None

  @classmethod
  def zeros(cls, config: DecoderConfig, batch: int, cache_len: int, dtype=None) -> "KVCache":
    shape = (batch, cache_len, config.num_kv_heads, config.resolved_head_dim)
    dtype = dtype or config.compute_dtype
    layer = lambda: constrain(jnp.zeros(shape, dtype), CACHE_AXES)  # noqa: E731
    return cls(key=tuple(layer() for _ in range(config.num_layers)),
               value=tuple(layer() for _ in range(config.num_layers)),
               segment_ids=jnp.zeros((batch, cache_len), jnp.int32))


class Decoder(nnx.Module):
  """StarCoder (GPTBigCode) / StarCoder2 decoder. `model(tokens)` → float32 logits."""

  def __init__(self, config: DecoderConfig, *, rngs: nnx.Rngs):
    c = config
    self.config = c
    common = dict(std=c.resolved_init_std, param_dtype=c.weight_dtype, dtype=c.compute_dtype)
    self.wte = Embed(c.vocab_size, c.hidden_size, ("vocab", "embed"), rngs=rngs, **common)
    self.wpe = (Embed(c.max_seq_len, c.hidden_size, ("positions", "embed"), rngs=rngs, **common)
                if c.position_embedding == "learned" else None)

    @nnx.split_rngs(splits=c.num_layers)
    @nnx.vmap(in_axes=(0,), out_axes=0, transform_metadata={nnx.PARTITION_NAME: "layers"})
    def make_blocks(rngs):
      return Block(c, rngs=rngs)

    self.blocks = make_blocks(rngs)
    self.ln_f = LayerNorm(c.hidden_size, eps=c.layer_norm_eps, param_dtype=c.weight_dtype,
                          dtype=c.compute_dtype)
    self.lm_head = (None if c.tie_embeddings else Linear(
        (c.hidden_size,), (c.vocab_size,), ("embed", "vocab"), use_bias=False,
        rngs=rngs, **common))

  def __call__(self, tokens: jax.Array, positions: jax.Array | None = None,
               segment_ids: jax.Array | None = None, *, dropout_rng: jax.Array | None = None,
               load_balanced: bool = False) -> jax.Array:
    """Full forward pass.

    tokens: int32 [batch, length]. positions: [batch, length] (default 0..length-1; packed
      documents restart at 0). segment_ids: [batch, length] packed-document ids (0 = padding);
      attention never crosses a segment. dropout_rng: enables dropout (training).
    load_balanced: tokens, positions and segment ids are in context parallelism's
      load-balanced layout for the active mesh's context axis (context_parallel.py), and so
      are the logits returned; the training step uses it. Without a context axis the layout
      is sequence order and this changes nothing.
    Returns float32 logits [batch, length, vocab].
    """
    b, t = tokens.shape
    split = active_sequence_axes() if load_balanced else None
    order = (load_balanced_order(t, split[2]) if split is not None
             else jnp.arange(t, dtype=jnp.int32))
    index = jnp.broadcast_to(jnp.asarray(order), (b, t))
    if positions is None:
      positions = index
    plain = segment_ids is None and split is None
    if segment_ids is None:
      segment_ids = jnp.ones((b, t), jnp.int32)
    info = MaskInfo(q_index=index, q_segment_ids=segment_ids, kv_segment_ids=segment_ids,
                    plain_causal=plain, self_attention=True, load_balanced=split is not None)
    x = self._hidden(tokens, positions, info, dropout_rng)
    return self._logits(x)

  def decode(self, tokens: jax.Array, positions: jax.Array, cache: KVCache,
             cache_index: jax.Array, layer_params: Sequence,
             segment_ids: jax.Array | None = None) -> tuple[jax.Array, KVCache]:
    """decode_hidden's states through the LM head: (float32 logits [b, t, vocab], cache)."""
    hidden, cache = self.decode_hidden(tokens, positions, cache, cache_index, layer_params,
                                       segment_ids)
    return self.head(hidden), cache

  def head(self, hidden: jax.Array) -> jax.Array:
    """float32 logits [b, t, vocab] of final hidden states [b, t, embed] (after ln_f)."""
    return self._logits(hidden)

  def decode_hidden(self, tokens: jax.Array, positions: jax.Array, cache: KVCache,
                    cache_index: jax.Array, layer_params: Sequence,
                    segment_ids: jax.Array | None = None) -> tuple[jax.Array, KVCache]:
    """Forward pass of `tokens` [b, t] written into the cache at slots cache_index..+t.

    Prefill passes the (left-padded) prompt with segment_ids (0 on padding) at cache_index 0;
    each decode step passes one token. cache_index: a scalar (every row at the same slot) or
    int32 [b] (each row at its own: the serving engine's decode slots). Returns (the final
    hidden states [b, t, embed], after ln_f, and the updated cache): `head` turns the states
    wanted into logits, so a prefill that needs one position's pays the LM head once.

    layer_params: the blocks' parameters as one state per layer (`unstack_layers`). The
      layers run one after another instead of in a scan over the stacked parameters, whose
      per-step slicing copies every layer's weights: for one-token steps that copy costs about
      a third of the time (measured on CPU).
    """
    b, t = tokens.shape
    if segment_ids is None:
      segment_ids = jnp.ones((b, t), jnp.int32)
    kv_segments = write_cache(cache.segment_ids, segment_ids, cache_index)
    q_index = jnp.broadcast_to(jnp.reshape(cache_index, (-1, 1))
                               + jnp.arange(t, dtype=jnp.int32), (b, t))
    # A query sees the filled slots (segment 1) of its own row; padding queries see nothing
    # useful, and their outputs are never read.
    prefix = cache.prefix
    info = MaskInfo(q_index=q_index, q_segment_ids=jnp.ones_like(segment_ids),
                    kv_segment_ids=kv_segments,
                    prefix_segment_ids=None if prefix is None else prefix.segment_ids)
    graphdef = nnx.graphdef(self.blocks)
    x = constrain(self._embed(tokens, positions), ("act_batch", "act_length", "act_embed"))
    keys, values = [], []
    for i, params in enumerate(layer_params):
      shared = () if prefix is None else (prefix.key[i], prefix.value[i])
      x, layer = nnx.merge(graphdef, params)(
          x, positions, info, cache=LayerCache(cache.key[i], cache.value[i], *shared),
          cache_index=cache_index)
      keys.append(constrain(layer.key, CACHE_AXES))
      values.append(constrain(layer.value, CACHE_AXES))
    return self.ln_f(x), KVCache(key=tuple(keys), value=tuple(values),
                                 segment_ids=kv_segments, prefix=prefix)

  def _embed(self, tokens, positions):
    x = self.wte(tokens)
    if self.wpe is not None:
      x = x + self.wpe(positions)
    return x

  def _hidden(self, tokens, positions, info, dropout_rng):
    c = self.config
    x = self._embed(tokens, positions)
    if dropout_rng is not None:
      dropout_rng, embed_key = jax.random.split(dropout_rng)
      x = dropout(x, c.dropout_rate, embed_key)
    x = constrain(x, ("act_batch", "act_length", "act_embed"))

    graphdef, params = nnx.split(self.blocks)
    layer_keys = (jax.random.split(dropout_rng, c.num_layers) if dropout_rng is not None
                  else None)

    def body(x, scanned):
      layer_params, key = scanned
      block = nnx.merge(graphdef, layer_params)
      return block(x, positions, info, dropout_key=key)[0], None

    policy = REMAT_POLICIES[c.remat_policy]
    if policy is not None:
      body = jax.checkpoint(body, policy=policy, prevent_cse=False)
    x, _ = jax.lax.scan(body, x, (params, layer_keys), unroll=min(c.scan_unroll, c.num_layers))
    return self.ln_f(x)

  def _logits(self, x):
    if self.lm_head is not None:
      logits = self.lm_head(x)
    else:
      logits = self.wte.attend(x)
    return constrain(logits.astype(jnp.float32), ("act_batch", "act_length", "act_vocab"))


def create_decoder(config: DecoderConfig, seed: int = 0) -> Decoder:
  """A freshly initialised decoder (on the default device; see starjax.sharding for meshes)."""
  return Decoder(config, rngs=nnx.Rngs(params=seed))


def abstract_decoder(config: DecoderConfig) -> Decoder:
  """The decoder's structure with ShapeDtypeStructs for values: allocates nothing."""
  return nnx.eval_shape(lambda: Decoder(config, rngs=nnx.Rngs(params=0)))


def unstack_layers(params: dict) -> dict:
  """params with the stacked blocks [layers, ...] split into a tuple of per-layer trees (what
  Decoder.decode takes as layer_params, in params["blocks"])."""
  blocks = params["blocks"]
  if isinstance(blocks, (tuple, list)):
    return params
  count = jax.tree.leaves(blocks)[0].shape[0]
  layers = tuple(jax.tree.map(lambda a, i=i: a[i], blocks) for i in range(count))
  return dict(params, blocks=layers)
