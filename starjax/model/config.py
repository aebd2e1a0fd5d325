"""The decoder's configuration: every architectural and numerical choice, bound from gin.

One dataclass covers the StarCoder family: GPTBigCode (StarCoder/StarCoderBase: MQA, learned
positions, tied LM head) and Starcoder2 (GQA, RoPE, sliding window, untied head in 15B).
`gin/models/*.gin` bind the published shapes.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Literal

import gin
import jax
import jax.numpy as jnp

# remat_policy name → what jax.checkpoint may save in the scanned block (None: no remat).
REMAT_POLICIES = {
    "none": None,
    # Keep matmul outputs (no batch dims in their contraction), recompute elementwise work.
    "minimal": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
    "full": jax.checkpoint_policies.nothing_saveable,
}
POSITION_EMBEDDINGS = ("learned", "rope")
ATTENTION_IMPLEMENTATIONS = ("auto", "xla", "cudnn", "pallas", "einsum", "chunked")
# DecoderConfig fields that decide what a checkpoint computes (the architecture: conversion's
# config.gin binds exactly these, checkpoint compatibility compares them); the others (dtypes,
# dropout, remat, attention kernel, init) are an experiment's choice.
ARCHITECTURE_FIELDS = ("vocab_size", "num_layers", "hidden_size", "num_heads", "num_kv_heads",
                       "head_dim", "mlp_dim", "max_seq_len", "position_embedding", "rope_theta",
                       "sliding_window", "tie_embeddings", "use_bias", "layer_norm_eps")


@gin.configurable
@dataclasses.dataclass(frozen=True)
class DecoderConfig:
  """Shape and numerics of a StarCoder-family decoder.

  Attributes:
    vocab_size: rows of the token embedding (49152 for StarCoder's BPE).
    num_layers: transformer blocks, stacked and scanned.
    hidden_size: model width d.
    num_heads: query heads.
    num_kv_heads: key/value heads: 1 = multi-query (StarCoder), num_heads = multi-head,
      in between = grouped-query (StarCoder2). Must divide num_heads.
    head_dim: per-head width; defaults to hidden_size // num_heads.
    mlp_dim: MLP hidden width (4 × hidden_size in StarCoder).
    max_seq_len: context length; also the rows of the learned position table.
    position_embedding: 'learned' (absolute table, GPTBigCode) or 'rope' (Starcoder2).
    rope_theta: RoPE base frequency.
    sliding_window: if set, a token attends to itself and the previous window - 1 tokens.
    tie_embeddings: the LM head reuses the token embedding (StarCoder); False adds lm_head.
    use_bias: biases on every linear layer except the LM head.
    layer_norm_eps: LayerNorm epsilon.
    dropout_rate: embedding, attention-probability and residual dropout in training.
    init_std: std of weights; None = 1/sqrt(hidden_size) (Megatron). Output projections
      are further scaled by 1/sqrt(2 * num_layers).
    param_dtype: dtype parameters are stored in.
    dtype: compute dtype of matmuls and activations (LayerNorm, softmax, logits stay fp32).
    remat_policy: 'none' saves every activation; 'minimal' recomputes all but the matmul
      outputs without batch dimensions; 'full' recomputes the whole block in the backward pass.
    attention_impl: 'auto' picks per call: on GPU, full forward passes go to cuDNN flash
      attention (jax.nn.dot_product_attention; packed segments as a mask on top of its causal
      and window masking); everything else (KV cache, CPU) to XLA with an explicit mask.
      'pallas' is a segment-aware Triton flash kernel (slower than cuDNN on an H200). 'xla'/'cudnn'/'pallas' force one; 'einsum' is the explicit
      fallback (also used for attention-probability dropout). 'chunked' runs training
      forward passes in query blocks that the backward pass recomputes, so [t, s] scores never
      exist whole (long contexts on TPU; starjax/model/chunked_attention.py).
    scan_unroll: layers per iteration of the scan over blocks. 1 compiles one block whatever
      the depth; num_layers unrolls the stack, which avoids the scan's stacked residual buffers
      (~10 % faster training steps for small models on CPU) at the cost of compile time.
  """

  vocab_size: int = 49152
  num_layers: int = 24
  hidden_size: int = 2048
  num_heads: int = 16
  num_kv_heads: int = 1
  head_dim: int | None = None
  mlp_dim: int = 8192
  max_seq_len: int = 8192
  position_embedding: Literal["learned", "rope"] = "learned"
  rope_theta: float = 10000.0
  sliding_window: int | None = None
  tie_embeddings: bool = True
  use_bias: bool = True
  layer_norm_eps: float = 1e-5
  dropout_rate: float = 0.0
  init_std: float | None = None
  param_dtype: str = "float32"
  dtype: str = "float32"
  remat_policy: str = "none"
  attention_impl: str = "auto"
  scan_unroll: int = 1

  def __post_init__(self):
    problems = []
    if self.num_heads % self.num_kv_heads:
      problems.append(
          f"num_kv_heads={self.num_kv_heads} must divide num_heads={self.num_heads}")
    if self.head_dim is None and self.hidden_size % self.num_heads:
      problems.append(f"hidden_size={self.hidden_size} is not divisible by "
                      f"num_heads={self.num_heads}; set head_dim explicitly")
    if self.position_embedding not in POSITION_EMBEDDINGS:
      problems.append(f"position_embedding={self.position_embedding!r}; "
                      f"choose one of {POSITION_EMBEDDINGS}")
    if self.remat_policy not in REMAT_POLICIES:
      problems.append(f"remat_policy={self.remat_policy!r}; choose one of {tuple(REMAT_POLICIES)}")
    if self.attention_impl not in ATTENTION_IMPLEMENTATIONS:
      problems.append(f"attention_impl={self.attention_impl!r}; "
                      f"choose one of {ATTENTION_IMPLEMENTATIONS}")
    if self.position_embedding == "rope" and self.resolved_head_dim % 2:
      problems.append(f"RoPE needs an even head_dim, got {self.resolved_head_dim}")
    if self.scan_unroll < 1:
      problems.append(f"scan_unroll={self.scan_unroll} must be >= 1")
    if self.sliding_window is not None and self.sliding_window < 1:
      problems.append(f"sliding_window={self.sliding_window} must be >= 1 or None")
    for name in ("param_dtype", "dtype"):
      try:
        jnp.dtype(getattr(self, name))
      except TypeError:
        problems.append(f"{name}={getattr(self, name)!r} is not a dtype (float32, bfloat16)")
    if problems:
      raise ValueError("DecoderConfig: " + "; ".join(problems))

  @property
  def resolved_head_dim(self) -> int:
    return self.head_dim if self.head_dim is not None else self.hidden_size // self.num_heads

  @property
  def resolved_init_std(self) -> float:
    return self.init_std if self.init_std is not None else self.hidden_size ** -0.5

  @property
  def compute_dtype(self):
    return jnp.dtype(self.dtype)

  @property
  def weight_dtype(self):
    return jnp.dtype(self.param_dtype)

  def replace(self, **changes) -> "DecoderConfig":
    return dataclasses.replace(self, **changes)

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), sort_keys=True)

  @classmethod
  def from_json(cls, text: str) -> "DecoderConfig":
    return cls(**json.loads(text))

  def architecture(self) -> dict:
    """What identifies an architecture (ARCHITECTURE_FIELDS, head_dim resolved): a checkpoint
    restores only into a model with the same. max_seq_len counts with learned positions only:
    RoPE has no position table, so another context length fits the same weights."""
    values = {name: getattr(self, name) for name in ARCHITECTURE_FIELDS}
    values["head_dim"] = self.resolved_head_dim
    if self.position_embedding != "learned":
      values["max_seq_len"] = None
    return values
