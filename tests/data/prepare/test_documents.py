"""Reading Stack-format input: layouts, document ids and indices, unusable rows, writing back."""

import os

import pyarrow as pa
import pytest
import pyarrow.parquet as pq

from starjax.data.errors import DataError
from starjax.data.prepare import documents


def _write(path, rows, **kwargs):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  pq.write_table(pa.Table.from_pylist(rows), path, **kwargs)


def test_folder_and_lang_column_layouts_give_each_row_its_language_and_a_global_index(tmp_path):
  _write(str(tmp_path / "b.parquet"), [{"content": "x = 1", "lang": "python"},
                                        {"content": "let x = 1;", "lang": "rust"}])
  _write(str(tmp_path / "a.parquet"), [{"content": "int x;", "lang": "c"}])
  shards = documents.discover(str(tmp_path))
  assert [(s.relative, s.language, s.first_index) for s in shards] == [
      ("a.parquet", None, 0), ("b.parquet", None, 1)]
  docs = [d for s in shards for g in range(s.row_groups) for d in documents.read_row_group(s, g)]
  assert [(d["doc_index"], d["doc_id"], d["language"]) for d in docs] == [
      (0, "a.parquet#0", "c"), (1, "b.parquet#0", "python"), (2, "b.parquet#1", "rust")]


def test_row_groups_continue_the_index_and_unusable_rows_are_flagged(tmp_path):
  rows = [{"content": c} for c in ["a = 1", None, "", "b = 2", "c = 3"]]
  _write(str(tmp_path / "data" / "go" / "s.parquet"), rows, row_group_size=2)
  (shard,) = documents.discover(str(tmp_path))
  assert shard.language == "go" and shard.row_groups == 3
  docs = [d for g in range(3) for d in documents.read_row_group(shard, g)]
  assert [d["doc_index"] for d in docs] == [0, 1, 2, 3, 4]
  assert [d["skip"] for d in docs] == [None, "empty_content", "empty_content", None, None]


def test_written_shards_keep_the_schema_and_order_and_take_the_new_content(tmp_path):
  rows = [{"content": f"v = {i}", "max_stars_repo_name": f"o/r{i}", "extra": i} for i in range(4)]
  _write(str(tmp_path / "in" / "data" / "py" / "a.parquet"), [{"content": "x", "extra": 0}])
  _write(str(tmp_path / "in" / "data" / "py" / "s.parquet"), rows)
  shard = documents.discover(str(tmp_path / "in"))[1]
  assert shard.first_index == 1
  out = str(tmp_path / "out.parquet")
  count, _ = documents.write_kept(shard, [(3, "v = <KEY>"), (1, None)], out)
  table = pq.read_table(out)
  assert count == 2 and table.schema == pq.read_table(shard.path).schema
  assert table.to_pylist() == [rows[0], dict(rows[2], content="v = <KEY>")]


def test_binary_content_is_written_back_as_bytes(tmp_path):
  rows = [{"content": b"token = 'abc'", "n": 1}, {"content": b"y = 2", "n": 2}]
  _write(str(tmp_path / "in" / "data" / "py" / "s.parquet"), rows)
  (shard,) = documents.discover(str(tmp_path / "in"))
  out = str(tmp_path / "out.parquet")
  documents.write_kept(shard, [(0, "token = '<KEY>'"), (1, None)], out)
  assert pq.read_table(out).to_pylist() == [{"content": b"token = '<KEY>'", "n": 1}, rows[1]]


def test_a_shard_changed_during_the_run_is_not_written(tmp_path):
  rows = [{"content": "v = 1"}, {"content": "v = 2"}]
  _write(str(tmp_path / "in" / "data" / "py" / "s.parquet"), rows)
  (shard,) = documents.discover(str(tmp_path / "in"))
  _write(shard.path, rows[:1])
  out = tmp_path / "out.parquet"
  with pytest.raises(DataError, match="s.parquet: the file changed while `data prepare` ran"):
    documents.write_kept(shard, [(0, None)], str(out))
  assert not out.exists()
