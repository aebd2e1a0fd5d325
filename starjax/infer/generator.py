"""Text in, text out: tokenizer + TokenGenerator + stop strings, and fill-in-the-middle.

    gen = Generator.load(model_dir="runs/quickstart")     # or hf_dir=...
    gen.complete(["def fib(n):"], SamplingConfig(max_new_tokens=64, stop=("\\ndef ",)))
    gen.infill("def add(a, b):\\n    ", "\\n\\nprint(add(1, 2))")
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import tokenizers

from starjax import tokens as tokens_lib
from starjax.infer.decoding import Generated, TokenGenerator
from starjax.infer.sampling import SamplingConfig

# Tokens that end an infill besides EOS (StarCoder2's repository-level file separator).
INFILL_STOPS = (tokens_lib.FILE_SEP,)


@dataclasses.dataclass(frozen=True)
class Completion:
  prompt_index: int
  text: str             # cut before the first stop string
  tokens: list[int]     # as generated (up to EOS / where the stop was detected)
  finish_reason: str    # 'eos' | 'stop' | 'length'


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
  """text up to the earliest stop string, and whether one was found."""
  cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
  return (text[:cut], True) if cut >= 0 else (text, False)


class Generator:
  """Completes, infills and chats with one model and its tokenizer."""

  source: str | None = None  # the model directory it was loaded from (evaluation records it)

  def __init__(self, tokens: TokenGenerator, tokenizer: tokenizers.Tokenizer):
    self.tokens = tokens
    self.tokenizer = tokenizer
    eos = tokenizer.token_to_id(tokens_lib.ENDOFTEXT)
    self.eos_id = tokens.eos_id if eos is None else eos
    if self.eos_id != tokens.eos_id:
      raise ValueError(f"tokenizer's {tokens_lib.ENDOFTEXT} is id {eos} but the generator "
                       f"stops at {tokens.eos_id}")

  @classmethod
  def load(cls, *, model_dir: str | None = None, hf_dir: str | None = None,
           tokenizer_path: str | None = None, mesh_config=None, **kwargs) -> "Generator":
    """A Generator for a starjax MODEL_DIR or a Hugging Face directory (exactly one)."""
    from starjax.infer import loading  # pylint: disable=import-outside-toplevel
    config, params, tokenizer = loading.load_model(model_dir=model_dir, hf_dir=hf_dir,
                                                   tokenizer_path=tokenizer_path,
                                                   mesh_config=mesh_config)
    eos = tokenizer.token_to_id(tokens_lib.ENDOFTEXT)
    generator = cls(TokenGenerator(config, params, eos_id=tokens_lib.EOS_ID if eos is None
                                   else eos, mesh_config=mesh_config, **kwargs), tokenizer)
    generator.source = model_dir or hf_dir
    return generator

  def with_params(self, params) -> "Generator":
    """The same generator (compiled decode, tokenizer, mesh) over other parameters of the same
    model, e.g. the current ones of a training run."""
    return Generator(self.tokens.with_params(params), self.tokenizer)

  def encode(self, text: str) -> list[int]:
    """Token ids of `text`; special tokens (BOS) only if the tokenizer's post-processor adds
    them (StarCoder's does not)."""
    return self.tokenizer.encode(text, add_special_tokens=True).ids

  def decode(self, ids: Sequence[int]) -> str:
    return self.tokenizer.decode(list(ids), skip_special_tokens=False)

  def complete(self, prompts: Sequence[str], sampling: SamplingConfig) -> list[Completion]:
    """sampling.num_samples completions per prompt, grouped by prompt in prompt order."""
    for i, prompt in enumerate(prompts):
      if not prompt:
        raise ValueError(f"prompt {i} is empty: give some text to continue")
    encoded = [self.encode(p) for p in prompts]
    return self.complete_ids(encoded, sampling)

  def complete_ids(self, encoded: Sequence[Sequence[int]], sampling: SamplingConfig,
                   extra_stops: Sequence[str] = (), *,
                   max_new_tokens: Sequence[int] | None = None) -> list[Completion]:
    """sampling.num_samples completions of each prompt's token ids; max_new_tokens: each
    prompt's own budget (at most sampling.max_new_tokens), e.g. what a max length leaves it."""
    rows = [(i, ids) for i, ids in enumerate(encoded) for _ in range(sampling.num_samples)]
    stops = tuple(sampling.stop) + tuple(extra_stops)
    if max_new_tokens is not None and len(max_new_tokens) != len(encoded):
      raise ValueError(f"max_new_tokens: {len(max_new_tokens)} given for {len(encoded)} "
                       f"prompts; give one per prompt")

    def stop_check(row: int, ids: list[int]) -> bool:
      return bool(stops) and cut_at_stop(self.decode(ids), stops)[1]

    generated: list[Generated] = self.tokens.generate(
        [ids for _, ids in rows], sampling, stop_check if stops else None,
        None if max_new_tokens is None else [max_new_tokens[i] for i, _ in rows])
    completions = []
    for (index, _), out in zip(rows, generated):
      text, stopped = cut_at_stop(self.decode(out.tokens), stops)
      reason = "stop" if stopped else out.finish_reason
      completions.append(Completion(index, text, out.tokens, reason))
    return completions

  def fim_prompt(self, prefix: str, suffix: str, *, spm: bool = False) -> str:
    """The FIM prompt (starjax.tokens.fim_prompt: PSM, or SPM with spm=True) after checking
    that this model's tokenizer has the FIM tokens."""
    for token in (tokens_lib.FIM_PREFIX, tokens_lib.FIM_MIDDLE, tokens_lib.FIM_SUFFIX):
      if self.tokenizer.token_to_id(token) is None:
        raise ValueError(f"the tokenizer has no {token} token: this model cannot infill")
    return tokens_lib.fim_prompt(prefix, suffix, spm=spm)

  def infill(self, prefix: str, suffix: str, sampling: SamplingConfig | None = None, *,
             spm: bool = False) -> list[str]:
    """The middle between prefix and suffix (sampling.num_samples of them)."""
    sampling = sampling or SamplingConfig()
    if not prefix and not suffix:
      raise ValueError("infill needs a prefix or a suffix (both are empty)")
    prompt = self.encode(self.fim_prompt(prefix, suffix, spm=spm))
    stops = tuple(s for s in INFILL_STOPS if self.tokenizer.token_to_id(s) is not None)
    return [c.text for c in self.complete_ids([prompt], sampling, extra_stops=stops)]
