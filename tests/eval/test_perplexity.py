"""Long-context perplexity: bits per byte per language at the context lengths that fit."""

import inspect
import json
import math
import os

import numpy as np
import pytest

from starjax.eval import perplexity
from starjax.infer import Generator
from tests.eval.test_generation import eval_model_dir  # pylint: disable=unused-import


def test_context_lengths_are_the_ones_that_fit():
  assert perplexity.usable_lengths(8192) == [1024, 2048, 4096, 8192]
  assert perplexity.usable_lengths(16384) == [1024, 2048, 4096, 8192]
  assert perplexity.usable_lengths(3000) == [1024, 2048]
  assert perplexity.usable_lengths(512) == [512]


@pytest.fixture(scope="module")
def generator(eval_model_dir):
  return Generator.load(model_dir=eval_model_dir)


@pytest.mark.slow  # ~30 s: two compiled lengths on 2 cores
def test_bits_per_byte_is_the_nll_of_the_scored_quarter(generator, tmp_path):
  documents = {"python": [inspect.getsource(json), inspect.getsource(os)]}
  result = perplexity.evaluate_perplexity(generator, documents, context_lengths=(256, 1024),
                                          max_windows=2)
  assert result["context_lengths"] == [256, 1024]
  for length in ("256", "1024"):
    entry = result["languages"]["python"][length]
    assert entry["windows"] == 2 and entry["scored_tokens"] == 2 * (int(length) // 4)
    assert 0 < entry["scored_bytes"] and math.isfinite(entry["bits_per_byte"])
  # A random model is close to uniform over its 512 tokens: ~9 bits per token.
  entry = result["languages"]["python"]["256"]
  bits_per_token = entry["bits_per_byte"] * entry["scored_bytes"] / entry["scored_tokens"]
  assert 7 < bits_per_token < 11
  path = perplexity.write_summary(str(tmp_path), result)
  assert json.load(open(path))["benchmark"] == "perplexity"
  assert "| python |" in perplexity.markdown_table(result)


def test_the_nll_matches_the_model_logits(generator):
  ids = np.asarray(generator.encode(inspect.getsource(json))[:65], dtype=np.int32)
  nll = np.asarray(perplexity._forward(generator.tokens.config)(  # pylint: disable=protected-access
      generator.tokens.params, ids[None, :-1], ids[None, 1:]))[0]
  from starjax.model import Decoder  # pylint: disable=import-outside-toplevel
  from flax import nnx  # pylint: disable=import-outside-toplevel
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  params = generator.tokens.params
  stacked = dict(params, blocks=jax.tree.map(lambda *xs: jnp.stack(xs), *params["blocks"]))
  model = nnx.merge(nnx.graphdef(nnx.eval_shape(
      lambda: Decoder(generator.tokens.config, rngs=nnx.Rngs(params=0)))), stacked)
  logits = np.asarray(model(jnp.asarray(ids[None, :-1])), dtype=np.float64)[0]
  logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) \
      - logits.max(-1, keepdims=True)
  expected = -logp[np.arange(64), ids[1:]]
  np.testing.assert_allclose(nll, expected, rtol=1e-4, atol=1e-4)
