/* test_sema.c - the front end's semantic analysis and lowering
 * (frontend/fe_*.c): what fe_compile and fe_check accept, the IR they build
 * (types after implicit conversions, fn instances, constants recorded on
 * kernels), exact messages for what the golden files cannot reach (named
 * kernels, defines, include folders), every golden and library program
 * through the IR verifier, and mutated programs that must never crash, hang
 * or break the verifier. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "frontend/frontend.h"

#ifndef TILE_SOURCE_DIR
#define TILE_SOURCE_DIR ".."
#endif

/* ---- helpers ----------------------------------------------------------- */

typedef struct unit {
    arena mem;
    diag_ctx diags;
    ir_module *m;
    tile_status st;
    char *err;           /* rendered diagnostics */
} unit;

/* Compiles `src` as "t.tile"; defines as "NAME=VALUE" strings. */
static void compile_opts(unit *u, const char *src, const char *kernel, const char *const *defs,
                         int ndefs, const char *const *inc, int ninc)
{
    arena_init(&u->mem);
    diag_init(&u->diags, &u->mem);
    u->m = ir_module_new(&u->mem, &u->diags);
    assert_non_null(u->m);
    fe_define *fd = arena_calloc(&u->mem, (size_t)ndefs + 1, sizeof *fd);
    for (int i = 0; i < ndefs; i++) {
        const char *eq = strchr(defs[i], '=');
        assert_non_null(eq);
        fd[i].name = arena_strndup(&u->mem, defs[i], (size_t)(eq - defs[i]));
        fd[i].value = eq + 1;
    }
    /* The front end never picks `auto` values: stand in for the scheduler
     * (compiler/sched_choose.c) with 32 for the library's auto names. */
    static const fe_auto_value autos[] = {{NULL, "BM", 32}, {NULL, "BN", 32}, {NULL, "B", 32}};
    fe_options o = {.include_dirs = inc, .ninclude = ninc, .defines = fd, .ndefines = ndefs,
                    .auto_values = autos, .nauto_values = 3};
    u->st = fe_compile(u->m, "t.tile", src, kernel, &o);
    if (u->st == TILE_OK) assert_int_equal(ir_verify_module(u->m, "front end"), TILE_OK);
    u->err = diag_render(&u->diags, &u->mem);
}

static void compile(unit *u, const char *src, const char *kernel)
{
    compile_opts(u, src, kernel, NULL, 0, NULL, 0);
}

static void done(unit *u) { arena_free(&u->mem); }

static void expect_ok(unit *u, const char *src, const char *kernel)
{
    compile(u, src, kernel);
    if (u->st != TILE_OK) fail_msg("unexpected errors:\n%s", u->err);
}

/* Asserts the first error line (without the caret lines) equals `want`. */
static void expect_error(const char *src, const char *kernel, const char *want)
{
    unit u;
    compile(&u, src, kernel);
    if (u.st == TILE_OK) fail_msg("no error for:\n%s", src);
    const char *nl = strchr(u.err, '\n');
    size_t n = nl ? (size_t)(nl - u.err) : strlen(u.err);
    if (strlen(want) != n || strncmp(u.err, want, n) != 0)
        fail_msg("want: %s\ngot:\n%s", want, u.err);
    done(&u);
}

static char *print_module(const ir_module *m)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    assert_non_null(f);
    ir_print_module(f, m);
    fclose(f);
    return buf;
}

static int count_funcs(const ir_module *m, ir_func_kind kind)
{
    int n = 0;
    for (const ir_func *f = m->first; f; f = f->next) n += f->kind == kind;
    return n;
}

/* The first op with `code` in f's body (pre-order), or NULL. */
typedef struct find_ctx {
    ir_opcode code;
    int skip;
    ir_op *found;
} find_ctx;

static void find_cb(ir_op *op, void *ctx)
{
    find_ctx *c = ctx;
    if (!c->found && op->code == c->code && c->skip-- == 0) c->found = op;
}

static ir_op *find_op(const ir_func *f, ir_opcode code, int nth)
{
    find_ctx c = {code, nth, NULL};
    ir_walk(f->body, find_cb, &c);
    return c.found;
}

static const char *type_of(const ir_value *v, char *buf)
{
    return ir_type_str(&v->type, buf, 64);
}

/* ---- kernels, constants, defines --------------------------------------- */

static const char *scale_src =
    "const GAIN = 2.0;\n"
    "kernel k(x: tensor<f32>[N, D], y: out tensor<f32>[N, D], s: f32,\n"
    "         const D: int, const BM: int = auto) grid(cdiv(N, BM))\n"
    "{\n"
    "    let rows = program_id(0) * BM + arange(BM);\n"
    "    store(y[rows, :], load(x[rows, :]) * s * GAIN);\n"
    "}\n"
    "kernel k64 = k(D: 64);\n";

static void kernel_params_and_consts(void **state)
{
    (void)state;
    unit u;
    expect_ok(&u, scale_src, "k64");
    ir_func *f = ir_module_find(u.m, "k64");
    assert_non_null(f);
    assert_int_equal(f->kind, IR_FUNC_KERNEL);
    assert_int_equal(count_funcs(u.m, IR_FUNC_KERNEL), 1);
    assert_int_equal(f->nparams, 3);
    assert_string_equal(f->params[0].name, "x");
    assert_int_equal(f->params[0].type.kind, IR_TY_TENSOR);
    assert_string_equal(f->params[0].dims[0].name, "N");
    assert_int_equal(f->params[0].dims[0].size, -1);
    assert_string_equal(f->params[0].dims[1].name, "D");
    assert_int_equal(f->params[0].dims[1].size, 64);
    assert_true(f->params[1].is_out);
    assert_int_equal(f->params[2].type.kind, IR_TY_TILE);
    assert_int_equal(f->params[2].type.dtype, IR_F32);
    assert_int_equal(f->nconsts, 2);
    assert_string_equal(f->consts[0].name, "D");
    assert_string_equal(f->consts[0].value, "64");
    assert_false(f->consts[0].was_auto);
    assert_string_equal(f->consts[1].name, "BM");
    assert_string_equal(f->consts[1].value, "32");
    assert_true(f->consts[1].was_auto);
    /* The grid yields three i32 scalars; the body starts with N's dim. */
    assert_int_equal(f->grid->last->code, IR_OP_YIELD);
    assert_int_equal(f->grid->last->noperands, 3);
    ir_op *dim = find_op(f, IR_OP_TENSOR_DIM, 0);
    assert_non_null(dim);
    assert_int_equal(dim->attr.i, 0);
    assert_string_equal(dim->results[0]->name, "N");
    done(&u);
}

/* Without a value for an `auto` constant the front end lowers nothing and
 * reports it (kernel, name, the `auto`'s location) for the scheduler; the
 * scheduler's value is then used and recorded as auto. */
