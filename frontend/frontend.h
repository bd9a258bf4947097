/* frontend.h - the front end's one public face: .tile source -> tile IR.
 *
 * Pipeline inside: load (with imports) -> parse -> sema -> lower to IR.  Sema
 * and lowering are one walk (fe_lower_*.c, see fe_lower.h): constants are
 * evaluated while the IR is built, since shapes depend on them.  Every fn call becomes an IR CALL
 * to a monomorphised fn (one per distinct argument types and const
 * arguments); the IR inline pass removes them. */
#ifndef TILE_FRONTEND_H
#define TILE_FRONTEND_H

#include <stdio.h>

#include "ir/ir.h"

typedef struct fe_define {     /* -D NAME=VALUE */
    const char *name;
    const char *value;         /* parsed as a .tile expression: 128, true, bf16, causal, sliding_window(W: 64) */
} fe_define;

/* A value compiler/'s scheduler chose for an `auto` constant (sched_choose.c). */
typedef struct fe_auto_value {
    const char *kernel;        /* the kernel or specialisation compiled; NULL: any */
    const char *name;
    int64_t value;
} fe_auto_value;

/* An `auto` constant the front end found without a value (fe_options.auto_report). */
typedef struct fe_auto_const {
    const char *kernel;        /* the kernel or specialisation being compiled */
    const char *name;
    src_loc loc;               /* the `auto` in the source */
} fe_auto_const;

/* Parsed sources, shared by the compilations of one search (the
 * scheduler's candidates compile the same files with other constants): a
 * file is parsed once and its syntax tree, which lowering only reads, is
 * reused while its text is the same.  It lives in the arena it was made in,
 * which must outlive every compilation that uses it. */
typedef struct fe_parse_cache fe_parse_cache;
fe_parse_cache *fe_parse_cache_new(arena *mem);

typedef struct fe_options {
    const char *const *include_dirs;   /* searched after the importing file's folder */
    int ninclude;
    const fe_define *defines;
    int ndefines;
    size_t text_len;                   /* bytes of fe_compile's `text` (0: strlen), so a
                                          NUL inside it is compiled, not an end */
    /* fe_check: one line per kernel checked ("checked k with D=16 (chosen),
     * T=bf16 (default)") is appended here (arena strings), if not NULL. */
    ptr_vec *check_report;
    /* Compiling or checking every kernel (no kernel named): refuse a define
     * that names nothing in the file (tilec sets it; a named kernel's
     * defines are checked by the driver against the kernel compiled). */
    bool strict_defines;
    /* `auto` constants: the front end never picks their values.  They come
     * from auto_values (the scheduler's choice, compiler/sched_choose.c); an
     * `auto` constant without one is appended to *auto_report (fe_auto_const,
     * arena) and its kernel is not lowered, without an error, so that the
     * caller can choose and compile again.  With auto_report NULL it is an
     * error.  fe_check gives them representative values instead. */
    const fe_auto_value *auto_values;
    int nauto_values;
    ptr_vec *auto_report;
    fe_parse_cache *parse_cache;       /* NULL: every file parsed anew */
} fe_options;

/* Parses, checks and lowers kernel `kernel` of `path` (a kernel or a
 * `kernel x = y(...)` specialisation) into m.  kernel == NULL lowers every
 * kernel whose constants are all bound (by defaults, `auto`, or defines).
 * Errors go to m->diags.  The source may be given in `text` (NULL: read the
 * file). */
tile_status fe_compile(ir_module *m, const char *path, const char *text,
                       const char *kernel, const fe_options *opts);

/* `tilec check`: checks every kernel and specialisation of `path` (not of
 * its imports) for real, once per `// tilec: -D NAME=VALUE ...` line of the
 * file that gives one of its constants a value and otherwise once: a
 * constant nothing binds (specialisation, -D, the line, a default, auto)
 * takes a representative value (ints: 16, 32, 64, ... in declaration order;
 * dtypes f32; floats 1.0; bools false, then true); an fn constant without one is an
 * error (the kernel cannot be checked).  fns no kernel calls get their names
 * checked.  See docs/language.md, "Checking generic kernels". */
tile_status fe_check(ir_module *m, const char *path, const fe_options *opts);

/* `tilec --emit=ast`: parses path (no imports followed) and prints the tree. */
tile_status fe_dump_ast(diag_ctx *d, const char *path, FILE *out);

/* `tilec doc`: writes the Markdown library reference (docs/library.md) for
 * the .tile files among paths, with the coverage statements of the .c test
 * files among them (conventions: fe_doc.c).  Errors go to d. */
tile_status fe_doc(diag_ctx *d, const char *const *paths, int npaths, FILE *out);

/* Reads a whole file into the diag context's source manager; reports
 * "cannot read FILE: reason" at `from` on failure, and for a file over
 * FE_MAX_SOURCE_BYTES (far above any real kernel file; reading /dev/zero
 * must end). */
#define FE_MAX_SOURCE_BYTES (64 << 20)
const src_file *fe_read_source(diag_ctx *d, const char *path, src_loc from);

/* "Did you mean": the nearest of the candidates added to `name`, if close
 * enough to be a typo (fe_suggest.c).  Used by the front end and tilec for
 * names, built-ins, named arguments, kernels and -D names. */
typedef struct fe_suggest {
    const char *name;
    const char *best;
    int dist2, limit2;         /* twice the edit distance */
} fe_suggest;
void fe_suggest_init(fe_suggest *s, const char *name);
void fe_suggest_add(fe_suggest *s, const char *candidate);
const char *fe_suggest_best(const fe_suggest *s);        /* NULL: none close */
/* "; did you mean 'x'?" or "" (in mem). */
const char *fe_did_you_mean(arena *mem, const fe_suggest *s);

#endif
