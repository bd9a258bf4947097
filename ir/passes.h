/* passes.h - the generic tile-IR passes and the pipeline that runs them.
 * One pass per file (ir/pass_*.c); each is listed once in ir_optimize. */
#ifndef TILE_PASSES_H
#define TILE_PASSES_H

#include "ir.h"

/* Inlines every CALL in every kernel and removes the fns afterwards. */
tile_status pass_inline(ir_module *m);
/* Folds ops whose operands are all constants (exact, dtype-rounded). */
void pass_fold(ir_func *f);
/* Algebraic simplification with identities exact for every input, -0.0,
 * NaN and inf included (the list: pass_canon.c, docs/ir.md). */
void pass_canonicalize(ir_func *f);
/* Common-subexpression elimination of pure ops (a value defined in an outer
 * block is reused in nested blocks). */
void pass_cse(ir_func *f);
/* Removes ops without effects (ir_op_has_effect: pure ops and loads, but not
 * one that may stop the launch, e.g. an integer div/rem by a possibly-zero
 * divisor or a for with a step not known positive) whose results are
 * unused, and loop-carried values / if results that nothing uses. */
void pass_dce(ir_func *f);

typedef struct ir_opt_options {
    int level;          /* 0: inline only; 1+: the full pipeline */
    bool verify_each;   /* run the verifier after every pass */
    FILE *dump;         /* if non-NULL, print the module after every pass */
} ir_opt_options;

tile_status ir_optimize(ir_module *m, const ir_opt_options *o);

/* Runs the passes named in `list`, comma-separated, in that order, each
 * once over every function: inline, canonicalize, fold, cse, dce, or
 * optimize (all of ir_optimize at o's level, 1 if o is NULL).  An empty
 * list runs nothing.  verify_each and dump as for ir_optimize.  A name not
 * in IR_PASS_NAMES: TILE_ERR_ARG before anything runs. */
tile_status ir_run_passes(ir_module *m, const char *list, const ir_opt_options *o);
#define IR_PASS_NAMES "inline, canonicalize, fold, cse, dce, optimize"

#endif
