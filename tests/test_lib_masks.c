/* test_lib_masks.c - lib/attention/masks.tile: the masks that read data
 * (document masking of packed sequences, through flash_fwd's specialisations
 * that capture a `doc` tensor) and check_kv_range, the mask/range
 * consistency checker; plus the library's launch preconditions (assert).
 *
 * Document cases run like test_lib_flash_fwd.c: fresh inputs uniform in
 * [-1, 1) rounded to the kernel dtype, O and LSE poisoned, one launch, O and
 * LSE against the double reference (tests/ref/attn_ref.c, ATTN_MASK_DOCUMENT*)
 * with f32 tight and bf16 loose tolerances, fully masked rows exactly O = 0
 * and LSE = -inf.  Document layouts are written as run lengths per batch.
 *
 * check_kv_range cases compare the kernel's whole [MB, NB] output with a C
 * reference (visibility from attn_ref_visible, the visited blocks from the
 * range formulas and kv_block_plan written out again in C), and require it
 * all zero for the library's matching pairs and non-zero for wrong ones.
 *
 * Tested (flash_fwd.tile): flash_fwd_document and flash_fwd_document_causal
 * in f32 and bf16; D = 64 and 128; Z = 1, 2; (H, HK) = (1, 1), (2, 2), (2, 1),
 * (3, 1), (4, 2), (4, 1); M and N from 1 to 60 (M < N, M > N, a single row);
 * documents of length 1 to N with boundaries inside blocks; BM = 16, 32,
 * BN = 8, 16, 32; 16 random layouts; the doc tensor's dims checked at launch;
 * the H % HK assert.
 *
 * Tested (masks.tile): check_kv_range with full_range, causal_range and
 * sliding_window_range against full_mask, causal and sliding_window (W up to
 * 20, S up to 18), and check_q_range with the q-range fns, for (M, N) from
 * (1, 1) to (100, 130) and (BM, BN) from (7, 5) to (32, 16): zero for the
 * library's pairs, non-zero for ranges narrower than their masks; document and
 * document_causal through flash_fwd (above); CHECK_RANGES: flash_fwd and
 * flash_bwd_dkdv given a hand-written range narrower than the mask's derived
 * bounds stop with its assertion, matching ranges run.
 *
 * Tested (block_sparse.tile): its launch-time asserts: H a multiple of HK,
 * MB = cdiv(M, BM), kv_cnt at most MAXB, kv_idx entries in range. */
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

/* ---- document masks through flash_fwd_document(_causal) -------------------- */

typedef struct doc_case {
    ir_dtype T;
    int Z, H, HK, M, N, D;
    bool causal;          /* flash_fwd_document_causal, else flash_fwd_document */
    const int *runs;      /* document lengths, batch after batch, each batch summing to N */
    int BM, BN;
} doc_case;

/* doc[z * N + p] from run lengths: batch z's runs fill positions 0..N-1. */
static bool fill_docs(const doc_case *c, int32_t *doc)
{
    int r = 0;
    for (int z = 0; z < c->Z; z++) {
        int p = 0, id = 100 * z; /* ids differ between batches: they must not matter */
        while (p < c->N) {
            int len = c->runs[r++];
            if (len <= 0 || p + len > c->N) {
                fprintf(stderr, "bad document runs for batch %d\n", z);
                return false;
            }
            for (int t = 0; t < len; t++) doc[(size_t)z * c->N + p + t] = id;
            p += len;
            id += 3;
        }
    }
    return true;
}

static bool run_doc(const doc_case *c, const int32_t *doc, uint64_t seed)
{
    char defines[128];
    snprintf(defines, sizeof defines, "T=%s,D=%d,BM=%d,BN=%d", ir_dtype_name(c->T), c->D, c->BM,
             c->BN);
    const char *name = c->causal ? "flash_fwd_document_causal" : "flash_fwd_document";
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
    double scale = 1 / sqrt(c->D);

    th_tensor tq = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.M, d.D), NULL);
    th_tensor tk = th_tensor_new(c->T, TH_DIMS(d.Z, d.HK, d.N, d.D), NULL);
    th_tensor tv = th_tensor_new(c->T, TH_DIMS(d.Z, d.HK, d.N, d.D), NULL);
    th_tensor to = th_tensor_new(c->T, TH_DIMS(d.Z, d.H, d.M, d.D), NULL);
    th_tensor tl = th_tensor_new(IR_F32, TH_DIMS(d.Z, d.H, d.M), NULL);
    th_tensor tdoc = th_tensor_new(IR_I32, TH_DIMS(d.Z, d.N), NULL);
    th_tensor_set(&tq, q);
    th_tensor_set(&tk, k);
    th_tensor_set(&tv, v);
    th_tensor_set_i32(&tdoc, doc);
    bool ok = th_launch(&kern, (th_arg[]){TH_T("q", &tq), TH_T("k", &tk), TH_T("v", &tv),
                                          TH_T("o", &to), TH_T("lse", &tl), TH_S("scale", scale),
                                          TH_T("doc", &tdoc)},
                        7);
    if (ok) {
        th_tensor_get(&to, o);
        th_tensor_get(&tl, lse);
        double *ref_o = TH_NEW(double, nq), *ref_lse = TH_NEW(double, nrows);
        attn_doc_mask mask = {
            .mask = {.kind = c->causal ? ATTN_MASK_DOCUMENT_CAUSAL : ATTN_MASK_DOCUMENT},
            .doc = doc};
        attn_ref_fwd(&d, q, k, v, (float)scale, &mask.mask, ref_o, ref_lse);
        ok = th_check_attention(kern.label, &d, c->T, o, lse, ref_o, ref_lse) && ok;
        free(ref_o);
        free(ref_lse);
    }
    th_tensor_free(&tq), th_tensor_free(&tk), th_tensor_free(&tv);
    th_tensor_free(&to), th_tensor_free(&tl), th_tensor_free(&tdoc);
    free(q), free(k), free(v), free(o), free(lse);
    th_kernel_free(&kern);
    return ok;
}

