#!/usr/bin/env bash
# Issue 29's GPU work as one call of the device tool (about 8 minutes on an H100/H200):
#   bash tools/benchmarks/gpu_session.sh OUT_DIR
# Prepare on the CPU machine first: `bash ../shared/gpu/prepare_wheels.sh` fills .whl/ (carry
# it: the device tool's carry [".whl"]). On the GPU machine (Python 3.12, torch, no OpenMMLab,
# no network) this installs those wheels into /tmp/site, then runs, most important first:
#   1. the users' command: tools/benchmarks/real_command.py (train.py --amp, then
#      dist_train.sh ... 1 with nccl and SyncBN; 30 iterations each) -> real_command_cuda.json
#   2. gated inference with static capacities and CUDA graphs (the 1.3x target at batch 64)
#      -> gated_inference_cuda.json, gated_inference_cuda_bf16.json
#   3. every CUDA benchmark and the GPU-only tests: run_cuda.sh (its own JSON and log)
# Each step has its own time limit, so a slow one cannot starve the rest; OUT_DIR/log.txt says
# what ran and for how long. Copy the JSON into docs/results/ to publish it.
# DEVICE=cpu runs the same plumbing on a CPU with tiny sizes (--quick) and without run_cuda.sh.
set -u
OUT=${1:?usage: gpu_session.sh OUT_DIR}
mkdir -p "$OUT"
PY=${PY:-python3}
B=tools/benchmarks
export PYTHONUNBUFFERED=1
if ! "$PY" -c 'import mmselfsup' 2>/dev/null; then
  ls .whl/*.whl >/dev/null 2>&1 || { echo "no .whl/: run ../shared/gpu/prepare_wheels.sh and carry .whl" | tee -a "$OUT/log.txt"; exit 2; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
    >> "$OUT/log.txt" 2>&1
  export PYTHONPATH=/tmp/site:$PWD:${PYTHONPATH:-}
fi
DEVICE=${DEVICE:-cuda}
if [ "$DEVICE" = cuda ]; then
  Q=()
  "$PY" -c 'import torch; assert torch.cuda.is_available(), "no CUDA GPU"; print(torch.__version__, torch.cuda.get_device_name())' \
    2>&1 | tee -a "$OUT/log.txt" || exit 2
else
  Q=(--quick)
fi
step() {  # step SECONDS NAME ARGS...: NAME.json from a benchmark's stdout, under a time limit
  local limit=$1 name=$2; shift 2
  local start=$SECONDS
  if timeout "$limit" "$PY" "$@" > "$OUT/$name.json" 2>> "$OUT/log.txt"; then
    echo "$name: ok in $((SECONDS - start)) s" | tee -a "$OUT/log.txt"
  else
    echo "$name: FAILED or over ${limit} s after $((SECONDS - start)) s" | tee -a "$OUT/log.txt"
  fi
}
step 180 real_command_$DEVICE $B/real_command.py "${Q[@]}"
G=(--device "$DEVICE" --batch-sizes 1 64 256 "${Q[@]}")
step 60 gated_inference_$DEVICE $B/gated_inference.py "${G[@]}"
step 60 gated_inference_${DEVICE}_bf16 $B/gated_inference.py --amp "${G[@]}"
[ "$DEVICE" = cuda ] || exit 0
# the rest of the CUDA benchmarks and the GPU-only tests (gated inference done above); the
# last step, so what it cannot finish in the call's limit leaves the steps above intact
SKIP="gated_inference_cuda gated_inference_cuda_bf16" PY="$PY" timeout 280 \
  bash $B/run_cuda.sh "$OUT/run_cuda" || echo "run_cuda.sh: stopped at its limit" | tee -a "$OUT/log.txt"
