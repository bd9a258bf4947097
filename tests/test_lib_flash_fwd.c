/* test_lib_flash_fwd.c - lib/attention/flash_fwd.tile on the interpreter
 * against the naive reference (tests/ref/attn_ref.c).
 *
 * Each case: fresh inputs uniform in [-1, 1) rounded to the kernel dtype, O
 * and LSE poisoned with NaN, one launch, O and LSE compared with the double
 * reference on the same inputs (f32 kernels tightly, bf16 loosely), and
 * fully masked rows checked for exactly O = 0, LSE = -inf.  Small BM/BN make
 * small problems run multi-block loops with ragged last blocks.
 *
 * Tested (flash_fwd.tile): flash_fwd in f32, bf16 and f16; D = 64 and 128;
 * Z = 1, 2; (H, HK) = (1, 1), (2, 2), (2, 1), (3, 1), (4, 2), (4, 1); M and N
 * from 1 to 2047, M = N, M < N and M > N (rows that see nothing), ragged last
 * blocks; BM, BN = 16, 32, 64 and auto; masks full_mask, causal and
 * sliding_window (W from 0 to 1020, S from 0 to 20), each with and without its
 * key range, and both(a:, b:); the specialisations flash_fwd_causal and
 * flash_fwd_streaming at M = N = 30; q, k, v, o in [Z, M, H, D] memory order;
 * scale 2; 40 random shapes (M, N up to 80) with random masks.  Every launch is
 * also run at -O0 and must match bit for bit.
 *
 * Tested (common.tile): batch_head, kv_head, visible_keys, scores,
 * online_softmax_step and store_softmax_output, through flash_fwd as above
 * (test_lib_block_sparse.c through block_sparse_fwd).
 *
 * Tested (masks.tile): full_mask, causal, sliding_window, full_range,
 * causal_range, sliding_window_range and both(a:, b:) (nested, and with each
 * side alone deciding) through flash_fwd, as above. */
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

typedef struct fwd_case {
    ir_dtype T;
    int Z, H, HK, M, N, D;
    attn_mask mask;       /* the reference's mask */
    const char *consts;   /* mask / kv_range defines, "" for the defaults */
    int BM, BN;           /* 0: leave `auto` */
    double scale;         /* 0: 1/sqrt(D) */
    const char *kernel;   /* NULL: flash_fwd */
    const int *order;     /* memory order of q, k, v, o (NULL: row-major) */
} fwd_case;

/* The common case: default scale, kernel flash_fwd, row-major tensors. */
#define FWD(T, Z, H, HK, M, N, D, mask, consts, BM, BN) \
    {T, Z, H, HK, M, N, D, mask, consts, BM, BN, 0, NULL, NULL}

/* Runs c on fresh inputs from seed and checks it against the reference;
 * with o_out/lse_out, hands back O and LSE (freed by the caller). */
static bool run_case_out(const fwd_case *c, uint64_t seed, float **o_out, float **lse_out)
{
    if (o_out) *o_out = *lse_out = NULL;
    char defines[256];
    int n = snprintf(defines, sizeof defines, "T=%s,D=%d", ir_dtype_name(c->T), c->D);
    if (c->BM) n += snprintf(defines + n, sizeof defines - (size_t)n, ",BM=%d", c->BM);
    if (c->BN) n += snprintf(defines + n, sizeof defines - (size_t)n, ",BN=%d", c->BN);
    if (c->consts && *c->consts)
        snprintf(defines + n, sizeof defines - (size_t)n, ",%s", c->consts);
    const char *name = c->kernel ? c->kernel : "flash_fwd";
    th_kernel kern;
    if (!th_compile(&kern, "attention/flash_fwd.tile", name, defines)) return false;

    attn_dims d = {.Z = c->Z, .H = c->H, .HK = c->HK, .M = c->M, .N = c->N, .D = c->D};
    size_t nq = (size_t)d.Z * d.H * d.M * d.D, nk = (size_t)d.Z * d.HK * d.N * d.D;
    size_t nrows = (size_t)d.Z * d.H * d.M;
    th_rng rng = th_rng_new(seed);
    float *q = TH_NEW(float, nq), *k = TH_NEW(float, nk), *v = TH_NEW(float, nk);
    float *o = TH_NEW(float, nq), *lse = TH_NEW(float, nrows);
    th_fill(&rng, q, nq, -1, 1, c->T);
    th_fill(&rng, k, nk, -1, 1, c->T);
    th_fill(&rng, v, nk, -1, 1, c->T);
    double scale = c->scale ? c->scale : 1 / sqrt(c->D);

    th_tensor tq = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.M, d.D), c->order);
    th_tensor tk = th_tensor_new(c->T, TH_DIMS(d.Z, d.HK, d.N, d.D), c->order);
    th_tensor tv = th_tensor_new(c->T, TH_DIMS(d.Z, d.HK, d.N, d.D), c->order);
    th_tensor to = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.M, d.D), c->order);
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
        attn_ref_fwd(&d, q, k, v, (float)scale, &c->mask, ref_o, ref_lse);
        ok = th_check_attention(kern.label, &d, c->T, o, lse, ref_o, ref_lse) && ok;
        free(ref_o);
        free(ref_lse);
    }
    th_tensor_free(&tq), th_tensor_free(&tk), th_tensor_free(&tv);
    th_tensor_free(&to), th_tensor_free(&tl);
    free(q), free(k), free(v);
    if (o_out) *o_out = o, *lse_out = lse;
    else free(o), free(lse);
    th_kernel_free(&kern);
    return ok;
}

