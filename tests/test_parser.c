/* test_parser.c - fe_parse: every construct of the grammar (language.md
 * section 2) and the tree it builds (kinds, precedence, associativity,
 * locations), the AST dump, exact syntax-error messages and recovery, the
 * golden syntax_*.tile files, the library's .tile files, and inputs that
 * must not crash, hang or leak (deep nesting, random bytes, random tokens,
 * fuzzer finds). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frontend/ast.h"

#ifndef TILE_SOURCE_DIR
#define TILE_SOURCE_DIR ".."
#endif

/* ---- helpers ----------------------------------------------------------- */

typedef struct parsed {
    arena mem;
    diag_ctx diags;
    const char *path;
    ast_file *f;
    const char *err;    /* every diagnostic, rendered as tilec prints them */
} parsed;

static ast_file *parse_n(parsed *P, const char *path, const char *src, size_t len)
{
    arena_init(&P->mem);
    diag_init(&P->diags, &P->mem);
    const src_file *sf = diag_add_source(&P->diags, path, src, len);
    assert_non_null(sf);
    P->path = sf->path;
    P->f = fe_parse(&P->mem, &P->diags, sf->path, sf->text, sf->len);
    P->err = diag_render(&P->diags, &P->mem);
    assert_non_null(P->err);
    return P->f;
}

static ast_file *parse(parsed *P, const char *src) { return parse_n(P, "t.tile", src, strlen(src)); }

static void done(parsed *P) { arena_free(&P->mem); }

static ast_file *ok(parsed *P, const char *src)
{
    parse(P, src);
    if (!P->f || P->err[0]) fail_msg("unexpected errors:\n%s", P->err);
    return P->f;
}

static void expect_errors(const char *src, const char *want)
{
    parsed P;
    parse(&P, src);
    if (strcmp(P.err, want) != 0)
        fail_msg("source:\n%s\n--- got:\n%s--- want:\n%s", src, P.err, want);
    assert_null(P.f);
    done(&P);
}

static char *dump(parsed *P)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    assert_non_null(out);
    ast_print(out, P->f);
    fclose(out);
    char *r = arena_strdup(&P->mem, buf);
    free(buf);
    return r;
}

/* The dump of one expression: parses `fn f() { EXPR }`, cuts out (value X). */
static void expect_expr(const char *expr, const char *want)
{
    char src[4096];
    snprintf(src, sizeof src, "fn f() { %s }", expr);
    parsed P;
    ok(&P, src);
    char *d = dump(&P);
    char *v = strstr(d, "(value ");
    assert_non_null(v);
    v += strlen("(value ");
    size_t n = strlen(v);
    assert_true(n >= 5 && strcmp(v + n - 5, "))))\n") == 0);
    v[n - 5] = 0;
    if (strcmp(v, want) != 0) fail_msg("%s\n  got:  %s\n  want: %s", expr, v, want);
    done(&P);
}

static void check_loc(src_loc l, int line, int col)
{
    if (l.line != line || l.col != col) fail_msg("location %d:%d, want %d:%d", l.line, l.col, line, col);
}

static ast_item *item(const ast_file *f, int i)
{
    assert_true(i < f->items.len);
    return f->items.items[i];
}

static ast_stmt *stmt(const ast_block *b, int i)
{
    assert_non_null(b);
    assert_true(i < b->stmts.len);
    return b->stmts.items[i];
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (n + 2 > cap) {
            cap = cap ? cap * 2 : 4096;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        buf[n++] = (char)c;
    }
    fclose(f);
    if (!buf) buf = calloc(1, 1);
    buf[n] = 0;
    *len = n;
    return buf;
}

/* ---- empty and trivial inputs ----------------------------------------- */

static void test_empty_inputs(void **state)
{
    (void)state;
    static const char *const srcs[] = {"", "   \n\t\n", "// only a comment", "/* block */\n// line\n"};
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
        parsed P;
        ok(&P, srcs[i]);
        assert_int_equal(P.f->items.len, 0);
        assert_ptr_equal(P.f->path, P.path);
        done(&P);
    }
}

/* ---- items ------------------------------------------------------------- */

static void test_items(void **state)
{
    (void)state;
    parsed P;
    ok(&P, "import \"attention/masks.tile\";\n"
           "const N = 64;\n"
           "const B: int = 4;\n"
           "const M: fn = causal;\n"
           "fn f() {}\n"
           "kernel k() grid(1) {}\n"
           "kernel s = k(D: 128, mask: causal);\n");
    const ast_file *f = P.f;
    assert_int_equal(f->items.len, 7);

    ast_item *it = item(f, 0);
    assert_int_equal(it->kind, AST_ITEM_IMPORT);
    assert_string_equal(it->path, "attention/masks.tile");
    check_loc(it->loc, 1, 1);
    assert_ptr_equal(it->loc.file, P.path);   /* the registered path string itself */

    it = item(f, 1);
    assert_int_equal(it->kind, AST_ITEM_CONST);
    assert_string_equal(it->name, "N");
    check_loc(it->loc, 2, 1);
    check_loc(it->name_loc, 2, 7);
    assert_null(it->const_type);
    assert_int_equal(it->value->kind, AST_INT);
    assert_true(it->value->u.ival == 64);

    it = item(f, 2);
    assert_non_null(it->const_type);
    assert_int_equal(it->const_type->kind, AST_TY_CONST);
    assert_int_equal(it->const_type->ckind, AST_CK_INT);
    check_loc(it->const_type->loc, 3, 10);

    it = item(f, 3);
    assert_int_equal(it->const_type->ckind, AST_CK_FN);
    assert_string_equal(it->value->u.str, "causal");

    it = item(f, 4);
    assert_int_equal(it->kind, AST_ITEM_FN);
    assert_string_equal(it->name, "f");
    assert_int_equal(it->params.len, 0);
    assert_null(it->ret);
    assert_non_null(it->body);
    check_loc(it->body->loc, 5, 8);
    check_loc(it->body->end, 5, 9);

    it = item(f, 5);
    assert_int_equal(it->kind, AST_ITEM_KERNEL);
    assert_int_equal(it->grid.len, 1);

    it = item(f, 6);
    assert_int_equal(it->kind, AST_ITEM_SPEC);
    assert_string_equal(it->name, "s");
    assert_string_equal(it->base, "k");
    check_loc(it->name_loc, 7, 8);
    check_loc(it->base_loc, 7, 12);
    assert_int_equal(it->args.len, 2);
    const ast_arg *a = it->args.items[0];
    assert_string_equal(a->name, "D");
    check_loc(a->loc, 7, 14);
    assert_true(a->value->u.ival == 128);
    a = it->args.items[1];
    assert_string_equal(a->name, "mask");
    done(&P);

    /* trailing comma in a specialisation */
    ok(&P, "kernel s = k(D: 1,);");
    assert_int_equal(item(P.f, 0)->args.len, 1);
    done(&P);
}

