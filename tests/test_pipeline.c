/* test_pipeline.c - compiler/pipeline.c: define lists, compiling from text,
 * error paths, and the "-O0 vs -O1 give the same results" property on the
 * interpreter (SQLite's optimisations-off habit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "compiler/pipeline.h"

static void split_defines(void **state)
{
    (void)state;
    arena mem;
    arena_init(&mem);
    const char **d = NULL;
    int n = tc_split_defines(&mem, "D=64,mask=sliding_window(W: 8, S: 2),BM=16", &d);
    assert_int_equal(n, 3);
    assert_string_equal(d[0], "D=64");
    assert_string_equal(d[1], "mask=sliding_window(W: 8, S: 2)");
    assert_string_equal(d[2], "BM=16");
    assert_int_equal(tc_split_defines(&mem, "", &d), 0);
    assert_int_equal(tc_split_defines(&mem, "D", &d), -1);       /* no '=' */
    assert_int_equal(tc_split_defines(&mem, "m=f(W: 1", &d), -1); /* unbalanced */
    assert_int_equal(tc_split_defines(&mem, "m=f)(", &d), -1);
    arena_free(&mem);
}

static const char *saxpy_src =
    "kernel saxpy(x: tensor<f32>[N], y: tensor<f32>[N], res: out tensor<f32>[N], a: f32,\n"
    "             const B: int = 8) grid(cdiv(N, B))\n"
    "{\n"
    "    let i = program_id(0) * B + arange(B);\n"
    "    let t = load(x[i]) * (a + 0.0) * 1.0 + load(y[i]) * (2 - 1);\n"
    "    store(res[i], t);\n"
    "}\n";

static void run_saxpy(int opt_level, float *out, int n)
{
    tc_options o = {.kernel = "saxpy", .opt_level = opt_level, .verify_each = true};
    tc_unit *u = NULL;
    tile_status st = tc_compile(&u, "saxpy.tile", saxpy_src, &o);
    if (st != TILE_OK) diag_print_all(&u->diags, stderr);
    assert_int_equal(st, TILE_OK);
    assert_non_null(u->kernel);
    float x[13], y[13];
    for (int i = 0; i < n; i++) { x[i] = (float)i * 0.5f; y[i] = 1.0f - (float)i; out[i] = -1.0f; }
    interp_arg args[4];
    memset(args, 0, sizeof args);
    float *data[3] = {x, y, out};
    for (int p = 0; p < 3; p++) {
        args[p].tensor = (interp_tensor){.dtype = IR_F32, .rank = 1, .shape = {n}, .data = data[p]};
        interp_contiguous_strides(&args[p].tensor);
    }
    args[3].scalar.f = 3.0;
    st = interp_launch(u->kernel, args, 4, &u->diags, NULL);
    if (st != TILE_OK) diag_print_all(&u->diags, stderr);
    assert_int_equal(st, TILE_OK);
    tc_unit_free(u);
}

static void optimised_equals_unoptimised(void **state)
{
    (void)state;
    float o0[13], o1[13];
    run_saxpy(0, o0, 13);
    run_saxpy(1, o1, 13);
    for (int i = 0; i < 13; i++) {
        float want = (float)i * 0.5f * 3.0f + (1.0f - (float)i);
        assert_float_equal(o0[i], want, 0.0f);
        assert_memory_equal(&o0[i], &o1[i], sizeof(float));
    }
}

static void errors_are_reported_not_fatal(void **state)
{
    (void)state;
    tc_options o = {.kernel = "nope", .opt_level = 1};
    tc_unit *u = NULL;
    assert_int_not_equal(tc_compile(&u, "saxpy.tile", saxpy_src, &o), TILE_OK);
    assert_non_null(u);
    assert_true(u->diags.nerrors > 0);
    tc_unit_free(u);

    const char *bad_define[] = {"B"};
    tc_options o2 = {.kernel = "saxpy", .defines = bad_define, .ndefines = 1};
    assert_int_equal(tc_compile(&u, "saxpy.tile", saxpy_src, &o2), TILE_ERR_ARG);
    char *msg = diag_render(&u->diags, &u->mem);
    assert_non_null(strstr(msg, "bad define 'B': expected NAME=VALUE"));
    tc_unit_free(u);

    assert_int_not_equal(tc_compile(&u, "/nonexistent/x.tile", NULL, NULL), TILE_OK);
    assert_true(u->diags.nerrors > 0);
    tc_unit_free(u);
}

