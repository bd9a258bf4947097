/* test_lib_moh.c - lib/attention/moh.tile (Mixture-of-Head attention) and
 * lib/attention/sqa.tile (Sparse Query Attention) on the interpreter.
 *
 * MoH: router weights with whole (block, head) pairs at zero (skipped: the
 * reference then demands O = 0, LSE = -inf, which a computed block would
 * not give), single zero entries and positive weights, against the softmax
 * reference scaled per row (tests/ref/moh_ref.c + attn_ref_fwd); full and
 * causal masks, odd lengths, length 1, M != N, GQA, bf16.  SQA: the named
 * flash_fwd specialisations with fewer query heads than a model's H (query
 * heads over key/value groups) against attn_ref_fwd.  Outputs are poisoned
 * and every launch is checked bit-identical at -O0 (harness).
 *
 * Tested (moh.tile): moh_fwd and moh_fwd_causal in f32 and bf16 against the
 * softmax reference scaled per row by the router weights, drawn per (batch,
 * block, head): whole blocks at 0 (skipped: O = 0 and LSE = -inf demanded),
 * single zero weights, others in [0.1, 1); (H, HK) = (3, 3), (4, 4), (8, 2),
 * (4, 1), (4, 2); Z = 1, 2; D = 32, 64; M = N = 1, 61, 75, 100; M < N (1/33,
 * 33/45, 40/90), M > N (47/29, 90/40); BM = 4, 8, 16, 32, BN = 16, 32; O and
 * LSE checked.  Every launch is also run at -O0 and must match bit for bit.
 *
 * Tested (sqa.tile): sqa_fwd and sqa_fwd_causal in f32 and bf16 against dense
 * attention, with the query heads of a model of 8 heads: (H_q, HK) = (4, 4),
 * (4, 2), (2, 2), (2, 1); Z = 1, 2; D = 32, 64; M = N = 1, 53, 70, M < N
 * (37/61), M > N (45/31); BM, BN = 16, 32; O and LSE checked.  Every launch is
 * also run at -O0 and must match bit for bit. */
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
#include "ref/moh_ref.h"

typedef struct moh_case {
    const char *file, *kernel;
    ir_dtype T;
    int Z, H, HK, M, N, D;
    bool causal;
    int BM, BN;
} moh_case;

/* Router weights: per (z, block, head) the whole block is 0 with
 * probability 1/3; otherwise each weight is 0 with probability 1/3, else
 * uniform in [0.1, 1). */
static void fill_router(th_rng *rng, const moh_case *c, float *g)
{
    for (int z = 0; z < c->Z; z++)
        for (int h = 0; h < c->H; h++)
            for (int lo = 0; lo < c->M; lo += c->BM) {
                bool block_off = th_rng_int(rng, 3) == 0;
                for (int i = lo; i < lo + c->BM && i < c->M; i++) {
                    bool off = block_off || th_rng_int(rng, 3) == 0;
                    g[((size_t)z * c->M + i) * c->H + h] =
                        off ? 0.0f : (float)(0.1 + 0.9 * th_rng_uniform(rng));
                }
            }
}

