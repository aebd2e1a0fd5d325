"""The training loop: sharded init or exact resume, jit-compiled steps, metrics, checkpoints.

    mesh (gin) → abstract model → parameter/optimizer shardings from logical-axis rules
    → init (or restore newest checkpoint: params, optimizer, RNG, data position)
    → AOT-compiled train step (jax.jit, in/out shardings, state donated)
    → loop: batch → step → metrics.jsonl + TensorBoard → validation / hooks → checkpoint
SIGTERM (preemption) saves a checkpoint before exiting; rerunning the command resumes.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from typing import Callable, Sequence

import gin
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec as P

import starjax
from starjax import sharding
from starjax.model import DecoderConfig, abstract_decoder, create_decoder
from starjax.model.flops import flops_per_token, parameter_count
from starjax.train import hardware
from starjax.train.compilation_cache import compilation_cache, process_age_seconds
from starjax.model_dir import (CheckpointConfig, Checkpointer, ModelDirError, check_compatible,
                               install_tokenizer, json_safe, tokenizer_path)
from starjax.train.hooks import HookContext, TrainHook, run_hooks
from starjax.train.inputs import (BatchSource, Prefetcher, seqio_batches, seqio_tokenizer_path,
                                  seqio_validation_batches)
from starjax.train.metrics import MetricsWriter
from starjax.train.optimizer import OptimizerConfig, learning_rate_schedule, make_optimizer
from starjax.train import provenance
from starjax.train.preemption import PreemptionWatch
from starjax.train.step import FEATURES, TrainState, make_eval_step, make_train_step

log = logging.getLogger("starjax.train")

class NonFiniteTrainingError(RuntimeError):
  """Too many consecutive steps with a non-finite loss or gradient."""


class Preempted(SystemExit):
  """Raised after a SIGTERM-triggered checkpoint; exit code 143 like a plain SIGTERM."""

  def __init__(self, step: int):
    super().__init__(143)
    self.step = step
    self.message = (f"preempted at step {step}; checkpoint saved, rerun the same command to "
                    f"resume.")


@dataclasses.dataclass
class TrainResult:
  model_dir: str
  final_step: int
  last_metrics: dict
  resumed_from: int | None


class Trainer:
  """Sets up mesh, shardings, state and the compiled step for one model/optimizer/mesh."""

  def __init__(self, model_config: DecoderConfig, *, train_steps: int, batch_size: int,
               seq_len: int, mesh_config: sharding.MeshConfig | None = None,
               optimizer_config: OptimizerConfig | None = None, microbatches: int = 1,
               seed: int = 0, mesh: jax.sharding.Mesh | None = None):
    """mesh: the devices to lay MeshConfig over; default MeshConfig.create() (the devices
    present). `info --aot` passes a mesh of a TPU topology's compile-only devices."""
    self.model_config = model_config
    self.mesh_config = mesh_config or sharding.MeshConfig()
    self.optimizer_config = optimizer_config or OptimizerConfig()
    self.train_steps, self.batch_size, self.seq_len = train_steps, batch_size, seq_len
    self.microbatches, self.seed = microbatches, seed
    if seq_len > model_config.max_seq_len and model_config.position_embedding == "learned":
      raise ValueError(f"SEQ_LEN={seq_len} exceeds the model's max_seq_len="
                       f"{model_config.max_seq_len} (learned positions stop there)")
    if batch_size % microbatches:
      raise ValueError(f"BATCH_SIZE={batch_size} is not divisible by microbatches={microbatches}")

    self.mesh = mesh if mesh is not None else self.mesh_config.create()
    self.rules = self.mesh_config.logical_axis_rules
    sizes = dict(self.mesh.shape)
    sharding.check_batch_divides(batch_size, self.mesh, self.rules)
    sharding.check_sequence_divides(seq_len, self.mesh, self.rules)
    sharding.check_batch_divides(batch_size // microbatches, self.mesh, self.rules,
                                 what=f"BATCH_SIZE/microbatches ({batch_size}/{microbatches})")

    self.graphdef, abstract_state = nnx.split(abstract_decoder(model_config))
    self.param_specs = sharding.param_specs(abstract_state, self.rules, sizes)
    self.param_shardings = sharding.named(self.mesh, self.param_specs)
    self.abstract_params = jax.tree.map(
        lambda v, s: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=s),
        nnx.to_pure_dict(abstract_state), self.param_shardings)

    self.optimizer = make_optimizer(self.optimizer_config, train_steps)
    self.schedule = learning_rate_schedule(self.optimizer_config, train_steps)
    abstract_opt = jax.eval_shape(self.optimizer.init, self.abstract_params)
    self.opt_shardings = sharding.named(
        self.mesh, sharding.specs_like_params(abstract_opt, self.param_specs))
    self.abstract_opt_state = jax.tree.map(
        lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
        abstract_opt, self.opt_shardings)
    replicated = NamedSharding(self.mesh, P())
    self.replicated = replicated
    self.state_shardings = TrainState(step=replicated, params=self.param_shardings,
                                      opt_state=self.opt_shardings, rng=replicated)
    self.batch_sharding = NamedSharding(self.mesh, sharding.batch_spec(self.rules))

    step_fn = make_train_step(self.graphdef, self.optimizer, self.schedule,
                              microbatches=microbatches,
                              dropout=model_config.dropout_rate > 0)
    self._train_step = jax.jit(
        step_fn, in_shardings=(self.state_shardings, self.batch_sharding),
        out_shardings=(self.state_shardings, replicated), donate_argnums=(0,))
    self._eval_step = jax.jit(make_eval_step(self.graphdef),
                              in_shardings=(self.param_shardings, self.batch_sharding),
                              out_shardings=replicated)
    self._compiled = None

  # -- state -----------------------------------------------------------------------------
  def init_params(self) -> dict:
    """Fresh parameters, created directly in their shards (never whole on one device)."""
    config, seed = self.model_config, self.seed

    def init():
      return nnx.to_pure_dict(nnx.state(create_decoder(config, seed)))
    with self.mesh:
      return jax.jit(init, out_shardings=self.param_shardings)()

  def init_state(self, params: dict | None = None) -> TrainState:
    params = self.init_params() if params is None else params
    opt_state = jax.jit(self.optimizer.init, in_shardings=(self.param_shardings,),
                        out_shardings=self.opt_shardings)(params)
    rng = jax.device_put(np.asarray(jax.random.key_data(jax.random.key(self.seed + 1))),
                         self.replicated)
    step = jax.device_put(jnp.int32(0), self.replicated)
    return TrainState(step=step, params=params, opt_state=opt_state, rng=rng)

  def abstract_optimizer_item(self) -> dict:
    return {"step": jax.ShapeDtypeStruct((), jnp.int32, sharding=self.replicated),
            "opt_state": self.abstract_opt_state,
            "rng": jax.ShapeDtypeStruct((2,), jnp.uint32, sharding=self.replicated)}

  # -- compiled functions ------------------------------------------------------------------
  def abstract_batch(self) -> dict:
    return {k: jax.ShapeDtypeStruct((self.batch_size, self.seq_len), jnp.int32,
                                    sharding=self.batch_sharding) for k in FEATURES}

  def compile(self):
    """AOT-compiles the train step (once); returns the compiled executable."""
    if self._compiled is None:
      abstract_state = TrainState(
          step=jax.ShapeDtypeStruct((), jnp.int32, sharding=self.replicated),
          params=self.abstract_params, opt_state=self.abstract_opt_state,
          rng=jax.ShapeDtypeStruct((2,), jnp.uint32, sharding=self.replicated))
      with self.mesh, sharding.activation_sharding(self.mesh, self.rules):
        self._compiled = self._train_step.lower(abstract_state, self.abstract_batch()).compile()
    return self._compiled

  def device_batch(self, batch: dict) -> dict:
    """This process's numpy share of a batch [batch, seq_len] → global Arrays on the mesh."""
    return sharding.shard_batch({k: batch[k] for k in FEATURES}, self.batch_sharding)

  def step(self, state: TrainState, batch: dict) -> tuple[TrainState, dict]:
    """One update. batch: numpy [batch, seq_len] features (this process's share) or Arrays."""
    if not isinstance(next(iter(batch.values())), jax.Array):
      batch = self.device_batch(batch)
    with self.mesh:
      return self.compile()(state, batch)

  def validation_loss(self, params, batches: Sequence[dict]) -> float:
    total, weight = 0.0, 0.0
    with self.mesh, sharding.activation_sharding(self.mesh, self.rules):
      for batch in batches:
        arrays = sharding.shard_batch({k: batch[k] for k in FEATURES}, self.batch_sharding)
        loss_sum, weight_sum = jax.device_get(self._eval_step(params, arrays))
        total, weight = total + float(loss_sum), weight + float(weight_sum)
    return total / max(weight, 1.0)

  # -- accounting --------------------------------------------------------------------------
  def tokens_per_step(self) -> int:
    return self.batch_size * self.seq_len

  def flops_per_step(self) -> float:
    return flops_per_token(self.model_config, self.seq_len).training * self.tokens_per_step()

  @functools.cached_property
  def peak_flops(self) -> float:
    """Peak FLOP/s of all devices (on CPU a measured probe: computed once per Trainer)."""
    per_device, _ = hardware.peak_flops_per_device(self.model_config.dtype)
    return per_device * jax.device_count()


