#!/usr/bin/env bash
# Fetches Fashion-MNIST into this directory from Debian's `dataset-fashion-mnist` package and
# verifies every file against the sha256 pinned below. Idempotent: files already present with
# the right checksums are left alone, and nothing is written unless all four files verify.
#
#   bash data/fashion-mnist/fetch.sh            # fetch (or confirm) the four files
#   bash data/fashion-mnist/fetch.sh --check    # verify only; exit 1 if missing or wrong
#
# Needs `apt-get` (any Debian or Ubuntu) or, elsewhere, the .deb downloaded by hand and named in
# FASHION_MNIST_DEB=/path/to/dataset-fashion-mnist_*.deb (then `dpkg-deb` or `ar` + `tar`).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PACKAGE=dataset-fashion-mnist
# Where the package installs the files (gzipped IDX, the names bilens's loader expects).
PACKAGE_DIR=usr/share/datasets/fashion-mnist

# sha256 of the gzipped files as Debian ships them (package 0.0~git20200523.55506a9-1).
# Debian recompressed Zalando's archives, so the .gz hashes differ from upstream's MD5 list;
# the uncompressed contents are upstream's (README.md gives their hashes).
declare -A SHA256=(
    [train-images-idx3-ubyte.gz]=b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7
    [train-labels-idx1-ubyte.gz]=0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056
    [t10k-images-idx3-ubyte.gz]=cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa
    [t10k-labels-idx1-ubyte.gz]=8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05
)
FILES=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)

say() { echo "fashion-mnist: $*" >&2; }
die() { echo "fashion-mnist: error: $*" >&2; exit 1; }

# True when every file in directory $1 is present and matches its pinned sha256; with $2 = loud,
# names each file's state.
verify_dir() {
    local dir=$1 loud=${2:-} ok=0 name got
    for name in "${FILES[@]}"; do
        if [[ ! -f "$dir/$name" ]]; then
            [[ -n $loud ]] && say "missing   $dir/$name"
            ok=1
            continue
        fi
        got=$(sha256sum "$dir/$name" | cut -d' ' -f1)
        if [[ $got == "${SHA256[$name]}" ]]; then
            [[ -n $loud ]] && say "$(printf 'ok        %-28s %s' "$name" "$got")"
        else
            [[ -n $loud ]] && say "MISMATCH  $name: expected ${SHA256[$name]}, got $got"
            ok=1
        fi
    done
    return $ok
}

if [[ ${1:-} == --check ]]; then
    verify_dir "$HERE" loud || die "the files in $HERE are missing or wrong; run: bash $0"
    say "all four files verified in $HERE"
    exit 0
elif [[ $# -gt 0 ]]; then
    die "unknown argument '$1' (usage: $0 [--check])"
fi

if verify_dir "$HERE"; then
    say "already present and verified in $HERE (nothing to do)"
    exit 0
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# 1. The .deb: given by the caller, or downloaded by apt (no root needed for `apt-get download`).
if [[ -n ${FASHION_MNIST_DEB:-} ]]; then
    [[ -f $FASHION_MNIST_DEB ]] || die "FASHION_MNIST_DEB=$FASHION_MNIST_DEB is not a file"
    DEB=$FASHION_MNIST_DEB
    say "using $DEB"
else
    command -v apt-get >/dev/null ||
        die "apt-get not found. On a non-Debian system download the package from
  https://packages.debian.org/bookworm/all/$PACKAGE/download
and run: FASHION_MNIST_DEB=/path/to/the.deb bash $0"
    # apt drops privileges to _apt while downloading, and _apt cannot write into our private
    # temporary directory: as root, say explicitly that root downloads (this silences apt's
    # "download is performed unsandboxed" warning without changing what happens).
    APT_OPTS=(-q)
    [[ $(id -u) == 0 ]] && APT_OPTS+=(-o APT::Sandbox::User=root)
    say "downloading the Debian package $PACKAGE (about 31 MB) with apt-get"
    if ! (cd "$WORK" && apt-get "${APT_OPTS[@]}" download "$PACKAGE" >&2); then
        # A fresh container often has no package lists yet; `apt-get update` needs root.
        if [[ $(id -u) == 0 ]]; then
            say "apt-get download failed; refreshing the package lists (apt-get update) and retrying"
            apt-get -q update >&2
            (cd "$WORK" && apt-get "${APT_OPTS[@]}" download "$PACKAGE" >&2) ||
                die "apt-get download $PACKAGE failed after apt-get update"
        else
            die "apt-get download $PACKAGE failed; if the package lists are empty, run
  sudo apt-get update
and retry (or set FASHION_MNIST_DEB to a downloaded .deb)"
        fi
    fi
    DEB=$(ls "$WORK"/"$PACKAGE"_*.deb)
fi

# 2. Unpack the .deb without installing it.
mkdir "$WORK/root"
if command -v dpkg-deb >/dev/null; then
    say "unpacking $(basename "$DEB") with dpkg-deb -x"
    dpkg-deb -x "$DEB" "$WORK/root"
else
    # A .deb is an `ar` archive holding data.tar.{xz,zst,gz}; tar detects the compression.
    command -v ar >/dev/null || die "neither dpkg-deb nor ar found to unpack $DEB"
    say "unpacking $(basename "$DEB") with ar + tar"
    (cd "$WORK" && ar x "$DEB")
    tar -xf "$WORK"/data.tar.* -C "$WORK/root"
fi

# 3. Verify all four in the scratch directory, then move them in: a failure leaves this
#    directory as it was.
verify_dir "$WORK/root/$PACKAGE_DIR" loud ||
    die "the files in $(basename "$DEB") do not match the pinned checksums (a different package
  version?). Nothing was copied. Check the new files by hand before updating the hashes in $0."
for name in "${FILES[@]}"; do
    cp "$WORK/root/$PACKAGE_DIR/$name" "$HERE/$name.tmp"
    mv -f "$HERE/$name.tmp" "$HERE/$name"
done
verify_dir "$HERE" || die "copying into $HERE failed verification"
say "fetched and verified: ${FILES[*]} in $HERE"
