"""Hugging Face interop: load a local transformers checkpoint as a starjax Decoder, save one back.

    from starjax.convert import hf
    model = hf.load_pretrained("/models/starcoderbase-1b")  # gpt_bigcode or starcoder2
    logits = model(tokens)              # int32 [b, t] → float32 [b, t, vocab]
    hf.save_pretrained(model, "/tmp/export")  # transformers loads it

Loading streams: every parameter is created on its sharding (one device, or the mesh of
`mesh_config` by the logical-axis rules) from the safetensors files, reading only the region
each device's shard holds, one layer at a time (starjax.convert.placement). The host never
holds the model twice, so a checkpoint converts on a machine with less memory than twice its
size. Saving writes one HF tensor at a time.
"""

from __future__ import annotations

import functools
import json
import os

import jax
import numpy as np
from flax import nnx

from starjax import sharding
from starjax.convert import hf_config, layout, placement, safetensors_io
from starjax.convert.errors import ConversionError
from starjax.convert.output_dir import atomic_directory
from starjax.model import Decoder, DecoderConfig, abstract_decoder

DEFAULT_MAX_SHARD_SIZE = "5GB"  # transformers' default
# Files save_pretrained replaces in an existing directory (a previous export's weights).
EXPORT_FILES = ("config.json", "model.safetensors", "model-*-of-*.safetensors",
                "model.safetensors.index.json")


def load_pretrained(path: str, *, param_dtype: str | None = None, dtype: str | None = None,
                    mesh_config: sharding.MeshConfig | None = None) -> Decoder:
  """The Decoder stored in a local Hugging Face directory (config.json + safetensors).

  Args:
    path: directory with config.json (model_type gpt_bigcode or starcoder2) and
      model.safetensors or model.safetensors.index.json with its shards.
    param_dtype: dtype of the parameters; None = the checkpoint's (config.json `dtype`).
    dtype: compute dtype; None = param_dtype.
    mesh_config: place every parameter sharded on this mesh by its logical-axis rules
      (default: all on the first device).
  Returns:
    The model; `model(tokens)` gives float32 logits [batch, length, vocab] and
    `model.config` its DecoderConfig.
  Raises:
    ConversionError naming the file or tensor that is missing, truncated or misshapen.
  """
  hf = hf_config.read_config(path)
  config = hf_config.decoder_config_from_hf(
      hf, source=os.path.join(path, hf_config.CONFIG_FILE), param_dtype=param_dtype,
      dtype=dtype)
  checkpoint = safetensors_io.Checkpoint.open(path)
  maps = {m.path: m for m in layout.tensor_maps(config)}
  check_checkpoint(checkpoint, list(maps.values()), config, path)

  graphdef, state = nnx.split(abstract_decoder(config))
  shardings = _shardings(state, mesh_config)
  values: dict = {}
  for param_path, variable in state.flat_state():
    tmap = maps.get(param_path)
    abstract = variable.get_value()
    if tmap is None or (abstract.shape[1:] if tmap.stacked else abstract.shape) != tmap.shape:
      raise AssertionError(f"layout and model disagree on {param_path}")  # a starjax bug
    target = shardings
    for part in param_path:
      target = target[part]
    if tmap.stacked:
      array = placement.place_stacked(
          abstract.shape, abstract.dtype, target,
          lambda layer, index, tmap=tmap: tmap.read_part(
              checkpoint, tmap.hf_name.format(i=layer), index))
    else:
      array = placement.place(abstract.shape, abstract.dtype, target,
                              functools.partial(tmap.read_part, checkpoint, tmap.hf_name))
    node = values
    for part in param_path[:-1]:
      node = node.setdefault(part, {})
    node[param_path[-1]] = array
  nnx.replace_by_pure_dict(state, values)
  return nnx.merge(graphdef, state)


def check_checkpoint(checkpoint: safetensors_io.Checkpoint, maps: list[layout.TensorMap],
                     config: DecoderConfig, path: str) -> None:
  """Every tensor the model needs is there with the shape config.json implies, and nothing
  unknown is left over (it would be a weight starjax silently drops)."""
  needed: dict[str, tuple[int, ...]] = {}
  for tmap in maps:
    for name in tmap.hf_names(config.num_layers):
      needed[name] = tmap.hf_shape
  problems = []
  missing = [name for name in needed if name not in checkpoint]
  if missing:
    problems.append(f"{len(missing)} tensors are missing: {_listing(missing)}")
  for name, shape in needed.items():
    if name in checkpoint:
      info = checkpoint.info(name)
      if info.shape != shape:
        problems.append(f"tensor {name} in {os.path.basename(info.file)} has shape "
                        f"{list(info.shape)} but config.json implies {list(shape)}")
      elif not np.issubdtype(info.dtype, np.floating) and info.dtype.name != "bfloat16":
        problems.append(f"tensor {name} has dtype {info.dtype}, expected floating point")
  unexpected = [n for n in checkpoint.tensors
                if n not in needed and not layout.is_ignored(n, config)]
  if unexpected:
    problems.append(f"{len(unexpected)} tensors are not part of a "
                    f"{hf_config.model_type_for(config)} model with this config.json: "
                    f"{_listing(unexpected)}")
  if problems:
    raise ConversionError(f"{path}: the checkpoint does not match its config.json: "
                          + "; ".join(problems))


