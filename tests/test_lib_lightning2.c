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
 * bf16 with (D, E) = (64, 128).
 * The chunk-parallel chain lightning2_chunk_state, lightning2_state_scan,
 * lightning2_chunk_out (f32, bf16): the output against the naive sum and
 * against lightning2 with the same B, and the states entering each chunk
 * (kv_in) against a recurrence in double; N = 1, 11, 45 to 300 (N a multiple
 * of CH, not a multiple, shorter than one chunk); CH = B (16) and CH = 2B,
 * 4B; NC from 1 to 19 with U = 2, 3, 4 and 8 (NC a multiple of U or not);
 * BE = 16, 32, 64 (one to four column tiles, E = 40 a partial one);
 * B = BE = auto with CH = 64; decays 1.0 (none), 0.99 to 0.5, 0.05 and
 * 0.001; Z = 1, 2; H = 1 to 3; (D, E) = (64, 64), (32, 48), (32, 40),
 * (64, 128), (16, 32).
 * The block-state chain lightning2_block_states, lightning2_block_out (f32,
 * bf16): the output against the naive sum and against lightning2 at the
 * same B, and the states entering each block (h_in) against the recurrence
 * in double; N = 1, 11 (< B), 45 to 150; B = 16, 32; BD = 16 to 64 and
 * BE = 16 to 64 (one to three tiles each way, D = 48 and E = 40 partial
 * ones), BD = BE = auto; decays 1.0 to 0.001; Z = 1, 2; H = 1 to 3. */
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

/* ---- the chunk-parallel chain ------------------------------------------------ */
typedef struct chain_case {
    ir_dtype T;
    int Z, H, N, D, E;
    int CH, B, BE, U;       /* B, BE = 0: leave `auto` */
    float decay[MAX_H];
} chain_case;

typedef struct chain_kernels {
    th_kernel state, scan, out, single;
} chain_kernels;

static bool compile_chain(chain_kernels *ks, const chain_case *c)
{
    char common[96], blocked[128], scan[96];
    snprintf(common, sizeof common, "T=%s,D=%d,E=%d", ir_dtype_name(c->T), c->D, c->E);
    int n = snprintf(blocked, sizeof blocked, "%s,CH=%d", common, c->CH);
    if (c->B) n += snprintf(blocked + n, sizeof blocked - (size_t)n, ",B=%d", c->B);
    if (c->BE) snprintf(blocked + n, sizeof blocked - (size_t)n, ",BE=%d", c->BE);
    snprintf(scan, sizeof scan, "D=%d,E=%d,CH=%d,U=%d", c->D, c->E, c->CH, c->U);
    char single[128];
    n = snprintf(single, sizeof single, "%s", common);
    if (c->B) snprintf(single + n, sizeof single - (size_t)n, ",B=%d", c->B);
    *ks = (chain_kernels){0};
    return th_compile(&ks->state, "attention/lightning2.tile", "lightning2_chunk_state", blocked) &&
           th_compile(&ks->scan, "attention/lightning2.tile", "lightning2_state_scan", scan) &&
           th_compile(&ks->out, "attention/lightning2.tile", "lightning2_chunk_out", blocked) &&
           th_compile(&ks->single, "attention/lightning2.tile", "lightning2", single);
}

static void free_chain(chain_kernels *ks)
{
    th_kernel_free(&ks->state), th_kernel_free(&ks->scan);
    th_kernel_free(&ks->out), th_kernel_free(&ks->single);
}

/* The state entering chunk c, sum_{t < c CH} decay^(c CH - 1 - t) k_t^T v_t,
 * by the token recurrence S = decay S + k_t^T v_t in double: [Z, H, NC, D, E]. */
static void ref_chunk_states(const chain_case *c, int NC, const float *k, const float *v,
                             double *states)
{
    size_t de = (size_t)c->D * c->E;
    double *s = TH_NEW(double, de);
    for (int zh = 0; zh < c->Z * c->H; zh++) {
        double lambda = c->decay[zh % c->H];
        for (size_t i = 0; i < de; i++) s[i] = 0;
        for (int t = 0; t <= c->N; t++) {
            if (t % c->CH == 0 && t / c->CH < NC)
                for (size_t i = 0; i < de; i++) states[((size_t)zh * NC + t / c->CH) * de + i] = s[i];
            if (t == c->N) break;
            const float *kt = k + ((size_t)zh * c->N + t) * c->D;
            const float *vt = v + ((size_t)zh * c->N + t) * c->E;
            for (int a = 0; a < c->D; a++)
                for (int b = 0; b < c->E; b++)
                    s[(size_t)a * c->E + b] = lambda * s[(size_t)a * c->E + b] + (double)kt[a] * vt[b];
        }
    }
    free(s);
}

