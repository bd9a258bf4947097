/* pipeline.h - the compiler driver as a library: source -> optimised tile IR
 * (later: -> scheduled IR -> PTX).  tilec, the examples, the tests and the
 * runtime all compile through here, so there is one pass pipeline. */
#ifndef TILE_PIPELINE_H
#define TILE_PIPELINE_H

#include <stdio.h>

#include "../frontend/frontend.h"
#include "../ir/interp.h"
#include "../ir/ir.h"
#include "../ir/passes.h"

typedef struct tc_options {
    const char *kernel;            /* NULL: every fully bound kernel */
    const char *const *defines;    /* "NAME=VALUE" strings */
    int ndefines;
    const char *const *include_dirs;
    int ninclude;
    int opt_level;                 /* 0 = inline only, 1 = full (default) */
    bool verify_each;              /* verifier after every pass */
    FILE *dump_passes;             /* print IR after each pass, or NULL */
} tc_options;

/* One compilation: owns the arena everything lives in. */
typedef struct tc_unit {
    arena mem;
    diag_ctx diags;
    ir_module *module;
    ir_func *kernel;               /* the requested kernel, when one was named */
} tc_unit;

/* Compiles `path` (text read from disk unless `text` is given).  On failure
 * the unit still holds the diagnostics; call tc_unit_free in every case. */
tile_status tc_compile(tc_unit **out, const char *path, const char *text, const tc_options *o);
void tc_unit_free(tc_unit *u);

/* `tilec check`: parses and type-checks every kernel of `path` (kernels with
 * unbound constants as far as possible) with o's defines and include dirs,
 * and verifies the IR built; no passes run.  Free the unit in every case. */
tile_status tc_check(tc_unit **out, const char *path, const tc_options *o);

/* Splits "D=64,mask=causal" (commas inside parentheses are kept) into
 * tc_options.defines storage allocated in `mem`.  Returns the count, -1 on
 * a malformed list. */
int tc_split_defines(arena *mem, const char *list, const char ***out);

#endif
