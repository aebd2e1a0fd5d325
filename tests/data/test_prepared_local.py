"""The local corpus after `data prepare` (what the quickstart trains on): every stage runs on it,
the local tasks and the tokenizer read the prepared shards, a stale prepare output is replaced,
a model trained on it names it as its data root, and its governance index matches that root."""

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from starjax.data import config, local_corpus, prepared_local
from tests.data import samples
from tests.data.conftest import VOCAB_SIZE, bind

EMAIL = "jane.roe@fastmail.fm"


def _near_copy(text: str) -> str:
  lines = text.splitlines(keepends=True)
  return "".join(lines[:-2]) + "# one line changed\n" + lines[-1]


def _write_tree(root, contaminating: str):
  """pkga (MIT): python and javascript files, one holding an email, a near-duplicate pair and
  a file that pastes a HumanEval solution; optedout (MIT): a file its owner opted out."""
  for package in ("pkga", "optedout"):
    samples._write(os.path.join(root, package, "LICENSE"), samples.MIT)  # pylint: disable=protected-access
  for i in range(6):
    samples._write(os.path.join(root, "pkga", f"mod{i}.py"), samples.python(300 + i))  # pylint: disable=protected-access
    samples._write(os.path.join(root, "pkga", f"web{i}.js"), samples.javascript(300 + i))  # pylint: disable=protected-access
  samples._write(os.path.join(root, "pkga", "mail.py"),  # pylint: disable=protected-access
                 f"# maintainer: {EMAIL}\n" + samples.python(320))
  long_file = "".join(samples.python(330 + k) for k in range(3))
  samples._write(os.path.join(root, "pkga", "near.py"), long_file)  # pylint: disable=protected-access
  samples._write(os.path.join(root, "pkga", "near_copy.py"), _near_copy(long_file))  # pylint: disable=protected-access
  samples._write(os.path.join(root, "pkga", "solution.py"),  # pylint: disable=protected-access
                 samples.python(340) + "\n" + contaminating)
  samples._write(os.path.join(root, "optedout", "tool.py"), samples.python(350))  # pylint: disable=protected-access


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
  """(cache dir, corpus dir, prepared dir, options): a small local corpus built and prepared
  through every stage, starting from a stale prepare output of another config."""
  import gin  # pylint: disable=import-outside-toplevel
  from starjax.data import cli  # pylint: disable=import-outside-toplevel
  from starjax.eval import humaneval  # pylint: disable=import-outside-toplevel
  problem = humaneval.read_humaneval()["HumanEval/0"]
  root = tmp_path_factory.mktemp("prepared_sources")
  _write_tree(str(root), problem["prompt"] + problem["canonical_solution"])
  cache = tmp_path_factory.mktemp("prepared_cache")
  opt_out = cache / "opt_out.txt"
  opt_out.write_text("OptedOut\n")
  flags = [f"--gin.data_paths.cache_dir={cache}", "--gin.local_corpus.system_trees=False",
           f"--gin.VOCAB_SIZE={VOCAB_SIZE}"]
  assert cli.main("data", ["build-local", "--roots", str(root), *flags]) == 0
  bind(f"data_paths.cache_dir='{cache}'", f"VOCAB_SIZE={VOCAB_SIZE}")
  options = config.LocalPreparationOptions(True, None, str(opt_out))  # in-process Beam
  corpus = local_corpus.corpus_dir(str(cache))
  directory = prepared_local.prepared_dir(local_corpus.read_manifest(corpus), options, str(cache))
  stale = os.path.join(directory, prepared_local.PREPARED)
  os.makedirs(stale)
  with open(os.path.join(stale, "manifest.json"), "w") as f:
    f.write('{"identity": "another run", "input": {"fingerprint": "0000"}}')
  built = prepared_local.ensure_prepared_corpus(options, corpus=corpus, progress=False)
  gin.clear_config()
  return str(cache), corpus, built, options


