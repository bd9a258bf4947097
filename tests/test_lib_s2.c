/* test_lib_s2.c - lib/attention/s2.tile (S2-Attention) on the interpreter
 * against dense attention with the equivalent explicit mask
 * (tests/ref/s2_ref.c + attn_ref_fwd).
 *
 * Cases vary the stride S and window L (window inside a block, across
 * blocks, 0 or 1: shard only), lengths (odd, 1, M != N both ways: rows that
 * see nothing), GQA, bf16.  The same mask as a flash_fwd mask fn (s2_mask)
 * is checked against the same reference.  Outputs are poisoned and every
 * launch is checked bit-identical at -O0 (harness).
 *
 * Tested (s2.tile): s2_fwd in f32 and bf16 against dense attention with the
 * explicit S2 mask: stride S = 1 (plain causal), 2, 3, 4, 8 (H > S: heads
 * sharing shards; S > H: shards nobody reads); window L = 0 (shard only), 1
 * (the diagonal only), 3 to 20 (inside and across blocks); (H, HK) = (2, 2),
 * (3, 3), (4, 4), (5, 5), (8, 2), (4, 1), (4, 2); Z = 1, 2; D = 32, 64; M = N =
 * 1, 40 to 90, M < N (1/40, 30/77, 37/45), M > N (40/1, 70/33: rows that see
 * nothing); BM = 16, 32, BN = 8, 16, 32; O and LSE checked.  s2_mask as
 * flash_fwd's mask (S = 3, 4; GQA) against the same reference.  Every launch is
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
#include "ref/s2_ref.h"

typedef struct s2_case {
    ir_dtype T;
    int Z, H, HK, M, N, D;
    int S, L;
    int BM, BN;
    bool dense;   /* flash_fwd with mask s2_mask instead of s2_fwd */
} s2_case;

static bool run_case(const s2_case *c, uint64_t seed)
{
    char defines[256];
    if (c->dense)
        snprintf(defines, sizeof defines, "T=%s,D=%d,BM=%d,BN=%d,mask=s2_mask(S:%d,L:%d)",
                 ir_dtype_name(c->T), c->D, c->BM, c->BN, c->S, c->L);
    else
        snprintf(defines, sizeof defines, "T=%s,D=%d,BM=%d,BN=%d,S=%d,L=%d", ir_dtype_name(c->T),
                 c->D, c->BM, c->BN, c->S, c->L);
    th_kernel kern;
    if (!th_compile(&kern, "attention/s2.tile", c->dense ? "flash_fwd" : "s2_fwd", defines))
        return false;

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
        uint8_t *visible = TH_NEW(uint8_t, nrows * (size_t)d.N);
        s2_ref_mask(&d, c->S, c->L, visible);
        const attn_mask mask = {.kind = ATTN_MASK_EXPLICIT, .visible = visible};
        double *ref_o = TH_NEW(double, nq), *ref_lse = TH_NEW(double, nrows);
        attn_ref_fwd(&d, q, k, v, (float)scale, &mask, ref_o, ref_lse);
        ok = th_check_attention(kern.label, &d, c->T, o, lse, ref_o, ref_lse);
        free(ref_o), free(ref_lse), free(visible);
    }
    th_tensor_free(&tq), th_tensor_free(&tk), th_tensor_free(&tv);
    th_tensor_free(&to), th_tensor_free(&tl);
    free(q), free(k), free(v), free(o), free(lse);
    th_kernel_free(&kern);
    return ok;
}

static void run_cases(const s2_case *cases, size_t n)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        if (!run_case(&cases[i], 6000 + i)) failed++;
    assert_int_equal(failed, 0);
}

#define RUN(cases) run_cases(cases, sizeof cases / sizeof cases[0])

static void test_strides_f32(void **state)
{
    (void)state;
    const s2_case cases[] = {
        {IR_F32, 1, 4, 4, 75, 75, 32, 4, 8, 16, 16, false},
        {IR_F32, 1, 3, 3, 61, 61, 32, 3, 20, 16, 8, false},   /* window across blocks */
        {IR_F32, 2, 5, 5, 50, 50, 32, 2, 5, 16, 16, false},   /* H > S: heads share shards */
        {IR_F32, 1, 2, 2, 90, 90, 32, 8, 16, 32, 16, false},  /* S > H: shards nobody reads */
        {IR_F32, 1, 4, 4, 45, 45, 32, 4, 0, 16, 16, false},   /* no window: shard only */
        {IR_F32, 1, 4, 4, 45, 45, 32, 4, 1, 16, 16, false},   /* the diagonal only */
        {IR_F32, 1, 2, 2, 40, 40, 32, 1, 3, 16, 16, false},   /* S = 1: plain causal */
    };
    RUN(cases);
}

static void test_lengths_f32(void **state)
{
    (void)state;
    const s2_case cases[] = {
        {IR_F32, 1, 4, 4, 30, 77, 32, 4, 6, 16, 16, false},   /* M < N */
        {IR_F32, 1, 4, 4, 70, 33, 32, 4, 6, 16, 16, false},   /* M > N: rows that see nothing */
        {IR_F32, 1, 4, 4, 1, 1, 32, 4, 6, 16, 16, false},     /* length 1 */
        {IR_F32, 1, 4, 4, 1, 40, 32, 3, 6, 16, 16, false},
        {IR_F32, 1, 4, 4, 40, 1, 32, 3, 6, 16, 16, false},
    };
    RUN(cases);
}

static void test_gqa_bf16(void **state)
{
    (void)state;
    const s2_case cases[] = {
        {IR_F32, 1, 8, 2, 53, 53, 32, 4, 7, 16, 16, false},
        {IR_F32, 2, 4, 1, 37, 45, 32, 3, 9, 16, 16, false},
        {IR_BF16, 1, 4, 2, 80, 80, 64, 4, 16, 32, 32, false},
    };
    RUN(cases);
}

static void test_dense_mask_f32(void **state)
{
    (void)state;
    const s2_case cases[] = {
        {IR_F32, 1, 4, 4, 60, 60, 32, 4, 8, 16, 16, true},
        {IR_F32, 1, 4, 2, 30, 50, 32, 3, 5, 16, 16, true},
    };
    RUN(cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strides_f32),
        cmocka_unit_test(test_lengths_f32),
        cmocka_unit_test(test_gqa_bf16),
        cmocka_unit_test(test_dense_mask_f32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