static bool run_doc_case(const doc_case *c, uint64_t seed)
{
    int32_t *doc = TH_NEW(int32_t, (size_t)c->Z * c->N);
    bool ok = fill_docs(c, doc) && run_doc(c, doc, seed);
    free(doc);
    return ok;
}

/* Each case once with the plain document mask and once causal. */
static void run_doc_cases(const doc_case *cases, size_t n)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        for (int causal = 0; causal < 2; causal++) {
            doc_case c = cases[i];
            c.causal = causal;
            if (!run_doc_case(&c, 9000 + 2 * i + (uint64_t)causal)) failed++;
        }
    assert_int_equal(failed, 0);
}

#define RUN_DOCS(cases) run_doc_cases(cases, sizeof cases / sizeof cases[0])
#define DOC(T, Z, H, HK, M, N, D, runs, BM, BN) {T, Z, H, HK, M, N, D, false, runs, BM, BN}

/* Several documents of odd lengths; boundaries inside blocks of 16 and 8. */
static void test_document_odd_lengths_f32(void **state)
{
    (void)state;
    static const int two_batches[] = {7, 13, 1, 9, 15, /* batch 1: */ 20, 3, 22};
    static const int one_doc[] = {45};
    static const int blocks_of_17[] = {17, 17, 11};
    const doc_case cases[] = {
        DOC(IR_F32, 2, 2, 2, 45, 45, 64, two_batches, 16, 16),
        DOC(IR_F32, 2, 2, 2, 45, 45, 64, two_batches, 16, 8),
        DOC(IR_F32, 1, 2, 2, 45, 45, 64, one_doc, 16, 16),      /* = full / causal */
        DOC(IR_F32, 1, 1, 1, 45, 45, 64, blocks_of_17, 32, 16),
    };
    RUN_DOCS(cases);
}

/* M != N: query row i sits at key position i + (N - M).  M > N leaves the
 * first M - N rows with no position: fully masked. */
static void test_document_m_ne_n_f32(void **state)
{
    (void)state;
    static const int n47[] = {5, 11, 2, 19, 10};
    static const int n30[] = {4, 9, 1, 16};
    static const int n30_two[] = {13, 17, /* batch 1: */ 1, 1, 27, 1};
    const doc_case cases[] = {
        DOC(IR_F32, 1, 2, 2, 30, 47, 64, n47, 16, 16),    /* M < N */
        DOC(IR_F32, 1, 2, 2, 1, 47, 64, n47, 16, 16),     /* decoding-like: one row */
        DOC(IR_F32, 1, 2, 2, 47, 30, 64, n30, 16, 16),    /* M > N */
        DOC(IR_F32, 2, 1, 1, 41, 30, 64, n30_two, 16, 8),
    };
    RUN_DOCS(cases);
}

/* GQA and MQA: the document of a row does not depend on the head. */
static void test_document_gqa_f32(void **state)
{
    (void)state;
    static const int runs[] = {10, 3, 14, 6, /* batch 1: */ 33};
    static const int runs2[] = {8, 8, 8, 9};
    const doc_case cases[] = {
        DOC(IR_F32, 2, 4, 2, 33, 33, 64, runs, 16, 16),
        DOC(IR_F32, 1, 4, 1, 20, 33, 64, runs2, 16, 16),
        DOC(IR_F32, 1, 3, 1, 33, 33, 64, runs2, 16, 32),
    };
    RUN_DOCS(cases);
}

/* Rows whose only visible key is their own position: documents of length
 * one (the causal variant sees exactly itself; so does the plain one). */