static void auto_constants_are_reported(void **state)
{
    (void)state;
    arena mem;
    arena_init(&mem);
    diag_ctx d;
    diag_init(&d, &mem);
    ir_module *m = ir_module_new(&mem, &d);
    const char *defs[] = {"D", "64"};
    fe_define fd = {defs[0], defs[1]};
    ptr_vec report = {0};
    fe_options o = {.defines = &fd, .ndefines = 1, .auto_report = &report};
    assert_int_equal(fe_compile(m, "t.tile", scale_src, "k", &o), TILE_OK);
    assert_int_equal(d.nerrors, 0);
    assert_null(ir_module_find(m, "k"));
    assert_int_equal(report.len, 1);
    const fe_auto_const *a = report.items[0];
    assert_string_equal(a->kernel, "k");
    assert_string_equal(a->name, "BM");
    assert_int_equal(a->loc.line, 3);
    assert_int_equal(a->loc.col, 40);
    /* Another kernel's value does not apply; this kernel's does. */
    fe_auto_value other = {"k64", "BM", 16}, mine = {"k", "BM", 128};
    ir_module *m2 = ir_module_new(&mem, &d);
    fe_options o2 = {.defines = &fd, .ndefines = 1, .auto_values = &other, .nauto_values = 1,
                     .auto_report = &report};
    assert_int_equal(fe_compile(m2, "t.tile", scale_src, "k", &o2), TILE_OK);
    assert_null(ir_module_find(m2, "k"));
    assert_int_equal(report.len, 2);
    ir_module *m3 = ir_module_new(&mem, &d);
    o2.auto_values = &mine;
    assert_int_equal(fe_compile(m3, "t.tile", scale_src, "k", &o2), TILE_OK);
    ir_func *f = ir_module_find(m3, "k");
    assert_non_null(f);
    assert_string_equal(f->consts[1].value, "128");
    assert_true(f->consts[1].was_auto);
    /* Without a report and without a value, it is an error at the `auto`. */
    ir_module *m4 = ir_module_new(&mem, &d);
    fe_options o4 = {.defines = &fd, .ndefines = 1};
    assert_int_equal(fe_compile(m4, "t.tile", scale_src, "k", &o4), TILE_ERR_SEMA);
    char *err = diag_render(&d, &mem);
    assert_non_null(strstr(err, "t.tile:3:40: error: internal error: constant 'BM' of kernel 'k' "
                                "is 'auto' and no schedule chose it"));
    arena_free(&mem);
}

static void compile_all_skips_unbound(void **state)
{
    (void)state;
    unit u;
    expect_ok(&u, scale_src, NULL);
    assert_int_equal(count_funcs(u.m, IR_FUNC_KERNEL), 1); /* k has no D */
    assert_non_null(ir_module_find(u.m, "k64"));
    done(&u);
}

static void unbound_const_named(void **state)
{
    (void)state;
    expect_error(scale_src, "k",
                 "t.tile:3:16: error: constant 'D' needs a value (give it with -D D=...)");
    expect_error(scale_src, "nope", "t.tile: error: no kernel named 'nope'");
    expect_error(scale_src, "GAIN", "t.tile:1:7: error: 'GAIN' is not a kernel (it is a constant)");
}

static void defines_bind_and_override(void **state)
{
    (void)state;
    unit u;
    const char *defs[] = {"D=128", "GAIN=0.5", "BM=16", "unused_scalar=3"};
    compile_opts(&u, scale_src, "k", defs, 4, NULL, 0);
    if (u.st != TILE_OK) fail_msg("%s", u.err);
    ir_func *f = ir_module_find(u.m, "k");
    assert_non_null(f);
    assert_int_equal(f->nconsts, 3);
    assert_string_equal(f->consts[0].value, "128");
    assert_string_equal(f->consts[1].value, "16");
    assert_false(f->consts[1].was_auto);
    assert_string_equal(f->consts[2].name, "GAIN");
    assert_string_equal(f->consts[2].value, "0.5");
    char *ir = print_module(u.m);
    assert_non_null(strstr(ir, "const 0.5 : f32"));
    free(ir);
    done(&u);

    /* A define cannot override a spec's binding of the kernel named: it is
     * refused, not dropped. */
    const char *d2[] = {"D=32"};
    compile_opts(&u, scale_src, "k64", d2, 1, NULL, 0);
    assert_int_equal(u.st, TILE_ERR_SEMA);
    assert_non_null(strstr(u.err, "<command line>:1:6: error: -D D: constant 'D' of kernel 'k' is "
                                  "bound by the specialisation (D=64) and cannot be overridden"));
    done(&u);
    /* Compiling everything, the spec keeps its binding and the kernel
     * takes the define. */
    compile_opts(&u, scale_src, NULL, d2, 1, NULL, 0);
    if (u.st != TILE_OK) fail_msg("%s", u.err);
    assert_string_equal(ir_module_find(u.m, "k64")->consts[0].value, "64");
    assert_string_equal(ir_module_find(u.m, "k")->consts[0].value, "32");
    done(&u);
}

static void define_errors(void **state)
{
    (void)state;
    unit u;
    const char *bad_kind[] = {"D=1.5"};
    compile_opts(&u, scale_src, "k", bad_kind, 1, NULL, 0);
    assert_int_equal(u.st, TILE_ERR_SEMA);
    assert_string_equal(u.err, "<command line>:1:6: error: constant 'D' of kernel 'k' is int, got float\n"
                               "    1 | -D D=1.5\n"
                               "      |      ^\n");
    done(&u);
    const char *bad_name[] = {"D=nothing + 1"};
    compile_opts(&u, scale_src, "k", bad_name, 1, NULL, 0);
    assert_int_not_equal(u.st, TILE_OK);
    assert_non_null(strstr(u.err, "<command line>:1:6: error: unknown name 'nothing'"));
    assert_null(strstr(u.err, "__d"));
    done(&u);
    const char *fn_define[] = {"D=64", "GAIN=sliding(W: 2)"};
    compile_opts(&u, "fn sliding(const W: int, i) { i < W }\n" "const GAIN: float = 1.0;\n"
                 "kernel k(y: out tensor<f32>[4], const D: int) grid(1) { store(y[arange(4)], GAIN); }",
                 "k", fn_define, 2, NULL, 0);
    assert_non_null(strstr(u.err, "error: constant 'GAIN' is declared float but its value is fn 'sliding'"));
    done(&u);
}

static void define_fn_value(void **state)
{
    (void)state;
    unit u;
    const char *src =
        "fn full_mask(i, j) -> bool { true }\n"
        "fn window(const W: int, i, j) -> bool { i - j < W }\n"
        "kernel k(y: out tensor<i32>[8, 8], const mask: fn = full_mask) grid(1) {\n"
        "    let r = arange(8);\n"
        "    store(y[r, :], cast<i32>(mask(r[:, None], r[None, :])));\n"
        "}\n";
    const char *defs[] = {"mask=window(W: 3)"};
    compile_opts(&u, src, "k", defs, 1, NULL, 0);
    if (u.st != TILE_OK) fail_msg("%s", u.err);
    ir_func *k = ir_module_find(u.m, "k");
    assert_string_equal(k->consts[0].value, "window(W: 3)");
    /* One fn instance, called once; the inline pass removes it later. */
    assert_int_equal(count_funcs(u.m, IR_FUNC_FN), 1);
    ir_op *call = find_op(k, IR_OP_CALL, 0);
    assert_non_null(call);
    assert_string_equal(call->attr.callee->name, "window");
    assert_int_equal(call->noperands, 2);
    done(&u);
}

/* ---- conversions and fn instances -------------------------------------- */