static void test_const_kinds(void **state)
{
    (void)state;
    parsed P;
    ok(&P, "fn f(const a: int, const b: float, const c: bool, const d: dtype, const e: fn) {}");
    const ast_list *ps = &item(P.f, 0)->params;
    assert_int_equal(ps->len, 5);
    static const ast_const_kind want[] = {AST_CK_INT, AST_CK_FLOAT, AST_CK_BOOL, AST_CK_DTYPE, AST_CK_FN};
    for (int i = 0; i < 5; i++) {
        const ast_param *pa = ps->items[i];
        assert_int_equal(pa->kind, AST_PARAM_CONST);
        assert_int_equal(pa->type->kind, AST_TY_CONST);
        assert_int_equal(pa->type->ckind, want[i]);
        assert_null(pa->deflt);
    }
    done(&P);
}

static void test_params(void **state)
{
    (void)state;
    parsed P;
    ok(&P, "kernel k(\n"
           "    q: tensor<bf16>[Z, H, 64, D],\n"
           "    o: out tensor<f32>[M],\n"
           "    scale: f32,\n"
           "    const D: int = 64,\n"
           "    const BM: int = auto,\n"
           "    const mask: fn = sliding_window(W: 8),\n"
           ") grid(1) {}\n"
           "fn g(x, y: i32, const T: dtype) {}\n");
    const ast_list *ps = &item(P.f, 0)->params;
    assert_int_equal(ps->len, 6);

    const ast_param *q = ps->items[0];
    assert_int_equal(q->kind, AST_PARAM_TENSOR);
    assert_string_equal(q->name, "q");
    check_loc(q->loc, 2, 5);
    assert_false(q->is_out);
    assert_int_equal(q->type->kind, AST_TY_TENSOR);
    assert_string_equal(q->type->name, "bf16");
    check_loc(q->type->loc, 2, 8);
    assert_int_equal(q->type->dims.len, 4);
    const ast_expr *d0 = q->type->dims.items[0], *d2 = q->type->dims.items[2];
    assert_int_equal(d0->kind, AST_NAME);
    assert_string_equal(d0->u.str, "Z");
    check_loc(d0->loc, 2, 21);
    assert_int_equal(d2->kind, AST_INT);
    assert_true(d2->u.ival == 64);

    const ast_param *o = ps->items[1];
    assert_int_equal(o->kind, AST_PARAM_TENSOR);
    assert_true(o->is_out);
    assert_string_equal(o->type->name, "f32");
    check_loc(o->type->loc, 3, 12);

    const ast_param *s = ps->items[2];
    assert_int_equal(s->kind, AST_PARAM_VALUE);
    assert_int_equal(s->type->kind, AST_TY_NAME);
    assert_string_equal(s->type->name, "f32");

    const ast_param *d = ps->items[3];
    assert_int_equal(d->kind, AST_PARAM_CONST);
    assert_string_equal(d->name, "D");
    check_loc(d->loc, 5, 11);
    assert_int_equal(d->deflt->kind, AST_INT);

    const ast_param *bm = ps->items[4];
    assert_int_equal(bm->deflt->kind, AST_AUTO);
    check_loc(bm->deflt->loc, 6, 21);

    const ast_param *mask = ps->items[5];
    assert_int_equal(mask->type->ckind, AST_CK_FN);
    assert_int_equal(mask->deflt->kind, AST_CALL);

    const ast_list *gs = &item(P.f, 1)->params;
    assert_int_equal(gs->len, 3);
    const ast_param *x = gs->items[0], *y = gs->items[1], *t = gs->items[2];
    assert_int_equal(x->kind, AST_PARAM_VALUE);
    assert_null(x->type);
    assert_string_equal(y->type->name, "i32");
    assert_int_equal(t->type->ckind, AST_CK_DTYPE);
    done(&P);
}

static void test_fn_results_and_grid(void **state)
{
    (void)state;
    parsed P;
    ok(&P, "fn a() -> f32 { 1.0 }\n"
           "fn b() -> (f32, i32, bool) { return (1.0, 2, true); }\n"
           "kernel c() grid(1, 2) {}\n"
           "kernel d() grid(x, y, z,) {}\n");
    const ast_item *a = item(P.f, 0), *b = item(P.f, 1);
    assert_int_equal(a->ret->kind, AST_TY_NAME);
    assert_string_equal(a->ret->name, "f32");
    check_loc(a->ret->loc, 1, 11);
    assert_int_equal(b->ret->kind, AST_TY_TUPLE);
    assert_int_equal(b->ret->elems.len, 3);
    const ast_type *e2 = b->ret->elems.items[2];
    assert_string_equal(e2->name, "bool");
    check_loc(e2->loc, 2, 22);
    assert_int_equal(item(P.f, 2)->grid.len, 2);
    assert_int_equal(item(P.f, 3)->grid.len, 3);
    done(&P);
}

/* ---- statements -------------------------------------------------------- */

