"""Hostile and malformed model files: crafted safetensors headers, config.json with absurd sizes,
shard indexes that point elsewhere, corrupt tokenizer.json. Each is refused with an error naming
the file, quickly and before any large allocation; a fuzz test drives the safetensors reader
with random bytes and with random damage to a valid file."""

from __future__ import annotations

import json
import os
import random
import struct
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from starjax.convert import hf, safetensors_io
from starjax.convert.errors import ConversionError
from starjax.data.errors import DataError
from starjax.data.tokenizer import load_tokenizer
from tests.convert.conftest import copy_dir


def craft(path, header, data: bytes = b"", header_len: int | None = None) -> str:
  """A safetensors file with this header (a dict, or raw bytes) and data."""
  raw = header if isinstance(header, bytes) else json.dumps(header).encode()
  with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(raw) if header_len is None else header_len) + raw + data)
  return str(path)


def entry(begin, end, shape=(2,), dtype="F32"):
  return {"dtype": dtype, "shape": list(shape), "data_offsets": [begin, end]}


@pytest.mark.parametrize("header, data, header_len, message", [
    ({"a": entry(0, 8)}, b"\0" * 8, 1 << 20, "header length 1048576 does not fit"),
    ({"a": entry(0, 8)}, b"\0" * 8, 1 << 60, "header length 1152921504606846976 does not fit"),
    (b"[1, 2, 3]", b"", None, "header is a JSON list"),
    (b"{\"a\": ", b"", None, "not valid JSON"),
    (b"\xff\xfe{}", b"", None, "not valid JSON"),
    ({"a": [0, 8]}, b"\0" * 8, None, "tensor a: its header entry is not an object"),
    ({"a": entry(0, 8), "b": entry(4, 12)}, b"\0" * 12, None, "tensors a and b overlap"),
    ({"a": entry(0, 8 << 40, shape=(1 << 40,), dtype="I64")}, b"\0" * 8, None,
     "is truncated: tensor a ends at byte"),
    ({"a": entry(8, 0)}, b"\0" * 8, None, "begin <= end"),
    ({"a": entry(-8, 0)}, b"\0" * 8, None, "expected non-negative integers"),
    ({"a": entry(0, 8, shape=(-2, -1))}, b"\0" * 8, None, "expected non-negative integers"),
    ({"a": entry(0, 8, shape=(2.5,))}, b"\0" * 8, None, "expected non-negative integers"),
    ({"a": entry(0, 8, shape=(True, 2))}, b"\0" * 8, None, "expected non-negative integers"),
    ({"a": {"dtype": "F32", "shape": [2]}}, b"\0" * 8, None, "expected non-negative integers"),
    ({"a": entry(0, 8, dtype="F8_E4M3")}, b"\0" * 8, None, "dtype 'F8_E4M3'"),
    ({"a": entry(0, 8, dtype=["F32"])}, b"\0" * 8, None, "dtype ['F32']"),
    ({"a": entry(0, 12)}, b"\0" * 12, None, "spans 12 bytes but shape (2,)"),
])
def test_crafted_safetensors_header_is_refused_naming_the_file(tmp_path, header, data,
                                                               header_len, message):
  path = craft(tmp_path / "model.safetensors", header, data, header_len)
  start = time.monotonic()
  with pytest.raises(ConversionError, match=f"^{path}") as raised:
    safetensors_io.read_header(path)
  assert message in str(raised.value)
  assert time.monotonic() - start < 1.0  # refused at once: nothing large was allocated


