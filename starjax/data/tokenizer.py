"""StarCoder's tokenizer: byte-level BPE from the `tokenizers` library with the 19 special tokens
at ids 0-18, trained on the local corpus or loaded from a real StarCoder `tokenizer.json`.

The pipeline is StarCoder's: digits split individually, then GPT-2 byte-level pre-tokenization
(no prefix space), byte-level decoding. Byte-level BPE covers all 256 bytes, so
encode → decode is exact for any text.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import Iterable, Iterator, Optional

import pyarrow.parquet as pq
import tokenizers
import tqdm
from tokenizers import decoders, models, pre_tokenizers, processors, trainers

from starjax import gin_config
from starjax.tokens import (EOS_ID, FIM_MIDDLE_ID, FIM_PAD_ID, FIM_PREFIX_ID,  # noqa: F401
                            FIM_SUFFIX_ID, SPECIAL_TOKENS)
from starjax.data import config, local_corpus
from starjax.data.errors import DataError

# Ids shared by StarCoder and StarCoder2 tokenizers, checked on load; the rest may differ.
_REQUIRED_IDS = {token: i for i, token in enumerate(SPECIAL_TOKENS[:5])}
_MIN_VOCAB = len(SPECIAL_TOKENS) + 256


def load_tokenizer(path: str) -> tokenizers.Tokenizer:
  """Loads a `tokenizer.json` (ours or a real StarCoder/StarCoder2 one).

  Raises DataError naming the file if it is missing, unreadable, or does not put
  `<|endoftext|>` and the FIM tokens at StarCoder's ids 0-4.
  """
  if not path or not os.path.isfile(path):
    raise DataError(f"tokenizer file {path!r} not found. Train the local one with `python run.py "
                    "data build-local`, or point data_paths.stack_tokenizer at a StarCoder "
                    "tokenizer.json")
  try:
    tokenizer = tokenizers.Tokenizer.from_file(path)
  except Exception as e:  # tokenizers raises a bare Exception on malformed JSON
    raise DataError(f"{path}: not a valid tokenizers JSON file ({e})") from e
  for token, expected in _REQUIRED_IDS.items():
    actual = tokenizer.token_to_id(token)
    if actual != expected:
      raise DataError(f"{path}: special token {token} has id {actual}, StarCoder uses "
                      f"{expected}; this is not a StarCoder-family tokenizer")
  return tokenizer


def new_tokenizer() -> tokenizers.Tokenizer:
  """An untrained tokenizer with StarCoder's normalisation-free byte-level BPE pipeline."""
  tokenizer = tokenizers.Tokenizer(models.BPE())
  tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
      pre_tokenizers.Digits(individual_digits=True),
      pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
  tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
  tokenizer.decoder = decoders.ByteLevel()
  return tokenizer


def train_tokenizer(texts: Iterable[str], vocab_size: int, out_path: str) -> tokenizers.Tokenizer:
  """Trains byte-level BPE with SPECIAL_TOKENS at ids 0-18 and saves it atomically.

  Args:
    texts: training documents (an iterator is consumed once).
    vocab_size: total size including the special tokens and the 256 byte symbols.
    out_path: where to write `tokenizer.json`.
  Returns:
    The trained tokenizer.
  """
  if vocab_size < _MIN_VOCAB:
    raise DataError(f"vocab_size={vocab_size}: a byte-level BPE with StarCoder's special tokens "
                    f"needs at least {_MIN_VOCAB}")
  tokenizer = new_tokenizer()
  trainer = trainers.BpeTrainer(
      vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), min_frequency=2,
      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
  tokenizer.train_from_iterator(texts, trainer)
  os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
  tokenizer.save(out_path + ".tmp")
  os.replace(out_path + ".tmp", out_path)
  return load_tokenizer(out_path)


def local_vocab_size() -> int:
  """`local_tokenizer.vocab_size`, else the VOCAB_SIZE macro; DataError if neither is bound."""
  size = config.local_tokenizer().vocab_size or gin_config.macro_value("VOCAB_SIZE")
  if not size:
    raise DataError("the local tokenizer's size is unknown: bind VOCAB_SIZE (any "
                    "--gin_file=gin/models/*.gin does) or --gin.local_tokenizer.vocab_size=N")
  return int(size)


