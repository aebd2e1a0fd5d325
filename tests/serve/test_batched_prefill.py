"""Batched prefill: k prompts of one bucket in one call give, token for token, what each gives
prefilled alone; a burst of requests is admitted in one round of batched calls and generates
what `run.py generate` does; a prompt continuing one of the same round waits for it."""

import queue

import numpy as np
import pytest

from starjax.infer.sampling import SamplingConfig
from starjax.serve.admission import Admission, Plan, prefill_calls
from starjax.serve.engine import Engine, Piece, sampling_arrays
from starjax.serve.scheduler import FinishEvent, GenerationParams, Request, Scheduler
from tests.serve.conftest import run_requests

PROMPTS = ["def fibonacci(n):\n", "import os\nimport sys\n\n",
           "class Stack:\n    def __init__(self):\n        self.items = []\n",
           "# compute the mean of a list\ndef mean(xs):", "for i in range(10):\n    print(i)\n"]


@pytest.fixture(scope="module")
def engine(generator):
  return Engine(generator.tokens, slots=4, cache_len=128, buckets=(16, 32), chunk=16)


def greedy_tokens(engine, state, slots, steps):
  """`steps` greedy decode steps of `slots`: their tokens [steps, len(slots)]."""
  active = np.zeros(engine.slots, bool)
  active[list(slots)] = True
  out = []
  for _ in range(steps):
    state, sampled = engine.generate(state, active)
    out.append(np.asarray(sampled.token)[list(slots)])
  return np.array(out)


def test_a_batched_prefill_equals_one_at_a_time(engine, generator):
  """Four prompts of one bucket (different lengths, one sampled) in one call: the same first
  tokens, logprobs and cache rows as each in a call of its own, and the same tokens after."""
  prompts = [generator.encode(p)[:16] for p in PROMPTS[:4]]
  assert len({engine.bucket(len(p)) for p in prompts}) == 1
  settings = [sampling_arrays(0.0, 0, 1.0, 1.0, 0), sampling_arrays(1.1, 20, 0.9, 1.2, 5),
              sampling_arrays(0.0, 0, 1.0, 1.0, 0), sampling_arrays(0.0, 0, 1.0, 1.3, 0)]
  pieces = []
  for slot, (prompt, sampling) in enumerate(zip(prompts, settings)):
    presence = np.zeros(engine.vocab, bool)
    presence[prompt] = True
    pieces.append(Piece(slot=slot, source=slot, tokens=tuple(prompt), start=0,
                        sampling=sampling, presence=presence))
  together, first = engine.prefill_slots(engine.init(), pieces)
  first = np.asarray(first.token), np.asarray(first.logprob)
  alone = engine.init()
  for i, piece in enumerate(pieces):
    alone, one = engine.prefill_slots(alone, [piece])
    assert int(np.asarray(one.token)[0]) == first[0][i]
    np.testing.assert_allclose(np.asarray(one.logprob)[0], first[1][i], rtol=1e-5, atol=1e-5)
    # the fresh variant attends to the bucket only; the row path to the whole cache row
    _, row_first, _ = engine.prefill(None, piece.tokens, 0, piece.sampling, piece.presence)
    assert int(np.asarray(row_first.token)[0]) == first[0][i]
    np.testing.assert_allclose(np.asarray(row_first.logprob)[0], first[1][i], rtol=1e-5,
                               atol=1e-5)
  for a, b in zip(together.cache.key + together.cache.value, alone.cache.key + alone.cache.value):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
  np.testing.assert_array_equal(np.asarray(together.index), np.asarray(alone.index))
  np.testing.assert_array_equal(greedy_tokens(engine, together, [0, 2, 3], 12),
                                greedy_tokens(engine, alone, [0, 2, 3], 12))


