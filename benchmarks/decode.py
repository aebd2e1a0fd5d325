"""Decoding speed: starjax's KV-cache decoder vs transformers' generate() on identical weights.

The bench config (6 layers, 512 hidden, 8 heads, MQA, vocab 8192) is initialised by starjax,
exported with starjax.convert.hf.save_pretrained and loaded by transformers, so both run the
same model. Greedy, prompt 32 tokens, 256 new tokens (no early stop), batch 1 and 16, on CPU.
Reports tokens/s (new tokens over the whole call), time to first token, and the ratios.
Goal (issue 4): >= 4x transformers at batch 1, >= 2x at batch 16.

    python benchmarks/decode.py [--new_tokens=256] [--repeats=3] [--ceiling]

--ceiling also times only the decode step's weight matmuls (every layer's projections and the
LM head, at the batch's M rows, 256 steps in one compiled loop / one torch loop): the most any
decoder built on that framework's CPU GEMMs could reach on this machine.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

from starjax import gin_config  # noqa: E402
from starjax.infer.decoding import TokenGenerator  # noqa: E402
from starjax.infer.sampling import SamplingConfig  # noqa: E402
from starjax.model import DecoderConfig, create_decoder  # noqa: E402


def best_of(repeats, fn):
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return min(times), statistics.median(times)


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--gin_file", default="gin/models/bench.gin")
  parser.add_argument("--prompt_tokens", type=int, default=32)
  parser.add_argument("--new_tokens", type=int, default=256)
  parser.add_argument("--batches", default="1,16")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--ceiling", action="store_true",
                      help="also time the weight matmuls alone (tokens/s upper bounds)")
  args = parser.parse_args()

  import torch  # pylint: disable=import-outside-toplevel
  import transformers  # pylint: disable=import-outside-toplevel
  from starjax.convert import hf  # pylint: disable=import-outside-toplevel

  gin_config.parse([args.gin_file], [], finalize=False)
  config = DecoderConfig()
  model = create_decoder(config, seed=0)
  params = nnx.to_pure_dict(nnx.state(model))
  # An end-of-text id the model never produces: every row decodes all new tokens.
  ours = TokenGenerator(config, params, eos_id=config.vocab_size)
  with tempfile.TemporaryDirectory() as tmp:
    hf.save_pretrained(model, tmp)
    theirs = transformers.AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.float32).eval()

  results = {"config": args.gin_file, "prompt_tokens": args.prompt_tokens,
             "new_tokens": args.new_tokens, "torch_threads": torch.get_num_threads()}
  rng = np.random.default_rng(0)
  for batch in [int(b) for b in args.batches.split(",")]:
    prompts = rng.integers(1, config.vocab_size, (batch, args.prompt_tokens)).tolist()
    full = SamplingConfig(max_new_tokens=args.new_tokens)
    first = SamplingConfig(max_new_tokens=1)
    ours.generate(prompts, full)  # compile
    ours.generate(prompts, first)
    ours_total, _ = best_of(args.repeats, lambda: ours.generate(prompts, full))
    ours_ttft, _ = best_of(args.repeats, lambda: ours.generate(prompts, first))
    ids = torch.tensor(prompts)
    kwargs = dict(do_sample=False, eos_token_id=None, pad_token_id=0, use_cache=True,
                  attention_mask=torch.ones_like(ids))

    def hf_generate(n):
      with torch.inference_mode():
        out = theirs.generate(ids, max_new_tokens=n, min_new_tokens=n, **kwargs)
      assert out.shape[1] == args.prompt_tokens + n
    hf_generate(4)  # warm-up
    hf_total, _ = best_of(args.repeats, lambda: hf_generate(args.new_tokens))
    hf_ttft, _ = best_of(args.repeats, lambda: hf_generate(1))
    # Same weights, same greedy decoding: the tokens must agree (fp32, CPU).
    ours_tokens = [g.tokens for g in ours.generate(prompts[:1], SamplingConfig(max_new_tokens=16))]
    with torch.inference_mode():
      hf_tokens = theirs.generate(ids[:1], max_new_tokens=16, min_new_tokens=16, **dict(
          kwargs, attention_mask=torch.ones_like(ids[:1])))[0, args.prompt_tokens:].tolist()
    tokens = batch * args.new_tokens
    results[f"batch_{batch}"] = {
        "starjax_tokens_per_second": tokens / ours_total,
        "transformers_tokens_per_second": tokens / hf_total,
        "ratio": hf_total / ours_total,
        "starjax_time_to_first_token_ms": 1000 * ours_ttft,
        "transformers_time_to_first_token_ms": 1000 * hf_ttft,
        "greedy_tokens_agree": ours_tokens[0] == hf_tokens,
    }
    if args.ceiling:
      results[f"batch_{batch}"].update(matmul_ceiling(config, batch, args.new_tokens))
  print(json.dumps(results, indent=1))
  for key, value in results.items():
    if key.startswith("batch_"):
      print(f"{key}: starjax {value['starjax_tokens_per_second']:,.0f} tok/s vs transformers "
            f"{value['transformers_tokens_per_second']:,.0f} tok/s = {value['ratio']:.2f}x; "
            f"first token {value['starjax_time_to_first_token_ms']:.1f} ms vs "
            f"{value['transformers_time_to_first_token_ms']:.1f} ms")
      if "xla_matmul_ceiling_tokens_per_second" in value:
        print(f"  matmuls alone: XLA {value['xla_matmul_ceiling_tokens_per_second']:,.0f} tok/s, "
              f"torch {value['torch_matmul_ceiling_tokens_per_second']:,.0f} tok/s")


def matmul_ceiling(config: DecoderConfig, batch: int, steps: int) -> dict:
  """Tokens/s of the decode step's weight matmuls alone (no attention, norms or sampling)."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  import torch  # pylint: disable=import-outside-toplevel
  d, f, v = config.hidden_size, config.mlp_dim, config.vocab_size
  kv = 2 * config.num_kv_heads * config.resolved_head_dim
  rng = np.random.default_rng(0)
  shapes = {"q": (d, d), "kv": (d, kv), "o": (d, d), "up": (d, f), "down": (f, d)}
  layers = [{k: rng.standard_normal(s, np.float32) * 0.02 for k, s in shapes.items()}
            for _ in range(config.num_layers)]
  head = rng.standard_normal((d, v), np.float32) * 0.02

  def layer_step(x, w, gelu, total):
    x = x + x @ w["q"] + total(x @ w["kv"]) * 1e-3
    x = x @ w["o"]
    return x + gelu(x @ w["up"]) @ w["down"]

  @jax.jit
  def xla_loop(x, layers, head):
    def body(_, x):
      for w in layers:
        x = layer_step(x, w, jax.nn.gelu, lambda y: y.sum(-1, keepdims=True))
      return x + (x @ head)[:, :d] * 1e-6
    return jax.lax.fori_loop(0, steps, body, x)

  def torch_loop(x, layers, head):
    for _ in range(steps):
      for w in layers:
        x = layer_step(x, w, torch.nn.functional.gelu, lambda y: y.sum(-1, keepdim=True))
      x = x + (x @ head)[:, :d] * 1e-6
    return x

  x = np.ones((batch, d), np.float32)
  jax_args = (jnp.asarray(x), jax.tree.map(jnp.asarray, layers), jnp.asarray(head))
  xla_loop(*jax_args).block_until_ready()
  xla_seconds, _ = best_of(3, lambda: xla_loop(*jax_args).block_until_ready())
  torch_args = (torch.from_numpy(x), [{k: torch.from_numpy(a) for k, a in w.items()}
                                      for w in layers], torch.from_numpy(head))
  with torch.inference_mode():
    torch_loop(*torch_args)
    torch_seconds, _ = best_of(3, lambda: torch_loop(*torch_args))
  return {"xla_matmul_ceiling_tokens_per_second": batch * steps / xla_seconds,
          "torch_matmul_ceiling_tokens_per_second": batch * steps / torch_seconds}


if __name__ == "__main__":
  main()
