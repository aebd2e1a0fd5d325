#!/usr/bin/env bash
# Runs one starjax command on every host of a TPU VM pod slice (each host runs the same
# command; jax.distributed reads the TPU metadata, each host reads its own data shards).
#
#   experiments/launch/tpu_pod.sh TPU_NAME ZONE experiments/starcoderbase_15b.gin \
#       --gin.MODEL_DIR=gs://BUCKET/sc15b --gin.data_paths.stack_dir=/data/starcoderdata
set -euo pipefail
tpu=$1; zone=$2; experiment=$3; shift 3
gcloud compute tpus tpu-vm ssh "$tpu" --zone="$zone" --worker=all --command="
  cd ~/starjax && python run.py train --gin_file=$experiment --multihost $*"
