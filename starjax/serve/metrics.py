"""Prometheus metrics in the text exposition format (no client library needed).

Names follow text-generation-inference (`tgi_request_count`, `tgi_request_duration`,
`tgi_queue_size`, `tgi_batch_current_size`, ...), so its Grafana dashboards work, plus the
serving signals TGI lacks: time to first token, inter-token latency, slots in use, cancelled
requests and wasted tokens (generated for requests that were then cancelled).
"""

from __future__ import annotations

import bisect
import threading

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0, 60.0)
LENGTH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)


class Histogram:
  def __init__(self, name: str, help_: str, buckets):
    self.name, self.help, self.buckets = name, help_, tuple(buckets)
    self.counts = [0] * (len(self.buckets) + 1)
    self.sum = 0.0
    self.count = 0

  def observe(self, value: float) -> None:
    self.counts[bisect.bisect_left(self.buckets, value)] += 1
    self.sum += value
    self.count += 1

  def render(self) -> list[str]:
    lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
    running = 0
    for bound, count in zip(self.buckets, self.counts):
      running += count
      lines.append(f'{self.name}_bucket{{le="{bound}"}} {running}')
    lines.append(f'{self.name}_bucket{{le="+Inf"}} {self.count}')
    lines += [f"{self.name}_sum {self.sum}", f"{self.name}_count {self.count}"]
    return lines


class Metrics:
  """All of the server's metrics; `inc`, `set`, `observe` are thread-safe."""

  COUNTERS = {
      "tgi_request_count": "requests received",
      "tgi_request_success": "requests that completed",
      "tgi_request_failure": "requests that failed (validation, overload, errors)",
      "starjax_requests_cancelled_total": "requests cancelled (client disconnect or abort)",
      "starjax_wasted_tokens_total": "tokens generated for requests that were then cancelled",
      "starjax_generated_tokens_total": "tokens generated",
      "starjax_prefill_tokens_total": "prompt tokens run through prefill",
      "starjax_cached_tokens_total": "prompt tokens reused from a slot's KV cache",
  }
  GAUGES = {
      "tgi_queue_size": "requests waiting for a slot",
      "tgi_batch_current_size": "slots generating now",
      "starjax_slots_in_use": "slots generating now",
      "starjax_slots_total": "decode slots",
      "starjax_requests_in_flight": "HTTP requests being served",
  }

  def __init__(self):
    self._lock = threading.Lock()
    self.values = {name: 0.0 for name in (*self.COUNTERS, *self.GAUGES)}
    self.histograms = {h.name: h for h in (
        Histogram("tgi_request_duration", "end-to-end request latency (s)", LATENCY_BUCKETS),
        Histogram("tgi_request_queue_duration", "time waiting for a slot (s)", LATENCY_BUCKETS),
        Histogram("tgi_request_inference_duration", "time in a slot (s)", LATENCY_BUCKETS),
        Histogram("tgi_request_mean_time_per_token_duration", "mean time per output token (s)",
                  LATENCY_BUCKETS),
        Histogram("tgi_request_input_length", "prompt tokens", LENGTH_BUCKETS),
        Histogram("tgi_request_generated_tokens", "generated tokens", LENGTH_BUCKETS),
        Histogram("starjax_time_to_first_token_seconds", "arrival to first token (s)",
                  LATENCY_BUCKETS),
        Histogram("starjax_inter_token_latency_seconds", "time between a request's tokens (s)",
                  LATENCY_BUCKETS),
        Histogram("starjax_decode_step_seconds", "one decode step of all slots (s)",
                  LATENCY_BUCKETS),
    )}

  def inc(self, name: str, by: float = 1) -> None:
    with self._lock:
      self.values[name] += by

  def set(self, name: str, value: float) -> None:
    with self._lock:
      self.values[name] = value

  def observe(self, name: str, value: float) -> None:
    with self._lock:
      self.histograms[name].observe(value)

  def render(self) -> str:
    with self._lock:
      lines = []
      for name, help_ in self.COUNTERS.items():
        lines += [f"# HELP {name} {help_}", f"# TYPE {name} counter", f"{name} {self.values[name]:g}"]
      for name, help_ in self.GAUGES.items():
        lines += [f"# HELP {name} {help_}", f"# TYPE {name} gauge", f"{name} {self.values[name]:g}"]
      for histogram in self.histograms.values():
        lines += histogram.render()
    return "\n".join(lines) + "\n"
