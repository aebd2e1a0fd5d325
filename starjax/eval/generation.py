"""Completions for a benchmark from a model: the generation half of `run.py eval` and of the
training-time evaluation hook.

Prompts are generated from with their trailing whitespace removed (as the BigCode harness
does: a prompt ending in "\\n" would force the model to start a line mid-token), the
generation is cut at the benchmark's stop strings, and the completion is written so that
problem.prompt + completion is exactly what the model wrote after the stripped prompt.
Samples are appended to samples.jsonl as they are made; a rerun continues where it stopped.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import os
import time
from concurrent import futures
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

import gin
import jax

from starjax.eval.benchmarks import Benchmark
from starjax.eval.execution import DEFAULT_KS, Timeouts, evaluate_samples
from starjax.eval.humaneval import generation_prompt
from starjax.infer.decoding import TokenGenerator
from starjax.infer.generator import Generator
from starjax.infer.sampling import SamplingConfig


SAMPLES_FILE = "samples.jsonl"
SPEED_FILE = "generation.json"  # samples, seconds and samples/s of the last generation


@gin.configurable
@dataclasses.dataclass(frozen=True)
class GenerationSettings:
  """The published HumanEval/MultiPL-E settings by default: temperature 0.2, top-p 0.95,
  n = 50 samples, max length 512 tokens (prompt + completion)."""
  num_samples: int = 50
  temperature: float = 0.2
  top_p: float = 0.95
  max_length: int = 512
  prompted: bool = False
  # All n = 50 samples of a problem in one batch: a decode step reads the weights once for
  # every row; on the bench model 50-row batches made 1.6x the samples per CPU-second of
  # 16-row ones (BENCHMARKS.md, evaluation generation).
  batch_size: int = 50
  seed: int = 0
  spm: bool = False  # FIM benchmarks: suffix-prefix-middle order instead of prefix-suffix-middle
  # Batches decoded at once, each from its own thread (0: auto, see concurrent_batches). On a
  # CPU, XLA runs a decode step's GEMMs on every core but its other fusions (attention,
  # sampling, layer norms) on one, so one batch leaves cores idle that a second batch's step
  # fills: two 50-row batches on the 2-core bench machine made 1.46x the samples/s of one at
  # a time (BENCHMARKS.md, evaluation generation).
  concurrent_batches: int = 0
  # Problems whose consecutive batches decode as one (each row keeps its own problem's token
  # budget, max_length minus its prompt); 0: auto, see problems_per_batch. Two problems' 50
  # samples in one 100-row batch, both prompts held once and each row block meeting only its
  # own prompt's keys, made +10 % samples/s over 50-row batches on the 2-core bench machine:
  # a step reads the weights once for twice the rows (BENCHMARKS.md, evaluation generation).
  problems_per_batch: int = 0


def problems_per_batch(settings: GenerationSettings, tokens=None) -> int:
  """settings.problems_per_batch, checked; when 0 (auto): 2 where the decoder (tokens, a
  TokenGenerator) holds the prompts once on a CPU device, where it was measured faster, else 1
  (a mesh copies prompts into rows, and an accelerator is unmeasured)."""
  if settings.problems_per_batch < 0:
    raise ValueError(f"GenerationSettings.problems_per_batch={settings.problems_per_batch} "
                     f"must be >= 1, or 0 for auto")
  if settings.problems_per_batch:
    return settings.problems_per_batch
  held_on_cpu = (isinstance(tokens, TokenGenerator) and tokens.share_prefix
                 and tokens.loop_layout)
  return 2 if held_on_cpu else 1


def concurrent_batches(tokens: TokenGenerator, settings: GenerationSettings) -> int:
  """settings.concurrent_batches, or when 0: 2 on a single CPU device, else 1. An accelerator
  keeps one batch at a time (its step already fills the chip, and two would double the KV
  cache), and so does a mesh: every host of a pod must launch its programs in the same order."""
  if settings.concurrent_batches:
    return settings.concurrent_batches
  single_cpu = getattr(tokens, "mesh", None) is None and jax.devices()[0].platform == "cpu"
  return 2 if single_cpu else 1


_Item, _Result = TypeVar("_Item"), TypeVar("_Result")


def in_order(fn: Callable[[_Item], _Result], items: Iterable[_Item], workers: int
             ) -> Iterator[_Result]:
  """fn(item) for every item, up to `workers` running at once in threads, yielded in the
  items' order (so results are written in the order a sequential run writes them). At most
  2 * workers items are taken ahead of the one being yielded."""
  if workers <= 1:
    yield from map(fn, items)
    return
  with futures.ThreadPoolExecutor(workers, thread_name_prefix="generate") as pool:
    pending = collections.deque()
    try:
      for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= 2 * workers:
          yield pending.popleft().result()
      while pending:
        yield pending.popleft().result()
    finally:
      for future in pending:  # an error or a caller that stopped early: start nothing more
        future.cancel()


def completion_after(prompt: str, generated: str) -> str:
  """The completion to score after `prompt`, from text generated after prompt.rstrip() (and
  already cut at the stop strings by the Generator)."""
  stripped = prompt.rstrip()
  tail = prompt[len(stripped):]
  return generated[len(tail):] if generated.startswith(tail) else generated


def read_done(path: str) -> dict[str, int]:
  """task_id → samples already in a samples.jsonl (a line cut short by a crash is dropped)."""
  done: dict[str, int] = {}
  if not os.path.exists(path):
    return done
  good = []
  with open(path) as f:
    for line in f:
      try:
        record = json.loads(line)
        done[record["task_id"]] = done.get(record["task_id"], 0) + 1
        good.append(line if line.endswith("\n") else line + "\n")
      except (ValueError, KeyError, TypeError):
        continue
  with open(path + ".tmp", "w") as f:
    f.writelines(good)
  os.replace(path + ".tmp", path)
  return done


def generate_samples(generator: Generator, benchmark: Benchmark, out_path: str,
                     settings: GenerationSettings = GenerationSettings(), *,
                     progress: bool = True) -> str:
  """Writes settings.num_samples completions per problem of `benchmark` to out_path (JSONL
  {"task_id", "completion"}), skipping what is already there. Returns out_path."""
  done = read_done(out_path)
  context = generator.tokens.config.max_seq_len
  fim = bool(getattr(benchmark.language, "fim", False))
  work = []  # (task_id, prompt ids, samples still needed)
  for task_id, problem in benchmark.problems.items():
    missing = settings.num_samples - done.get(task_id, 0)
    if missing <= 0:
      continue
    if fim:  # the whole file is the prompt; the middle gets the language's max_new_tokens
      ids = generator.encode(generator.fim_prompt(problem.prompt, problem.suffix,
                                                  spm=settings.spm))
      if len(ids) >= context:
        raise ValueError(f"{benchmark.name} {task_id}: the FIM prompt has {len(ids)} tokens, "
                         f"no room in the model's context of {context}")
      work.extend((task_id, ids) for _ in range(missing))
      continue
    text = generation_prompt(problem, prompted=settings.prompted).rstrip()
    ids = generator.encode(text)
    if len(ids) >= min(settings.max_length, context):
      raise ValueError(f"{benchmark.name} {task_id}: the prompt has {len(ids)} tokens, no room "
                       f"below max_length={settings.max_length} (context {context}); raise "
                       f"--max_length or use a model with a longer context")
    work.extend((task_id, ids) for _ in range(missing))
  # Similar prompt lengths together: fewer compiled shapes, less padding.
  work.sort(key=lambda item: (len(item[1]), item[0]))
  bar = None
  if progress:
    from tqdm.auto import tqdm  # pylint: disable=import-outside-toplevel
    bar = tqdm(total=len(work), desc=f"{benchmark.name}: generating", unit="sample")
  os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
  started = time.monotonic()

  def complete(item):
    start, batch = item
    # Each row's own budget, whatever prompt it shares a batch with.
    budgets = [min(benchmark.language.max_new_tokens, context - len(ids)) if fim
               else min(settings.max_length, context) - len(ids) for _, ids in batch]
    sampling = batch_sampling(settings, max(budgets), benchmark.language.stop_tokens, start)
    encoded = [ids for _, ids in batch]
    if len(set(budgets)) == 1:  # one problem's batch: the plain call
      return batch, generator.complete_ids(encoded, sampling)
    return batch, generator.complete_ids(encoded, sampling, max_new_tokens=budgets)

  batches = problem_batches(work, settings.batch_size,
                            problems_per_batch(settings, getattr(generator, "tokens", None)))
  with open(out_path, "a") as out:
    for batch, completions in in_order(complete, batches,
                                       concurrent_batches(generator.tokens, settings)):
      for (task_id, _), completion in zip(batch, completions):
        problem = benchmark.problems[task_id]
        text = completion.text if fim else completion_after(problem.prompt, completion.text)
        out.write(json.dumps({"task_id": task_id, "completion": text}) + "\n")
      out.flush()
      if bar is not None:
        bar.update(len(batch))
  if bar is not None:
    bar.close()
  if work:
    seconds = time.monotonic() - started
    speed = {"samples": len(work), "seconds": round(seconds, 3),
             "samples_per_second": round(len(work) / max(seconds, 1e-9), 3)}
    with open(os.path.join(os.path.dirname(os.path.abspath(out_path)), SPEED_FILE), "w") as f:
      json.dump(speed, f)
    logging.info("%s: %d samples in %.1f s (%.2f samples/s)", benchmark.name, len(work), seconds,
                 speed["samples_per_second"])
  return out_path


def batch_sampling(settings: GenerationSettings, max_new_tokens: int, stop: Sequence[str],
                   start: int) -> SamplingConfig:
  """How the batch that starts at item `start` of the work list is sampled: the settings'
  temperature and top-p (top-p only when sampling), seeded with the settings' seed + start."""
  return SamplingConfig(
      temperature=settings.temperature, top_p=settings.top_p if settings.temperature else 1.0,
      max_new_tokens=max_new_tokens, stop=tuple(stop),  # cut by the Generator
      seed=settings.seed + start)


