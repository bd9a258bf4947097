/* parse.c - the IR text reader: reads exactly what ir/print.c writes
 * (docs/ir.md), so passes can be tested as .ir -> .ir golden files and IR
 * can be written by hand.
 *
 * A hand-written recursive-descent reader over the text, one op per line.
 * Values are looked up by their printed token (`%acc.4`, `%7`; the part
 * before the last `.N` becomes the name hint) in one table per function,
 * parameters by name in the block being read (grid or body).  Each op's
 * attributes are read from the item list after its name, matched against
 * the IR_A_* flags of its row in IR_OPS, so an op added to the table is
 * read without code here.  Types go through parse_type, the one place a
 * layout suffix (scheduled IR) is read; a scheduled module starts with its
 * `module scheduled, ...` line.  Structure and types are then checked by the
 * verifier, which reports at the op's .ir location.  Errors are located
 * diagnostics (`file:line:col: error: ...`), never a crash; the reader
 * stops at the first. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "target.h"

typedef struct sym {
    const char *name; /* the token after '%', NUL-terminated (arena) */
    ir_value *v;
} sym;

typedef struct pending_call {
    ir_op *op;
    const char *name;
    src_loc loc;
} pending_call;

typedef struct reader {
    ir_module *m;
    const char *path;
    const char *text, *p, *end;
    const char *loc_ptr, *loc_line_start; /* cache for loc_of: positions move forward */
    int loc_line;
    bool failed;
    tile_status st;
    ir_func *f;
    ir_block *params;     /* block whose arguments %param names (grid or body) */
    sym *syms;            /* open addressing, nsyms < cap / 2 */
    size_t nsyms, cap;
    pending_call *calls;
    int ncalls, capcalls;
} reader;

/* ---- locations and errors ---------------------------------------------- */

static src_loc loc_of(reader *r, const char *at)
{
    if (at < r->loc_ptr) {
        r->loc_ptr = r->loc_line_start = r->text;
        r->loc_line = 1;
    }
    for (const char *q = r->loc_ptr; q < at; q++)
        if (*q == '\n') {
            r->loc_line++;
            r->loc_line_start = q + 1;
        }
    r->loc_ptr = at;
    return (src_loc){r->path, r->loc_line, (int)(at - r->loc_line_start) + 1};
}

static bool err(reader *r, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool err(reader *r, const char *at, const char *fmt, ...)
{
    if (r->failed) return false;
    r->failed = true;
    if (r->st == TILE_OK) r->st = TILE_ERR_SYNTAX;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->m->diags) diag_error(r->m->diags, loc_of(r, at), "%s", msg);
    return false;
}

static bool oom(reader *r)
{
    r->st = TILE_ERR_NOMEM;
    return err(r, r->p, "out of memory");
}

/* ---- characters -------------------------------------------------------- */

static bool is_ident(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
}

static void blanks(reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\r')) r->p++;
}

static bool at_line_end(reader *r)
{
    blanks(r);
    return r->p >= r->end || *r->p == '\n' || (*r->p == '/' && r->p + 1 < r->end && r->p[1] == '/');
}

/* The rest of the line is empty or a comment; consumes it and the newline. */
static bool eol(reader *r)
{
    if (!at_line_end(r)) return err(r, r->p, "expected the end of the line");
    while (r->p < r->end && *r->p != '\n') r->p++;
    if (r->p < r->end) r->p++;
    return true;
}

/* Skips empty and comment-only lines; leaves p at the next line's text. */
static void skip_empty_lines(reader *r)
{
    while (at_line_end(r) && r->p < r->end) eol(r);
}

static bool peek(reader *r, char c)
{
    blanks(r);
    return r->p < r->end && *r->p == c;
}

static bool accept(reader *r, const char *s)
{
    size_t n = strlen(s);
    blanks(r);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, s, n) != 0) return false;
    r->p += n;
    return true;
}

static bool expect(reader *r, const char *s)
{
    if (accept(r, s)) return true;
    return err(r, r->p, "expected '%s'", s);
}

/* A word (letters, digits, '_', and '.' when dots) or NULL; not consumed
 * unless taken. */
static size_t word_len(reader *r, bool dots)
{
    blanks(r);
    size_t n = 0;
    while (r->p + n < r->end && (is_ident(r->p[n]) || (dots && r->p[n] == '.'))) n++;
    return n;
}

static bool accept_word(reader *r, const char *w)
{
    size_t n = word_len(r, false);
    if (n != strlen(w) || memcmp(r->p, w, n) != 0) return false;
    r->p += n;
    return true;
}

static char *take_word(reader *r, bool dots, const char *what)
{
    size_t n = word_len(r, dots);
    if (!n) {
        err(r, r->p, "expected %s", what);
        return NULL;
    }
    char *s = arena_strndup(r->m->mem, r->p, n);
    if (!s) {
        oom(r);
        return NULL;
    }
    r->p += n;
    return s;
}

static bool parse_int(reader *r, int64_t *out, const char *what)
{
    blanks(r);
    const char *at = r->p;
    size_t n = 0;
    if (at + n < r->end && (at[n] == '-' || at[n] == '+')) n++;
    while (at + n < r->end && at[n] >= '0' && at[n] <= '9') n++;
    if (n == 0 || !(at[n - 1] >= '0' && at[n - 1] <= '9') || n > 24)
        return err(r, at, "expected %s", what);
    char buf[32];
    memcpy(buf, at, n);
    buf[n] = 0;
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno) return err(r, at, "%s %s is out of range", what, buf);
    *out = v;
    r->p += n;
    return true;
}

/* ---- growable arrays in the arena -------------------------------------- */

static bool grow(reader *r, void **items, int n, int *cap, size_t size)
{
    if (n < *cap) return true;
    int ncap = *cap ? *cap * 2 : 8;
    void *fresh = arena_calloc(r->m->mem, (size_t)ncap, size);
    if (!fresh) return oom(r);
    if (n) memcpy(fresh, *items, (size_t)n * size);
    *items = fresh;
    *cap = ncap;
    return true;
}

typedef struct value_list {
    ir_value **v;
    int n, cap;
} value_list;

typedef struct type_list {
    ir_type *t;
    int n, cap;
} type_list;

typedef struct name_list {
    const char **s;
    const char **at; /* where each token starts */
    int n, cap, capat;
} name_list;

static bool push_value(reader *r, value_list *l, ir_value *v)
{
    if (!grow(r, (void **)&l->v, l->n, &l->cap, sizeof *l->v)) return false;
    l->v[l->n++] = v;
    return true;
}

static bool push_type(reader *r, type_list *l, ir_type t)
{
    if (!grow(r, (void **)&l->t, l->n, &l->cap, sizeof *l->t)) return false;
    l->t[l->n++] = t;
    return true;
}

