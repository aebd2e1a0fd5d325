import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from starjax.data import shards
from starjax.data.errors import DataError
from tests.data import samples


def test_folder_layout_gives_one_entry_per_language(stack_root):
  found = shards.discover_stack(str(stack_root))
  assert sorted(found) == ["c-sharp", "javascript", "python"]
  assert [os.path.basename(p) for p in found["python"]] == [
      "train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]


def test_lang_column_layout_is_read_from_the_column(tmp_path):
  rows = samples.stack_rows()
  pq.write_table(pa.Table.from_pylist(rows[:30]), tmp_path / "part-0.parquet")
  pq.write_table(pa.Table.from_pylist(rows[40:]), tmp_path / "part-1.parquet")
  found = shards.discover_stack(str(tmp_path), cache_dir=str(tmp_path / "cache"))
  assert {k: [os.path.basename(p) for p in v] for k, v in found.items()} == {
      "python": ["part-0.parquet"], "javascript": ["part-1.parquet"],
      "c-sharp": ["part-1.parquet"]}
  assert os.path.isfile(tmp_path / "cache" / "stack_languages.json")
  docs = [d for b in shards.iter_documents(str(tmp_path / "part-1.parquet"), language="c-sharp")
          for d in b.content]
  assert len(docs) == 12 and all(d.startswith(b"public class C") for d in docs)


def test_a_missing_directory_names_the_flag(tmp_path):
  with pytest.raises(DataError, match="data_paths.stack_dir=.*no such directory"):
    shards.discover_stack(str(tmp_path / "missing"))


def test_an_empty_directory_is_an_error(tmp_path):
  (tmp_path / "data" / "python").mkdir(parents=True)
  with pytest.raises(DataError, match="no parquet shards found"):
    shards.discover_stack(str(tmp_path))


def test_a_shard_without_content_names_the_file_and_its_columns(tmp_path):
  path = tmp_path / "bad.parquet"
  pq.write_table(pa.table({"text": ["x = 1"]}), path)
  with pytest.raises(DataError, match=r"bad.parquet: no 'content' column \(columns: text\)"):
    shards.open_shard(str(path))


def test_a_corrupt_shard_names_the_file(tmp_path):
  path = tmp_path / "broken.parquet"
  path.write_bytes(b"PAR1 this is not parquet at all")
  with pytest.raises(DataError, match="broken.parquet: not a readable parquet file"):
    shards.open_shard(str(path))


def test_bad_rows_are_skipped_and_counted(tmp_path):
  path = tmp_path / "mixed.parquet"
  contents = [b"ok = 1\n", "caf\xe9".encode("latin-1"), None, b"   ", b"fine = 2\n"]
  pq.write_table(pa.table({"content": pa.array(contents, pa.binary()),
                           "max_stars_repo_name": ["r"] * 5,
                           "max_stars_repo_path": [f"{i}.py" for i in range(5)],
                           "max_stars_count": [1, 2, 3, 4, None]}), path)
  batches = list(shards.iter_documents(str(path)))
  assert [c for b in batches for c in b.content] == [b"ok = 1\n", b"fine = 2\n"]
  assert [s for b in batches for s in b.stars] == [1, -1]  # unknown stars are -1
  assert shards.skipped_summary([str(path)]) == {"non_utf8": 1, "empty_content": 2}


def test_the_split_key_is_stable_and_uniform():
  keys = [shards.split_key(f"org/repo{i}", "main.py") for i in range(4000)]
  assert keys == [shards.split_key(f"org/repo{i}", "main.py") for i in range(4000)]
  assert 0.08 < sum(k < 0.1 for k in keys) / len(keys) < 0.12