static void test_document_single_tokens_f32(void **state)
{
    (void)state;
    static const int singles[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    static const int mixed[] = {1, 5, 1, 1, 12, 1, 1, 3, 1, 1, 2, 1};
    const doc_case cases[] = {
        DOC(IR_F32, 1, 2, 2, 19, 19, 64, singles, 16, 16),
        DOC(IR_F32, 1, 2, 1, 30, 30, 64, mixed, 16, 8),
        DOC(IR_F32, 1, 1, 1, 10, 30, 64, mixed, 16, 16),
    };
    RUN_DOCS(cases);
}

static void test_document_bf16(void **state)
{
    (void)state;
    static const int runs[] = {9, 21, 3, 7, 13, /* batch 1: */ 2, 40, 11};
    static const int runs2[] = {9, 21, 3, 7, 13};
    const doc_case cases[] = {
        DOC(IR_BF16, 2, 4, 2, 53, 53, 64, runs, 16, 16),
        DOC(IR_BF16, 1, 2, 1, 37, 53, 128, runs2, 32, 32),
    };
    RUN_DOCS(cases);
}

/* Random layouts (fixed seed): lengths 1..25, shapes and heads varied. */
static void test_document_random_f32(void **state)
{
    (void)state;
    th_rng rng = th_rng_new(31337);
    static const int heads[][2] = {{1, 1}, {2, 2}, {4, 2}, {4, 1}};
    int failed = 0;
    for (int n = 0; n < 16; n++) {
        const int *hh = heads[th_rng_int(&rng, 4)];
        doc_case c = {.T = IR_F32, .Z = 1 + th_rng_int(&rng, 2), .H = hh[0], .HK = hh[1],
                      .M = 1 + th_rng_int(&rng, 60), .N = 1 + th_rng_int(&rng, 60), .D = 64,
                      .causal = th_rng_int(&rng, 2), .BM = th_rng_int(&rng, 2) ? 16 : 32,
                      .BN = th_rng_int(&rng, 2) ? 8 : 16};
        int32_t *doc = TH_NEW(int32_t, (size_t)c.Z * c.N);
        for (int z = 0; z < c.Z; z++) {
            int id = th_rng_int(&rng, 1000), left = 0;
            for (int p = 0; p < c.N; p++) {
                if (left == 0) {
                    left = 1 + th_rng_int(&rng, 25);
                    id++;
                }
                doc[(size_t)z * c.N + p] = id;
                left--;
            }
        }
        if (!run_doc(&c, doc, 11000 + (uint64_t)n)) failed++;
        free(doc);
    }
    assert_int_equal(failed, 0);
}

/* The doc tensor's dims are the kernel's Z and N: checked at launch. */
static void test_document_dims_checked(void **state)
{
    (void)state;
    th_kernel kern;
    assert_true(th_compile(&kern, "attention/flash_fwd.tile", "flash_fwd_document",
                           "T=f32,D=16,BM=16,BN=16"));
    assert_int_equal(kern.fn->nparams, 7);
    assert_string_equal(kern.fn->params[6].name, "doc");
    th_tensor tq = th_tensor_new(IR_F32, TH_DIMS(1, 1, 4, 16), NULL);
    th_tensor tk = th_tensor_new(IR_F32, TH_DIMS(1, 1, 6, 16), NULL);
    th_tensor to = th_tensor_new(IR_F32, TH_DIMS(1, 1, 4, 16), NULL);
    th_tensor tl = th_tensor_new(IR_F32, TH_DIMS(1, 1, 4), NULL);
    th_tensor tdoc = th_tensor_new(IR_I32, TH_DIMS(1, 5), NULL); /* N is 6 */
    float zeros[96] = {0};
    th_tensor_set(&tq, zeros);
    th_tensor_set(&tk, zeros);
    th_tensor_set_i32(&tdoc, (const int32_t[5]){0});
    int before = kern.unit->diags.nerrors;
    assert_false(th_launch(&kern, (th_arg[]){TH_T("q", &tq), TH_T("k", &tk), TH_T("v", &tk),
                                             TH_T("o", &to), TH_T("lse", &tl), TH_S("scale", 1),
                                             TH_T("doc", &tdoc)},
                           7));
    assert_true(kern.unit->diags.nerrors > before);
    char *err = diag_render(&kern.unit->diags, &kern.unit->mem);
    assert_non_null(strstr(err, "argument 'doc'"));
    th_tensor_free(&tq), th_tensor_free(&tk), th_tensor_free(&to), th_tensor_free(&tl);
    th_tensor_free(&tdoc);
    th_kernel_free(&kern);
}

/* ---- check_kv_range -------------------------------------------------------- */

typedef enum { R_FULL, R_CAUSAL, R_SLIDING } range_kind;

typedef struct range_fn {
    range_kind kind;
    int W, S;
} range_fn;

typedef struct check_case {
    attn_mask mask;
    range_fn range;
    int M, N, BM, BN;
} check_case;

static const char *mask_define(const attn_mask *m, char *buf, size_t n)
{
    switch (m->kind) {
    case ATTN_MASK_FULL: snprintf(buf, n, "full_mask"); break;
    case ATTN_MASK_CAUSAL: snprintf(buf, n, "causal"); break;
    default: snprintf(buf, n, "sliding_window(W: %d, S: %d)", m->window, m->sinks); break;
    }
    return buf;
}

static const char *range_define(const range_fn *r, char *buf, size_t n)
{
    switch (r->kind) {
    case R_FULL: snprintf(buf, n, "full_range"); break;
    case R_CAUSAL: snprintf(buf, n, "causal_range"); break;
    case R_SLIDING: snprintf(buf, n, "sliding_window_range(W: %d, S: %d)", r->W, r->S); break;
    }
    return buf;
}

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }
static int cdiv(int a, int b) { return (a + b - 1) / b; }

