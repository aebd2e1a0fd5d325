"""Shared trainer fixtures: one synthetic 8-step run reused by several tests."""

import os
import subprocess
import sys

import pytest

from starjax import ROOT, gin_config

SYNTHETIC_GIN = "tests/train/synthetic.gin"


def train_in_process(model_dir: str, *bindings: str):
  """Runs train() from tests/train/synthetic.gin with extra gin bindings."""
  from starjax.train import trainer  # pylint: disable=import-outside-toplevel
  gin_config.parse([SYNTHETIC_GIN], [f"MODEL_DIR = '{model_dir}'", *bindings])
  try:
    return trainer.train()
  finally:
    import gin  # pylint: disable=import-outside-toplevel
    gin.clear_config()


def run_cli(*args: str, env: dict | None = None, timeout: int = 240):
  """Runs `python run.py ARGS` from the repository root; returns the CompletedProcess."""
  full_env = dict(os.environ, **(env or {}))
  return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, capture_output=True,
                        text=True, env=full_env, timeout=timeout)


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory):
  """MODEL_DIR of an 8-step synthetic run (checkpoints every 2, keep 2 + every 4th)."""
  model_dir = str(tmp_path_factory.mktemp("trained"))
  train_in_process(model_dir)
  return model_dir
