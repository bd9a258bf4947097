/* fe_doc.c - `tilec doc`: the library reference (docs/library.md), generated
 * from the library's own files so that it cannot drift from them.
 *
 * Signatures come from the parser's tree (every parameter, its type and its
 * default as the compiler reads them); prose comes from the comments beside
 * them, by a convention any new library file follows without registering
 * anywhere (a comment line is `//` or `///`: the two read the same):
 *   - the file starts with a header comment whose first line is
 *     `// NAME.tile - title (papers)`; the rest of it says what the program
 *     computes (indented lines are formulas, shown as code);
 *   - `// $ tilec ...` lines anywhere in a comment are example commands (the
 *     doc test runs each one, so each one works);
 *   - the comment block directly above a fn, kernel or specialisation (no
 *     blank line between) is that item's documentation;
 *   - `// ---- TITLE ----` lines open a section; the comment lines right
 *     after one (followed by a blank line) introduce it;
 *   - a library test (tests/test_lib_*.c) states what it covers in a comment
 *     paragraph `Tested (NAME.tile): ...`, next to its case tables.
 * A file that breaks the first rule is an error, not a silent gap. */
#include "fe_lower.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct doc_text {     /* a span of source text (not NUL-terminated) */
    const char *s;
    int len;
} doc_text;

typedef struct doc_file {
    const char *path;         /* as given */
    const char *base;         /* NAME.tile */
    doc_text *lines;          /* lines[1..nlines] */
    int nlines;
    int header_end;           /* last line of the header comment */
    ast_file *ast;
} doc_file;

typedef struct doc_ctx {
    diag_ctx *d;
    FILE *out;
    doc_file *files;
    int nfiles;
    const src_file **tests;
    int ntests;
} doc_ctx;

/* ---- source lines and comments -------------------------------------------- */

static int split_lines(arena *mem, const src_file *sf, doc_text **out)
{
    int n = 1;
    for (size_t i = 0; i < sf->len; i++) n += sf->text[i] == '\n';
    doc_text *lines = arena_calloc(mem, (size_t)n + 2, sizeof *lines);
    if (!lines) return -1;
    const char *p = sf->text, *end = sf->text + sf->len;
    int k = 1;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        lines[k++] = (doc_text){p, (int)(e - p)};
        p = nl ? nl + 1 : end;
    }
    *out = lines;
    return k - 1;
}

static doc_text trim_left(doc_text t)
{
    while (t.len > 0 && (*t.s == ' ' || *t.s == '\t')) t.s++, t.len--;
    while (t.len > 0 && (t.s[t.len - 1] == ' ' || t.s[t.len - 1] == '\r')) t.len--;
    return t;
}

static bool is_blank(doc_text t) { return trim_left(t).len == 0; }

/* The text of a `//` or `///` comment line after "// " or "/// " (NULL .s:
 * not a comment line).  `///` is the doc-comment spelling some files use
 * above their items; it reads exactly as `//`, so no "/ " leaks into the page. */
static doc_text comment_of(doc_text line)
{
    doc_text t = trim_left(line);
    if (t.len < 2 || t.s[0] != '/' || t.s[1] != '/') return (doc_text){NULL, 0};
    t.s += 2, t.len -= 2;
    if (t.len > 0 && t.s[0] == '/') t.s++, t.len--;
    if (t.len > 0 && t.s[0] == ' ') t.s++, t.len--;
    return t;
}

static bool is_comment(doc_text line) { return comment_of(line).s != NULL; }

static bool starts_with(doc_text t, const char *prefix)
{
    size_t n = strlen(prefix);
    return (size_t)t.len >= n && memcmp(t.s, prefix, n) == 0;
}

static bool is_separator(doc_text line)
{
    doc_text c = comment_of(line);
    return c.s && starts_with(trim_left(c), "----");
}

/* "---- named specialisations ----" -> "named specialisations". */
static doc_text separator_title(doc_text line)
{
    doc_text c = trim_left(comment_of(line));
    while (c.len > 0 && (*c.s == '-' || *c.s == ' ')) c.s++, c.len--;
    while (c.len > 0 && (c.s[c.len - 1] == '-' || c.s[c.len - 1] == ' ')) c.len--;
    return c;
}

