#!/usr/bin/env bash
# pack_gpu.sh - what the GPU machine needs from a build, in one small folder
# to carry there (the device tool carries at most 64 MiB).
#
#   bench/pack_gpu.sh [BUILD [PACK]]     (defaults: build, build-gpu)
#
# PACK/ gets, stripped: libtile.so (the whole compiler, LLVM included: the
# GPU machine has none), flash_demo, hello_tile, launch_overhead,
# tests/test_gpu and libcmocka.so.0 beside libtile.so (the binaries find
# both through their $ORIGIN run path), and tilec (tilec tune,
# bench/oracle_check.py), and peers/fla (flash-linear-attention's
# source, the peer of bench_attn.py --only lightning,based).  Prints the sizes; the xz tarball it carries
# must stay under 60 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
pack=${2:-build-gpu}
rm -rf "$pack"
mkdir -p "$pack/tests"
strip_to() { strip --strip-unneeded -o "$2" "$1"; }
strip_to "$build/libtile.so" "$pack/libtile.so"
for exe in flash_demo hello_tile launch_overhead; do strip_to "$build/$exe" "$pack/$exe"; done
strip_to "$build/tests/test_gpu" "$pack/tests/test_gpu"
cmocka=$(ldd "$build/tests/test_gpu" | awk '/libcmocka/ {print $3}')
[ -n "$cmocka" ] && cp -L "$cmocka" "$pack/"
limit=$((60 * 1024 * 1024))
strip_to "$build/tilec" "$pack/tilec"   # tilec tune (bench/tune_check.sh), oracle_check.py
# flash-linear-attention's source (bench/peers/fla_import.py imports its kernels without
# pip: the GPU machine has no network), exported from the mirror into PACK/peers/fla
fla_git=${FLA_GIT:-/work/.mirror/fla-org+flash-linear-attention/repo}
if git --git-dir="$fla_git" rev-parse -q --verify HEAD >/dev/null 2>&1; then
    mkdir -p "$pack/peers"
    git --git-dir="$fla_git" archive HEAD fla | tar x -C "$pack/peers"
    git --git-dir="$fla_git" log -1 --format='fla %H %cd' HEAD >"$pack/peers/FLA_VERSION"
else
    echo "pack_gpu: no flash-linear-attention mirror at $fla_git: bench_attn.py falls back to PyTorch peers" >&2
fi
du -ab "$pack" | sort -n | awk '{printf "%10.1f MiB  %s\n", $1 / 1048576, $2}'
# test_gpu links the compiler statically (the scheduler's code generation
# pulls LLVM in), so the folder can pass the carry budget: carry the xz
# tarball instead (bench/gpu_check.sh unpacks it when PACK is absent).
# PACK_LIB=DIR: a copy of that library beside the build, in PACK/lib (a
# baseline for bench/ab_check.sh, built from an older tree).
if [ -n "${PACK_LIB:-}" ]; then cp -r "$PACK_LIB" "$pack/lib"; fi
mkdir -p build-pack
tarball="build-pack/$(basename "$pack").txz"
tar cJf "$tarball" "$pack"
size=$(stat -c %s "$tarball")
echo "$tarball: $((size / 1048576)) MiB (carry [\"build-pack\"])"
if [ "$size" -gt "$limit" ]; then
    echo "pack_gpu: $tarball is $((size / 1048576)) MiB, over the 60 MiB budget" >&2
    exit 1
fi
