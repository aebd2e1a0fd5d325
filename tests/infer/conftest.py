"""Inference fixtures: a tiny MODEL_DIR with the shared stdlib tokenizer."""

import pytest

from starjax.model import DecoderConfig
from tests.conftest import write_model_dir

TINY = DecoderConfig(vocab_size=512, num_layers=2, hidden_size=64, num_heads=4, num_kv_heads=1,
                     mlp_dim=128, max_seq_len=128)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, tokenizer_path):
  return write_model_dir(tmp_path_factory.mktemp("model"), TINY, tokenizer_path)
