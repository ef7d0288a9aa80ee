#!/usr/bin/env bash
# bilens against the reference pipeline (benches/peer/reference.py), side by side on this
# machine. See benches/README.md for the recorded results.
#
#   benches/compare.sh [headline|hosvd|mnist|scaling|all]...    (default: headline)
#
# headline  a seeded synthetic layer (SHAPE, default the fw-medium 1024/4096/1024) and N output
#           directions (default 8192): `bilens decompose --k K` on all N, the peer on the first
#           PEER_N; checks that the top-k eigenvalues agree (1e-3 relative), prints wall time,
#           outputs/s, peak RSS and the ratio of rates.
# hosvd     the same layer: `bilens hosvd --components 32` against the peer's SVD of the
#           materialised flattened [d_out, d_in²] tensor; singular values must agree.
# mnist     `bilens decompose` of the shipped MNIST model, end to end.
# scaling   outputs/s and peak RSS against d_in = 256..4096 (d_hidden = 4 d_in, d_out = d_in,
#           k = d_in/16), bilens and the peer; writes benches/figures/scaling.{png,svg}.
#
# Every measurement is repeated REPEATS times (default 3) and the median quoted. Before each
# one the script waits until the 1-minute load average is below MAX_LOAD (default 0.7; the
# machine is shared), for at most QUIET_WAIT seconds (default 1800), then measures anyway and
# says so. Rates: bilens's is N over the wall time of the whole command (loading, the shared
# basis and writing results included); the peer's is PEER_N over its compute time (loading
# and Python's start-up excluded), which favours the peer. Each timed `bilens decompose` (and
# `hosvd`) starts from an empty results directory: in an existing one it would resume from
# finished chunks.
#
# Environment: SHAPE="1024 4096 1024" N=8192 PEER_N=64 K=64 REPEATS=3 MAX_LOAD=0.7
# QUIET_WAIT=1800 PEER_MEM_GB=16 WORK=target/compare BACKENDS="numpy" (add torch when it is
# installed in the venv). The peer's venv is target/peer-venv, made from
# benches/peer/requirements.txt.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SHAPE=${SHAPE:-"1024 4096 1024"}
N=${N:-8192}
PEER_N=${PEER_N:-64}
K=${K:-64}
REPEATS=${REPEATS:-3}
MAX_LOAD=${MAX_LOAD:-0.7}
QUIET_WAIT=${QUIET_WAIT:-1800}
PEER_MEM_GB=${PEER_MEM_GB:-16}
WORK=${WORK:-target/compare}
BACKENDS=${BACKENDS:-numpy}
VENV=target/peer-venv
PY=$VENV/bin/python
BILENS=target/release/bilens
mkdir -p "$WORK"
LOG="$WORK/results.tsv"

say() { printf '%s\n' "$*" >&2; }

setup() {
    say "== build (release)"
    cargo build --release -q -p bilens-cli -p bilens-benches
    if [ ! -x "$PY" ]; then
        say "== peer venv: $VENV"
        python3 -m venv "$VENV"
    fi
    "$PY" -m pip install -q -r benches/peer/requirements.txt
    say "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
        "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%F)"
    target/release/gemm_peak | sed 's/^/   /' >&2
}

# Waits for a quiet machine (1-minute load below MAX_LOAD), at most QUIET_WAIT seconds.
wait_quiet() {
    local waited=0 load
    while :; do
        load=$(cut -d' ' -f1 /proc/loadavg)
        if awk -v l="$load" -v m="$MAX_LOAD" 'BEGIN { exit !(l < m) }'; then
            return 0
        fi
        if [ "$waited" -ge "$QUIET_WAIT" ]; then
            say "   (load still $load after ${waited}s: measuring anyway)"
            return 0
        fi
        [ "$waited" -eq 0 ] && say "   (load $load: waiting for a quiet machine)"
        sleep 20
        waited=$((waited + 20))
    done
}

