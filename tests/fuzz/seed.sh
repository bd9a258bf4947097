#!/bin/sh
# Builds a seed corpus for fuzz_frontend from every lib/**/*.tile and
# tests/golden/*.tile, plus a few .npy files for the .npy reader; or with
# --ir for fuzz_ir from every tests/golden .ir file (no .npy files).
#   usage: tests/fuzz/seed.sh [--ir] [DIR]   (default: corpus)
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
if [ "$pattern" = '*.ir' ]; then
    echo "seed.sh: $n files in $out"
    exit 0
fi
# .npy seeds: a v1.0 header padded so that the 10-byte preamble + header is
# a multiple of 64, then the data.
npy() { # name descr shape data-bytes(printf escapes)
    hdr="{'descr': '$2', 'fortran_order': False, 'shape': $3, }"
    hlen=$(( ((10 + ${#hdr} + 1 + 63) / 64) * 64 - 10 ))
    { printf '\223NUMPY\001\000'; printf "\\$(printf %03o $((hlen % 256)))\\$(printf %03o $((hlen / 256)))"
      printf '%s%*s\n' "$hdr" $((hlen - ${#hdr} - 1)) ''; printf "$4"; } >"$out/$1"
    n=$((n + 1))
}
npy seed_f4.npy '<f4' '(2,)' '\000\000\200\077\000\000\000\300'
npy seed_i8.npy '<i8' '()' '\007\000\000\000\000\000\000\000'
npy seed_v2.npy '|V2' '(1, 2)' '\200\077\100\300'
npy seed_b1.npy '|b1' '(0, 3)' ''
echo "seed.sh: $n files in $out"
