#!/usr/bin/env bash
# gpu_check.sh - everything a session checks on the GPU machine, in one call.
#
# On the development machine, first:
#     cmake --build build -j2 && bench/pack_gpu.sh        # -> build-gpu/ (< 60 MiB)
# then on the GPU machine (device tool: carry ["build-gpu"]), from the
# repository root:
#     bench/gpu_check.sh [bench_attn.py options, e.g. --quick]
#
# Steps: the machine; tests/test_gpu (every library program on the GPU
# against the interpreter through tile.h); the main job (flash_demo) and
# hello_tile; host launch overhead from C; optionally (SANITIZE=1)
# test_gpu under compute-sanitizer's memcheck, racecheck and synccheck
# (TEST_GPU_FILTER narrows it, e.g. 'test_flash_fwd'); optionally (ORACLE=1,
# needs build-gpu/tilec) the library's semantics against PyTorch;
# optionally (TUNE=1) bench/tune_check.sh (tilec tune: the model's choice
# against the measured best of its top candidates); then
# bench/bench_attn.py, whose short table comes last.  Logs go to $OUT.
# MMA_SYNC_TESTS=1 runs test_gpu a second time with TILE_WGMMA=0 (sm_90's
# dots on mma.sync, not the default wgmma).  BENCH_AB='VAR=value' runs the
# benchmark once more, first, under those settings.  TESTS=0 skips test_gpu and the demos, BENCH=0 the benchmark (to split the
# work over two device calls of at most 10 minutes each).
# Exit status: the number of failed steps.
set -uo pipefail
cd "$(dirname "$0")/.."
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
PACK=${PACK:-build-gpu}
if [ ! -d "$PACK" ] && [ -f build-pack/build-gpu.txz ]; then tar xJf build-pack/build-gpu.txz; fi
OUT=${OUT:-/tmp}
export TILE_LIB="$PWD/lib"                       # the library, wherever the tree landed
export TILE_CACHE_DIR=${TILE_CACHE_DIR:-/tmp/tile-cache}
# flash-linear-attention's source tree (bench/pack_gpu.sh), for bench/peers/fla_import.py
if [ -d "$PACK/peers/fla" ]; then
    export FLA_PATH="$PWD/$PACK/peers"
    export PYTHONPATH="$FLA_PATH${PYTHONPATH:+:$PYTHONPATH}"
fi
failed=0
step() { # step NAME COMMAND...: runs it, logs to $OUT/NAME.log, counts a failure
    local name=$1
    shift
    echo "== $name"
    "$@" 2>&1 | tee "$OUT/$name.log"
    local rc=${PIPESTATUS[0]}
    if [ "$rc" -ne 0 ]; then
        echo "== $name: FAILED (exit $rc)"
        failed=$((failed + 1))
    fi
}

echo "== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
python3 -c 'import torch, triton; print("torch", torch.__version__, "triton", triton.__version__, "cuda", torch.cuda.is_available())' || true
ls -la "$PACK" "$PACK/tests"
python3 bench/peers/fla_import.py || true        # flash-linear-attention's kernels: importable?

if [ "${TESTS:-1}" = 1 ]; then
    step test_gpu bash -c "cd tests && ../$PACK/tests/test_gpu"
    if [ "${MMA_SYNC_TESTS:-0}" = 1 ]; then   # every library test again on mma.sync
        step test_gpu_mma_sync bash -c "cd tests && TILE_WGMMA=0 ../$PACK/tests/test_gpu"
    fi
    step flash_demo "$PACK/flash_demo" lib
    step hello_tile "$PACK/hello_tile"
    step launch_overhead "$PACK/launch_overhead" 20000
fi
if [ "${SANITIZE:-0}" = 1 ]; then
    cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
    for tool in memcheck racecheck synccheck; do
        step "sanitize_$tool" bash -c "cd tests && '$cs' --tool $tool --error-exitcode 9 ../$PACK/tests/test_gpu"
    done
fi
if [ "${ORACLE:-0}" = 1 ] && [ -x "$PACK/tilec" ]; then
    step oracle env PYTHONUNBUFFERED=1 python3 bench/oracle_check.py --tilec "$PACK/tilec"
fi
if [ "${TUNE:-0}" = 1 ]; then
    step tune bench/tune_check.sh "$PACK/tilec"
fi
if [ "${BENCH:-1}" = 1 ]; then
    # BENCH_AB='VAR=value ...': the same benchmark first under those settings
    # (an A/B of one codegen switch in one call, e.g. TILE_WGMMA_DEFER=0).
    if [ -n "${BENCH_AB:-}" ]; then
        # shellcheck disable=SC2086
        step bench_ab env $BENCH_AB PYTHONUNBUFFERED=1 python3 bench/bench_attn.py --lib "$PACK/libtile.so" "$@"
    fi
    step bench env PYTHONUNBUFFERED=1 python3 bench/bench_attn.py --lib "$PACK/libtile.so" "$@"
fi
echo "== gpu_check: $failed step(s) failed"
exit "$failed"
