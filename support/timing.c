/* timing.c - the per-thread compile-time breakdown (timing.h).  A small
 * stack of open phases: closing one adds its time to its own inclusive
 * total and subtracts it from its parent's self time. */
#include "timing.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TT_DEPTH 32

static const char *const phase_names[TT_COUNT] = {
    "parse/resolve", "lower", "optimise", "sched search", "specialise", "sched layouts",
    "sched pipeline", "llvm ir build", "llvm opt", "nvptx codegen", "cache i/o", "module load",
};

typedef struct tt_state {
    double total[TT_COUNT], self[TT_COUNT], cpu[TT_COUNT];
    int calls[TT_COUNT];
    struct { tt_phase phase; double start, inner, cpu_start, cpu_inner; } stack[TT_DEPTH];
    int depth;
} tt_state;

static _Thread_local tt_state state;
static int enabled = -1; /* -1: not read from the environment yet */

bool tt_enabled(void)
{
    if (enabled < 0) {
        const char *env = getenv("TILE_TIMING");
        enabled = env && *env && strcmp(env, "0") != 0;
    }
    return enabled > 0;
}

void tt_enable(bool on) { enabled = on; }

bool tt_report_wanted(void)
{
    const char *env = getenv("TILE_TIMING");
    return env && *env && strcmp(env, "0") != 0;
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }

/* The thread's CPU time: on a shared machine the wall clock measures the
 * neighbours too. */
static double cpu_s(void) { return clock_s(CLOCK_THREAD_CPUTIME_ID); }

void tt_begin(tt_phase p)
{
    if (!tt_enabled()) return;
    if (state.depth < TT_DEPTH)
        state.stack[state.depth].phase = p, state.stack[state.depth].start = now_s(),
        state.stack[state.depth].inner = 0, state.stack[state.depth].cpu_start = cpu_s(),
        state.stack[state.depth].cpu_inner = 0;
    state.depth++;
}

void tt_end(tt_phase p)
{
    if (!tt_enabled() || state.depth == 0) return;
    int top = --state.depth;
    if (top >= TT_DEPTH || state.stack[top].phase != p) return; /* unbalanced: ignore */
    double t = now_s() - state.stack[top].start, c = cpu_s() - state.stack[top].cpu_start;
    state.total[p] += t;
    state.self[p] += t - state.stack[top].inner;
    state.cpu[p] += c - state.stack[top].cpu_inner;
    state.calls[p]++;
    if (top > 0) state.stack[top - 1].inner += t, state.stack[top - 1].cpu_inner += c;
}

void tt_reset(void) { memset(&state, 0, sizeof state); }

double tt_self_seconds(tt_phase p) { return p < TT_COUNT ? state.self[p] : 0; }

int tt_calls(tt_phase p) { return p < TT_COUNT ? state.calls[p] : 0; }

void tt_report(FILE *out, const char *title)
{
    if (!out) return;
    double sum = 0, cpu = 0;
    fprintf(out, "timing: %s\n", title ? title : "");
    fprintf(out, "  %-16s %10s %10s %10s %6s\n", "phase", "self ms", "cpu ms", "total ms", "calls");
    for (int p = 0; p < TT_COUNT; p++) {
        if (!state.calls[p]) continue;
        sum += state.self[p];
        cpu += state.cpu[p];
        fprintf(out, "  %-16s %10.2f %10.2f %10.2f %6d\n", phase_names[p], state.self[p] * 1e3,
                state.cpu[p] * 1e3, state.total[p] * 1e3, state.calls[p]);
    }
    fprintf(out, "  %-16s %10.2f %10.2f\n", "timed", sum * 1e3, cpu * 1e3);
}
