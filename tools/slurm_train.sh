#!/usr/bin/env bash
# Train on a slurm cluster as a batch job that survives preemption and time limits:
#   GPUS=16 [TIME=2-00:00:00] bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
# - sbatch --requeue: a preempted job goes back to the queue (slurm sends SIGTERM first);
# - --signal=TERM@SIGNAL_SECONDS: SIGTERM to the training tasks that long before the time limit;
# - on SIGTERM train.py finishes the iteration, saves a checkpoint and exits with status 75,
#   on which the job requeues itself (scontrol requeue);
# - every start runs train.py --resume: it continues from WORK_DIR's last checkpoint (a first
#   start, with none, trains from the beginning).
# Output: WORK_DIR/slurm-JOBID.out (appended to across requeues). docs/training.md has more.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SIGNAL_SECONDS=${SIGNAL_SECONDS:-300}
SRUN_ARGS=${SRUN_ARGS:-""}
SBATCH_ARGS=${SBATCH_ARGS:-""}
PYTHON=${PYTHON:-python}
DIR="$(cd "$(dirname "$0")" && pwd)"
EXIT_PREEMPTED=75  # dspnet_mm.engine.hooks.preemption.EXIT_PREEMPTED

mkdir -p "$WORK_DIR"
TRAIN=$(printf '%q ' "$PYTHON" -u "$DIR/train.py" "$CONFIG" --work-dir="$WORK_DIR" \
    --launcher=slurm --resume "${@:5}")
# shellcheck disable=SC2086  # SBATCH_ARGS and SRUN_ARGS are lists of options
sbatch --partition="$PARTITION" --job-name="$JOB_NAME" --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" \
    --requeue --signal=TERM@"$SIGNAL_SECONDS" ${TIME:+--time="$TIME"} \
    --open-mode=append --output="$WORK_DIR/slurm-%j.out" $SBATCH_ARGS <<EOF
#!/usr/bin/env bash
# the batch shell waits for the training step to save and stop instead of dying on SIGTERM
trap 'echo "batch script: SIGTERM, waiting for training to save its checkpoint"' TERM
export PYTHONPATH=$(printf '%q' "$DIR/..")\${PYTHONPATH:+:\$PYTHONPATH}
status=0
srun --kill-on-bad-exit=1 $SRUN_ARGS $TRAIN || status=\$?
if [ "\$status" -eq $EXIT_PREEMPTED ]; then
    echo "training saved its state and stopped (status \$status): requeueing job \$SLURM_JOB_ID"
    scontrol requeue "\$SLURM_JOB_ID" || true  # already requeued when slurm preempted it
fi
exit "\$status"
EOF
