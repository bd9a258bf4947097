/* test_sortops.c - sort, argsort and topk (issue 9 item 1), from source to
 * the interpreter, against a reference written here from the documented
 * rule (docs/language.md section 8): a stable insertion sort whose
 * comparison is spelled with float comparisons (NaN above +inf, -0.0 below
 * +0.0, ties by index), not with the interpreter's integer keys.
 *
 * Every kernel runs at -O0 and -O1; shapes are odd (37 columns, 3 rows),
 * lines hold ties, both zeros, infinities and NaNs, and topk runs at k = 1,
 * an odd k and k = n, along either axis, in f32, bf16 and i32. */
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
#include "support/fp16.h"
#include "ir/interp.h"

/* ---- harness ----------------------------------------------------------- */

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

static void run(const char *src, int opt, const char *const *defs, int ndefs, interp_arg *args,
                int nargs)
{
    tc_options o = {.kernel = "k", .opt_level = opt, .verify_each = true, .defines = defs,
                    .ndefines = ndefs};
    tc_unit *u = NULL;
    tile_status st = tc_compile(&u, "t.tile", src, &o);
    if (st != TILE_OK) diag_print_all(&u->diags, stderr);
    assert_int_equal(st, TILE_OK);
    st = interp_launch(u->kernel, args, nargs, &u->diags, NULL);
    if (st != TILE_OK) diag_print_all(&u->diags, stderr);
    assert_int_equal(st, TILE_OK);
    tc_unit_free(u);
}

/* ---- reference --------------------------------------------------------- */

/* a < b in the documented total order. */
static bool ref_less(float a, float b)
{
    if (isnan(a)) return false;
    if (isnan(b)) return true;
    if (a == b) return signbit(a) && !signbit(b);
    return a < b;
}

/* Stable insertion sort of x[0..n) (stride apart) by ref_less (or its
 * mirror, for descending); idx receives the source positions. */
static void ref_sort(const float *x, int n, int stride, bool descending, int *idx)
{
    for (int i = 0; i < n; i++) {
        int j = i;
        float v = x[i * stride];
        while (j > 0) {
            float u = x[idx[j - 1] * stride];
            bool before = descending ? ref_less(u, v) : ref_less(v, u);
            if (!before) break; /* equal keys stay in index order */
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
}

static bool same(float a, float b)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return memcmp(&a, &b, sizeof a) == 0;
}

/* Values from a small set, so lines hold many ties, with specials mixed in. */
static void fill(float *x, int n, unsigned seed)
{
    static const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1.5f, -1.5f};
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = (seed >> 16) % 16;
        x[i] = r < 7 ? special[r] : (float)((int)r - 11) * 0.75f + 0.00390625f * (float)(r & 1);
    }
}

/* ---- tests ------------------------------------------------------------- */

enum { R = 3, C = 37, K = 5 };

/* sort / argsort both ways along both axes, and topk(k = 1, 5, C) along the
 * last axis and k = 2 along axis 0, checked element by element. */
