"""Editor traffic: cancellation on disconnect, prefix KV reuse, single-line mode, deadlines."""

import json
import socket
import threading
import time

import httpx
import pytest

from starjax.infer.sampling import SamplingConfig
from starjax.serve.scheduler import GenerationParams, Request
from tests.serve.conftest import run_requests

CODE = "import os\nimport sys\n\n\ndef main(argv):\n    parser = make_parser()\n"


def _metric(client, name):
  for line in client.get("/metrics").text.splitlines():
    if line.startswith(name + " "):
      return float(line.split()[1])
  raise KeyError(name)


def _wait_idle(service, seconds=10):
  deadline = time.monotonic() + seconds
  while service.scheduler.busy():
    assert time.monotonic() < deadline, "a slot stayed busy"
    time.sleep(0.01)


def test_stream_disconnect_cancels_and_frees_the_slot(client, server_url, service):
  cancelled = _metric(client, "starjax_requests_cancelled_total")
  with httpx.Client(base_url=server_url, timeout=60) as other:
    with other.stream("POST", "/generate_stream", json={
        "inputs": CODE, "parameters": {"max_new_tokens": 900, "ignore_eos": True}}) as response:
      next(response.iter_lines())  # the first token arrived: the request holds a slot
  _wait_idle(service)
  assert _metric(client, "starjax_requests_cancelled_total") == cancelled + 1
  assert _metric(client, "starjax_wasted_tokens_total") < 900


