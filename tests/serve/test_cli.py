"""`python run.py serve` as a user runs it: the port answers 503 while the model loads, then
200; the README's requests work; SIGTERM drains the in-flight request and exits 0; with a mesh
gin file on 8 simulated CPU devices the greedy output is the one-device output."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from starjax.infer.sampling import SamplingConfig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROMPT = "def fibonacci(n):\n"


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _start(model_dir, *flags, env=None):
  port = _free_port()
  process = subprocess.Popen(
      [sys.executable, "run.py", "serve", f"--model_dir={model_dir}", f"--port={port}",
       "--slots=4", "--prefill_buckets=16,64", *flags],
      cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True)
  return process, f"http://127.0.0.1:{port}"


def _wait_healthy(process, url, timeout=600):
  """Health codes seen until 200 (connection refused counts as None)."""
  seen = []
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    assert process.poll() is None, process.communicate()
    try:
      code = httpx.get(f"{url}/health", timeout=5).status_code
    except httpx.TransportError:
      code = None
    if not seen or seen[-1] != code:
      seen.append(code)
    if code == 200:
      return seen
    time.sleep(0.05)
  raise AssertionError(f"not healthy in {timeout} s: {seen}")


@pytest.mark.slow
def test_serve_health_requests_and_sigterm_drain(model_dir, generator):
  process, url = _start(model_dir)
  try:
    seen = _wait_healthy(process, url)
    assert 503 in seen  # the port opened before the model was ready
    reference = generator.complete([PROMPT], SamplingConfig(max_new_tokens=16))[0].text
    generated = httpx.post(f"{url}/generate", timeout=60, json={
        "inputs": PROMPT, "parameters": {"max_new_tokens": 16}}).json()["generated_text"]
    assert generated == reference
    completion = httpx.post(f"{url}/v1/completions", timeout=60, json={
        "prompt": "def add(a, b):\n    return ", "suffix": "\n", "max_tokens": 8,
        "temperature": 0}).json()
    assert isinstance(completion["choices"][0]["text"], str)
    # SIGTERM while a request streams: it finishes, then the process exits 0.
    with httpx.Client(timeout=120) as client:
      with client.stream("POST", f"{url}/generate_stream", json={
          "inputs": PROMPT, "parameters": {"max_new_tokens": 400, "ignore_eos": True}}) as r:
        lines = r.iter_lines()
        next(lines)
        process.send_signal(signal.SIGTERM)
        events = [json.loads(l[5:]) for l in lines if l.startswith("data:")]
    assert events[-1]["details"]["finish_reason"] == "length"
    assert process.wait(timeout=120) == 0
    assert "draining" in process.stderr.read()
  finally:
    if process.poll() is None:
      process.kill()
      process.wait()


@pytest.mark.slow
def test_sharded_serving_gives_the_one_device_output(model_dir, generator):
  reference = generator.complete([PROMPT], SamplingConfig(max_new_tokens=24))[0].text
  process, url = _start(model_dir, "--gin_file=gin/mesh/cpu_sim8.gin",
                        env={"XLA_FLAGS": "--xla_force_host_platform_device_count=8"})
  try:
    _wait_healthy(process, url)
    info = httpx.get(f"{url}/info").json()
    assert info["max_batch_size"] == 4
    bodies = [{"inputs": PROMPT, "parameters": {"max_new_tokens": 24}},
              {"inputs": "import os\n", "parameters": {"max_new_tokens": 24, "do_sample": True,
                                                       "seed": 1}}]
    with httpx.Client(timeout=120) as client:
      results = [client.post(f"{url}/generate", json=b).json() for b in bodies]
    assert results[0]["generated_text"] == reference
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 0
  finally:
    if process.poll() is None:
      process.kill()
      process.wait()
