"""Reading a compiled (post-optimisation) HLO module's text: what runs per step, not per line.

XLA's cost analysis and a plain count of instructions see a while loop's body once, but the
body of the scan over layers runs num_layers times (and the microbatch loop's, microbatches
times). HloModule resolves how often each computation runs from the loops' trip counts; the
collectives and matmul FLOPs below are weighted by it. Used by `info --aot` (aot.py).
"""

from __future__ import annotations

import math
import re

COLLECTIVES = ("all-gather", "reduce-scatter", "all-reduce", "collective-permute", "all-to-all")

_DTYPE_BYTES = {"pred": 1, "s4": 0.5, "u4": 0.5, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2,
                "bf16": 2, "s32": 4, "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8, "c64": 8,
                "c128": 16, "f8e4m3fn": 1, "f8e5m2": 1, "f8e4m3b11fnuz": 1, "f8e4m3fnuz": 1,
                "f8e5m2fnuz": 1}
_SHAPE = re.compile(r"\b(" + "|".join(sorted(_DTYPE_BYTES, key=len, reverse=True)) +
                    r")\[([0-9,]*)\]")
_COMPUTATION = re.compile(r"^(?:ENTRY )?%?([^\s(]+) \(.*\{\s*$")
_CALLEE = re.compile(r"\b(calls|to_apply|body|condition)=%([^\s,)}]+)")
_CALLEE_LIST = re.compile(r"\b(branch_computations|called_computations)=\{([^}]*)\}")
_OP = re.compile(r"=\s*(.*?)\s(" + "|".join(COLLECTIVES) + r")(-start|-done)?\(")


def shape_bytes(text: str) -> int:
  """Bytes of every array shape in `text` (a tuple shape sums its elements)."""
  total = 0.0
  for dtype, dims in _SHAPE.findall(text):
    total += _DTYPE_BYTES[dtype] * math.prod(int(d) for d in dims.split(",") if d)
  return int(total)


class HloModule:
  """A compiled HLO module's text, split into computations, with how often each one runs per
  execution of the entry computation (a while body runs its trip count times: the scanned
  layers, the microbatches), so that ops counted in the text become ops executed per step."""

  def __init__(self, hlo: str):
    self.computations: dict[str, list[str]] = {}
    self.entry = None
    current = None
    for line in hlo.splitlines():
      match = _COMPUTATION.match(line)
      if match:
        current = match.group(1)
        self.computations[current] = []
        if line.startswith("ENTRY"):
          self.entry = current
      elif line.startswith("}"):
        current = None
      elif current is not None:
        self.computations[current].append(line)
    self._callers: dict[str, list[tuple[str, int]]] = {}
    self.unknown_trip_counts = 0
    for name, lines in self.computations.items():
      for line in lines:
        refs = _CALLEE.findall(line)
        body_factor = 1
        if " while(" in line:
          condition = dict(refs).get("condition")
          trips = _trip_count(line, self.computations.get(condition, []))
          self.unknown_trip_counts += trips is None
          body_factor = trips or 1
        for kind, callee in refs:
          self._callers.setdefault(callee, []).append((name, body_factor if kind == "body" else 1))
        for _, listed in _CALLEE_LIST.findall(line):
          for callee in re.findall(r"%([^\s,]+)", listed):
            self._callers.setdefault(callee, []).append((name, 1))
    self._runs: dict[str, int] = {}

  def runs(self, name: str, depth: int = 0) -> int:
    """Executions of computation `name` per execution of the entry computation."""
    if name == self.entry or depth > 64:
      return 1
    if name not in self._runs:
      self._runs[name] = sum(self.runs(caller, depth + 1) * factor
                             for caller, factor in self._callers.get(name, [])) or 1
    return self._runs[name]

  def instructions(self):
    """(computation, line, runs per step) for every instruction."""
    for name, lines in self.computations.items():
      runs = self.runs(name)
      for line in lines:
        yield name, line, runs


def _trip_count(while_line: str, condition: list[str]) -> int | None:
  known = re.search(r'known_trip_count"?\s*:\s*\{\s*"n"\s*:\s*"?(\d+)', while_line)
  if known:
    return int(known.group(1))
  constants = [int(c) for c in re.findall(r"s32\[\][^=]*?\sconstant\((\d+)\)",
                                          "\n".join(condition))]
  compares = [line for line in condition if " compare(" in line and "direction=LT" in line]
  if len(constants) == 1 and compares:
    return constants[0]  # lax.scan/fori_loop: counter from 0 while counter < N
  return None


