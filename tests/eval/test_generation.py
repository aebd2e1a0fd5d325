"""Generating benchmark completions with a model: prompt handling, resumable samples, the
`run.py eval` command and the training-time pass@1 hook."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from starjax import ROOT
from starjax.eval.benchmarks import get_benchmark
from starjax.eval.generation import (GenerationSettings, completion_after, concurrent_batches,
                                     generate_samples, in_order, problem_batches,
                                     problems_per_batch, task_subset)
from starjax.eval.hooks import PassAtOneHook
from starjax.infer import Generator
from starjax.model import DecoderConfig
from tests.conftest import write_model_dir

# Long enough for HumanEval prompts under the small test tokenizer.
CONFIG = DecoderConfig(vocab_size=512, num_layers=1, hidden_size=32, num_heads=2, num_kv_heads=1,
                       mlp_dim=64, max_seq_len=1536)


@pytest.fixture(scope="module")
def eval_model_dir(tmp_path_factory, tokenizer_path):
  return write_model_dir(tmp_path_factory.mktemp("eval_model"), CONFIG, tokenizer_path)


def test_completion_continues_the_exact_prompt():
  prompt = 'def f():\n    """Doc."""\n'
  # generated after prompt.rstrip(): starts with the newline that was stripped
  assert completion_after(prompt, "\n    return 1") == "    return 1"
  assert completion_after(prompt, " # odd") == " # odd"


def test_samples_are_written_as_they_come_and_a_rerun_adds_none(eval_model_dir, tmp_path):
  generator = Generator.load(model_dir=eval_model_dir)
  benchmark = task_subset(get_benchmark("humaneval"), None, 2)
  settings = GenerationSettings(num_samples=2, temperature=0.8, max_length=1536, batch_size=4)
  path = str(tmp_path / "samples.jsonl")
  generate_samples(generator, benchmark, path, settings, progress=False)
  lines = [json.loads(l) for l in open(path)]
  assert sorted(l["task_id"] for l in lines) == ["HumanEval/0"] * 2 + ["HumanEval/1"] * 2
  # A crash left a half-written line and one sample short: the rerun repairs and completes.
  with open(path, "w") as f:
    f.write("".join(json.dumps(l) + "\n" for l in lines[:3]) + '{"task_id": "Hu')
  generate_samples(generator, benchmark, path, settings, progress=False)
  again = [json.loads(l) for l in open(path)]
  assert len(again) == 4 and again[:3] == lines[:3]


def test_batches_decoded_at_once_write_what_one_at_a_time_writes(eval_model_dir, tmp_path):
  """Two batches in flight (the CPU default) give the same samples, in the same order, as one
  batch at a time: each batch is seeded by its place in the work list, not by when it ran."""
  generator = Generator.load(model_dir=eval_model_dir)
  benchmark = task_subset(get_benchmark("humaneval"), None, 2)  # 2 batches (1 + 2 rows) each
  settings = GenerationSettings(num_samples=3, temperature=0.8, max_length=1536, batch_size=2)
  assert concurrent_batches(generator.tokens, settings) == 2  # one CPU device
  written = {}
  for at_once in (2, 1):
    path = str(tmp_path / f"samples_{at_once}.jsonl")
    generate_samples(generator, benchmark, path,
                     GenerationSettings(**{**settings.__dict__, "concurrent_batches": at_once}),
                     progress=False)
    written[at_once] = open(path).read()
  assert written[2] == written[1] and len(written[1].splitlines()) == 6


def test_consecutive_problems_share_a_batch_up_to_problems_per_batch():
  work = [("a", [1])] * 3 + [("b", [2])] * 3 + [("c", [3])] * 2
  assert [(lo, len(b)) for lo, b in problem_batches(work, 2)] == [(0, 1), (1, 2), (3, 1),
                                                                  (4, 2), (6, 2)]
  # A problem's own batches stay apart; the next problem's first joins its last.
  merged = problem_batches(work, 2, problems=2)
  assert [(lo, [t for t, _ in b]) for lo, b in merged] == [
      (0, ["a"]), (1, ["a", "a", "b"]), (4, ["b", "b", "c", "c"])]
  assert [item for _, b in merged for item in b] == work
  assert [len(b) for _, b in problem_batches(work, 3, problems=3)] == [8]


def test_two_problems_in_one_batch_keep_their_own_token_budgets(eval_model_dir, tmp_path):
  """Greedy samples of problems batched two by two equal those of one problem per batch, with
  max_length binding: each row stops at max_length minus its own prompt's length."""
  generator = Generator.load(model_dir=eval_model_dir)
  # auto: two problems per batch where the prompts are held once on a CPU device
  assert problems_per_batch(GenerationSettings(), generator.tokens) == 2
  assert problems_per_batch(GenerationSettings(), object()) == 1
  assert problems_per_batch(GenerationSettings(problems_per_batch=3), object()) == 3
  with pytest.raises(ValueError, match="problems_per_batch=-1"):
    problems_per_batch(GenerationSettings(problems_per_batch=-1))
  benchmark = task_subset(get_benchmark("humaneval"), None, 3)
  lengths = sorted(len(generator.encode(p.prompt.rstrip())) for p in benchmark.problems.values())
  assert len(set(lengths)) == 3  # three different budgets
  written = {}
  for problems in (2, 1):
    path = str(tmp_path / f"samples_{problems}.jsonl")
    settings = GenerationSettings(num_samples=2, temperature=0.0, max_length=lengths[-1] + 24,
                                  batch_size=2, problems_per_batch=problems)
    generate_samples(generator, benchmark, path, settings, progress=False)
    written[problems] = [json.loads(line) for line in open(path)]
  assert written[2] == written[1] and len(written[1]) == 6
  ids = {s["task_id"]: len(generator.encode(s["completion"])) for s in written[1]}
  assert max(ids.values()) > 8  # the completions are long enough that the budgets bind


