#!/bin/sh
# ptxas over the PTX of every library kernel (the D values and dtypes of the
# library tests) for sm_80 and sm_90: each must assemble; at their default
# constants the library kernels must also have no spills and no local-memory
# stack frame.  A kernel that cannot meet that yet is listed in
# EXPECT_SPILLS below with the reason, and is reported as XFAIL (and as a
# failure if it stops spilling, so the list stays true).
# Exit 77 (CTest skip) where ptxas is not installed: never a silent pass.
tilec=${1:?usage: run_ptxas.sh path/to/tilec}
ptxas=${TILE_PTXAS:-/usr/local/cuda/bin/ptxas}
if [ ! -x "$ptxas" ]; then
    echo "SKIP: no ptxas at $ptxas (set TILE_PTXAS)"
    exit 77
fi
lib=${TILE_LIB:-../lib}

# Default-constant kernels expected to spill today, one per line:
#   "KERNEL|DEFINES|ARCH|reason"
EXPECT_SPILLS="
flash_bwd_dkdv_causal|D=128|sm_90|12 bytes in the general variant (any strides): LSE and Delta, read across the columns of the transposed scores, take one address per column from a run-time stride; the variant contiguous tensors launch (--aligned, unit last stride) has no spill
flash_bwd_dkdv|D=64|sm_90|36 bytes in the general variant at the model's BM=64 BN=64 (session 15; the measured best of tilec tune, aligned): LSE and Delta take one address per column from a run-time stride, as in the causal D=128 kernel above; the variant contiguous tensors launch (--aligned) takes 239 registers and no spill
based_fwd|E=64|sm_90|carries s2 = f32[F*F, E] = [256, 64] (64 registers a thread at 8 warps) plus s1, z2 and the chunk's [B, F*F] feature tile through a generic reshape; needs the state in shared memory
"

pass=0 fail=0 xfail=0
# Kernels whose wgmma groups ptxas serialises today, "KERNEL|DEFINES|ARCH|why".
EXPECT_SERIAL="
"
out=/tmp/run_ptxas.$$
# check FILE KERNEL DEFINES STRICT(1 = default constants: no spills, no stack)
check() {
    file=$1 kernel=$2 defines=$3 strict=$4
    for arch in sm_80 sm_90; do
        set -- "$tilec" "$file" -k "$kernel" --ptxas --arch "$arch"
        old_ifs=$IFS; IFS=,
        for d in $defines; do set -- "$@" -D "$d"; done
        IFS=$old_ifs
        if ! "$@" >"$out" 2>&1; then
            fail=$((fail + 1)); echo "FAIL $kernel [$defines] $arch: ptxas rejected it"; cat "$out"
            continue
        fi
        summary=$(grep '^tilec: ' "$out")
        # ptxas serialising wgmma (C7509-C7520: a register of a product in
        # flight touched, a wait it had to inject) undoes the deferred waits
        # of codegen/cg_wgmma.c: a failure unless listed in EXPECT_SERIAL.
        serial=$(grep -o 'C75[0-9][0-9]' "$out" | sort -u | tr '\n' ' ')
        known_serial=$(printf '%s\n' "$EXPECT_SERIAL" | grep "^$kernel|$defines|$arch|" || true)
        if [ -n "$serial" ] && [ -z "$known_serial" ]; then
            fail=$((fail + 1)); echo "FAIL $kernel [$defines] $arch: ptxas serialises wgmma ($serial)"
            grep 'C75[0-9][0-9]' "$out"
            continue
        fi
        spills=$(echo "$summary" | sed -n 's/.*stack \([0-9-]*\) bytes, spill stores \([0-9-]*\) bytes, spill loads \([0-9-]*\).*/\1 \2 \3/p')
        expected=$(printf '%s\n' "$EXPECT_SPILLS" | grep "^$kernel|$defines|$arch|" || true)
        if [ "$strict" = 1 ] && [ "$spills" != "0 0 0" ]; then
            if [ -n "$expected" ]; then
                xfail=$((xfail + 1)); echo "XFAIL $kernel [$defines] $arch: stack/spills $spills (${expected##*|})"
            else
                fail=$((fail + 1)); echo "FAIL $kernel [$defines] $arch: stack/spill stores/loads $spills"; echo "$summary"
            fi
        elif [ "$strict" = 1 ] && [ -n "$expected" ]; then
            fail=$((fail + 1)); echo "FAIL $kernel [$defines] $arch: listed in EXPECT_SPILLS but no longer spills"
        else
            pass=$((pass + 1)); echo "ok   $summary"
        fi
    done
}

