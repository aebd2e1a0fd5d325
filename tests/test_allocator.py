"""run.py re-executes itself with glibc's malloc tuned for XLA (starjax/allocator.py)."""

import os
import platform
import subprocess
import sys

from starjax import ROOT, allocator

# Re-execs if wanted, then mallocs and frees 64 MB twice and reports the page faults of the
# second round: glibc's default serves it with a fresh mmap (16k faults), the tuned heap reuses
# the first block's pages.
PROBE = """
import ctypes, os, resource, sys
sys.path.insert(0, sys.argv[1])
from starjax import allocator
allocator.reexec_with_tuned_malloc()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
size = 64 << 20
def touch():
  p = libc.malloc(size)
  ctypes.memset(p, 1, size)
  libc.free(p)
touch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
touch()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(os.environ.get("GLIBC_TUNABLES", "-"), allocator.active(), faults, sys.argv[2:])
"""


def probe(**env_changes):
  env = {k: v for k, v in os.environ.items()
         if k not in ("GLIBC_TUNABLES", "STARJAX_MALLOC_TUNED", "STARJAX_MALLOC_TUNING")}
  env.update(env_changes)
  out = subprocess.run([sys.executable, "-c", PROBE, ROOT, "a", "--b=1"], env=env, check=True,
                       capture_output=True, text=True).stdout.split(maxsplit=3)
  return out[0], out[1] == "True", int(out[2]), out[3].strip()


def test_reexec_applies_tunables_keeps_arguments_and_reuses_freed_memory():
  tunables, active, faults, args = probe()
  assert tunables == allocator.TUNABLES and active
  assert args == "['a', '--b=1']"
  assert faults < 1000, faults

  tunables, active, default_faults, _ = probe(STARJAX_MALLOC_TUNING="0")
  assert tunables == "-" and not active
  assert default_faults > 10 * max(faults, 100), (default_faults, faults)


def test_a_users_own_tunables_are_left_alone():
  tunables, active, _, _ = probe(GLIBC_TUNABLES="glibc.malloc.check=0")
  assert tunables == "glibc.malloc.check=0" and not active


def test_a_host_process_running_the_script_in_place_is_never_reexecuted(monkeypatch):
  # e.g. `%run run.py train ...` in a notebook kernel: the kernel's command line is not run.py's.
  monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
  monkeypatch.delenv("STARJAX_MALLOC_TUNED", raising=False)
  monkeypatch.delenv("STARJAX_MALLOC_TUNING", raising=False)
  monkeypatch.setattr(sys, "argv", ["run.py", "train"])
  monkeypatch.setattr(sys, "orig_argv", ["python", "-m", "ipykernel_launcher", "-f", "k.json"])
  assert not allocator.wanted()
  monkeypatch.setattr(sys, "orig_argv", ["python", "run.py", "train"])
  assert allocator.wanted() == (sys.platform.startswith("linux")
                                and platform.libc_ver()[0] == "glibc")


def test_children_get_glibc_defaults(monkeypatch):
  monkeypatch.setenv("GLIBC_TUNABLES", allocator.TUNABLES)
  monkeypatch.setenv("STARJAX_MALLOC_TUNED", "1")
  allocator.forget_tunables()
  assert "GLIBC_TUNABLES" not in os.environ and allocator.active()


def test_run_py_tunes_the_commands_that_compute(monkeypatch):
  monkeypatch.syspath_prepend(ROOT)
  import run  # pylint: disable=import-outside-toplevel
  assert run.split_command([]) == ("quickstart", [])
  assert run.split_command(["--gin.TRAIN_STEPS=5"]) == ("quickstart", ["--gin.TRAIN_STEPS=5"])
  assert run.split_command(["--help"]) == ("help", [])
  assert run.split_command(["train", "--x"]) == ("train", ["--x"])
  assert {"quickstart", "train", "generate", "eval"} <= run.FAST_MALLOC_COMMANDS
  assert "convert" not in run.FAST_MALLOC_COMMANDS
