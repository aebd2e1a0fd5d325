"""The slot engine: greedy output equals `run.py generate` alone and in a busy batch; one
request's sampling settings never change another's tokens; no compilation after warm-up."""

import random

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
