"""Parquet shards in The Stack's schema: finding them, checking them, streaming their rows.

Layouts understood (DESIGN.md): `<root>/data/<language>/**/*.parquet`, `<root>/<language>/**/
*.parquet`, or parquet files directly in the root whose `lang` column names each row's language.
Reading is streamed a record batch at a time (bounded memory). Rows without usable content are
skipped and counted by reason; a file that cannot be read, or has no `content` column, is an
error naming the file.
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import hashlib
import json
import logging
import os
import threading
from typing import Callable, Iterator, Optional, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from starjax.data.errors import DataError

CONTENT = "content"
REPO = "max_stars_repo_name"
PATH = "max_stars_repo_path"
STARS = "max_stars_count"
LANG = "lang"
_BATCH_ROWS = 256

# Rows skipped so far in this process, per file and reason; read by error messages and stats.
SKIPPED: collections.Counter = collections.Counter()
_SKIPPED_LOCK = threading.Lock()


def split_key(repo: str, path: str) -> float:
  """A stable number in [0, 1) per (repository, path): the basis of train/validation splits."""
  digest = hashlib.blake2b(f"{repo}/{path}".encode(), digest_size=8).digest()
  return int.from_bytes(digest, "big") / 2.0**64


def open_shard(path: str) -> pq.ParquetFile:
  """Opens a shard and checks it has a `content` column; DataError naming the file otherwise."""
  if not os.path.isfile(path):
    raise DataError(f"{path}: shard not found (was it moved or deleted?)")
  try:
    shard = pq.ParquetFile(path)
  except (pa.ArrowException, OSError, ValueError) as e:
    raise DataError(f"{path}: not a readable parquet file ({e}). Re-download it or remove it "
                    "from the data directory.") from e
  names = shard.schema_arrow.names
  if CONTENT not in names:
    raise DataError(f"{path}: no '{CONTENT}' column (columns: {', '.join(names)}). Shards need "
                    f"The Stack's schema: {CONTENT}, {REPO}, {PATH}, {STARS}.")
  return shard


@dataclasses.dataclass
class DocumentBatch:
  """Parallel lists for up to a few hundred rows: content is UTF-8 bytes, stars -1 if unknown."""
  content: list[bytes]
  repo: list[bytes]
  path: list[bytes]
  stars: list[int]


def _column(batch: pa.RecordBatch, name: str, default):
  if name not in batch.schema.names:
    return [default] * batch.num_rows
  return batch.column(name).to_pylist()


def iter_documents(path: str, *, language: Optional[str] = None,
                   keep: Optional[Callable[[str, str], bool]] = None,
                   batch_rows: int = _BATCH_ROWS,
                   counts: Optional[collections.Counter] = None) -> Iterator[DocumentBatch]:
  """Streams the usable rows of one shard.

  Args:
    path: a parquet file.
    language: if set, keep only rows whose `lang` column equals it (files without the column are
      taken to be all of that language: the folder layout).
    keep: optional predicate on (repository, path), e.g. the train/validation split.
    batch_rows: rows per record batch read.
    counts: if given, receives `usable` (rows with valid content, before `keep`) and the skip
      reasons of this call.
  Yields:
    DocumentBatch of the rows kept. Null, empty and non-UTF-8 content is skipped and counted in
    `SKIPPED[(path, reason)]`.
  """
  shard = open_shard(path)
  names = shard.schema_arrow.names
  columns = [c for c in (CONTENT, REPO, PATH, STARS, LANG) if c in names]
  skipped = collections.Counter()
  try:
    for batch in shard.iter_batches(batch_size=batch_rows, columns=columns):
      if language is not None and LANG in names:
        batch = batch.filter(pc.equal(batch.column(LANG), language))
        if batch.num_rows == 0:
          continue
      contents = batch.column(CONTENT)
      if not pa.types.is_binary(contents.type) and not pa.types.is_large_binary(contents.type):
        contents = contents.cast(pa.large_binary())  # raw bytes: we check UTF-8 ourselves
      out = DocumentBatch([], [], [], [])
      for content, repo, repo_path, stars in zip(
          contents.to_pylist(), _column(batch, REPO, ""), _column(batch, PATH, ""),
          _column(batch, STARS, None)):
        if content is None or not content.strip():
          skipped["empty_content"] += 1
          continue
        try:
          content.decode("utf-8")
        except UnicodeDecodeError:
          skipped["non_utf8"] += 1
          continue
        repo, repo_path = repo or "", repo_path or ""
        skipped["usable"] += 1
        if keep is not None and not keep(repo, repo_path):
          continue
        out.content.append(content)
        out.repo.append(repo.encode())
        out.path.append(repo_path.encode())
        out.stars.append(int(stars) if stars is not None else -1)
      if out.content:
        yield out
  except (pa.ArrowException, OSError) as e:
    raise DataError(f"{path}: corrupt parquet data ({e}). Re-download it or remove it from the "
                    "data directory.") from e
  finally:
    usable = skipped.pop("usable", 0)
    if counts is not None:
      counts.update(skipped)
      counts["usable"] += usable
    if skipped:
      with _SKIPPED_LOCK:
        for reason, n in skipped.items():
          SKIPPED[(path, reason)] += n
      logging.warning("%s: skipped %s", path, dict(skipped))


def skipped_summary(paths: Sequence[str]) -> dict[str, int]:
  """Rows skipped so far in this process among `paths`, by reason."""
  out = collections.Counter()
  with _SKIPPED_LOCK:
    for (path, reason), n in SKIPPED.items():
      if path in paths:
        out[reason] += n
  return dict(out)


def discover_stack(root: str, cache_dir: Optional[str] = None) -> dict[str, list[str]]:
  """Languages of a The Stack / StarCoderData download and their shard files.

  Args:
    root: the download directory (see the module docstring for the layouts).
    cache_dir: where to cache the languages found in `lang` columns (keyed by file size/mtime).
  Returns:
    {language: sorted parquet paths}; non-empty.
  """
  if not os.path.isdir(root):
    raise DataError(f"data_paths.stack_dir={root}: no such directory. Point it at a download of "
                    "The Stack or StarCoderData (holding data/<language>/*.parquet).")
  base = os.path.join(root, "data") if os.path.isdir(os.path.join(root, "data")) else root
  by_language: dict[str, list[str]] = {}
  for entry in sorted(os.listdir(base)):
    folder = os.path.join(base, entry)
    if os.path.isdir(folder) and not entry.startswith("."):
      files = sorted(glob.glob(os.path.join(folder, "**", "*.parquet"), recursive=True))
      if files:
        by_language[entry] = files
  loose = sorted(glob.glob(os.path.join(base, "*.parquet")))
  if loose:
    for language, files in _languages_from_column(loose, cache_dir).items():
      by_language.setdefault(language, []).extend(files)
  if not by_language:
    raise DataError(f"data_paths.stack_dir={root}: no parquet shards found in {base} (expected "
                    "data/<language>/*.parquet, <language>/*.parquet, or *.parquet with a "
                    f"'{LANG}' column)")
  return by_language


def _languages_from_column(files: list[str], cache_dir: Optional[str]) -> dict[str, list[str]]:
  """Reads only the `lang` column of loose shards (cached) to learn which languages each holds."""
  cache_path = os.path.join(cache_dir, "stack_languages.json") if cache_dir else None
  cache = {}
  if cache_path and os.path.isfile(cache_path):
    with open(cache_path) as f:
      cache = json.load(f)
  by_language: dict[str, list[str]] = collections.defaultdict(list)
  changed = False
  for path in files:
    shard = open_shard(path)
    if LANG not in shard.schema_arrow.names:
      raise DataError(f"{path}: shard outside a language folder has no '{LANG}' column; move it "
                      f"to data/<language>/ or add the column")
    st = os.stat(path)
    key = f"{path}:{st.st_size}:{st.st_mtime_ns}"
    if key not in cache:
      try:
        values = shard.read(columns=[LANG]).column(LANG)
      except (pa.ArrowException, OSError) as e:
        raise DataError(f"{path}: corrupt parquet data ({e})") from e
      cache[key] = sorted(str(v) for v in pc.unique(values).to_pylist() if v)
      changed = True
    for language in cache[key]:
      by_language[language].append(path)
  if changed and cache_path:
    os.makedirs(os.path.dirname(cache_path), exist_ok=True)
    with open(cache_path + ".tmp", "w") as f:
      json.dump(cache, f)
    os.replace(cache_path + ".tmp", cache_path)
  return dict(by_language)
