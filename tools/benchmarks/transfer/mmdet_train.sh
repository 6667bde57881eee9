#!/usr/bin/env bash
# Train a detection config of configs/benchmarks/mmdetection with a slimmed checkpoint,
# through the tools/train.py of the installed mmdet:
#   bash tools/benchmarks/transfer/mmdet_train.sh CONFIG PRETRAIN [GPUS] [ARGS...]
# See train.sh for GPUS, ARGS and the environment variables.
exec bash "$(dirname "$0")/train.sh" mmdet "$@"
