"""Watches one sandboxed command: wall-clock deadline, total memory of its process tree, output cap.

The sandbox (starjax/eval/sandbox/) decides *how* a program is confined; this module runs the
resulting command line and enforces what rlimits cannot: a wall-clock deadline (sleeping or
signal-ignoring programs use no CPU), the memory of the whole process tree (rlimits are per
process, so N forked children could each take the limit), and the total bytes written to
stdout/stderr. When any is exceeded, every process of the tree is stopped, then killed.

No zombie is left behind: the evaluator becomes a child subreaper, so that a process of a
sandbox's session orphaned on the host side (bubblewrap's PID-1 helper, which bwrap never
waits for; a launcher killed with its parent) comes back to it instead of to the machine's
PID 1 (which, in a container, may never reap), and supervise() reaps every such process before
it reaps the command itself. The same holds when the evaluator is itself PID 1 of a PID
namespace, where orphans come to it anyway.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import selectors
import signal
import subprocess
import threading
import time
from typing import Mapping, Sequence

import psutil

# How often the memory of a running program's process tree is sampled. Allocation is bounded by
# a few GB/s per core, so the overshoot before a kill is small next to the limit.
MEMORY_POLL_SECONDS = 0.05
# After a kill (or after the main process exits), how long to wait for the pipes to close.
DRAIN_SECONDS = 2.0


class CappedOutput:
  """Keeps the first and the last `keep_bytes // 2` bytes of a stream and counts the rest."""

  def __init__(self, keep_bytes: int):
    self.head_limit = keep_bytes // 2
    self.tail_limit = keep_bytes - self.head_limit
    self.head = bytearray()
    self.tail = bytearray()
    self.total_bytes = 0

  def write(self, data: bytes) -> None:
    self.total_bytes += len(data)
    room = self.head_limit - len(self.head)
    if room > 0:
      self.head += data[:room]
      data = data[room:]
    if data:
      self.tail += data
      if len(self.tail) > self.tail_limit:
        del self.tail[:len(self.tail) - self.tail_limit]

  def value(self) -> bytes:
    """The kept bytes; a marker line stands where bytes were dropped."""
    omitted = self.total_bytes - len(self.head) - len(self.tail)
    if omitted <= 0:
      return bytes(self.head + self.tail)
    return bytes(self.head) + f"\n[... {omitted} bytes omitted ...]\n".encode() + bytes(self.tail)


@dataclasses.dataclass(frozen=True)
class Outcome:
  """What happened to one supervised command.

  exit_code: the command's exit status (128 + N when bubblewrap reports death by signal N;
    negative -N when the command itself died of signal N); None when it was killed by us.
  stdout, stderr: captured bytes, head and tail kept (see CappedOutput).
  timed_out / memory_exceeded / output_exceeded / cancelled: why it was killed, if it was.
  wall_time: seconds from start to the end of the whole process tree.
  peak_memory_bytes: the largest sampled private + shared resident memory of the tree.
  """

  exit_code: int | None
  stdout: bytes
  stderr: bytes
  timed_out: bool
  memory_exceeded: bool
  output_exceeded: bool
  cancelled: bool
  wall_time: float
  peak_memory_bytes: int
  output_bytes: int


def tree_processes(root: psutil.Process) -> list[psutil.Process]:
  """`root` and all its descendants that are still alive."""
  try:
    return [root] + root.children(recursive=True)
  except psutil.Error:
    return []


# /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN) walks only the tree; psutil reads every
# process of the machine to find it.
HAS_PROC_CHILDREN = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


def tree_pids(root_pid: int, deadline: float | None = None) -> list[int]:
  """`root_pid` and its descendants, cheaply (may miss a process forked during the walk).

  deadline: a time.monotonic() after which the walk stops with what it found so far (/proc of
  a process that is forking can be slow to read; a fork bomb must not delay the timeout).
  """
  if not HAS_PROC_CHILDREN:
    try:
      return [p.pid for p in tree_processes(psutil.Process(root_pid))]
    except psutil.Error:
      return []
  pids, todo = [], [root_pid]
  while todo and (deadline is None or time.monotonic() < deadline):
    pid = todo.pop()
    pids.append(pid)
    try:
      for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
          todo.extend(int(child) for child in f.read().split())
    except (OSError, ValueError):
      pass
  return pids


def process_memory_bytes(pid: int) -> int:
  """Memory one process adds to the machine: its proportional share of anonymous + shared memory.

  Anonymous memory is what heaps and stacks use; shared memory catches MAP_SHARED|MAP_ANONYMOUS
  and /dev/shm mappings, which RLIMIT_DATA does not count. Proportional (PSS) so that pages a
  fork shares copy-on-write with its parent count once over the tree, not once per process.
  Falls back to the resident sizes of /proc/PID/status where smaps_rollup is unavailable.
  """
  for path, fields in ((f"/proc/{pid}/smaps_rollup", (b"Pss_Anon:", b"Pss_Shmem:")),
                       (f"/proc/{pid}/status", (b"RssAnon:", b"RssShmem:"))):
    try:
      with open(path, "rb") as f:
        values = [int(line.split()[1]) * 1024 for line in f if line.startswith(fields)]
    except (OSError, ValueError, IndexError):
      continue
    if len(values) == len(fields):
      return sum(values)
  return 0


def kill_tree(root_pid: int) -> dict[int, float]:
  """Kills `root_pid` and every descendant, including ones that called setsid().

  First the init of the sandbox's PID namespace (a child or grandchild of the root in both
  backends), if any: one SIGKILL, and the kernel kills everything in the namespace at once, as
  fast as a fork bomb forks. Then the rest: stops the processes first, rescanning until no new
  one appears: a stopped process can neither fork nor exit, so nothing escapes by being
  re-parented while we look. Then SIGKILLs them all. Returns pid → start time of each process
  it killed (so that reap_session can reap the ones orphaned to us).
  """
  try:
    root = psutil.Process(root_pid)
  except psutil.Error:
    return {}
  children = _children_of(root_pid)
  for pid in children + [grandchild for child in children for grandchild in _children_of(child)]:
    found = orphan_info(pid)
    if found is not None and found[2]:  # PID 1 of a PID namespace
      try:
        os.kill(pid, signal.SIGKILL)
      except OSError:
        pass
  stopped: dict[int, psutil.Process] = {}
  for _ in range(1000):  # bounded: each round needs a process that was forked since the last one
    fresh = [p for p in tree_processes(root) if p.pid not in stopped]
    if not fresh:
      break
    for process in fresh:
      try:
        process.send_signal(signal.SIGSTOP)
      except psutil.Error:
        pass
      stopped[process.pid] = process
  for process in stopped.values():
    try:
      process.send_signal(signal.SIGKILL)
    except psutil.Error:
      pass
  try:
    os.killpg(root_pid, signal.SIGKILL)  # the session we started: catches any straggler
  except OSError:
    pass
  killed = {}
  for pid, process in stopped.items():
    try:
      killed[pid] = process.create_time()
    except psutil.Error:
      pass
  return killed


def _started(pid: int) -> float | None:
  try:
    return psutil.Process(pid).create_time()
  except psutil.Error:
    return None


_subreaper_lock = threading.Lock()
_is_subreaper = False


def become_subreaper() -> None:
  """Makes this process the reaper of its descendants' orphans (once; Linux only)."""
  global _is_subreaper
  with _subreaper_lock:
    if not _is_subreaper:
      try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
      except (OSError, AttributeError):
        pass
      _is_subreaper = True


