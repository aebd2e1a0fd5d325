"""Serving under load: `run.py serve` (continuous batching) vs two peers on identical weights,
on loopback: transformers' own server (`transformers serve --continuous-batching`, OpenAI
/v1/completions) and transformers' generate() one request at a time behind a TGI-shaped
endpoint (what a plain Python server does).

The bench config (6 layers, 512 hidden, MQA, vocab 8192) is initialised by starjax, written as
a MODEL_DIR (with a BPE tokenizer trained on the Python standard library) and exported with
save_pretrained for transformers. Both servers run in their own processes; this process is
the load generator (asyncio + httpx, SSE streams):

  closed loop   C clients, each sending its next request when the last one ends: prompts of
                16–320 tokens (standard-library code), 32–128 new tokens (ignore_eos)
  poisson       open loop, exponential inter-arrival times at --rate requests/s
  editor        FIM bursts: a file typed a few characters at a time; every keystroke cancels
                the previous request (the stream is closed) and sends the next, whose prompt
                extends the last one (the prefix is reused: tokens_cached)

Reports throughput (generated tokens/s), p50/p95 time to first token and end-to-end latency,
and the editor's next-keystroke TTFT and wasted-token ratio (tokens generated for cancelled
requests over all tokens generated, from /metrics). Prompts are cut to fit the bench model's
context here, by tokens, so every server gets the same text. transformers serve has no
ignore_eos: its tokens are counted from each stream's `usage` (it may stop early at EOS).

    python benchmarks/serve.py [--clients=16] [--requests=64] [--slots=16] [--skip_peer]
    python benchmarks/serve.py --peer_server --model=DIR --port=P   # (internal) the peer
"""

import argparse
import asyncio
import glob
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


# -- the model ---------------------------------------------------------------------------------
def stdlib_texts(limit=200):
  paths = sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "*.py")))[:limit]
  for path in paths:
    with open(path, encoding="utf-8", errors="replace") as f:
      yield f.read()


def build_models(workdir: str, gin_file: str) -> tuple[str, str]:
  """(starjax MODEL_DIR, Hugging Face dir) of one random bench model and its tokenizer."""
  # pylint: disable=import-outside-toplevel
  from flax import nnx
  from starjax import gin_config
  from starjax.convert import hf
  from starjax.data.tokenizer import train_tokenizer
  from starjax.model import DecoderConfig, create_decoder
  from starjax.model_dir import Checkpointer
  gin_config.parse([gin_file], [], finalize=False)
  config = DecoderConfig()
  model_dir, hf_dir = os.path.join(workdir, "model"), os.path.join(workdir, "hf")
  tokenizer = os.path.join(workdir, "tokenizer.json")
  train_tokenizer(stdlib_texts(), config.vocab_size, tokenizer)
  model = create_decoder(config, seed=0)
  writer = Checkpointer(model_dir)
  writer.save(0, nnx.to_pure_dict(nnx.state(model)), None,
              {"model_config": config.to_json()}, force=True)
  writer.close()
  hf.save_pretrained(model, hf_dir)
  for directory in (model_dir, hf_dir):
    with open(tokenizer) as src, open(os.path.join(directory, "tokenizer.json"), "w") as dst:
      dst.write(src.read())
  return model_dir, hf_dir


# -- the peer: transformers generate(), one request at a time --------------------------------
def peer_server(model: str, port: int) -> None:
  """A TGI-shaped /generate_stream over transformers' generate(): what a plain Python server
  does (one request at a time under a lock, tokens streamed as generate() produces them)."""
  # pylint: disable=import-outside-toplevel
  import threading
  import torch
  import transformers
  import uvicorn
  from fastapi import FastAPI, Request
  from fastapi.responses import StreamingResponse
  from transformers.generation.streamers import BaseStreamer

  lm = transformers.AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32).eval()
  tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_file=os.path.join(
      model, "tokenizer.json"))
  lock = threading.Lock()
  app = FastAPI()

  class Streamer(BaseStreamer):
    def __init__(self, loop, queue):
      self.loop, self.queue, self.first = loop, queue, True

    def put(self, value):
      if self.first:  # generate() passes the prompt first
        self.first = False
        return
      for token in value.reshape(-1).tolist():
        self.loop.call_soon_threadsafe(self.queue.put_nowait, token)

    def end(self):
      self.loop.call_soon_threadsafe(self.queue.put_nowait, None)

  @app.get("/health")
  async def health():
    return {"status": "ok"}

  @app.post("/generate_stream")
  async def generate_stream(request: Request):
    body = await request.json()
    n = body["parameters"]["max_new_tokens"]
    keep = body["parameters"].get("truncate")
    ids = torch.tensor([tokenizer.encode(body["inputs"])[-keep:] if keep else
                        tokenizer.encode(body["inputs"])])
    loop, queue = asyncio.get_running_loop(), asyncio.Queue()

    def run():
      with lock, torch.inference_mode():
        lm.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                    min_new_tokens=n, do_sample=False, pad_token_id=0,
                    streamer=Streamer(loop, queue))

    threading.Thread(target=run, daemon=True).start()

    async def events():
      count = 0
      while (token := await queue.get()) is not None:
        count += 1
        yield f"data: {json.dumps({'index': count, 'token': {'id': token}})}\n\n"
      yield f"data: {json.dumps({'generated_text': '', 'details': {'generated_tokens': count}})}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")

  uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


