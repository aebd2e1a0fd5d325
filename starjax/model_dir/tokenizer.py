"""The tokenizer a MODEL_DIR carries (MODEL_DIR/tokenizer.json): what inference reads."""

from __future__ import annotations

import filecmp
import os
import shutil

import tokenizers

from starjax.model_dir.layout import tokenizer_path


def install_tokenizer(source: str, model_dir: str, vocab_size: int) -> str:
  """Copies the training tokenizer to MODEL_DIR/tokenizer.json atomically; returns its path.

  Refuses a tokenizer larger than the model's vocabulary, or one that differs from the
  tokenizer a resumed MODEL_DIR was trained with.
  """
  size = tokenizers.Tokenizer.from_file(source).get_vocab_size(with_added_tokens=True)
  if size > vocab_size:
    raise ValueError(f"the tokenizer {source} has {size} tokens but the model's vocab_size is "
                     f"{vocab_size}: bind VOCAB_SIZE / DecoderConfig.vocab_size >= {size}")
  target = tokenizer_path(model_dir)
  if os.path.exists(target):
    if not filecmp.cmp(source, target, shallow=False):
      raise ValueError(f"{target} differs from this run's tokenizer {source}: MODEL_DIR was "
                       f"trained with another tokenizer. Use a new MODEL_DIR.")
    return target
  os.makedirs(model_dir, exist_ok=True)
  shutil.copyfile(source, target + ".tmp")
  os.replace(target + ".tmp", target)
  return target
