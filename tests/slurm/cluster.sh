#!/usr/bin/env bash
# A real Slurm cluster on this machine: installs Debian's Slurm and MUNGE with apt-get when
# missing (needs root), starts munged, slurmctld and slurmd as a one-node cluster on
# 127.0.0.1 with 2 CPUs, and runs the shipped recipe (deploy/slurm) on a layer of 320 outputs:
#
#   1. submit.sh: a 4-task job array plus a merge job that depends on it (afterok); the merged
#      directory must be byte-identical to a single-machine run of the same job;
#   2. a failure: a fresh array whose task 2 is killed (SIGKILL) mid-run; the others finish,
#      task 2 is resubmitted alone, resumes, and the merge is again byte-identical.
#
#   tests/slurm/cluster.sh BIN [WORK]     # BIN: the bilens binary
#
# Every daemon it starts is stopped on exit by its pid. It skips (exit 0, saying why) only
# where Slurm cannot run at all: not root and Slurm not installed, or no apt-get to install it.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$(realpath "$1")
WORK=$(realpath -m "${2:-target/slurm}")
LIMIT=${SLURM_TEST_TIMEOUT:-600}

skip() {
    echo "SKIP: the Slurm test cannot run on this machine: $*" >&2
    exit 0
}

need=(slurmctld slurmd sbatch scontrol munged mungekey)
missing() { for c in "${need[@]}"; do command -v "$c" >/dev/null || return 0; done; return 1; }
if missing; then
    [[ $(id -u) == 0 ]] || skip "Slurm is not installed and installing it needs root"
    command -v apt-get >/dev/null || skip "Slurm is not installed and there is no apt-get"
    echo "installing slurmctld slurmd slurm-client munge with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi
[[ $(id -u) == 0 ]] || skip "the daemons of a test cluster run as root here, and this is not root"

