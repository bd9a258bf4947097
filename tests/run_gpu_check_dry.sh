#!/bin/sh
# bench/cg_gpu_check.py --dry-run on a few cases: keeps the GPU self-check
# (which only runs on the GPU machine) in step with tilec's IR text, its
# options and the interpreter.  Skips (77) without python3 + numpy.
tilec=${1:?usage: run_gpu_check_dry.sh path/to/tilec}
cd "$(dirname "$0")/.." || exit 1
for py in /usr/bin/python3 python3; do
    if "$py" -c 'import numpy' 2>/dev/null; then
        exec "$py" bench/cg_gpu_check.py --dry-run --tilec "$tilec" \
            --only "scale_rows,golden ir_reduce,golden ok_misc,ptx_ops) n=5,decode_combine,flash_fwd T=bf16 D=64 M=37"
    fi
done
echo "SKIP: no python3 with numpy"
exit 77
