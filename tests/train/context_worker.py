"""Runs under XLA_FLAGS=--xla_force_host_platform_device_count=8 (started by
test_context_parallel.py).

argv: OUT_JSON MODEL:STEPS ...
MODEL 'starcoder' (MQA, learned positions) or 'starcoder2' (GQA, RoPE, sliding window, chunked
attention). The same parameters and packed batches go through one device (a mesh of device 0)
and through gin/mesh/cpu_sim8_context.gin (data 2 × context 4); writes, per model, the largest
differences of the forward logits and the gradients, the first STEPS training losses on both,
and how the logits were laid out.
"""

import json
import sys

import jax
import jax.numpy as jnp
import numpy as np

from starjax import gin_config, sharding
from starjax.model import DecoderConfig
from starjax.model.context_parallel import from_load_balanced, to_load_balanced
from starjax.train.optimizer import OptimizerConfig
from starjax.train.step import weighted_cross_entropy
from starjax.train.trainer import Trainer
from tests.train.synthetic import synthetic_batch

MODELS = {
    "starcoder": DecoderConfig(vocab_size=128, num_layers=2, hidden_size=64, num_heads=4,
                               num_kv_heads=1, mlp_dim=256, max_seq_len=32),
    # Window 6 < the 32-token sequence and 4-token query blocks: the chunked kernel slices a
    # key span per block, which only works if the blocks keep their original indices.
    "starcoder2": DecoderConfig(vocab_size=128, num_layers=2, hidden_size=64, num_heads=4,
                                num_kv_heads=2, mlp_dim=256, max_seq_len=32,
                                position_embedding="rope", rope_theta=1e5, sliding_window=6,
                                tie_embeddings=False, attention_impl="chunked"),
}
SEQ_LEN, BATCH = 32, 4


def make_trainer(config, mesh_config, mesh=None):
  return Trainer(config, train_steps=10, batch_size=BATCH, seq_len=SEQ_LEN,
                 mesh_config=mesh_config, mesh=mesh,
                 optimizer_config=OptimizerConfig(peak_learning_rate=1e-3, warmup_steps=1))


def on(trainer, params):
  """The same parameter values placed on `trainer`'s shardings."""
  return jax.tree.map(lambda x, s: jax.device_put(np.asarray(x), s), params,
                      trainer.param_shardings)


def forward(trainer, params, batch):
  """Logits [batch, length, vocab] in sequence order, and the spec the model produced them in."""
  degree = sharding.sequence_shards(trainer.mesh, trainer.rules)
  names = ("decoder_input_tokens", "decoder_positions", "decoder_segment_ids")

  def logits_of(params, *features):
    from flax import nnx  # pylint: disable=import-outside-toplevel
    features = [to_load_balanced(f, degree) for f in features]
    return nnx.merge(trainer.graphdef, params)(*features, load_balanced=True)

  with trainer.mesh, sharding.activation_sharding(trainer.mesh, trainer.rules):
    logits = jax.jit(logits_of)(params, *(jnp.asarray(batch[n]) for n in names))
  spec = tuple(str(a) for a in logits.sharding.spec)
  return np.asarray(from_load_balanced(np.asarray(logits), degree)), spec


def gradients(trainer, params, batch):
  def loss(params, batch):
    total, weight = weighted_cross_entropy(trainer.graphdef, params, batch)
    return total / weight
  with trainer.mesh, sharding.activation_sharding(trainer.mesh, trainer.rules):
    grads = jax.jit(jax.grad(loss))(params, trainer.device_batch(batch))
  return [np.asarray(g) for g in jax.tree.leaves(grads)]


def compare(config, steps, context_mesh):
  one = make_trainer(config, sharding.MeshConfig(data=1),
                     mesh=jax.sharding.Mesh(np.array(jax.devices()[:1]).reshape(1, 1, 1, 1),
                                            sharding.MESH_AXES,
                                            axis_types=(jax.sharding.AxisType.Auto,) * 4))
  context = make_trainer(config, context_mesh)
  assert dict(context.mesh.shape) == {"data": 2, "fsdp": 1, "context": 4, "tensor": 1}

  params = one.init_params()
  batch = synthetic_batch(0, seq_len=SEQ_LEN, batch_size=BATCH)
  assert batch["decoder_segment_ids"].max() > 1  # packed: several documents per row

  want_logits, _ = forward(one, params, batch)
  got_logits, spec = forward(context, on(context, params), batch)
  want_grads = gradients(one, params, batch)
  got_grads = gradients(context, on(context, params), batch)

  losses = {}
  for name, trainer in (("one", one), ("context", context)):
    state = trainer.init_state(on(trainer, params)) if steps else None
    losses[name] = []
    for i in range(steps):
      state, metrics = trainer.step(state, synthetic_batch(i, seq_len=SEQ_LEN,
                                                           batch_size=BATCH))
      losses[name].append(float(metrics["loss"]))
  return {
      "logits_spec": spec,
      "logits_max_abs": float(np.abs(want_logits).max()),
      "logits_max_diff": float(np.abs(got_logits - want_logits).max()),
      "grad_max_abs": [float(np.abs(w).max()) for w in want_grads],
      "grad_max_diff": [float(np.abs(g - w).max()) for g, w in zip(got_grads, want_grads)],
      "losses": losses,
  }


def main(out_path, *runs):
  assert jax.device_count() == 8, jax.devices()
  gin_config.parse(["gin/mesh/cpu_sim8_context.gin"], [], finalize=False)
  context_mesh = sharding.MeshConfig()
  results = {}
  for run in runs:
    model, steps = run.split(":")
    results[model] = compare(MODELS[model], int(steps), context_mesh)
  with open(out_path, "w") as f:
    json.dump(results, f)


if __name__ == "__main__":
  main(*sys.argv[1:])
