#!/usr/bin/env bash
# sweep_fwd.sh - times flash_fwd over hand-set schedules (BM, BN, warps) on
# the GPU machine, unmasked, causal and with the bench's sliding window, at
# each length, D = 64 and 128, next to the peer of the issue-7 target
# (FlashAttention-2 through SDPA; Flex for the window); one row a schedule,
# each checked against SDPA first (bench/sparse_sweep.py --fwd).  The
# measured side of the scheduler's cost model (bench/model_fit.py reads
# these rows; bench/RESULTS.md).
#     bench/sweep_fwd.sh [BM:BN:WARPS,...]          (after bench/pack_gpu.sh)
#     SWEEP_LENGTHS="1024 4096" SWEEP_MASKS="none causal window"
# BM 0 is the compiler's own choice.
cd "$(dirname "$0")/.."
export TILE_LIB="$PWD/lib" TILE_CACHE_DIR=${TILE_CACHE_DIR:-/tmp/tile-cache}
PACK=${PACK:-build-gpu}
if [ ! -d "$PACK" ] && [ -f build-pack/build-gpu.txz ]; then tar xJf build-pack/build-gpu.txz; fi
cfgs=${1:-"0:0:0,64:64:4,64:128:4,128:64:4,128:128:8,256:64:8,128:64:8,128:32:4"}
for L in ${SWEEP_LENGTHS:-1024 4096}; do
    for m in ${SWEEP_MASKS:-none causal window}; do
        python3 bench/sparse_sweep.py --lib "$PACK/libtile.so" --fwd "$m" --length "$L" --cfgs "$cfgs"
    done
done
