"""SIGTERM during training: a preemption notice the loop answers at the end of the step.

A pod scheduler, SLURM or `kill` sends SIGTERM and waits a grace period; the training loop
saves a checkpoint and stops instead of dying mid-step.
"""

from __future__ import annotations

import signal
import threading


class PreemptionWatch:
  """Within the block, SIGTERM only sets a flag (the loop saves and stops at the step's end);
  the previous handler comes back after. Outside the main thread signals cannot be caught."""

  def __enter__(self):
    self._event = threading.Event()
    self._previous = None
    if threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGTERM, lambda *_: self._event.set())
    return self

  def requested(self) -> bool:
    return self._event.is_set()

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)
    return False
