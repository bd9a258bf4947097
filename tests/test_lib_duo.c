/* test_lib_duo.c - lib/attention/duo.tile (per-head policies: DuoAttention's
 * retrieval and streaming heads) on the interpreter.
 *
 * duo_prefill against dense attention with the per-head explicit mask
 * (tests/ref/duo_ref.c + attn_ref_fwd): mixed policies, sinks and windows
 * inside and across blocks, odd lengths, length 1, M != N, GQA, bf16.
 * duo_decode_split + decode_combine against the naive paged-cache decode
 * under the same policies (duo_ref_decode), on a cache of shuffled pages;
 * when every head streams, the pages a streaming head must not read (wholly
 * between the sinks and the window) and the unused table entries hold NaN,
 * so reading one shows as NaN in the output.  Outputs are poisoned and every
 * launch is checked bit-identical at -O0 (harness).
 *
 * Tested (duo.tile): duo_prefill in f32 and bf16 against dense attention with
 * each head's explicit mask: mixed policies, all streaming and all retrieval
 * (causal); W = 0 (sinks only), 1 (the diagonal only), 8 to 40 and 200 (wider
 * than N); S = 0 to 20 (sinks spanning a block); (H, HK) = (2, 2), (3, 3), (4,
 * 4), (4, 2), (4, 1), (8, 2); Z = 1, 2; M = N = 1, 50 to 130, M < N (1/60,
 * 10/150, 16/97, 30/95, 45/53), M > N (70/31: rows that see nothing); BM = 16,
 * 32, BN = 8, 16, 32; with every head streaming, NaN keys between the sinks and
 * the window, which must not be read; O and LSE checked.  duo_decode_split then
 * decode.tile's decode_combine in f32 and bf16 against the naive paged-cache
 * decode under the same policies: D = 32, 64; PS = 4, 8, 16; NS = 1 to 5
 * splits; W = 0 to 24, S = 1 to 18 (sinks spanning a page); (H, HK) = (2, 2),
 * (4, 4), (4, 2), (2, 1), (4, 1); Z = 1 to 4; sequence lengths 0, 1 and 9 to
 * 150 on shuffled pages, NaN in the unused page and, with every head streaming,
 * in the pages between the sinks and the window; O and LSE checked.  Every
 * launch is also run at -O0 and must match bit for bit. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ref/attn_ref.h"
#include "ref/duo_ref.h"
#include "ref/harness.h"

enum { MAX_H = 8, MAX_Z = 4 };

/* ---- prefill ---------------------------------------------------------------------- */

typedef struct prefill_case {
    ir_dtype T;
    int Z, H, HK, M, N, D;
    int W, S;
    int BM, BN;
    int32_t streaming[MAX_H];
    bool poison_middle;   /* one query block, every head streams: NaN keys none may read */
} prefill_case;

/* With one block of query rows (M <= BM), the key blocks wholly after the
 * sink blocks and before the block of the first row's window start are
 * never needed by a streaming head; the kernel is given NaN there (the
 * reference gets the clean inputs). */
static float *poison_middle_keys(const prefill_case *c, const float *x)
{
    size_t nk = (size_t)c->Z * c->HK * c->N * c->D;
    float *p = TH_NEW(float, nk);
    for (size_t i = 0; i < nk; i++) p[i] = x[i];
    int sink_blocks = (c->S + c->BN - 1) / c->BN;
    int window_block = (c->N - c->M - c->W + 1) / c->BN;   /* floor for >= 0 */
    for (size_t r = 0; r < (size_t)c->Z * c->HK; r++)
        for (int j = 0; j < c->N; j++)
            if (j / c->BN >= sink_blocks && c->N - c->M - c->W + 1 >= 0 && j / c->BN < window_block)
                for (int e = 0; e < c->D; e++) p[(r * c->N + j) * c->D + e] = NAN;
    return p;
}

