/* target.c - the known GPU targets (see target.h). */
#include "target.h"

#include <string.h>

static const ir_target targets[] = {
    {
        .arch = "sm_80", .cc = 80, .ptx_features = "+ptx80", .sm_count = 108,
        .warp_size = 32, .max_threads_per_block = 1024,
        .smem_per_block = 163 * 1024, .smem_per_sm = 164 * 1024,
        .regs_per_sm = 65536, .regs_per_thread = 255,
        .has_mma_m16n8k16 = true, .has_ldmatrix = true, .has_cp_async = true,
        /* A100 SXM 80 GB: 2.04 TB/s, 312 TFLOP/s bf16, 1.41 GHz. */
        .max_threads_per_sm = 2048, .max_blocks_per_sm = 32,
        .hbm_bytes_per_s = 2.04e12, .l2_bytes = 40e6, .mma_flops_per_s = 312e12,
        .l2_bytes_per_s = 4.0e12,   /* about twice HBM, as on the H200; not measured here */
        .smem_bytes_per_s = 108 * 128 * 1.41e9,
        .alu_ops_per_s = 108 * 64 * 1.41e9, .sfu_ops_per_s = 108 * 16 * 1.41e9,
    },
    {
        .arch = "sm_90", .cc = 90, .ptx_features = "+ptx80", .sm_count = 132,
        .warp_size = 32, .max_threads_per_block = 1024,
        .smem_per_block = 227 * 1024, .smem_per_sm = 228 * 1024,
        .regs_per_sm = 65536, .regs_per_thread = 255,
        .has_mma_m16n8k16 = true, .has_ldmatrix = true, .has_cp_async = true,
        /* wgmma is an sm_90a feature: a module whose schedule uses it (mma
         * v3; compiler/sched_layout.c, the default, TILE_WGMMA=0 turns it off) is emitted
         * for sm_90a (codegen/cg_kernel.c). */
        .has_wgmma = true,
        .has_tma = false, .has_bf16_arith = true,
        /* H200 SXM: 4.8 TB/s, 1.98 GHz; mma.sync reaches about two thirds of
         * the 989 TFLOP/s dense bf16 that wgmma does. */
        .max_threads_per_sm = 2048, .max_blocks_per_sm = 32,
        .hbm_bytes_per_s = 4.8e12, .l2_bytes = 50e6, .mma_flops_per_s = 660e12,
        .wgmma_flops_per_s = 776e12,
        /* Fitted, not a peak (bench/model_fit.py, session 15): flash_fwd D=64
         * at BM=64 streams 8.6 GB of K and V re-reads through L2 in 1.7 ms. */
        .l2_bytes_per_s = 5.5e12,
        .smem_bytes_per_s = 132 * 128 * 1.98e9,
        .alu_ops_per_s = 132 * 128 * 1.98e9, .sfu_ops_per_s = 132 * 16 * 1.98e9,
    },
};

const ir_target *ir_target_find(const char *arch)
{
    if (!arch) return NULL;
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        if (strcmp(targets[i].arch, arch) == 0) return &targets[i];
    return NULL;
}

const char *ir_target_names(void) { return "sm_80, sm_90"; }
