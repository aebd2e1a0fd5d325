"""The slot engine: greedy output equals `run.py generate` alone and in a busy batch; one
request's sampling settings never change another's tokens; no compilation after warm-up."""

import random
import re

import numpy as np

from starjax.infer.sampling import SamplingConfig
from starjax.serve.engine import count_compilations
from starjax.serve.scheduler import GenerationParams
from tests.serve.conftest import run_requests

PROMPTS = ["def fibonacci(n):\n", "import os\nimport sys\n\n",
           "class Stack:\n    def __init__(self):\n        self.items = []\n",
           "# compute the mean of a list\ndef mean(xs):"]


def test_greedy_alone_equals_generate(service, generator):
  reference = generator.complete(PROMPTS[:1], SamplingConfig(max_new_tokens=40))[0]
  finish, = run_requests(service.scheduler, [generator.encode(PROMPTS[0])],
                         [GenerationParams(max_new_tokens=40)])
  assert finish.token_ids == reference.tokens
  assert finish.text == reference.text


def test_greedy_in_a_busy_batch_equals_generate(service, generator):
  """Every slot busy, prompts of different lengths, sampled neighbours, a queue behind."""
  references = generator.complete(PROMPTS, SamplingConfig(max_new_tokens=30))
  prompts = [generator.encode(p) for p in PROMPTS]
  noisy = GenerationParams(max_new_tokens=50, temperature=1.3, top_k=20, top_p=0.9, seed=7,
                           repetition_penalty=1.2)
  ids = prompts + [prompts[1]] * 3
  params = [GenerationParams(max_new_tokens=30)] * 4 + [noisy] * 3
  order = list(range(len(ids)))
  random.Random(0).shuffle(order)
  finishes = run_requests(service.scheduler, [ids[i] for i in order], [params[i] for i in order])
  by_index = dict(zip(order, finishes))
  for i, reference in enumerate(references):
    assert by_index[i].token_ids == reference.tokens, PROMPTS[i]
    assert by_index[i].text == reference.text


def test_sampling_is_per_request(service, generator):
  """A seeded sampled request gives the same tokens alone and next to other settings."""
  ids = generator.encode(PROMPTS[2])
  mine = GenerationParams(max_new_tokens=24, temperature=0.9, top_p=0.95, seed=11)
  alone, = run_requests(service.scheduler, [ids], [mine])
  others = [GenerationParams(max_new_tokens=30, temperature=t, top_k=k, seed=s)
            for t, k, s in ((0.0, 0, 0), (1.5, 5, 3), (0.7, 50, 9))]
  busy = run_requests(service.scheduler, [ids] * 4, [mine, *others])
  assert busy[0].token_ids == alone.token_ids
  different_seed, = run_requests(service.scheduler, [ids], [GenerationParams(
      max_new_tokens=24, temperature=0.9, top_p=0.95, seed=12)])
  assert different_seed.token_ids != alone.token_ids


def test_no_compilation_after_warm_up(service, generator):
  rng = random.Random(1)
  words = "def class return import for while if else print self value items".split()
  prompts, params = [], []
  for i in range(100):
    text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 60)))
    prompts.append(generator.encode(text)[:200])
    params.append(GenerationParams(
        max_new_tokens=rng.randint(1, 40), temperature=rng.choice([0.0, 0.5, 1.0]),
        top_k=rng.choice([0, 10]), top_p=rng.choice([1.0, 0.9]), seed=i,
        repetition_penalty=rng.choice([1.0, 1.3]), stop=rng.choice([(), ("\n",), ("e",)])))
  with count_compilations() as compiled:
    finishes = run_requests(service.scheduler, prompts, params, timeout=300)
  assert len(finishes) == 100
  assert compiled[0] == 0


def test_the_decode_step_writes_the_cache_in_place(service):
  """The compiled step neither copies nor transposes any layer's whole cache: each slot's new
  key/value is written into the donated cache, and the attention reads the cache as it lies
  (so the step's cost follows the tokens in use, not a copy of the cache)."""
  engine = service.scheduler.engine
  state = engine.init()
  active = np.ones(engine.slots, bool)
  with engine.context():
    hlo = engine._generate.lower(engine.tokens.params, state, active).compile().as_text()  # pylint: disable=protected-access
  config = engine.config
  whole = engine.slots * engine.cache_len * config.num_kv_heads * config.resolved_head_dim
  moved = []
  for line in hlo.splitlines():
    match = re.search(r"=\s+\w+\[([\d,]*)\]\S*\s+(copy|transpose)\(", line)
    if match and np.prod([int(d) for d in match.group(1).split(",") if d]) >= whole:
      moved.append(line.strip())
  assert not moved, "\n".join(moved)
  # the cache buffers are donated: the step's output aliases its input
  assert "input_output_alias" in hlo


def test_a_prompt_prefilled_in_pieces_gives_the_tokens_of_generate(generator):
  """With chunk=16 a long prompt is prefilled 16 tokens at a time (the last piece bucketed),
  each piece after the ones before it in the slot's cache: the same greedy tokens."""
  from starjax.serve.engine import Engine  # pylint: disable=import-outside-toplevel
  from starjax.serve.scheduler import Scheduler  # pylint: disable=import-outside-toplevel
  engine = Engine(generator.tokens, slots=2, cache_len=256, buckets=(16, 64), chunk=20)
  assert engine.chunk == 16
  text = "".join(PROMPTS) * 2
  prompt = generator.encode(text)
  assert len(engine.pieces(0, len(prompt))) > 3
  scheduler = Scheduler(engine, decode=generator.decode, eos_id=generator.eos_id)
  scheduler.start()
  try:
    finish, = run_requests(scheduler, [prompt], [GenerationParams(max_new_tokens=20)])
  finally:
    scheduler.stop()
  reference = generator.complete([text], SamplingConfig(max_new_tokens=20))[0]
  assert finish.token_ids == reference.tokens
  assert finish.prompt_tokens == len(prompt)
