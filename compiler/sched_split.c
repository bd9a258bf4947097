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

/* The candidate of s splits, or splits 0 when s leaves a split empty (the
 * same schedule as a smaller s). */
static sched_split_choice candidate(int64_t s, int64_t slots, int64_t programs, int64_t pages)
{
    int64_t per = ceil_div(pages, s);
    if (ceil_div(pages, per) != s) return (sched_split_choice){0};
    int64_t waves = ceil_div(s * programs, slots);
    return (sched_split_choice){s, per, waves, waves * (per + SCHED_SPLIT_OVERHEAD_PAGES)};
}

static void clamp(int *sm_count, int64_t *programs, int64_t *pages)
{
    if (*programs < 1) *programs = 1;
    if (*pages < 1) *pages = 1;
    if (*sm_count < 1) *sm_count = 1;
}

sched_split_choice sched_split_count(int sm_count, int64_t programs, int64_t pages)
{
    clamp(&sm_count, &programs, &pages);
    int64_t slots = (int64_t)sm_count * SCHED_SPLIT_PROGRAMS_PER_SM;
    int64_t max_splits = pages < SCHED_SPLIT_MAX ? pages : SCHED_SPLIT_MAX;
    sched_split_choice best = {0};
    for (int64_t s = 1; s <= max_splits; s++) {
        sched_split_choice c = candidate(s, slots, programs, pages);
        if (c.splits && (best.splits == 0 || c.cost < best.cost)) best = c;
    }
    return best;
}

void sched_split_explain(FILE *out, const char *arch, int sm_count, int64_t programs,
                         int64_t pages)
{
    clamp(&sm_count, &programs, &pages);
    int64_t slots = (int64_t)sm_count * SCHED_SPLIT_PROGRAMS_PER_SM;
    sched_split_choice best = sched_split_count(sm_count, programs, pages);
    fprintf(out, "split count for %lld programs per split over %lld pages on %s (%d SMs x %d "
            "per SM = %lld slots a wave)\n", (long long)programs, (long long)pages, arch,
            sm_count, SCHED_SPLIT_PROGRAMS_PER_SM, (long long)slots);
    fprintf(out, "      splits  pages/split  programs  waves  cost = waves x (pages + %d)\n",
            SCHED_SPLIT_OVERHEAD_PAGES);
    /* the last S of each wave count (the most splits it holds), up to 4
     * waves past the chosen one: the table the choice is made from */
    int64_t max_splits = pages < SCHED_SPLIT_MAX ? pages : SCHED_SPLIT_MAX;
    for (int64_t s = 1; s <= max_splits; s++) {
        sched_split_choice c = candidate(s, slots, programs, pages), next = {0};
        if (!c.splits || c.waves > best.waves + 4) continue;
        for (int64_t t = s + 1; t <= max_splits && !next.splits; t++)
            next = candidate(t, slots, programs, pages);
        if (next.splits && next.waves == c.waves && c.splits != best.splits) continue;
        fprintf(out, "%s %8lld %12lld %9lld %6lld %7lld\n", c.splits == best.splits ? "=>" : "  ",
                (long long)c.splits, (long long)c.pages_per_split,
                (long long)(c.splits * programs), (long long)c.waves, (long long)c.cost);
    }
    fprintf(out, "chosen: S = %lld (%lld pages per split, %lld wave%s)\n", (long long)best.splits,
            (long long)best.pages_per_split, (long long)best.waves, best.waves == 1 ? "" : "s");
}
