"""`python run.py info --aot`: compile the experiment's real train step for its TPU topology.

    python run.py info --aot --gin_file=experiments/starcoderbase_15b.gin

The mesh gin file names a TPU slice (`MeshConfig.topology = 'v4:4x8x8'`); libtpu describes
that slice's chips without them being present (jax.experimental.topologies), and the train step
the trainer would run (same Trainer: model, remat, dtypes, global batch, sequence length,
microbatches, optimizer, shardings, donation) is lowered and compiled for it on this machine.
The compiled executable then tells, per chip, what an analytical estimate cannot: the
compiler's temporary buffers, its peak against the chip's HBM, the FLOPs it really executes
(remat recomputation included) and every collective it inserted.

A mesh without a topology (CPU, GPU nodes) is compiled on the devices present when they match
the mesh; otherwise one line says why it cannot be (XLA needs the GPUs to compile for them).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import re
import sys
import tempfile
import time
from contextlib import contextmanager

GIB = 2 ** 30

INSTALL_HINT = "pip install -r requirements-tpu.txt (libtpu for jax 0.10.2; runs on CPU machines)"


@dataclasses.dataclass(frozen=True)
class Chip:
  """A TPU generation as libtpu names it: topology prefix, chip config, published HBM."""
  generation: str
  device_kind: str
  hbm_bytes: int
  chip_config_name: str | None  # megacore chips (v4, v5p) are one device of two cores


# Published HBM per chip. Topology names are `GENERATION:AxBxC` (v4, v5p) or `AxB` (v5e, v6e).
TPU_CHIPS = {
    "v4": Chip("v4", "TPU v4", 32 * GIB, "megacore"),
    "v5p": Chip("v5p", "TPU v5", 95 * GIB, "megacore"),
    "v5": Chip("v5p", "TPU v5", 95 * GIB, "megacore"),
    "v5e": Chip("v5e", "TPU v5 lite", 16 * GIB, None),
    "v6e": Chip("v6e", "TPU v6 lite", 32 * GIB, None),
}

COLLECTIVES = ("all-gather", "reduce-scatter", "all-reduce", "collective-permute", "all-to-all")


class AotError(RuntimeError):
  """An ahead-of-time compile that cannot run here; the message is one line and says why."""

  def __init__(self, message: str, exit_code: int = 2):
    super().__init__(message)
    self.exit_code = exit_code


def libtpu_path() -> str | None:
  """libtpu.so as JAX finds it (TPU_LIBRARY_PATH, else the `libtpu` package), or None."""
  path = os.environ.get("TPU_LIBRARY_PATH")
  if path and os.path.isfile(path):
    return path
  spec = importlib.util.find_spec("libtpu")
  if spec is None or not spec.submodule_search_locations:
    return None
  candidate = os.path.join(list(spec.submodule_search_locations)[0], "libtpu.so")
  return candidate if os.path.isfile(candidate) else None


def chip_of(topology: str) -> Chip:
  generation = topology.split(":", 1)[0].lower()
  if generation not in TPU_CHIPS:
    raise AotError(f"MeshConfig.topology={topology!r}: unknown TPU generation {generation!r}; "
                   f"use one of {sorted(TPU_CHIPS)}, e.g. 'v4:4x8x8' or 'v5e:2x2'")
  return TPU_CHIPS[generation]


@contextmanager
def _quiet_stderr():
  """Collects what libtpu's C++ logging writes to fd 2 while loading on a host without TPUs
  (warnings about the missing TPU metadata server); yields a callable returning that text."""
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      yield lambda: (captured.seek(0), captured.read().decode(errors="replace"))[1]
    finally:
      os.dup2(saved, 2)
      os.close(saved)


def prepare_jax_for_topology() -> None:
  """Before any backend starts: compile-only TPU devices need no TPU backend, and libtpu's
  single-process lock would make `info --aot` fail next to a running TPU job."""
  os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
  import jax  # pylint: disable=import-outside-toplevel
  from jax._src import xla_bridge  # pylint: disable=import-outside-toplevel
  if not xla_bridge.backends_are_initialized() and jax.config.jax_platforms is None:
    jax.config.update("jax_platforms", "cpu")


def topology_devices(topology: str):
  """The compile-only devices of a TPU slice, e.g. 'v4:4x8x8' (256 chips)."""
  chip = chip_of(topology)
  if libtpu_path() is None:
    raise AotError(f"MeshConfig.topology={topology!r} needs libtpu to compile for TPUs: "
                   f"{INSTALL_HINT}")
  from jax.experimental import topologies  # pylint: disable=import-outside-toplevel
  kwargs = {"chip_config_name": chip.chip_config_name} if chip.chip_config_name else {}
  with _quiet_stderr() as log:
    try:
      description = topologies.get_topology_desc(platform="tpu", topology_name=topology,
                                                 **kwargs)
    except Exception as e:  # libtpu reports bad names as generic runtime errors
      detail = (str(e).strip().splitlines() or [log().strip()] or [""])[0]
      raise AotError(f"MeshConfig.topology={topology!r}: libtpu cannot describe it ({detail})"
                     ) from e
  return list(description.devices), chip


def aot_mesh(mesh_config):
  """(mesh, hbm bytes per device or None, a description of the devices) for a MeshConfig."""
  import jax  # pylint: disable=import-outside-toplevel
  from starjax import sharding  # pylint: disable=import-outside-toplevel
  topology = getattr(mesh_config, "topology", None)
  if topology:
    devices, chip = topology_devices(topology)
    if mesh_config.expected_devices and mesh_config.expected_devices != len(devices):
      raise AotError(f"MeshConfig.topology={topology!r} has {len(devices)} chips but "
                     f"MeshConfig.expected_devices={mesh_config.expected_devices}; make them "
                     f"agree in the mesh gin file")
    sizes = mesh_config.axis_sizes(len(devices))
    from jax.experimental import mesh_utils  # pylint: disable=import-outside-toplevel
    grid = mesh_utils.create_device_mesh(tuple(sizes[a] for a in sharding.MESH_AXES), devices)
    mesh = jax.sharding.Mesh(grid, sharding.MESH_AXES,
                             axis_types=(jax.sharding.AxisType.Auto,) * len(sharding.MESH_AXES))
    hbm = getattr(mesh_config, "hbm_gib", None)
    hbm_bytes = int(hbm * GIB) if hbm else chip.hbm_bytes
    return mesh, hbm_bytes, f"{chip.device_kind} × {len(devices)} ({topology}, compile-only)"
  wanted = mesh_config.expected_devices
  present = jax.devices()
  if wanted and wanted != len(present):
    raise AotError(
        f"this mesh (MeshConfig.expected_devices={wanted}) names no MeshConfig.topology and "
        f"{len(present)} {present[0].platform} device(s) are present: XLA compiles for GPUs "
        f"only with them attached (run on the nodes), and ahead of time only for TPU slices "
        f"(bind e.g. --gin.MeshConfig.topology=v5p:2x2x2)", exit_code=2)
  mesh = mesh_config.create()
  hbm = getattr(mesh_config, "hbm_gib", None)
  hbm_bytes = int(hbm * GIB) if hbm else (present[0].memory_stats() or {}).get("bytes_limit")
  return mesh, hbm_bytes, f"{present[0].device_kind} × {mesh.devices.size} (present)"


# -- reading the compiled HLO ------------------------------------------------------------------

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


# -- the compile --------------------------------------------------------------------------------

def compile_train_step(model_config, mesh_config, optimizer_config, *, batch_size: int,
                       seq_len: int, microbatches: int = 1, train_steps: int = 1000) -> dict:
  """Compiles the trainer's train step for `mesh_config` (its TPU topology, or the devices
  present) and returns per-device memory, FLOPs and collectives as a dict (see format_report)."""
  if getattr(mesh_config, "topology", None):
    prepare_jax_for_topology()
  import jax  # pylint: disable=import-outside-toplevel
  from starjax.model.flops import flops_per_token  # pylint: disable=import-outside-toplevel
  from starjax.train.trainer import Trainer  # pylint: disable=import-outside-toplevel

  mesh, hbm_bytes, devices = aot_mesh(mesh_config)
  trainer = Trainer(model_config, train_steps=train_steps, batch_size=batch_size,
                    seq_len=seq_len, mesh_config=mesh_config, optimizer_config=optimizer_config,
                    microbatches=microbatches, mesh=mesh)
  start = time.perf_counter()
  try:
    compiled = trainer.compile()
  except jax.errors.JaxRuntimeError as e:
    if "RESOURCE_EXHAUSTED" not in str(e):
      raise
    # The TPU compiler itself refuses a program whose buffers exceed the chip's HBM.
    detail = str(e).strip().splitlines()[0].split("RESOURCE_EXHAUSTED:", 1)[-1].strip()
    raise AotError(f"does not fit on {devices}: the compiler says: {detail}; raise "
                   f"train.microbatches, use DecoderConfig.remat_policy='full' or "
                   f"attention_impl='chunked', or shard further (MeshConfig)", exit_code=1) from e
  compile_seconds = time.perf_counter() - start

  def per_device(tree) -> int:
    return sum(math.prod(leaf.sharding.shard_shape(leaf.shape)) * leaf.dtype.itemsize
               for leaf in jax.tree.leaves(tree))

  memory = compiled.memory_analysis()
  argument, output = memory.argument_size_in_bytes, memory.output_size_in_bytes
  alias, temp = memory.alias_size_in_bytes, memory.temp_size_in_bytes
  code = memory.generated_code_size_in_bytes
  # Donated state is aliased: its buffers count once. XLA's own peak, where reported, wins.
  peak = getattr(memory, "peak_memory_in_bytes", 0) or (argument + output - alias + temp + code)
  module = HloModule(compiled.as_text())
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else (cost or {})
  num_devices = mesh.devices.size
  analytical = (flops_per_token(model_config, seq_len).training * batch_size * seq_len
                / num_devices)
  return {
      "devices": devices,
      "mesh": dict(mesh.shape),
      "batch_size": batch_size, "seq_len": seq_len, "microbatches": microbatches,
      "remat_policy": model_config.remat_policy,
      "compile_seconds": compile_seconds,
      "param_bytes": per_device(trainer.abstract_params),
      "optimizer_bytes": per_device(trainer.abstract_opt_state),
      "argument_bytes": argument, "output_bytes": output, "alias_bytes": alias,
      "temp_bytes": temp, "code_bytes": code, "peak_bytes": peak,
      "hbm_bytes": hbm_bytes,
      "fits": hbm_bytes is None or peak <= hbm_bytes,
      "compiled_flops": matmul_flops(module),
      "xla_cost_analysis_flops": float(cost.get("flops", 0.0)),
      "analytical_flops": analytical,
      "collectives": collective_stats(module),
  }


def _gib(n: float) -> str:
  return f"{n / GIB:,.2f} GiB"


def format_report(report: dict) -> str:
  r = report
  lines = [
      f"compiled for    {r['devices']}, mesh "
      + " × ".join(f"{k} {v}" for k, v in r["mesh"].items())
      + f", batch {r['batch_size']} × {r['seq_len']} tokens in {r['microbatches']} "
      f"microbatch(es), remat {r['remat_policy']}: {r['compile_seconds']:.1f} s",
      f"per chip        parameters {_gib(r['param_bytes'])} + optimizer "
      f"{_gib(r['optimizer_bytes'])} = {_gib(r['param_bytes'] + r['optimizer_bytes'])}",
      f"                temp {_gib(r['temp_bytes'])}, arguments {_gib(r['argument_bytes'])}, "
      f"outputs {_gib(r['output_bytes'])} (aliased {_gib(r['alias_bytes'])}), code "
      f"{_gib(r['code_bytes'])}",
  ]
  if r["hbm_bytes"]:
    lines.append(f"                peak {_gib(r['peak_bytes'])} of {_gib(r['hbm_bytes'])} HBM "
                 f"({100 * r['peak_bytes'] / r['hbm_bytes']:.0f} %)"
                 + ("" if r["fits"] else "  DOES NOT FIT"))
  else:
    lines.append(f"                peak {_gib(r['peak_bytes'])}")
  ratio = r["compiled_flops"] / r["analytical_flops"] if r["analytical_flops"] else 0
  lines.append(f"FLOPs/step/chip {r['compiled_flops']:.4g} in the compiled matmuls vs "
               f"{r['analytical_flops']:.4g} model FLOPs ({ratio:.2f}×: remat recomputation "
               f"and masked attention blocks run but are not model FLOPs); XLA cost analysis "
               f"{r['xla_cost_analysis_flops']:.4g} (loop bodies once)")
  lines.append("collectives     kind                ops  per step   GiB/step  largest")
  for kind, s in r["collectives"].items():
    lines.append(f"                {kind:<18} {s['ops']:>4} {s['per_step']:>9} "
                 f"{s['bytes_per_step'] / GIB:>10.3f}  {s['largest_bytes'] / 2**20:,.1f} MiB")
  return "\n".join(lines)


def overflow_message(report: dict) -> str:
  r = report
  over = r["peak_bytes"] - r["hbm_bytes"]
  return (f"does not fit: peak {_gib(r['peak_bytes'])} per chip exceeds {_gib(r['hbm_bytes'])} "
          f"HBM by {_gib(over)} (temp {_gib(r['temp_bytes'])}, parameters + optimizer "
          f"{_gib(r['param_bytes'] + r['optimizer_bytes'])}); raise train.microbatches, use "
          f"DecoderConfig.remat_policy='full', or shard further (MeshConfig)")


def _train_binding(name: str, default=None):
  """The value bound to train.NAME in the parsed gin config (macros resolved), or default."""
  import gin  # pylint: disable=import-outside-toplevel
  try:
    value = gin.query_parameter(f"train.{name}")
  except ValueError:
    return default
  if isinstance(value, gin.config.ConfigurableReference):
    value = value.scoped_configurable_fn()  # a %MACRO: gin.macro returns its value
  return value


def main(command: str, *, as_json: bool = False, seq_len: int | None = None) -> int:
  """`info --aot` after gin is parsed: compile, print, exit 0 (fits), 1 (does not), 2 (cannot)."""
  import json  # pylint: disable=import-outside-toplevel
  from starjax import sharding  # pylint: disable=import-outside-toplevel
  from starjax.model import DecoderConfig  # pylint: disable=import-outside-toplevel
  from starjax.train.optimizer import OptimizerConfig  # pylint: disable=import-outside-toplevel
  batch_size = _train_binding("batch_size")
  seq_len = seq_len or _train_binding("seq_len")
  if not isinstance(batch_size, int) or not isinstance(seq_len, int):
    print(f"run.py {command} --aot: the gin files bind no train.batch_size / train.seq_len "
          f"(BATCH_SIZE, SEQ_LEN): pass an experiment, e.g. "
          f"--gin_file=experiments/starcoderbase_15b.gin", file=sys.stderr)
    return 2
  model_config, mesh_config = DecoderConfig(), sharding.MeshConfig()
  try:
    report = compile_train_step(
        model_config, mesh_config, OptimizerConfig(), batch_size=batch_size, seq_len=seq_len,
        microbatches=_train_binding("microbatches", 1),
        train_steps=_train_binding("train_steps", 1000))
  except AotError as e:
    print(f"run.py {command} --aot: {e}", file=sys.stderr)
    return e.exit_code
  except (sharding.MeshError, ValueError) as e:
    print(f"run.py {command} --aot: {type(e).__name__}: {e}", file=sys.stderr)
    return 2
  print(json.dumps(report, indent=1) if as_json else format_report(report))
  if not report["fits"]:
    print(f"run.py {command} --aot: {overflow_message(report)}", file=sys.stderr)
    return 1
  return 0
