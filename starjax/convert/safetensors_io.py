"""Reading and writing safetensors checkpoints tensor by tensor, never the whole model at once.

A safetensors file is an 8-byte little-endian header length, a JSON header
`{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`, then the raw
row-major bytes. Reading it directly (rather than through a framework) lets a caller fetch
just the rows and columns one device's shard needs, gives bfloat16 through ml_dtypes (numpy has
no bfloat16 of its own), and lets every error name the file and tensor. Large models come as
shards listed in `model.safetensors.index.json` (`weight_map`: tensor name → file).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import struct
from typing import Callable, Sequence

import ml_dtypes
import numpy as np

from starjax.convert.errors import ConversionError

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
DTYPES = {
    "F64": np.dtype(np.float64), "F32": np.dtype(np.float32), "F16": np.dtype(np.float16),
    "BF16": np.dtype(ml_dtypes.bfloat16), "I64": np.dtype(np.int64),
    "I32": np.dtype(np.int32), "I16": np.dtype(np.int16), "I8": np.dtype(np.int8),
    "U8": np.dtype(np.uint8), "BOOL": np.dtype(np.bool_),
}
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}
# A header larger than this is not a safetensors header (the format caps it at 100 MB).
MAX_HEADER_BYTES = 100_000_000


@dataclasses.dataclass(frozen=True)
class TensorInfo:
  """Where one tensor's bytes are: `file`, from absolute byte `start`, row-major."""
  name: str
  file: str
  dtype: np.dtype
  shape: tuple[int, ...]
  start: int

  @property
  def nbytes(self) -> int:
    return math.prod(self.shape) * self.dtype.itemsize


def read_header(path: str) -> dict[str, TensorInfo]:
  """The tensors of one safetensors file, checked against the file's size (truncation)."""
  try:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
      prefix = f.read(8)
      if len(prefix) < 8:
        raise ConversionError(f"{path} is truncated ({size} bytes): not even a safetensors "
                              f"header length is there. Re-download or re-save the file.")
      (header_len,) = struct.unpack("<Q", prefix)
      if header_len > MAX_HEADER_BYTES or 8 + header_len > size:
        raise ConversionError(
            f"{path}: header length {header_len} does not fit the file's {size} bytes; the "
            f"file is truncated or not safetensors. Re-download or re-save it.")
      header = json.loads(f.read(header_len))
  except OSError as e:
    raise ConversionError(f"{path}: cannot read ({e})") from e
  except (ValueError, UnicodeDecodeError) as e:
    raise ConversionError(f"{path}: the safetensors header is not valid JSON ({e}); the file "
                          f"is corrupt") from e
  data_start = 8 + header_len
  if not isinstance(header, dict):
    raise ConversionError(f"{path}: the safetensors header is a JSON {type(header).__name__}, "
                          "not an object of tensors; the file is corrupt")
  tensors = {}
  spans = []
  for name, entry in header.items():
    if name == "__metadata__":
      continue
    if not isinstance(entry, dict):
      raise ConversionError(f"{path}: tensor {name}: its header entry is not an object; the "
                            "file is corrupt")
    dtype = DTYPES.get(entry.get("dtype")) if isinstance(entry.get("dtype"), str) else None
    if dtype is None:
      raise ConversionError(f"{path}: tensor {name} has dtype {entry.get('dtype')!r}, which "
                            f"starjax does not read ({', '.join(DTYPES)})")
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if (not isinstance(shape, list) or not all(_is_count(d) for d in shape) or
        not isinstance(offsets, list) or len(offsets) != 2 or
        not all(_is_count(x) for x in offsets) or offsets[0] > offsets[1]):
      raise ConversionError(f"{path}: tensor {name} has shape {shape!r} and data_offsets "
                            f"{offsets!r}; expected non-negative integers and [begin, end] "
                            "with begin <= end. The file is corrupt")
    shape = tuple(shape)
    begin, end = offsets
    spans.append((begin, end, name))
    info = TensorInfo(name, path, dtype, shape, data_start + begin)
    if end - begin != info.nbytes:
      raise ConversionError(f"{path}: tensor {name} spans {end - begin} bytes but shape "
                            f"{shape} × {entry['dtype']} needs {info.nbytes}; the file is corrupt")
    if data_start + end > size:
      raise ConversionError(
          f"{path} is truncated: tensor {name} ends at byte {data_start + end} but the file "
          f"has {size} bytes. Re-download or re-save the checkpoint.")
    tensors[name] = info
  spans.sort()
  for (_, end, first), (begin, _, second) in zip(spans, spans[1:]):
    if begin < end:
      raise ConversionError(f"{path}: tensors {first} and {second} overlap (bytes {begin}.."
                            f"{end} of the data); the file is corrupt or crafted")
  return tensors


