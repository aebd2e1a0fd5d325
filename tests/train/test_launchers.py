"""The launch scripts in experiments/launch/ run as written, with two local processes.

Each script's own command line (its flags, quoting, `cd`, `--multihost`) is executed unchanged;
only the cluster tool it calls is a local stand-in on PATH: `srun` starts the tasks of one
SLURM step, `gcloud compute tpus tpu-vm ssh --worker=all` runs the command on every worker of
a slice. Both stand-ins give the processes the SLURM step variables (SLURM_JOB_ID, _PROCID,
_NTASKS, _LOCALID, _STEP_NODELIST) that jax.distributed.initialize() reads, because a TPU VM's
metadata server cannot be stood up here. The run's mesh expects 2 devices, so a process that
did not join the other one fails instead of training alone.
"""

import os
import socket
import stat
import subprocess
import sys

import pytest

from starjax import ROOT
from starjax.train.metrics import read_metrics
from tests.train.conftest import SYNTHETIC_GIN

# Starts every task of one step in the background, with what srun gives each task; output
# goes to files (a task blocked on a full pipe would stall the other inside a collective), and
# the first failing task stops the others.
FAKE_SRUN = r"""#!/usr/bin/env bash
set -u
pids=()
for ((i = 0; i < FAKE_TASKS; i++)); do
  SLURM_PROCID=$i SLURM_LOCALID=$i SLURM_NTASKS=$FAKE_TASKS SLURM_STEP_NODELIST=localhost \
    SLURM_STEP_NUM_NODES=1 "$@" > "$FAKE_LOGS/task$i.log" 2>&1 &
  pids+=($!)
done
for _ in "${pids[@]}"; do
  wait -n || { kill "${pids[@]}" 2> /dev/null; exit 1; }
done
"""

# Accepts exactly gcloud's `compute tpus tpu-vm ssh TPU --zone=Z --worker=all|N --command=C`
# (an unknown flag or word fails like gcloud would) and runs C with bash on each worker.
FAKE_GCLOUD = r"""#!/usr/bin/env python3
import argparse, os, subprocess, sys, time
parser = argparse.ArgumentParser(prog="gcloud", allow_abbrev=False)
parser.add_argument("words", nargs=5)
parser.add_argument("--zone", required=True)
parser.add_argument("--worker", required=True)
parser.add_argument("--command", required=True)
parser.add_argument("--project")
args = parser.parse_args()
if args.words[:4] != ["compute", "tpus", "tpu-vm", "ssh"]:
  sys.exit(f"gcloud: unknown command {' '.join(args.words[:4])!r}")
tasks = int(os.environ["FAKE_TASKS"])
workers = range(tasks) if args.worker == "all" else [int(args.worker)]
procs = []
for i in workers:
  env = dict(os.environ, SLURM_PROCID=str(i), SLURM_LOCALID=str(i), SLURM_NTASKS=str(tasks),
             SLURM_STEP_NODELIST="localhost", SLURM_STEP_NUM_NODES="1")
  log = open(os.path.join(os.environ["FAKE_LOGS"], f"task{i}.log"), "w")
  procs.append(subprocess.Popen(["bash", "-c", args.command], env=env, stdout=log,
                                stderr=subprocess.STDOUT))
while any(p.poll() is None for p in procs):
  if any(p.poll() not in (None, 0) for p in procs):
    for p in procs:
      p.kill()
    sys.exit(1)
  time.sleep(0.5)
sys.exit(max(p.returncode for p in procs))
"""


def _executable(path, text):
  path.write_text(text)
  path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _slurm_job_id() -> int:
  """A job id whose coordinator port (jax: 61440 + id % 4096) is free now."""
  for job in range(os.getpid() % 4096, os.getpid() % 4096 + 4096):
    port = 61440 + job % 4096
    with socket.socket() as s:
      try:
        s.bind(("localhost", port))
      except OSError:
        continue
    return 100000 + job % 4096
  raise RuntimeError("no free port in 61440-65535 for the coordinator")


def _launch(tmp_path, argv):
  """Runs a launcher with the stand-ins first on PATH; returns (exit code, logs, MODEL_DIR)."""
  bin_dir, logs, home = tmp_path / "bin", tmp_path / "logs", tmp_path / "home"
  for d in (bin_dir, logs, home):
    d.mkdir()
  _executable(bin_dir / "srun", FAKE_SRUN)
  _executable(bin_dir / "gcloud", FAKE_GCLOUD)
  (bin_dir / "python").symlink_to(sys.executable)  # the scripts call `python`
  (home / "starjax").symlink_to(ROOT)  # tpu_pod.sh runs `cd ~/starjax` on each worker
  model_dir = tmp_path / "run"
  env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", HOME=str(home),
             FAKE_TASKS="2", FAKE_LOGS=str(logs), SLURM_JOB_ID=str(_slurm_job_id()),
             PYTHONPATH=ROOT)
  overrides = [f"--gin.MODEL_DIR={model_dir}", "--gin.MeshConfig.data=-1",
               "--gin.MeshConfig.expected_devices=2", "--gin.TRAIN_STEPS=2",
               "--gin.train.eval_every=None"]
  proc = subprocess.run(["bash", *argv, *overrides], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=600)
  text = proc.stdout + proc.stderr + "".join(
      f"\n--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(logs.iterdir()))
  return proc.returncode, text, str(model_dir)


@pytest.mark.slow  # two jax.distributed processes train 2 steps: ~30-60 s on 2 cores
@pytest.mark.parametrize("argv", [
    ["experiments/launch/gpu_slurm.sh", SYNTHETIC_GIN],
    ["experiments/launch/tpu_pod.sh", "my-tpu", "us-central2-b", SYNTHETIC_GIN],
], ids=["gpu_slurm", "tpu_pod"])
def test_launcher_trains_with_two_processes(tmp_path, argv):
  returncode, logs, model_dir = _launch(tmp_path, argv)
  assert returncode == 0, logs[-5000:]
  assert [r["step"] for r in read_metrics(model_dir)] == [1, 2], logs[-3000:]
  # Printed by each process at its end: both ran to completion.
  assert logs.count("trained to step 2") == 2, logs[-3000:]
