#!/usr/bin/env bash
# SLURM batch script: one process per 8-GPU node; jax.distributed reads the SLURM environment.
#
#   sbatch --nodes=4 experiments/launch/gpu_slurm.sh experiments/starcoderbase_3b.gin \
#       --gin.MODEL_DIR=/shared/runs/sc3b --gin.data_paths.stack_dir=/shared/starcoderdata
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --exclusive
set -euo pipefail
experiment=$1; shift
srun python run.py train --gin_file="$experiment" --multihost "$@"
