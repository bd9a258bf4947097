/* test_lib_flash_bwd.c - lib/attention/flash_bwd.tile on the interpreter
 * against the reference gradient (tests/ref/attn_ref.c, analytic in double).
 *
 * Each case: random Q, K, V, dO rounded to the kernel dtype; the forward's O
 * and LSE from the reference (O rounded to the dtype, LSE to f32, as a real
 * forward would hand them over); then the three kernels in order:
 * flash_bwd_preprocess (Delta, checked against sum dO*O), flash_bwd_dkdv
 * and flash_bwd_dq, whose dQ, dK, dV (dK, dV summed over GQA groups) are
 * compared with the reference gradient.
 *
 * Tested (common.tile): visible_pairs, recompute_p and softmax_grad through
 * the backward kernels, as below.
 *
 * Tested (flash_bwd.tile): the three kernels in order, in f32 and bf16; D = 64
 * and 128; Z = 1, 2; (H, HK) = (1, 1), (2, 2), (2, 1), (4, 2), (4, 1); M and N
 * from 1 to 60 (M = N, M < N, M > N with fully masked rows); BM, BN = 16, 32;
 * masks full_mask, causal and sliding_window (W up to 29, S up to 20), with
 * and without their kv_range / q_range; the specialisations
 * flash_bwd_dkdv_causal and flash_bwd_dq_causal; 25 random
 * shapes with random masks; and fed by the library's own flash_fwd instead of
 * the reference forward.  Every launch is also run at -O0 and must match bit
 * for bit. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ref/attn_ref.h"
#include "ref/harness.h"

typedef struct bwd_case {
    ir_dtype T;
    int Z, H, HK, M, N, D;
    attn_mask mask;
    const char *mask_def;  /* "mask=..." or "" */
    const char *kv_def;    /* "kv_range=..." or "" (flash_bwd_dq) */
    const char *q_def;     /* "q_range=..." or "" (flash_bwd_dkdv) */
    int BM, BN;
} bwd_case;

static const char *FILE_BWD = "attention/flash_bwd.tile";

static void defines(char *buf, size_t size, const bwd_case *c, const char *extra, bool blocks)
{
    int n = snprintf(buf, size, "T=%s,D=%d", ir_dtype_name(c->T), c->D);
    if (blocks) n += snprintf(buf + n, size - (size_t)n, ",BM=%d,BN=%d", c->BM, c->BN);
    else n += snprintf(buf + n, size - (size_t)n, ",BM=%d", c->BM);
    if (c->mask_def && *c->mask_def && blocks)
        n += snprintf(buf + n, size - (size_t)n, ",%s", c->mask_def);
    if (extra && *extra) snprintf(buf + n, size - (size_t)n, ",%s", extra);
}

/* Runs lib/attention/flash_fwd.tile with the case's mask and ranges: O and
 * LSE exactly as a training step would hand them to the backward. */
static bool kernel_forward(const bwd_case *c, const float *q, const float *k, const float *v,
                           float scale, float *o, float *lse)
{
    char def[256];
    defines(def, sizeof def, c, c->kv_def, true);
    th_kernel fwd;
    if (!th_compile(&fwd, "attention/flash_fwd.tile", "flash_fwd", def)) return false;
    th_tensor tq = th_tensor_new(c->T, TH_DIMS(c->Z, c->H, c->M, c->D), NULL);
    th_tensor tk = th_tensor_new(c->T, TH_DIMS(c->Z, c->HK, c->N, c->D), NULL);
    th_tensor tv = th_tensor_new(c->T, TH_DIMS(c->Z, c->HK, c->N, c->D), NULL);
    th_tensor to = th_tensor_new(c->T, TH_DIMS(c->Z, c->H, c->M, c->D), NULL);
    th_tensor tl = th_tensor_new(IR_F32, TH_DIMS(c->Z, c->H, c->M), NULL);
    th_tensor_set(&tq, q);
    th_tensor_set(&tk, k);
    th_tensor_set(&tv, v);
    bool ok = th_launch(&fwd, (th_arg[]){TH_T("q", &tq), TH_T("k", &tk), TH_T("v", &tv),
                                         TH_T("o", &to), TH_T("lse", &tl), TH_S("scale", scale)},
                        6);
    th_tensor_get(&to, o);
    th_tensor_get(&tl, lse);
    th_tensor_free(&tq), th_tensor_free(&tk), th_tensor_free(&tv);
    th_tensor_free(&to), th_tensor_free(&tl);
    th_kernel_free(&fwd);
    return ok;
}