/* tc_check (`tilec check`) reads defines exactly as tc_compile does. */
static void check_reads_defines_like_compile(void **state)
{
    (void)state;
    char path[] = "/tmp/tile_pipeline_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, saxpy_src, strlen(saxpy_src)), (ssize_t)strlen(saxpy_src));
    close(fd);
    tc_unit *u = NULL;
    const char *good[] = {"B=4"};
    tc_options o = {.defines = good, .ndefines = 1};
    assert_int_equal(tc_check(&u, path, &o), TILE_OK);
    assert_int_equal(u->diags.nerrors, 0);
    tc_unit_free(u);
    const char *bad[][1] = {{"=5"}, {"B"}};
    for (int i = 0; i < 2; i++) {
        tc_options ob = {.defines = bad[i], .ndefines = 1};
        assert_int_equal(tc_check(&u, path, &ob), TILE_ERR_ARG);
        char *msg = diag_render(&u->diags, &u->mem);
        assert_non_null(strstr(msg, "expected NAME=VALUE"));
        tc_unit_free(u);
        assert_int_equal(tc_compile(&u, path, NULL, &ob), TILE_ERR_ARG);
        tc_unit_free(u);
    }
    assert_int_not_equal(tc_check(&u, "/nonexistent/x.tile", NULL), TILE_OK);
    assert_true(u->diags.nerrors > 0);
    tc_unit_free(u);
    unlink(path);
}

/* ---- folded = run time, bit for bit ------------------------------------- */

/* A small generator of random integer expressions over a, b, c: every
 * operator the language folds (divisors made odd, so never zero), literals
 * at the edges of i32/i64.  The same text is compiled twice: with a, b, c
 * constants of the dtype (cast<T>(...), folded by the front end) and with a,
 * b, c run-time parameters (at -O0 and -O1, where pass_fold folds what it
 * can).  The design promises the three agree bit for bit. */
typedef struct gen {
    uint64_t s;
    char *buf;
    size_t len, cap;
} gen;