static bool push_name(reader *r, name_list *l, const char *s, const char *at)
{
    int cap = l->cap;
    if (!grow(r, (void **)&l->s, l->n, &l->cap, sizeof *l->s)) return false;
    if (!grow(r, (void **)&l->at, l->n, &cap, sizeof *l->at)) return false;
    l->s[l->n] = s;
    l->at[l->n++] = at;
    return true;
}

/* ---- values ------------------------------------------------------------ */

static size_t hash_str(const char *s)
{
    size_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static sym *sym_slot(reader *r, const char *name)
{
    if (!r->cap) return NULL;
    for (size_t i = hash_str(name) & (r->cap - 1);; i = (i + 1) & (r->cap - 1))
        if (!r->syms[i].name || strcmp(r->syms[i].name, name) == 0) return &r->syms[i];
}

static bool sym_grow(reader *r)
{
    size_t cap = r->cap ? r->cap * 2 : 256;
    sym *old = r->syms;
    size_t oldcap = r->cap;
    r->syms = calloc(cap, sizeof *r->syms);
    if (!r->syms) {
        r->syms = old;
        return oom(r);
    }
    r->cap = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].name) *sym_slot(r, old[i].name) = old[i];
    free(old);
    return true;
}

static void sym_clear(reader *r)
{
    if (r->cap) memset(r->syms, 0, r->cap * sizeof *r->syms);
    r->nsyms = 0;
}

/* `%tok`: the token after '%' (letters, digits, '_', '.', '!'). */
static const char *value_token(reader *r)
{
    blanks(r);
    if (r->p >= r->end || *r->p != '%') {
        err(r, r->p, "expected a value ('%%name')");
        return NULL;
    }
    const char *at = ++r->p;
    while (r->p < r->end && (is_ident(*r->p) || *r->p == '.' || *r->p == '!')) r->p++;
    if (r->p == at) {
        err(r, at - 1, "expected a value name after '%%'");
        return NULL;
    }
    char *s = arena_strndup(r->m->mem, at, (size_t)(r->p - at));
    if (!s) oom(r);
    return s;
}

static bool is_param(const reader *r, const char *name)
{
    for (int i = 0; r->f && i < r->f->nparams; i++)
        if (r->f->params[i].name && strcmp(r->f->params[i].name, name) == 0) return true;
    return false;
}

/* Binds the token `name` (read at `at`) to v and gives v its name hint:
 * the part before a final `.N` (`%acc.4`), none for a number (`%7`), the
 * whole token for a plain name (`%acc`, handy in hand-written IR; it may
 * not be a parameter's name). */
static bool define(reader *r, const char *name, const char *at, ir_value *v)
{
    if (strchr(name, '!')) return err(r, at - 1, "'%%%s' cannot be defined", name);
    sym *s = sym_slot(r, name);
    if (s && s->name) return err(r, at - 1, "value '%%%s' is defined twice", name);
    if (is_param(r, name)) return err(r, at - 1, "'%%%s' is a parameter", name);
    if (2 * (r->nsyms + 1) > r->cap) {
        if (!sym_grow(r)) return false;
        s = sym_slot(r, name);
    }
    s->name = name;
    s->v = v;
    r->nsyms++;
    const char *dot = strrchr(name, '.');
    bool numbered = dot && dot[1] && dot > name;
    for (const char *q = dot ? dot + 1 : name; numbered && *q; q++)
        numbered = *q >= '0' && *q <= '9';
    size_t hint = numbered ? (size_t)(dot - name)
                  : name[strspn(name, "0123456789")] ? strlen(name) : 0;
    if (hint && !(v->name = arena_strndup(r->m->mem, name, hint))) return oom(r);
    return true;
}

static ir_value *lookup(reader *r, const char *name, const char *at)
{
    sym *s = sym_slot(r, name);
    if (s && s->name) return s->v;
    const ir_func *f = r->f;
    for (int i = 0; r->params && f && i < f->nparams && i < r->params->nargs; i++)
        if (f->params[i].name && strcmp(f->params[i].name, name) == 0) return r->params->args[i];
    err(r, at, "use of undefined value '%%%s'", name);
    return NULL;
}

static ir_value *ref(reader *r)
{
    blanks(r);
    const char *at = r->p;
    const char *name = value_token(r);
    return name ? lookup(r, name, at) : NULL;
}

/* %a, %b, ... (at least one) */
static bool refs(reader *r, value_list *out)
{
    do {
        ir_value *v = ref(r);
        if (!v || !push_value(r, out, v)) return false;
    } while (accept(r, ","));
    return true;
}

/* ---- types ------------------------------------------------------------- */

static bool parse_dtype(reader *r, ir_dtype *out)
{
    const char *at = (blanks(r), r->p);
    size_t n = word_len(r, false);
    char buf[16];
    if (n == 0 || n >= sizeof buf) return err(r, at, "expected a dtype");
    memcpy(buf, at, n);
    buf[n] = 0;
    if (!ir_dtype_from_name(buf, out)) return err(r, at, "unknown dtype '%s'", buf);
    r->p += n;
    return true;
}

/* `[64,128]` after a dtype; p is at '['. */
static bool parse_shape(reader *r, int *rank, int64_t *shape)
{
    const char *at = r->p++;
    *rank = 0;
    do {
        if (*rank == IR_MAX_RANK) return err(r, at, "more than %d dims", IR_MAX_RANK);
        if (!parse_int(r, &shape[*rank], "a dim size")) return false;
        (*rank)++;
    } while (accept(r, ","));
    return expect(r, "]");
}

/* ---- layouts (scheduled IR; ir/layout.c prints them) ------------------- */

/* `name=[a,b,...]` (name may be empty: `[...]`); returns the count. */
static bool parse_int_list(reader *r, const char *name, int *v, int *n)
{
    if (*name && !expect(r, name)) return false;
    if (!expect(r, "[")) return false;
    *n = 0;
    do {
        int64_t x;
        const char *at = (blanks(r), r->p);
        if (*n == IR_LAYOUT_MAX_RANK) return err(r, at, "more than %d entries", IR_LAYOUT_MAX_RANK);
        if (!parse_int(r, &x, "an integer")) return false;
        if (x < 0 || x > 65536) return err(r, at, "layout entry %lld out of range", (long long)x);
        v[(*n)++] = (int)x;
    } while (accept(r, ","));
    return expect(r, "]");
}

/* `name=N`, 1 <= N <= 65536 (`name` may be empty: a bare number). */
static bool parse_small(reader *r, const char *name, int lo, int *out)
{
    if (*name && !expect(r, name)) return false;
    int64_t x;
    const char *at = (blanks(r), r->p);
    if (!parse_int(r, &x, "an integer")) return false;
    if (x < lo || x > 65536) return err(r, at, "layout field %lld out of range", (long long)x);
    *out = (int)x;
    return true;
}

