"""llama.cpp's /completion and /infill."""

import json

from starjax.infer.sampling import SamplingConfig


def test_completion(client, generator):
  reference = generator.complete(["x = 1\n"], SamplingConfig(max_new_tokens=8))[0]
  body = client.post("/completion", json={"prompt": "x = 1\n", "n_predict": 8,
                                          "temperature": 0}).json()
  assert body["content"] == reference.text
  assert body["stop"] is True and body["tokens_predicted"] == len(reference.tokens)
  assert body["stopped_limit"] or body["stopped_eos"]


def test_infill_with_extra_files(client, generator):
  prefix, suffix = "def add(a, b):\n    return ", "\n"
  reference = generator.infill(prefix, suffix, SamplingConfig(max_new_tokens=8))[0]
  body = client.post("/infill", json={"input_prefix": prefix, "input_suffix": suffix,
                                      "n_predict": 8, "temperature": 0}).json()
  assert body["content"] == reference
  with_extra = client.post("/infill", json={
      "input_prefix": prefix, "input_suffix": suffix, "n_predict": 8, "temperature": 0,
      "input_extra": [{"filename": "util.py", "text": "def sub(a, b):\n    return a - b\n"}]})
  assert with_extra.status_code == 200
  assert with_extra.json()["tokens_evaluated"] > body["tokens_evaluated"]


def test_completion_stream(client):
  with client.stream("POST", "/completion", json={"prompt": "x = 1\n", "n_predict": 6,
                                                  "temperature": 0, "stream": True}) as r:
    events = [json.loads(l[5:]) for l in r.iter_lines() if l.startswith("data:")]
  assert events[-1]["stop"] is True and all(not e["stop"] for e in events[:-1])
