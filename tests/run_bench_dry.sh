#!/bin/sh
# bench/bench_attn.py --dry-run (the Lightning, BASED and issue-8 variant
# sections: our kernels on libtile's interpreter with CPU tensors, every
# reference and check of those sections) and bench/oracle_check.py --only
# issue8 (issue 8's programs and the score modifiers on tilec's interpreter
# against float64 PyTorch references).  Keeps the GPU benchmark and the
# oracle runnable between the lead's GPU runs.  Skips (77) without a
# python3 that has torch and numpy.
tilec=${1:?usage: run_bench_dry.sh path/to/tilec path/to/libtile.so}
lib=${2:?usage: run_bench_dry.sh path/to/tilec path/to/libtile.so}
cd "$(dirname "$0")/.." || exit 1
for py in /usr/bin/python3 python3; do
    if "$py" -c 'import torch, numpy' 2>/dev/null; then
        "$py" bench/bench_attn.py --dry-run --lib "$lib" --only variants,lightning,based || exit 1
        exec "$py" bench/oracle_check.py --tilec "$tilec" --only issue8
    fi
done
echo "SKIP: no python3 with torch and numpy"
exit 77