def _listing(names: list[str], limit: int = 8) -> str:
  shown = ", ".join(sorted(names)[:limit])
  return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _shardings(abstract_state: nnx.State, mesh_config: sharding.MeshConfig | None) -> dict:
  """Per-parameter shardings as a pure dict: the mesh's by logical names, or one device."""
  if mesh_config is None:
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    return jax.tree.map(lambda _: device, nnx.to_pure_dict(abstract_state))
  mesh = mesh_config.create()
  specs = sharding.param_specs(abstract_state, mesh_config.logical_axis_rules,
                               mesh_config.axis_sizes(jax.device_count()))
  return sharding.named(mesh, specs)


@jax.jit
def _layer(stacked: jax.Array, i: jax.Array) -> jax.Array:
  return stacked[i]


def save_pretrained(model: Decoder, path: str, *,
                    max_shard_size: int | str = DEFAULT_MAX_SHARD_SIZE, bos_token_id: int = 0,
                    eos_token_id: int = 0) -> list[str]:
  """Writes `model` as a transformers checkpoint that AutoModelForCausalLM loads.

  Writes config.json (gpt_bigcode for learned positions, starcoder2 for RoPE) and
  model.safetensors, or shards of at most max_shard_size ('5GB', '500MiB', or bytes) with
  model.safetensors.index.json, in the parameters' dtype. Other files in `path` (a
  tokenizer) are kept; a previous export's weights are replaced. Nothing changes in `path`
  if anything fails. bos/eos ids: StarCoder's `<|endoftext|>` is 0. Returns the file names.
  """
  config = model.config
  hf = hf_config.hf_config_from_decoder(config, bos_token_id=bos_token_id,
                                        eos_token_id=eos_token_id)
  maps = layout.tensor_maps(config)
  params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
  flat = {path_: value for path_, value in _flatten(params)}
  if set(flat) != {m.path for m in maps}:
    raise AssertionError("layout and model disagree on the parameters")  # a starjax bug
  for value in flat.values():
    if isinstance(value, jax.Array) and not value.is_fully_addressable:
      raise ConversionError("save_pretrained runs in one process: the model's parameters span "
                            "several hosts; restore them on one host (python run.py convert "
                            "--to_hf reads a checkpoint on one host)")

  parts: dict[str, list[tuple[layout.TensorMap, int | None]]] = {}
  shapes: dict[str, tuple[int, ...]] = {}
  # transformers' order: embeddings, then layer by layer, then the final norm and head.
  ordered = ([m for m in maps if not m.stacked and m.path[0] in ("wte", "wpe")],
             [m for m in maps if m.stacked],
             [m for m in maps if not m.stacked and m.path[0] not in ("wte", "wpe")])
  for tmap in ordered[0]:
    parts.setdefault(tmap.hf_name, []).append((tmap, None))
  for i in range(config.num_layers):
    for tmap in ordered[1]:
      parts.setdefault(tmap.hf_name.format(i=i), []).append((tmap, i))
  for tmap in ordered[2]:
    parts.setdefault(tmap.hf_name, []).append((tmap, None))
  for tmap in maps:
    for name in tmap.hf_names(config.num_layers):
      shapes[name] = tmap.hf_shape
  dtype = np.dtype(config.weight_dtype)
  specs = [safetensors_io.TensorSpec(name, dtype, shapes[name]) for name in parts]

  def produce(spec: safetensors_io.TensorSpec) -> np.ndarray:
    tensor = np.empty(spec.shape, dtype)
    covered = 0
    for tmap, layer in parts[spec.name]:
      value = flat[tmap.path]
      value = value if layer is None else _layer(value, np.int32(layer))
      tmap.write_part(tensor, np.asarray(jax.device_get(value)).astype(dtype))
      covered += int(np.prod(tmap.shape))
    if covered != tensor.size:
      raise AssertionError(f"{spec.name}: parts cover {covered} of {tensor.size} values")
    return tensor

  with atomic_directory(path, replace_files=EXPORT_FILES) as tmp:
    files = safetensors_io.write_checkpoint(tmp, specs, produce, max_shard_size)
    with open(os.path.join(tmp, hf_config.CONFIG_FILE), "w") as f:
      json.dump(hf, f, indent=2, sort_keys=True)
      f.write("\n")
  return [hf_config.CONFIG_FILE] + files


def _flatten(tree, prefix=()):
  for key, value in tree.items():
    if isinstance(value, dict):
      yield from _flatten(value, prefix + (key,))
    else:
      yield prefix + (key,), value