def _contents(directory):
  texts = {}
  for language, splits in local_corpus.local_shards(directory).items():
    for paths in splits.values():
      for path in paths:
        for row in pq.read_table(path).to_pylist():
          texts[row["max_stars_repo_name"] + "/" + row["max_stars_repo_path"]] = row["content"]
  return texts


def test_every_stage_of_data_prepare_runs_on_the_local_corpus(prepared):
  _, corpus, directory, _ = prepared
  manifest = local_corpus.read_manifest(directory)
  info = manifest["prepared"]
  counts = info["counts"]
  assert counts["opt_out"] == {"removed": 1} and counts["near_dedup"] == {"removed": 1}
  assert counts["decontamination"] == {"removed": 1} and counts["pii"] == {"redacted": 1}
  assert info["subset"]["files"] == local_corpus.read_manifest(corpus)["kept_files"]
  assert manifest["kept_files"] == info["subset"]["files"] - 3
  texts = _contents(directory)
  assert not any(path.startswith("optedout/") for path in texts)
  assert "pkga/solution.py" not in texts
  assert sum(path.startswith("pkga/near") for path in texts) == 1
  assert EMAIL not in texts["pkga/mail.py"] and "<EMAIL>" in texts["pkga/mail.py"]
  # the stale output of another config was replaced by this one
  assert info["identity"] != "another run"
  with open(os.path.join(prepared_local.data_root(directory), "manifest.json")) as f:
    assert manifest["corpus_id"] == json.load(f)["output"]["fingerprint"]


def test_a_second_call_reuses_the_prepared_corpus(prepared, capsys):
  cache, corpus, directory, options = prepared
  bind(f"data_paths.cache_dir='{cache}'")
  before = os.stat(os.path.join(directory, "manifest.json")).st_mtime_ns
  again = prepared_local.ensure_prepared_corpus(options, corpus=corpus)
  assert again == directory
  assert "nothing to do" in capsys.readouterr().err
  assert os.stat(os.path.join(directory, "manifest.json")).st_mtime_ns == before


def test_subsets_of_an_earlier_local_corpus_are_removed(prepared):
  cache, corpus, directory, options = prepared
  bind(f"data_paths.cache_dir='{cache}'")
  old = os.path.join(os.path.dirname(directory), "0123456789abcdef")
  os.makedirs(old)
  with open(os.path.join(old, "manifest.json"), "w") as f:
    json.dump({"prepared": {"from_corpus_id": "an earlier corpus"}}, f)
  os.remove(os.path.join(directory, "manifest.json"))  # so that the manifest is written again
  assert prepared_local.ensure_prepared_corpus(options, corpus=corpus,
                                               progress=False) == directory
  assert not os.path.exists(old) and os.path.isfile(os.path.join(directory, "manifest.json"))


def test_local_tasks_and_tokenizer_read_the_prepared_shards(prepared):
  from starjax.data import tasks, tokenizer  # pylint: disable=import-outside-toplevel
  cache, _, directory, options = prepared
  bind(f"data_paths.cache_dir='{cache}'", f"VOCAB_SIZE={VOCAB_SIZE}",
       "local_preparation.enabled=True", f"local_preparation.opt_out='{options.opt_out}'")
  assert prepared_local.training_corpus() == directory
  assert "local_python" in tasks.register_tasks()
  path = tokenizer.ensure_tokenizer(corpus=directory, progress=False)
  corpus_id = local_corpus.read_manifest(directory)["corpus_id"]
  assert f"local-{corpus_id[:16]}-v{VOCAB_SIZE}" in path
  source_files = tasks.get("local_python").source.list_shards("train")
  assert source_files and all(f.startswith(prepared_local.data_root(directory))
                              for f in source_files)


def test_without_local_preparation_the_tasks_read_the_corpus_as_built(prepared):
  cache, corpus, _, _ = prepared
  bind(f"data_paths.cache_dir='{cache}'")
  assert prepared_local.training_corpus() == corpus