/* fwd_kernel: O and LSE from flash_fwd.tile instead of the reference.
 * named: the kernels flash_bwd_dkdv_causal and flash_bwd_dq_causal (the case's
 * mask must then be causal and its defines empty). */
static float *grads_out[3];   /* set by test_derived_blocks_bit_identical: dQ, dK, dV copies */

static bool run_kernels(const bwd_case *c, uint64_t seed, bool fwd_kernel, bool named)
{
    char def_pre[256], def_dkdv[256], def_dq[256];
    defines(def_pre, sizeof def_pre, c, NULL, false);
    defines(def_dkdv, sizeof def_dkdv, c, c->q_def, true);
    defines(def_dq, sizeof def_dq, c, c->kv_def, true);
    th_kernel pre, dkdv, dq;
    if (!th_compile(&pre, FILE_BWD, "flash_bwd_preprocess", def_pre)) return false;
    const char *dkdv_name = named ? "flash_bwd_dkdv_causal" : "flash_bwd_dkdv";
    const char *dq_name = named ? "flash_bwd_dq_causal" : "flash_bwd_dq";
    if (!th_compile(&dkdv, FILE_BWD, dkdv_name, def_dkdv)) {
        th_kernel_free(&pre);
        return false;
    }
    if (!th_compile(&dq, FILE_BWD, dq_name, def_dq)) {
        th_kernel_free(&pre);
        th_kernel_free(&dkdv);
        return false;
    }

    attn_dims d = {.Z = c->Z, .H = c->H, .HK = c->HK, .M = c->M, .N = c->N, .D = c->D};
    size_t nq = (size_t)d.Z * d.H * d.M * d.D, nk = (size_t)d.Z * d.HK * d.N * d.D;
    size_t nrows = (size_t)d.Z * d.H * d.M;
    float scale = (float)(1 / sqrt(d.D));
    th_rng rng = th_rng_new(seed);
    float *q = TH_NEW(float, nq), *k = TH_NEW(float, nk), *v = TH_NEW(float, nk);
    float *dout = TH_NEW(float, nq), *o = TH_NEW(float, nq), *lse = TH_NEW(float, nrows);
    th_fill(&rng, q, nq, -1, 1, c->T);
    th_fill(&rng, k, nk, -1, 1, c->T);
    th_fill(&rng, v, nk, -1, 1, c->T);
    th_fill(&rng, dout, nq, -1, 1, c->T);

    /* The forward's outputs: from the kernel, or the reference's rounded as
     * the kernel would store them. */
    double *ref_o = TH_NEW(double, nq), *ref_lse = TH_NEW(double, nrows);
    attn_ref_fwd(&d, q, k, v, scale, &c->mask, ref_o, ref_lse);
    for (size_t i = 0; i < nq; i++) o[i] = th_round((float)ref_o[i], c->T);
    for (size_t i = 0; i < nrows; i++) lse[i] = (float)ref_lse[i];
    bool ok = !fwd_kernel || kernel_forward(c, q, k, v, scale, o, lse);
    double *ref_delta = TH_NEW(double, nrows);
    for (size_t r = 0; r < nrows; r++) {
        ref_delta[r] = 0;
        for (int x = 0; x < d.D; x++) ref_delta[r] += (double)dout[r * d.D + x] * o[r * d.D + x];
    }

    th_tensor tq = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.M, d.D), NULL);
    th_tensor tk = th_tensor_new(c->T, TH_DIMS(d.Z, d.HK, d.N, d.D), NULL);
    th_tensor tv = th_tensor_new(c->T, TH_DIMS(d.Z, d.HK, d.N, d.D), NULL);
    th_tensor tdo = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.M, d.D), NULL);
    th_tensor to = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.M, d.D), NULL);
    th_tensor tlse = th_tensor_new(IR_F32, TH_DIMS(d.Z, d.H, d.M), NULL);
    th_tensor tdelta = th_tensor_new(IR_F32, TH_DIMS(d.Z, d.H, d.M), NULL);
    th_tensor tdq = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.M, d.D), NULL);
    th_tensor tdk = th_tensor_new(c->T, TH_DIMS(d.Z, d.HK, d.N, d.D), NULL);
    th_tensor tdv = th_tensor_new(c->T, TH_DIMS(d.Z, d.HK, d.N, d.D), NULL);
    th_tensor_set(&tq, q);
    th_tensor_set(&tk, k);
    th_tensor_set(&tv, v);
    th_tensor_set(&tdo, dout);
    th_tensor_set(&to, o);
    th_tensor_set(&tlse, lse);

    ok = ok && th_launch(&pre, (th_arg[]){TH_T("o", &to), TH_T("dout", &tdo),
                                           TH_T("delta", &tdelta)}, 3);
    ok = ok && th_launch(&dkdv, (th_arg[]){TH_T("q", &tq), TH_T("k", &tk), TH_T("v", &tv),
                                           TH_T("dout", &tdo), TH_T("lse", &tlse),
                                           TH_T("delta", &tdelta), TH_T("dk", &tdk),
                                           TH_T("dv", &tdv), TH_S("scale", scale)}, 9);
    ok = ok && th_launch(&dq, (th_arg[]){TH_T("q", &tq), TH_T("k", &tk), TH_T("v", &tv),
                                         TH_T("dout", &tdo), TH_T("lse", &tlse),
                                         TH_T("delta", &tdelta), TH_T("dq", &tdq),
                                         TH_S("scale", scale)}, 8);
    if (ok) {
        float *delta = TH_NEW(float, nrows), *gq = TH_NEW(float, nq);
        float *gk = TH_NEW(float, nk), *gv = TH_NEW(float, nk);
        th_tensor_get(&tdelta, delta);
        th_tensor_get(&tdq, gq);
        th_tensor_get(&tdk, gk);
        th_tensor_get(&tdv, gv);
        double *rq = TH_NEW(double, nq), *rk = TH_NEW(double, nk), *rv = TH_NEW(double, nk);
        attn_ref_bwd(&d, q, k, v, dout, scale, &c->mask, rq, rk, rv);
        char what[320];
        double rtol = th_rtol(c->T);
#define CHECK(kern, name, got, ref, ...)                                                   \
    snprintf(what, sizeof what, "%s H=%d HK=%d M=%d N=%d: %s", kern.label, d.H, d.HK, d.M, \
             d.N, name);                                                                   \
    ok = th_check(what, got, ref, TH_DIMS(__VA_ARGS__), rtol) && ok
        CHECK(pre, "Delta", delta, ref_delta, d.Z, d.H, d.M);
        CHECK(dq, "dQ", gq, rq, d.Z, d.H, d.M, d.D);
        CHECK(dkdv, "dK", gk, rk, d.Z, d.HK, d.N, d.D);
        CHECK(dkdv, "dV", gv, rv, d.Z, d.HK, d.N, d.D);
#undef CHECK
        if (grads_out[0]) {
            memcpy(grads_out[0], gq, nq * sizeof *gq);
            memcpy(grads_out[1], gk, nk * sizeof *gk);
            memcpy(grads_out[2], gv, nk * sizeof *gv);
        }
        free(delta), free(gq), free(gk), free(gv), free(rq), free(rk), free(rv);
    }
    th_tensor_free(&tq), th_tensor_free(&tk), th_tensor_free(&tv), th_tensor_free(&tdo);
    th_tensor_free(&to), th_tensor_free(&tlse), th_tensor_free(&tdelta);
    th_tensor_free(&tdq), th_tensor_free(&tdk), th_tensor_free(&tdv);
    free(q), free(k), free(v), free(dout), free(o), free(lse);
    free(ref_o), free(ref_lse), free(ref_delta);
    th_kernel_free(&pre), th_kernel_free(&dkdv), th_kernel_free(&dq);
    return ok;
}