def collective_stats(module: HloModule) -> dict[str, dict]:
  """Collectives in a compiled (post-optimisation) HLO module, by kind.

  Returns {kind: {"ops": instructions in the module, "per_step": executions per step (an op
  inside the scanned layers runs once per layer), "bytes_per_step": bytes per device per step,
  "largest_bytes": the largest single buffer}}. Bytes are the full buffer of an op on one
  device: the gathered result of an all-gather, the buffer before scattering of a
  reduce-scatter (TPU fuses these as an all-reduce inside an `all-reduce-scatter` fusion),
  the reduced buffer of an all-reduce. Async pairs are counted once, at their -done.
  """
  stats = {kind: {"ops": 0, "per_step": 0, "bytes_per_step": 0, "largest_bytes": 0}
           for kind in COLLECTIVES}
  for name, line, runs in module.instructions():
    match = _OP.search(line)
    if not match or match.group(3) == "-start":
      continue
    kind = match.group(2)
    if kind == "all-reduce" and name.startswith("all-reduce-scatter"):
      kind = "reduce-scatter"
    size = shape_bytes(match.group(1))
    entry = stats[kind]
    entry["ops"] += 1
    entry["per_step"] += runs
    entry["bytes_per_step"] += runs * size
    entry["largest_bytes"] = max(entry["largest_bytes"], size)
  return stats


_DEFINITION = re.compile(r"^\s*(?:ROOT )?%([^\s=]+) = (.*?) ([a-z][a-z0-9-]*)\(([^)]*)\)")


def _dims(shape: str) -> list[int]:
  match = _SHAPE.search(shape)
  return [int(d) for d in match.group(2).split(",") if d] if match else []


def _valid_taps(start: int, size: int, step: int, length: int, hole: int) -> int:
  """How many of start + j * step (0 <= j < size) fall in [0, length) on a multiple of hole."""
  first = 0 if start >= 0 else (-start + step - 1) // step
  last = min(size - 1, (length - 1 - start) // step) if length - 1 - start >= 0 else -1
  if last < first:
    return 0
  if hole == 1:
    return last - first + 1
  period = hole // math.gcd(step, hole)
  hits = [j for j in range(first, min(last, first + period - 1) + 1)
          if (start + j * step) % hole == 0]
  return sum((last - j) // period + 1 for j in hits)


def _convolution_macs(line: str, lhs: list[int], rhs: list[int], out: list[int]) -> int:
  """Multiply-adds of an HLO convolution: for every output element, the kernel's input
  features times the window taps that land on real (not padding, not dilation-hole) input.
  TPUs emit every dot as a convolution, batched ones with windows over the batch dims."""
  labels = re.search(r"dim_labels=([^_]+)_([^-]+)->(\S+?)[,\s]", line)
  if not labels or not lhs or not rhs or not out:
    return 0
  lhs_labels, rhs_labels, out_labels = labels.groups()
  if len(lhs_labels) != len(lhs) or len(rhs_labels) != len(rhs) or len(out_labels) != len(out):
    return 0
  spatial = sorted(c for c in lhs_labels if c.isdigit())
  window = re.search(r"window=\{([^}]*)\}", line)
  fields = dict(item.split("=", 1) for item in window.group(1).split()) if window else {}

  def per_dim(name, default):
    values = fields.get(name)
    return [tuple(int(x) for x in v.split("_")) if "_" in v else int(v)
            for v in values.split("x")] if values else [default] * len(spatial)

  sizes, strides = per_dim("size", 1), per_dim("stride", 1)
  pads, lhs_dilate, rhs_dilate = per_dim("pad", (0, 0)), per_dim("lhs_dilate", 1), \
      per_dim("rhs_dilate", 1)
  taps = 1
  for d, label in enumerate(spatial):
    n = lhs[lhs_labels.index(label)]
    n_dilated = (n - 1) * lhs_dilate[d] + 1
    outputs = out[out_labels.index(label)]
    taps *= sum(_valid_taps(p * strides[d] - pads[d][0], sizes[d], rhs_dilate[d], n_dilated,
                            lhs_dilate[d]) for p in range(outputs))
  batch = out[out_labels.index("b")] if "b" in out_labels else 1
  features = out[out_labels.index("f")] if "f" in out_labels else 1
  return batch * features * rhs[rhs_labels.index("i")] * taps


def matmul_flops(module: HloModule) -> float:
  """FLOPs per step of the module's matrix multiplications (dot, and convolution, as which
  TPUs emit them), 2 per multiply-add, each multiplied by how often its computation runs.
  Unlike XLA's cost analysis, a while body (the scanned layers) counts once per iteration."""
  total = 0.0
  for name, lines in module.computations.items():
    runs = module.runs(name)
    shapes = {}
    for line in lines:
      match = _DEFINITION.match(line)
      if not match:
        continue
      result, shape, op, operands = match.groups()
      shapes[result] = shape
      if op not in ("dot", "convolution"):
        continue
      out = _dims(shape)
      names = re.findall(r"%([^\s,]+)", operands)
      if len(names) < 2 or not out:
        continue
      if op == "dot":
        lhs = _dims(shapes.get(names[0], ""))
        contracting = re.search(r"lhs_contracting_dims=\{([0-9,]*)\}", line)
        per_output = math.prod(lhs[int(i)] for i in contracting.group(1).split(",") if i) \
            if contracting and lhs else 0
      else:
        per_output = _convolution_macs(line, _dims(shapes.get(names[0], "")),
                                       _dims(shapes.get(names[1], "")), out)
        out = [1]  # _convolution_macs counted every output element already
      total += 2.0 * math.prod(out) * per_output * runs
  return total
