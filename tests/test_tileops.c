/* test_tileops.c - the tile operations of issue 5 item 3, from source to the
 * interpreter: math built-ins (sin cos floor ceil round erf log1p expm1 pow
 * ** fma clamp), argmax/argmin, any/all, tile indexing with integers and
 * slices, concat/split, break/continue and print with several labels.
 *
 * Every kernel is compiled at -O0 and -O1 and run on the interpreter; the
 * results must be bit-identical to each other and to a reference computed
 * here from the documented semantics (docs/language.md).  Constant inputs
 * (folded at -O1, computed by the interpreter at -O0) check that folding
 * and the interpreter agree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/pipeline.h"
#include "frontend/ast.h"
#include "support/fp16.h"
#include "ir/interp.h"
#include "ir_test_util.h"

/* ---- harness ----------------------------------------------------------- */

static tc_unit *compile(const char *src, const char *kernel, int opt, const char *const *defs,
                        int ndefs)
{
    tc_options o = {.kernel = kernel, .opt_level = opt, .verify_each = true, .defines = defs,
                    .ndefines = ndefs};
    tc_unit *u = NULL;
    tile_status st = tc_compile(&u, "t.tile", src, &o);
    if (st != TILE_OK) diag_print_all(&u->diags, stderr);
    assert_int_equal(st, TILE_OK);
    assert_non_null(u->kernel);
    return u;
}

static interp_arg targ(ir_dtype t, void *data, int rank, const int64_t *shape)
{
    interp_arg a;
    memset(&a, 0, sizeof a);
    a.tensor.dtype = t;
    a.tensor.rank = rank;
    for (int i = 0; i < rank; i++) a.tensor.shape[i] = shape[i];
    a.tensor.data = data;
    interp_contiguous_strides(&a.tensor);
    return a;
}

static interp_arg sarg(int64_t v)
{
    interp_arg a;
    memset(&a, 0, sizeof a);
    a.scalar.i = v;
    return a;
}

/* Compiles at opt and runs with args; the run must succeed. */
static void run(const char *src, const char *kernel, int opt, const char *const *defs, int ndefs,
                interp_arg *args, int nargs)
{
    tc_unit *u = compile(src, kernel, opt, defs, ndefs);
    tile_status st = interp_launch(u->kernel, args, nargs, &u->diags, NULL);
    if (st != TILE_OK) diag_print_all(&u->diags, stderr);
    assert_int_equal(st, TILE_OK);
    tc_unit_free(u);
}

/* Equal bits, or both NaN (a stored NaN is canonical). */
static bool same(float a, float b)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return memcmp(&a, &b, sizeof a) == 0;
}

static float to_dtype(ir_dtype t, float f)
{
    return t == IR_BF16 ? fp_round_bf16(f) : t == IR_F16 ? fp_round_f16(f) : f;
}

static const char *dt_def(ir_dtype t) { return t == IR_BF16 ? "T=bf16" : t == IR_F16 ? "T=f16" : "T=f32"; }

/* ---- references -------------------------------------------------------- */

/* Round half to even, computed in double without rint (independent of the
 * implementation's rintf). */
static float ref_round_even(float xf)
{
    double x = xf;
    if (isnan(x) || isinf(x)) return xf;
    double r = floor(x), d = x - r;
    if (d > 0.5 || (d == 0.5 && fmod(r, 2.0) != 0.0)) r += 1.0;
    if (r == 0.0) r = copysign(0.0, x);
    return (float)r;
}

typedef enum { U_SIN, U_COS, U_FLOOR, U_CEIL, U_ROUND, U_ERF, U_LOG1P, U_EXPM1, U_COUNT } unop;
static const char *const un_name[U_COUNT] = {"sin", "cos", "floor", "ceil", "round", "erf",
                                             "log1p", "expm1"};

static float ref_unary(unop op, float x)
{
    switch (op) {
    case U_SIN: return sinf(x);
    case U_COS: return cosf(x);
    case U_FLOOR: return isnan(x) ? x : (float)floor((double)x);
    case U_CEIL: return isnan(x) ? x : (float)ceil((double)x);
    case U_ROUND: return ref_round_even(x);
    case U_ERF: return erff(x);
    case U_LOG1P: return log1pf(x);
    case U_EXPM1: return expm1f(x);
    default: return NAN;
    }
}

static const float specials[] = {0.0f, -0.0f, 0.5f, -0.5f, 1.5f, 2.5f, -2.5f, 3.5f, 0.49999997f,
                                 1.0f, -1.0f, 3.7f, -3.7f, 1e-30f, 100.25f, 8388607.5f,
                                 16777217.0f, 1e30f, -1e30f, INFINITY, -INFINITY, NAN,
                                 0.3f, -0.75f, 2.0f, 7.0f, -6.5f, 1e-3f};
enum { NSP = sizeof specials / sizeof specials[0] };

/* ---- elementwise math on runtime tiles --------------------------------- */

