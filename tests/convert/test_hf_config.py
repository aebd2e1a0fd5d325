"""config.json ⇄ DecoderConfig: both architectures, both RoPE spellings, refusals, and the
StarCoder2 gin files' parameter counts against transformers' own count."""

import dataclasses

import gin
import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from starjax import gin_config
from starjax.convert import hf_config
from starjax.convert.errors import ConversionError
from starjax.model import DecoderConfig
from starjax.model.flops import parameter_count

GPT_BIGCODE = {"model_type": "gpt_bigcode", "vocab_size": 100, "n_embd": 64, "n_layer": 3,
               "n_head": 4, "n_positions": 128, "n_inner": None, "multi_query": True,
               "activation_function": "gelu_pytorch_tanh", "layer_norm_epsilon": 1e-5,
               "resid_pdrop": 0.1, "tie_word_embeddings": True, "dtype": "float32"}
STARCODER2 = {"model_type": "starcoder2", "vocab_size": 100, "hidden_size": 64,
              "num_hidden_layers": 3, "num_attention_heads": 8, "num_key_value_heads": 2,
              "intermediate_size": 256, "max_position_embeddings": 512,
              "rope_parameters": {"rope_type": "default", "rope_theta": 999999.4420358813},
              "sliding_window": 16, "use_bias": True, "norm_epsilon": 1e-5,
              "tie_word_embeddings": False, "hidden_act": "gelu_pytorch_tanh",
              "dtype": "bfloat16"}


def test_gpt_bigcode_multi_query_has_one_kv_head_and_learned_positions():
  c = hf_config.decoder_config_from_hf(GPT_BIGCODE)
  assert (c.num_kv_heads, c.position_embedding, c.max_seq_len, c.tie_embeddings) == (
      1, "learned", 128, True)
  assert c.mlp_dim == 4 * 64  # n_inner None
  assert c.dropout_rate == 0.1


def test_gpt_bigcode_without_multi_query_has_one_kv_head_per_head():
  c = hf_config.decoder_config_from_hf(dict(GPT_BIGCODE, multi_query=False, n_inner=100))
  assert (c.num_kv_heads, c.mlp_dim) == (4, 100)


def test_starcoder2_maps_gqa_rope_window_and_untied_head():
  c = hf_config.decoder_config_from_hf(STARCODER2)
  assert (c.num_heads, c.num_kv_heads, c.position_embedding, c.sliding_window) == (
      8, 2, "rope", 16)
  assert c.rope_theta == 999999.4420358813 and not c.tie_embeddings
  assert (c.param_dtype, c.dtype) == ("bfloat16", "bfloat16")


def test_rope_theta_is_read_from_rope_parameters_and_from_older_top_level_key():
  old = {k: v for k, v in STARCODER2.items() if k != "rope_parameters"}
  assert hf_config.decoder_config_from_hf(dict(old, rope_theta=1e5)).rope_theta == 1e5
  assert hf_config.decoder_config_from_hf(old).rope_theta == 10000.0  # transformers' default


def test_dtype_arguments_override_the_checkpoint_dtype():
  c = hf_config.decoder_config_from_hf(STARCODER2, param_dtype="float32")
  assert (c.param_dtype, c.dtype) == ("float32", "float32")
  c = hf_config.decoder_config_from_hf(dict(GPT_BIGCODE, dtype=None, torch_dtype="bfloat16"),
                                       dtype="float32")
  assert (c.param_dtype, c.dtype) == ("bfloat16", "float32")


