#!/usr/bin/env bash
# The explorer in a real browser: writes sites with the release binary from
#   - the shipped MNIST model (with a truncation evaluation beside the results),
#   - a language-model layer with a tokenizer and a feature basis (with an approximation
#     evaluation),
#   - a HOSVD of the MNIST model,
#   - 8192 seeded output directions on a small language-model layer,
# checks that an incomplete results directory gets the same refusal as `bilens plot`, then
# opens every site from file:// in headless Chromium (tests/browser/check_explorer.py).
#
#   tests/browser/explore.sh [BIN] [WORK]        # default target/release/bilens, target/ci/explore
#   SCREENSHOTS=docs/figures tests/browser/explore.sh   # also writes a screenshot of each page kind
#
# Installs Debian's chromium and chromium-driver when they are missing (as root, with
# apt-get); fails, never skips, when it cannot. Needs python3 (standard library only).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-target/release/bilens}
WORK=${2:-target/ci/explore}
MODEL=data/models/mnist-bilinear/model.safetensors
F=tests/identity

need_browser() {
    if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
        return
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "chromium and chromedriver are missing, and installing them needs root:" >&2
        echo "  apt-get install chromium chromium-driver" >&2
        exit 1
    fi
    echo "installing Debian's chromium and chromium-driver"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || { echo "apt-get update failed: cannot install chromium" >&2; exit 1; }
    apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null ||
        { echo "apt-get install chromium chromium-driver failed" >&2; exit 1; }
    command -v chromium >/dev/null && command -v chromedriver >/dev/null ||
        { echo "chromium or chromedriver still missing after apt-get" >&2; exit 1; }
}

# Runs the binary quietly; stdout kept for the record.
run() { "$BIN" --quiet "$@" >"$WORK/last.log"; }

# Writes a site and records the time to write it and its size on disk.
explore() {
    local name=$1 results=$2 start
    shift 2
    start=$(date +%s%N)
    "$BIN" explore "$results" --out "$WORK/sites/$name" "$@" >"$WORK/explore-$name.log"
    printf '%s write_ms=%s bytes=%s files=%s\n' "$name" "$((($(date +%s%N) - start) / 1000000))" \
        "$(du -sb "$WORK/sites/$name" | cut -f1)" "$(find "$WORK/sites/$name" -type f | wc -l)" |
        tee -a "$WORK/writes.txt"
}

# `bilens explore` refuses an incomplete results directory with `bilens plot`'s words.
refusals() {
    local dir=$WORK/incomplete
    rm -rf "$dir"
    mkdir -p "$dir"
    cp "$WORK/mnist/results/decomposition.safetensors" "$dir/"
    for cmd in plot explore; do
        if "$BIN" "$cmd" "$dir" --out "$WORK/refused-$cmd" 2>"$WORK/refusal-$cmd.txt"; then
            echo "bilens $cmd accepted a results directory without summary.json" >&2
            exit 1
        fi
    done
    grep -q "summary.json: missing" "$WORK/refusal-explore.txt" ||
        { echo "unexpected refusal:" >&2; cat "$WORK/refusal-explore.txt" >&2; exit 1; }
    diff <(grep hint "$WORK/refusal-plot.txt") <(grep hint "$WORK/refusal-explore.txt") ||
        { echo "bilens explore and bilens plot refuse differently" >&2; exit 1; }
    [ ! -e "$WORK/refused-explore" ] || { echo "a refused explore left a site behind" >&2; exit 1; }
    echo "refusal: $(head -1 "$WORK/refusal-explore.txt")"
}

need_browser
[ -x "$BIN" ] || { echo "$BIN not found: cargo build --release first" >&2; exit 1; }
rm -rf "$WORK"
mkdir -p "$WORK/sites"
: >"$WORK/writes.txt"

LM_OUTPUTS=tokens:$(seq -s, 0 39),2-3,4-5,10-11
LM_N=43
python3 tests/browser/fixtures.py "$WORK/fixtures" 8192 "$LM_N"

# MNIST: the shipped model, every component, and its truncation curve beside the results.
run decompose "$MODEL" --out "$WORK/mnist/results"
run eval truncation "$MODEL" --data data/mnist --max-k 30 --out "$WORK/mnist/truncation"
explore mnist "$WORK/mnist/results"
grep -q "evaluation: .*truncation.json" "$WORK/explore-mnist.log" ||
    { echo "the truncation evaluation beside the MNIST results was not found" >&2; exit 1; }

# A language-model layer: token outputs, a tokenizer, a feature basis, an approximation.
LM=(--layer 1 --input-basis $F/basis.safetensors:dec --tokenizer $F/tokenizer.json --k 8)
run decompose $F/lm.safetensors "${LM[@]}" --outputs "$LM_OUTPUTS" --out "$WORK/lm/results"
run eval approx "$WORK/lm/results" --activations "$WORK/fixtures/activations.safetensors" \
    --max-k 8 --out "$WORK/lm/approx"
explore lm "$WORK/lm/results"

run hosvd "$MODEL" --components 5 --out "$WORK/hosvd/results"
explore hosvd "$WORK/hosvd/results"

# 8192 outputs.
run decompose $F/lm.safetensors "${LM[@]}" --outputs "$WORK/fixtures/directions.safetensors:enc" \
    --out "$WORK/many/results"
explore many "$WORK/many/results"

refusals

shots=()
[ -n "${SCREENSHOTS:-}" ] && shots=(--screenshots "$SCREENSHOTS")
python3 tests/browser/check_explorer.py \
    mnist="$WORK/sites/mnist:$WORK/mnist/results" \
    lm="$WORK/sites/lm:$WORK/lm/results" \
    hosvd="$WORK/sites/hosvd:$WORK/hosvd/results" \
    many="$WORK/sites/many:$WORK/many/results" \
    --search mnist=7 --search lm=cat --search many=12 \
    --measurements "$WORK/measurements.json" "${shots[@]}"