static bool run_case(const fwd_case *c, uint64_t seed) { return run_case_out(c, seed, NULL, NULL); }

static void run_cases(const fwd_case *cases, size_t n)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        if (!run_case(&cases[i], 1000 + i)) failed++;
    assert_int_equal(failed, 0);
}

#define RUN(cases) run_cases(cases, sizeof cases / sizeof cases[0])

static const attn_mask FULL = {.kind = ATTN_MASK_FULL};
static const attn_mask CAUSAL = {.kind = ATTN_MASK_CAUSAL};
#define CAUSAL_CONSTS "mask=causal,kv_range=causal_range"

static void test_full_f32(void **state)
{
    (void)state;
    const fwd_case cases[] = {
        FWD(IR_F32, 2, 2, 2, 37, 53, 64, FULL, "", 16, 16),
        FWD(IR_F32, 1, 2, 2, 53, 37, 64, FULL, "", 16, 32),
        /* scale 2: sharp softmax, the running max moves a lot */
        {IR_F32, 1, 1, 1, 40, 40, 64, FULL, "", 32, 16, 2.0, NULL, NULL},
    };
    RUN(cases);
}

static void test_causal_f32(void **state)
{
    (void)state;
    const fwd_case cases[] = {
        FWD(IR_F32, 1, 2, 2, 45, 45, 64, CAUSAL, CAUSAL_CONSTS, 16, 16),
        FWD(IR_F32, 1, 2, 2, 20, 45, 64, CAUSAL, CAUSAL_CONSTS, 16, 16),  /* M < N */
        FWD(IR_F32, 1, 2, 2, 45, 20, 64, CAUSAL, CAUSAL_CONSTS, 16, 16),  /* M > N: masked rows */
        FWD(IR_F32, 1, 2, 2, 45, 20, 64, CAUSAL, "mask=causal", 16, 16),  /* masking alone */
        FWD(IR_F32, 1, 2, 2, 33, 51, 64, CAUSAL, "mask=causal", 16, 32),
        {IR_F32, 1, 1, 1, 30, 30, 64, CAUSAL, NULL, 16, 16, 0, "flash_fwd_causal", NULL},
        {IR_F32, 1, 1, 1, 30, 30, 64, {ATTN_MASK_SLIDING, 1020, 4, NULL}, NULL, 16, 16, 0,
         "flash_fwd_streaming", NULL},
    };
    RUN(cases);
}