/* ---- Markdown output ------------------------------------------------------- */

/* Prose: a '<' before a letter would open an HTML tag (tensor<i32>). */
static void put_prose_line(FILE *out, doc_text t)
{
    for (int i = 0; i < t.len; i++) {
        if (t.s[i] == '<' && i + 1 < t.len && isalpha((unsigned char)t.s[i + 1])) fputc('\\', out);
        fputc(t.s[i], out);
    }
    fputc('\n', out);
}

/* Comment lines [first, last] of f as Markdown: prose paragraphs, lines
 * indented by two or more spaces as a code block, `$ ` lines as a shell
 * block; the header's "NAME.tile - " is left out. */
static void put_comment_block(FILE *out, const doc_file *f, int first, int last)
{
    enum { PROSE, CODE, SHELL } mode = PROSE;
    bool gap = false;         /* the next block needs a blank line before it */
    for (int l = first; l <= last; l++) {
        doc_text c = comment_of(f->lines[l]);
        if (!c.s || is_separator(f->lines[l])) continue;
        if (l == 1 && starts_with(c, f->base))
            c.s += strlen(f->base) + 3, c.len -= (int)strlen(f->base) + 3;
        int kind = c.len == 0 ? PROSE : starts_with(c, "$ ") ? SHELL : starts_with(c, "  ") ? CODE : PROSE;
        if (kind != (int)mode) {
            if (mode != PROSE) fputs("```\n", out), gap = true;
            if (gap && c.len) fputc('\n', out), gap = false;
            if (kind != PROSE) fputs(kind == SHELL ? "```sh\n" : "```\n", out);
            mode = kind;
        }
        if (c.len == 0) {
            if (gap) fputc('\n', out);
            gap = false;
        } else if (kind == SHELL) {
            fprintf(out, "%.*s\n", c.len - 2, c.s + 2);
        } else if (kind == CODE) {
            fprintf(out, "%.*s\n", c.len, c.s);
        } else {
            put_prose_line(out, c);
            gap = true;
        }
    }
    if (mode != PROSE) fputs("```\n", out);
    fputc('\n', out);
}

/* ---- expressions and types as written ---------------------------------------- */

static int binop_prec(ast_binop op)
{
    switch (op) {
    case AST_OP_LOR: return 1;
    case AST_OP_LAND: return 2;
    case AST_OP_BOR: return 3;
    case AST_OP_BXOR: return 4;
    case AST_OP_BAND: return 5;
    case AST_OP_EQ: case AST_OP_NE: return 6;
    case AST_OP_LT: case AST_OP_LE: case AST_OP_GT: case AST_OP_GE: return 7;
    case AST_OP_SHL: case AST_OP_SHR: return 8;
    case AST_OP_ADD: case AST_OP_SUB: return 9;
    default: return 10;
    }
}

static void put_expr(FILE *out, const ast_expr *e, int prec);

static void put_args(FILE *out, const ast_list *args)
{
    fputc('(', out);
    for (int i = 0; i < args->len; i++) {
        const ast_arg *a = args->items[i];
        if (i) fputs(", ", out);
        if (a->name) fprintf(out, "%s: ", a->name);
        put_expr(out, a->value, 0);
    }
    fputc(')', out);
}

static void put_list(FILE *out, const ast_list *l, const char *open, const char *close)
{
    fputs(open, out);
    for (int i = 0; i < l->len; i++) {
        if (i) fputs(", ", out);
        put_expr(out, l->items[i], 0);
    }
    fputs(close, out);
}

static void put_type(FILE *out, const ast_type *t);

/* e in a context of precedence prec (0: none), parenthesised if it binds
 * less tightly. */
