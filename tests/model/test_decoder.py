"""The decoder's behaviour: shapes, causality, packed segments, positions, init, numerics."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from starjax.model import DecoderConfig, create_decoder
from starjax.model.attention import MaskInfo, attention_mask, dot_product_attention

SMALL = DecoderConfig(vocab_size=97, num_layers=2, hidden_size=64, num_heads=4, num_kv_heads=1,
                      mlp_dim=128, max_seq_len=32)


class Jitted:
  """A model whose calls are jit-compiled (eager op-by-op dispatch makes tests slow)."""

  def __init__(self, config, seed=0):
    self.module = create_decoder(config, seed=seed)
    self.graphdef, self.params = nnx.split(self.module)
    self._call = jax.jit(lambda p, *a, **k: nnx.merge(self.graphdef, p)(*a, **k))

  def __call__(self, *args, **kwargs):
    return self._call(self.params, *args, **kwargs)


@pytest.fixture(scope="module")
def model():
  return Jitted(SMALL)


def tokens(batch=2, length=16, seed=0):
  return jnp.asarray(np.random.default_rng(seed).integers(1, 97, (batch, length)), jnp.int32)


def test_logits_are_float32_batch_length_vocab(model):
  logits = model(tokens())
  assert logits.shape == (2, 16, 97)
  assert logits.dtype == jnp.float32
  assert bool(jnp.all(jnp.isfinite(logits)))


def test_future_tokens_do_not_change_earlier_logits(model):
  a = tokens()
  b = a.at[:, 10:].set(5)
  la, lb = model(a), model(b)
  np.testing.assert_allclose(la[:, :10], lb[:, :10], atol=1e-6)
  assert not np.allclose(la[:, 10:], lb[:, 10:], atol=1e-3)


def test_attention_never_crosses_packed_segments(model):
  t = tokens(batch=1, length=16)
  segments = jnp.asarray([[1] * 6 + [2] * 10], jnp.int32)
  positions = jnp.asarray([list(range(6)) + list(range(10))], jnp.int32)
  packed = model(t, positions, segments)
  alone = model(t[:, 6:], positions[:, 6:])
  np.testing.assert_allclose(packed[:, 6:], alone, atol=1e-5)
  # and changing the first document changes nothing in the second
  other = model(t.at[:, :6].set(3), positions, segments)
  np.testing.assert_allclose(other[:, 6:], packed[:, 6:], atol=1e-6)


def test_learned_positions_come_from_decoder_positions(model):
  t = tokens(batch=1, length=8)
  base = jnp.arange(8, dtype=jnp.int32)[None]
  assert not np.allclose(model(t, base), model(t, base + 3), atol=1e-4)


def test_megatron_init_scales_output_projections():
  config = DecoderConfig(vocab_size=512, num_layers=8, hidden_size=256, num_heads=4,
                         mlp_dim=1024, max_seq_len=64)
  params = jax.jit(lambda: nnx.to_pure_dict(nnx.state(create_decoder(config))))()
  std = 256 ** -0.5
  assert np.std(params["wte"]["embedding"]) == pytest.approx(std, rel=0.05)
  assert np.std(params["blocks"]["mlp"]["fc"]["kernel"]) == pytest.approx(std, rel=0.05)
  scaled = std / np.sqrt(2 * 8)
  assert np.std(params["blocks"]["mlp"]["proj"]["kernel"]) == pytest.approx(scaled, rel=0.05)
  assert np.std(params["blocks"]["attn"]["out"]["kernel"]) == pytest.approx(scaled, rel=0.05)
  assert np.all(params["blocks"]["attn"]["query"]["bias"] == 0)
  assert np.all(params["ln_f"]["scale"] == 1)


def test_every_block_parameter_is_stacked_over_layers(model):
  params = nnx.to_pure_dict(nnx.state(model.module.blocks))
  for leaf in jax.tree.leaves(params):
    assert leaf.shape[0] == SMALL.num_layers


@pytest.mark.parametrize("num_kv_heads", [1, 2, 4])
def test_mqa_gqa_mha_all_run_and_differ_in_kv_parameters(num_kv_heads):
  config = dataclasses.replace(SMALL, num_kv_heads=num_kv_heads)
  model = Jitted(config)
  assert model.module.blocks.attn.key.kernel.shape == (2, 64, num_kv_heads, 16)
  assert model(tokens()).shape == (2, 16, 97)


def test_untied_head_has_its_own_parameters():
  config = dataclasses.replace(SMALL, tie_embeddings=False)
  model = create_decoder(config)
  assert model.lm_head is not None and model.lm_head.kernel.shape == (64, 97)
  assert model.lm_head.bias is None  # no bias on the LM head, as in StarCoder


@pytest.mark.parametrize("policy", ["minimal", "full"])
def test_remat_policies_leave_gradients_unchanged(policy):
  t = tokens()

  def grads(config):
    model = create_decoder(config, seed=1)
    graphdef, params = nnx.split(model)
    def loss(p):
      return nnx.merge(graphdef, p)(t).mean()
    return jax.jit(jax.grad(loss))(params)

  reference = grads(SMALL)
  remat = grads(dataclasses.replace(SMALL, remat_policy=policy))
  for a, b in zip(jax.tree.leaves(reference), jax.tree.leaves(remat)):
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_bfloat16_compute_keeps_float32_params_and_logits():
  config = dataclasses.replace(SMALL, dtype="bfloat16")
  model = Jitted(config)
  logits = model(tokens())
  assert logits.dtype == jnp.float32
  assert model.module.wte.embedding[...].dtype == jnp.float32
  reference = Jitted(SMALL)(tokens())
  assert float(jnp.abs(logits - reference).max()) < 0.1  # same model, bf16 rounding only


def test_dropout_only_with_a_key():
  config = dataclasses.replace(SMALL, dropout_rate=0.5)
  model = Jitted(config)
  t = tokens()
  np.testing.assert_array_equal(model(t), model(t))
  a = model(t, dropout_rng=jax.random.key(0))
  b = model(t, dropout_rng=jax.random.key(1))
  assert not np.allclose(a, b)
  np.testing.assert_array_equal(a, model(t, dropout_rng=jax.random.key(0)))


@pytest.mark.parametrize("window", [None, 3])
def test_fused_and_masked_attention_paths_agree(window):
  rng = np.random.default_rng(0)
  q = jnp.asarray(rng.normal(size=(2, 12, 4, 8)), jnp.float32)
  k = jnp.asarray(rng.normal(size=(2, 12, 2, 8)), jnp.float32)
  v = jnp.asarray(rng.normal(size=(2, 12, 2, 8)), jnp.float32)
  index = jnp.broadcast_to(jnp.arange(12), (2, 12))
  ones = jnp.ones((2, 12), jnp.int32)
  plain = MaskInfo(q_index=index, q_segment_ids=ones, kv_segment_ids=ones, plain_causal=True)
  masked = MaskInfo(q_index=index, q_segment_ids=ones, kv_segment_ids=ones)
  fused = dot_product_attention(q, k, v, plain, sliding_window=window, implementation="auto")
  xla = dot_product_attention(q, k, v, masked, sliding_window=window, implementation="xla")
  einsum = dot_product_attention(q, k, v, masked, sliding_window=window,
                                 implementation="einsum")
  np.testing.assert_allclose(fused, xla, atol=1e-5)
  np.testing.assert_allclose(einsum, xla, atol=1e-5)


def test_sliding_window_mask_sees_itself_and_window_minus_one_before():
  index = jnp.arange(6)[None]
  ones = jnp.ones((1, 6), jnp.int32)
  mask = attention_mask(MaskInfo(q_index=index, q_segment_ids=ones, kv_segment_ids=ones),
                        sliding_window=3)[0, 0]
  expected = np.array([[j <= i and i - j < 3 for j in range(6)] for i in range(6)])
  np.testing.assert_array_equal(mask, expected)


def test_invalid_config_names_the_field():
  with pytest.raises(ValueError, match="num_kv_heads=3 must divide num_heads=4"):
    dataclasses.replace(SMALL, num_kv_heads=3)
  with pytest.raises(ValueError, match="remat_policy"):
    dataclasses.replace(SMALL, remat_policy="sometimes")


def test_segment_aware_flash_kernel_matches_masked_attention_with_gradients():
  # The Pallas kernel used on GPU for packed training sequences, interpreted on CPU.
  rng = np.random.default_rng(0)
  q = jnp.asarray(rng.normal(size=(1, 64, 4, 16)), jnp.float32)
  k = jnp.asarray(rng.normal(size=(1, 64, 1, 16)), jnp.float32)
  v = jnp.asarray(rng.normal(size=(1, 64, 1, 16)), jnp.float32)
  segments = jnp.asarray([[1] * 20 + [2] * 36 + [0] * 8], jnp.int32)
  info = MaskInfo(q_index=jnp.arange(64)[None], q_segment_ids=segments,
                  kv_segment_ids=segments, self_attention=True)
  real = (segments != 0)[..., None, None]

  def loss(implementation):
    def f(q, k, v):
      out = dot_product_attention(q, k, v, info, sliding_window=None,
                                  implementation=implementation)
      return jnp.sum(jnp.where(real, out, 0) ** 2)
    return f

  np.testing.assert_allclose(loss("pallas")(q, k, v), loss("xla")(q, k, v), rtol=1e-5)
  flash = jax.grad(loss("pallas"), argnums=(0, 1, 2))(q, k, v)
  masked = jax.grad(loss("xla"), argnums=(0, 1, 2))(q, k, v)
  for a, b in zip(flash, masked):
    np.testing.assert_allclose(a, b, atol=2e-5)


def test_unrolled_layer_stack_computes_the_same_function():
  t = tokens()
  rolled, unrolled = Jitted(SMALL, seed=4), Jitted(dataclasses.replace(SMALL, scan_unroll=2),
                                                   seed=4)
  np.testing.assert_allclose(rolled(t), unrolled(t), atol=1e-6)


@pytest.mark.parametrize("in_shape,out_shape", [((6,), (5,)), ((2, 3), (4,)), ((4,), (2, 3))])
def test_an_output_major_linear_equals_the_stored_layout(in_shape, out_shape):
  from starjax.model.layers import Linear, output_major_kernel  # pylint: disable=import-outside-toplevel
  axes = tuple(f"a{i}" for i in range(len(in_shape) + len(out_shape)))
  linear = Linear(in_shape, out_shape, axes, std=1.0, use_bias=True, param_dtype=jnp.float32,
                  dtype=jnp.float32, rngs=nnx.Rngs(params=0))
  linear.bias[...] = jnp.arange(np.prod(out_shape), dtype=jnp.float32).reshape(out_shape)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(3, *in_shape)), jnp.float32)
  expected = linear(x)
  kernel = linear.kernel[...]
  linear.kernel = nnx.Param(output_major_kernel(kernel, len(in_shape)))
  assert linear.kernel[...].shape == (*out_shape, *in_shape)
  linear.output_major = True
  np.testing.assert_allclose(linear(x), expected, rtol=1e-6, atol=1e-6)