static void test_statements(void **state)
{
    (void)state;
    parsed P;
    ok(&P, "fn f() {\n"
           "    let a = 1;\n"
           "    let b: f32 = 2.0;\n"
           "    let (c, d, e) = t;\n"
           "    var g: bf16 = a;\n"
           "    g = 1; g += 2; g -= 3; g *= 4; g /= 5;\n"
           "    for i in range(n) {}\n"
           "    for i in range(lo, hi) {}\n"
           "    for i in range(lo, hi, 2) { a; }\n"
           "    while c { c = false; }\n"
           "    return;\n"
           "    return a;\n"
           "    static_assert(D > 0, \"D must be > 0\");\n"
           "    store(o, x);\n"
           "    a + b\n"
           "}\n");
    const ast_block *b = item(P.f, 0)->body;
    assert_int_equal(b->stmts.len, 17);
    assert_non_null(b->value);
    assert_int_equal(b->value->kind, AST_BINARY);

    ast_stmt *s = stmt(b, 0);
    assert_int_equal(s->kind, AST_LET);
    check_loc(s->loc, 2, 5);
    assert_false(s->u.let.tuple);
    assert_int_equal(s->u.let.names.len, 1);
    assert_string_equal(s->u.let.names.items[0], "a");
    assert_null(s->u.let.type);

    s = stmt(b, 1);
    assert_string_equal(s->u.let.type->name, "f32");
    check_loc(s->u.let.type->loc, 3, 12);

    s = stmt(b, 2);
    assert_true(s->u.let.tuple);
    assert_int_equal(s->u.let.names.len, 3);
    assert_string_equal(s->u.let.names.items[2], "e");

    s = stmt(b, 3);
    assert_int_equal(s->kind, AST_VAR);
    assert_string_equal(s->u.let.type->name, "bf16");

    static const int ops[] = {-1, AST_OP_ADD, AST_OP_SUB, AST_OP_MUL, AST_OP_DIV};
    for (int i = 0; i < 5; i++) {
        s = stmt(b, 4 + i);
        assert_int_equal(s->kind, AST_ASSIGN);
        assert_string_equal(s->u.assign.name, "g");
        assert_int_equal(s->u.assign.op, ops[i]);
    }
    check_loc(stmt(b, 5)->u.assign.name_loc, 6, 12);
    check_loc(stmt(b, 5)->loc, 6, 12);

    s = stmt(b, 9);
    assert_int_equal(s->kind, AST_FOR);
    assert_string_equal(s->u.for_.var, "i");
    check_loc(s->u.for_.var_loc, 7, 9);
    assert_null(s->u.for_.lo);
    assert_string_equal(s->u.for_.hi->u.str, "n");
    assert_null(s->u.for_.step);
    s = stmt(b, 10);
    assert_string_equal(s->u.for_.lo->u.str, "lo");
    assert_string_equal(s->u.for_.hi->u.str, "hi");
    assert_null(s->u.for_.step);
    s = stmt(b, 11);
    assert_true(s->u.for_.step->u.ival == 2);
    assert_int_equal(s->u.for_.body->stmts.len, 1);
    check_loc(s->u.for_.body->loc, 9, 31);
    check_loc(s->u.for_.body->end, 9, 36);

    s = stmt(b, 12);
    assert_int_equal(s->kind, AST_WHILE);
    assert_string_equal(s->u.while_.cond->u.str, "c");
    assert_int_equal(s->u.while_.body->stmts.len, 1);

    s = stmt(b, 13);
    assert_int_equal(s->kind, AST_RETURN);
    assert_null(s->u.expr);
    s = stmt(b, 14);
    assert_non_null(s->u.expr);

    s = stmt(b, 15);
    assert_int_equal(s->kind, AST_STATIC_ASSERT);
    assert_string_equal(s->u.sassert.message, "D must be > 0");
    assert_int_equal(s->u.sassert.cond->kind, AST_BINARY);

    s = stmt(b, 16);
    assert_int_equal(s->kind, AST_EXPR);
    assert_int_equal(s->u.expr->kind, AST_CALL);
    check_loc(s->loc, 14, 5);
    done(&P);
}

/* Tuple assignment, assert, and specialisations that add parameters. */
static void test_tuple_assign_assert_spec_params(void **state)
{
    (void)state;
    parsed P;
    ok(&P, "fn f() {\n"
           "    (a, b) = g(x);\n"
           "    (m_i, l_i, acc) = (1, 2, 3);\n"
           "    assert(n > 0, \"n must be positive\");\n"
           "    (a, b);\n"
           "}\n"
           "kernel s(doc: tensor<i32>[Z, N], w: i32) = k(mask: document(doc: doc), D: 64,);\n"
           "kernel t() = k(D: 1);\n");
    const ast_block *b = item(P.f, 0)->body;
    assert_int_equal(b->stmts.len, 4);
    ast_stmt *s = stmt(b, 0);
    assert_int_equal(s->kind, AST_ASSIGN_TUPLE);
    check_loc(s->loc, 2, 5);
    assert_int_equal(s->u.tassign.targets.len, 2);
    const ast_expr *t = s->u.tassign.targets.items[1];
    assert_int_equal(t->kind, AST_NAME);
    assert_string_equal(t->u.str, "b");
    check_loc(t->loc, 2, 9);
    assert_int_equal(s->u.tassign.value->kind, AST_CALL);
    s = stmt(b, 1);
    assert_int_equal(s->u.tassign.targets.len, 3);
    assert_int_equal(s->u.tassign.value->kind, AST_TUPLE);
    s = stmt(b, 2);
    assert_int_equal(s->kind, AST_ASSERT);
    check_loc(s->loc, 4, 5);
    assert_string_equal(s->u.sassert.message, "n must be positive");
    assert_int_equal(s->u.sassert.cond->kind, AST_BINARY);
    s = stmt(b, 3); /* a tuple expression statement is still one */
    assert_int_equal(s->kind, AST_EXPR);
    assert_int_equal(s->u.expr->kind, AST_TUPLE);

    ast_item *it = item(P.f, 1);
    assert_int_equal(it->kind, AST_ITEM_SPEC);
    assert_string_equal(it->name, "s");
    assert_string_equal(it->base, "k");
    check_loc(it->base_loc, 7, 44);
    assert_int_equal(it->params.len, 2);
    const ast_param *pa = it->params.items[0];
    assert_int_equal(pa->kind, AST_PARAM_TENSOR);
    assert_string_equal(pa->name, "doc");
    check_loc(pa->loc, 7, 10);
    pa = it->params.items[1];
    assert_int_equal(pa->kind, AST_PARAM_VALUE);
    assert_string_equal(pa->type->name, "i32");
    assert_int_equal(it->args.len, 2);
    it = item(P.f, 2);
    assert_int_equal(it->params.len, 0);
    assert_int_equal(it->args.len, 1);

    const char *want =
        "(file \"t.tile\"\n"
        "  (fn f\n"
        "    (params)\n"
        "    (block\n"
        "      (= (a b) (call g x))\n"
        "      (= (m_i l_i acc) (tuple 1 2 3))\n"
        "      (assert (> n 0) \"n must be positive\")\n"
        "      (expr (tuple a b))))\n"
        "  (spec s k\n"
        "    (params\n"
        "      (tensor doc :i32 [Z N])\n"
        "      (param w :i32))\n"
        "    (mask: (call document (doc: doc))) (D: 64))\n"
        "  (spec t k (D: 1)))\n";
    char *got = dump(&P);
    if (strcmp(got, want) != 0) fail_msg("got:\n%s\nwant:\n%s", got, want);
    done(&P);
}

