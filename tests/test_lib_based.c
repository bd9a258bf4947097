/* test_lib_based.c - lib/attention/based.tile (BASED) on the interpreter:
 * based_fwd against the naive O(N^2) sum with the explicitly expanded
 * feature map (tests/ref/based_ref.c), and the companion sliding-window
 * softmax attention based_window against the dense reference with the
 * 64-key window mask (tests/ref/attn_ref.c).
 *
 * Fresh inputs per case, outputs poisoned with NaN, N not a multiple of the
 * chunk (shorter than a chunk, 1), GQA, E != F; f32 tight, bf16 loose
 * (th_rtol); every launch is also checked bit-identical at -O0.
 *
 * Tested (based.tile): based_fwd in f32 and bf16 against the naive O(N^2) sum
 * over the expanded feature map: F = 8, 16; E = 16 to 64; (H, HK) = (1, 1), (2,
 * 2), (4, 2), (4, 1); Z = 1, 2; N = 1, 11, 16 (N < B, N = B) and 29 to 70
 * (ragged last chunks); B = 8, 16 and auto; q, k uniform in [-0.5, 0.5) and
 * [-1, 1) (the square term dominating); O checked.  based_window in f32 and
 * bf16 against dense attention with the 64-key window: D = 32, 64; (H, HK) =
 * (2, 2), (2, 1), (4, 2); M = N = 1, 97, 130, 150 (the window sliding past the
 * first blocks), M < N (70, 133), M > N (99, 40: rows that see nothing); BM, BN
 * = 16, 32; O and LSE checked.  Every launch is also run at -O0 and must match
 * bit for bit. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ref/attn_ref.h"
#include "ref/based_ref.h"
#include "ref/harness.h"

typedef struct based_case {
    ir_dtype T;
    int Z, H, HK, N, F, E;
    int B;              /* 0: leave `auto` */
    float amp;          /* inputs q, k uniform in [-amp, amp) */
} based_case;

static bool run_based(const based_case *c, uint64_t seed)
{
    char defines[128];
    int n = snprintf(defines, sizeof defines, "T=%s,F=%d,E=%d", ir_dtype_name(c->T), c->F, c->E);
    if (c->B) snprintf(defines + n, sizeof defines - (size_t)n, ",B=%d", c->B);
    th_kernel kern;
    if (!th_compile(&kern, "attention/based.tile", "based_fwd", defines)) return false;

    based_dims d = {.Z = c->Z, .H = c->H, .HK = c->HK, .N = c->N, .F = c->F, .E = c->E};
    size_t nq = (size_t)d.Z * d.H * d.N * d.F, nk = (size_t)d.Z * d.HK * d.N * d.F;
    size_t nv = (size_t)d.Z * d.HK * d.N * d.E, no = (size_t)d.Z * d.H * d.N * d.E;
    th_rng rng = th_rng_new(seed);
    float *q = TH_NEW(float, nq), *k = TH_NEW(float, nk), *v = TH_NEW(float, nv);
    float *o = TH_NEW(float, no);
    th_fill(&rng, q, nq, -c->amp, c->amp, c->T);
    th_fill(&rng, k, nk, -c->amp, c->amp, c->T);
    th_fill(&rng, v, nv, -1, 1, c->T);

    th_tensor tq = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.N, d.F), NULL);
    th_tensor tk = th_tensor_new(c->T, TH_DIMS(d.Z, d.HK, d.N, d.F), NULL);
    th_tensor tv = th_tensor_new(c->T, TH_DIMS(d.Z, d.HK, d.N, d.E), NULL);
    th_tensor to = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.N, d.E), NULL);
    th_tensor_set(&tq, q);
    th_tensor_set(&tk, k);
    th_tensor_set(&tv, v);
    bool ok = th_launch(&kern, (th_arg[]){TH_T("q", &tq), TH_T("k", &tk), TH_T("v", &tv),
                                          TH_T("o", &to)}, 4);
    if (ok) {
        th_tensor_get(&to, o);
        double *ref = TH_NEW(double, no);
        based_ref(&d, q, k, v, ref);
        char what[256];
        snprintf(what, sizeof what, "%s Z=%d H=%d HK=%d N=%d: O", kern.label, d.Z, d.H, d.HK, d.N);
        ok = th_check(what, o, ref, TH_DIMS(d.Z, d.H, d.N, d.E), th_rtol(c->T));
        free(ref);
    }
    th_tensor_free(&tq), th_tensor_free(&tk), th_tensor_free(&tv), th_tensor_free(&to);
    free(q), free(k), free(v), free(o);
    th_kernel_free(&kern);
    return ok;
}

static void run_based_cases(const based_case *cases, size_t n)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        if (!run_based(&cases[i], 5000 + i)) failed++;
    assert_int_equal(failed, 0);
}

#define RUN_BASED(cases) run_based_cases(cases, sizeof cases / sizeof cases[0])

static void test_based_f32(void **state)
{
    (void)state;
    const based_case cases[] = {
        {IR_F32, 1, 2, 2, 45, 16, 32, 16, 0.5f},
        {IR_F32, 2, 1, 1, 33, 16, 16, 16, 1.0f},   /* large q.k: the square term dominates */
        {IR_F32, 1, 2, 2, 70, 16, 64, 0, 0.5f},    /* B = auto */
        {IR_F32, 1, 1, 1, 40, 8, 24, 8, 0.5f},     /* another feature dim */
    };
    RUN_BASED(cases);
}

