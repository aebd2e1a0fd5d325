"""Runs under XLA_FLAGS=--xla_force_host_platform_device_count=8 (started by test_mesh.py).

argv: OUT_JSON CKPT_FROM_ONE_DEVICE CKPT_TO_WRITE STEPS
Trains STEPS steps on the data 2 × fsdp 2 × tensor 2 mesh, reports losses and how the
parameters are laid out, restores a checkpoint written on one device, writes its own.
"""

import json
import sys

import jax
import numpy as np

from starjax import gin_config
from starjax.sharding import MeshConfig
from starjax.model_dir import Checkpointer
from tests.train.test_mesh import make_trainer, param_digest, train_steps_losses


def main(out_path, from_one_device, to_write, steps):
  assert jax.device_count() == 8, jax.devices()
  gin_config.parse(["gin/mesh/cpu_sim8.gin"], [], finalize=False)
  trainer = make_trainer(MeshConfig())
  state = trainer.init_state()
  layout = {
      "wte": [list(s.data.shape) for s in state.params["wte"]["embedding"].addressable_shards],
      "fc": [list(s.data.shape)
             for s in state.params["blocks"]["mlp"]["fc"]["kernel"].addressable_shards],
      "mu_fc": None,
  }
  mu = state.opt_state.inner_state[1][0].mu
  layout["mu_fc"] = [list(s.data.shape) for s in mu["blocks"]["mlp"]["fc"]["kernel"].addressable_shards]
  state, losses = train_steps_losses(trainer, state, int(steps))

  # 1 device → 8: the other process's checkpoint lands sharded here.
  reader = Checkpointer(from_one_device, read_only=True)
  restored, optimizer, _ = reader.restore(trainer.abstract_params,
                                          trainer.abstract_optimizer_item())
  restored_digest = param_digest(restored)
  restored_sharded = len(restored["wte"]["embedding"].addressable_shards[0].data.shape) == 2 and \
      restored["wte"]["embedding"].addressable_shards[0].data.shape != restored["wte"]["embedding"].shape

  writer = Checkpointer(to_write)
  writer.save(int(steps), state.params, {"step": state.step, "opt_state": state.opt_state,
                                         "rng": state.rng},
              {"model_config": trainer.model_config.to_json()}, force=True)
  writer.close()
  with open(out_path, "w") as f:
    json.dump({"losses": losses, "layout": layout, "restored_digest": restored_digest,
               "restored_sharded": bool(restored_sharded),
               "restored_step": int(np.asarray(optimizer["step"])),
               "final_digest": param_digest(state.params)}, f)


if __name__ == "__main__":
  main(*sys.argv[1:])