static void test_tuple_assign_assert_errors(void **state)
{
    (void)state;
    expect_errors("fn f() { (a, b[0]) = g(); }",
        "t.tile:1:14: error: each target of a tuple assignment must be a variable name\n"
        "    1 | fn f() { (a, b[0]) = g(); }\n"
        "      |              ^\n");
    expect_errors("fn f() { (a, 1) = (2, 3); }",
        "t.tile:1:14: error: each target of a tuple assignment must be a variable name\n"
        "    1 | fn f() { (a, 1) = (2, 3); }\n"
        "      |              ^\n");
    expect_errors("fn f() { (a, b, a) = g(); }",
        "t.tile:1:17: error: 'a' is assigned twice in one tuple assignment\n"
        "    1 | fn f() { (a, b, a) = g(); }\n"
        "      |                 ^\n");
    expect_errors("fn f() { (a, b) += g(); }",
        "t.tile:1:17: error: a tuple can only be assigned with '=', not '+='\n"
        "    1 | fn f() { (a, b) += g(); }\n"
        "      |                 ^\n");
    expect_errors("fn f() { (a) = 1; }",
        "t.tile:1:14: error: left side of '=' must be a variable name\n"
        "    1 | fn f() { (a) = 1; }\n"
        "      |              ^\n");
    expect_errors("fn f() { (a, b) = ; }",
        "t.tile:1:19: error: expected expression, found ';'\n"
        "    1 | fn f() { (a, b) = ; }\n"
        "      |                   ^\n");
    expect_errors("fn f() { assert(x, y); }",
        "t.tile:1:20: error: expected string, found identifier 'y'\n"
        "    1 | fn f() { assert(x, y); }\n"
        "      |                    ^\n");
    expect_errors("fn f() { assert(x > 0); }",
        "t.tile:1:22: error: expected ',' and a message after the condition of assert, found ')'\n"
        "    1 | fn f() { assert(x > 0); }\n"
        "      |                      ^\n");
    expect_errors("fn f() { static_assert(D \"too small\"); }",
        "t.tile:1:26: error: expected ',' and a message after the condition of static_assert, "
        "found string \"too small\"\n"
        "    1 | fn f() { static_assert(D \"too small\"); }\n"
        "      |                          ^\n");
    expect_errors("fn f() { assert x; }",
        "t.tile:1:17: error: expected '(', found identifier 'x'\n"
        "    1 | fn f() { assert x; }\n"
        "      |                 ^\n");
    expect_errors("fn f() { let assert = 1; }",
        "t.tile:1:14: error: expected identifier or '(', found 'assert' ('assert' is a keyword and cannot be a name)\n"
        "    1 | fn f() { let assert = 1; }\n"
        "      |              ^\n");
    expect_errors("kernel s(doc: tensor<i32>[N]) = k(doc);",
        "t.tile:1:35: error: a kernel specialisation takes only named arguments (name: value)\n"
        "    1 | kernel s(doc: tensor<i32>[N]) = k(doc);\n"
        "      |                                   ^\n");
    expect_errors("kernel s(doc: tensor<i32>[N]) = k();",
        "t.tile:1:35: error: kernel specialisation 's' binds no constants\n"
        "    1 | kernel s(doc: tensor<i32>[N]) = k();\n"
        "      |                                   ^\n");
    expect_errors("kernel s(doc: tensor<i32>[N] = k(a: 1);",
        "t.tile:1:30: error: expected ')' to close parameter list, found '='\n"
        "    1 | kernel s(doc: tensor<i32>[N] = k(a: 1);\n"
        "      |                              ^\n");
    expect_errors("kernel s(x: f32) {}",
        "t.tile:1:18: error: expected 'grid', found '{'\n"
        "    1 | kernel s(x: f32) {}\n"
        "      |                  ^\n");
}

static void test_if_else_chain(void **state)
{
    (void)state;
    parsed P;
    ok(&P, "fn f() {\n"
           "    if a { x = 1; }\n"
           "    if a { x = 1; } else { x = 2; }\n"
           "    if a { x = 1; } else if b { x = 2; } else if c { x = 3; } else { x = 4; }\n"
           "}\n");
    const ast_block *b = item(P.f, 0)->body;
    ast_stmt *s = stmt(b, 0);
    assert_int_equal(s->kind, AST_IF);
    assert_null(s->u.if_.else_);
    s = stmt(b, 1);
    assert_non_null(s->u.if_.else_);
    assert_int_equal(s->u.if_.else_->stmts.len, 1);
    assert_int_equal(stmt(s->u.if_.else_, 0)->kind, AST_ASSIGN);

    /* else if: an else block holding exactly one IF */
    s = stmt(b, 2);
    check_loc(s->loc, 4, 5);
    const ast_block *e1 = s->u.if_.else_;
    assert_int_equal(e1->stmts.len, 1);
    assert_null(e1->value);
    check_loc(e1->loc, 4, 26);
    const ast_stmt *if2 = stmt(e1, 0);
    assert_int_equal(if2->kind, AST_IF);
    assert_string_equal(if2->u.if_.cond->u.str, "b");
    const ast_block *e2 = if2->u.if_.else_;
    const ast_stmt *if3 = stmt(e2, 0);
    assert_string_equal(if3->u.if_.cond->u.str, "c");
    const ast_block *e3 = if3->u.if_.else_;
    assert_int_equal(stmt(e3, 0)->kind, AST_ASSIGN);
    assert_int_equal(e3->stmts.len, 1);
    done(&P);
}

static void test_block_values(void **state)
{
    (void)state;
    parsed P;
    ok(&P, "fn a() { }\nfn b() { 1 }\nfn c() { let x = 1; x }\nfn d() { x; }\n");
    assert_int_equal(item(P.f, 0)->body->stmts.len, 0);
    assert_null(item(P.f, 0)->body->value);
    assert_non_null(item(P.f, 1)->body->value);
    assert_int_equal(item(P.f, 2)->body->stmts.len, 1);
    assert_string_equal(item(P.f, 2)->body->value->u.str, "x");
    assert_null(item(P.f, 3)->body->value);
    done(&P);
}

/* ---- expressions ------------------------------------------------------- */

static void test_precedence(void **state)
{
    (void)state;
    /* C's order: comparisons bind tighter than & ^ | */
    expect_expr("a < b & c < d", "(& (< a b) (< c d))");
    expect_expr("i >= 0 & j < n", "(& (>= i 0) (< j n))");
    expect_expr("a || b && c", "(|| a (&& b c))");
    expect_expr("a && b || c", "(|| (&& a b) c)");
    expect_expr("a && b | c", "(&& a (| b c))");
    expect_expr("a | b ^ c & d", "(| a (^ b (& c d)))");
    expect_expr("a & b == c", "(& a (== b c))");
    expect_expr("a == b < c", "(== a (< b c))");
    expect_expr("a != b >= c", "(!= a (>= b c))");
    expect_expr("a < b << c", "(< a (<< b c))");
    expect_expr("a << b + c", "(<< a (+ b c))");
    expect_expr("a >> b - c", "(>> a (- b c))");
    expect_expr("a + b * c", "(+ a (* b c))");
    expect_expr("a - b / c % d", "(- a (% (/ b c) d))");
    expect_expr("a * b + c * d", "(+ (* a b) (* c d))");
    expect_expr("(a + b) * c", "(* (+ a b) c)");
    expect_expr("a || b || c && d | e ^ f & g == h < i << j + k * l",
                "(|| (|| a b) (&& c (| d (^ e (& f (== g (< h (<< i (+ j (* k l))))))))))");
}

