"""Parameter and FLOP counts of a DecoderConfig, derived from its shapes (nothing allocated).

Model FLOPs follow the PaLM/MaxText convention used for MFU: 2 FLOPs per multiply-add in
every matmul, backward = 2 × forward, remat recomputation not counted. Causal attention is
counted once: a query at position i scores i + 1 keys (or the sliding window), so the
masked upper triangle, which a flash kernel skips, is not counted.
"""

from __future__ import annotations

import dataclasses

from starjax.model.config import DecoderConfig


@dataclasses.dataclass(frozen=True)
class FlopCount:
  """FLOPs per token for a sequence length, forward only and for one training step."""
  seq_len: int
  matmul_forward: float      # projections, MLP and LM head, per token
  attention_forward: float   # QK^T and AV, per token, averaged over positions
  @property
  def forward(self) -> float:
    return self.matmul_forward + self.attention_forward

  @property
  def training(self) -> float:
    return 3.0 * self.forward


def parameter_count(config: DecoderConfig) -> int:
  """Number of parameters (the tied LM head counted once), matching Hugging Face's count."""
  c = config
  d, hd, h, kv = c.hidden_size, c.resolved_head_dim, c.num_heads, c.num_kv_heads
  bias = 1 if c.use_bias else 0
  attention = d * (h + 2 * kv) * hd + bias * (h + 2 * kv) * hd + h * hd * d + bias * d
  mlp = 2 * d * c.mlp_dim + bias * (c.mlp_dim + d)
  norms = 2 * 2 * d
  per_layer = attention + mlp + norms
  embeddings = c.vocab_size * d + (c.max_seq_len * d if c.position_embedding == "learned" else 0)
  head = 0 if c.tie_embeddings else c.vocab_size * d
  return c.num_layers * per_layer + embeddings + 2 * d + head


def average_attended_keys(seq_len: int, sliding_window: int | None) -> float:
  """Mean over query positions 0..seq_len-1 of the number of keys each one scores."""
  if sliding_window is None or sliding_window >= seq_len:
    return (seq_len + 1) / 2
  w = sliding_window
  # positions < w see i + 1 keys; the rest see w.
  return (w * (w + 1) / 2 + (seq_len - w) * w) / seq_len


def flops_per_token(config: DecoderConfig, seq_len: int | None = None) -> FlopCount:
  """Model FLOPs per token at `seq_len` (default: the config's max_seq_len)."""
  c = config
  seq_len = seq_len or c.max_seq_len
  d, hd, h, kv = c.hidden_size, c.resolved_head_dim, c.num_heads, c.num_kv_heads
  projections = d * (h + 2 * kv) * hd + h * hd * d
  mlp = 2 * d * c.mlp_dim
  matmul = 2.0 * (c.num_layers * (projections + mlp) + d * c.vocab_size)
  keys = average_attended_keys(seq_len, c.sliding_window)
  attention = 2.0 * c.num_layers * 2 * h * hd * keys
  return FlopCount(seq_len=seq_len, matmul_forward=matmul, attention_forward=attention)