static bool check_chain(const chain_kernels *ks, const chain_case *c, int NC, const float *k,
                        const float *v, const float *kv_in, const float *o, const float *o_single,
                        const double *ref)
{
    lightning_dims d = {.Z = c->Z, .H = c->H, .N = c->N, .D = c->D, .E = c->E};
    size_t nv = (size_t)d.Z * d.H * d.N * d.E, ns = (size_t)d.Z * d.H * NC * d.D * d.E;
    char what[512];
    snprintf(what, sizeof what, "%s Z=%d H=%d N=%d: O", ks->out.label, d.Z, d.H, d.N);
    bool ok = th_check(what, o, ref, TH_DIMS(d.Z, d.H, d.N, d.E), th_rtol(c->T));

    double *ref_states = TH_NEW(double, ns);
    ref_chunk_states(c, NC, k, v, ref_states);
    snprintf(what, sizeof what, "%s Z=%d H=%d N=%d: kv_in", ks->scan.label, d.Z, d.H, d.N);
    ok = th_check(what, kv_in, ref_states, TH_DIMS(d.Z, d.H, NC, d.D, d.E), th_rtol(c->T)) && ok;
    free(ref_states);

    /* the chain and the single launch differ in the order of f32 sums and
     * in which operand takes the decay before rounding to T (v, not k) */
    double *single = TH_NEW(double, nv);
    for (size_t i = 0; i < nv; i++) single[i] = o_single[i];
    snprintf(what, sizeof what, "%s Z=%d H=%d N=%d: O vs %s", ks->out.label, d.Z, d.H, d.N,
             ks->single.label);
    ok = th_check(what, o, single, TH_DIMS(d.Z, d.H, d.N, d.E), th_rtol(c->T)) && ok;
    free(single);
    return ok;
}

static bool run_chain_case(const chain_case *c, uint64_t seed)
{
    chain_kernels ks;
    if (!compile_chain(&ks, c)) {
        free_chain(&ks);
        return false;
    }
    lightning_dims d = {.Z = c->Z, .H = c->H, .N = c->N, .D = c->D, .E = c->E};
    int NC = (c->N + c->CH - 1) / c->CH;
    size_t nqk = (size_t)d.Z * d.H * d.N * d.D, nv = (size_t)d.Z * d.H * d.N * d.E;
    size_t ns = (size_t)d.Z * d.H * NC * d.D * d.E;
    th_rng rng = th_rng_new(seed);
    float *q = TH_NEW(float, nqk), *k = TH_NEW(float, nqk), *v = TH_NEW(float, nv);
    float *o = TH_NEW(float, nv), *o_single = TH_NEW(float, nv), *kv_in = TH_NEW(float, ns);
    th_fill(&rng, q, nqk, -1, 1, c->T);
    th_fill(&rng, k, nqk, -1, 1, c->T);
    th_fill(&rng, v, nv, -1, 1, c->T);

    th_tensor tq = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.N, d.D), NULL);
    th_tensor tk = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.N, d.D), NULL);
    th_tensor tv = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.N, d.E), NULL);
    th_tensor tdecay = th_tensor_new(IR_F32, TH_DIMS(d.H), NULL);
    th_tensor tchunk = th_tensor_new(IR_F32, TH_DIMS(d.Z, d.H, NC, d.D, d.E), NULL);
    th_tensor tin = th_tensor_new(IR_F32, TH_DIMS(d.Z, d.H, NC, d.D, d.E), NULL);
    th_tensor to = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.N, d.E), NULL);
    th_tensor tsingle = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.N, d.E), NULL);
    th_tensor_set(&tq, q);
    th_tensor_set(&tk, k);
    th_tensor_set(&tv, v);
    th_tensor_set(&tdecay, c->decay);
    bool ok = th_launch(&ks.state, (th_arg[]){TH_T("k", &tk), TH_T("v", &tv), TH_T("decay", &tdecay),
                                              TH_T("kv_chunk", &tchunk)}, 4) &&
              th_launch(&ks.scan, (th_arg[]){TH_T("kv_chunk", &tchunk), TH_T("decay", &tdecay),
                                             TH_T("kv_in", &tin)}, 3) &&
              th_launch(&ks.out, (th_arg[]){TH_T("q", &tq), TH_T("k", &tk), TH_T("v", &tv),
                                            TH_T("decay", &tdecay), TH_T("kv_in", &tin),
                                            TH_T("o", &to)}, 6) &&
              th_launch(&ks.single, (th_arg[]){TH_T("q", &tq), TH_T("k", &tk), TH_T("v", &tv),
                                               TH_T("decay", &tdecay), TH_T("o", &tsingle)}, 5);
    if (ok) {
        th_tensor_get(&to, o);
        th_tensor_get(&tsingle, o_single);
        th_tensor_get(&tin, kv_in);
        double *ref = TH_NEW(double, nv);
        attn_ref_lightning(&d, q, k, v, c->decay, ref);
        ok = check_chain(&ks, c, NC, k, v, kv_in, o, o_single, ref);
        free(ref);
    }
    th_tensor_free(&tq), th_tensor_free(&tk), th_tensor_free(&tv), th_tensor_free(&tdecay);
    th_tensor_free(&tchunk), th_tensor_free(&tin), th_tensor_free(&to), th_tensor_free(&tsingle);
    free(q), free(k), free(v), free(o), free(o_single), free(kv_in);
    free_chain(&ks);
    return ok;
}

