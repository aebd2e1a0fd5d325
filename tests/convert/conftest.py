"""Shared fixtures: random transformers models of each architecture, saved once per session."""

import os

import pytest

from tests.convert import hf_models

KINDS = ("gpt_bigcode_mqa", "gpt_bigcode_mha", "starcoder2")


@pytest.fixture(scope="session")
def hf_dirs(tmp_path_factory):
  """kind → (HF directory written by transformers' save_pretrained, the torch model)."""
  out = {}
  for kind in KINDS:
    model = hf_models.random_model(kind)
    path = str(tmp_path_factory.mktemp(kind))
    model.save_pretrained(path)
    out[kind] = (path, model)
  return out


@pytest.fixture(scope="session")
def loaded(hf_dirs):
  """kind → the starjax Decoder loaded from that directory (loaded once, shared)."""
  from starjax.convert import hf  # pylint: disable=import-outside-toplevel
  return {kind: hf.load_pretrained(path) for kind, (path, _) in hf_dirs.items()}


def copy_dir(src: str, dst: str) -> str:
  os.makedirs(dst, exist_ok=True)
  for name in os.listdir(src):
    with open(os.path.join(src, name), "rb") as f, open(os.path.join(dst, name), "wb") as g:
      g.write(f.read())
  return dst