static void put_expr(FILE *out, const ast_expr *e, int prec)
{
    switch (e->kind) {
    case AST_INT: fprintf(out, "%lld", (long long)e->u.ival); break;
    case AST_FLOAT: fprintf(out, "%g", e->u.fval); break;
    case AST_BOOL: fputs(e->u.bval ? "true" : "false", out); break;
    case AST_STRING: fprintf(out, "\"%s\"", e->u.str); break;
    case AST_NAME: fputs(e->u.str, out); break;
    case AST_AUTO: fputs("auto", out); break;
    case AST_NONE: fputs("None", out); break;
    case AST_SLICE: fputc(':', out); break;
    case AST_UNARY:
        fputs(e->u.unary.op == AST_OP_NEG ? "-" : e->u.unary.op == AST_OP_NOT ? "!" : "~", out);
        put_expr(out, e->u.unary.operand, 11);
        break;
    case AST_BINARY: {
        int p = binop_prec(e->u.binary.op);
        if (p < prec) fputc('(', out);
        put_expr(out, e->u.binary.lhs, p);
        fprintf(out, " %s ", ast_binop_text(e->u.binary.op));
        put_expr(out, e->u.binary.rhs, p + 1);
        if (p < prec) fputc(')', out);
        break;
    }
    case AST_CALL:
        put_expr(out, e->u.call.callee, 12);
        put_args(out, &e->u.call.args);
        break;
    case AST_INDEX:
        put_expr(out, e->u.index.base, 12);
        put_list(out, &e->u.index.idx, "[", "]");
        break;
    case AST_TUPLE: put_list(out, &e->u.elems, "(", ")"); break;
    case AST_LIST: put_list(out, &e->u.elems, "[", "]"); break;
    case AST_CAST:
        fputs("cast<", out);
        put_type(out, e->u.cast.to);
        fputs(">(", out);
        put_expr(out, e->u.cast.operand, 0);
        fputc(')', out);
        break;
    default: fputs("...", out); break;
    }
}

static void put_type(FILE *out, const ast_type *t)
{
    static const char *const kinds[] = {"int", "float", "bool", "dtype", "fn"};
    switch (t->kind) {
    case AST_TY_NAME: fputs(t->name, out); break;
    case AST_TY_TENSOR:
        fprintf(out, "tensor<%s>", t->name);
        put_list(out, &t->dims, "[", "]");
        break;
    case AST_TY_TUPLE:
        fputc('(', out);
        for (int i = 0; i < t->elems.len; i++) {
            if (i) fputs(", ", out);
            put_type(out, t->elems.items[i]);
        }
        fputc(')', out);
        break;
    case AST_TY_CONST:
        fputs((unsigned)t->ckind < 5 ? kinds[t->ckind] : "?", out);
        break;
    default: fputs("?", out); break;
    }
}

static void put_param(FILE *out, const ast_param *p)
{
    if (p->kind == AST_PARAM_CONST) fputs("const ", out);
    fputs(p->name, out);
    if (p->type) {
        fputs(": ", out);
        if (p->is_out) fputs("out ", out);
        put_type(out, p->type);
    }
    if (p->deflt) {
        fputs(" = ", out);
        put_expr(out, p->deflt, 0);
    }
}

static void put_params(FILE *out, const ast_list *params)
{
    fputc('(', out);
    for (int i = 0; i < params->len; i++) {
        if (i) fputs(", ", out);
        put_param(out, params->items[i]);
    }
    fputc(')', out);
}

/* ---- items -------------------------------------------------------------------- */

/* The comment block directly above line `line` (no blank line between),
 * below the header and any separator: [*first, line - 1], or false. */
static bool doc_block_above(const doc_file *f, int line, int *first)
{
    int l = line - 1;
    while (l > f->header_end && is_comment(f->lines[l]) && !is_separator(f->lines[l])) l--;
    *first = l + 1;
    return l + 1 < line;
}

/* The trailing `// note` on a parameter's line, if the parameter is the last
 * thing before it. */
static doc_text param_note(const doc_file *f, const ast_param *p, const ast_param *next)
{
    if (p->loc.line < 1 || p->loc.line > f->nlines) return (doc_text){NULL, 0};
    if (next && next->loc.line == p->loc.line) return (doc_text){NULL, 0};
    doc_text line = f->lines[p->loc.line];
    for (int i = p->loc.col; i + 1 < line.len; i++)
        if (line.s[i] == '/' && line.s[i + 1] == '/') {
            doc_text note = {line.s + i + 2, line.len - i - 2};
            return trim_left(note);
        }
    return (doc_text){NULL, 0};
}

