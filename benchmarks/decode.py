"""Decoding speed: starjax's KV-cache decoder vs transformers' generate() on identical weights.

The bench config (6 layers, 512 hidden, 8 heads, MQA, vocab 8192) is initialised by starjax,
exported with starjax.convert.hf.save_pretrained and loaded by transformers, so both run the
same model. Greedy, prompt 32 tokens, 256 new tokens (no early stop), batch 1 and 16, on CPU.
Reports tokens/s (new tokens over the whole call), time to first token, and the ratios.
Goal (issue 4): >= 4x transformers at batch 1, >= 2x at batch 16.

    python benchmarks/decode.py [--new_tokens=256] [--repeats=3]
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
  print(json.dumps(results, indent=1))
  for key, value in results.items():
    if key.startswith("batch_"):
      print(f"{key}: starjax {value['starjax_tokens_per_second']:,.0f} tok/s vs transformers "
            f"{value['transformers_tokens_per_second']:,.0f} tok/s = {value['ratio']:.2f}x; "
            f"first token {value['starjax_time_to_first_token_ms']:.1f} ms vs "
            f"{value['transformers_time_to_first_token_ms']:.1f} ms")


if __name__ == "__main__":
  main()
