"""The fill-in-the-middle benchmarks: exact reconstructions of HumanEval-Single/MultiLineInfilling,
our random spans, SantaCoder-FIM's exact line, their FIM prompts and their scoring."""

import json

import pytest

from starjax import tokens
from starjax.eval import infilling
from starjax.eval.benchmarks import benchmark_names, get_benchmark
from starjax.eval.execution import Timeouts, evaluate_samples
from starjax.eval.generation import GenerationSettings, generate_samples
from starjax.eval.humaneval import read_humaneval
from starjax.infer.generator import Completion

# Task counts of openai/human-eval-infilling (single, multi), ours (random: 10 per problem) and
# the sha256 of each benchmark's tasks (infilling.dataset_sha256): any change to how the tasks
# are built changes these.
PINNED = {
    "humaneval-infill-single": (1033, "d086ea58a326950f6469f4184f8a91f0daec5ebc8c5d42914b56688d6dea0989"),
    "humaneval-infill-multi": (5815, "c811ff6acec54396b478855d66a3fe050d0b2ed0e2a47a62fcf0898ebc763762"),
    "humaneval-infill-random": (1640, "8acd37bdcdcae6bae5f2e32853e138226f71c51b4ca7ee1a89962f879cb547fe"),
    "fim-exact-line": (1033, "5e11c3028750f2bf8c37836a9805b66b85b3d0d1d54a807842228a135e74dce0"),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_task_counts_and_sha256_are_pinned(name):
  problems = get_benchmark(name).problems
  assert (len(problems), infilling.dataset_sha256(problems)) == PINNED[name]


def test_fim_benchmarks_are_registered():
  assert set(infilling.FIM_BENCHMARKS) <= set(benchmark_names())


def test_task_ids_follow_human_eval_infilling():
  single = list(get_benchmark("humaneval-infill-single").problems)
  multi = list(get_benchmark("humaneval-infill-multi").problems)
  assert single[:2] == ["SingleLineInfilling/HumanEval/0/L0", "SingleLineInfilling/HumanEval/0/L1"]
  assert multi[:2] == ["MultiLineInfilling/HumanEval/0/L0_L0", "MultiLineInfilling/HumanEval/0/L0_L1"]


@pytest.mark.parametrize("name", ["humaneval-infill-single", "humaneval-infill-multi"])
def test_prefix_middle_suffix_is_the_problem_and_its_solution(name):
  raws = read_humaneval()
  for task_id, task in get_benchmark(name).problems.items():
    raw = raws["/".join(task_id.split("/")[1:3])]
    start = int(task_id.split("/")[3].split("_")[0][1:])
    extra = "\n" if start == 0 else ""  # a hole at the first line: the prompt gets one more "\n"
    assert task.prompt + task.middle + task.suffix == raw["prompt"] + extra + raw["canonical_solution"]
    assert task.middle.strip() and task.middle.endswith("\n")


def test_random_spans_are_ten_nonempty_character_spans_per_problem():
  raws = read_humaneval()
  problems = get_benchmark("humaneval-infill-random").problems
  for task_id, task in problems.items():
    raw = raws["/".join(task_id.split("/")[1:3])]
    assert task.prompt + task.middle + task.suffix == raw["prompt"] + raw["canonical_solution"]
    assert task.middle
  assert len(problems) == infilling.SPANS_PER_PROBLEM * len(raws)


def test_stratified_subset_spreads_over_every_problem():
  problems = get_benchmark("humaneval-infill-multi").problems
  chosen = infilling.stratified_task_ids(problems, 500)
  assert len(chosen) == 500 == len(set(chosen))
  assert len({t.split("/")[2] for t in chosen}) == 164
  assert chosen == infilling.stratified_task_ids(problems, 500)  # deterministic


@pytest.mark.parametrize("name", ["humaneval-infill-single", "humaneval-infill-multi",
                                  "humaneval-infill-random", "fim-exact-line"])
def test_canonical_middles_pass_and_empty_ones_mostly_fail(name, sandbox, tmp_path):
  benchmark = get_benchmark(name)
  benchmark = benchmark.subset(infilling.stratified_task_ids(benchmark.problems, 12))
  canonical = [{"task_id": t, "completion": p.middle} for t, p in benchmark.problems.items()]
  summary = evaluate_samples(benchmark, canonical, str(tmp_path / "canonical"), ks=(1,),
                             sandbox=sandbox, progress=False)
  assert summary["pass@1"] == 1.0
  empty = [{"task_id": t, "completion": ""} for t in benchmark.problems]
  summary = evaluate_samples(benchmark, empty, str(tmp_path / "empty"), ks=(1,), sandbox=sandbox,
                             timeouts=Timeouts(run=3.0), progress=False)  # some loop forever
  assert summary["pass@1"] < 0.3


def test_exact_line_compares_stripped_text(sandbox, tmp_path):
  benchmark = get_benchmark("fim-exact-line").subset(["FimExactLine/HumanEval/0/L0"])
  task = benchmark.problems["FimExactLine/HumanEval/0/L0"]
  samples = [{"task_id": task.task_id, "completion": "  " + task.middle.strip() + "  \n"},
             {"task_id": task.task_id, "completion": task.middle.replace("idx", "i")},
             {"task_id": task.task_id, "completion": "'); import os; os._exit(0) #"}]
  evaluate_samples(benchmark, samples, str(tmp_path), ks=(1,), sandbox=sandbox, progress=False)
  verdicts = [json.loads(line)["passed"] for line in open(tmp_path / "results.jsonl")]
  assert verdicts == [True, False, False]


@pytest.mark.slow
def test_single_line_canonical_is_perfect_and_empty_middles_reach_the_floor(sandbox, tmp_path):
  # openai/human-eval-infilling: an empty middle still passes 27 of the 1,033 tasks.
  benchmark = get_benchmark("humaneval-infill-single")
  summary = evaluate_samples(benchmark, [{"task_id": t, "completion": p.middle}
                                         for t, p in benchmark.problems.items()],
                             str(tmp_path / "canonical"), ks=(1,), sandbox=sandbox, progress=False)
  assert summary["pass@1"] == 1.0
  summary = evaluate_samples(benchmark, [{"task_id": t, "completion": ""}
                                         for t in benchmark.problems],
                             str(tmp_path / "empty"), ks=(1,), sandbox=sandbox, progress=False)
  assert summary["results"]["passed"] == 27


class RecordingGenerator:
  """Stands in for a Generator: records the prompt text of each row and answers with the
  canonical middle of the task whose prompt it was."""

  class tokens:  # pylint: disable=invalid-name
    class config:  # pylint: disable=invalid-name
      max_seq_len = 100_000

  def __init__(self, answers):
    self.texts, self.answers, self.budgets = [], answers, []

  def encode(self, text):
    self.texts.append(text)
    return [len(self.texts) - 1]

  def fim_prompt(self, prefix, suffix, *, spm=False):
    return tokens.fim_prompt(prefix, suffix, spm=spm)

  def complete_ids(self, encoded, sampling, extra_stops=()):
    self.budgets.append(sampling.max_new_tokens)
    return [Completion(i, self.answers[self.texts[ids[0]]], [], "eos")
            for i, ids in enumerate(encoded)]


@pytest.mark.parametrize("spm", [False, True])
def test_generation_asks_for_the_middle_in_starcoders_fim_order(spm, tmp_path):
  benchmark = get_benchmark("humaneval-infill-single").subset(
      ["SingleLineInfilling/HumanEval/0/L3"])
  task = benchmark.problems["SingleLineInfilling/HumanEval/0/L3"]
  if spm:
    expected = "<fim_prefix><fim_suffix>" + task.suffix + "<fim_middle>" + task.prompt
  else:
    expected = "<fim_prefix>" + task.prompt + "<fim_suffix>" + task.suffix + "<fim_middle>"
  generator = RecordingGenerator({expected: task.middle})
  path = generate_samples(generator, benchmark, str(tmp_path / "samples.jsonl"),
                          GenerationSettings(num_samples=1, spm=spm), progress=False)
  assert generator.texts == [expected]
  assert generator.budgets == [infilling.InfillSingleLine.max_new_tokens]
  record = json.loads(open(path).read())
  assert record == {"task_id": task.task_id, "completion": task.middle}  # the middle, verbatim
