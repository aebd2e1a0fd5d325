"""Train-time hooks: what the training loop gives a hook, and when it calls one.

A hook is any callable `hook(context: HookContext) -> dict | None` with an `every` attribute
(steps between calls; it is also called at the last step). The dict's metrics go into
metrics.jsonl and TensorBoard with the step's own. A hook reads only the context: it never
reaches into the Trainer, so evaluation (starjax.eval.hooks.PassAtOneHook) needs nothing from
starjax.train beyond this shape, which it reads by attribute.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

from starjax.model import DecoderConfig


@dataclasses.dataclass(frozen=True)
class HookContext:
  """step: the step just taken. params: the parameters after it (a pure dict of sharded
  Arrays). tokenizer_path: MODEL_DIR/tokenizer.json, or None when the data has none."""
  step: int
  params: Any
  model_config: DecoderConfig
  model_dir: str
  tokenizer_path: str | None
  is_final: bool = False


TrainHook = Callable[[HookContext], "dict | None"]


def is_due(hook: TrainHook, context: HookContext) -> bool:
  every = getattr(hook, "every", None)
  return bool(every) and (context.step % every == 0 or context.is_final)


def run_hooks(hooks: Sequence[TrainHook], context: HookContext) -> dict:
  """The merged metrics of every hook due at this step."""
  metrics: dict = {}
  for hook in hooks:
    if is_due(hook, context):
      metrics.update(hook(context) or {})
  return metrics