def test_a_model_trained_on_it_names_it_as_its_data_and_its_index_matches(prepared, tmp_path):
  from starjax.data.governance import index_dir  # pylint: disable=import-outside-toplevel
  from starjax.eval import contamination  # pylint: disable=import-outside-toplevel
  cache, _, directory, _ = prepared
  model_dir = tmp_path / "model"
  model_dir.mkdir()
  (model_dir / "config.gin").write_text(
      f"MIXTURE_OR_TASK_NAME = 'local_code'\ndata_paths.cache_dir = '{cache}'\n"
      "local_preparation.enabled = True\nlocal_preparation.max_bytes = None\n")
  assert contamination.model_data_root(str(model_dir)) == prepared_local.data_root(directory)
  bind(f"data_paths.cache_dir='{cache}'")
  index_path = prepared_local.ensure_index(directory, progress=False)
  index = index_dir.open_index(index_path)
  try:
    assert contamination.data_check(index, str(model_dir))["matches_model_data"] is True
  finally:
    index.close()
  assert prepared_local.ensure_index(directory, progress=False) == index_path  # reused


def test_the_quickstart_report_shows_what_prepare_removed(prepared):
  from starjax import quickstart  # pylint: disable=import-outside-toplevel
  _, corpus, directory, _ = prepared
  text = "\n".join(quickstart.data_section(corpus, directory, "tok.json", "/idx"))
  assert "| opt_out | 1 | 0 | " in text and "owner optedout 1 |" in text
  assert "| near_dedup | 1 | 0 |" in text and "| exact_dedup | 0 | 0 | 0.00 |" in text
  assert "| decontamination | 1 | 0 |" in text and "| pii | 0 | 1 |" in text
  assert os.path.join(prepared_local.data_root(directory), "report.md") in text
  assert "humaneval 1" in text
  rows = [line.split(" | ")[0].lstrip("| ") for line in text.splitlines()
          if line.startswith("| ") and not line.startswith("| stage")]
  assert rows == ["filter", "opt_out", "exact_dedup", "near_dedup", "pii", "decontamination"]


def test_the_subset_takes_every_kth_file_whatever_its_size(tmp_path):
  sizes = [10, 5000, 20, 7000, 30, 9000, 40, 11000] * 5  # 40 files, alternately small/large
  rows = [{"content": "x" * n, "max_stars_repo_name": f"r{i}", "max_stars_repo_path": f"{i}.py",
           "max_stars_count": None, "lang": "python", "license": "MIT"}
          for i, n in enumerate(sizes)]
  first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
  pq.write_table(pa.Table.from_pylist(rows[:25], schema=local_corpus.SCHEMA), first)
  pq.write_table(pa.Table.from_pylist(rows[25:], schema=local_corpus.SCHEMA), second)
  table = prepared_local._every_kth([str(first), str(second)], 0.25)  # pylint: disable=protected-access
  names = table.column("max_stars_repo_name").to_pylist()
  assert names == ["r0", "r3", "r7", "r11", "r15", "r19", "r23", "r27", "r31", "r35", "r39"]
  assert prepared_local._every_kth([str(first)], 1.0).num_rows == 25  # pylint: disable=protected-access


def test_a_missing_opt_out_list_is_named(tmp_path):
  from starjax.data.errors import DataError  # pylint: disable=import-outside-toplevel
  missing = tmp_path / "no_such_list.txt"
  bind("local_preparation.enabled=True", f"local_preparation.opt_out='{missing}'")
  with pytest.raises(DataError, match=f"local_preparation.opt_out={missing}: no such file"):
    config.local_preparation()


def test_the_quickstart_opt_out_list_is_found_from_any_directory(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  bind(files=["experiments/quickstart.gin"])
  options = config.local_preparation()
  assert options.enabled and os.path.isfile(options.opt_out)
  with open(options.opt_out, encoding="utf-8") as f:
    assert [line for line in f.read().splitlines() if line and not line.startswith("#")]