# -- load generation ---------------------------------------------------------------------------
def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def start(command: list[str], url: str, timeout: float = 900) -> subprocess.Popen:
  import httpx  # pylint: disable=import-outside-toplevel
  process = subprocess.Popen(command, cwd=ROOT)
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    if process.poll() is not None:
      raise RuntimeError(f"{command} exited with {process.returncode}")
    try:
      if httpx.get(f"{url}/health", timeout=2).status_code == 200:
        return process
    except httpx.TransportError:
      pass
    time.sleep(0.2)
  raise RuntimeError(f"{url} not healthy after {timeout} s")


CONTEXT = 512  # the bench model's


def workload(n: int, seed: int, tokenizer=None) -> list[tuple[str, int]]:
  """n (prompt text, new tokens) pairs: code of 16–320 tokens (~3.5 chars each); with a
  tokenizer, each prompt cut (keeping its end) so that prompt + new tokens fit the context."""
  rng = random.Random(seed)
  texts = [t for t in stdlib_texts() if len(t) > 2000]
  jobs = []
  for _ in range(n):
    text = rng.choice(texts)
    chars = int(rng.choice([16, 32, 64, 128, 256, 320]) * 3.5)
    start = rng.randrange(0, len(text) - chars)
    prompt, new_tokens = text[start:start + chars], rng.choice([32, 64, 128])
    if tokenizer is not None:
      # Re-encoding the decoded tail may merge tokens differently: keep a margin of 8.
      keep = CONTEXT - new_tokens - 8
      ids = tokenizer.encode(prompt).ids
      prompt = tokenizer.decode(ids[-keep:]) if len(ids) > keep else prompt
    jobs.append((prompt, new_tokens))
  return jobs


async def stream_one(client, url: str, prompt: str, new_tokens: int) -> dict:
  """One request: its TTFT, latency and tokens. TGI /generate_stream, or OpenAI
  /v1/completions when url ends with `#openai=MODEL` (transformers serve)."""
  if "#openai=" in url:
    return await _stream_openai(client, url, prompt, new_tokens)
  start = time.perf_counter()
  first, tokens, cached = None, 0, None
  # truncate (TGI's: keep the last N prompt tokens) keeps prompt + new tokens in the context.
  body = {"inputs": prompt, "parameters": {"max_new_tokens": new_tokens, "ignore_eos": True,
                                           "truncate": CONTEXT - new_tokens - 1}}
  async with client.stream("POST", f"{url}/generate_stream", json=body) as response:
    response.raise_for_status()
    async for line in response.aiter_lines():
      if not line.startswith("data:"):
        continue
      event = json.loads(line[5:])
      if "token" in event and event["token"] is not None:
        tokens += 1
        if first is None:
          first = time.perf_counter() - start
      if event.get("details"):
        cached = event["details"].get("tokens_cached")
  return {"ttft": first, "latency": time.perf_counter() - start, "tokens": tokens,
          "cached": cached}


async def _stream_openai(client, url: str, prompt: str, new_tokens: int) -> dict:
  url, model = url.split("#openai=")
  start = time.perf_counter()
  first, tokens = None, None
  body = {"model": model, "prompt": prompt, "max_tokens": new_tokens, "temperature": 0,
          "stream": True}
  async with client.stream("POST", f"{url}/v1/completions", json=body) as response:
    response.raise_for_status()
    async for line in response.aiter_lines():
      if not line.startswith("data:") or line[5:].strip() == "[DONE]":
        continue
      event = json.loads(line[5:])
      if first is None and any(c.get("text") for c in event.get("choices", ())):
        first = time.perf_counter() - start
      if event.get("usage"):
        tokens = event["usage"]["completion_tokens"]
  if tokens is None:
    raise RuntimeError(f"{url}: a stream without usage; cannot count its tokens")
  return {"ttft": first, "latency": time.perf_counter() - start, "tokens": tokens,
          "cached": None}


