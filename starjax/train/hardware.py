"""Peak FLOP/s of the devices, the denominator of MFU.

Accelerators come from a table of published dense peaks (per chip). On CPU there is no
published number, so a matmul probe measures the host once, in the compute dtype, and the
result is cached (~/.cache/starjax/peak_flops.json) keyed by CPU model, cores and dtype.
"""

from __future__ import annotations

import json
import os
import platform
import time

import jax
import jax.numpy as jnp

# Dense peak FLOP/s per chip for bf16 matmuls (fp32 matmuls on GPUs run as TF32 by default
# in XLA; their peak is half the bf16 one on these parts).
PEAK_BF16_FLOPS = {
    "TPU v4": 275e12,
    "TPU v5 lite": 197e12,
    "TPU v5e": 197e12,
    "TPU v5p": 459e12,
    "TPU v5": 459e12,
    "TPU v6 lite": 918e12,
    "TPU v6e": 918e12,
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "B200": 2250e12,
}


def cache_path() -> str:
  root = os.environ.get("STARJAX_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache",
                                                           "starjax"))
  return os.path.join(root, "peak_flops.json")


def peak_flops_per_device(dtype="float32", device=None) -> tuple[float, str]:
  """(peak FLOP/s of one device, where the number comes from)."""
  device = device or jax.local_devices()[0]
  kind = device.device_kind
  if device.platform != "cpu":
    for name, peak in PEAK_BF16_FLOPS.items():
      if name.lower() in kind.lower():
        factor = 1.0 if jnp.dtype(dtype) == jnp.bfloat16 else 0.5
        return peak * factor, f"table: {name} ({'bf16' if factor == 1 else 'tf32'})"
    raise KeyError(f"no peak FLOP/s known for device kind {kind!r}; add it to "
                   f"starjax/train/hardware.py PEAK_BF16_FLOPS")
  host_peak, source = cpu_host_peak_flops(dtype)
  return host_peak / jax.local_device_count(), source


def cpu_host_peak_flops(dtype="float32") -> tuple[float, str]:
  """The best matmul rate in `dtype` measured on this host, cached on disk.

  A probe taken while other processes compete for the cores underestimates the peak (and would
  inflate MFU), so the cache keeps the highest rate seen and, until one probe ran on a quiet
  machine, every run probes again and raises it if it can.
  """
  key = f"{_cpu_model()}|{os.cpu_count()}|{jnp.dtype(dtype).name}|jax{jax.__version__}"
  path = cache_path()
  cache = {}
  if os.path.exists(path):
    try:
      with open(path) as f:
        cache = json.load(f)
    except (OSError, ValueError):
      cache = {}
  entry = cache.get(key)
  if isinstance(entry, dict) and entry.get("peak", 0) > _MAX_FLOPS_PER_CORE * (os.cpu_count() or 1):
    entry = None  # an impossible value from an older probe
  if isinstance(entry, dict) and entry.get("quiet"):
    return float(entry["peak"]), f"cpu matmul probe (cached in {path})"
  quiet = os.getloadavg()[0] < 0.5 * (os.cpu_count() or 1)
  peak = _probe(jnp.dtype(dtype))
  if isinstance(entry, dict):
    peak = max(peak, float(entry["peak"]))
  cache[key] = {"peak": peak, "quiet": quiet}
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = path + f".tmp{os.getpid()}"
  with open(tmp, "w") as f:
    json.dump(cache, f, indent=1)
  os.replace(tmp, path)
  return peak, "cpu matmul probe" + ("" if quiet else " (machine busy: best so far)")


# No CPU core does more than this many FLOPs per cycle (two 512-bit FMA units in fp32), nor runs
# faster than 6 GHz: a probe above cores × 64 × 6 GHz timed something other than the matmuls.
_MAX_FLOPS_PER_CORE = 64 * 6e9


def _probe(dtype, n: int = 2048, repeats: int = 5) -> float:
  """Best rate of four chained n×n matmuls, retried if the timing is physically impossible."""
  bound = _MAX_FLOPS_PER_CORE * (os.cpu_count() or 1)
  for _ in range(3):
    rate = _probe_once(dtype, n, repeats)
    if rate <= bound:
      return rate
  raise RuntimeError(f"the CPU matmul probe measured {rate:.3g} FLOP/s, above the physical bound "
                     f"{bound:.3g}; MFU cannot be computed on this host")


def _probe_once(dtype, n: int, repeats: int) -> float:
  device = jax.local_devices(backend="cpu")[0]  # addressable by this process (multi-host)
  a = jax.device_put(jnp.ones((n, n), dtype) / n, device)
  b = jax.device_put(jnp.ones((n, n), dtype) / n, device)

  @jax.jit
  def chain(a, b):
    for _ in range(4):
      a = a @ b
    return a

  chain(a, b).block_until_ready()
  best = float("inf")
  for i in range(repeats):
    start = time.perf_counter()
    out = chain(a + i, b)  # a fresh operand each time: nothing can be reused
    out.block_until_ready()
    best = min(best, time.perf_counter() - start)
  return 4 * 2 * n ** 3 / best


def _cpu_model() -> str:
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()
