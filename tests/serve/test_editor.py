"""Editor traffic: cancellation on disconnect, prefix KV reuse, single-line mode, deadlines."""

import json
import socket
import time

import httpx

from starjax.infer.sampling import SamplingConfig

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
