import hashlib
import os

import pyarrow.parquet as pq
import pytest

from starjax.data import config, local_corpus
from starjax.data.errors import DataError
from tests.data import samples


def manifest_of(cache):
  return local_corpus.read_manifest(local_corpus.corpus_dir(str(cache)))


def shard_digests(cache):
  root = local_corpus.corpus_dir(str(cache))
  out = {}
  for dirpath, _, files in os.walk(os.path.join(root, "data")):
    for name in files:
      with open(os.path.join(dirpath, name), "rb") as f:
        out[os.path.relpath(os.path.join(dirpath, name), root)] = hashlib.sha256(f.read()).digest()
  return out


def test_every_sample_language_is_kept_with_a_validation_file(local_build):
  languages = manifest_of(local_build[0])["languages"]
  for language in samples.LANGUAGES:
    entry = languages[language]
    assert entry["files"] + entry["validation_files"] >= samples.FILES_PER_LANGUAGE
    assert entry["validation_files"] >= 1
  printed = local_build[1]
  assert "local corpus:" in printed and "tokenizer (600 tokens)" in printed
  assert all(f"  {language} " in printed for language in samples.LANGUAGES)


def test_shards_use_the_stack_schema(local_build):
  root = local_corpus.corpus_dir(str(local_build[0]))
  entry = manifest_of(local_build[0])["languages"]["python"]
  tables = [pq.read_table(os.path.join(root, name)) for name in entry["shards"]["train"]]
  for table in tables:
    assert table.schema.names == ["content", "max_stars_repo_name", "max_stars_repo_path",
                                  "max_stars_count", "lang", "license"]
  row = next(r for t in tables for r in t.to_pylist() if r["max_stars_repo_name"] == "mitpkg")
  assert row["max_stars_repo_path"].startswith("python/file")
  assert row["lang"] == "python" and row["license"] == "MIT"
  assert row["max_stars_count"] is None  # unknown, never invented


def test_small_shard_bytes_split_a_language_into_several_files(local_build):
  entry = manifest_of(local_build[0])["languages"]["python"]
  assert len(entry["shards"]["train"]) >= 2  # shard_bytes=4000, python files are ~2.3 KB


def test_every_rejection_is_counted_by_reason(local_build):
  skipped = manifest_of(local_build[0])["skipped"]
  assert skipped["binary"] == 1
  assert skipped["non_utf8"] == 1
  assert skipped["minified"] == 1
  assert skipped["generated"] == 1
  assert skipped["duplicate"] == 1
  assert skipped["too_large"] == 1
  assert skipped["empty"] == 1
  assert skipped["license_unknown"] == 1  # nolicense/tool.py
  assert skipped["license_not_permissive"] == 2  # gplpkg/lib.py and the GPL SPDX line


def test_licenses_decide_what_is_kept(local_build):
  root = local_corpus.corpus_dir(str(local_build[0]))
  rows = [row for language_dir in os.listdir(os.path.join(root, "data"))
          for name in os.listdir(os.path.join(root, "data", language_dir))
          for row in pq.read_table(os.path.join(root, "data", language_dir, name)).to_pylist()]
  kept = {(r["max_stars_repo_name"], r["max_stars_repo_path"]): r["license"] for r in rows}
  assert ("gplpkg", "lib.py") not in kept
  assert kept[("gplpkg", "spdx_mit.py")] == "MIT"  # the file's own SPDX line wins
  assert kept[("nodepkg", "index.js")] == "Apache-2.0"  # from package.json
  assert not any(path.endswith("spdx_gpl.c") for _, path in kept)
  assert manifest_of(local_build[0])["licenses"]["MIT"] >= 14 * samples.FILES_PER_LANGUAGE - 1


def test_rebuilding_unchanged_inputs_reuses_the_corpus(local_build, source_root):
  cache = local_build[0]
  before = shard_digests(cache)
  manifest = os.path.join(local_corpus.corpus_dir(str(cache)), local_corpus.MANIFEST)
  stamp = os.stat(manifest).st_mtime_ns
  options = config.LocalCorpusOptions((str(source_root),), False, 20000, 0.01, 4000)
  local_corpus.build_local_corpus(str(cache), options, progress=False)
  assert os.stat(manifest).st_mtime_ns == stamp
  assert shard_digests(cache) == before


def test_the_build_is_deterministic(local_build, source_root, tmp_path):
  options = config.LocalCorpusOptions((str(source_root),), False, 20000, 0.01, 4000)
  again = local_corpus.build_local_corpus(str(tmp_path), options, progress=False)
  assert shard_digests(tmp_path) == shard_digests(local_build[0])
  assert again["corpus_id"] == manifest_of(local_build[0])["corpus_id"]


def test_a_missing_root_is_a_clear_error(tmp_path):
  options = config.LocalCorpusOptions((str(tmp_path / "nope"),), False, 20000, 0.01, 4000)
  with pytest.raises(DataError, match="--roots .*nope: no such directory"):
    local_corpus.build_local_corpus(str(tmp_path), options, progress=False)


def test_a_root_without_usable_code_is_an_error_not_an_empty_corpus(tmp_path):
  root = tmp_path / "src"
  root.mkdir()
  (root / "notes.py").write_text("x = 1\n")  # no license anywhere
  options = config.LocalCorpusOptions((str(root),), False, 20000, 0.01, 4000)
  with pytest.raises(DataError, match="kept no file.*license_unknown"):
    local_corpus.build_local_corpus(str(tmp_path / "cache"), options, progress=False)


def test_reading_a_missing_corpus_names_the_command(tmp_path):
  with pytest.raises(DataError, match="run.py data build-local"):
    local_corpus.read_manifest(str(tmp_path))
