"""llama.cpp server's API: what llama.vim, llama.vscode and llm-ls's `llamacpp` backend speak.

    POST /completion  {"prompt", "n_predict", "temperature", "top_k", "top_p", "stop",
                       "seed", "repeat_penalty", "stream"} → {"content", "stop": true, ...}
    POST /infill      {"input_prefix", "input_suffix", "input_extra": [{"filename", "text"}],
                       "prompt" (text after the prefix, at the cursor), ...} → the same shape

input_extra files are laid out as earlier documents of the training data would be:
`<filename>NAME\\nTEXT<|endoftext|>` each (the filename tag only when the tokenizer has it),
before the FIM prompt of the current file.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from starjax import tokens as tokens_lib
from starjax.serve.api_tgi import field, json_body, stop_list
from starjax.serve.scheduler import EOS, LENGTH, STOP, FinishEvent, GenerationParams, TokenEvent
from starjax.serve.service import Service, ValidationError, sse, streaming_response


def llamacpp_params(service: Service, body: dict, prompt_len: int,
                    extra_stops=()) -> GenerationParams:
  """llama.cpp's sampling fields with its defaults (temperature 0.8, top-k 40, top-p 0.95);
  n_predict -1 (its default) means up to the context."""
  n_predict = field(body, "n_predict", int, -1, check=lambda n: n == -1 or n > 0,
                    what="must be -1 (until the context is full) or positive")
  if n_predict == -1:
    n_predict = max(1, service.context_length - prompt_len)
  temperature = field(body, "temperature", float, 0.8, check=lambda t: t >= 0,
                      what="must be >= 0")
  timeout_ms = field(body, "t_max_predict_ms", float, check=lambda x: x > 0,
                     what="must be positive")
  return GenerationParams(
      max_new_tokens=n_predict, temperature=temperature,
      top_k=field(body, "top_k", int, 40, check=lambda k: k >= 0, what="must be >= 0"),
      top_p=field(body, "top_p", float, 0.95, check=lambda x: 0 < x <= 1,
                  what="must be in (0, 1]"),
      repetition_penalty=field(body, "repeat_penalty", float, 1.0, check=lambda x: x > 0,
                               what="must be positive"),
      seed=field(body, "seed", int, 0) & 0xFFFFFFFF,
      stop=stop_list(body.get("stop")) + tuple(extra_stops),
      single_line=field(body, "single_line", bool, False),
      ignore_eos=field(body, "ignore_eos", bool, False),
      timeout_s=timeout_ms / 1000 if timeout_ms else None)


def infill_prompt(service: Service, body: dict) -> str:
  prefix = body.get("input_prefix", "")
  suffix = body.get("input_suffix", "")
  cursor = body.get("prompt", "")
  if not all(isinstance(x, str) for x in (prefix, suffix, cursor)):
    raise ValidationError("`input_prefix`, `input_suffix` and `prompt` must be strings")
  extra = body.get("input_extra") or []
  if not isinstance(extra, list):
    raise ValidationError("`input_extra` must be a list of {filename, text} objects")
  has_filename = service.generator.tokenizer.token_to_id(tokens_lib.FILENAME) is not None
  context = []
  for i, chunk in enumerate(extra):
    if not isinstance(chunk, dict) or not isinstance(chunk.get("text", ""), str):
      raise ValidationError(f"`input_extra[{i}]` must be an object with a string `text`")
    name = chunk.get("filename") or ""
    head = f"{tokens_lib.FILENAME}{name}\n" if name and has_filename else ""
    context.append(f"{head}{chunk.get('text', '')}{tokens_lib.ENDOFTEXT}")
  return "".join(context) + service.fim_prompt(prefix + cursor, suffix)


def _result(service: Service, prompt: str, params: GenerationParams, finish: FinishEvent,
            include_prompt: bool) -> dict:
  return {
      "content": finish.text, "stop": True, "model": service.model_id,
      "prompt": prompt if include_prompt else "",
      "stopped_eos": finish.finish_reason == EOS,
      "stopped_limit": finish.finish_reason == LENGTH,
      "stopped_word": finish.finish_reason == STOP, "stopping_word": finish.stop_sequence or "",
      "tokens_cached": finish.tokens_cached, "tokens_evaluated": finish.prompt_tokens,
      "tokens_predicted": len(finish.token_ids), "truncated": False,
      "generation_settings": {"n_predict": params.max_new_tokens, "temperature": params.temperature,
                              "top_k": params.top_k, "top_p": params.top_p,
                              "repeat_penalty": params.repetition_penalty, "seed": params.seed,
                              "stop": list(params.stop), "n_ctx": service.context_length},
      "timings": {"prompt_n": finish.prompt_tokens - finish.tokens_cached,
                  "predicted_n": len(finish.token_ids),
                  "prompt_ms": (finish.ttft_s or 0) * 1000,
                  "predicted_ms": (finish.duration_s - (finish.ttft_s or 0)) * 1000},
  }


def router(service: Service) -> APIRouter:
  api = APIRouter()

  async def serve(request: Request, body: dict, prompt: str, extra_stops=()):
    prompt_ids = service.encode(prompt)
    params = llamacpp_params(service, body, len(prompt_ids), extra_stops)
    service.check_prompt(prompt_ids, params.max_new_tokens)
    if field(body, "stream", bool, False):
      admission = service.admit()

      async def events():
        async for event in service.generate(prompt_ids, params):
          if isinstance(event, TokenEvent):
            if event.text:
              yield sse(json.dumps({"content": event.text, "stop": False}))
          else:
            final = _result(service, prompt, params, event, False)
            final["content"] = event.tail
            yield sse(json.dumps(final))

      return streaming_response(events(), admission)
    finish = None
    with service.admission():
      async for event in service.until_disconnect(prompt_ids, params, request.is_disconnected):
        if isinstance(event, FinishEvent):
          finish = event
    if finish is None:
      return JSONResponse({"error": "client disconnected"}, status_code=499)
    return _result(service, prompt, params, finish, True)

  @api.post("/completion")
  async def completion(request: Request):
    body = await json_body(request)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
      prompt = "".join(prompt)
    if not isinstance(prompt, str):
      raise ValidationError("`prompt` must be a string")
    return await serve(request, body, prompt)

  @api.post("/infill")
  async def infill(request: Request):
    body = await json_body(request)
    return await serve(request, body, infill_prompt(service, body), service.infill_stops())

  return api