static void test_sliding_window_f32(void **state)
{
    (void)state;
    const attn_mask w8 = {.kind = ATTN_MASK_SLIDING, .window = 8};
    const attn_mask w8s3 = {.kind = ATTN_MASK_SLIDING, .window = 8, .sinks = 3};
    const attn_mask w5s2 = {.kind = ATTN_MASK_SLIDING, .window = 5, .sinks = 2};
    const attn_mask w20s18 = {.kind = ATTN_MASK_SLIDING, .window = 20, .sinks = 18};
    const attn_mask w0s2 = {.kind = ATTN_MASK_SLIDING, .window = 0, .sinks = 2};
    const attn_mask w18s1 = {.kind = ATTN_MASK_SLIDING, .window = 18, .sinks = 1};
    const attn_mask w1 = {.kind = ATTN_MASK_SLIDING, .window = 1};
    const fwd_case cases[] = {
        FWD(IR_F32, 1, 2, 2, 50, 50, 64, w8,
            "mask=sliding_window(W:8),kv_range=sliding_window_range(W:8)", 16, 16),
        FWD(IR_F32, 1, 2, 2, 50, 50, 64, w8s3,
         "mask=sliding_window(W:8,S:3),kv_range=sliding_window_range(W:8,S:3)", 16, 16),
        FWD(IR_F32, 1, 2, 2, 50, 50, 64, w8s3, "mask=sliding_window(W:8,S:3)", 16, 16),
        /* M > N: the first rows see nothing */
        FWD(IR_F32, 1, 2, 2, 40, 24, 64, w5s2,
         "mask=sliding_window(W:5,S:2),kv_range=sliding_window_range(W:5,S:2)", 16, 16),
        /* M < N, sinks spanning more than a block, window overlapping the sinks */
        FWD(IR_F32, 1, 2, 2, 23, 70, 64, w20s18,
         "mask=sliding_window(W:20,S:18),kv_range=sliding_window_range(W:20,S:18)", 16, 16),
        /* window starts exactly one key before a block boundary: off-by-one ranges show */
        FWD(IR_F32, 1, 2, 2, 50, 50, 64, w18s1,
            "mask=sliding_window(W:18,S:1),kv_range=sliding_window_range(W:18,S:1)", 16, 16),
        FWD(IR_F32, 1, 1, 1, 40, 40, 64, w1,
            "mask=sliding_window(W:1),kv_range=sliding_window_range(W:1)", 16, 16),
        /* no window at all: sinks only */
        FWD(IR_F32, 1, 1, 1, 30, 30, 64, w0s2,
         "mask=sliding_window(W:0,S:2),kv_range=sliding_window_range(W:0,S:2)", 16, 16),
    };
    RUN(cases);
}

static void test_length_one_f32(void **state)
{
    (void)state;
    const attn_mask w3 = {.kind = ATTN_MASK_SLIDING, .window = 3, .sinks = 1};
    const fwd_case cases[] = {
        FWD(IR_F32, 1, 2, 2, 1, 1, 64, FULL, "", 16, 16),
        FWD(IR_F32, 1, 2, 2, 1, 1, 64, CAUSAL, CAUSAL_CONSTS, 16, 16),
        FWD(IR_F32, 1, 2, 2, 1, 37, 64, CAUSAL, CAUSAL_CONSTS, 16, 16),
        FWD(IR_F32, 1, 2, 2, 37, 1, 64, CAUSAL, CAUSAL_CONSTS, 16, 16),  /* 36 masked rows */
        FWD(IR_F32, 1, 2, 2, 37, 1, 64, FULL, "", 16, 16),
        FWD(IR_F32, 1, 2, 2, 1, 37, 64, w3,
         "mask=sliding_window(W:3,S:1),kv_range=sliding_window_range(W:3,S:1)", 16, 16),
    };
    RUN(cases);
}

static void test_gqa_mqa_f32(void **state)
{
    (void)state;
    const fwd_case cases[] = {
        FWD(IR_F32, 2, 4, 2, 21, 19, 64, FULL, "", 16, 16),
        FWD(IR_F32, 1, 4, 2, 29, 29, 64, CAUSAL, CAUSAL_CONSTS, 16, 16),
        FWD(IR_F32, 1, 4, 1, 29, 35, 64, CAUSAL, CAUSAL_CONSTS, 16, 16),
        FWD(IR_F32, 2, 4, 1, 17, 9, 64, FULL, "", 16, 16),
    };
    RUN(cases);
}

static void test_head_dim_128_f32(void **state)
{
    (void)state;
    const fwd_case cases[] = {
        FWD(IR_F32, 1, 2, 1, 35, 41, 128, CAUSAL, CAUSAL_CONSTS, 16, 16),
        FWD(IR_F32, 1, 1, 1, 40, 70, 128, FULL, "", 0, 0), /* BM = BN = auto */
    };
    RUN(cases);
}

/* q, k, v, o stored as [Z, M, H, D] (the "BSHD" layout): only strides change. */
static void test_strided_layout_f32(void **state)
{
    (void)state;
    static const int bshd[] = {0, 2, 1, 3};
    const fwd_case cases[] = {
        {IR_F32, 2, 4, 2, 19, 27, 64, CAUSAL, CAUSAL_CONSTS, 16, 16, 0, NULL, bshd},
    };
    RUN(cases);
}

