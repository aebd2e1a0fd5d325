"""The engine's thread: a queue of requests, N slots, one decode step at a time.

    submit(Request) ─ queue ─ admit the waiting requests into free slots (each prefills its
    bucket, or only the tokens it adds to the longest prefix cached in any slot; prompts of
    one bucket together, admission.py) ─ step all slots ─ per slot: detokenise, stop checks,
    stream ─ finish: the slot is free at once, its KV cache kept for the next prefix

Requests talk back through `request.emit(event)` (called on this thread; the HTTP layer hands
events over to its event loop). Cancellation (a client that went away) and deadlines are
checked before every admission and every step, so a cancelled request's slot is free within
one decode step.

Prefix reuse reads the matching slot's cache row and prefills after it into the new slot, so
the source may be a free slot (a finished or cancelled request, until its slot is reused) or
one still generating: an editor's next keystroke usually arrives before the server has noticed
that the previous request's client went away, and it reuses that request's prompt all the same.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from typing import Callable, Sequence

import jax
import numpy as np

from starjax.serve.admission import Admission, plan_admission, prefill_calls
from starjax.serve.engine import Engine, sampling_arrays
from starjax.serve.metrics import Metrics
from starjax.serve.text import IncrementalDetokenizer, StopMatcher

log = logging.getLogger(__name__)

# finish reasons (the APIs map them to their own words)
EOS, STOP, LENGTH, TIME, CANCELLED = "eos", "stop", "length", "time", "cancelled"


@dataclasses.dataclass(frozen=True)
class GenerationParams:
  """One request's generation settings (validated by the API layer)."""
  max_new_tokens: int = 20
  temperature: float = 0.0          # 0 = greedy
  top_k: int = 0
  top_p: float = 1.0
  repetition_penalty: float = 1.0
  seed: int = 0
  stop: tuple[str, ...] = ()
  single_line: bool = False         # stop at the first newline of the completion
  timeout_s: float | None = None    # deadline from arrival: finish_reason 'time'
  ignore_eos: bool = False          # EOS is an ordinary token (fixed-length benchmarks)
  prompt_logprobs: bool = False     # score the prompt's tokens (FinishEvent.prompt_logprobs)


@dataclasses.dataclass
class TokenEvent:
  id: int
  text: str            # new text safe to show (may be '' while a character or stop is pending)
  logprob: float
  top: list[tuple[int, float]]   # the most likely alternatives (id, logprob)
  special: bool = False          # EOS
  last: bool = False             # the request ends with this token (its FinishEvent follows)
  # On a request's first token, with GenerationParams.prompt_logprobs: the prompt's scores (as
  # FinishEvent.prompt_logprobs / prompt_top), for a stream that echoes its prompt first.
  prompt_logprobs: list[float | None] | None = None
  prompt_top: list[list[tuple[int, float]]] | None = None


@dataclasses.dataclass
class FinishEvent:
  text: str                    # the completion, cut before a stop string
  token_ids: list[int]
  logprobs: list[float]
  finish_reason: str           # eos | stop | length | time | cancelled
  prompt_tokens: int
  tokens_cached: int           # prompt tokens reused from a slot's cache (not prefilled)
  stop_sequence: str | None = None
  tail: str = ""               # text not yet streamed in a TokenEvent
  ttft_s: float | None = None
  duration_s: float = 0.0
  # With GenerationParams.prompt_logprobs: each prompt token's logprob given the tokens before
  # it (None for the first) and the likeliest alternatives at its place [(id, logprob)].
  prompt_logprobs: list[float | None] | None = None
  prompt_top: list[list[tuple[int, float]]] | None = None


@dataclasses.dataclass
class ErrorEvent:
  message: str


@dataclasses.dataclass(eq=False)
class Request:
  prompt_ids: list[int]
  params: GenerationParams
  emit: Callable[[object], None]
  arrival: float = dataclasses.field(default_factory=time.monotonic)
  cancelled: bool = False

  def cancel(self) -> None:
    self.cancelled = True


@dataclasses.dataclass(eq=False)
class _Active:
  request: Request
  detok: IncrementalDetokenizer
  stops: StopMatcher
  prompt_tokens: int
  tokens_cached: int
  admitted: float
  ids: list[int] = dataclasses.field(default_factory=list)
  logprobs: list[float] = dataclasses.field(default_factory=list)
  text: str = ""          # decoded so far
  shown: int = 0          # characters of text already streamed
  first_token_at: float | None = None
  last_token_at: float | None = None
  prompt_logprobs: list[float | None] | None = None
  prompt_top: list[list[tuple[int, float]]] | None = None