static void test_associativity(void **state)
{
    (void)state;
    expect_expr("a - b - c", "(- (- a b) c)");
    expect_expr("a / b / c", "(/ (/ a b) c)");
    expect_expr("a / b * c % d", "(% (* (/ a b) c) d)");
    expect_expr("a < b < c", "(< (< a b) c)");
    expect_expr("a == b != c", "(!= (== a b) c)");
    expect_expr("a << b >> c", "(>> (<< a b) c)");
    expect_expr("a & b & c", "(& (& a b) c)");
    expect_expr("a || b || c", "(|| (|| a b) c)");
    expect_expr("a && b && c", "(&& (&& a b) c)");
}

static void test_unary_and_postfix(void **state)
{
    (void)state;
    expect_expr("-a * b", "(* (neg a) b)");
    expect_expr("-a[0]", "(neg (index a 0))");
    expect_expr("!f(x)", "(not (call f x))");
    expect_expr("~-!x", "(bnot (neg (not x)))");
    expect_expr("- -1", "(neg (neg 1))");
    expect_expr("a - -b", "(- a (neg b))");
    expect_expr("-inf", "(neg inf)");
    expect_expr("f(x)(y)[0](z)", "(call (index (call (call f x) y) 0) z)");
    expect_expr("x[i][j]", "(index (index x i) j)");
    expect_expr("m[:, None]", "(index m : None)");
    expect_expr("q[z, h, rows, :]", "(index q z h rows :)");
    expect_expr("x[None, :, i + 1]", "(index x None : (+ i 1))");
    expect_expr("f()", "(call f)");
    expect_expr("f(a, b,)", "(call f a b)");
    expect_expr("load(x, mask: m, other: 0.0)", "(call load x (mask: m) (other: 0.0))");
    expect_expr("g(mask: a < b, n: -1,)", "(call g (mask: (< a b)) (n: (neg 1)))");
    expect_expr("sliding_window(W: 256, S: 4)", "(call sliding_window (W: 256) (S: 4))");
}

static void test_primaries(void **state)
{
    (void)state;
    expect_expr("42", "42");
    expect_expr("0x10", "16");
    expect_expr("9223372036854775807", "9223372036854775807");
    expect_expr("1.5", "1.5");
    expect_expr("1e-3", "0.001");
    expect_expr("2.5E+2", "250.0");
    expect_expr(".5", "0.5");
    expect_expr("3e38", "3e+38");   /* near the top of f32's range */
    expect_expr("true", "true");
    expect_expr("false", "false");
    expect_expr("\"a\\\"b\\n\"", "\"a\\\"b\\n\"");
    expect_expr("x", "x");
    expect_expr("(x)", "x");
    expect_expr("((((x))))", "x");
    expect_expr("(a, b)", "(tuple a b)");
    expect_expr("(a, (b, c), d)", "(tuple a (tuple b c) d)");
    expect_expr("[BM, D]", "(list BM D)");
    expect_expr("[BM, D,]", "(list BM D)");
    expect_expr("[64]", "(list 64)");
    expect_expr("cast<bf16>(p)", "(cast bf16 p)");
    expect_expr("cast<i32>(a < b) + 1", "(+ (cast i32 (< a b)) 1)");
    expect_expr("zeros([BM, D], dtype: f32)", "(call zeros (list BM D) (dtype: f32))");
    expect_expr("print(\"label\", x)", "(call print \"label\" x)");
}

static void test_literal_values(void **state)
{
    (void)state;
    parsed P;
    ok(&P, "fn f() { (9223372036854775807, 0x7fffffffffffffff, 1e-400, true, \"s\\t\") }");
    const ast_expr *t = item(P.f, 0)->body->value;
    assert_int_equal(t->kind, AST_TUPLE);
    const ast_expr *const *e = (const ast_expr *const *)t->u.elems.items;
    assert_true(e[0]->u.ival == INT64_MAX);
    assert_true(e[1]->u.ival == INT64_MAX);
    assert_int_equal(e[2]->kind, AST_FLOAT);
    assert_true(e[2]->u.fval == 0.0);
    assert_int_equal(e[3]->kind, AST_BOOL);
    assert_true(e[3]->u.bval);
    assert_int_equal(e[4]->kind, AST_STRING);
    assert_string_equal(e[4]->u.str, "s\t");
    done(&P);
}

static void test_locations(void **state)
{
    (void)state;
    parsed P;
    ok(&P, "fn f() {\n"
           "    let x = a + b * c;\n"
           "    foo(y)[i, :] < -z;\n"
           "    (p, q);\n"
           "    cast<f32>(w)\n"
           "}\n");
    const ast_block *b = item(P.f, 0)->body;
    const ast_expr *e = stmt(b, 0)->u.let.init;           /* a + (b * c) */
    assert_int_equal(e->kind, AST_BINARY);
    check_loc(e->loc, 2, 15);                             /* the '+' */
    check_loc(e->u.binary.lhs->loc, 2, 13);
    check_loc(e->u.binary.rhs->loc, 2, 19);               /* the '*' */
    check_loc(e->u.binary.rhs->u.binary.rhs->loc, 2, 21);

    const ast_stmt *s = stmt(b, 1);
    check_loc(s->loc, 3, 5);                              /* statement: its first token */
    e = s->u.expr;
    check_loc(e->loc, 3, 18);                             /* '<' */
    const ast_expr *idx = e->u.binary.lhs;
    assert_int_equal(idx->kind, AST_INDEX);
    check_loc(idx->loc, 3, 5);                            /* index: the base's first token */
    check_loc(idx->u.index.base->loc, 3, 5);              /* call: the callee */
    check_loc(((ast_expr *)idx->u.index.idx.items[1])->loc, 3, 15);   /* ':' */
    const ast_arg *arg = idx->u.index.base->u.call.args.items[0];
    check_loc(arg->loc, 3, 9);
    check_loc(e->u.binary.rhs->loc, 3, 20);               /* unary '-' */
    check_loc(e->u.binary.rhs->u.unary.operand->loc, 3, 21);

    s = stmt(b, 2);
    check_loc(s->loc, 4, 5);
    check_loc(s->u.expr->loc, 4, 5);                      /* tuple: '(' */

    e = b->value;
    assert_int_equal(e->kind, AST_CAST);
    check_loc(e->loc, 5, 5);
    check_loc(e->u.cast.to->loc, 5, 10);
    check_loc(e->u.cast.operand->loc, 5, 15);
    check_loc(b->end, 6, 1);
    done(&P);
}

