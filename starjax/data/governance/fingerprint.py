"""The fingerprint of a Stack-format data root: which exact data an index (or a model) was built from.

Defined here once: the hex SHA-256 over `relative/path.parquet\\0<hex sha256 of the file>\\0` for
every parquet file under the root, sorted by relative path (a prepared root's `ledger/` is a
record about the data, not data, and does not count). Two roots holding byte-identical shards at
the same relative paths have the same fingerprint wherever they live; changing, adding, removing
or renaming a shard changes it. It is the formula `run.py data prepare` uses for its input
fingerprint, so an index of a raw root carries the `input.fingerprint` that preparing that root
records in its manifest.json.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os

from starjax.data.errors import DataError

# Folders of a prepared root (`run.py data prepare`) that hold records about the data, not data.
_NOT_DATA = ("ledger",)


def data_files(root: str) -> list[str]:
  """The parquet files of a data root, as sorted paths relative to it."""
  if not os.path.isdir(root):
    raise DataError(f"{root}: no such data directory")
  files = []
  for path in glob.glob(os.path.join(root, "**", "*.parquet"), recursive=True):
    relative = os.path.relpath(path, root)
    if relative.split(os.sep)[0] not in _NOT_DATA:
      files.append(relative)
  return sorted(files)


def file_sha256(path: str) -> str:
  with open(path, "rb") as f:
    return hashlib.file_digest(f, "sha256").hexdigest()


def data_fingerprint(root: str) -> str:
  """The hex fingerprint of the root's data files (see the module docstring)."""
  files = data_files(root)
  if not files:
    raise DataError(f"{root}: no parquet files, so nothing to fingerprint (expected "
                    "data/<language>/*.parquet)")
  digest = hashlib.sha256()
  for relative in files:
    digest.update(f"{relative}\0{file_sha256(os.path.join(root, relative))}\0".encode())
  return digest.hexdigest()


def prepared_fingerprints(root: str) -> dict | None:
  """{"input": …, "output": …} from a prepared root's manifest.json (`run.py data prepare`),
  or None when the root is not one."""
  path = os.path.join(root, "manifest.json")
  try:
    with open(path, encoding="utf-8") as f:
      manifest = json.load(f)
    return {"input": manifest["input"]["fingerprint"],
            "output": manifest["output"]["fingerprint"]}
  except (OSError, ValueError, KeyError, TypeError):
    return None
