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
 * bit for bit.
 * The chunk-parallel chain based_chunk_state, based_state_scan,
 * based_chunk_out in f32 and bf16: the output against the naive sum and
 * against based_fwd with the same B, and the sums entering each chunk
 * (kv_in, ksum_in) against sums in double; F = 8, 16; E = 24 to 64 with BE
 * = 16, 32, 64 (a partial column tile at E = 24, BE = 16); (H, HK) = (1, 1),
 * (2, 2), (4, 2); N = 1, 11, 64 (a multiple of CH) and 45 to 150; CH = 16
 * to 64 (1 to 4 blocks a chunk); NC = 1 to 10 with U = 2, 3, 4 (NC a
 * multiple of U or not); B = BE = auto with CH = 64. */
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

/* ---- the chunk-parallel chain ------------------------------------------------ */
typedef struct chain_case {
    ir_dtype T;
    int Z, H, HK, N, F, E;
    int CH, B, BE, U;   /* B, BE = 0: leave `auto` */
} chain_case;

typedef struct chain_kernels {
    th_kernel state, scan, out, single;
} chain_kernels;

static bool compile_chain(chain_kernels *ks, const chain_case *c)
{
    char common[64], blocked[128], scan[64], single[96];
    snprintf(common, sizeof common, "T=%s,F=%d,E=%d", ir_dtype_name(c->T), c->F, c->E);
    int n = snprintf(blocked, sizeof blocked, "%s,CH=%d", common, c->CH);
    if (c->B) n += snprintf(blocked + n, sizeof blocked - (size_t)n, ",B=%d", c->B);
    if (c->BE) snprintf(blocked + n, sizeof blocked - (size_t)n, ",BE=%d", c->BE);
    snprintf(scan, sizeof scan, "E=%d,U=%d", c->E, c->U);
    n = snprintf(single, sizeof single, "%s", common);
    if (c->B) snprintf(single + n, sizeof single - (size_t)n, ",B=%d", c->B);
    *ks = (chain_kernels){0};
    return th_compile(&ks->state, "attention/based.tile", "based_chunk_state", blocked) &&
           th_compile(&ks->scan, "attention/based.tile", "based_state_scan", scan) &&
           th_compile(&ks->out, "attention/based.tile", "based_chunk_out", blocked) &&
           th_compile(&ks->single, "attention/based.tile", "based_fwd", single);
}

static void free_chain(chain_kernels *ks)
{
    th_kernel_free(&ks->state), th_kernel_free(&ks->scan);
    th_kernel_free(&ks->out), th_kernel_free(&ks->single);
}

/* The sums over the keys before chunk c, in double, by brute force: kv [Z,
 * HK, NC, P, E] (rows phi = 1, k, vec(k k^T), times v) and ksum [Z, HK, NC,
 * P] (phi). */
static void ref_chunk_sums(const chain_case *c, int NC, const float *k, const float *v,
                           double *kv, double *ksum)
{
    int F = c->F, E = c->E, P = 1 + F + F * F;
    double *phi = TH_NEW(double, P);
    for (int zh = 0; zh < c->Z * c->HK; zh++)
        for (int ch = 0; ch < NC; ch++) {
            double *kv_c = kv + ((size_t)zh * NC + ch) * P * E, *sum_c = ksum + ((size_t)zh * NC + ch) * P;
            for (size_t i = 0; i < (size_t)P * E; i++) kv_c[i] = 0;
            for (int r = 0; r < P; r++) sum_c[r] = 0;
            for (int t = 0; t < ch * c->CH; t++) {
                const float *kt = k + ((size_t)zh * c->N + t) * F, *vt = v + ((size_t)zh * c->N + t) * E;
                phi[0] = 1;
                for (int a = 0; a < F; a++) {
                    phi[1 + a] = kt[a];
                    for (int b = 0; b < F; b++) phi[1 + F + a * F + b] = (double)kt[a] * kt[b];
                }
                for (int r = 0; r < P; r++) {
                    sum_c[r] += phi[r];
                    for (int e = 0; e < E; e++) kv_c[(size_t)r * E + e] += phi[r] * vt[e];
                }
            }
        }
    free(phi);
}

typedef struct chain_data {
    int NC, P;
    float *q, *k, *v, *kv_in, *ksum_in, *o, *o_single;
} chain_data;

