"""Models for inference: from a starjax MODEL_DIR (orbax checkpoint) or a Hugging Face dir."""

from __future__ import annotations

import os

import jax
from flax import nnx

from starjax.data.tokenizer import load_tokenizer
from starjax.model import DecoderConfig, abstract_decoder

TOKENIZER_FILE = "tokenizer.json"


def load_model(*, model_dir: str | None = None, hf_dir: str | None = None,
               tokenizer_path: str | None = None):
  """(DecoderConfig, params as a pure dict, tokenizers.Tokenizer) for exactly one source."""
  if bool(model_dir) == bool(hf_dir):
    raise ValueError("give exactly one of --model_dir (a starjax run) or --hf_dir (a Hugging "
                     "Face model directory)")
  source = model_dir or hf_dir
  if not os.path.isdir(source):
    raise FileNotFoundError(f"{'--model_dir' if model_dir else '--hf_dir'}={source}: no such "
                            f"directory")
  tokenizer_path = tokenizer_path or os.path.join(source, TOKENIZER_FILE)
  if not os.path.isfile(tokenizer_path):
    raise FileNotFoundError(
        f"{source} has no {TOKENIZER_FILE}: the model cannot read or write text without its "
        f"tokenizer. Copy the tokenizer.json it was trained with into {source}, or pass "
        f"--tokenizer=PATH.")
  tokenizer = load_tokenizer(tokenizer_path)
  if model_dir:
    config, params = load_checkpoint(model_dir)
  else:
    from starjax.convert import hf  # pylint: disable=import-outside-toplevel
    model = hf.load_pretrained(hf_dir)
    config, params = model.config, nnx.to_pure_dict(nnx.state(model))
  if tokenizer.get_vocab_size(with_added_tokens=True) > config.vocab_size:
    raise ValueError(f"{tokenizer_path} has {tokenizer.get_vocab_size(with_added_tokens=True)} "
                     f"tokens but the model's vocabulary is {config.vocab_size}: wrong tokenizer")
  return config, params, tokenizer


def load_checkpoint(model_dir: str, step: int | None = None) -> tuple[DecoderConfig, dict]:
  """The model config and parameters of MODEL_DIR's newest (or given) checkpoint."""
  from starjax.train.checkpointing import (  # pylint: disable=import-outside-toplevel
      Checkpointer, model_config_from_checkpoint)
  config = model_config_from_checkpoint(model_dir)
  _, state = nnx.split(abstract_decoder(config))
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device),
                          nnx.to_pure_dict(state))
  checkpointer = Checkpointer(model_dir, read_only=True)
  try:
    params = checkpointer.restore(abstract, step=step)[0]
  finally:
    checkpointer.close()
  return config, params