def test_non_streaming_disconnect_cancels(client, server_url, service):
  """A client that closes its connection while its /generate is running (an editor that moved
  on) cancels it."""
  cancelled = _metric(client, "starjax_requests_cancelled_total")
  host, port = server_url.removeprefix("http://").split(":")
  body = json.dumps({"inputs": CODE, "parameters": {"max_new_tokens": 900,
                                                    "ignore_eos": True}}).encode()
  with socket.create_connection((host, int(port))) as sock:
    sock.sendall(b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    deadline = time.monotonic() + 30
    while not service.scheduler.busy():
      assert time.monotonic() < deadline
      time.sleep(0.005)
  _wait_idle(service)
  assert _metric(client, "starjax_requests_cancelled_total") == cancelled + 1


def test_next_keystroke_reuses_the_prefix(client, generator):
  code = "# the keystroke test\n" + CODE
  first = client.post("/generate", json={"inputs": code, "parameters": {
      "max_new_tokens": 4, "details": True}}).json()
  typed = code + "    args = parser.parse"
  second = client.post("/generate", json={"inputs": typed, "parameters": {
      "max_new_tokens": 12, "details": True}}).json()
  cached = second["details"]["tokens_cached"]
  assert cached >= len(generator.encode(code)) - 2
  assert cached < len(generator.encode(typed))
  assert first["details"]["tokens_cached"] < cached
  # The reused cache gives exactly what a fresh prefill gives.
  reference = generator.complete([typed], SamplingConfig(max_new_tokens=12))[0]
  assert second["generated_text"] == reference.text
  llama = client.post("/completion", json={"prompt": typed + "_args", "n_predict": 2,
                                            "temperature": 0}).json()
  assert llama["tokens_cached"] >= cached


def test_single_line_stops_at_the_first_newline(client, generator):
  full = generator.complete([CODE], SamplingConfig(max_new_tokens=60))[0].text
  body = client.post("/generate", json={"inputs": CODE, "parameters": {
      "max_new_tokens": 60, "single_line": True, "details": True}}).json()
  assert body["generated_text"] == full.split("\n")[0]
  if "\n" in full:
    assert body["details"]["finish_reason"] == "stop_sequence"


def test_deadline_ends_with_finish_reason_time(client):
  body = client.post("/generate", json={"inputs": CODE, "parameters": {
      "max_new_tokens": 900, "timeout_ms": 50, "ignore_eos": True, "details": True}}).json()
  assert body["details"]["finish_reason"] == "time"
  assert body["details"]["generated_tokens"] < 900


def test_stream_is_utf8_safe(client, generator):
  with client.stream("POST", "/generate_stream", json={
      "inputs": "emoji = '🎉", "parameters": {"max_new_tokens": 40, "do_sample": True,
                                             "seed": 5}}) as response:
    events = [json.loads(l[5:]) for l in response.iter_lines() if l.startswith("data:")]
  texts = [e["token"]["text"] for e in events]
  assert "".join(texts) == events[-1]["generated_text"]
  # A partial character is never sent on its own: U+FFFD only where the full text has it.
  assert "".join(texts).count("\ufffd") == events[-1]["generated_text"].count("\ufffd")


def _common_prefix(a, b):
  n = 0
  while n < min(len(a), len(b)) and a[n] == b[n]:
    n += 1
  return n


def _first_token_of(scheduler, ids, max_new_tokens=900):
  """Submits a long request and returns it once its first token is out (it holds a slot)."""
  first = threading.Event()
  request = Request(list(ids), GenerationParams(max_new_tokens=max_new_tokens, ignore_eos=True),
                    emit=lambda event: first.set())
  scheduler.submit(request)
  assert first.wait(60), "the request never started"
  return request


@pytest.mark.parametrize("order", ["cancel_then_submit", "submit_then_cancel"])
def test_the_next_keystroke_reuses_the_cancelled_requests_cache(service, generator, order):
  """Request A is generating; the user types on: B (A's prompt and more) arrives and A is
  cancelled, in either order (the server may notice A's client leave after B arrived). B
  prefills only what it adds to A's prompt, and its output equals a cold run's."""
  scheduler, metrics = service.scheduler, service.scheduler.metrics
  code = f"# keystroke after a cancel ({order})\n" + CODE
  a_ids = generator.encode(code)
  typed = code + "    args = parser.parse_args(argv)"
  b_ids = generator.encode(typed)
  _wait_idle(service)
  a = _first_token_of(scheduler, a_ids)
  prefilled = metrics.values["starjax_prefill_tokens_total"]
  if order == "cancel_then_submit":
    a.cancel()
    b, = run_requests(scheduler, [b_ids], [GenerationParams(max_new_tokens=12)])
  else:
    results = []
    worker = threading.Thread(target=lambda: results.extend(run_requests(
        scheduler, [b_ids], [GenerationParams(max_new_tokens=12)])))
    worker.start()
    time.sleep(0.05)
    a.cancel()
    worker.join(120)
    b, = results
  assert b.tokens_cached >= _common_prefix(a_ids, b_ids) > len(a_ids) - 3
  assert metrics.values["starjax_prefill_tokens_total"] - prefilled == len(b_ids) - b.tokens_cached
  cold = generator.complete([typed], SamplingConfig(max_new_tokens=12))[0]
  assert b.token_ids == cold.tokens


def test_a_keystroke_over_http_reuses_the_stream_it_replaces(client, server_url, service,
                                                            generator):
  """What an editor does: the completion stream for A is open, the user types, the editor
  closes A's stream and posts B. /metrics shows B's prefill covering only the new tokens."""
  code = "# keystroke over http\n" + CODE
  typed = code + "    args = parser.parse_known"
  a_ids, b_ids = generator.encode(code), generator.encode(typed)
  _wait_idle(service)
  with httpx.Client(base_url=server_url, timeout=60) as editor:
    with editor.stream("POST", "/generate_stream", json={
        "inputs": code, "parameters": {"max_new_tokens": 900, "ignore_eos": True}}) as stream:
      next(stream.iter_lines())  # A holds a slot, its prompt prefilled
      prefilled = _metric(client, "starjax_prefill_tokens_total")
    b = editor.post("/generate", json={"inputs": typed, "parameters": {
        "max_new_tokens": 12, "details": True}}).json()
  cached = b["details"]["tokens_cached"]
  assert cached >= _common_prefix(a_ids, b_ids) > len(a_ids) - 3
  assert _metric(client, "starjax_prefill_tokens_total") - prefilled == len(b_ids) - cached
  cold = generator.complete([typed], SamplingConfig(max_new_tokens=12))[0]
  assert b["generated_text"] == cold.text
