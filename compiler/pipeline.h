/* pipeline.h - the compiler driver as a library: source -> optimised tile IR
 * (later: -> scheduled IR -> PTX).  tilec, the examples, the tests and the
 * runtime all compile through here, so there is one pass pipeline. */
#ifndef TILE_PIPELINE_H
#define TILE_PIPELINE_H

#include <stdint.h>
#include <stdio.h>

#include "frontend/frontend.h"
#include "ir/interp.h"
#include "ir/ir.h"
#include "ir/passes.h"
#include "ir/target.h"
#include "sched_split.h"

typedef struct tc_options {
    const char *kernel;            /* NULL: every fully bound kernel */
    const char *const *defines;    /* "NAME=VALUE" strings */
    int ndefines;
    const char *const *include_dirs;
    int ninclude;
    int opt_level;                 /* 0 = inline only, 1 = full (default) */
    bool verify_each;              /* verifier after every pass */
    FILE *dump_passes;             /* print IR after each pass, or NULL */
    /* The schedule (compiler/sched_choose.c): `auto` constants are chosen by
     * the scheduler for this target (NULL: sm_90's description; the
     * interpreter path uses the same, so it runs what the GPU would), at
     * the representative shape the integer defines give (docs/scheduling.md).
     * auto_values fixes them instead (the scheduler's own candidates). */
    const ir_target *target;
    const fe_auto_value *auto_values;
    int nauto_values;
    bool sched_exhaustive;         /* cost every candidate exactly (--explain), no pruning */
    int num_warps;                 /* the warps the kernel will run with (tc_gpu_options'),
                                      0: the scheduler's; one of its choices (4, 8) makes
                                      the search cost rows of those warps only */
    /* Set by tc_compile for the scheduler's candidates (their parse trees
     * live in the outer unit): leave NULL. */
    struct fe_parse_cache *parse_cache;
} tc_options;

struct sched_plan;

/* One compilation: owns the arena everything lives in. */
typedef struct tc_unit {
    arena mem;
    diag_ctx diags;
    ir_module *module;
    ir_func *kernel;               /* the requested kernel, when one was named */
    ptr_vec checked;               /* tc_check: "checked k with D=16 (chosen)", one per kernel */
    ptr_vec plans;                 /* struct sched_plan*: one per kernel whose `auto`
                                      constants the scheduler chose */
    const char *path, *text;       /* what tc_compile compiled, with these options */
    tc_options opts;               /*   (the caller's storage): for recompiling */
} tc_unit;

/* The scheduler's plan for kernel `name` of u (candidates, costs, the
 * choice), or NULL when it has no `auto` constant. */
const struct sched_plan *tc_unit_plan(const tc_unit *u, const char *name);
/* The scheduler's choice for u's kernel as text ("BM=64,BN=32, w8 s2"; ""
 * when it chose nothing), e.g. for cache keys: it depends on the target. */
void tc_schedule_text(const tc_unit *u, char *buf, size_t size);
/* One candidate of a plan as text, in the same form. */
struct sched_candidate;
void tc_candidate_text(const struct sched_plan *p, const struct sched_candidate *c, char *buf,
                       size_t size);

/* Compiles `path` (text read from disk unless `text` is given).  On failure
 * the unit still holds the diagnostics; call tc_unit_free in every case. */
tile_status tc_compile(tc_unit **out, const char *path, const char *text, const tc_options *o);
void tc_unit_free(tc_unit *u);

/* `tilec check`: parses and type-checks every kernel of `path` (kernels with
 * unbound constants as far as possible) with o's defines and include dirs,
 * and verifies the IR built; no passes run.  Free the unit in every case. */
tile_status tc_check(tc_unit **out, const char *path, const tc_options *o);

/* ---- GPU: scheduled IR -> PTX (docs/abi.md is the launch contract) ------- */

/* What the arguments of a launch guarantee, per tensor parameter (bit i =
 * parameter i of the kernel).  Code compiled under a fact is only launched
 * with arguments that have it. */
typedef struct tc_arg_facts {
    uint64_t aligned16;            /* base pointer is 16-byte aligned */
    uint64_t unit_stride;          /* stride of the last dimension is 1 */
    uint64_t divisible;            /* bit j: candidate j of tc_div_candidates holds
                                      (the dim's size is a multiple of its divisor) */
} tc_arg_facts;

/* Specialisation on sizes divisible by the block that tiles them
 * (compiler/spec_divisible.c).  The candidates of a kernel's optimised tile
 * IR are the (named dim, power-of-two block constant) pairs whose remainder
 * the kernel computes (`cdiv(N, BN)`, the boundary-peeled last block); the
 * same IR always gives the same list, in the same order, so bit j of
 * tc_arg_facts.divisible names one pair for the runtime and the compiler. */
