"""Causal self-attention with 1 (MQA), some (GQA) or all (MHA) key/value heads.

The mask is derived, inside the attention, from token indices and segment ids, so it never
lets a token see the future, another packed document, padding, or (with a sliding window)
tokens more than `window - 1` behind it. Full forward passes go to
jax.nn.dot_product_attention's fused kernels (cuDNN flash on GPU, packed segments as a mask on
top of its causal masking); decoding with a KV cache and CPU use its XLA path with an explicit
mask; dropout on attention probabilities uses the einsum path here.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from starjax.model.config import DecoderConfig
from starjax.model.layers import Linear, dropout
from starjax.model.rope import apply_rope, rope_frequencies
from starjax.sharding import constrain


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class LayerCache:
  """Keys and values of one layer for every cached position: each [batch, cache_len, kv_heads, head_dim]."""
  key: jax.Array
  value: jax.Array


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class MaskInfo:
  """What the attention mask is derived from.

  q_index: [batch, q_len] index of each query in the key sequence (its cache slot).
  kv_segment_ids: [batch, kv_len] segment of each key; 0 marks padding and is never attended.
  q_segment_ids: [batch, q_len] segment of each query.
  plain_causal: (static) no packing, no padding, queries = keys: a fused kernel can do it.
  self_attention: (static) queries and keys are the same packed sequence (training forward):
    a segment-aware flash kernel can do it.
  """
  q_index: jax.Array
  q_segment_ids: jax.Array
  kv_segment_ids: jax.Array
  plain_causal: bool = dataclasses.field(metadata=dict(static=True), default=False)
  self_attention: bool = dataclasses.field(metadata=dict(static=True), default=False)


def attention_mask(info: MaskInfo, sliding_window: int | None) -> jax.Array:
  """Boolean [batch, 1, q_len, kv_len]: True where a query may attend a key."""
  kv_len = info.kv_segment_ids.shape[1]
  kv_index = jnp.arange(kv_len, dtype=jnp.int32)[None, None, :]
  q_index = info.q_index[:, :, None]
  mask = kv_index <= q_index
  if sliding_window is not None:
    mask &= q_index - kv_index < sliding_window
  mask &= info.q_segment_ids[:, :, None] == info.kv_segment_ids[:, None, :]
  mask &= info.kv_segment_ids[:, None, :] != 0
  return mask[:, None, :, :]


def dot_product_attention(q, k, v, info: MaskInfo, *, sliding_window: int | None,
                          implementation: str, dropout_rate: float = 0.0,
                          dropout_key: jax.Array | None = None) -> jax.Array:
  """q [b, t, heads, d], k/v [b, s, kv_heads, d] → [b, t, heads, d]; softmax in float32."""
  use_dropout = dropout_rate > 0.0 and dropout_key is not None
  if implementation == "einsum" or use_dropout:
    return _einsum_attention(q, k, v, attention_mask(info, sliding_window),
                             dropout_rate if use_dropout else 0.0, dropout_key)
  if implementation == "pallas":
    if sliding_window is not None or not info.self_attention or not _pallas_fits(q):
      raise ValueError("attention_impl='pallas' serves full forward passes without a sliding "
                       "window, at lengths up to 128 or multiples of 128")
    return _pallas_flash_attention(q, k, v, info.q_segment_ids)
  if (implementation == "auto" and jax.default_backend() == "gpu" and info.self_attention
      and not info.plain_causal):
    # Measured on an H200 (BENCHMARKS.md): cuDNN with the segment mask beats the Pallas kernel.
    implementation = "cudnn"
  if (implementation == "auto" and jax.default_backend() == "cpu" and info.self_attention
      and q.shape[1] > CPU_QUERY_BLOCK and q.shape[1] % CPU_QUERY_BLOCK == 0):
    return _blocked_causal_attention(q, k, v, info, sliding_window, CPU_QUERY_BLOCK)
  if info.plain_causal:
    window = (sliding_window - 1, 0) if sliding_window is not None else None
    impl = None if implementation == "auto" else implementation
    return jax.nn.dot_product_attention(q, k, v, is_causal=True, local_window_size=window,
                                        implementation=impl)
  if implementation == "cudnn":
    # cuDNN flash attention with the segment mask as an additive bias on top of its own
    # causal (and window) masking: packed sequences without materialising the logits.
    if not info.self_attention:
      raise ValueError("attention_impl='cudnn' serves full forward passes; decoding with a KV "
                       "cache needs 'auto' or 'xla'")
    same_segment = info.q_segment_ids[:, None, :, None] == info.kv_segment_ids[:, None, None, :]
    window = (sliding_window - 1, 0) if sliding_window is not None else None
    return jax.nn.dot_product_attention(q, k, v, mask=same_segment, is_causal=True,
                                        local_window_size=window, implementation="cudnn")
  return jax.nn.dot_product_attention(q, k, v, mask=attention_mask(info, sliding_window),
                                      implementation="xla")


# Query block of the CPU path: small enough that a block's scores stay in cache, large enough
# for efficient matmuls (measured on the bench config: 64 beats 128 and 256).
CPU_QUERY_BLOCK = 64


def _blocked_causal_attention(q, k, v, info: MaskInfo, sliding_window, block):
  """Causal attention one block of queries at a time, each against only the keys it can see
  (up to its last query, and from the window's start): skips the masked upper triangle, which
  a dense masked softmax computes and throws away. For full forward passes on CPU."""
  t = q.shape[1]
  outputs = []
  for start in range(0, t, block):
    end = start + block
    first = 0 if sliding_window is None else max(0, start - sliding_window + 1)
    part = MaskInfo(q_index=info.q_index[:, start:end] - first,
                    q_segment_ids=info.q_segment_ids[:, start:end],
                    kv_segment_ids=info.kv_segment_ids[:, first:end])
    mask = attention_mask(part, sliding_window)
    outputs.append(_einsum_attention(q[:, start:end], k[:, first:end], v[:, first:end], mask,
                                     0.0, None))
  return jnp.concatenate(outputs, axis=1)


def _pallas_fits(q) -> bool:
  length, head_dim = q.shape[1], q.shape[3]
  return (length <= 128 or length % 128 == 0) and head_dim >= 16


def _pallas_flash_attention(q, k, v, segment_ids):
  """Causal flash attention that respects packed segments (Pallas/Triton on GPU; the same
  kernel interpreted elsewhere, for tests). Key/value heads are repeated up to the query heads
  (the kernel is multi-head only); the repeat is fused into the kernel's loads by XLA."""
  from jax.experimental.pallas.ops.gpu import attention as pallas_attention  # pylint: disable=import-outside-toplevel
  heads, kv_heads = q.shape[2], k.shape[2]
  if kv_heads != heads:
    k = jnp.repeat(k, heads // kv_heads, axis=2)
    v = jnp.repeat(v, heads // kv_heads, axis=2)
  return pallas_attention.mha(q, k, v, segment_ids, sm_scale=q.shape[-1] ** -0.5, causal=True,
                              interpret=jax.default_backend() != "gpu")


def _einsum_attention(q, k, v, mask, rate, key):
  b, t, h, d = q.shape
  kv_heads = k.shape[2]
  q = q.reshape(b, t, kv_heads, h // kv_heads, d)
  logits = jnp.einsum("btkgd,bskd->bkgts", q, k, preferred_element_type=jnp.float32)
  logits = logits * (d ** -0.5)
  logits = jnp.where(mask[:, :, None], logits, jnp.finfo(jnp.float32).min)
  probs = jax.nn.softmax(logits, axis=-1)
  probs = dropout(probs, rate, key).astype(v.dtype)
  out = jnp.einsum("bkgts,bskd->btkgd", probs, v)
  return out.reshape(b, t, h, d)


class Attention(nnx.Module):
  """Pre-projected multi-query / grouped-query self-attention with optional RoPE and KV cache."""

  def __init__(self, config: DecoderConfig, *, rngs: nnx.Rngs):
    c = config
    self.config = c
    d, h, kv, hd = c.hidden_size, c.num_heads, c.num_kv_heads, c.resolved_head_dim
    std = c.resolved_init_std
    common = dict(use_bias=c.use_bias, param_dtype=c.weight_dtype, dtype=c.compute_dtype,
                  rngs=rngs)
    self.query = Linear((d,), (h, hd), ("embed", "heads", "head_dim"), std=std, **common)
    self.key = Linear((d,), (kv, hd), ("embed", "kv_heads", "head_dim"), std=std, **common)
    self.value = Linear((d,), (kv, hd), ("embed", "kv_heads", "head_dim"), std=std, **common)
    self.out = Linear((h, hd), (d,), ("heads", "head_dim", "embed"),
                      std=std / (2 * c.num_layers) ** 0.5, **common)

  def __call__(self, x: jax.Array, positions: jax.Array, info: MaskInfo, *,
               cache: LayerCache | None = None, cache_index: jax.Array | None = None,
               dropout_key: jax.Array | None = None):
    """x [b, t, d] → ([b, t, d], updated cache or None).

    With a cache, the t new keys/values are written at cache_index and the queries attend
    over the whole cache (masked by MaskInfo).
    """
    c = self.config
    q = constrain(self.query(x), ("act_batch", "act_length", "act_heads", None))
    k = constrain(self.key(x), ("act_batch", "act_length", "act_kv_heads", None))
    v = constrain(self.value(x), ("act_batch", "act_length", "act_kv_heads", None))
    if c.position_embedding == "rope":
      cos, sin = rope_frequencies(positions, c.resolved_head_dim, c.rope_theta)
      q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    if cache is not None:
      k = jax.lax.dynamic_update_slice_in_dim(cache.key, k.astype(cache.key.dtype),
                                              cache_index, axis=1)
      v = jax.lax.dynamic_update_slice_in_dim(cache.value, v.astype(cache.value.dtype),
                                              cache_index, axis=1)
      cache = LayerCache(key=k, value=v)
      k, v = k.astype(q.dtype), v.astype(q.dtype)
    encoded = dot_product_attention(
        q, k, v, info, sliding_window=c.sliding_window, implementation=c.attention_impl,
        dropout_rate=c.dropout_rate, dropout_key=dropout_key)
    return self.out(encoded), cache
