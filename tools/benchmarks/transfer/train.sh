#!/usr/bin/env bash
# Train a transfer config with a slimmed checkpoint, using the tools/train.py that the installed
# mmdet / mmseg / mmcls package ships (no mim needed):
#   bash tools/benchmarks/transfer/train.sh {mmdet|mmseg|mmcls} CONFIG PRETRAIN [GPUS] [ARGS...]
# GPUS > 1 launches one process per GPU (torch.distributed.run); 0 or 1 runs a single process
# (also on a CPU-only machine). ARGS go to the upstream train.py, e.g.
#   --cfg-options model.backbone.subnet=r50_w025 train_dataloader.batch_size=8
# Environment: PYTHON (default python), PORT (default 29500), WORK_DIR (default
# work_dirs/benchmarks/<config path>/<checkpoint name>).
set -euo pipefail

if [ $# -lt 3 ]; then
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
PACKAGE=$1
CFG=$2
PRETRAIN=$3
GPUS=${4:-1}
PY_ARGS=("${@:5}")
PYTHON=${PYTHON:-python}
PORT=${PORT:-29500}

case $PACKAGE in
    mmdet|mmseg|mmcls) ;;
    *) echo "error: package '$PACKAGE' must be mmdet, mmseg or mmcls" >&2; exit 2 ;;
esac
[ -f "$CFG" ] || { echo "error: config '$CFG' does not exist" >&2; exit 2; }
if [ ! -f "$PRETRAIN" ]; then
    echo "error: checkpoint '$PRETRAIN' does not exist (slim one with tools/slim.py)" >&2
    exit 2
fi

REPO="$(cd "$(dirname "$0")/../../.." && pwd)"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"  # dspnet_mm, even when not pip-installed
TRAIN=$("$PYTHON" -c "import os, $PACKAGE
print(os.path.join(os.path.dirname($PACKAGE.__file__), '.mim', 'tools', 'train.py'))")
[ -f "$TRAIN" ] || { echo "error: the installed $PACKAGE has no $TRAIN" >&2; exit 2; }

# one work dir per config and checkpoint, as mmselfsup's benchmark scripts do
PRETRAIN_NAME=$(basename "${PRETRAIN%.*}")
CFG_DIR=$(echo "${CFG%.*}" | sed -e 's#^\(.*/\)\{0,1\}configs/#work_dirs/#')
WORK_DIR=${WORK_DIR:-"$CFG_DIR/$PRETRAIN_NAME"}

if [ "$GPUS" -gt 1 ]; then
    LAUNCH=("$PYTHON" -m torch.distributed.run --nproc_per_node="$GPUS" --master_port="$PORT"
            "$TRAIN" "$CFG" --launcher pytorch)
else
    LAUNCH=("$PYTHON" "$TRAIN" "$CFG")
fi

set -x
"${LAUNCH[@]}" \
    --work-dir "$WORK_DIR" \
    --cfg-options model.backbone.init_cfg.type=Pretrained \
    model.backbone.init_cfg.checkpoint="$PRETRAIN" \
    "${PY_ARGS[@]}"