static void weak_literals_and_promotion(void **state)
{
    (void)state;
    unit u;
    char buf[64];
    expect_ok(&u,
              "kernel k(a: tensor<bf16>[4], b: tensor<i32>[4], c: tensor<i64>[4], y: out tensor<f32>[4]) grid(1) {\n"
              "    let r = arange(4);\n"
              "    let x = load(a[r]) * 2 + 0.5;\n"        /* bf16 */
              "    let i = load(b[r]) * 3;\n"              /* i32 */
              "    let f = load(b[r]) * 0.5;\n"            /* f32 */
              "    let l = load(b[r]) + load(c[r]);\n"     /* i64 */
              "    let h = x + full([4], 1.0);\n"          /* weak tile: bf16 */
              "    let g = x + zeros([4]);\n"              /* strong f32 */
              "    let c16 = x == 1;\n"                    /* bool */
              "    store(y[r], cast<f32>(x) + cast<f32>(i) + f + cast<f32>(l) + cast<f32>(h) + g"
              " + cast<f32>(c16));\n"
              "}\n",
              NULL);
    ir_func *k = ir_module_find(u.m, "k");
    const char *want[] = {"bf16[4]", "bf16[4]", "i32[4]", "f32[4]", "i64[4]", "bf16[4]", "f32[4]"};
    int seen = 0;
    for (ir_op *op = k->body->first; op; op = op->next) {
        if (op->code != IR_OP_MUL && op->code != IR_OP_ADD) continue;
        if (seen < 7) assert_string_equal(type_of(op->results[0], buf), want[seen]);
        seen++;
    }
    assert_true(seen >= 7);
    ir_op *cmp = find_op(k, IR_OP_CMP_EQ, 0);
    assert_string_equal(type_of(cmp->operands[1], buf), "bf16[4]");
    assert_string_equal(type_of(cmp->results[0], buf), "bool[4]");
    done(&u);
}

static void fn_instances_are_cached_by_type(void **state)
{
    (void)state;
    unit u;
    expect_ok(&u,
              "fn twice(x) { x + x }\n"
              "kernel k(y: out tensor<f32>[4]) grid(1) {\n"
              "    let a = twice(zeros([4]));\n"
              "    let b = twice(zeros([4]));\n"
              "    let c = twice(zeros([2, 4]));\n"
              "    let d = twice(1.0) * zeros([4], dtype: bf16);\n"
              "    store(y[arange(4)], a + b + sum(c, axis: 0) + cast<f32>(d));\n"
              "}\n",
              NULL);
    assert_int_equal(count_funcs(u.m, IR_FUNC_FN), 3);
    assert_non_null(ir_module_find(u.m, "twice"));
    assert_non_null(ir_module_find(u.m, "twice.2"));
    assert_non_null(ir_module_find(u.m, "twice.3"));
    /* The weak literal argument stays weak inside the fn: bf16 result. */
    ir_func *k = ir_module_find(u.m, "k");
    char buf[64];
    ir_op *mul = find_op(k, IR_OP_MUL, 0);
    assert_string_equal(type_of(mul->results[0], buf), "bf16[4]");
    done(&u);
}

/* The dtype a var initialised from `init` gets (its first op's result). */
static const char *var_type(const char *init, char *buf)
{
    char src[512];
    snprintf(src, sizeof src,
             "kernel k(y: out tensor<f32>[4]) grid(1) {\n"
             "    var v = %s;\n"
             "    store(y[arange(4)], cast<f32>(v));\n"
             "}\n", init);
    unit u;
    expect_ok(&u, src, NULL);
    ir_op *op = ir_module_find(u.m, "k")->body->first;
    while (op && !(op->nresults == 1 && op->results[0]->name &&
                   strcmp(op->results[0]->name, "v") == 0))
        op = op->next;
    assert_non_null(op);
    type_of(op->results[0], buf);
    done(&u);
    return buf;
}

/* Folding a constant keeps the dtype the unfolded expression would have:
 * where() promotes its branches like +, and cast<i64> stays i64 when no
 * other operand decides. */
static void constant_folds_keep_dtypes(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(var_type("where(true, 1, 2.5)", buf), "f32");
    assert_string_equal(var_type("where(false, 2.5, 1)", buf), "f32");
    assert_string_equal(var_type("where(true, 1, 2)", buf), "i32");
    assert_string_equal(var_type("cast<i64>(0)", buf), "i64");
    assert_string_equal(var_type("cast<i64>(2) * 3 + 1", buf), "i64");
    assert_string_equal(var_type("-abs(max(cast<i64>(2), 3))", buf), "i64");
    assert_string_equal(var_type("cdiv(cast<i64>(7), 2)", buf), "i64");
    assert_string_equal(var_type("where(true, cast<i64>(1), 2)", buf), "i64");
    assert_string_equal(var_type("cast<i32>(cast<i64>(0))", buf), "i32");
    assert_string_equal(var_type("full([4], cast<i64>(0))", buf), "i64[4]");
    assert_string_equal(var_type("cast<i64>(0) + arange(4)", buf), "i32[4]"); /* still weak */
    assert_string_equal(var_type("cast<i64>(0) < 1", buf), "bool");
    /* An i64 constant argument is its own fn instance. */
    unit u;
    expect_ok(&u,
              "fn wide(const N: int) { var v = N; v }\n"
              "kernel k(y: out tensor<i64>[4]) grid(1) {\n"
              "    store(y[arange(4)], wide(N: 1) + wide(N: cast<i64>(1)));\n"
              "}\n",
              NULL);
    assert_int_equal(count_funcs(u.m, IR_FUNC_FN), 2);
    done(&u);
}

static void partial_application(void **state)
{
    (void)state;
    unit u;
    expect_ok(&u,
              "fn win(const W: int, const S: int = 0, i, j) -> bool { i - j < W || j < S }\n"
              "fn apply(const m: fn, i, j) { m(i, j) }\n"
              "kernel k(y: out tensor<i32>[4], const mask: fn = win(W: 2)) grid(1) {\n"
              "    let r = arange(4);\n"
              "    let m2 = win(S: 1);\n"
              "    let m3 = m2(W: 5);\n"
              "    store(y[r], cast<i32>(mask(r, 0) & m3(r, 1) & apply(win(W: 1, S: 2), r, 2)));\n"
              "}\n",
              NULL);
    ir_func *k = ir_module_find(u.m, "k");
    assert_string_equal(k->consts[0].value, "win(W: 2)");
    /* win(W:2,S:0), win(W:5,S:1), apply(m=win(W:1,S:2)) and the win it calls. */
    assert_int_equal(count_funcs(u.m, IR_FUNC_FN), 4);
    done(&u);
}

static void loops_carry_assigned_vars_only(void **state)
{
    (void)state;
    unit u;
    expect_ok(&u,
              "kernel k(y: out tensor<f32>[4], n: i32) grid(1) {\n"
              "    var a = zeros([4]);\n"
              "    var b = zeros([4]);\n"
              "    var c = 0;\n"
              "    for i in range(n) {\n"
              "        var a = ones_like_b();\n"
              "    }\n"
              "    store(y[arange(4)], a + b);\n"
              "}\n"
              "fn ones_like_b() { 1.0 }\n",
              NULL);
    done(&u);
    expect_ok(&u,
              "kernel k(y: out tensor<f32>[4], n: i32) grid(1) {\n"
              "    var a = zeros([4]);\n"
              "    var b = zeros([4]);\n"
              "    var c = 0;\n"
              "    for i in range(n) {\n"
              "        b = b + 1.0;\n"
              "        if i > 2 { c += i; }\n"
              "    }\n"
              "    store(y[arange(4)], a + b + cast<f32>(c));\n"
              "}\n",
              NULL);
    ir_func *k = ir_module_find(u.m, "k");
    ir_op *loop = find_op(k, IR_OP_FOR, 0);
    assert_non_null(loop);
    assert_int_equal(loop->nresults, 2);         /* b and c, not a */
    assert_string_equal(loop->results[0]->name, "b");
    assert_string_equal(loop->results[1]->name, "c");
    assert_int_equal(loop->blocks[0]->nargs, 3); /* i, b, c */
    ir_op *iff = find_op(k, IR_OP_IF, 0);
    assert_non_null(iff);
    assert_int_equal(iff->nresults, 1);
    done(&u);
}