static void check_unary_runtime(unop op, ir_dtype t)
{
    char src[512];
    snprintf(src, sizeof src,
             "kernel k(x: tensor<f32>[N], y: out tensor<f32>[N], const T: dtype, const N: int)"
             " grid(1) {\n"
             "    let i = arange(N);\n"
             "    store(y[i], cast<f32>(%s(cast<T>(load(x[i])))));\n"
             "}\n", un_name[op]);
    char nd[32];
    snprintf(nd, sizeof nd, "N=%d", NSP);
    const char *defs[2] = {dt_def(t), nd};
    float x[NSP], y[2][NSP];
    memcpy(x, specials, sizeof x);
    for (int opt = 0; opt < 2; opt++) {
        interp_arg args[2] = {targ(IR_F32, x, 1, (int64_t[]){NSP}),
                              targ(IR_F32, y[opt], 1, (int64_t[]){NSP})};
        run(src, "k", opt, defs, 2, args, 2);
    }
    for (int i = 0; i < NSP; i++) {
        float want = to_dtype(t, ref_unary(op, to_dtype(t, x[i])));
        if (!same(y[0][i], want) || !same(y[1][i], want))
            fail_msg("%s %s(%g): got %g (-O0) %g (-O1), want %g", un_name[op],
                     dt_def(t), (double)x[i], (double)y[0][i],
                     (double)y[1][i], (double)want);
    }
}

static void test_unary_math(void **state)
{
    (void)state;
    for (int op = 0; op < U_COUNT; op++) {
        check_unary_runtime((unop)op, IR_F32);
        check_unary_runtime((unop)op, IR_BF16);
        check_unary_runtime((unop)op, IR_F16);
    }
    /* A few values whose result is exact, independent of any libm. */
    assert_true(same(ref_round_even(2.5f), 2.0f));
    assert_true(same(ref_round_even(-0.5f), -0.0f));
    assert_true(same(rintf(2.5f), 2.0f)); /* the implementation's kernel: ties to even */
    assert_true(same(rintf(-3.5f), -4.0f));
    assert_true(same(erff(INFINITY), 1.0f) && same(expm1f(-INFINITY), -1.0f));
    assert_true(same(log1pf(-1.0f), -INFINITY) && same(log1pf(-0.0f), -0.0f));
}

/* The same ops on constants: folded into consts at -O1, computed by the
 * interpreter at -O0; both must give the reference. */
static void test_unary_math_folded(void **state)
{
    (void)state;
    const char *lits[] = {"0.0", "-0.0", "0.5", "-0.5", "1.5", "2.5", "-2.5", "3.7", "-3.7",
                          "100.25", "1e30", "inf", "-inf", "inf - inf", "0.3", "-6.5"};
    const float vals[] = {0.0f, -0.0f, 0.5f, -0.5f, 1.5f, 2.5f, -2.5f, 3.7f, -3.7f,
                          100.25f, 1e30f, INFINITY, -INFINITY, NAN, 0.3f, -6.5f};
    for (int op = 0; op < U_COUNT; op++)
        for (int dt = 0; dt < 2; dt++) {
            ir_dtype t = dt ? IR_BF16 : IR_F32;
            for (size_t k = 0; k < sizeof lits / sizeof lits[0]; k++) {
                char src[512], cdef[64];
                snprintf(src, sizeof src,
                         "kernel k(y: out tensor<f32>[2], const T: dtype, const C: float)"
                         " grid(1) {\n"
                         "    store(y[arange(2)], cast<f32>(%s(full([2], C, dtype: T))));\n"
                         "}\n", un_name[op]);
                snprintf(cdef, sizeof cdef, "C=%s", lits[k]);
                const char *defs[2] = {dt ? "T=bf16" : "T=f32", cdef};
                float y[2][2];
                for (int opt = 0; opt < 2; opt++) {
                    interp_arg args[1] = {targ(IR_F32, y[opt], 1, (int64_t[]){2})};
                    run(src, "k", opt, defs, 2, args, 1);
                }
                float want = to_dtype(t, ref_unary((unop)op, to_dtype(t, vals[k])));
                if (!same(y[0][0], want) || !same(y[1][0], want) || !same(y[1][1], want))
                    fail_msg("folded %s(%s) %s: got %g (-O0) %g (-O1), want %g", un_name[op],
                             lits[k], dt ? "bf16" : "f32", (double)y[0][0], (double)y[1][0],
                             (double)want);
            }
        }
}

