#!/bin/sh
# Builds a seed corpus for fuzz_frontend from every lib/**/*.tile and
# tests/golden/*.tile, or with --ir for fuzz_ir from every tests/golden .ir
# file.   usage: tests/fuzz/seed.sh [--ir] [DIR]   (default: corpus)
set -e
root=$(cd "$(dirname "$0")/../.." && pwd)
pattern='*.tile'
if [ "${1:-}" = "--ir" ]; then pattern='*.ir'; shift; fi
out=${1:-corpus}
mkdir -p "$out"
n=0
for f in $(find "$root/lib" "$root/tests/golden" -name "$pattern" -type f 2>/dev/null | sort); do
    name=$(printf '%s' "${f#"$root"/}" | tr '/' '_')
    cp "$f" "$out/$name"
    n=$((n + 1))
done
echo "seed.sh: $n files in $out"