static const ir_layout *parse_layout(reader *r, int depth);

/* `,#parent>` of slice and dot_op. */
static bool parse_parent(reader *r, int depth, const ir_layout **parent)
{
    return expect(r, ",") && (*parent = parse_layout(r, depth + 1)) != NULL && expect(r, ">");
}

/* One of ir/layout.c's forms, interned in the module:
 *   #blocked<spt=[..],tpw=[..],wpc=[..],order=[..]>   (one entry per dim)
 *   #slice<dim=D,#parent>   #mma<vV,wpc=[M,N]>   #dot_op<I,kwidth=K,#parent>
 *   #shared<vec=V,per_phase=P,max_phase=M,order=[..][,swizzle=128]>
 * Checked here: the form, and entries consistent with each other (lists of
 * one length, a permutation for order, a rank that fits); whether the layout
 * suits its tile and the module's warps is the verifier's. */
static const ir_layout *parse_layout(reader *r, int depth)
{
    blanks(r);
    const char *at = r->p;
    if (depth > 8) {
        err(r, at, "layouts nested too deeply");
        return NULL;
    }
    if (!expect(r, "#")) return NULL;
    ir_layout l;
    memset(&l, 0, sizeof l);
    int n[4] = {0};
    bool ok;
    if (accept_word(r, "blocked")) {
        l.kind = IR_LAYOUT_BLOCKED;
        ok = expect(r, "<") && parse_int_list(r, "spt=", l.size_per_thread, &n[0]) &&
             parse_int_list(r, ",tpw=", l.threads_per_warp, &n[1]) &&
             parse_int_list(r, ",wpc=", l.warps_per_cta, &n[2]) &&
             parse_int_list(r, ",order=", l.order, &n[3]) && expect(r, ">");
        if (ok && (n[1] != n[0] || n[2] != n[0] || n[3] != n[0])) {
            err(r, at, "#blocked: spt, tpw, wpc and order need one entry per dim each "
                       "(%d, %d, %d, %d)", n[0], n[1], n[2], n[3]);
            return NULL;
        }
        l.rank = n[0];
        /* Products the verifier takes stay small (no overflow on any input). */
        int64_t lanes = 1, warps = 1;
        for (int i = 0; ok && i < l.rank; i++) {
            lanes *= l.threads_per_warp[i] > 32 ? 64 : l.threads_per_warp[i];
            warps *= l.warps_per_cta[i] > 32 ? 64 : l.warps_per_cta[i];
            if (lanes > 32 || warps > 32) break;
        }
        if (ok && (lanes != 32 || warps > 32)) {
            err(r, at, "#blocked: tpw must multiply to 32 lanes and wpc to at most 32 warps");
            return NULL;
        }
    } else if (accept_word(r, "slice")) {
        l.kind = IR_LAYOUT_SLICE;
        ok = expect(r, "<") && parse_small(r, "dim=", 0, &l.dim) && parse_parent(r, depth, &l.parent);
        if (ok && (l.parent->rank < 1 || l.dim >= l.parent->rank)) {
            err(r, at, "#slice: dim %d is not a dim of its rank-%d parent", l.dim, l.parent->rank);
            return NULL;
        }
        if (ok) l.rank = l.parent->rank - 1;
    } else if (accept_word(r, "mma")) {
        l.kind = IR_LAYOUT_MMA;
        l.rank = 2;
        ok = expect(r, "<") && expect(r, "v") && parse_small(r, "", 2, &l.version) &&
             parse_int_list(r, ",wpc=", l.warps_per_cta, &n[0]) && expect(r, ">");
        if (ok && l.version != 2 && l.version != 3) {
            err(r, at, "#mma: version %d (2: mma.sync, 3: wgmma)", l.version);
            return NULL;
        }
        if (ok && n[0] != 2) {
            err(r, at, "#mma: wpc takes 2 entries, not %d", n[0]);
            return NULL;
        }
        if (ok && (int64_t)l.warps_per_cta[0] * l.warps_per_cta[1] > 32) {
            err(r, at, "#mma: wpc multiplies to more than 32 warps");
            return NULL;
        }
    } else if (accept_word(r, "dot_op")) {
        l.kind = IR_LAYOUT_DOT_OPERAND;
        l.rank = 2;
        ok = expect(r, "<") && parse_small(r, "", 0, &l.opidx) &&
             parse_small(r, ",kwidth=", 1, &l.kwidth) && parse_parent(r, depth, &l.parent);
        if (ok && (l.opidx > 1 || l.parent->kind != IR_LAYOUT_MMA)) {
            err(r, at, "#dot_op: operand 0 or 1 of an #mma parent");
            return NULL;
        }
    } else if (accept_word(r, "shared")) {
        l.kind = IR_LAYOUT_SHARED;
        ok = expect(r, "<") && parse_small(r, "vec=", 1, &l.vec) &&
             parse_small(r, ",per_phase=", 1, &l.per_phase) &&
             parse_small(r, ",max_phase=", 1, &l.max_phase) &&
             parse_int_list(r, ",order=", l.order, &n[0]);
        if (ok && peek(r, ',')) {
            ok = parse_small(r, ",swizzle=", 0, &l.swizzle);
            if (ok && l.swizzle != 0 && l.swizzle != 128) {
                err(r, at, "#shared: swizzle=%d (0 or 128)", l.swizzle);
                return NULL;
            }
        }
        ok = ok && expect(r, ">");
        l.rank = n[0];
    } else {
        err(r, r->p, "unknown layout (#blocked, #slice, #mma, #dot_op or #shared)");
        return NULL;
    }
    if (!ok) return NULL;
    if (l.kind == IR_LAYOUT_BLOCKED || l.kind == IR_LAYOUT_SHARED) {
        bool seen[IR_LAYOUT_MAX_RANK] = {false};
        for (int i = 0; i < l.rank; i++) {
            if (l.order[i] >= l.rank || seen[l.order[i]]) {
                err(r, at, "layout order is not a permutation of the %d dims", l.rank);
                return NULL;
            }
            seen[l.order[i]] = true;
        }
    }
    const ir_layout *interned = ir_layout_intern(r->m->mem, &r->m->layouts, &l);
    if (!interned) oom(r);
    return interned;
}

/* What may follow a type: the layout of scheduled IR
 * (`f32[64,64]#blocked<...>`), only on a tile of rank >= 1 and of its rank. */
