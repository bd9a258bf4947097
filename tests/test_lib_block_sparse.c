/* test_lib_block_sparse.c - lib/attention/block_sparse.tile on the
 * interpreter against the reference with the equivalent dense mask.
 *
 * Each case draws, per (batch, head, query block), a random set of distinct
 * key blocks in random order (some lists empty, some complete); unused
 * index entries hold -1, so reading past kv_cnt would show.  The reference
 * is attn_ref_fwd with the dense mask attn_ref_block_sparse_mask builds
 * (optionally intersected with causal).  Rows of an empty query block must
 * come out O = 0, LSE = -inf.
 *
 * Tested (block_sparse.tile): block_sparse_fwd and block_sparse_fwd_causal in
 * f32 and bf16; D = 64 and 128; Z = 1, 2; (H, HK) = (2, 2), (4, 2), (4, 1); M
 * and N from 1 to 70 (M < N, M > N); (BM, BN) = (16, 16), (16, 32), (32, 16),
 * (32, 32); random block lists per query block (empty, complete and partial,
 * in random order), with full_mask and causal. */
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

typedef struct sparse_case {
    ir_dtype T;
    int Z, H, HK, M, N, D;
    int BM, BN;
    bool causal;
    const char *kernel;  /* NULL: block_sparse_fwd */
} sparse_case;

static bool run_case(const sparse_case *c, uint64_t seed)
{
    char defines[160];
    snprintf(defines, sizeof defines, "T=%s,D=%d,BM=%d,BN=%d%s", ir_dtype_name(c->T), c->D, c->BM,
             c->BN, c->causal && !c->kernel ? ",mask=causal" : "");
    th_kernel kern;
    const char *name = c->kernel ? c->kernel : "block_sparse_fwd";
    if (!th_compile(&kern, "attention/block_sparse.tile", name, defines))
        return false;

    attn_dims d = {.Z = c->Z, .H = c->H, .HK = c->HK, .M = c->M, .N = c->N, .D = c->D};
    int MB = (d.M + c->BM - 1) / c->BM, NB = (d.N + c->BN - 1) / c->BN, maxb = NB;
    size_t nq = (size_t)d.Z * d.H * d.M * d.D, nk = (size_t)d.Z * d.HK * d.N * d.D;
    size_t nrows = (size_t)d.Z * d.H * d.M, nlists = (size_t)d.Z * d.H * MB;
    th_rng rng = th_rng_new(seed);
    float *q = TH_NEW(float, nq), *k = TH_NEW(float, nk), *v = TH_NEW(float, nk);
    th_fill(&rng, q, nq, -1, 1, c->T);
    th_fill(&rng, k, nk, -1, 1, c->T);
    th_fill(&rng, v, nk, -1, 1, c->T);

    /* Block lists: list 0 empty, list 1 complete, the rest random. */
    int32_t *idx = TH_NEW(int32_t, nlists * maxb), *cnt = TH_NEW(int32_t, nlists);
    int32_t *all = TH_NEW(int32_t, NB);
    for (size_t l = 0; l < nlists; l++) {
        for (int b = 0; b < NB; b++) all[b] = b;
        th_rng_shuffle(&rng, all, NB);
        cnt[l] = l == 0 ? 0 : l == 1 ? NB : th_rng_int(&rng, NB + 1);
        for (int t = 0; t < maxb; t++) idx[l * maxb + t] = t < cnt[l] ? all[t] : -1;
    }
    uint8_t *visible = TH_NEW(uint8_t, nrows * d.N);
    attn_mask causal = {.kind = ATTN_MASK_CAUSAL};
    attn_ref_block_sparse_mask(&d, c->BM, c->BN, maxb, idx, cnt, c->causal ? &causal : NULL,
                               visible);
    attn_mask dense = {.kind = ATTN_MASK_EXPLICIT, .visible = visible};
    double scale = 1 / sqrt(d.D);

    th_tensor tq = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.M, d.D), NULL);
    th_tensor tk = th_tensor_new(c->T, TH_DIMS(d.Z, d.HK, d.N, d.D), NULL);
    th_tensor tv = th_tensor_new(c->T, TH_DIMS(d.Z, d.HK, d.N, d.D), NULL);
    th_tensor tidx = th_tensor_new(IR_I32, TH_DIMS(d.Z, d.H, MB, maxb), NULL);
    th_tensor tcnt = th_tensor_new(IR_I32, TH_DIMS(d.Z, d.H, MB), NULL);
    th_tensor to = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.M, d.D), NULL);
    th_tensor tl = th_tensor_new(IR_F32, TH_DIMS(d.Z, d.H, d.M), NULL);
    th_tensor_set(&tq, q);
    th_tensor_set(&tk, k);
    th_tensor_set(&tv, v);
    th_tensor_set_i32(&tidx, idx);
    th_tensor_set_i32(&tcnt, cnt);
    bool ok = th_launch(&kern, (th_arg[]){TH_T("q", &tq), TH_T("k", &tk), TH_T("v", &tv),
                                          TH_T("kv_idx", &tidx), TH_T("kv_cnt", &tcnt),
                                          TH_T("o", &to), TH_T("lse", &tl), TH_S("scale", scale)},
                        8);
    if (ok) {
        float *o = TH_NEW(float, nq), *lse = TH_NEW(float, nrows);
        double *ref_o = TH_NEW(double, nq), *ref_lse = TH_NEW(double, nrows);
        th_tensor_get(&to, o);
        th_tensor_get(&tl, lse);
        attn_ref_fwd(&d, q, k, v, (float)scale, &dense, ref_o, ref_lse);
        ok = th_check_attention(kern.label, &d, c->T, o, lse, ref_o, ref_lse) && ok;
        free(o), free(lse), free(ref_o), free(ref_lse);
    }
    th_tensor_free(&tq), th_tensor_free(&tk), th_tensor_free(&tv), th_tensor_free(&tidx);
    th_tensor_free(&tcnt), th_tensor_free(&to), th_tensor_free(&tl);
    free(q), free(k), free(v), free(idx), free(cnt), free(all), free(visible);
    th_kernel_free(&kern);
    return ok;
}

