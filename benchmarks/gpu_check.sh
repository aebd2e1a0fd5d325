#!/usr/bin/env bash
# One GPU session's checks (run through the device tool; see BENCHMARKS.md): versions, the model
# and decoding tests on the GPU (cuDNN / Pallas attention paths), and training MFU of the
# starcoderbase_1b config in bf16 at a few batch shapes.
set -u
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_MEM_FRACTION=0.92
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import jax, flax, optax, orbax.checkpoint as o; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())"
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  JAX_DEFAULT_MATMUL_PRECISION=highest timeout 200 python3 -m pytest -q -p no:cacheprovider \
    tests/model/test_decoder.py tests/infer/test_decoding.py 2>&1 | grep -E "passed|failed|Error|assert" | head -12
fi
# SHAPES: ';'-separated "batch seq_len remat attention_impl [scan_unroll]" runs of the 1B config.
IFS=';' read -r -a runs <<< "${SHAPES:-8 2048 minimal auto;16 2048 minimal auto;4 8192 minimal auto}"
for shape in "${runs[@]}"; do
  set -- $shape
  timeout 150 python3 benchmarks/train_throughput.py --gpu_mfu --gpu_batch_size=$1 \
    --gpu_seq_len=$2 --gpu_remat=$3 --gpu_attention=$4 --gpu_scan_unroll=${5:-1} \
    --steps 8 --warmup 2 2>&1 \
    | grep -E '"gpu_1b_(mfu|tokens|batch|seq|remat|attention|scan)|Error|error' | tr -d '\n'; echo
done
