"""The training loop: sharded init or exact resume, jit-compiled steps, metrics, checkpoints.

    mesh (gin) → abstract model → parameter/optimizer shardings from logical-axis rules
    → init (or restore newest checkpoint: params, optimizer, RNG, data position)
    → AOT-compiled train step (jax.jit, in/out shardings, state donated)
    → loop: batch → step → metrics.jsonl + TensorBoard → validation / hooks → checkpoint
SIGTERM (preemption) saves a checkpoint before exiting; rerunning the command resumes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
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
from starjax.train.checkpointing import (CheckpointConfig, Checkpointer, check_compatible,
                                         json_safe)
from starjax.train.inputs import (BatchSource, Prefetcher, install_tokenizer, seqio_batches,
                                  seqio_tokenizer_path, seqio_validation_batches)
from starjax.train.metrics import MetricsWriter
from starjax.train.optimizer import OptimizerConfig, learning_rate_schedule, make_optimizer
from starjax.train.step import FEATURES, TrainState, make_eval_step, make_train_step

log = logging.getLogger("starjax.train")

class NonFiniteTrainingError(RuntimeError):
  """Too many consecutive steps with a non-finite loss or gradient."""


class Preempted(SystemExit):
  """Raised after a SIGTERM-triggered checkpoint; exit code 143 like a plain SIGTERM."""

  def __init__(self, step: int):
    super().__init__(143)
    self.step = step


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
               seed: int = 0):
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

    self.mesh = self.mesh_config.create()
    self.rules = self.mesh_config.logical_axis_rules
    sizes = self.mesh_config.axis_sizes(jax.device_count())
    sharding.check_batch_divides(batch_size, self.mesh, self.rules)
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

  def step(self, state: TrainState, batch: dict) -> tuple[TrainState, dict]:
    """One update. batch: numpy [batch, seq_len] features (this process's share) or Arrays."""
    if not isinstance(next(iter(batch.values())), jax.Array):
      batch = sharding.shard_batch({k: batch[k] for k in FEATURES}, self.batch_sharding)
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

  def peak_flops(self) -> float:
    per_device, _ = hardware.peak_flops_per_device(self.model_config.dtype)
    return per_device * jax.device_count()


@gin.configurable
def train(model_dir: str = gin.REQUIRED, train_steps: int = gin.REQUIRED,
          batch_size: int = gin.REQUIRED, seq_len: int = gin.REQUIRED,
          mixture_or_task_name: str = gin.REQUIRED, *, seed: int = 0, microbatches: int = 1,
          log_every: int = 1, eval_every: int | None = None, eval_batches: int = 4,
          hooks: Sequence[Callable] = (), init_params_from: str | None = None,
          batch_source: BatchSource = seqio_batches,
          validation_source: Callable[..., list] | None = seqio_validation_batches,
          tokenizer_source: Callable[[str], str | None] | None = seqio_tokenizer_path,
          progress: bool = True, model_config: DecoderConfig | None = None,
          mesh_config: sharding.MeshConfig | None = None,
          optimizer_config: OptimizerConfig | None = None,
          checkpoint_config: CheckpointConfig | None = None) -> TrainResult:
  """Trains (or resumes) a model in MODEL_DIR; see the module docstring for the flow.

  batch_size is global (all processes). hooks: callables hook(step, params, trainer) → dict
  of metrics (or None), called every time their own `every` attribute divides the step.
  init_params_from: a MODEL_DIR (e.g. from `run.py convert`) whose newest parameters start a
  fresh run with a fresh optimizer: fine-tuning.
  tokenizer_source: name → tokenizer.json of the data; copied to MODEL_DIR for inference.
  """
  from starjax.gin_config import write_operative_config  # pylint: disable=import-outside-toplevel
  model_config = model_config or DecoderConfig()
  checkpoint_config = checkpoint_config or CheckpointConfig()
  trainer = Trainer(model_config, train_steps=train_steps, batch_size=batch_size,
                    seq_len=seq_len, mesh_config=mesh_config,
                    optimizer_config=optimizer_config, microbatches=microbatches, seed=seed)
  is_chief = jax.process_index() == 0
  checkpointer = Checkpointer(model_dir, checkpoint_config)
  latest = checkpointer.latest_step()
  if latest is not None:  # check before anything in MODEL_DIR is written
    check_compatible(checkpointer.restore_meta(latest), model_config, model_dir)

  meta = {"model_config": model_config.to_json(), "mixture_or_task_name": mixture_or_task_name,
          "batch_size": batch_size, "seq_len": seq_len, "seed": seed,
          "starjax_version": starjax.__version__}
  if latest is not None:
    params, optimizer_item, stored_meta = checkpointer.restore(
        trainer.abstract_params, trainer.abstract_optimizer_item(), latest)
    state = TrainState(step=optimizer_item["step"], params=params,
                       opt_state=optimizer_item["opt_state"], rng=optimizer_item["rng"])
    data_position = int(stored_meta.get("data_position", latest))
    log.info("resumed from %s at step %d", checkpointer.directory, latest)
  else:
    params = None
    if init_params_from:
      source = Checkpointer(init_params_from, read_only=True)
      if source.latest_step() is None:
        raise FileNotFoundError(f"init_params_from={init_params_from}: no checkpoint there")
      check_compatible(source.restore_meta(), model_config, init_params_from)
      params = source.restore(trainer.abstract_params)[0]
      source.close()
    state = trainer.init_state(params)
    data_position = 0
  start_step = int(jax.device_get(state.step))
  trainer.model_dir = model_dir
  trainer.tokenizer_path = None
  tokenizer = tokenizer_source(mixture_or_task_name) if tokenizer_source else None
  if tokenizer:
    trainer.tokenizer_path = (install_tokenizer(tokenizer, model_dir, model_config.vocab_size)
                              if is_chief else os.path.join(model_dir, "tokenizer.json"))
    meta["tokenizer"] = tokenizer
  if is_chief:
    write_operative_config(model_dir)
  writer = MetricsWriter(model_dir, resume_step=start_step, is_writer=is_chief)

  if start_step >= train_steps:
    log.info("MODEL_DIR %s is already at step %d >= TRAIN_STEPS=%d", model_dir, start_step,
             train_steps)
    checkpointer.close()
    writer.close()
    return TrainResult(model_dir, start_step, {}, latest)

  t0 = time.perf_counter()
  trainer.compile()
  compile_seconds = time.perf_counter() - t0
  peak = trainer.peak_flops()
  flops_per_step = trainer.flops_per_step()
  per_process_batch = batch_size // jax.process_count()
  validation = None
  if eval_every and validation_source is not None:
    validation = validation_source(mixture_or_task_name, seq_len=seq_len,
                                   batch_size=per_process_batch, num_batches=eval_batches,
                                   shard_index=jax.process_index(),
                                   num_shards=jax.process_count())

  batches = batch_source(mixture_or_task_name, seq_len=seq_len, batch_size=per_process_batch,
                         seed=seed, shard_index=jax.process_index(),
                         num_shards=jax.process_count(), start_batch=data_position)
  to_device = lambda b: sharding.shard_batch({k: b[k] for k in FEATURES},  # noqa: E731
                                             trainer.batch_sharding)
  batches = Prefetcher(iter(batches), to_device)
  preempted = threading.Event()
  previous_handler = None
  if threading.current_thread() is threading.main_thread():
    previous_handler = signal.signal(signal.SIGTERM, lambda *_: preempted.set())

  def save(step, force):
    meta_now = dict(meta, data_position=data_position, step=step)
    return checkpointer.save(step, state.params, {"step": state.step,
                                                  "opt_state": state.opt_state,
                                                  "rng": state.rng},
                             json_safe(meta_now), force=force)

  bar = None
  if progress and is_chief:
    from tqdm.auto import tqdm  # pylint: disable=import-outside-toplevel
    bar = tqdm(total=train_steps, initial=start_step, desc="train", unit="step",
               dynamic_ncols=True)
  record: dict = {}
  last_saved = latest
  n_params = parameter_count(model_config)
  try:
    for step in range(start_step + 1, train_steps + 1):
      batch = next(batches)
      t_step = time.perf_counter()
      with trainer.mesh:
        state, metrics = trainer.compile()(state, batch)
      metrics = jax.device_get(metrics)
      step_seconds = time.perf_counter() - t_step
      data_position += 1
      if int(metrics["consecutive_nonfinite"]) >= trainer.optimizer_config.max_consecutive_nonfinite:
        raise NonFiniteTrainingError(
            f"step {step}: loss or gradient not finite for {int(metrics['consecutive_nonfinite'])}"
            f" steps in a row (OptimizerConfig.max_consecutive_nonfinite). Lower the learning "
            f"rate, use float32 (DecoderConfig.dtype), or check the data; the last checkpoint "
            f"({last_saved}) is intact.")
      tokens_per_second = trainer.tokens_per_step() / step_seconds
      values = {k: metrics[k] for k in ("loss", "learning_rate", "grad_norm")}
      values.update(
          tokens_per_second=tokens_per_second,
          mfu=flops_per_step / step_seconds / peak,
          step_seconds=step_seconds,
          loss_tokens=metrics["loss_tokens"],
          skipped_steps=metrics["total_nonfinite"],
      )
      if step == start_step + 1:
        values.update(compile_seconds=compile_seconds, parameters=n_params)
      if validation is not None and (step % eval_every == 0 or step == train_steps):
        values["validation_loss"] = trainer.validation_loss(state.params, validation)
      for hook in hooks:
        every = getattr(hook, "every", None)
        if every and (step % every == 0 or step == train_steps):
          values.update(hook(step, state.params, trainer) or {})
      if step % log_every == 0 or step == train_steps or "validation_loss" in values:
        record = writer.write(step, values)
      if bar is not None:
        bar.update(1)
        bar.set_postfix(loss=f"{float(metrics['loss']):.3f}",
                        tok_s=f"{tokens_per_second:,.0f}", refresh=False)
      if save(step, force=step == train_steps):
        last_saved = step
      if preempted.is_set() or checkpointer.reached_preemption(step):
        if last_saved != step:
          save(step, force=True)
        checkpointer.wait()
        log.warning("preempted at step %d: checkpoint saved in %s; rerun to resume", step,
                    checkpointer.directory)
        raise Preempted(step)
  finally:
    batches.close()
    if bar is not None:
      bar.close()
    checkpointer.close()
    writer.close()
    if previous_handler is not None:
      signal.signal(signal.SIGTERM, previous_handler)
  return TrainResult(model_dir, train_steps, record, latest)
