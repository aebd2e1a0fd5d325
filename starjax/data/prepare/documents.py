"""The documents `data prepare` reads and writes: Stack-format parquet shards.

Input: any layout `starjax.data.shards.discover_stack` understands (`data/<language>/*.parquet`,
`<language>/*.parquet`, or loose files with a `lang` column). Every shard is checked in the
driver (readable parquet, a `content` column) before the pipeline starts, so a bad shard is one
error naming it. Each document gets a global index: shards sorted by relative path, rows in
file order (`doc_index`), and an id `<relative path>#<row>` (`doc_id`).

Output: the kept rows of each input shard, in their input order, with the input's schema, at
the same relative path under the output root; shards left without rows are not written. The
writer reads its shard again (`write_kept`), so contents never have to travel with decisions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from typing import Iterator, Optional, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from starjax.data import shards
from starjax.data.errors import DataError

ROW_GROUP_ROWS = 256
LICENSE_COLUMNS = ("license", "max_stars_repo_licenses")
RECENCY_COLUMN = "max_stars_repo_stars_event_max_datetime"


@dataclasses.dataclass(frozen=True)
class Shard:
  """One input parquet file.

  relative: its path under the input root (also its path under the output root).
  language: the folder's language, or None when rows name theirs in a `lang` column.
  first_index: doc_index of its first row. rows, row_groups: from the parquet footer.
  sha256: of the file's bytes (the input fingerprint is made of these).
  """
  path: str
  relative: str
  language: Optional[str]
  first_index: int
  rows: int
  row_groups: int
  sha256: str


def discover(root: str) -> list[Shard]:
  """The input shards under `root`, sorted by relative path; DataError for a bad input."""
  root = os.path.abspath(root)
  if not os.path.isdir(root):
    raise DataError(f"--input={root}: no such directory. Point it at a Stack-format root "
                    "(data/<language>/*.parquet), e.g. the local corpus that "
                    "`python run.py data build-local` builds")
  try:
    by_language = shards.discover_stack(root)
  except DataError as e:
    raise DataError(f"--input={root}: {e}".replace("data_paths.stack_dir=", "")) from e
  language_of: dict[str, Optional[str]] = {}
  base = os.path.join(root, "data") if os.path.isdir(os.path.join(root, "data")) else root
  for language, files in by_language.items():
    for path in files:
      loose = os.path.dirname(path) == base
      language_of[path] = None if loose else language
  out, index = [], 0
  for path in sorted(language_of, key=lambda p: os.path.relpath(p, root)):
    shard = shards.open_shard(path)
    with open(path, "rb") as f:
      digest = hashlib.file_digest(f, "sha256").hexdigest()
    rows = shard.metadata.num_rows
    out.append(Shard(path, os.path.relpath(path, root), language_of[path], index, rows,
                     shard.metadata.num_row_groups, digest))
    index += rows
  if index == 0:
    raise DataError(f"--input={root}: the shards hold no rows ({len(out)} files); is this the "
                    "right directory?")
  return out


def fingerprint(input_shards: list[Shard]) -> str:
  """sha256 over the relative paths and contents of the input shards."""
  h = hashlib.sha256()
  for shard in input_shards:
    h.update(f"{shard.relative}\0{shard.sha256}\0".encode())
  return h.hexdigest()


def read_row_group(shard: Shard, row_group: int) -> Iterator[dict]:
  """The documents of one row group, as dicts:

  doc_index, doc_id, shard (relative path), row, language, repo, path, stars, license,
  recency, content (str, or None when null/empty/not UTF-8), skip (why content is None),
  bytes (content bytes). The other columns stay in the file: `write_kept` copies them.
  """
  try:
    table = pq.ParquetFile(shard.path).read_row_group(row_group)
  except (pa.ArrowException, OSError) as e:
    raise DataError(f"{shard.path}: corrupt parquet data in row group {row_group} ({e}). "
                    "Re-download it or remove it from the input directory.") from e
  first = shard.first_index + sum(_row_group_rows(shard, g) for g in range(row_group))
  row0 = first - shard.first_index
  for i, columns in enumerate(table.to_pylist()):
    raw = columns.pop(shards.CONTENT, None)  # carried once, as `content`
    content, skip = raw, None
    if isinstance(raw, bytes):
      try:
        content = raw.decode("utf-8")
      except UnicodeDecodeError:
        content, skip = None, "non_utf8"
    if skip is None and (content is None or not content.strip()):
      content, skip = None, "empty_content"
    language = columns.get(shards.LANG) if shard.language is None else shard.language
    yield {
        "doc_index": first + i, "doc_id": f"{shard.relative}#{row0 + i}", "shard": shard.relative,
        "row": row0 + i, "language": str(language or ""),
        "repo": str(columns.get(shards.REPO) or ""), "path": str(columns.get(shards.PATH) or ""),
        "stars": int(columns[shards.STARS]) if columns.get(shards.STARS) is not None else -1,
        "license": _license_value(columns), "recency": str(columns.get(RECENCY_COLUMN) or ""),
        "content": content, "skip": skip,
        "bytes": len(raw) if isinstance(raw, bytes) else len((raw or "").encode("utf-8")),
    }


def _license_value(columns: dict):
  for name in LICENSE_COLUMNS:
    if name in columns:
      value = columns[name]
      return list(value) if isinstance(value, (list, tuple)) else value
  return None


_ROW_GROUP_SIZES: dict[str, list[int]] = {}


def _row_group_rows(shard: Shard, row_group: int) -> int:
  sizes = _ROW_GROUP_SIZES.get(shard.path)
  if sizes is None:
    metadata = pq.ParquetFile(shard.path).metadata
    sizes = [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)]
    _ROW_GROUP_SIZES[shard.path] = sizes
  return sizes[row_group]


def write_kept(shard: Shard, kept: Sequence[tuple[int, Optional[str]]], path: str
               ) -> tuple[int, str]:
  """Writes the kept rows of `shard`, read again from the input, in their input order and with
  the input's schema; `kept` is (doc_index, the redacted content or None to keep the input's).
  Returns (rows, sha256 of the file).

  Reading the shard again here is what keeps document contents out of the pipeline's shuffles:
  only indices (and the few redacted texts) travel to the writer.
  """
  replacement = {index - shard.first_index: text for index, text in kept}
  positions = sorted(replacement)
  try:
    with open(shard.path, "rb") as f:
      data = f.read()
  except OSError as e:
    raise DataError(f"{shard.path}: unreadable while writing its kept rows ({e}). Restore it "
                    "and run `data prepare` again.") from e
  if hashlib.sha256(data).hexdigest() != shard.sha256:
    raise DataError(f"{shard.path}: the file changed while `data prepare` ran (its sha256 "
                    "differs from the one read at the start), so its kept rows cannot be "
                    "written. Leave the input alone during a run and run it again.")
  table = pq.read_table(pa.BufferReader(data))
  table = table.take(pa.array(positions, pa.int64()))
  at = table.schema.get_field_index(shards.CONTENT)
  if any(replacement[i] is not None for i in positions):
    binary = pa.types.is_binary(table.schema.field(at).type) or pa.types.is_large_binary(
        table.schema.field(at).type)
    values = table.column(at).to_pylist()
    for j, i in enumerate(positions):
      text = replacement[i]
      if text is not None:
        values[j] = text.encode("utf-8") if binary else text
    table = table.set_column(at, table.schema.field(at),
                             pa.array(values, table.schema.field(at).type))
  os.makedirs(os.path.dirname(path), exist_ok=True)
  pq.write_table(table, path, row_group_size=ROW_GROUP_ROWS, compression="zstd")
  with open(path, "rb") as f:
    return len(positions), hashlib.file_digest(f, "sha256").hexdigest()
