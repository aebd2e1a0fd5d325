"""text-generation-inference's API: what llm-vscode (backend `tgi`), huggingface_hub's
InferenceClient and the BigCode playground speak.

    POST /generate         {"inputs", "parameters": {...}} → {"generated_text", "details"?}
    POST /generate_stream  the same → SSE token events; the last carries generated_text, details
    POST /                 either, by the body's "stream" flag
    GET  /info, /health, /metrics

Parameters follow TGI (unknown ones are accepted and ignored, never a 400): max_new_tokens,
temperature, top_k, top_p, do_sample, seed, stop, repetition_penalty, return_full_text,
details, decoder_input_details, truncate, top_n_tokens; and starjax's own: single_line (stop at
the first newline), timeout_ms (a deadline: finish_reason "time") and ignore_eos (as in vLLM
and llama.cpp: fixed-length generations for benchmarks). As in TGI, sampling is on
when do_sample is true or any of temperature / top_k / top_p changes the distribution.
Stop sequences are cut from generated_text.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from starjax.serve.scheduler import EOS, LENGTH, STOP, FinishEvent, GenerationParams, TokenEvent
from starjax.serve.service import Service, ValidationError, sse, streaming_response

FINISH_REASONS = {EOS: "eos_token", STOP: "stop_sequence", LENGTH: "length"}
DEFAULT_MAX_NEW_TOKENS = 100
MAX_STOP_SEQUENCES = 4


async def json_body(request: Request) -> dict:
  try:
    body = await request.json()
  except (ValueError, UnicodeDecodeError) as e:
    raise ValidationError(f"the request body is not valid JSON ({e})") from e
  if not isinstance(body, dict):
    raise ValidationError("the request body must be a JSON object")
  return body


def field(obj: dict, name: str, kind, default=None, *, check=None, what: str = ""):
  """obj[name] as `kind` (int, float, bool, str), or default when absent/null; 422 otherwise."""
  value = obj.get(name)
  if value is None:
    return default
  ok = (isinstance(value, bool) if kind is bool else
        isinstance(value, kind) and not isinstance(value, bool) if kind is int else
        isinstance(value, (int, float)) and not isinstance(value, bool) if kind is float else
        isinstance(value, kind))
  if kind is int and isinstance(value, float) and value.is_integer():
    value, ok = int(value), True
  if not ok or (kind is float and not math.isfinite(value)):
    raise ValidationError(f"Input validation error: `{name}` must be a {kind.__name__}, "
                          f"got {json.dumps(value)}")
  if check is not None and not check(value):
    raise ValidationError(f"Input validation error: `{name}` {what}. Given: {value}")
  return kind(value)


def stop_list(value, name: str = "stop") -> tuple[str, ...]:
  if value is None:
    return ()
  if isinstance(value, str):
    value = [value]
  if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
    raise ValidationError(f"Input validation error: `{name}` must be a string or a list of "
                          f"strings")
  return tuple(s for s in value if s)


def hf_params(p: dict, *, default_max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
              extra_stops: tuple[str, ...] = ()) -> GenerationParams:
  """GenerationParams from a TGI `parameters` object (also what llm-ls sends inside an
  OpenAI body)."""
  if not isinstance(p, dict):
    raise ValidationError("Input validation error: `parameters` must be an object")
  temperature = field(p, "temperature", float, check=lambda t: t > 0,
                      what="must be strictly positive")
  top_k = field(p, "top_k", int, check=lambda k: k > 0, what="must be strictly positive")
  top_p = field(p, "top_p", float, check=lambda x: 0 < x <= 1, what="must be > 0.0 and <= 1.0")
  repetition = field(p, "repetition_penalty", float, 1.0, check=lambda x: x > 0,
                     what="must be strictly positive")
  do_sample = field(p, "do_sample", bool, False)
  sample = do_sample or (temperature not in (None, 1.0)) or top_k is not None or (
      top_p is not None and top_p < 1.0)
  stops = stop_list(p.get("stop"))
  if len(stops) > MAX_STOP_SEQUENCES:
    raise ValidationError(f"Input validation error: `stop` supports up to "
                          f"{MAX_STOP_SEQUENCES} stop sequences. Given: {len(stops)}")
  timeout_ms = field(p, "timeout_ms", float, check=lambda x: x > 0, what="must be positive")
  return GenerationParams(
      max_new_tokens=field(p, "max_new_tokens", int, default_max_new_tokens,
                           check=lambda n: n > 0, what="must be strictly positive"),
      temperature=(temperature or 1.0) if sample else 0.0,
      top_k=(top_k or 0) if sample else 0, top_p=(top_p or 1.0) if sample else 1.0,
      repetition_penalty=repetition,
      seed=field(p, "seed", int, 0, check=lambda s: s >= 0, what="must be >= 0"),
      stop=stops + tuple(extra_stops), single_line=field(p, "single_line", bool, False),
      ignore_eos=field(p, "ignore_eos", bool, False),
      timeout_s=timeout_ms / 1000 if timeout_ms else None)


def _token(service: Service, token_id: int, text: str | None, logprob: float | None,
           special: bool | None = None) -> dict:
  return {"id": token_id, "text": service.token_text(token_id) if text is None else text,
          "logprob": logprob,
          "special": service.is_special(token_id) if special is None else special}


def _top_tokens(service: Service, event: TokenEvent, n: int) -> list[dict]:
  return [_token(service, i, None, lp) for i, lp in event.top[:n]]


class _TgiRequest:
  """A parsed /generate body."""

  def __init__(self, service: Service, body: dict):
    inputs = body.get("inputs")
    if not isinstance(inputs, str):
      raise ValidationError("Input validation error: `inputs` must be a string")
    parameters = body.get("parameters") or {}
    self.params = hf_params(parameters)
    self.options = parameters
    self.inputs = inputs
    self.prompt_ids = service.encode(inputs)
    truncate = field(parameters, "truncate", int, check=lambda n: n > 0,
                     what="must be strictly positive")
    if truncate is not None:
      self.prompt_ids = self.prompt_ids[-truncate:]
    self.details = field(parameters, "details", bool, False)
    self.input_details = field(parameters, "decoder_input_details", bool, False)
    if self.input_details:
      self.params = dataclasses.replace(self.params, prompt_logprobs=True)
    self.full_text = field(parameters, "return_full_text", bool, False)
    self.top_n = min(field(parameters, "top_n_tokens", int, 0, check=lambda n: n >= 0,
                           what="must be >= 0"), 5)
    service.check_prompt(self.prompt_ids, self.params.max_new_tokens)

  def text(self, generated: str) -> str:
    return self.inputs + generated if self.full_text else generated


def _details(service: Service, req: _TgiRequest, finish: FinishEvent, tokens: list[dict],
             top: list[list[dict]] | None) -> dict:
  details = {"finish_reason": FINISH_REASONS.get(finish.finish_reason, finish.finish_reason),
             "generated_tokens": len(tokens),
             "seed": req.params.seed if req.params.temperature > 0 else None,
             "prefill": [], "tokens": tokens, "tokens_cached": finish.tokens_cached}
  if req.input_details and finish.prompt_logprobs is not None:
    details["prefill"] = [_token(service, i, None, lp)
                          for i, lp in zip(req.prompt_ids, finish.prompt_logprobs)]
  if top is not None:
    details["top_tokens"] = top
  return details


def router(service: Service) -> APIRouter:
  api = APIRouter()

  async def generate(request: Request, body: dict) -> JSONResponse:
    req = _TgiRequest(service, body)
    tokens, top = [], []
    with service.admission():
      finish = None
      async for event in service.until_disconnect(req.prompt_ids, req.params,
                                                  request.is_disconnected):
        if isinstance(event, TokenEvent):
          tokens.append(_token(service, event.id, None, event.logprob, event.special))
          top.append(_top_tokens(service, event, req.top_n))
        else:
          finish = event
    if finish is None:
      return JSONResponse({"error": "client disconnected"}, status_code=499)
    tokens = tokens[:len(finish.token_ids) + (finish.finish_reason == EOS)]
    result: dict[str, Any] = {"generated_text": req.text(finish.text)}
    if req.details:
      result["details"] = _details(service, req, finish, tokens,
                                   top[:len(tokens)] if req.top_n else None)
    return JSONResponse(result, headers=_headers(finish))

  async def generate_stream(request: Request, body: dict):
    req = _TgiRequest(service, body)
    admission = service.admit()

    async def events():
      held, count = None, 0
      async for event in service.generate(req.prompt_ids, req.params):
        if isinstance(event, TokenEvent):
          count += 1
          # Each token goes out at once (a stream's first token is its prefill's); only the
          # last waits for the finish that follows it, to carry the final text and details.
          if event.last:
            held = event
          else:
            yield sse(json.dumps(_stream_event(service, req, event, count)))
          continue
        # The last token's event carries the final text and details; a request that ends
        # between tokens (a deadline) or before its first gets an empty special token.
        if held is None:
          held = TokenEvent(id=service.generator.eos_id, text="", logprob=0.0, top=[],
                            special=True)
          count += 1 if count else 0
        held = TokenEvent(id=held.id, text=held.text + event.tail, logprob=held.logprob,
                          top=held.top, special=held.special)
        final = _stream_event(service, req, held, count)
        final["generated_text"] = req.text(event.text)
        final["details"] = {
            "finish_reason": FINISH_REASONS.get(event.finish_reason, event.finish_reason),
            "generated_tokens": len(event.token_ids),
            "seed": req.params.seed if req.params.temperature > 0 else None,
            "tokens_cached": event.tokens_cached}
        yield sse(json.dumps(final))

    return streaming_response(events(), admission)

  @api.post("/generate")
  async def generate_route(request: Request):
    return await generate(request, await json_body(request))

  @api.post("/generate_stream")
  async def generate_stream_route(request: Request):
    return await generate_stream(request, await json_body(request))

  @api.post("/")
  async def compat_route(request: Request):
    body = await json_body(request)
    if body.get("stream"):
      return await generate_stream(request, body)
    return await generate(request, body)

  @api.get("/info")
  async def info():
    c = service.generator.tokens.config
    return {"model_id": service.model_id, "model_sha": None, "model_dtype": c.dtype,
            "model_device_type": service.device_type, "model_pipeline_tag": "text-generation",
            "max_concurrent_requests": service.max_concurrent_requests,
            "max_best_of": 1, "max_stop_sequences": MAX_STOP_SEQUENCES,
            "max_input_tokens": service.context_length - 1,
            "max_input_length": service.context_length - 1,
            "max_total_tokens": service.context_length,
            "max_batch_size": service.scheduler.engine.slots,
            "validation_workers": 1, "router": "starjax", "version": "0.1.0",
            "sha": None, "docker_label": None}

  return api


def _stream_event(service: Service, req: _TgiRequest, event: TokenEvent, index: int) -> dict:
  return {"index": index, "token": _token(service, event.id, event.text, event.logprob,
                                          event.special),
          "top_tokens": _top_tokens(service, event, req.top_n) if req.top_n else None,
          "generated_text": None, "details": None}


def _headers(finish: FinishEvent) -> dict:
  return {"x-generated-tokens": str(len(finish.token_ids)),
          "x-prompt-tokens": str(finish.prompt_tokens),
          "x-tokens-cached": str(finish.tokens_cached),
          "x-total-time": str(int(finish.duration_s * 1000))}
