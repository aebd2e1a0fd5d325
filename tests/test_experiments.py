"""Every experiment in experiments/ parses and describes itself through `info`, and the published
recipes carry StarCoder's published settings."""

import glob
import os

import gin
import pytest

from starjax import ROOT, gin_config, sharding
from starjax.model import DecoderConfig
from starjax.train.info import describe
from starjax.train.optimizer import OptimizerConfig

EXPERIMENTS = sorted(os.path.relpath(p, ROOT) for p in glob.glob(f"{ROOT}/experiments/*.gin"))
PRETRAINING = {
    "experiments/starcoderbase_1b.gin": 1_137_207_296,
    "experiments/starcoderbase_3b.gin": 3_043_311_104,
    "experiments/starcoderbase_7b.gin": 7_327_263_232,
    "experiments/starcoderbase_15b.gin": 15_517_456_384,
}


def load(path):
  gin_config.parse([path], [], finalize=False)
  info = describe(DecoderConfig(), sharding.MeshConfig(), OptimizerConfig(),
                  seq_len=gin_config.macro_value("SEQ_LEN"))
  return info, OptimizerConfig(), DecoderConfig()


@pytest.mark.parametrize("path", EXPERIMENTS)
def test_experiment_is_described_by_info(path):
  info, _, _ = load(path)
  assert info["parameters"] > 0 and info["flops_per_token_training"] > 0
  assert info["state_bytes_per_device"] > 0


@pytest.mark.parametrize("path,parameters", sorted(PRETRAINING.items()))
def test_pretraining_recipes_follow_the_published_schedule(path, parameters):
  info, optimizer, model = load(path)
  assert info["parameters"] == parameters
  assert gin_config.macro_value("MIXTURE_OR_TASK_NAME") == "stack_starcoderdata"
  assert gin_config.macro_value("BATCH_SIZE") * gin_config.macro_value("SEQ_LEN") == 512 * 8192
  assert gin_config.macro_value("TRAIN_STEPS") * 512 * 8192 >= 1e12  # 1T tokens
  assert (optimizer.peak_learning_rate, optimizer.warmup_steps,
          optimizer.final_learning_rate_fraction) == (3e-4, 2000, 0.1)
  assert (optimizer.b1, optimizer.b2, optimizer.eps, optimizer.weight_decay,
          optimizer.clip_norm) == (0.9, 0.95, 1e-8, 0.1, 1.0)
  assert model.dropout_rate == 0.1 and model.dtype == "bfloat16"
  # The optimizer state fits comfortably on each device of the recipe's mesh.
  assert info["state_bytes_per_device"] < 8 * 2**30


def test_python_finetune_recipe():
  _, optimizer, _ = load("experiments/finetune_python.gin")
  assert gin_config.macro_value("MIXTURE_OR_TASK_NAME") == "python_finetune"
  assert (optimizer.peak_learning_rate, optimizer.final_learning_rate_fraction) == (5e-5, 0.1)
  assert gin.query_parameter("train.init_params_from") is not None


def test_quickstart_trains_the_tiny_model_on_local_code():
  info, _, model = load("experiments/quickstart.gin")
  assert gin_config.macro_value("MIXTURE_OR_TASK_NAME") == "local_code"
  assert model.num_kv_heads == 1 and model.position_embedding == "learned"
  assert info["parameters"] < 10_000_000


def test_quickstart_trains_on_the_prepared_local_corpus():
  from starjax.data import config  # pylint: disable=import-outside-toplevel
  load("experiments/quickstart.gin")
  options = config.local_preparation()
  assert options.enabled
  # a subset larger than what 300 steps read (4 x 1024 tokens each), small enough to prepare fast
  tokens_read = gin_config.macro_value("TRAIN_STEPS") * gin_config.macro_value(
      "BATCH_SIZE") * gin_config.macro_value("SEQ_LEN")
  assert 2 * tokens_read < options.max_bytes <= 16_000_000


STARCODER2 = {
    "experiments/starcoder2_3b.gin": 3_030_371_328,
    "experiments/starcoder2_7b.gin": 7_173_923_840,
    "experiments/starcoder2_15b.gin": 15_957_889_024,
}


@pytest.mark.parametrize("path,parameters", sorted(STARCODER2.items()))
def test_starcoder2_recipes_follow_the_published_settings(path, parameters):
  info, optimizer, model = load(path)
  assert info["parameters"] == parameters
  assert gin_config.macro_value("SEQ_LEN") == model.max_seq_len == 16384
  assert (model.position_embedding, model.sliding_window) == ("rope", 4096)
  assert 1 < model.num_kv_heads < model.num_heads  # grouped-query attention
  assert (optimizer.peak_learning_rate, optimizer.warmup_steps,
          optimizer.final_learning_rate_fraction) == (3e-4, 1000, 0.1)
  assert model.attention_impl == "chunked"  # 16K scores never materialised whole
  assert gin.query_parameter("MeshConfig.topology")  # `info --aot` compiles for its slice
