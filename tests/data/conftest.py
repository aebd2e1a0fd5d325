"""Shared fixtures: a small source tree, The Stack-format shards and a tokenizer, built once per
session in temporary directories (never the user's cache)."""

import os

import gin
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from starjax import gin_config
from tests.data import samples

VOCAB_SIZE = 600


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
  """Points $STARJAX_DATA_DIR at a temporary directory for the whole session."""
  path = tmp_path_factory.mktemp("starjax_cache")
  old = os.environ.get("STARJAX_DATA_DIR")
  os.environ["STARJAX_DATA_DIR"] = str(path)
  yield path
  if old is None:
    os.environ.pop("STARJAX_DATA_DIR", None)
  else:
    os.environ["STARJAX_DATA_DIR"] = old


@pytest.fixture(autouse=True)
def clean_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def bind(*bindings, files=()):
  """Parses gin files and NAME=VALUE bindings the way run.py does."""
  gin_config.parse(list(files), [b if " = " in b else b.replace("=", " = ", 1) for b in bindings])


@pytest.fixture(scope="session")
def source_root(tmp_path_factory):
  """A directory of packages: permissive, copyleft, unlicensed, and files every filter rejects."""
  root = tmp_path_factory.mktemp("sources")
  samples.write_source_tree(root)
  return root


@pytest.fixture(scope="session")
def local_build(tmp_path_factory, source_root):
  """build-local on the small root (no system trees), run through the CLI like a user would.

  Returns (cache_dir, stdout of the command).
  """
  import contextlib
  import io
  from starjax.data import cli
  cache = tmp_path_factory.mktemp("local_cache")
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    status = cli.main("data", [
        "build-local", "--roots", str(source_root), f"--gin.data_paths.cache_dir={cache}",
        "--gin.local_corpus.system_trees=False", "--gin.local_corpus.max_file_bytes=20000",
        "--gin.local_corpus.shard_bytes=4000", f"--gin.VOCAB_SIZE={VOCAB_SIZE}"])
  gin.clear_config()
  assert status == 0, out.getvalue()
  return cache, out.getvalue()


@pytest.fixture
def local_env(local_build):
  """Gin bound to the session's local corpus; returns its cache dir."""
  cache, _ = local_build
  bind(f"data_paths.cache_dir='{cache}'", f"VOCAB_SIZE={VOCAB_SIZE}")
  return cache


@pytest.fixture(scope="session")
def stack_root(tmp_path_factory):
  """The Stack layout: data/<language>/train-*.parquet (python has two shards)."""
  root = tmp_path_factory.mktemp("the_stack")
  rows = samples.stack_rows()
  for language, shards in (("python", 2), ("javascript", 1), ("c-sharp", 1)):
    language_rows = [r for r in rows if r["lang"] == language]
    folder = root / "data" / language
    folder.mkdir(parents=True)
    for i in range(shards):
      part = language_rows[i::shards]
      table = pa.Table.from_pylist(part).drop_columns(["lang"])
      pq.write_table(table, folder / f"train-{i:05d}-of-{shards:05d}.parquet", row_group_size=16)
  return root


@pytest.fixture(scope="session")
def stack_tokenizer(tmp_path_factory):
  """A tokenizer.json trained on the Stack rows, standing in for StarCoder's."""
  from starjax.data import tokenizer
  path = tmp_path_factory.mktemp("stack_tokenizer") / "tokenizer.json"
  tokenizer.train_tokenizer((r["content"] for r in samples.stack_rows()), VOCAB_SIZE, str(path))
  return str(path)


@pytest.fixture
def stack_env(stack_root, stack_tokenizer, tmp_path):
  bind(f"data_paths.cache_dir='{tmp_path}'", f"data_paths.stack_dir='{stack_root}'",
       f"data_paths.stack_tokenizer='{stack_tokenizer}'", "stack_splits.validation_fraction=0.2")
  return stack_root