static void const_if_lowers_taken_branch(void **state)
{
    (void)state;
    unit u;
    expect_ok(&u,
              "kernel k(y: out tensor<f32>[4], const FAST: bool = false) grid(1) {\n"
              "    var a = zeros([4]);\n"
              "    if FAST { a = undefined_name; } else { a = a + 1.0; }\n"
              "    store(y[arange(4)], a);\n"
              "}\n",
              NULL);
    assert_null(find_op(ir_module_find(u.m, "k"), IR_OP_IF, 0));
    done(&u);
}

/* ---- tuple assignment, assert, captures ---------------------------------- */

static void tuple_assignment(void **state)
{
    (void)state;
    unit u;
    expect_ok(&u,
              "fn step(m, l, x) -> (f32, f32) { (max(m, x), l + x) }\n"
              "kernel k(y: out tensor<f32>[4], n: i32) grid(1) {\n"
              "    var m = zeros([4]);\n"
              "    var l = zeros([4]);\n"
              "    var c = 0;\n"
              "    for i in range(n) {\n"
              "        (l, m) = step(m, l, cast<f32>(i));\n"
              "        (c, l) = (c + 1, l * 2.0);\n"
              "    }\n"
              "    store(y[arange(4)], m + l + cast<f32>(c));\n"
              "}\n",
              "k");
    ir_func *k = ir_module_find(u.m, "k");
    ir_op *loop = find_op(k, IR_OP_FOR, 0);
    assert_non_null(loop);
    assert_int_equal(loop->nresults, 3);          /* in order of first assignment */
    assert_string_equal(loop->results[0]->name, "l");
    assert_string_equal(loop->results[1]->name, "m");
    assert_string_equal(loop->results[2]->name, "c");
    done(&u);

    const char *pre = "fn two() -> (f32, f32) { (1.0, 2.0) }\n"
                      "kernel k(y: out tensor<f32>[4]) grid(1) {\n"
                      "    var a = zeros([4]);\n    var b: bf16 = 0.0;\n    let c = 1.0;\n";
    char src[1024];
#define TUPLE_ERR(stmt, want)                                              \
    snprintf(src, sizeof src, "%s    %s\n}\n", pre, stmt);                 \
    expect_error(src, NULL, want)
    TUPLE_ERR("(a, b) = (1, 2, 3);", "t.tile:6:14: error: cannot assign a tuple of 3 to 2 variables");
    TUPLE_ERR("(a, b) = zeros([4]);", "t.tile:6:14: error: cannot assign f32[4] to 2 variables");
    TUPLE_ERR("(a, c) = two();", "t.tile:6:9: error: 'c' is declared with let and cannot be assigned");
    TUPLE_ERR("(a, nope) = two();", "t.tile:6:9: error: unknown name 'nope'");
    TUPLE_ERR("(a, two) = two();", "t.tile:6:9: error: 'two' is an fn and cannot be assigned");
    TUPLE_ERR("(a, exp) = two();", "t.tile:6:9: error: 'exp' is a built-in name and cannot be assigned");
    TUPLE_ERR("(a, b) = (zeros([4]), zeros([4]));",
              "t.tile:6:27: error: cannot assign f32[4] to var 'b' of type bf16");
    TUPLE_ERR("(a, b) = (zeros([2]), 1);",
              "t.tile:6:15: error: cannot assign f32[2] to var 'a' of type f32[4]");
    TUPLE_ERR("(a, b) = (y, 1);",
              "t.tile:6:15: error: tensor 'y' cannot be used as a value (load from a view of it: load(y[...]))");
#undef TUPLE_ERR
}

static void runtime_assert(void **state)
{
    (void)state;
    unit u;
    expect_ok(&u,
              "fn check(x) { assert(x > 0, \"x must be positive\"); x }\n"
              "kernel k(y: out tensor<i32>[N], const B: int = 4) grid(1) {\n"
              "    assert(N % B == 0, \"N must be a multiple of \\\"B\\\"\");\n"
              "    assert(B > 0, \"vanishes\");\n"
              "    static_assert(B > 0, \"B\");\n"
              "    store(y[arange(B)], check(N));\n"
              "}\n",
              "k");
    ir_func *k = ir_module_find(u.m, "k");
    ir_op *a = find_op(k, IR_OP_ASSERT, 0);
    assert_non_null(a);
    assert_string_equal(a->attr.str, "N must be a multiple of \"B\"");
    assert_int_equal(a->noperands, 1);
    assert_int_equal(a->operands[0]->type.dtype, IR_BOOL);
    assert_int_equal(a->operands[0]->type.rank, 0);
    assert_null(find_op(k, IR_OP_ASSERT, 1));     /* the constant one vanished */
    ir_func *fn = ir_module_find(u.m, "check");   /* the fn's assert is in its instance */
    assert_non_null(fn);
    assert_int_equal(fn->body->first->next->next->code, IR_OP_ASSERT);
    char *ir = print_module(u.m);
    assert_non_null(strstr(ir, "assert %"));
    assert_non_null(strstr(ir, ", \"N must be a multiple of \\\"B\\\"\"\n"));
    free(ir);
    done(&u);

    expect_error("kernel k(y: out tensor<f32>[4], const B: int = 4) grid(1) { assert(B < 4, \"B\"); }",
                 NULL, "t.tile:1:70: error: assertion failed: B (the condition is false at compile time)");
    expect_error("kernel k(y: out tensor<f32>[N]) grid(1) { assert(N, \"n\"); }", NULL,
                 "t.tile:1:50: error: assert needs a bool scalar condition, got i32");
    expect_error("kernel k(y: out tensor<f32>[N]) grid(1) { assert(arange(4) < N, \"n\"); }", NULL,
                 "t.tile:1:60: error: assert needs a bool scalar condition, got bool[4] (reduce it to a scalar)");
    expect_error("kernel k(y: out tensor<f32>[N]) grid(1) { assert(f32, \"n\"); }", NULL,
                 "t.tile:1:50: error: assert needs a bool scalar condition, got dtype");
    expect_error("kernel k(y: out tensor<f32>[N]) grid(1) { assert(z, \"n\"); }", NULL,
                 "t.tile:1:50: error: unknown name 'z'");
}

static const char *capture_src =
    "fn full_mask(i, j) -> bool { true }\n"
    "fn doc_mask(i, j, doc: tensor<i32>[N]) -> bool { load(doc[i]) == load(doc[j]) }\n"
    "fn thresh(i, j, t: i32, const W: int = 0) -> bool { i - j < t + W }\n"
    "fn and2(const a: fn, const b: fn, i, j) -> bool { a(i, j) & b(i, j) }\n"
    "fn apply(const m: fn, i, j) -> bool { m(i, j) }\n"
    "kernel k(y: out tensor<f32>[N, N], s: f32, const mask: fn = full_mask) grid(1)\n"
    "{\n"
    "    let r = arange(8);\n"
    "    store(y[r, r], where(apply(mask, r[:, None], r[None, :]), s, 0.0));\n"
    "}\n"
    "kernel s1(doc: tensor<i32>[N], t: i32) = k(mask: and2(a: doc_mask(doc: doc), b: thresh(t: t)));\n"
    "kernel s2(w: i32) = s1(mask: thresh(t: w, W: 2));\n"
    "kernel s3(doc: tensor<i32>[N]) = k(mask: doc_mask(doc: doc));\n";