class Scheduler:
  """Continuous batching over an Engine on a thread of its own."""

  def __init__(self, engine: Engine, *, decode: Callable[[Sequence[int]], str], eos_id: int,
               metrics: Metrics | None = None, max_prefills_per_step: int | None = None,
               max_prefill_tokens: int = 4096, min_reuse: int = 1):
    self.engine = engine
    self.decode = decode
    self.eos_id = eos_id
    self.metrics = metrics or Metrics()
    # Requests admitted (and prefilled together) between two decode steps: by default as many
    # as there are slots, so a burst is prefilled in the fewest calls before the next step.
    self.max_prefills_per_step = max_prefills_per_step or engine.slots
    self.max_prefill_tokens = max_prefill_tokens
    self.min_reuse = min_reuse
    self.slots: list[_Active | None] = [None] * engine.slots
    self.cached: list[list[int]] = [[] for _ in range(engine.slots)]  # KV-valid tokens
    self.last_used = [0.0] * engine.slots
    self._queue: collections.deque[Request] = collections.deque()
    self._admitting = 0  # taken from the queue, not in a slot yet (being prefilled)
    self._wake = threading.Condition()
    self._stopping = False
    self._thread: threading.Thread | None = None
    self.state = None
    self.metrics.set("starjax_slots_total", engine.slots)

  # -- lifecycle ---------------------------------------------------------------------------
  def start(self) -> None:
    self.state = self.engine.init()
    self._thread = threading.Thread(target=self._loop, name="starjax-engine", daemon=True)
    self._thread.start()

  def stop(self) -> None:
    with self._wake:
      self._stopping = True
      self._wake.notify_all()
    if self._thread is not None:
      self._thread.join()

  def submit(self, request: Request) -> None:
    with self._wake:
      self._queue.append(request)
      self.metrics.set("tgi_queue_size", len(self._queue))
      self._wake.notify_all()

  def queued(self) -> int:
    with self._wake:
      return len(self._queue)

  def busy(self) -> int:
    """Requests queued, being admitted or generating. 0 means every request so far has ended
    and been counted in the metrics."""
    with self._wake:
      return len(self._queue) + self._admitting + sum(s is not None for s in self.slots)

  # -- the loop ----------------------------------------------------------------------------
  def _loop(self) -> None:
    while True:
      with self._wake:
        while not self._stopping and not self._queue and not any(self.slots):
          self._wake.wait()
        if self._stopping:
          break
      try:
        self._admit()
        if any(self.slots):
          self._step()
      except Exception as e:  # pylint: disable=broad-except
        log.exception("engine step failed")
        self._fail_all(f"engine failure: {e}")
    for i, active in enumerate(self.slots):
      if active is not None:
        self._finish(i, CANCELLED)
    for request in self._take_queue():
      request.emit(ErrorEvent("the server is shutting down"))

  def _take_queue(self) -> list[Request]:
    with self._wake:
      taken = list(self._queue)
      self._queue.clear()
      self.metrics.set("tgi_queue_size", 0)
    return taken

  def _fail_all(self, message: str) -> None:
    for i, active in enumerate(self.slots):
      if active is not None:
        active.request.emit(ErrorEvent(message))
        self.slots[i] = None
        self.cached[i] = []
    self.state = self.engine.init()

  def _admit(self) -> None:
    """Takes waiting requests into free slots, up to max_prefills_per_step of them and
    max_prefill_tokens of prefill, and prefills them together (admission.prefill_calls)."""
    self._release_ended()
    taken: list[Admission] = []
    tokens = 0
    while len(taken) < self.max_prefills_per_step:
      with self._wake:
        if not self._queue:
          break
        targets = {a.plan.slot for a in taken}
        free = [i for i, s in enumerate(self.slots) if s is None and i not in targets]
        request = self._queue[0]
        # Decided (and counted) while the request is still visible to busy().
        ended = CANCELLED if request.cancelled else TIME if self._expired(request) else None
        if ended is None:
          if not free:
            break
          plan = plan_admission(self.engine, self.cached, request.prompt_ids, free,
                                self.last_used, self.min_reuse,
                                reuse=not request.params.prompt_logprobs)
          cost = sum(end - begin for begin, end in plan.pieces)
          # A prompt continuing one prefilled in this round waits for the next (its prefix is
          # not in the cache yet); so does one past the round's token budget.
          if taken and (plan.source in targets or tokens + cost > self.max_prefill_tokens):
            break
          tokens += cost
        self._queue.popleft()
        if ended == CANCELLED:
          self.metrics.inc("starjax_requests_cancelled_total")
        elif ended is None:
          self._admitting += 1
        self.metrics.set("tgi_queue_size", len(self._queue))
      if ended is not None:
        request.emit(self._finish_event_unstarted(request, ended))
        continue
      taken.append(self._admission(request, plan))
    if taken:
      self._prefill(taken)

  def _admission(self, request: Request, plan) -> Admission:
    p = request.params
    presence = np.zeros(self.engine.vocab, bool)
    presence[np.asarray(request.prompt_ids, np.int64)] = True
    sampling = sampling_arrays(p.temperature, p.top_k, p.top_p, p.repetition_penalty, p.seed)
    # The slot's cache is the prompt's from now on (a later request of the round sees it).
    self.cached[plan.slot] = list(request.prompt_ids)
    return Admission(request=request, prompt=request.prompt_ids, plan=plan, sampling=sampling,
                     presence=presence)

  def _prefill(self, taken: list[Admission]) -> None:
    """Prefills a round's admissions and starts each request as its last piece is done. A
    request whose prompt is scored is prefilled alone (its scores come from a variant of the
    one-slot prefill), the others in batched calls."""
    started = set()
    try:
      now = time.monotonic()
      for a in taken:
        self.metrics.observe("tgi_request_queue_duration", now - a.request.arrival)
      for a in taken:
        if a.request.params.prompt_logprobs:
          row, first, scores = self.engine.prefill(None, a.prompt, 0, a.sampling, a.presence,
                                                   prompt_logprobs=True)
          self.state = self.engine.insert(self.state, row, first, a.plan.slot, len(a.prompt),
                                          a.sampling, a.presence)
          self._start(a, now, jax.device_get(first), 0, scores, started)
      for call in prefill_calls(self.engine, [a for a in taken if a not in started]):
        self.state, first = self.engine.prefill_slots(self.state, [p for _, p, _ in call])
        first = jax.device_get(first)  # the first tokens of the requests this call ends
        for i, (a, _, last) in enumerate(call):
          if last:
            self._start(a, now, first, i, None, started)
    except Exception as e:
      for a in taken:
        if a not in started:
          a.request.emit(ErrorEvent(f"engine failure: {e}"))
      raise
    finally:
      with self._wake:
        self._admitting -= len(taken) - len(started)

  def _start(self, a: Admission, admitted: float, first, row: int, scores, started: set) -> None:
    """The request of `a` generating in its slot (added to `started`), its first token (row
    `row` of `first`) recorded and streamed."""
    p, prompt, start = a.request.params, a.prompt, a.plan.start
    self.metrics.inc("starjax_prefill_tokens_total", len(prompt) - start)
    self.metrics.inc("starjax_cached_tokens_total", start)
    self.metrics.observe("tgi_request_input_length", len(prompt))
    stops = list(p.stop) + (["\n"] if p.single_line else [])
    active = _Active(request=a.request, detok=IncrementalDetokenizer(self.decode),
                     stops=StopMatcher(stops), prompt_tokens=len(prompt), tokens_cached=start,
                     admitted=admitted)
    if scores is not None:
      n = len(prompt)
      logprobs = np.asarray(scores.logprob)[:n].tolist()
      top_ids, top_lp = np.asarray(scores.top_ids)[:n], np.asarray(scores.top_logprobs)[:n]
      active.prompt_logprobs = [None] + logprobs[1:]
      active.prompt_top = [[]] + [[(int(t), float(v)) for t, v in zip(ids, lps)]
                                  for ids, lps in zip(top_ids[1:], top_lp[1:])]
    slot = a.plan.slot
    self.slots[slot] = active
    with self._wake:
      self._admitting -= 1
      started.add(a)
    self._update_gauges()
    self._on_token(slot, int(first.token[row]), float(first.logprob[row]), first.top_ids[row],
                   first.top_logprobs[row])

  def _expired(self, request: Request) -> bool:
    t = request.params.timeout_s
    return t is not None and time.monotonic() - request.arrival >= t

  def _finish_event_unstarted(self, request, reason) -> FinishEvent:
    return FinishEvent(text="", token_ids=[], logprobs=[], finish_reason=reason,
                       prompt_tokens=len(request.prompt_ids), tokens_cached=0,
                       duration_s=time.monotonic() - request.arrival)

  def _update_gauges(self) -> None:
    used = sum(s is not None for s in self.slots)
    self.metrics.set("starjax_slots_in_use", used)
    self.metrics.set("tgi_batch_current_size", used)

  def _release_ended(self) -> None:
    """Finishes the requests cancelled or past their deadline: their slots are free now."""
    for i, active in enumerate(self.slots):
      if active is None:
        continue
      if active.request.cancelled:
        self._finish(i, CANCELLED)
      elif self._expired(active.request):
        self._finish(i, TIME)

  def _step(self) -> None:
    self._release_ended()
    now = time.monotonic()
    active_mask = np.array([s is not None for s in self.slots])
    if not active_mask.any():
      return
    self.state, sampled = self.engine.generate(self.state, active_mask)
    tokens = np.asarray(sampled.token)
    logprobs = np.asarray(sampled.logprob)
    top_ids, top_lp = np.asarray(sampled.top_ids), np.asarray(sampled.top_logprobs)
    self.metrics.observe("starjax_decode_step_seconds", time.monotonic() - now)
    for i in np.flatnonzero(active_mask):
      if self.slots[i] is not None:
        self.cached[i].append(self.slots[i].ids[-1])  # the token fed this step is now cached
        self._on_token(i, int(tokens[i]), float(logprobs[i]), top_ids[i], top_lp[i])

  def _on_token(self, slot: int, token: int, logprob: float, top_ids, top_lp) -> None:
    """Records a sampled token, streams what is safe to show, and finishes the request when
    this token ends it (EOS, a stop string, max_new_tokens)."""
    active = self.slots[slot]
    now = time.monotonic()
    if active.first_token_at is None:
      active.first_token_at = now
      self.metrics.observe("starjax_time_to_first_token_seconds", now - active.request.arrival)
    else:
      self.metrics.observe("starjax_inter_token_latency_seconds", now - active.last_token_at)
    active.last_token_at = now
    self.metrics.inc("starjax_generated_tokens_total")
    active.ids.append(token)
    active.logprobs.append(logprob)
    reason, cut, end = None, None, None
    if token == self.eos_id and not active.request.params.ignore_eos:
      reason = EOS
      active.text += active.detok.flush()
    else:
      since = len(active.text)
      active.text += active.detok.push(token)
      hit = active.stops.find(active.text, since)
      if hit >= 0:
        reason, cut, end = STOP, hit, hit
      elif len(active.ids) >= active.request.params.max_new_tokens:
        reason = LENGTH
        active.text += active.detok.flush()
    if end is None:
      end = len(active.text) if reason else active.stops.safe_length(active.text)
    delta = active.text[active.shown:end] if end > active.shown else ""
    active.shown = max(active.shown, end)
    top = [(int(t), float(v)) for t, v in zip(top_ids, top_lp)]
    first = len(active.ids) == 1
    active.request.emit(TokenEvent(id=token, text=delta, logprob=logprob, top=top,
                                   special=token == self.eos_id, last=reason is not None,
                                   prompt_logprobs=active.prompt_logprobs if first else None,
                                   prompt_top=active.prompt_top if first else None))
    if reason is not None:
      self._finish(slot, reason, cut=cut)

  def _finish(self, slot: int, reason: str, cut: int | None = None) -> None:
    active = self.slots[slot]
    ids = active.ids[:-1] if reason == EOS else active.ids
    text = active.text
    stop_sequence = None
    if reason == STOP:
      stop_sequence = next(s for s in active.stops.stops if text.startswith(s, cut))
      text = text[:cut]
    elif reason in (TIME, CANCELLED):
      text += active.detok.flush()
    now = time.monotonic()
    if reason == CANCELLED:
      self.metrics.inc("starjax_requests_cancelled_total")
      self.metrics.inc("starjax_wasted_tokens_total", len(active.ids))
    else:
      self.metrics.observe("tgi_request_generated_tokens", len(ids))
      self.metrics.observe("tgi_request_inference_duration", now - active.admitted)
      if ids:
        self.metrics.observe("tgi_request_mean_time_per_token_duration",
                             (now - active.admitted) / len(ids))
    # The slot is freed once its request is counted: busy() == 0 means the metrics are final.
    self.slots[slot] = None
    self.last_used[slot] = time.monotonic()
    self._update_gauges()
    ttft = (active.first_token_at - active.request.arrival
            if active.first_token_at is not None else None)
    active.request.emit(FinishEvent(
        text=text, token_ids=ids, logprobs=active.logprobs[:len(ids)], finish_reason=reason,
        prompt_tokens=active.prompt_tokens, tokens_cached=active.tokens_cached,
        stop_sequence=stop_sequence, tail=text[active.shown:], ttft_s=ttft,
        duration_s=now - active.request.arrival, prompt_logprobs=active.prompt_logprobs,
        prompt_top=active.prompt_top))