static void run_chain_cases(const chain_case *cases, size_t n)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        if (!run_chain_case(&cases[i], 5000 + i)) failed++;
    assert_int_equal(failed, 0);
}

#define RUN_CHAIN(cases) run_chain_cases(cases, sizeof cases / sizeof cases[0])

static void test_chain_f32(void **state)
{
    (void)state;
    const chain_case cases[] = {
        {IR_F32, 1, 3, 45, 64, 64, 16, 16, 64, 2, {1.0f, 0.9f, 0.5f}},     /* NC = 3, not a multiple of U */
        {IR_F32, 2, 2, 100, 32, 48, 32, 16, 16, 4, {0.99f, 1.0f}},         /* 2 blocks a chunk, 3 column tiles */
        {IR_F32, 1, 1, 128, 32, 40, 32, 16, 32, 4, {0.8f}},                /* N = CH U; E not a multiple of BE */
        {IR_F32, 1, 2, 300, 16, 32, 16, 16, 32, 8, {0.97f, 1.0f}},         /* NC = 19: three groups */
        {IR_F32, 1, 2, 70, 32, 32, 64, 16, 16, 3, {0.05f, 0.001f}},        /* strong decay; 4 blocks a chunk */
    };
    RUN_CHAIN(cases);
}

static void test_chain_short(void **state)
{
    (void)state;
    const chain_case cases[] = {
        {IR_F32, 1, 2, 1, 64, 64, 16, 16, 32, 2, {1.0f, 0.5f}},            /* N = 1 */
        {IR_F32, 1, 2, 11, 64, 64, 32, 16, 64, 2, {1.0f, 0.5f}},           /* N < CH */
        {IR_F32, 1, 1, 150, 32, 32, 64, 0, 0, 2, {0.97f}},                 /* B, BE = auto */
    };
    RUN_CHAIN(cases);
}

static void test_chain_bf16(void **state)
{
    (void)state;
    const chain_case cases[] = {
        {IR_BF16, 1, 2, 77, 64, 128, 32, 16, 64, 3, {0.95f, 1.0f}},
        {IR_BF16, 2, 1, 50, 64, 64, 16, 16, 32, 2, {0.9f}},
    };
    RUN_CHAIN(cases);
}

/* ---- the block-state chain ------------------------------------------------- */
typedef struct blocks_case {
    ir_dtype T;
    int Z, H, N, D, E;
    int B, BD, BE;          /* BD, BE = 0: leave `auto` */
    float decay[MAX_H];
} blocks_case;