static void spec_params_and_captures(void **state)
{
    (void)state;
    unit u;
    expect_ok(&u, capture_src, "s1");
    ir_func *k = ir_module_find(u.m, "s1");
    assert_int_equal(k->nparams, 4);              /* y, s, then the spec's doc, t */
    assert_string_equal(k->params[2].name, "doc");
    assert_int_equal(k->params[2].type.kind, IR_TY_TENSOR);
    assert_string_equal(k->params[2].dims[0].name, "N");
    assert_int_equal(k->params[2].dims[0].size, -1);
    assert_string_equal(k->params[3].name, "t");
    assert_string_equal(k->consts[0].value, "and2(a: doc_mask(doc: doc), b: thresh(t: t))");
    /* The spec's parameters are no names in the body: N is y's dim. */
    ir_op *dim = find_op(k, IR_OP_TENSOR_DIM, 0);
    assert_ptr_equal(dim->operands[0], k->body->args[0]);
    assert_null(find_op(k, IR_OP_TENSOR_DIM, 1));
    /* apply gets the captured doc and t as hidden parameters after i, j;
     * and2 too, and passes them on as doc_mask's and thresh's ordinary ones. */
    ir_func *apply = ir_module_find(u.m, "apply");
    assert_non_null(apply);
    assert_int_equal(apply->nparams, 4);
    assert_string_equal(apply->params[2].name, "doc");
    assert_int_equal(apply->params[2].type.kind, IR_TY_TENSOR);
    assert_string_equal(apply->params[3].name, "t");
    assert_int_equal(apply->params[3].type.dtype, IR_I32);
    ir_op *call = find_op(k, IR_OP_CALL, 0);
    assert_ptr_equal(call->attr.callee, apply);
    assert_ptr_equal(call->operands[2], k->body->args[2]);
    assert_ptr_equal(call->operands[3], k->body->args[3]);
    ir_func *and2 = ir_module_find(u.m, "and2");
    assert_int_equal(and2->nparams, 4);
    ir_func *doc_mask = ir_module_find(u.m, "doc_mask");
    assert_int_equal(doc_mask->nparams, 3);
    assert_int_equal(doc_mask->params[2].type.kind, IR_TY_TENSOR);
    done(&u);

    /* A spec of a spec appends its own parameters after the inherited ones. */
    expect_ok(&u, capture_src, "s2");
    k = ir_module_find(u.m, "s2");
    assert_int_equal(k->nparams, 5);
    assert_string_equal(k->params[4].name, "w");
    assert_string_equal(k->consts[0].value, "thresh(t: w, W: 2)");
    done(&u);

    /* Compiling everything: one instance per distinct capture set. */
    expect_ok(&u, capture_src, NULL);
    assert_non_null(ir_module_find(u.m, "s3"));
    assert_non_null(ir_module_find(u.m, "k"));
    done(&u);
}

static void capture_errors(void **state)
{
    (void)state;
    char src[4096];
#define CAP_ERR(spec, want)                                                \
    snprintf(src, sizeof src, "%s%s\n", capture_src, spec);                \
    expect_error(src, "x", want)
    CAP_ERR("kernel x(doc: tensor<i32>[N]) = k(mask: doc_mask(doc: y));",
            "t.tile:14:55: error: 'y' belongs to kernel 'k', not to specialisation 'x': only the "
            "specialisation's own parameters can be captured");
    CAP_ERR("kernel x(doc: tensor<i32>[N]) = k(mask: doc_mask(doc: N));",
            "t.tile:14:55: error: 'N' belongs to kernel 'k', not to specialisation 'x': only the "
            "specialisation's own parameters can be captured");
    CAP_ERR("kernel x(doc: tensor<i32>[N]) = k(mask: doc_mask(doc: nothing));",
            "t.tile:14:55: error: unknown name 'nothing'");
    CAP_ERR("kernel x(w: i32) = k(mask: thresh(t: w, W: w));",
            "t.tile:14:41: error: constant 'W' of 'thresh' is int, got runtime parameter 'w'");
    CAP_ERR("kernel x(w: i32) = k(mask: thresh(t: 1));",
            "t.tile:14:35: error: 't' of 'thresh' is a runtime parameter: a partial application "
            "binds constants, and in a kernel specialisation's arguments its own parameters");
    CAP_ERR("kernel x(doc: tensor<i32>[N]) = k(mask: doc);",
            "t.tile:14:41: error: constant 'mask' of kernel 'k' is fn, got runtime parameter 'doc'");
    CAP_ERR("kernel x(s: f32) = k(mask: full_mask);",
            "t.tile:14:10: error: parameter 's' of specialisation 'x' collides with parameter 's' "
            "of kernel 'k'");
    CAP_ERR("kernel x(N: i32) = k(mask: full_mask);",
            "t.tile:14:10: error: parameter 'N' of specialisation 'x' collides with dimension 'N' "
            "of kernel 'k'");
    CAP_ERR("kernel x(t: f32) = s1(mask: full_mask);",
            "t.tile:14:10: error: redefinition of parameter 't'");
    CAP_ERR("kernel x(const W: int) = k(mask: full_mask);",
            "t.tile:14:16: error: a kernel specialisation cannot declare constant 'W' (it binds "
            "the kernel's constants in its call)");
    CAP_ERR("kernel x(w) = k(mask: full_mask);",
            "t.tile:14:10: error: kernel parameter 'w' needs a type (e.g. 'w: f32')");
    CAP_ERR("kernel x(exp: f32) = k(mask: full_mask);",
            "t.tile:14:10: error: 'exp' is a built-in name and cannot be redefined");
    CAP_ERR("kernel x(doc: tensor<i32>[N]) = k(mask: doc_mask(doc: doc + 1));",
            "t.tile:14:55: error: runtime parameter 'doc' of a specialisation can only be bound to "
            "an fn parameter (f(doc: doc))");
    CAP_ERR("kernel x(doc: tensor<i32>[N]) = k(mask: doc_mask(doc));",
            "t.tile:14:50: error: runtime parameter 'doc' is captured by naming the fn parameter "
            "it binds (doc_mask(NAME: doc))");
    CAP_ERR("kernel x(doc: tensor<i32>[N]) = k(mask: doc_mask(doc: doc)(doc: doc));",
            "t.tile:14:60: error: parameter 'doc' of 'doc_mask' is already bound");
    CAP_ERR("kernel x(doc: tensor<i32>[N]) = k(mask: doc_mask(doc: doc), s: doc);",
            "t.tile:14:61: error: 's' of kernel 'k' is not a constant (only const parameters can be "
            "bound)");
    CAP_ERR("kernel x(doc: tensor<f32>[N]) = k(mask: doc_mask(doc: doc));",
            "t.tile:5:39: error: argument 'doc' of 'doc_mask' must be a tensor<i32> of rank 1, got "
            "tensor 'doc'");
    CAP_ERR("kernel x(doc: tensor<i32>[N]) = k(mask: doc_mask(doc: doc), D: 1);",
            "t.tile:14:61: error: kernel 'k' has no constant named 'D'");
#undef CAP_ERR
    /* Outside a specialisation's arguments there is nothing to capture. */
    expect_error("fn f(i, t: i32) -> bool { i < t }\n"
                 "kernel k(y: out tensor<f32>[4], n: i32, const m: fn = f(t: n)) grid(1) {}\n",
                 NULL, "t.tile:2:60: error: unknown name 'n'");
}

/* ---- messages the golden files cannot reach ---------------------------- */

