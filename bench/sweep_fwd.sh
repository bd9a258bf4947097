#!/usr/bin/env bash
# sweep_fwd.sh - times flash_fwd over hand-set schedules (BM, BN, warps) on
# the GPU machine, L = 4096, D = 128, causal and not, one line each; the
# measured side of the scheduler's model (bench/RESULTS.md).
#     bench/sweep_fwd.sh [BM,BN,WARPS ...]       (after bench/pack_gpu.sh)
cd "$(dirname "$0")/.."
export TILE_LIB="$PWD/lib" TILE_CACHE_DIR=${TILE_CACHE_DIR:-/tmp/tile-cache}
PACK=${PACK:-build-gpu}
if [ ! -d "$PACK" ] && [ -f build-pack/build-gpu.txz ]; then tar xJf build-pack/build-gpu.txz; fi
cfgs=${*:-"64,64,4 128,64,4 128,64,8 128,32,4 64,32,4"}
for c in $cfgs; do
    IFS=, read -r bm bn w <<<"$c"
    echo "== BM=$bm BN=$bn warps=$w"
    python3 bench/bench_attn.py --lib "$PACK/libtile.so" --quick --only fwd --no-flex --no-triton \
        --warps "$w" --fwd-defines "BM=$bm,BN=$bn" 2>&1 | grep -E "^fwd .* tile |error|Error" | head -4
done