static bool run_prefill(const prefill_case *c, uint64_t seed)
{
    char defines[256];
    snprintf(defines, sizeof defines, "T=%s,D=%d,BM=%d,BN=%d,W=%d,S=%d", ir_dtype_name(c->T),
             c->D, c->BM, c->BN, c->W, c->S);
    th_kernel kern;
    if (!th_compile(&kern, "attention/duo.tile", "duo_prefill", defines)) return false;

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
    th_tensor ts = th_tensor_new(IR_I32, TH_DIMS(d.H), NULL);
    th_tensor to = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.M, d.D), NULL);
    th_tensor tl = th_tensor_new(IR_F32, TH_DIMS(d.Z, d.H, d.M), NULL);
    th_tensor_set(&tq, q);
    float *kp = c->poison_middle ? poison_middle_keys(c, k) : NULL;
    float *vp = c->poison_middle ? poison_middle_keys(c, v) : NULL;
    th_tensor_set(&tk, kp ? kp : k);
    th_tensor_set(&tv, vp ? vp : v);
    free(kp), free(vp);
    th_tensor_set_i32(&ts, c->streaming);
    bool ok = th_launch(&kern, (th_arg[]){TH_T("q", &tq), TH_T("k", &tk), TH_T("v", &tv),
                                          TH_T("streaming", &ts), TH_T("o", &to),
                                          TH_T("lse", &tl), TH_S("scale", scale)}, 7);
    if (ok) {
        th_tensor_get(&to, o);
        th_tensor_get(&tl, lse);
        uint8_t *visible = TH_NEW(uint8_t, nrows * (size_t)d.N);
        duo_ref_mask(&d, c->streaming, c->W, c->S, visible);
        const attn_mask mask = {.kind = ATTN_MASK_EXPLICIT, .visible = visible};
        double *ref_o = TH_NEW(double, nq), *ref_lse = TH_NEW(double, nrows);
        attn_ref_fwd(&d, q, k, v, (float)scale, &mask, ref_o, ref_lse);
        ok = th_check_attention(kern.label, &d, c->T, o, lse, ref_o, ref_lse);
        free(ref_o), free(ref_lse), free(visible);
    }
    th_tensor_free(&tq), th_tensor_free(&tk), th_tensor_free(&tv), th_tensor_free(&ts);
    th_tensor_free(&to), th_tensor_free(&tl);
    free(q), free(k), free(v), free(o), free(lse);
    th_kernel_free(&kern);
    return ok;
}

static void run_prefill_cases(const prefill_case *cases, size_t n)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        if (!run_prefill(&cases[i], 7000 + i)) failed++;
    assert_int_equal(failed, 0);
}

#define RUN_PREFILL(cases) run_prefill_cases(cases, sizeof cases / sizeof cases[0])

static void test_prefill_f32(void **state)
{
    (void)state;
    const prefill_case cases[] = {
        {IR_F32, 1, 4, 4, 100, 100, 32, 16, 4, 16, 16, {1, 0, 1, 0}, false},
        {IR_F32, 2, 2, 2, 90, 90, 32, 20, 18, 16, 16, {0, 1}, false},  /* sinks span a block */
        {IR_F32, 1, 3, 3, 77, 77, 32, 8, 1, 16, 32, {1, 1, 0}, false},
        {IR_F32, 1, 2, 2, 60, 60, 32, 0, 2, 16, 16, {1, 0}, false},    /* sinks only */
        {IR_F32, 1, 2, 2, 60, 60, 32, 1, 0, 16, 16, {1, 0}, false},    /* the diagonal only */
        {IR_F32, 1, 2, 2, 50, 50, 32, 200, 4, 16, 16, {1, 1}, false},  /* window wider than N */
        {IR_F32, 1, 2, 2, 50, 50, 32, 8, 3, 16, 16, {0, 0}, false},    /* all retrieval: causal */
    };
    RUN_PREFILL(cases);
}

