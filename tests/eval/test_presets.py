"""`run.py eval --preset=...`: gin files of gin/runs/ applied after gin/runs/eval.gin, and the
FIM benchmarks end to end through `run.py eval` (FIM prompts, harness files)."""

import json
import os
import subprocess
import sys

import gin
import pytest

from starjax import ROOT, gin_config
from starjax.eval import cli
from starjax.eval.generation import GenerationSettings
from starjax.eval.humaneval import PROMPTED_PREFIX
from tests.eval.test_generation import eval_model_dir  # pylint: disable=unused-import


@pytest.fixture(autouse=True)
def clear_gin():
  yield
  gin.clear_config()


def settings_with(argv):
  gin_config.parse([cli.EVAL_GIN, *cli.preset_files(argv)], [])
  return GenerationSettings()


def test_starcoder_paper_preset_is_the_published_protocol():
  settings = settings_with(["--preset=starcoder-paper"])
  assert (settings.temperature, settings.top_p, settings.num_samples, settings.max_length,
          settings.prompted) == (0.2, 0.95, 50, 512, False)


def test_prompted_preset_adds_the_solutions_file_prefix():
  assert settings_with(["--preset", "prompted"]).prompted
  assert PROMPTED_PREFIX.startswith("<filename>solutions/solution_1.py\n")


def test_every_preset_is_a_gin_file_under_gin_runs():
  for path in cli.PRESETS.values():
    assert path.startswith("gin/runs/") and os.path.exists(os.path.join(ROOT, path))


@pytest.mark.slow  # ~2 min on 2 cores: a model, two benchmarks, the sandbox
def test_eval_on_a_fim_benchmark_writes_middles_and_harness_files(eval_model_dir, tmp_path):
  out = tmp_path / "eval"
  result = subprocess.run(
      [sys.executable, "run.py", "eval", "--benchmark=humaneval-infill-single,fim-exact-line",
       f"--model_dir={eval_model_dir}", f"--out={out}", "--n=1", "--stratified=2",
       "--temperature=0", "--spm"],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  for name in ("humaneval-infill-single", "fim-exact-line"):
    samples = [json.loads(l) for l in (out / name / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 2
    harness = json.loads((out / name / "evaluation_results.json").read_text())
    assert "pass@1" in harness[name] and harness["config"]["fim_order"] == "spm"
    assert len(json.loads((out / name / f"generations_{name}.json").read_text())) == 2
  assert "samples/s)" in result.stdout
