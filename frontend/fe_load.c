/* fe_load.c - reading sources, following imports, the global namespace and
 * the -D defines.
 *
 * A program is the root file plus everything it imports, transitively; each
 * file is loaded once (identified by its real path) and all top-level names
 * share one namespace.  A file's imports are loaded before its own items are
 * registered, so a clash between a user's file and the library is reported in
 * the user's file with a note pointing into the library.  Import paths are
 * resolved relative to the importing file's folder, then each -I folder,
 * then the installed library (TILE_LIB_DIR). */
#include "fe_lower.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef TILE_LIB_DIR
#define TILE_LIB_DIR "lib"
#endif

const src_file *fe_read_source(diag_ctx *d, const char *path, src_loc from)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_error(d, from, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int err = 0;
    for (;;) {
        if (len > FE_MAX_SOURCE_BYTES) { /* /dev/zero, a binary by mistake */
            err = EFBIG;
            break;
        }
        if (len == cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                err = ENOMEM;
                break;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) err = errno ? errno : EIO;
            break;
        }
    }
    fclose(f);
    const src_file *sf = NULL;
    if (err == EFBIG)
        diag_error(d, from, "cannot read %s: it is larger than %d MiB, the limit for a source file",
                   path, FE_MAX_SOURCE_BYTES >> 20);
    else if (err) diag_error(d, from, "cannot read %s: %s", path, strerror(err));
    else if (!(sf = diag_add_source(d, path, buf ? buf : "", len)))
        diag_error(d, from, "cannot read %s: %s", path, strerror(ENOMEM));
    free(buf);
    return sf;
}

tile_status fe_dump_ast(diag_ctx *d, const char *path, FILE *out)
{
    const src_file *sf = fe_read_source(d, path, (src_loc){0});
    if (!sf) return TILE_ERR_IO;
    ast_file *f = fe_parse(d->mem, d, sf->path, sf->text, sf->len);
    if (!f || d->nerrors) return TILE_ERR_SYNTAX;
    ast_print(out, f);
    return TILE_OK;
}

/* ---- global names ------------------------------------------------------ */

static size_t hash_name(const char *s, size_t size)
{
    unsigned h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h % size;
}

/* Keeps the table at least as large as the number of globals (so chains
 * stay short for 100k constants): rebuilt from cx->globals, doubled, when
 * full.  False on OOM. */
static bool grow_globals_table(fe_ctx *cx)
{
    size_t n = (size_t)cx->globals.len;
    if (n < cx->gtab_size) return true;
    size_t size = cx->gtab_size ? cx->gtab_size * 2 : 256;
    fe_global **tab = arena_calloc(cx->mem, size, sizeof *tab);
    if (!tab) return false;
    for (size_t i = 0; i < n; i++) {
        fe_global *g = cx->globals.items[i];
        size_t h = hash_name(g->name, size);
        g->next = tab[h];
        tab[h] = g;
    }
    cx->gtab = tab;
    cx->gtab_size = size;
    return true;
}

fe_global *fe_global_find(fe_ctx *cx, const char *name)
{
    if (!name || !cx->gtab_size) return NULL;
    for (fe_global *g = cx->gtab[hash_name(name, cx->gtab_size)]; g; g = g->next)
        if (strcmp(g->name, name) == 0) return g;
    return NULL;
}

bool fe_is_builtin_name(const char *name)
{
    ir_dtype dt;
    return ir_dtype_from_name(name, &dt) || strcmp(name, "inf") == 0 || fe_find_builtin(name);
}

void fe_suggest_globals(fe_ctx *cx, fe_suggest *s)
{
    for (int i = 0; i < cx->globals.len; i++) fe_suggest_add(s, ((fe_global *)cx->globals.items[i])->name);
    for (int i = 0; fe_builtin_name_at(i); i++) fe_suggest_add(s, fe_builtin_name_at(i));
    for (int t = 0; t < IR_DTYPE_COUNT; t++) fe_suggest_add(s, ir_dtype_name((ir_dtype)t));
    fe_suggest_add(s, "inf");
}

