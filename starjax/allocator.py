"""glibc malloc settings for XLA on CPU, applied by re-executing the command line once.

XLA's CPU runtime allocates each execution's temporary buffers afresh (hundreds of MB for a
training step) and frees them at the end. glibc serves such large blocks with mmap and returns
them with munmap, so every step faults all of that memory in again from the kernel: on the
quickstart model that is ~400k page faults and ~0.8 s of system time per 1.6 s step. Telling
glibc never to mmap (the heap keeps freed blocks for the next step), never to trim the heap,
and to back it with transparent huge pages removes nearly all of them: the step drops to
~1.2 s (measured in BENCHMARKS.md).

These are GLIBC_TUNABLES, which glibc reads only at process start, hence the re-exec. Not
applied when the user set GLIBC_TUNABLES, when STARJAX_MALLOC_TUNING=0, or off glibc.
Commands whose peak memory matters more than speed (checkpoint conversion) do not ask for it:
a heap that is never trimmed keeps its high-water mark.
"""

from __future__ import annotations

import os
import platform
import sys

TUNABLES = ":".join([
    "glibc.malloc.hugetlb=1",              # madvise(MADV_HUGEPAGE) on the heap
    "glibc.malloc.mmap_max=0",             # large blocks come from the heap, not fresh mmaps
    "glibc.malloc.trim_threshold=68719476736",  # and the heap is not shrunk between steps
])
_MARKER = "STARJAX_MALLOC_TUNED"


def wanted() -> bool:
  return (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
          and os.environ.get("STARJAX_MALLOC_TUNING", "1") != "0"
          and "GLIBC_TUNABLES" not in os.environ and _MARKER not in os.environ
          and _started_as_this_script())


def _started_as_this_script() -> bool:
  """True when the interpreter was started on this script (`python run.py ...`); false when a
  host process runs it in place (IPython's %run, runpy), which must never be re-executed."""
  script = os.path.abspath(sys.argv[0])
  return any(os.path.abspath(arg) == script for arg in sys.orig_argv[1:])


def reexec_with_tuned_malloc() -> None:
  """Replaces this process with the same command line under TUNABLES (returns only if not
  wanted). Call it first thing in a script's __main__, before anything allocates much.
  """
  if not wanted():
    return
  env = dict(os.environ, GLIBC_TUNABLES=TUNABLES)
  env[_MARKER] = "1"
  sys.stdout.flush()
  sys.stderr.flush()
  # orig_argv keeps interpreter options (-u, -X ...) as well as the script's arguments.
  os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def forget_tunables() -> None:
  """Keeps child processes (compilers, sandboxed programs, torch peers) on glibc's defaults."""
  if os.environ.get(_MARKER) == "1" and os.environ.get("GLIBC_TUNABLES") == TUNABLES:
    del os.environ["GLIBC_TUNABLES"]


def active() -> bool:
  """Whether this process started under TUNABLES (for benchmark reports)."""
  return os.environ.get(_MARKER) == "1"