static bool parse_type_suffix(reader *r, ir_type *t)
{
    if (r->p >= r->end || *r->p != '#') return true;
    const char *at = r->p;
    if (t->kind != IR_TY_TILE || t->rank == 0)
        return err(r, at, "only a tile of rank 1 or more has a layout");
    const ir_layout *l = parse_layout(r, 0);
    if (!l) return false;
    if (l->rank != t->rank)
        return err(r, at, "a layout of rank %d on a tile of rank %d", l->rank, t->rank);
    t->layout = l;
    return true;
}

/* `f32`, `bf16[64,128]`, `tensor<bf16,4>`. */
static bool parse_type(reader *r, ir_type *t)
{
    if (accept_word(r, "tensor")) {
        ir_dtype dt;
        int64_t rank;
        if (!expect(r, "<") || !parse_dtype(r, &dt) || !expect(r, ",") ||
            !parse_int(r, &rank, "a rank") || !expect(r, ">"))
            return false;
        if (rank < 0 || rank > IR_MAX_RANK) return err(r, r->p, "bad tensor rank %lld", (long long)rank);
        *t = ir_type_tensor(dt, (int)rank);
    } else {
        ir_dtype dt;
        if (!parse_dtype(r, &dt)) return false;
        int rank = 0;
        int64_t shape[IR_MAX_RANK];
        if (r->p < r->end && *r->p == '[' && !parse_shape(r, &rank, shape)) return false;
        *t = ir_type_tile(dt, rank, shape);
    }
    return parse_type_suffix(r, t);
}

static bool parse_types(reader *r, type_list *out)
{
    do {
        ir_type t;
        if (!parse_type(r, &t) || !push_type(r, out, t)) return false;
    } while (accept(r, ","));
    return true;
}

/* ` : types` for an op with nres results (none when nres is 0). */
static bool result_types(reader *r, int nres, type_list *out, const char *opname)
{
    blanks(r);
    const char *at = r->p;
    if (nres == 0) {
        if (peek(r, ':')) return err(r, at, "'%s' here has no results, so no types", opname);
        return true;
    }
    if (!accept(r, ":")) return err(r, at, "expected ':' and the result types");
    if (!parse_types(r, out)) return false;
    if (out->n != nres)
        return err(r, at, "%d result%s but %d type%s", nres, nres == 1 ? "" : "s", out->n,
                   out->n == 1 ? "" : "s");
    return true;
}

/* ---- literals ---------------------------------------------------------- */

static bool parse_string(reader *r, const char **out)
{
    blanks(r);
    const char *at = r->p;
    if (r->p >= r->end || *r->p != '"') return err(r, at, "expected a string");
    r->p++;
    char *buf = arena_alloc(r->m->mem, (size_t)(r->end - r->p) + 1);
    if (!buf) return oom(r);
    size_t n = 0;
    while (r->p < r->end && *r->p != '"') {
        char c = *r->p++;
        if (c == '\n') return err(r, at, "unterminated string");
        if (c == '\\') {
            const char *esc = r->p - 1;
            c = r->p < r->end ? *r->p++ : 0;
            switch (c) {
            case '"': case '\\': break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'x': {
                int v = 0;
                for (int k = 0; k < 2; k++) {
                    char h = r->p < r->end ? *r->p : 0;
                    int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                            : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                    if (d < 0) return err(r, esc, "bad escape: '\\x' takes two hex digits");
                    v = v * 16 + d;
                    r->p++;
                }
                if (v == 0) return err(r, esc, "'\\x00' cannot appear in a string");
                c = (char)v;
                break;
            }
            default: return err(r, esc, "unknown escape '\\%c'", c ? c : ' ');
            }
        }
        buf[n++] = c;
    }
    if (r->p >= r->end) return err(r, at, "unterminated string");
    r->p++;
    buf[n] = 0;
    *out = buf;
    return true;
}

/* The constant `raw` as a value of dtype t: exactly what print_scalar wrote
 * (floats: any strtod form, rounded once to t). */
static bool const_value(reader *r, const char *raw, const char *at, ir_dtype t, ir_scalar *out)
{
    char *end;
    if (t == IR_BOOL) {
        if (strcmp(raw, "true") && strcmp(raw, "false"))
            return err(r, at, "a bool constant is 'true' or 'false', not '%s'", raw);
        out->i = raw[0] == 't';
        return true;
    }
    errno = 0;
    if (ir_dtype_is_float(t)) {
        double v = strtod(raw, &end);
        if (end == raw || *end) return err(r, at, "bad %s constant '%s'", ir_dtype_name(t), raw);
        *out = ir_scalar_round(t, v);
        return true;
    }
    long long v = strtoll(raw, &end, 10);
    if (end == raw || *end || errno) return err(r, at, "bad %s constant '%s'", ir_dtype_name(t), raw);
    if (t == IR_I32 && (v < INT32_MIN || v > INT32_MAX))
        return err(r, at, "constant %s does not fit i32", raw);
    out->i = v;
    return true;
}

/* ---- ops --------------------------------------------------------------- */

typedef enum { IT_REF, IT_STR, IT_LIT, IT_AXIS, IT_START, IT_STEP, IT_PERM, IT_CALLEE } item_kind;

typedef struct item {
    item_kind kind;
    const char *at;
    ir_value *v;          /* IT_REF */
    const char *s;        /* IT_STR, IT_LIT (raw text), IT_CALLEE (name) */
    int64_t i;            /* IT_AXIS, IT_START, IT_STEP */
    int perm[IR_MAX_RANK];
    int nperm;            /* IT_PERM */
} item;

static bool parse_item(reader *r, item *it, value_list *call_args)
{
    blanks(r);
    it->at = r->p;
    if (r->p >= r->end) return err(r, r->p, "expected an operand or attribute");
    char c = *r->p;
    if (c == '%') {
        it->kind = IT_REF;
        return (it->v = ref(r)) != NULL;
    }
    if (c == '"') {
        it->kind = IT_STR;
        return parse_string(r, &it->s);
    }
    if (c == '@') {
        r->p++;
        it->kind = IT_CALLEE;
        if (!(it->s = take_word(r, false, "a function name")) || !expect(r, "(")) return false;
        if (!accept(r, ")") && (!refs(r, call_args) || !expect(r, ")"))) return false;
        return true;
    }
    if (accept(r, "axis=")) {
        it->kind = IT_AXIS;
        return parse_int(r, &it->i, "an axis");
    }
    if (accept(r, "start=")) {
        it->kind = IT_START;
        return parse_int(r, &it->i, "a start");
    }
    if (accept(r, "step=")) {
        it->kind = IT_STEP;
        return parse_int(r, &it->i, "a step");
    }
    if (accept(r, "perm=")) {
        it->kind = IT_PERM;
        if (!expect(r, "[")) return false;
        it->nperm = 0;
        if (accept(r, "]")) return true;
        do {
            int64_t v;
            if (it->nperm == IR_MAX_RANK) return err(r, r->p, "perm has more than %d entries", IR_MAX_RANK);
            if (!parse_int(r, &v, "a perm entry")) return false;
            if (v < 0 || v >= IR_MAX_RANK) return err(r, r->p, "perm entry %lld out of range", (long long)v);
            it->perm[it->nperm++] = (int)v;
        } while (accept(r, ","));
        return expect(r, "]");
    }
    size_t n = 0;
    while (r->p + n < r->end && (is_ident(r->p[n]) || strchr("+-.", r->p[n]))) n++;
    if (!n) return err(r, r->p, "expected an operand or attribute");
    it->kind = IT_LIT;
    if (!(it->s = arena_strndup(r->m->mem, r->p, n))) return oom(r);
    r->p += n;
    return true;
}

