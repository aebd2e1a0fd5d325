"""Input-pipeline throughput: tokens/s of read → metadata → FIM → tokenize → pack → batch, for
the bench model's batches, next to what training that model consumes.

    python benchmarks/data_pipeline.py                       # local_code, bench.gin, 60 s
    python benchmarks/data_pipeline.py --task=local_python --seconds=30

Builds (or reuses) the local corpus and its tokenizer at the model's VOCAB_SIZE first. Counts
tokens as training does (batch × sequence length per batch) and also the share that is real
(non-padding). Goal (issue 3): the pipeline delivers ≥ 10× the bench model's train consumption
on 2 CPU cores. The machine's load average is printed because other work skews both numbers.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from starjax import gin_config  # noqa: E402


def pipeline_tokens_per_second(task: str, *, seq_len: int, batch_size: int, seconds: float,
                               warmup_batches: int) -> dict:
  """Runs train_batches for `seconds` after `warmup_batches`; returns rates and CPU use."""
  from starjax.data import loader  # pylint: disable=import-outside-toplevel
  started = time.perf_counter()
  batches = loader.train_batches(task, seq_len=seq_len, batch_size=batch_size, seed=0)
  next(batches)
  first_batch = time.perf_counter() - started
  for _ in range(warmup_batches):
    next(batches)
  count = real = 0
  wall, cpu = time.perf_counter(), time.process_time()
  while time.perf_counter() - wall < seconds:
    batch = next(batches)
    count += 1
    real += int((batch["decoder_segment_ids"] > 0).sum())
  wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
  return {"tokens_per_second": count * batch_size * seq_len / wall,
          "real_tokens_per_second": real / wall, "batches": count,
          "cpu_cores_used": cpu / wall, "first_batch_seconds": first_batch}


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--gin_file", default="gin/models/bench.gin")
  parser.add_argument("--task", default="local_code")
  parser.add_argument("--batch_size", type=int, default=8)
  parser.add_argument("--seq_len", type=int, default=None, help="default: the model's")
  parser.add_argument("--seconds", type=float, default=60.0)
  parser.add_argument("--warmup_batches", type=int, default=20)
  parser.add_argument("--skip_train", action="store_true",
                      help="do not measure the model's training consumption")
  args, rest = parser.parse_known_args()
  files, bindings, _ = gin_config.split_gin_flags(rest)
  gin_config.parse([args.gin_file, *files], bindings)
  import gin  # pylint: disable=import-outside-toplevel
  seq_len = args.seq_len or gin.query_parameter("DecoderConfig.max_seq_len")

  # pylint: disable-next=import-outside-toplevel
  from starjax.data import ensure_local_corpus, ensure_tokenizer
  ensure_local_corpus(progress=True)
  tokenizer_started = time.perf_counter()
  tokenizer = ensure_tokenizer(progress=True)
  print(f"tokenizer: {tokenizer} (ready in {time.perf_counter() - tokenizer_started:.0f} s)")

  result = pipeline_tokens_per_second(args.task, seq_len=seq_len, batch_size=args.batch_size,
                                      seconds=args.seconds, warmup_batches=args.warmup_batches)
  load = os.getloadavg()[0]
  print(f"pipeline {args.task}, batch {args.batch_size} x {seq_len}, {os.cpu_count()} cores, "
        f"load average {load:.1f}:")
  print(f"  {result['tokens_per_second']:,.0f} tokens/s "
        f"({result['real_tokens_per_second']:,.0f} non-padding), {result['batches']} batches, "
        f"{result['cpu_cores_used']:.2f} cores busy, first batch after "
        f"{result['first_batch_seconds']:.1f} s")
  if args.skip_train:
    return 0
  try:
    # pylint: disable-next=import-outside-toplevel
    from starjax.train.benchmarking import train_tokens_per_second
  except ImportError:
    print("starjax.train.benchmarking.train_tokens_per_second is not available: pipeline only")
    return 0
  train = train_tokens_per_second(args.gin_file, batch_size=args.batch_size, seq_len=seq_len)
  ratio = result["tokens_per_second"] / train
  print(f"training {args.gin_file} consumes {train:,.0f} tokens/s: the pipeline is "
        f"{ratio:.1f}x that ({'meets' if ratio >= 10 else 'MISSES'} the 10x goal)")
  print(f"| data pipeline ({args.task}, {args.batch_size}x{seq_len}) | "
        f"{result['tokens_per_second']:,.0f} tok/s | train {train:,.0f} tok/s | {ratio:.1f}x |")
  return 0 if ratio >= 10 else 1


if __name__ == "__main__":
  sys.exit(main())
