/* test_lib_lightning2.c - lib/attention/lightning2.tile (Lightning
 * Attention-2) on the interpreter against the naive O(N^2) decayed sum.
 *
 * Per-head decays include 1.0 (no decay) and strong decay; N is not a
 * multiple of the block (and sometimes shorter than one block, or 1); the
 * value dim E differs from the key dim D in some cases.  Tolerances are
 * relative to the output's largest magnitude.
 *
 * Tested (lightning2.tile): lightning2 in f32 and bf16; (D, E) = (64, 64),
 * (64, 32), (32, 128), (128, 64), (64, 128); Z = 1, 2; H = 1 to 3; N = 1, 11,
 * 29 to 70; B = 16, 32 and auto; decays 1.0 (none), 0.99 to 0.5, and 0.05;
 * bf16 with (D, E) = (64, 128). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ref/attn_ref.h"
#include "ref/harness.h"

enum { MAX_H = 4 };

typedef struct lightning_case {
    ir_dtype T;
    int Z, H, N, D, E;
    int B;                  /* 0: leave `auto` */
    float decay[MAX_H];
} lightning_case;

static bool run_case(const lightning_case *c, uint64_t seed)
{
    char defines[128];
    int n = snprintf(defines, sizeof defines, "T=%s,D=%d,E=%d", ir_dtype_name(c->T), c->D, c->E);
    if (c->B) snprintf(defines + n, sizeof defines - (size_t)n, ",B=%d", c->B);
    th_kernel kern;
    if (!th_compile(&kern, "attention/lightning2.tile", "lightning2", defines)) return false;

    lightning_dims d = {.Z = c->Z, .H = c->H, .N = c->N, .D = c->D, .E = c->E};
    size_t nqk = (size_t)d.Z * d.H * d.N * d.D, nv = (size_t)d.Z * d.H * d.N * d.E;
    th_rng rng = th_rng_new(seed);
    float *q = TH_NEW(float, nqk), *k = TH_NEW(float, nqk), *v = TH_NEW(float, nv);
    float *o = TH_NEW(float, nv);
    th_fill(&rng, q, nqk, -1, 1, c->T);
    th_fill(&rng, k, nqk, -1, 1, c->T);
    th_fill(&rng, v, nv, -1, 1, c->T);

    th_tensor tq = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.N, d.D), NULL);
    th_tensor tk = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.N, d.D), NULL);
    th_tensor tv = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.N, d.E), NULL);
    th_tensor tdecay = th_tensor_new(IR_F32, TH_DIMS(d.H), NULL);
    th_tensor to = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.N, d.E), NULL);
    th_tensor_set(&tq, q);
    th_tensor_set(&tk, k);
    th_tensor_set(&tv, v);
    th_tensor_set(&tdecay, c->decay);
    bool ok = th_launch(&kern, (th_arg[]){TH_T("q", &tq), TH_T("k", &tk), TH_T("v", &tv),
                                          TH_T("decay", &tdecay), TH_T("o", &to)}, 5);
    if (ok) {
        th_tensor_get(&to, o);
        double *ref = TH_NEW(double, nv);
        attn_ref_lightning(&d, q, k, v, c->decay, ref);
        char what[256];
        snprintf(what, sizeof what, "%s Z=%d H=%d N=%d: O", kern.label, d.Z, d.H, d.N);
        ok = th_check(what, o, ref, TH_DIMS(d.Z, d.H, d.N, d.E), th_rtol(c->T));
        free(ref);
    }
    th_tensor_free(&tq), th_tensor_free(&tk), th_tensor_free(&tv);
    th_tensor_free(&tdecay), th_tensor_free(&to);
    free(q), free(k), free(v), free(o);
    th_kernel_free(&kern);
    return ok;
}

static void run_cases(const lightning_case *cases, size_t n)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        if (!run_case(&cases[i], 4000 + i)) failed++;
    assert_int_equal(failed, 0);
}

#define RUN(cases) run_cases(cases, sizeof cases / sizeof cases[0])

static void test_decays_f32(void **state)
{
    (void)state;
    const lightning_case cases[] = {
        {IR_F32, 1, 3, 45, 64, 64, 16, {1.0f, 0.9f, 0.5f}},
        {IR_F32, 2, 2, 33, 64, 64, 16, {0.99f, 1.0f}},
        {IR_F32, 1, 1, 40, 64, 64, 16, {0.05f}},   /* decay so strong blocks barely talk */
    };
    RUN(cases);
}

static void test_value_dim_f32(void **state)
{
    (void)state;
    const lightning_case cases[] = {
        {IR_F32, 1, 2, 37, 64, 32, 16, {1.0f, 0.8f}},
        {IR_F32, 1, 2, 29, 32, 128, 16, {0.95f, 1.0f}},
        {IR_F32, 1, 1, 40, 128, 64, 32, {0.9f}},
    };
    RUN(cases);
}

static void test_short_f32(void **state)
{
    (void)state;
    const lightning_case cases[] = {
        {IR_F32, 1, 2, 1, 64, 64, 16, {1.0f, 0.5f}},   /* N = 1 */
        {IR_F32, 1, 2, 11, 64, 64, 16, {1.0f, 0.5f}},  /* N < B */
        {IR_F32, 1, 1, 70, 64, 64, 0, {0.97f}},        /* B = auto */
    };
    RUN(cases);
}

static void test_bf16(void **state)
{
    (void)state;
    const lightning_case cases[] = {
        {IR_BF16, 1, 2, 50, 64, 64, 16, {1.0f, 0.9f}},
        {IR_BF16, 1, 2, 37, 64, 128, 16, {0.95f, 0.5f}},
    };
    RUN(cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decays_f32),
        cmocka_unit_test(test_value_dim_f32),
        cmocka_unit_test(test_short_f32),
        cmocka_unit_test(test_bf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