def _is_count(value) -> bool:
  return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class Checkpoint:
  """All tensors of a Hugging Face model directory: `model.safetensors` or the shards of
  `model.safetensors.index.json`. Only headers are read on opening."""

  def __init__(self, tensors: dict[str, TensorInfo], files: Sequence[str]):
    self.tensors = tensors
    self.files = list(files)

  @classmethod
  def open(cls, hf_dir: str) -> "Checkpoint":
    single = os.path.join(hf_dir, SINGLE_FILE)
    index = os.path.join(hf_dir, INDEX_FILE)
    if os.path.isfile(single):
      return cls(read_header(single), [single])
    if os.path.isfile(index):
      return cls.open_index(index)
    others = sorted(f for f in os.listdir(hf_dir) if f.endswith((".bin", ".pt", ".pth", ".h5")))
    hint = (f" It has {', '.join(others)}: load it with transformers and save_pretrained() it "
            f"again, which writes safetensors." if others else "")
    raise ConversionError(f"{hf_dir} has neither {SINGLE_FILE} nor {INDEX_FILE}.{hint}")

  @classmethod
  def open_index(cls, index_path: str) -> "Checkpoint":
    try:
      with open(index_path) as f:
        weight_map = json.load(f)["weight_map"]
    except (OSError, ValueError, KeyError, TypeError) as e:
      raise ConversionError(f"{index_path}: not a safetensors index with a weight_map "
                            f"({e})") from e
    if not isinstance(weight_map, dict) or not all(
        isinstance(v, str) and v and os.path.basename(v) == v and v not in (".", "..")
        for v in weight_map.values()):
      raise ConversionError(f"{index_path}: weight_map must map tensor names to shard file "
                            "names in the same directory (no paths)")
    directory = os.path.dirname(index_path)
    tensors: dict[str, TensorInfo] = {}
    files = []
    for file_name in sorted(set(weight_map.values())):
      path = os.path.join(directory, file_name)
      if not os.path.isfile(path):
        holds = sorted(k for k, v in weight_map.items() if v == file_name)
        raise ConversionError(f"{path} is missing: {index_path} lists it for "
                              f"{len(holds)} tensors ({', '.join(holds[:3])}, ...)")
      files.append(path)
      tensors.update(read_header(path))
    for name, file_name in weight_map.items():
      info = tensors.get(name)
      if info is None or os.path.basename(info.file) != file_name:
        raise ConversionError(f"{index_path} says tensor {name} is in {file_name}, but that "
                              f"file's header does not list it")
    return cls(tensors, files)

  def __contains__(self, name: str) -> bool:
    return name in self.tensors

  def info(self, name: str) -> TensorInfo:
    return self.tensors[name]

  def read(self, name: str, rows: slice | None = None, cols: slice | None = None) -> np.ndarray:
    """Rows `rows` (and, for 2-D tensors, columns `cols`) of tensor `name`, as a fresh array.

    Contiguous row ranges are read with one file read; a column range is read through a
    short-lived memory map, so only the bytes it covers are touched, and the map is released
    before returning (its pages do not stay in this process's memory).
    """
    info = self.tensors[name]
    rows = rows or slice(None)
    start, stop, _ = rows.indices(info.shape[0]) if info.shape else (0, 1, 1)
    inner = info.shape[1:]
    row_bytes = math.prod(inner) * info.dtype.itemsize
    count = max(stop - start, 0)
    offset = info.start + start * row_bytes
    try:
      if count == 0 or row_bytes == 0:
        empty = np.zeros((count, *inner), info.dtype)
        return empty if cols is None else empty[:, cols]
      if cols is None or cols == slice(None):
        flat = np.fromfile(info.file, dtype=info.dtype, count=count * math.prod(inner),
                           offset=offset)
        if flat.size != count * math.prod(inner):
          raise ConversionError(f"{info.file}: tensor {name} is cut short (file truncated "
                                f"while reading)")
        return flat.reshape((count, *inner)) if info.shape else flat.reshape(())
      mapped = np.memmap(info.file, dtype=info.dtype, mode="r", offset=offset,
                         shape=(count, *inner))
      block = np.array(mapped[:, cols])
      del mapped
      return block
    except OSError as e:
      raise ConversionError(f"{info.file}: cannot read tensor {name} ({e})") from e


