/* test_lib_block_mask.c - lib/attention/block_mask.tile: the block
 * classification built on the device from a mask (block_mask and its
 * document specialisations) and the forward that consumes it
 * (flash_fwd_block_mask).
 *
 * Each case builds the classification on the interpreter and compares the
 * four outputs element for element with a C classification from
 * attn_ref_visible (full: every (row < M, key) pair of the block visible and
 * the block inside N; partial: some pair visible; lists ascending, -1 after
 * the count); then runs flash_fwd_block_mask on those lists with fresh random
 * inputs (O and LSE poisoned) against the dense masked double reference,
 * fully masked rows exactly O = 0 and LSE = -inf.
 *
 * Tested (block_mask.tile): block_mask_document, block_mask_document_causal,
 * flash_fwd_document_blocks, flash_fwd_document_causal_blocks, and block_mask /
 * flash_fwd_block_mask with causal and sliding_window(W:, S:); f32 and bf16;
 * Z = 1, 2; (H, HK) = (2, 1), (4, 2), (3, 3); HB = 1 (shared) and H; M and N
 * from 1 to 90 (M < N, M > N); BM, BN = 8, 16, 32; documents of length 1 to
 * N with boundaries inside blocks; 12 random layouts. */
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

#define FILE_BM "attention/block_mask.tile"

typedef enum { K_DOC, K_DOC_CAUSAL, K_CAUSAL, K_SLIDING } mask_kind;

typedef struct bm_case {
    ir_dtype T;
    int Z, H, HK, HB, M, N, D, BM, BN;
    mask_kind kind;
    int W, S;             /* K_SLIDING */
    const int *runs;      /* documents: lengths, batch after batch (NULL: random) */
} bm_case;

static int cdiv(int a, int b) { return (a + b - 1) / b; }
static int imin(int a, int b) { return a < b ? a : b; }

static void fill_docs(const bm_case *c, int32_t *doc, th_rng *rng)
{
    int r = 0;
    for (int z = 0; z < c->Z; z++) {
        int p = 0, id = 7 * z;
        while (p < c->N) {
            int len = c->runs ? c->runs[r++] : 1 + th_rng_int(rng, 1 + c->N / 3);
            if (len > c->N - p) len = c->N - p;
            for (int t = 0; t < len; t++) doc[(size_t)z * c->N + p + t] = id;
            p += len;
            id += 2;
        }
    }
}

/* The kernels' names and the mask define of a case. */
static void names(const bm_case *c, const char **builder, const char **fwd, char *defines, size_t n)
{
    int k = snprintf(defines, n, "T=%s,D=%d,BM=%d,BN=%d", ir_dtype_name(c->T), c->D, c->BM, c->BN);
    *builder = "block_mask";
    *fwd = "flash_fwd_block_mask";
    switch (c->kind) {
    case K_DOC: *builder = "block_mask_document", *fwd = "flash_fwd_document_blocks"; break;
    case K_DOC_CAUSAL:
        *builder = "block_mask_document_causal", *fwd = "flash_fwd_document_causal_blocks";
        break;
    case K_CAUSAL: snprintf(defines + k, n - (size_t)k, ",mask=causal"); break;
    case K_SLIDING:
        snprintf(defines + k, n - (size_t)k, ",mask=sliding_window(W: %d, S: %d)", c->W, c->S);
        break;
    }
}

/* The classification in C; returns false and prints where the kernel's differs. */
static bool check_lists(const bm_case *c, const attn_mask *mask, const attn_dims *d,
                        const float *full_idx, const float *full_cnt, const float *part_idx,
                        const float *part_cnt)
{
    int MB = cdiv(c->M, c->BM), NB = cdiv(c->N, c->BN);
    for (int z = 0; z < c->Z; z++)
        for (int hb = 0; hb < c->HB; hb++)
            for (int qb = 0; qb < MB; qb++) {
                int want_full[256], want_part[256], nf = 0, np = 0;
                for (int kb = 0; kb < NB; kb++) {
                    bool any = false, all = (kb + 1) * c->BN <= c->N;
                    for (int i = qb * c->BM; i < imin((qb + 1) * c->BM, c->M); i++)
                        for (int j = kb * c->BN; j < imin((kb + 1) * c->BN, c->N); j++) {
                            bool v = attn_ref_visible(mask, d, z, hb, i, j);
                            any |= v;
                            all &= v;
                        }
                    if (all) want_full[nf++] = kb;
                    else if (any) want_part[np++] = kb;
                }
                size_t row = ((size_t)z * c->HB + hb) * MB + qb;
                bool ok = full_cnt[row] == nf && part_cnt[row] == np;
                for (int t = 0; t < NB; t++) {
                    ok &= full_idx[row * NB + t] == (t < nf ? want_full[t] : -1);
                    ok &= part_idx[row * NB + t] == (t < np ? want_part[t] : -1);
                }
                if (!ok) {
                    fprintf(stderr, "block_mask: z=%d hb=%d qb=%d: got %g full, %g partial; want "
                            "%d full, %d partial\n", z, hb, qb, (double)full_cnt[row],
                            (double)part_cnt[row], nf, np);
                    return false;
                }
            }
    return true;
}

