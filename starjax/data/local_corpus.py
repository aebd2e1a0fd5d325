"""The embedded default corpus: permissively licensed source files collected on this machine,
written as parquet shards in The Stack's schema plus a manifest.

Two passes keep memory bounded: the first stats, licenses, reads and filters every candidate and
remembers only metadata of what it keeps; the second re-reads the kept files into shards
(`data/<language>/{train,validation}-NNNNN-of-NNNNN.parquet`). The result is deterministic (same
machine → byte-identical shards), cached (a fingerprint of the inputs decides whether to rebuild)
and replaced atomically.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import sys
from typing import Iterable, Optional, Sequence

import pyarrow as pa
import pyarrow.parquet as pq
import tqdm

from starjax.data import config, filters, licenses, source_trees
from starjax.data.shards import split_key
from starjax.data.errors import DataError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SCHEMA = pa.schema([
    ("content", pa.string()), ("max_stars_repo_name", pa.string()),
    ("max_stars_repo_path", pa.string()), ("max_stars_count", pa.int64()),
    ("lang", pa.string()), ("license", pa.string())])
_ROW_GROUP_ROWS = 256
_SPDX_HEAD_BYTES = 4096


@dataclasses.dataclass(frozen=True)
class _Kept:
  path: str
  language: str
  package: str
  repo_path: str
  license: str
  sha256: str
  size: int


def corpus_dir(cache_dir: str) -> str:
  """Where the local corpus lives under a cache root."""
  return os.path.join(cache_dir, "local_corpus")


def read_manifest(directory: str) -> dict:
  """The manifest of a built corpus. Raises DataError naming the fix if there is none."""
  path = os.path.join(directory, MANIFEST)
  if not os.path.isfile(path):
    raise DataError(f"no local corpus at {directory} (missing {MANIFEST}): build it with "
                    "`python run.py data build-local`")
  try:
    with open(path) as f:
      manifest = json.load(f)
  except ValueError as e:
    raise DataError(f"{path}: unreadable manifest ({e}); rebuild with "
                    "`python run.py data build-local`") from e
  if manifest.get("format_version") != FORMAT_VERSION:
    raise DataError(f"{path}: corpus format {manifest.get('format_version')}, this starjax reads "
                    f"{FORMAT_VERSION}; rebuild with `python run.py data build-local`")
  return manifest


def ensure_local_corpus(roots: Optional[Sequence[str]] = None, *, progress: bool = True) -> str:
  """Builds the local corpus if there is none (or if `roots` are given and inputs changed).

  Args:
    roots: extra directories to collect besides `local_corpus.roots` from gin. None reuses any
      existing corpus without rescanning the machine (the quickstart's fast path).
    progress: show progress bars on stderr.
  Returns:
    The corpus directory (holding `manifest.json` and `data/<language>/*.parquet`).
  """
  cache_dir = config.data_paths().cache_dir
  directory = corpus_dir(cache_dir)
  if roots is None and os.path.isfile(os.path.join(directory, MANIFEST)):
    read_manifest(directory)  # validates the format
    return directory
  options = config.local_corpus()
  if roots:
    options = dataclasses.replace(options, roots=options.roots + tuple(roots))
  build_local_corpus(cache_dir, options, progress=progress)
  return directory


def _trees(options: config.LocalCorpusOptions) -> list[source_trees.SourceTree]:
  trees = source_trees.system_trees() if options.system_trees else []
  for root in options.roots:
    if not os.path.isdir(root):
      raise DataError(f"--roots {root}: no such directory")
    trees.append(source_trees.SourceTree(root))
  if not trees:
    raise DataError("nothing to collect: local_corpus.system_trees=False and no --roots given")
  return trees


@contextlib.contextmanager
def _build_lock(cache_dir: str):
  os.makedirs(cache_dir, exist_ok=True)
  with open(os.path.join(cache_dir, "local_corpus.lock"), "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)  # a second builder waits, then finds the corpus up to date
    yield


def build_local_corpus(cache_dir: str, options: config.LocalCorpusOptions, *,
                       progress: bool = True, force: bool = False) -> dict:
  """Collects, filters and writes the corpus under `cache_dir`; returns its manifest.

  Rebuilds only when the fingerprint of the inputs (options, and every candidate file's path,
  size and mtime) differs from the existing manifest's, or when `force` is set.
  """
  with _build_lock(cache_dir):
    trees = _trees(options)
    candidates = list(tqdm.tqdm(
        (f for tree in trees for f in tree.files()), desc="build-local: scanning", unit=" files",
        disable=not progress, file=sys.stderr))
    fingerprint = _fingerprint(options, candidates)
    directory = corpus_dir(cache_dir)
    if not force and os.path.isfile(os.path.join(directory, MANIFEST)):
      try:
        existing = read_manifest(directory)
      except DataError:
        existing = None
      if existing and existing.get("fingerprint") == fingerprint:
        return existing
    kept, skipped, excluded_licenses = _select(candidates, options, progress)
    if not kept:
      raise DataError(f"build-local kept no file out of {len(candidates)} candidates "
                      f"(skipped: {dict(skipped)}); add --roots with permissively licensed code")
    manifest = _write(directory, kept, skipped, options, progress)
    manifest.update(fingerprint=fingerprint, candidates=len(candidates),
                    trees=[f"{t.kind}:{t.root}" for t in trees],
                    excluded_licenses=dict(excluded_licenses.most_common(50)))
    with open(os.path.join(directory, MANIFEST), "w") as f:
      json.dump(manifest, f, indent=1, sort_keys=True)
    return manifest


def _fingerprint(options: config.LocalCorpusOptions, candidates) -> str:
  digest = hashlib.sha256(json.dumps(
      [FORMAT_VERSION, dataclasses.asdict(options)], sort_keys=True).encode())
  for f in candidates:
    try:
      st = os.stat(f.path)
      digest.update(f"{f.path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    except OSError:
      digest.update(f"{f.path}\0missing\n".encode())
  return digest.hexdigest()


def _select(candidates, options, progress):
  """Pass 1: license, size, decoding, quality and exact-duplicate checks; metadata only."""
  kept: list[_Kept] = []
  skipped: collections.Counter = collections.Counter()
  excluded_licenses: collections.Counter = collections.Counter()
  seen: set[str] = set()
  for f in tqdm.tqdm(candidates, desc="build-local: filtering", unit=" files",
                     disable=not progress, file=sys.stderr):
    try:
      size = os.stat(f.path).st_size
      if size > options.max_file_bytes:
        skipped["too_large"] += 1
        continue
      package_ok = f.license is not None and f.license.permissive
      # A file's own SPDX line overrides its package's license, so read its head either way.
      with open(f.path, "rb") as handle:
        data = handle.read() if package_ok else handle.read(_SPDX_HEAD_BYTES)
    except OSError:
      skipped["unreadable"] += 1
      continue
    declared = licenses.license_from_spdx_header(data[:_SPDX_HEAD_BYTES].decode("utf-8", "replace"))
    license_ = declared or f.license
    if license_ is None or license_.permissive is None:
      skipped["license_unknown"] += 1
      excluded_licenses[license_.expression if license_ else "none found"] += 1
      continue
    if not license_.permissive:
      skipped["license_not_permissive"] += 1
      excluded_licenses[license_.expression] += 1
      continue
    if not package_ok:  # permissive only by its SPDX line: read the rest now
      with open(f.path, "rb") as handle:
        data = handle.read()
    text, problem = filters.decode_source(data)
    problem = problem or filters.quality_problem(text, f.language)
    if problem:
      skipped[problem] += 1
      continue
    sha = hashlib.sha256(data).hexdigest()
    if sha in seen:
      skipped["duplicate"] += 1
      continue
    seen.add(sha)
    kept.append(_Kept(f.path, f.language, f.package, f.repo_path, license_.expression, sha,
                      len(data)))
  return kept, skipped, excluded_licenses


def _assign_splits(files: list[_Kept], fraction: float) -> dict[str, list[_Kept]]:
  keyed = sorted(files, key=lambda k: split_key(k.package, k.repo_path))
  validation = [k for k in keyed if split_key(k.package, k.repo_path) < fraction]
  if not validation and len(keyed) >= 2:
    validation = keyed[:1]  # every language with two files gets a validation file
  held_out = {id(k) for k in validation}
  order = lambda k: (k.package, k.repo_path)
  return {"train": sorted((k for k in files if id(k) not in held_out), key=order),
          "validation": sorted(validation, key=order)}


def _plan_shards(files: list[_Kept], shard_bytes: int) -> list[list[_Kept]]:
  shards, current, size = [], [], 0
  for k in files:
    if current and size + k.size > shard_bytes:
      shards.append(current)
      current, size = [], 0
    current.append(k)
    size += k.size
  if current:
    shards.append(current)
  return shards


def _write(directory, kept, skipped, options, progress) -> dict:
  """Pass 2: re-read the kept files into shards in a temporary directory, then swap it in."""
  partial = directory + ".partial"
  shutil.rmtree(partial, ignore_errors=True)
  by_language = collections.defaultdict(list)
  for k in kept:
    by_language[k.language].append(k)
  languages = {}
  bar = tqdm.tqdm(total=sum(k.size for k in kept), desc="build-local: writing shards",
                  unit="B", unit_scale=True, disable=not progress, file=sys.stderr)
  corpus_digest = hashlib.sha256()
  for language in sorted(by_language):
    entry = {"files": 0, "bytes": 0, "validation_files": 0, "validation_bytes": 0, "shards": {}}
    for split, files in _assign_splits(by_language[language], options.validation_fraction).items():
      shards = _plan_shards(files, options.shard_bytes)
      names = []
      for i, shard in enumerate(shards):
        name = f"data/{language}/{split}-{i:05d}-of-{len(shards):05d}.parquet"
        rows = _read_rows(shard, skipped, bar, corpus_digest)
        if rows:
          os.makedirs(os.path.dirname(os.path.join(partial, name)), exist_ok=True)
          pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), os.path.join(partial, name),
                         row_group_size=_ROW_GROUP_ROWS, compression="zstd")
          names.append(name)
        prefix = "validation_" if split == "validation" else ""
        entry[prefix + "files"] += len(rows)
        entry[prefix + "bytes"] += sum(len(r["content"].encode()) for r in rows)
      entry["shards"][split] = names
    languages[language] = entry
  bar.close()
  os.makedirs(partial, exist_ok=True)
  old = directory + ".old"
  shutil.rmtree(old, ignore_errors=True)
  if os.path.exists(directory):
    os.replace(directory, old)
  os.replace(partial, directory)
  shutil.rmtree(old, ignore_errors=True)
  return {"format_version": FORMAT_VERSION, "corpus_id": corpus_digest.hexdigest(),
          "options": dataclasses.asdict(options), "languages": languages,
          "kept_files": sum(e["files"] + e["validation_files"] for e in languages.values()),
          "skipped": {r: skipped[r] for r in filters.SKIP_REASONS if skipped[r]},
          "licenses": dict(collections.Counter(k.license for k in kept).most_common()),
          "packages": len({k.package for k in kept})}


def _read_rows(shard: Iterable[_Kept], skipped, bar, corpus_digest) -> list[dict]:
  rows = []
  for k in shard:
    try:
      with open(k.path, "rb") as handle:
        data = handle.read()
    except OSError:
      data = b""
    bar.update(k.size)
    if hashlib.sha256(data).hexdigest() != k.sha256:
      skipped["changed_during_build"] += 1
      continue
    corpus_digest.update(f"{k.language}\0{k.package}\0{k.repo_path}\0{k.sha256}\n".encode())
    rows.append({"content": data.decode("utf-8"), "max_stars_repo_name": k.package,
                 "max_stars_repo_path": k.repo_path, "max_stars_count": None,
                 "lang": k.language, "license": k.license})
  return rows


def local_shards(directory: str) -> dict[str, dict[str, list[str]]]:
  """{language: {"train": [paths], "validation": [paths]}} of a built corpus (from its manifest)."""
  manifest = read_manifest(directory)
  return {language: {split: [os.path.join(directory, name) for name in names]
                     for split, names in entry["shards"].items()}
          for language, entry in manifest["languages"].items()}
