"""Per-slot sampling: greedy slots take the argmax of the raw logits, filters are per slot and
exact, and one slot's settings (or its logits' shape) never change another slot's token."""

import jax
import jax.numpy as jnp
import numpy as np

from starjax.infer import sampling
from starjax.serve.sampling import SlotSampling, sample_slots

VOCAB = 4 * sampling.NUCLEUS_CANDIDATES


def slots(temperature, top_k, top_p, seeds, penalty=None):
  count = len(temperature)
  return SlotSampling(temperature=jnp.asarray(temperature, jnp.float32),
                      top_k=jnp.asarray(top_k, jnp.int32), top_p=jnp.asarray(top_p, jnp.float32),
                      repetition_penalty=jnp.asarray(penalty or [1.0] * count, jnp.float32),
                      key=jnp.stack([jax.random.key(s) for s in seeds]))


def logits_rows(*scales):
  rng = np.random.default_rng(0)
  return jnp.asarray(np.stack([rng.standard_normal(VOCAB) * s for s in scales]), jnp.float32)


def step(logits, params, steps=None):
  count = logits.shape[0]
  steps = jnp.zeros(count, jnp.int32) if steps is None else steps
  return sample_slots(logits, params, steps, jnp.zeros((count, VOCAB), bool))


def test_greedy_slots_take_the_argmax_and_top_k_one_is_greedy():
  logits = logits_rows(3, 0.01, 3)
  out = step(logits, slots([0.0, 0.0, 0.9], [0, 0, 1], [1.0, 0.3, 1.0], [1, 2, 3]))
  np.testing.assert_array_equal(out.token, jnp.argmax(logits, axis=-1))


def test_sampled_slots_stay_in_their_own_filtered_set():
  logits = jnp.tile(logits_rows(3), (3, 1))
  top_k, top_p = [4, 0, 0], [1.0, 0.5, 1.0]
  ranks = jnp.argsort(-logits[0])
  for seed in range(20):
    out = step(logits, slots([1.0, 1.0, 1.0], top_k, top_p, [seed, seed + 100, seed + 200]))
    assert int(out.token[0]) in ranks[:4].tolist()
    probs = jax.nn.softmax(logits[0])[ranks]
    nucleus = ranks[:int(jnp.sum(jnp.cumsum(probs) - probs < 0.5))]
    assert int(out.token[1]) in nucleus.tolist()


def test_a_slots_token_does_not_depend_on_its_neighbours():
  # Slot 0 (top-p 0.95 on peaked logits) takes the candidate draw; its neighbours are greedy,
  # unfiltered or flat enough to need the whole vocabulary.
  mine = dict(temperature=0.7, top_k=0, top_p=0.95, seed=11)
  neighbours = [(0.0, 0, 1.0, 1), (1.5, 0, 1.0, 2), (1.0, 0, 0.99, 3)]
  logits = logits_rows(4, 0.01, 0.01, 0.01)
  busy = step(logits, slots([mine["temperature"]] + [n[0] for n in neighbours],
                            [mine["top_k"]] + [n[1] for n in neighbours],
                            [mine["top_p"]] + [n[2] for n in neighbours],
                            [mine["seed"]] + [n[3] for n in neighbours]))
  alone = step(logits[:1], slots([mine["temperature"]], [mine["top_k"]], [mine["top_p"]],
                                 [mine["seed"]]))
  assert int(busy.token[0]) == int(alone.token[0])
  # and over steps: each step folds in the slot's own count
  tokens = {int(step(logits[:1], slots([0.7], [0], [0.95], [11]),
                     jnp.asarray([s], jnp.int32)).token[0]) for s in range(30)}
  assert len(tokens) > 1
