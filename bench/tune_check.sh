#!/usr/bin/env bash
# tune_check.sh - `tilec tune` on the GPU machine over the benchmarked
# attention shapes: for each, the scheduler's choice and its best
# candidates are timed, and the last line says how far the model's choice
# is from the measured best (issue: the model within 10% of the tuned
# best).  Needs a tilec with the runtime (bench/pack_gpu.sh packs it).
#
#   bench/tune_check.sh [TILEC]          (default build-gpu/tilec)
set -uo pipefail
cd "$(dirname "$0")/.."
tilec=${1:-build-gpu/tilec}
export TILE_LIB="$PWD/lib"
export TILE_CACHE_DIR=${TILE_CACHE_DIR:-/tmp/tile-cache}
A=lib/attention
summary=()
tune() { # tune LABEL FILE KERNEL DEFINES...
    local label=$1 file=$2 kernel=$3
    shift 3
    local args=()
    for d in "$@"; do args+=(-D "$d"); done
    echo "== $label"
    local out
    out=$("$tilec" tune "$file" -k "$kernel" --random 1 --top "${TOP:-8}" --iters "${ITERS:-10}" "${args[@]}" 2>&1)
    echo "$out"
    summary+=("$(printf '%-34s %s' "$label" "$(echo "$out" | grep '^best:' || echo 'FAILED')")")
}
for L in ${LENGTHS:-4096}; do
    Z=$((16384 / L))
    for D in 64 128; do
        shape=(Z=$Z H=16 HK=16 M=$L N=$L D=$D scale=0.125)
        tune "fwd L=$L D=$D" $A/flash_fwd.tile flash_fwd "${shape[@]}"
        tune "fwd causal L=$L D=$D" $A/flash_fwd.tile flash_fwd_causal "${shape[@]}"
        tune "bwd dq L=$L D=$D" $A/flash_bwd.tile flash_bwd_dq "${shape[@]}"
        tune "bwd dkdv L=$L D=$D" $A/flash_bwd.tile flash_bwd_dkdv "${shape[@]}"
    done
done
echo "== tune summary (measured per launch; the model's choice vs the best)"
printf '%s\n' "${summary[@]}"