rm -rf "$WORK"
mkdir -p "$WORK"/{state,spool,munge,jobs}
chmod 700 "$WORK" "$WORK/munge"
PIDS=()
cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [[ $status != 0 ]]; then
        echo "--- slurmctld.log (tail)"; tail -n 20 "$WORK/slurmctld.log" 2>/dev/null || true
        echo "--- slurmd.log (tail)"; tail -n 20 "$WORK/slurmd.log" 2>/dev/null || true
        for f in "$WORK"/jobs/*.log; do [[ -e $f ]] && { echo "--- $f"; tail -n 5 "$f"; }; done
    fi
}
trap cleanup EXIT

# MUNGE: a fresh key and a private socket, so that nothing of the machine's is touched.
SOCKET=$WORK/munge/munge.socket
mungekey --create --keyfile="$WORK/munge/munge.key" --force
munged --foreground --force --key-file="$WORK/munge/munge.key" --socket="$SOCKET" \
    --pid-file="$WORK/munge/munged.pid" --log-file="$WORK/munge/munged.log" \
    --seed-file="$WORK/munge/munged.seed" &
PIDS+=($!)

HOST=$(hostname -s)
MEM=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
export SLURM_CONF=$WORK/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=bilenstest
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$SOCKET
CredType=cred/munge
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
MinJobAge=600
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=2 RealMemory=$MEM State=UNKNOWN
PartitionName=test Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
for _ in $(seq 50); do [[ -S $SOCKET ]] && break; sleep 0.1; done
[[ -S $SOCKET ]] || { echo "munged did not start" >&2; cat "$WORK/munge/munged.log" >&2; exit 1; }
slurmctld -D -c -f "$SLURM_CONF" &
PIDS+=($!)
slurmd -D -N "$HOST" -f "$SLURM_CONF" &
PIDS+=($!)

deadline=$((SECONDS + LIMIT))
wait_for() { # wait_for DESCRIPTION COMMAND...: poll until COMMAND succeeds or the time is up
    local what=$1
    shift
    until "$@"; do
        ((SECONDS < deadline)) || { echo "timed out after ${LIMIT}s waiting for $what" >&2; exit 1; }
        sleep 0.1
    done
}
node_idle() { [[ $(sinfo -h -N -o %T 2>/dev/null) == idle* ]]; }
wait_for "the node to be idle" node_idle
echo "cluster up: $(sinfo -h -N -o '%N %T %c CPUs')"

state() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | sort -u | tr '\n' ' '; }
finished() { # every task of job $1 in a final state
    local s
    s=$(state "$1")
    [[ -n $s && ! $s =~ PENDING|RUNNING|CONFIGURING|COMPLETING|REQUEUED ]]
}

# A layer of 320 outputs with d_in = 640: big enough that a task runs for seconds.
MODEL=$WORK/layer.safetensors
python3 tests/slurm/make_layer.py "$MODEL"
export BILENS=$BIN MODEL BILENS_ARGS="--layout single --w w --v v --p p --chunk 8"

echo "== single-machine run"
"$BIN" --quiet decompose "$MODEL" $BILENS_ARGS --out "$WORK/single" >/dev/null
same_as_single() { # same_as_single DIR: byte-identical to the single run
    local f
    for f in decomposition.safetensors summary.json; do
        cmp "$WORK/single/$f" "$1/$f" || { echo "$1/$f differs from the single-machine run" >&2; return 1; }
    done
    [[ $(ls "$1") == $(ls "$WORK/single") ]] || { echo "$1 holds other files than the single run" >&2; return 1; }
}

echo "== 4-task array + merge (deploy/slurm/submit.sh)"
cd "$WORK/jobs"
export OUT=$WORK/run1
read -r _ array _ merge < <(SHARDS=4 "$OLDPWD/deploy/slurm/submit.sh" --cpus-per-task=1)
cd "$OLDPWD"
echo "array $array, merge $merge"
wait_for "merge job $merge" finished "$merge"
[[ $(state "$merge") == "COMPLETED " ]] || { echo "merge job: $(state "$merge")" >&2; exit 1; }
same_as_single "$OUT/merged"
echo "merged directory byte-identical to the single-machine run"

echo "== a task killed mid-run, resubmitted, merged"
export OUT=$WORK/run2
export SHARDS=4
mkdir -p "$OUT"
cd "$WORK/jobs"
array=$(sbatch --parsable --array=1-4 --cpus-per-task=1 "$OLDPWD/deploy/slurm/decompose-array.sbatch")
cd "$OLDPWD"
started() { [[ -f $OUT/shard-2/resume.jsonl && $(wc -l <"$OUT/shard-2/resume.jsonl") -ge 2 ]]; }
wait_for "task 2 to finish a chunk" started
scancel --signal=KILL --full "${array}_2"
wait_for "array $array" finished "$array"
[[ -f $OUT/shard-2/resume.jsonl ]] || {
    echo "task 2 finished before it could be killed: the layer is too small for this machine" >&2
    exit 1
}
echo "task 2 killed after $(($(wc -l <"$OUT/shard-2/resume.jsonl") - 1)) chunks; array: $(state "$array")"
if "$BIN" --quiet merge "$OUT"/shard-* --out "$OUT/merged" 2>"$WORK/refused.txt"; then
    echo "merge accepted an incomplete shard" >&2
    exit 1
fi
grep -q "incomplete" "$WORK/refused.txt" || { cat "$WORK/refused.txt" >&2; exit 1; }
cd "$WORK/jobs"
again=$(sbatch --parsable --array=2 --cpus-per-task=1 "$OLDPWD/deploy/slurm/decompose-array.sbatch")
merge=$(sbatch --parsable --dependency="afterok:$again" "$OLDPWD/deploy/slurm/merge.sbatch")
cd "$OLDPWD"
wait_for "merge job $merge" finished "$merge"
[[ $(state "$merge") == "COMPLETED " ]] || { echo "merge job: $(state "$merge")" >&2; exit 1; }
same_as_single "$OUT/merged"
echo "after the kill and resubmission: merged directory byte-identical to the single-machine run"
