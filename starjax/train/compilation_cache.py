"""JAX's persistent compilation cache, and how long a process took to reach its first step.

A restarted or preempted job compiles the same train step again: minutes for a large model on
a pod. With the cache on, the executable XLA built the first time is read back from disk (or
GCS: any path JAX's cache accepts), keyed by the program, the devices and the flags, so a
changed model or mesh simply compiles anew.

    compilation_cache.directory = 'gs://BUCKET/jax_cache'   # default: the starjax cache dir
    compilation_cache.enabled = False
"""

from __future__ import annotations

import logging
import os
import time

import gin

log = logging.getLogger("starjax.train")


def default_directory() -> str:
  """STARJAX_CACHE_DIR (or ~/.cache/starjax) / jax_compilation_cache: shared by every run on
  the machine, which is safe because entries are keyed by everything that shapes a program."""
  root = os.environ.get("STARJAX_CACHE_DIR",
                        os.path.join(os.path.expanduser("~"), ".cache", "starjax"))
  return os.path.join(root, "jax_compilation_cache")


@gin.configurable
def compilation_cache(directory: str | None = None, *, enabled: bool = True,
                      min_compile_seconds: float = 1.0) -> str | None:
  """Turns on JAX's persistent compilation cache; returns its directory (None when disabled).

  min_compile_seconds: programs that compile faster are not written (tiny jits would only
  fill the cache). Must run before the first compilation of the process to cover it.
  """
  import jax  # pylint: disable=import-outside-toplevel
  if not enabled:
    return None
  directory = directory or default_directory()
  if "://" not in directory:
    os.makedirs(directory, exist_ok=True)
  jax.config.update("jax_compilation_cache_dir", directory)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_seconds))
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  return directory


def process_age_seconds() -> float:
  """Seconds since the operating system started this process (interpreter start-up and
  imports included), from /proc; time since this module was imported where /proc is absent."""
  try:
    with open("/proc/self/stat") as f:
      fields = f.read().rsplit(")", 1)[1].split()
    started_ticks = int(fields[19])  # field 22 of proc(5): starttime, in clock ticks
    with open("/proc/uptime") as f:
      uptime = float(f.read().split()[0])
    return uptime - started_ticks / os.sysconf("SC_CLK_TCK")
  except (OSError, ValueError, IndexError):
    return time.monotonic() - _IMPORTED


_IMPORTED = time.monotonic()
