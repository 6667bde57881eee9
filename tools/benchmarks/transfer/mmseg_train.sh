#!/usr/bin/env bash
# Train a segmentation config of configs/benchmarks/mmsegmentation with a slimmed checkpoint,
# through the tools/train.py of the installed mmseg:
#   bash tools/benchmarks/transfer/mmseg_train.sh CONFIG PRETRAIN [GPUS] [ARGS...]
# See train.sh for GPUS, ARGS and the environment variables.
exec bash "$(dirname "$0")/train.sh" mmseg "$@"