static const char *float_src =
    "kernel k(x: tensor<f32>[R, C], sa: out tensor<f32>[R, C], ia: out tensor<i32>[R, C],\n"
    "         sd: out tensor<f32>[R, C], id: out tensor<i32>[R, C],\n"
    "         s0: out tensor<f32>[R, C], i0: out tensor<i32>[R, C],\n"
    "         t1: out tensor<f32>[R, 1], j1: out tensor<i32>[R, 1],\n"
    "         tk: out tensor<f32>[R, K], jk: out tensor<i32>[R, K],\n"
    "         tn: out tensor<f32>[R, C], jn: out tensor<i32>[R, C],\n"
    "         t0: out tensor<f32>[2, C], j0: out tensor<i32>[2, C],\n"
    "         const T: dtype, const R: int, const C: int, const K: int) grid(1) {\n"
    "    let r = arange(R);\n"
    "    let c = arange(C);\n"
    "    let t = cast<T>(load(x[r, c]));\n"
    "    store(sa[r, c], cast<f32>(sort(t)));\n"
    "    store(ia[r, c], argsort(t, axis: 1));\n"
    "    store(sd[r, c], cast<f32>(sort(t, descending: true)));\n"
    "    store(id[r, c], argsort(t, axis: -1, descending: true));\n"
    "    store(s0[r, c], cast<f32>(sort(t, axis: 0)));\n"
    "    store(i0[r, c], argsort(t, axis: 0, descending: false));\n"
    "    let (v1, k1) = topk(t, 1);\n"
    "    store(t1[r, arange(1)], cast<f32>(v1));\n"
    "    store(j1[r, arange(1)], k1);\n"
    "    let (vk, kk) = topk(t, K, axis: 1);\n"
    "    store(tk[r, arange(K)], cast<f32>(vk));\n"
    "    store(jk[r, arange(K)], kk);\n"
    "    let (vn, kn) = topk(t, C);\n"
    "    store(tn[r, c], cast<f32>(vn));\n"
    "    store(jn[r, c], kn);\n"
    "    let (v0, k0) = topk(t, 2, 0);\n"
    "    store(t0[arange(2), c], cast<f32>(v0));\n"
    "    store(j0[arange(2), c], k0);\n"
    "}\n";

typedef struct outs {
    float sa[R * C], sd[R * C], s0[R * C], t1[R], tk[R * K], tn[R * C], t0[2 * C];
    int32_t ia[R * C], id[R * C], i0[R * C], j1[R], jk[R * K], jn[R * C], j0[2 * C];
} outs;

/* Line `line` of a result (len elements, stride apart) against the
 * reference order of x's line (n elements, xstride apart). */
static void check_line(const float *x, int n, int xstride, bool descending, const float *v,
                       const int32_t *ix, int len, int stride)
{
    int ref[C];
    ref_sort(x, n, xstride, descending, ref);
    for (int t = 0; t < len; t++) {
        if (ix) assert_int_equal(ix[t * stride], ref[t]);
        if (v) assert_true(same(v[t * stride], x[ref[t] * xstride]));
    }
}

static void test_float_orders(void **state)
{
    (void)state;
    float x[R * C];
    fill(x, R * C, 7);
    x[0] = NAN; /* a NaN first in row 0, then others later */
    for (int dt = 0; dt < 2; dt++) {
        ir_dtype T = dt ? IR_BF16 : IR_F32;
        float xt[R * C];
        for (int i = 0; i < R * C; i++) xt[i] = T == IR_BF16 ? fp_round_bf16(x[i]) : x[i];
        const char *defs[4] = {dt ? "T=bf16" : "T=f32", "R=3", "C=37", "K=5"};
        for (int opt = 0; opt < 2; opt++) {
            outs *o = calloc(1, sizeof *o);
            assert_non_null(o);
            const int64_t rc[2] = {R, C}, r1[2] = {R, 1}, rk[2] = {R, K}, c2[2] = {2, C};
            interp_arg args[] = {
                targ(IR_F32, x, 2, rc),
                targ(IR_F32, o->sa, 2, rc), targ(IR_I32, o->ia, 2, rc),
                targ(IR_F32, o->sd, 2, rc), targ(IR_I32, o->id, 2, rc),
                targ(IR_F32, o->s0, 2, rc), targ(IR_I32, o->i0, 2, rc),
                targ(IR_F32, o->t1, 2, r1), targ(IR_I32, o->j1, 2, r1),
                targ(IR_F32, o->tk, 2, rk), targ(IR_I32, o->jk, 2, rk),
                targ(IR_F32, o->tn, 2, rc), targ(IR_I32, o->jn, 2, rc),
                targ(IR_F32, o->t0, 2, c2), targ(IR_I32, o->j0, 2, c2),
            };
            run(float_src, opt, defs, 4, args, (int)(sizeof args / sizeof args[0]));
            for (int r = 0; r < R; r++) {
                const float *line = xt + r * C;
                check_line(line, C, 1, false, o->sa + r * C, o->ia + r * C, C, 1);
                check_line(line, C, 1, true, o->sd + r * C, o->id + r * C, C, 1);
                check_line(line, C, 1, true, o->t1 + r, o->j1 + r, 1, 1);
                check_line(line, C, 1, true, o->tk + r * K, o->jk + r * K, K, 1);
                check_line(line, C, 1, true, o->tn + r * C, o->jn + r * C, C, 1);
            }
            for (int c = 0; c < C; c++) {
                check_line(xt + c, R, C, false, o->s0 + c, o->i0 + c, R, C);
                check_line(xt + c, R, C, true, o->t0 + c, o->j0 + c, 2, C);
            }
            /* The rule itself on row 0: NaNs last ascending, first descending. */
            assert_true(isnan(o->sa[C - 1]) && isnan(o->sd[0]) && o->id[0] == 0);
            free(o);
        }
    }
}

