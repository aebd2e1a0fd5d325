"""Published StarCoder shapes: parameter counts from the gin files, and FLOP accounting."""

import pytest

from starjax import gin_config
from starjax.model import DecoderConfig
from starjax.model.flops import average_attended_keys, flops_per_token, parameter_count

PUBLISHED = {
    "gin/models/starcoderbase_1b.gin": 1_137_207_296,
    "gin/models/starcoderbase_3b.gin": 3_043_311_104,
    "gin/models/starcoderbase_7b.gin": 7_327_263_232,
    "gin/models/starcoderbase_15b.gin": 15_517_456_384,
    "gin/models/starcoder_15b.gin": 15_517_456_384,
}


def config_from(path: str) -> DecoderConfig:
  gin_config.parse([path], [], finalize=False)
  return DecoderConfig()


@pytest.mark.parametrize("path,count", sorted(PUBLISHED.items()))
def test_gin_model_files_have_published_parameter_counts(path, count):
  assert parameter_count(config_from(path)) == count


def test_bench_config_is_as_specified():
  c = config_from("gin/models/bench.gin")
  assert (c.num_layers, c.hidden_size, c.num_heads, c.num_kv_heads, c.vocab_size,
          c.max_seq_len) == (6, 512, 8, 1, 8192, 512)


def test_training_flops_are_six_per_matmul_parameter_plus_causal_attention():
  c = DecoderConfig(vocab_size=100, num_layers=2, hidden_size=32, num_heads=2, num_kv_heads=1,
                    mlp_dim=64, max_seq_len=16)
  f = flops_per_token(c, 16)
  matmul_params = 2 * (32 * (2 + 2) * 16 + 32 * 32 + 2 * 32 * 64) + 32 * 100
  assert f.matmul_forward == 2 * matmul_params
  # each of 16 queries scores (i + 1) keys: mean 8.5; QK and AV, 2 FLOPs per MAC
  assert f.attention_forward == 2 * 2 * 2 * 32 * 8.5
  assert f.training == 3 * f.forward


def test_sliding_window_caps_attended_keys():
  assert average_attended_keys(8, None) == 4.5
  assert average_attended_keys(8, 8) == 4.5
  assert average_attended_keys(8, 2) == (1 + 2 * 7) / 8
