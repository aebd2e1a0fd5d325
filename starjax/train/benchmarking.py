"""Steady-state training throughput of a model config, for benchmarks and for comparing the
input pipeline's speed with what training consumes."""

from __future__ import annotations

import time

import jax
import numpy as np

from starjax import gin_config
from starjax.model import DecoderConfig
from starjax.sharding import MeshConfig
from starjax.train.optimizer import OptimizerConfig
from starjax.train.trainer import Trainer


def random_batch(batch_size: int, seq_len: int, vocab_size: int, seed: int = 0) -> dict:
  """Unpacked random tokens: every position counts, one segment per row."""
  rng = np.random.default_rng(seed)
  tokens = rng.integers(1, vocab_size, (batch_size, seq_len + 1)).astype(np.int32)
  ones = np.ones((batch_size, seq_len), np.int32)
  return {"decoder_input_tokens": tokens[:, :-1], "decoder_target_tokens": tokens[:, 1:],
          "decoder_loss_weights": ones, "decoder_segment_ids": ones,
          "decoder_positions": np.broadcast_to(np.arange(seq_len, dtype=np.int32),
                                               (batch_size, seq_len)).copy()}


def measure(config: DecoderConfig, *, batch_size: int, seq_len: int, steps: int = 10,
            warmup: int = 2, mesh_config: MeshConfig | None = None) -> dict:
  """Times `steps` train steps after `warmup`; returns tokens/s, seconds/step, MFU."""
  trainer = Trainer(config, train_steps=steps + warmup, batch_size=batch_size, seq_len=seq_len,
                    mesh_config=mesh_config or MeshConfig(data=-1),
                    optimizer_config=OptimizerConfig(warmup_steps=1))
  t0 = time.perf_counter()
  trainer.compile()
  compile_seconds = time.perf_counter() - t0
  state = trainer.init_state()
  batch = random_batch(batch_size, seq_len, config.vocab_size)
  for _ in range(warmup):
    state, metrics = trainer.step(state, batch)
  jax.block_until_ready(metrics)
  t0 = time.perf_counter()
  for _ in range(steps):
    state, metrics = trainer.step(state, batch)
  jax.block_until_ready((state, metrics))
  seconds = (time.perf_counter() - t0) / steps
  return {"tokens_per_second": trainer.tokens_per_step() / seconds, "step_seconds": seconds,
          "mfu": trainer.flops_per_step() / seconds / trainer.peak_flops,
          "compile_seconds": compile_seconds, "loss": float(metrics["loss"])}


def train_tokens_per_second(gin_file: str, *, batch_size: int = 8, seq_len: int | None = None,
                            steps: int = 5) -> float:
  """Training consumption (tokens/s) of the model in `gin_file` on this machine."""
  gin_config.parse([gin_file], [], finalize=False)
  config = DecoderConfig()
  return measure(config, batch_size=batch_size, seq_len=seq_len or config.max_seq_len,
                 steps=steps)["tokens_per_second"]
