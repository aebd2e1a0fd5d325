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
import sys
import tempfile
import time
from contextlib import contextmanager

from starjax.train.hlo_stats import HloModule, collective_stats, matmul_flops

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
      # While loops whose trip count the HLO does not state: their bodies (and the matmuls
      # and collectives in them) are counted once, so the per-step figures are lower bounds.
      "loops_of_unknown_trip_count": module.unknown_trip_counts,
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
  if r.get("loops_of_unknown_trip_count"):
    lines.append(f"                {r['loops_of_unknown_trip_count']} loop(s) of unknown trip "
                 f"count counted once: FLOPs and collectives per step are lower bounds")
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