const char *fe_name_hint(fe_func *F, const char *name)
{
    fe_suggest s;
    fe_suggest_init(&s, name);
    for (fe_scope *sc = F->scope; sc; sc = sc->parent)
        for (fe_sym *y = sc->syms; y; y = y->next) fe_suggest_add(&s, y->name);
    fe_suggest_globals(F->cx, &s);
    return fe_did_you_mean(F->cx->mem, &s);
}

static void register_item(fe_ctx *cx, const ast_item *it)
{
    static const fe_global_kind kinds[] = {
        [AST_ITEM_CONST] = FE_G_CONST, [AST_ITEM_FN] = FE_G_FN,
        [AST_ITEM_KERNEL] = FE_G_KERNEL, [AST_ITEM_SPEC] = FE_G_SPEC,
    };
    if (it->kind == AST_ITEM_IMPORT || !it->name) return;
    if (fe_is_builtin_name(it->name)) {
        diag_error(cx->d, it->name_loc, "'%s' is a built-in name and cannot be redefined",
                   it->name);
        return;
    }
    fe_global *prev = fe_global_find(cx, it->name);
    if (prev) {
        diag_error(cx->d, it->name_loc, "redefinition of '%s'", it->name);
        diag_note(cx->d, prev->item->name_loc, "previous definition is here");
        return;
    }
    fe_global *g = arena_alloc(cx->mem, sizeof *g);
    if (!g || !grow_globals_table(cx) || ptr_vec_push(cx->mem, &cx->globals, g)) {
        fe_oom(cx);
        return;
    }
    g->name = it->name;
    g->kind = kinds[it->kind];
    g->item = it;
    g->define = -1;
    size_t h = hash_name(it->name, cx->gtab_size);
    g->next = cx->gtab[h];
    cx->gtab[h] = g;
}

/* ---- files and imports ------------------------------------------------- */

typedef struct loaded_file {
    const char *real;      /* identity */
    const char *path;      /* as shown in diagnostics */
    int state;             /* 1 loading, 2 done */
} loaded_file;

typedef struct loader {
    fe_ctx *cx;
    ptr_vec files;         /* loaded_file* */
    ptr_vec stack;         /* loaded_file* being loaded, outermost first */
    bool failed;           /* syntax error or missing import: no sema */
    bool syntax;
} loader;

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static char *join_path(arena *mem, const char *dir, const char *name)
{
    if (!dir || !*dir || name[0] == '/') return arena_strdup(mem, name);
    size_t n = strlen(dir);
    return arena_printf(mem, "%s%s%s", dir, dir[n - 1] == '/' ? "" : "/", name);
}

static char *dir_of(arena *mem, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return arena_strdup(mem, "");
    if (slash == path) return arena_strdup(mem, "/");
    return arena_strndup(mem, path, (size_t)(slash - path));
}

static const char *real_path(arena *mem, const char *path)
{
    char buf[PATH_MAX];
    if (realpath(path, buf)) return arena_strdup(mem, buf);
    return arena_strdup(mem, path);
}

static loaded_file *find_loaded(loader *L, const char *real)
{
    for (int i = 0; i < L->files.len; i++) {
        loaded_file *f = L->files.items[i];
        if (strcmp(f->real, real) == 0) return f;
    }
    return NULL;
}

static void load_file(loader *L, const char *path, const char *text, src_loc from);

