/* diag.c - collection and rendering of diagnostics (see diag.h). */
#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void diag_init(diag_ctx *d, arena *mem)
{
    memset(d, 0, sizeof *d);
    d->mem = mem;
    d->max_errors = 50;
}

src_file *diag_add_source(diag_ctx *d, const char *path, const char *text, size_t len)
{
    src_file *f = arena_alloc(d->mem, sizeof *f);
    if (!f) return NULL;
    f->path = arena_strdup(d->mem, path);
    f->text = arena_strndup(d->mem, text, len);
    f->len = len;
    if (!f->path || !f->text) return NULL;
    f->next = d->files;
    d->files = f;
    return f;
}

const src_file *diag_find_source(const diag_ctx *d, const char *path)
{
    if (!path) return NULL;
    for (const src_file *f = d->files; f; f = f->next)
        if (f->path == path || strcmp(f->path, path) == 0) return f;
    return NULL;
}

void diag_report(diag_ctx *d, diag_level level, src_loc loc, const char *fmt, ...)
{
    if (level == DIAG_ERROR) d->nerrors++;
    if (level == DIAG_ERROR && d->nerrors > d->max_errors) return;
    diag *g = arena_alloc(d->mem, sizeof *g);
    if (!g) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    g->msg = arena_alloc(d->mem, n > 0 ? (size_t)n + 1 : 1);
    if (!g->msg) return;
    va_start(ap, fmt);
    vsnprintf(g->msg, (size_t)(n > 0 ? n + 1 : 1), fmt, ap);
    va_end(ap);
    g->level = level;
    g->loc = loc;
    if (d->last) d->last->next = g; else d->first = g;
    d->last = g;
}

static const char *level_name(diag_level l)
{
    switch (l) {
    case DIAG_ERROR: return "error";
    case DIAG_WARNING: return "warning";
    case DIAG_NOTE: return "note";
    }
    return "error";
}

/* Finds line `line` (1-based) of `f`; returns its start and sets *len. */
static const char *find_line(const src_file *f, int line, size_t *len)
{
    const char *p = f->text, *end = f->text + f->len;
    for (int l = 1; l < line && p < end; p++)
        if (*p == '\n') l++;
    if (p > end) return NULL;
    const char *e = p;
    while (e < end && *e != '\n') e++;
    *len = (size_t)(e - p);
    return p;
}

static void render_one(const diag_ctx *d, const diag *g, FILE *out)
{
    if (g->loc.file && g->loc.line > 0)
        fprintf(out, "%s:%d:%d: %s: %s\n", g->loc.file, g->loc.line, g->loc.col,
                level_name(g->level), g->msg);
    else if (g->loc.file)
        fprintf(out, "%s: %s: %s\n", g->loc.file, level_name(g->level), g->msg);
    else
        fprintf(out, "tile: %s: %s\n", level_name(g->level), g->msg);
    const src_file *f = diag_find_source(d, g->loc.file);
    if (!f || g->loc.line <= 0) return;
    size_t len = 0;
    const char *text = find_line(f, g->loc.line, &len);
    if (!text) return;
    fprintf(out, "%5d | ", g->loc.line);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        fputc(c == '\t' ? ' ' : (c < 32 || c == 127) ? '?' : c, out);
    }
    fputs("\n      | ", out);
    for (int i = 1; i < g->loc.col && (size_t)(i - 1) < len; i++) fputc(' ', out);
    fputc('^', out);
    for (int i = 1; i < g->span && (size_t)(g->loc.col - 1 + i) < len; i++) fputc('~', out);
    fputc('\n', out);
}

void diag_print_all(const diag_ctx *d, FILE *out)
{
    for (const diag *g = d->first; g; g = g->next) render_one(d, g, out);
    if (d->nerrors > d->max_errors)
        fprintf(out, "tile: note: %d more errors not shown\n", d->nerrors - d->max_errors);
}

char *diag_render(const diag_ctx *d, arena *mem)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f) return NULL;
    diag_print_all(d, f);
    fclose(f);
    char *r = arena_strndup(mem, buf ? buf : "", buf ? size : 0);
    free(buf);
    return r;
}