/* One parameter per line, with the note of its source line as a comment. */
static void put_params_lines(FILE *out, const doc_file *f, const ast_list *params)
{
    fputs("(\n", out);
    for (int i = 0; i < params->len; i++) {
        const ast_param *p = params->items[i];
        fputs("    ", out);
        put_param(out, p);
        fputc(',', out);
        doc_text note = param_note(f, p, i + 1 < params->len ? params->items[i + 1] : NULL);
        if (note.s) fprintf(out, "  // %.*s", note.len, note.s);
        fputc('\n', out);
    }
    fputc(')', out);
}

static void put_required(FILE *out, const ast_list *params)
{
    int n = 0;
    for (int i = 0; i < params->len; i++) {
        const ast_param *p = params->items[i];
        if (p->kind != AST_PARAM_CONST || p->deflt) continue;
        fprintf(out, "%s`%s`", n++ ? ", " : "Constants without a default (give them with `-D` or a specialisation): ", p->name);
    }
    if (n) fputs(".\n\n", out);
}

static const ast_item *find_kernel(const doc_ctx *cx, const char *name)
{
    for (int i = 0; i < cx->nfiles; i++)
        for (int k = 0; k < cx->files[i].ast->items.len; k++) {
            const ast_item *it = cx->files[i].ast->items.items[k];
            if ((it->kind == AST_ITEM_KERNEL || it->kind == AST_ITEM_SPEC) && it->name &&
                strcmp(it->name, name) == 0)
                return it;
        }
    return NULL;
}

static bool bound_by(const ast_item *spec, const char *name)
{
    for (int i = 0; i < spec->args.len; i++) {
        const ast_arg *a = spec->args.items[i];
        if (a->name && strcmp(a->name, name) == 0) return true;
    }
    return false;
}

/* The constants a specialisation leaves open: those of its base kernel (through
 * any chain of specialisations) that no level binds. */
static void put_open_consts(doc_ctx *cx, const ast_item *spec)
{
    const ast_item *chain[16];
    int n = 0;
    const ast_item *k = spec;
    while (k && k->kind == AST_ITEM_SPEC && n < 16) {
        chain[n++] = k;
        k = find_kernel(cx, k->base);
    }
    if (!k || k->kind != AST_ITEM_KERNEL) return;
    fprintf(cx->out, "Open constants (of `%s`): ", k->name);
    int shown = 0;
    for (int i = 0; i < k->params.len; i++) {
        const ast_param *p = k->params.items[i];
        if (p->kind != AST_PARAM_CONST) continue;
        bool bound = false;
        for (int c = 0; c < n && !bound; c++) bound = bound_by(chain[c], p->name);
        if (bound) continue;
        fprintf(cx->out, "%s`%s", shown++ ? ", " : "", p->name);
        if (p->deflt) {
            fputs(" = ", cx->out);
            put_expr(cx->out, p->deflt, 0);
        }
        fputc('`', cx->out);
        if (!p->deflt) fputs(" (required)", cx->out);
    }
    fputs(shown ? ".\n\n" : "none.\n\n", cx->out);
}

static void put_signature(FILE *out, const doc_file *f, const ast_item *it);

static void put_item(doc_ctx *cx, const doc_file *f, const ast_item *it)
{
    FILE *out = cx->out;
    static const char *const what[] = {[AST_ITEM_FN] = "fn", [AST_ITEM_KERNEL] = "kernel",
                                       [AST_ITEM_SPEC] = "specialisation"};
    fprintf(out, "#### %s `%s`\n\n```\n", what[it->kind], it->name);
    if (it->kind == AST_ITEM_SPEC) {
        fprintf(out, "kernel %s", it->name);
        if (it->params.len) put_params(out, &it->params);
        fprintf(out, " = %s", it->base);
        put_args(out, &it->args);
        fputs(";\n```\n\n", out);
        put_open_consts(cx, it);
    } else {
        put_signature(out, f, it);
    }
    int first;
    if (doc_block_above(f, it->loc.line, &first)) put_comment_block(out, f, first, it->loc.line - 1);
}

