"""The resource limits of one sandboxed run, as rlimits and as hints to managed runtimes."""

from __future__ import annotations

import dataclasses
import math

import gin


@gin.configurable
@dataclasses.dataclass(frozen=True)
class Limits:
  """Resource limits of one sandboxed run.

  memory_mb: private memory per process (RLIMIT_DATA) and resident memory of the whole
    process tree (supervisor). address_space_mb: RLIMIT_AS per process; None = 2 × memory_mb,
    room for the JVM's and V8's reservations. max_processes: processes + threads (RLIMIT_NPROC).
  file_size_mb: largest file it may write. open_files: RLIMIT_NOFILE.
  output_mb: stdout + stderr beyond this kill the program. captured_kb: bytes kept per stream.
  tmp_mb: size of the private /tmp (and a quarter of it for /dev/shm).
  nice: the programs' niceness: they compete with each other as equals, but a fork bomb's
    hundreds of spinning processes cannot starve the supervisor that enforces the deadline.
  The CPU limit follows the timeout of each run: 2 × timeout + 1 s (runtimes use several cores).

  The rlimits are set by the launcher inside the sandbox (starjax/eval/sandbox/launcher.py), so
  that RLIMIT_NPROC counts per sandbox: since Linux 5.14 the count is kept per user namespace
  or, as root, per fresh uid. The memory of the whole tree and the wall clock are enforced by
  starjax/eval/supervisor.py, which also caps stdout/stderr.
  """

  memory_mb: int = 2048
  address_space_mb: int | None = None
  max_processes: int = 256
  file_size_mb: int = 64
  open_files: int = 256
  output_mb: float = 8.0
  captured_kb: int = 64
  tmp_mb: int = 256
  nice: int = 19

  def rlimits(self, timeout: float) -> dict[str, list[int]]:
    """RLIMIT_<X> name → [soft, hard] for a run of `timeout` wall-clock seconds."""
    cpu = math.ceil(2 * timeout) + 1
    data = self.memory_mb << 20
    address_space = (self.address_space_mb or 2 * self.memory_mb) << 20
    return {
        "RLIMIT_CPU": [cpu, cpu + 1],  # SIGXCPU first, SIGKILL a second later
        "RLIMIT_DATA": [data, data],
        "RLIMIT_AS": [address_space, address_space],
        "RLIMIT_NPROC": [self.max_processes, self.max_processes],
        "RLIMIT_FSIZE": [self.file_size_mb << 20, self.file_size_mb << 20],
        "RLIMIT_NOFILE": [self.open_files, self.open_files],
        "RLIMIT_CORE": [0, 0],
    }

  def runtime_env(self) -> dict[str, str]:
    """Tells managed runtimes the limit so they size their heaps below it and fail cleanly
    (RLIMIT_AS at the memory limit would keep the JVM from starting at all)."""
    return {
        "JAVA_TOOL_OPTIONS": f"-XX:MaxRAM={self.memory_mb}m",
        "NODE_OPTIONS": f"--max-old-space-size={self.memory_mb // 2}",
        "GOMEMLIMIT": f"{self.memory_mb}MiB",
    }