@gin.configurable
def train(model_dir: str = gin.REQUIRED, train_steps: int = gin.REQUIRED,
          batch_size: int = gin.REQUIRED, seq_len: int = gin.REQUIRED,
          mixture_or_task_name: str = gin.REQUIRED, *, seed: int = 0, microbatches: int = 1,
          log_every: int = 1, eval_every: int | None = None, eval_batches: int = 4,
          hooks: Sequence[TrainHook] = (), init_params_from: str | None = None,
          batch_source: BatchSource = seqio_batches,
          validation_source: Callable[..., list] | None = seqio_validation_batches,
          tokenizer_source: Callable[[str], str | None] | None = seqio_tokenizer_path,
          progress: bool = True, model_config: DecoderConfig | None = None,
          mesh_config: sharding.MeshConfig | None = None,
          optimizer_config: OptimizerConfig | None = None,
          checkpoint_config: CheckpointConfig | None = None,
          allow_data_change: bool = False) -> TrainResult:
  """Trains (or resumes) a model in MODEL_DIR; see the module docstring for the flow.

  batch_size is global (all processes). hooks: see starjax.train.hooks (called with a
  HookContext every `hook.every` steps and at the last). init_params_from: a MODEL_DIR (e.g.
  from `run.py convert`) whose newest parameters start a fresh run with a fresh optimizer:
  fine-tuning. tokenizer_source: name → tokenizer.json of the data, installed in MODEL_DIR.
  allow_data_change: resume even if the data fingerprint recorded in the checkpoint changed.
  """
  cache_dir = compilation_cache()  # before anything compiles: a restart reads executables back
  model_config = model_config or DecoderConfig()
  trainer = Trainer(model_config, train_steps=train_steps, batch_size=batch_size,
                    seq_len=seq_len, mesh_config=mesh_config,
                    optimizer_config=optimizer_config, microbatches=microbatches, seed=seed)
  checkpointer = open_checkpoints(model_dir, checkpoint_config, model_config)
  latest = checkpointer.latest_step()
  tokenizer = tokenizer_source(mixture_or_task_name) if tokenizer_source else None  # data first
  fingerprint = provenance.data_fingerprint(batch_source, mixture_or_task_name, seq_len=seq_len,
                                            global_batch_size=batch_size, seed=seed)
  restore_started = time.perf_counter()
  state, data_position = restore_or_init(trainer, checkpointer, init_params_from, fingerprint,
                                         allow_data_change)
  restore_seconds = time.perf_counter() - restore_started
  start_step = int(jax.device_get(state.step))
  tokenizer_path = install_run_files(model_dir, tokenizer, model_config)
  meta = run_meta(trainer, mixture_or_task_name, tokenizer, fingerprint)
  writer = MetricsWriter(model_dir, resume_step=start_step, is_writer=jax.process_index() == 0)
  if start_step >= train_steps:
    log.info("MODEL_DIR %s is already at step %d >= TRAIN_STEPS=%d", model_dir, start_step,
             train_steps)
    checkpointer.close()
    writer.close()
    return TrainResult(model_dir, start_step, {}, latest)

  compile_seconds = timed(trainer.compile)
  shard = dict(shard_index=jax.process_index(), num_shards=jax.process_count())
  per_process_batch = batch_size // jax.process_count()
  validation = (validation_source(mixture_or_task_name, seq_len=seq_len,
                                  batch_size=per_process_batch, num_batches=eval_batches, **shard)
                if eval_every and validation_source is not None else None)
  batches = Prefetcher(iter(batch_source(mixture_or_task_name, seq_len=seq_len,
                                         batch_size=per_process_batch, seed=seed,
                                         start_batch=data_position, **shard)),
                       lambda b: (provenance.row_digests(b), trainer.device_batch(b)))
  record, last_saved = {}, latest
  with PreemptionWatch() as preemption, ProgressBar(progress, train_steps, start_step) as bar:
    try:
      for step in range(start_step + 1, train_steps + 1):
        started = time.perf_counter()
        digests, batch = next(batches)
        state, metrics = trainer.step(state, batch)
        metrics = jax.device_get(metrics)
        batch_index, data_position = data_position, data_position + 1
        check_finite(metrics, step, trainer.optimizer_config, last_saved)
        values = step_values(trainer, metrics, time.perf_counter() - started)
        if step == start_step + 1:
          values.update(first_step_values(trainer, values, restore_seconds, compile_seconds,
                                          cache_dir))
        final = step == train_steps
        if validation is not None and (step % eval_every == 0 or final):
          values["validation_loss"] = trainer.validation_loss(state.params, validation)
        values.update(run_hooks(hooks, HookContext(step, state.params, model_config, model_dir,
                                                   tokenizer_path, final)))
        if step % log_every == 0 or final or "validation_loss" in values:
          values.update(provenance.batch_provenance(
              batch_index, batch_size, provenance.global_row_digests(digests)))
          record = writer.write(step, values)
        bar.advance(metrics, values["tokens_per_second"])
        if save(checkpointer, step, state, dict(meta, data_position=data_position), final):
          last_saved = step
        if preemption.requested() or checkpointer.reached_preemption(step):
          stop_on_preemption(checkpointer, step, state, dict(meta, data_position=data_position),
                             saved=last_saved == step)
    finally:
      batches.close()
      checkpointer.close()
      writer.close()
  return TrainResult(model_dir, train_steps, record, latest)


