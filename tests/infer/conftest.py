"""Inference fixtures: a tiny tokenizer trained on the standard library, and a tiny MODEL_DIR."""

import glob
import json
import os
import sysconfig

import pytest
from flax import nnx

from starjax.data.tokenizer import train_tokenizer
from starjax.model import DecoderConfig, create_decoder
from starjax.train.checkpointing import Checkpointer

TINY = DecoderConfig(vocab_size=512, num_layers=2, hidden_size=64, num_heads=4, num_kv_heads=1,
                     mlp_dim=128, max_seq_len=128)


def stdlib_texts(limit=60):
  paths = sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "*.py")))[:limit]
  for path in paths:
    with open(path, encoding="utf-8", errors="replace") as f:
      yield f.read()


@pytest.fixture(scope="session")
def tokenizer_path(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("tok") / "tokenizer.json")
  train_tokenizer(stdlib_texts(), 400, path)
  return path


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, tokenizer_path):
  """A MODEL_DIR as training leaves it: a checkpoint with meta, and its tokenizer.json."""
  path = str(tmp_path_factory.mktemp("model"))
  params = nnx.to_pure_dict(nnx.state(create_decoder(TINY, seed=3)))
  writer = Checkpointer(path)
  writer.save(0, params, None, {"model_config": TINY.to_json()}, force=True)
  writer.close()
  with open(tokenizer_path) as src, open(os.path.join(path, "tokenizer.json"), "w") as dst:
    dst.write(src.read())
  return path
