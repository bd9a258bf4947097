/* target.h - GPU target descriptions as data: what compiler/ plans with and
 * codegen/ emits for.  Facts are the documented per-architecture limits
 * (CUDA C Programming Guide, "Compute Capabilities"); the runtime refines
 * sm_count and the shared-memory limits from the device when one is there. */
#ifndef TILE_TARGET_H
#define TILE_TARGET_H

#include <stdbool.h>

typedef struct ir_target {
    const char *arch;          /* "sm_80", "sm_90" */
    int cc;                    /* compute capability x10: 80, 90 */
    const char *ptx_features;  /* LLVM feature string: "+ptx80" */
    int sm_count;              /* A100: 108, H100/H200 SXM: 132 */
    int warp_size;
    int max_threads_per_block;
    int smem_per_block;        /* bytes, with the opt-in above 48 KiB */
    int smem_per_sm;
    int regs_per_sm;           /* 32-bit registers */
    int regs_per_thread;
    bool has_mma_m16n8k16;     /* mma.sync bf16/f16 -> f32 */
    bool has_ldmatrix;
    bool has_cp_async;
    bool has_wgmma;            /* wgmma.mma_async (emitted as sm_90a) */
    bool has_tma;
    bool has_bf16_arith;       /* add/mul/fma on bf16 registers (sm_90) */
    /* Throughputs the scheduler's cost model divides by (compiler/sched_model.c;
     * the runtime refines them from the device).  Peaks, not measured rates. */
    int max_threads_per_sm;
    int max_blocks_per_sm;
    double hbm_bytes_per_s;    /* DRAM bandwidth */
    double l2_bytes;           /* L2 capacity: A100 40 MB, H100/H200 50 MB */
    double l2_bytes_per_s;     /* L2 bandwidth: every load and store passes it */
    double mma_flops_per_s;    /* dense bf16/f16 mma.sync, f32 accumulation */
    double wgmma_flops_per_s;  /* the same on wgmma (0: no wgmma) */
    double smem_bytes_per_s;   /* all SMs: 128 bytes per clock per SM */
    double alu_ops_per_s;      /* elementwise FP32 lanes, all SMs (FMA pipe) */
    double sfu_ops_per_s;      /* ex2, lg2, rcp, rsqrt...: 16 per clock per SM (MUFU) */
} ir_target;

/* The description of `arch`, or NULL when unknown. */
const ir_target *ir_target_find(const char *arch);
/* "sm_80, sm_90": for messages. */
const char *ir_target_names(void);

#endif