static void put_signature(FILE *out, const doc_file *f, const ast_item *it)
{
    fprintf(out, "%s %s", it->kind == AST_ITEM_FN ? "fn" : "kernel", it->name);
    if (it->kind == AST_ITEM_KERNEL) {
        put_params_lines(out, f, &it->params);
        put_list(out, &it->grid, " grid(", ")");
    } else {
        put_params(out, &it->params);
    }
    if (it->kind == AST_ITEM_FN && it->ret) {
        fputs(" -> ", out);
        put_type(out, it->ret);
    }
    fputs("\n```\n\n", out);
    if (it->kind == AST_ITEM_KERNEL) put_required(out, &it->params);
}

/* Items in source order, with a `###` heading (and its introduction) at each
 * separator line. */
static void put_items(doc_ctx *cx, const doc_file *f)
{
    int next_line = f->header_end + 1;
    for (int k = 0; k <= f->ast->items.len; k++) {
        const ast_item *it = k < f->ast->items.len ? f->ast->items.items[k] : NULL;
        int upto = it ? it->loc.line : f->nlines + 1;
        for (int l = next_line; l < upto; l++) {
            if (!is_separator(f->lines[l])) continue;
            doc_text title = separator_title(f->lines[l]);
            fprintf(cx->out, "### %.*s\n\n", title.len, title.s);
            int end = l;
            while (end + 1 < upto && is_comment(f->lines[end + 1]) && !is_separator(f->lines[end + 1]))
                end++;
            if (end > l && (end + 1 > f->nlines || is_blank(f->lines[end + 1])))
                put_comment_block(cx->out, f, l + 1, end);
        }
        if (it) next_line = it->body ? it->body->end.line + 1 : it->loc.line + 1;
        if (it && it->kind != AST_ITEM_IMPORT && it->kind != AST_ITEM_CONST) put_item(cx, f, it);
    }
}

/* ---- the tests' coverage statements ---------------------------------------------- */

/* A C comment line's text after " * " or "/" "* ". */
static doc_text c_comment_text(doc_text line)
{
    doc_text t = trim_left(line);
    if (starts_with(t, "/*")) t.s += 2, t.len -= 2;
    else if (starts_with(t, "*") && !starts_with(t, "*/")) t.s += 1, t.len -= 1;
    else return (doc_text){NULL, 0};
    t = trim_left(t);
    if (t.len >= 2 && t.s[t.len - 2] == '*' && t.s[t.len - 1] == '/') t.len -= 2;
    return trim_left(t);
}

static bool ends_comment(doc_text line)
{
    for (int i = 0; i + 1 < line.len; i++)
        if (line.s[i] == '*' && line.s[i + 1] == '/') return true;
    return false;
}

/* Every `Tested (BASE): ...` paragraph of the tests, as prose. */
static int put_tested(doc_ctx *cx, const doc_file *f, arena *mem)
{
    char *key = arena_printf(mem, "Tested (%s):", f->base);
    int found = 0;
    for (int t = 0; t < cx->ntests; t++) {
        doc_text *lines;
        int n = split_lines(mem, cx->tests[t], &lines);
        for (int l = 1; l <= n; l++) {
            doc_text c = c_comment_text(lines[l]);
            if (!c.s || !starts_with(c, key)) continue;
            fprintf(cx->out, "%s`%s`: ", found++ ? "\n" : "", cx->tests[t]->path);
            c.s += strlen(key), c.len -= (int)strlen(key);
            /* to the end of the paragraph or of the comment */
            for (; c.s && c.len > 0 && l <= n; c = c_comment_text(lines[++l])) {
                put_prose_line(cx->out, trim_left(c));
                if (ends_comment(lines[l])) break;
            }
        }
    }
    if (!found)
        fprintf(cx->out, "No library test states what it covers (a `Tested (%s):` paragraph "
                "in tests/test_lib_*.c).\n", f->base);
    fputc('\n', cx->out);
    return found;
}

