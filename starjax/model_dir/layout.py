"""Where things live in a MODEL_DIR (the one place that spells the layout out):

    MODEL_DIR/
      checkpoints/<step>/   orbax: params, optimizer, meta (starjax.model_dir.checkpointer)
      config.gin            the operative gin config of the run (or the architecture, converted)
      tokenizer.json        the tokenizer the model reads and writes text with
      metrics.jsonl         one JSON object per logged step
      tensorboard/          TensorBoard event files
      eval/                 evaluation output (one folder per benchmark or hook step)
      report.md             the quickstart's report, with its plots beside it
"""

from __future__ import annotations

import os

CHECKPOINTS = "checkpoints"
CONFIG_GIN = "config.gin"
TOKENIZER = "tokenizer.json"
METRICS = "metrics.jsonl"
TENSORBOARD = "tensorboard"
EVAL = "eval"
REPORT = "report.md"


class ModelDirError(FileNotFoundError):
  """A directory given as a model is missing or holds no model; the message says the fix."""


def checkpoint_dir(model_dir: str) -> str:
  return os.path.join(os.path.abspath(model_dir), CHECKPOINTS)


def config_gin_path(model_dir: str) -> str:
  return os.path.join(model_dir, CONFIG_GIN)


def tokenizer_path(model_dir: str) -> str:
  return os.path.join(model_dir, TOKENIZER)


def metrics_path(model_dir: str) -> str:
  return os.path.join(model_dir, METRICS)


def tensorboard_dir(model_dir: str) -> str:
  return os.path.join(model_dir, TENSORBOARD)


def eval_dir(model_dir: str, *parts: str) -> str:
  """MODEL_DIR/eval/<parts...>: where evaluations of this model are written."""
  return os.path.join(model_dir, EVAL, *parts)


def report_path(model_dir: str) -> str:
  return os.path.join(model_dir, REPORT)