/* The kernels' key loop for rows [q_lo, q_hi), independently of the .tile
 * code: does it visit key block kb? */
static bool ref_visits(const range_fn *r, int q_lo, int q_hi, int M, int N, int BN, int kb)
{
    int sink_end = 0, lo = 0, hi = N;
    if (r->kind != R_FULL) hi = imin(imax(q_hi + (N - M), 0), N);
    if (r->kind == R_SLIDING) {
        lo = imin(imax(q_lo + (N - M) - r->W + 1, 0), hi);
        sink_end = imin(r->S, hi);
    }
    int sink_blocks = cdiv(sink_end, BN);
    int first_window = imax(lo / BN, sink_blocks);
    int nblocks = sink_blocks + imax(cdiv(hi, BN) - first_window, 0);
    if (kb < sink_blocks) return kb < nblocks;
    return kb >= first_window && kb < first_window + (nblocks - sink_blocks);
}

/* One of the two checker kernels: its name, its range parameter, how the
 * range fn is spelled, and (independently of the .tile code) whether the
 * kernels' loop visits block (qb, kb). */
typedef struct checker {
    const char *kernel, *param;
    const char *(*define)(const range_fn *r, char *buf, size_t n);
    bool (*visits)(const check_case *c, int qb, int kb);
} checker;

static bool kv_visits(const check_case *c, int qb, int kb)
{
    return ref_visits(&c->range, qb * c->BM, imin((qb + 1) * c->BM, c->M), c->M, c->N, c->BN, kb);
}

static const checker KV_CHECK = {"check_kv_range", "kv_range", range_define, kv_visits};

/* Runs the checker for c; *nmissed = number of 1s.  The output must equal
 * the C reference element for element. */
static bool run_checker(const checker *k, const check_case *c, int *nmissed)
{
    char mbuf[64], rbuf[80], defines[256];
    snprintf(defines, sizeof defines, "mask=%s,%s=%s,M=%d,N=%d,BM=%d,BN=%d,strict=false",
             mask_define(&c->mask, mbuf, sizeof mbuf), k->param, k->define(&c->range, rbuf, sizeof rbuf),
             c->M, c->N, c->BM, c->BN);
    th_kernel kern;
    if (!th_compile(&kern, "attention/masks.tile", k->kernel, defines)) return false;
    int MB = cdiv(c->M, c->BM), NB = cdiv(c->N, c->BN);
    th_tensor tm = th_tensor_new(IR_I32, TH_DIMS(MB, NB), NULL);
    bool ok = th_launch(&kern, (th_arg[]){TH_T("missed", &tm)}, 1);
    *nmissed = 0;
    if (ok) {
        float *got = TH_NEW(float, (size_t)MB * NB);
        th_tensor_get(&tm, got);
        attn_dims d = {.Z = 1, .H = 1, .HK = 1, .M = c->M, .N = c->N, .D = 1};
        for (int qb = 0; qb < MB; qb++)
            for (int kb = 0; kb < NB; kb++) {
                bool visible = false;
                for (int i = qb * c->BM; i < imin((qb + 1) * c->BM, c->M); i++)
                    for (int j = kb * c->BN; j < imin((kb + 1) * c->BN, c->N); j++)
                        visible |= attn_ref_visible(&c->mask, &d, 0, 0, i, j);
                float want = visible && !k->visits(c, qb, kb) ? 1.0f : 0.0f;
                float g = got[(size_t)qb * NB + kb];
                if (g != want) {
                    fprintf(stderr, "%s: missed[%d, %d] = %g, want %g\n", kern.label, qb, kb,
                            (double)g, (double)want);
                    ok = false;
                }
                *nmissed += g == 1.0f;
            }
        free(got);
    }
    th_tensor_free(&tm);
    th_kernel_free(&kern);
    return ok;
}

static bool run_check(const check_case *c, int *nmissed) { return run_checker(&KV_CHECK, c, nmissed); }

#define FULL_M {.kind = ATTN_MASK_FULL}
#define CAUSAL_M {.kind = ATTN_MASK_CAUSAL}
#define SLIDING_M(w, s) {.kind = ATTN_MASK_SLIDING, .window = (w), .sinks = (s)}

