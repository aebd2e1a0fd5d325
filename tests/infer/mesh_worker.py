"""Run in a subprocess with 8 simulated CPU devices: inference on gin/mesh/cpu_sim8.gin against
one device, for one MODEL_DIR. Prints one JSON line.

    python tests/infer/mesh_worker.py MODEL_DIR OUT_DIR
"""

import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

import json  # noqa: E402

import jax  # noqa: E402

import run  # noqa: E402
from starjax import cli, gin_config  # noqa: E402
from starjax.infer import Generator, SamplingConfig  # noqa: E402

PROMPTS = ["def fibonacci(n):\n    ", "import os\n", "class Stack:\n    def push(self, x):"]


def main(model_dir: str, out: str) -> None:
  sampling = SamplingConfig(max_new_tokens=24)
  single = Generator.load(model_dir=model_dir)
  gin_config.parse(["gin/mesh/cpu_sim8.gin"], [], finalize=False)
  sharded = Generator.load(model_dir=model_dir, mesh_config=cli.mesh_from_gin())
  query = sharded.tokens.params["blocks"][0]["attn"]["query"]["kernel"]
  report = {
      "devices": jax.device_count(),
      "query_spec": spec_text(query.sharding.spec),
      "query_devices": len(query.sharding.device_set),
      "complete_equal": ([c.tokens for c in single.complete(PROMPTS, sampling)]
                         == [c.tokens for c in sharded.complete(PROMPTS, sampling)]),
      "infill_equal": (single.infill("def add(a, b):\n    ", "\n\nprint(add(1, 2))\n", sampling)
                       == sharded.infill("def add(a, b):\n    ", "\n\nprint(add(1, 2))\n",
                                         sampling)),
  }
  with sharded.tokens._sharding_context():  # pylint: disable=protected-access
    cache = jax.jit(lambda: _cache(sharded))()
  report["cache_spec"] = spec_text(cache.key[0].sharding.spec)
  # The command line on the same mesh: eval's greedy samples equal one device's.
  samples = {}
  for name, mesh in (("single", []), ("mesh", ["--gin_file=gin/mesh/cpu_sim8.gin"])):
    report[f"eval_exit_{name}"] = run.main(
        ["eval", "--benchmark=humaneval", f"--model_dir={model_dir}", f"--out={out}/{name}",
         "--n=1", "--limit=2", "--temperature=0", "--max_length=1024", *mesh])
    with open(f"{out}/{name}/humaneval/samples.jsonl") as f:
      samples[name] = sorted(f.read().splitlines())
  report["eval_equal"] = samples["single"] == samples["mesh"]
  print(json.dumps(report))


def spec_text(spec) -> str:
  """A PartitionSpec as text without trailing replicated dimensions (which print either way)."""
  parts = list(spec)
  while parts and parts[-1] is None:
    parts.pop()
  return repr(tuple(parts))


def _cache(generator):
  from starjax.model import KVCache  # pylint: disable=import-outside-toplevel
  return KVCache.zeros(generator.tokens.config, 8, 32)


if __name__ == "__main__":
  main(*sys.argv[1:])
