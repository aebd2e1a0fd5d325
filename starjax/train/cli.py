"""`python run.py train`: train or resume (from the newest checkpoint in MODEL_DIR).

    python run.py train --gin_file=experiments/quickstart.gin --gin.MODEL_DIR=/tmp/run

Multi-host (TPU pods, GPU nodes): run the same command on every host; jax.distributed is
initialised from the environment (TPU metadata, SLURM, or --coordinator_address etc.).
"""

from __future__ import annotations

import argparse

from starjax import cli, gin_config


def initialize_distributed(args) -> None:
  """Joins a multi-process run when asked to; single-process runs skip this."""
  import jax  # pylint: disable=import-outside-toplevel
  if args.coordinator_address or args.multihost:
    # CPU-only processes (tests, laptops simulating a pod) need a collectives backend.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if args.coordinator_address:
    jax.distributed.initialize(coordinator_address=args.coordinator_address,
                               num_processes=args.num_processes, process_id=args.process_id)
  elif args.multihost:
    jax.distributed.initialize()  # reads TPU / SLURM / Open MPI environments


def add_distributed_flags(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--multihost", action="store_true",
                      help="initialise jax.distributed from the cluster environment")
  parser.add_argument("--coordinator_address", default=None, help="host:port of process 0")
  parser.add_argument("--num_processes", type=int, default=None)
  parser.add_argument("--process_id", type=int, default=None)


def main(command: str, argv: list[str]) -> int:
  def build_parser():
    parser = cli.parser(command, __doc__)
    add_distributed_flags(parser)
    return parser
  # jax.distributed must start before gin builds anything: the flags are read first.
  _, _, rest = gin_config.split_gin_flags(argv)
  early = build_parser().parse_args(rest)
  cli.setup_logging()
  initialize_distributed(early)
  cli.parse(argv, build_parser, require_gin_file=True)
  from starjax.train import trainer  # pylint: disable=import-outside-toplevel
  result = trainer.train()
  last = result.last_metrics
  summary = ", ".join(f"{k} {last[k]:.4g}" for k in ("loss", "validation_loss") if k in last)
  print(f"trained to step {result.final_step} in {result.model_dir}" +
        (f" ({summary})" if summary else ""))
  return 0
