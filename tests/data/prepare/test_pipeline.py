"""`data prepare` end to end on a corpus with planted cases: every stage, the ledger, the
manifest and report, determinism, and bad input."""

import filecmp
import glob
import json
import os
import random
import tempfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import starjax.eval.benchmarks  # noqa: F401  (registers the benchmark strings)
from starjax.data import shards
from starjax.data.errors import DataError
from starjax.data.prepare import cli, commit, ledger, pipeline
from starjax.eval import humaneval

IN_MEMORY = ["--direct_running_mode=in_memory"]
_SHARD = "data/python/train-00000-of-00001.parquet"


def _code(seed: int, lines: int = 40) -> str:
  rng = random.Random(seed)
  return "\n".join(f"def step_{seed}_{i}(value, scale={rng.randrange(100)}):\n"
                   f"    return value * scale + {rng.randrange(10**6)}" for i in range(lines))


def _row(content, repo, path, license_="MIT", stars=1):
  return {"content": content, "max_stars_repo_name": repo, "max_stars_repo_path": path,
          "max_stars_count": stars, "license": license_}


def _near_copy(text: str) -> str:
  lines = text.splitlines()
  lines[5] = lines[5] + "  # changed"
  return "\n".join(lines)


PLANTED = {}  # name → row number in the python shard