/* ---- files ------------------------------------------------------------------------- */

/* "attention/flash_fwd.tile" for "lib/attention/flash_fwd.tile". */
static const char *import_path(const char *path)
{
    const char *p = strstr(path, "lib/");
    while (p && p != path && p[-1] != '/') p = strstr(p + 1, "lib/");
    return p ? p + 4 : path;
}

/* The title: the header's first paragraph after "NAME.tile - ", up to the
 * first '(' or '.', or the end of the paragraph. */
static void put_title(FILE *out, const doc_file *f)
{
    doc_text c = comment_of(f->lines[1]);
    c.s += strlen(f->base) + 3, c.len -= (int)strlen(f->base) + 3;
    for (int l = 1; l <= f->header_end && c.len > 0; c = comment_of(f->lines[++l])) {
        for (int i = 0; i < c.len; i++)
            if (c.s[i] == '(' || (c.s[i] == '.' && (i + 1 == c.len || c.s[i + 1] == ' '))) {
                fprintf(out, "%s%.*s", l > 1 ? " " : "", (int)trim_left((doc_text){c.s, i}).len, c.s);
                return;
            }
        fprintf(out, "%s%.*s", l > 1 ? " " : "", c.len, c.s);
    }
}

static tile_status load_file(doc_ctx *cx, doc_file *f, const char *path)
{
    const src_file *sf = fe_read_source(cx->d, path, (src_loc){0});
    if (!sf) return TILE_ERR_IO;
    f->path = sf->path;
    const char *slash = strrchr(path, '/');
    f->base = slash ? slash + 1 : path;
    f->nlines = split_lines(cx->d->mem, sf, &f->lines);
    if (f->nlines < 0) return TILE_ERR_NOMEM;
    f->ast = fe_parse(cx->d->mem, cx->d, sf->path, sf->text, sf->len);
    if (!f->ast) return TILE_ERR_SYNTAX;
    while (f->header_end < f->nlines && is_comment(f->lines[f->header_end + 1])) f->header_end++;
    doc_text first = f->nlines ? comment_of(f->lines[1]) : (doc_text){NULL, 0};
    size_t blen = strlen(f->base);
    if (!first.s || !starts_with(first, f->base) || (size_t)first.len < blen + 4 ||
        memcmp(first.s + blen, " - ", 3) != 0) {
        src_loc at = {sf->path, 1, 1};
        diag_error(cx->d, at, "a library file starts with a header comment '// %s - title (paper)'", f->base);
        return TILE_ERR_SYNTAX;
    }
    return TILE_OK;
}

static void put_file(doc_ctx *cx, const doc_file *f, arena *mem)
{
    FILE *out = cx->out;
    fprintf(out, "## %s: ", f->base);
    put_title(out, f);
    fprintf(out, "\n\n`%s`; `import \"%s\";`", f->path, import_path(f->path));
    for (int k = 0; k < f->ast->items.len; k++) {
        const ast_item *it = f->ast->items.items[k];
        if (it->kind == AST_ITEM_IMPORT) fprintf(out, "; imports `%s`", it->path);
    }
    fputs(".\n\n", out);
    put_comment_block(out, f, 1, f->header_end);
    fputs("**Tested.** ", out);
    put_tested(cx, f, mem);
    put_items(cx, f);
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(((const doc_file *)a)->path, ((const doc_file *)b)->path);
}

static int cmp_source(const void *a, const void *b)
{
    return strcmp((*(const src_file *const *)a)->path, (*(const src_file *const *)b)->path);
}

static void put_contents(doc_ctx *cx)
{
    for (int i = 0; i < cx->nfiles; i++) {
        const doc_file *f = &cx->files[i];
        fprintf(cx->out, "- `%s`: ", f->base);
        put_title(cx->out, f);
        const char *sep = " (";
        for (int k = 0; k < f->ast->items.len; k++) {
            const ast_item *it = f->ast->items.items[k];
            if (it->kind != AST_ITEM_KERNEL && it->kind != AST_ITEM_SPEC) continue;
            fprintf(cx->out, "%s`%s`", sep, it->name);
            sep = ", ";
        }
        fputs(*sep == ',' ? ")\n" : "\n", cx->out);
    }
    fputc('\n', cx->out);
}