/* pow and **, fma, clamp on runtime tiles and on constants. */
static void test_binary_ternary_math(void **state)
{
    (void)state;
    const char *src =
        "kernel k(a: tensor<f32>[N], b: tensor<f32>[N], c: tensor<f32>[N], y: out "
        "tensor<f32>[4, N], const T: dtype, const N: int) grid(1) {\n"
        "    let i = arange(N);\n"
        "    let x = cast<T>(load(a[i]));\n"
        "    let p = cast<T>(load(b[i]));\n"
        "    let q = cast<T>(load(c[i]));\n"
        "    store(y[0, i], cast<f32>(pow(x, p)));\n"
        "    store(y[1, i], cast<f32>(x ** p));\n"
        "    store(y[2, i], cast<f32>(fma(x, p, q)));\n"
        "    store(y[3, i], cast<f32>(clamp(x, p, q)));\n"
        "}\n";
    enum { N = 12 };
    /* fma: (1+2^-13)^2 - 1 = 2^-12 + 2^-26 exactly; mul then add gives 2^-12. */
    const float e = 1.0f + ldexpf(1.0f, -13);
    float a[N] = {2.0f, -8.0f, NAN, 1.0f, 0.0f, -0.0f, e, 3.0f, -2.0f, INFINITY, 0.5f, -1.0f};
    float b[N] = {10.0f, 1.0f / 3, 0.0f, NAN, -1.0f, -1.0f, e, 0.5f, 3.0f, -2.0f, NAN, INFINITY};
    float c[N] = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, -6.0f, -1.0f, 1.0f, -5.0f, 0.0f, 1.0f, NAN};
    for (int dt = 0; dt < 2; dt++) {
        ir_dtype t = dt ? IR_BF16 : IR_F32;
        const char *defs[2] = {dt ? "T=bf16" : "T=f32", "N=12"};
        float y[2][4 * N];
        for (int opt = 0; opt < 2; opt++) {
            interp_arg args[4] = {targ(IR_F32, a, 1, (int64_t[]){N}),
                                  targ(IR_F32, b, 1, (int64_t[]){N}),
                                  targ(IR_F32, c, 1, (int64_t[]){N}),
                                  targ(IR_F32, y[opt], 2, (int64_t[]){4, N})};
            run(src, "k", opt, defs, 2, args, 4);
        }
        for (int i = 0; i < N; i++) {
            float x = to_dtype(t, a[i]), p = to_dtype(t, b[i]), q = to_dtype(t, c[i]);
            float hi = isnan(x) || isnan(p) ? NAN : (x > p || (x == p && !signbit(x))) ? x : p;
            float cl = isnan(hi) || isnan(q) ? NAN : (hi < q || (hi == q && signbit(hi))) ? hi : q;
            float want[4] = {to_dtype(t, powf(x, p)), to_dtype(t, powf(x, p)),
                             to_dtype(t, fmaf(x, p, q)), cl};
            for (int r = 0; r < 4; r++)
                if (!same(y[0][r * N + i], want[r]) || !same(y[1][r * N + i], want[r]))
                    fail_msg("row %d elem %d (%s): got %g / %g, want %g", r, i, dt ? "bf16" : "f32",
                             (double)y[0][r * N + i], (double)y[1][r * N + i], (double)want[r]);
        }
        if (!dt) {
            assert_true(same(y[0][0], 1024.0f));        /* pow(2, 10) */
            assert_true(isnan(y[0][1]));                /* pow(-8, 1/3) */
            assert_true(same(y[0][2], 1.0f));           /* pow(NaN, 0) */
            assert_true(same(y[0][3], 1.0f));           /* pow(1, NaN) */
            assert_true(same(y[0][4], INFINITY));       /* pow(+0, -1) */
            assert_true(same(y[0][5], -INFINITY));      /* pow(-0, -1) */
            assert_true(same(y[0][2 * N + 6], ldexpf(1.0f, -12) + ldexpf(1.0f, -26)));
            assert_true(same(y[0][3 * N + 0], 1.0f));   /* clamp(2, 10, 1): lo > hi gives hi */
        }
    }
}

/* Integer fma and clamp: a*b + c wrapping, min(max()). */
static void test_int_fma_clamp(void **state)
{
    (void)state;
    const char *src =
        "kernel k(a: tensor<i32>[4], y: out tensor<i32>[2, 4]) grid(1) {\n"
        "    let x = load(a[arange(4)]);\n"
        "    store(y[0, arange(4)], fma(x, x, 7));\n"
        "    store(y[1, arange(4)], clamp(x, -3, 5));\n"
        "}\n";
    int32_t a[4] = {3, -10, 65536, INT32_MIN};
    for (int opt = 0; opt < 2; opt++) {
        int32_t y[8];
        interp_arg args[2] = {targ(IR_I32, a, 1, (int64_t[]){4}),
                              targ(IR_I32, y, 2, (int64_t[]){2, 4})};
        run(src, "k", opt, NULL, 0, args, 2);
        for (int i = 0; i < 4; i++) {
            int32_t want = (int32_t)((uint32_t)a[i] * (uint32_t)a[i] + 7u);
            assert_int_equal(y[i], want);
            assert_int_equal(y[4 + i], a[i] < -3 ? -3 : a[i] > 5 ? 5 : a[i]);
        }
    }
}

/* ---- argmax / argmin, any / all ---------------------------------------- */

/* The documented rule: the first extreme element; NaN beats any number;
 * +0 > -0 (for min: -0 < +0). */
static int ref_arg(const float *x, int n, int stride, bool is_max)
{
    int best = 0;
    for (int l = 1; l < n; l++) {
        float v = x[l * stride], b = x[best * stride];
        if (isnan(b)) break;
        bool better = isnan(v) || (is_max ? v > b : v < b) ||
                      (v == 0 && b == 0 && (is_max ? !signbit(v) && signbit(b) : signbit(v) && !signbit(b)));
        if (better) best = l;
    }
    return best;
}

