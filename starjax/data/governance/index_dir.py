"""The layout of a governance index directory, and opening one for queries.

    INDEX/manifest.json                       what was indexed (data root, fingerprint, sizes),
                                              the filter's shape and measured false-positive
                                              rate, the search shards, build time
    INDEX/membership.npy                      the Bloom filter's bits (uint8 [num_bits / 8])
    INDEX/search-NNNNN-of-NNNNN.sqlite        the full-text index (SQLite FTS5) shards

A missing or corrupt file is a DataError naming it and the command that rebuilds the index.
"""

from __future__ import annotations

import json
import os

import numpy as np

from starjax.data.errors import DataError
from starjax.data.governance import membership
from starjax.data.governance.search_index import SearchIndex

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FILTER = "membership.npy"
_REBUILD = "rebuild it with `python run.py data index --input=DATA --output=INDEX`"


def read_manifest(directory: str) -> dict:
  """The manifest of an index directory; DataError if there is none or it is unreadable."""
  if not os.path.isdir(directory):
    raise DataError(f"--index={directory}: no such directory; build an index with "
                    "`python run.py data index --input=DATA --output=INDEX`")
  path = os.path.join(directory, MANIFEST)
  if not os.path.isfile(path):
    raise DataError(f"{path}: missing, so {directory} is not a governance index; {_REBUILD}")
  try:
    with open(path, encoding="utf-8") as f:
      manifest = json.load(f)
    if manifest.get("format_version") != FORMAT_VERSION:
      raise DataError(f"{path}: index format {manifest.get('format_version')!r}, this starjax "
                      f"reads {FORMAT_VERSION}; {_REBUILD}")
    for key in ("data_fingerprint", "data_root"):
      if not isinstance(manifest.get(key), str):
        raise KeyError(key)
    int(manifest["filter"]["num_bits"]), int(manifest["filter"]["num_hashes"])
    if not isinstance(manifest["search"]["files"], list):
      raise TypeError("search.files is not a list")
  except (ValueError, KeyError, TypeError) as e:
    raise DataError(f"{path}: corrupt index manifest ({e}); {_REBUILD}") from e
  return manifest


class GovernanceIndex:
  """An opened index: `manifest`, `bloom` (membership.BloomFilter), `search` (SearchIndex)."""

  def __init__(self, directory: str):
    self.directory = directory
    self.manifest = read_manifest(directory)
    spec = self.manifest["filter"]
    if spec.get("chunk") != membership.CHUNK or spec.get("hash") != membership.HASH:
      raise DataError(f"{directory}: filter of {spec.get('chunk')}-character chunks hashed by "
                      f"{spec.get('hash')!r}; this starjax uses {membership.CHUNK} and "
                      f"{membership.HASH!r}; {_REBUILD}")
    path = os.path.join(directory, FILTER)
    if not os.path.isfile(path):
      raise DataError(f"{path}: membership filter missing; {_REBUILD}")
    shape = membership.FilterShape(int(spec["num_bits"]), int(spec["num_hashes"]))
    try:
      bits = np.load(path, mmap_mode="r", allow_pickle=False)
      self.bloom = membership.BloomFilter(shape, bits)
    except (ValueError, OSError, EOFError) as e:
      raise DataError(f"{path}: corrupt membership filter ({e}); {_REBUILD}") from e
    self.search = SearchIndex([os.path.join(directory, name)
                               for name in self.manifest["search"]["files"]])

  @property
  def fingerprint(self) -> str:
    return self.manifest["data_fingerprint"]

  def close(self) -> None:
    self.search.close()


def open_index(directory: str) -> GovernanceIndex:
  """Opens INDEX for membership tests, search and attribution; DataError if it is unusable."""
  return GovernanceIndex(directory)