static bool check_chain(const chain_kernels *ks, const chain_case *c, const chain_data *x)
{
    based_dims d = {.Z = c->Z, .H = c->H, .HK = c->HK, .N = c->N, .F = c->F, .E = c->E};
    size_t no = (size_t)d.Z * d.H * d.N * d.E, nsum = (size_t)d.Z * d.HK * x->NC * x->P;
    char what[512];
    double *ref = TH_NEW(double, no);
    based_ref(&d, x->q, x->k, x->v, ref);
    snprintf(what, sizeof what, "%s Z=%d H=%d HK=%d N=%d: O", ks->out.label, d.Z, d.H, d.HK, d.N);
    bool ok = th_check(what, x->o, ref, TH_DIMS(d.Z, d.H, d.N, d.E), th_rtol(c->T));
    for (size_t i = 0; i < no; i++) ref[i] = x->o_single[i];
    snprintf(what, sizeof what, "%s Z=%d H=%d HK=%d N=%d: O vs %s", ks->out.label, d.Z, d.H, d.HK, d.N,
             ks->single.label);
    ok = th_check(what, x->o, ref, TH_DIMS(d.Z, d.H, d.N, d.E), th_rtol(c->T)) && ok;
    free(ref);

    double *kv = TH_NEW(double, nsum * d.E), *ksum = TH_NEW(double, nsum);
    ref_chunk_sums(c, x->NC, x->k, x->v, kv, ksum);
    snprintf(what, sizeof what, "%s Z=%d HK=%d N=%d: kv_in", ks->scan.label, d.Z, d.HK, d.N);
    ok = th_check(what, x->kv_in, kv, TH_DIMS(d.Z, d.HK, x->NC, x->P, d.E), th_rtol(c->T)) && ok;
    snprintf(what, sizeof what, "%s Z=%d HK=%d N=%d: ksum_in", ks->scan.label, d.Z, d.HK, d.N);
    ok = th_check(what, x->ksum_in, ksum, TH_DIMS(d.Z, d.HK, x->NC, x->P), th_rtol(c->T)) && ok;
    free(kv), free(ksum);
    return ok;
}

static bool launch_chain(chain_kernels *ks, const chain_case *c, chain_data *x)
{
    int Z = c->Z, H = c->H, HK = c->HK, N = c->N, F = c->F, E = c->E, NC = x->NC, P = x->P;
    th_tensor tq = th_tensor_new(c->T, TH_DIMS(Z, H, N, F), NULL);
    th_tensor tk = th_tensor_new(c->T, TH_DIMS(Z, HK, N, F), NULL);
    th_tensor tv = th_tensor_new(c->T, TH_DIMS(Z, HK, N, E), NULL);
    th_tensor tkv_chunk = th_tensor_new(IR_F32, TH_DIMS(Z, HK, NC, P, E), NULL);
    th_tensor tsum_chunk = th_tensor_new(IR_F32, TH_DIMS(Z, HK, NC, P), NULL);
    th_tensor tkv_in = th_tensor_new(IR_F32, TH_DIMS(Z, HK, NC, P, E), NULL);
    th_tensor tsum_in = th_tensor_new(IR_F32, TH_DIMS(Z, HK, NC, P), NULL);
    th_tensor to = th_tensor_new(c->T, TH_DIMS(Z, H, N, E), NULL);
    th_tensor tsingle = th_tensor_new(c->T, TH_DIMS(Z, H, N, E), NULL);
    th_tensor_set(&tq, x->q);
    th_tensor_set(&tk, x->k);
    th_tensor_set(&tv, x->v);
    bool ok = th_launch(&ks->state, (th_arg[]){TH_T("k", &tk), TH_T("v", &tv), TH_T("kv_chunk", &tkv_chunk),
                                               TH_T("ksum_chunk", &tsum_chunk)}, 4) &&
              th_launch(&ks->scan, (th_arg[]){TH_T("kv_chunk", &tkv_chunk), TH_T("ksum_chunk", &tsum_chunk),
                                              TH_T("kv_in", &tkv_in), TH_T("ksum_in", &tsum_in)}, 4) &&
              th_launch(&ks->out, (th_arg[]){TH_T("q", &tq), TH_T("k", &tk), TH_T("v", &tv),
                                             TH_T("kv_in", &tkv_in), TH_T("ksum_in", &tsum_in),
                                             TH_T("o", &to)}, 6) &&
              th_launch(&ks->single, (th_arg[]){TH_T("q", &tq), TH_T("k", &tk), TH_T("v", &tv),
                                                TH_T("o", &tsingle)}, 4);
    if (ok) {
        th_tensor_get(&tkv_in, x->kv_in);
        th_tensor_get(&tsum_in, x->ksum_in);
        th_tensor_get(&to, x->o);
        th_tensor_get(&tsingle, x->o_single);
    }
    th_tensor_free(&tq), th_tensor_free(&tk), th_tensor_free(&tv);
    th_tensor_free(&tkv_chunk), th_tensor_free(&tsum_chunk), th_tensor_free(&tkv_in);
    th_tensor_free(&tsum_in), th_tensor_free(&to), th_tensor_free(&tsingle);
    return ok;
}

