"""Parity with transformers (torch CPU, float32): imported models give transformers' logits,
exported ones give transformers the same logits, and starjax → HF → starjax is bitwise."""

import json
import os

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from flax import nnx
from transformers import AutoModelForCausalLM

from starjax.convert import hf
from tests.convert import hf_models
from tests.convert.conftest import KINDS, copy_dir

TOLERANCE = 1e-4  # max |logit difference|, float32


def starjax_logits(model, tokens):
  return np.asarray(model(jnp.asarray(tokens)))


def params_of(model):
  return nnx.to_pure_dict(nnx.state(model))


def assert_bitwise_equal(a, b):
  flat_a = jax.tree_util.tree_flatten_with_path(a)[0]
  flat_b = dict(jax.tree_util.tree_flatten_with_path(b)[0])
  assert len(flat_a) == len(flat_b)
  for path, value in flat_a:
    other = flat_b[path]
    assert value.dtype == other.dtype, path
    assert np.array_equal(np.asarray(value).view(np.uint8), np.asarray(other).view(np.uint8)), path


@pytest.mark.parametrize("kind", KINDS)
def test_imported_model_gives_transformers_logits(kind, hf_dirs, loaded):
  _, torch_model = hf_dirs[kind]
  tokens = hf_models.tokens()
  expected = hf_models.hf_logits(torch_model, tokens)
  diff = np.abs(starjax_logits(loaded[kind], tokens) - expected).max()
  print(f"{kind}: max |logit difference| = {diff:.3g}")
  assert diff <= TOLERANCE


def test_starcoder2_parity_depends_on_the_sliding_window(hf_dirs, loaded):
  """The window (5) is shorter than the sequence (24): without it the logits would differ, so
  the parity test above really checks transformers' windowing."""
  model = loaded["starcoder2"]
  assert model.config.sliding_window == hf_models.WINDOW < hf_models.SEQ_LEN
  assert model.config.num_kv_heads == 2 and not model.config.tie_embeddings
  from starjax.model import abstract_decoder  # pylint: disable=import-outside-toplevel
  graphdef = nnx.split(abstract_decoder(model.config.replace(sliding_window=None)))[0]
  unwindowed = nnx.merge(graphdef, nnx.state(model))
  tokens = hf_models.tokens()
  expected = hf_models.hf_logits(hf_dirs["starcoder2"][1], tokens)
  assert np.abs(starjax_logits(unwindowed, tokens) - expected).max() > 100 * TOLERANCE


@pytest.mark.parametrize("kind", KINDS)
def test_exported_model_gives_transformers_the_same_logits(kind, hf_dirs, loaded, tmp_path):
  _, torch_model = hf_dirs[kind]
  hf.save_pretrained(loaded[kind], str(tmp_path))
  reloaded = AutoModelForCausalLM.from_pretrained(str(tmp_path)).eval()
  tokens = hf_models.tokens(seed=1)
  np.testing.assert_array_equal(hf_models.hf_logits(reloaded, tokens),
                                hf_models.hf_logits(torch_model, tokens))


@pytest.mark.parametrize("kind", KINDS)
def test_starjax_to_hf_to_starjax_is_bitwise(kind, loaded, tmp_path):
  hf.save_pretrained(loaded[kind], str(tmp_path))
  again = hf.load_pretrained(str(tmp_path))
  assert again.config == loaded[kind].config
  assert_bitwise_equal(params_of(again), params_of(loaded[kind]))


def test_fresh_starjax_model_exports_to_transformers_with_the_same_logits(tmp_path):
  """Export of a model born in starjax (not imported), GQA + RoPE + window + untied head."""
  from starjax.model import DecoderConfig, create_decoder  # pylint: disable=import-outside-toplevel
  config = DecoderConfig(vocab_size=80, num_layers=2, hidden_size=48, num_heads=6,
                         num_kv_heads=3, mlp_dim=96, max_seq_len=32, position_embedding="rope",
                         rope_theta=321.0, sliding_window=7, tie_embeddings=False,
                         init_std=0.2)
  model = create_decoder(config, seed=4)
  hf.save_pretrained(model, str(tmp_path))
  torch_model = AutoModelForCausalLM.from_pretrained(str(tmp_path)).eval()
  tokens = hf_models.tokens(vocab_size=80, length=20)
  diff = np.abs(starjax_logits(model, tokens) - hf_models.hf_logits(torch_model, tokens)).max()
  assert diff <= TOLERANCE