def local_tokenizer_path(vocab_size: int, corpus: Optional[str] = None) -> str:
  """Where the tokenizer for the local corpus and `vocab_size` is cached: keyed by both, and by
  the training budget (`local_tokenizer.max_training_bytes`) when it limits the sample."""
  cache_dir = config.data_paths().cache_dir
  corpus = corpus or local_corpus.corpus_dir(cache_dir)
  manifest = local_corpus.read_manifest(corpus)
  total = sum(e["bytes"] for e in manifest["languages"].values())
  budget = config.local_tokenizer().max_training_bytes
  sample = f"-s{budget}" if budget and budget < total else ""
  return os.path.join(cache_dir, "tokenizers",
                      f"local-{manifest['corpus_id'][:16]}-v{vocab_size}{sample}",
                      "tokenizer.json")


def corpus_documents(corpus: str, split: str = "train", max_bytes: Optional[int] = None,
                     progress: bool = False) -> Iterator[str]:
  """Documents of a local corpus split, in manifest order; beyond `max_bytes`, an evenly spaced
  deterministic subset of about that many bytes."""
  manifest = local_corpus.read_manifest(corpus)
  total = sum(e["bytes" if split == "train" else "validation_bytes"]
              for e in manifest["languages"].values())
  keep_ratio = 1.0 if not max_bytes or total <= max_bytes else max_bytes / total
  bar = tqdm.tqdm(total=total, unit="B", unit_scale=True, desc="tokenizer: reading corpus",
                  disable=not progress, file=sys.stderr)
  target = kept = 0.0
  for language, splits in sorted(local_corpus.local_shards(corpus).items()):
    for path in splits.get(split, []):
      for batch in pq.ParquetFile(path).iter_batches(batch_size=256, columns=["content"]):
        for text in batch.column(0).to_pylist():
          size = len(text.encode())
          bar.update(size)
          # Error diffusion: keep a document while the kept bytes trail the target share, so
          # kept ≈ keep_ratio × seen at every point and every language is sampled evenly.
          target += size * keep_ratio
          if kept + size / 2 <= target:
            kept += size
            yield text
  bar.close()


def ensure_tokenizer(vocab_size: Optional[int] = None, *, corpus: Optional[str] = None,
                     progress: bool = True) -> str:
  """Trains the local tokenizer unless it is cached; returns the `tokenizer.json` path.

  Also computes (or reuses) the per-language token estimates that weight `local_code`.

  Args:
    vocab_size: None means local_vocab_size() (gin).
    corpus: a built local corpus directory; None means the one under the cache root.
    progress: show progress on stderr.
  """
  vocab_size = vocab_size or local_vocab_size()
  cache_dir = config.data_paths().cache_dir
  corpus = corpus or local_corpus.corpus_dir(cache_dir)
  path = local_tokenizer_path(vocab_size, corpus)
  if not os.path.isfile(path):
    if progress:
      print(f"training a {vocab_size}-token byte-level BPE on {corpus} → {path}",
            file=sys.stderr)
    train_tokenizer(corpus_documents(corpus, "train", config.local_tokenizer().max_training_bytes,
                                     progress=progress), vocab_size, path)
  # The mixture weights (cached next to the tokenizer), so that training starts without delay.
  from starjax.data import corpus_stats  # pylint: disable=import-outside-toplevel
  corpus_stats.local_token_estimates(corpus, path)
  return path


def file_digest(path: str) -> str:
  """sha256 of a file: identifies a tokenizer in cache keys and vocabulary equality."""
  with open(path, "rb") as f:
    return hashlib.file_digest(f, "sha256").hexdigest()


def special_token_ids(tokenizer: tokenizers.Tokenizer) -> dict[str, int]:
  """{special token: id} for the SPECIAL_TOKENS present in `tokenizer`."""
  ids = {token: tokenizer.token_to_id(token) for token in SPECIAL_TOKENS}
  return {token: i for token, i in ids.items() if i is not None}


def describe(path: str) -> dict:
  """A short JSON-able description of a tokenizer file (size, special tokens)."""
  tokenizer = load_tokenizer(path)
  with open(path) as f:
    model_type = json.load(f).get("model", {}).get("type")
  return {"path": path, "vocab_size": tokenizer.get_vocab_size(with_added_tokens=True),
          "model": model_type, "special_tokens": special_token_ids(tokenizer)}