def percentile(values, q):
  values = sorted(values)
  return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def summarise(results: list[dict], seconds: float) -> dict:
  ttft = [r["ttft"] for r in results if r["ttft"] is not None]
  latency = [r["latency"] for r in results]
  return {"requests": len(results), "seconds": round(seconds, 2),
          "tokens_per_second": round(sum(r["tokens"] for r in results) / seconds, 1),
          "ttft_p50_ms": round(1000 * percentile(ttft, 0.5), 1),
          "ttft_p95_ms": round(1000 * percentile(ttft, 0.95), 1),
          "latency_p50_s": round(percentile(latency, 0.5), 3),
          "latency_p95_s": round(percentile(latency, 0.95), 3)}


async def closed_loop(url: str, clients: int, jobs: list[tuple[str, int]]) -> dict:
  import httpx  # pylint: disable=import-outside-toplevel
  queue = list(jobs)
  results = []
  async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=clients)) as c:
    async def client_loop():
      while queue:
        prompt, n = queue.pop()
        results.append(await stream_one(c, url, prompt, n))

    start = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(clients)))
    return summarise(results, time.perf_counter() - start)


async def poisson(url: str, rate: float, jobs: list[tuple[str, int]], seed: int) -> dict:
  import httpx  # pylint: disable=import-outside-toplevel
  rng = random.Random(seed)
  async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=256)) as c:
    tasks = []
    start = time.perf_counter()
    for prompt, n in jobs:
      tasks.append(asyncio.ensure_future(stream_one(c, url, prompt, n)))
      await asyncio.sleep(rng.expovariate(rate))
    results = await asyncio.gather(*tasks)
    return summarise(results, time.perf_counter() - start)


def metric(url: str, name: str) -> float:
  import httpx  # pylint: disable=import-outside-toplevel
  for line in httpx.get(f"{url}/metrics").text.splitlines():
    if line.startswith(name + " "):
      return float(line.split()[1])
  raise KeyError(name)


async def editor(url: str, keystrokes: int, seed: int, interval: float = 0.08) -> dict:
  """FIM requests as a user types; each keystroke cancels the previous request."""
  import httpx  # pylint: disable=import-outside-toplevel
  rng = random.Random(seed)
  text = next(t for t in stdlib_texts() if len(t) > 6000)
  cut = 700  # prefix + suffix ≈ 300 tokens of the bench model's 512
  prefix_start, suffix = text[:cut], text[cut:cut + 300]
  typed = text[cut:cut + 4 * keystrokes]
  wasted0, generated0 = (metric(url, "starjax_wasted_tokens_total"),
                         metric(url, "starjax_generated_tokens_total"))
  ttfts, cached = [], []
  async with httpx.AsyncClient(timeout=600) as client:
    previous = None
    for k in range(keystrokes):
      prefix = prefix_start + typed[:4 * k + rng.randint(1, 4)]
      body = {"inputs": f"<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>",
              "parameters": {"max_new_tokens": 48, "ignore_eos": True}}
      if previous is not None:
        previous.cancel()  # the editor drops the stale completion: its stream closes
      previous = asyncio.ensure_future(_fim_request(client, url, body, ttfts, cached, k))
      await asyncio.sleep(interval)
    await asyncio.gather(previous, return_exceptions=True)
  await asyncio.sleep(0.5)
  wasted = metric(url, "starjax_wasted_tokens_total") - wasted0
  generated = metric(url, "starjax_generated_tokens_total") - generated0
  next_keystroke = ttfts[1:]
  return {"keystrokes": keystrokes, "interval_ms": interval * 1000,
          "next_keystroke_ttft_p50_ms": round(1000 * percentile(next_keystroke, 0.5), 1),
          "next_keystroke_ttft_p95_ms": round(1000 * percentile(next_keystroke, 0.95), 1),
          "mean_tokens_cached": round(statistics.mean(cached), 1) if cached else None,
          "wasted_token_ratio": round(wasted / generated, 3) if generated else None}


