"""Small random transformers models of both StarCoder architectures, saved as HF directories.

Weights are drawn wide (std 0.2) and LayerNorm scales/offsets and biases are random too, so a
swapped, transposed or misplaced tensor changes the logits far beyond the tolerance.
"""

import numpy as np
import torch
from transformers import AutoModelForCausalLM, GPTBigCodeConfig, Starcoder2Config

SEQ_LEN = 24
# StarCoder2's window is shorter than the test sequence, so the window shapes the logits.
WINDOW = 5


def hf_config(kind: str, vocab_size: int = 96, **overrides):
  common = dict(vocab_size=vocab_size, bos_token_id=0, eos_token_id=0, initializer_range=0.2)
  if kind in ("gpt_bigcode_mqa", "gpt_bigcode_mha"):
    config = GPTBigCodeConfig(n_embd=64, n_layer=2, n_head=4, n_positions=64,
                              multi_query=kind == "gpt_bigcode_mqa", **common)
  elif kind == "starcoder2":
    config = Starcoder2Config(hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                              num_attention_heads=4, num_key_value_heads=2,
                              max_position_embeddings=64, sliding_window=WINDOW,
                              tie_word_embeddings=False, rope_theta=500.0, **common)
  else:
    raise ValueError(kind)
  for key, value in overrides.items():
    setattr(config, key, value)
  return config


def random_model(kind: str, seed: int = 0, *, random_biases: bool = True, **overrides):
  """A transformers CausalLM in float32 eval mode with every parameter random.

  random_biases=False keeps biases at 0 (LayerNorm scales are still random): random biases
  add the same vector to every position's logits, so greedy decoding of such a model soon
  repeats one token, which makes a weak generation test.
  """
  torch.manual_seed(seed)
  model = AutoModelForCausalLM.from_config(hf_config(kind, **overrides)).eval()
  with torch.no_grad():
    for name, parameter in model.named_parameters():
      if parameter.ndim != 1:
        continue
      is_scale = name.endswith("weight")  # 1-D weights are LayerNorm scales
      if is_scale or random_biases:  # transformers starts them at 1 / 0
        parameter.copy_(torch.randn_like(parameter) * 0.3 + (1.0 if is_scale else 0.0))
  return model


def tokens(vocab_size: int = 96, batch: int = 2, length: int = SEQ_LEN, seed: int = 0):
  return np.random.default_rng(seed).integers(0, vocab_size, (batch, length)).astype(np.int32)


def hf_logits(model, token_ids: np.ndarray) -> np.ndarray:
  with torch.no_grad():
    return model(torch.from_numpy(token_ids.astype(np.int64))).logits.float().numpy()