/* Resolves and loads one import of the file `importer`. */
static void load_import(loader *L, const loaded_file *importer, const ast_item *it)
{
    fe_ctx *cx = L->cx;
    arena *mem = cx->mem;
    const char *name = it->path ? it->path : "";
    ptr_vec tried = {0};
    char *found = NULL;
    if (name[0] == '/') {
        if (is_file(name)) found = arena_strdup(mem, name);
    } else {
        char *dir = dir_of(mem, importer->path);
        char *cand = dir ? join_path(mem, dir, name) : NULL;
        if (!cand) { fe_oom(cx); return; }
        ptr_vec_push(mem, &tried, (dir && *dir) ? dir : ".");
        if (is_file(cand)) found = cand;
        /* An -I folder that is the library itself (tilec adds the one beside
         * its binary) is searched in its place, and named as the library. */
        const char *lib = real_path(mem, TILE_LIB_DIR);
        bool lib_tried = false;
        for (int i = 0; !found && cx->opts && i < cx->opts->ninclude; i++) {
            const char *inc = cx->opts->include_dirs[i];
            const char *inc_real = real_path(mem, inc);
            bool is_lib = lib && inc_real && strcmp(lib, inc_real) == 0;
            if (is_lib && lib_tried) continue;
            lib_tried |= is_lib;
            cand = join_path(mem, inc, name);
            if (!cand) { fe_oom(cx); return; }
            ptr_vec_push(mem, &tried, is_lib ? "the tile library" : (void *)inc);
            if (is_file(cand)) found = cand;
        }
        if (!found && !lib_tried) {
            cand = join_path(mem, TILE_LIB_DIR, name);
            if (!cand) { fe_oom(cx); return; }
            ptr_vec_push(mem, &tried, "the tile library");
            if (is_file(cand)) found = cand;
        }
    }
    if (!found) {
        char *list = arena_strdup(mem, "");
        for (int i = 0; list && i < tried.len; i++)
            list = arena_printf(mem, "%s%s%s", list, i ? ", " : "", (const char *)tried.items[i]);
        if (!list) { fe_oom(cx); return; }
        if (tried.len)
            diag_error(cx->d, it->loc, "cannot find '%s' (searched: %s)", name, list);
        else
            diag_error(cx->d, it->loc, "cannot find '%s'", name);
        L->failed = true;
        return;
    }
    /* "./x.tile" reads better as "x.tile". */
    while (found[0] == '.' && found[1] == '/') found += 2;
    const char *real = real_path(mem, found);
    if (!real) { fe_oom(cx); return; }
    loaded_file *lf = find_loaded(L, real);
    if (lf && lf->state == 2) return;
    if (lf) {
        char *chain = NULL;
        int start = 0;
        for (int i = 0; i < L->stack.len; i++)
            if (L->stack.items[i] == lf) start = i;
        chain = arena_strdup(mem, "");
        for (int i = start; chain && i < L->stack.len; i++)
            chain = arena_printf(mem, "%s%s -> ", chain, ((loaded_file *)L->stack.items[i])->path);
        if (!chain) { fe_oom(cx); return; }
        diag_error(cx->d, it->loc, "import cycle: %s%s", chain, lf->path);
        return;
    }
    load_file(L, found, NULL, it->loc);
}

/* ---- the parse cache ---------------------------------------------------- */

typedef struct cached_file {
    const char *path, *text;     /* the cache's copies: the tree's locations point here */
    size_t len;
    ast_file *ast;
} cached_file;

struct fe_parse_cache {
    arena *mem;
    ptr_vec files;               /* cached_file* */
};

fe_parse_cache *fe_parse_cache_new(arena *mem)
{
    fe_parse_cache *c = arena_calloc(mem, 1, sizeof *c);
    if (c) c->mem = mem;
    return c;
}

static const cached_file *cache_find(const fe_parse_cache *c, const src_file *sf)
{
    for (int i = 0; c && i < c->files.len; i++) {
        const cached_file *f = c->files.items[i];
        if (f->len == sf->len && strcmp(f->path, sf->path) == 0 && memcmp(f->text, sf->text, sf->len) == 0)
            return f;
    }
    return NULL;
}

/* sf's tree: the cached one, else parsed (into the cache when there is one
 * and the file parses without errors). */