static void test_prefill_lengths_f32(void **state)
{
    (void)state;
    const prefill_case cases[] = {
        {IR_F32, 1, 2, 2, 30, 95, 32, 12, 3, 16, 16, {1, 0}, false},   /* M < N */
        {IR_F32, 1, 2, 2, 70, 31, 32, 12, 3, 16, 16, {1, 0}, false},   /* M > N: rows see nothing */
        {IR_F32, 1, 2, 2, 1, 1, 32, 12, 3, 16, 16, {1, 0}, false},     /* length 1 */
        {IR_F32, 1, 2, 2, 1, 60, 32, 12, 3, 16, 16, {1, 0}, false},
    };
    RUN_PREFILL(cases);
}

/* A streaming head does not read the blocks between its sinks and its window. */
static void test_prefill_skips_middle_f32(void **state)
{
    (void)state;
    const prefill_case cases[] = {
        {IR_F32, 1, 2, 2, 10, 150, 32, 20, 4, 16, 16, {1, 1}, true},
        {IR_F32, 2, 4, 2, 16, 97, 32, 9, 20, 16, 8, {1, 1, 1, 1}, true},
    };
    RUN_PREFILL(cases);
}

static void test_prefill_gqa_bf16(void **state)
{
    (void)state;
    const prefill_case cases[] = {
        {IR_F32, 1, 8, 2, 67, 67, 32, 10, 4, 16, 16, {1, 0, 0, 1, 1, 1, 0, 0}, false},
        {IR_F32, 2, 4, 1, 45, 53, 32, 9, 2, 16, 16, {0, 1, 1, 0}, false},
        {IR_BF16, 1, 4, 2, 130, 130, 64, 40, 4, 32, 32, {1, 0, 1, 0}, false},
    };
    RUN_PREFILL(cases);
}

/* ---- decoding -------------------------------------------------------------------- */

typedef struct decode_case {
    ir_dtype T;
    int H, HK, D, PS, NS;
    int W, S;
    int Z;
    int seq_lens[MAX_Z];
    int32_t streaming[MAX_H];
    bool poison_middle;   /* every head streams: NaN in the pages none may read */
} decode_case;

/* Page p of a sequence of n keys lies wholly between the sinks and the window. */
static bool middle_page(int p, int PS, int n, int W, int S)
{
    return p * PS >= S && (p + 1) * PS <= n - W;
}

