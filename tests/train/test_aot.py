"""`run.py info --aot`: the real train step compiled ahead of time for a TPU slice that is not
here (libtpu, requirements-tpu.txt), with memory per chip, FLOPs and collectives read from the
compiled executable; clear one-line answers where it cannot compile or the step does not fit."""

import json

import pytest

from starjax.train import aot, hlo_stats
from tests.toolchains import missing
from tests.train.conftest import run_cli

AOT_GIN = "tests/train/aot_tiny.gin"


@pytest.mark.slow
def test_tiny_model_compiles_for_v5e_2x2_with_memory_flops_and_collectives():
  if aot.libtpu_path() is None:
    missing(f"libtpu is not installed: {aot.INSTALL_HINT}")
  result = run_cli("info", "--aot", "--json", f"--gin_file={AOT_GIN}", timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads(result.stdout)
  assert report["devices"].startswith("TPU v5 lite × 4")
  assert report["mesh"] == {"data": 2, "fsdp": 2, "context": 1, "tensor": 1}
  assert report["hbm_bytes"] == 16 * 2**30 and report["fits"]
  # FSDP over 2 chips: each holds half of the parameters and of Adam's two moments.
  assert 0 < report["param_bytes"] < report["optimizer_bytes"]
  assert report["argument_bytes"] >= report["param_bytes"] + report["optimizer_bytes"]
  assert report["alias_bytes"] > 0  # the donated state is updated in place
  assert report["peak_bytes"] >= report["argument_bytes"] + report["temp_bytes"]
  # The compiled matmuls run the model FLOPs plus remat recomputation and masked attention.
  assert 1.0 <= report["compiled_flops"] / report["analytical_flops"] < 2.0
  collectives = report["collectives"]
  assert collectives["all-gather"]["ops"] > 0 and collectives["all-gather"]["bytes_per_step"] > 0
  assert collectives["reduce-scatter"]["per_step"] > 0 and collectives["all-reduce"]["ops"] > 0
  # Ops inside the scanned layers and microbatches run more often than they appear.
  assert collectives["all-gather"]["per_step"] > collectives["all-gather"]["ops"]


def test_a_step_that_does_not_fit_exits_1_naming_the_overflow(tmp_path):
  # On the CPU device present (no topology): the same path, with a 1 MiB "HBM".
  result = run_cli("info", "--aot", f"--gin_file={AOT_GIN}", "--gin.MeshConfig.topology=None",
                   "--gin.MeshConfig.data=1", "--gin.MeshConfig.fsdp=1",
                   "--gin.MeshConfig.expected_devices=None", "--gin.MeshConfig.hbm_gib=0.001",
                   "--gin.SEQ_LEN=32", "--gin.train.microbatches=1")
  assert result.returncode == 1, result.stderr[-3000:]
  assert "DOES NOT FIT" in result.stdout
  last = result.stderr.strip().splitlines()[-1]
  assert "does not fit: peak" in last and "exceeds 0.00 GiB HBM" in last


def test_gpu_mesh_without_its_gpus_says_so_in_one_line():
  result = run_cli("info", "--aot", "--gin_file=experiments/starcoderbase_1b.gin")
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert "names no MeshConfig.topology" in lines[-1] and "--gin.MeshConfig.topology" in lines[-1]


def test_without_libtpu_the_error_says_how_to_install_it(monkeypatch):
  monkeypatch.setattr(aot, "libtpu_path", lambda: None)
  with pytest.raises(aot.AotError, match="pip install -r requirements-tpu.txt"):
    aot.topology_devices("v5e:2x2")


def test_unknown_tpu_generation_names_the_known_ones():
  with pytest.raises(aot.AotError, match="unknown TPU generation 'v9'.*v5e"):
    aot.chip_of("v9:2x2")


SCANNED_HLO = """\
HloModule jit_step

%body (p: (s32[], f32[1024])) -> (s32[], f32[1024]) {
  %p = (s32[], f32[1024]) parameter(0)
  %x = f32[256]{0} get-tuple-element(%p), index=1
  %ag = f32[1024]{0} all-gather(%x), replica_groups={{0,1,2,3}}, dimensions={0}
  ROOT %t = (s32[], f32[1024]) tuple(%i, %ag)
}

%cond (p.1: (s32[], f32[1024])) -> pred[] {
  %p.1 = (s32[], f32[1024]) parameter(0)
  %n = s32[] constant(24)
  %i.1 = s32[] get-tuple-element(%p.1), index=0
  ROOT %lt = pred[] compare(%i.1, %n), direction=LT
}

ENTRY %main (a: f32[1024]) -> f32[1024] {
  %a = f32[1024]{0} parameter(0)
  %w = (s32[], f32[1024]) while(%init), condition=%cond, body=%body
  %ars = bf16[512,64]{1,0} all-reduce-start(%a), to_apply=%add
  ROOT %ard = bf16[512,64]{1,0} all-reduce-done(%ars)
}
"""


def test_collectives_in_a_scanned_body_count_once_per_iteration():
  stats = hlo_stats.collective_stats(hlo_stats.HloModule(SCANNED_HLO))
  assert stats["all-gather"] == {"ops": 1, "per_step": 24, "bytes_per_step": 24 * 4096,
                                 "largest_bytes": 4096}
  # An async pair is one all-reduce, counted at its -done.
  assert stats["all-reduce"]["ops"] == 1 and stats["all-reduce"]["bytes_per_step"] == 512 * 64 * 2
  assert stats["reduce-scatter"]["ops"] == stats["collective-permute"]["ops"] == 0
