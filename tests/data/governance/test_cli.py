"""`run.py data index|member|search`: output formats, exit codes, bad input."""

import contextlib
import io
import json
import os
import shutil

import pytest

from starjax.data import cli
from starjax.data.governance import fingerprint, index_build, index_dir, membership
from tests.data.governance.corpus import DISTINCTIVE, corpus_rows, write_root


def run(*argv):
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    status = cli.main("data", list(argv))
  return status, out.getvalue(), err.getvalue()


def test_member_json(governance_index, governance_rows):
  content = governance_rows["python"][5]["content"]
  text = "zzzz unrelated zzzz\n" + content[:400]
  status, out, _ = run("member", f"--index={governance_index[0]}", f"--text={text}", "--json")
  assert status == 0
  answer = json.loads(out)
  assert set(answer) == {"spans", "coverage"}
  assert answer["spans"] and all(set(s) == {"start", "end"} for s in answer["spans"])
  assert 0.5 < answer["coverage"] <= 1.0
  assert answer["spans"][0]["start"] >= 20


def test_search_json_lines(governance_index):
  status, out, _ = run("search", f"--index={governance_index[0]}", f'--query="{DISTINCTIVE}"',
                       "--top=3", "--json")
  assert status == 0
  lines = [json.loads(line) for line in out.splitlines()]
  assert set(lines[0]) == {"rank", "repo", "path", "license", "language", "score", "snippet"}
  assert lines[0]["rank"] == 1 and lines[0]["path"] == "src/module_7.py"
  assert lines[0]["language"] == "python"


def test_search_text_output(governance_index):
  status, out, _ = run("search", f"--index={governance_index[0]}", "--query=quokka")
  assert status == 0 and out.startswith("1. owner7/python-project-7/src/module_7.py")


def test_manifest_records_fingerprint_sizes_rate_and_time(governance_index, governance_root,
                                                          governance_rows):
  _, manifest = governance_index
  assert manifest["data_fingerprint"] == fingerprint.data_fingerprint(str(governance_root))
  assert manifest["num_documents"] == sum(len(r) for r in governance_rows.values())
  assert manifest["num_chunks"] == sum(membership.num_chunks(row["content"])
                                       for rows in governance_rows.values() for row in rows)
  assert manifest["languages"]["python"]["documents"] == len(governance_rows["python"])
  spec = manifest["filter"]
  assert spec["target_fp_rate"] == 0.001 and 0 <= spec["measured_fp_rate"] <= 0.001
  assert spec["bytes"] > 0 and manifest["search"]["bytes"] > 0
  assert manifest["build_seconds"] > 0


def test_fingerprint_changes_with_the_data(tmp_path, governance_root):
  copy = tmp_path / "copy"
  shutil.copytree(governance_root, copy)
  assert fingerprint.data_fingerprint(str(copy)) == fingerprint.data_fingerprint(
      str(governance_root))
  (copy / "data" / "python" / "train-00001-of-00002.parquet").unlink()
  assert fingerprint.data_fingerprint(str(copy)) != fingerprint.data_fingerprint(
      str(governance_root))


def test_index_cli_rebuilds_in_place_and_takes_beam_options(tmp_path):
  root = write_root(tmp_path / "root", corpus_rows(seed=5, per_language=6), shards=1)
  output = tmp_path / "index"
  for _ in range(2):
    status, out, err = run("index", f"--input={root}", f"--output={output}",
                           "--gin.index_options.false_positive_rate=0.01",
                           "--gin.index_options.fp_samples=20000", "--direct_num_workers=1")
    assert status == 0, err
    assert "12 documents" in out
  manifest = index_dir.read_manifest(str(output))
  assert manifest["filter"]["target_fp_rate"] == 0.01
  assert "--direct_num_workers=1" in manifest["beam_options"]
  assert sorted(os.listdir(output)) == ["manifest.json", "membership.npy",
                                        "search-00000-of-00001.sqlite"]
  assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p or ".old-" in p]


def test_index_refuses_an_output_that_is_not_an_index(tmp_path, governance_root):
  output = tmp_path / "precious"
  output.mkdir()
  (output / "notes.txt").write_text("keep me")
  status, _, err = run("index", f"--input={governance_root}", f"--output={output}")
  assert status == 1 and "not a governance index" in err
  assert (output / "notes.txt").read_text() == "keep me"


def test_index_of_a_missing_input_is_an_error(tmp_path):
  status, _, err = run("index", f"--input={tmp_path / 'nothing'}", f"--output={tmp_path / 'i'}")
  assert status == 1 and "no such directory" in err


@pytest.mark.parametrize("damage", ["no_manifest", "bad_manifest", "no_filter", "bad_filter",
                                    "no_search", "bad_search"])
def test_missing_or_corrupt_index_files_are_clear_errors(tmp_path, governance_index, damage):
  broken = tmp_path / "broken"
  shutil.copytree(governance_index[0], broken)
  search = broken / "search-00000-of-00001.sqlite"
  if damage == "no_manifest":
    (broken / "manifest.json").unlink()
  elif damage == "bad_manifest":
    (broken / "manifest.json").write_text("{not json")
  elif damage == "no_filter":
    (broken / "membership.npy").unlink()
  elif damage == "bad_filter":
    data = (broken / "membership.npy").read_bytes()
    (broken / "membership.npy").write_bytes(data[:len(data) // 2])
  elif damage == "no_search":
    search.unlink()
  else:
    search.write_bytes(b"this is not a database" * 100)
  status, _, err = run("member", f"--index={broken}", "--text=hello world")
  assert status == 1
  assert str(broken) in err and "rebuild" in err
  assert "Traceback" not in err


def test_member_needs_text_or_file(governance_index):
  with pytest.raises(SystemExit) as e:
    run("member", f"--index={governance_index[0]}")
  assert e.value.code == 2


def test_local_corpus_is_a_stack_root(local_build, tmp_path):
  """The layout build-local writes (data/<language>/, a `license` column) indexes as is."""
  from starjax.data import local_corpus
  cache, _ = local_build
  corpus = local_corpus.corpus_dir(str(cache))
  manifest = index_build.build_index(corpus, str(tmp_path / "index"),
                                     index_build.index_options(fp_samples=20_000))
  assert manifest["num_documents"] > 0
  index = index_dir.open_index(str(tmp_path / "index"))
  hits = index.search.search("def", top=3)
  assert hits and all(h.license for h in hits)
