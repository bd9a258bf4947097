/* sched_split.h - the split count of split-KV decoding, chosen from the
 * shape and the target's SM count (docs/scheduling.md, "Split-KV decoding").
 *
 * decode_gqa (lib/attention/decode.tile) runs S x `programs` programs, each
 * over a contiguous run of cdiv(pages, S) key pages of one (sequence, key/
 * value head); S is a launch-time shape (the partials' dimension), so the
 * host asks for it (tile_split_count, runtime/tile.h) before allocating. */
#ifndef TILE_SCHED_SPLIT_H
#define TILE_SCHED_SPLIT_H

#include <stdint.h>
#include <stdio.h>

/* Programs resident per SM that the rule plans for.  decode_gqa (D = 128,
 * steps of 64 keys, 2 stages of K and V: 64 KB) fits two blocks per SM, and
 * one block does not stream at full rate: on the H200 (bench/decode_sweep.py,
 * RESULTS.md session 5) batch 8 read 59% of copy bandwidth at S = 2 (one
 * program per SM) and 84% at S = 4 (two), batch 1 51% at S = 16 and 63% at
 * S = 32; more splits than two a SM gained nothing. */
#define SCHED_SPLIT_PROGRAMS_PER_SM 2
/* A program's fixed cost in pages' worth of time: its start, the query
 * load, the partial's store and the combine's read of it. */
#define SCHED_SPLIT_OVERHEAD_PAGES 4
/* Upper bound on the split count (the combine's partials stay small). */
#define SCHED_SPLIT_MAX 1024

typedef struct sched_split_choice {
    int64_t splits;            /* S: no split is empty (S = cdiv(pages, per)) */
    int64_t pages_per_split;   /* per = cdiv(pages, S) */
    int64_t waves;             /* cdiv(S x programs, SMs x programs per SM) */
    int64_t cost;              /* waves x (per + overhead): the figure minimised */
} sched_split_choice;

/* The split count for `programs` programs per split (batch x key/value
 * heads) over `pages` key pages (of the longest sequence) on `sm_count`
 * SMs: the S in 1 .. min(pages, SCHED_SPLIT_MAX) with the lowest cost,
 * ties to the fewer splits.  programs, pages < 1 count as 1; sm_count < 1
 * as 1. */
sched_split_choice sched_split_count(int sm_count, int64_t programs, int64_t pages);

/* `tilec splits`: the rule's candidates (every S whose pages per split
 * differ, up to a few past the chosen one's waves) as a table, then the
 * chosen S, on out. */
void sched_split_explain(FILE *out, const char *arch, int sm_count, int64_t programs,
                         int64_t pages);

#endif
