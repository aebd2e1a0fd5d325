"""The serving engine's compiled pieces timed alone, on the bench model: the decode step of all
slots at two cache lengths (its cost should follow the tokens in use, not the cache length), a
next keystroke's pieces (extract the cached row, prefill the few new tokens after the cached
prefix, insert, the host sync on its first token), a census of the decode step's optimized
HLO (the instructions that copy or transpose a whole layer's cache), and a burst of fresh
prompts prefilled k at a time (Engine.prefill_slots) vs one at a time through a one-slot row.

    python benchmarks/serve_step.py [--slots=16] [--cache_lens=128,512] [--trials=4]
                                    [--burst=8] [--burst_bucket=128]
                                    [--hlo=DIR]   # also write the normalised step HLO there

Times are per call, in CPU seconds of this process (time.process_time: all its threads) and
in wall-clock seconds. On a shared machine CPU time moves less with the others' load; trials
interleave the configurations so that a load change hits all of them alike.
"""

import argparse
import json
import os
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

from benchmarks.compiled_programs import normalise  # noqa: E402
from starjax import gin_config  # noqa: E402
from starjax.infer.decoding import TokenGenerator  # noqa: E402
from starjax.model import DecoderConfig, create_decoder  # noqa: E402
from starjax.serve.engine import Engine, Piece, sampling_arrays  # noqa: E402

# "%name = f32[16,512,1,64]{3,2,1,0} copy(" and the like, in any computation (fusions too)
_INSTRUCTION = re.compile(r"=\s+(\w+)\[([\d,]*)\][^ ]*\s+([\w-]+)\(")


def cache_census(hlo: str, cache_elements: int) -> dict:
  """Opcode → count of the instructions whose result is at least one layer's whole cache."""
  counts = {}
  for match in _INSTRUCTION.finditer(hlo):
    dims = [int(d) for d in match.group(2).split(",") if d]
    if dims and int(np.prod(dims)) >= cache_elements:
      counts[match.group(3)] = counts.get(match.group(3), 0) + 1
  return dict(sorted(counts.items()))


def timed(fn, block) -> tuple[float, float]:
  """(CPU seconds, wall seconds) of fn(), blocking on block(result)."""
  cpu, wall = time.process_time(), time.perf_counter()
  block(fn())
  return time.process_time() - cpu, time.perf_counter() - wall


def summary(samples: list[tuple[float, float]]) -> dict:
  cpu, wall = zip(*samples)
  return {"cpu_ms_median": round(1000 * statistics.median(cpu), 2),
          "cpu_ms_min": round(1000 * min(cpu), 2),
          "wall_ms_median": round(1000 * statistics.median(wall), 2),
          "wall_ms_min": round(1000 * min(wall), 2), "calls": len(cpu)}