static void test_ast_print(void **state)
{
    (void)state;
    parsed P;
    ok(&P, "import \"m.tile\";\n"
           "const N: int = 2;\n"
           "fn g(x, s: f32, const T: dtype = f32) -> (f32, f32) { return (x, -s); }\n"
           "kernel k(q: tensor<f32>[M, 64], o: out tensor<f32>[M, 64], const BM: int = auto)\n"
           "    grid(cdiv(M, BM))\n"
           "{\n"
           "    let (a, b) = g(1.5, 2);\n"
           "    var acc: f32 = zeros([BM, 64]);\n"
           "    for i in range(0, 4, 2) { acc += a * cast<f32>(i); }\n"
           "    while a < b { a = a + 1; }\n"
           "    if a > 0 { print(\"pos\\n\", a); } else if a < 0 { } else { }\n"
           "    static_assert(BM % 16 == 0, \"BM\");\n"
           "    store(o[arange(BM), :], acc, mask: !(a == b));\n"
           "}\n"
           "kernel k2 = k(BM: 64);\n");
    const char *want =
        "(file \"t.tile\"\n"
        "  (import \"m.tile\")\n"
        "  (const N :int 2)\n"
        "  (fn g\n"
        "    (params\n"
        "      (param x)\n"
        "      (param s :f32)\n"
        "      (const T :dtype = f32))\n"
        "    (-> (f32 f32))\n"
        "    (block\n"
        "      (return (tuple x (neg s)))))\n"
        "  (kernel k\n"
        "    (params\n"
        "      (tensor q :f32 [M 64])\n"
        "      (out tensor o :f32 [M 64])\n"
        "      (const BM :int = auto))\n"
        "    (grid (call cdiv M BM))\n"
        "    (block\n"
        "      (let (a b) (call g 1.5 2))\n"
        "      (var acc :f32 (call zeros (list BM 64)))\n"
        "      (for i (range 0 4 2)\n"
        "        (block\n"
        "          (+= acc (* a (cast f32 i)))))\n"
        "      (while (< a b)\n"
        "        (block\n"
        "          (= a (+ a 1))))\n"
        "      (if (> a 0)\n"
        "        (block\n"
        "          (expr (call print \"pos\\n\" a)))\n"
        "        (else\n"
        "          (block\n"
        "            (if (< a 0)\n"
        "              (block)\n"
        "              (else\n"
        "                (block))))))\n"
        "      (static_assert (== (% BM 16) 0) \"BM\")\n"
        "      (expr (call store (index o (call arange BM) :) acc (mask: (not (== a b)))))))\n"
        "  (spec k2 k (BM: 64)))\n";
    char *got = dump(&P);
    if (strcmp(got, want) != 0) fail_msg("got:\n%s\nwant:\n%s", got, want);
    done(&P);
}

/* ---- syntax errors ----------------------------------------------------- */

/* test_error_messages moved to tests/golden/syntax_msg_NN.tile (one golden .err each). */

static void test_error_token_text(void **state)
{
    (void)state;
    /* long tokens are shortened when quoted */
    expect_errors("fn f() { a bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb; }",
        "t.tile:1:11: error: expected ';' after statement, found identifier "
        "'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb...'\n"
        "    1 | fn f() { a bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb; }\n"
        "      |           ^\n");
    expect_errors("fn f() { a 1.5; }",
        "t.tile:1:11: error: expected ';' after statement, found float '1.5'\n"
        "    1 | fn f() { a 1.5; }\n"
        "      |           ^\n");
    expect_errors("fn f() { a \"s\"; }",
        "t.tile:1:11: error: expected ';' after statement, found string \"s\"\n"
        "    1 | fn f() { a \"s\"; }\n"
        "      |           ^\n");
    expect_errors("fn f() { a kernel }",
        "t.tile:1:12: error: expected '}' to close block, found 'kernel'\n"
        "    1 | fn f() { a kernel }\n"
        "      |            ^\n");
}

/* ---- recovery ---------------------------------------------------------- */

static void test_recovery(void **state)
{
    (void)state;
    /* one error per broken statement or item; nothing in between */
    expect_errors("fn f() {\n"
                  "    let a = ;\n"
                  "    let b = 1;\n"
                  "    let c = (2;\n"
                  "    let d = 3;\n"
                  "    foo(a b);\n"
                  "}\n"
                  "fn g( { }\n"
                  "const X = 1;\n"
                  "kernel k(x: f32) grid(1) {\n"
                  "    x = x +;\n"
                  "}\n",
        "t.tile:2:13: error: expected expression, found ';'\n"
        "    2 |     let a = ;\n"
        "      |             ^\n"
        "t.tile:4:15: error: expected ')', found ';'\n"
        "    4 |     let c = (2;\n"
        "      |               ^\n"
        "t.tile:6:11: error: expected ',' or ')' in call, found identifier 'b'\n"
        "    6 |     foo(a b);\n"
        "      |           ^\n"
        "t.tile:8:7: error: expected ')' to close parameter list, found '{'\n"
        "    8 | fn g( { }\n"
        "      |       ^\n"
        "t.tile:11:12: error: expected expression, found ';'\n"
        "   11 |     x = x +;\n"
        "      |            ^\n");

    /* a missing '}' is one error (plus a note), and the next item parses */
    expect_errors("fn f(a: f32) -> f32 {\n"
                  "    if a > 0.0 {\n"
                  "        a\n"
                  "    } else {\n"
                  "        -a\n"
                  "}\n"
                  "\n"
                  "kernel k(x: tensor<f32>[N]) grid(1) {\n"
                  "    let v = ;\n"
                  "}\n",
        "t.tile:8:1: error: expected '}' to close block, found 'kernel'\n"
        "    8 | kernel k(x: tensor<f32>[N]) grid(1) {\n"
        "      | ^\n"
        "t.tile:1:21: note: to match this '{'\n"
        "    1 | fn f(a: f32) -> f32 {\n"
        "      |                     ^\n"
        "t.tile:9:13: error: expected expression, found ';'\n"
        "    9 |     let v = ;\n"
        "      |             ^\n");

    /* braces inside a discarded part do not end the enclosing block */
    expect_errors("fn f() {\n"
                  "    while x + { if y { z; } }\n"
                  "    let ok = 1;\n"
                  "    let bad = ;\n"
                  "}\n"
                  "fn g() -> { { } }\n"
                  "fn h() { let bad2 = ; }\n",
        "t.tile:2:15: error: expected expression, found '{'\n"
        "    2 |     while x + { if y { z; } }\n"
        "      |               ^\n"
        "t.tile:4:15: error: expected expression, found ';'\n"
        "    4 |     let bad = ;\n"
        "      |               ^\n"
        "t.tile:6:11: error: expected result type after '->', found '{'\n"
        "    6 | fn g() -> { { } }\n"
        "      |           ^\n"
        "t.tile:7:21: error: expected expression, found ';'\n"
        "    7 | fn h() { let bad2 = ; }\n"
        "      |                     ^\n");

    /* lexical errors do not cascade into syntax errors */
    expect_errors("fn f() {\n    let a = 1 @ 2;\n    let s = \"abc;\n    let b = 99999999999999999999;\n}\n",
        "t.tile:2:15: error: unexpected character '@'\n"
        "    2 |     let a = 1 @ 2;\n"
        "      |               ^\n"
        "t.tile:3:13: error: unterminated string literal\n"
        "    3 |     let s = \"abc;\n"
        "      |             ^\n"
        "t.tile:4:13: error: integer literal '99999999999999999999' does not fit in i64\n"
        "    4 |     let b = 99999999999999999999;\n"
        "      |             ^\n");
    expect_errors("fn f() { /* unterminated\n let x = 1;\n",
        "t.tile:1:10: error: unterminated block comment\n"
        "    1 | fn f() { /* unterminated\n"
        "      |          ^\n");
}

