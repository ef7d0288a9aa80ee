#!/usr/bin/env bash
# bilens against the reference pipeline (benches/peer/reference.py), side by side on this
# machine. See benches/README.md for the recorded results.
#
#   benches/compare.sh [headline|hosvd|mnist|scaling|all]...    (default: headline)
#   FAMILIES="gaussian power-law synthetic" METHODS="auto tridiagonal" BACKENDS="numpy torch" \
#       REPEATS=1 benches/compare.sh headline           (issue 12: every spectrum family)
#
# headline  for each layer family in FAMILIES, a seeded layer of SHAPE (default the fw-medium
#           1024/4096/1024) and N output directions (default 8192): `bilens decompose --k K
#           --method M` on all N for each M in METHODS, each peer backend in BACKENDS on the
#           first PEER_N; checks for every family, method and peer that the top-k eigenvalues
#           agree (1e-3 relative), and prints one markdown table (also in $WORK/headline.md):
#           family, method, outputs/s, which solvers ran (from the results' metadata), the
#           peers' outputs/s, the ratio to the faster peer, peak RSS and load, under a line
#           naming the machine (CPU model, AVX2/AVX-512F, cores, gemm_peak's sgemm rate,
#           date, load). Families: `gaussian` (W, V ~ N(0, 1/d_in), P ~ N(0, 1/d_hidden): a
#           checkpoint at initialisation), `power-law` (W, V = U diag(s) R^T, s_i ∝
#           (1+i)^-0.7, random orthonormal U, R; Gaussian P), both made in numpy by
#           benches/peer/layers.py, independently of bilens's code; `synthetic` (bilens's own
#           `synth`). Each family's files are in $WORK/FAMILY-D_IN-D_HIDDEN-D_OUT.
# hosvd     the synthetic layer: `bilens hosvd --components 32` against the peer's SVD of the
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
# installed in the venv) FAMILIES="synthetic" (any of gaussian, power-law, synthetic)
# METHODS="auto" (any of auto, full, lanczos, tridiagonal). The peer's venv is
# target/peer-venv, made from benches/peer/requirements.txt.
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
FAMILIES=${FAMILIES:-synthetic}
METHODS=${METHODS:-auto}
VENV=target/peer-venv
PY=$VENV/bin/python
BILENS=target/release/bilens
mkdir -p "$WORK"
LOG="$WORK/results.tsv"

say() { printf '%s\n' "$*" >&2; }

# one_of NAME "CHOICES" VALUES...: exits unless every value is one of the choices.
one_of() {
    local name=$1 choices=$2 v
    shift 2
    for v in "$@"; do
        [[ " $choices " == *" $v "* ]] || { say "unknown value in $name: '$v' (choose from: $choices)"; exit 2; }
    done
}
# shellcheck disable=SC2086 # word-split on purpose: the lists are space-separated
{
    one_of FAMILIES "gaussian power-law synthetic" $FAMILIES
    one_of METHODS "auto full lanczos tridiagonal" $METHODS
    one_of BACKENDS "numpy torch" $BACKENDS
}

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
    target/release/gemm_peak | tee "$WORK/gemm_peak.txt" | sed 's/^/   /' >&2
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

# make_layer FAMILY DIR D_IN D_HIDDEN D_OUT N: the layer and N output directions (seed 0) in
# DIR, as layer.safetensors (w, v, p) and outputs.safetensors (directions). `synthetic` is
# bilens's own `synth`; the other families are made in numpy by benches/peer/layers.py,
# independently of bilens's code, which also reads them back and checks their spectra. Not
# timed; on one OpenBLAS thread, because on a busy 2-core machine two threads made its QR
# ten times slower than one.
make_layer() {
    local family=$1 dir=$2
    shift 2
    case $family in
        synthetic) target/release/synth "$dir" "$@" 0 >/dev/null ;;
        *) OPENBLAS_NUM_THREADS=1 "$PY" benches/peer/layers.py "$family" "$dir" "$@" 0 --check >/dev/null ;;
    esac
}