static bool run_decode(const decode_case *c, uint64_t seed)
{
    char def_split[160], def_combine[128];
    snprintf(def_split, sizeof def_split, "T=%s,D=%d,PS=%d,NS=%d,W=%d,S=%d", ir_dtype_name(c->T),
             c->D, c->PS, c->NS, c->W, c->S);
    snprintf(def_combine, sizeof def_combine, "T=%s,D=%d,S=%d", ir_dtype_name(c->T), c->D, c->NS);
    th_kernel split, combine;
    if (!th_compile(&split, "attention/duo.tile", "duo_decode_split", def_split)) return false;
    if (!th_compile(&combine, "attention/decode.tile", "decode_combine", def_combine)) {
        th_kernel_free(&split);
        return false;
    }

    th_rng rng = th_rng_new(seed);
    int Z = c->Z, H = c->H, HK = c->HK, D = c->D, PS = c->PS, NS = c->NS;
    int maxp = 1, used = 0;
    for (int z = 0; z < Z; z++) {
        int np = (c->seq_lens[z] + PS - 1) / PS;
        if (np > maxp) maxp = np;
        used += np;
    }
    int P = used + 2, unused = P - 1;        /* the last page: unused table entries */
    attn_paged_dims pd = {.Z = Z, .H = H, .HK = HK, .D = D, .P = P, .PS = PS, .MAXP = maxp};
    size_t page_elems = (size_t)PS * HK * D;
    size_t ncache = (size_t)P * page_elems, nq = (size_t)Z * H * D;
    float *q = TH_NEW(float, nq), *kc = TH_NEW(float, ncache), *vc = TH_NEW(float, ncache);
    th_fill(&rng, q, nq, -1, 1, c->T);
    th_fill(&rng, kc, ncache, -1, 1, c->T);
    th_fill(&rng, vc, ncache, -1, 1, c->T);

    int32_t *perm = TH_NEW(int32_t, P - 1), *table = TH_NEW(int32_t, Z * maxp), lens[MAX_Z];
    for (int i = 0; i < P - 1; i++) perm[i] = i;
    th_rng_shuffle(&rng, perm, P - 1);
    int next = 0;
    for (int z = 0; z < Z; z++) {
        lens[z] = c->seq_lens[z];
        int np = (lens[z] + PS - 1) / PS;
        for (int p = 0; p < maxp; p++) table[z * maxp + p] = p < np ? perm[next++] : unused;
    }
    /* Pages that must not be read hold NaN (the reference skips them too). */
    for (size_t i = (size_t)unused * page_elems; i < ncache; i++) kc[i] = vc[i] = NAN;
    for (int z = 0; c->poison_middle && z < Z; z++)
        for (int p = 0; p * PS < lens[z]; p++)
            if (middle_page(p, PS, lens[z], c->W, c->S))
                for (size_t i = 0; i < page_elems; i++)
                    kc[(size_t)table[z * maxp + p] * page_elems + i] =
                        vc[(size_t)table[z * maxp + p] * page_elems + i] = NAN;

    th_tensor tq = th_tensor_new(c->T, TH_DIMS(Z, H, D), NULL);
    th_tensor tk = th_tensor_new(c->T, TH_DIMS(P, PS, HK, D), NULL);
    th_tensor tv = th_tensor_new(c->T, TH_DIMS(P, PS, HK, D), NULL);
    th_tensor tbt = th_tensor_new(IR_I32, TH_DIMS(Z, maxp), NULL);
    th_tensor tlen = th_tensor_new(IR_I32, TH_DIMS(Z), NULL);
    th_tensor ts = th_tensor_new(IR_I32, TH_DIMS(H), NULL);
    th_tensor top = th_tensor_new(IR_F32, TH_DIMS(Z, H, NS, D), NULL);
    th_tensor tlp = th_tensor_new(IR_F32, TH_DIMS(Z, H, NS), NULL);
    th_tensor to = th_tensor_new(c->T, TH_DIMS(Z, H, D), NULL);
    th_tensor tl = th_tensor_new(IR_F32, TH_DIMS(Z, H), NULL);
    th_tensor_set(&tq, q);
    th_tensor_set(&tk, kc);
    th_tensor_set(&tv, vc);
    th_tensor_set_i32(&tbt, table);
    th_tensor_set_i32(&tlen, lens);
    th_tensor_set_i32(&ts, c->streaming);
    double scale = 1 / sqrt(D);

    bool ok = th_launch(&split, (th_arg[]){TH_T("q", &tq), TH_T("k_cache", &tk),
                                           TH_T("v_cache", &tv), TH_T("block_table", &tbt),
                                           TH_T("seq_lens", &tlen), TH_T("streaming", &ts),
                                           TH_T("o_part", &top), TH_T("lse_part", &tlp),
                                           TH_S("scale", scale)}, 9);
    ok = ok && th_launch(&combine, (th_arg[]){TH_T("o_part", &top), TH_T("lse_part", &tlp),
                                              TH_T("o", &to), TH_T("lse", &tl)}, 4);
    if (ok) {
        float *o = TH_NEW(float, nq), *lse = TH_NEW(float, Z * H);
        double *ref_o = TH_NEW(double, nq), *ref_lse = TH_NEW(double, Z * H);
        th_tensor_get(&to, o);
        th_tensor_get(&tl, lse);
        duo_ref_decode(&pd, q, kc, vc, table, lens, c->streaming, c->W, c->S, (float)scale, ref_o,
                       ref_lse);
        char what[256];
        snprintf(what, sizeof what, "%s Z=%d H=%d HK=%d: O", split.label, Z, H, HK);
        ok = th_check(what, o, ref_o, TH_DIMS(Z, H, D), th_rtol(c->T)) && ok;
        snprintf(what, sizeof what, "%s Z=%d H=%d HK=%d: LSE", split.label, Z, H, HK);
        ok = th_check(what, lse, ref_lse, TH_DIMS(Z, H), th_rtol(IR_F32)) && ok;
        ok = th_check_masked_rows(what, o, lse, ref_lse, (size_t)Z * H, (size_t)D) && ok;
        free(o), free(lse), free(ref_o), free(ref_lse);
    }
    th_tensor_free(&tq), th_tensor_free(&tk), th_tensor_free(&tv), th_tensor_free(&tbt);
    th_tensor_free(&tlen), th_tensor_free(&ts), th_tensor_free(&top), th_tensor_free(&tlp);
    th_tensor_free(&to), th_tensor_free(&tl);
    free(q), free(kc), free(vc), free(perm), free(table);
    th_kernel_free(&split), th_kernel_free(&combine);
    return ok;
}

