#!/usr/bin/env bash
# The byte-identity check: the files bilens writes (decompositions, summaries, figures) must
# not change when the code is restructured. Builds the binary of a reference commit, runs
# tests/identity/jobs.sh with it and with this checkout's release binary, and compares every
# file's sha256.
#
#   tests/identity/check.sh [NEW_BIN]      # default: this checkout's release build (made fresh)
#
# The reference commit is the first word of tests/identity/REFERENCE: the last commit whose
# numbers are the standard. A change that is meant to change results (a new eigensolver, a
# new metadata field) moves it forward in the same commit and says why there. Both binaries
# run on this machine, so the comparison holds whatever the CPU (results are reproducible on
# one machine for any thread count, but SIMD widths and cache sizes change the last bits
# between machines, which rules out committed hashes).
set -euo pipefail
cd "$(dirname "$0")/../.."
NEW_BIN=${1:-}
REF=$(awk 'NR==1 {print $1}' tests/identity/REFERENCE)
WORK=target/identity
git cat-file -e "$REF^{commit}" 2>/dev/null || {
    echo "the reference commit $REF is not in this clone (a shallow clone?): fetch its history" >&2
    exit 1
}
REF_BIN=$WORK/bilens-$REF
if [[ ! -x $REF_BIN ]]; then
    rm -rf "$WORK/src"
    mkdir -p "$WORK/src"
    git archive "$REF" | tar -x -C "$WORK/src"
    # A target directory of its own. Sharing this checkout's made the check vacuous: cargo
    # hashes a workspace member by its path relative to the workspace root, so the reference's
    # crates and this checkout's are the same build units there, and the reference's build
    # left fingerprints (listing the reference's source files) under which this checkout's
    # build was "fresh": the reference binary was compared with itself.
    echo "building the reference binary of $REF"
    cargo build --quiet --release --locked --manifest-path "$WORK/src/Cargo.toml" \
        --target-dir "$WORK/target" -p bilens-cli --bin bilens
    cp "$WORK/target/release/bilens" "$REF_BIN"
fi
if [[ -z $NEW_BIN ]]; then
    cargo build --quiet --release --locked
    NEW_BIN=target/release/bilens
fi
tests/identity/jobs.sh "$REF_BIN" "$WORK/ref" >"$WORK/ref.sha256"
tests/identity/jobs.sh "$NEW_BIN" "$WORK/new" >"$WORK/new.sha256"
if diff -u "$WORK/ref.sha256" "$WORK/new.sha256"; then
    echo "byte-identical to $REF: $(wc -l <"$WORK/new.sha256") files"
else
    echo "the files above differ from those of the reference commit $REF" >&2
    exit 1
fi