static bool run_case(const bm_case *c, uint64_t seed)
{
    const char *builder, *fwd;
    char defines[160];
    names(c, &builder, &fwd, defines, sizeof defines);
    bool doc_mask = c->kind == K_DOC || c->kind == K_DOC_CAUSAL;
    th_kernel kb, kf;
    if (!th_compile(&kb, FILE_BM, builder, defines)) return false;
    if (!th_compile(&kf, FILE_BM, fwd, defines)) {
        th_kernel_free(&kb);
        return false;
    }
    th_rng rng = th_rng_new(seed);
    attn_dims d = {.Z = c->Z, .H = c->H, .HK = c->HK, .M = c->M, .N = c->N, .D = c->D};
    int MB = cdiv(c->M, c->BM), NB = cdiv(c->N, c->BN);
    int32_t *doc = TH_NEW(int32_t, (size_t)c->Z * c->N);
    fill_docs(c, doc, &rng);
    attn_doc_mask mask = {.mask = {.kind = ATTN_MASK_CAUSAL}, .doc = doc};
    if (c->kind == K_DOC) mask.mask.kind = ATTN_MASK_DOCUMENT;
    if (c->kind == K_DOC_CAUSAL) mask.mask.kind = ATTN_MASK_DOCUMENT_CAUSAL;
    if (c->kind == K_SLIDING)
        mask.mask = (attn_mask){.kind = ATTN_MASK_SLIDING, .window = c->W, .sinks = c->S};

    th_tensor tdoc = th_tensor_new(IR_I32, TH_DIMS(c->Z, c->N), NULL);
    th_tensor_set_i32(&tdoc, doc);
    th_tensor tfi = th_tensor_new(IR_I32, TH_DIMS(c->Z, c->HB, MB, NB), NULL);
    th_tensor tfc = th_tensor_new(IR_I32, TH_DIMS(c->Z, c->HB, MB), NULL);
    th_tensor tpi = th_tensor_new(IR_I32, TH_DIMS(c->Z, c->HB, MB, NB), NULL);
    th_tensor tpc = th_tensor_new(IR_I32, TH_DIMS(c->Z, c->HB, MB), NULL);
    th_arg bargs[] = {TH_T("full_idx", &tfi), TH_T("full_cnt", &tfc), TH_T("partial_idx", &tpi),
                      TH_T("partial_cnt", &tpc), TH_S("M", c->M), TH_S("N", c->N),
                      TH_T("doc", &tdoc)};
    bool ok = th_launch(&kb, bargs, doc_mask ? 7 : 6);
    if (ok) {
        size_t nl = (size_t)c->Z * c->HB * MB;
        float *fi = TH_NEW(float, nl * NB), *fc = TH_NEW(float, nl);
        float *pi = TH_NEW(float, nl * NB), *pc = TH_NEW(float, nl);
        th_tensor_get(&tfi, fi), th_tensor_get(&tfc, fc);
        th_tensor_get(&tpi, pi), th_tensor_get(&tpc, pc);
        ok = check_lists(c, &mask.mask, &d, fi, fc, pi, pc);
        free(fi), free(fc), free(pi), free(pc);
    }

    size_t nq = (size_t)d.Z * d.H * d.M * d.D, nk = (size_t)d.Z * d.HK * d.N * d.D;
    size_t nrows = (size_t)d.Z * d.H * d.M;
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
    th_tensor_set(&tq, q), th_tensor_set(&tk, k), th_tensor_set(&tv, v);
    th_arg fargs[] = {TH_T("q", &tq), TH_T("k", &tk), TH_T("v", &tv), TH_T("full_idx", &tfi),
                      TH_T("full_cnt", &tfc), TH_T("partial_idx", &tpi),
                      TH_T("partial_cnt", &tpc), TH_T("o", &to), TH_T("lse", &tl),
                      TH_S("scale", scale), TH_T("doc", &tdoc)};
    ok = ok && th_launch(&kf, fargs, doc_mask ? 11 : 10);
    if (ok) {
        th_tensor_get(&to, o);
        th_tensor_get(&tl, lse);
        double *ref_o = TH_NEW(double, nq), *ref_lse = TH_NEW(double, nrows);
        attn_ref_fwd(&d, q, k, v, (float)scale, &mask.mask, ref_o, ref_lse);
        char label[400];
        snprintf(label, sizeof label, "%s HB=%d", kf.label, c->HB);
        ok = th_check_attention(label, &d, c->T, o, lse, ref_o, ref_lse);
        free(ref_o), free(ref_lse);
    }
    th_tensor_free(&tq), th_tensor_free(&tk), th_tensor_free(&tv);
    th_tensor_free(&to), th_tensor_free(&tl), th_tensor_free(&tdoc);
    th_tensor_free(&tfi), th_tensor_free(&tfc), th_tensor_free(&tpi), th_tensor_free(&tpc);
    free(q), free(k), free(v), free(o), free(lse), free(doc);
    th_kernel_free(&kb), th_kernel_free(&kf);
    return ok;
}

