"""The ASGI application: the three APIs, health, metrics, the pages, errors and the API key.

    GET /health     503 until the model is loaded and warmed up (and while draining), then 200
    GET /metrics    Prometheus text
    GET /playground, GET /chat   the static pages (starjax/serve/static/)
    POST /attribute  training documents and licenses of a text's spans (with --index)

Errors use the reference servers' bodies: `{"error": message, "error_type": kind}` with 422
(validation), 429 (overloaded), 401 (API key), 503 (loading / shutting down), 500 (engine),
404 (POST /attribute on a server started without --index).
With an API key, every route but /health, /metrics and the pages needs `Authorization: Bearer
KEY` (compared in constant time).
"""

from __future__ import annotations

import hmac
import os

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse

from starjax.serve import api_attribute, api_llamacpp, api_openai, api_tgi
from starjax.serve.service import EngineError, Overloaded, Service, Unavailable, ValidationError

STATIC = os.path.join(os.path.dirname(__file__), "static")
OPEN_PATHS = {"/health", "/metrics", "/playground", "/chat", "/favicon.ico"}


def create_app(service: Service, *, api_key: str | None = None, index=None) -> FastAPI:
  """The app over `service`; index: an opened governance index for POST /attribute."""
  app = FastAPI(title="starjax", version="0.1.0", docs_url="/docs", redoc_url=None)

  def error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse({"error": message, "error_type": kind}, status_code=status)

  @app.exception_handler(ValidationError)
  async def on_validation(_, e: ValidationError):
    service.metrics.inc("tgi_request_failure")
    return error(422, str(e), "validation")

  @app.exception_handler(Overloaded)
  async def on_overloaded(_, e: Overloaded):
    return error(429, str(e), "overloaded")

  @app.exception_handler(Unavailable)
  async def on_unavailable(_, e: Unavailable):
    return error(503, str(e), "unhealthy")

  @app.exception_handler(EngineError)
  async def on_engine(_, e: EngineError):
    return error(500, str(e), "generation")

  if api_key:
    expected = f"Bearer {api_key}".encode()

    @app.middleware("http")
    async def check_key(request: Request, call_next):
      if request.url.path in OPEN_PATHS or request.url.path.startswith("/static/"):
        return await call_next(request)
      given = request.headers.get("authorization", "").encode()
      if not hmac.compare_digest(given, expected):
        return error(401, "invalid or missing API key: send `Authorization: Bearer KEY`",
                     "authentication")
      return await call_next(request)

  @app.get("/health")
  async def health():
    if not service.ready or service.draining:
      return error(503, "shutting down" if service.draining else "loading", "unhealthy")
    return {"status": "ok"}

  @app.get("/metrics")
  async def metrics():
    service.metrics.set("tgi_queue_size", service.scheduler.queued())
    return PlainTextResponse(service.metrics.render(),
                             media_type="text/plain; version=0.0.4; charset=utf-8")

  @app.get("/playground")
  async def playground():
    return FileResponse(os.path.join(STATIC, "playground.html"), media_type="text/html")

  @app.get("/chat")
  async def chat_page():
    return FileResponse(os.path.join(STATIC, "chat.html"), media_type="text/html")

  @app.get("/", include_in_schema=False)
  async def root():
    return RedirectResponse("/playground")

  app.include_router(api_tgi.router(service))
  app.include_router(api_openai.router(service))
  app.include_router(api_llamacpp.router(service))
  app.include_router(api_attribute.router(index))
  return app