typedef struct tc_div_candidate {
    const char *dim;               /* a named dim of the kernel's tensors ("N") */
    int64_t divisor;               /* a power of two ("BN" = 64) */
} tc_div_candidate;
#define TC_MAX_DIV_CANDIDATES 64
int tc_div_candidates(const ir_func *kernel, tc_div_candidate *out, int cap);
/* Rewrites u->kernel's tile IR under the facts `divisible` (bits of
 * tc_div_candidates): the remainders they make 0 fold away, and with them
 * the boundary-peeled loops and their bounds masks.  Exact for arguments
 * that have the facts, so the result may only run on such arguments.  No
 * LLVM: tc_compile_gpu calls it before scheduling; the interpreter can run
 * its result. */
tile_status tc_specialise_divisible(tc_unit *u, uint64_t divisible);

typedef struct tc_gpu_options {
    const char *arch;              /* "sm_80", "sm_90" (default "sm_90") */
    int num_warps;                 /* 0: the compiler chooses */
    int num_stages;                /* software pipeline slots (compiler/sched_pipeline.c);
                                      0: the scheduler's choice, else 2; 1: none */
    tc_arg_facts facts;
    const ir_target *target;/* refined description (runtime); overrides arch */
} tc_gpu_options;

typedef struct tc_gpu_assert {
    src_loc loc;
    const char *message;
} tc_gpu_assert;

/* One compiled kernel; every pointer lives in the unit's arena. */
typedef struct tc_gpu_kernel {
    const char *ptx;               /* NUL-terminated PTX text */
    size_t ptx_size;               /* strlen(ptx) */
    const char *entry;             /* the .entry name (the kernel's name) */
    const char *arch;
    int num_warps;                 /* block = 32 * num_warps threads */
    int num_stages;                /* pipeline stages (module attribute) */
    int smem_bytes;                /* dynamic shared memory per block */
    int nasserts;
    const tc_gpu_assert *asserts;  /* status[0] - 1 indexes this */
} tc_gpu_kernel;

/* Schedules u->kernel (tc_compile with o.kernel set must have succeeded) and
 * generates PTX for it.  Diagnostics go to u->diags.  Scheduling rewrites
 * the unit's IR in place: a unit can be compiled again for another arch
 * with the same num_warps, not for another num_warps (compile a fresh
 * unit).  g->num_warps 0 lets the compiler choose (sched_choose_num_warps).
 * Without g->facts.aligned16 and unit_stride for a tensor, the code checks
 * its alignment and strides at run time before any vector access (and has a
 * scalar path), so it is correct for every argument; with both, the check
 * and the scalar path are left out; g->facts.divisible specialises the kernel
 * (tc_specialise_divisible), so its code is correct only for arguments with
 * those facts. */
tile_status tc_compile_gpu(tc_unit *u, const tc_gpu_options *g, tc_gpu_kernel *out);

/* The environment switches that change the generated code (TILE_WGMMA,
 * TILE_CG_GENERIC_DOT, TILE_CG_NO_VECTOR) as "NAME=VALUE;..." in buf: a cache
 * key must hold them, or code built under one setting is loaded under
 * another. */
void tc_codegen_switches(char *buf, size_t size);

/* tc_compile_gpu, but out->ptx holds the optimised LLVM IR (tilec
 * --emit=llvm).  Both live in compiler/pipeline_gpu.c, the one object that
 * pulls LLVM into an executable. */
tile_status tc_compile_gpu_llvm(tc_unit *u, const tc_gpu_options *g, tc_gpu_kernel *out);

/* `tilec opt`'s passes (compiler/opt_passes.c): a comma-separated list of
 * the generic passes (IR_PASS_NAMES) and the scheduling passes
 * TC_SCHED_PASS_NAMES, run in order on m.  The scheduling passes take arch
 * (NULL: the module's, else sm_90), warps (0: the module's, else the
 * compiler's choice) and stages (0: the module's, else 2).  An unknown name
 * is TILE_ERR_ARG. */
typedef struct tc_opt_options {
    ir_opt_options ir;
    const char *arch;
    int num_warps, num_stages;
} tc_opt_options;
#define TC_SCHED_PASS_NAMES "sched_layouts, sched_pipeline"
tile_status tc_run_passes(ir_module *m, const char *list, const tc_opt_options *o);

/* Splits "D=64,mask=causal" (commas inside parentheses are kept) into
 * tc_options.defines storage allocated in `mem`.  Returns the count, -1 on
 * a malformed list. */
int tc_split_defines(arena *mem, const char *list, const char ***out);

#endif
