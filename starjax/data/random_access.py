"""Documents addressable by index: a cached index over a task's parquet shards.

    index = DocumentIndex.build_or_load(files, selection=..., language=..., keep=..., cache=...)
    source = DocumentSource(index)            # Grain-style: len(source), source[i], read([i, ...])

The index lists every usable row of one split in storage order (file, row group, row), with its
content size in bytes, grouped into chunks (one per parquet row group). Usable means what
`starjax.data.shards.iter_documents` keeps: non-empty UTF-8 content, the task's language, the
split's row filter. It is built once per set of shard files (a scan of the content column) and
cached under `data_paths.cache_dir/random_access/`, keyed by the files' paths, sizes and
modification times; its `digest` is the data fingerprint of the split.
Reading decodes whole row groups (parquet's unit of compression) and keeps the most recent ones.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import logging
import os
from typing import Callable, Optional, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from starjax.data import shards
from starjax.data.errors import DataError

FORMAT_VERSION = 1
log = logging.getLogger("starjax.data")


@dataclasses.dataclass(frozen=True)
class Document:
  content: str
  repo: str
  path: str
  stars: int  # -1 if unknown


@dataclasses.dataclass
class DocumentIndex:
  """The usable rows of one split. Arrays are [num_docs] unless said otherwise."""
  files: list[str]
  file_id: np.ndarray       # int32
  row_group: np.ndarray     # int32
  row: np.ndarray           # int32, row within its row group
  content_bytes: np.ndarray  # int64, UTF-8 bytes of `content`
  meta_bytes: np.ndarray    # int32, bytes of repository name + path
  chunk_sizes: np.ndarray   # int64 [num_chunks], documents per (file, row group), storage order
  digest: str               # sha256 of the selection and the files' identities

  def __len__(self) -> int:
    return len(self.file_id)

  @classmethod
  def build_or_load(cls, files: Sequence[str], *, selection: str, language: Optional[str],
                    keep: Optional[Callable[[str, str], bool]],
                    cache_dir: Optional[str]) -> "DocumentIndex":
    """The index of `files` (cached when cache_dir is set).

    Args:
      files: parquet shards of the split.
      selection: a string naming what `language`/`keep` select (part of the cache key), e.g.
        "stack_python/train/validation_fraction=0.01".
      language, keep: as in shards.iter_documents.
      cache_dir: where cached indexes live; None builds in memory only.
    """
    if not files:
      raise DataError(f"{selection}: no shard files")
    key = hashlib.sha256(f"random_access/{FORMAT_VERSION}\0{selection}\0{language}".encode())
    for path in files:
      try:
        st = os.stat(path)
      except OSError as e:
        raise DataError(f"{path}: cannot read the shard ({e})") from e
      key.update(f"{os.path.abspath(path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    digest = key.hexdigest()
    cached = (os.path.join(cache_dir, "random_access", f"{digest[:32]}.npz")
              if cache_dir else None)
    if cached and os.path.isfile(cached):
      try:
        return cls._load(cached, list(files), digest)
      except (OSError, ValueError, KeyError) as e:
        log.warning("%s: unreadable document index (%s); rebuilding it", cached, e)
    index = cls._scan(list(files), language, keep, digest)
    if cached:
      os.makedirs(os.path.dirname(cached), exist_ok=True)
      tmp = f"{cached}.{os.getpid()}.tmp.npz"
      np.savez(tmp, file_id=index.file_id, row_group=index.row_group, row=index.row,
               content_bytes=index.content_bytes, meta_bytes=index.meta_bytes,
               chunk_sizes=index.chunk_sizes, digest=np.array(digest),
               files=np.array(json.dumps(index.files)))
      os.replace(tmp, cached)
    return index

  @classmethod
  def _load(cls, path: str, files: list[str], digest: str) -> "DocumentIndex":
    with np.load(path) as z:
      if str(z["digest"]) != digest or json.loads(str(z["files"])) != files:
        raise ValueError("key mismatch")
      return cls(files, z["file_id"], z["row_group"], z["row"], z["content_bytes"],
                 z["meta_bytes"], z["chunk_sizes"], digest)

  @classmethod
  def _scan(cls, files: list[str], language, keep, digest: str) -> "DocumentIndex":
    cols = collections.defaultdict(list)
    chunk_sizes = []
    for fid, path in enumerate(files):
      shard = shards.open_shard(path)  # a DataError naming the file if it is not parquet
      names = shard.schema_arrow.names
      columns = [c for c in (shards.CONTENT, shards.REPO, shards.PATH, shards.LANG)
                 if c in names]
      counts = collections.Counter()
      try:
        for rg in range(shard.num_row_groups):
          table = shard.read_row_group(rg, columns=columns)
          rows = _usable_rows(table, language, keep, counts)
          if len(rows[0]):
            positions, sizes, meta = rows
            cols["file_id"].append(np.full(len(positions), fid, np.int32))
            cols["row_group"].append(np.full(len(positions), rg, np.int32))
            cols["row"].append(positions.astype(np.int32))
            cols["content_bytes"].append(sizes.astype(np.int64))
            cols["meta_bytes"].append(meta.astype(np.int32))
            chunk_sizes.append(len(positions))
      except (pa.ArrowException, OSError) as e:
        raise DataError(f"{path}: corrupt parquet data ({e}). Re-download it or remove it from "
                        "the data directory.") from e
      usable = counts.pop("usable", 0)
      if counts:
        logging.warning("%s: skipped %s", path, dict(counts))
      if usable == 0 and counts:
        raise DataError(f"{path}: every row was skipped ({dict(counts)}); is this the right "
                        "data?")
    join = lambda name, dtype: (np.concatenate(cols[name]) if cols[name]
                                else np.zeros(0, dtype))
    index = cls(files, join("file_id", np.int32), join("row_group", np.int32),
                join("row", np.int32), join("content_bytes", np.int64),
                join("meta_bytes", np.int32), np.asarray(chunk_sizes, np.int64), digest)
    if not len(index):
      raise DataError(f"{files[0]} …: no usable documents in {len(files)} file(s)")
    return index


def _usable_rows(table: pa.Table, language, keep, counts: collections.Counter):
  """(row positions, content bytes, repo+path bytes) of a row group's usable rows, counting
  skip reasons as shards.iter_documents does."""
  n = table.num_rows
  selected = np.ones(n, bool)
  if language is not None and shards.LANG in table.column_names:
    selected &= np.asarray(pc.fill_null(pc.equal(table.column(shards.LANG), language), False))
  content = table.column(shards.CONTENT).combine_chunks()
  if pa.types.is_large_string(content.type) or pa.types.is_string(content.type):
    content = content.cast(pa.large_binary())
  elif not pa.types.is_large_binary(content.type):
    content = content.cast(pa.large_binary())
  valid = np.asarray(pc.fill_null(pc.is_valid(content), False))
  try:
    text = content.cast(pa.large_string())
    utf8 = np.ones(n, bool)
  except pa.ArrowInvalid:  # some row is not UTF-8: check row by row
    utf8 = np.array([v is None or _is_utf8(v) for v in content.to_pylist()], bool)
    text = pa.array([v.decode() if v is not None and ok else None
                     for v, ok in zip(content.to_pylist(), utf8)], pa.large_string())
  trimmed = np.asarray(pc.fill_null(pc.binary_length(pc.ascii_trim_whitespace(text)), 0))
  empty = ~valid | (utf8 & (trimmed == 0))
  non_utf8 = valid & ~utf8
  for reason, mask in (("empty_content", empty), ("non_utf8", non_utf8)):
    if (selected & mask).any():
      counts[reason] += int((selected & mask).sum())
  usable = selected & ~empty & ~non_utf8
  counts["usable"] += int(usable.sum())
  repo = _strings(table, shards.REPO, n)
  path = _strings(table, shards.PATH, n)
  if keep is not None:
    for i in np.flatnonzero(usable):
      if not keep(repo[i], path[i]):
        usable[i] = False
  rows = np.flatnonzero(usable)
  sizes = np.asarray(pc.binary_length(content))[rows] if len(rows) else np.zeros(0, np.int64)
  meta = np.array([len(repo[i].encode()) + len(path[i].encode()) for i in rows], np.int64)
  return rows, sizes, meta


def _is_utf8(value: bytes) -> bool:
  try:
    value.decode("utf-8")
    return True
  except UnicodeDecodeError:
    return False


def _strings(table: pa.Table, name: str, n: int) -> list[str]:
  if name not in table.column_names:
    return [""] * n
  return [v or "" for v in table.column(name).to_pylist()]


class DocumentSource:
  """Random access to the documents of a DocumentIndex (Grain's RandomAccessDataSource shape:
  `len(source)`, `source[i]`), decoding whole row groups and keeping `cached_chunks` of them."""

  def __init__(self, index: DocumentIndex, cached_chunks: int = 32):
    self.index = index
    self._cache: collections.OrderedDict = collections.OrderedDict()
    self._capacity = max(1, cached_chunks)
    self._files: dict[int, object] = {}

  @property
  def cached_chunks(self) -> int:
    return self._capacity

  def __len__(self) -> int:
    return len(self.index)

  def __getitem__(self, i: int) -> Document:
    return self.read([i])[0]

  def read(self, doc_ids: Sequence[int]) -> list[Document]:
    """The documents with these indices, in this order."""
    index = self.index
    out = []
    for i in doc_ids:
      i = int(i)
      if not 0 <= i < len(index):
        raise IndexError(f"document {i} is not in [0, {len(index)})")
      group = self._row_group(int(index.file_id[i]), int(index.row_group[i]))
      r = int(index.row[i])
      out.append(Document(group[0][r], group[1][r], group[2][r], group[3][r]))
    return out

  def _row_group(self, fid: int, rg: int):
    key = (fid, rg)
    hit = self._cache.get(key)
    if hit is not None:
      self._cache.move_to_end(key)
      return hit
    shard = self._files.get(fid)
    if shard is None:
      shard = self._files[fid] = shards.open_shard(self.index.files[fid])
    names = shard.schema_arrow.names
    columns = [c for c in (shards.CONTENT, shards.REPO, shards.PATH, shards.STARS) if c in names]
    table = shard.read_row_group(rg, columns=columns)
    n = table.num_rows
    content = table.column(shards.CONTENT)
    if not (pa.types.is_string(content.type) or pa.types.is_large_string(content.type)):
      content = pa.array([v.decode("utf-8", "replace") if v is not None else None
                          for v in content.to_pylist()], pa.large_string())
    stars = (table.column(shards.STARS).to_pylist() if shards.STARS in names else [None] * n)
    group = (content.to_pylist(), _strings(table, shards.REPO, n), _strings(table, shards.PATH, n),
             [int(s) if s is not None else -1 for s in stars])
    self._cache[key] = group
    if len(self._cache) > self._capacity:
      self._cache.popitem(last=False)
    return group
