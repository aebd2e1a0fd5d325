"""Plots of a training run from MODEL_DIR/metrics.jsonl: loss curves and throughput."""

from __future__ import annotations

import os

from starjax.train.metrics import read_metrics


def _pyplot():
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  return plt


def plot_loss(records: list[dict], path: str, title: str = "loss") -> str:
  """Training loss per step (and a moving average) with validation loss; writes a PNG."""
  plt = _pyplot()
  steps = [r["step"] for r in records if "loss" in r]
  losses = [r["loss"] for r in records if "loss" in r]
  figure, axes = plt.subplots(figsize=(6.5, 3.8))
  axes.plot(steps, losses, lw=0.8, alpha=0.45, label="train loss")
  window = max(1, len(losses) // 25)
  if window > 1:
    smooth = [sum(losses[max(0, i - window + 1):i + 1]) / len(losses[max(0, i - window + 1):i + 1])
              for i in range(len(losses))]
    axes.plot(steps, smooth, lw=1.6, label=f"train loss ({window}-step mean)")
  validation = [(r["step"], r["validation_loss"]) for r in records if "validation_loss" in r]
  if validation:
    axes.plot(*zip(*validation), "o-", lw=1.6, ms=4, label="validation loss")
  axes.set_xlabel("step")
  axes.set_ylabel("cross-entropy (nats/token)")
  axes.set_title(title)
  axes.grid(alpha=0.3)
  axes.legend()
  figure.tight_layout()
  figure.savefig(path, dpi=120)
  plt.close(figure)
  return path


def plot_throughput(records: list[dict], path: str, title: str = "throughput") -> str:
  """Tokens per second and MFU per step; writes a PNG."""
  plt = _pyplot()
  rows = [r for r in records if "tokens_per_second" in r]
  steps = [r["step"] for r in rows]
  figure, left = plt.subplots(figsize=(6.5, 3.8))
  left.plot(steps, [r["tokens_per_second"] for r in rows], lw=1.0, color="tab:blue")
  left.set_xlabel("step")
  left.set_ylabel("tokens / second", color="tab:blue")
  right = left.twinx()
  right.plot(steps, [100 * r["mfu"] for r in rows], lw=1.0, color="tab:orange")
  right.set_ylabel("MFU (%)", color="tab:orange")
  left.set_title(title)
  left.grid(alpha=0.3)
  figure.tight_layout()
  figure.savefig(path, dpi=120)
  plt.close(figure)
  return path


def plot_run(model_dir: str, out_dir: str | None = None) -> dict[str, str]:
  """loss.png and throughput.png for MODEL_DIR (into out_dir, default MODEL_DIR)."""
  records = read_metrics(model_dir)
  if not records:
    raise FileNotFoundError(f"{model_dir}/metrics.jsonl has no records: train first")
  out_dir = out_dir or model_dir
  os.makedirs(out_dir, exist_ok=True)
  return {"loss": plot_loss(records, os.path.join(out_dir, "loss.png")),
          "throughput": plot_throughput(records, os.path.join(out_dir, "throughput.png"))}