/* The reference's own rule, on hand-written lines (so the reference cannot
 * share a mistake with the interpreter unnoticed). */
static void test_reference_rule(void **state)
{
    (void)state;
    const float x[7] = {1.0f, NAN, -0.0f, 0.0f, 1.0f, -INFINITY, NAN};
    int up[7], down[7];
    ref_sort(x, 7, 1, false, up);
    ref_sort(x, 7, 1, true, down);
    const int want_up[7] = {5, 2, 3, 0, 4, 1, 6}, want_down[7] = {1, 6, 0, 4, 3, 2, 5};
    for (int i = 0; i < 7; i++) {
        assert_int_equal(up[i], want_up[i]);
        assert_int_equal(down[i], want_down[i]);
    }
}

/* i32: INT_MIN/INT_MAX and ties; a constant (foldable) operand; n = 1. */
static void test_int_orders(void **state)
{
    (void)state;
    const char *src =
        "kernel k(x: tensor<i32>[9], y: out tensor<i32>[6, 9]) grid(1) {\n"
        "    let t = load(x[arange(9)]);\n"
        "    store(y[0, arange(9)], sort(t));\n"
        "    store(y[1, arange(9)], argsort(t));\n"
        "    let (v, i) = topk(t, 4);\n"
        "    store(y[2, arange(4)], v);\n"
        "    store(y[3, arange(4)], i);\n"
        "    store(y[4, arange(9)], argsort(arange(9) % 3, descending: true));\n"
        "    let (v1, i1) = topk(t[3:4], 1);\n"
        "    store(y[5, arange(2)], concat(v1, i1));\n"
        "    let (c1, j1) = topk(full([6], 7), 1);\n"    /* constants: folded at -O1 */
        "    store(y[5, 2 + arange(4)], concat(concat(c1, j1), sort(full([2], -3))));\n"
        "    store(y[5, 6 + arange(3)], argsort(full([3], 5), descending: true));\n"
        "}\n";
    int32_t x[9] = {5, INT32_MIN, 2147483647, -1, 2147483647, INT32_MIN, 5, 0, -1};
    for (int opt = 0; opt < 2; opt++) {
        int32_t y[6 * 9];
        for (int i = 0; i < 6 * 9; i++) y[i] = 77;
        interp_arg args[2] = {targ(IR_I32, x, 1, (int64_t[]){9}),
                              targ(IR_I32, y, 2, (int64_t[]){6, 9})};
        run(src, opt, NULL, 0, args, 2);
        const int32_t s[9] = {INT32_MIN, INT32_MIN, -1, -1, 0, 5, 5, 2147483647, 2147483647};
        const int32_t as[9] = {1, 5, 3, 8, 7, 0, 6, 2, 4};
        const int32_t tv[4] = {2147483647, 2147483647, 5, 5}, ti[4] = {2, 4, 0, 6};
        const int32_t ad[9] = {2, 5, 8, 1, 4, 7, 0, 3, 6};
        for (int i = 0; i < 9; i++) {
            assert_int_equal(y[i], s[i]);
            assert_int_equal(y[9 + i], as[i]);
            assert_int_equal(y[36 + i], ad[i]);
        }
        for (int i = 0; i < 4; i++) {
            assert_int_equal(y[18 + i], tv[i]);
            assert_int_equal(y[27 + i], ti[i]);
        }
        assert_int_equal(y[18 + 4], 77); /* topk wrote only its k */
        assert_int_equal(y[45], -1);
        assert_int_equal(y[46], 0);
        const int32_t folded[7] = {7, 0, -3, -3, 0, 1, 2};
        for (int i = 0; i < 7; i++) assert_int_equal(y[47 + i], folded[i]);
    }
}

