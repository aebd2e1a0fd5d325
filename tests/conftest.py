"""Fixtures shared across test packages."""

import glob
import os
import sysconfig

import pytest


def stdlib_texts(limit=60):
  """Source files of the Python standard library: real code found on every machine."""
  paths = sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "*.py")))[:limit]
  for path in paths:
    with open(path, encoding="utf-8", errors="replace") as f:
      yield f.read()


@pytest.fixture(scope="session")
def tokenizer_path(tmp_path_factory):
  """A 400-token StarCoder-style BPE (special tokens at 0-18) trained on the stdlib."""
  from starjax.data.tokenizer import train_tokenizer  # pylint: disable=import-outside-toplevel
  path = str(tmp_path_factory.mktemp("tok") / "tokenizer.json")
  train_tokenizer(stdlib_texts(), 400, path)
  return path


def write_model_dir(path, config, tokenizer_path, seed=3):
  """A MODEL_DIR as training leaves it: a checkpoint with meta, and its tokenizer.json."""
  from flax import nnx  # pylint: disable=import-outside-toplevel
  from starjax.model import create_decoder  # pylint: disable=import-outside-toplevel
  from starjax.model_dir import Checkpointer, install_tokenizer  # pylint: disable=import-outside-toplevel
  params = nnx.to_pure_dict(nnx.state(create_decoder(config, seed=seed)))
  writer = Checkpointer(str(path))
  writer.save(0, params, None, {"model_config": config.to_json()}, force=True)
  writer.close()
  install_tokenizer(tokenizer_path, str(path), config.vocab_size)
  return str(path)