def _write_corpus(root):
  problem = humaneval.read_humaneval()["HumanEval/7"]
  rows = [_row(_code(i), f"owner{i}/repo{i}", f"src/mod{i}.py", stars=i) for i in range(30)]
  planted = {
      "exact_copy": _row(_code(3), "copier/x", "a.py"),
      "near_copy": _row(_near_copy(_code(4)), "nearby/x", "b.py", stars=100),
      "pii": _row(_code(50) + '\nCONTACT = "jane.doe@gmail.com"\npassword = "hunter22x"\n',
                  "pii/x", "c.py"),
      "opted_out": _row(_code(51), "OptedOut/project", "d.py"),
      "opted_out_repo": _row(_code(52), "someone/Private-Repo", "e.py"),
      "benchmark_copy": _row("import os\n" + problem["prompt"] + problem["canonical_solution"],
                             "leak/x", "f.py"),
      "gpl": _row(_code(53), "gpl/x", "g.py", license_="GPL-3.0-only"),
      "empty": _row("", "empty/x", "h.py"),
      "short_a": _row("x = 1\n", "short/a", "i.py"),
      "short_b": _row("y = 2\n", "short/b", "j.py"),
      "short_a_copy": _row("x = 1\n", "short/c", "k.py"),
      # Members of doc 4's near-duplicate cluster that earlier stages remove: they must never
      # be labelled (issue 12: a cluster label without its document).
      "near_copy_exact": _row(_near_copy(_code(4)), "nearby/y", "l.py"),
      "near_copy_gpl": _row(_near_copy(_code(4)) + "\n# gpl", "gplnear/x", "m.py",
                            license_="GPL-3.0-only"),
  }
  for name, row in planted.items():
    PLANTED[name] = len(rows)
    rows.append(row)
  os.makedirs(os.path.join(root, "data", "python"))
  pq.write_table(pa.Table.from_pylist(rows), os.path.join(root, _SHARD), row_group_size=8)
  os.makedirs(os.path.join(root, "data", "javascript"))
  js = [_row(f"function f{i}(a) {{\n  return a * {i} + {i * 7};\n}}\n" * 4, f"js{i}/x", f"{i}.js")
        for i in range(3)]
  pq.write_table(pa.Table.from_pylist(js),
                 os.path.join(root, "data", "javascript", "train-00000-of-00001.parquet"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
  root = tmp_path_factory.mktemp("prepare_in")
  _write_corpus(str(root))
  opt_out = root.parent / "opt_out.txt"
  opt_out.write_text("optedout\nsomeone/private-repo\n")
  return str(root), str(opt_out)


@pytest.fixture(scope="module")
def prepared(corpus, tmp_path_factory):
  root, opt_out = corpus
  output = str(tmp_path_factory.mktemp("prepare_out") / "out")
  manifest = cli.prepare(root, output, opt_out, IN_MEMORY, progress=lambda *_: None)
  return output, manifest


def _ledger_by_row(output):
  rows = ledger.read(output).to_pylist()
  return {r["doc_id"].split("#")[1]: r for r in rows if r["shard"] == _SHARD}


def _decision(output, name):
  r = _ledger_by_row(output)[str(PLANTED[name])]
  return r["stage"], r["decision"], r["reason"]


@pytest.mark.slow  # one Beam pipeline, ~20-40 s on 2 busy cores
def test_each_stage_removes_or_redacts_what_it_should(prepared):
  output, _ = prepared
  assert _decision(output, "exact_copy") == ("exact_dedup", "removed",
                                              f"duplicate of {_SHARD}#3")
  assert _decision(output, "near_copy") == ("near_dedup", "removed",
                                             f"near-duplicate of {_SHARD}#4")
  assert _decision(output, "pii") == ("pii", "redacted", "email:1,password:1")
  assert _decision(output, "opted_out") == ("opt_out", "removed", "owner optedout")
  assert _decision(output, "opted_out_repo") == ("opt_out", "removed",
                                                  "repository someone/private-repo")
  stage, decision, reason = _decision(output, "benchmark_copy")
  assert (stage, decision) == ("decontamination", "removed")
  assert reason.startswith("humaneval:HumanEval/7:") and reason.endswith(":exact")
  assert _decision(output, "gpl") == ("filter", "removed", "license_not_permissive")
  assert _decision(output, "empty") == ("filter", "removed", "empty_content")
  # Fewer than 5 tokens: never near-duplicates of each other; exact copies still go.
  assert _decision(output, "short_a")[1] == _decision(output, "short_b")[1] == "kept"
  assert _decision(output, "short_a_copy")[0] == "exact_dedup"


@pytest.mark.slow
def test_near_duplicate_cluster_is_marked_on_every_member(prepared):
  output, _ = prepared
  by_row = _ledger_by_row(output)
  kept, removed = by_row["4"], by_row[str(PLANTED["near_copy"])]
  assert kept["decision"] == "kept" and kept["cluster_id"] == removed["cluster_id"] is not None
  assert all(r["cluster_id"] is None for k, r in by_row.items() if k not in
             ("4", str(PLANTED["near_copy"])))


@pytest.mark.slow
def test_documents_removed_before_near_dedup_are_never_in_a_cluster(prepared):
  output, _ = prepared
  assert _decision(output, "near_copy_exact") == ("exact_dedup", "removed",
                                                   f"duplicate of {_SHARD}#{PLANTED['near_copy']}")
  assert _decision(output, "near_copy_gpl") == ("filter", "removed", "license_not_permissive")
  by_row = _ledger_by_row(output)
  clustered = sorted(int(k) for k, r in by_row.items() if r["cluster_id"] is not None)
  assert clustered == [4, PLANTED["near_copy"]]


@pytest.mark.slow
def test_output_keeps_the_input_columns_and_carries_the_redacted_text(prepared, corpus):
  output, _ = prepared
  table = pq.read_table(os.path.join(output, _SHARD))
  assert table.schema == pq.read_table(os.path.join(corpus[0], _SHARD)).schema
  contents = table.column("content").to_pylist()
  redacted = [c for c in contents if "CONTACT" in c]
  assert len(redacted) == 1 and 'CONTACT = "<EMAIL>"' in redacted[0]
  assert 'password = "<PASSWORD>"' in redacted[0] and "jane.doe" not in redacted[0]
  pii = _ledger_by_row(output)[str(PLANTED["pii"])]["pii"]
  assert [p["type"] for p in pii] == ["email", "password"]
  # The Stack layout: the stack_* tasks read it as data_paths.stack_dir.
  assert sorted(shards.discover_stack(output)) == ["javascript", "python"]


@pytest.mark.slow
def test_ledger_reconciles_with_input_and_output_and_manifest_records_the_run(prepared, corpus):
  output, manifest = prepared
  table = ledger.read(output)
  assert table.num_rows == manifest["input"]["rows"] == 43 + 3
  written = {k: v["rows"] for k, v in manifest["output"]["shards"].items()}
  assert ledger.reconcile(table, manifest["input"]["rows"], written) == manifest["counts"]
  removed = sum(c.get("removed", 0) for c in manifest["counts"].values())
  assert manifest["output"]["rows"] == manifest["input"]["rows"] - removed
  for key in ("fingerprint", "rows"):
    assert manifest["input"][key] and manifest["output"][key]
  assert manifest["opt_out"]["sha256"] and manifest["config"]["near_dedup"]["bands"] == 25
  assert manifest["code_version"]["source_sha256"]
  report = open(os.path.join(output, "report.md")).read()
  for section in ("## By stage", "## By language", "## Near-duplicate clusters",
                  "## PII", "## Decontamination"):
    assert section in report
  assert os.path.isfile(os.path.join(output, "report", "lsh_detection.png"))


@pytest.mark.slow  # a second run, on the multi-process runner
def test_same_input_and_config_give_byte_identical_output(prepared, corpus, tmp_path):
  output, _ = prepared
  again = str(tmp_path / "again")
  temp = lambda: set(glob.glob(os.path.join(tempfile.gettempdir(), "beam-temp*")))  # noqa: E731
  before = temp()
  cli.prepare(corpus[0], again, corpus[1],
              ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
              progress=lambda *_: None)
  # the local runner: no Prism attempt, whose job server leaves a beam-temp* dir
  assert temp() - before == set()
  files = sorted(os.path.relpath(os.path.join(d, f), output)
                 for d, _, fs in os.walk(output) for f in fs)
  assert files == sorted(os.path.relpath(os.path.join(d, f), again)
                         for d, _, fs in os.walk(again) for f in fs)
  _, mismatch, errors = filecmp.cmpfiles(output, again, files, shallow=False)
  assert mismatch == [] and errors == []


@pytest.mark.slow
def test_rerun_into_the_same_output_does_nothing(prepared, corpus, monkeypatch):
  output, manifest = prepared
  monkeypatch.setattr(pipeline, "run", lambda *a, **k: pytest.fail("pipeline ran again"))
  assert cli.prepare(corpus[0], output, corpus[1], IN_MEMORY,
                     progress=lambda *_: None)["identity"] == manifest["identity"]


def test_missing_or_empty_input_is_an_error(tmp_path):
  with pytest.raises(DataError, match="--input=.*nowhere: no such directory"):
    cli.prepare(str(tmp_path / "nowhere"), str(tmp_path / "out"), None, IN_MEMORY)
  (tmp_path / "empty").mkdir()
  with pytest.raises(DataError, match="--input=.*empty.*no parquet shards"):
    cli.prepare(str(tmp_path / "empty"), str(tmp_path / "out"), None, IN_MEMORY)
  assert not (tmp_path / "out").exists()


def test_shard_without_content_or_corrupt_is_an_error_naming_the_file(tmp_path):
  root = tmp_path / "in"
  (root / "data" / "go").mkdir(parents=True)
  pq.write_table(pa.table({"text": ["package main"]}), str(root / "data/go/a.parquet"))
  with pytest.raises(DataError, match="a.parquet: no 'content' column"):
    cli.prepare(str(root), str(tmp_path / "out"), None, IN_MEMORY)
  os.remove(root / "data/go/a.parquet")
  (root / "data/go/b.parquet").write_bytes(b"PAR1 this is not parquet")
  with pytest.raises(DataError, match="b.parquet: not a readable parquet file"):
    cli.prepare(str(root), str(tmp_path / "out"), None, IN_MEMORY)
  assert not (tmp_path / "out").exists()


def test_unreadable_opt_out_list_is_an_error(corpus, tmp_path):
  with pytest.raises(DataError, match="--opt_out=.*absent.txt: cannot read it"):
    cli.prepare(corpus[0], str(tmp_path / "out"), str(tmp_path / "absent.txt"), IN_MEMORY)
  assert not (tmp_path / "out").exists()


def test_output_holding_other_data_is_refused_and_left_untouched(corpus, tmp_path):
  other = tmp_path / "other"
  other.mkdir()
  (other / "notes.txt").write_text("mine")
  with pytest.raises(DataError, match="--output=.*other: not empty .*notes.txt"):
    cli.prepare(corpus[0], str(other), None, IN_MEMORY)
  previous = tmp_path / "previous"
  previous.mkdir()
  (previous / commit.MANIFEST).write_text(json.dumps({"identity": "another run",
                                                      "input": {"fingerprint": "abc"}}))
  with pytest.raises(DataError, match="already holds another `data prepare` run"):
    cli.prepare(corpus[0], str(previous), None, IN_MEMORY)
  assert (other / "notes.txt").read_text() == "mine"
  assert json.loads((previous / commit.MANIFEST).read_text())["identity"] == "another run"


def test_an_interrupted_run_leaves_no_output(corpus, tmp_path, monkeypatch):
  output = tmp_path / "out"

  def interrupted(input_shards, staging, *args):
    with open(os.path.join(staging, "half-written.parquet"), "w") as f:
      f.write("partial")
    raise KeyboardInterrupt

  monkeypatch.setattr(pipeline, "run", interrupted)
  with pytest.raises(KeyboardInterrupt):
    cli.prepare(corpus[0], str(output), None, IN_MEMORY)
  assert not output.exists()  # only the hidden staging directory, which the next run clears
  assert os.path.isdir(commit.staging_dir(str(output)))


@pytest.mark.slow
def test_a_stack_task_trains_from_the_prepared_output(prepared, stack_tokenizer, tmp_path):
  from starjax.data import loader, tasks
  from tests.data.conftest import bind
  output, _ = prepared
  bind(f"data_paths.cache_dir='{tmp_path}'", f"data_paths.stack_dir='{output}'",
       f"data_paths.stack_tokenizer='{stack_tokenizer}'", "stack_splits.validation_fraction=0.2")
  assert "stack_python" in tasks.register_tasks()
  batch = next(loader.train_batches("stack_python", seq_len=64, batch_size=2))
  assert (batch["decoder_segment_ids"] > 0).sum() > 64


def _drop_a_ledger_row(staging):
  """What a runner that loses an element leaves: a ledger one row short."""
  path = sorted(glob.glob(os.path.join(staging, ledger.DIRECTORY, "*.parquet")))[0]
  table = pq.read_table(path)
  pq.write_table(table.slice(1), path)


def test_a_run_that_loses_elements_is_rerun_in_one_process_with_the_same_output(
    prepared, corpus, tmp_path, monkeypatch):
  output, _ = prepared
  real_run, calls, said = pipeline.run, [], []

  def losing_first_run(input_shards, staging, options, opt_out, strings, args):
    calls.append(list(args))
    # The real pipeline, in memory to keep the test short; the first run then loses a row.
    real_run(input_shards, staging, options, opt_out, strings,
             [a for a in args if "direct_" not in a] + IN_MEMORY)
    if len(calls) == 1:
      _drop_a_ledger_row(staging)

  monkeypatch.setattr(pipeline, "run", losing_first_run)
  again = str(tmp_path / "again")
  cli.prepare(corpus[0], again, corpus[1],
              ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
              progress=said.append)
  assert len(calls) == 2
  assert "--direct_running_mode=multi_processing" in calls[0]
  assert {"--direct_running_mode=in_memory", "--direct_num_workers=1"} <= set(calls[1])
  assert not any("multi_processing" in a or a == "--direct_num_workers=2" for a in calls[1])
  assert any(line.startswith("warning: Beam's local multi-process runner lost elements")
             and "ledger has" in line for line in said)
  files = sorted(os.path.relpath(os.path.join(d, f), output)
                 for d, _, fs in os.walk(output) for f in fs)
  _, mismatch, errors = filecmp.cmpfiles(output, again, files, shallow=False)
  assert mismatch == [] and errors == []


def test_lost_elements_on_a_runner_the_user_chose_fail_and_write_nothing(corpus, tmp_path,
                                                                         monkeypatch):
  real_run = pipeline.run

  def losing(input_shards, staging, *args):
    real_run(input_shards, staging, *args)
    _drop_a_ledger_row(staging)

  monkeypatch.setattr(pipeline, "run", losing)
  output = tmp_path / "out"
  with pytest.raises(DataError, match="ledger has .* the runner lost or repeated elements; "
                     "nothing was written to .*out. Run again"):
    cli.prepare(corpus[0], str(output), None, IN_MEMORY, progress=lambda *_: None)
  assert not output.exists()


def test_a_document_without_its_decision_in_the_pipeline_is_reported_as_lost(monkeypatch):
  def runner_failure(*args):
    raise RuntimeError("Pipeline failed: ... RuntimeError: near_dedup: document 73761 arrived 0 "
                       "times with 1 cluster decisions (expected once, with at most one) [while "
                       "running 'NearDedup/Apply']")

  monkeypatch.setattr(pipeline, "build", runner_failure)
  with pytest.raises(pipeline.LostElements,
                     match=r"^near_dedup: document 73761 arrived 0 times with 1 cluster"):
    pipeline.run([], "/nonexistent", None, None, [], IN_MEMORY)