# solvers DIR REQUESTED: what produced the results in DIR, from its summary.json metadata: the
# method as resolved, how many outputs fell back to the full solver (`lanczos_fallbacks`
# counts the tridiagonal path's fall-backs too) and the route. `auto`'s hand-overs from
# Lanczos to the tridiagonal path are not fall-backs and the metadata does not count them:
# for `auto` resolved to Lanczos, the split between the two is not known.
solvers() {
    "$PY" - "$1" "$2" "$N" <<'PY'
import json, sys
meta = json.load(open(f"{sys.argv[1]}/summary.json"))["metadata"]
requested, n = sys.argv[2], int(sys.argv[3])
method, route, fell = meta["method"], meta["route"], meta.get("lanczos_fallbacks")
if requested == "auto" and method == "lanczos":
    method = "lanczos or tridiagonal hand-over (split not recorded)"
if fell is None:
    print(f"{method} (fall-backs not counted); {route} route")
else:
    full = f", full {fell} (fall-backs)" if int(fell) else ""
    print(f"{method} {n - int(fell)}{full}; {route} route")
PY
}

# rate OUTPUTS SECONDS: outputs per second, about three significant figures.
rate() { awk -v n="$1" -v s="$2" 'BEGIN { r = n / s; printf (r >= 100 ? "%.0f\n" : r >= 10 ? "%.1f\n" : "%.2f\n"), r }'; }

# spread VALUES...: "v" when all are equal, else "min-max".
spread() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print (lo == hi) ? lo : lo "-" hi }'; }

# gib KB...: kilobytes as GiB with two decimals, joined by " / ".
gib() { printf '%s\n' "$@" | awk '{ printf "%s%.2f", (NR > 1 ? " / " : ""), $1 / 1048576 } END { print "" }'; }

# The machine in one line: CPU model, AVX2 and AVX-512F (from /proc/cpuinfo's flags), cores,
# the sgemm rate setup measured (gemm_peak's f32 2048³, one thread / all), date, 1-minute load.
machine_line() {
    local flags avx2=no avx512=no sgemm="not measured"
    flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
    [[ $flags == *" avx2 "* ]] && avx2=yes
    [[ $flags == *" avx512f "* ]] && avx512=yes
    [ -f "$WORK/gemm_peak.txt" ] &&
        sgemm=$(awk '/^f32 2048 x 2048 x 2048/ { print $7 " / " $8 " GFLOP/s (1 thread / all)" }' "$WORK/gemm_peak.txt")
    printf 'machine: %s | avx2 %s, avx512f %s | nproc %s | gemm_peak sgemm f32 2048³ %s | %s | load %s\n' \
        "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" "$avx2" "$avx512" "$(nproc)" \
        "$sgemm" "$(date -u +%FT%TZ)" "$(cut -d' ' -f1 /proc/loadavg)"
}