static bool run_case(const moh_case *c, uint64_t seed)
{
    bool moh = c->kernel[0] == 'm';
    char defines[256];
    snprintf(defines, sizeof defines, "T=%s,D=%d,BM=%d,BN=%d", ir_dtype_name(c->T), c->D, c->BM,
             c->BN);
    th_kernel kern;
    if (!th_compile(&kern, c->file, c->kernel, defines)) return false;

    attn_dims d = {.Z = c->Z, .H = c->H, .HK = c->HK, .M = c->M, .N = c->N, .D = c->D};
    size_t nq = (size_t)d.Z * d.H * d.M * d.D, nk = (size_t)d.Z * d.HK * d.N * d.D;
    size_t nrows = (size_t)d.Z * d.H * d.M;
    th_rng rng = th_rng_new(seed);
    float *q = TH_NEW(float, nq), *k = TH_NEW(float, nk), *v = TH_NEW(float, nk);
    float *o = TH_NEW(float, nq), *lse = TH_NEW(float, nrows), *g = TH_NEW(float, nrows);
    th_fill(&rng, q, nq, -1, 1, c->T);
    th_fill(&rng, k, nk, -1, 1, c->T);
    th_fill(&rng, v, nk, -1, 1, c->T);
    fill_router(&rng, c, g);
    double scale = 1 / sqrt(c->D);

    th_tensor tq = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.M, d.D), NULL);
    th_tensor tk = th_tensor_new(c->T, TH_DIMS(d.Z, d.HK, d.N, d.D), NULL);
    th_tensor tv = th_tensor_new(c->T, TH_DIMS(d.Z, d.HK, d.N, d.D), NULL);
    th_tensor tg = th_tensor_new(IR_F32, TH_DIMS(d.Z, d.M, d.H), NULL);
    th_tensor to = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.M, d.D), NULL);
    th_tensor tl = th_tensor_new(IR_F32, TH_DIMS(d.Z, d.H, d.M), NULL);
    th_tensor_set(&tq, q);
    th_tensor_set(&tk, k);
    th_tensor_set(&tv, v);
    th_tensor_set(&tg, g);
    th_arg args[] = {TH_T("q", &tq), TH_T("k", &tk),   TH_T("v", &tv),     TH_T("o", &to),
                     TH_T("lse", &tl), TH_S("scale", scale), TH_T("g", &tg)};
    bool ok = th_launch(&kern, args, moh ? 7 : 6);
    if (ok) {
        th_tensor_get(&to, o);
        th_tensor_get(&tl, lse);
        double *ref_o = TH_NEW(double, nq), *ref_lse = TH_NEW(double, nrows);
        const attn_mask mask = {.kind = c->causal ? ATTN_MASK_CAUSAL : ATTN_MASK_FULL};
        attn_ref_fwd(&d, q, k, v, (float)scale, &mask, ref_o, ref_lse);
        if (moh) moh_ref_apply(&d, c->BM, g, ref_o, ref_lse);
        ok = th_check_attention(kern.label, &d, c->T, o, lse, ref_o, ref_lse);
        free(ref_o), free(ref_lse);
    }
    th_tensor_free(&tq), th_tensor_free(&tk), th_tensor_free(&tv), th_tensor_free(&tg);
    th_tensor_free(&to), th_tensor_free(&tl);
    free(q), free(k), free(v), free(o), free(lse), free(g);
    th_kernel_free(&kern);
    return ok;
}

static void run_cases(const moh_case *cases, size_t n)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        if (!run_case(&cases[i], 8000 + i)) failed++;
    assert_int_equal(failed, 0);
}

#define RUN(cases) run_cases(cases, sizeof cases / sizeof cases[0])
#define MOH "attention/moh.tile"
#define SQA "attention/sqa.tile"

static void test_moh_f32(void **state)
{
    (void)state;
    const moh_case cases[] = {
        {MOH, "moh_fwd", IR_F32, 2, 4, 4, 75, 75, 32, false, 16, 16},
        {MOH, "moh_fwd_causal", IR_F32, 2, 4, 4, 75, 75, 32, true, 16, 16},
        {MOH, "moh_fwd_causal", IR_F32, 1, 3, 3, 40, 90, 32, true, 8, 16},    /* M < N */
        {MOH, "moh_fwd_causal", IR_F32, 1, 3, 3, 90, 40, 32, true, 16, 16},   /* M > N */
        {MOH, "moh_fwd", IR_F32, 1, 4, 4, 1, 1, 32, false, 16, 16},           /* length 1 */
        {MOH, "moh_fwd_causal", IR_F32, 1, 4, 4, 1, 33, 32, true, 16, 16},
        {MOH, "moh_fwd", IR_F32, 1, 4, 4, 47, 29, 32, false, 4, 16},          /* tiny blocks */
    };
    RUN(cases);
}

static void test_moh_gqa_bf16(void **state)
{
    (void)state;
    const moh_case cases[] = {
        {MOH, "moh_fwd_causal", IR_F32, 1, 8, 2, 61, 61, 32, true, 16, 16},
        {MOH, "moh_fwd", IR_F32, 2, 4, 1, 33, 45, 32, false, 16, 16},
        {MOH, "moh_fwd_causal", IR_BF16, 1, 4, 2, 100, 100, 64, true, 32, 32},
    };
    RUN(cases);
}

static void test_sqa_f32(void **state)
{
    (void)state;
    const moh_case cases[] = {
        /* a model of 8 heads: sSQA H_q = HK = 4; xSQA H_q = 2 over HK = 2 or 1 */
        {SQA, "sqa_fwd_causal", IR_F32, 1, 4, 4, 53, 53, 32, true, 16, 16},
        {SQA, "sqa_fwd_causal", IR_F32, 2, 2, 1, 37, 61, 32, true, 16, 16},
        {SQA, "sqa_fwd", IR_F32, 1, 2, 2, 45, 31, 32, false, 16, 16},
        {SQA, "sqa_fwd_causal", IR_F32, 1, 2, 1, 1, 1, 32, true, 16, 16},
        {SQA, "sqa_fwd_causal", IR_BF16, 1, 4, 2, 70, 70, 64, true, 32, 32},
    };
    RUN(cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moh_f32),
        cmocka_unit_test(test_moh_gqa_bf16),
        cmocka_unit_test(test_sqa_f32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
