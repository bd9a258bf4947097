/* test_lib_aaren.c - lib/attention/aaren.tile (Aaren, attention as an RNN
 * through associative_scan) on the interpreter against the naive per-prefix
 * softmax (tests/ref/aaren_ref.c).
 *
 * Fresh inputs per case, o poisoned with NaN, N odd, 1, shorter than a
 * block and many blocks, E != D, a wide score range (|s| in the hundreds:
 * early prefixes whose max is far below later ones stress the stable
 * combine), bf16; every launch is also checked bit-identical at -O0.
 *
 * Tested (aaren.tile): aaren_fwd (and aaren_combine through it) in f32 and bf16
 * against the naive per-prefix softmax; Z = 1, 2; H = 1, 2, 3; N = 1, 7, 16 (N
 * < BN, N = BN) and 29 to 100 (ragged last blocks); D = 16, 32, 64 with E = 8,
 * 16, 32, 48 (E != D); BN = 4, 8, 16 and auto; q uniform in [-a, a) with a =
 * 0.5, 1, 4, 12 and 20 (scores in the hundreds); O checked.  Every launch is
 * also run at -O0 and must match bit for bit. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ref/aaren_ref.h"
#include "ref/harness.h"

typedef struct aaren_case {
    ir_dtype T;
    int Z, H, N, D, E;
    int BN;             /* 0: leave `auto` */
    float q_amp;        /* q uniform in [-q_amp, q_amp) */
} aaren_case;

static bool run_case(const aaren_case *c, uint64_t seed)
{
    char defines[128];
    int n = snprintf(defines, sizeof defines, "T=%s,D=%d,E=%d", ir_dtype_name(c->T), c->D, c->E);
    if (c->BN) snprintf(defines + n, sizeof defines - (size_t)n, ",BN=%d", c->BN);
    th_kernel kern;
    if (!th_compile(&kern, "attention/aaren.tile", "aaren_fwd", defines)) return false;

    aaren_dims d = {.Z = c->Z, .H = c->H, .N = c->N, .D = c->D, .E = c->E};
    size_t nq = (size_t)d.H * d.D, nk = (size_t)d.Z * d.H * d.N * d.D;
    size_t nv = (size_t)d.Z * d.H * d.N * d.E;
    th_rng rng = th_rng_new(seed);
    float *q = TH_NEW(float, nq), *k = TH_NEW(float, nk), *v = TH_NEW(float, nv);
    float *o = TH_NEW(float, nv);
    th_fill(&rng, q, nq, -c->q_amp, c->q_amp, c->T);
    th_fill(&rng, k, nk, -1, 1, c->T);
    th_fill(&rng, v, nv, -1, 1, c->T);

    th_tensor tq = th_tensor_new(c->T, TH_DIMS(d.H, d.D), NULL);
    th_tensor tk = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.N, d.D), NULL);
    th_tensor tv = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.N, d.E), NULL);
    th_tensor to = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.N, d.E), NULL);
    th_tensor_set(&tq, q);
    th_tensor_set(&tk, k);
    th_tensor_set(&tv, v);
    bool ok = th_launch(&kern, (th_arg[]){TH_T("q", &tq), TH_T("k", &tk), TH_T("v", &tv),
                                          TH_T("o", &to)}, 4);
    if (ok) {
        th_tensor_get(&to, o);
        double *ref = TH_NEW(double, nv);
        aaren_ref(&d, q, k, v, ref);
        char what[256];
        snprintf(what, sizeof what, "%s Z=%d H=%d N=%d: O", kern.label, d.Z, d.H, d.N);
        ok = th_check(what, o, ref, TH_DIMS(d.Z, d.H, d.N, d.E), th_rtol(c->T));
        free(ref);
    }
    th_tensor_free(&tq), th_tensor_free(&tk), th_tensor_free(&tv), th_tensor_free(&to);
    free(q), free(k), free(v), free(o);
    th_kernel_free(&kern);
    return ok;
}

static void run_cases(const aaren_case *cases, size_t n)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        if (!run_case(&cases[i], 9100 + i)) failed++;
    assert_int_equal(failed, 0);
}

#define RUN(cases) run_cases(cases, sizeof cases / sizeof cases[0])

static void test_f32(void **state)
{
    (void)state;
    const aaren_case cases[] = {
        {IR_F32, 2, 2, 45, 32, 32, 16, 0.5f},
        {IR_F32, 1, 3, 70, 32, 16, 16, 0.5f},    /* E != D */
        {IR_F32, 1, 2, 33, 16, 48, 8, 1.0f},
        {IR_F32, 1, 1, 100, 32, 8, 0, 0.5f},     /* BN = auto */
    };
    RUN(cases);
}

static void test_short_f32(void **state)
{
    (void)state;
    const aaren_case cases[] = {
        {IR_F32, 1, 2, 1, 32, 16, 16, 0.5f},     /* N = 1 */
        {IR_F32, 2, 1, 7, 32, 16, 16, 0.5f},     /* N < BN */
        {IR_F32, 1, 1, 16, 32, 16, 16, 0.5f},    /* N = BN */
    };
    RUN(cases);
}

/* Scores in the hundreds: exp overflows without the running max, and a
 * block-global shift would flush early prefixes to 0. */
static void test_wide_scores_f32(void **state)
{
    (void)state;
    const aaren_case cases[] = {
        {IR_F32, 1, 2, 50, 64, 16, 16, 12.0f},
        {IR_F32, 1, 1, 37, 32, 8, 4, 20.0f},
    };
    RUN(cases);
}

static void test_bf16(void **state)
{
    (void)state;
    const aaren_case cases[] = {
        {IR_BF16, 1, 2, 60, 32, 32, 16, 0.5f},
        {IR_BF16, 2, 1, 29, 64, 16, 16, 4.0f},
    };
    RUN(cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32),
        cmocka_unit_test(test_short_f32),
        cmocka_unit_test(test_wide_scores_f32),
        cmocka_unit_test(test_bf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
