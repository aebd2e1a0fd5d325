"""Long-context perplexity (`run.py eval --benchmark=perplexity`): bits per byte on held-out code,
per language, at context lengths 1K/2K/4K/8K (those that fit the model's context).

The held-out code is the local corpus's validation split (never trained on). Per language its
documents are tokenized and joined with <|endoftext|> into one stream, cut into consecutive
windows of L tokens; in each window only the last quarter of the tokens is scored, so every
scored token sees at least 3L/4 tokens of context, and a longer L shows what the extra context
is worth. Bits per byte = total negative log-likelihood of the scored tokens / ln 2 / their
UTF-8 bytes: it compares across tokenizers, unlike per-token perplexity.

    from starjax.eval import perplexity
    result = perplexity.evaluate_perplexity(generator, documents, context_lengths=(1024, 2048))
    result["languages"]["python"]["1024"]["bits_per_byte"]
"""

from __future__ import annotations

import functools
import json
import math
import os
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from starjax import tokens as tokens_lib
from starjax.model import abstract_decoder

CONTEXT_LENGTHS = (1024, 2048, 4096, 8192)
SUMMARY_FILE = "summary.json"


def validation_documents(corpus_dir: str | None = None, *, max_bytes: int = 2_000_000
                         ) -> dict[str, list[str]]:
  """language → the local corpus's validation documents (at most max_bytes of text each).
  corpus_dir: a built local corpus (default: the cached one, built if missing)."""
  import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel
  from starjax.data import local_corpus  # pylint: disable=import-outside-toplevel
  corpus_dir = corpus_dir or local_corpus.ensure_local_corpus(progress=False)
  documents: dict[str, list[str]] = {}
  for language, splits in sorted(local_corpus.local_shards(corpus_dir).items()):
    texts, size = [], 0
    for path in splits.get("validation", []):
      for text in pq.read_table(path, columns=["content"]).column(0).to_pylist():
        if size >= max_bytes:
          break
        texts.append(text)
        size += len(text.encode())
    if texts:
      documents[language] = texts
  return documents


@functools.lru_cache(maxsize=8)
def _forward(config):
  graphdef = nnx.graphdef(abstract_decoder(config))

  @jax.jit
  def token_nll(params, tokens, targets):
    """-log p(targets | tokens) per position: [1, L] int32 → [1, L] float32."""
    blocks = params["blocks"]
    if isinstance(blocks, (tuple, list)):  # the generator keeps per-layer trees
      params = dict(params, blocks=jax.tree.map(lambda *xs: jnp.stack(xs), *blocks))
    logits = nnx.merge(graphdef, params)(tokens).astype(jnp.float32)
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]

  return token_nll


def usable_lengths(max_seq_len: int, lengths: Sequence[int] = CONTEXT_LENGTHS) -> list[int]:
  """The context lengths that fit a model of max_seq_len (the shortest one at least, cut to
  max_seq_len, so that a small model still gets a number)."""
  fitting = [length for length in lengths if length <= max_seq_len]
  return fitting or [max_seq_len]


def evaluate_perplexity(generator, documents: Mapping[str, Sequence[str]], *,
                        context_lengths: Sequence[int] = CONTEXT_LENGTHS,
                        max_windows: int = 8) -> dict:
  """Bits per byte per language and context length.

  generator: a starjax.infer.Generator (its model, parameters and tokenizer).
  documents: language → texts. max_windows: windows scored per language and length.
  Returns {"languages": {language: {str(L): {"bits_per_byte", "windows", "scored_tokens",
  "scored_bytes"}}}, "context_lengths": [...]} (a length with no full window is left out).
  """
  config = generator.tokens.config
  token_nll = _forward(config)
  lengths = usable_lengths(config.max_seq_len, context_lengths)
  eos = generator.eos_id
  out: dict[str, dict] = {}
  for language, texts in documents.items():
    stream: list[int] = []
    for text in texts:
      stream.extend(generator.encode(text))
      stream.append(eos)
    stream_array = np.asarray(stream, dtype=np.int32)
    per_length = {}
    for length in lengths:
      nll_nats, tokens_scored, bytes_scored, windows = 0.0, 0, 0, 0
      for start in range(0, len(stream) - length, length):
        if windows == max_windows:
          break
        window = stream_array[start:start + length + 1]
        nll = np.asarray(token_nll(generator.tokens.params, window[None, :-1],
                                   window[None, 1:]))[0]
        first = length - length // 4  # score targets window[first+1 : length+1]
        scored = window[first + 1:]
        nll_nats += float(nll[first:].sum())
        tokens_scored += len(scored)
        bytes_scored += utf8_bytes(generator, window[:first + 1], scored)
        windows += 1
      if windows and bytes_scored:
        per_length[str(length)] = {
            "bits_per_byte": nll_nats / math.log(2) / bytes_scored, "windows": windows,
            "scored_tokens": tokens_scored, "scored_bytes": bytes_scored}
    out[language] = per_length
  return {"languages": out, "context_lengths": lengths,
          "scoring": "last quarter of each window of L tokens; bits per UTF-8 byte"}


def utf8_bytes(generator, context: np.ndarray, scored: np.ndarray) -> int:
  """UTF-8 bytes the scored tokens add after their context (the decoded text's growth, so
  that a character split across tokens counts once). <|endoftext|> counts as no bytes."""
  def size(ids):
    text = generator.decode([int(i) for i in ids if i != generator.eos_id])
    return len(text.replace(tokens_lib.ENDOFTEXT, "").encode())
  tail = context[-64:]  # enough context to settle a split character
  return max(size(np.concatenate([tail, scored])) - size(tail), 0)


def write_summary(out_dir: str, result: Mapping) -> str:
  os.makedirs(out_dir, exist_ok=True)
  path = os.path.join(out_dir, SUMMARY_FILE)
  with open(path, "w") as f:
    json.dump({"benchmark": "perplexity", **result}, f, indent=2)
    f.write("\n")
  return path


def markdown_table(result: Mapping) -> str:
  lengths = [str(length) for length in result["context_lengths"]]
  lines = ["| language | " + " | ".join(f"bits/byte @ {length}" for length in lengths) + " |",
           "|---|" + "---|" * len(lengths)]
  for language, per_length in result["languages"].items():
    cells = [f"{per_length[length]['bits_per_byte']:.3f}" if length in per_length else "–"
             for length in lengths]
    lines.append(f"| {language} | " + " | ".join(cells) + " |")
  return "\n".join(lines)