static ast_file *parse_source(fe_ctx *cx, const src_file *sf)
{
    fe_parse_cache *c = cx->opts ? cx->opts->parse_cache : NULL;
    const cached_file *hit = cache_find(c, sf);
    if (hit) return hit->ast;
    if (!c) return fe_parse(cx->mem, cx->d, sf->path, sf->text, sf->len);
    cached_file *f = arena_calloc(c->mem, 1, sizeof *f);
    char *path = arena_strdup(c->mem, sf->path), *text = arena_strndup(c->mem, sf->text, sf->len);
    if (!f || !path || !text) {
        fe_oom(cx);
        return NULL;
    }
    int errors_before = cx->d->nerrors;
    *f = (cached_file){.path = path, .text = text, .len = sf->len,
                       .ast = fe_parse(c->mem, cx->d, path, text, sf->len)};
    if (f->ast && cx->d->nerrors == errors_before && ptr_vec_push(c->mem, &c->files, f)) fe_oom(cx);
    return f->ast;
}

static void load_file(loader *L, const char *path, const char *text, src_loc from)
{
    fe_ctx *cx = L->cx;
    loaded_file *lf = arena_alloc(cx->mem, sizeof *lf);
    if (!lf) { fe_oom(cx); return; }
    lf->path = arena_strdup(cx->mem, path);
    lf->real = real_path(cx->mem, path);
    lf->state = 1;
    if (!lf->path || !lf->real || ptr_vec_push(cx->mem, &L->files, lf)) { fe_oom(cx); return; }
    const src_file *sf;
    if (text) {
        size_t len = cx->opts && cx->opts->text_len ? cx->opts->text_len : strlen(text);
        sf = diag_add_source(cx->d, path, text, len);
        if (!sf) { fe_oom(cx); return; }
    } else {
        sf = fe_read_source(cx->d, path, from);
        if (!sf) {
            L->failed = true;
            lf->state = 2;
            return;
        }
    }
    lf->path = sf->path;
    int errors_before = cx->d->nerrors;
    ast_file *af = parse_source(cx, sf);
    if (!af || cx->d->nerrors > errors_before) {
        L->failed = true;
        L->syntax = true;
        lf->state = 2;
        return;
    }
    if (ptr_vec_push(cx->mem, &cx->files, af) || ptr_vec_push(cx->mem, &L->stack, lf)) {
        fe_oom(cx);
        return;
    }
    for (int i = 0; i < af->items.len; i++) {
        const ast_item *it = af->items.items[i];
        if (it->kind == AST_ITEM_IMPORT) load_import(L, lf, it);
    }
    L->stack.len--;
    lf->state = 2;
    for (int i = 0; i < af->items.len; i++) register_item(cx, af->items.items[i]);
}

tile_status fe_load_program(fe_ctx *cx, const char *path, const char *text)
{
    loader L = {.cx = cx};
    load_file(&L, path, text, (src_loc){0});
    if (cx->oom) return TILE_ERR_NOMEM;
    if (L.syntax) return TILE_ERR_SYNTAX;
    if (L.failed) return cx->files.len == 0 ? TILE_ERR_IO : TILE_ERR_SEMA;
    return TILE_OK;
}

/* ---- defines ----------------------------------------------------------- */

/* Syntax errors in a value parsed as "const __d = VALUE;" (after `mark`)
 * speak of the value, not of the wrapper's ';'. */
void fe_reword_wrapper(fe_ctx *cx, diag *mark)
{
    static const char *const from[] = {"expected ';' after constant", "found ';'"};
    static const char *const to[] = {"expected the end of the value", "found the end of the value"};
    for (diag *g = mark ? mark->next : cx->d->first; g; g = g->next)
        for (int i = 0; i < 2; i++) {
            char *at = strstr(g->msg, from[i]);
            if (!at) continue;
            char *m = arena_printf(cx->mem, "%.*s%s%s", (int)(at - g->msg), g->msg, to[i],
                                   at + strlen(from[i]));
            if (m) g->msg = m;
        }
}

