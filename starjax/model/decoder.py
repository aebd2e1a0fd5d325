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

from starjax.model.attention import Attention, LayerCache, MaskInfo
from starjax.model.config import DecoderConfig
from starjax.model.layers import Embed, LayerNorm, Linear, dropout
from starjax.sharding import constrain

REMAT_POLICIES = {
    "none": None,
    # Keep matmul outputs (no batch dims in their contraction), recompute elementwise work.
    "minimal": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
    "full": jax.checkpoint_policies.nothing_saveable,
}


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


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class KVCache:
  """Decoding state of the whole stack.

  key, value: [layers, batch, cache_len, kv_heads, head_dim]: only num_kv_heads are stored
    (one head for MQA), which is what makes MQA decoding cheap. With per_layer=True, tuples of
    one [batch, cache_len, kv_heads, head_dim] array per layer (see Decoder.decode).
  segment_ids: [batch, cache_len]: 1 for filled positions, 0 for padding / not yet written.
  """
  key: jax.Array | tuple[jax.Array, ...]
  value: jax.Array | tuple[jax.Array, ...]
  segment_ids: jax.Array

  @classmethod
  def zeros(cls, config: DecoderConfig, batch: int, cache_len: int, dtype=None,
            per_layer: bool = False):
    shape = (batch, cache_len, config.num_kv_heads, config.resolved_head_dim)
    dtype = dtype or config.compute_dtype
    if per_layer:
      key = tuple(jnp.zeros(shape, dtype) for _ in range(config.num_layers))
      value = tuple(jnp.zeros(shape, dtype) for _ in range(config.num_layers))
    else:
      key = jnp.zeros((config.num_layers, *shape), dtype)
      value = jnp.zeros((config.num_layers, *shape), dtype)
    return cls(key=key, value=value, segment_ids=jnp.zeros((batch, cache_len), jnp.int32))


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
               segment_ids: jax.Array | None = None, *, dropout_rng: jax.Array | None = None
               ) -> jax.Array:
    """Full forward pass.

    tokens: int32 [batch, length]. positions: [batch, length] (default 0..length-1; packed
      documents restart at 0). segment_ids: [batch, length] packed-document ids (0 = padding);
      attention never crosses a segment. dropout_rng: enables dropout (training).
    Returns float32 logits [batch, length, vocab].
    """
    b, t = tokens.shape
    if positions is None:
      positions = jnp.broadcast_to(jnp.arange(t, dtype=jnp.int32), (b, t))
    plain = segment_ids is None
    if segment_ids is None:
      segment_ids = jnp.ones((b, t), jnp.int32)
    info = MaskInfo(q_index=jnp.broadcast_to(jnp.arange(t, dtype=jnp.int32), (b, t)),
                    q_segment_ids=segment_ids, kv_segment_ids=segment_ids, plain_causal=plain,
                    self_attention=True)
    x = self._hidden(tokens, positions, info, None, None, dropout_rng)[0]
    return self._logits(x)

  def decode(self, tokens: jax.Array, positions: jax.Array, cache: KVCache,
             cache_index: jax.Array, segment_ids: jax.Array | None = None,
             layer_params: Sequence | None = None) -> tuple[jax.Array, KVCache]:
    """Forward pass of `tokens` [b, t] written into the cache at slots cache_index..+t.

    Prefill passes the (left-padded) prompt with segment_ids (0 on padding) at cache_index 0;
    each decode step passes one token. Returns (float32 logits [b, t, vocab], updated cache).

    layer_params: the blocks' parameters as one state per layer (with a per-layer cache). The
      layers then run one after another instead of in a scan over the stacked parameters, whose
      per-step slicing copies every layer's weights: for one-token steps that copy costs about
      a third of the time (measured on CPU).
    """
    b, t = tokens.shape
    if segment_ids is None:
      segment_ids = jnp.ones((b, t), jnp.int32)
    kv_segments = jax.lax.dynamic_update_slice_in_dim(cache.segment_ids, segment_ids,
                                                      cache_index, axis=1)
    q_index = cache_index + jnp.broadcast_to(jnp.arange(t, dtype=jnp.int32), (b, t))
    # A query sees the filled slots (segment 1) of its own row; padding queries see nothing
    # useful, and their outputs are never read.
    info = MaskInfo(q_index=q_index, q_segment_ids=jnp.ones_like(segment_ids),
                    kv_segment_ids=kv_segments)
    layers = LayerCache(key=cache.key, value=cache.value)
    if layer_params is not None:
      x, layers = self._hidden_layerwise(tokens, positions, info, layers, cache_index,
                                         layer_params)
    else:
      x, layers = self._hidden(tokens, positions, info, layers, cache_index, None)
    return self._logits(x), KVCache(key=layers.key, value=layers.value, segment_ids=kv_segments)

  def _embed(self, tokens, positions):
    x = self.wte(tokens)
    if self.wpe is not None:
      x = x + self.wpe(positions)
    return x

  def _hidden_layerwise(self, tokens, positions, info, layer_cache: LayerCache, cache_index,
                        layer_params):
    graphdef = nnx.graphdef(self.blocks)
    x = constrain(self._embed(tokens, positions), ("act_batch", "act_length", "act_embed"))
    keys, values = [], []
    for i, params in enumerate(layer_params):
      block = nnx.merge(graphdef, params)
      x, cache = block(x, positions, info, cache=LayerCache(layer_cache.key[i],
                                                            layer_cache.value[i]),
                       cache_index=cache_index)
      keys.append(cache.key)
      values.append(cache.value)
    return self.ln_f(x), LayerCache(key=tuple(keys), value=tuple(values))

  def _hidden(self, tokens, positions, info, layer_cache, cache_index, dropout_rng):
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
      layer_params, cache, key = scanned
      block = nnx.merge(graphdef, layer_params)
      return block(x, positions, info, cache=cache, cache_index=cache_index, dropout_key=key)

    policy = REMAT_POLICIES[c.remat_policy]
    if policy is not None:
      body = jax.checkpoint(body, policy=policy, prevent_cse=False)
    x, layer_cache = jax.lax.scan(body, x, (params, layer_cache, layer_keys),
                                  unroll=min(c.scan_unroll, c.num_layers))
    return self.ln_f(x), layer_cache

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
