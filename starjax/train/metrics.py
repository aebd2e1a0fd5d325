"""Training metrics to MODEL_DIR/metrics.jsonl (one JSON object per logged step) and
TensorBoard event files under MODEL_DIR/tensorboard/."""

from __future__ import annotations

import json
import math
import os

import numpy as np

from starjax.model_dir import metrics_path, tensorboard_dir


class MetricsWriter:
  """Appends metrics as they come; on resume, drops lines past the restored step first, so
  the file describes exactly the run that the checkpoint continues."""

  def __init__(self, model_dir: str, resume_step: int = 0, *, tensorboard: bool = True,
               is_writer: bool = True):
    self.is_writer = is_writer
    self.path = metrics_path(model_dir)
    self._tb = None
    if not is_writer:
      return
    os.makedirs(model_dir, exist_ok=True)
    self._truncate_after(resume_step)
    self._file = open(self.path, "a")
    if tensorboard:
      from flax.metrics import tensorboard as flax_tb  # pylint: disable=import-outside-toplevel
      self._tb = flax_tb.SummaryWriter(tensorboard_dir(model_dir))

  def _truncate_after(self, step: int) -> None:
    if not os.path.exists(self.path):
      return
    kept = []
    with open(self.path) as f:
      for line in f:
        try:
          if json.loads(line).get("step", 0) <= step:
            kept.append(line if line.endswith("\n") else line + "\n")
        except ValueError:
          continue  # a line cut by a crash mid-write
    tmp = self.path + ".tmp"
    with open(tmp, "w") as f:
      f.writelines(kept)
    os.replace(tmp, self.path)

  def write(self, step: int, metrics: dict) -> dict:
    """Logs one step; values are converted to plain floats/ints. Returns the record."""
    record = {"step": int(step)}
    for name, value in metrics.items():
      value = np.asarray(value).item() if not isinstance(value, (str, bool)) else value
      record[name] = value
    if not self.is_writer:
      return record
    self._file.write(json.dumps(record, allow_nan=True) + "\n")
    self._file.flush()
    if self._tb is not None:
      for name, value in record.items():
        if name != "step" and isinstance(value, (int, float)) and math.isfinite(value):
          self._tb.scalar(name, value, step)
      self._tb.flush()
    return record

  def close(self) -> None:
    if self.is_writer:
      self._file.close()
      if self._tb is not None:
        self._tb.close()


def read_metrics(model_dir: str) -> list[dict]:
  """The records of MODEL_DIR/metrics.jsonl, skipping a line cut short by a crash."""
  path = metrics_path(model_dir)
  records = []
  if os.path.exists(path):
    with open(path) as f:
      for line in f:
        try:
          records.append(json.loads(line))
        except ValueError:
          continue
  return records
