"""Resume cost and throughput of the training input: time to the first batch when a run resumes
at `start_batch` 10, 100,000 and 10,000,000 (each in a fresh process, as after a preemption),
and steady-state tokens/s of the step-indexed pipeline next to the tf.data one, measured in the
same session (the machine's load moves both alike).

    python benchmarks/data_resume.py                      # local_code, bench.gin (8 × 512)
    python benchmarks/data_resume.py --seconds=30 --replay_batches=200

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


def _setup(gin_file: str, indexed: bool):
  from starjax import gin_config  # pylint: disable=import-outside-toplevel
  gin_config.parse([gin_file], [f"indexed_pipeline.enabled = {indexed}"])
  import gin  # pylint: disable=import-outside-toplevel
  return gin.query_parameter("DecoderConfig.max_seq_len")


def worker(args) -> dict:
  """One fresh process: time to the first batch at start_batch, then optionally tokens/s."""
  started = time.perf_counter()
  seq_len = _setup(args.gin_file, args.pipeline == "indexed")
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


def _spawn(args, pipeline: str, start_batch: int, seconds: float) -> dict:
  command = [sys.executable, os.path.abspath(__file__), "--worker", f"--pipeline={pipeline}",
             f"--start_batch={start_batch}", f"--seconds={seconds}", f"--task={args.task}",
             f"--gin_file={args.gin_file}", f"--batch_size={args.batch_size}",
             f"--warmup_batches={args.warmup_batches}"]
  out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
  lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
  if out.returncode or not lines:
    raise SystemExit(f"worker failed ({out.returncode}):\n{out.stderr[-3000:]}")
  return json.loads(lines[-1])


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--gin_file", default="gin/models/bench.gin")
  parser.add_argument("--task", default="local_code")
  parser.add_argument("--batch_size", type=int, default=8)
  parser.add_argument("--seconds", type=float, default=60.0, help="steady-state measurement")
  parser.add_argument("--warmup_batches", type=int, default=20)
  parser.add_argument("--replay_batches", type=int, default=500,
                      help="start_batch for the tf.data pipeline's resume (it replays)")
  parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--pipeline", default="indexed", help=argparse.SUPPRESS)
  parser.add_argument("--start_batch", type=int, default=0, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    print(json.dumps(worker(args)))
    return 0

  _spawn(args, "indexed", 0, 0)  # builds (or reuses) the document index: a one-time cost
  resumes = [_spawn(args, "indexed", n, 0) for n in (10, 100_000, 10_000_000)]
  for r in resumes:
    print(f"indexed  start_batch {r['start_batch']:>10,}: first batch after "
          f"{r['first_batch_seconds']:.2f} s (seek {r.get('seek_seconds', 0):.2f} s)")
  times = [r["seek_seconds"] for r in resumes]
  print(f"  seek spread max/min {max(times) / min(times):.2f}× (goal ≤ 1.5×)")
  for n in (10, args.replay_batches):
    r = _spawn(args, "tf_data", n, 0)
    print(f"tf.data  start_batch {n:>10,}: first batch after {r['first_batch_seconds']:.2f} s "
          f"(seek {r.get('seek_seconds', 0):.2f} s)")
  steady = {p: _spawn(args, p, 0, args.seconds) for p in ("indexed", "tf_data")}
  for p, r in steady.items():
    print(f"{p:8} steady state: {r['tokens_per_second']:,.0f} tokens/s "
          f"({r['real_tokens_per_second']:,.0f} non-padding), {r['cpu_cores_used']:.2f} cores")
  print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
  print(json.dumps({"resumes": resumes, "steady": steady}))
  return 0


if __name__ == "__main__":
  sys.exit(main())
