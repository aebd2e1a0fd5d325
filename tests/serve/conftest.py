"""Serving fixtures: a tiny MODEL_DIR, its Generator, an engine and a scheduler over it."""

import pytest

from starjax.model import DecoderConfig
from tests.conftest import write_model_dir

# Like tests/infer's tiny model, with a context long enough for several buckets (and for
# requests that outlast a client's disconnect) and the
# tokenizer's vocabulary (every id it can generate decodes to text).
TINY = DecoderConfig(vocab_size=400, num_layers=2, hidden_size=64, num_heads=4, num_kv_heads=1,
                     mlp_dim=128, max_seq_len=1024)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, tokenizer_path):
  return write_model_dir(tmp_path_factory.mktemp("serve_model"), TINY, tokenizer_path)


@pytest.fixture(scope="session")
def generator(model_dir):
  from starjax.infer.generator import Generator  # pylint: disable=import-outside-toplevel
  return Generator.load(model_dir=model_dir)


SLOTS = 4
BUCKETS = (16, 64, 256)  # and the context, 1024


@pytest.fixture(scope="session")
def service(generator, model_dir):
  """The whole server minus HTTP: a warmed-up engine and its scheduler thread."""
  import argparse  # pylint: disable=import-outside-toplevel
  from starjax.serve.cli import build  # pylint: disable=import-outside-toplevel
  args = argparse.Namespace(model_dir=model_dir, hf_dir=None, tokenizer=None, slots=SLOTS,
                            max_total_tokens=None, model_id="tiny", api_key=None,
                            max_concurrent_requests=64)
  service, app = build(args, None, BUCKETS, generator=generator)
  service.ready = True
  service.app = app
  yield service
  service.scheduler.stop()


@pytest.fixture(scope="session")
def server_url(service):
  """The app on a loopback port for the whole session; stopped at the end."""
  from starjax.serve.cli import serve_in_thread  # pylint: disable=import-outside-toplevel
  server, thread, url = serve_in_thread(service.app)
  yield url
  server.should_exit = True
  thread.join(timeout=30)


@pytest.fixture
def client(server_url):
  import httpx  # pylint: disable=import-outside-toplevel
  with httpx.Client(base_url=server_url, timeout=60) as c:
    yield c


def run_requests(scheduler, prompts_ids, params_list, timeout=120):
  """Submits requests straight to the scheduler; returns their FinishEvents in order."""
  import queue  # pylint: disable=import-outside-toplevel
  from starjax.serve.scheduler import ErrorEvent, FinishEvent, Request  # pylint: disable=import-outside-toplevel
  events = queue.Queue()
  for i, (ids, params) in enumerate(zip(prompts_ids, params_list)):
    scheduler.submit(Request(list(ids), params, emit=lambda e, i=i: events.put((i, e))))
  done = {}
  while len(done) < len(prompts_ids):
    i, event = events.get(timeout=timeout)
    if isinstance(event, ErrorEvent):
      raise AssertionError(event.message)
    if isinstance(event, FinishEvent):
      done[i] = event
  return [done[i] for i in range(len(prompts_ids))]


@pytest.fixture(scope="session")
def score_by_forward():
  """score(ids) → (logprobs, top): each token's log-probability given the tokens before it
  (None for the first) and the 5 likeliest tokens at its place [(id, logprob)], from one full
  forward pass of the served model (write_model_dir's weights), no KV cache involved."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  from flax import nnx  # pylint: disable=import-outside-toplevel
  from starjax.model import create_decoder  # pylint: disable=import-outside-toplevel
  graphdef, params = nnx.split(create_decoder(TINY, seed=3))
  forward = jax.jit(lambda p, t: jax.nn.log_softmax(nnx.merge(graphdef, p)(t), axis=-1))

  def score(ids):
    logprobs = jax.device_get(forward(params, jnp.asarray([ids], jnp.int32))[0])
    chosen = [None] + [float(logprobs[i - 1, ids[i]]) for i in range(1, len(ids))]
    top = [[]] + [[(int(t), float(logprobs[i - 1, t])) for t in (-logprobs[i - 1]).argsort()[:5]]
                  for i in range(1, len(ids))]
    return chosen, top

  return score