static uint64_t gen_next(gen *g)
{
    uint64_t z = (g->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void emit(gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(gen *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(g->buf + g->len, g->cap - g->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < g->cap - g->len);
    g->len += (size_t)n;
}

/* Emits an expression; returns whether it mentions a, b or c.  A literal
 * is weak (a bare int constant, folded in i64 by the language's rules) only
 * beside an operand that mentions a variable, so it converts to the dtype
 * as it would meeting a run-time value; elsewhere it is cast<T>(literal). */
static bool gen_expr(gen *g, int depth, bool wide, bool allow_weak)
{
    static const char *const i32_lits[] = {"0", "1", "2", "3", "7", "31", "32", "33", "-1", "-2",
                                           "2147483647", "(-2147483647 - 1)", "65536", "46341"};
    static const char *const i64_lits[] = {"63", "64", "4294967296", "9223372036854775807",
                                           "(-9223372036854775807 - 1)", "3037000500"};
    const char *T = wide ? "i64" : "i32";
    unsigned k = (unsigned)(gen_next(g) % (depth > 0 ? 12 : 3));
    if (depth == 0 || k < 3) {
        unsigned r = (unsigned)(gen_next(g) % 5);
        if (r < 3) {
            emit(g, "%c", "abc"[r]);
            return true;
        }
        const char *lit = wide && r == 4 ? i64_lits[gen_next(g) % (sizeof i64_lits / sizeof *i64_lits)]
                                         : i32_lits[gen_next(g) % (sizeof i32_lits / sizeof *i32_lits)];
        if (allow_weak && gen_next(g) % 2) emit(g, "%s", lit);
        else emit(g, "cast<%s>(%s)", T, lit);
        return false;
    }
    static const char *const binops[] = {"+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"};
    static const char *const calls[] = {"min", "max", "cdiv"};
    unsigned op = (unsigned)(gen_next(g) % 16);
    bool var;
    if (op < 10) {
        emit(g, "(");
        var = gen_expr(g, depth - 1, wide, false);
        emit(g, " %s ", binops[op]);
        bool divides = op == 3 || op == 4;
        if (divides) emit(g, "(");
        var |= gen_expr(g, depth - 1, wide, var && !divides);
        if (divides) emit(g, " | cast<%s>(1))", T);
        emit(g, ")");
    } else if (op < 13) {
        emit(g, "%s(", calls[op - 10]);
        var = gen_expr(g, depth - 1, wide, false);
        emit(g, ", ");
        if (op == 12) emit(g, "(");
        var |= gen_expr(g, depth - 1, wide, var && op != 12);
        if (op == 12) emit(g, " | cast<%s>(1))", T);
        emit(g, ")");
    } else {
        emit(g, "%s(", op == 13 ? "-" : op == 14 ? "~" : "abs");
        var = gen_expr(g, depth - 1, wide, false);
        emit(g, ")");
    }
    return var;
}

enum { NEXPR = 40 };

/* Compiles `src` (kernel k) at opt_level and runs it with scalar arguments
 * abc (none if NULL) into out[NEXPR] (i64 storage for both dtypes). */
static void run_exprs(const char *src, int opt_level, ir_dtype dt, const int64_t *abc, int64_t *out)
{
    tc_options o = {.kernel = "k", .opt_level = opt_level, .verify_each = true};
    tc_unit *u = NULL;
    tile_status st = tc_compile(&u, "exprs.tile", src, &o);
    if (st != TILE_OK) {
        diag_print_all(&u->diags, stderr);
        fprintf(stderr, "%s", src);
    }
    assert_int_equal(st, TILE_OK);
    int32_t o32[NEXPR];
    interp_arg args[4];
    memset(args, 0, sizeof args);
    args[0].tensor = (interp_tensor){.dtype = dt, .rank = 1, .shape = {NEXPR},
                                     .data = dt == IR_I32 ? (void *)o32 : (void *)out};
    interp_contiguous_strides(&args[0].tensor);
    for (int i = 0; abc && i < 3; i++) args[1 + i].scalar.i = abc[i];
    st = interp_launch(u->kernel, args, abc ? 4 : 1, &u->diags, NULL);
    if (st != TILE_OK) diag_print_all(&u->diags, stderr);
    assert_int_equal(st, TILE_OK);
    if (dt == IR_I32)
        for (int i = 0; i < NEXPR; i++) out[i] = o32[i];
    tc_unit_free(u);
}

static void folding_equals_run_time(void **state)
{
    (void)state;
    static const int64_t edges32[] = {2147483647, -2147483647 - 1, -1, 0, 1, 46341, -46341, 65535};
    static const int64_t edges64[] = {INT64_MAX, INT64_MIN, -1, 0, 1, 3037000500, 4294967296,
                                      2147483647};
    size_t cap = 1 << 16;
    char *exprs = malloc(cap), *folded = malloc(cap), *runtime = malloc(cap);
    assert_non_null(exprs);
    int cases = 0;
    for (int wide = 0; wide < 2; wide++)
        for (uint64_t seed = 1; seed <= 12; seed++) {
            gen g = {.s = seed * 7919 + (uint64_t)wide, .buf = exprs, .cap = cap};
            const char *T = wide ? "i64" : "i32";
            ir_dtype dt = wide ? IR_I64 : IR_I32;
            int64_t abc[3];
            for (int i = 0; i < 3; i++) {
                uint64_t r = gen_next(&g);
                int64_t v = (int64_t)r;
                abc[i] = r % 3 ? (wide ? edges64 : edges32)[(r >> 8) % 8]
                               : wide ? v : (int64_t)(int32_t)v;
            }
            for (int e = 0; e < NEXPR; e++) {
                emit(&g, "    store(o[%d], ", e);
                (void)gen_expr(&g, 1 + e % 4, wide, false);
                emit(&g, ");\n");
            }
            char lit[3][32];
            for (int i = 0; i < 3; i++) {
                if (abc[i] == INT64_MIN) snprintf(lit[i], sizeof lit[i], "-9223372036854775807 - 1");
                else if (abc[i] == -2147483647 - 1) snprintf(lit[i], sizeof lit[i], "-2147483647 - 1");
                else snprintf(lit[i], sizeof lit[i], "%lld", (long long)abc[i]);
            }
            snprintf(folded, cap,
                     "kernel k(o: out tensor<%s>[%d]) grid(1) {\n"
                     "    let a = cast<%s>(%s);\n    let b = cast<%s>(%s);\n    let c = cast<%s>(%s);\n%s}\n",
                     T, NEXPR, T, lit[0], T, lit[1], T, lit[2], exprs);
            snprintf(runtime, cap, "kernel k(o: out tensor<%s>[%d], a: %s, b: %s, c: %s) grid(1) {\n%s}\n",
                     T, NEXPR, T, T, T, exprs);
            int64_t want[NEXPR], o0[NEXPR], o1[NEXPR];
            run_exprs(folded, 1, dt, NULL, want);
            run_exprs(runtime, 0, dt, abc, o0);
            run_exprs(runtime, 1, dt, abc, o1);
            for (int e = 0; e < NEXPR; e++) {
                if (want[e] != o0[e] || want[e] != o1[e])
                    fail_msg("expression %d differs: folded %lld, -O0 %lld, -O1 %lld (a=%lld b=%lld "
                             "c=%lld)\n%s", e, (long long)want[e], (long long)o0[e], (long long)o1[e],
                             (long long)abc[0], (long long)abc[1], (long long)abc[2], runtime);
                cases++;
            }
        }
    assert_int_equal(cases, 2 * 12 * NEXPR);
    free(exprs);
    free(folded);
    free(runtime);
}

/* The same property for f32: arithmetic, min/max, the float built-ins, weak
 * literals beside values; results compared bit for bit (a stored NaN is
 * canonical, so NaN compares too). */
static bool gen_fexpr(gen *g, int depth, bool allow_weak)
{
    static const char *const lits[] = {"0.0", "-0.0", "1.0", "0.1", "2.5", "-3.0", "1e30",
                                       "3.4e38", "1e-45", "65504.0", "0.5", "inf"};
    static const char *const unary[] = {"-", "abs", "exp", "log", "sqrt", "tanh", "sigmoid",
                                        "exp2", "log2", "rsqrt"};
    static const char *const binops[] = {"+", "-", "*", "/", "%"};
    unsigned k = (unsigned)(gen_next(g) % (depth > 0 ? 12 : 3));
    if (depth == 0 || k < 3) {
        unsigned r = (unsigned)(gen_next(g) % 5);
        if (r < 3) {
            emit(g, "%c", "abc"[r]);
            return true;
        }
        const char *lit = lits[gen_next(g) % (sizeof lits / sizeof *lits)];
        if (allow_weak && gen_next(g) % 2) emit(g, "%s", lit);
        else emit(g, "cast<f32>(%s)", lit);
        return false;
    }
    unsigned op = (unsigned)(gen_next(g) % 17);
    bool var;
    if (op < 5) {
        emit(g, "(");
        var = gen_fexpr(g, depth - 1, false);
        emit(g, " %s ", binops[op]);
        var |= gen_fexpr(g, depth - 1, var);
        emit(g, ")");
    } else if (op < 7) {
        emit(g, "%s(", op == 5 ? "min" : "max");
        var = gen_fexpr(g, depth - 1, false);
        emit(g, ", ");
        var |= gen_fexpr(g, depth - 1, var);
        emit(g, ")");
    } else {
        emit(g, "%s(", unary[op - 7]);
        var = gen_fexpr(g, depth - 1, false);
        emit(g, ")");
    }
    return var;
}

static void run_fexprs(const char *src, int opt_level, const float *abc, uint32_t *out)
{
    tc_options o = {.kernel = "k", .opt_level = opt_level, .verify_each = true};
    tc_unit *u = NULL;
    tile_status st = tc_compile(&u, "fexprs.tile", src, &o);
    if (st != TILE_OK) {
        diag_print_all(&u->diags, stderr);
        fprintf(stderr, "%s", src);
    }
    assert_int_equal(st, TILE_OK);
    interp_arg args[4];
    memset(args, 0, sizeof args);
    args[0].tensor = (interp_tensor){.dtype = IR_F32, .rank = 1, .shape = {NEXPR}, .data = out};
    interp_contiguous_strides(&args[0].tensor);
    for (int i = 0; abc && i < 3; i++) args[1 + i].scalar.f = abc[i];
    st = interp_launch(u->kernel, args, abc ? 4 : 1, &u->diags, NULL);
    if (st != TILE_OK) diag_print_all(&u->diags, stderr);
    assert_int_equal(st, TILE_OK);
    tc_unit_free(u);
}

static void float_folding_equals_run_time(void **state)
{
    (void)state;
    static const float edges[] = {0.0f, -0.0f, 1.0f, -1.5f, 3.4e38f, 1e-45f, 0.1f, 65504.0f};
    size_t cap = 1 << 16;
    char *exprs = malloc(cap), *folded = malloc(cap), *runtime = malloc(cap);
    assert_non_null(exprs);
    int cases = 0;
    for (uint64_t seed = 1; seed <= 12; seed++) {
        gen g = {.s = seed * 104729, .buf = exprs, .cap = cap};
        float abc[3];
        char lit[3][48];
        for (int i = 0; i < 3; i++) {
            uint64_t r = gen_next(&g);
            abc[i] = r % 3 ? edges[(r >> 8) % 8] : (float)((double)(r >> 11) * 0x1p-53 * 200.0 - 100.0);
            snprintf(lit[i], sizeof lit[i], "%.9e", (double)abc[i]);
        }
        for (int e = 0; e < NEXPR; e++) {
            emit(&g, "    store(o[%d], ", e);
            (void)gen_fexpr(&g, 1 + e % 4, false);
            emit(&g, ");\n");
        }
        snprintf(folded, cap,
                 "kernel k(o: out tensor<f32>[%d]) grid(1) {\n    let a = cast<f32>(%s);\n"
                 "    let b = cast<f32>(%s);\n    let c = cast<f32>(%s);\n%s}\n",
                 NEXPR, lit[0], lit[1], lit[2], exprs);
        snprintf(runtime, cap, "kernel k(o: out tensor<f32>[%d], a: f32, b: f32, c: f32) grid(1) {\n%s}\n",
                 NEXPR, exprs);
        uint32_t want[NEXPR], o0[NEXPR], o1[NEXPR];
        run_fexprs(folded, 1, NULL, want);
        run_fexprs(runtime, 0, abc, o0);
        run_fexprs(runtime, 1, abc, o1);
        for (int e = 0; e < NEXPR; e++) {
            if (want[e] != o0[e] || want[e] != o1[e])
                fail_msg("expression %d differs: folded %08x, -O0 %08x, -O1 %08x (a=%s b=%s c=%s)\n%s",
                         e, want[e], o0[e], o1[e], lit[0], lit[1], lit[2], runtime);
            cases++;
        }
    }
    assert_int_equal(cases, 12 * NEXPR);
    free(exprs);
    free(folded);
    free(runtime);
}

/* The two regressions the differential test was written for. */
static void i32_constants_wrap_like_run_time(void **state)
{
    (void)state;
    const char *src =
        "kernel k(o: out tensor<i32>[5], x: i32) grid(1) {\n"
        "    let c = cast<i32>(2147483647);\n"
        "    store(o[0], (c + c) / 4);\n"              /* i32: -2 / 4 = 0 */
        "    store(o[1], (x + x) / 4);\n"
        "    store(o[2], cdiv(x, 2));\n"                /* no overflow in x + 2 - 1 */
        "    store(o[3], cdiv(c, 2));\n"
        "    store(o[4], cdiv(-x, 2) + cdiv(7, -2) * 10);\n" /* ceil(-1073741823.5), ceil(-3.5) */
        "}\n";
    tc_options o = {.kernel = "k"};
    tc_unit *u = NULL;
    assert_int_equal(tc_compile(&u, "wrap.tile", src, &o), TILE_OK);
    int32_t out[5];
    interp_arg args[2];
    memset(args, 0, sizeof args);
    args[0].tensor = (interp_tensor){.dtype = IR_I32, .rank = 1, .shape = {5}, .data = out};
    interp_contiguous_strides(&args[0].tensor);
    args[1].scalar.i = 2147483647;
    assert_int_equal(interp_launch(u->kernel, args, 2, &u->diags, NULL), TILE_OK);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 0);
    assert_int_equal(out[2], 1073741824);
    assert_int_equal(out[3], 1073741824);
    assert_int_equal(out[4], -1073741823 - 30);
    tc_unit_free(u);
    /* a weak constant that does not fit meets an i32 one: as with an i32 tile */
    const char *bad = "kernel k(o: out tensor<i32>[1]) grid(1) {\n"
                      "    store(o[0], cast<i32>(1) + 5000000000);\n}\n";
    assert_int_equal(tc_compile(&u, "bad.tile", bad, &o), TILE_ERR_SEMA);
    assert_non_null(strstr(diag_render(&u->diags, &u->mem),
                           "bad.tile:2:30: error: integer constant 5000000000 does not fit in i32"));
    tc_unit_free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(split_defines),
        cmocka_unit_test(optimised_equals_unoptimised),
        cmocka_unit_test(errors_are_reported_not_fatal),
        cmocka_unit_test(check_reads_defines_like_compile),
        cmocka_unit_test(folding_equals_run_time),
        cmocka_unit_test(float_folding_equals_run_time),
        cmocka_unit_test(i32_constants_wrap_like_run_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