static void check_resolves_unbound_kernels(void **state)
{
    (void)state;
    char dir[] = "/tmp/tile_sema_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/u.tile", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("kernel k(y: out tensor<f32>[N], const D: int) grid(N) {\n"
          "    let t = zeros([D]) * missing;\n"
          "    t = 1.0;\n"
          "    store(y[arange(D)], t, maks: true);\n"
          "}\n", f);
    fclose(f);
    unit u;
    arena_init(&u.mem);
    diag_init(&u.diags, &u.mem);
    u.m = ir_module_new(&u.mem, &u.diags);
    assert_int_equal(fe_check(u.m, path, NULL), TILE_ERR_SEMA);
    u.err = diag_render(&u.diags, &u.mem);
    assert_non_null(strstr(u.err, "u.tile:2:26: error: unknown name 'missing'"));
    assert_non_null(strstr(u.err, "u.tile:3:5: error: 't' is declared with let and cannot be assigned"));
    assert_non_null(strstr(u.err, "u.tile:4:28: error: unknown argument 'maks' to 'store'"));
    assert_int_equal(u.diags.nerrors, 3);
    done(&u);
    unlink(path);
    rmdir(dir);
}

static void include_dirs_and_library(void **state)
{
    (void)state;
    char dir[] = "/tmp/tile_sema_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/helpers.tile", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("fn helper(x) { x * 2.0 }\n", f);
    fclose(f);
    const char *src = "import \"helpers.tile\";\n"
                      "import \"attention/masks.tile\";\n"
                      "kernel k(y: out tensor<f32>[4]) grid(1) { store(y[arange(4)], helper(1.0)); }\n";
    unit u;
    const char *inc[] = {dir};
    compile_opts(&u, src, NULL, NULL, 0, inc, 1);
    if (u.st != TILE_OK) fail_msg("%s", u.err);
    done(&u);
    compile(&u, src, NULL);
    assert_int_not_equal(u.st, TILE_OK);
    assert_non_null(strstr(u.err, "t.tile:1:1: error: cannot find 'helpers.tile' (searched: ., the tile library)"));
    done(&u);
    /* The library given again as an -I folder (tilec adds the one beside its
     * binary) is searched once, and named as the library. */
    const char *lib_inc[] = {dir, TILE_SOURCE_DIR "/tests/../lib"};
    compile_opts(&u, "import \"nowhere.tile\";\n", NULL, NULL, 0, lib_inc, 2);
    assert_non_null(strstr(u.err, "t.tile:1:1: error: cannot find 'nowhere.tile' (searched: ., "));
    assert_non_null(strstr(u.err, ", the tile library)\n"));
    assert_null(strstr(u.err, "/lib"));
    done(&u);
    unlink(path);
    rmdir(dir);
}

static void read_errors(void **state)
{
    (void)state;
    unit u;
    arena_init(&u.mem);
    diag_init(&u.diags, &u.mem);
    u.m = ir_module_new(&u.mem, &u.diags);
    assert_int_equal(fe_check(u.m, "/nonexistent/x.tile", NULL), TILE_ERR_IO);
    u.err = diag_render(&u.diags, &u.mem);
    assert_string_equal(u.err, "tile: error: cannot read /nonexistent/x.tile: No such file or directory\n");
    done(&u);
    arena_init(&u.mem);
    diag_init(&u.diags, &u.mem);
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    assert_int_equal(fe_dump_ast(&u.diags, "/nonexistent/x.tile", out), TILE_ERR_IO);
    fclose(out);
    free(buf);
    done(&u);
}

/* ---- did you mean ------------------------------------------------------- */

static const char *nearest(const char *name, const char *const *cands, int n)
{
    fe_suggest s;
    fe_suggest_init(&s, name);
    for (int i = 0; i < n; i++) fe_suggest_add(&s, cands[i]);
    return fe_suggest_best(&s);
}

static void suggest_nearest(void **state)
{
    (void)state;
    const char *names[] = {"rows", "cols", "exp", "exp2", "axis", "attention", "BM", "BN"};
    int n = (int)(sizeof names / sizeof names[0]);
    assert_string_equal(nearest("rosw", names, n), "rows");       /* a swap is one edit */
    assert_string_equal(nearest("exq", names, n), "exp");
    assert_string_equal(nearest("Exp", names, n), "exp");         /* case is half an edit */
    assert_string_equal(nearest("axs", names, n), "axis");
    assert_string_equal(nearest("atention", names, n), "attention");
    assert_string_equal(nearest("BK", names, n), "BM");           /* a tie: the first added */
    assert_null(nearest("banana", names, n));                     /* too far */
    assert_null(nearest("zzzz", names, n));
    assert_null(nearest("rows", names, n));                       /* itself is no suggestion */
    const char *one[] = {"x", "y"};
    assert_null(nearest("z", one, 2));                            /* one letter: noise */
    const char *two[] = {"NB"};
    assert_null(nearest("N", two, 1));
    const char *longer[] = {"sliding_window_range"};
    assert_string_equal(nearest("slidng_window_rnge", longer, 1), "sliding_window_range");
    assert_null(nearest("sliding_range", longer, 1));
}

/* ---- errors in a user's mask passed to the library's flash_fwd ---------- */

static void expect_mask_notes(const char *mask_fn, const char *want_error, const char *want_note)
{
    char src[2048];
    snprintf(src, sizeof src, "import \"attention/flash_fwd.tile\";\n%s\n"
             "kernel k1 = flash_fwd(mask: my_mask, D: 64);\n", mask_fn);
    int spec_line = 2;
    for (const char *p = mask_fn; *p; p++) spec_line += *p == '\n';
    unit u;
    compile(&u, src, "k1");
    assert_int_equal(u.st, TILE_ERR_SEMA);
    if (!strstr(u.err, want_error)) fail_msg("no '%s' in:\n%s", want_error, u.err);
    if (want_note && !strstr(u.err, want_note)) fail_msg("no '%s' in:\n%s", want_note, u.err);
    char note[128];
    snprintf(note, sizeof note, "t.tile:%d:8: note: in specialisation 'k1' requested here\n"
             "%5d | kernel k1 = flash_fwd(mask: my_mask, D: 64);", spec_line + 1, spec_line + 1);
    if (!strstr(u.err, note)) fail_msg("no '%s' in:\n%s", note, u.err);
    done(&u);
}

static void library_mask_errors_point_at_the_user(void **state)
{
    (void)state;
    /* a mistake in the mask's body: at the user's line, then the library's
     * call, then the specialisation */
    expect_mask_notes("fn my_mask(z: i32, h: i32, i: i32, j: i32, M: i32, N: i32) -> bool {\n"
                      "    j <= i + true\n}",
                      "t.tile:3:12: error: cannot add i32[",
                      "flash_fwd.tile");
    unit u;
    compile(&u, "import \"attention/flash_fwd.tile\";\n"
                "fn my_mask(z: i32, h: i32, i: i32, j: i32, M: i32, N: i32) -> bool {\n"
                "    j <= i + true\n}\n"
                "kernel k1 = flash_fwd(mask: my_mask, D: 64);\n", "k1");
    const char *call = strstr(u.err, "note: in call to 'my_mask' from 'visible_keys'");
    assert_non_null(call);
    assert_true(call > strstr(u.err, "t.tile:3:12: error:"));
    assert_true(call < strstr(u.err, "note: in specialisation 'k1' requested here"));
    done(&u);
    /* wrong arity: the error is at the library's call; the notes show the
     * user's fn and specialisation */
    expect_mask_notes("fn my_mask(i: i32, j: i32) -> bool { j <= i }",
                      "error: too many arguments to 'my_mask' (it takes 2)",
                      "t.tile:2:4: note: 'my_mask' (called as 'mask') is declared here");
    /* a tensor the specialisation does not capture */
    expect_mask_notes("fn my_mask(z: i32, h: i32, i: i32, j: i32, M: i32, N: i32,\n"
                      "           doc: tensor<i32>[Z, N]) -> bool {\n"
                      "    load(doc[z, i]) == load(doc[z, j])\n}",
                      "error: missing argument 'doc' in call to 'my_mask' (an fn value that reads "
                      "a tensor captures it in the specialisation: my_mask(doc: doc))",
                      "t.tile:2:4: note: 'my_mask' (called as 'mask') is declared here");
}