def problem_batches(work: list, batch_size: int, problems: int = 1) -> list[tuple[int, list]]:
  """(index of its first item, batch) of the (task_id, prompt ids) work list: a problem's
  samples are split into equal batches of at most batch_size (50 at 16 → 12, 13, 12, 13), and
  up to `problems` consecutive ones of different problems decode as one batch, so the decoder
  prefills each prompt once and holds it once for the batch. The work list is in prompt-length
  order, so nearby batches share compiled shapes (and merged problems have similar prompts)."""
  batches, start = [], 0
  while start < len(work):
    end = start
    while end < len(work) and work[end][0] == work[start][0]:
      end += 1
    count = -(-(end - start) // batch_size)
    for i in range(count):
      lo = start + (end - start) * i // count
      hi = start + (end - start) * (i + 1) // count
      batches.append((lo, work[lo:hi]))
    start = end
  merged: list[tuple[int, list, set]] = []
  for lo, batch in batches:
    if merged and len(merged[-1][2]) < problems and batch[0][0] not in merged[-1][2]:
      first, items, tasks = merged[-1]
      merged[-1] = (first, items + batch, tasks | {batch[0][0]})
    else:
      merged.append((lo, batch, {batch[0][0]}))
  return [(lo, batch) for lo, batch, _ in merged]


def generate_and_score(generator: Generator, benchmark: Benchmark, out_dir: str,
                       settings: GenerationSettings = GenerationSettings(), *,
                       ks: Sequence[int] = DEFAULT_KS, num_workers: int | None = None,
                       timeouts: Timeouts | None = None, progress: bool = True) -> dict:
  """The one path from a model to a benchmark's scores (used by `run.py eval`, the train-time
  hook and the quickstart): completions to OUT_DIR/samples.jsonl, then sandboxed execution to
  OUT_DIR/results.jsonl and summary.json. Both halves resume. Returns the summary."""
  from starjax.eval import harness_format  # pylint: disable=import-outside-toplevel
  samples = generate_samples(generator, benchmark, os.path.join(out_dir, SAMPLES_FILE),
                             settings, progress=progress)
  summary = evaluate_samples(benchmark, samples, out_dir, ks=ks, num_workers=num_workers,
                             timeouts=timeouts, progress=progress)
  harness_format.write_harness_files(out_dir, benchmark, summary, harness_config(generator,
                                                                                 settings))
  speed_path = os.path.join(out_dir, SPEED_FILE)
  if os.path.exists(speed_path):
    with open(speed_path) as f:
      summary["generation"] = json.load(f)
  return summary


def harness_config(generator: Generator, settings: GenerationSettings) -> dict:
  """The config block of bigcode-evaluation-harness's evaluation_results.json for a run."""
  from starjax.eval.humaneval import PROMPTED_PREFIX  # pylint: disable=import-outside-toplevel
  return {"model": getattr(generator, "source", None), "temperature": settings.temperature,
          "top_p": settings.top_p, "n_samples": settings.num_samples,
          "max_length_generation": settings.max_length, "do_sample": settings.temperature > 0,
          "prefix": PROMPTED_PREFIX if settings.prompted else "", "seed": settings.seed,
          "batch_size": settings.batch_size, "fim_order": "spm" if settings.spm else "psm",
          "starjax_settings": dataclasses.asdict(settings)}


def first_problems(benchmark: Benchmark, count: int) -> list[str]:
  """The first `count` task ids of a benchmark (a fixed, comparable subset for hooks)."""
  return list(benchmark.problems)[:count]


def first_fitting(generator: Generator, benchmark: Benchmark, count: int,
                  settings: GenerationSettings) -> Benchmark:
  """The first `count` problems whose prompt leaves room to generate within max_length and the
  model's context: a fixed subset for small models (training hooks, the quickstart)."""
  limit = min(settings.max_length, generator.tokens.config.max_seq_len)
  chosen = []
  for task_id, problem in benchmark.problems.items():
    text = generation_prompt(problem, prompted=settings.prompted).rstrip()
    if len(generator.encode(text)) < limit - 16:
      chosen.append(task_id)
    if len(chosen) == count:
      break
  return benchmark.subset(chosen)


def task_subset(benchmark: Benchmark, task_ids: Iterable[str] | None, limit: int | None
                ) -> Benchmark:
  if task_ids:
    benchmark = benchmark.subset(task_ids)
  if limit:
    benchmark = benchmark.subset(first_problems(benchmark, limit))
  return benchmark
