/* sched_choose.h - the SRAM-capacity scheduler: chooses a kernel's `auto`
 * constants, warps per block and pipeline stages from the cost model
 * (sched_model.h), and explains the choice (tilec --explain). */
#ifndef TILE_SCHED_CHOOSE_H
#define TILE_SCHED_CHOOSE_H

#include <stdio.h>

#include "pipeline.h"
#include "sched_model.h"

#define SCHED_MAX_AUTOS 4

typedef struct sched_candidate {
    int64_t values[SCHED_MAX_AUTOS];   /* one per plan->names */
    int num_warps, num_stages;
    sched_cost cost;                   /* valid when compiled */
    bool compiled;                     /* false: reject says why it did not compile */
    bool exact;                        /* costed with codegen's shared memory */
    bool pruned;                       /* not costed exactly: its bound passed the best */
    double bound;                      /* lower bound of its time (sched_time_bound) */
    bool fallback_tried;
    bool over_regs;                    /* chosen although over the register model */
    const char *reject;                /* NULL: feasible */
} sched_candidate;

typedef struct sched_plan {
    const char *kernel;
    const ir_target *target;
    sched_shape shape;
    int nautos;
    const char *names[SCHED_MAX_AUTOS];
    src_loc locs[SCHED_MAX_AUTOS];
    int ncand;
    sched_candidate *cand;
    int best;                          /* index into cand, -1: none fits */
    int model_best;                    /* explicit constants: the model's lowest row (best:
                                          the one compiled, sched_cost_fixed), else -1 */
    double seconds;                    /* the scheduler's own run time */
} sched_plan;

/* The representative shape from "NAME=INT" defines (docs/scheduling.md). */
void sched_shape_from_defines(sched_shape *s, const char *const *defines, int n);

/* Chooses the `auto` constants autos[0..nautos) of kernel `kernel` (from
 * path/text compiled with o's defines) for target t: every candidate is
 * compiled, scheduled and costed (only rows of o->num_warps when those are
 * a warps choice).  Strings and arrays in mem.  When no
 * candidate fits, reports the error at the first `auto` through d and
 * returns TILE_ERR_SEMA (out still holds the table). */
tile_status sched_choose(const char *path, const char *text, const tc_options *o,
                         const char *kernel, const fe_auto_const *const *autos, int nautos,
                         const ir_target *t, arena *mem, diag_ctx *d, sched_plan *out);

/* Costs one fixed schedule (explicit constants): u->kernel compiled with
 * every constant bound, scheduled here for num_warps (0: every choice) and
 * num_stages (0: every choice) into a one-row-per-choice plan; `path`,
 * `text` and o recompile it.  out->model_best is the model's lowest row,
 * out->best the same, or -1 when the kernel has no dot in a loop (the
 * register model's ground). */
tile_status sched_cost_fixed(const char *path, const char *text, const tc_options *o,
                             const char *kernel, const ir_target *t, int num_warps,
                             int num_stages, arena *mem, sched_plan *out);

/* Marks the row of num_warps and num_stages as p's best (when it fits). */
void sched_mark_fixed(sched_plan *p, int num_warps, int num_stages);

/* The row explicit constants compile with (compiler/pipeline_gpu.c): the
 * default one (num_warps from sched_choose_num_warps, num_stages 2, or
 * what the user set) unless p's best beats it by more than the model's
 * tie margin (3%).  A tie is no evidence: block_sparse_fwd and decode_gqa
 * tie at 4 and 8 warps in the model and measured 4 warps 2-5% slower
 * (bench/RESULTS.md, session 12). */
void sched_fixed_prefer(sched_plan *p, int num_warps, int num_stages);

/* Explicit constants (no `auto` left): u->kernel, scheduled for num_warps
 * with codegen's cg_smem bytes, must fit t with one stage; then
 * *num_stages (0: choose) becomes the most stages up to 3 that fit.  When
 * it does not fit: an error at the explicit tile constant (its -D or its
 * default), by how much, and the nearest smaller choice that fits. */
tile_status sched_check_fixed(tc_unit *u, const ir_target *t, int num_warps, int cg_smem,
                              int *num_stages);

/* tilec --explain: the candidate table, then the HBM passes per tensor of
 * the chosen candidate (text), or the same as one JSON object. */
void sched_explain_text(FILE *out, const sched_plan *p);
void sched_explain_json(FILE *out, const sched_plan *p);

/* Where the block-skipping analysis plugs into --explain (issue 7 item 5):
 * one line per derived key range of the chosen candidate.  Returns the
 * number of lines written; NULL hook: nothing. */
typedef int (*sched_explain_hook)(FILE *out, const sched_plan *p, bool json);
extern sched_explain_hook sched_explain_ranges;

#endif
