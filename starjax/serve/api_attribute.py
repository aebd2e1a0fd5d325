"""Attribution of generated code over HTTP: BigCode's editor tool, when `run.py serve` has
`--index=INDEX` (a governance index of the training data, `run.py data index`).

    POST /attribute   {"text": "..."} → {"spans": [{"start", "end",
                                          "sources": [{"repo", "path", "license"}]}]}

The answer is `run.py data attribute --json`'s, from the same function
(`starjax.data.governance.attribution.attribute`); offsets are characters of `text`. Without
an index the route answers 404 with a body that says how to start the server with one.
"""

from __future__ import annotations

import threading

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from starjax.serve.api_tgi import json_body
from starjax.serve.service import ValidationError

NOT_CONFIGURED = ("POST /attribute needs a governance index of the training data: start the "
                  "server with --index=INDEX (built by `python run.py data index "
                  "--input=DATA --output=INDEX`)")


def router(index=None) -> APIRouter:
  """The /attribute route over an opened governance index (index_dir.GovernanceIndex), or the
  route that explains how to get one when `index` is None."""
  api = APIRouter()
  # One query at a time: the index's SQLite connections are shared by the threadpool's threads.
  lock = threading.Lock()

  def attribute(text: str) -> dict:
    from starjax.data.governance import attribution  # pylint: disable=import-outside-toplevel
    with lock:
      return attribution.attribute(index, text)

  @api.post("/attribute")
  async def post_attribute(request: Request):
    if index is None:
      return JSONResponse({"error": NOT_CONFIGURED, "error_type": "not_configured"},
                          status_code=404)
    body = await json_body(request)
    text = body.get("text")
    if not isinstance(text, str):
      raise ValidationError("Input validation error: `text` must be a string (the generated "
                            "code to attribute)")
    # Membership and search are CPU work: off the event loop, which streams other requests.
    return await run_in_threadpool(attribute, text)

  return api
