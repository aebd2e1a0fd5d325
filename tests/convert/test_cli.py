"""`run.py convert` both ways, and what users do next with a converted MODEL_DIR: generate,
export again, and fine-tune with config.gin + INIT_MODEL_DIR."""

import json
import os

import gin
import jax
import numpy as np
import pytest
import tokenizers
from flax import nnx
from transformers import AutoModelForCausalLM

from starjax import gin_config
from starjax.convert import cli, hf
from starjax.model_dir import restore_params
from starjax.model import DecoderConfig, abstract_decoder
from tests.convert import hf_models
from tests.convert.test_parity import assert_bitwise_equal, params_of


def write_tokenizer(path: str) -> None:
  """A minimal tokenizer.json with StarCoder's <|endoftext|> at id 0."""
  tokenizer = tokenizers.Tokenizer(tokenizers.models.WordLevel(
      {"<|endoftext|>": 0, "def": 1}, unk_token="<|endoftext|>"))
  tokenizer.add_special_tokens(["<|endoftext|>"])
  tokenizer.save(path)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
  """An HF directory (gpt_bigcode MQA, vocab 128 for the synthetic trainer data) + tokenizer."""
  model = hf_models.random_model("gpt_bigcode_mqa", seed=7, vocab_size=128)
  path = str(tmp_path_factory.mktemp("hf"))
  model.save_pretrained(path)
  write_tokenizer(os.path.join(path, "tokenizer.json"))
  return path, model


@pytest.fixture(scope="module")
def converted(source, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("converted") / "model")
  assert cli.main("convert", [f"--from_hf={source[0]}", f"--out={out}"]) == 0
  return out


def test_from_hf_writes_checkpoint_tokenizer_and_config_gin(source, converted):
  assert sorted(os.listdir(converted)) == ["checkpoints", "config.gin", "tokenizer.json"]
  assert os.listdir(os.path.join(converted, "checkpoints")) == ["0"]
  config, params = restore_params(converted)
  direct = hf.load_pretrained(source[0])
  assert config == direct.config
  assert_bitwise_equal(params, params_of(direct))
  assert not [f for f in os.listdir(os.path.dirname(converted)) if ".tmp-" in f]


def test_config_gin_binds_the_architecture_of_the_checkpoint(converted):
  stored = restore_params(converted)[0]
  gin_config.parse([os.path.join(converted, "config.gin")], [], finalize=False)
  try:
    bound = DecoderConfig()
    assert gin_config.macro_value("VOCAB_SIZE") == stored.vocab_size
  finally:
    gin.clear_config()
  assert bound.architecture() == stored.architecture()
  assert (bound.layer_norm_eps, bound.sliding_window) == (stored.layer_norm_eps, None)


def test_to_hf_exports_what_transformers_loads_with_the_tokenizer(source, converted, tmp_path):
  out = str(tmp_path / "export")
  assert cli.main("convert", [f"--to_hf={out}", f"--model_dir={converted}"]) == 0
  assert sorted(os.listdir(out)) == ["config.json", "model.safetensors", "tokenizer.json"]
  torch_model = AutoModelForCausalLM.from_pretrained(out).eval()
  tokens = hf_models.tokens(vocab_size=128)
  np.testing.assert_array_equal(hf_models.hf_logits(torch_model, tokens),
                                hf_models.hf_logits(source[1], tokens))
  with open(os.path.join(out, "config.json")) as f:
    assert json.load(f)["eos_token_id"] == 0


def test_to_hf_of_an_unknown_step_is_refused(converted, tmp_path, capsys):
  assert cli.main("convert", [f"--to_hf={tmp_path}/x", f"--model_dir={converted}",
                              "--step=5"]) == 2
  assert "--step=5" in capsys.readouterr().err
  assert not os.path.exists(tmp_path / "x")


@pytest.mark.slow
def test_fine_tuning_starts_from_the_converted_parameters(source, converted, tmp_path):
  """train with gin/runs/finetune.gin semantics (init_params_from) and the converted
  config.gin: the first step's loss is the converted model's loss on that batch."""
  from starjax.train import trainer  # pylint: disable=import-outside-toplevel
  from starjax.train.step import weighted_cross_entropy  # pylint: disable=import-outside-toplevel
  from tests.train.synthetic import synthetic_batch  # pylint: disable=import-outside-toplevel
  run_dir = str(tmp_path / "finetune")
  gin_config.parse(["tests/train/synthetic.gin", os.path.join(converted, "config.gin")],
                   [f"MODEL_DIR = '{run_dir}'", f"train.init_params_from = '{converted}'",
                    "TRAIN_STEPS = 1", "train.eval_every = None"])
  try:
    result = trainer.train()
  finally:
    gin.clear_config()
  config, params = restore_params(converted)
  graphdef = nnx.split(abstract_decoder(config))[0]
  batch = synthetic_batch(0, seq_len=32, batch_size=8, seed=0)
  loss_sum, weight_sum = jax.jit(weighted_cross_entropy, static_argnums=0)(
      graphdef, params, {k: np.asarray(v) for k, v in batch.items()})
  assert result.last_metrics["loss"] == pytest.approx(float(loss_sum / weight_sum), rel=1e-5)


def test_finetune_python_experiment_binds_starcoders_recipe():
  gin_config.parse(["experiments/finetune_python.gin"], [], finalize=False)
  try:
    assert gin.query_parameter("OptimizerConfig.peak_learning_rate") == 5e-5
    assert gin.query_parameter("OptimizerConfig.final_learning_rate_fraction") == 0.1
    assert gin.query_parameter("OptimizerConfig.schedule") == "cosine"
    assert gin_config.macro_value("MIXTURE_OR_TASK_NAME") == "python_finetune"
    # fresh optimizer on INIT_MODEL_DIR's parameters (gin/runs/finetune.gin)
    init = gin.query_parameter("train.init_params_from")
    assert init.scoped_selector == "INIT_MODEL_DIR/gin.macro"
  finally:
    gin.clear_config()