static void run_cases(const bm_case *cases, size_t n)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        if (!run_case(&cases[i], 900 + i)) failed++;
    assert_int_equal(failed, 0);
}

#define RUN(cases) run_cases(cases, sizeof cases / sizeof cases[0])

static void test_document(void **state)
{
    (void)state;
    static const int runs_a[] = {5, 20, 1, 14, 20};            /* N = 60 */
    static const int runs_b[] = {60, 3, 3, 54};                /* two batches of 60 */
    static const int runs_c[] = {1, 1, 1, 1, 1, 1, 1, 1, 1};   /* N = 9: every token alone */
    const bm_case cases[] = {
        {IR_F32, 1, 2, 1, 1, 60, 60, 64, 16, 16, K_DOC, 0, 0, runs_a},
        {IR_F32, 1, 2, 1, 1, 60, 60, 64, 16, 16, K_DOC_CAUSAL, 0, 0, runs_a},
        {IR_F32, 2, 4, 2, 4, 60, 60, 64, 8, 32, K_DOC_CAUSAL, 0, 0, runs_b},
        {IR_F32, 1, 3, 3, 1, 40, 60, 64, 32, 8, K_DOC, 0, 0, runs_a},      /* M < N */
        {IR_F32, 1, 2, 2, 2, 9, 9, 64, 8, 8, K_DOC_CAUSAL, 0, 0, runs_c},
        {IR_BF16, 1, 2, 1, 1, 60, 60, 64, 16, 16, K_DOC_CAUSAL, 0, 0, runs_a},
    };
    RUN(cases);
}

static void test_document_random(void **state)
{
    (void)state;
    th_rng rng = th_rng_new(4711);
    int failed = 0;
    for (int i = 0; i < 12; i++) {
        static const int bs[] = {8, 16, 32};
        int N = 1 + th_rng_int(&rng, 90);
        bm_case c = {IR_F32, 1 + th_rng_int(&rng, 2), 2, 1, th_rng_int(&rng, 2) ? 1 : 2,
                     1 + th_rng_int(&rng, N), N, 64, bs[th_rng_int(&rng, 3)], bs[th_rng_int(&rng, 3)],
                     th_rng_int(&rng, 2) ? K_DOC : K_DOC_CAUSAL, 0, 0, NULL};
        if (!run_case(&c, 5000 + (uint64_t)i)) failed++;
    }
    assert_int_equal(failed, 0);
}

/* Masks without data go through the same kernels. */
static void test_position_masks(void **state)
{
    (void)state;
    const bm_case cases[] = {
        {IR_F32, 1, 2, 1, 1, 45, 70, 64, 16, 16, K_CAUSAL, 0, 0, NULL},
        {IR_F32, 1, 2, 2, 2, 70, 45, 64, 16, 8, K_CAUSAL, 0, 0, NULL},     /* M > N: empty rows */
        {IR_F32, 1, 2, 1, 1, 64, 64, 64, 16, 16, K_SLIDING, 20, 4, NULL},
        {IR_F32, 1, 2, 1, 1, 33, 90, 64, 8, 16, K_SLIDING, 5, 0, NULL},
    };
    RUN(cases);
}

/* The list check can fail: a classification from another mask is caught. */
static void test_check_catches_wrong_lists(void **state)
{
    (void)state;
    bm_case c = {IR_F32, 1, 1, 1, 1, 16, 16, 16, 8, 8, K_CAUSAL, 0, 0, NULL};
    attn_dims d = {.Z = 1, .H = 1, .HK = 1, .M = 16, .N = 16, .D = 16};
    const attn_mask full = {.kind = ATTN_MASK_FULL};
    /* Causal's lists for 2 x 2 blocks, checked as if the mask were full. */
    float fi[] = {-1, -1, 0, -1}, fc[] = {0, 1}, pi[] = {0, -1, 1, -1}, pc[] = {1, 1};
    assert_false(check_lists(&c, &full, &d, fi, fc, pi, pc));
    const attn_mask causal = {.kind = ATTN_MASK_CAUSAL};
    assert_true(check_lists(&c, &causal, &d, fi, fc, pi, pc));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_document),
        cmocka_unit_test(test_document_random),
        cmocka_unit_test(test_position_masks),
        cmocka_unit_test(test_check_catches_wrong_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