static bool run_chain(const chain_case *c, uint64_t seed)
{
    chain_kernels ks;
    if (!compile_chain(&ks, c)) {
        free_chain(&ks);
        return false;
    }
    chain_data x = {.NC = (c->N + c->CH - 1) / c->CH, .P = 1 + c->F + c->F * c->F};
    size_t nq = (size_t)c->Z * c->H * c->N * c->F, nk = (size_t)c->Z * c->HK * c->N * c->F;
    size_t nv = (size_t)c->Z * c->HK * c->N * c->E, no = (size_t)c->Z * c->H * c->N * c->E;
    size_t nsum = (size_t)c->Z * c->HK * x.NC * x.P;
    x.q = TH_NEW(float, nq), x.k = TH_NEW(float, nk), x.v = TH_NEW(float, nv);
    x.kv_in = TH_NEW(float, nsum * c->E), x.ksum_in = TH_NEW(float, nsum);
    x.o = TH_NEW(float, no), x.o_single = TH_NEW(float, no);
    th_rng rng = th_rng_new(seed);
    th_fill(&rng, x.q, nq, -0.5, 0.5, c->T);
    th_fill(&rng, x.k, nk, -0.5, 0.5, c->T);
    th_fill(&rng, x.v, nv, -1, 1, c->T);
    bool ok = launch_chain(&ks, c, &x) && check_chain(&ks, c, &x);
    free(x.q), free(x.k), free(x.v), free(x.kv_in), free(x.ksum_in), free(x.o), free(x.o_single);
    free_chain(&ks);
    return ok;
}

static void run_chain_cases(const chain_case *cases, size_t n)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        if (!run_chain(&cases[i], 5200 + i)) failed++;
    assert_int_equal(failed, 0);
}

#define RUN_CHAIN(cases) run_chain_cases(cases, sizeof cases / sizeof cases[0])

static void test_chain_f32(void **state)
{
    (void)state;
    const chain_case cases[] = {
        {IR_F32, 1, 2, 2, 45, 16, 32, 16, 16, 32, 2},     /* NC = 3, not a multiple of U */
        {IR_F32, 1, 4, 2, 100, 16, 24, 32, 16, 16, 4},    /* GQA; 2 column tiles, one partial */
        {IR_F32, 2, 1, 1, 64, 8, 32, 16, 8, 32, 4},       /* F = 8; N = NC CH = U CH */
        {IR_F32, 1, 2, 2, 150, 16, 32, 16, 16, 16, 3},    /* NC = 10: 4 groups */
        {IR_F32, 1, 1, 1, 70, 16, 64, 64, 16, 64, 2},     /* 4 blocks a chunk */
    };
    RUN_CHAIN(cases);
}

static void test_chain_short(void **state)
{
    (void)state;
    const chain_case cases[] = {
        {IR_F32, 1, 2, 2, 1, 16, 32, 16, 16, 32, 2},      /* N = 1 */
        {IR_F32, 1, 2, 1, 11, 16, 32, 32, 16, 16, 2},     /* N < CH */
        {IR_F32, 1, 1, 1, 150, 16, 32, 64, 0, 0, 2},      /* B, BE = auto */
    };
    RUN_CHAIN(cases);
}

static void test_chain_bf16(void **state)
{
    (void)state;
    const chain_case cases[] = {
        {IR_BF16, 1, 4, 2, 77, 16, 64, 32, 16, 32, 3},
    };
    RUN_CHAIN(cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_based_f32),
        cmocka_unit_test(test_based_short_f32),
        cmocka_unit_test(test_based_gqa_f32),
        cmocka_unit_test(test_based_bf16),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_chain_f32),
        cmocka_unit_test(test_chain_short),
        cmocka_unit_test(test_chain_bf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