static void test_many_errors(void **state)
{
    (void)state;
    /* more errors than diag keeps: counted, not crashed */
    size_t n = 200 * 16 + 32;
    char *src = malloc(n);
    assert_non_null(src);
    strcpy(src, "fn f() {\n");
    for (int i = 0; i < 200; i++) strcat(src, "  let x = ;\n");
    strcat(src, "}\n");
    parsed P;
    parse(&P, src);
    assert_null(P.f);
    assert_int_equal(P.diags.nerrors, 200);
    assert_non_null(strstr(P.err, "tile: note: 150 more errors not shown\n"));
    done(&P);
    free(src);
}

/* ---- golden files ------------------------------------------------------ */

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* tests/golden/syntax_*.tile against syntax_*.err: what `tilec check` must
 * print, parsed here under the same relative path the runner uses. */
static void test_golden_files(void **state)
{
    (void)state;
    const char *dir = TILE_SOURCE_DIR "/tests/golden";
    DIR *d = opendir(dir);
    assert_non_null(d);
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "syntax_", 7) == 0 && len > 5 && strcmp(e->d_name + len - 5, ".tile") == 0) {
            assert_true(n < 256);
            names[n++] = strdup(e->d_name);
        }
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], compare_names);
    assert_true(n >= 14);
    int failures = 0;
    for (int i = 0; i < n; i++) {
        char path[1024], errpath[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(errpath, sizeof errpath, "%s/%.*s.err", dir, (int)(strlen(names[i]) - 5), names[i]);
        size_t len, elen;
        char *src = read_file(path, &len);
        char *want = read_file(errpath, &elen);
        assert_non_null(src);
        if (!want) fail_msg("%s has no .err beside it", names[i]);
        parsed P;
        parse_n(&P, names[i], src, len);
        if (P.f || strcmp(P.err, want) != 0) {
            print_error("golden %s:\n--- got:\n%s--- want:\n%s", names[i], P.err, want);
            failures++;
        }
        done(&P);
        free(src);
        free(want);
        free(names[i]);
    }
    assert_int_equal(failures, 0);
}

/* ---- the library ------------------------------------------------------- */

static int parse_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".tile") == 0) {
            size_t n;
            char *src = read_file(path, &n);
            assert_non_null(src);
            parsed P;
            parse_n(&P, path, src, n);
            if (!P.f || P.err[0]) fail_msg("%s does not parse:\n%s", path, P.err);
            done(&P);
            free(src);
            count++;
        } else {
            count += parse_tree(path);   /* a folder (opendir fails on files) */
        }
    }
    closedir(d);
    return count;
}

static void test_lib_files(void **state)
{
    (void)state;
    int n = parse_tree(TILE_SOURCE_DIR "/lib");
    print_message("parsed %d library files\n", n);
}

/* ---- no crash, no hang ------------------------------------------------- */

static char *repeat(const char *head, const char *unit, int times, const char *tail)
{
    size_t n = strlen(head) + strlen(unit) * (size_t)times + strlen(tail) + 1;
    char *s = malloc(n), *p = s;
    assert_non_null(s);
    p += sprintf(p, "%s", head);
    for (int i = 0; i < times; i++) p += sprintf(p, "%s", unit);
    sprintf(p, "%s", tail);
    return s;
}

static void expect_too_deep(char *src)
{
    parsed P;
    parse(&P, src);
    assert_null(P.f);
    if (!strstr(P.err, "error: nesting too deep\n")) fail_msg("no 'nesting too deep' in:\n%.2000s", P.err);
    done(&P);
    free(src);
}

static void test_deep_nesting(void **state)
{
    (void)state;
    char *s = repeat("fn f() { let x = ", "(", 100000, "1");
    char *t = repeat(s, ")", 100000, "; }");
    free(s);
    expect_too_deep(t);
    expect_too_deep(repeat("fn f() { let x = ", "-", 100000, "1; }"));
    expect_too_deep(repeat("fn f() { let x = 1", " + a", 100000, "; }"));
    expect_too_deep(repeat("fn f() { let x = f", "(1)", 100000, "; }"));
    expect_too_deep(repeat("fn f() { let x = a", "[0]", 100000, "; }"));
    expect_too_deep(repeat("fn f() { let x = ", "[", 100000, "; }"));
    expect_too_deep(repeat("fn f() {", "if x {", 100000, ""));
    expect_too_deep(repeat("fn f() { let x = ", "cast<f32>(", 100000, ""));

    /* 100000 '{' at top level: one plain error, nothing else */
    parsed P;
    char *u = repeat("", "{", 100000, "");
    parse(&P, u);
    assert_null(P.f);
    assert_int_equal(P.diags.nerrors, 1);
    const char *first = "t.tile:1:1: error: expected 'import', 'const', 'fn' or 'kernel', found '{'\n";
    assert_memory_equal(P.err, first, strlen(first));
    done(&P);
    free(u);
}