def test_in_order_overlaps_the_work_but_yields_in_order():
  running, most = set(), [0]
  lock = threading.Lock()

  def work(i):
    with lock:
      running.add(i)
      most[0] = max(most[0], len(running))
    time.sleep(0.05 * (4 - i % 4))  # later items finish first
    with lock:
      running.discard(i)
    return i * i

  assert list(in_order(work, range(8), 2)) == [i * i for i in range(8)]
  assert most[0] == 2
  assert list(in_order(work, range(3), 1)) == [0, 1, 4]

  def failing(i):
    if i == 1:
      raise ValueError("batch 1 failed")
    return i

  results = in_order(failing, range(6), 2)
  assert next(results) == 0
  with pytest.raises(ValueError, match="batch 1 failed"):
    next(results)


def test_eval_command_generates_scores_and_reports(eval_model_dir, tmp_path):
  out = tmp_path / "eval"
  result = subprocess.run(
      [sys.executable, "run.py", "eval", "--benchmark=humaneval", f"--model_dir={eval_model_dir}",
       f"--out={out}", "--n=1", "--limit=2", "--temperature=0", "--max_length=1536"],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  summary = json.loads((out / "humaneval" / "summary.json").read_text())
  assert summary["num_tasks_scored"] == 2 and "pass@1" in summary
  results = [json.loads(l) for l in (out / "humaneval" / "results.jsonl").read_text().splitlines()]
  assert all("passed" in r and "result" in r for r in results)
  assert (out / "report.md").exists() and (out / "pass_at_k.png").exists()
  assert "| humaneval |" in result.stdout


def test_training_hook_logs_pass_at_1_and_keeps_its_results(eval_model_dir, tmp_path):
  from starjax.model_dir import restore_params  # pylint: disable=import-outside-toplevel
  from starjax.train.hooks import HookContext  # pylint: disable=import-outside-toplevel
  config, params = restore_params(eval_model_dir)
  context = HookContext(step=10, params=params, model_config=config, model_dir=str(tmp_path),
                        tokenizer_path=os.path.join(eval_model_dir, "tokenizer.json"))
  hook = PassAtOneHook(every=10, num_problems=2, max_length=1536)
  metrics = hook(context)
  assert set(metrics) == {"humaneval_pass@1"} and 0.0 <= metrics["humaneval_pass@1"] <= 1.0
  assert (tmp_path / "eval" / "humaneval" / "step_10" / "summary.json").exists()
