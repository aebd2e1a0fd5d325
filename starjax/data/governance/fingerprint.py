"""The fingerprint of a Stack-format data root: which exact data an index (or a model) was built from.

Defined here once: SHA-256 over the sorted list of `relative/path.parquet\\0<sha256 of the file>\\n`
lines of every parquet file under the root (manifests, ledgers and reports are not data and do not
count). Two roots holding byte-identical shards at the same relative paths have the same
fingerprint wherever they live; changing, adding, removing or renaming a shard changes it.
"""

from __future__ import annotations

import glob
import hashlib
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
  """'sha256:<hex>' of the root's data files (see the module docstring)."""
  files = data_files(root)
  if not files:
    raise DataError(f"{root}: no parquet files, so nothing to fingerprint (expected "
                    "data/<language>/*.parquet)")
  digest = hashlib.sha256()
  for relative in files:
    digest.update(f"{relative}\0{file_sha256(os.path.join(root, relative))}\n".encode())
  return "sha256:" + digest.hexdigest()
