#!/bin/sh
# bench/cg_gpu_check.py --fake-gpu on a few cases: keeps the GPU self-check
# (which only runs on the GPU machine) in step with tilec's IR text, its
# options, the interpreter and the PTX signature (bench/fake_cupy.py checks
# every launch argument against the .entry's parameters).  Skips (77)
# without python3 + numpy.
tilec=${1:?usage: run_gpu_check_dry.sh path/to/tilec}
cd "$(dirname "$0")/.." || exit 1
for py in /usr/bin/python3 python3; do
    if "$py" -c 'import numpy' 2>/dev/null; then
        exec "$py" bench/cg_gpu_check.py --fake-gpu --tilec "$tilec" \
            --only "scale_rows,golden ir_reduce,golden ok_misc,ptx_ops) n=5,decode_,flash_fwd T=bf16 D=64 M=37,flash_fwd T=f16 D=64,lightning2 bf16,flash_fwd_document"
    fi
done
echo "SKIP: no python3 with numpy"
exit 77
