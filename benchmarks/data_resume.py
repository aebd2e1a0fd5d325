"""Resume cost and throughput of the training input: time to the first batch when a run resumes
at `start_batch` 10, 100,000 and 10,000,000 (each in a fresh process, as after a preemption),
and steady-state tokens/s of the step-indexed pipeline next to the tf.data one, measured in the
same session (the machine's load moves both alike).

    python benchmarks/data_resume.py                      # local_code, bench.gin (8 × 512)
    python benchmarks/data_resume.py --seconds=30 --replay_batches=200
    python benchmarks/data_resume.py --only=steady --seconds=120     # both pipelines, one process
    python benchmarks/data_resume.py --only=steady --fresh_counts    # as a first run: counting

Goal (issue 14): the three first-batch times within 1.5× of each other, and tokens/s no lower
than the tf.data pipeline's. The tf.data pipeline's resume replays the stream: its time to the
first batch at `--replay_batches` is measured too, to show the linear growth being removed.
"""

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _setup(gin_file: str, indexed: bool, cache_dir: str = ""):
  from starjax import gin_config  # pylint: disable=import-outside-toplevel
  bindings = [f"indexed_pipeline.enabled = {indexed}"]
  if cache_dir:
    bindings.append(f"data_paths.cache_dir = '{cache_dir}'")
  gin_config.parse([gin_file], bindings)
  import gin  # pylint: disable=import-outside-toplevel
  return gin.query_parameter("DecoderConfig.max_seq_len")


def worker(args) -> dict:
  """One fresh process: time to the first batch at start_batch, then optionally tokens/s."""
  started = time.perf_counter()
  seq_len = _setup(args.gin_file, args.pipeline == "indexed", args.cache_dir)
  from starjax.data import loader, tasks  # pylint: disable=import-outside-toplevel
  tasks.register_tasks()
  loader.vocab_size(args.task)  # the tokenizer and mixture rates: the same for both pipelines
  ready = time.perf_counter()
  batches = loader.train_batches(args.task, seq_len=seq_len, batch_size=args.batch_size,
                                 seed=0, start_batch=args.start_batch)
  next(batches)
  # seek: from the train_batches call to its first batch (plan or tf.data graph + replay);
  # first_batch: from the process's start (imports, gin, task registration included).
  result = {"pipeline": args.pipeline, "start_batch": args.start_batch,
            "first_batch_seconds": time.perf_counter() - started,
            "seek_seconds": time.perf_counter() - ready}
  if args.seconds > 0:
    for _ in range(args.warmup_batches):
      next(batches)
    count = real = 0
    wall, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - wall < args.seconds:
      batch = next(batches)
      count += 1
      real += int((batch["decoder_segment_ids"] > 0).sum())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    result.update(tokens_per_second=count * args.batch_size * seq_len / wall,
                  real_tokens_per_second=real / wall, cpu_cores_used=cpu / wall,
                  batches=count)
  return result


def count_tokens(args) -> dict:
  """The one-time pass: every document of every task counted (token_counts), then cached."""
  seq_len = _setup(args.gin_file, True, args.cache_dir)
  from starjax.data import indexed_loader  # pylint: disable=import-outside-toplevel
  started = time.perf_counter()
  plan = indexed_loader.pack_plan_for(args.task, seq_len=seq_len, seed=0)
  built = time.perf_counter()
  counted = sum(len(t.stream.index) - t.stream.counts.known for t in plan.tasks)
  for t in plan.tasks:
    t.stream.counts.ensure_all()
  tokens = sum(int(t.stream.counts.content.sum()) for t in plan.tasks)
  return {"plan_seconds": built - started, "count_seconds": time.perf_counter() - built,
          "documents_counted": counted, "content_tokens": tokens}