static bool run_case(const bwd_case *c, uint64_t seed, bool fwd_kernel)
{
    return run_kernels(c, seed, fwd_kernel, false);
}

static void run_cases(const bwd_case *cases, size_t n, bool fwd_kernel)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        if (!run_case(&cases[i], 2000 + i, fwd_kernel)) failed++;
    assert_int_equal(failed, 0);
}

#define RUN(cases) run_cases(cases, sizeof cases / sizeof cases[0], false)

static const attn_mask FULL = {.kind = ATTN_MASK_FULL};
static const attn_mask CAUSAL = {.kind = ATTN_MASK_CAUSAL};
#define CAUSAL_DEFS "mask=causal", "kv_range=causal_range", "q_range=causal_q_range"

static void test_full_f32(void **state)
{
    (void)state;
    const bwd_case cases[] = {
        {IR_F32, 1, 2, 2, 37, 29, 64, FULL, "", "", "", 16, 16},
        {IR_F32, 2, 1, 1, 20, 45, 64, FULL, "", "", "", 16, 32},
    };
    RUN(cases);
}

static void test_causal_f32(void **state)
{
    (void)state;
    const bwd_case cases[] = {
        {IR_F32, 1, 2, 2, 40, 40, 64, CAUSAL, CAUSAL_DEFS, 16, 16},
        {IR_F32, 1, 2, 2, 40, 23, 64, CAUSAL, CAUSAL_DEFS, 16, 16}, /* masked rows */
        {IR_F32, 1, 2, 2, 23, 40, 64, CAUSAL, CAUSAL_DEFS, 16, 16},
        {IR_F32, 1, 2, 2, 40, 23, 64, CAUSAL, "mask=causal", "", "", 16, 16}, /* masking alone */
    };
    RUN(cases);
}