/* more_messages moved to tests/golden/msg_*.tile (one golden .err each). */

/* ---- every program of the repository through the verifier -------------- */

static int compile_file(const char *path, const char *const *defs, int ndefs, bool want_ok)
{
    unit u;
    arena_init(&u.mem);
    diag_init(&u.diags, &u.mem);
    u.m = ir_module_new(&u.mem, &u.diags);
    fe_define fd[8];
    for (int i = 0; i < ndefs; i++) {
        const char *eq = strchr(defs[i], '=');
        fd[i].name = arena_strndup(&u.mem, defs[i], (size_t)(eq - defs[i]));
        fd[i].value = eq + 1;
    }
    static const fe_auto_value autos[] = {{NULL, "BM", 32}, {NULL, "BN", 32}, {NULL, "B", 32},
                                          {NULL, "BE", 32}, {NULL, "BD", 32}, {NULL, "BK", 16}};
    fe_options o = {.defines = fd, .ndefines = ndefs, .auto_values = autos,
                    .nauto_values = sizeof autos / sizeof autos[0]};
    tile_status st = fe_compile(u.m, path, NULL, NULL, &o);
    if (st == TILE_OK) st = ir_verify_module(u.m, "front end");
    if (want_ok && st != TILE_OK) {
        char *err = diag_render(&u.diags, &u.mem);
        fail_msg("%s: %s", path, err);
    }
    int nk = count_funcs(u.m, IR_FUNC_KERNEL);
    arena_free(&u.mem);
    return nk;
}

static void golden_and_library_programs_verify(void **state)
{
    (void)state;
    const char *golden = TILE_SOURCE_DIR "/tests/golden";
    DIR *d = opendir(golden);
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".tile") != 0) continue;
        if (strncmp(e->d_name, "ok_", 3) != 0 && strncmp(e->d_name, "ir_", 3) != 0) continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", golden, e->d_name);
        compile_file(path, (const char *[]){"D=32", "B=16"}, 2, true);
        n++;
    }
    closedir(d);
    assert_true(n >= 10);
    static const char *const defs[] = {"D=64", "E=32", "PS=16", "S=4", "BM=16", "BN=16"};
    static const char *const lib[] = {"flash_fwd", "flash_bwd", "decode", "block_sparse",
                                      "lightning2", "masks"};
    for (size_t i = 0; i < sizeof lib / sizeof lib[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/lib/attention/%s.tile", TILE_SOURCE_DIR, lib[i]);
        if (access(path, R_OK) != 0) continue;
        compile_file(path, defs, 6, true);
    }
}

/* ---- robustness: mutated programs -------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = 0;
    fclose(f);
    return buf;
}

/* Replacement words: names, numbers, types, operators and keywords that
 * keep the program parseable often enough to reach deep into sema. */
static const char *const words[] = {
    "x", "y", "q", "k", "D", "N", "M", "BM", "rows", "acc", "mask", "causal", "0", "1", "-1",
    "64", "1.5", "true", "None", "inf", "f32", "bf16", "i64", "bool", "exp", "max", "sum",
    "dot", "trans", "load", "store", "arange", "zeros", "full", "where", "cast<f32>", "[:, None]",
    "+", "*", "<", "&&", "&", "(", ")", "[", "]", ",", ":", ";", "{", "}", "let", "var", "for",
    "if", "while", "return", "const", "fn", "kernel", "static_assert",
};

static void mutate_and_check(const char *src, int rounds)
{
    size_t len = strlen(src);
    for (int r = 0; r < rounds; r++) {
        char *buf = malloc(len + 64);
        /* Replace one word (a run of identifier chars or one other char). */
        size_t at = (size_t)(rng() % (len ? len : 1));
        size_t end = at;
        while (end < len && (src[end] == '_' || (src[end] >= 'a' && src[end] <= 'z') ||
                             (src[end] >= 'A' && src[end] <= 'Z') || (src[end] >= '0' && src[end] <= '9')))
            end++;
        if (end == at && end < len) end++;
        const char *w = words[rng() % (sizeof words / sizeof words[0])];
        memcpy(buf, src, at);
        strcpy(buf + at, w);
        strcat(buf + at, src + end);
        unit u;
        compile_opts(&u, buf, NULL, (const char *[]){"D=16"}, 1, NULL, 0);
        /* compile_opts verified the IR if it compiled. */
        done(&u);
        free(buf);
    }
}

static void mutated_programs_never_crash(void **state)
{
    (void)state;
    static const char *const files[] = {"ok_flash", "ok_consts", "ok_misc", "ir_loop", "ir_if",
                                        "ir_view_mask", "ir_reduce", "ir_weak", "ir_assert",
                                        "ir_capture", "sema_capture"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/tests/golden/%s.tile", TILE_SOURCE_DIR, files[i]);
        char *src = read_all(path);
        assert_non_null(src);
        const char *env = getenv("TILE_SEMA_ROUNDS"); /* deeper runs by hand */
        mutate_and_check(src, env ? atoi(env) : 150);
        free(src);
    }
}

/* fe_check on a file with mangled `// tilec:` lines: errors or success,
 * never a crash (these lines are read from the text, outside the parser). */
static void check_lines_never_crash(void **state)
{
    (void)state;
    static const char *const pieces[] = {"-D", " ", "D", "=", "64", "(", ")", "[", "]", ";",
                                         "T", "f32", "sliding_window(W: 4)", "-k", "\t", "==",
                                         "\"", "1e39", "-DD=", ",", "mask", "causal", "x"};
    char dir[] = "/tmp/tile_lines_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/l.tile", dir);
    for (int round = 0; round < 300; round++) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        int nlines = 1 + (int)(rng() % 3);
        for (int l = 0; l < nlines; l++) {
            fputs("// tilec:", f);
            int n = (int)(rng() % 8);
            for (int k = 0; k < n; k++)
                fputs(pieces[rng() % (sizeof pieces / sizeof pieces[0])], f);
            fputc('\n', f);
        }
        fputs("import \"attention/masks.tile\";\n"
              "kernel k(y: out tensor<f32>[D], const D: int, const T: dtype = f32,\n"
              "         const mask: fn = causal) grid(1) { store(y[arange(D)], 1.0); }\n", f);
        if (rng() % 2) fputs("// tilec: -D D=", f);   /* a last line without '\n' */
        fclose(f);
        unit u;
        arena_init(&u.mem);
        diag_init(&u.diags, &u.mem);
        u.m = ir_module_new(&u.mem, &u.diags);
        ptr_vec report = {0};
        fe_options o = {.check_report = &report, .strict_defines = true};
        tile_status st = fe_check(u.m, path, &o);
        assert_true(st == TILE_OK || st == TILE_ERR_SEMA || st == TILE_ERR_SYNTAX);
        if (st == TILE_OK) assert_true(report.len >= 1);
        assert_non_null(diag_render(&u.diags, &u.mem));
        done(&u);
    }
    unlink(path);
    rmdir(dir);
}