def same_process(args) -> dict:
  """Steady-state tokens/s of both pipelines in one process, alternating `--rounds` windows,
  so the machine's load moves both alike. tf.data's prefetch threads may run ahead while the
  indexed pipeline is timed (bounded by its buffers), which favours tf.data slightly."""
  import gin  # pylint: disable=import-outside-toplevel
  seq_len = _setup(args.gin_file, True, args.cache_dir)
  from starjax.data import loader, tasks  # pylint: disable=import-outside-toplevel
  tasks.register_tasks()
  kwargs = dict(seq_len=seq_len, batch_size=args.batch_size, seed=0,
                start_batch=args.start_batch)
  from starjax.data import indexed_loader  # pylint: disable=import-outside-toplevel
  plan = indexed_loader.pack_plan_for(args.task, seq_len=seq_len, seed=0)
  counted = (sum(t.stream.counts.known for t in plan.tasks)
             / sum(len(t.stream.index) for t in plan.tasks))
  iterators = {"indexed": loader.train_batches(args.task, **kwargs)}
  next(iterators["indexed"])
  with gin.unlock_config():
    gin.bind_parameter("starjax.data.indexed_pipeline.enabled", False)
  iterators["tf_data"] = loader.train_batches(args.task, **kwargs)
  next(iterators["tf_data"])  # the generator reads the option on its first batch
  with gin.unlock_config():
    gin.bind_parameter("starjax.data.indexed_pipeline.enabled", True)
  totals = {p: {"batches": 0, "real": 0, "wall": 0.0, "cpu": 0.0} for p in iterators}
  for p, it in iterators.items():
    for _ in range(args.warmup_batches):
      next(it)
  for _ in range(args.rounds):
    for p, it in iterators.items():
      t = totals[p]
      wall, cpu = time.perf_counter(), time.process_time()
      while time.perf_counter() - wall < args.seconds / args.rounds:
        t["real"] += int((next(it)["decoder_segment_ids"] > 0).sum())
        t["batches"] += 1
      t["wall"] += time.perf_counter() - wall
      t["cpu"] += time.process_time() - cpu
  out = {}
  for p, t in totals.items():
    out[p] = {"tokens_per_second": t["batches"] * args.batch_size * seq_len / t["wall"],
              "real_tokens_per_second": t["real"] / t["wall"],
              "cpu_cores_used": t["cpu"] / t["wall"], "batches": t["batches"]}
  out["ratio"] = out["indexed"]["tokens_per_second"] / out["tf_data"]["tokens_per_second"]
  out["real_ratio"] = (out["indexed"]["real_tokens_per_second"]
                       / out["tf_data"]["real_tokens_per_second"])
  produced = (totals["indexed"]["batches"] + 1 + args.warmup_batches) * args.batch_size * seq_len
  out["packing"] = {"tokens": produced, "dropped": plan.dropped_tokens,
                    "padding": plan.padding_tokens, "fim_documents": plan.fim_fit.fim_documents,
                    "fim_trimmed": plan.fim_fit.trimmed, "fim_padded": plan.fim_fit.padded}
  out["documents_counted_at_start"] = counted
  out["load_average"] = os.getloadavg()[0]
  return out


def quickstart_data(args) -> dict:
  """The quickstart's input: time to its TRAIN_STEPS batches from a fresh plan (first batch
  included), each pipeline in turn in one process (what `python run.py` pays for its data
  beyond the corpus and tokenizer, which both pipelines share)."""
  import gin  # pylint: disable=import-outside-toplevel
  seq_len = _setup(args.gin_file, True, args.cache_dir)
  steps = gin.query_parameter("%TRAIN_STEPS")
  batch = gin.query_parameter("%BATCH_SIZE")
  from starjax.data import loader, tasks  # pylint: disable=import-outside-toplevel
  tasks.register_tasks()
  loader.vocab_size(args.task)
  out = {"steps": steps, "batch_size": batch, "seq_len": seq_len}
  for pipeline in ("indexed", "tf_data"):
    with gin.unlock_config():
      gin.bind_parameter("starjax.data.indexed_pipeline.enabled", pipeline == "indexed")
    started = time.perf_counter()
    batches = loader.train_batches(args.task, seq_len=seq_len, batch_size=batch, seed=0)
    next(batches)
    first = time.perf_counter() - started
    for _ in range(steps - 1):
      next(batches)
    out[pipeline] = {"first_batch_seconds": first,
                     "all_batches_seconds": time.perf_counter() - started}
  out["load_average"] = os.getloadavg()[0]
  return out


def _spawn(args, pipeline: str, start_batch: int, seconds: float) -> dict:
  command = [sys.executable, os.path.abspath(__file__), "--worker", f"--pipeline={pipeline}",
             f"--start_batch={start_batch}", f"--seconds={seconds}", f"--task={args.task}",
             f"--gin_file={args.gin_file}", f"--batch_size={args.batch_size}",
             f"--warmup_batches={args.warmup_batches}", f"--rounds={args.rounds}",
             f"--cache_dir={args.cache_dir}"]
  out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
  lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
  if out.returncode or not lines:
    raise SystemExit(f"worker failed ({out.returncode}):\n{out.stderr[-3000:]}")
  return json.loads(lines[-1])


