"""The TGI API against a real server on a loopback port: huggingface_hub's InferenceClient,
raw SSE, and a byte-exact replay of what llm-ls sends for its `tgi` backend."""

import json

import numpy as np
import pytest

from starjax.infer.sampling import SamplingConfig

PROMPT = "def fibonacci(n):\n"


def sse_events(response):
  events = []
  for line in response.iter_lines():
    if line.startswith("data:"):
      events.append(line[len("data:"):].strip())
  return events


def test_generate_greedy_equals_run_py_generate(client, generator):
  reference = generator.complete([PROMPT], SamplingConfig(max_new_tokens=20))[0]
  response = client.post("/generate", json={"inputs": PROMPT,
                                            "parameters": {"max_new_tokens": 20}})
  assert response.status_code == 200
  assert response.json() == {"generated_text": reference.text}


def test_generate_details(client):
  response = client.post("/generate", json={"inputs": PROMPT, "parameters": {
      "max_new_tokens": 5, "details": True, "decoder_input_details": True,
      "top_n_tokens": 2, "return_full_text": True, "watermark": False, "typical_p": 0.9}})
  body = response.json()
  assert body["generated_text"].startswith(PROMPT)
  details = body["details"]
  assert details["finish_reason"] in ("length", "eos_token")
  assert details["generated_tokens"] == len(details["tokens"]) <= 5
  assert all({"id", "text", "logprob", "special"} <= set(t) for t in details["tokens"])
  assert len(details["top_tokens"][0]) == 2
  assert details["prefill"] and details["prefill"][0]["logprob"] is None


def test_decoder_input_details_score_the_prompt_like_a_full_forward(client, generator,
                                                                    score_by_forward):
  body = client.post("/generate", json={"inputs": PROMPT, "parameters": {
      "max_new_tokens": 3, "details": True, "decoder_input_details": True}}).json()
  prefill = body["details"]["prefill"]
  ids = generator.encode(PROMPT)
  expected, _ = score_by_forward(ids)
  assert [t["id"] for t in prefill] == ids
  assert [t["text"] for t in prefill] == [generator.decode([i]) for i in ids]
  assert prefill[0]["logprob"] is None
  np.testing.assert_allclose([t["logprob"] for t in prefill[1:]], expected[1:], atol=1e-4)
  assert body["details"]["tokens_cached"] == 0  # every token needs the logits before it
  plain = client.post("/generate", json={"inputs": PROMPT, "parameters": {
      "max_new_tokens": 3, "details": True}}).json()
  assert plain["details"]["prefill"] == []
  assert plain["generated_text"] == body["generated_text"]


def test_inference_client_text_generation(server_url, generator):
  from huggingface_hub import InferenceClient
  client = InferenceClient(model=server_url)
  reference = generator.complete([PROMPT], SamplingConfig(max_new_tokens=12))[0]
  assert client.text_generation(PROMPT, max_new_tokens=12) == reference.text
  detailed = client.text_generation(PROMPT, max_new_tokens=12, details=True)
  assert detailed.generated_text == reference.text
  assert detailed.details.generated_tokens == len(reference.tokens)
  streamed = list(client.text_generation(PROMPT, max_new_tokens=12, stream=True))
  assert "".join(streamed) == reference.text
  final = list(client.text_generation(PROMPT, max_new_tokens=12, stream=True, details=True))[-1]
  assert final.generated_text == reference.text
  assert final.details.finish_reason == "length"
  sampled = client.text_generation(PROMPT, max_new_tokens=8, do_sample=True, temperature=0.8,
                                   top_p=0.9, seed=3)
  assert sampled == client.text_generation(PROMPT, max_new_tokens=8, do_sample=True,
                                           temperature=0.8, top_p=0.9, seed=3)


def test_generate_stream_sse(client, generator):
  reference = generator.complete([PROMPT], SamplingConfig(max_new_tokens=10))[0]
  with client.stream("POST", "/generate_stream", json={
      "inputs": PROMPT, "parameters": {"max_new_tokens": 10}}) as response:
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(e) for e in sse_events(response)]
  assert "".join(e["token"]["text"] for e in events) == reference.text
  assert all(e["generated_text"] is None for e in events[:-1])
  assert events[-1]["generated_text"] == reference.text
  assert events[-1]["details"]["finish_reason"] == "length"
  assert [e["index"] for e in events] == list(range(1, len(events) + 1))  # as TGI: from 1


