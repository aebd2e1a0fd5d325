"""What every API shares: the model's tokenizer, admission (overload, draining), validation,
and the bridge from the engine thread's events to the event loop.

    events = service.generate(prompt_ids, params)    # async iterator of Token/Finish events
    async for event in events: ...                   # leaving the loop early cancels it
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import AsyncIterator, Sequence

import jax

from starjax import tokens as tokens_lib
from starjax.infer.generator import INFILL_STOPS, Generator
from starjax.serve.metrics import Metrics
from starjax.serve.scheduler import (ErrorEvent, FinishEvent, GenerationParams, Request,
                                     Scheduler)


# How often a non-streaming request checks that its client is still there (a streaming
# response notices at once: Starlette cancels it).
DISCONNECT_POLL_S = 0.02


class ValidationError(ValueError):
  """A request to fix (HTTP 422); the message names the field."""


class Overloaded(RuntimeError):
  """More requests in flight than --max_concurrent_requests (HTTP 429)."""


class Unavailable(RuntimeError):
  """Not ready yet, or draining for shutdown (HTTP 503)."""


class EngineError(RuntimeError):
  """The engine failed this request (HTTP 500)."""


class Service:
  """One model behind the engine; shared by the TGI, OpenAI and llama.cpp routers."""

  def __init__(self, generator: Generator, scheduler: Scheduler, *, model_id: str,
               max_concurrent_requests: int = 128, metrics: Metrics | None = None):
    self.generator = generator
    self.scheduler = scheduler
    self.model_id = model_id
    self.max_concurrent_requests = max_concurrent_requests
    self.metrics = metrics or scheduler.metrics
    self.in_flight = 0
    self.ready = False
    self.draining = False
    self.started = time.time()
    self.device_type = jax.devices()[0].platform

  @property
  def context_length(self) -> int:
    return self.scheduler.engine.cache_len

  # -- text ---------------------------------------------------------------------------------
  def encode(self, text: str) -> list[int]:
    return self.generator.encode(text)

  def decode(self, ids: Sequence[int]) -> str:
    return self.generator.decode(ids)

  def token_text(self, token_id: int) -> str:
    return self.generator.decode([token_id])

  def is_special(self, token_id: int) -> bool:
    return self.generator.tokenizer.id_to_token(token_id) in tokens_lib.SPECIAL_TOKENS

  def fim_prompt(self, prefix: str, suffix: str) -> str:
    try:
      return self.generator.fim_prompt(prefix, suffix)
    except ValueError as e:
      raise ValidationError(str(e)) from e

  def infill_stops(self) -> tuple[str, ...]:
    return tuple(s for s in INFILL_STOPS
                 if self.generator.tokenizer.token_to_id(s) is not None)

  def check_prompt(self, prompt_ids: list[int], max_new_tokens: int) -> None:
    """422 for an empty prompt or one that, with max_new_tokens, overflows the context."""
    limit = self.context_length
    if not prompt_ids:
      raise ValidationError("Input validation error: `inputs` cannot be empty")
    if max_new_tokens < 1:
      raise ValidationError("Input validation error: `max_new_tokens` must be strictly positive")
    if len(prompt_ids) >= limit:
      raise ValidationError(f"Input validation error: `inputs` must have less than {limit} "
                            f"tokens. Given: {len(prompt_ids)}")
    if len(prompt_ids) + max_new_tokens > limit:
      raise ValidationError(
          f"Input validation error: `inputs` tokens + `max_new_tokens` must be <= {limit}. "
          f"Given: {len(prompt_ids)} `inputs` tokens and {max_new_tokens} `max_new_tokens`")

  # -- admission -----------------------------------------------------------------------------
  def admit(self) -> "Admission":
    """One of --max_concurrent_requests places, held until released (a whole stream):
    Unavailable while loading or draining, Overloaded past the limit."""
    if not self.ready or self.draining:
      raise Unavailable("the server is shutting down" if self.draining
                        else "the model is loading")
    self.metrics.inc("tgi_request_count")
    if self.in_flight >= self.max_concurrent_requests:
      self.metrics.inc("tgi_request_failure")
      raise Overloaded("Model is overloaded")
    return Admission(self)

  @contextlib.contextmanager
  def admission(self):
    admission = self.admit()
    try:
      yield admission
    finally:
      admission.release()

  # -- generation ----------------------------------------------------------------------------
  async def generate(self, prompt_ids: list[int], params: GenerationParams
                     ) -> AsyncIterator[object]:
    """The request's TokenEvents then its FinishEvent. Closing the iterator before the end
    (a client that went away) cancels the request: its slot is free within one step."""
    self.check_prompt(prompt_ids, params.max_new_tokens)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    def emit(event):
      try:
        loop.call_soon_threadsafe(queue.put_nowait, event)
      except RuntimeError:  # the loop has closed: nobody is listening any more
        request.cancel()

    request = Request(list(prompt_ids), params, emit)
    finished = False
    self.scheduler.submit(request)
    try:
      while True:
        event = await queue.get()
        if isinstance(event, ErrorEvent):
          finished = True
          self.metrics.inc("tgi_request_failure")
          raise EngineError(event.message)
        if isinstance(event, FinishEvent):
          finished = True
          self.metrics.inc("tgi_request_success")
          self.metrics.observe("tgi_request_duration", event.duration_s)
        yield event
        if finished:
          return
    finally:
      if not finished:
        request.cancel()

  async def until_disconnect(self, prompt_ids: list[int], params: GenerationParams,
                             is_disconnected) -> AsyncIterator[object]:
    """generate()'s events for a non-streaming response: while waiting for the next one, polls
    is_disconnected (an async callable, e.g. Starlette's request.is_disconnected) and ends
    early, cancelling the request, when the client has gone."""
    events = self.generate(prompt_ids, params)
    checked = time.monotonic()
    try:
      while True:
        step = asyncio.ensure_future(events.__anext__())
        while True:
          await asyncio.wait([step], timeout=DISCONNECT_POLL_S)
          # Tokens usually come faster than the poll interval: check by the clock, not only
          # when the wait timed out.
          if not step.done() or time.monotonic() - checked >= DISCONNECT_POLL_S:
            checked = time.monotonic()
            if await is_disconnected():
              step.cancel()
              with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await step
              return
          if step.done():
            break
        try:
          event = step.result()
        except StopAsyncIteration:
          return
        yield event
        if isinstance(event, FinishEvent):
          return
    finally:
      await events.aclose()


class Admission:
  """A held place; release() is idempotent (a stream's end and its response's background task
  both call it, whichever comes first)."""

  def __init__(self, service: Service):
    self.service = service
    self.held = True
    service.in_flight += 1
    service.metrics.set("starjax_requests_in_flight", service.in_flight)

  def release(self) -> None:
    if self.held:
      self.held = False
      self.service.in_flight -= 1
      self.service.metrics.set("starjax_requests_in_flight", self.service.in_flight)


def streaming_response(events, admission: Admission):
  """An SSE response over `events` (an async iterator of strings) that releases admission when
  the stream ends, fails, or the client goes away before it starts."""
  from starlette.background import BackgroundTask  # pylint: disable=import-outside-toplevel
  from starlette.responses import StreamingResponse  # pylint: disable=import-outside-toplevel

  async def guarded():
    try:
      async for chunk in events:
        yield chunk
    finally:
      admission.release()

  return StreamingResponse(guarded(), media_type="text/event-stream",
                           headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
                           background=BackgroundTask(admission.release))


def sse(data: str) -> str:
  """One server-sent event."""
  return f"data: {data}\n\n"
