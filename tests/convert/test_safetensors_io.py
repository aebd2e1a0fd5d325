"""The safetensors reader and writer against the reference `safetensors` library."""

import json
import os

import ml_dtypes
import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from starjax.convert import safetensors_io as st
from starjax.convert.errors import ConversionError


@pytest.fixture
def reference_file(tmp_path):
  """A file written by the safetensors library: a bfloat16 matrix and a float32 vector."""
  torch.manual_seed(0)
  tensors = {"w": torch.randn(6, 10).to(torch.bfloat16), "b": torch.arange(7.0)}
  path = str(tmp_path / "model.safetensors")
  save_file(tensors, path, metadata={"format": "pt"})
  return path, {k: v.float().numpy() for k, v in tensors.items()}


def test_reads_bfloat16_and_float32_bitwise_and_any_row_column_region(reference_file):
  path, expected = reference_file
  checkpoint = st.Checkpoint.open(os.path.dirname(path))
  w = checkpoint.read("w")
  assert w.dtype == ml_dtypes.bfloat16 and w.shape == (6, 10)
  np.testing.assert_array_equal(w.astype(np.float32), expected["w"])
  np.testing.assert_array_equal(checkpoint.read("w", slice(2, 5), slice(3, 8)).astype(np.float32),
                                expected["w"][2:5, 3:8])
  np.testing.assert_array_equal(checkpoint.read("b", slice(1, 4)), expected["b"][1:4])


def test_written_file_is_read_by_the_safetensors_library(tmp_path):
  arrays = {"a": np.arange(12, dtype=np.float32).reshape(3, 4),
            "b": (np.arange(5) / 3).astype(ml_dtypes.bfloat16)}
  specs = [st.TensorSpec(k, v.dtype, v.shape) for k, v in arrays.items()]
  st.write_file(str(tmp_path / "x.safetensors"), specs, lambda spec: arrays[spec.name])
  with safe_open(str(tmp_path / "x.safetensors"), "pt") as f:
    assert f.metadata() == {"format": "pt"}
    np.testing.assert_array_equal(f.get_tensor("a").numpy(), arrays["a"])
    assert f.get_tensor("b").dtype == torch.bfloat16
    np.testing.assert_array_equal(f.get_tensor("b").float().numpy(),
                                  arrays["b"].astype(np.float32))


def test_shards_stay_under_the_limit_and_a_larger_tensor_gets_its_own():
  specs = [st.TensorSpec(str(i), np.float32, (n,)) for i, n in enumerate([10, 10, 30, 10, 5])]
  shards = st.plan_shards(specs, max_shard_size=80)  # bytes: 40 40 120 40 20
  assert [[s.name for s in shard] for shard in shards] == [["0", "1"], ["2"], ["3", "4"]]


def test_sharded_checkpoint_writes_an_index_and_reads_back(tmp_path):
  arrays = {f"t{i}": np.full((4, 4), i, np.float32) for i in range(5)}
  specs = [st.TensorSpec(k, np.float32, (4, 4)) for k in arrays]
  files = st.write_checkpoint(str(tmp_path), specs, lambda s: arrays[s.name], "100B")
  assert files[-1] == st.INDEX_FILE and len(files) == 6
  with open(tmp_path / st.INDEX_FILE) as f:
    index = json.load(f)
  assert index["metadata"]["total_size"] == 5 * 64
  checkpoint = st.Checkpoint.open(str(tmp_path))
  for name, value in arrays.items():
    np.testing.assert_array_equal(checkpoint.read(name), value)


@pytest.mark.parametrize("text,expected", [("5GB", 5 * 10**9), ("500MiB", 500 * 2**20),
                                           ("10KB", 10_000), (1234, 1234), ("77", 77)])
def test_shard_size_spellings(text, expected):
  assert st.parse_size(text) == expected


def test_truncated_file_names_the_file_and_the_cut_tensor(reference_file):
  path, _ = reference_file
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) - 3)
  with pytest.raises(ConversionError, match=f"{path} is truncated: tensor w"):
    st.Checkpoint.open(os.path.dirname(path))


def test_file_cut_inside_its_header_is_reported(reference_file):
  path, _ = reference_file
  with open(path, "r+b") as f:
    f.truncate(20)
  with pytest.raises(ConversionError, match="truncated or not safetensors"):
    st.read_header(path)


def test_directory_with_only_pytorch_bin_weights_says_how_to_convert(tmp_path):
  (tmp_path / "pytorch_model.bin").write_bytes(b"")
  with pytest.raises(ConversionError, match="pytorch_model.bin.*save_pretrained"):
    st.Checkpoint.open(str(tmp_path))


def test_index_naming_a_missing_shard_names_it(tmp_path):
  with open(tmp_path / st.INDEX_FILE, "w") as f:
    json.dump({"weight_map": {"x": "model-00001-of-00002.safetensors"}}, f)
  with pytest.raises(ConversionError, match="model-00001-of-00002.safetensors is missing"):
    st.Checkpoint.open(str(tmp_path))