static void test_argmax_argmin(void **state)
{
    (void)state;
    /* Rows: ties, NaN first/later, +-0, infinities, one element differing in bf16 only. */
    enum { R = 6, C = 5 };
    float x[R * C] = {
        1.0f, 3.0f, 3.0f, -1.0f, 3.0f,          /* ties: first 3 at 1; min at 3 */
        -0.0f, 0.0f, -0.0f, 0.0f, -5.0f,        /* +0 beats -0: max at 1; min at 4 */
        2.0f, NAN, 7.0f, NAN, -7.0f,            /* first NaN at 1 for both */
        -INFINITY, -INFINITY, INFINITY, INFINITY, 0.0f, /* max 2, min 0 */
        1.0f, 1.00390625f, 1.0009765625f, 0.5f, 0.5f,   /* bf16: 1.0039 stays, 1.00098 -> 1 */
        NAN, 1.0f, 2.0f, 3.0f, 4.0f,            /* NaN at 0 */
    };
    for (int dt = 0; dt < 2; dt++) {
        ir_dtype t = dt ? IR_BF16 : IR_F32;
        float xt[R * C];
        for (int i = 0; i < R * C; i++) xt[i] = to_dtype(t, x[i]);
        const char *src2 =
            "kernel k(x: tensor<f32>[R, C], y: out tensor<i32>[4, 8], v: out tensor<f32>[R],"
            " const T: dtype, const R: int, const C: int) grid(1) {\n"
            "    let t = cast<T>(load(x[arange(R), arange(C)]));\n"
            "    store(y[0, arange(R)], argmax(t));\n"
            "    store(y[1, arange(R)], argmin(t, axis: 1));\n"
            "    store(y[2, arange(C)], argmax(t, axis: 0));\n"
            "    store(y[3, arange(C)], argmin(t, axis: -2));\n"
            "    store(v[arange(R)], cast<f32>(max(t, axis: 1)));\n"
            "}\n";
        const char *defs[3] = {dt ? "T=bf16" : "T=f32", "R=6", "C=5"};
        for (int opt = 0; opt < 2; opt++) {
            int32_t y[32];
            float v[R];
            for (int i = 0; i < 32; i++) y[i] = -1;
            interp_arg args[3] = {targ(IR_F32, x, 2, (int64_t[]){R, C}),
                                  targ(IR_I32, y, 2, (int64_t[]){4, 8}),
                                  targ(IR_F32, v, 1, (int64_t[]){R})};
            run(src2, "k", opt, defs, 3, args, 3);
            for (int r = 0; r < R; r++) {
                assert_int_equal(y[r], ref_arg(xt + r * C, C, 1, true));
                assert_int_equal(y[8 + r], ref_arg(xt + r * C, C, 1, false));
                /* the value at argmax is what max() gives, bit for bit */
                assert_true(same(xt[r * C + y[r]], v[r]));
            }
            for (int c = 0; c < C; c++) {
                assert_int_equal(y[16 + c], ref_arg(xt + c, R, C, true));
                assert_int_equal(y[24 + c], ref_arg(xt + c, R, C, false));
            }
        }
        /* spot checks of the rule itself */
        assert_int_equal(ref_arg(xt, C, 1, true), 1);
        assert_int_equal(ref_arg(xt + 5, C, 1, true), 1);
        assert_int_equal(ref_arg(xt + 10, C, 1, false), 1);
        assert_int_equal(ref_arg(xt + 20, C, 1, true), dt ? 0 : 1); /* bf16: 1 + 2^-8 rounds to 1 */
    }
    /* i32 with INT_MIN/INT_MAX ties, size-1 axis, and a constant (folded) tile. */
    const char *isrc =
        "kernel k(x: tensor<i32>[6], y: out tensor<i32>[6]) grid(1) {\n"
        "    let t = load(x[arange(6)]);\n"
        "    store(y[0], argmax(t));\n"
        "    store(y[1], argmin(t));\n"
        "    store(y[2], argmax(reshape(t, [6, 1]), axis: 1)[3]);\n"
        "    store(y[3], argmin(full([5], 2.5)));\n"
        "    store(y[4], argmax(full([5], inf - inf)));\n"
        "    store(y[5], argmax(arange(7) % 3));\n"
        "}\n";
    int32_t xi[6] = {5, INT32_MIN, 2147483647, -1, 2147483647, INT32_MIN};
    for (int opt = 0; opt < 2; opt++) {
        int32_t y[6];
        interp_arg args[2] = {targ(IR_I32, xi, 1, (int64_t[]){6}), targ(IR_I32, y, 1, (int64_t[]){6})};
        run(isrc, "k", opt, NULL, 0, args, 2);
        assert_int_equal(y[0], 2);
        assert_int_equal(y[1], 1);
        assert_int_equal(y[2], 0);
        assert_int_equal(y[3], 0);
        assert_int_equal(y[4], 0);
        assert_int_equal(y[5], 2);
    }
}

static void test_any_all(void **state)
{
    (void)state;
    const char *src =
        "kernel k(x: tensor<i32>[3, 4], y: out tensor<i32>[16]) grid(1) {\n"
        "    let t = load(x[arange(3), arange(4)]) > 0;\n"
        "    store(y[arange(3)], cast<i32>(any(t, axis: 1)));\n"
        "    store(y[3 + arange(3)], cast<i32>(all(t, axis: -1)));\n"
        "    store(y[6 + arange(4)], cast<i32>(any(t, axis: 0)));\n"
        "    store(y[10 + arange(4)], cast<i32>(all(t, axis: 0)));\n"
        "    store(y[14], cast<i32>(any(t)));\n"
        "    store(y[15], cast<i32>(all(t)) + 2 * cast<i32>(all(true)));\n"
        "}\n";
    int32_t x[12] = {0, 0, 0, 0, /* none */ 1, 0, 3, 0, /* some */ 1, 2, 3, 4 /* all */};
    for (int opt = 0; opt < 2; opt++) {
        int32_t y[16];
        interp_arg args[2] = {targ(IR_I32, x, 2, (int64_t[]){3, 4}),
                              targ(IR_I32, y, 1, (int64_t[]){16})};
        run(src, "k", opt, NULL, 0, args, 2);
        const int32_t want[16] = {0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 2};
        for (int i = 0; i < 16; i++) assert_int_equal(y[i], want[i]);
    }
}

