#!/usr/bin/env bash
# tune_check.sh - `tilec tune` on the GPU machine over the benchmarked
# attention shapes (bf16, batch x length = 16k tokens, 16 heads): forward
# at L = 1k, 4k, 16k, D = 64 and 128, causal and not; dQ and dK/dV at
# L = 4k and 16k.  For each shape the scheduler's choice and its best
# candidates are timed (CUDA events, median) and one table row says how
# far the model's choice is from the measured best (issue 7: within 10%
# on every shape).  Ends with the count within 10% and the wall time.
# Needs a tilec with the runtime (bench/pack_gpu.sh packs it).
#
#   bench/tune_check.sh [TILEC]          (default build-gpu/tilec)
#   TOP=4 ITERS=10     candidates timed per shape, launches per candidate
#   FWD_LENGTHS="1024 4096 16384" BWD_LENGTHS="4096 16384" DIMS="64 128"
#   BWD_CAUSAL=1       also the causal backward kernels
#   MASK_LENGTHS="4096"  also flash_fwd with bench_attn.py's sliding window
#                      with sinks (W = 1024, S = 4) at those lengths
#   LOG=DIR            each shape's full tilec output in DIR (default: a temp dir)
# The default (20 shapes, TOP=4) stays near 6 minutes on an H200: each
# candidate is compiled (ptxas) before it is timed, which dominates.
set -uo pipefail
cd "$(dirname "$0")/.."
tilec=${1:-build-gpu/tilec}
export TILE_LIB="$PWD/lib"
export TILE_CACHE_DIR=${TILE_CACHE_DIR:-/tmp/tile-cache}
log=${LOG:-$(mktemp -d /tmp/tune_check.XXXXXX)}
mkdir -p "$log"
A=lib/attention
start=$(date +%s)
rows=()
within=0
total=0
# tune LABEL FILE KERNEL L D [DEFINE]: one shape; appends its row
tune() {
    local label=$1 file=$2 kernel=$3 L=$4 D=$5 extra=()
    [ -n "${6:-}" ] && extra=(-D "$6")
    local Z=$((16384 / L)) out f="$log/$(echo "$label" | tr ' =' '__').log"
    local t0=$(date +%s)
    echo "== $label (Z=$Z H=16 L=$L D=$D)"
    # progress per candidate as it finishes, the whole output kept in $f
    "$tilec" tune "$file" -k "$kernel" --random 1 --top "${TOP:-4}" --iters "${ITERS:-10}" \
        -D Z=$Z -D H=16 -D HK=16 -D M=$L -D N=$L -D D=$D -D scale=0.125 "${extra[@]}" 2>&1 |
        tee "$f" | sed -u 's/^/   /'
    # "best: S, T us; the model's choice S2, T2 us (R x the best)"
    local row
    row=$(sed -n 's/^best: \(.*\), \([0-9.]*\) us; the model.s choice \(.*\), \([0-9.]*\) us (\([0-9.]*\)x the best)$/\3|\4|\1|\2|\5/p' "$f")
    total=$((total + 1))
    if [ -z "$row" ]; then
        rows+=("$(printf '%-24s %-22s %10s %-22s %10s %6s  %4ss' "$label" FAILED - "(see $f)" - - $(($(date +%s) - t0)))")
        return
    fi
    IFS='|' read -r mpick mtime bpick btime ratio <<<"$row"
    awk -v r="$ratio" 'BEGIN { exit !(r <= 1.10) }' && within=$((within + 1))
    rows+=("$(printf '%-24s %-22s %10s %-22s %10s %6s  %4ss' "$label" "$mpick" "$mtime" "$bpick" "$btime" "$ratio" $(($(date +%s) - t0)))")
}
for L in ${FWD_LENGTHS:-1024 4096 16384}; do
    for D in ${DIMS:-64 128}; do
        tune "fwd L=$L D=$D" $A/flash_fwd.tile flash_fwd "$L" "$D"
        tune "fwd causal L=$L D=$D" $A/flash_fwd.tile flash_fwd_causal "$L" "$D"
    done
done
for L in ${BWD_LENGTHS:-4096 16384}; do
    for D in ${DIMS:-64 128}; do
        tune "dq L=$L D=$D" $A/flash_bwd.tile flash_bwd_dq "$L" "$D"
        tune "dkdv L=$L D=$D" $A/flash_bwd.tile flash_bwd_dkdv "$L" "$D"
        if [ "${BWD_CAUSAL:-0}" = 1 ]; then
            tune "dq causal L=$L D=$D" $A/flash_bwd.tile flash_bwd_dq_causal "$L" "$D"
            tune "dkdv causal L=$L D=$D" $A/flash_bwd.tile flash_bwd_dkdv_causal "$L" "$D"
        fi
    done
done
for L in ${MASK_LENGTHS:-}; do
    for D in ${DIMS:-64 128}; do
        tune "window L=$L D=$D" $A/flash_fwd.tile flash_fwd "$L" "$D" "mask=sliding_window(W: 1024, S: 4)"
    done
done
echo
echo "== tune table (median per launch, us; the model's choice against the measured best)"
printf '%-24s %-22s %10s %-22s %10s %6s  %5s\n' shape "model's pick" "its time" "best measured" "time" ratio wall
printf '%s\n' "${rows[@]}"
echo "model within 10% of the best: $within of $total shapes; wall time $(($(date +%s) - start)) s; logs in $log"
