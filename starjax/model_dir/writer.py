"""The low-memory MODEL_DIR writer that conversion uses: the orbax checkpoint and config.gin.

The checkpoint has exactly the layout of starjax.model_dir.checkpointer.Checkpointer (step
directory `checkpoints/0`, items `params` via StandardSave and `meta` via JsonSave, no
optimizer), so training, inference and evaluation restore it with their usual Checkpointer.
It is written here rather than through Checkpointer.save for one reason, host memory: with
orbax's defaults every array is in flight at once, each encoded as one whole-array chunk, and
the OCDBT key-value store buffers what it writes until the end, which on a CPU host (where the
model itself is host memory) comes close to holding the model twice. Here one array is in
flight at a time (bytes capped at the largest parameter), tensorstore writes it in 4 MiB
chunks, and each chunk goes straight to its own file (plain zarr, no OCDBT), so the peak is
the model plus a few chunks. Orbax restores either format, so nothing downstream changes.
"""

from __future__ import annotations

import dataclasses

import jax
import orbax.checkpoint as ocp

from starjax.model.config import ARCHITECTURE_FIELDS, DecoderConfig
from starjax.model_dir.checkpointer import ITEM_NAMES
from starjax.model_dir.layout import checkpoint_dir

# Tensorstore encodes and writes an array chunk by chunk; without a chunk size the whole
# array is one chunk, buffered whole. 4 MiB chunks keep that buffer small.
CHUNK_BYTES = 4 * 2**20



def save_checkpoint(model_dir: str, params, meta: dict, step: int = 0) -> None:
  """Writes `params` (a pure dict of jax Arrays) and `meta` as MODEL_DIR's checkpoint `step`."""
  largest = max(x.nbytes for x in jax.tree.leaves(params))
  handler = ocp.StandardCheckpointHandler(save_concurrent_gb=(largest + 2**20) / 1e9,
                                          use_ocdbt=False)
  options = ocp.CheckpointManagerOptions(enable_async_checkpointing=False, create=True)
  manager = ocp.CheckpointManager(
      checkpoint_dir(model_dir), options=options, item_names=ITEM_NAMES,
      item_handlers={"params": handler, "meta": ocp.JsonCheckpointHandler()})
  try:
    chunked = jax.tree.map(lambda _: ocp.SaveArgs(chunk_byte_size=CHUNK_BYTES), params)
    manager.save(step, args=ocp.args.Composite(params=ocp.args.StandardSave(params, chunked),
                                               meta=ocp.args.JsonSave(meta)), force=True)
    manager.wait_until_finished()
  finally:
    manager.close()


def config_gin(config: DecoderConfig, source: str, model_dir: str) -> str:
  """MODEL_DIR/config.gin: the DecoderConfig bindings of a checkpoint converted from `source`."""
  lines = [
      f"# Written by `python run.py convert --from_hf={source}`: the architecture of the",
      "# checkpoint in this directory. Pass it after an experiment's model file to fine-tune:",
      "#   python run.py train --gin_file=experiments/finetune_python.gin \\",
      f"#       --gin_file={model_dir}/config.gin \\",
      f"#       --gin.INIT_MODEL_DIR={model_dir} --gin.MODEL_DIR=NEW_RUN_DIR",
      f"VOCAB_SIZE = {config.vocab_size}",
  ]
  values = dataclasses.asdict(config)
  for name in ARCHITECTURE_FIELDS:
    value = "%VOCAB_SIZE" if name == "vocab_size" else repr(values[name])
    lines.append(f"DecoderConfig.{name} = {value}")
  return "\n".join(lines) + "\n"
