/* sched_mask.h - what the block plan derived from a mask visits and skips,
 * for one shape (the figures behind `tilec --explain-blocks`, for the
 * scheduler's --explain to show and its cost model to use).
 *
 * The plan is the library's (lib/attention/masks.tile: mask_kv_bounds, then
 * kv_segments): per block of BM query rows, the key blocks of BN keys that
 * are full (no mask arithmetic), partial (masked) or skipped.  It is
 * computed by running that code on the interpreter, head (0, 0), so the
 * figures are exactly what the kernels do; the mask itself is also evaluated
 * block by block to count the blocks that really hold a visible pair. */
#ifndef TILE_SCHED_MASK_H
#define TILE_SCHED_MASK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "support/tile_status.h"

typedef struct sched_mask_plan {
    char mask[160];            /* the mask, as -D writes it */
    int64_t M, N;              /* query rows, keys */
    int BM, BN;
    int slots;                 /* mask_slots: 1 or 2 */
    int64_t qblocks, kblocks;  /* cdiv(M, BM), cdiv(N, BN) */
    int64_t full, partial;     /* (query block, key block) pairs visited, by kind */
    int64_t visible;           /* pairs holding a visible (i < M, j < N) pair */
    int64_t all_visible;       /* pairs entirely visible (inside N) */
    bool data;                 /* the mask reads data: nothing below was computed */
    char note[240];            /* why not, or "" */
} sched_mask_plan;

/* Computes the plan of `mask` (an fn value as in -D: "causal",
 * "sliding_window(W: 64, S: 4)") with the definitions of the .tile file
 * `path` (which may define the mask; the library's masks are always there)
 * for M query rows and N keys in BM x BN blocks.  A mask that cannot be
 * evaluated without data (it captures a tensor) gives TILE_OK with
 * out->data set and out->note saying so.  Errors: TILE_ERR_ARG for bad
 * sizes, or the compile's status, with its diagnostics printed to err. */
tile_status sched_mask_plan_compute(const char *path, const char *mask, int64_t M, int64_t N,
                                    int BM, int BN, sched_mask_plan *out, FILE *err);

/* Prints the plan: the counts, the fraction of blocks skipped and the
 * fraction needing mask arithmetic, and whether the derived bounds are exact
 * (visit only blocks with a visible pair; call every entirely visible block
 * full). */
void sched_mask_plan_describe(FILE *out, const sched_mask_plan *p);

/* The same as one JSON object (tilec --explain=json's "key_ranges"). */
void sched_mask_plan_json(FILE *out, const sched_mask_plan *p);

#endif
