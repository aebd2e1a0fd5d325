"""Admission: which slot a waiting prompt goes to, what of it is prefilled, and which prompts
are prefilled together.

    plan = plan_admission(engine, cached, prompt, free, last_used, min_reuse)  # slot, source, start
    for call in prefill_calls(engine, admissions):  # lists of (Admission, Piece, is_last)
      state, first = engine.prefill_slots(state, [piece for _, piece, _ in call])

A round admits several waiting requests at once. Their prompts are prefilled in waves: wave w
holds the w-th piece (`Engine.pieces`) of every prompt that has one, since a piece continues
the cache its previous piece wrote. Within a wave the pieces are grouped by bucket, smallest
first (the short prompts' first tokens come soonest), and by whether they continue a cached
prefix (fresh ones run a cheaper variant); each group is split into the
engine's compiled batch sizes: one call per group pays the weights' pass once for k prompts.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator, Sequence

import numpy as np

from starjax.serve.engine import Engine, Piece


@dataclasses.dataclass(frozen=True)
class Plan:
  """Where a prompt is prefilled: into `slot`, continuing the first `start` tokens cached in
  `source` (start 0: nothing reused), in `pieces` (from, to) of the prompt."""
  slot: int
  source: int
  start: int
  pieces: tuple[tuple[int, int], ...]


def plan_admission(engine: Engine, cached: Sequence[Sequence[int]], prompt: Sequence[int],
                   free: Sequence[int], last_used: Sequence[float], min_reuse: int,
                   reuse: bool = True) -> Plan:
  """The slot to generate in and the slot whose cached tokens share the longest prefix with
  the prompt (at least min_reuse tokens; free or busy), that prefix's tokens not prefilled
  again. The slot is the source itself when it is free, else the least recently used free
  slot, which is also the plan when nothing is reused (or reuse is False: a scored prompt is
  prefilled whole, each token scored by the logits before it)."""
  lru = min(free, key=lambda i: last_used[i])
  best, best_len = None, 0
  for i, tokens in enumerate(cached if reuse else ()):
    n = min(len(tokens), len(prompt) - 1)  # at least one token is prefilled (its logits)
    common = 0
    while common < n and tokens[common] == prompt[common]:
      common += 1
    # On a tie a free source wins: its row is copied into itself, no other cache is lost.
    if common > best_len or (common == best_len and best is not None and i in free
                             and best not in free):
      best, best_len = i, common
  if best is not None and best_len >= min_reuse:
    pieces = engine.pieces(best_len, len(prompt))
    if pieces is not None:
      return Plan(slot=best if best in free else lru, source=best, start=best_len,
                  pieces=tuple(pieces))
  pieces = engine.pieces(0, len(prompt)) if reuse else None
  return Plan(slot=lru, source=lru, start=0, pieces=tuple(pieces or [(0, len(prompt))]))


@dataclasses.dataclass(eq=False)
class Admission:
  """A request being prefilled: its plan and its sampling settings as host arrays."""
  request: object
  prompt: Sequence[int]
  plan: Plan
  sampling: object
  presence: np.ndarray


def prefill_calls(engine: Engine, admissions: Sequence[Admission]
                  ) -> Iterator[list[tuple[Admission, Piece, bool]]]:
  """The batched prefill calls of a round, in order: each a list of (admission, its piece,
  whether the piece is the admission's last), all of one bucket and a compiled size."""
  for wave in range(max((len(a.plan.pieces) for a in admissions), default=0)):
    groups: dict[int, list[tuple[Admission, Piece, bool]]] = {}
    for a in admissions:
      if wave >= len(a.plan.pieces):
        continue
      begin, end = a.plan.pieces[wave]
      # The first piece continues the source's prefix; later ones the slot's own cache.
      source = a.plan.source if wave == 0 else a.plan.slot
      piece = Piece(slot=a.plan.slot, source=source, tokens=tuple(a.prompt[begin:end]),
                    start=begin, sampling=a.sampling, presence=a.presence)
      # Fresh pieces (nothing before them) run a variant of their own (Engine.prefill_slots).
      groups.setdefault((engine.bucket(end - begin), begin > 0), []).append(
          (a, piece, wave == len(a.plan.pieces) - 1))
    for bucket, continued in sorted(groups):
      group = groups[bucket, continued]
      for k in engine.split(len(group), bucket):
        yield group[:k]
        group = group[k:]