/* The library's pairs are consistent at every size tried. */
static void test_check_kv_range_library_pairs(void **state)
{
    (void)state;
    static const int sizes[][2] = {{1, 1}, {1, 37}, {37, 1}, {45, 45}, {30, 47}, {47, 30},
                                   {64, 64}, {100, 130}, {17, 16}};
    static const int blocks[][2] = {{16, 16}, {16, 8}, {32, 16}, {8, 32}, {7, 5}};
    static const struct { attn_mask mask; range_fn range; } pairs[] = {
        {FULL_M, {R_FULL, 0, 0}},
        {CAUSAL_M, {R_CAUSAL, 0, 0}},
        {CAUSAL_M, {R_FULL, 0, 0}},
        {SLIDING_M(8, 0), {R_SLIDING, 8, 0}},
        {SLIDING_M(9, 3), {R_SLIDING, 9, 3}},
        {SLIDING_M(20, 18), {R_SLIDING, 20, 18}},
        {SLIDING_M(1, 0), {R_SLIDING, 1, 0}},
        {SLIDING_M(0, 2), {R_SLIDING, 0, 2}},
        {SLIDING_M(5, 2), {R_CAUSAL, 0, 0}},
    };
    int failed = 0, runs = 0;
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
                /* every size with the first block shape; every shape at two sizes */
                if (b > 0 && s != 3 && s != 4) continue;
                check_case c = {pairs[p].mask, pairs[p].range, sizes[s][0], sizes[s][1],
                                blocks[b][0], blocks[b][1]};
                int missed;
                bool ok = run_check(&c, &missed);
                if (!ok || missed) {
                    fprintf(stderr, "pair %zu, M=%d N=%d BM=%d BN=%d: %d missed blocks\n", p, c.M,
                            c.N, c.BM, c.BN, missed);
                    failed++;
                }
                runs++;
            }
    assert_true(runs > 100);
    assert_int_equal(failed, 0);
}

/* Ranges narrower than their masks are caught. */
static void test_check_kv_range_wrong_pairs(void **state)
{
    (void)state;
    const check_case cases[] = {
        {FULL_M, {R_CAUSAL, 0, 0}, 45, 45, 16, 16},
        {FULL_M, {R_CAUSAL, 0, 0}, 100, 130, 16, 16},
        /* the range's window starts one key late: visible only across a block
         * boundary, which N - M = 7 puts at the window's start */
        {SLIDING_M(9, 0), {R_SLIDING, 8, 0}, 40, 47, 16, 16},
        {SLIDING_M(9, 0), {R_SLIDING, 8, 0}, 64, 71, 16, 16},
        {SLIDING_M(9, 0), {R_SLIDING, 8, 0}, 64, 64, 5, 8},     /* M = N: odd blocks */
        /* sinks forgotten by the range */
        {SLIDING_M(8, 4), {R_SLIDING, 8, 0}, 64, 64, 16, 16},
        /* a causal mask with a window range */
        {CAUSAL_M, {R_SLIDING, 16, 0}, 64, 64, 16, 16},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int missed;
        if (!run_check(&cases[i], &missed) || missed == 0) {
            fprintf(stderr, "wrong pair %zu: not caught (%d missed blocks)\n", i, missed);
            failed++;
        }
    }
    assert_int_equal(failed, 0);
    /* The first case by hand: rows 0..15 visit key block 0 only, rows 16..31
     * blocks 0 and 1, rows 32..44 all three. */
    th_kernel kern;
    assert_true(th_compile(&kern, "attention/masks.tile", "check_kv_range",
                           "mask=full_mask,kv_range=causal_range,M=45,N=45,strict=false"));
    th_tensor tm = th_tensor_new(IR_I32, TH_DIMS(3, 3), NULL);
    assert_true(th_launch(&kern, (th_arg[]){TH_T("missed", &tm)}, 1));
    float got[9];
    th_tensor_get(&tm, got);
    const float want[9] = {0, 1, 1, 0, 0, 1, 0, 0, 0};
    for (int i = 0; i < 9; i++) assert_true(got[i] == want[i]);
    th_tensor_free(&tm);
    th_kernel_free(&kern);
}

/* ---- launch preconditions the shapes cannot state --------------------------- */

/* Launches with an H that HK does not divide; the run must stop with the
 * library's assertion message. */
static void expect_assert(const char *file, const char *kernel, const char *defines,
                          const th_arg *args, int nargs, const char *message)
{
    th_kernel kern;
    assert_true(th_compile(&kern, file, kernel, defines));
    assert_false(th_launch(&kern, args, nargs));
    char *err = diag_render(&kern.unit->diags, &kern.unit->mem);
    char want[200];
    snprintf(want, sizeof want, "error: assertion failed: %s (program 0, 0, 0)", message);
    if (!strstr(err, want)) fail_msg("%s: want '%s' in:\n%s", kernel, want, err);
    th_kernel_free(&kern);
}

/* -D CHECK_RANGES=true: a hand-written range narrower than what the mask's
 * derived bounds visit stops the launch (flash_fwd's key loop, flash_bwd_dkdv's
 * query loop); a matching range runs; without the flag nothing is checked. */