static void deep_nesting_is_bounded(void **state)
{
    (void)state;
    /* 300 nested parentheses and 100 nested blocks: errors or success, but
     * no stack overflow. */
    size_t cap = 20000;
    char *src = malloc(cap);
    strcpy(src, "kernel k(y: out tensor<f32>[4]) grid(1) { let a = ");
    for (int i = 0; i < 300; i++) strcat(src, "(1 + ");
    strcat(src, "1");
    for (int i = 0; i < 300; i++) strcat(src, ")");
    strcat(src, "; var v = 0;");
    for (int i = 0; i < 100; i++) strcat(src, " if v > 0 { v = v + 1;");
    for (int i = 0; i < 100; i++) strcat(src, " }");
    strcat(src, " }");
    unit u;
    compile(&u, src, NULL);
    done(&u);
    /* A long chain of fn calls counts too; the error says where it starts. */
    strcpy(src, "");
    for (int i = 0; i < 100; i++) sprintf(src + strlen(src), "fn g%d(x) { g%d(x) + 1.0 }\n", i, i + 1);
    strcat(src, "fn g100(x) { x }\n"
                "kernel k(y: out tensor<f32>[4]) grid(1) { store(y[arange(4)], g0(1.0)); }\n");
    compile(&u, src, NULL);
    assert_int_equal(u.st, TILE_ERR_SEMA);
    assert_non_null(strstr(u.err, "nested too deeply"));
    assert_non_null(strstr(u.err, "t.tile:102:63: note: counting the "));
    assert_non_null(strstr(u.err, " nested fn calls from here"));
    done(&u);
    free(src);
}

/* Global names hash into a table that grows with them (it had 256 fixed
 * buckets: 160k constants took seconds); lookups and redefinitions still
 * work across the growth. */
static void many_globals(void **state)
{
    (void)state;
    enum { N = 5000 };
    size_t cap = (size_t)N * 40 + 512;
    char *src = malloc(cap);
    assert_non_null(src);
    size_t len = 0;
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(src + len, cap - len, "const C%d = %d;\n", i, i);
    snprintf(src + len, cap - len, "kernel k(o: out tensor<i32>[1]) grid(1) { store(o[0], C0 + C%d + C2500); }\n",
             N - 1);
    unit u;
    expect_ok(&u, src, "k");
    done(&u);
    snprintf(src + len, cap - len, "const C4321 = 1;\n");
    compile(&u, src, NULL);
    assert_int_not_equal(u.st, TILE_OK);
    assert_non_null(strstr(u.err, "error: redefinition of 'C4321'"));
    done(&u);
    free(src);
}

/* fe_options.text_len: a source given as text is compiled to its length, a
 * NUL inside included (the fuzzer passed strlen: bytes after a NUL were
 * never compiled). */
static void text_with_a_nul(void **state)
{
    (void)state;
    static const char src[] = "kernel k(o: out tensor<i32>[1]) grid(1) { store(o[0], 1); }\n\0 let\n";
    unit u;
    arena_init(&u.mem);
    diag_init(&u.diags, &u.mem);
    u.m = ir_module_new(&u.mem, &u.diags);
    fe_options o = {.text_len = sizeof src - 1};
    u.st = fe_compile(u.m, "t.tile", src, NULL, &o);
    assert_int_not_equal(u.st, TILE_OK);
    u.err = diag_render(&u.diags, &u.mem);
    assert_non_null(strstr(u.err, "t.tile:2:1: error: "));
    done(&u);
    expect_ok(&u, src, "k"); /* without text_len: up to the NUL */
    done(&u);
}

/* A parse cache (fe_parse_cache, shared by the scheduler's candidate
 * compiles) gives the same IR as parsing anew, follows a changed text, and
 * keeps no file that did not parse: its error comes again. */
static char *compile_cached(fe_parse_cache *cache, const char *src, tile_status *st)
{
    unit u;
    arena_init(&u.mem);
    diag_init(&u.diags, &u.mem);
    u.m = ir_module_new(&u.mem, &u.diags);
    fe_options o = {.parse_cache = cache};
    *st = fe_compile(u.m, "t.tile", src, "k", &o);
    char *text = *st == TILE_OK ? print_module(u.m) : strdup(diag_render(&u.diags, &u.mem));
    done(&u);
    return text;
}

static void parse_cache_reuses_and_follows_text(void **state)
{
    (void)state;
    arena mem;
    arena_init(&mem);
    fe_parse_cache *cache = fe_parse_cache_new(&mem);
    assert_non_null(cache);
    const char *a = "kernel k(x: out tensor<f32>[4]) grid(1) { store(x[arange(4)], full([4], 1.0)); }\n";
    const char *b = "kernel k(x: out tensor<f32>[4]) grid(1) { store(x[arange(4)], full([4], 2.0)); }\n";
    const char *bad = "kernel k(x: out tensor<f32>[4]) grid(1) { store(x[arange(4)], ; }\n";
    tile_status st;
    char *fresh = compile_cached(NULL, a, &st);
    assert_int_equal(st, TILE_OK);
    for (int i = 0; i < 2; i++) {   /* parsed into the cache, then taken from it */
        char *cached = compile_cached(cache, a, &st);
        assert_int_equal(st, TILE_OK);
        assert_string_equal(cached, fresh);
        free(cached);
    }
    char *other = compile_cached(cache, b, &st);
    assert_int_equal(st, TILE_OK);
    assert_non_null(strstr(other, "2.0"));
    assert_null(strstr(other, "1.0"));
    for (int i = 0; i < 2; i++) {
        char *err = compile_cached(cache, bad, &st);
        assert_int_equal(st, TILE_ERR_SYNTAX);
        assert_non_null(strstr(err, "t.tile:1:"));
        free(err);
    }
    free(fresh), free(other);
    arena_free(&mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kernel_params_and_consts),
        cmocka_unit_test(compile_all_skips_unbound),
        cmocka_unit_test(auto_constants_are_reported),
        cmocka_unit_test(unbound_const_named),
        cmocka_unit_test(defines_bind_and_override),
        cmocka_unit_test(define_errors),
        cmocka_unit_test(define_fn_value),
        cmocka_unit_test(weak_literals_and_promotion),
        cmocka_unit_test(fn_instances_are_cached_by_type),
        cmocka_unit_test(constant_folds_keep_dtypes),
        cmocka_unit_test(partial_application),
        cmocka_unit_test(loops_carry_assigned_vars_only),
        cmocka_unit_test(const_if_lowers_taken_branch),
        cmocka_unit_test(tuple_assignment),
        cmocka_unit_test(runtime_assert),
        cmocka_unit_test(spec_params_and_captures),
        cmocka_unit_test(capture_errors),
        cmocka_unit_test(check_resolves_unbound_kernels),
        cmocka_unit_test(include_dirs_and_library),
        cmocka_unit_test(read_errors),
        cmocka_unit_test(suggest_nearest),
        cmocka_unit_test(library_mask_errors_point_at_the_user),
        cmocka_unit_test(golden_and_library_programs_verify),
        cmocka_unit_test(mutated_programs_never_crash),
        cmocka_unit_test(check_lines_never_crash),
        cmocka_unit_test(deep_nesting_is_bounded),
        cmocka_unit_test(many_globals),
        cmocka_unit_test(text_with_a_nul),
        cmocka_unit_test(parse_cache_reuses_and_follows_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
