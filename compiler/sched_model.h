/* sched_model.h - the SRAM-capacity scheduler's cost model: what one
 * scheduled kernel costs on a target at a representative shape.
 *
 * Two halves.  sched_analyze reads the scheduled IR alone: HBM bytes per
 * tensor, tensor-core FLOPs and shared-memory operand traffic of every
 * `dot`, loop trip counts evaluated over the program grid at the shape, the
 * bytes a pipeliner stages per stage, and the registers of the tiles live
 * at the peak.  sched_evaluate adds the target and the resources codegen
 * reports (its shared-memory plan): feasibility, occupancy, waves and the
 * predicted time.  docs/scheduling.md gives the formulas. */
#ifndef TILE_SCHED_MODEL_H
#define TILE_SCHED_MODEL_H

#include <stdint.h>

#include "ir/ir.h"
#include "ir/target.h"

/* The representative shape: a value for each dynamic dimension name; a
 * name missing here takes SCHED_DEFAULT_DIM.  The runtime plans before it
 * knows the lengths, so the default stands for the long sequences where
 * the time goes: at 4096 the model picks the tuned best of flash_fwd at
 * every benchmarked length (1k-16k), where at 1024 it overweighted the
 * masked diagonal of short causal rows (flash_fwd_causal D=128 took
 * BN=64, measured 7-15% slower at every length: docs/scheduling.md). */
#define SCHED_MAX_DIMS 16
#define SCHED_DEFAULT_DIM 4096
typedef struct sched_shape {
    int n;
    const char *names[SCHED_MAX_DIMS];
    int64_t values[SCHED_MAX_DIMS];
} sched_shape;

int64_t sched_shape_dim(const sched_shape *s, const char *name);

/* HBM traffic of one tensor parameter over the whole launch. */
typedef struct sched_tensor {
    const char *name;
    double size_bytes;     /* the tensor at the shape */
    double read_bytes, written_bytes;
    bool reads_pid0;       /* a load's indices may read program_id(0) (sched_model.c: l2_hits) */
} sched_tensor;

typedef struct sched_cost {
    /* sched_analyze: the IR at the shape */
    int64_t grid[3];
    int64_t programs;
    double hbm_bytes;      /* every load, store and atomic, whole tiles */
    double flops;          /* 2*m*n*k per dot execution */
    double flops_wgmma;    /*   of them, dots that go to wgmma where it is on */
    double wgmma_issue_flops; /* the same at the rate they run: an instruction
                              narrower than 64 columns takes a 64-column slot */
    double smem_traffic;   /* dot operands read from shared memory, mma.sync:
                              A once, B once per warp */
    double smem_traffic_wgmma; /* the same where the dots go to wgmma: B once per
                              64 rows of the accumulator (sched_wgmma_fits) */
    double alu_ops;        /* elementwise and reduction work on tile elements */
    double sfu_ops;        /*   of it, transcendental (exp, log, rcp...: MUFU) */
    double iter_load_bytes;/* loaded per iteration of the innermost loop (per program) */
    double inner_iters;    /* iterations of innermost loops, all programs together */
    int staged_bytes;      /* per stage: loads in a for body that feed a dot */
    int staged_loads;      /*   how many loads those are */
    int unstaged_tile_bytes;/* per iteration: loads in a for body of a tile (rank >= 1)
                              that feeds no dot: held in registers */
    int live_regs;         /* 32-bit registers of the tiles live at the peak */
    int sched_live_regs;   /* the same on the pipelined scheduled IR, by layout (0: not yet) */
    int sched_frag_regs;   /* one k step's operand fragments of a loop's dots (scheduled IR) */
    int loop_dots;         /* most dots in one loop body */
    int sched_wgmma_dots;  /*   of those, on wgmma (scheduled IR: an mma v3 result) */
    bool unpipelined;      /* a 16-bit load in a loop feeds a dot through registers
                              (scheduled IR: sched_unpipelined) */
    bool staged_reads;     /* a staged tile of a loop is also read into registers
                              (scheduled IR: sched_staged_reads) */
    bool trips_exact;      /* false: a loop bound could not be evaluated (taken as 1) */
    bool trips_bounded;    /* a loop bound read data: taken at its asserted maximum */
    int ntensors;
    sched_tensor *tensors; /* kernel parameters that are tensors, in order */
    /* sched_evaluate: the target */
    int num_warps, num_stages;
    int cg_smem_bytes;     /* codegen's allocation */
    int smem_bytes;        /* + num_stages * staged_bytes when num_stages > 1 */
    int regs;              /* predicted registers per thread */
    int blocks_per_sm;
    const char *occupancy_limit;   /* "smem", "registers", "threads", "blocks" */
    double waves, wave_eff, mem_eff, compute_eff;
    double l2_hit_bytes;   /* re-reads the model takes from L2, not HBM (sched_model.c: l2_hits) */
    double round_trip_s;   /* an innermost iteration's loads: latency + transfer */
    double exposed_s;      /* load latency an innermost iteration waits for, per block */
    double dot_wait_s;     /* an innermost iteration's waits for its dots' results */
    double latency_eff;    /* share of the SM's time not lost to both (1: hidden) */
    double t_mem, t_compute, t_smem, time_s;
    double t_tensor, t_alu;/* t_compute's parts: dots at the mma rate, elementwise */
    double t_l2;           /* every byte (hbm_bytes, re-reads too) through L2 */
    const char *bound;     /* "memory", "l2", "compute", "smem", "latency" */
    const char *reject;    /* why infeasible (arena), NULL when it fits */
    bool regs_only;        /* rejected for registers alone (the search's fallback) */
} sched_cost;