/* ---- indexing, slices, concat, split ----------------------------------- */

static void test_index_slice_concat_split(void **state)
{
    (void)state;
    const char *src =
        "kernel k(x: tensor<f32>[4, 8], y: out tensor<f32>[64]) grid(1) {\n"
        "    let t = load(x[arange(4), arange(8)]);\n"
        "    store(y[arange(8)], t[1, :]);\n"                       /* row 1 */
        "    store(y[8 + arange(4)], t[:, 7]);\n"                   /* column 7 */
        "    store(y[12 + arange(8)], reshape(t[1:3, 0:8:2], [8]));\n"  /* [2,4] */
        "    store(y[20 + arange(3)], t[3, 1:8:3]);\n"              /* 1, 4, 7 */
        "    store(y[23], t[2, 5]);\n"
        "    let (a, b) = split(t);\n"                              /* [4,4] halves */
        "    let r = concat(-b, a);\n"                              /* rotate-half (RoPE) */
        "    store(y[24 + arange(8)], r[0, :]);\n"
        "    let (u, v) = split(t, axis: 0);\n"                     /* [2,8] halves */
        "    store(y[32 + arange(8)], concat(v, u, axis: 0)[0, :]);\n"
        "    store(y[40 + arange(8)], t[0:1, :][0, :] + t[:, 0:8][0, :]);\n"
        "    store(y[48 + arange(4)], t[None, 2, 4:8][0, :]);\n"
        "    store(y[52 + arange(3)], concat(full([1], 9.0), t[0, 0:2]));\n"
        "    store(y[55 + arange(3)], t[1, :][0:3]);\n"
        "}\n";
    float x[32];
    for (int i = 0; i < 32; i++) x[i] = (float)(i * 10 + 1);
    for (int opt = 0; opt < 2; opt++) {
        float y[64];
        for (int i = 0; i < 64; i++) y[i] = -1.0f;
        interp_arg args[2] = {targ(IR_F32, x, 2, (int64_t[]){4, 8}),
                              targ(IR_F32, y, 1, (int64_t[]){64})};
        run(src, "k", opt, NULL, 0, args, 2);
#define X(r, c) x[(r) * 8 + (c)]
        for (int c = 0; c < 8; c++) assert_true(same(y[c], X(1, c)));
        for (int r = 0; r < 4; r++) assert_true(same(y[8 + r], X(r, 7)));
        for (int r = 0; r < 2; r++)
            for (int c = 0; c < 4; c++) assert_true(same(y[12 + r * 4 + c], X(1 + r, 2 * c)));
        for (int c = 0; c < 3; c++) assert_true(same(y[20 + c], X(3, 1 + 3 * c)));
        assert_true(same(y[23], X(2, 5)));
        for (int c = 0; c < 8; c++) assert_true(same(y[24 + c], c < 4 ? -X(0, c + 4) : X(0, c - 4)));
        for (int c = 0; c < 8; c++) assert_true(same(y[32 + c], X(2, c)));
        for (int c = 0; c < 8; c++) assert_true(same(y[40 + c], 2 * X(0, c)));
        for (int c = 0; c < 4; c++) assert_true(same(y[48 + c], X(2, 4 + c)));
        assert_true(same(y[52], 9.0f) && same(y[53], X(0, 0)) && same(y[54], X(0, 1)));
        for (int c = 0; c < 3; c++) assert_true(same(y[55 + c], X(1, c)));
        assert_true(same(y[58], -1.0f)); /* nothing else written */
#undef X
    }
}

/* Slices and concats of constants fold at -O1; split halves of a weak tile
 * stay weak (a bf16 operand keeps its dtype). */
static void test_slice_concat_folded(void **state)
{
    (void)state;
    const char *src =
        "kernel k(y: out tensor<f32>[8], z: out tensor<bf16>[4]) grid(1) {\n"
        "    let c = full([4, 6], 2.5);\n"
        "    let (a, b) = split(c[1:3, 0:6:2], axis: 0);\n"
        "    store(y[arange(6)], reshape(concat(a, b), [6]));\n"
        "    store(y[6 + arange(2)], concat(full([1], -0.0), full([1], -0.0)));\n"
        "    let (p, q) = split(full([8], 0.5));\n"
        "    store(z[arange(4)], p * cast<bf16>(load(y[arange(4)])) + q);\n"
        "}\n";
    for (int opt = 0; opt < 2; opt++) {
        tc_unit *u = compile(src, "k", opt, NULL, 0);
        float y[8];
        uint16_t z[4];
        interp_arg args[2] = {targ(IR_F32, y, 1, (int64_t[]){8}), targ(IR_BF16, z, 1, (int64_t[]){4})};
        assert_int_equal(interp_launch(u->kernel, args, 2, &u->diags, NULL), TILE_OK);
        for (int i = 0; i < 6; i++) assert_true(same(y[i], 2.5f));
        assert_true(same(y[6], -0.0f) && same(y[7], -0.0f));
        for (int i = 0; i < 4; i++) assert_true(same(fp_bf16_to_f32(z[i]), 1.75f));
        /* -O1 folds every slice/concat of constants: none is left */
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        ir_print_module(f, u->module);
        fclose(f);
        if (opt) {
            assert_null(strstr(text, "slice"));
            assert_null(strstr(text, "concat"));
        } else {
            assert_non_null(strstr(text, "slice"));
            assert_non_null(strstr(text, "concat"));
        }
        free(text);
        tc_unit_free(u);
    }
}