def burst_prefill(tokens, args, sampling, presence) -> dict:
  """A burst of `--burst` fresh prompts of one bucket prefilled into free slots: in calls of k
  prompts (Engine.prefill_slots) for each compiled k, and one at a time through the one-slot
  row (prefill + insert, the path before batching). Wall ms for the whole burst, median."""
  engine = Engine(tokens, slots=args.slots, cache_len=max(int(n) for n in
                                                          args.cache_lens.split(",")),
                  buckets=(args.burst_bucket,), chunk=args.burst_bucket)
  prompt = tuple(range(1, args.burst_bucket + 1))
  burst = [Piece(slot=i, source=i, tokens=prompt, start=0, sampling=sampling,
                 presence=presence) for i in range(args.burst)]
  ways = {f"k{k}": k for k in engine.batch_sizes(args.burst_bucket)}
  ways["row_path"] = 0
  samples = {name: [] for name in ways}
  state = engine.init()
  for trial in range(args.trials + 1):
    for name, k in ways.items():
      wall = time.perf_counter()
      if k:
        for i in range(0, len(burst), k):
          state, first = engine.prefill_slots(state, burst[i:i + k])
          np.asarray(first.token)  # the scheduler reads each call's first tokens
      else:
        for piece in burst:
          row, first, _ = engine.prefill(None, prompt, 0, sampling, presence)
          state = engine.insert(state, row, first, piece.slot, len(prompt), sampling, presence)
          np.asarray(first.token)
      if trial:  # the first round compiles
        samples[name].append(time.perf_counter() - wall)
  return {"prompts": args.burst, "bucket": args.burst_bucket,
          **{name: round(1000 * statistics.median(v), 1) for name, v in samples.items()}}


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--gin_file", default="gin/models/bench.gin")
  parser.add_argument("--slots", type=int, default=16)
  parser.add_argument("--cache_lens", default="128,512")
  parser.add_argument("--steps", type=int, default=24, help="decode steps per trial")
  parser.add_argument("--trials", type=int, default=4)
  parser.add_argument("--prefix", type=int, default=300, help="cached prompt tokens")
  parser.add_argument("--typed", type=int, default=3, help="tokens a keystroke adds")
  parser.add_argument("--burst", type=int, default=8, help="prompts in the prefill burst")
  parser.add_argument("--burst_bucket", type=int, default=128)
  parser.add_argument("--hlo", help="directory for the normalised decode-step HLO")
  args = parser.parse_args()
  gin_config.parse([args.gin_file], [], finalize=False)
  config = DecoderConfig()
  params = nnx.to_pure_dict(nnx.state(create_decoder(config, seed=0)))
  tokens = TokenGenerator(config, params, eos_id=config.vocab_size)
  lengths = [int(n) for n in args.cache_lens.split(",")]
  engines = {n: Engine(tokens, slots=args.slots, cache_len=n, buckets=(8, 16, 32))
             for n in lengths}
  results = {"slots": args.slots, "load_average_start": os.getloadavg()[0], "census": {}}
  active = np.ones(args.slots, bool)
  sampling = sampling_arrays(0.0, 0, 1.0, 1.0, 0)
  presence = np.zeros(config.vocab_size, bool)

  states = {}
  for n, engine in engines.items():
    states[n] = engine.init()
    with engine.context():
      compiled = engine._generate.lower(tokens.params, states[n], active).compile()  # pylint: disable=protected-access
    text = compiled.as_text()
    per_layer = args.slots * n * config.num_kv_heads * config.resolved_head_dim
    results["census"][f"cache_len_{n}"] = cache_census(text, per_layer)
    if args.hlo:
      os.makedirs(args.hlo, exist_ok=True)
      with open(os.path.join(args.hlo, f"decode_step_{args.slots}x{n}.hlo"), "w") as f:
        f.write(normalise(text))
    states[n], sampled = engine.generate(states[n], active)  # compile the call path
    np.asarray(sampled.token)

  steps = {n: [] for n in lengths}
  for _ in range(args.trials):
    for n, engine in engines.items():
      state = engine.init()
      for _ in range(args.steps):
        cpu, wall = time.process_time(), time.perf_counter()
        state, sampled = engine.generate(state, active)
        np.asarray(sampled.token)  # the scheduler reads every step's tokens
        steps[n].append((time.process_time() - cpu, time.perf_counter() - wall))
  results["decode_step"] = {f"cache_len_{n}": summary(s) for n, s in steps.items()}

  # A next keystroke: `prefix` tokens cached in slot 0, `typed` new ones prefilled after them.
  engine = engines[max(lengths)]
  rng = np.random.default_rng(0)
  prompt = rng.integers(1, config.vocab_size, args.prefix + args.typed).tolist()
  state = engine.init()
  row, first, _ = engine.prefill(None, prompt[:args.prefix], 0, sampling, presence)
  state = engine.insert(state, row, first, 0, args.prefix, sampling, presence)
  pieces = {"extract": [], "prefill": [], "insert": [], "first_token_sync": []}
  ready = jax.block_until_ready
  for trial in range(args.trials * 4 + 1):
    sample = {}
    sample["extract"] = timed(lambda: engine.extract(state, 0), ready)
    cached = engine.extract(state, 0)
    sample["prefill"] = timed(lambda: engine.prefill(cached, prompt[args.prefix:], args.prefix,
                                                     sampling, presence), ready)
    row, first, _ = engine.prefill(cached, prompt[args.prefix:], args.prefix, sampling,
                                   presence)
    jax.block_until_ready(first)
    sample["first_token_sync"] = timed(lambda: int(np.asarray(first.token)[0]), lambda _: None)
    cpu, wall = time.process_time(), time.perf_counter()
    state = engine.insert(state, row, first, 1, len(prompt), sampling, presence)  # donated
    jax.block_until_ready(state)
    sample["insert"] = (time.process_time() - cpu, time.perf_counter() - wall)
    if trial:  # the first round compiles
      for name, value in sample.items():
        pieces[name].append(value)
  results["keystroke"] = {name: summary(s) for name, s in pieces.items()}
  results["keystroke"]["prefill_bucket"] = engine.bucket(args.typed)
  results["burst_prefill"] = burst_prefill(tokens, args, sampling, presence)
  results["load_average_end"] = os.getloadavg()[0]
  print(json.dumps(results, indent=1))


if __name__ == "__main__":
  main()