static void test_sliding_window_f32(void **state)
{
    (void)state;
    const attn_mask w7s2 = {.kind = ATTN_MASK_SLIDING, .window = 7, .sinks = 2};
    const attn_mask w5s20 = {.kind = ATTN_MASK_SLIDING, .window = 5, .sinks = 20};
    const attn_mask w18s1 = {.kind = ATTN_MASK_SLIDING, .window = 18, .sinks = 1};
    const bwd_case cases[] = {
#define SW_DEFS(W, S)                                                                  \
    "mask=sliding_window(W:" #W ",S:" #S ")", "kv_range=sliding_window_range(W:" #W ",S:" #S ")", \
        "q_range=sliding_window_q_range(W:" #W ",S:" #S ")"
        {IR_F32, 1, 2, 2, 45, 45, 64, w7s2, SW_DEFS(7, 2), 16, 16},
        {IR_F32, 1, 2, 2, 36, 21, 64, w7s2, SW_DEFS(7, 2), 16, 16},   /* M > N: masked rows */
        {IR_F32, 1, 1, 1, 30, 50, 64, w5s20, SW_DEFS(5, 20), 16, 16}, /* sinks span blocks */
        /* ranges end exactly one row past a block boundary: off-by-one ranges show */
        {IR_F32, 1, 1, 1, 50, 50, 64, w18s1, SW_DEFS(18, 1), 16, 16},
#undef SW_DEFS
    };
    RUN(cases);
}

static void test_gqa_mqa_f32(void **state)
{
    (void)state;
    const bwd_case cases[] = {
        {IR_F32, 1, 4, 2, 29, 29, 64, CAUSAL, CAUSAL_DEFS, 16, 16},
        {IR_F32, 2, 4, 1, 19, 26, 64, FULL, "", "", "", 16, 16},
    };
    RUN(cases);
}