static void run_decode_cases(const decode_case *cases, size_t n)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        if (!run_decode(&cases[i], 7100 + i)) failed++;
    assert_int_equal(failed, 0);
}

#define RUN_DECODE(cases) run_decode_cases(cases, sizeof cases / sizeof cases[0])

static void test_decode_mixed_f32(void **state)
{
    (void)state;
    const decode_case cases[] = {
        {IR_F32, 4, 4, 32, 8, 3, 12, 4, 3, {70, 33, 9}, {1, 0, 1, 0}, false},
        {IR_F32, 2, 2, 32, 4, 2, 5, 2, 4, {0, 1, 23, 40}, {0, 1}, false},  /* empty, 1 key */
        {IR_F32, 2, 2, 32, 16, 4, 20, 18, 2, {100, 17}, {1, 0}, false},    /* sinks span a page */
        {IR_F32, 2, 2, 32, 8, 2, 0, 3, 2, {29, 40}, {1, 0}, false},        /* W = 0: sinks only */
        {IR_F32, 4, 2, 32, 8, 3, 10, 4, 2, {61, 38}, {1, 1, 0, 1}, false}, /* GQA */
        {IR_F32, 4, 1, 32, 4, 5, 7, 1, 1, {45}, {0, 1, 1, 0}, false},      /* MQA, many splits */
    };
    RUN_DECODE(cases);
}

static void test_decode_reads_only_window_f32(void **state)
{
    (void)state;
    const decode_case cases[] = {
        {IR_F32, 2, 2, 32, 8, 3, 12, 4, 3, {90, 33, 64}, {1, 1}, true},
        {IR_F32, 4, 2, 32, 4, 2, 9, 3, 2, {57, 21}, {1, 1, 1, 1}, true},
        {IR_F32, 2, 1, 32, 8, 1, 16, 8, 1, {120}, {1, 1}, true},
    };
    RUN_DECODE(cases);
}

static void test_decode_bf16(void **state)
{
    (void)state;
    const decode_case cases[] = {
        {IR_BF16, 4, 2, 64, 16, 3, 24, 4, 2, {150, 31}, {1, 0, 0, 1}, false},
    };
    RUN_DECODE(cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefill_f32),
        cmocka_unit_test(test_prefill_lengths_f32),
        cmocka_unit_test(test_prefill_skips_middle_f32),
        cmocka_unit_test(test_prefill_gqa_bf16),
        cmocka_unit_test(test_decode_mixed_f32),
        cmocka_unit_test(test_decode_reads_only_window_f32),
        cmocka_unit_test(test_decode_bf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
