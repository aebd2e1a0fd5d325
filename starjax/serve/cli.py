"""`python run.py serve`: the model behind TGI-, OpenAI- and llama.cpp-compatible HTTP APIs.

    python run.py serve --model_dir=runs/quickstart                 # http://127.0.0.1:8080
    python run.py serve --hf_dir=/models/starcoderbase-1b --port=8000 --slots=16
    python run.py serve --model_dir=runs/quickstart --index=INDEX    # + POST /attribute
    XLA_FLAGS=--xla_force_host_platform_device_count=8 \\
      python run.py serve --model_dir=runs/quickstart --gin_file=gin/mesh/cpu_sim8.gin

The port opens at once; /health answers 503 until the model is loaded and warmed up (every
prefill bucket and the decode step compiled), then 200, and the URL is printed. SIGTERM or
SIGINT drains: new requests get 503, in-flight ones finish (for up to --drain_seconds), then
the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time

import uvicorn

from starjax import cli

log = logging.getLogger("starjax.serve")


def _parser():
  parser = cli.parser("serve", __doc__)
  cli.add_model_flags(parser)
  parser.add_argument("--host", default="127.0.0.1")
  parser.add_argument("--port", type=int, default=8080, help="0 = any free port")
  parser.add_argument("--slots", type=int, default=8,
                      help="decode slots: requests generating at once (one compiled step)")
  parser.add_argument("--max_concurrent_requests", type=int, default=128,
                      help="requests queued or generating; more get 429 (TGI's flag)")
  parser.add_argument("--max_total_tokens", type=int, default=None,
                      help="prompt + generated tokens per request (default: the context)")
  parser.add_argument("--prefill_buckets", default="16,32,64,128,256,512,1024,2048,4096,8192",
                      help="prompt lengths that compile a prefill (comma-separated)")
  parser.add_argument("--prefill_chunk", type=int, default=None,
                      help="the most tokens one prefill takes (a bucket); longer prompts are "
                      "prefilled in pieces (default: the whole context at once)")
  parser.add_argument("--api_key", default=os.environ.get("STARJAX_API_KEY"),
                      help="require `Authorization: Bearer KEY` (default $STARJAX_API_KEY)")
  parser.add_argument("--model_id", help="the name /info and /v1/models report "
                      "(default: the model directory's name)")
  parser.add_argument("--drain_seconds", type=float, default=30.0,
                      help="on SIGTERM/SIGINT, how long in-flight requests may finish")
  parser.add_argument("--ready_file", help="write {\"url\": ...} here once ready (for scripts)")
  parser.add_argument("--index", default=None,
                      help="a governance index of the training data (run.py data index): "
                      "enables POST /attribute")
  return parser


def main(command: str, argv: list[str]) -> int:
  del command
  args = cli.parse(argv, _parser, finalize=False)
  cli.require_one_model(args)
  if args.slots < 1 or args.max_concurrent_requests < 1:
    raise cli.UsageError("--slots and --max_concurrent_requests must be at least 1")
  try:
    buckets = tuple(int(b) for b in args.prefill_buckets.split(",") if b.strip())
  except ValueError as e:
    raise cli.UsageError(f"--prefill_buckets={args.prefill_buckets}: give comma-separated "
                         f"token counts, e.g. 32,128,512") from e
  mesh_config = cli.mesh_from_gin()
  cli.setup_logging()
  index = open_index(args.index)

  deferred = DeferredApp()
  config = uvicorn.Config(deferred, host=args.host, port=args.port, lifespan="off",
                          log_level="warning", timeout_graceful_shutdown=args.drain_seconds)
  server = DrainingServer(config, deferred)
  # The HTTP server runs on a thread of its own (answering 503 while loading); the model
  # loads here, on the main thread, which also owns the signal handlers.
  thread = threading.Thread(target=server.run, name="starjax-http", daemon=True)
  previous = {sig: signal.signal(sig, server.drain) for sig in (signal.SIGINT, signal.SIGTERM)}
  try:
    thread.start()
    deferred.load(args, mesh_config, buckets, server, thread, index)
    while thread.is_alive():
      thread.join(timeout=0.2)
  finally:
    for sig, handler in previous.items():
      signal.signal(sig, handler)
    deferred.shutdown()
    if index is not None:
      index.close()
  if not server.started:
    raise OSError(f"could not listen on {args.host}:{args.port} (in use?); pick another "
                  f"--port")
  return 0


class DeferredApp:
  """The ASGI app while the model loads (503 for everything), then the real one."""

  def __init__(self):
    self.app = None
    self.service = None

  async def __call__(self, scope, receive, send):
    if self.app is not None:
      return await self.app(scope, receive, send)
    if scope["type"] != "http":
      return None
    body = json.dumps({"error": "the model is loading", "error_type": "unhealthy"}).encode()
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
    return None

  def load(self, args, mesh_config, buckets, server, thread, index=None) -> None:
    """Builds the service; then prints the URL (and writes --ready_file) once listening."""
    self.service, self.app = build(args, mesh_config, buckets, index=index)
    self.service.ready = True
    while not server.started:
      if server.should_exit or not thread.is_alive():
        return
      time.sleep(0.05)
    if server.should_exit:  # a signal while loading
      self.service.draining = True
      return
    url = f"http://{args.host}:{server.port}"
    print(f"starjax serving {self.service.model_id} at {url} (playground: {url}/playground)",
          flush=True)
    if args.ready_file:
      with open(args.ready_file + ".tmp", "w") as f:
        json.dump({"url": url, "pid": os.getpid()}, f)
      os.replace(args.ready_file + ".tmp", args.ready_file)

  def shutdown(self) -> None:
    if self.service is not None:
      self.service.scheduler.stop()


def open_index(directory):
  """The governance index for POST /attribute (None without --index), opened before the model
  loads so that a bad one stops the server at once: UsageError (exit 2) naming the path."""
  if not directory:
    return None
  from starjax.data.errors import DataError  # pylint: disable=import-outside-toplevel
  from starjax.data.governance import index_dir  # pylint: disable=import-outside-toplevel
  try:
    return index_dir.open_index(directory)
  except DataError as e:
    message = cli.message_of(e)
    prefix = "" if message.startswith("--index=") else f"--index={directory}: "
    raise cli.UsageError(prefix + message) from e


def build(args, mesh_config, buckets, *, generator=None, index=None):
  """(Service, ASGI app) for the parsed flags: loads the model, warms the engine up.
  index: an opened governance index for POST /attribute (open_index), or None."""
  # pylint: disable=import-outside-toplevel
  from starjax.infer.generator import Generator
  from starjax.serve.app import create_app
  from starjax.serve.engine import Engine
  from starjax.serve.scheduler import Scheduler
  from starjax.serve.service import Service
  started = time.monotonic()
  if generator is None:
    generator = Generator.load(model_dir=args.model_dir, hf_dir=args.hf_dir,
                               tokenizer_path=args.tokenizer, mesh_config=mesh_config)
  engine = Engine(generator.tokens, slots=args.slots, cache_len=args.max_total_tokens,
                  buckets=buckets, chunk=getattr(args, "prefill_chunk", None))
  engine.warm_up()
  scheduler = Scheduler(engine, decode=generator.decode, eos_id=generator.eos_id)
  scheduler.start()
  source = (args.model_dir or args.hf_dir).rstrip("/")
  service = Service(generator, scheduler, model_id=args.model_id or os.path.basename(source),
                    max_concurrent_requests=args.max_concurrent_requests)
  log.info("model loaded and warmed up in %.1f s (%d slots, buckets %s)",
           time.monotonic() - started, engine.slots, engine.buckets)
  return service, create_app(service, api_key=args.api_key, index=index)


class DrainingServer(uvicorn.Server):
  """uvicorn's server with starjax's shutdown: the first SIGTERM/SIGINT drains (health 503,
  no new requests, in-flight ones finish within timeout_graceful_shutdown) and the process
  exits 0; a second one stops at once. Off the main thread no handlers are installed."""

  def __init__(self, config, deferred: DeferredApp | None = None):
    super().__init__(config)
    self.deferred = deferred

  @property
  def port(self) -> int:
    return self.servers[0].sockets[0].getsockname()[1]

  @contextlib.contextmanager
  def capture_signals(self):
    if threading.current_thread() is not threading.main_thread():
      yield
      return
    previous = {sig: signal.signal(sig, self.drain) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
      yield
    finally:
      for sig, handler in previous.items():
        signal.signal(sig, handler)

  def drain(self, signum=None, frame=None) -> None:
    del frame
    if self.should_exit:
      self.force_exit = True
      return
    service = getattr(self.deferred, "service", None)
    if service is not None:
      service.draining = True
    if signum is not None:
      print(f"starjax: {signal.Signals(signum).name}: draining in-flight requests",
            file=sys.stderr, flush=True)
    self.should_exit = True


def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0):
  """Runs app on a uvicorn server in a background thread (tests, benchmarks); returns
  (server, thread, url). Stop it with `server.should_exit = True; thread.join()`."""
  server = DrainingServer(uvicorn.Config(app, host=host, port=port, lifespan="off",
                                         log_level="warning", timeout_graceful_shutdown=5))
  thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
  thread.start()
  deadline = time.monotonic() + 30
  while not server.started:
    if time.monotonic() > deadline or not thread.is_alive():
      raise RuntimeError("the test server did not start")
    time.sleep(0.01)
  return server, thread, f"http://{host}:{server.port}"
