"""Token statistics of corpora: exact counts (with an encode → decode check on every document)
for `run.py data stats`, and cheap sample-based estimates that set mixture weights.

Estimates read a deterministic, evenly spaced sample of each language (about `sample_bytes`),
measure tokens per byte and scale by the language's bytes. Results are cached next to the
tokenizer, keyed by the shard files and the tokenizer's digest, so weights never change between
runs on the same data.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import json
import os
import sys
from typing import Iterator, Mapping, Optional, Sequence

import pyarrow.parquet as pq
import tqdm

from starjax.data import local_corpus, shards
from starjax.data import tokenizer as tokenizer_lib

_ENCODE_BATCH = 256


def _cache_key(files: Sequence[str], tokenizer_path: str, kind: str) -> str:
  digest = hashlib.sha256(f"{kind}\0{tokenizer_lib.file_digest(tokenizer_path)}".encode())
  for path in sorted(files):
    st = os.stat(path)
    digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
  return digest.hexdigest()


def _cached(cache_path: str, key: str, compute):
  if os.path.isfile(cache_path):
    with open(cache_path) as f:
      stored = json.load(f)
    if stored.get("key") == key:
      return stored["value"]
  value = compute()
  os.makedirs(os.path.dirname(cache_path), exist_ok=True)
  with open(cache_path + ".tmp", "w") as f:
    json.dump({"key": key, "value": value}, f, indent=1, sort_keys=True)
  os.replace(cache_path + ".tmp", cache_path)
  return value


def _texts(files: Sequence[str], language: Optional[str] = None) -> Iterator[str]:
  for path in files:
    for batch in shards.iter_documents(path, language=language):
      for content in batch.content:
        yield content.decode("utf-8")


def _sample(files: Sequence[str], total_bytes: float, sample_bytes: int,
            language: Optional[str] = None) -> Iterator[str]:
  """About `sample_bytes` of documents spread evenly over `files` (error diffusion)."""
  ratio = min(1.0, sample_bytes / max(total_bytes, 1.0))
  target = kept = 0.0
  for text in _texts(files, language):
    size = len(text.encode())
    target += size * ratio
    if kept + size / 2 <= target:
      kept += size
      yield text
    if kept >= sample_bytes:
      return


def _tokens_per_byte(tokenizer, texts: Iterator[str]) -> float:
  tokens = size = 0
  batch: list[str] = []
  for text in list(texts) + [None]:
    if text is not None:
      batch.append(text)
    if batch and (text is None or len(batch) == _ENCODE_BATCH):
      tokens += sum(len(e.ids) for e in tokenizer.encode_batch(batch, add_special_tokens=False))
      size += sum(len(t.encode()) for t in batch)
      batch = []
  return tokens / size if size else 0.0


def local_token_estimates(corpus: str, tokenizer_path: str,
                          sample_bytes: int = 1 << 20) -> dict[str, float]:
  """{language: estimated train tokens} of a local corpus, from a per-language sample."""
  manifest = local_corpus.read_manifest(corpus)
  by_language = local_corpus.local_shards(corpus)
  files = [p for splits in by_language.values() for p in splits["train"]]

  def compute():
    tokenizer = tokenizer_lib.load_tokenizer(tokenizer_path)
    out = {}
    for language, splits in sorted(by_language.items()):
      total = manifest["languages"][language]["bytes"]
      ratio = _tokens_per_byte(tokenizer, _sample(splits["train"], total, sample_bytes))
      out[language] = ratio * total
    return out

  return _cached(os.path.join(os.path.dirname(tokenizer_path), "token_estimates.json"),
                 _cache_key(files, tokenizer_path, f"estimate-{sample_bytes}"), compute)


def stack_token_estimates(by_language: Mapping[str, Sequence[str]], tokenizer_path: str,
                          cache_dir: str, sample_bytes: int = 1 << 20) -> dict[str, float]:
  """{language: estimated tokens} of The Stack shards: content bytes from parquet metadata
  (no data read) times tokens per byte of the first `sample_bytes` of the language's first file
  (Stack shards are not ordered by anything that changes tokens per byte)."""
  files = sorted({p for paths in by_language.values() for p in paths})

  def compute():
    tokenizer = tokenizer_lib.load_tokenizer(tokenizer_path)
    out = {}
    for language, paths in sorted(by_language.items()):
      total = sum(_content_bytes(p, language) for p in paths)
      ratio = _tokens_per_byte(tokenizer, _sample(paths[:1], sample_bytes, sample_bytes,
                                                  language))
      out[language] = ratio * total
    return out

  key = _cache_key(files, tokenizer_path, f"stack-{sample_bytes}")
  return _cached(os.path.join(cache_dir, "stack_stats", key[:16] + ".json"), key, compute)


def _content_bytes(path: str, language: str) -> float:
  """Uncompressed bytes of the `content` column, scaled by the share of `language`'s rows when
  the file mixes languages (`lang` column)."""
  shard = shards.open_shard(path)
  metadata = shard.metadata
  index = shard.schema_arrow.get_field_index(shards.CONTENT)
  total = sum(metadata.row_group(g).column(index).total_uncompressed_size
              for g in range(metadata.num_row_groups))
  languages = _row_languages(path)
  if languages is not None and metadata.num_rows:
    total *= languages.get(language, 0) / metadata.num_rows
  return float(total)


@functools.lru_cache(maxsize=4096)
def _row_languages(path: str) -> Optional[dict[str, int]]:
  """{language: rows} of a file with a `lang` column (read once), else None."""
  shard = shards.open_shard(path)
  if shards.LANG not in shard.schema_arrow.names:
    return None
  return dict(collections.Counter(shard.read(columns=[shards.LANG]).column(
      shards.LANG).to_pylist()))


def local_token_counts(corpus: str, tokenizer_path: str, progress: bool = True) -> dict:
  """Exact token counts of every document, per language and split, and the number of documents
  whose encode → decode is not the original text (must be 0 for a byte-level BPE).

  Returns:
    {language: {"tokens": n, "validation_tokens": n, "roundtrip_failures": n}}.
  """
  manifest = local_corpus.read_manifest(corpus)
  by_language = local_corpus.local_shards(corpus)
  files = [p for splits in by_language.values() for s in splits.values() for p in s]

  def compute():
    tokenizer = tokenizer_lib.load_tokenizer(tokenizer_path)
    total = sum(e["bytes"] + e["validation_bytes"] for e in manifest["languages"].values())
    bar = tqdm.tqdm(total=total, unit="B", unit_scale=True, desc="stats: counting tokens",
                    disable=not progress, file=sys.stderr)
    out = {}
    for language, splits in sorted(by_language.items()):
      entry = {"tokens": 0, "validation_tokens": 0, "roundtrip_failures": 0}
      for split, paths in splits.items():
        key = "tokens" if split == "train" else "validation_tokens"
        for path in paths:
          for batch in pq.ParquetFile(path).iter_batches(batch_size=_ENCODE_BATCH,
                                                         columns=["content"]):
            texts = batch.column(0).to_pylist()
            encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
            decoded = tokenizer.decode_batch([e.ids for e in encodings],
                                             skip_special_tokens=False)
            entry[key] += sum(len(e.ids) for e in encodings)
            entry["roundtrip_failures"] += sum(a != b for a, b in zip(texts, decoded))
            bar.update(sum(len(t.encode()) for t in texts))
      out[language] = entry
    bar.close()
    return out

  return _cached(os.path.join(os.path.dirname(tokenizer_path), "token_counts.json"),
                 _cache_key(files, tokenizer_path, "exact"), compute)
