/* test_lib_decode.c - lib/attention/decode.tile (split-KV decoding over a
 * paged KV cache) on the interpreter against the naive reference.
 *
 * Each case builds a cache of shuffled pages (a sequence's pages are neither
 * contiguous nor in order), block-table entries past a sequence's pages
 * point at a poison page (huge values) so reading one would show, runs
 * decode_split then decode_combine, and compares O and LSE with
 * attn_ref_decode.  Sequence lengths include 0 and 1 and non-multiples of the
 * page size; split counts include more splits than pages (empty splits).
 * decode_combine is also checked alone on hand-made partials.
 *
 * Tested (decode.tile): decode_split then decode_combine, and decode_gqa
 * (S from the partials' shape; the cache viewed flat; steps of BN = 8 or 64
 * keys) then decode_merge (BS = 2: a loop over the splits), on every case,
 * in f32 and bf16;
 * D = 64 and 128; (H, HK) = (1, 1), (2, 1), (2, 2), (4, 1), (4, 2), and for
 * the group sizes G = 1, 4, 8 and H (MQA) (8, 8), (8, 2), (16, 2), (8, 1); Z from 1
 * to 4; page sizes PS = 1, 4, 8, 16; S = 1 to 8 splits (more splits than
 * pages included); sequence lengths 0 to 70 (0, 1 and non-multiples of PS);
 * shuffled pages with a poisoned page behind unused block-table entries; 25
 * random configurations; decode_combine and decode_merge (BS = 16, 2, 1)
 * alone on hand-made partials (S = 3, D = 64). */
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

enum { MAX_Z = 8 };

typedef struct decode_case {
    ir_dtype T;
    int H, HK, D, PS, S;
    int Z;
    int seq_lens[MAX_Z];
} decode_case;

static const char *FILE_DECODE = "attention/decode.tile";

/* gqa: decode_gqa (one program per key/value head, S from o_part's shape)
 * instead of decode_split. */