static bool compile_blocks(th_kernel *states, th_kernel *out, th_kernel *single, const blocks_case *c)
{
    char common[96], st[160], ou[128];
    snprintf(common, sizeof common, "T=%s,D=%d,E=%d,B=%d", ir_dtype_name(c->T), c->D, c->E, c->B);
    int n = snprintf(st, sizeof st, "%s", common);
    if (c->BD) n += snprintf(st + n, sizeof st - (size_t)n, ",BD=%d", c->BD);
    if (c->BE) snprintf(st + n, sizeof st - (size_t)n, ",BE=%d", c->BE);
    n = snprintf(ou, sizeof ou, "%s", common);
    if (c->BE) snprintf(ou + n, sizeof ou - (size_t)n, ",BE=%d", c->BE);
    *states = *out = *single = (th_kernel){0};
    return th_compile(states, "attention/lightning2.tile", "lightning2_block_states", st) &&
           th_compile(out, "attention/lightning2.tile", "lightning2_block_out", ou) &&
           th_compile(single, "attention/lightning2.tile", "lightning2", common);
}

/* O against the naive sum and against lightning2 at the same B (the same
 * roundings: both multiply by the state rounded to T, both fold the decay
 * before rounding, lightning2 into k and this chain into v); the states
 * entering each block against the token recurrence in double. */
static bool check_blocks(const blocks_case *c, const char *label, int NB, const float *k, const float *v,
                         const float *h_in, const float *o, const float *o_single, const double *ref)
{
    size_t nv = (size_t)c->Z * c->H * c->N * c->E, ns = (size_t)c->Z * c->H * NB * c->D * c->E;
    char what[512];
    snprintf(what, sizeof what, "%s Z=%d H=%d N=%d: O", label, c->Z, c->H, c->N);
    bool ok = th_check(what, o, ref, TH_DIMS(c->Z, c->H, c->N, c->E), th_rtol(c->T));
    chain_case cc = {.T = c->T, .Z = c->Z, .H = c->H, .N = c->N, .D = c->D, .E = c->E, .CH = c->B};
    memcpy(cc.decay, c->decay, sizeof cc.decay);
    double *ref_states = TH_NEW(double, ns);
    ref_chunk_states(&cc, NB, k, v, ref_states);
    snprintf(what, sizeof what, "%s Z=%d H=%d N=%d: h_in", label, c->Z, c->H, c->N);
    ok = th_check(what, h_in, ref_states, TH_DIMS(c->Z, c->H, NB, c->D, c->E), th_rtol(c->T)) && ok;
    free(ref_states);
    double *single = TH_NEW(double, nv);
    for (size_t i = 0; i < nv; i++) single[i] = o_single[i];
    snprintf(what, sizeof what, "%s Z=%d H=%d N=%d: O vs lightning2", label, c->Z, c->H, c->N);
    ok = th_check(what, o, single, TH_DIMS(c->Z, c->H, c->N, c->E), th_rtol(c->T)) && ok;
    free(single);
    return ok;
}