A=$lib/attention
check "$A/flash_fwd.tile" flash_fwd "D=64" 1
check "$A/flash_fwd.tile" flash_fwd "D=128" 1
check "$A/flash_fwd.tile" flash_fwd "T=f32,D=64" 1
check "$A/flash_fwd.tile" flash_fwd "T=f16,D=128" 1
check "$A/flash_fwd.tile" flash_fwd_causal "D=64" 1
check "$A/flash_fwd.tile" flash_fwd_causal "D=128" 1
check "$A/flash_fwd.tile" flash_fwd_streaming "D=64" 1
check "$A/flash_fwd.tile" flash_fwd_document "D=64" 1
check "$A/flash_fwd.tile" flash_fwd "T=f32,D=111,BM=16,BN=16" 0
check "$A/flash_fwd.tile" flash_fwd "T=bf16,D=256,BM=16,BN=16" 0
check "$A/flash_bwd.tile" flash_bwd_preprocess "D=64" 1
check "$A/flash_bwd.tile" flash_bwd_dkdv "D=64" 1
check "$A/flash_bwd.tile" flash_bwd_dq "D=64" 1
check "$A/flash_bwd.tile" flash_bwd_dkdv_causal "D=128" 1
check "$A/flash_bwd.tile" flash_bwd_dq_causal "D=128" 1
check "$A/decode.tile" decode_split "D=64,PS=16,S=4" 1
check "$A/decode.tile" decode_split "D=128,PS=16,S=2" 1
check "$A/decode.tile" decode_combine "D=64,S=4" 1
check "$A/decode.tile" decode_gqa "D=128,G=4,PS=16" 1
check "$A/decode.tile" decode_gqa "D=128,G=1,PS=16" 1
check "$A/decode.tile" decode_gqa "D=64,G=32,PS=16" 1
check "$A/decode.tile" decode_merge "D=128" 1
check "$A/block_sparse.tile" block_sparse_fwd "D=64,BM=32,BN=32" 1
check "$A/block_sparse.tile" block_sparse_fwd_causal "D=128,BM=16,BN=16" 1
check "$A/block_sparse.tile" block_sparse_fwd_causal "D=128,BM=128,BN=128,BK=64" 1
check "$A/lightning2.tile" lightning2 "D=64,E=64" 1
# The chunk-parallel chain.  lightning2_chunk_out sits at 255 registers
# with the scheduler's choices and its spills move with small changes of
# the code (measured: none on sm_90, 4 bytes at D = E = 64 and 16 at
# D = E = 128 on sm_80), so its lines report them without failing.
check "$A/lightning2.tile" lightning2_chunk_state "D=128,E=128" 1
check "$A/lightning2.tile" lightning2_state_scan "D=128,E=128" 1
check "$A/lightning2.tile" lightning2_chunk_out "D=64,E=64" 0
check "$A/lightning2.tile" lightning2_chunk_out "D=128,E=128" 0
check "$A/masks.tile" check_kv_range "mask=causal,kv_range=causal_range,M=64,N=64,BM=16,BN=16" 0
# Score modifiers (scores.tile) through the named specialisations: they must
# assemble (flash_bwd_dkdv_softcap spills ~100 bytes at D=64 today: the
# softcap derivative keeps e and 2cap/(e+1) of the block live beside P, dP
# and the dK/dV accumulators).
for k in alibi softcap rel_bias act; do
    check "$A/flash_fwd.tile" "flash_fwd_$k" "D=64" 0
    check "$A/flash_bwd.tile" "flash_bwd_dkdv_$k" "D=64" 0
    check "$A/flash_bwd.tile" "flash_bwd_dq_$k" "D=64" 0
done
# T5's bucketed bias, and the tables' gradients (accumulate_grad: atomic
# adds into d(table) from flash_bwd_dq).
for k in t5 t5_causal; do
    check "$A/flash_fwd.tile" "flash_fwd_$k" "D=64" 0
    check "$A/flash_bwd.tile" "flash_bwd_dkdv_$k" "D=64" 0
    check "$A/flash_bwd.tile" "flash_bwd_dq_$k" "D=64" 0