static void test_based_short_f32(void **state)
{
    (void)state;
    const based_case cases[] = {
        {IR_F32, 1, 2, 2, 1, 16, 32, 16, 0.5f},    /* N = 1 */
        {IR_F32, 1, 2, 2, 11, 16, 32, 16, 0.5f},   /* N < B */
        {IR_F32, 1, 1, 1, 16, 16, 32, 16, 0.5f},   /* N = B exactly */
    };
    RUN_BASED(cases);
}

static void test_based_gqa_f32(void **state)
{
    (void)state;
    const based_case cases[] = {
        {IR_F32, 1, 4, 2, 37, 16, 32, 16, 0.5f},
        {IR_F32, 2, 4, 1, 29, 16, 16, 8, 0.5f},
    };
    RUN_BASED(cases);
}

static void test_based_bf16(void **state)
{
    (void)state;
    const based_case cases[] = {
        {IR_BF16, 1, 2, 2, 50, 16, 64, 16, 0.5f},
        {IR_BF16, 1, 4, 2, 37, 16, 32, 16, 0.5f},
    };
    RUN_BASED(cases);
}

/* ---- based_window: flash_fwd with a 64-key window ----------------------------- */

typedef struct window_case {
    ir_dtype T;
    int Z, H, HK, M, N, D;
    int BM, BN;
} window_case;

static bool run_window(const window_case *c, uint64_t seed)
{
    char defines[128];
    snprintf(defines, sizeof defines, "T=%s,D=%d,BM=%d,BN=%d", ir_dtype_name(c->T), c->D, c->BM,
             c->BN);
    th_kernel kern;
    if (!th_compile(&kern, "attention/based.tile", "based_window", defines)) return false;

    attn_dims d = {.Z = c->Z, .H = c->H, .HK = c->HK, .M = c->M, .N = c->N, .D = c->D};
    size_t nq = (size_t)d.Z * d.H * d.M * d.D, nk = (size_t)d.Z * d.HK * d.N * d.D;
    size_t nrows = (size_t)d.Z * d.H * d.M;
    th_rng rng = th_rng_new(seed);
    float *q = TH_NEW(float, nq), *k = TH_NEW(float, nk), *v = TH_NEW(float, nk);
    float *o = TH_NEW(float, nq), *lse = TH_NEW(float, nrows);
    th_fill(&rng, q, nq, -1, 1, c->T);
    th_fill(&rng, k, nk, -1, 1, c->T);
    th_fill(&rng, v, nk, -1, 1, c->T);
    double scale = 1 / sqrt(c->D);

    th_tensor tq = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.M, d.D), NULL);
    th_tensor tk = th_tensor_new(c->T, TH_DIMS(d.Z, d.HK, d.N, d.D), NULL);
    th_tensor tv = th_tensor_new(c->T, TH_DIMS(d.Z, d.HK, d.N, d.D), NULL);
    th_tensor to = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.M, d.D), NULL);
    th_tensor tl = th_tensor_new(IR_F32, TH_DIMS(d.Z, d.H, d.M), NULL);
    th_tensor_set(&tq, q);
    th_tensor_set(&tk, k);
    th_tensor_set(&tv, v);
    bool ok = th_launch(&kern, (th_arg[]){TH_T("q", &tq), TH_T("k", &tk), TH_T("v", &tv),
                                          TH_T("o", &to), TH_T("lse", &tl), TH_S("scale", scale)},
                        6);
    if (ok) {
        th_tensor_get(&to, o);
        th_tensor_get(&tl, lse);
        double *ref_o = TH_NEW(double, nq), *ref_lse = TH_NEW(double, nrows);
        const attn_mask w64 = {.kind = ATTN_MASK_SLIDING, .window = 64};
        attn_ref_fwd(&d, q, k, v, (float)scale, &w64, ref_o, ref_lse);
        ok = th_check_attention(kern.label, &d, c->T, o, lse, ref_o, ref_lse);
        free(ref_o), free(ref_lse);
    }
    th_tensor_free(&tq), th_tensor_free(&tk), th_tensor_free(&tv);
    th_tensor_free(&to), th_tensor_free(&tl);
    free(q), free(k), free(v), free(o), free(lse);
    th_kernel_free(&kern);
    return ok;
}

static void test_window(void **state)
{
    (void)state;
    const window_case cases[] = {
        {IR_F32, 1, 2, 2, 150, 150, 32, 16, 16},  /* the window slides past the first blocks */
        {IR_F32, 1, 2, 2, 70, 133, 32, 16, 32},   /* M < N */
        {IR_F32, 1, 2, 2, 99, 40, 32, 16, 16},    /* M > N: the first rows see nothing */
        {IR_F32, 1, 4, 2, 97, 97, 32, 32, 16},    /* GQA */
        {IR_F32, 1, 2, 1, 1, 1, 32, 16, 16},      /* length 1 */
        {IR_BF16, 1, 2, 2, 130, 130, 64, 32, 32},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (!run_window(&cases[i], 5100 + i)) failed++;
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_based_f32),
        cmocka_unit_test(test_based_short_f32),
        cmocka_unit_test(test_based_gqa_f32),
        cmocka_unit_test(test_based_bf16),
        cmocka_unit_test(test_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