# timed NAME CMD...: runs CMD under /usr/bin/time, stdout to $WORK/NAME.out; prints
# "wall_seconds peak_rss_kb load_at_start".
timed() {
    local name=$1 load
    shift
    wait_quiet
    load=$(cut -d' ' -f1 /proc/loadavg)
    /usr/bin/time -f '%e %M' -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || {
        say "failed: $*"
        cat "$WORK/$name.err" >&2
        exit 1
    }
    echo "$(cat "$WORK/$name.time") $load"
}

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

record() { printf '%s\t%s\n' "$(date -u +%FT%TZ)" "$*" >>"$LOG"; }

# json_field FILE KEY: a number from the last JSON line the peer printed.
json_field() { "$PY" -c "import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])[sys.argv[2]])" "$1" "$2"; }

headline() {
    read -r d h o <<<"$SHAPE"
    local dir="$WORK/layer-$d-$h-$o"
    say "== headline: layer $d/$h/$o, $N directions, top $K by |λ|; peer on $PEER_N"
    target/release/synth "$dir" "$d" "$h" "$o" "$N" 0 >/dev/null
    local walls=() rss=() line
    for r in $(seq "$REPEATS"); do
        rm -rf "$dir/bilens"
        line=$(timed "bilens-$r" "$BILENS" decompose "$dir/layer.safetensors" --layout single \
            --w w --v v --p p --outputs "$dir/outputs.safetensors:directions" --k "$K" \
            --out "$dir/bilens")
        read -r wall kb load <<<"$line"
        say "   bilens run $r: ${wall}s, peak RSS $((kb / 1024)) MiB (load $load)"
        record "headline bilens $d/$h/$o n=$N k=$K wall=$wall rss_kb=$kb load=$load"
        walls+=("$wall")
        rss+=("$kb")
    done
    local b_wall b_rss
    b_wall=$(printf '%s\n' "${walls[@]}" | median)
    b_rss=$(printf '%s\n' "${rss[@]}" | median)
    for backend in $BACKENDS; do
        local secs=() prss=()
        for r in $(seq "$REPEATS"); do
            line=$(timed "peer-$backend-$r" "$PY" benches/peer/reference.py "$dir/layer.safetensors" \
                --outputs "$dir/outputs.safetensors:directions" --rows "0:$PEER_N" --k "$K" \
                --backend "$backend" --out "$dir/peer-$backend.npy")
            read -r wall kb load <<<"$line"
            s=$(json_field "$WORK/peer-$backend-$r.out" seconds)
            say "   peer ($backend) run $r: ${s}s compute for $PEER_N outputs (${wall}s wall), peak RSS $((kb / 1024)) MiB (load $load)"
            record "headline peer-$backend $d/$h/$o n=$PEER_N k=$K compute=$s wall=$wall rss_kb=$kb load=$load"
            secs+=("$s")
            prss+=("$kb")
        done
        local p_s p_rss agree
        p_s=$(printf '%s\n' "${secs[@]}" | median)
        p_rss=$(printf '%s\n' "${prss[@]}" | median)
        agree=$("$PY" benches/peer/agree.py "$dir/bilens" "$dir/peer-$backend.npy" --rows "0:$PEER_N") || {
            say "   DISAGREE: $agree"
            exit 1
        }
        say "   agreement with $backend: $agree"
        awk -v n="$N" -v bw="$b_wall" -v br="$b_rss" -v pn="$PEER_N" -v ps="$p_s" -v pr="$p_rss" \
            -v be="$backend" 'BEGIN {
            b = n / bw; p = pn / ps
            printf "headline: bilens %d outputs in %.1f s = %.1f outputs/s, peak RSS %.2f GB\n", n, bw, b, br / 1048576
            printf "          peer (%s) %d outputs in %.1f s = %.2f outputs/s, peak RSS %.2f GB\n", be, pn, ps, p, pr / 1048576
            printf "          ratio %.1fx (medians of runs)\n", b / p }'
        record "headline summary $d/$h/$o bilens_wall=$b_wall bilens_rss_kb=$b_rss peer-$backend=$p_s/$PEER_N"
    done
}