/* ---- break / continue -------------------------------------------------- */

static const char *bc_src =
    "kernel k(y: out tensor<i32>[10], n: i32, m: i32) grid(1) {\n"
    "    var a = 0; var b = 0; var c = 0; var d = 0; var e = 0; var f = 0; var g = 0;\n"
    "    for i in range(2, 20, 3) {\n"
    "        if i == m { continue; }\n"
    "        a += i;\n"
    "        if a > n { break; }\n"
    "        b += 1;\n"
    "    }\n"
    "    var w = 0;\n"
    "    while true {\n"
    "        w += 1;\n"
    "        if w > n { break; }\n"
    "        if w % 3 == 0 { continue; }\n"
    "        c += w;\n"
    "    }\n"
    "    for i in range(4) {\n"
    "        for j in range(10) {\n"
    "            if j > i + n % 3 { break; }\n"
    "            d += 1;\n"
    "        }\n"
    "        if i == n { break; }\n"
    "        e += 10;\n"
    "    }\n"
    "    for i in range(m) { break; f += 100; }\n"
    "    for i in range(2147483640, 2147483647, 4) { f += 1; if n < -5 { break; } }\n"
    "    var dd = 1;\n"
    "    while 10 / dd > 0 {\n"            /* the cond must not run again after the break */
    "        g += 1;\n"
    "        if g >= n { dd = 0; break; }\n"
    "    }\n"
    "    store(y[0], a); store(y[1], b); store(y[2], c); store(y[3], d);\n"
    "    store(y[4], e); store(y[5], f); store(y[6], g); store(y[7], w);\n"
    "}\n";

static void ref_bc(int n, int m, int32_t *y)
{
    int a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, g = 0, w = 0;
    for (int i = 2; i < 20; i += 3) {
        if (i == m) continue;
        a += i;
        if (a > n) break;
        b += 1;
    }
    for (;;) {
        w += 1;
        if (w > n) break;
        if (w % 3 == 0) continue;
        c += w;
    }
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 10; j++) {
            if (j > i + n % 3) break;
            d += 1;
        }
        if (i == n) break;
        e += 10;
    }
    for (int i = 0; i < m; i++) break;
    for (int64_t i = 2147483640; i < 2147483647; i += 4) {
        f += 1;
        if (n < -5) break;
    }
    for (;;) {
        g += 1;
        if (g >= n) break;
    }
    int32_t r[8] = {a, b, c, d, e, f, g, w};
    memcpy(y, r, sizeof r);
}

static void test_break_continue(void **state)
{
    (void)state;
    tc_unit *u[2] = {compile(bc_src, "k", 0, NULL, 0), compile(bc_src, "k", 1, NULL, 0)};
    for (int n = -7; n <= 12; n++)
        for (int m = 0; m <= 8; m += 4) {
            int32_t want[8];
            ref_bc(n, m, want);
            for (int opt = 0; opt < 2; opt++) {
                int32_t y[10] = {0};
                interp_arg args[3] = {targ(IR_I32, y, 1, (int64_t[]){10}), sarg(n), sarg(m)};
                tile_status st = interp_launch(u[opt]->kernel, args, 3, &u[opt]->diags, NULL);
                if (st != TILE_OK) diag_print_all(&u[opt]->diags, stderr);
                assert_int_equal(st, TILE_OK);
                for (int i = 0; i < 8; i++)
                    if (y[i] != want[i])
                        fail_msg("n=%d m=%d -O%d: y[%d] = %d, want %d", n, m, opt, i, y[i], want[i]);
            }
        }
    tc_unit_free(u[0]);
    tc_unit_free(u[1]);
}

/* A break inside a constant `if`, a continue as the last statement, and
 * lets after a break (scoped like the rest of the block). */
static void test_break_forms(void **state)
{
    (void)state;
    const char *src =
        "kernel k(y: out tensor<i32>[3], n: i32, const B: bool = true) grid(1) {\n"
        "    var s = 0; var t = 0; var u = 0;\n"
        "    for i in range(n) {\n"
        "        s += i;\n"
        "        if B { if i == 3 { break; } }\n"
        "        let j = i * 2;\n"
        "        t += j;\n"
        "        continue;\n"
        "    }\n"
        "    for i in range(n) { if i % 2 == 1 { continue; } u += i; }\n"
        "    store(y[0], s); store(y[1], t); store(y[2], u);\n"
        "}\n";
    for (int opt = 0; opt < 2; opt++) {
        tc_unit *u = compile(src, "k", opt, NULL, 0);
        for (int n = 0; n < 8; n++) {
            int32_t y[3];
            interp_arg args[2] = {targ(IR_I32, y, 1, (int64_t[]){3}), sarg(n)};
            assert_int_equal(interp_launch(u->kernel, args, 2, &u->diags, NULL), TILE_OK);
            int s = 0, t = 0, uu = 0;
            for (int i = 0; i < n; i++) {
                s += i;
                if (i == 3) break;
                t += i * 2;
            }
            for (int i = 0; i < n; i++)
                if (i % 2 == 0) uu += i;
            assert_int_equal(y[0], s);
            assert_int_equal(y[1], t);
            assert_int_equal(y[2], uu);
        }
        tc_unit_free(u);
    }
}


