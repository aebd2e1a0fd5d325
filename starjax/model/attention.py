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
import functools

import jax
import jax.numpy as jnp
from flax import nnx

from starjax.model import context_parallel
from starjax.model.config import DecoderConfig
from starjax.model.layers import Linear, dropout
from starjax.model.rope import apply_rope, rope_frequencies
from starjax.sharding import active_sequence_axes, constrain


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class LayerCache:
  """Keys and values of one layer for every cached position: each [batch, cache_len, kv_heads, head_dim].

  prefix_key, prefix_value: [u, prompt_len, kv_heads, head_dim] of the prompts the rows
  continue (starjax/model/shared_prefix.py), or None; key/value then hold each row's own
  slots after it."""
  key: jax.Array
  value: jax.Array
  prefix_key: jax.Array | None = None
  prefix_value: jax.Array | None = None


def write_cache(cache: jax.Array, new: jax.Array, index: jax.Array) -> jax.Array:
  """cache [b, s, ...] with new [b, t, ...] written at positions index..index+t-1.

  index: one scalar for every row, or int32 [b], one per row (the serving engine's slots, each
  at its own length). Either way the write is a dynamic-update-slice mapped over the rows: a
  scatter whose rows are batch dimensions (a cache sharded over its batch is written on each
  row's own shard), which XLA does in place on a donated cache. A plain dynamic-update-slice
  of the whole cache was not: XLA:CPU fused it into both of its readers (the step's output and
  the attention's dot) and copied the cache twice per layer for them."""
  index = jnp.broadcast_to(jnp.asarray(index, jnp.int32), cache.shape[:1])
  return jax.vmap(lambda c, n, i: jax.lax.dynamic_update_slice_in_dim(c, n, i, axis=0))(
      cache, new.astype(cache.dtype), index)


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
  load_balanced: (static) queries and keys are one sequence in context parallelism's
    load-balanced layout, split over the active mesh's context axis; q_index holds each
    token's original index (starjax/model/context_parallel.py).
  prefix_segment_ids: [u, prompt_len] of a shared prefix of u prompts (LayerCache.prefix_key;
    the rows in u equal blocks, block j continuing prompt j), or None; q_index and
    kv_segment_ids then count each row's own slots after it.
  """
  q_index: jax.Array
  q_segment_ids: jax.Array
  kv_segment_ids: jax.Array
  plain_causal: bool = dataclasses.field(metadata=dict(static=True), default=False)
  self_attention: bool = dataclasses.field(metadata=dict(static=True), default=False)
  load_balanced: bool = dataclasses.field(metadata=dict(static=True), default=False)
  prefix_segment_ids: jax.Array | None = None


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


def mask_kind(info: MaskInfo) -> str:
  """'causal' (no packing, no padding: a fused causal kernel can do it), 'packed' (a training
  forward pass over packed segments) or 'cached' (queries against a KV cache)."""
  if info.plain_causal:
    return "causal"
  return "packed" if info.self_attention else "cached"


def dot_product_attention(q, k, v, info: MaskInfo, *, sliding_window: int | None,
                          implementation: str, dropout_rate: float = 0.0,
                          dropout_key: jax.Array | None = None) -> jax.Array:
  """q [b, t, heads, d], k/v [b, s, kv_heads, d] → [b, t, heads, d]; softmax in float32.

  The kernel is one lookup in KERNELS by (attention_impl, backend, mask kind); dropout on the
  attention probabilities takes the einsum kernel (or the chunked one when chosen), the only
  ones that apply it. A load-balanced sequence split over a context axis goes through
  _context_parallel."""
  split = active_sequence_axes() if info.load_balanced else None
  if split is not None:
    use_dropout = dropout_rate > 0.0 and dropout_key is not None
    return _context_parallel(q, k, v, info, split, sliding_window, implementation,
                             dropout_rate if use_dropout else 0.0,
                             dropout_key if use_dropout else None)
  if dropout_rate > 0.0 and dropout_key is not None:
    kernel = _chunked if implementation == "chunked" else _einsum_masked
    return kernel(q, k, v, info, sliding_window, rate=dropout_rate, key=dropout_key)
  kernel = choose_kernel(implementation, jax.default_backend(), mask_kind(info))
  return kernel(q, k, v, info, sliding_window)


def choose_kernel(implementation: str, backend: str, kind: str):
  """The attention function for (DecoderConfig.attention_impl, jax backend, mask kind)."""
  kernel = KERNELS.get((implementation, backend, kind), KERNELS.get((implementation, "*", kind)))
  if kernel is None:
    raise ValueError(f"attention_impl={implementation!r} cannot serve {kind} attention "
                     f"({_KIND_TEXT[kind]}); use 'auto' or 'xla'")
  return kernel


def _fused_causal(q, k, v, info, sliding_window, *, implementation=None):
  del info
  window = (sliding_window - 1, 0) if sliding_window is not None else None
  return jax.nn.dot_product_attention(q, k, v, is_causal=True, local_window_size=window,
                                      implementation=implementation)


def _cudnn_segments(q, k, v, info, sliding_window):
  """cuDNN flash attention with the segment mask as an additive bias on top of its own causal
  (and window) masking: packed sequences without materialising the logits."""
  same_segment = info.q_segment_ids[:, None, :, None] == info.kv_segment_ids[:, None, None, :]
  window = (sliding_window - 1, 0) if sliding_window is not None else None
  return jax.nn.dot_product_attention(q, k, v, mask=same_segment, is_causal=True,
                                      local_window_size=window, implementation="cudnn")


def _xla_masked(q, k, v, info, sliding_window):
  return jax.nn.dot_product_attention(q, k, v, mask=attention_mask(info, sliding_window),
                                      implementation="xla")


def _cache_major(q, k, v, info, sliding_window):
  """A few queries (a decode step) against a KV cache, with the cache as the major operand of
  both dots so that XLA reads it where it lies.

  jax.nn.dot_product_attention computes q·kᵀ with the cache as the right-hand operand, which
  the CPU's dot wants as [.., head_dim, cache_len]: every step transposed (copied) every
  layer's whole key cache. Here scores = k·qᵀ come out [b, kv_heads, cache_len, queries]; only
  those (a few rows per cached position) are transposed for probs·v, whose v [.., cache_len,
  head_dim] is already the layout the dot takes. With one kv head (MQA) both caches are read
  in place. More queries per kv head than head_dim (a prefill) take the masked XLA path: there
  the scores, not the cache, are the larger operand to transpose."""
  b, t, h, d = q.shape
  kv_heads = k.shape[2]
  if t * (h // kv_heads) > d:  # the scores transposed would outgrow the key cache
    return _xla_masked(q, k, v, info, sliding_window)
  q = q.reshape(b, t, kv_heads, h // kv_heads, d)
  # k [b, s, kv, d] · q [b, t, kv, g, d] over d, batched over (b, kv) → [b, kv, s, t, g]
  scores = jax.lax.dot_general(k, q, (((3,), (4,)), ((0, 2), (0, 2))),
                               preferred_element_type=jnp.float32) * (d ** -0.5)
  mask = jnp.swapaxes(attention_mask(info, sliding_window), 2, 3)  # [b, 1, s, t]
  scores = jnp.where(mask[..., None], scores, jnp.finfo(jnp.float32).min)
  probs = jax.nn.softmax(scores, axis=2).astype(v.dtype)
  # probs [b, kv, s, t, g] · v [b, s, kv, d] over s → [b, kv, t, g, d]
  out = jax.lax.dot_general(probs, v, (((2,), (1,)), ((0, 1), (0, 2))))
  return jnp.transpose(out, (0, 2, 1, 3, 4)).reshape(b, t, h, d)


def _einsum_masked(q, k, v, info, sliding_window, *, rate=0.0, key=None):
  return _einsum_attention(q, k, v, attention_mask(info, sliding_window), rate, key)


def _cpu_blocked(q, k, v, info, sliding_window):
  """Long sequences in query blocks (below); a short or ragged one in one fused/masked pass."""
  if q.shape[1] > CPU_QUERY_BLOCK and q.shape[1] % CPU_QUERY_BLOCK == 0:
    return _blocked_causal_attention(q, k, v, info, sliding_window, CPU_QUERY_BLOCK)
  if info.plain_causal:
    return _fused_causal(q, k, v, info, sliding_window)
  return _xla_masked(q, k, v, info, sliding_window)


def _chunked(q, k, v, info, sliding_window, *, rate=0.0, key=None):
  """Query blocks recomputed in the backward pass: [t, s] scores never exist whole (long
  training contexts; starjax/model/chunked_attention.py)."""
  from starjax.model.chunked_attention import chunked_attention  # pylint: disable=import-outside-toplevel
  return chunked_attention(q, k, v, info, sliding_window=sliding_window, dropout_rate=rate,
                           dropout_key=key)


def _context_parallel(q, k, v, info, split, sliding_window, implementation, rate, key):
  """Each context shard's queries against the keys and values all-gathered from every shard
  (starjax/model/context_parallel.py). The local queries' indices are not 0..t-1, so the fused
  causal kernels cannot serve them: 'chunked' stays chunked (blocks inside one chunk), anything
  else takes the masked XLA path (einsum with dropout)."""
  from starjax.model.chunked_attention import QUERY_BLOCK, chunked_attention  # pylint: disable=import-outside-toplevel
  mesh, axes, degree = split
  block = context_parallel.query_block(q.shape[1], degree, QUERY_BLOCK)

  def attend(q, k, v, q_index, q_segments, kv_segments, key):
    local = MaskInfo(q_index=q_index, q_segment_ids=q_segments, kv_segment_ids=kv_segments)
    if implementation == "chunked":
      return chunked_attention(q, k, v, local, sliding_window=sliding_window,
                               dropout_rate=rate, dropout_key=key, block=block)
    if key is not None:
      return _einsum_masked(q, k, v, local, sliding_window, rate=rate, key=key)
    return _xla_masked(q, k, v, local, sliding_window)

  return context_parallel.attend_across_context(
      attend, q, k, v, info.q_index, info.q_segment_ids, info.kv_segment_ids, key, mesh=mesh,
      axes=axes, degree=degree)


def _pallas(q, k, v, info, sliding_window):
  if sliding_window is not None or not _pallas_fits(q):
    raise ValueError("attention_impl='pallas' serves full forward passes without a sliding "
                     "window, at lengths up to 128 or multiples of 128")
  return _pallas_flash_attention(q, k, v, info.q_segment_ids)


_KIND_TEXT = {"causal": "a plain causal forward pass", "packed": "a packed forward pass",
              "cached": "decoding with a KV cache"}

# (attention_impl, backend or '*', mask kind) → kernel; an exact backend wins over '*'.
KERNELS = {
    # auto: measured choices (BENCHMARKS.md). On an H200 cuDNN with the segment mask beats
    # the Pallas kernel; on CPU query blocks skip the masked upper triangle.
    ("auto", "gpu", "packed"): _cudnn_segments,
    ("auto", "cpu", "packed"): _cpu_blocked,
    ("auto", "cpu", "causal"): _cpu_blocked,
    ("auto", "*", "causal"): _fused_causal,
    ("auto", "*", "packed"): _xla_masked,
    ("auto", "*", "cached"): _cache_major,
    ("xla", "*", "causal"): functools.partial(_fused_causal, implementation="xla"),
    ("xla", "*", "packed"): _xla_masked,
    ("xla", "*", "cached"): _xla_masked,
    ("cudnn", "*", "causal"): functools.partial(_fused_causal, implementation="cudnn"),
    ("cudnn", "*", "packed"): _cudnn_segments,
    ("pallas", "*", "causal"): _pallas,
    ("pallas", "*", "packed"): _pallas,
    ("einsum", "*", "causal"): _einsum_masked,
    ("einsum", "*", "packed"): _einsum_masked,
    ("einsum", "*", "cached"): _einsum_masked,
    ("chunked", "*", "causal"): _chunked,
    ("chunked", "*", "packed"): _chunked,
    ("chunked", "*", "cached"): _xla_masked,
}


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

    With a cache, the t new keys/values are written at cache_index (a scalar, or int32 [b]:
    each row at its own index) and the queries attend over the whole cache (masked by
    MaskInfo).
    """
    c = self.config
    q = constrain(self.query(x), ("act_batch", "act_length", "act_heads", None))
    k = constrain(self.key(x), ("act_batch", "act_length", "act_kv_heads", None))
    v = constrain(self.value(x), ("act_batch", "act_length", "act_kv_heads", None))
    if c.position_embedding == "rope":
      cos, sin = rope_frequencies(positions, c.resolved_head_dim, c.rope_theta)
      q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    if cache is not None:
      k, v = write_cache(cache.key, k, cache_index), write_cache(cache.value, v, cache_index)
      cache = dataclasses.replace(cache, key=k, value=v)
      k, v = k.astype(q.dtype), v.astype(q.dtype)
    if cache is not None and cache.prefix_key is not None:
      from starjax.model.shared_prefix import shared_prefix_attention  # pylint: disable=import-outside-toplevel
      encoded = shared_prefix_attention(q, k, v, cache.prefix_key.astype(q.dtype),
                                        cache.prefix_value.astype(q.dtype), info,
                                        sliding_window=c.sliding_window)
    else:
      encoded = dot_product_attention(
          q, k, v, info, sliding_window=c.sliding_window, implementation=c.attention_impl,
          dropout_rate=c.dropout_rate, dropout_key=dropout_key)
    return self.out(encoded), cache