static bool run_case_kernel(const decode_case *c, uint64_t seed, bool gqa)
{
    char def_split[128], def_combine[128];
    if (gqa) /* steps of 8 keys (across pages when PS < 8, within one when PS > 8)
              * for odd S, of the default 64 for even S */
        snprintf(def_split, sizeof def_split, "T=%s,D=%d,G=%d,PS=%d,BN=%d", ir_dtype_name(c->T),
                 c->D, c->H / c->HK, c->PS, c->S % 2 ? 8 : 64);
    else
        snprintf(def_split, sizeof def_split, "T=%s,D=%d,PS=%d,S=%d", ir_dtype_name(c->T),
                 c->D, c->PS, c->S);
    if (gqa) /* S from the partials' shape; BS = 2 makes the merge loop */
        snprintf(def_combine, sizeof def_combine, "T=%s,D=%d,BS=2", ir_dtype_name(c->T), c->D);
    else
        snprintf(def_combine, sizeof def_combine, "T=%s,D=%d,S=%d", ir_dtype_name(c->T), c->D,
                 c->S);
    th_kernel split, combine;
    if (!th_compile(&split, FILE_DECODE, gqa ? "decode_gqa" : "decode_split", def_split))
        return false;
    if (!th_compile(&combine, FILE_DECODE, gqa ? "decode_merge" : "decode_combine",
                    def_combine)) {
        th_kernel_free(&split);
        return false;
    }

    th_rng rng = th_rng_new(seed);
    int Z = c->Z, H = c->H, HK = c->HK, D = c->D, PS = c->PS, S = c->S;
    int maxp = 1, used = 0;
    for (int z = 0; z < Z; z++) {
        int np = (c->seq_lens[z] + PS - 1) / PS;
        if (np > maxp) maxp = np;
        used += np;
    }
    int P = used + 3;          /* a few pages nobody owns, the last one is poison */
    int poison = P - 1;
    attn_paged_dims pd = {.Z = Z, .H = H, .HK = HK, .D = D, .P = P, .PS = PS, .MAXP = maxp};
    size_t ncache = (size_t)P * PS * HK * D, nq = (size_t)Z * H * D;
    float *q = TH_NEW(float, nq), *kc = TH_NEW(float, ncache), *vc = TH_NEW(float, ncache);
    th_fill(&rng, q, nq, -1, 1, c->T);
    th_fill(&rng, kc, ncache, -1, 1, c->T);
    th_fill(&rng, vc, ncache, -1, 1, c->T);
    for (size_t i = (size_t)poison * PS * HK * D; i < ncache; i++) kc[i] = vc[i] = 1000;

    int32_t *perm = TH_NEW(int32_t, P - 1), *table = TH_NEW(int32_t, Z * maxp), lens[MAX_Z];
    for (int i = 0; i < P - 1; i++) perm[i] = i;
    th_rng_shuffle(&rng, perm, P - 1);
    int next = 0;
    for (int z = 0; z < Z; z++) {
        lens[z] = c->seq_lens[z];
        int np = (lens[z] + PS - 1) / PS;
        for (int p = 0; p < maxp; p++) table[z * maxp + p] = p < np ? perm[next++] : poison;
    }

    th_tensor tq = th_tensor_new(c->T, TH_DIMS(Z, H, D), NULL);
    /* decode_gqa takes the same memory viewed flat: [P * PS, HK, D] */
    th_tensor tk = gqa ? th_tensor_new(c->T, TH_DIMS(P * PS, HK, D), NULL)
                       : th_tensor_new(c->T, TH_DIMS(P, PS, HK, D), NULL);
    th_tensor tv = gqa ? th_tensor_new(c->T, TH_DIMS(P * PS, HK, D), NULL)
                       : th_tensor_new(c->T, TH_DIMS(P, PS, HK, D), NULL);
    th_tensor tbt = th_tensor_new(IR_I32, TH_DIMS(Z, maxp), NULL);
    th_tensor tlen = th_tensor_new(IR_I32, TH_DIMS(Z), NULL);
    th_tensor top = th_tensor_new(IR_F32, TH_DIMS(Z, H, S, D), NULL);
    th_tensor tlp = th_tensor_new(IR_F32, TH_DIMS(Z, H, S), NULL);
    th_tensor to = th_tensor_new(c->T, TH_DIMS(Z, H, D), NULL);
    th_tensor tl = th_tensor_new(IR_F32, TH_DIMS(Z, H), NULL);
    th_tensor_set(&tq, q);
    th_tensor_set(&tk, kc);
    th_tensor_set(&tv, vc);
    th_tensor_set_i32(&tbt, table);
    th_tensor_set_i32(&tlen, lens);
    double scale = 1 / sqrt(D);

    bool ok = th_launch(&split, (th_arg[]){TH_T("q", &tq), TH_T(gqa ? "k_slots" : "k_cache", &tk),
                                           TH_T(gqa ? "v_slots" : "v_cache", &tv),
                                           TH_T("block_table", &tbt),
                                           TH_T("seq_lens", &tlen), TH_T("o_part", &top),
                                           TH_T("lse_part", &tlp), TH_S("scale", scale)}, 8);
    ok = ok && th_launch(&combine, (th_arg[]){TH_T("o_part", &top), TH_T("lse_part", &tlp),
                                              TH_T("o", &to), TH_T("lse", &tl)}, 4);
    if (ok) {
        float *o = TH_NEW(float, nq), *lse = TH_NEW(float, Z * H);
        double *ref_o = TH_NEW(double, nq), *ref_lse = TH_NEW(double, Z * H);
        th_tensor_get(&to, o);
        th_tensor_get(&tl, lse);
        attn_ref_decode(&pd, q, kc, vc, table, lens, (float)scale, ref_o, ref_lse);
        char what[256];
        snprintf(what, sizeof what, "%s Z=%d H=%d HK=%d: O", split.label, Z, H, HK);
        ok = th_check(what, o, ref_o, TH_DIMS(Z, H, D), th_rtol(c->T)) && ok;
        snprintf(what, sizeof what, "%s Z=%d H=%d HK=%d: LSE", split.label, Z, H, HK);
        /* LSE is f32 arithmetic on exact products of the rounded inputs,
         * whatever T, so it is held to the f32 tolerance. */
        ok = th_check(what, lse, ref_lse, TH_DIMS(Z, H), th_rtol(IR_F32)) && ok;
        ok = th_check_masked_rows(what, o, lse, ref_lse, (size_t)Z * H, (size_t)D) && ok;
        free(o), free(lse), free(ref_o), free(ref_lse);
    }
    th_tensor_free(&tq), th_tensor_free(&tk), th_tensor_free(&tv), th_tensor_free(&tbt);
    th_tensor_free(&tlen), th_tensor_free(&top), th_tensor_free(&tlp);
    th_tensor_free(&to), th_tensor_free(&tl);
    free(q), free(kc), free(vc), free(perm), free(table);
    th_kernel_free(&split), th_kernel_free(&combine);
    return ok;
}