/* ---- the IR text form and the verifier ------------------------------ */

/* Reads IR text; returns the status and (in msg) the diagnostics. */
static tile_status read_ir(const char *text, char *msg, size_t cap)
{
    arena mem;
    diag_ctx diags;
    arena_init(&mem);
    diag_init(&diags, &mem);
    ir_module *m = ir_module_new(&mem, &diags);
    tile_status st = ir_parse_module(m, "t.ir", text, strlen(text));
    FILE *fp = fmemopen(msg, cap, "w");
    assert_non_null(fp);
    diag_print_all(&diags, fp);
    fclose(fp);
    msg[cap - 1] = 0;
    arena_free(&mem);
    return st;
}

static void expect_invalid(const char *op_line, const char *want)
{
    char text[1024], msg[2048];
    snprintf(text, sizeof text,
             "kernel @k(%%x: tensor<f32>[4,6]) {\ngrid:\n  %%0 = const 1 : i32\n"
             "  yield %%0, %%0, %%0\nbody:\n  %%r = arange : i32[4]\n  %%c = arange : i32[6]\n"
             "  %%v = load %%x[%%r, %%c] : f32[4,6]\n  %%b = cast %%v : bool[4,6]\n"
             "  %s\n  return\n}\n", op_line);
    tile_status st = read_ir(text, msg, sizeof msg);
    if (!strstr(msg, want)) fprintf(stderr, "expected '%s' in:\n%s", want, msg);
    assert_int_not_equal(st, TILE_OK);
    assert_non_null(strstr(msg, want));
}

static void test_ir_verifier(void **state)
{
    (void)state;
    char msg[2048];
    /* well-formed: both ops, any axis, k in 1..n */
    const char *ok =
        "kernel @k(%x: tensor<f32>[4,6]) {\ngrid:\n  %0 = const 1 : i32\n  yield %0, %0, %0\n"
        "body:\n  %r = arange : i32[4]\n  %c = arange : i32[6]\n"
        "  %v = load %x[%r, %c] : f32[4,6]\n"
        "  %s, %i = sort %v, axis=0 : f32[4,6], i32[4,6]\n"
        "  %t, %j = topk %v, axis=1 : f32[4,1], i32[4,1]\n  return\n}\n";
    if (read_ir(ok, msg, sizeof msg) != TILE_OK) fprintf(stderr, "%s", msg);
    assert_int_equal(read_ir(ok, msg, sizeof msg), TILE_OK);
    expect_invalid("%s, %i = sort %v, axis=1 : f32[4,5], i32[4,5]",
                   "sort: values have type f32[4,5], not f32[4,6] along axis 1");
    expect_invalid("%s, %i = topk %v, axis=1 : f32[4,7], i32[4,7]",
                   "topk: values have type f32[4,7], not f32[4,6] along axis 1 cut to k in 1..n");
    expect_invalid("%s, %i = topk %v, axis=1 : f32[4,2], i64[4,2]",
                   "topk: indices have type i64[4,2], expected i32[4,2]");
    expect_invalid("%s, %i = sort %v, axis=2 : f32[4,6], i32[4,6]",
                   "sort: axis 2 out of range for rank 2");
    expect_invalid("%s, %i = sort %b, axis=0 : bool[4,6], i32[4,6]",
                   "sort: operand has type bool[4,6], expected a numeric tile of rank >= 1");
    expect_invalid("%s = sort %v, axis=0 : f32[4,6]", "'sort' has 2 results, not 1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_rule),
        cmocka_unit_test(test_float_orders),
        cmocka_unit_test(test_int_orders),
        cmocka_unit_test(test_ir_verifier),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