def test_a_batched_prefill_equals_the_one_slot_row_prefill(engine, generator):
  """prefill_slots (after a prefix cached in another slot) and prefill + insert (the one-slot
  row path) give the same first token and the same greedy tokens after it."""
  prompt = generator.encode(PROMPTS[2] + PROMPTS[3])[:40]
  sampling = sampling_arrays(0.0, 0, 1.0, 1.0, 0)
  presence = np.zeros(engine.vocab, bool)
  state, _ = engine.prefill_slots(engine.init(), [Piece(
      slot=0, source=0, tokens=tuple(prompt[:24]), start=0, sampling=sampling,
      presence=presence)])
  state, first = engine.prefill_slots(state, [Piece(
      slot=1, source=0, tokens=tuple(prompt[24:]), start=24, sampling=sampling,
      presence=presence)])
  reference = engine.init()
  row, ref_first, _ = engine.prefill(None, prompt, 0, sampling, presence)
  reference = engine.insert(reference, row, ref_first, 1, len(prompt), sampling, presence)
  assert int(np.asarray(first.token)[0]) == int(np.asarray(ref_first.token)[0])
  np.testing.assert_array_equal(greedy_tokens(engine, state, [1], 10),
                                greedy_tokens(engine, reference, [1], 10))


def test_prefill_calls_wave_by_piece_and_split_into_compiled_sizes(engine):
  """Wave 0 takes every prompt's first piece; a group of seven of one bucket is three calls
  (4, 2, 1); the long prompt's later pieces follow, each continuing the slot's own cache."""
  sampling, presence = sampling_arrays(0.0, 0, 1.0, 1.0, 0), np.zeros(engine.vocab, bool)
  admissions = []
  for slot, length in enumerate([40, 10, 16, 16, 16, 16, 16]):
    plan = Plan(slot=slot, source=6 - slot, start=0, pieces=tuple(engine.pieces(0, length)))
    admissions.append(Admission(request=None, prompt=list(range(length)), plan=plan,
                                sampling=sampling, presence=presence))
  calls = list(prefill_calls(engine, admissions))
  assert [len(c) for c in calls] == [4, 2, 1, 1, 1]
  assert all(engine.bucket(len(p.tokens)) == 16 for c in calls for _, p, _ in c)
  assert not any(last for c in calls[:3] for a, _, last in c if a is admissions[0])
  last = calls[-1][0]
  assert last[0] is admissions[0] and last[2] and last[1].source == last[1].slot == 0
  assert last[1].start == 32
  assert calls[0][0][1].source == 6  # a first piece reads its plan's source


def test_a_burst_is_prefilled_in_batched_calls_and_equals_generate(generator):
  """Five requests waiting at once are admitted in one round: fewer prefill calls than
  prompts, and each one's greedy tokens are `run.py generate`'s."""
  engine = Engine(generator.tokens, slots=8, cache_len=256, buckets=(16, 32, 64), chunk=64)
  calls = []
  prefill_slots = engine.prefill_slots
  engine.prefill_slots = lambda state, pieces: (calls.append(len(pieces)),
                                                prefill_slots(state, pieces))[1]
  scheduler = Scheduler(engine, decode=generator.decode, eos_id=generator.eos_id)
  prompts = [generator.encode(p) for p in PROMPTS]
  # submitted before the engine thread starts: all waiting at the first admission
  events = queue.Queue()
  for i, ids in enumerate(prompts):
    scheduler.submit(Request(list(ids), GenerationParams(max_new_tokens=16),
                             emit=lambda e, i=i: events.put((i, e))))
  scheduler.start()
  try:
    done = {}
    while len(done) < len(prompts):
      i, event = events.get(timeout=120)
      if isinstance(event, FinishEvent):
        done[i] = event
    finishes = [done[i] for i in range(len(prompts))]
  finally:
    scheduler.stop()
  assert sum(calls) == len(prompts) and len(calls) < len(prompts), calls
  references = generator.complete(PROMPTS, SamplingConfig(max_new_tokens=16))
  for finish, reference, text in zip(finishes, references, PROMPTS):
    assert finish.token_ids == reference.tokens, text


def test_a_prompt_continuing_one_of_the_same_round_waits_and_reuses_it(service, generator):
  """The second request extends the first: admitted in the next round, it prefills only what
  it adds (tokens_cached) and generates what it does alone."""
  first = generator.encode(PROMPTS[2])
  second = generator.encode(PROMPTS[2] + PROMPTS[3])
  assert second[:len(first)] == first
  params = GenerationParams(max_new_tokens=12)
  _, extended = run_requests(service.scheduler, [first, second], [params, params])
  alone = generator.complete([PROMPTS[2] + PROMPTS[3]], SamplingConfig(max_new_tokens=12))[0]
  assert extended.tokens_cached >= len(first) - 1
  assert extended.token_ids == alone.tokens
