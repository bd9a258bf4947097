/* diag.h - diagnostics with source locations, collected (several per run)
 * and rendered cproc/chibicc style:
 *
 *   flash.tile:21:14: error: dot expects [M,K]x[K,N], got [64,128]x[64,128]
 *      21 |     var s = dot(qt, k);
 *         |              ^
 *
 * The source manager keeps the text of every file read, so any later stage
 * (sema, passes, the interpreter) can point at the user's source.  It sits in
 * support/, the bottom layer, because every layer above reports through it. */
#ifndef TILE_DIAG_H
#define TILE_DIAG_H

#include <stdio.h>

#include "arena.h"

typedef struct src_loc {
    const char *file; /* path as given by the user (arena/srcmgr owned); NULL = unknown */
    int line, col;    /* 1-based; 0 = unknown */
} src_loc;

typedef enum { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE } diag_level;

typedef struct diag {
    diag_level level;
    src_loc loc;
    int span;         /* columns underlined from loc.col (^~~~); 0 or 1: a caret */
    char *msg;
    struct diag *next;
} diag;

typedef struct src_file {
    const char *path;
    const char *text; /* NUL-terminated contents */
    size_t len;
    struct src_file *next;
} src_file;

/* One per compilation.  Owns nothing but what is in its arena. */
typedef struct diag_ctx {
    arena *mem;
    src_file *files;
    diag *first, *last;
    int nerrors;
    int max_errors; /* stop collecting (but keep counting) after this; default 50 */
} diag_ctx;

void diag_init(diag_ctx *d, arena *mem);
/* Registers a file's text (copied into the arena) and returns the stored
 * record; the path string returned in ->path is the one locations use. */
src_file *diag_add_source(diag_ctx *d, const char *path, const char *text, size_t len);
const src_file *diag_find_source(const diag_ctx *d, const char *path);

void diag_report(diag_ctx *d, diag_level level, src_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define diag_error(d, loc, ...) diag_report((d), DIAG_ERROR, (loc), __VA_ARGS__)
#define diag_note(d, loc, ...) diag_report((d), DIAG_NOTE, (loc), __VA_ARGS__)

/* Prints every collected diagnostic in order, with source line and caret. */
void diag_print_all(const diag_ctx *d, FILE *out);
/* Renders all diagnostics into one arena string (for tile_last_error). */
char *diag_render(const diag_ctx *d, arena *mem);

#endif