/* pow and fma on constants (folded at -O1) agree with the interpreter (-O0). */
static void test_binary_folded(void **state)
{
    (void)state;
    const char *lits[] = {"2.0", "-8.0", "0.0", "-0.0", "inf", "-inf", "inf - inf", "0.5", "3.0",
                          "1.0001221"};
    const int n = sizeof lits / sizeof lits[0];
    const char *src =
        "kernel k(y: out tensor<f32>[3], const T: dtype, const A: float, const B: float) grid(1) {\n"
        "    let a = full([1], A, dtype: T);\n"
        "    let b = full([1], B, dtype: T);\n"
        "    store(y[0], cast<f32>(pow(a, b)[0]));\n"
        "    store(y[1], cast<f32>(fma(a, b, -a)[0]));\n"
        "    store(y[2], cast<f32>((a ** b)[0]));\n"
        "}\n";
    for (int dt = 0; dt < 2; dt++)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j += 3) {
                char da[64], db[64];
                snprintf(da, sizeof da, "A=%s", lits[i]);
                snprintf(db, sizeof db, "B=%s", lits[j]);
                const char *defs[3] = {dt ? "T=bf16" : "T=f32", da, db};
                float y[2][3];
                for (int opt = 0; opt < 2; opt++) {
                    interp_arg args[1] = {targ(IR_F32, y[opt], 1, (int64_t[]){3})};
                    run(src, "k", opt, defs, 3, args, 1);
                }
                for (int r = 0; r < 3; r++)
                    if (!same(y[0][r], y[1][r]))
                        fail_msg("%s %s %s row %d: -O0 %g, -O1 %g", dt ? "bf16" : "f32", lits[i],
                                 lits[j], r, (double)y[0][r], (double)y[1][r]);
                assert_true(same(y[0][0], y[0][2])); /* ** is pow */
            }
}

/* ** precedence: tighter than unary minus on its left and than '*',
 * right-associative. */
static void test_pow_precedence(void **state)
{
    (void)state;
    const char *src =
        "kernel k(y: out tensor<f32>[5]) grid(1) {\n"
        "    let two = full([1], 2.0);\n"
        "    store(y[0], (-two ** 2.0)[0]);\n"
        "    store(y[1], (two ** 3.0 ** 2.0)[0]);\n"
        "    store(y[2], (two ** -1.0)[0]);\n"
        "    store(y[3], (-two ** 2.0 * 3.0)[0]);\n"
        "    store(y[4], -2.0 ** 2.0 + 2.0 ** 2);\n"
        "}\n";
    for (int opt = 0; opt < 2; opt++) {
        float y[5];
        interp_arg args[1] = {targ(IR_F32, y, 1, (int64_t[]){5})};
        run(src, "k", opt, NULL, 0, args, 1);
        assert_true(same(y[0], -4.0f));
        assert_true(same(y[1], 512.0f));
        assert_true(same(y[2], 0.5f));
        assert_true(same(y[3], -12.0f));
        assert_true(same(y[4], 0.0f));
    }
}

/* ---- verifier ---------------------------------------------------------- */

/* Builds `x: f32[4,8]` in a fresh kernel, lets build() add one op, and
 * expects the verifier to reject it with `want` in the message. */
static void expect_verify_error(ir_op *(*build)(fx *t, ir_value *x), const char *want)
{
    fx *t = NULL;
    fx_setup((void **)&t);
    make_kernel(t);
    ir_value *x = ir_const_float(&t->b, IR_F32, 1.0, 2, (int64_t[]){4, 8});
    assert_non_null(build(t, x));
    ret(&t->b);
    assert_int_equal(ir_verify_module(t->m, "test"), TILE_ERR_INTERNAL);
    const char *msg = t->diags.first ? t->diags.first->msg : "";
    if (!strstr(msg, want)) fail_msg("verifier said '%s', expected '%s'", msg, want);
    fx_teardown((void **)&t);
}

static ir_op *op_with(fx *t, ir_opcode code, int n, ir_value **ops, ir_type rt, int64_t axis,
                      int64_t start, int64_t step)
{
    ir_op *op = ir_build(&t->b, code, n, ops, 1, &rt, 0);
    op->attr.i = axis;
    op->attr.start = start;
    op->attr.step = step;
    return op;
}