/* Both split kernels on the same case. */
static bool run_case(const decode_case *c, uint64_t seed)
{
    bool ok = run_case_kernel(c, seed, false);
    return run_case_kernel(c, seed, true) && ok;
}

static void run_cases(const decode_case *cases, size_t n)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        if (!run_case(&cases[i], 3000 + i)) failed++;
    assert_int_equal(failed, 0);
}

#define RUN(cases) run_cases(cases, sizeof cases / sizeof cases[0])

static void test_page_sizes_f32(void **state)
{
    (void)state;
    const decode_case cases[] = {
        {IR_F32, 2, 2, 64, 16, 2, 4, {37, 16, 1, 50}},
        {IR_F32, 2, 2, 64, 4, 3, 3, {13, 4, 29}},
        {IR_F32, 2, 1, 64, 8, 4, 3, {17, 64, 3}},
        {IR_F32, 2, 2, 64, 1, 3, 2, {5, 1}},
    };
    RUN(cases);
}

static void test_empty_and_short_f32(void **state)
{
    (void)state;
    const decode_case cases[] = {
        {IR_F32, 2, 2, 64, 16, 4, 4, {0, 1, 15, 17}},   /* seq_len 0; splits without pages */
        {IR_F32, 2, 2, 64, 8, 8, 3, {9, 0, 2}},
        {IR_F32, 2, 2, 64, 8, 1, 2, {0, 0}},           /* nothing anywhere */
    };
    RUN(cases);
}

static void test_gqa_mqa_f32(void **state)
{
    (void)state;
    const decode_case cases[] = {
        {IR_F32, 4, 2, 64, 16, 3, 2, {41, 7}},
        {IR_F32, 4, 1, 64, 8, 2, 2, {23, 30}},
    };
    RUN(cases);
}

static void test_head_dim_128(void **state)
{
    (void)state;
    const decode_case cases[] = {
        {IR_F32, 2, 1, 128, 16, 2, 2, {33, 5}},
        {IR_BF16, 2, 1, 128, 16, 2, 2, {33, 5}},
    };
    RUN(cases);
}

static void test_bf16(void **state)
{
    (void)state;
    const decode_case cases[] = {
        {IR_BF16, 4, 2, 64, 16, 4, 3, {70, 1, 0}},
        {IR_BF16, 2, 2, 64, 4, 2, 2, {11, 32}},
    };
    RUN(cases);
}

/* decode_gqa's group sizes G = 1, 4, 8 and H (MQA), odd lengths, lengths 0
 * and 1, batches with different lengths (decode_split runs them too). */
static void test_group_sizes_f32(void **state)
{
    (void)state;
    const decode_case cases[] = {
        {IR_F32, 8, 8, 64, 16, 3, 3, {37, 0, 1}},       /* G = 1 */
        {IR_F32, 8, 2, 64, 16, 4, 4, {45, 1, 0, 33}},   /* G = 4 */
        {IR_F32, 16, 2, 64, 8, 5, 2, {29, 63}},         /* G = 8 */
        {IR_F32, 8, 1, 64, 4, 2, 3, {1, 19, 0}},        /* MQA: G = H */
        {IR_F32, 4, 1, 64, 16, 9, 1, {100}},            /* more splits than pages */
    };
    RUN(cases);
}

