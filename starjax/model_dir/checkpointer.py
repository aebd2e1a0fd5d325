"""Orbax checkpoints under MODEL_DIR/checkpoints/<step>/, one CheckpointManager per run.

The one Checkpointer of starjax: training saves and resumes with it, inference, conversion
and evaluation restore parameters with it (`restore_params`).

Each checkpoint holds three items:
  params     the model parameters (a pure dict; all that inference and fine-tuning need),
  optimizer  {step, opt_state, rng}: what an exact resume needs besides the parameters,
  meta       JSON: model config, data position, tokenizer, starjax version.
Orbax writes a step into a temporary directory and renames it when complete, so a run killed
mid-save leaves the previous checkpoint usable. Restoring takes the target shardings, so a
checkpoint written on one mesh restores onto any other.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import gin
import jax
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

from starjax.model import DecoderConfig, abstract_decoder
from starjax.model_dir.layout import ModelDirError, checkpoint_dir


@gin.configurable
@dataclasses.dataclass(frozen=True)
class CheckpointConfig:
  """every_steps: save interval (and always at the end and on SIGTERM).
  keep_last: the newest K checkpoints are kept. keep_every: also keep every M-th step forever.
  async_save: write in a background thread while training goes on."""
  every_steps: int = 1000
  keep_last: int = 3
  keep_every: int | None = None
  async_save: bool = True


ITEM_NAMES = ("params", "optimizer", "meta")


class CheckpointMismatchError(ValueError):
  """MODEL_DIR holds a checkpoint of another model shape; the message says what differs."""


class Checkpointer:
  """Saves and restores TrainStates (as their parts) for one MODEL_DIR."""

  def __init__(self, model_dir: str, config: CheckpointConfig | None = None, *,
               read_only: bool = False):
    config = config or CheckpointConfig()
    self.config = config
    preservation = [checkpoint_managers.LatestN(config.keep_last)]
    if config.keep_every:
      preservation.append(checkpoint_managers.EveryNSteps(config.keep_every))
    options = ocp.CheckpointManagerOptions(
        # Saves every N steps; the end of training and preemption pass force=True.
        save_decision_policy=checkpoint_managers.FixedIntervalPolicy(config.every_steps),
        preservation_policy=checkpoint_managers.AnyPreservationPolicy(preservation),
        enable_async_checkpointing=config.async_save,
        create=not read_only,
        read_only=read_only,
        cleanup_tmp_directories=not read_only,
    )
    self.directory = checkpoint_dir(model_dir)
    self.manager = ocp.CheckpointManager(self.directory, options=options,
                                         item_names=ITEM_NAMES)

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self.manager.all_steps())

  def save(self, step: int, params, optimizer: dict | None, meta: dict, *,
           force: bool = False) -> bool:
    """Saves at `step` if the interval says so (or force). Returns whether it started a save."""
    items = {"params": ocp.args.StandardSave(params), "meta": ocp.args.JsonSave(meta)}
    if optimizer is not None:
      items["optimizer"] = ocp.args.StandardSave(optimizer)
    return self.manager.save(step, args=ocp.args.Composite(**items), force=force)

  def should_save(self, step: int) -> bool:
    return self.manager.should_save(step)

  def reached_preemption(self, step: int) -> bool:
    return self.manager.reached_preemption(step)

  def restore_meta(self, step: int | None = None) -> dict:
    step = self.latest_step() if step is None else step
    return self.manager.restore(step, args=ocp.args.Composite(
        meta=ocp.args.JsonRestore()))["meta"]

  def restore(self, abstract_params, abstract_optimizer: dict | None = None,
              step: int | None = None) -> tuple[Any, dict | None, dict]:
    """Restores (params, optimizer or None, meta) at `step` (default newest).

    abstract_*: trees of jax.ShapeDtypeStruct with the target `sharding`; the arrays come
    back placed that way whatever mesh wrote them.
    """
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {self.directory}")
    items = {"params": ocp.args.StandardRestore(abstract_params),
             "meta": ocp.args.JsonRestore()}
    if abstract_optimizer is not None:
      items["optimizer"] = ocp.args.StandardRestore(abstract_optimizer)
    try:
      restored = self.manager.restore(step, args=ocp.args.Composite(**items))
    except Exception as e:  # pylint: disable=broad-except
      # orbax/tensorstore raise bare Exceptions for unreadable arrays; a bug of ours would
      # surface the same way, so the cause stays chained.
      raise CheckpointCorruptError(self.directory, step, e) from e
    return restored["params"], restored.get("optimizer"), restored["meta"]

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()


class CheckpointCorruptError(RuntimeError):
  """A checkpoint step whose files cannot be read back (a missing or truncated array file)."""

  def __init__(self, directory: str, step: int, cause: BaseException):
    while cause.__cause__ is not None:  # the innermost error says which file and why
      cause = cause.__cause__
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    reason = lines[0] if lines else type(cause).__name__
    step_dir = os.path.join(directory, str(step))
    super().__init__(
        f"{step_dir}: checkpoint step {step} cannot be read ({reason[:300]}): a file of it is "
        f"missing or truncated. Nothing was changed; move {step_dir} aside to use the step "
        f"before it, or write the checkpoint again.")


def check_compatible(meta: dict, config: DecoderConfig, where: str) -> None:
  """Raises CheckpointMismatchError if the checkpoint's architecture differs from `config`'s."""
  stored = DecoderConfig.from_json(meta["model_config"]).architecture()
  wanted = config.architecture()
  differences = {k: (stored.get(k), wanted.get(k)) for k in wanted if stored.get(k) != wanted.get(k)}
  if differences:
    listed = ", ".join(f"{k}: checkpoint {a} vs config {b}" for k, (a, b) in differences.items())
    raise CheckpointMismatchError(
        f"{where} holds a checkpoint of another model shape ({listed}). Use a new "
        f"--gin.MODEL_DIR for this config, or the model gin file that wrote it; nothing in "
        f"{where} was changed.")


def model_config_from_checkpoint(model_dir: str) -> DecoderConfig:
  """The DecoderConfig stored with the newest checkpoint of MODEL_DIR (no gin needed)."""
  if not os.path.isdir(model_dir):
    raise ModelDirError(f"--model_dir={model_dir}: no such directory")
  checkpointer = Checkpointer(model_dir, read_only=True)
  if checkpointer.latest_step() is None:
    raise ModelDirError(
        f"{checkpoint_dir(model_dir)} has no checkpoint: train first (python run.py train "
        f"--gin.MODEL_DIR={model_dir} ...) or convert one (python run.py convert --from_hf=...)")
  meta = checkpointer.restore_meta()
  return DecoderConfig.from_json(meta["model_config"])


def abstract_params(config: DecoderConfig, shardings=None) -> dict:
  """The parameter tree of `config` as ShapeDtypeStructs placed by `shardings` (a matching
  tree of jax.sharding.Sharding), or on the first device when None. Allocates nothing."""
  from flax import nnx  # pylint: disable=import-outside-toplevel
  state = nnx.to_pure_dict(nnx.split(abstract_decoder(config))[1])
  if shardings is None:
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    shardings = jax.tree.map(lambda _: device, state)
  return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                      state, shardings)


def restore_params(model_dir: str, step: int | None = None, shardings=None
                   ) -> tuple[DecoderConfig, dict]:
  """(model config, parameters) of MODEL_DIR's newest (or given) checkpoint, each array placed
  by `shardings` (a tree like the parameters; default one device), whatever mesh wrote it."""
  config = model_config_from_checkpoint(model_dir)
  checkpointer = Checkpointer(model_dir, read_only=True)
  try:
    if step is not None and step not in checkpointer.all_steps():
      raise ModelDirError(f"--step={step}: {checkpoint_dir(model_dir)} has steps "
                          f"{checkpointer.all_steps()}")
    params = checkpointer.restore(abstract_params(config, shardings), step=step)[0]
  finally:
    checkpointer.close()
  return config, params


def json_safe(value) -> Any:
  """Round-trips through JSON so meta holds only plain types."""
  return json.loads(json.dumps(value, default=str))