static bool launch_ok(const char *file, const char *kernel, const char *defines,
                      const th_arg *args, int nargs, const char *want_error)
{
    th_kernel kern;
    assert_true(th_compile(&kern, file, kernel, defines));
    bool ok = th_launch(&kern, args, nargs);
    if (want_error) {
        char *err = diag_render(&kern.unit->diags, &kern.unit->mem);
        if (ok || !strstr(err, want_error)) fail_msg("%s [%s]: want '%s' in:\n%s", kernel, defines,
                                                     want_error, err);
    }
    th_kernel_free(&kern);
    return ok;
}

static void test_check_ranges(void **state)
{
    (void)state;
    enum { M = 64, N = 64, D = 16 };
    th_tensor q = th_tensor_new(IR_F32, TH_DIMS(1, 1, M, D), NULL);
    th_tensor k = th_tensor_new(IR_F32, TH_DIMS(1, 1, N, D), NULL);
    th_tensor o = th_tensor_new(IR_F32, TH_DIMS(1, 1, M, D), NULL);
    th_tensor lse = th_tensor_new(IR_F32, TH_DIMS(1, 1, M), NULL);
    th_tensor dk = th_tensor_new(IR_F32, TH_DIMS(1, 1, N, D), NULL);
    th_tensor dv = th_tensor_new(IR_F32, TH_DIMS(1, 1, N, D), NULL);
    float zeros[M * D] = {0};
    th_tensor_set(&q, zeros), th_tensor_set(&k, zeros), th_tensor_set(&lse, zeros);
    const th_arg fwd[] = {TH_T("q", &q), TH_T("k", &k), TH_T("v", &k), TH_T("o", &o),
                          TH_T("lse", &lse), TH_S("scale", 1)};
    const char *F = "attention/flash_fwd.tile";
    const char *narrow = "T=f32,D=16,BM=16,BN=16,mask=causal,kv_range=sliding_window_range(W: 4)";
    assert_true(launch_ok(F, "flash_fwd", narrow, fwd, 6, NULL));       /* unchecked: runs */
    char defs[200];
    snprintf(defs, sizeof defs, "%s,CHECK_RANGES=true", narrow);
    assert_false(launch_ok(F, "flash_fwd", defs, fwd, 6,
                           "assertion failed: kv_range skips key blocks the mask's derived bounds visit"));
    assert_true(launch_ok(F, "flash_fwd", "T=f32,D=16,BM=16,BN=16,mask=sliding_window(W: 20, S: 3),"
                          "kv_range=sliding_window_range(W: 20, S: 3),CHECK_RANGES=true", fwd, 6, NULL));
    assert_true(launch_ok(F, "flash_fwd", "T=f32,D=16,BM=16,BN=16,mask=causal,"
                          "kv_range=causal_range,CHECK_RANGES=true", fwd, 6, NULL));

    const th_arg bwd[] = {TH_T("q", &q), TH_T("k", &k), TH_T("v", &k), TH_T("dout", &q),
                          TH_T("lse", &lse), TH_T("delta", &lse), TH_T("dk", &dk), TH_T("dv", &dv),
                          TH_S("scale", 1)};
    const char *B = "attention/flash_bwd.tile";
    assert_false(launch_ok(B, "flash_bwd_dkdv", "T=f32,D=16,BM=16,BN=16,mask=full_mask,"
                           "q_range=causal_q_range,CHECK_RANGES=true", bwd, 9,
                           "assertion failed: q_range skips query blocks the mask's derived bounds visit"));
    assert_true(launch_ok(B, "flash_bwd_dkdv", "T=f32,D=16,BM=16,BN=16,mask=causal,"
                          "q_range=causal_q_range,CHECK_RANGES=true", bwd, 9, NULL));
    th_tensor_free(&q), th_tensor_free(&k), th_tensor_free(&o), th_tensor_free(&lse);
    th_tensor_free(&dk), th_tensor_free(&dv);
}