static const char *item_what(item_kind k)
{
    switch (k) {
    case IT_REF: return "operand";
    case IT_STR: return "string";
    case IT_LIT: return "literal";
    case IT_AXIS: return "axis=";
    case IT_START: return "start=";
    case IT_STEP: return "step=";
    case IT_PERM: return "perm=";
    case IT_CALLEE: return "callee";
    }
    return "item";
}

/* Takes the next item if it has kind k. */
static const item *take(const item *items, int n, int *k, item_kind kind)
{
    return *k < n && items[*k].kind == kind ? &items[(*k)++] : NULL;
}

static bool check_counts(reader *r, const char *at, ir_opcode code, int nops, int nres)
{
    const ir_op_info *info = &ir_op_table[code];
    if (info->noperands >= 0 && nops != info->noperands)
        return err(r, at, "'%s' takes %d operand%s, not %d", info->name, info->noperands,
                   info->noperands == 1 ? "" : "s", nops);
    if (info->nresults >= 0 && nres != info->nresults)
        return err(r, at, "'%s' has %d result%s, not %d", info->name, info->nresults,
                   info->nresults == 1 ? "" : "s", nres);
    return true;
}

static bool define_results(reader *r, ir_op *op, const name_list *res)
{
    for (int i = 0; i < res->n; i++)
        if (!define(r, res->s[i], res->at[i], op->results[i])) return false;
    return true;
}

static ir_op *build(reader *r, ir_builder *b, ir_opcode code, const value_list *ops,
                    const type_list *types, int nblocks)
{
    ir_op *op = ir_build(b, code, ops->n, ops->v, types->n, types->t, nblocks);
    if (!op) oom(r);
    return op;
}

/* `name items : types`: attributes and operands as the op table declares. */
static bool parse_generic(reader *r, ir_builder *b, ir_opcode code, const name_list *res,
                          const char *at)
{
    unsigned fl = ir_op_table[code].flags;
    item *items = NULL;
    int nitems = 0, cap = 0;
    value_list ops = {0};
    if (!at_line_end(r) && !peek(r, ':')) {
        do {
            if (!grow(r, (void **)&items, nitems, &cap, sizeof *items)) return false;
            memset(&items[nitems], 0, sizeof *items);
            if (!parse_item(r, &items[nitems], &ops)) return false;
            nitems++;
        } while (accept(r, ","));
    }
    int k = 0;
    const item *cval = NULL, *label = NULL, *callee = NULL, *index = NULL, *axis = NULL,
               *perm = NULL, *message = NULL, *start = NULL, *step = NULL;
    const char *name = ir_op_table[code].name;
    if ((fl & IR_A_CVAL) && !(cval = take(items, nitems, &k, IT_LIT)))
        return err(r, k < nitems ? items[k].at : r->p, "'%s' needs its value", name);
    if ((fl & IR_A_LABEL) && !(label = take(items, nitems, &k, IT_STR)))
        return err(r, k < nitems ? items[k].at : r->p, "'%s' needs its label string", name);
    if ((fl & IR_A_CALLEE) && !(callee = take(items, nitems, &k, IT_CALLEE)))
        return err(r, k < nitems ? items[k].at : r->p, "'%s' needs '@function(...)'", name);
    if (!(fl & IR_A_CALLEE))
        for (const item *it; (it = take(items, nitems, &k, IT_REF));)
            if (!push_value(r, &ops, it->v)) return false;
    if ((fl & IR_A_INDEX) && !(index = take(items, nitems, &k, IT_LIT)))
        return err(r, k < nitems ? items[k].at : r->p, "'%s' needs an index", name);
    if ((fl & IR_A_AXIS) && !(axis = take(items, nitems, &k, IT_AXIS)))
        return err(r, k < nitems ? items[k].at : r->p, "'%s' needs 'axis=N'", name);
    if ((fl & IR_A_SLICE) && (!(start = take(items, nitems, &k, IT_START)) ||
                              !(step = take(items, nitems, &k, IT_STEP))))
        return err(r, k < nitems ? items[k].at : r->p, "'%s' needs 'start=S, step=T'", name);
    if ((fl & IR_A_PERM) && !(perm = take(items, nitems, &k, IT_PERM)))
        return err(r, k < nitems ? items[k].at : r->p, "'%s' needs 'perm=[...]'", name);
    if ((fl & IR_A_MESSAGE) && !(message = take(items, nitems, &k, IT_STR)))
        return err(r, k < nitems ? items[k].at : r->p, "'%s' needs its message string", name);
    if (k < nitems) return err(r, items[k].at, "unexpected %s in '%s'", item_what(items[k].kind), name);

    type_list types = {0};
    if (!result_types(r, res->n, &types, name) || !check_counts(r, at, code, ops.n, res->n))
        return false;
    int64_t idx = 0;
    if (index) {
        char *end;
        errno = 0;
        idx = strtoll(index->s, &end, 10);
        if (*end || errno || end == index->s)
            return err(r, index->at, "'%s' needs an integer index, not '%s'", name, index->s);
    }
    ir_scalar val = {0};
    if (cval && !const_value(r, cval->s, cval->at, types.t[0].dtype, &val)) return false;
    if (perm && perm->nperm != types.t[0].rank)
        return err(r, perm->at, "perm has %d entries but the result has rank %d", perm->nperm,
                   types.t[0].rank);
    ir_op *op = build(r, b, code, &ops, &types, 0);
    if (!op) return false;
    if (cval) op->attr.cval = val;
    if (index) op->attr.i = idx;
    if (axis) op->attr.i = axis->i;
    if (start) op->attr.start = start->i;
    if (step) op->attr.step = step->i;
    if (perm) memcpy(op->attr.perm, perm->perm, sizeof perm->perm);
    if (label) op->attr.str = label->s;
    if (message) op->attr.str = message->s;
    if (callee) {
        if (!grow(r, (void **)&r->calls, r->ncalls, &r->capcalls, sizeof *r->calls)) return false;
        r->calls[r->ncalls++] = (pending_call){op, callee->s, loc_of(r, callee->at)};
    }
    return define_results(r, op, res);
}

