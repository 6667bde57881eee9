#!/usr/bin/env bash
# Issue 29's GPU work as prepared calls of the device tool (each call at most 10 minutes):
#   bash tools/benchmarks/gpu_session.sh OUT_DIR
#   STEPS="run_cuda" bash tools/benchmarks/gpu_session.sh OUT_DIR     # a second call
# Prepare on the CPU machine first: `mkdir -p .git/info && bash ../shared/gpu/prepare_wheels.sh`
# fills .whl/ (the script appends to .git/info/exclude, absent in some clones); carry
# ".whl" and, for the fmnist_time step, "data/fashion_mnist" (57 MB together). On the GPU
# machine (Python 3.12, torch, no OpenMMLab, no network) this installs the wheels into
# /tmp/site, then runs the STEPS in order, most important first:
#   real_command     the users' command: train.py configs/dspnet_r50.py --amp, then
#                    dist_train.sh ... 1 (nccl, SyncBN), 30 iterations each
#                    -> real_command_cuda.json (images/s, peak memory)
#   gated_inference  gated inference with static capacities and CUDA graphs, fp32 and bf16
#                    (the 1.3x target at batch 64) -> gated_inference_cuda[_bf16].json
#   fmnist_time      the Fashion-MNIST quality recipe's parts, 50 timed iterations each, to
#                    size the long quality run -> fmnist_parts/quality/wall_interleaved.json
#   run_cuda         every other CUDA benchmark and the GPU-only tests (run_cuda.sh)
# Every step gets at most its own limit and what is left of BUDGET seconds (default 560), so
# the call ends inside the device tool's limit with the finished steps' files intact;
# OUT_DIR/log.txt says what ran, for how long, and what was skipped. Copy the JSON into
# docs/results/ to publish it.
# DEVICE=cpu runs the same plumbing on a CPU with tiny sizes (--quick), without run_cuda.
set -u
OUT=${1:?usage: gpu_session.sh OUT_DIR}
mkdir -p "$OUT"
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
BUDGET=${BUDGET:-560}
STEPS=" ${STEPS:-real_command gated_inference fmnist_time run_cuda} "
B=tools/benchmarks
export PYTHONUNBUFFERED=1
log() { echo "$*" | tee -a "$OUT/log.txt"; }
if ! "$PY" -c 'import mmselfsup' 2>/dev/null; then
  ls .whl/*.whl >/dev/null 2>&1 || { log "no .whl/: run ../shared/gpu/prepare_wheels.sh and carry .whl"; exit 2; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
    >> "$OUT/log.txt" 2>&1
  export PYTHONPATH=/tmp/site:$PWD:${PYTHONPATH:-}
fi
Q=()
if [ "$DEVICE" = cuda ]; then
  "$PY" -c 'import torch; assert torch.cuda.is_available(), "no CUDA GPU"; print(torch.__version__, torch.cuda.get_device_name())' \
    2>&1 | tee -a "$OUT/log.txt"
  [ "${PIPESTATUS[0]}" = 0 ] || exit 2
else
  Q=(--quick)
fi
wants() { [[ "$STEPS" == *" $1 "* ]]; }
limit() {  # limit SECONDS: the smaller of SECONDS and what is left of the budget
  local left=$((BUDGET - SECONDS))
  echo $((left < $1 ? left : $1))
}
step() {  # step SECONDS FILE ARGS...: FILE from a benchmark's stdout, under a time limit
  local lim file=$2; lim=$(limit "$1"); shift 2
  if [ "$lim" -lt 20 ]; then log "$file: skipped, budget spent"; return; fi
  local start=$SECONDS
  local ok=0
  timeout "$lim" "$PY" "$@" > "$OUT/$file" 2> "$OUT/stderr.txt" || ok=$?
  grep -v '^USDT:' "$OUT/stderr.txt" >> "$OUT/log.txt"  # (the profiler's start/stop lines)
  rm -f "$OUT/stderr.txt"
  if [ "$ok" = 0 ]; then
    log "$file: ok in $((SECONDS - start)) s"
  else
    log "$file: FAILED or over its ${lim} s after $((SECONDS - start)) s"
  fi
}
if wants real_command; then
  step 180 "real_command_$DEVICE.json" $B/real_command.py "${Q[@]}"
fi
if wants gated_inference; then
  G=(--device "$DEVICE" --batch-sizes 1 64 256 --profile "${Q[@]}")
  step 90 "gated_inference_$DEVICE.json" $B/gated_inference.py "${G[@]}"
  step 90 "gated_inference_${DEVICE}_bf16.json" $B/gated_inference.py --amp "${G[@]}"
fi
if wants fmnist_time; then
  if [ -d data/fashion_mnist ]; then
    T=(--iters 50 --skip 10)
    [ "$DEVICE" = cuda ] || T=(--quick --iters 2 --skip 1)
    step 150 "fmnist_time_$DEVICE.txt" $B/fmnist_dspnet.py --recipe quality --time --rounds 1 \
      --device "$DEVICE" "${T[@]}" --parts-dir "$OUT/fmnist_parts" --work-dir "$OUT/fmnist_work"
    rm -rf "$OUT/fmnist_work"
  else
    log "fmnist_time: skipped, no data/fashion_mnist (carry it)"
  fi
fi
if wants run_cuda && [ "$DEVICE" = cuda ]; then
  lim=$(limit 600)
  if [ "$lim" -lt 60 ]; then
    log "run_cuda: skipped, budget spent (run it in a second call: STEPS=run_cuda)"
  else  # gated inference is done above when it was asked for
    skip=""; wants gated_inference && skip="gated_inference_cuda gated_inference_cuda_bf16"
    SKIP="$skip" PY="$PY" timeout "$lim" bash $B/run_cuda.sh "$OUT/run_cuda" \
      || log "run_cuda.sh: stopped at its ${lim} s"
  fi
fi
log "gpu_session: done in $SECONDS s"