static ir_op *slice_past_end(fx *t, ir_value *x)
{
    return op_with(t, IR_OP_SLICE, 1, &x, ir_type_tile(IR_F32, 2, (int64_t[]){4, 3}), 1, 2, 3);
}
static ir_op *slice_step0(fx *t, ir_value *x)
{
    return op_with(t, IR_OP_SLICE, 1, &x, ir_type_tile(IR_F32, 2, (int64_t[]){4, 1}), 1, 0, 0);
}
static ir_op *slice_axis(fx *t, ir_value *x)
{
    return op_with(t, IR_OP_SLICE, 1, &x, ir_type_tile(IR_F32, 2, (int64_t[]){4, 1}), 2, 0, 1);
}
static ir_op *concat_bad(fx *t, ir_value *x)
{
    ir_value *ops[2] = {x, x};
    return op_with(t, IR_OP_CONCAT, 2, ops, ir_type_tile(IR_F32, 2, (int64_t[]){8, 9}), 0, 0, 0);
}
static ir_op *argmax_f32(fx *t, ir_value *x)
{
    return op_with(t, IR_OP_ARGMAX, 1, &x, ir_type_tile(IR_F32, 1, (int64_t[]){4}), 1, 0, 0);
}
static ir_op *argmin_bool(fx *t, ir_value *x)
{
    (void)x;
    ir_value *b = ir_const_bool(&t->b, true, 1, (int64_t[]){4});
    return op_with(t, IR_OP_ARGMIN, 1, &b, ir_type_scalar(IR_I32), 0, 0, 0);
}
static ir_op *fma_int(fx *t, ir_value *x)
{
    (void)x;
    ir_value *i = ir_const_int(&t->b, IR_I32, 1, 0, NULL);
    ir_value *ops[3] = {i, i, i};
    return op_with(t, IR_OP_FMA, 3, ops, ir_type_scalar(IR_I32), 0, 0, 0);
}
static ir_op *floor_int(fx *t, ir_value *x)
{
    (void)x;
    ir_value *i = ir_const_int(&t->b, IR_I32, 1, 0, NULL);
    return op_with(t, IR_OP_FLOOR, 1, &i, ir_type_scalar(IR_I32), 0, 0, 0);
}

static void test_verifier_new_ops(void **state)
{
    (void)state;
    expect_verify_error(slice_past_end, "slice: f32[4,3] is not f32[4,8] along axis 1 from 2 step 3");
    expect_verify_error(slice_step0, "step 0");
    expect_verify_error(slice_axis, "axis 2 out of range for rank 2");
    expect_verify_error(concat_bad, "concat: f32[8,9] is not f32[4,8] and f32[4,8] joined along axis 0");
    expect_verify_error(argmax_f32, "argmax: result has type f32[4], expected i32[4]");
    expect_verify_error(argmin_bool, "argmin: not defined on bool");
    expect_verify_error(fma_int, "fma: not defined on i32");
    expect_verify_error(floor_int, "floor: not defined on i32");
}


/* ---- syntax ------------------------------------------------------------ */

/* The parser's view of slices, **, break and continue (tilec --emit=ast). */
static void test_parse_new_syntax(void **state)
{
    (void)state;
    const char *src =
        "fn f(t) {\n"
        "    let a = t[1, :, 2:, :4, 1:8:2, ::3, None];\n"
        "    let b = -a ** 2 ** c * d;\n"
        "    while true { if a { break; } continue; }\n"
        "}\n";
    arena mem;
    diag_ctx d;
    arena_init(&mem);
    diag_init(&d, &mem);
    const src_file *sf = diag_add_source(&d, "p.tile", src, strlen(src));
    ast_file *f = fe_parse(&mem, &d, sf->path, sf->text, sf->len);
    assert_non_null(f);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    ast_print(out, f);
    fclose(out);
    assert_non_null(strstr(text, "(index t 1 : (slice 2 _ _) (slice _ 4 _) (slice 1 8 2) "
                                 "(slice _ _ 3) None)"));
    assert_non_null(strstr(text, "(* (neg (call pow a (call pow 2 c))) d)"));
    assert_non_null(strstr(text, "(break)"));
    assert_non_null(strstr(text, "(continue)"));
    free(text);
    arena_free(&mem);
}

/* ---- print ------------------------------------------------------------- */

static void test_print_labels(void **state)
{
    (void)state;
    const char *src =
        "kernel k(x: tensor<f32>[2]) grid(1) {\n"
        "    let t = load(x[arange(2)]);\n"
        "    print(\"m\", t[0], \"l\", t, t[1] > 0.0, \"end\");\n"
        "}\n";
    tc_unit *u = compile(src, "k", 1, NULL, 0);
    float x[2] = {1.5f, -2.0f};
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    interp_arg args[1] = {targ(IR_F32, x, 1, (int64_t[]){2})};
    interp_options o = {.print_out = out};
    assert_int_equal(interp_launch(u->kernel, args, 1, &u->diags, &o), TILE_OK);
    fclose(out);
    assert_string_equal(text, "m: 1.5\nl: [1.5, -2.0] false\nend:\n");
    free(text);
    tc_unit_free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary_math),
        cmocka_unit_test(test_unary_math_folded),
        cmocka_unit_test(test_binary_ternary_math),
        cmocka_unit_test(test_int_fma_clamp),
        cmocka_unit_test(test_argmax_argmin),
        cmocka_unit_test(test_any_all),
        cmocka_unit_test(test_index_slice_concat_split),
        cmocka_unit_test(test_slice_concat_folded),
        cmocka_unit_test(test_break_continue),
        cmocka_unit_test(test_break_forms),
        cmocka_unit_test(test_print_labels),
        cmocka_unit_test(test_binary_folded),
        cmocka_unit_test(test_pow_precedence),
        cmocka_unit_test(test_verifier_new_ops),
        cmocka_unit_test(test_parse_new_syntax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