/* load/store/atomic_add (IR_A_MEMFLAGS): `%t[%i, ...]`, the stored value
 * (ops without results), ` mask %m`, ` other %o` (ops with a result). */
static bool parse_memory(reader *r, ir_builder *b, ir_opcode code, const name_list *res,
                         const char *at)
{
    bool stores = ir_op_table[code].nresults == 0;
    value_list ops = {0};
    ir_value *t = ref(r);
    if (!t || !push_value(r, &ops, t) || !expect(r, "[")) return false;
    if (!accept(r, "]") && (!refs(r, &ops) || !expect(r, "]"))) return false;
    int64_t flags = 0;
    if (stores) {
        ir_value *v;
        if (!expect(r, ",") || !(v = ref(r)) || !push_value(r, &ops, v)) return false;
    }
    if (accept_word(r, "mask")) {
        ir_value *m = ref(r);
        if (!m || !push_value(r, &ops, m)) return false;
        flags |= IR_LOAD_HAS_MASK;
    }
    if (!stores && accept_word(r, "other")) {
        ir_value *o = ref(r);
        if (!o || !push_value(r, &ops, o)) return false;
        flags |= IR_LOAD_HAS_OTHER;
    }
    type_list types = {0};
    if (!result_types(r, res->n, &types, ir_op_table[code].name) ||
        !check_counts(r, at, code, ops.n, res->n))
        return false;
    ir_op *op = build(r, b, code, &ops, &types, 0);
    if (!op) return false;
    op->attr.i = flags;
    return define_results(r, op, res);
}

static bool parse_block(reader *r, ir_block *blk, bool grid);

/* `{` EOL ops `}`: region i of op, with arguments of arg_types named args. */
static bool parse_region(reader *r, ir_op *op, int i, const type_list *arg_types,
                         const name_list *args)
{
    ir_block *blk = ir_op_new_region(op, i, arg_types->n, arg_types->t);
    if (!blk) return oom(r);
    for (int k = 0; k < args->n && k < blk->nargs; k++)
        if (!define(r, args->s[k], args->at[k], blk->args[k])) return false;
    if (!expect(r, "{") || !eol(r) || !parse_block(r, blk, false)) return false;
    return expect(r, "}");
}

/* %a, %b, ... (at least one): names a region or an op defines. */
static bool def_names(reader *r, name_list *out)
{
    do {
        blanks(r);
        const char *a = r->p + 1;
        const char *name = value_token(r);
        if (!name || !push_name(r, out, name, a)) return false;
    } while (accept(r, ","));
    return true;
}

/* `iter(%a = %init, ...)`: names into args, inits into ops. */
static bool parse_iter(reader *r, name_list *args, value_list *ops)
{
    if (!accept_word(r, "iter")) return true;
    if (!expect(r, "(")) return false;
    do {
        blanks(r);
        const char *at = r->p + 1;
        const char *name = value_token(r);
        ir_value *init;
        if (!name || !push_name(r, args, name, at) || !expect(r, "=") || !(init = ref(r)) ||
            !push_value(r, ops, init))
            return false;
    } while (accept(r, ","));
    return expect(r, ")");
}

static bool carried_match(reader *r, const char *at, int ncarried, int nres)
{
    if (ncarried == nres) return true;
    return err(r, at, "%d carried value%s but %d result%s", ncarried, ncarried == 1 ? "" : "s",
               nres, nres == 1 ? "" : "s");
}

/* for %iv = %lo to %hi step %st iter(...) : types { ... } */
static bool parse_for(reader *r, ir_builder *b, const name_list *res, const char *at)
{
    name_list args = {0};
    value_list ops = {0};
    blanks(r);
    const char *iv_at = r->p + 1;
    const char *iv = value_token(r);
    if (!iv || !push_name(r, &args, iv, iv_at) || !expect(r, "=")) return false;
    static const char *const words[3] = {NULL, "to", "step"};
    for (int k = 0; k < 3; k++) {
        if (words[k] && !accept_word(r, words[k])) return err(r, r->p, "expected '%s'", words[k]);
        ir_value *v = ref(r);
        if (!v || !push_value(r, &ops, v)) return false;
    }
    if (!parse_iter(r, &args, &ops)) return false;
    type_list types = {0}, arg_types = {0};
    if (!result_types(r, res->n, &types, "for") || !carried_match(r, at, args.n - 1, res->n))
        return false;
    ir_op *op = build(r, b, IR_OP_FOR, &ops, &types, 1);
    if (!op || !push_type(r, &arg_types, ir_type_scalar(IR_I32))) return false;
    for (int k = 0; k < types.n; k++)
        if (!push_type(r, &arg_types, types.t[k])) return false;
    return parse_region(r, op, 0, &arg_types, &args) && define_results(r, op, res);
}

/* while iter(...) : types { cond } do (%args) { body } */
static bool parse_while(reader *r, ir_builder *b, const name_list *res, const char *at)
{
    name_list cond_args = {0}, body_args = {0};
    value_list ops = {0};
    type_list types = {0};
    if (!parse_iter(r, &cond_args, &ops) || !result_types(r, res->n, &types, "while") ||
        !carried_match(r, at, cond_args.n, res->n))
        return false;
    ir_op *op = build(r, b, IR_OP_WHILE, &ops, &types, 2);
    if (!op || !parse_region(r, op, 0, &types, &cond_args)) return false;
    if (!accept_word(r, "do")) return err(r, r->p, "expected 'do'");
    if (!expect(r, "(")) return false;
    if (!accept(r, ")") && (!def_names(r, &body_args) || !expect(r, ")"))) return false;
    if (body_args.n != types.n)
        return err(r, at, "the body takes %d argument%s but the loop carries %d", body_args.n,
                   body_args.n == 1 ? "" : "s", types.n);
    return parse_region(r, op, 1, &types, &body_args) && define_results(r, op, res);
}

/* scan %x, ..., axis=A : types combine(%a_0, ..., %b_{k-1}) { ... }: the
 * combine takes the accumulated values, then the next elements, as rank-0
 * tiles of the result dtypes. */