static void test_library_asserts(void **state)
{
    (void)state;
    const char *heads = "query heads must be a multiple of key/value heads";
    th_tensor q = th_tensor_new(IR_F32, TH_DIMS(1, 3, 4, 16), NULL);
    th_tensor k = th_tensor_new(IR_F32, TH_DIMS(1, 2, 4, 16), NULL);
    th_tensor o = th_tensor_new(IR_F32, TH_DIMS(1, 3, 4, 16), NULL);
    th_tensor lse = th_tensor_new(IR_F32, TH_DIMS(1, 3, 4), NULL);
    float zeros[192] = {0};
    th_tensor_set(&q, zeros);
    th_tensor_set(&k, zeros);
    const th_arg fwd[] = {TH_T("q", &q), TH_T("k", &k), TH_T("v", &k), TH_T("o", &o),
                          TH_T("lse", &lse), TH_S("scale", 1)};
    expect_assert("attention/flash_fwd.tile", "flash_fwd", "T=f32,D=16,BM=16,BN=16", fwd, 6,
                  heads);

    /* block_sparse: kv_idx with 2 query blocks for M = 4, BM = 2 (needs 2): fine
     * heads-wise with H = HK; 3 rows in kv_cnt would be wrong. */
    th_tensor q2 = th_tensor_new(IR_F32, TH_DIMS(1, 2, 4, 16), NULL);
    th_tensor k2 = th_tensor_new(IR_F32, TH_DIMS(1, 2, 4, 16), NULL);
    th_tensor o2 = th_tensor_new(IR_F32, TH_DIMS(1, 2, 4, 16), NULL);
    th_tensor lse2 = th_tensor_new(IR_F32, TH_DIMS(1, 2, 4), NULL);
    th_tensor idx = th_tensor_new(IR_I32, TH_DIMS(1, 2, 3, 1), NULL);
    th_tensor cnt = th_tensor_new(IR_I32, TH_DIMS(1, 2, 3), NULL);
    th_tensor_set(&q2, zeros);
    th_tensor_set(&k2, zeros);
    th_tensor_set_i32(&idx, (const int32_t[6]){0});
    th_tensor_set_i32(&cnt, (const int32_t[6]){0});
    const th_arg sparse[] = {TH_T("q", &q2), TH_T("k", &k2), TH_T("v", &k2),
                             TH_T("kv_idx", &idx), TH_T("kv_cnt", &cnt), TH_T("o", &o2),
                             TH_T("lse", &lse2), TH_S("scale", 1)};
    expect_assert("attention/block_sparse.tile", "block_sparse_fwd", "T=f32,D=16,BM=2,BN=2",
                  sparse, 8, "kv_idx and kv_cnt need one row per query block: cdiv(M, BM)");
    /* With 2 query blocks: a count above kv_idx's row length, then a listed
     * block past the keys (N = 4, BN = 2: blocks 0 and 1). */
    th_tensor idx2 = th_tensor_new(IR_I32, TH_DIMS(1, 2, 2, 1), NULL);
    th_tensor cnt2 = th_tensor_new(IR_I32, TH_DIMS(1, 2, 2), NULL);
    th_tensor_set_i32(&idx2, (const int32_t[4]){0, 0, 0, 0});
    th_tensor_set_i32(&cnt2, (const int32_t[4]){2, 0, 0, 0});
    th_arg sparse2[8];
    memcpy(sparse2, sparse, sizeof sparse2);
    sparse2[3] = TH_T("kv_idx", &idx2);
    sparse2[4] = TH_T("kv_cnt", &cnt2);
    expect_assert("attention/block_sparse.tile", "block_sparse_fwd", "T=f32,D=16,BM=2,BN=2",
                  sparse2, 8, "kv_cnt must not exceed the length of a kv_idx row");
    th_tensor_set_i32(&idx2, (const int32_t[4]){2, 0, 0, 0});
    th_tensor_set_i32(&cnt2, (const int32_t[4]){1, 0, 0, 0});
    expect_assert("attention/block_sparse.tile", "block_sparse_fwd", "T=f32,D=16,BM=2,BN=2",
                  sparse2, 8, "kv_idx entries must be key blocks in [0, cdiv(N, BN))");
    th_tensor_free(&idx2), th_tensor_free(&cnt2);
    th_tensor_free(&q), th_tensor_free(&k), th_tensor_free(&o), th_tensor_free(&lse);
    th_tensor_free(&q2), th_tensor_free(&k2), th_tensor_free(&o2), th_tensor_free(&lse2);
    th_tensor_free(&idx), th_tensor_free(&cnt);
}

/* ---- check_q_range --------------------------------------------------------- */

static const char *q_range_define(const range_fn *r, char *buf, size_t n)
{
    switch (r->kind) {
    case R_FULL: snprintf(buf, n, "full_q_range"); break;
    case R_CAUSAL: snprintf(buf, n, "causal_q_range"); break;
    case R_SLIDING: snprintf(buf, n, "sliding_window_q_range(W: %d, S: %d)", r->W, r->S); break;
    }
    return buf;
}

/* flash_bwd_dkdv's loop over query blocks for key block [k_lo, k_hi),
 * independently of the .tile code: does it visit query block qb? */
static bool ref_q_visits(const range_fn *r, int k_lo, int k_hi, int M, int N, int BM, int qb)
{
    int lo = 0, hi = M;
    if (r->kind != R_FULL) lo = imin(imax(k_lo - (N - M), 0), M);
    if (r->kind == R_SLIDING) {
        int window_hi = imin(imax(k_hi - 1 + r->W - (N - M), lo), M);
        hi = k_lo < r->S ? M : window_hi;
    }
    return qb >= lo / BM && qb < cdiv(hi, BM);
}

static bool q_visits(const check_case *c, int qb, int kb)
{
    return ref_q_visits(&c->range, kb * c->BN, imin((kb + 1) * c->BN, c->N), c->M, c->N, c->BM, qb);
}