async def _fim_request(client, url, body, ttfts, cached, k):
  start = time.perf_counter()
  async with client.stream("POST", f"{url}/generate_stream", json=body) as response:
    async for line in response.aiter_lines():
      if line.startswith("data:"):
        if len(ttfts) <= k:
          ttfts.append(time.perf_counter() - start)
        event = json.loads(line[5:])
        if event.get("details"):
          cached.append(event["details"]["tokens_cached"])


def transformers_serve(hf_dir: str, clients: int, jobs, warm) -> dict:
  """The closed loop against `transformers serve --continuous-batching` on the CPU, or why it
  could not run."""
  port = free_port()
  url = f"http://127.0.0.1:{port}"
  command = ["transformers", "serve", hf_dir, "--continuous-batching", "--device", "cpu",
             "--dtype", "float32", "--host", "127.0.0.1", "--port", str(port)]
  try:
    process = start(command, url)
  except (RuntimeError, OSError) as e:
    return {"error": str(e)}
  try:
    asyncio.run(closed_loop(f"{url}#openai={hf_dir}", clients, warm))
    return asyncio.run(closed_loop(f"{url}#openai={hf_dir}", clients, jobs))
  finally:
    process.terminate()
    process.wait(timeout=60)


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--gin_file", default="gin/models/bench.gin")
  parser.add_argument("--clients", type=int, default=16)
  parser.add_argument("--requests", type=int, default=64)
  parser.add_argument("--rate", type=float, default=4.0, help="poisson arrivals per second")
  parser.add_argument("--slots", type=int, default=16)
  parser.add_argument("--keystrokes", type=int, default=40)
  parser.add_argument("--skip_peer", action="store_true")
  parser.add_argument("--peer_server", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--model", help=argparse.SUPPRESS)
  parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.peer_server:
    peer_server(args.model, args.port)
    return

  results = {"clients": args.clients, "requests": args.requests, "slots": args.slots,
             "load_average_start": os.getloadavg()[0]}
  import tokenizers  # pylint: disable=import-outside-toplevel
  with tempfile.TemporaryDirectory() as workdir:
    model_dir, hf_dir = build_models(workdir, args.gin_file)
    tokenizer = tokenizers.Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    jobs = workload(args.requests, seed=0, tokenizer=tokenizer)
    warm = workload(args.clients, seed=9, tokenizer=tokenizer)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    ours = start([sys.executable, "run.py", "serve", f"--model_dir={model_dir}",
                  f"--port={port}", f"--slots={args.slots}", "--max_concurrent_requests=512",
                  # pieces of at most 128 tokens: a prompt pays its length plus under one
                  # small bucket of padding (a 300-token prompt was a 512 bucket), and 128
                  # tokens cost less per token than 256 on the 2-core CPU (serve_step.py)
                  "--prefill_buckets=16,32,64,96,128", "--prefill_chunk=128"], url)
    try:
      asyncio.run(closed_loop(url, args.clients, warm))
      results["starjax_closed_loop"] = asyncio.run(closed_loop(url, args.clients, jobs))
      results["starjax_poisson"] = asyncio.run(poisson(url, args.rate, jobs, seed=1))
      results["starjax_editor"] = asyncio.run(editor(url, args.keystrokes, seed=2))
    finally:
      ours.send_signal(signal.SIGTERM)
      ours.wait(timeout=120)
    if not args.skip_peer:
      results["transformers_serve_closed_loop"] = transformers_serve(hf_dir, args.clients,
                                                                     jobs, warm)
      port = free_port()
      url = f"http://127.0.0.1:{port}"
      peer = start([sys.executable, __file__, "--peer_server", f"--model={hf_dir}",
                    f"--port={port}"], url)
      try:
        asyncio.run(closed_loop(url, 1, warm[:2]))
        results["peer_closed_loop"] = asyncio.run(closed_loop(url, args.clients, jobs))
      finally:
        peer.terminate()
        peer.wait(timeout=60)
      ours_tps = results["starjax_closed_loop"]["tokens_per_second"]
      peer_tps = results["peer_closed_loop"]["tokens_per_second"]
      results["throughput_ratio"] = round(ours_tps / peer_tps, 2)
      served = results["transformers_serve_closed_loop"]
      if "tokens_per_second" in served:
        results["throughput_ratio_transformers_serve"] = round(
            ours_tps / served["tokens_per_second"], 2)
  results["load_average_end"] = os.getloadavg()[0]
  print(json.dumps(results, indent=1))


if __name__ == "__main__":
  main()