done
check "$A/flash_bwd.tile" flash_bwd_dq_rel_bias_grad "D=64" 0
check "$A/flash_bwd.tile" flash_bwd_dq_alibi_grad "D=64" 0
check "$A/flash_bwd.tile" flash_bwd_dq_t5 "T=f16,D=128" 0
# The programs added with issue 5 (associative_scan, slices, new math).
check "$A/aaren.tile" aaren_fwd "D=64,E=64" 1
check "$A/aaren.tile" aaren_fwd "T=f32,D=32,E=48" 0
check "$A/based.tile" based_fwd "E=64" 1
check "$A/based.tile" based_window "D=64" 1
check "$A/based.tile" based_chunk_state "E=64" 1
check "$A/based.tile" based_state_scan "E=64" 1
check "$A/based.tile" based_chunk_out "E=64" 1
check "$A/s2.tile" s2_fwd "D=64,S=4,L=16" 1
check "$A/duo.tile" duo_prefill "D=64,W=64,S=4" 1
check "$A/duo.tile" duo_decode_split "D=128,PS=16,NS=4,W=64,S=4" 1
check "$A/moh.tile" moh_fwd "D=64" 1
check "$A/moh.tile" moh_fwd_causal "D=64" 1
check "$A/sqa.tile" sqa_fwd "D=64" 1
check "$A/sqa.tile" sqa_fwd_causal "D=64" 1
check ../examples/scale_rows.tile scale_rows "" 1
check golden/ptx_ops.tile ops "" 0
check golden/ptx_newops.tile newops "" 1
# Issue 9: sort/topk and the dynamic sparse attention programs.
check golden/ptx_sort.tile sortops "" 1
check golden/ptx_sort.tile sortbig "" 0
check "$A/flexprefill.tile" flex_pool_k "D=64,BN=64" 1
check "$A/flexprefill.tile" flex_pool_q "D=128,BM=128" 1
check "$A/flexprefill.tile" flex_estimate "D=128,BM=128,BN=128" 1
check "$A/flexprefill.tile" flex_last_lse "D=128,BM=128,BN=128" 1
check "$A/flexprefill.tile" flex_last_mass "D=128,BM=128,BN=128" 1
check "$A/flexprefill.tile" flex_last_mass "T=f32,D=64,BM=32,BN=16,is_causal=false" 0
check "$A/flexprefill.tile" flex_select "BM=64,BN=64,NBMAX=2048" 1
check "$A/flexprefill.tile" flex_select "BM=128,BN=128,NBMAX=37,by_mass=false,is_causal=false" 0
check "$A/flexprefill.tile" flex_kept_mass "" 1
check "$A/token_select.tile" ts_lse_split "D=128,PS=16,S=4" 1
check "$A/token_select.tile" ts_score "D=128,PS=16,S=4" 1
check "$A/token_select.tile" ts_select_chunk "K=256,C=2048" 1
check "$A/token_select.tile" ts_select "K=256,NCMAX=16" 1
check "$A/token_select.tile" ts_decode_split "D=128,PS=16,S2=8" 1
check "$A/token_select.tile" ts_decode_split "T=f32,D=64,PS=16,S2=3,BT=8" 0
check "$A/token_select.tile" ts_logits "D=128,G=4,PS=16" 1
check "$A/token_select.tile" ts_score_logits "G=4" 1
check "$A/token_select.tile" ts_score_logits "G=32" 1
check "$A/token_select.tile" ts_decode_gqa "D=128,G=4,PS=16" 1
check "$A/token_select.tile" ts_decode_gqa "T=f32,D=64,G=2,PS=16,BT=8" 0
check "$A/token_select.tile" quest_summaries "D=128,PS=16" 1
check "$A/token_select.tile" quest_append "D=128,PS=16" 1
check "$A/token_select.tile" quest_score "D=128,G=4,PS=16" 1
check "$A/token_select.tile" quest_score "T=f32,D=64,G=2,PS=16,BP=4" 0
check "$A/token_select.tile" quest_select "PS=16,KP=128,PMAX=8192" 1
check "$A/hyper.tile" hyper_planes "NP=8,D=128" 1
check "$A/hyper.tile" hyper_hash "D=128,NP=8" 1
check "$A/hyper.tile" route_code "D=128,C=16,BL=16" 1
check "$A/hyper.tile" bucket_sort "NCODE=256" 1
check "$A/hyper.tile" bucket_count "NCODE=256" 1
check "$A/hyper.tile" bucket_offsets "NCODE=256" 1
check "$A/hyper.tile" bucket_place "NCODE=64" 1
check "$A/hyper.tile" hyper_sample "MS=256" 1
check "$A/hyper.tile" hyper_attn "D=128,BB=64,MS=64" 1
check "$A/hyper.tile" routing_attn "D=128,BM=32,BN=32" 1
check "$A/hyper.tile" routing_attn "T=f32,D=32,BM=16,BN=8,is_causal=true" 0
# Hopper's wgmma (TILE_WGMMA=1: mma v3 layouts, PTX for sm_90a, which
# tilec --ptxas assembles with -arch=sm_90a): the PTX must hold
# wgmma.mma_async and no ldmatrix (operands by descriptor or registers),
# and assemble.  check_wgmma FILE KERNEL DEFINES WARPS
check_wgmma() {
    file=$1 kernel=$2 defines=$3 warps=$4
    set -- "$tilec" "$file" -k "$kernel" --arch sm_90 --warps "$warps"
    old_ifs=$IFS; IFS=,
    for d in $defines; do set -- "$@" -D "$d"; done
    IFS=$old_ifs
    if ! env TILE_WGMMA=1 "$@" --emit=ptx >"$out" 2>&1 || ! grep -q '^\.target sm_90a' "$out" ||
       ! grep -q 'wgmma\.mma_async' "$out" || grep -q 'ldmatrix' "$out"; then
        fail=$((fail + 1)); echo "FAIL wgmma $kernel [$defines] warps $warps: no sm_90a wgmma PTX without ldmatrix"
        grep -m 5 'error\|target\|ldmatrix' "$out"
        return
    fi
    if ! env TILE_WGMMA=1 "$@" --ptxas >"$out" 2>&1; then
        fail=$((fail + 1)); echo "FAIL wgmma $kernel [$defines]: ptxas -arch=sm_90a rejected it"; cat "$out"
        return
    fi
    pass=$((pass + 1)); echo "ok   wgmma $(grep '^tilec: ' "$out")"
}
# The model's tiles are planned for its own warps (BM=64 at D=64 causal:
# one warpgroup), so two warpgroups along M ask for BM=128 themselves.
for D in 64 128; do
    for k in flash_fwd flash_fwd_causal; do
        check_wgmma "$A/flash_fwd.tile" "$k" "D=$D" 4
        check_wgmma "$A/flash_fwd.tile" "$k" "D=$D,BM=128,BN=64" 8
        check_wgmma "$A/flash_fwd.tile" "$k" "D=$D,BM=64,BN=64" 4
    done