def test_bfloat16_checkpoint_loads_as_bfloat16_and_round_trips_bitwise(hf_dirs, tmp_path):
  torch_model = hf_models.random_model("starcoder2", seed=5).bfloat16()
  source = str(tmp_path / "bf16")
  torch_model.save_pretrained(source)
  model = hf.load_pretrained(source)
  assert (model.config.param_dtype, model.config.dtype) == ("bfloat16", "bfloat16")
  embedding = np.asarray(model.wte.embedding[...])
  assert embedding.dtype == ml_dtypes.bfloat16
  expected = torch_model.model.embed_tokens.weight.detach().float().numpy()
  np.testing.assert_array_equal(embedding.astype(np.float32), expected)
  hf.save_pretrained(model, str(tmp_path / "out"))
  assert_bitwise_equal(params_of(hf.load_pretrained(str(tmp_path / "out"))), params_of(model))
  with open(tmp_path / "out" / "config.json") as f:
    assert json.load(f)["dtype"] == "bfloat16"


def test_param_dtype_and_dtype_can_be_chosen_at_load(hf_dirs):
  path, _ = hf_dirs["gpt_bigcode_mqa"]
  model = hf.load_pretrained(path, param_dtype="bfloat16", dtype="float32")
  assert model.wte.embedding[...].dtype == jnp.bfloat16
  assert model.config.compute_dtype == jnp.float32


def test_sharded_export_writes_an_index_that_transformers_and_starjax_load(hf_dirs, loaded,
                                                                           tmp_path):
  hf.save_pretrained(loaded["gpt_bigcode_mqa"], str(tmp_path), max_shard_size="40KB")
  files = sorted(os.listdir(tmp_path))
  shards = [f for f in files if f.startswith("model-")]
  assert len(shards) > 3 and "model.safetensors.index.json" in files
  assert "model.safetensors" not in files
  for shard in shards:  # a shard exceeds the limit only when a single tensor does
    assert os.path.getsize(tmp_path / shard) < 40_000 + 64 * 96 * 4 + 4096
  torch_model = AutoModelForCausalLM.from_pretrained(str(tmp_path)).eval()
  tokens = hf_models.tokens(seed=2)
  np.testing.assert_array_equal(hf_models.hf_logits(torch_model, tokens),
                                hf_models.hf_logits(hf_dirs["gpt_bigcode_mqa"][1], tokens))
  assert_bitwise_equal(params_of(hf.load_pretrained(str(tmp_path))),
                       params_of(loaded["gpt_bigcode_mqa"]))


def test_export_into_a_directory_keeps_the_tokenizer_and_replaces_old_weights(loaded, hf_dirs,
                                                                             tmp_path):
  target = tmp_path / "export"
  hf.save_pretrained(loaded["gpt_bigcode_mqa"], str(target), max_shard_size="40KB")
  (target / "tokenizer.json").write_text("{}")
  hf.save_pretrained(loaded["starcoder2"], str(target))
  files = sorted(os.listdir(target))
  assert files == ["config.json", "model.safetensors", "tokenizer.json"]
  assert_bitwise_equal(params_of(hf.load_pretrained(str(target))),
                       params_of(loaded["starcoder2"]))


def test_transformers_4_style_config_with_top_level_rope_theta_loads(hf_dirs, loaded, tmp_path):
  source, _ = hf_dirs["starcoder2"]
  path = copy_dir(source, str(tmp_path / "old"))
  with open(os.path.join(path, "config.json")) as f:
    config = json.load(f)
  theta = config.pop("rope_parameters")["rope_theta"]
  config["rope_theta"] = theta
  config["torch_dtype"] = config.pop("dtype")
  with open(os.path.join(path, "config.json"), "w") as f:
    json.dump(config, f)
  model = hf.load_pretrained(path)
  assert model.config == loaded["starcoder2"].config