static void test_deep_but_fine(void **state)
{
    (void)state;
    /* realistic depths parse fine */
    char *s = repeat("fn f() { let x = ", "(", 500, "1");
    char *t = repeat(s, ")", 500, "; }");
    parsed P;
    ok(&P, t);
    done(&P);
    free(s);
    free(t);
    s = repeat("fn f() {", "if x {", 200, "");
    t = repeat(s, "}", 201, "");
    ok(&P, t);
    done(&P);
    free(s);
    free(t);
    s = repeat("fn f() { let x = 1", " + a", 900, "; }");
    ok(&P, s);
    done(&P);
    free(s);
}

static void test_long_tokens(void **state)
{
    (void)state;
    char *name = repeat("", "a", 100000, "");
    char *src = malloc(200100);
    assert_non_null(src);
    snprintf(src, 200100, "fn f() { let %s = \"%s\"; }", name, name);
    parsed P;
    ok(&P, src);
    assert_int_equal((int)strlen(stmt(item(P.f, 0)->body, 0)->u.let.names.items[0]), 100000);
    done(&P);
    free(src);
    free(name);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static void test_random_bytes(void **state)
{
    (void)state;
    for (int iter = 0; iter < 300; iter++) {
        size_t len = rng() % 2048;
        char *buf = malloc(len + 1);
        assert_non_null(buf);
        for (size_t i = 0; i < len; i++) buf[i] = (char)(iter % 2 ? rng() % 256 : 32 + rng() % 96);
        buf[len] = 0;
        parsed P;
        parse_n(&P, "r.tile", buf, len);
        if (P.f) assert_string_equal(P.err, "");
        else assert_true(P.diags.nerrors > 0);
        done(&P);
        free(buf);
    }
}

/* Random token soup: reaches much deeper into the grammar than bytes. */
static void test_random_tokens(void **state)
{
    (void)state;
    static const char *const vocab[] = {
        "import", "const", "fn", "kernel", "grid", "let", "var", "for", "in", "range", "while", "if",
        "else", "return", "out", "tensor", "auto", "true", "false", "None", "cast", "static_assert",
        "assert",
        "x", "f32", "int", "fn", "1", "0x2", "1.5", "\"s\"", "(", ")", "[", "]", "{", "}", ",", ";",
        ":", "=", "+=", "->", "||", "&&", "|", "^", "&", "==", "<", ">", "<<", "+", "-", "*", "/",
        "%", "!", "~", "@", "/*", "\"", "\n",
    };
    const size_t nv = sizeof vocab / sizeof vocab[0];
    for (int iter = 0; iter < 3000; iter++) {
        char buf[4096];
        size_t n = 0;
        int ntok = (int)(rng() % 200);
        for (int i = 0; i < ntok && n + 24 < sizeof buf; i++)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s ", vocab[rng() % nv]);
        buf[n] = 0;
        parsed P;
        parse_n(&P, "r.tile", buf, n);
        if (P.f) assert_string_equal(P.err, "");
        else assert_true(P.diags.nerrors > 0);
        done(&P);
    }
}

static void test_nul_bytes(void **state)
{
    (void)state;
    static const char src[] = "fn f() {\n let x = 1\0;\n}\n\0\0\0";
    parsed P;
    parse_n(&P, "t.tile", src, sizeof src - 1);
    assert_null(P.f);
    assert_string_equal(P.err,
        "t.tile:2:11: error: unexpected NUL byte\n"
        "    2 |  let x = 1?;\n"
        "      |           ^\n"
        "t.tile:4:1: error: unexpected NUL byte\n"
        "    4 | ???\n"
        "      | ^\n");
    done(&P);
}

static void test_independent_parses(void **state)
{
    (void)state;
    /* two parses in one process share nothing: the first tree survives the
     * second, and an error in one does not leak into the other */
    parsed A, B;
    ok(&A, "fn a() { 1 }");
    parse(&B, "fn b( {");
    assert_null(B.f);
    parsed C;
    ok(&C, "fn c() { 2 }");
    assert_string_equal(item(A.f, 0)->name, "a");
    assert_string_equal(item(C.f, 0)->name, "c");
    done(&A);
    done(&B);
    done(&C);
}

/* Corner cases of error recovery (skipping a discarded '{' group to the end
 * of the file or to an item keyword, synthesised '}' tokens, literals cut
 * by the end of the file).  fuzz_frontend found no crash so far; add each
 * input it finds here. */
static void test_fuzz_regressions(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "fn f() { {",
        "fn f() -> { kernel",
        "fn f() -> { { fn g() {} }",
        "fn f() { if x { fn",
        "fn f() { while x + { import \"a\"; }",
        "kernel k(x: f32 grid(1) { let y = ; }\nconst Z = 1;",
        "kernel k(const D: int = ) grid(1) {}",
        "fn f() { x = \"abc\n",
        "\"\\",
        "/*",
        "}}}}",
        ")))]]]",
        "fn f() { let x = (((]]] ; }",
        "kernel",
        "fn f(",
        "fn f() { else else else }",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        parsed P;
        parse_n(&P, "fuzz.tile", cases[i], strlen(cases[i]));
        assert_null(P.f);
        assert_true(P.diags.nerrors > 0);
        done(&P);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_inputs),
        cmocka_unit_test(test_items),
        cmocka_unit_test(test_const_kinds),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_fn_results_and_grid),
        cmocka_unit_test(test_statements),
        cmocka_unit_test(test_tuple_assign_assert_spec_params),
        cmocka_unit_test(test_tuple_assign_assert_errors),
        cmocka_unit_test(test_if_else_chain),
        cmocka_unit_test(test_block_values),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_associativity),
        cmocka_unit_test(test_unary_and_postfix),
        cmocka_unit_test(test_primaries),
        cmocka_unit_test(test_literal_values),
        cmocka_unit_test(test_locations),
        cmocka_unit_test(test_ast_print),
        cmocka_unit_test(test_error_token_text),
        cmocka_unit_test(test_recovery),
        cmocka_unit_test(test_many_errors),
        cmocka_unit_test(test_golden_files),
        cmocka_unit_test(test_lib_files),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_deep_but_fine),
        cmocka_unit_test(test_long_tokens),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_random_tokens),
        cmocka_unit_test(test_nul_bytes),
        cmocka_unit_test(test_independent_parses),
        cmocka_unit_test(test_fuzz_regressions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