def test_shard_index_that_points_outside_its_directory_is_refused(tmp_path):
  craft(tmp_path / "shard.safetensors", {"a": entry(0, 8)}, b"\0" * 8)
  for target in ("../shard.safetensors", "/etc/passwd", "", "sub/shard.safetensors"):
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": target}}))
    with pytest.raises(ConversionError, match="weight_map must map tensor names to shard file"):
      safetensors_io.Checkpoint.open(str(tmp_path))
  (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": ["a"]}))
  with pytest.raises(ConversionError, match="model.safetensors.index.json: weight_map"):
    safetensors_io.Checkpoint.open(str(tmp_path))


@pytest.fixture
def broken(hf_dirs, tmp_path):
  """A private copy of the MQA model's directory, to damage."""
  return copy_dir(hf_dirs["gpt_bigcode_mqa"][0], str(tmp_path / "hf"))


def edit_config(path, **changes):
  config_path = os.path.join(path, "config.json")
  with open(config_path) as f:
    config = json.load(f)
  config.update(changes)
  with open(config_path, "w") as f:
    json.dump(config, f)
  return config_path


@pytest.mark.parametrize("changes, message", [
    ({"n_layer": 10 ** 12}, "num_layers=1000000000000 is out of range"),
    ({"n_embd": 1 << 40, "n_head": 1}, "hidden_size=1099511627776 is out of range"),
    ({"vocab_size": 0}, "vocab_size=0 is out of range"),
    ({"n_positions": -1}, "max_seq_len=-1 is out of range"),
    ({"n_embd": "64; rm -rf /"}, "not a number of the right kind"),
    ({"n_head": 0}, "not a number of the right kind"),
    ({"n_layer": [2]}, "not a number of the right kind"),
])
def test_config_with_absurd_sizes_is_refused_before_any_allocation(broken, changes, message):
  config_path = edit_config(broken, **changes)
  start = time.monotonic()
  with pytest.raises(ConversionError, match=f"^{config_path}") as raised:
    hf.load_pretrained(broken)
  assert message in str(raised.value)
  assert time.monotonic() - start < 5.0


def test_tensor_of_integer_dtype_is_refused(broken):
  from safetensors.numpy import load_file, save_file  # pylint: disable=import-outside-toplevel
  weights = os.path.join(broken, "model.safetensors")
  tensors = load_file(weights)
  tensors["transformer.ln_f.weight"] = tensors["transformer.ln_f.weight"].astype(np.int32)
  save_file(tensors, weights, metadata={"format": "pt"})
  with pytest.raises(ConversionError, match="transformer.ln_f.weight has dtype int32"):
    hf.load_pretrained(broken)


@pytest.mark.parametrize("content", [
    b"", b"{", b"\xff\xfe\x00garbage", b"[]", b'{"model": {"type": "BPE", "vocab": 5}}',
    json.dumps({"version": "1.0", "model": {"type": "Unknown"}}).encode(),
])
def test_corrupt_tokenizer_json_is_a_clear_error(tmp_path, content):
  path = tmp_path / "tokenizer.json"
  path.write_bytes(content)
  with pytest.raises(DataError, match=f"{path}: not a valid tokenizers JSON file"):
    load_tokenizer(str(path))


def test_tokenizer_with_other_special_token_ids_is_refused(tmp_path):
  import tokenizers  # pylint: disable=import-outside-toplevel
  tokenizer = tokenizers.Tokenizer(tokenizers.models.BPE())
  tokenizer.add_special_tokens(["<fim_prefix>", "<|endoftext|>"])  # ids swapped
  path = str(tmp_path / "tokenizer.json")
  tokenizer.save(path)
  with pytest.raises(DataError, match="special token"):
    load_tokenizer(path)


# --- fuzz ---------------------------------------------------------------------------------------

def _valid_file_bytes() -> bytes:
  header = {"a": entry(0, 24, shape=(2, 3)), "b": entry(24, 28, shape=(2,), dtype="BF16"),
            "__metadata__": {"format": "pt"}}
  raw = json.dumps(header).encode()
  return struct.pack("<Q", len(raw)) + raw + bytes(range(28))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(
    st.binary(max_size=300),
    st.builds(lambda n, rest: struct.pack("<Q", n) + rest,
              st.integers(0, 2 ** 64 - 1), st.binary(max_size=200)),
    st.builds(lambda header: struct.pack("<Q", len(header)) + header + b"\0" * 64,
              st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(
                               st.sampled_from(["a", "dtype", "shape", "data_offsets",
                                                "__metadata__"]), c, max_size=4),
                           max_leaves=10).map(lambda h: json.dumps(h).encode()))))
def test_fuzz_the_safetensors_reader_only_raises_conversion_errors(tmp_path, data):
  path = tmp_path / "model.safetensors"
  path.write_bytes(data)
  try:
    tensors = safetensors_io.read_header(str(path))
  except ConversionError as e:
    assert str(path) in str(e)
    return
  checkpoint = safetensors_io.Checkpoint(tensors, [str(path)])
  for name, info in tensors.items():
    assert info.start + info.nbytes <= len(data)
    if info.nbytes <= 1 << 16:
      assert checkpoint.read(name).shape == info.shape


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2 ** 32 - 1), flips=st.integers(1, 8), cut=st.booleans())
def test_fuzz_damaged_safetensors_files_are_read_or_refused(tmp_path, seed, flips, cut):
  rng = random.Random(seed)
  data = bytearray(_valid_file_bytes())
  for _ in range(flips):
    data[rng.randrange(len(data))] = rng.randrange(256)
  if cut:
    del data[rng.randrange(len(data)):]
  path = tmp_path / "model.safetensors"
  path.write_bytes(bytes(data))
  try:
    tensors = safetensors_io.read_header(str(path))
  except ConversionError as e:
    assert str(path) in str(e)
    return
  checkpoint = safetensors_io.Checkpoint(tensors, [str(path)])
  for name, info in tensors.items():
    assert info.start + info.nbytes <= len(data)
    assert checkpoint.read(name).shape == info.shape
