"""The OpenAI API with the `openai` client and a replay of llm-ls's `openai` backend body."""

import json

import numpy as np
import pytest

from starjax import tokens as tokens_lib
from starjax.infer.chat import Conversation
from starjax.infer.sampling import SamplingConfig

PROMPT = "import os\n"


@pytest.fixture
def openai_client(server_url):
  import openai
  return openai.OpenAI(base_url=f"{server_url}/v1", api_key="unused", max_retries=0)


def test_completion_greedy_equals_generate(openai_client, generator):
  reference = generator.complete([PROMPT], SamplingConfig(max_new_tokens=16))[0]
  result = openai_client.completions.create(model="tiny", prompt=PROMPT, max_tokens=16,
                                            temperature=0)
  assert result.choices[0].text == reference.text
  assert result.choices[0].finish_reason in ("length", "stop")
  assert result.usage.completion_tokens == len(reference.tokens)


def test_completion_with_suffix_is_fim(openai_client, generator):
  prefix, suffix = "def add(a, b):\n    return ", "\n\nprint(add(1, 2))\n"
  reference = generator.infill(prefix, suffix, SamplingConfig(max_new_tokens=12))[0]
  result = openai_client.completions.create(model="tiny", prompt=prefix, suffix=suffix,
                                            max_tokens=12, temperature=0)
  assert result.choices[0].text == reference
  plain = openai_client.completions.create(model="tiny", prompt=prefix, max_tokens=12,
                                           temperature=0)
  fim_prompt_tokens = len(generator.encode(tokens_lib.fim_prompt(prefix, suffix)))
  assert result.usage.prompt_tokens == fim_prompt_tokens != plain.usage.prompt_tokens


def test_completion_n_logprobs_and_stream(openai_client, generator):
  reference = generator.complete([PROMPT], SamplingConfig(max_new_tokens=10))[0]
  result = openai_client.completions.create(model="tiny", prompt=[PROMPT, "x = "], n=2,
                                            max_tokens=10, temperature=0, logprobs=2)
  assert [c.index for c in result.choices] == [0, 1, 2, 3]
  assert result.choices[0].text == result.choices[1].text == reference.text
  assert len(result.choices[0].logprobs.tokens) == len(reference.tokens)
  # top_logprobs is keyed by token text: two ids that decode alike share an entry.
  assert all(1 <= len(t) <= 2 for t in result.choices[0].logprobs.top_logprobs)
  chunks = list(openai_client.completions.create(model="tiny", prompt=PROMPT, max_tokens=10,
                                                 temperature=0, stream=True))
  assert "".join(c.choices[0].text for c in chunks) == reference.text
  assert chunks[-1].choices[0].finish_reason in ("length", "stop")


def test_echo_with_logprobs_scores_the_prompt_like_a_full_forward(openai_client, generator,
                                                                  score_by_forward):
  prompt = "def fibonacci(n):\n    "
  ids = generator.encode(prompt)
  expected, expected_top = score_by_forward(ids)
  reference = generator.complete([prompt], SamplingConfig(max_new_tokens=4))[0]
  result = openai_client.completions.create(model="tiny", prompt=prompt, max_tokens=4,
                                            temperature=0, echo=True, logprobs=3)
  choice = result.choices[0]
  assert choice.text == prompt + reference.text
  logprobs, n = choice.logprobs, len(ids)
  assert logprobs.tokens[:n] == [generator.decode([i]) for i in ids]
  assert len(logprobs.tokens) == n + len(reference.tokens)
  assert logprobs.token_logprobs[0] is None and logprobs.top_logprobs[0] is None
  np.testing.assert_allclose(logprobs.token_logprobs[1:n], expected[1:], atol=1e-4)
  for place in range(1, n):
    best = {generator.decode([t]): lp for t, lp in expected_top[place][:3]}
    assert logprobs.top_logprobs[place].keys() == best.keys()
    np.testing.assert_allclose(list(logprobs.top_logprobs[place].values()),
                               list(best.values()), atol=1e-4)
  assert logprobs.text_offset[n] == len(prompt)


def _streamed_logprobs(chunks) -> dict:
  """The logprobs lists of a completion's chunks, concatenated."""
  merged = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
  for chunk in chunks:
    logprobs = chunk.choices[0].logprobs
    for name, values in merged.items():
      values.extend(getattr(logprobs, name))
  return merged


