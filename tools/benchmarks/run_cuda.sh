#!/usr/bin/env bash
# Every timing benchmark on one CUDA GPU, in one go (about 5 minutes on an H100/H200; the
# slimming, training-cost and gated-inference runs with --profile: where the time goes):
#   bash tools/benchmarks/run_cuda.sh OUT_DIR
# Writes OUT_DIR/<benchmark>_cuda[_bf16].json, OUT_DIR/log.txt and, last, the GPU-only tests'
# output OUT_DIR/gpu_tests.txt; a benchmark that
# fails is logged and the others still run; SKIP="NAME ..." leaves those benchmarks out. Copy the JSON into docs/results/ to publish it.
set -u
OUT=${1:?usage: run_cuda.sh OUT_DIR}
mkdir -p "$OUT"
PY=${PY:-python3}
B=tools/benchmarks
export PYTHONUNBUFFERED=1
run() {  # run NAME ARGS...: NAME.json from the benchmark's stdout, its stderr in the log
  local name=$1; shift
  case " ${SKIP:-} " in *" $name "*) echo "$name: skipped (SKIP)" | tee -a "$OUT/log.txt"; return;; esac
  local start=$SECONDS
  if "$PY" "$@" > "$OUT/$name.json" 2>> "$OUT/log.txt"; then
    echo "$name: ok in $((SECONDS - start)) s" | tee -a "$OUT/log.txt"
  else
    echo "$name: FAILED after $((SECONDS - start)) s" | tee -a "$OUT/log.txt"
  fi
}
G="--batch-sizes 1 8 64 256 --min-gmacs 0 10 40"
run gated_paths_cuda $B/gated_paths.py --device cuda $G
run gated_paths_cuda_bf16 $B/gated_paths.py --device cuda --amp $G
run gated_inference_cuda $B/gated_inference.py --device cuda --batch-sizes 1 64 256 --profile
run gated_inference_cuda_bf16 $B/gated_inference.py --device cuda --amp --batch-sizes 1 64 256 --profile
run slim_overhead_cuda $B/slim_overhead.py --device cuda --batch 64 --size 224 --profile
run slim_overhead_cuda_bf16 $B/slim_overhead.py --device cuda --batch 64 --size 224 --amp --profile
run train_cost_cuda $B/train_cost.py --device cuda --batch 256 --profile
run train_cost_r50_cuda_bf16 $B/train_cost.py --preset r50 --device cuda --amp --batch 64 --profile
run ema_update_cuda $B/ema_update.py --device cuda
run ema_update_r50_cuda $B/ema_update.py --device cuda --config configs/dspnet_r50.py
# the GPU-only tests (skipped on CI, which has no GPU)
if "$PY" -m pytest -q tests/test_gpu -p no:cacheprovider > "$OUT/gpu_tests.txt" 2>&1; then
  echo "gpu tests: ok ($(tail -1 "$OUT/gpu_tests.txt"))" | tee -a "$OUT/log.txt"
else
  echo "gpu tests: FAILED ($(tail -1 "$OUT/gpu_tests.txt"))" | tee -a "$OUT/log.txt"
fi
