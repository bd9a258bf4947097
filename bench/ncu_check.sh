#!/usr/bin/env bash
# ncu_check.sh - Nsight Compute on the forward kernels: where the cycles go.
#     OUT=... bench/ncu_check.sh [PACK]        (on the GPU machine; PACK default build-gpu)
# For each case below: one launch profiled with the full set (clocks left
# alone: --clock-control none, device/METHOD.md), the report kept in
# $OUT/ncu/, and printed: duration, SM and tensor-pipe throughput, issue
# slots, warp stall reasons, and the SASS instructions with the most stall
# samples (--page source).  Needs ncu (the GPU machine's CUDA).
set -uo pipefail
cd "$(dirname "$0")/.."
PACK=${1:-build-gpu}
OUT=${OUT:-/tmp}
mkdir -p "$OUT/ncu"
ncu=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
if [ -z "$ncu" ]; then echo "ncu_check: skipped: no ncu"; exit 0; fi
export TILE_LIB="$PWD/lib" TILE_CACHE_DIR=${TILE_CACHE_DIR:-/tmp/tile-cache}
CASES=${NCU_CASES:-"flash_fwd:4096:128 flash_fwd:4096:64 flash_fwd_causal:4096:128"}
for c in $CASES; do
    IFS=: read -r kern L D <<< "$c"
    name="${kern}_L${L}_D${D}"
    echo "== ncu $name"
    python3 bench/ncu_fwd.py --lib "$PACK/libtile.so" --kernel "$kern" --L "$L" --D "$D" --launches 2 || continue
    "$ncu" --clock-control none --set full --import-source no --kernel-name "regex:$kern" \
        --launch-skip 1 --launch-count 1 -f -o "$OUT/ncu/$name" \
        python3 bench/ncu_fwd.py --lib "$PACK/libtile.so" --kernel "$kern" --L "$L" --D "$D" --launches 2 \
        > "$OUT/ncu/$name.run.log" 2>&1 || { echo "ncu failed:"; tail -5 "$OUT/ncu/$name.run.log"; continue; }
    "$ncu" -i "$OUT/ncu/$name.ncu-rep" --page details --csv > "$OUT/ncu/$name.details.csv" 2>&1
    "$ncu" -i "$OUT/ncu/$name.ncu-rep" --page raw --csv > "$OUT/ncu/$name.raw.csv" 2>&1
    "$ncu" -i "$OUT/ncu/$name.ncu-rep" --page source --print-source sass --csv > "$OUT/ncu/$name.sass.csv" 2>&1
    python3 bench/ncu_summary.py "$OUT/ncu/$name" || true
    rm -f "$OUT/ncu/$name.ncu-rep" "$OUT/ncu/$name.raw.csv"   # large; the summary keeps what matters
done
# one archive: the device tool brings back a limited number of files
tar czf "$OUT/ncu.tgz" -C "$OUT" ncu && rm -rf "$OUT/ncu"