static void test_bf16(void **state)
{
    (void)state;
    const attn_mask w6s2 = {.kind = ATTN_MASK_SLIDING, .window = 6, .sinks = 2};
    const fwd_case cases[] = {
        FWD(IR_BF16, 1, 2, 2, 37, 53, 64, FULL, "", 16, 16),
        FWD(IR_BF16, 1, 4, 2, 45, 45, 64, CAUSAL, CAUSAL_CONSTS, 16, 16),
        FWD(IR_BF16, 1, 4, 1, 40, 24, 64, w6s2,
         "mask=sliding_window(W:6,S:2),kv_range=sliding_window_range(W:6,S:2)", 16, 16),
        FWD(IR_BF16, 1, 2, 1, 33, 33, 128, CAUSAL, CAUSAL_CONSTS, 32, 32),
        FWD(IR_BF16, 1, 2, 2, 1, 1, 64, CAUSAL, CAUSAL_CONSTS, 16, 16),
    };
    RUN(cases);
}

static void test_f16(void **state)
{
    (void)state;
    const fwd_case cases[] = {
        FWD(IR_F16, 1, 4, 2, 45, 38, 64, CAUSAL, CAUSAL_CONSTS, 16, 16),
        FWD(IR_F16, 1, 2, 1, 29, 50, 128, FULL, "", 32, 16),
    };
    RUN(cases);
}

/* A bigger problem with the compiler's block sizes, as a user would run it. */
static void test_larger_bf16(void **state)
{
    (void)state;
    const fwd_case cases[] = {
        FWD(IR_BF16, 2, 4, 2, 200, 230, 64, CAUSAL, CAUSAL_CONSTS, 0, 0),
        FWD(IR_BF16, 1, 4, 1, 150, 150, 128, FULL, "", 0, 0),
    };
    RUN(cases);
}

/* masks.tile's both(a:, b:): visible where both masks are.  Each pair is
 * one where the result equals one side only (a, then b), so a `both` that
 * returned either side alone, or their union, fails; nesting is an fn
 * calling an instance of itself. */
static void test_both_masks_f32(void **state)
{
    (void)state;
    const attn_mask w8s3 = {.kind = ATTN_MASK_SLIDING, .window = 8, .sinks = 3};
    const attn_mask w5s2 = {.kind = ATTN_MASK_SLIDING, .window = 5, .sinks = 2};
    const fwd_case cases[] = {
        FWD(IR_F32, 1, 2, 2, 50, 50, 64, w8s3,
            "mask=both(a:causal,b:sliding_window(W:8,S:3)),kv_range=sliding_window_range(W:8,S:3)",
            16, 16),
        FWD(IR_F32, 1, 2, 2, 40, 47, 64, w8s3, "mask=both(a:sliding_window(W:8,S:3),b:causal)", 16,
            16),
        FWD(IR_F32, 1, 2, 1, 45, 30, 64, CAUSAL, "mask=both(a:full_mask,b:causal)", 16, 16),
        FWD(IR_F32, 1, 2, 1, 30, 45, 64, CAUSAL, "mask=both(a:causal,b:full_mask)", 16, 16),
        FWD(IR_F32, 1, 1, 1, 37, 37, 64, w5s2,
            "mask=both(a:causal,b:both(a:full_mask,b:sliding_window(W:5,S:2)))", 16, 16),
    };
    RUN(cases);
}

/* Random shapes, masks and block sizes (fixed seed): whatever the unit cases
 * above did not think of. */