def test_compat_route_and_stop_sequence(client, generator):
  full = generator.complete([PROMPT], SamplingConfig(max_new_tokens=30))[0].text
  stop = full[5:8]
  assert len(stop) == 3 and not full.startswith(stop)
  body = {"inputs": PROMPT, "parameters": {"max_new_tokens": 30, "stop": [stop],
                                           "details": True}}
  result = client.post("/", json=body).json()
  assert result["generated_text"] == full[:full.index(stop)]
  assert result["details"]["finish_reason"] == "stop_sequence"
  with client.stream("POST", "/", json={**body, "stream": True}) as response:
    events = [json.loads(e) for e in sse_events(response)]
  assert events[-1]["generated_text"] == full[:full.index(stop)]
  assert "".join(e["token"]["text"] for e in events) == full[:full.index(stop)]


def test_llm_ls_tgi_request_replay(client, generator):
  """llm-ls (llm-vscode's language server) with `backend: "tgi"` posts this body (its
  requestBody config plus `inputs` and return_full_text=false) and parses one object with a
  `generated_text` (a list is an error for it)."""
  fim = "<fim_prefix>def add(a, b):\n    <fim_suffix>\n\nprint(add(1, 2))<fim_middle>"
  raw = json.dumps({"parameters": {"max_new_tokens": 60, "temperature": 0.2, "do_sample": True,
                                   "top_p": 0.95, "return_full_text": False},
                    "inputs": fim}).encode()
  response = client.post("/generate", content=raw, headers={
      "content-type": "application/json", "user-agent": "llm-ls/0.5.3; rust/unknown; ide/VSCode"})
  assert response.status_code == 200
  body = response.json()
  assert isinstance(body, dict) and isinstance(body["generated_text"], str)


def test_info_health_metrics(client):
  info = client.get("/info").json()
  assert info["model_id"] == "tiny" and info["max_total_tokens"] == 1024
  assert client.get("/health").status_code == 200
  client.post("/generate", json={"inputs": PROMPT, "parameters": {"max_new_tokens": 2}})
  metrics = client.get("/metrics").text
  for name in ("tgi_request_count", "tgi_request_duration_bucket", "tgi_queue_size",
               "tgi_batch_current_size", "starjax_time_to_first_token_seconds_bucket",
               "starjax_inter_token_latency_seconds_bucket", "starjax_slots_in_use",
               "starjax_requests_cancelled_total", "starjax_wasted_tokens_total"):
    assert f"\n{name}" in metrics, name
  count = [l for l in metrics.splitlines() if l.startswith("tgi_request_success ")][0]
  assert float(count.split()[1]) >= 1


@pytest.mark.parametrize("body, message", [
    ({"inputs": ""}, "cannot be empty"),
    ({"inputs": 3}, "`inputs` must be a string"),
    ({"inputs": "x", "parameters": {"temperature": 0}}, "`temperature`"),
    ({"inputs": "x", "parameters": {"top_p": 1.5}}, "`top_p`"),
    ({"inputs": "x", "parameters": {"max_new_tokens": "many"}}, "`max_new_tokens`"),
    ({"inputs": "x", "parameters": {"max_new_tokens": 1030}}, "must be <= 1024"),
    ({"inputs": "def f(x):\n    return x\n" * 300}, "less than 1024"),
])
def test_validation_errors_are_422(client, body, message):
  response = client.post("/generate", json=body)
  assert response.status_code == 422
  assert response.json()["error_type"] == "validation"
  assert message in response.json()["error"]


def test_malformed_body_is_422_and_the_server_keeps_serving(client):
  response = client.post("/generate", content=b"{not json", headers={
      "content-type": "application/json"})
  assert response.status_code == 422
  assert client.post("/generate", json={"inputs": "x", "parameters": {
      "max_new_tokens": 2}}).status_code == 200


def test_unknown_parameters_are_accepted(client):
  response = client.post("/generate", json={"inputs": "x", "parameters": {
      "max_new_tokens": 2, "grammar": None, "adapter_id": None, "frobnicate": 1},
      "extra": True})
  assert response.status_code == 200
