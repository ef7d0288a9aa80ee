#!/usr/bin/env bash
# Submits a job as SHARDS array tasks plus a merge that waits for all of them:
#
#   MODEL=model.safetensors OUT=/shared/results SHARDS=8 BILENS_ARGS="--k 64" \
#       deploy/slurm/submit.sh [extra sbatch options for the array, e.g. --cpus-per-task=16]
#
# Prints the two job ids. The environment (MODEL, OUT, BILENS, BILENS_ARGS) reaches the
# tasks through sbatch's default --export=ALL. If a task fails, the merge is cancelled
# (its dependency can no longer be met): rerun that task with
# `sbatch --array=I decompose-array.sbatch` (it resumes from its finished chunks), then
# `sbatch --dependency=afterok:JOBID merge.sbatch`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${SHARDS:?set SHARDS to the number of array tasks}"
: "${OUT:?set OUT}"
mkdir -p "$OUT"
array=$(sbatch --parsable --array="1-$SHARDS" "$@" "$here/decompose-array.sbatch")
merge=$(sbatch --parsable --dependency="afterok:$array" --kill-on-invalid-dep=yes \
    "$here/merge.sbatch")
echo "array $array merge $merge"