static void test_random_sweep_f32(void **state)
{
    (void)state;
    th_rng rng = th_rng_new(424242);
    static const int heads[][2] = {{1, 1}, {2, 2}, {4, 2}, {4, 1}, {3, 1}};
    int failed = 0;
    for (int i = 0; i < 40; i++) {
        char consts[160] = "";
        const int *hh = heads[th_rng_int(&rng, 5)];
        fwd_case c = {.T = IR_F32, .Z = 1 + th_rng_int(&rng, 2), .H = hh[0], .HK = hh[1],
                      .M = 1 + th_rng_int(&rng, 80), .N = 1 + th_rng_int(&rng, 80), .D = 64,
                      .BM = th_rng_int(&rng, 2) ? 16 : 32, .BN = th_rng_int(&rng, 2) ? 16 : 32,
                      .consts = consts};
        int kind = th_rng_int(&rng, 3), ranged = th_rng_int(&rng, 2);
        if (kind == 0) {
            c.mask = FULL;
        } else if (kind == 1) {
            c.mask = CAUSAL;
            snprintf(consts, sizeof consts, "%s", ranged ? CAUSAL_CONSTS : "mask=causal");
        } else {
            int w = th_rng_int(&rng, 40), sinks = th_rng_int(&rng, 3) ? th_rng_int(&rng, 20) : 0;
            c.mask = (attn_mask){.kind = ATTN_MASK_SLIDING, .window = w, .sinks = sinks};
            int n = snprintf(consts, sizeof consts, "mask=sliding_window(W:%d,S:%d)", w, sinks);
            if (ranged)
                snprintf(consts + n, sizeof consts - (size_t)n,
                         ",kv_range=sliding_window_range(W:%d,S:%d)", w, sinks);
        }
        if (!run_case(&c, 7000 + (uint64_t)i)) failed++;
    }
    assert_int_equal(failed, 0);
}

/* Long sequences: many key blocks per query block (the running max and sum
 * are rescaled dozens of times), ragged last blocks, both dtypes. */
static void test_long_sequences(void **state)
{
    (void)state;
    const attn_mask w100s4 = {.kind = ATTN_MASK_SLIDING, .window = 100, .sinks = 4};
    const fwd_case cases[] = {
        FWD(IR_F32, 1, 1, 1, 61, 2047, 64, FULL, "", 32, 64),
        FWD(IR_F32, 1, 2, 1, 517, 517, 128, CAUSAL, CAUSAL_CONSTS, 64, 64),
        FWD(IR_BF16, 1, 2, 2, 700, 1030, 64, CAUSAL, CAUSAL_CONSTS, 64, 32),
        FWD(IR_BF16, 1, 1, 1, 300, 1500, 64, w100s4,
            "mask=sliding_window(W:100,S:4),kv_range=sliding_window_range(W:100,S:4)", 32, 32),
    };
    RUN(cases);
}

/* What docs/language.md ("Numerics") says a NaN in K or V does to other
 * rows, with BM = BN = 8 and M = N = 16 (query block 0 never visits key
 * block 1 under causal_range): a NaN in V[12, 3] reaches column 3 of rows
 * 8..15 (rows 8..11 do not see key 12: 0 * NaN in P.V), not rows 0..7; a NaN
 * in K[12, 3] reaches only the rows that see key 12, all their columns. */
static void test_nan_in_k_or_v(void **state)
{
    (void)state;
    enum { M = 16, D = 16 };
    th_kernel kern;
    assert_true(th_compile(&kern, "attention/flash_fwd.tile", "flash_fwd_causal", "T=f32,D=16,BM=8,BN=8"));
    th_rng rng = th_rng_new(7);
    float q[M * D], k[M * D], v[M * D], o[M * D], lse[M];
    th_fill(&rng, q, M * D, -1, 1, IR_F32);
    th_fill(&rng, k, M * D, -1, 1, IR_F32);
    th_fill(&rng, v, M * D, -1, 1, IR_F32);
    for (int which = 0; which < 2; which++) {
        float kk[M * D], vv[M * D];
        memcpy(kk, k, sizeof kk);
        memcpy(vv, v, sizeof vv);
        (which ? kk : vv)[12 * D + 3] = NAN;
        th_tensor tq = th_tensor_new(IR_F32, TH_DIMS(1, 1, M, D), NULL);
        th_tensor tk = th_tensor_new(IR_F32, TH_DIMS(1, 1, M, D), NULL);
        th_tensor tv = th_tensor_new(IR_F32, TH_DIMS(1, 1, M, D), NULL);
        th_tensor to = th_tensor_new(IR_F32, TH_DIMS(1, 1, M, D), NULL);
        th_tensor tl = th_tensor_new(IR_F32, TH_DIMS(1, 1, M), NULL);
        th_tensor_set(&tq, q);
        th_tensor_set(&tk, kk);
        th_tensor_set(&tv, vv);
        const th_arg args[] = {TH_T("q", &tq), TH_T("k", &tk), TH_T("v", &tv), TH_T("o", &to),
                               TH_T("lse", &tl), TH_S("scale", 0.25)};
        assert_true(th_launch(&kern, args, 6));
        th_tensor_get(&to, o);
        th_tensor_get(&tl, lse);
        for (int i = 0; i < M; i++)
            for (int c = 0; c < D; c++) {
                bool nan_want = which == 0 ? i >= 8 && c == 3 : i >= 12;
                if (isnan(o[i * D + c]) != nan_want)
                    fail_msg("NaN in %s[12, 3]: o[%d, %d] = %g", which ? "K" : "V", i, c, (double)o[i * D + c]);
            }
        for (int i = 0; i < M; i++) assert_true(isnan(lse[i]) == (which == 1 && i >= 12));
        th_tensor_free(&tq);
        th_tensor_free(&tk);
        th_tensor_free(&tv);
        th_tensor_free(&to);
        th_tensor_free(&tl);
    }
    th_kernel_free(&kern);
}