/* The command line as the user wrote it, one "-D NAME=VALUE" a line, is
 * the source "<command line>" (as in clang); each value is parsed as
 * "const __d = VALUE;" placed so that its locations fall on the value in
 * that text: a bad value is reported in the user's words, with a caret. */
void fe_parse_defines(fe_ctx *cx)
{
    const fe_options *o = cx->opts;
    if (!o || o->ndefines <= 0) return;
    cx->defs = arena_calloc(cx->mem, (size_t)o->ndefines, sizeof *cx->defs);
    if (!cx->defs) { fe_oom(cx); return; }
    cx->ndefs = o->ndefines;
    char *shown = arena_strdup(cx->mem, "");
    for (int i = 0; shown && i < o->ndefines; i++)
        shown = arena_printf(cx->mem, "%s-D %s=%s\n", shown, o->defines[i].name ? o->defines[i].name : "",
                             o->defines[i].value ? o->defines[i].value : "");
    const src_file *sf = shown ? diag_add_source(cx->d, "<command line>", shown, strlen(shown)) : NULL;
    if (!sf) { fe_oom(cx); return; }
    enum { WRAPPER = 12 };   /* strlen("const __d = ") */
    for (int i = 0; i < o->ndefines; i++) {
        fe_def *def = &cx->defs[i];
        def->name = o->defines[i].name ? o->defines[i].name : "";
        const char *value = o->defines[i].value ? o->defines[i].value : "";
        char *src = arena_printf(cx->mem, "const __d = %s;", value);
        if (!src) { fe_oom(cx); return; }
        int before = cx->d->nerrors;
        int col = (int)strlen("-D ") + (int)strlen(def->name) + 2;
        const char *semi = strchr(value, ';');
        if (semi) {
            /* It would end the wrapper: "expected 'import', ..." */
            diag_error(cx->d, ((src_loc){sf->path, i + 1, col + (int)(semi - value)}),
                       "a -D value is one expression (found ';')");
            continue;
        }
        diag *mark = cx->d->last;
        ast_file *af = fe_parse_at(cx->mem, cx->d, sf->path, src, strlen(src), i + 1, col - WRAPPER);
        fe_reword_wrapper(cx, mark);
        if (!af || cx->d->nerrors > before) continue;
        const ast_item *it = af->items.len == 1 ? af->items.items[0] : NULL;
        if (!it || it->kind != AST_ITEM_CONST || !it->value) {
            diag_error(cx->d, ((src_loc){sf->path, i + 1, col}), "bad value '%s' for -D %s: expected "
                       "one expression", value, def->name);
            continue;
        }
        def->expr = it->value;
    }
    /* -D N=4 -D N=5 is almost always a mistake in a script: refuse it
     * rather than pick one. */
    for (int i = 0; i < cx->ndefs; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(cx->defs[i].name, cx->defs[j].name) == 0) {
                diag_error(cx->d, ((src_loc){sf->path, i + 1, 4}), "-D %s is given twice",
                           cx->defs[i].name);
                diag_note(cx->d, ((src_loc){sf->path, j + 1, 4}), "first given here");
                break;
            }
}

fe_def *fe_find_define(fe_ctx *cx, const char *name)
{
    /* (A name given twice is an error, reported by fe_parse_defines.) */
    for (int i = cx->ndefs - 1; i >= 0; i--)
        if (strcmp(cx->defs[i].name, name) == 0) return &cx->defs[i];
    return NULL;
}

fe_val fe_define_value(fe_ctx *cx, fe_def *def)
{
    if (def->state == 2) return def->val;
    if (!def->expr) return fe_err();
    if (def->state == 1) {
        diag_error(cx->d, def->expr->loc, "-D %s refers to itself", def->name);
        return fe_err();
    }
    def->state = 1;
    fe_val v = fe_const_expr(cx, NULL, def->expr);
    def->state = 2;
    def->val = v;
    return v;
}