@pytest.mark.parametrize("echo", [False, True])
def test_stream_carries_the_logprobs_of_the_whole_response(openai_client, echo):
  """Each streamed chunk carries the logprobs of the tokens it brings (OpenAI's shape); the
  chunks together give the whole response's, the echoed prompt's scores first."""
  prompt = "def fibonacci(n):\n    "
  ask = dict(model="tiny", prompt=prompt, max_tokens=12, temperature=0, logprobs=2, echo=echo)
  whole = openai_client.completions.create(**ask).choices[0].logprobs
  chunks = list(openai_client.completions.create(stream=True, **ask))
  assert all(c.choices[0].logprobs is not None for c in chunks)
  streamed = _streamed_logprobs(chunks)
  assert streamed["tokens"] == whole.tokens
  assert streamed["text_offset"] == whole.text_offset
  assert streamed["top_logprobs"] == whole.top_logprobs
  np.testing.assert_allclose(np.array(streamed["token_logprobs"], float),
                             np.array(whole.token_logprobs, float), atol=1e-5)


def test_echo_with_logprobs_and_suffix_is_a_422(client):
  response = client.post("/v1/completions", json={
      "prompt": "a", "suffix": "b", "echo": True, "logprobs": 1, "max_tokens": 2})
  assert response.status_code == 422
  assert "`suffix`" in response.json()["error"]


def test_stream_ends_with_done(client):
  with client.stream("POST", "/v1/completions", json={
      "prompt": PROMPT, "max_tokens": 4, "stream": True, "temperature": 0}) as response:
    lines = [l for l in response.iter_lines() if l.startswith("data:")]
  assert lines[-1] == "data: [DONE]"
  assert json.loads(lines[-2][5:])["choices"][0]["finish_reason"] is not None


def test_chat_uses_the_technical_assistant_prompt(openai_client, generator):
  conversation = Conversation(generator, SamplingConfig(max_new_tokens=20))
  conversation.turns.append(("What is 2 + 2?", "4."))
  prompt = conversation.prompt("And 3 + 3?")
  sampling = SamplingConfig(max_new_tokens=20, stop=("\nHuman:", "\n-----", "<|endoftext|>"))
  reference = generator.complete([prompt], sampling)[0].text.strip()
  result = openai_client.chat.completions.create(
      model="tiny", max_tokens=20, temperature=0, messages=[
          {"role": "user", "content": "What is 2 + 2?"},
          {"role": "assistant", "content": "4."},
          {"role": "user", "content": "And 3 + 3?"}])
  assert result.choices[0].message.role == "assistant"
  assert result.choices[0].message.content == reference
  assert result.usage.prompt_tokens == len(generator.encode(prompt))
  stream = openai_client.chat.completions.create(
      model="tiny", max_tokens=20, temperature=0, stream=True, messages=[
          {"role": "user", "content": "What is 2 + 2?"},
          {"role": "assistant", "content": "4."},
          {"role": "user", "content": "And 3 + 3?"}])
  text = "".join(c.choices[0].delta.content or "" for c in stream)
  assert text.strip() == reference


def test_models(openai_client):
  assert [m.id for m in openai_client.models.list()] == ["tiny"]


def test_llm_ls_openai_request_replay(client, generator):
  """llm-ls with `backend: "openai"` posts its requestBody (HF-style `parameters`) plus
  prompt, model and stream=false, and reads choices[].text."""
  raw = json.dumps({"parameters": {"max_new_tokens": 9, "temperature": 0.2, "top_p": 0.95,
                                   "do_sample": False},
                    "prompt": PROMPT, "model": "tiny", "stream": False}).encode()
  response = client.post("/v1/completions", content=raw,
                         headers={"content-type": "application/json"})
  assert response.status_code == 200
  choices = response.json()["choices"]
  assert len(choices) == 1 and isinstance(choices[0]["text"], str)
  assert response.json()["usage"]["completion_tokens"] <= 9


def test_openai_validation_error(client):
  response = client.post("/v1/completions", json={"prompt": PROMPT, "temperature": 5})
  assert response.status_code == 422
  response = client.post("/v1/chat/completions", json={"messages": []})
  assert response.status_code == 422