/* Fills the IR half of c for kernel k (tile or scheduled IR: nothing here
 * reads layouts) run by num_warps warps at shape s.  Strings and arrays in
 * mem. */
tile_status sched_analyze(const ir_func *k, int num_warps, const sched_shape *s, arena *mem,
                          sched_cost *c);

/* Peak 32-bit registers per thread of the tiles live at once in k: by
 * layout in scheduled IR (pipelined operands in shared memory count
 * nothing), spread evenly over 32 * num_warps threads in tile IR. */
int sched_live_regs(const ir_func *k, int num_warps, arena *mem);

/* A lower bound of c's predicted time with any resources (every
 * efficiency 1; for one stage, at most max_bps blocks per SM when max_bps >
 * 0, else what the threads allow): what the search prunes with. */
double sched_time_bound(const ir_target *t, const sched_cost *c, int max_bps);

/* The register model: ptxas' registers per thread for c's live tiles and
 * loop facts (fitted by bench/reg_fit.py; docs/scheduling.md). */
int sched_predict_regs(const sched_cost *c);

/* The most dots one loop body of k runs (tile or scheduled IR). */
int sched_loop_dots(const ir_func *k);
/* The dots of the loop body sched_loop_dots counts that run on wgmma (mma
 * v3 result layout; scheduled IR). */
int sched_wgmma_loop_dots(const ir_func *k);

/* Scheduled IR: the registers per thread one k step of the dots of a
 * loop body takes for the operands they read from shared memory (the
 * most of any loop body). */
int sched_fragment_regs(const ir_func *k);
/* Does a loop read one of its staged tiles into registers (a convert_layout
 * of a buffer: a tile the loop scales or masks before its dots)? */
bool sched_staged_reads(const ir_func *k);

/* Scheduled IR: does a 16-bit load in a loop still feed a dot through
 * registers (an operand the pipeliner did not take)? */
bool sched_unpipelined(const ir_func *k);

/* Fills the target half of c: resources for num_warps / num_stages with
 * codegen's cg_smem bytes, feasibility (c->reject) and the time. */
void sched_evaluate(const ir_target *t, int num_warps, int num_stages, int cg_smem, arena *mem,
                    sched_cost *c);

#endif