def has_exited(pid: int) -> bool:
  """Whether our child `pid` has ended, without reaping it (its pid stays taken)."""
  try:
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
  except ChildProcessError:
    return True


def own_children() -> list[int]:
  """Pids whose parent is this process (any of its threads)."""
  if not HAS_PROC_CHILDREN:
    return [p.pid for p in psutil.Process().children()]
  pids = []
  for tid in os.listdir("/proc/self/task"):
    try:
      with open(f"/proc/self/task/{tid}/children", "rb") as f:
        pids.extend(int(child) for child in f.read().split())
    except (OSError, ValueError):
      pass
  return pids


def orphan_info(pid: int) -> tuple[bool, int, bool] | None:
  """(zombie, session, init of a PID namespace) of a process, or None when it is gone."""
  try:
    with open(f"/proc/{pid}/status", "rb") as f:
      fields = dict(line.split(b":", 1) for line in f if b":" in line)
    nspid = fields[b"NSpid"].split()
    return (fields[b"State"].split()[0] in (b"Z", b"X"), int(fields[b"NSsid"].split()[0]),
            len(nspid) > 1 and nspid[-1] == b"1")
  except (OSError, KeyError, ValueError, IndexError):
    return None


def reap_session(session: int, timeout: float = DRAIN_SECONDS,
                 killed: dict[int, float] | None = None) -> int:
  """Kills and reaps the orphans of a run that came to us; returns how many were reaped.

  Orphans: our children in `session` other than its leader, our children that are PID 1 of
  a PID namespace (a sandbox's init whose wrapper exited without waiting for it, as bubblewrap
  does; no code of ours starts such a process directly, so nothing else would wait for it), and
  processes of `killed` (kill_tree's pid → start time; e.g. a program's daemon in the rlimit-only
  fallback, orphaned to us when its launcher was killed) that are now our children.
  Call it while the leader is an unreaped zombie: its pid (= the session id) cannot be reused,
  so every child of ours in the session is this run's. Bounded by `timeout` (then the
  stragglers get SIGKILL and one more `timeout`).
  """
  reaped, killed_again = 0, False
  deadline = time.monotonic() + timeout
  while True:
    alive = []
    children = own_children()
    # Killed processes that still exist but are not ours yet: their parent is dying, and they
    # are about to be re-parented to us.
    alive += [pid for pid in (killed or ()) if pid not in children and
              _started(pid) == killed[pid]]
    for pid in children:
      found = None if pid == session else orphan_info(pid)
      if found is None or not (found[1] == session or found[2] or (
          killed and pid in killed and _started(pid) == killed[pid])):
        continue
      if found[0]:
        try:
          if os.waitpid(pid, os.WNOHANG)[0] == pid:
            reaped += 1
        except ChildProcessError:
          pass
      else:
        alive.append(pid)
    if not alive:
      return reaped
    if time.monotonic() > deadline:
      if killed_again:
        return reaped
      for pid in alive:
        try:
          os.kill(pid, signal.SIGKILL)
        except OSError:
          pass
      killed_again, deadline = True, time.monotonic() + timeout
    time.sleep(0.002)


