#!/bin/sh
# The GPU math routines (codegen/cg_math.c: sin cos erf log1p expm1 pow) on
# this CPU: cg_math_gen writes their LLVM IR, llc compiles it for the host,
# cg_math_check.c compares them with the C library (the interpreter's
# reference) within docs/language.md's tolerance.  Exit 77 (CTest skip)
# without llc: never a silent pass.
gen=${1:?usage: run_cg_math.sh cg_math_gen CC [SAMPLES]}
cc=${2:?usage: run_cg_math.sh cg_math_gen CC [SAMPLES]}
samples=${3:-2000000}
llc=${TILE_LLC:-/usr/lib/llvm-19/bin/llc}
if [ ! -x "$llc" ]; then
    echo "SKIP: no llc at $llc (set TILE_LLC)"
    exit 77
fi
dir=$(mktemp -d /tmp/run_cg_math.XXXXXX) || exit 1
trap 'rm -rf "$dir"' EXIT
here=$(dirname "$0")
"$gen" "$dir/m.ll" &&
    "$llc" -O2 -relocation-model=pic -filetype=obj "$dir/m.ll" -o "$dir/m.o" &&
    "$cc" -O1 "$here/cg_math_check.c" "$dir/m.o" -lm -o "$dir/check" &&
    "$dir/check" "$samples"