# -- the named steps of train() -----------------------------------------------------------------
def open_checkpoints(model_dir: str, config: CheckpointConfig | None,
                     model_config: DecoderConfig) -> Checkpointer:
  """MODEL_DIR's Checkpointer, after checking that a checkpoint there fits this model (before
  anything in MODEL_DIR is written)."""
  checkpointer = Checkpointer(model_dir, config or CheckpointConfig())
  latest = checkpointer.latest_step()
  if latest is not None:
    check_compatible(checkpointer.restore_meta(latest), model_config, model_dir)
  return checkpointer


def restore_or_init(trainer: Trainer, checkpointer: Checkpointer, init_params_from: str | None,
                    fingerprint: dict | None = None, allow_data_change: bool = False
                    ) -> tuple[TrainState, int]:
  """(state, data position): the newest checkpoint's (refused when its data fingerprint
  differs, unless allow_data_change), else fresh (parameters from init_params_from's newest
  checkpoint when given)."""
  latest = checkpointer.latest_step()
  if latest is not None:
    provenance.check_resume(checkpointer.restore_meta(latest), fingerprint,
                            allow_data_change=allow_data_change)
    params, item, meta = checkpointer.restore(trainer.abstract_params,
                                              trainer.abstract_optimizer_item(), latest)
    log.info("resumed from %s at step %d", checkpointer.directory, latest)
    return (TrainState(step=item["step"], params=params, opt_state=item["opt_state"],
                       rng=item["rng"]), int(meta.get("data_position", latest)))
  params = None
  if init_params_from:
    source = Checkpointer(init_params_from, read_only=True)
    try:
      if source.latest_step() is None:
        raise ModelDirError(f"init_params_from={init_params_from}: no checkpoint there")
      check_compatible(source.restore_meta(), trainer.model_config, init_params_from)
      params = source.restore(trainer.abstract_params)[0]
    finally:
      source.close()
  return trainer.init_state(params), 0