headline() {
    read -r d h o <<<"$SHAPE"
    local machine table=() family
    machine=$(machine_line)
    record "headline $machine"
    for family in $FAMILIES; do
        local dir="$WORK/$family-$d-$h-$o" loads=() line backend method
        local -A p_rate=() p_rss=()
        say "== headline, $family layer $d/$h/$o: $N directions, top $K by |λ|, bilens --method $METHODS; peer on $PEER_N"
        make_layer "$family" "$dir" "$d" "$h" "$o" "$N"
        # The peers once per family (they have no method to choose), then bilens per method.
        for backend in $BACKENDS; do
            local secs=() prss=()
            for r in $(seq "$REPEATS"); do
                line=$(timed "$family-peer-$backend-$r" "$PY" benches/peer/reference.py "$dir/layer.safetensors" \
                    --outputs "$dir/outputs.safetensors:directions" --rows "0:$PEER_N" --k "$K" \
                    --backend "$backend" --out "$dir/peer-$backend.npy")
                read -r wall kb load <<<"$line"
                s=$(json_field "$WORK/$family-peer-$backend-$r.out" seconds)
                say "   peer ($backend) run $r: ${s}s compute for $PEER_N outputs (${wall}s wall), peak RSS $((kb / 1024)) MiB (load $load)"
                record "headline peer-$backend $family $d/$h/$o n=$PEER_N k=$K compute=$s wall=$wall rss_kb=$kb load=$load"
                secs+=("$s")
                prss+=("$kb")
                loads+=("$load")
            done
            p_rate[$backend]=$(rate "$PEER_N" "$(printf '%s\n' "${secs[@]}" | median)")
            p_rss[$backend]=$(printf '%s\n' "${prss[@]}" | median)
        done
        for method in $METHODS; do
            local out="$dir/bilens-$method" walls=() rss=() m_loads=("${loads[@]}")
            for r in $(seq "$REPEATS"); do
                rm -rf "$out"
                line=$(timed "$family-bilens-$method-$r" "$BILENS" decompose "$dir/layer.safetensors" --layout single \
                    --w w --v v --p p --outputs "$dir/outputs.safetensors:directions" --k "$K" \
                    --method "$method" --out "$out")
                read -r wall kb load <<<"$line"
                say "   bilens --method $method run $r: ${wall}s, peak RSS $((kb / 1024)) MiB (load $load)"
                record "headline bilens $family $d/$h/$o method=$method n=$N k=$K wall=$wall rss_kb=$kb load=$load"
                walls+=("$wall")
                rss+=("$kb")
                m_loads+=("$load")
            done
            local b_wall b_rss b_rate ran best="" best_rate=0 ratio="—" agree peers_rss=()
            b_wall=$(printf '%s\n' "${walls[@]}" | median)
            b_rss=$(printf '%s\n' "${rss[@]}" | median)
            b_rate=$(rate "$N" "$b_wall")
            ran=$(solvers "$out" "$method")
            say "   bilens --method $method: $b_rate outputs/s; solvers: $ran"
            for backend in $BACKENDS; do
                agree=$("$PY" benches/peer/agree.py "$out" "$dir/peer-$backend.npy" --rows "0:$PEER_N") || {
                    say "   DISAGREE ($family layer, bilens --method $method, peer $backend): $agree"
                    exit 1
                }
                say "   agreement with $backend: $agree"
                if awk -v a="${p_rate[$backend]}" -v b="$best_rate" 'BEGIN { exit !(a > b) }'; then
                    best=$backend
                    best_rate=${p_rate[$backend]}
                fi
                peers_rss+=("${p_rss[$backend]}")
            done
            [ -n "$best" ] && ratio=$(awk -v b="$b_rate" -v p="$best_rate" -v be="$best" 'BEGIN { printf "%.1fx %s\n", b / p, be }')
            record "headline summary $family $d/$h/$o method=$method bilens_wall=$b_wall bilens_rss_kb=$b_rss solvers=$ran$(for be in $BACKENDS; do printf ' peer-%s=%s/s' "$be" "${p_rate[$be]}"; done)"
            table+=("| $family | $method | $b_rate ($b_wall s, $N) | $ran | ${p_rate[numpy]:-—} | ${p_rate[torch]:-—} | $ratio | $(gib "$b_rss" "${peers_rss[@]}") GiB | $(spread "${m_loads[@]}") |")
        done
    done
    {
        printf '\n%s\n' "$machine"
        printf 'headline %s/%s/%s, top %s by |λ|: bilens on all %s outputs (wall time of the whole command), the peers on the first %s (compute time only); medians of %s run(s); peak RSS bilens / %s\n\n' \
            "$d" "$h" "$o" "$K" "$N" "$PEER_N" "$REPEATS" "${BACKENDS// / \/ }"
        echo "| family | bilens method | bilens outputs/s (wall, N outputs) | what solvers ran | peer numpy outputs/s | peer torch outputs/s | ratio to the faster peer | peak RSS bilens / peers | load at start |"
        echo "|---|---|---|---|---|---|---|---|---|"
        printf '%s\n' "${table[@]}"
    } | tee "$WORK/headline.md"
    for line in "${table[@]}"; do record "headline table $line"; done
}

hosvd() {
    read -r d h o <<<"$SHAPE"
    local dir="$WORK/synthetic-$d-$h-$o"
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
    # shellcheck disable=SC2016 # $1 and $@ are the inner bash's arguments
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