static void test_group_sizes_bf16(void **state)
{
    (void)state;
    const decode_case cases[] = {
        {IR_BF16, 8, 2, 128, 16, 3, 2, {77, 16}},        /* G = 4, D = 128 */
        {IR_BF16, 8, 1, 64, 16, 2, 2, {31, 1}},          /* MQA */
    };
    RUN(cases);
}

/* Random page sizes, split counts, heads and lengths (fixed seed). */
static void test_random_sweep_f32(void **state)
{
    (void)state;
    th_rng rng = th_rng_new(646464);
    static const int heads[][2] = {{1, 1}, {2, 2}, {4, 2}, {4, 1}};
    static const int page_sizes[] = {1, 4, 8, 16};
    int failed = 0;
    for (int i = 0; i < 25; i++) {
        const int *hh = heads[th_rng_int(&rng, 4)];
        decode_case c = {.T = IR_F32, .H = hh[0], .HK = hh[1], .D = 64,
                         .PS = page_sizes[th_rng_int(&rng, 4)], .S = 1 + th_rng_int(&rng, 6),
                         .Z = 1 + th_rng_int(&rng, 4)};
        for (int z = 0; z < c.Z; z++) c.seq_lens[z] = th_rng_int(&rng, 61);
        if (!run_case(&c, 9000 + (uint64_t)i)) failed++;
    }
    assert_int_equal(failed, 0);
}

/* decode_combine (or decode_merge) alone: hand-made partials with empty
 * splits in various places. */
static void combine_alone(const char *kernel, const char *defines)
{
    enum { Z = 1, H = 4, S = 3, D = 64 };
    th_kernel combine;
    assert_true(th_compile(&combine, FILE_DECODE, kernel, defines));
    th_rng rng = th_rng_new(77);
    float o_part[Z * H * S * D], lse_part[Z * H * S];
    th_fill(&rng, o_part, Z * H * S * D, -1, 1, IR_F32);
    th_fill(&rng, lse_part, Z * H * S, -3, 3, IR_F32);
    /* head 1: middle split empty; head 2: only the last; head 3: all empty */
    lse_part[1 * S + 1] = -INFINITY;
    lse_part[2 * S + 0] = lse_part[2 * S + 1] = -INFINITY;
    for (int s = 0; s < S; s++) lse_part[3 * S + s] = -INFINITY;
    for (int h = 0; h < H; h++)
        for (int s = 0; s < S; s++)
            if (lse_part[h * S + s] == -INFINITY)
                for (int c = 0; c < D; c++) o_part[(h * S + s) * D + c] = 0;
    th_tensor top = th_tensor_new(IR_F32, TH_DIMS(Z, H, S, D), NULL);
    th_tensor tlp = th_tensor_new(IR_F32, TH_DIMS(Z, H, S), NULL);
    th_tensor to = th_tensor_new(IR_F32, TH_DIMS(Z, H, D), NULL);
    th_tensor tl = th_tensor_new(IR_F32, TH_DIMS(Z, H), NULL);
    th_tensor_set(&top, o_part);
    th_tensor_set(&tlp, lse_part);
    bool ok = th_launch(&combine, (th_arg[]){TH_T("o_part", &top), TH_T("lse_part", &tlp),
                                             TH_T("o", &to), TH_T("lse", &tl)}, 4);
    if (ok) {
        float o[Z * H * D], lse[Z * H];
        double ref_o[Z * H * D], ref_lse[Z * H];
        th_tensor_get(&to, o);
        th_tensor_get(&tl, lse);
        attn_ref_combine(Z * H, S, D, o_part, lse_part, ref_o, ref_lse);
        ok = th_check("decode_combine: O", o, ref_o, TH_DIMS(Z, H, D), th_rtol(IR_F32));
        ok = th_check("decode_combine: LSE", lse, ref_lse, TH_DIMS(Z, H), th_rtol(IR_F32)) && ok;
        ok = th_check_masked_rows("decode_combine", o, lse, ref_lse, Z * H, D) && ok;
    }
    th_tensor_free(&top), th_tensor_free(&tlp), th_tensor_free(&to), th_tensor_free(&tl);
    th_kernel_free(&combine);
    assert_true(ok);
}