@dataclasses.dataclass(frozen=True)
class TensorSpec:
  """A tensor to be written: its name, dtype and shape."""
  name: str
  dtype: np.dtype
  shape: tuple[int, ...]

  @property
  def nbytes(self) -> int:
    return math.prod(self.shape) * np.dtype(self.dtype).itemsize


def parse_size(size: int | str) -> int:
  """Bytes from an int or transformers' spelling: '5GB' (10^9), '500MiB' (2^20), '10KB'."""
  if isinstance(size, int):
    return size
  match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?\s*", str(size), re.IGNORECASE)
  if not match:
    raise ConversionError(f"max_shard_size={size!r}: use bytes or a size like '5GB', '500MiB'")
  number, unit, binary = match.groups()
  power = "KMGT".find(unit.upper()) + 1 if unit else 0
  return int(float(number) * ((1024 if binary else 1000) ** power))


def plan_shards(specs: Sequence[TensorSpec], max_shard_size: int) -> list[list[TensorSpec]]:
  """Groups tensors, in order, into shards of at most max_shard_size bytes (a bigger tensor
  gets a shard of its own, as transformers does)."""
  shards: list[list[TensorSpec]] = []
  size = 0
  for spec in specs:
    if not shards or (size + spec.nbytes > max_shard_size and shards[-1]):
      shards.append([])
      size = 0
    shards[-1].append(spec)
    size += spec.nbytes
  return shards


def write_file(path: str, specs: Sequence[TensorSpec],
               produce: Callable[[TensorSpec], np.ndarray]) -> None:
  """Writes one safetensors file; `produce(spec)` is called once per tensor, in order, so only
  one tensor is in memory at a time."""
  header: dict = {"__metadata__": {"format": "pt"}}
  offset = 0
  for spec in specs:
    header[spec.name] = {"dtype": DTYPE_NAMES[np.dtype(spec.dtype)], "shape": list(spec.shape),
                         "data_offsets": [offset, offset + spec.nbytes]}
    offset += spec.nbytes
  encoded = json.dumps(header, separators=(",", ":")).encode()
  encoded += b" " * (-len(encoded) % 8)  # the data starts 8-byte aligned, as safetensors does
  with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(encoded)))
    f.write(encoded)
    for spec in specs:
      array = np.ascontiguousarray(produce(spec))
      if array.shape != tuple(spec.shape) or array.dtype != np.dtype(spec.dtype):
        raise ConversionError(f"tensor {spec.name}: produced {array.dtype}{list(array.shape)}, "
                              f"expected {np.dtype(spec.dtype)}{list(spec.shape)}")
      f.write(memoryview(array.reshape(-1).view(np.uint8)))


def write_checkpoint(out_dir: str, specs: Sequence[TensorSpec],
                     produce: Callable[[TensorSpec], np.ndarray],
                     max_shard_size: int | str) -> list[str]:
  """Writes `model.safetensors`, or shards `model-0000i-of-0000N.safetensors` with
  `model.safetensors.index.json` when the tensors exceed max_shard_size. Returns file names."""
  shards = plan_shards(specs, parse_size(max_shard_size))
  if len(shards) <= 1:
    write_file(os.path.join(out_dir, SINGLE_FILE), shards[0] if shards else [], produce)
    return [SINGLE_FILE]
  names = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
  weight_map = {}
  for name, shard in zip(names, shards):
    write_file(os.path.join(out_dir, name), shard, produce)
    weight_map.update({spec.name: name for spec in shard})
  index = {"metadata": {"total_size": sum(spec.nbytes for spec in specs)},
           "weight_map": weight_map}
  with open(os.path.join(out_dir, INDEX_FILE), "w") as f:
    json.dump(index, f, indent=2, sort_keys=True)
  return names + [INDEX_FILE]
