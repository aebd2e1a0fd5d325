"""The documents of a Stack-format root as the governance index sees them: text plus the
metadata that search and attribution report (repository, path, license, language, stars).

Shards are found with starjax.data.shards.discover_stack (every layout it understands) and opened
with shards.open_shard (the same errors for a missing, unreadable or content-less file). The
license comes from The Stack's `max_stars_repo_licenses` (a list, joined with ", "), else a
`license` column (the local corpus), else "".
"""

from __future__ import annotations

import dataclasses
import os
from typing import Iterator

import pyarrow as pa

from starjax.data import shards
from starjax.data.errors import DataError

LICENSES = "max_stars_repo_licenses"
LICENSE = "license"
_COLUMNS = (shards.CONTENT, shards.REPO, shards.PATH, shards.STARS, shards.LANG, LICENSES, LICENSE)


@dataclasses.dataclass(frozen=True)
class Document:
  """One training document. doc_id: `<shard path relative to the root>#<row>`."""
  doc_id: str
  language: str
  repo: str
  path: str
  license: str
  stars: int  # -1 if unknown
  content: str


def root_shards(root: str) -> list[tuple[str, str]]:
  """(folder language, absolute path) of every shard of the root, each file once, sorted by path.

  The folder language is the `data/<language>/` folder's name, or "" for loose shards (whose
  rows name their language in a `lang` column).
  """
  by_language = shards.discover_stack(root)
  base = os.path.join(root, "data") if os.path.isdir(os.path.join(root, "data")) else root
  found = {}
  for language, files in by_language.items():
    for path in files:
      in_folder = os.path.dirname(os.path.relpath(path, base)) != ""
      found[os.path.abspath(path)] = language if in_folder else ""
  return sorted(((language, path) for path, language in found.items()), key=lambda lp: lp[1])


def _license_text(value) -> str:
  if value is None:
    return ""
  if isinstance(value, (list, tuple)):
    return ", ".join(str(v) for v in value if v)
  return str(value)


def read_documents(root: str, folder_language: str, path: str) -> Iterator[Document]:
  """The usable rows of one shard (non-empty UTF-8 content), in file order."""
  shard = shards.open_shard(path)
  names = shard.schema_arrow.names
  columns = [c for c in _COLUMNS if c in names]
  relative = os.path.relpath(path, root)
  row = 0
  try:
    for batch in shard.iter_batches(batch_size=256, columns=columns):
      values = {c: batch.column(c).to_pylist() for c in columns}
      for i in range(batch.num_rows):
        content = values[shards.CONTENT][i]
        row += 1
        if isinstance(content, bytes):
          try:
            content = content.decode("utf-8")
          except UnicodeDecodeError:
            continue
        if not content or not content.strip():
          continue
        get = lambda c: values[c][i] if c in values else None
        license_ = get(LICENSES)
        if not license_:
          license_ = get(LICENSE)
        stars = get(shards.STARS)
        yield Document(
            doc_id=f"{relative}#{row - 1}",
            language=str(get(shards.LANG) or folder_language),
            repo=str(get(shards.REPO) or ""), path=str(get(shards.PATH) or ""),
            license=_license_text(license_), stars=int(stars) if stars is not None else -1,
            content=content)
  except (pa.ArrowException, OSError) as e:
    raise DataError(f"{path}: corrupt parquet data ({e}). Re-download it or remove it from the "
                    "data directory.") from e