done
check_wgmma "$A/flash_fwd.tile" flash_fwd "T=f16,D=128,BM=128,BN=64" 8
check_wgmma golden/ptx_wgmma_dot.tile wg_dot "K=64" 4
check_wgmma golden/ptx_wgmma_dot.tile wg_dot "K=128,BN=128" 4
check_wgmma golden/ptx_wgmma_dot.tile wg_dot "T=f16,BM=128,K=64" 8
check_wgmma golden/ptx_wgmma_dot.tile wg_dot "BM=128,BN=256,K=128" 8
check_wgmma golden/ptx_wgmma_dot.tile wg_dot "BN=16,K=64" 4
check_wgmma golden/ptx_wgmma_dot.tile wg_dot "BN=64,K=32" 4
# Every test kernel (print, asserts, loops, atomics, masks, bool and i64 data).
for k in ir_assert:k ir_capture:k:N=8 ir_defines:k:D=16 ir_if:k ir_import:k ir_loop:k \
         ir_partial:local ir_reduce:k ir_view_mask:k ir_weak:k ok_compose:k ok_misc:k \
         ok_fn_tensor:k ok_import:k ptx_flash_fwd:fwd64 ir_scan:k ops_ir_index:k \
         ops_ir_math:k; do
    f=${k%%:*} rest=${k#*:}
    kn=${rest%%:*} d=${rest#"$kn"}
    check "golden/$f.tile" "$kn" "${d#:}" 0
done
rm -f "$out"
echo "run_ptxas: $pass ok, $xfail expected failures, $fail failed"
[ "$fail" -eq 0 ]