def _fresh_cache() -> str:
  """A cache root sharing the default one's corpus and tokenizers but nothing derived from them
  (random_access/: document indexes and token counts), removed at exit."""
  import atexit  # pylint: disable=import-outside-toplevel
  import shutil  # pylint: disable=import-outside-toplevel
  import tempfile  # pylint: disable=import-outside-toplevel
  sys.path.insert(0, ROOT)
  from starjax.data import config  # pylint: disable=import-outside-toplevel
  base = config.data_paths().cache_dir
  root = tempfile.mkdtemp(prefix="data_resume_")
  atexit.register(shutil.rmtree, root, True)
  for name in ("local_corpus", "tokenizers"):
    os.symlink(os.path.join(base, name), os.path.join(root, name))
  return root


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--gin_file", default="gin/models/bench.gin")
  parser.add_argument("--task", default="local_code")
  parser.add_argument("--batch_size", type=int, default=8)
  parser.add_argument("--seconds", type=float, default=60.0, help="steady-state measurement")
  parser.add_argument("--warmup_batches", type=int, default=20)
  parser.add_argument("--replay_batches", type=int, default=500,
                      help="start_batch for the tf.data pipeline's resume (it replays); 0 skips "
                      "the tf.data resumes")
  parser.add_argument("--rounds", type=int, default=6,
                      help="alternating windows per pipeline in the same-process comparison")
  parser.add_argument("--only", choices=["all", "count", "resume", "steady", "quickstart"],
                      default="all", help="one part: the one-time token count, the resumes, "
                      "the steady state of both pipelines in one process, or the quickstart's "
                      "batches (use --gin_file=experiments/quickstart.gin)")
  parser.add_argument("--fresh_counts", action="store_true",
                      help="start with no document index and no token counts (a first run: the "
                      "first epoch counts as it goes); the corpus and tokenizer are shared")
  parser.add_argument("--cache_dir", default="", help=argparse.SUPPRESS)
  parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--pipeline", default="indexed", help=argparse.SUPPRESS)
  parser.add_argument("--start_batch", type=int, default=0, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    run = {"count": count_tokens, "both": same_process,
           "quickstart": quickstart_data}.get(args.pipeline, worker)
    print(json.dumps(run(args)))
    return 0

  if args.fresh_counts:
    args.cache_dir = _fresh_cache()
  results = {}
  if args.only in ("all", "count"):
    # The document index and every document's token count: a one-time cost per store.
    r = results["count"] = _spawn(args, "count", 0, 0)
    print(f"one-time: plan {r['plan_seconds']:.1f} s, counted {r['documents_counted']:,} "
          f"documents ({r['content_tokens']:,} content tokens) in {r['count_seconds']:.1f} s")
  if args.only in ("all", "resume"):
    resumes = results["resumes"] = [_spawn(args, "indexed", n, 0)
                                     for n in (10, 100_000, 10_000_000)]
    for r in resumes:
      print(f"indexed  start_batch {r['start_batch']:>10,}: first batch after "
            f"{r['first_batch_seconds']:.2f} s (seek {r.get('seek_seconds', 0):.2f} s)")
    times = [r["seek_seconds"] for r in resumes]
    print(f"  seek spread max/min {max(times) / min(times):.2f}× (goal ≤ 1.5×)")
    for n in (10, args.replay_batches) if args.replay_batches > 0 else ():
      r = _spawn(args, "tf_data", n, 0)
      print(f"tf.data  start_batch {n:>10,}: first batch after {r['first_batch_seconds']:.2f} s "
            f"(seek {r.get('seek_seconds', 0):.2f} s)")
  if args.only in ("all", "steady"):
    r = results["steady"] = _spawn(args, "both", args.start_batch, args.seconds)
    for p in ("indexed", "tf_data"):
      print(f"{p:8} steady state: {r[p]['tokens_per_second']:,.0f} tokens/s "
            f"({r[p]['real_tokens_per_second']:,.0f} non-padding), "
            f"{r[p]['cpu_cores_used']:.2f} cores")
    print(f"indexed / tf.data: {r['ratio']:.2f}× ({r['real_ratio']:.2f}× non-padding), same "
          f"process, {args.rounds} alternating windows each; "
          f"{r['documents_counted_at_start']:.0%} of the documents counted at the start")
    k = r["packing"]
    print(f"indexed packing over {k['tokens']:,} tokens: {k['dropped']} dropped, "
          f"{k['padding']} padding; FIM's length rule trimmed {k['fim_trimmed']:,} and padded "
          f"{k['fim_padded']:,} tokens of {k['fim_documents']:,} FIM documents")
  if args.only == "quickstart":
    r = results["quickstart"] = _spawn(args, "quickstart", 0, 0)
    for p in ("indexed", "tf_data"):
      print(f"{p:8} quickstart input: first batch {r[p]['first_batch_seconds']:.1f} s, "
            f"{r['steps']} batches of {r['batch_size']} × {r['seq_len']} in "
            f"{r[p]['all_batches_seconds']:.1f} s")
  print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
  print(json.dumps(results))
  return 0


if __name__ == "__main__":
  sys.exit(main())