static bool run_blocks_case(const blocks_case *c, uint64_t seed)
{
    th_kernel ks, ko, k1;
    bool ok = compile_blocks(&ks, &ko, &k1, c);
    int NB = (c->N + c->B - 1) / c->B;
    size_t nqk = (size_t)c->Z * c->H * c->N * c->D, nv = (size_t)c->Z * c->H * c->N * c->E;
    size_t ns = (size_t)c->Z * c->H * NB * c->D * c->E;
    th_rng rng = th_rng_new(seed);
    float *q = TH_NEW(float, nqk), *k = TH_NEW(float, nqk), *v = TH_NEW(float, nv);
    float *o = TH_NEW(float, nv), *o_single = TH_NEW(float, nv), *h_in = TH_NEW(float, ns);
    th_fill(&rng, q, nqk, -1, 1, c->T);
    th_fill(&rng, k, nqk, -1, 1, c->T);
    th_fill(&rng, v, nv, -1, 1, c->T);
    th_tensor tq = th_tensor_new(c->T, TH_DIMS(c->Z, c->H, c->N, c->D), NULL);
    th_tensor tk = th_tensor_new(c->T, TH_DIMS(c->Z, c->H, c->N, c->D), NULL);
    th_tensor tv = th_tensor_new(c->T, TH_DIMS(c->Z, c->H, c->N, c->E), NULL);
    th_tensor tdecay = th_tensor_new(IR_F32, TH_DIMS(c->H), NULL);
    th_tensor th = th_tensor_new(c->T, TH_DIMS(c->Z, c->H, NB, c->D, c->E), NULL);
    th_tensor to = th_tensor_new(c->T, TH_DIMS(c->Z, c->H, c->N, c->E), NULL);
    th_tensor tsingle = th_tensor_new(c->T, TH_DIMS(c->Z, c->H, c->N, c->E), NULL);
    th_tensor_set(&tq, q);
    th_tensor_set(&tk, k);
    th_tensor_set(&tv, v);
    th_tensor_set(&tdecay, c->decay);
    ok = ok &&
         th_launch(&ks, (th_arg[]){TH_T("k", &tk), TH_T("v", &tv), TH_T("decay", &tdecay), TH_T("h_in", &th)}, 4) &&
         th_launch(&ko, (th_arg[]){TH_T("q", &tq), TH_T("k", &tk), TH_T("v", &tv), TH_T("decay", &tdecay),
                                   TH_T("h_in", &th), TH_T("o", &to)}, 6) &&
         th_launch(&k1, (th_arg[]){TH_T("q", &tq), TH_T("k", &tk), TH_T("v", &tv), TH_T("decay", &tdecay),
                                   TH_T("o", &tsingle)}, 5);
    if (ok) {
        th_tensor_get(&to, o);
        th_tensor_get(&tsingle, o_single);
        th_tensor_get(&th, h_in);
        double *ref = TH_NEW(double, nv);
        lightning_dims d = {.Z = c->Z, .H = c->H, .N = c->N, .D = c->D, .E = c->E};
        attn_ref_lightning(&d, q, k, v, c->decay, ref);
        ok = check_blocks(c, ko.label, NB, k, v, h_in, o, o_single, ref);
        free(ref);
    }
    th_tensor_free(&tq), th_tensor_free(&tk), th_tensor_free(&tv), th_tensor_free(&tdecay);
    th_tensor_free(&th), th_tensor_free(&to), th_tensor_free(&tsingle);
    free(q), free(k), free(v), free(o), free(o_single), free(h_in);
    th_kernel_free(&ks), th_kernel_free(&ko), th_kernel_free(&k1);
    return ok;
}

static void run_blocks_cases(const blocks_case *cases, size_t n)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        if (!run_blocks_case(&cases[i], 6000 + i)) failed++;
    assert_int_equal(failed, 0);
}

#define RUN_BLOCKS(cases) run_blocks_cases(cases, sizeof cases / sizeof cases[0])

static void test_blocks_f32(void **state)
{
    (void)state;
    const blocks_case cases[] = {
        {IR_F32, 1, 3, 45, 64, 64, 16, 64, 64, {1.0f, 0.9f, 0.5f}},      /* N not a multiple of B */
        {IR_F32, 2, 2, 100, 32, 48, 16, 16, 16, {0.99f, 1.0f}},          /* 2 x 3 state tiles a head */
        {IR_F32, 1, 1, 128, 48, 40, 32, 32, 32, {0.8f}},                 /* partial row and column tiles */
        {IR_F32, 1, 2, 70, 32, 32, 16, 32, 16, {0.05f, 0.001f}},         /* strong decay */
    };
    RUN_BLOCKS(cases);
}

static void test_blocks_short(void **state)
{
    (void)state;
    const blocks_case cases[] = {
        {IR_F32, 1, 2, 1, 64, 64, 16, 32, 32, {1.0f, 0.5f}},             /* N = 1 */
        {IR_F32, 1, 2, 11, 64, 64, 16, 64, 16, {1.0f, 0.5f}},            /* N < B */
        {IR_F32, 1, 1, 150, 32, 32, 32, 0, 0, {0.97f}},                  /* BD, BE = auto */
    };
    RUN_BLOCKS(cases);
}

static void test_blocks_bf16(void **state)
{
    (void)state;
    const blocks_case cases[] = {
        {IR_BF16, 1, 2, 77, 64, 128, 16, 32, 64, {0.95f, 1.0f}},
        {IR_BF16, 2, 1, 50, 64, 64, 32, 64, 32, {0.9f}},
    };
    RUN_BLOCKS(cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decays_f32),
        cmocka_unit_test(test_value_dim_f32),
        cmocka_unit_test(test_short_f32),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_chain_f32),
        cmocka_unit_test(test_chain_short),
        cmocka_unit_test(test_chain_bf16),
        cmocka_unit_test(test_blocks_f32),
        cmocka_unit_test(test_blocks_short),
        cmocka_unit_test(test_blocks_bf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