static void run_cases(const sparse_case *cases, size_t n)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        if (!run_case(&cases[i], 5000 + i)) failed++;
    assert_int_equal(failed, 0);
}

#define RUN(cases) run_cases(cases, sizeof cases / sizeof cases[0])

static void test_random_blocks_f32(void **state)
{
    (void)state;
    const sparse_case cases[] = {
        {IR_F32, 1, 2, 2, 45, 50, 64, 16, 16, false, NULL},
        {IR_F32, 2, 2, 2, 37, 70, 64, 32, 16, false, NULL},
        {IR_F32, 1, 2, 2, 70, 37, 64, 16, 32, false, NULL},
        {IR_F32, 1, 2, 2, 1, 20, 64, 16, 16, false, NULL},
    };
    RUN(cases);
}

static void test_causal_f32(void **state)
{
    (void)state;
    const sparse_case cases[] = {
        {IR_F32, 1, 2, 2, 50, 50, 64, 16, 16, true, NULL},
        {IR_F32, 1, 2, 2, 60, 35, 64, 16, 16, true, NULL},   /* M > N: masked rows */
        {IR_F32, 1, 2, 2, 40, 40, 64, 16, 16, true, "block_sparse_fwd_causal"},
    };
    RUN(cases);
}

static void test_gqa_f32(void **state)
{
    (void)state;
    const sparse_case cases[] = {
        {IR_F32, 1, 4, 2, 33, 47, 64, 16, 16, false, NULL},
        {IR_F32, 1, 4, 1, 33, 47, 128, 16, 16, true, NULL},
    };
    RUN(cases);
}

static void test_bf16(void **state)
{
    (void)state;
    const sparse_case cases[] = {
        {IR_BF16, 1, 4, 2, 45, 60, 64, 16, 16, true, NULL},
        {IR_BF16, 1, 2, 2, 50, 50, 128, 32, 32, false, NULL},
    };
    RUN(cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_blocks_f32),
        cmocka_unit_test(test_causal_f32),
        cmocka_unit_test(test_gqa_f32),
        cmocka_unit_test(test_bf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
