/* sched_split.c - the split count of split-KV decoding (sched_split.h).
 *
 * Decoding is bound by reading the KV cache.  The batch alone gives
 * programs = batch x key/value heads programs (8 for one sequence of a
 * 32-query/8-KV-head model), far fewer than an H200's 132 SMs, so the keys
 * are split S ways.  A program's time is its pages plus a fixed overhead,
 * and programs run in waves of SMs x SCHED_SPLIT_PROGRAMS_PER_SM, so the
 * kernel takes about waves x (pages per split + overhead): more splits fill
 * the machine and shorten each program, until a new wave (or splits so
 * short that the overhead dominates) costs more than it saves.  The rule
 * evaluates that figure for every S and keeps the cheapest; it is exact
 * arithmetic, so the interpreter and the GPU agree on S for a target. */
#include "sched_split.h"

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

sched_split_choice sched_split_count(int sm_count, int64_t programs, int64_t pages)
{
    if (programs < 1) programs = 1;
    if (pages < 1) pages = 1;
    if (sm_count < 1) sm_count = 1;
    int64_t slots = (int64_t)sm_count * SCHED_SPLIT_PROGRAMS_PER_SM;
    int64_t max_splits = pages < SCHED_SPLIT_MAX ? pages : SCHED_SPLIT_MAX;
    sched_split_choice best = {0};
    for (int64_t s = 1; s <= max_splits; s++) {
        int64_t per = ceil_div(pages, s);
        int64_t splits = ceil_div(pages, per);   /* drop the splits left empty */
        if (splits != s) continue;               /* the same schedule as a smaller s */
        int64_t waves = ceil_div(splits * programs, slots);
        int64_t cost = waves * (per + SCHED_SPLIT_OVERHEAD_PAGES);
        if (best.splits == 0 || cost < best.cost)
            best = (sched_split_choice){splits, per, waves, cost};
    }
    return best;
}