hosvd() {
    read -r d h o <<<"$SHAPE"
    local dir="$WORK/layer-$d-$h-$o"
    [ -f "$dir/layer.safetensors" ] || target/release/synth "$dir" "$d" "$h" "$o" 1 0 >/dev/null
    say "== hosvd: layer $d/$h/$o, all $o outputs, 32 components"
    local walls=() rss=() line
    for r in $(seq "$REPEATS"); do
        rm -rf "$dir/hosvd"
        line=$(timed "hosvd-bilens-$r" "$BILENS" hosvd "$dir/layer.safetensors" --layout single \
            --w w --v v --p p --components 32 --out "$dir/hosvd")
        read -r wall kb load <<<"$line"
        say "   bilens hosvd run $r: ${wall}s, peak RSS $((kb / 1024)) MiB (load $load)"
        record "hosvd bilens $d/$h/$o wall=$wall rss_kb=$kb load=$load"
        walls+=("$wall")
        rss+=("$kb")
    done
    local b_wall b_rss
    b_wall=$(printf '%s\n' "${walls[@]}" | median)
    b_rss=$(printf '%s\n' "${rss[@]}" | median | awk '{print $1/1048576}')
    # The peer materialises [d_out, d_in²] (4 GB in f32 at d_in 1024) and LAPACK's SVD of it
    # needs several times that: run it once, its address space capped at PEER_MEM_GB so that
    # it fails with a MemoryError instead of waking the OOM killer on a shared machine.
    wait_quiet
    load=$(cut -d' ' -f1 /proc/loadavg)
    if /usr/bin/time -f '%e %M' -o "$WORK/hosvd-peer.time" bash -c 'ulimit -v $(($1 * 1048576)); shift; exec "$@"' _ \
        "$PEER_MEM_GB" "$PY" benches/peer/reference.py "$dir/layer.safetensors" --hosvd 32 \
        --out "$dir/peer-hosvd.npz" >"$WORK/hosvd-peer.out" 2>"$WORK/hosvd-peer.err"; then
        read -r wall kb <"$WORK/hosvd-peer.time"
        s=$(json_field "$WORK/hosvd-peer.out" seconds)
        record "hosvd peer-numpy $d/$h/$o compute=$s wall=$wall rss_kb=$kb load=$load"
        agree=$("$PY" benches/peer/agree.py --hosvd "$dir/hosvd" "$dir/peer-hosvd.npz") || {
            say "   DISAGREE: $agree"
            exit 1
        }
        say "   agreement: $agree"
        printf 'hosvd %s: bilens %.2f s (median), peak RSS %.2f GB; peer (numpy SVD of the flattened tensor) %.1f s compute, %.1f s wall, peak RSS %.2f GB\n' \
            "$d/$h/$o" "$b_wall" "$b_rss" "$s" "$wall" "$(awk -v k="$kb" 'BEGIN {print k/1048576}')"
    else
        wall=$(grep -Eo '^[0-9.]+ [0-9]+$' "$WORK/hosvd-peer.time" | cut -d' ' -f1)
        tail -1 "$WORK/hosvd-peer.err" >&2
        record "hosvd peer-numpy $d/$h/$o failed within PEER_MEM_GB=$PEER_MEM_GB after wall=$wall load=$load"
        printf 'hosvd %s: bilens %.2f s (median), peak RSS %.2f GB; peer (numpy SVD of the flattened tensor) failed: over %s GB of address space after %s s\n' \
            "$d/$h/$o" "$b_wall" "$b_rss" "$PEER_MEM_GB" "$wall"
    fi
}

