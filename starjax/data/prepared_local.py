"""The local corpus after `run.py data prepare`: what the quickstart trains on.

An evenly spread subset of the local corpus (every k-th file of each language and split, about
`local_preparation.max_bytes`; everything when None) goes through every stage of `data prepare`
(filters, opt-out, exact dedup, near-dedup, PII redaction, decontamination). The prepared shards
are described by a manifest in the local corpus's own format, so the `local_*` tasks, the
tokenizer and the mixture weights read the prepared corpus exactly as they read the corpus itself.
Cached under the data cache, keyed by the local corpus (its corpus_id) and the subset size:

    CACHE/prepared_local/<key>/input/      the subset, in the local corpus's layout
    CACHE/prepared_local/<key>/prepared/   data prepare's output (data/, ledger/, manifest.json,
                                           report.md): the data root the model is trained on
    CACHE/prepared_local/<key>/manifest.json   local corpus format, shards under prepared/data/
    CACHE/prepared_local/<key>/index/      the governance index of prepared/ (ensure_index)

Whether prepare has to run again (another stage config, opt-out list, benchmark strings or code
version) is prepare's own decision, by the identity in its manifest: ensure_prepared_corpus asks
it every time and replaces a stale output.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sys
from typing import Callable, Optional

import pyarrow as pa
import pyarrow.parquet as pq

from starjax.data import config, local_corpus
from starjax.data.errors import DataError

FORMAT_VERSION = 1
INPUT, PREPARED, INDEX = "input", "prepared", "index"
_SUBSET_DONE = "subset.json"  # written last: the subset under input/ is complete


def _cache_root(cache_dir: str) -> str:
  return os.path.join(cache_dir, "prepared_local")


def prepared_dir(corpus_manifest: dict, options: config.LocalPreparationOptions,
                 cache_dir: str) -> str:
  """The cache directory of this corpus's prepared subset (built or not)."""
  key = hashlib.sha256(json.dumps(
      [FORMAT_VERSION, corpus_manifest["corpus_id"], options.max_bytes]).encode()).hexdigest()
  return os.path.join(_cache_root(cache_dir), key[:16])


def data_root(directory: str) -> str:
  """The Stack-format root of the prepared data (what an index of the training data indexes)."""
  return os.path.join(directory, PREPARED)


def training_corpus() -> Optional[str]:
  """The corpus directory the local_* tasks read: the local corpus, or with
  local_preparation.enabled its prepared subset (None while that is not built yet)."""
  cache_dir = config.data_paths().cache_dir
  corpus = local_corpus.corpus_dir(cache_dir)
  options = config.local_preparation()
  if not options.enabled:
    return corpus
  return existing_prepared(cache_dir, options)


def existing_prepared(cache_dir: str, options: config.LocalPreparationOptions) -> Optional[str]:
  """The prepared directory of the current local corpus if it is built, else None."""
  corpus = local_corpus.corpus_dir(cache_dir)
  if not os.path.isfile(os.path.join(corpus, local_corpus.MANIFEST)):
    return None
  directory = prepared_dir(local_corpus.read_manifest(corpus), options, cache_dir)
  return directory if os.path.isfile(os.path.join(directory, local_corpus.MANIFEST)) else None