static bool parse_scan(reader *r, ir_builder *b, const name_list *res, const char *at)
{
    value_list ops = {0};
    type_list types = {0}, arg_types = {0};
    name_list args = {0};
    int64_t axis;
    do {
        ir_value *v = ref(r);
        if (!v || !push_value(r, &ops, v) || !expect(r, ",")) return false;
    } while (peek(r, '%'));
    if (!expect(r, "axis=") || !parse_int(r, &axis, "an axis")) return false;
    if (ops.n > IR_SCAN_MAX_OPERANDS)
        return err(r, at, "'scan' takes at most %d operands, not %d", IR_SCAN_MAX_OPERANDS, ops.n);
    if (!result_types(r, res->n, &types, "scan")) return false;
    if (ops.n != res->n)
        return err(r, at, "'scan' of %d operand%s has %d result%s", ops.n, ops.n == 1 ? "" : "s",
                   res->n, res->n == 1 ? "" : "s");
    ir_op *op = build(r, b, IR_OP_SCAN, &ops, &types, 1);
    if (!op) return false;
    op->attr.i = axis;
    if (!accept_word(r, "combine")) return err(r, r->p, "expected 'combine'");
    if (!expect(r, "(")) return false;
    if (!accept(r, ")") && (!def_names(r, &args) || !expect(r, ")"))) return false;
    if (args.n != 2 * types.n)
        return err(r, at, "'scan' of %d operand%s needs a combine of %d arguments, not %d",
                   types.n, types.n == 1 ? "" : "s", 2 * types.n, args.n);
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < types.n; k++)
            if (!push_type(r, &arg_types, ir_type_scalar(types.t[k].dtype))) return false;
    return parse_region(r, op, 0, &arg_types, &args) && define_results(r, op, res);
}

/* if %c : types { then } else { else } */
static bool parse_if(reader *r, ir_builder *b, const name_list *res)
{
    value_list ops = {0};
    type_list types = {0}, none = {0};
    name_list no_args = {0};
    ir_value *c = ref(r);
    if (!c || !push_value(r, &ops, c) || !result_types(r, res->n, &types, "if")) return false;
    ir_op *op = build(r, b, IR_OP_IF, &ops, &types, 2);
    if (!op || !parse_region(r, op, 0, &none, &no_args)) return false;
    if (!accept_word(r, "else")) return err(r, r->p, "expected 'else'");
    return parse_region(r, op, 1, &none, &no_args) && define_results(r, op, res);
}

static bool parse_op(reader *r, ir_block *blk)
{
    blanks(r);
    const char *at = r->p;
    name_list res = {0};
    if (peek(r, '%') && (!def_names(r, &res) || !expect(r, "="))) return false;
    blanks(r);
    const char *name_at = r->p;
    size_t n = word_len(r, true);
    if (!n) return err(r, name_at, "expected an op name");
    ir_opcode code = IR_OP_COUNT;
    for (int c = 0; c < IR_OP_COUNT; c++)
        if (strlen(ir_op_table[c].name) == n && memcmp(ir_op_table[c].name, name_at, n) == 0)
            code = (ir_opcode)c;
    if (code == IR_OP_COUNT) return err(r, name_at, "unknown op '%.*s'", (int)n, name_at);
    r->p += n;
    ir_builder b = {.m = r->m};
    ir_builder_at_end(&b, blk);
    b.loc = loc_of(r, at);
    bool ok;
    switch (code) {
    case IR_OP_FOR: ok = parse_for(r, &b, &res, name_at); break;
    case IR_OP_WHILE: ok = parse_while(r, &b, &res, name_at); break;
    case IR_OP_IF: ok = parse_if(r, &b, &res); break;
    case IR_OP_SCAN: ok = parse_scan(r, &b, &res, name_at); break;
    default:
        ok = (ir_op_table[code].flags & IR_A_MEMFLAGS) ? parse_memory(r, &b, code, &res, name_at)
                                                      : parse_generic(r, &b, code, &res, name_at);
        break;
    }
    return ok && eol(r);
}

/* Ops up to the `}` closing the block (not consumed), or for the grid up
 * to `body:`. */
static bool parse_block(reader *r, ir_block *blk, bool grid)
{
    for (;;) {
        skip_empty_lines(r);
        if (r->p >= r->end) return err(r, r->p, "unexpected end of input: expected '}'");
        if (peek(r, '}')) return true;
        if (grid && (size_t)(r->end - r->p) >= 5 && memcmp(r->p, "body:", 5) == 0) return true;
        if (!parse_op(r, blk)) return false;
    }
}

/* ---- functions --------------------------------------------------------- */

/* `tensor<dtype>[dims]` of a tensor parameter: each dim a size, a name or '?'. */
static bool parse_tensor_param(reader *r, ir_param *p)
{
    ir_dtype dt;
    if (!expect(r, "<") || !parse_dtype(r, &dt) || !expect(r, ">") || !expect(r, "[")) return false;
    int rank = 0;
    do {
        if (rank == IR_MAX_RANK) return err(r, r->p, "more than %d dims", IR_MAX_RANK);
        ir_dim *d = &p->dims[rank++];
        blanks(r);
        d->size = -1;
        if (accept(r, "?")) continue;
        if (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
            if (!parse_int(r, &d->size, "a dim size")) return false;
            if (d->size < 1) return err(r, r->p, "a static dim is at least 1");
        } else if (!(d->name = take_word(r, false, "a dim size or name"))) {
            return false;
        }
    } while (accept(r, ","));
    p->type = ir_type_tensor(dt, rank);
    return expect(r, "]");
}

static bool parse_param(reader *r, ir_func *f)
{
    ir_param p;
    memset(&p, 0, sizeof p);
    blanks(r);
    p.loc = loc_of(r, r->p);
    if (!expect(r, "%") || !(p.name = take_word(r, false, "a parameter name")) || !expect(r, ":"))
        return false;
    blanks(r);
    const char *at = r->p;
    p.is_out = accept_word(r, "out");
    if (accept_word(r, "tensor")) {
        if (!parse_tensor_param(r, &p)) return false;
    } else if (p.is_out) {
        return err(r, at, "only a tensor parameter can be 'out'");
    } else if (!parse_type(r, &p.type)) {
        return false;
    }
    for (int i = 0; i < f->nparams; i++)
        if (strcmp(f->params[i].name, p.name) == 0)
            return err(r, at, "parameter '%%%s' is declared twice", p.name);
    if (!ir_func_add_param(f, &p)) return oom(r);
    return true;
}

/* consts(NAME=VALUE[ auto], ...): a value runs to the next ',' or ')'
 * outside parentheses (`sliding_window(W: 64, S: 4)`). */