static void test_length_one_f32(void **state)
{
    (void)state;
    const bwd_case cases[] = {
        {IR_F32, 1, 2, 1, 1, 1, 64, CAUSAL, CAUSAL_DEFS, 16, 16},
        {IR_F32, 1, 2, 1, 1, 20, 64, CAUSAL, CAUSAL_DEFS, 16, 16},
        {IR_F32, 1, 2, 1, 20, 1, 64, CAUSAL, CAUSAL_DEFS, 16, 16},
    };
    RUN(cases);
}

static void test_head_dim_128_f32(void **state)
{
    (void)state;
    const bwd_case cases[] = {
        {IR_F32, 1, 2, 1, 27, 33, 128, CAUSAL, CAUSAL_DEFS, 16, 16},
    };
    RUN(cases);
}

static void test_bf16(void **state)
{
    (void)state;
    const bwd_case cases[] = {
        {IR_BF16, 1, 4, 2, 37, 37, 64, CAUSAL, CAUSAL_DEFS, 16, 16},
        {IR_BF16, 1, 2, 1, 29, 41, 64, FULL, "", "", "", 32, 32},
    };
    RUN(cases);
}

/* The named causal specialisations, which bind mask and the ranges themselves. */
static void test_named_causal(void **state)
{
    (void)state;
    const bwd_case cases[] = {
        {IR_F32, 1, 4, 2, 37, 45, 64, CAUSAL, "", "", "", 16, 16},
        {IR_F32, 1, 2, 1, 40, 23, 64, CAUSAL, "", "", "", 16, 32}, /* masked rows */
        {IR_BF16, 1, 2, 2, 33, 33, 64, CAUSAL, "", "", "", 16, 16},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (!run_kernels(&cases[i], 2500 + i, false, true)) failed++;
    assert_int_equal(failed, 0);
}

/* Random shapes, masks and block sizes (fixed seed). */
static void test_random_sweep_f32(void **state)
{
    (void)state;
    th_rng rng = th_rng_new(535353);
    static const int heads[][2] = {{1, 1}, {2, 2}, {4, 2}, {4, 1}};
    int failed = 0;
    for (int i = 0; i < 25; i++) {
        char mask_def[64] = "", kv_def[80] = "", q_def[80] = "";
        const int *hh = heads[th_rng_int(&rng, 4)];
        bwd_case c = {.T = IR_F32, .Z = 1, .H = hh[0], .HK = hh[1], .M = 1 + th_rng_int(&rng, 60),
                      .N = 1 + th_rng_int(&rng, 60), .D = 64,
                      .mask_def = mask_def, .kv_def = kv_def, .q_def = q_def,
                      .BM = th_rng_int(&rng, 2) ? 16 : 32, .BN = th_rng_int(&rng, 2) ? 16 : 32};
        int kind = th_rng_int(&rng, 3), ranged = th_rng_int(&rng, 2);
        if (kind == 0) {
            c.mask = FULL;
        } else if (kind == 1) {
            c.mask = CAUSAL;
            snprintf(mask_def, sizeof mask_def, "mask=causal");
            if (ranged) {
                snprintf(kv_def, sizeof kv_def, "kv_range=causal_range");
                snprintf(q_def, sizeof q_def, "q_range=causal_q_range");
            }
        } else {
            int w = th_rng_int(&rng, 30), sinks = th_rng_int(&rng, 3) ? th_rng_int(&rng, 20) : 0;
            c.mask = (attn_mask){.kind = ATTN_MASK_SLIDING, .window = w, .sinks = sinks};
            snprintf(mask_def, sizeof mask_def, "mask=sliding_window(W:%d,S:%d)", w, sinks);
            if (ranged) {
                snprintf(kv_def, sizeof kv_def, "kv_range=sliding_window_range(W:%d,S:%d)", w,
                         sinks);
                snprintf(q_def, sizeof q_def, "q_range=sliding_window_q_range(W:%d,S:%d)", w,
                         sinks);
            }
        }
        if (!run_case(&c, 8000 + (uint64_t)i, false)) failed++;
    }
    assert_int_equal(failed, 0);
}

/* Forward kernel then backward kernels, as in training, fully masked rows
 * (LSE = -inf from the forward) included. */
static void test_after_kernel_forward(void **state)
{
    (void)state;
    const attn_mask w6s1 = {.kind = ATTN_MASK_SLIDING, .window = 6, .sinks = 1};
    const bwd_case cases[] = {
        {IR_F32, 1, 4, 2, 41, 27, 64, CAUSAL, CAUSAL_DEFS, 16, 16},
        {IR_F32, 1, 2, 1, 33, 33, 64, w6s1, "mask=sliding_window(W:6,S:1)",
         "kv_range=sliding_window_range(W:6,S:1)", "q_range=sliding_window_q_range(W:6,S:1)", 16,
         16},
        {IR_BF16, 1, 4, 2, 30, 30, 64, CAUSAL, CAUSAL_DEFS, 16, 16},
    };
    run_cases(cases, sizeof cases / sizeof cases[0], true);
}

/* The loops derived from the mask (default kv_range / q_range: full blocks
 * without mask arithmetic, partial ones masked, empty ones skipped) give
 * dQ, dK and dV bit for bit as the hand-written ranges (or the full range):
 * the same blocks in the same ascending order. */
static void test_derived_blocks_bit_identical(void **state)
{
    (void)state;
    enum { Z = 1, H = 4, HK = 2, M = 45, N = 61, D = 64 };
    const attn_mask w7s2 = {.kind = ATTN_MASK_SLIDING, .window = 7, .sinks = 2};
    static const struct { const char *mask, *kv, *q; } hand[] = {
        {"mask=full_mask", "kv_range=full_range", "q_range=full_q_range"},
        {"mask=causal", "kv_range=causal_range", "q_range=causal_q_range"},
        {"mask=sliding_window(W:7,S:2)", "kv_range=sliding_window_range(W:7,S:2)",
         "q_range=sliding_window_q_range(W:7,S:2)"},
    };
    const attn_mask masks[] = {{.kind = ATTN_MASK_FULL}, {.kind = ATTN_MASK_CAUSAL}, w7s2};
    static const int blocks[][2] = {{16, 16}, {8, 32}, {32, 8}};
    size_t nq = (size_t)Z * H * M * D, nk = (size_t)Z * HK * N * D;
    int failed = 0;
    for (size_t p = 0; p < 3; p++)
        for (size_t b = 0; b < 3; b++) {
            float *got[2][3];
            for (int run = 0; run < 2; run++) {
                bwd_case c = {IR_F32, Z, H, HK, M, N, D, masks[p], hand[p].mask,
                              run ? hand[p].kv : "", run ? hand[p].q : "", blocks[b][0], blocks[b][1]};
                got[run][0] = grads_out[0] = TH_NEW(float, nq);
                got[run][1] = grads_out[1] = TH_NEW(float, nk);
                got[run][2] = grads_out[2] = TH_NEW(float, nk);
                if (!run_case(&c, 5100 + p * 10 + b, false)) failed++;
                grads_out[0] = grads_out[1] = grads_out[2] = NULL;
            }
            if (memcmp(got[0][0], got[1][0], nq * sizeof(float)) != 0 ||
                memcmp(got[0][1], got[1][1], nk * sizeof(float)) != 0 ||
                memcmp(got[0][2], got[1][2], nk * sizeof(float)) != 0) {
                fprintf(stderr, "%s (BM=%d, BN=%d): derived and hand-written ranges differ\n",
                        hand[p].mask, blocks[b][0], blocks[b][1]);
                failed++;
            }
            for (int run = 0; run < 2; run++)
                for (int t = 0; t < 3; t++) free(got[run][t]);
        }
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_derived_blocks_bit_identical),
        cmocka_unit_test(test_full_f32),
        cmocka_unit_test(test_causal_f32),
        cmocka_unit_test(test_sliding_window_f32),
        cmocka_unit_test(test_gqa_mqa_f32),
        cmocka_unit_test(test_length_one_f32),
        cmocka_unit_test(test_head_dim_128_f32),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_after_kernel_forward),
        cmocka_unit_test(test_random_sweep_f32),
        cmocka_unit_test(test_named_causal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