def _children_of(pid: int) -> list[int]:
  children = []
  try:
    for tid in os.listdir(f"/proc/{pid}/task"):
      with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
        children.extend(int(child) for child in f.read().split())
  except (OSError, ValueError):
    pass
  return children


def supervise(argv: Sequence[str], *, cwd: str, env: Mapping[str, str], timeout: float,
              memory_limit_bytes: int, output_limit_bytes: int, captured_bytes: int,
              cancel: threading.Event | None = None) -> Outcome:
  """Runs argv in a new session with stdin from /dev/null and returns its Outcome.

  timeout: wall-clock seconds for the whole tree. memory_limit_bytes: cap on the sum of
  process_memory_bytes over the tree. output_limit_bytes: cap on stdout + stderr bytes.
  captured_bytes: bytes kept per stream. cancel: when set, the tree is killed at once.
  """
  become_subreaper()
  start = time.monotonic()
  deadline = start + timeout
  process = subprocess.Popen(
      list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, start_new_session=True, close_fds=True)
  streams = {process.stdout.fileno(): CappedOutput(captured_bytes),
             process.stderr.fileno(): CappedOutput(captured_bytes)}
  selector = selectors.DefaultSelector()
  for fd in streams:
    os.set_blocking(fd, False)
    selector.register(fd, selectors.EVENT_READ)
  reason = None
  killed: dict[int, float] = {}  # pid → start time of what kill_tree killed
  peak_memory = 0
  next_memory_check = start + MEMORY_POLL_SECONDS
  killed_at = None
  try:
    while True:
      now = time.monotonic()
      if reason is None:
        if cancel is not None and cancel.is_set():
          reason = "cancelled"
        elif now >= deadline:
          reason = "timed_out"
        elif now >= next_memory_check:
          memory = 0
          for pid in tree_pids(process.pid, deadline):
            memory += process_memory_bytes(pid)
            if memory > memory_limit_bytes or time.monotonic() >= deadline:
              break
          peak_memory = max(peak_memory, memory)
          if memory > memory_limit_bytes:
            reason = "memory_exceeded"
          next_memory_check = now + MEMORY_POLL_SECONDS
        if reason is not None:
          killed.update(kill_tree(process.pid))
          killed_at = now
      elif now - killed_at > DRAIN_SECONDS:
        break  # something still holds the pipes after the kill; give up on the rest
      wait = max(0.0, min(deadline, next_memory_check) - now)
      if cancel is not None:
        wait = min(wait, 0.1)
      if not selector.get_map():
        # Both pipes are closed; the program may still run (it closed them itself).
        if has_exited(process.pid):
          break
        time.sleep(min(wait, 0.01))
        continue
      if reason is None and has_exited(process.pid):
        # The main process is gone: in bubblewrap the namespace dies with it; elsewhere the
        # launcher reaped its tree. Only an escaped process could hold a pipe open past this.
        reason, killed_at = "exited", now
      for key, _ in selector.select(wait):
        try:
          data = os.read(key.fd, 1 << 16)
        except BlockingIOError:
          continue
        if not data:
          selector.unregister(key.fd)
          continue
        streams[key.fd].write(data)
        if reason is None and sum(s.total_bytes for s in streams.values()) > output_limit_bytes:
          reason = "output_exceeded"
          killed.update(kill_tree(process.pid))
          killed_at = time.monotonic()
  finally:
    selector.close()
    if reason not in (None, "exited") or not has_exited(process.pid):
      killed.update(kill_tree(process.pid))
    os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped
    # Whatever the main process left in its session dies now too, and is reaped.
    try:
      os.killpg(process.pid, signal.SIGKILL)
    except OSError:
      pass
    reap_session(process.pid, killed=killed)
    process.wait()
    process.stdout.close()
    process.stderr.close()
  stdout, stderr = streams.values()
  killed = reason not in (None, "exited")
  return Outcome(
      exit_code=None if killed else process.returncode,
      stdout=stdout.value(), stderr=stderr.value(),
      timed_out=reason == "timed_out", memory_exceeded=reason == "memory_exceeded",
      output_exceeded=reason == "output_exceeded", cancelled=reason == "cancelled",
      wall_time=time.monotonic() - start, peak_memory_bytes=peak_memory,
      output_bytes=stdout.total_bytes + stderr.total_bytes)
