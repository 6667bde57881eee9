#!/usr/bin/env bash
# Train a classification config of configs/benchmarks/classification with a slimmed checkpoint,
# through the tools/train.py of the installed mmcls:
#   bash tools/benchmarks/transfer/mmcls_train.sh CONFIG PRETRAIN [GPUS] [ARGS...]
# See train.sh for GPUS, ARGS and the environment variables.
exec bash "$(dirname "$0")/train.sh" mmcls "$@"
