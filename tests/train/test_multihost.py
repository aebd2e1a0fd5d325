"""A simulated two-host run: two processes joined by jax.distributed (gloo collectives on CPU),
each feeding its half of every global batch, train the same model as one process does."""

import os
import socket
import subprocess
import sys
import time

import numpy as np

from starjax import ROOT
from starjax.model_dir import Checkpointer
from starjax.train.metrics import read_metrics
from tests.train.conftest import SYNTHETIC_GIN


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_two_processes_train_like_one(trained_dir, tmp_path):
  model_dir = str(tmp_path / "run")
  port = free_port()
  logs = [open(tmp_path / f"process{i}.log", "w+") for i in range(2)]
  # Output goes to files, not pipes: a process blocked on a full pipe would stall the other
  # one inside a collective.
  processes = [subprocess.Popen(
      [sys.executable, "run.py", "train", f"--gin_file={SYNTHETIC_GIN}",
       f"--gin.MODEL_DIR={model_dir}", "--gin.MeshConfig.data=-1",
       f"--coordinator_address=localhost:{port}", "--num_processes=2", f"--process_id={i}"],
      cwd=ROOT, stdout=logs[i], stderr=subprocess.STDOUT, env=dict(os.environ))
      for i in range(2)]
  try:
    deadline = time.monotonic() + 300
    # If one process fails, the other would wait for it in a collective: stop at once.
    while any(p.poll() is None for p in processes) and time.monotonic() < deadline:
      if any(p.poll() not in (None, 0) for p in processes):
        break
      time.sleep(0.5)
  finally:
    for p in processes:
      p.kill()
  for p, log in zip(processes, logs):
    log.seek(0)
    assert p.returncode == 0, log.read()[-3000:]
  two = read_metrics(model_dir)
  one = read_metrics(trained_dir)
  assert [r["step"] for r in two] == [r["step"] for r in one]
  # each process fed its own rows, yet the logged global batches are the one-process ones
  assert [r["batch_hash"] for r in two] == [r["batch_hash"] for r in one]
  np.testing.assert_allclose([r["loss"] for r in two], [r["loss"] for r in one], rtol=1e-5)
  np.testing.assert_allclose([r["validation_loss"] for r in two if "validation_loss" in r],
                             [r["validation_loss"] for r in one if "validation_loss" in r],
                             rtol=1e-5)
  assert Checkpointer(model_dir, read_only=True).all_steps() == [4, 6, 8]
