"""OpenAI's API: completions (with `suffix` as fill-in-the-middle), chat completions with the
technical-assistant prompt, models. What the `openai` client, Continue, Tabby and llm-ls's
`openai` backend speak.

    POST /v1/completions       prompt (string or list), suffix → FIM from the model's own FIM
                               tokens, max_tokens, temperature (0 = greedy), top_p, n, stop,
                               seed, logprobs, echo, stream (`data: [DONE]` at the end)
    POST /v1/chat/completions  messages → the technical-assistant prompt (starjax.infer.chat)
    GET  /v1/models

An HF-style `parameters` object inside the body (llm-ls's openai backend sends one) is
honoured: its TGI parameters apply, and OpenAI fields given next to it win.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from starjax.infer import chat as chat_lib
from starjax.infer.sampling import SamplingConfig
from starjax.serve.api_tgi import field, hf_params, json_body, stop_list
from starjax.serve.scheduler import LENGTH, TIME, FinishEvent, GenerationParams, TokenEvent
from starjax.serve.service import Service, ValidationError, sse, streaming_response

DEFAULT_MAX_TOKENS = 16  # OpenAI's default for completions
MAX_N = 16


def finish_reason(event: FinishEvent) -> str:
  return {LENGTH: "length", TIME: "time"}.get(event.finish_reason, "stop")


def openai_params(body: dict, *, default_max_tokens: int | None,
                  extra_stops=()) -> GenerationParams:
  """GenerationParams of an OpenAI body (and of its HF-style `parameters`, if any)."""
  base = hf_params(body.get("parameters") or {}, default_max_new_tokens=default_max_tokens
                   or DEFAULT_MAX_TOKENS, extra_stops=extra_stops)
  temperature = field(body, "temperature", float, check=lambda t: 0 <= t <= 2,
                      what="must be between 0 and 2")
  top_p = field(body, "top_p", float, check=lambda x: 0 < x <= 1, what="must be in (0, 1]")
  max_tokens = field(body, "max_tokens", int, check=lambda n: n > 0,
                     what="must be strictly positive")
  if max_tokens is None:
    max_tokens = field(body, "max_completion_tokens", int, check=lambda n: n > 0,
                       what="must be strictly positive")
  changes = {}
  if "parameters" not in body and temperature is None:
    temperature = 1.0  # OpenAI's default: sampling
  if temperature is not None:
    changes["temperature"] = temperature
    if temperature == 0:
      changes.update(top_k=0, top_p=1.0)
  if top_p is not None and changes.get("temperature", base.temperature) > 0:
    changes["top_p"] = top_p
  if max_tokens is not None:
    changes["max_new_tokens"] = max_tokens
  if "stop" in body:
    changes["stop"] = stop_list(body.get("stop")) + tuple(extra_stops)
  seed = field(body, "seed", int)
  if seed is not None:
    changes["seed"] = seed & 0xFFFFFFFF
  for name in ("single_line", "ignore_eos"):
    value = field(body, name, bool)
    if value is not None:
      changes[name] = value
  # vLLM's extra sampling fields (the playground sends repetition_penalty).
  penalty = field(body, "repetition_penalty", float, check=lambda x: x > 0,
                  what="must be positive")
  if penalty is not None:
    changes["repetition_penalty"] = penalty
  top_k = field(body, "top_k", int, check=lambda k: k >= -1, what="must be >= -1")
  if top_k is not None and changes.get("temperature", base.temperature) > 0:
    changes["top_k"] = max(top_k, 0)
  timeout_ms = field(body, "timeout_ms", float, check=lambda x: x > 0, what="must be positive")
  if timeout_ms is not None:
    changes["timeout_s"] = timeout_ms / 1000
  return dataclasses.replace(base, **changes)


def _n(body: dict) -> int:
  return field(body, "n", int, 1, check=lambda n: 1 <= n <= MAX_N,
               what=f"must be between 1 and {MAX_N}")


def _prompt_logprobs(service: Service, ids: list[int], logprobs: list[float | None],
                     top: list[list[tuple[int, float]]], k: int) -> tuple[dict, int]:
  """OpenAI's `logprobs` of an echoed prompt (its ids, each token's logprob and alternatives)
  and the text offset after it."""
  result, offset = _empty_logprobs(), 0
  for i, (token_id, logprob) in enumerate(zip(ids, logprobs)):
    text = service.token_text(token_id)
    result["tokens"].append(text)
    result["token_logprobs"].append(logprob)
    # The first token has nothing before it to be predicted from: null, as OpenAI's.
    result["top_logprobs"].append(None if i == 0 else
                                  {service.token_text(t): lp for t, lp in top[i][:k]})
    result["text_offset"].append(offset)
    offset += len(text)
  return result, offset


def _token_logprobs(service: Service, events: list[TokenEvent], k: int,
                    offset: int) -> tuple[dict, int]:
  """OpenAI's `logprobs` of generated tokens whose text starts at `offset` in the choice's
  text, and the offset after them."""
  result = _empty_logprobs()
  for event in events:
    text = service.token_text(event.id)
    result["tokens"].append(text)
    result["token_logprobs"].append(event.logprob)
    result["top_logprobs"].append({service.token_text(i): lp for i, lp in event.top[:k]})
    result["text_offset"].append(offset)
    offset += len(text)
  return result, offset


def _empty_logprobs() -> dict:
  return {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}


def _logprobs_object(service: Service, events: list[TokenEvent], k: int, offset: int,
                     prompt: tuple[list[int], FinishEvent] | None = None) -> dict:
  """OpenAI's completion `logprobs`: the generated tokens, after the prompt's when `prompt`
  (its ids and the FinishEvent carrying their scores) is given (`echo`)."""
  result = _empty_logprobs()
  if prompt is not None:
    ids, finish = prompt
    result, offset = _prompt_logprobs(service, ids, finish.prompt_logprobs, finish.prompt_top,
                                      k)
  generated, _ = _token_logprobs(service, events, k, offset)
  return {name: result[name] + generated[name] for name in result}


def router(service: Service) -> APIRouter:
  api = APIRouter()

  def usage(finishes: list[FinishEvent]) -> dict:
    prompt = sum(f.prompt_tokens for f in finishes[:1])
    completion = sum(len(f.token_ids) for f in finishes)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": sum(f.tokens_cached for f in finishes)}}

  def prompts_of(body: dict) -> list[str]:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
      return [prompt]
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
      return prompt
    raise ValidationError("`prompt` must be a string or a non-empty list of strings")

  async def run_all(jobs, request: Request) -> list[tuple[list[TokenEvent], FinishEvent]]:
    """Runs (prompt_ids, params) jobs concurrently (each in its own slot)."""

    async def one(prompt_ids, params):
      tokens, finish = [], None
      async for event in service.until_disconnect(prompt_ids, params, request.is_disconnected):
        if isinstance(event, TokenEvent):
          tokens.append(event)
        else:
          finish = event
      return tokens, finish

    return await asyncio.gather(*(one(ids, params) for ids, params in jobs))

  @api.post("/v1/completions")
  async def completions(request: Request):
    body = await json_body(request)
    prompts = prompts_of(body)
    suffix = body.get("suffix")
    if suffix is not None and not isinstance(suffix, str):
      raise ValidationError("`suffix` must be a string")
    fim = bool(suffix)
    params = openai_params(body, default_max_tokens=None,
                           extra_stops=service.infill_stops() if fim else ())
    n = _n(body)
    logprobs = field(body, "logprobs", int, check=lambda k: 0 <= k <= 5,
                     what="must be between 0 and 5")
    echo = field(body, "echo", bool, False)
    stream = field(body, "stream", bool, False)
    score_prompt = echo and logprobs is not None
    if score_prompt and fim:
      raise ValidationError("`echo` with `logprobs` cannot be used with `suffix`: the prompt "
                            "the model scores is the FIM prompt, not the echoed text; drop "
                            "`echo` or `suffix`")
    if score_prompt:
      params = dataclasses.replace(params, prompt_logprobs=True)
    texts = [service.fim_prompt(p, suffix) if fim else p for p in prompts]
    encoded = [service.encode(t) for t in texts]
    for ids in encoded:
      service.check_prompt(ids, params.max_new_tokens)
    jobs = [(ids, dataclasses.replace(params, seed=(params.seed + i) & 0xFFFFFFFF))
            for ids in encoded for i in range(n)]
    created, ident = int(time.time()), f"cmpl-{uuid.uuid4().hex}"
    if stream:
      return _stream_completions(service, jobs, ident, created, prompts, n, echo, logprobs)
    with service.admission():
      results = await run_all(jobs, request)
    if any(finish is None for _, finish in results):
      return JSONResponse({"error": "client disconnected"}, status_code=499)
    choices = []
    for index, (tokens, finish) in enumerate(results):
      prefix = prompts[index // n] if echo else ""
      choice = {"text": prefix + finish.text, "index": index, "logprobs": None,
                "finish_reason": finish_reason(finish)}
      if logprobs is not None:
        choice["logprobs"] = _logprobs_object(
            service, tokens[:len(finish.token_ids)], logprobs, len(prefix),
            prompt=(jobs[index][0], finish) if score_prompt else None)
      choices.append(choice)
    return {"id": ident, "object": "text_completion", "created": created,
            "model": service.model_id, "choices": choices,
            "usage": usage([f for _, f in results])}

  @api.post("/v1/chat/completions")
  async def chat_completions(request: Request):
    body = await json_body(request)
    params = openai_params(body, default_max_tokens=256,
                           extra_stops=chat_lib.STOP_STRINGS)
    if "stop" not in body:
      params = dataclasses.replace(params, stop=params.stop)
    prompt = chat_prompt(service, body.get("messages"), params.max_new_tokens)
    ids = service.encode(prompt)
    service.check_prompt(ids, params.max_new_tokens)
    n = _n(body)
    jobs = [(ids, dataclasses.replace(params, seed=(params.seed + i) & 0xFFFFFFFF))
            for i in range(n)]
    created, ident = int(time.time()), f"chatcmpl-{uuid.uuid4().hex}"
    if field(body, "stream", bool, False):
      return _stream_chat(service, jobs, ident, created)
    with service.admission():
      results = await run_all(jobs, request)
    if any(finish is None for _, finish in results):
      return JSONResponse({"error": "client disconnected"}, status_code=499)
    choices = [{"index": i, "message": {"role": "assistant", "content": finish.text.strip()},
                "logprobs": None, "finish_reason": finish_reason(finish)}
               for i, (_, finish) in enumerate(results)]
    return {"id": ident, "object": "chat.completion", "created": created,
            "model": service.model_id, "choices": choices,
            "usage": usage([f for _, f in results])}

  @api.get("/v1/models")
  async def models():
    return {"object": "list", "data": [{"id": service.model_id, "object": "model",
                                        "created": int(service.started),
                                        "owned_by": "starjax"}]}

  return api


def chat_prompt(service: Service, messages, max_new_tokens: int) -> str:
  """The technical-assistant prompt for OpenAI chat messages: a system message replaces the
  few-shot prompt, user/assistant pairs become earlier turns, the last user message is asked."""
  if not isinstance(messages, list) or not messages:
    raise ValidationError("`messages` must be a non-empty list of {role, content} objects")
  system, turns, pending = chat_lib.TECH_ASSISTANT_PROMPT, [], None
  for i, message in enumerate(messages):
    if not isinstance(message, dict) or not isinstance(message.get("content"), str):
      raise ValidationError(f"`messages[{i}]` must be an object with a string `content`")
    role, content = message.get("role"), message["content"]
    if role == "system":
      system = content.rstrip() + "\n\n" + chat_lib.SEPARATOR + "\n"
    elif role == "user":
      if pending is not None:
        turns.append((pending, ""))
      pending = content.strip()
    elif role == "assistant":
      turns.append((pending or "", content.strip()))
      pending = None
    else:
      raise ValidationError(f"`messages[{i}].role` must be system, user or assistant; got "
                            f"{role!r}")
  if not pending:
    raise ValidationError("the last message must be a non-empty `user` message")
  conversation = chat_lib.Conversation(
      service.generator, SamplingConfig(max_new_tokens=max_new_tokens), system_prompt=system,
      turns=turns)
  try:
    return conversation.prompt(pending)
  except ValueError as e:
    raise ValidationError(str(e)) from e


async def _merged(service: Service, jobs):
  """(job index, event) from all jobs as they come; leaving early cancels every job."""
  queue: asyncio.Queue = asyncio.Queue()

  async def pump(index, ids, params):
    async for event in service.generate(ids, params):
      await queue.put((index, event))

  tasks = [asyncio.ensure_future(pump(i, ids, p)) for i, (ids, p) in enumerate(jobs)]
  remaining = len(jobs)
  try:
    while remaining:
      index, event = await queue.get()
      if isinstance(event, FinishEvent):
        remaining -= 1
      yield index, event
  finally:
    for task in tasks:
      task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _stream_completions(service, jobs, ident, created, prompts, n, echo, logprobs):
  """SSE chunks as OpenAI streams a completion: with `logprobs`, each chunk carries those of
  the tokens whose text it brings (a token whose text is held back, an incomplete character or
  a possible stop string, comes with the chunk that sends it); the end of a completion (EOS)
  is not one of its tokens. Echoed with `logprobs`, the prompt comes first with its scores."""
  admission = service.admit()
  scored = echo and logprobs is not None  # the prompt is echoed with its first token's scores
  seen = [[] for _ in jobs]  # each job's TokenEvents
  sent = [0] * len(jobs)     # of which the logprobs went out
  offset = [0] * len(jobs)   # text offset of the next token in the choice's text
  echoed = [not echo] * len(jobs)

  def chunk(index, text, reason=None, upto=None) -> str:
    lp = None
    if logprobs is not None:
      upto = len(seen[index]) if upto is None else upto
      lp, offset[index] = _token_logprobs(service, seen[index][sent[index]:upto], logprobs,
                                          offset[index])
      sent[index] = max(sent[index], upto)
    return sse(json.dumps(_chunk(ident, created, service, index, text, reason, lp)))

  def echo_chunk(index, event) -> str:
    echoed[index] = True
    prompt = prompts[index // n]
    lp = None
    if logprobs is not None and getattr(event, "prompt_logprobs", None) is not None:
      lp, _ = _prompt_logprobs(service, jobs[index][0], event.prompt_logprobs, event.prompt_top,
                               logprobs)
    offset[index] = len(prompt)
    return sse(json.dumps(_chunk(ident, created, service, index, prompt, logprobs=lp)))

  async def events():
    if echo and not scored:
      for index in range(len(jobs)):
        yield echo_chunk(index, None)
    async for index, event in _merged(service, jobs):
      if not echoed[index]:
        yield echo_chunk(index, event)
      if isinstance(event, TokenEvent):
        seen[index].append(event)
        if event.text:
          # An EOS token is held back: the finish says whether it ended the completion.
          yield chunk(index, event.text, upto=len(seen[index]) - event.special)
      else:
        yield chunk(index, event.tail, finish_reason(event), upto=len(event.token_ids))
    yield sse("[DONE]")

  return streaming_response(events(), admission)


def _chunk(ident, created, service, index, text, reason=None, logprobs=None) -> dict:
  return {"id": ident, "object": "text_completion", "created": created,
          "model": service.model_id,
          "choices": [{"text": text, "index": index, "logprobs": logprobs,
                       "finish_reason": reason}]}


def _stream_chat(service, jobs, ident, created):
  admission = service.admit()

  def chunk(index, delta, reason=None):
    return sse(json.dumps({"id": ident, "object": "chat.completion.chunk", "created": created,
                           "model": service.model_id,
                           "choices": [{"index": index, "delta": delta, "logprobs": None,
                                        "finish_reason": reason}]}))

  async def events():
    started = [False] * len(jobs)
    for index in range(len(jobs)):
      yield chunk(index, {"role": "assistant", "content": ""})
    async for index, event in _merged(service, jobs):
      text = event.text if isinstance(event, TokenEvent) else event.tail
      if not started[index]:  # the answer starts after the tag's space
        text = text.lstrip()
        started[index] = bool(text)
      if isinstance(event, TokenEvent):
        if text:
          yield chunk(index, {"content": text})
      else:
        yield chunk(index, {"content": text} if text.rstrip() else {}, finish_reason(event))
    yield sse("[DONE]")

  return streaming_response(events(), admission)