def install_run_files(model_dir: str, tokenizer: str | None,
                      model_config: DecoderConfig) -> str | None:
  """Installs the data's tokenizer and writes config.gin (process 0); returns the tokenizer's
  path in MODEL_DIR (None when the data has none)."""
  from starjax.gin_config import write_operative_config  # pylint: disable=import-outside-toplevel
  chief = jax.process_index() == 0
  path = None
  if tokenizer:
    path = (install_tokenizer(tokenizer, model_dir, model_config.vocab_size) if chief
            else tokenizer_path(model_dir))
  if chief:
    write_operative_config(model_dir)
  return path


def run_meta(trainer: Trainer, mixture_or_task_name: str, tokenizer: str | None,
             fingerprint: dict | None) -> dict:
  """What every checkpoint's meta records about the run (the data position is added per save)."""
  meta = {"model_config": trainer.model_config.to_json(),
          "mixture_or_task_name": mixture_or_task_name, "batch_size": trainer.batch_size,
          "seq_len": trainer.seq_len, "seed": trainer.seed,
          "starjax_version": starjax.__version__}
  if tokenizer:
    meta["tokenizer"] = tokenizer
  if fingerprint:
    meta["data_fingerprint"] = fingerprint
  return meta


def first_step_values(trainer: Trainer, values: dict, restore_seconds: float,
                      compile_seconds: float, cache_dir: str | None) -> dict:
  """What the first step of a process logs besides its metrics: the time to get there."""
  first = dict(compile_seconds=compile_seconds, parameters=parameter_count(trainer.model_config),
               restore_seconds=restore_seconds, time_to_first_step_seconds=process_age_seconds())
  log.info("first step done %.1f s after the process started: restore or init %.1f s, compile "
           "%.1f s, first batch + step %.1f s (compilation cache: %s)",
           first["time_to_first_step_seconds"], restore_seconds, compile_seconds,
           values["step_seconds"], cache_dir or "off")
  return first