static const char preamble[] =
    "# The attention library\n\n"
    "<!-- Generated by `build/tilec doc` from lib/attention/*.tile and tests/test_lib_*.c;\n"
    "     do not edit: edit those files and regenerate (see below). -->\n\n"
    "Every attention algorithm of tile is a program in the language, in `lib/attention/`.\n"
    "A user imports one (`import \"attention/flash_fwd.tile\";` works from anywhere) and\n"
    "either runs its kernels as they are or specialises them with masks and constants\n"
    "of their own (`kernel mine = flash_fwd(mask: my_mask, D: 128);`, see\n"
    "`examples/local_global.tile`).  The language itself is described in\n"
    "[language.md](language.md).\n\n"
    "This page is generated from the library's files: every signature below is the one\n"
    "the compiler reads, and the `ctest -R library_doc` test fails when the page and the\n"
    "files differ, or when an example command fails.  Regenerate it with\n\n"
    "```sh\n"
    "build/tilec doc -o docs/library.md lib/attention/*.tile tests/test_lib_*.c\n"
    "```\n\n"
    "A library file documents itself by convention: a header comment starting\n"
    "`// NAME.tile - title (papers)` that says what it computes (lines indented by two\n"
    "or more spaces are shown as code), `// $ tilec ...` lines for example commands\n"
    "(each is run by the test), a comment directly above each fn, kernel and\n"
    "specialisation, and `// ---- TITLE ----` lines that open sections.  `///` comment\n"
    "lines read the same as `//` ones (the usual doc-comment spelling above an item).\n"
    "A library test states what it covers in a comment paragraph\n"
    "`Tested (NAME.tile): ...`.\n\n"
    "Kernel parameters: tensors and runtime scalars are given at launch (`tilec run`:\n"
    "`--in NAME=FILE.npy`, `--random SEED`, `-D NAME=VALUE` for scalars and dimension\n"
    "sizes); constants are bound by a specialisation, by `-D`, by their default, or by\n"
    "the compiler (`auto`).  A dimension name (`Z`, `H`, `M`, ...) is the size of every\n"
    "tensor dimension so named, which must agree at launch.\n\n";

tile_status fe_doc(diag_ctx *d, const char *const *paths, int npaths, FILE *out)
{
    doc_ctx cx = {.d = d, .out = out};
    cx.files = arena_calloc(d->mem, (size_t)npaths + 1, sizeof *cx.files);
    cx.tests = arena_calloc(d->mem, (size_t)npaths + 1, sizeof *cx.tests);
    if (!cx.files || !cx.tests) return TILE_ERR_NOMEM;
    tile_status st = TILE_OK;
    for (int i = 0; i < npaths; i++) {
        size_t n = strlen(paths[i]);
        if (n > 2 && strcmp(paths[i] + n - 2, ".c") == 0) {
            const src_file *sf = fe_read_source(d, paths[i], (src_loc){0});
            if (sf) cx.tests[cx.ntests++] = sf;
            else st = TILE_ERR_IO;
            continue;
        }
        tile_status fst = load_file(&cx, &cx.files[cx.nfiles], paths[i]);
        if (fst == TILE_OK) cx.nfiles++;
        else st = fst;
    }
    if (st != TILE_OK) return st;
    if (cx.nfiles == 0) {
        diag_error(d, (src_loc){0}, "tilec doc: no .tile file given");
        return TILE_ERR_ARG;
    }
    qsort(cx.files, (size_t)cx.nfiles, sizeof *cx.files, cmp_path);
    qsort(cx.tests, (size_t)cx.ntests, sizeof *cx.tests, cmp_source);
    fputs(preamble, out);
    put_contents(&cx);
    for (int i = 0; i < cx.nfiles; i++) put_file(&cx, &cx.files[i], d->mem);
    return TILE_OK;
}