@contextlib.contextmanager
def _lock(cache_dir: str):
  os.makedirs(cache_dir, exist_ok=True)
  with open(os.path.join(cache_dir, "prepared_local.lock"), "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits, then finds the output cached
    yield


def ensure_prepared_corpus(options: Optional[config.LocalPreparationOptions] = None, *,
                           corpus: Optional[str] = None, progress: bool = True) -> str:
  """Prepares (or reuses) the subset of the local corpus; returns its directory, a corpus
  directory in the local corpus's format (local_corpus.local_shards, ensure_tokenizer(corpus=))
  whose `prepared` manifest entry says what data prepare removed.

  Args:
    options: default local_preparation() as gin binds it (`enabled` is not consulted here).
    corpus: a built local corpus; None builds or reuses the one under the cache root.
    progress: report on stderr.
  """
  # Decontamination's benchmark strings are registered by starjax.eval, which every command
  # that parses gin imports (data stays below eval and never imports it).
  from starjax.data.prepare import cli as prepare_cli  # pylint: disable=import-outside-toplevel
  options = options or config.local_preparation()
  cache_dir = config.data_paths().cache_dir
  corpus = corpus or local_corpus.ensure_local_corpus(progress=progress)
  corpus_manifest = local_corpus.read_manifest(corpus)
  say = (lambda line: print(f"  {line}", file=sys.stderr, flush=True)) if progress else (
      lambda line: None)
  with _lock(cache_dir):
    directory = prepared_dir(corpus_manifest, options, cache_dir)
    subset = _ensure_subset(corpus, corpus_manifest, os.path.join(directory, INPUT),
                            options.max_bytes, say)
    output = data_root(directory)
    try:
      prepared = prepare_cli.prepare(os.path.join(directory, INPUT), output, options.opt_out,
                                     options.beam_args, progress=say)
    except DataError:
      # An output of another prepare config, opt-out list or code version is a stale cache
      # entry: replace it. Anything else (a bad opt-out file) fails again, and is raised.
      if not os.path.isfile(os.path.join(output, "manifest.json")):
        raise
      say(f"{output}: prepared with another config or code version; preparing again")
      shutil.rmtree(output)
      prepared = prepare_cli.prepare(os.path.join(directory, INPUT), output, options.opt_out,
                                     options.beam_args, progress=say)
    path = os.path.join(directory, local_corpus.MANIFEST)
    if os.path.isfile(path):
      current = local_corpus.read_manifest(directory)
      if current.get("corpus_id") == prepared["output"]["fingerprint"]:
        return directory
    manifest = _corpus_manifest(directory, corpus, corpus_manifest, subset, prepared, options)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
      json.dump(manifest, f, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)
    _remove_stale(cache_dir, corpus_manifest["corpus_id"], say)
  return directory


def _remove_stale(cache_dir: str, corpus_id: str, say: Callable[[str], None]) -> None:
  """Deletes the prepared subsets of earlier builds of the local corpus (it is rebuilt in
  place, so nothing can read them any more); those of other sizes of this build stay."""
  root = _cache_root(cache_dir)
  for name in sorted(os.listdir(root)):
    path = os.path.join(root, name, local_corpus.MANIFEST)
    try:
      with open(path, encoding="utf-8") as f:
        stale = json.load(f)["prepared"]["from_corpus_id"] != corpus_id
    except (OSError, ValueError, KeyError, TypeError):
      continue  # being built by nobody (we hold the lock) and unreadable: leave it alone
    if stale:
      say(f"removing {os.path.join(root, name)}: prepared from an earlier local corpus")
      shutil.rmtree(os.path.join(root, name))


def _ensure_subset(corpus: str, corpus_manifest: dict, directory: str,
                   max_bytes: Optional[int], say: Callable[[str], None]) -> dict:
  """Writes the subset of `corpus` under `directory` unless it is complete; returns its stats."""
  done = os.path.join(directory, _SUBSET_DONE)
  if os.path.isfile(done):
    with open(done, encoding="utf-8") as f:
      return json.load(f)
  shutil.rmtree(directory, ignore_errors=True)
  total = sum(e["bytes"] + e["validation_bytes"] for e in corpus_manifest["languages"].values())
  ratio = 1.0 if not max_bytes or max_bytes >= total else max_bytes / total
  say(f"taking {'all' if ratio == 1.0 else f'{100 * ratio:.2f} % (every file in ~{1 / ratio:.0f})'}"
      f" of the local corpus's files ({total / 1e6:.0f} MB) for data prepare")
  files = nbytes = 0
  for language, splits in sorted(local_corpus.local_shards(corpus).items()):
    for split, paths in sorted(splits.items()):
      table = _every_kth(paths, ratio)
      if table is None:
        continue
      name = os.path.join(directory, "data", language, f"{split}-00000-of-00001.parquet")
      os.makedirs(os.path.dirname(name), exist_ok=True)
      pq.write_table(table, name, row_group_size=256, compression="zstd")
      files += table.num_rows
      nbytes += sum(len(t.encode()) for t in table.column("content").to_pylist())
  stats = {"files": files, "bytes": nbytes, "fraction_of_files": ratio,
           "corpus_files": corpus_manifest["kept_files"], "corpus_bytes": total}
  with open(done, "w", encoding="utf-8") as f:
    json.dump(stats, f)
  return stats


def _every_kth(paths: list[str], ratio: float) -> Optional[pa.Table]:
  """Rows i of the split (in corpus order) where floor((i + 1) * ratio) > floor(i * ratio),
  plus the first: a share `ratio` of the files, spread evenly and independent of their size
  (a byte budget filled greedily would favour small files)."""
  tables, seen = [], 0
  for path in paths:
    table = pq.read_table(path, schema=local_corpus.SCHEMA)
    picks = [i for i in range(table.num_rows)
             if seen + i == 0 or int((seen + i + 1) * ratio) > int((seen + i) * ratio)]
    seen += table.num_rows
    if picks:
      tables.append(table.take(picks))
  return pa.concat_tables(tables) if tables else None


def _corpus_manifest(directory: str, corpus: str, corpus_manifest: dict, subset: dict,
                     prepared: dict, options: config.LocalPreparationOptions) -> dict:
  """The prepared data described in the local corpus's manifest format (shards relative to
  `directory`), plus `prepared`: where it came from and what each stage removed."""
  languages = {}
  for relative in sorted(prepared["output"]["shards"]):
    parts = relative.split(os.sep)  # data/<language>/<split>-NNNNN-of-NNNNN.parquet
    language, split = parts[1], parts[2].split("-")[0]
    entry = languages.setdefault(language, {"files": 0, "bytes": 0, "validation_files": 0,
                                            "validation_bytes": 0, "shards": {}})
    path = os.path.join(PREPARED, relative)
    texts = pq.read_table(os.path.join(directory, path), columns=["content"]).column(0)
    prefix = "validation_" if split == "validation" else ""
    entry[prefix + "files"] += len(texts)
    entry[prefix + "bytes"] += sum(len(t.encode()) for t in texts.to_pylist())
    entry["shards"].setdefault(split, []).append(path)
  # A language left without training files has no task (its validation files go unused).
  languages = {k: v for k, v in languages.items() if v["shards"].get("train")}
  for entry in languages.values():
    entry["shards"].setdefault("validation", [])
  summary = prepared["summary"]
  # Why the filter and opt-out stages removed what they did (other stages' reasons are per
  # document: the near-duplicate kept, the benchmark task matched).
  from starjax.data.prepare import ledger  # pylint: disable=import-outside-toplevel
  reasons: dict[str, dict[str, int]] = {}
  for row in ledger.read(data_root(directory), columns=["stage", "reason"]).to_pylist():
    if row["stage"] in ("filter", "opt_out"):
      counts = reasons.setdefault(row["stage"], {})
      counts[row["reason"]] = counts.get(row["reason"], 0) + 1
  return {
      "format_version": local_corpus.FORMAT_VERSION,
      "corpus_id": prepared["output"]["fingerprint"],
      "languages": languages,
      "kept_files": sum(e["files"] + e["validation_files"] for e in languages.values()),
      "prepared": {
          "from": corpus, "from_corpus_id": corpus_manifest["corpus_id"],
          "max_bytes": options.max_bytes, "subset": subset,
          "data_root": data_root(directory),
          "report": os.path.join(data_root(directory), "report.md"),
          "identity": prepared["identity"], "counts": prepared["counts"],
          "stages": _stages_run(prepared),
          "by_stage": summary["by_stage"], "reasons": reasons,
          "pii_by_type": summary.get("pii_by_type", {}),
          "decontamination_by_benchmark": summary.get("decontamination_by_benchmark", {}),
      },
  }


# data prepare's stages in its order, with the name of their switch in its config.
STAGES = (("filter", "filters"), ("opt_out", "opt_out"), ("exact_dedup", "exact_dedup"),
          ("near_dedup", "near_dedup"), ("pii", "pii"), ("decontamination", "decontamination"))


def _stages_run(prepared: dict) -> dict[str, bool]:
  """{stage: whether it ran} from a prepare manifest (opt-out runs only with a non-empty list)."""
  ran = {stage: bool(prepared["config"].get(switch, {}).get("enabled", False))
         for stage, switch in STAGES}
  ran["opt_out"] = ran["opt_out"] and prepared["opt_out"].get("entries", 0) > 0
  return ran


def ensure_index(directory: str, *, progress: bool = True) -> str:
  """Builds (or reuses) the governance index of the prepared data (Beam options:
  local_preparation.beam_args); returns its directory. Reused while its data fingerprint is the
  prepared data's."""
  # pylint: disable=import-outside-toplevel
  from starjax.data.governance import fingerprint, index_build, index_dir
  root, output = data_root(directory), os.path.join(directory, INDEX)
  with _lock(config.data_paths().cache_dir):
    try:
      if index_dir.read_manifest(output)["data_fingerprint"] == fingerprint.data_fingerprint(root):
        return output
    except DataError:
      pass  # none yet, or unusable: build it
    if progress:
      print(f"  indexing {root} → {output}", file=sys.stderr, flush=True)
    index_build.build_index(root, output, beam_args=config.local_preparation().beam_args)
  return output
