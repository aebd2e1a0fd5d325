"""429 past --max_concurrent_requests, 401 with --api_key, 503 while loading."""

import asyncio

import httpx
import pytest

from starjax.serve.app import create_app
from starjax.serve.cli import DeferredApp, serve_in_thread


def test_overloaded_is_429(service, client):
  """Past --max_concurrent_requests (here 0, so that no timing is involved: on a fast machine
  a held stream of the tiny model finishes before a second request arrives)."""
  previous = service.max_concurrent_requests
  service.max_concurrent_requests = 0
  try:
    refused = client.post("/generate", json={"inputs": "y", "parameters": {
        "max_new_tokens": 2}})
  finally:
    service.max_concurrent_requests = previous
  assert refused.status_code == 429
  assert refused.json() == {"error": "Model is overloaded", "error_type": "overloaded"}
  assert client.post("/generate", json={"inputs": "y", "parameters": {
      "max_new_tokens": 2}}).status_code == 200


@pytest.fixture(scope="module")
def keyed_url(service):
  server, thread, url = serve_in_thread(create_app(service, api_key="s3cret"))
  yield url
  server.should_exit = True
  thread.join(timeout=30)


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer wrong"},
                                     {"authorization": "s3cret"}])
def test_wrong_api_key_is_401(keyed_url, headers):
  response = httpx.post(f"{keyed_url}/generate", headers=headers,
                        json={"inputs": "x", "parameters": {"max_new_tokens": 2}})
  assert response.status_code == 401
  assert response.json()["error_type"] == "authentication"


def test_right_api_key_is_served_and_health_stays_open(keyed_url):
  assert httpx.post(f"{keyed_url}/generate", headers={"authorization": "Bearer s3cret"},
                    json={"inputs": "x", "parameters": {"max_new_tokens": 2}},
                    timeout=60).status_code == 200
  assert httpx.get(f"{keyed_url}/health").status_code == 200
  assert httpx.get(f"{keyed_url}/metrics").status_code == 200
  import openai
  client = openai.OpenAI(base_url=f"{keyed_url}/v1", api_key="s3cret", max_retries=0)
  assert client.models.list().data[0].id == "tiny"
  with pytest.raises(openai.AuthenticationError):
    openai.OpenAI(base_url=f"{keyed_url}/v1", api_key="nope", max_retries=0).models.list()


def test_loading_server_answers_503():
  deferred = DeferredApp()
  server, thread, url = serve_in_thread(deferred)
  try:
    assert httpx.get(f"{url}/health").status_code == 503
    assert httpx.post(f"{url}/generate", json={"inputs": "x"}).status_code == 503
  finally:
    server.should_exit = True
    thread.join(timeout=30)
