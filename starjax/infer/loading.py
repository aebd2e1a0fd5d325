"""Models for inference: from a starjax MODEL_DIR (orbax checkpoint) or a Hugging Face dir."""

from __future__ import annotations

import os

from flax import nnx

from starjax.data.tokenizer import load_tokenizer
from starjax.model_dir import TOKENIZER as TOKENIZER_FILE
from starjax.model_dir import model_config_from_checkpoint, restore_params


def load_model(*, model_dir: str | None = None, hf_dir: str | None = None,
               tokenizer_path: str | None = None, mesh_config=None):
  """(DecoderConfig, params as a pure dict, tokenizers.Tokenizer) for exactly one source.

  mesh_config: restore the parameters directly in their shards on that mesh (by its
  logical-axis rules), never whole on one device."""
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
    shardings = None
    if mesh_config is not None:
      from starjax.infer.decoding import TokenGenerator  # pylint: disable=import-outside-toplevel
      shardings = TokenGenerator.param_shardings(model_config_from_checkpoint(model_dir),
                                                 mesh_config)
    config, params = restore_params(model_dir, shardings=shardings)
  else:
    from starjax.convert import hf  # pylint: disable=import-outside-toplevel
    model = hf.load_pretrained(hf_dir, mesh_config=mesh_config)
    config, params = model.config, nnx.to_pure_dict(nnx.state(model))
  if tokenizer.get_vocab_size(with_added_tokens=True) > config.vocab_size:
    raise ValueError(f"{tokenizer_path} has {tokenizer.get_vocab_size(with_added_tokens=True)} "
                     f"tokens but the model's vocabulary is {config.vocab_size}: wrong tokenizer")
  return config, params, tokenizer