def timed(fn: Callable[[], object]) -> float:
  started = time.perf_counter()
  fn()
  return time.perf_counter() - started


def check_finite(metrics: dict, step: int, optimizer_config: OptimizerConfig,
                 last_saved: int | None) -> None:
  count = int(metrics["consecutive_nonfinite"])
  if count >= optimizer_config.max_consecutive_nonfinite:
    raise NonFiniteTrainingError(
        f"step {step}: loss or gradient not finite for {count} steps in a row "
        f"(OptimizerConfig.max_consecutive_nonfinite). Lower the learning rate, use float32 "
        f"(DecoderConfig.dtype), or check the data; the last checkpoint ({last_saved}) is intact.")


def step_values(trainer: Trainer, metrics: dict, step_seconds: float) -> dict:
  """The logged values of one step: the step's metrics plus throughput and MFU."""
  values = {k: metrics[k] for k in ("loss", "learning_rate", "grad_norm")}
  values.update(tokens_per_second=trainer.tokens_per_step() / step_seconds,
                mfu=trainer.flops_per_step() / step_seconds / trainer.peak_flops,
                step_seconds=step_seconds, loss_tokens=metrics["loss_tokens"],
                skipped_steps=metrics["total_nonfinite"])
  return values


def save(checkpointer: Checkpointer, step: int, state: TrainState, meta: dict,
         force: bool) -> bool:
  """Saves at `step` if the checkpoint interval says so (or force); returns whether it did."""
  optimizer = {"step": state.step, "opt_state": state.opt_state, "rng": state.rng}
  return checkpointer.save(step, state.params, optimizer, json_safe(dict(meta, step=step)),
                           force=force)


def stop_on_preemption(checkpointer: Checkpointer, step: int, state: TrainState, meta: dict,
                       *, saved: bool) -> None:
  if not saved:
    save(checkpointer, step, state, meta, force=True)
  checkpointer.wait()
  log.warning("preempted at step %d: checkpoint saved in %s; rerun to resume", step,
              checkpointer.directory)
  raise Preempted(step)


class ProgressBar:
  """A tqdm bar on process 0 when `enabled`, showing loss and tokens/s."""

  def __init__(self, enabled: bool, total: int, initial: int):
    self._bar = None
    if enabled and jax.process_index() == 0:
      from tqdm.auto import tqdm  # pylint: disable=import-outside-toplevel
      self._bar = tqdm(total=total, initial=initial, desc="train", unit="step",
                       dynamic_ncols=True)

  def __enter__(self):
    return self

  def advance(self, metrics: dict, tokens_per_second: float) -> None:
    if self._bar is not None:
      self._bar.update(1)
      self._bar.set_postfix(loss=f"{float(metrics['loss']):.3f}",
                            tok_s=f"{tokens_per_second:,.0f}", refresh=False)

  def __exit__(self, *exc):
    if self._bar is not None:
      self._bar.close()
    return False
