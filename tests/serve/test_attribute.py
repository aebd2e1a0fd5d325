"""POST /attribute: `data attribute --json`'s answer over HTTP when the server has --index; a
clear 404 without it; a bad --index stops `run.py serve` at once with exit 2 naming the path."""

import contextlib
import io

import pytest
from fastapi.testclient import TestClient

from starjax import cli
from starjax.data.governance import attribution
from tests.data.governance.corpus import corpus_rows, write_root


@pytest.fixture(scope="module")
def rows():
  return corpus_rows(seed=1, per_language=12)


@pytest.fixture(scope="module")
def index(tmp_path_factory, rows):
  from starjax.data.governance import index_build, index_dir  # pylint: disable=import-outside-toplevel
  root = write_root(tmp_path_factory.mktemp("attribute_root"), rows, shards=1)
  output = tmp_path_factory.mktemp("attribute_index") / "index"
  index_build.build_index(str(root), str(output),
                          index_build.index_options(fp_samples=20_000))
  opened = index_dir.open_index(str(output))
  yield opened
  opened.close()


@pytest.fixture(scope="module")
def attribute_client(service, index):
  from starjax.serve.app import create_app  # pylint: disable=import-outside-toplevel
  with TestClient(create_app(service, index=index)) as client:
    yield client


def _generated(row) -> str:
  return ("# written by a model\ndef zzz_entry(value):\n    return value\n\n"
          + row["content"][40:400] + "\n# end of zzz_entry\n")


def test_attribute_answers_what_data_attribute_json_answers(attribute_client, index, rows):
  row = rows["python"][3]
  text = _generated(row)
  response = attribute_client.post("/attribute", json={"text": text})
  assert response.status_code == 200
  answer = response.json()
  assert answer == attribution.attribute(index, text)
  sources = [src for span in answer["spans"] for src in span["sources"]]
  assert {"repo": row["max_stars_repo_name"], "path": row["max_stars_repo_path"],
          "license": ", ".join(row["max_stars_repo_licenses"])} in sources


def test_attribute_of_new_text_names_no_source(attribute_client):
  text = "def brand_new_function(alpha, beta):\n    return alpha ** beta - 42\n" * 5
  answer = attribute_client.post("/attribute", json={"text": text}).json()
  assert all(not span["sources"] for span in answer["spans"])


@pytest.mark.parametrize("body", [{}, {"text": 3}, [1, 2]])
def test_attribute_rejects_a_body_without_text(attribute_client, body):
  response = attribute_client.post("/attribute", json=body)
  assert response.status_code == 422
  assert response.json()["error_type"] == "validation"


def test_attribute_needs_the_api_key_when_one_is_set(service, index):
  from starjax.serve.app import create_app  # pylint: disable=import-outside-toplevel
  with TestClient(create_app(service, api_key="secret", index=index)) as client:
    assert client.post("/attribute", json={"text": "x"}).status_code == 401
    ok = client.post("/attribute", json={"text": "x"},
                     headers={"Authorization": "Bearer secret"})
    assert ok.status_code == 200 and ok.json() == {"spans": []}


def test_attribute_without_index_says_to_start_with_it(client):
  response = client.post("/attribute", json={"text": "def f():\n    return 1\n"})
  assert response.status_code == 404
  body = response.json()
  assert body["error_type"] == "not_configured" and "--index=INDEX" in body["error"]


def _serve(*flags) -> tuple[int, str]:
  from starjax.serve import cli as serve_cli  # pylint: disable=import-outside-toplevel
  err = io.StringIO()
  with contextlib.redirect_stderr(err):
    status = cli.run("serve", serve_cli.main, list(flags))
  return status, err.getvalue()


def test_a_missing_index_stops_the_server_with_exit_2(model_dir, tmp_path):
  missing = tmp_path / "no-index"
  status, err = _serve(f"--model_dir={model_dir}", f"--index={missing}", "--port=0")
  assert status == 2
  assert f"--index={missing}" in err and "data index" in err


def test_a_directory_that_is_no_index_stops_the_server_with_exit_2(model_dir, tmp_path):
  (tmp_path / "manifest.json").write_text("{not json")
  status, err = _serve(f"--model_dir={model_dir}", f"--index={tmp_path}", "--port=0")
  assert status == 2
  assert str(tmp_path / "manifest.json") in err and "corrupt" in err


@pytest.mark.slow
def test_run_py_serve_with_index_answers_post_attribute(model_dir, index, rows):
  import httpx  # pylint: disable=import-outside-toplevel
  from tests.serve.test_cli import _start, _wait_healthy  # pylint: disable=import-outside-toplevel
  process, url = _start(model_dir, f"--index={index.directory}")
  try:
    _wait_healthy(process, url)
    text = _generated(rows["javascript"][5])
    response = httpx.post(f"{url}/attribute", json={"text": text}, timeout=60)
    assert response.status_code == 200
    assert response.json() == attribution.attribute(index, text)
    assert any(span["sources"] for span in response.json()["spans"])
  finally:
    process.kill()
    process.wait()
