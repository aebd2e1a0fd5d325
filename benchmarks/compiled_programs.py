"""The optimized HLO of the bench model's train step, prefill and decode chunk, normalised.

A refactor that should not change speed should not change the compiled programs. Timings on a
shared 2-core machine move by 30-50 % from one hour to the next; the programs XLA runs do not.
Run this in two checkouts and diff the outputs: identical files mean identical work per step,
so a timing difference between them is the machine, not the code.

    python benchmarks/compiled_programs.py --out=/tmp/programs_new
    (cd ../old_checkout && python benchmarks/compiled_programs.py --out=/tmp/programs_old)
    diff -r /tmp/programs_old /tmp/programs_new && echo identical

Normalisation removes what names the source rather than the computation: metadata (op names,
source files and lines) and the stack-frame tables. Everything XLA executes (ops, shapes,
layouts, fusions, schedule, buffer aliasing) stays.
"""

import argparse
import dataclasses
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

from starjax import gin_config  # noqa: E402
from starjax.infer.decoding import TokenGenerator  # noqa: E402
from starjax.infer.sampling import SamplingConfig  # noqa: E402
from starjax.model import DecoderConfig, create_decoder  # noqa: E402
from starjax.sharding import MeshConfig  # noqa: E402
from starjax.train.optimizer import OptimizerConfig  # noqa: E402
from starjax.train.trainer import Trainer  # noqa: E402

_SOURCE_ONLY = [
    (re.compile(r", metadata=\{[^}]*\}"), ""),
    (re.compile(r"metadata=\{[^}]*\}"), ""),
    (re.compile(r"stack_frame_id=\d+"), ""),
]
# The FileNames / FunctionNames / FileLocations / StackFrames tables: lines "N "path"" or
# "N {file_name_id=...}".
_FRAME_TABLE_LINE = re.compile(r'^\d+ ["{]')


def normalise(hlo: str) -> str:
  lines = []
  for line in hlo.splitlines():
    if _FRAME_TABLE_LINE.match(line):
      continue
    for pattern, replacement in _SOURCE_ONLY:
      line = pattern.sub(replacement, line)
    lines.append(line)
  return "\n".join(lines) + "\n"


def decode_programs(batch: int, prompt_tokens: int, new_tokens: int) -> dict[str, str]:
  """The prefill and decode-chunk executables that TokenGenerator.generate runs at `batch`."""
  config = DecoderConfig()
  params = nnx.to_pure_dict(nnx.state(create_decoder(config, seed=0)))
  generator = TokenGenerator(config, params, eos_id=config.vocab_size)
  programs = {}

  def recording(name, jitted):
    def call(*args, **kwargs):
      programs[name] = jitted.lower(*args, **kwargs).compile().as_text()
      return jitted(*args, **kwargs)
    return call

  generator._prefill = recording("prefill", generator._prefill)  # pylint: disable=protected-access
  generator._decode = recording("decode", generator._decode)  # pylint: disable=protected-access
  rng = np.random.default_rng(0)
  prompts = rng.integers(1, config.vocab_size, (batch, prompt_tokens)).tolist()
  generator.generate(prompts, SamplingConfig(max_new_tokens=new_tokens))
  return programs


def train_program(batch_size: int, seq_len: int) -> str:
  """The train step benchmarks/train_throughput.py times (fp32, unrolled layers)."""
  base = DecoderConfig()
  config = dataclasses.replace(base, dtype="float32", param_dtype="float32",
                               scan_unroll=base.num_layers)
  trainer = Trainer(config, train_steps=12, batch_size=batch_size, seq_len=seq_len,
                    mesh_config=MeshConfig(data=-1),
                    optimizer_config=OptimizerConfig(warmup_steps=1))
  return trainer.compile().as_text()


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--out", required=True, help="directory for the normalised .hlo files")
  parser.add_argument("--gin_file", default="gin/models/bench.gin")
  parser.add_argument("--batches", default="1,16", help="decode batch sizes")
  args = parser.parse_args()
  gin_config.parse([args.gin_file], [], finalize=False)
  os.makedirs(args.out, exist_ok=True)
  programs = {"train_step": train_program(8, 512)}
  for batch in (int(b) for b in args.batches.split(",")):
    for name, text in decode_programs(batch, 32, 256).items():
      programs[f"{name}_batch{batch}"] = text
  for name, text in programs.items():
    path = os.path.join(args.out, f"{name}.hlo")
    with open(path, "w") as f:
      f.write(normalise(text))
    print(f"{path}: {text.count(chr(10))} lines")


if __name__ == "__main__":
  main()
