#!/bin/sh
# bench/bench_attn.py --dry-run (fwd, bwd, decode, Lightning, BASED and the issue-8
# variant sections: our kernels on libtile's interpreter with CPU tensors, every
# reference and check of those sections) and bench/oracle_check.py --only
# issue8 (issue 8's programs and the score modifiers on tilec's interpreter
# against float64 PyTorch references).  Keeps the GPU benchmark and the
# oracle runnable between the lead's GPU runs.  Skips (77) without a
# python3 that has torch and numpy.
tilec=${1:?usage: run_bench_dry.sh path/to/tilec path/to/libtile.so}
lib=${2:?usage: run_bench_dry.sh path/to/tilec path/to/libtile.so}
cd "$(dirname "$0")/.." || exit 1
# A sanitizer build's libtile.so is loaded by python through ctypes: its
# runtimes must come first (LD_PRELOAD); python and torch leak by design.
asan=$(ldd "$lib" 2>/dev/null | awk '/libasan/ {print $3}')
if [ -n "$asan" ]; then
    ubsan=$(ldd "$lib" | awk '/libubsan/ {print $3}')
    export LD_PRELOAD="$asan${ubsan:+ $ubsan}"
    export ASAN_OPTIONS="detect_leaks=0:alloc_dealloc_mismatch=0:new_delete_type_mismatch=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
fi
for py in /usr/bin/python3 python3; do
    if "$py" -c 'import torch, numpy' 2>/dev/null; then
        "$py" bench/bench_attn.py --dry-run --lib "$lib" --only fwd,bwd,decode,lightning,based,variants || exit 1
        exec "$py" bench/oracle_check.py --tilec "$tilec" --only issue8
    fi
done
echo "SKIP: no python3 with torch and numpy"
exit 77