static bool parse_consts(reader *r, ir_func *f)
{
    ptr_vec names = {0}, values = {0};
    bool autos[256];
    if (!expect(r, "(")) return false;
    do {
        char *name = take_word(r, false, "a constant name");
        if (!name || !expect(r, "=")) return false;
        blanks(r);
        const char *v = r->p;
        int depth = 0;
        /* A control character (a NUL above all, which would cut the stored
         * string short) ends the value; what follows is then an error. */
        while (r->p < r->end && ((unsigned char)*r->p >= 0x20 || *r->p == '\t') &&
               (depth > 0 || (*r->p != ',' && *r->p != ')'))) {
            depth += *r->p == '(' ? 1 : *r->p == ')' ? -1 : 0;
            r->p++;
        }
        size_t n = (size_t)(r->p - v);
        bool was_auto = n > 5 && memcmp(v + n - 5, " auto", 5) == 0;
        if (was_auto) n -= 5;
        if (!n) return err(r, v, "expected the value of '%s'", name);
        if (names.len == (int)(sizeof autos / sizeof autos[0]))
            return err(r, v, "too many constants");
        char *value = arena_strndup(r->m->mem, v, n);
        if (!value || ptr_vec_push(r->m->mem, &names, name) || ptr_vec_push(r->m->mem, &values, value))
            return oom(r);
        autos[names.len - 1] = was_auto;
    } while (accept(r, ","));
    if (!expect(r, ")")) return false;
    f->consts = arena_calloc(r->m->mem, (size_t)names.len, sizeof *f->consts);
    if (!f->consts) return oom(r);
    for (int i = 0; i < names.len; i++)
        f->consts[i] = (ir_const_binding){names.items[i], values.items[i], autos[i], {0}};
    f->nconsts = names.len;
    return true;
}

static bool parse_func(reader *r)
{
    blanks(r);
    const char *at = r->p;
    ir_func_kind kind;
    if (accept_word(r, "kernel")) kind = IR_FUNC_KERNEL;
    else if (accept_word(r, "fn")) kind = IR_FUNC_FN;
    else return err(r, at, "expected 'kernel' or 'fn'");
    if (!expect(r, "@")) return false;
    const char *name_at = r->p;
    char *name = take_word(r, false, "a function name");
    if (!name) return false;
    if (ir_module_find(r->m, name)) return err(r, name_at, "function '@%s' is defined twice", name);
    ir_func *f = ir_func_new(r->m, name, kind, loc_of(r, at));
    if (!f) return oom(r);
    r->f = f;
    sym_clear(r);
    if (!expect(r, "(")) return false;
    if (!accept(r, ")")) {
        do {
            if (!parse_param(r, f)) return false;
        } while (accept(r, ","));
        if (!expect(r, ")")) return false;
    }
    if (kind == IR_FUNC_FN) {
        type_list results = {0};
        if (!expect(r, "->") || !expect(r, "(")) return false;
        if (!accept(r, ")") && (!parse_types(r, &results) || !expect(r, ")"))) return false;
        ir_func_set_results(f, results.n, results.t);
        if (results.n && !f->result_types) return oom(r);
    }
    if (accept_word(r, "consts") && !parse_consts(r, f)) return false;
    if (!expect(r, "{") || !eol(r)) return false;
    if (kind == IR_FUNC_KERNEL) {
        skip_empty_lines(r);
        if (!expect(r, "grid:") || !eol(r)) return false;
        r->params = f->grid;
        if (!parse_block(r, f->grid, true)) return false;
        if (!expect(r, "body:") || !eol(r)) return false;
    }
    r->params = f->body;
    if (!parse_block(r, f->body, false)) return false;
    return expect(r, "}") && eol(r);
}

static bool resolve_calls(reader *r)
{
    for (int i = 0; i < r->ncalls; i++) {
        pending_call *c = &r->calls[i];
        c->op->attr.callee = ir_module_find(r->m, c->name);
        if (!c->op->attr.callee) {
            r->failed = true;
            r->st = TILE_ERR_SYNTAX;
            if (r->m->diags)
                diag_error(r->m->diags, c->loc, "call of undefined function '@%s'", c->name);
            return false;
        }
    }
    return true;
}

/* `module scheduled, arch=A, num_warps=W, smem_budget=B, num_stages=S`
 * (ir_print_module_attrs) before the first function: scheduled IR. */
static bool parse_module_attrs(reader *r)
{
    blanks(r);
    const char *at = r->p;
    if (!accept_word(r, "module")) return true;
    if (r->m->first || r->m->stage == IR_STAGE_SCHEDULED)
        return err(r, at, "the module line comes once, before the first function");
    if (!accept_word(r, "scheduled")) return err(r, r->p, "expected 'scheduled'");
    ir_target_attrs t = {0};
    int64_t v[3];
    static const char *const names[3] = {"num_warps=", "smem_budget=", "num_stages="};
    if (!expect(r, ",") || !expect(r, "arch=")) return false;
    blanks(r);
    const char *arch_at = r->p;
    char *arch = take_word(r, false, "an architecture");
    if (!arch) return false;
    const ir_target *target = ir_target_find(arch);
    if (!target)
        return err(r, arch_at, "unknown GPU architecture '%s' (known: %s)", arch, ir_target_names());
    for (int k = 0; k < 3; k++) {
        const char *vat = NULL;
        if (!expect(r, ",") || !expect(r, names[k])) return false;
        blanks(r);
        vat = r->p;
        if (!parse_int(r, &v[k], "an integer")) return false;
        if (v[k] < 0 || v[k] > (k == 1 ? (int64_t)1 << 30 : 64))
            return err(r, vat, "%.*s %lld out of range", (int)strlen(names[k]) - 1, names[k],
                       (long long)v[k]);
    }
    if (v[0] < 1 || (v[0] & (v[0] - 1)) || v[0] > 32)
        return err(r, at, "num_warps must be a power of two up to 32, not %lld", (long long)v[0]);
    t.arch = target->arch;
    t.num_warps = (int)v[0];
    t.smem_budget = (int)v[1];
    t.num_stages = (int)v[2];
    r->m->stage = IR_STAGE_SCHEDULED;
    r->m->target = t;
    return eol(r);
}

tile_status ir_parse_module(ir_module *m, const char *path, const char *text, size_t len)
{
    reader r = {.m = m, .st = TILE_OK};
    const src_file *src = m->diags ? diag_add_source(m->diags, path, text, len) : NULL;
    r.path = src ? src->path : path;
    r.text = r.p = r.loc_ptr = r.loc_line_start = src ? src->text : text;
    r.end = r.text + len;
    r.loc_line = 1;
    if (m->diags && !src) return TILE_ERR_NOMEM;
    skip_empty_lines(&r);
    if (parse_module_attrs(&r)) {
        for (;;) {
            skip_empty_lines(&r);
            if (r.p >= r.end || !parse_func(&r)) break;
        }
    }
    if (!r.failed) resolve_calls(&r);
    free(r.syms);
    if (r.failed) return r.st != TILE_OK ? r.st : TILE_ERR_SYNTAX;
    return ir_verify_input(m);
}
