#!/usr/bin/env bash
# setup.sh - installs what a fresh Debian 12 machine lacks and builds tile
# into build/ (idempotent: installs nothing and rebuilds nothing when all is
# there).  Used by both README commands and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# nettle-dev: SHA-256 for the runtime's kernel-cache keys (runtime/rt_cache.c),
# linked statically so libtile.so needs only libc; a cryptographic hash from a
# maintained library, not a home-made one.
pkgs="cmake make gcc g++ clang flex bison libcmocka-dev llvm-19-dev libzstd-dev zlib1g-dev nettle-dev valgrind python3-numpy"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "setup: installing$missing"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