static void test_combine_alone(void **state)
{
    (void)state;
    combine_alone("decode_combine", "T=f32,D=64,S=3");
}

/* decode_merge with one step for all splits, and with a ragged last step. */
static void test_merge_alone(void **state)
{
    (void)state;
    combine_alone("decode_merge", "T=f32,D=64");
    combine_alone("decode_merge", "T=f32,D=64,BS=2");
    combine_alone("decode_merge", "T=f32,D=64,BS=1");
}

/* A sequence longer than its block table's MAXP pages stops the launch
 * with the assert's message (it read block-table entry 0 past the row). */
static void test_seq_len_past_table(void **state)
{
    (void)state;
    enum { Z = 1, H = 4, HK = 2, D = 16, PS = 4, P = 3, MAXP = 2, S = 2 };
    th_tensor q = th_tensor_new(IR_F32, TH_DIMS(Z, H, D), NULL);
    th_tensor kc = th_tensor_new(IR_F32, TH_DIMS(P, PS, HK, D), NULL);
    th_tensor slots = th_tensor_new(IR_F32, TH_DIMS(P * PS, HK, D), NULL);
    th_tensor table = th_tensor_new(IR_I32, TH_DIMS(Z, MAXP), NULL);
    th_tensor lens = th_tensor_new(IR_I32, TH_DIMS(Z), NULL);
    th_tensor op = th_tensor_new(IR_F32, TH_DIMS(Z, H, S, D), NULL);
    th_tensor lp = th_tensor_new(IR_F32, TH_DIMS(Z, H, S), NULL);
    th_tensor_set_i32(&table, (const int32_t[MAXP]){0, 1});
    th_tensor_set_i32(&lens, (const int32_t[Z]){MAXP * PS + 1});
    const char *want = "seq_lens[z] must be in [0, MAXP * PS]: block_table holds MAXP pages";
    const th_arg split[] = {TH_T("q", &q), TH_T("k_cache", &kc), TH_T("v_cache", &kc),
                            TH_T("block_table", &table), TH_T("seq_lens", &lens), TH_T("o_part", &op),
                            TH_T("lse_part", &lp), TH_S("scale", 1)};
    const th_arg gqa[] = {TH_T("q", &q), TH_T("k_slots", &slots), TH_T("v_slots", &slots),
                          TH_T("block_table", &table), TH_T("seq_lens", &lens), TH_T("o_part", &op),
                          TH_T("lse_part", &lp), TH_S("scale", 1)};
    struct { const char *kernel, *defines; const th_arg *args; } cases[] = {
        {"decode_split", "T=f32,D=16,PS=4,S=2", split},
        {"decode_gqa", "T=f32,D=16,G=2,PS=4", gqa},
    };
    for (int c = 0; c < 2; c++) {
        th_kernel kern;
        assert_true(th_compile(&kern, FILE_DECODE, cases[c].kernel, cases[c].defines));
        assert_false(th_launch(&kern, cases[c].args, 8));
        char *err = diag_render(&kern.unit->diags, &kern.unit->mem);
        if (!strstr(err, want)) fail_msg("%s: want '%s' in:\n%s", cases[c].kernel, want, err);
        th_kernel_free(&kern);
    }
    th_tensor_free(&q), th_tensor_free(&kc), th_tensor_free(&slots), th_tensor_free(&table);
    th_tensor_free(&lens), th_tensor_free(&op), th_tensor_free(&lp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page_sizes_f32),
        cmocka_unit_test(test_empty_and_short_f32),
        cmocka_unit_test(test_gqa_mqa_f32),
        cmocka_unit_test(test_head_dim_128),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_group_sizes_f32),
        cmocka_unit_test(test_group_sizes_bf16),
        cmocka_unit_test(test_random_sweep_f32),
        cmocka_unit_test(test_combine_alone),
        cmocka_unit_test(test_merge_alone),
        cmocka_unit_test(test_seq_len_past_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