static const checker Q_CHECK = {"check_q_range", "q_range", q_range_define, q_visits};

static bool run_q_check(const check_case *c, int *nmissed) { return run_checker(&Q_CHECK, c, nmissed); }

/* The backward's q-range fns are consistent with their masks at every size
 * tried, and narrower ranges are caught. */
static void test_check_q_range(void **state)
{
    (void)state;
    static const int sizes[][2] = {{1, 1}, {1, 37}, {37, 1}, {45, 45}, {30, 47}, {47, 30},
                                   {100, 130}};
    static const int blocks[][2] = {{16, 16}, {16, 8}, {7, 5}};
    static const struct { attn_mask mask; range_fn range; } pairs[] = {
        {FULL_M, {R_FULL, 0, 0}},
        {CAUSAL_M, {R_CAUSAL, 0, 0}},
        {SLIDING_M(8, 0), {R_SLIDING, 8, 0}},
        {SLIDING_M(9, 3), {R_SLIDING, 9, 3}},
        {SLIDING_M(20, 18), {R_SLIDING, 20, 18}},
        {SLIDING_M(0, 2), {R_SLIDING, 0, 2}},
        {SLIDING_M(5, 2), {R_CAUSAL, 0, 0}},
    };
    int failed = 0;
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
                check_case c = {pairs[p].mask, pairs[p].range, sizes[s][0], sizes[s][1],
                                blocks[b][0], blocks[b][1]};
                int missed;
                if (!run_q_check(&c, &missed) || missed) {
                    fprintf(stderr, "q pair %zu, M=%d N=%d BM=%d BN=%d: %d missed blocks\n", p,
                            c.M, c.N, c.BM, c.BN, missed);
                    failed++;
                }
            }
    const check_case wrong[] = {
        {FULL_M, {R_CAUSAL, 0, 0}, 45, 45, 16, 16},
        {SLIDING_M(30, 0), {R_SLIDING, 8, 0}, 64, 64, 16, 16},
        {SLIDING_M(8, 4), {R_SLIDING, 8, 0}, 64, 64, 16, 16}, /* sinks forgotten */
    };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        int missed;
        if (!run_q_check(&wrong[i], &missed) || missed == 0) {
            fprintf(stderr, "wrong q pair %zu: not caught\n", i);
            failed++;
        }
    }
    assert_int_equal(failed, 0);
}

/* By default (strict) a missed block fails the run with an assertion, so
 * `tilec run -k check_kv_range` exits 1; a consistent pair passes. */
static void test_checkers_fail_on_a_missed_block(void **state)
{
    (void)state;
    const char *files[] = {"attention/masks.tile", "attention/masks.tile"};
    const char *kernels[] = {"check_kv_range", "check_q_range"};
    const char *wrong[] = {"mask=full_mask,kv_range=causal_range,M=45,N=45",
                           "mask=full_mask,q_range=causal_q_range,M=45,N=45"};
    const char *right[] = {"mask=causal,kv_range=causal_range,M=45,N=45",
                           "mask=causal,q_range=causal_q_range,M=45,N=45"};
    const char *why[] = {"check_kv_range: the range fn skips key blocks the mask needs",
                         "check_q_range: the q-range fn skips query blocks the mask needs"};
    for (int i = 0; i < 2; i++) {
        th_tensor tm = th_tensor_new(IR_I32, TH_DIMS(3, 3), NULL);
        const th_arg args[] = {TH_T("missed", &tm)};
        th_kernel kern;
        assert_true(th_compile(&kern, files[i], kernels[i], right[i]));
        assert_true(th_launch(&kern, args, 1));
        th_kernel_free(&kern);
        assert_true(th_compile(&kern, files[i], kernels[i], wrong[i]));
        assert_false(th_launch(&kern, args, 1));
        char *err = diag_render(&kern.unit->diags, &kern.unit->mem);
        char want[200];
        snprintf(want, sizeof want, "error: assertion failed: %s (-D strict=false", why[i]);
        if (!strstr(err, want)) fail_msg("%s: want '%s' in:\n%s", kernels[i], want, err);
        th_kernel_free(&kern);
        th_tensor_free(&tm);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_ranges),
        cmocka_unit_test(test_document_odd_lengths_f32),
        cmocka_unit_test(test_document_m_ne_n_f32),
        cmocka_unit_test(test_document_gqa_f32),
        cmocka_unit_test(test_document_single_tokens_f32),
        cmocka_unit_test(test_document_bf16),
        cmocka_unit_test(test_document_random_f32),
        cmocka_unit_test(test_document_dims_checked),
        cmocka_unit_test(test_check_kv_range_library_pairs),
        cmocka_unit_test(test_check_kv_range_wrong_pairs),
        cmocka_unit_test(test_check_q_range),
        cmocka_unit_test(test_checkers_fail_on_a_missed_block),
        cmocka_unit_test(test_library_asserts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
