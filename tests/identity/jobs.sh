#!/usr/bin/env bash
# Runs a fixed set of bilens jobs with the binary BIN into OUT and prints the sha256 of every
# file they wrote (path relative to OUT, sorted): the byte-identity manifest.
#
#   tests/identity/jobs.sh BIN OUT > manifest.txt
#
# Run from the repository root: the jobs name their inputs by relative paths, which the
# results record as given. See tests/identity/check.sh for the comparison of two binaries.
set -euo pipefail
BIN=$1
OUT=$2
F=tests/identity
MODEL=data/models/mnist-bilinear/model.safetensors
rm -rf "$OUT"
mkdir -p "$OUT"
run() { "$BIN" --quiet "$@" >/dev/null; }

# The main job: decomposition and every figure of the shipped model.
run demo --out "$OUT/demo"
# Classes of the shipped model: every component (full solver), the top 16 (Lanczos) and f64.
run decompose "$MODEL" --out "$OUT/classes"
run decompose "$MODEL" --k 16 --out "$OUT/classes-k16"
run decompose "$MODEL" --k 16 --precision f64 --out "$OUT/classes-k16-f64"
run plot "$OUT/classes-k16" --out "$OUT/classes-k16-figures"
# Directions from a file, a feature basis, biases and a norm gain on a named layer.
run decompose $F/single.safetensors --layout single --w mlp.w --v mlp.v --p mlp.p \
    --w-bias mlp.b_w --v-bias mlp.b_v --norm-gain ln.weight \
    --outputs $F/directions.safetensors:enc --input-basis $F/basis.safetensors:dec --k 8 \
    --out "$OUT/single-basis"
run decompose $F/single.safetensors --layout single --w mlp.w --v mlp.v --p mlp.p \
    --w-bias mlp.b_w --v-bias mlp.b_v --outputs contrast:3-mean --route shared \
    --out "$OUT/single-contrast"
# Every layer of a transformer, token outputs labelled by a tokenizer.
run decompose $F/lm.safetensors --layer all --outputs tokens:1,2,5-7 --tokenizer $F/tokenizer.json \
    --k 4 --out "$OUT/lm-all"
run decompose $F/lm.safetensors --layer 2 --rows 0..10,12 --eigenvalues-only --out "$OUT/lm-rows"
# HOSVD across the classes of the shipped model, and of a restriction.
run hosvd "$MODEL" --components 5 --out "$OUT/hosvd"
run hosvd "$MODEL" --components 3 --outputs contrast:3-5 --k 8 --out "$OUT/hosvd-contrast"
run hosvd "$MODEL" --components 4 --rows 0..6 --k 8 --out "$OUT/hosvd-rows"
# The paper's evaluations on the shipped model and data (truncation.json is left out of the
# manifest: it records how many seconds the run took).
run eval truncation "$MODEL" --data data/mnist --max-k 4 --rules abs,paired --out "$OUT/eval-truncation"
run eval adversarial "$MODEL" --data data/mnist --targets 3,5 --steps 4 --baselines 1 \
    --out "$OUT/eval-adversarial"
run eval explain "$MODEL" --data data/mnist --index 7 --out "$OUT/eval-explain"
run eval consistency "$MODEL" "$MODEL" --top 5 --out "$OUT/eval-consistency"

# The demo's explorer site is newer than the reference commit; its own tests check it.
(cd "$OUT" && find . -type f -not -path './demo/explorer/*' -not -name truncation.json -print0 | sort -z | xargs -0 sha256sum)
