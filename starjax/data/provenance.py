"""`run.py data which --model_dir=D --step=S`: the documents (repository, path) in training step
S of a run, recomputed from the step-indexed pipeline and the data fingerprint that the run's
checkpoint recorded (refused when the data changed since, since other documents would be named).
"""

from __future__ import annotations

import json
import os

from starjax.data import indexed_loader
from starjax.data.errors import DataError


def run_data(model_dir: str) -> dict:
  """{mixture_or_task_name, batch_size, seq_len, seed, data_fingerprint} of a run's newest
  checkpoint."""
  from starjax.model_dir import Checkpointer  # pylint: disable=import-outside-toplevel
  checkpointer = Checkpointer(model_dir, read_only=True)
  try:
    if checkpointer.latest_step() is None:
      raise DataError(f"--model_dir={model_dir}: no checkpoint there")
    meta = checkpointer.restore_meta()
  finally:
    checkpointer.close()
  if "data_fingerprint" not in meta:
    raise DataError(f"--model_dir={model_dir}: its checkpoints record no data fingerprint (it "
                    "was trained with the tf.data pipeline or a custom batch source)")
  return meta


def batch_index_of_step(model_dir: str, step: int, global_batch_size: int) -> int:
  """The data position step S was read at: from metrics.jsonl when logged, else S - 1."""
  from starjax.model_dir import metrics_path  # pylint: disable=import-outside-toplevel
  path = metrics_path(model_dir)
  if os.path.isfile(path):
    with open(path) as f:
      for line in f:
        try:
          record = json.loads(line)
        except ValueError:
          continue
        if record.get("step") == step and "first_sample_id" in record:
          return int(record["first_sample_id"]) // global_batch_size
  return step - 1


def step_documents(model_dir: str, step: int) -> dict:
  """{"step", "batch_index", "rows": [{"sample_id", "documents": [{task, epoch, document,
  repository, path, tokens: [from, to)}]}]} of training step `step` (1-based, as logged)."""
  if step < 1:
    raise DataError(f"--step={step}: steps count from 1")
  meta = run_data(model_dir)
  recorded = meta["data_fingerprint"]
  name, seq_len, batch, seed = (meta["mixture_or_task_name"], int(meta["seq_len"]),
                                int(meta["batch_size"]), int(meta["seed"]))
  current = indexed_loader.fingerprint(name, seq_len=seq_len, global_batch_size=batch, seed=seed)
  if current["digest"] != recorded.get("digest"):
    changes = indexed_loader.fingerprint_changes(recorded, current)
    raise DataError(f"the data of {model_dir} changed since it was trained "
                    f"({'; '.join(changes[:6])}); pass the run's data settings (e.g. "
                    "--gin_file=MODEL_DIR/config.gin) so the same documents are read")
  plan = indexed_loader.pack_plan_for(name, seq_len=seq_len, seed=seed)
  index = batch_index_of_step(model_dir, step, batch)
  _, pieces = indexed_loader.step_rows(plan, index, batch)
  rows = []
  for r, row in enumerate(pieces):
    docs = []
    for p in row:
      task = plan.tasks[p.task]
      doc = task.source.read([p.doc])[0]
      docs.append({"task": task.stream.name, "epoch": p.epoch, "document": p.doc,
                   "repository": doc.repo, "path": doc.path,
                   "tokens": [p.start, p.end]})
    rows.append({"sample_id": index * batch + r, "documents": docs})
  return {"step": step, "batch_index": index, "rows": rows}


def format_step(result: dict) -> str:
  lines = [f"step {result['step']} (batch {result['batch_index']}):"]
  for row in result["rows"]:
    lines.append(f"  sample {row['sample_id']}:")
    for d in row["documents"]:
      lines.append(f"    {d['repository']}/{d['path']}  ({d['task']} document {d['document']}, "
                   f"epoch {d['epoch']}, tokens {d['tokens'][0]}-{d['tokens'][1]})")
  return "\n".join(lines)