mnist() {
    say "== mnist: bilens decompose of the shipped model"
    local walls=() line
    for r in $(seq $((REPEATS > 5 ? REPEATS : 5))); do
        rm -rf "$WORK/mnist"
        line=$(timed "mnist-$r" "$BILENS" decompose data/models/mnist-bilinear/model.safetensors \
            --out "$WORK/mnist")
        read -r wall kb load <<<"$line"
        record "mnist bilens wall=$wall rss_kb=$kb load=$load"
        walls+=("$wall")
    done
    printf 'mnist: %s s end to end (median of %d; %s)\n' "$(printf '%s\n' "${walls[@]}" | median)" \
        "${#walls[@]}" "$(head -1 "$WORK/mnist-1.out")"
}

scaling() {
    say "== scaling: d_in 256..4096, d_hidden 4 d_in, d_out d_in, k d_in/16"
    local out="$WORK/scaling.tsv"
    printf 'd_in\tn\tbilens_outputs_per_s\tbilens_rss_mb\tpeer_n\tpeer_outputs_per_s\tpeer_rss_mb\n' >"$out"
    # Outputs per size: enough for a steady rate within a few minutes (the shared basis is
    # built once per run; above d_in = 1024 it exceeds the memory budget and the direct route
    # runs). The peer runs on a subset, in batches no larger than the subset.
    for spec in "256 8192 64" "512 8192 64" "1024 2048 32" "2048 64 8" "4096 8 2"; do
        read -r d n pn <<<"$spec"
        local dir="$WORK/scaling-$d" k=$((d / 16))
        target/release/synth "$dir" "$d" $((4 * d)) "$d" "$n" 0 >/dev/null
        local rates=() rss=() prates=() prss=() line
        for r in $(seq "$REPEATS"); do
            rm -rf "$dir/bilens"
            line=$(timed "scaling-$d-$r" "$BILENS" decompose "$dir/layer.safetensors" --layout single \
                --w w --v v --p p --outputs "$dir/outputs.safetensors:directions" --k "$k" \
                --out "$dir/bilens")
            read -r wall kb load <<<"$line"
            rates+=("$(awk -v n="$n" -v w="$wall" 'BEGIN {print n / w}')")
            rss+=("$kb")
            record "scaling bilens d=$d n=$n k=$k wall=$wall rss_kb=$kb load=$load"
        done
        for r in $(seq "$REPEATS"); do
            line=$(timed "scaling-peer-$d-$r" "$PY" benches/peer/reference.py "$dir/layer.safetensors" \
                --outputs "$dir/outputs.safetensors:directions" --rows "0:$pn" --k "$k" \
                --batch $((pn < 32 ? pn : 32)) --out "$dir/peer.npy")
            read -r wall kb load <<<"$line"
            s=$(json_field "$WORK/scaling-peer-$d-$r.out" seconds)
            prates+=("$(awk -v n="$pn" -v s="$s" 'BEGIN {print n / s}')")
            prss+=("$kb")
            record "scaling peer-numpy d=$d n=$pn k=$k compute=$s wall=$wall rss_kb=$kb load=$load"
        done
        "$PY" benches/peer/agree.py "$dir/bilens" "$dir/peer.npy" --rows "0:$pn" >/dev/null || {
            say "   d_in $d: eigenvalues disagree"
            exit 1
        }
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$d" "$n" "$(printf '%s\n' "${rates[@]}" | median)" \
            "$(printf '%s\n' "${rss[@]}" | median | awk '{print int($1/1024)}')" "$pn" \
            "$(printf '%s\n' "${prates[@]}" | median)" \
            "$(printf '%s\n' "${prss[@]}" | median | awk '{print int($1/1024)}')" >>"$out"
        say "   $(tail -1 "$out")"
    done
    column -t "$out"
    mkdir -p benches/figures
    "$PY" benches/peer/plot_scaling.py "$out" benches/figures/scaling
}

setup
[ $# -eq 0 ] && set -- headline
for what in "$@"; do
    case $what in
        headline) headline ;;
        hosvd) hosvd ;;
        mnist) mnist ;;
        scaling) scaling ;;
        all) headline; hosvd; mnist; scaling ;;
        *) say "unknown comparison: $what (headline|hosvd|mnist|scaling|all)"; exit 2 ;;
    esac
done