@pytest.mark.parametrize("hf,key", [
    (dict(GPT_BIGCODE, model_type="llama"), "model_type='llama'"),
    (dict(GPT_BIGCODE, activation_function="gelu"), "activation_function='gelu'"),
    (dict(STARCODER2, hidden_act="relu"), "hidden_act='relu'"),
    (dict(STARCODER2, rope_parameters={"rope_type": "linear", "factor": 2.0}),
     "rope_parameters.rope_type='linear'"),
    (dict(GPT_BIGCODE, scale_attn_weights=False), "scale_attn_weights=False"),
    (dict(GPT_BIGCODE, add_cross_attention=True), "add_cross_attention=True"),
])
def test_what_starjax_would_compute_differently_is_refused_by_name(hf, key):
  with pytest.raises(ConversionError, match=key.replace("[", r"\[").replace(".", r"\.")):
    hf_config.decoder_config_from_hf(hf, source="/m/config.json")


def test_missing_shape_key_is_named():
  hf = {k: v for k, v in STARCODER2.items() if k != "num_key_value_heads"}
  with pytest.raises(ConversionError, match="/m/config.json: `num_key_value_heads` is missing"):
    hf_config.decoder_config_from_hf(hf, source="/m/config.json")


def test_gin_bindings_for_training_do_not_leak_into_a_converted_config():
  gin_config.parse([], ["DecoderConfig.remat_policy = 'full'", "DecoderConfig.head_dim = 8"],
                   finalize=False)
  try:
    c = hf_config.decoder_config_from_hf(GPT_BIGCODE)
  finally:
    gin.clear_config()
  assert (c.remat_policy, c.head_dim) == ("none", None)


@pytest.mark.parametrize("hf", [GPT_BIGCODE, dict(GPT_BIGCODE, multi_query=False), STARCODER2,
                                dict(STARCODER2, sliding_window=None, use_bias=False,
                                     tie_word_embeddings=True)])
def test_config_round_trips_through_config_json(hf):
  config = hf_config.decoder_config_from_hf(hf)
  exported = hf_config.hf_config_from_decoder(config)
  again = hf_config.decoder_config_from_hf(exported)
  assert again == dataclasses.replace(config, init_std=None)
  # transformers reads the exported keys into the same shapes
  hf_side = AutoConfig.for_model(**exported)
  assert hf_side.num_hidden_layers == config.num_layers
  assert hf_side.hidden_size == config.hidden_size


def test_grouped_query_attention_with_learned_positions_has_no_hf_equivalent():
  config = DecoderConfig(num_heads=8, num_kv_heads=2, hidden_size=64)
  with pytest.raises(ConversionError, match="num_kv_heads=2"):
    hf_config.hf_config_from_decoder(config)


# Published StarCoder2 shapes (layers, hidden, heads, kv heads, mlp, theta, tied).
STARCODER2_SIZES = {
    "gin/models/starcoder2_3b.gin": (30, 3072, 24, 2, 12288, 999999.4420358813, True),
    "gin/models/starcoder2_7b.gin": (32, 4608, 36, 4, 18432, 1e6, True),
    "gin/models/starcoder2_15b.gin": (40, 6144, 48, 4, 24576, 1e5, False),
}


@pytest.mark.parametrize("path", sorted(STARCODER2_SIZES))
def test_starcoder2_gin_files_have_published_shapes_and_transformers_parameter_count(path):
  gin_config.parse([path], [], finalize=False)
  try:
    config = DecoderConfig()
  finally:
    gin.clear_config()
  layers, hidden, heads, kv, mlp, theta, tied = STARCODER2_SIZES[path]
  assert (config.num_layers, config.hidden_size, config.num_heads, config.num_kv_heads,
          config.mlp_dim, config.rope_theta, config.tie_embeddings) == (
              layers, hidden, heads, kv, mlp, theta, tied)
  assert (config.vocab_size, config.max_seq_len, config.sliding_window,
          config.position_embedding, config.resolved_head_dim) == (49152, 16384, 4096, "rope",
                                                                   128)
  hf_side = AutoConfig.for_model(**hf_config.hf_config_from_decoder(config))
  with torch.device("meta"):  # shapes only: nothing is allocated
    model = AutoModelForCausalLM.from_config(hf_side)
  assert parameter_count(config) == sum(p.numel() for p in model.parameters())