/* The key loop derived from the mask (the default kv_range; full blocks
 * without mask arithmetic, partial ones with it, empty ones skipped) gives
 * bit for bit what a hand-written range (or the full range) gives: the same
 * blocks in the same ascending order, a skipped block being entirely
 * masked (finite V), and where(true, s, -inf) being s. */
static void test_derived_blocks_bit_identical(void **state)
{
    (void)state;
    enum { Z = 1, H = 2, M = 77, N = 93 };
    static uint8_t prefix_vis[Z * H * M * N];
    for (int h = 0; h < H; h++)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                prefix_vis[((size_t)h * M + i) * N + j] = j < 20 || j <= i + (N - M);
    const attn_mask prefix = {.kind = ATTN_MASK_EXPLICIT, .visible = prefix_vis};
    const attn_mask w9s3 = {.kind = ATTN_MASK_SLIDING, .window = 9, .sinks = 3};
    const attn_mask w40 = {.kind = ATTN_MASK_SLIDING, .window = 40, .sinks = 0};
    static const struct { const char *derived, *hand; } pairs[] = {
        {"mask=full_mask", "mask=full_mask,kv_range=full_range"},
        {"mask=causal", "mask=causal,kv_range=causal_range"},
        {"mask=causal", "mask=causal,kv_range=full_range"},
        {"mask=sliding_window(W:9,S:3)", "mask=sliding_window(W:9,S:3),kv_range=sliding_window_range(W:9,S:3)"},
        {"mask=sliding_window(W:40)", "mask=sliding_window(W:40),kv_range=full_range"},
        {"mask=prefix_lm(P:20)", "mask=prefix_lm(P:20),kv_range=full_range"},
    };
    const attn_mask *masks[] = {&FULL, &CAUSAL, &CAUSAL, &w9s3, &w40, &prefix};
    static const int blocks[][2] = {{16, 16}, {8, 32}, {32, 8}};
    int failed = 0;
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++)
        for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
            fwd_case c = FWD(IR_F32, Z, H, 1, M, N, 64, *masks[p], pairs[p].derived, blocks[b][0],
                             blocks[b][1]);
            fwd_case hand = c;
            hand.consts = pairs[p].hand;
            float *o1 = NULL, *l1 = NULL, *o2 = NULL, *l2 = NULL;
            uint64_t seed = 3100 + p * 10 + b;
            bool ok = run_case_out(&c, seed, &o1, &l1) & run_case_out(&hand, seed, &o2, &l2);
            size_t nq = (size_t)Z * H * M * 64, nr = (size_t)Z * H * M;
            if (!ok || memcmp(o1, o2, nq * sizeof *o1) != 0 || memcmp(l1, l2, nr * sizeof *l1) != 0) {
                fprintf(stderr, "%s vs %s (BM=%d, BN=%d): not bit-identical\n", pairs[p].derived,
                        pairs[p].hand, blocks[b][0], blocks[b][1]);
                failed++;
            }
            free(o1), free(l1), free(o2), free(l2);
        }
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_f32),
        cmocka_unit_test(test_causal_f32),
        cmocka_unit_test(test_sliding_window_f32),
        cmocka_unit_test(test_length_one_f32),
        cmocka_unit_test(test_gqa_mqa_f32),
        cmocka_unit_test(test_head_dim_128_f32),
        cmocka_unit_test(test_strided_layout_f32),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_long_sequences),
        cmocka_unit_test(test_f16),
        cmocka_unit_test(test_larger_bf16),
        cmocka_unit_test(test_random_sweep_f32),
        cmocka_unit_test(test_both_masks_f32),
        cmocka_unit_test(test_nan_in_k_or_v),
        cmocka_unit_test(test_derived_blocks_bit_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
