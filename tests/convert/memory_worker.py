"""Runs `run.py convert --from_hf=HF_DIR --out=OUT` in this process and prints its memory as
JSON; run by test_memory.py in a fresh process so that nothing else inflates the numbers.

    python tests/convert/memory_worker.py HF_DIR OUT

baseline_rss: resident memory after the imports the conversion uses (jax, flax, orbax,
tensorstore) and JAX's own start-up (backend and XLA compiler, one tiny jit): costs that do
not grow with the checkpoint. peak_rss: the kernel's high-water mark of resident memory
(VmHWM), reset to the baseline just before converting. (getrusage's ru_maxrss would not do:
Linux carries it over exec from the parent, here the test process.)
"""

import json
import sys

import jax

import run
from starjax.convert import cli, hf  # pylint: disable=unused-import
from starjax.model_dir import writer  # pylint: disable=unused-import


def status_bytes(field: str) -> int:
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith(field + ":"):
        return int(line.split()[1]) * 1024  # kB
  raise KeyError(field)


if __name__ == "__main__":
  hf_dir, out = sys.argv[1:3]
  jax.jit(lambda x: x + 1)(1.0).block_until_ready()
  with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets VmHWM to the current resident size
  baseline = status_bytes("VmRSS")
  code = run.main(["convert", f"--from_hf={hf_dir}", f"--out={out}"])
  print(json.dumps({"exit_code": code, "baseline_rss": baseline,
                    "peak_rss": status_bytes("VmHWM")}))
