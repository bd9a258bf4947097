/* timing.h - where compile time goes: a per-thread breakdown by phase,
 * switched on by TILE_TIMING=1 (or tilec --time) and free when off.
 *
 * Phases nest (the scheduler's search lowers candidates through the front
 * end): each phase keeps its inclusive time, and its self time excludes
 * the phases timed inside it, so the self column adds up to the whole.
 * Self time is given twice: wall clock, and the thread's CPU time (what
 * to compare on a machine shared with other work). */
#ifndef TILE_TIMING_H
#define TILE_TIMING_H

#include <stdbool.h>
#include <stdio.h>

typedef enum tt_phase {
    TT_PARSE,          /* loading, lexing, parsing and resolving the sources */
    TT_LOWER,          /* the front end's lowering to tile IR */
    TT_OPTIMIZE,       /* ir_optimize */
    TT_SCHED_SEARCH,   /* the scheduler's search over `auto` candidates */
    TT_SPECIALISE,     /* tc_specialise_divisible */
    TT_SCHED_LAYOUT,   /* layouts and the fixed-constant checks */
    TT_SCHED_PIPELINE, /* software pipelining */
    TT_LLVM_BUILD,     /* scheduled IR -> LLVM IR */
    TT_LLVM_OPT,       /* LLVM's pass pipeline */
    TT_NVPTX,          /* NVPTX code generation (PTX text) */
    TT_CACHE_IO,       /* disk cache and record reads and writes, their hashing */
    TT_MODULE_LOAD,    /* cuModuleLoadData* (the driver's PTX -> SASS) */
    TT_COUNT
} tt_phase;

/* Whether timing is on for this process (TILE_TIMING set and not "0"). */
bool tt_enabled(void);
/* Switches timing on or off (tilec --time; tests count phases). */
void tt_enable(bool on);
/* Whether TILE_TIMING asks the runtime to print each tile_compile's
 * breakdown to stderr (tt_enable alone only counts). */
bool tt_report_wanted(void);
/* Opens and closes a phase on the calling thread (nothing when off). */
void tt_begin(tt_phase p);
void tt_end(tt_phase p);
/* Clears the calling thread's totals. */
void tt_reset(void);
/* Prints the calling thread's totals, one line per phase that ran and a
 * total, under a title line. */
void tt_report(FILE *out, const char *title);
/* The calling thread's self seconds and count of one phase. */
double tt_self_seconds(tt_phase p);
int tt_calls(tt_phase p);

#endif
