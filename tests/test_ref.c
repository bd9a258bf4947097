/* test_ref.c - tests of the naive references themselves (tests/ref/attn_ref.c).
 *
 * The library tests are only as good as the references, so these check them
 * without the compiler: tiny cases worked out by hand, invariants (softmax
 * rows sum to 1, GQA equals MHA with repeated heads), the analytic gradient
 * against central finite differences of the forward, the decode and combine
 * references against the plain forward, and Lightning's O(N^2) sum against
 * the recurrent state form. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ref/attn_ref.h"
#include "ref/harness.h"

#define NEAR(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (tol))

static void test_fwd_by_hand(void **state)
{
    (void)state;
    /* One query, two keys, D = 1: s = [0, 1], P = [1, e] / (1 + e). */
    attn_dims d = {.Z = 1, .H = 1, .HK = 1, .M = 1, .N = 2, .D = 1};
    float q[] = {1}, k[] = {0, 1}, v[] = {3, -2};
    double o[1], lse[1];
    attn_ref_fwd(&d, q, k, v, 1.0, NULL, o, lse);
    double e = exp(1.0);
    NEAR(o[0], (3 - 2 * e) / (1 + e), 1e-12);
    NEAR(lse[0], log(1 + e), 1e-12);

    /* The scale multiplies the scores: scale 2 gives s = [0, 2]. */
    attn_ref_fwd(&d, q, k, v, 2.0, NULL, o, lse);
    NEAR(o[0], (3 - 2 * exp(2.0)) / (1 + exp(2.0)), 1e-12);
    NEAR(lse[0], log(1 + exp(2.0)), 1e-12);
}

static void test_mask_geometry(void **state)
{
    (void)state;
    /* M = 3 queries, N = 5 keys: causal is bottom-right aligned, row i sees j <= i + 2. */
    attn_dims d = {.Z = 1, .H = 1, .HK = 1, .M = 3, .N = 5, .D = 1};
    attn_mask causal = {.kind = ATTN_MASK_CAUSAL};
    const char *want_causal[] = {"11100", "11110", "11111"};
    /* window 2, one sink: row i sees j in (i' - 2, i'] plus key 0. */
    attn_mask sw = {.kind = ATTN_MASK_SLIDING, .window = 2, .sinks = 1};
    const char *want_sw[] = {"11100", "10110", "10011"};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++) {
            assert_int_equal(attn_ref_visible(&causal, &d, 0, 0, i, j), want_causal[i][j] == '1');
            assert_int_equal(attn_ref_visible(&sw, &d, 0, 0, i, j), want_sw[i][j] == '1');
        }
    /* M > N: the first M - N rows see nothing. */
    attn_dims tall = {.Z = 1, .H = 1, .HK = 1, .M = 5, .N = 3, .D = 1};
    assert_false(attn_ref_visible(&causal, &tall, 0, 0, 1, 0));
    assert_true(attn_ref_visible(&causal, &tall, 0, 0, 2, 0));
    assert_false(attn_ref_visible(&causal, &tall, 0, 0, 2, 1));
    assert_true(attn_ref_visible(&causal, &tall, 0, 0, 4, 2));
}

/* Document masks by hand: two batches of N = 6 key positions packed with
 * documents, M = 4 query rows aligned to the last 4 positions (i' = i + 2);
 * and M = 7 > N, whose first row has no position. */
static void test_document_mask_geometry(void **state)
{
    (void)state;
    const int32_t doc[] = {0, 0, 1, 1, 1, 2,   /* batch 0 */
                           5, 6, 6, 6, 6, 6};  /* batch 1 */
    attn_dims d = {.Z = 2, .H = 1, .HK = 1, .M = 4, .N = 6, .D = 1};
    attn_doc_mask dmask = {.mask = {.kind = ATTN_MASK_DOCUMENT}, .doc = doc};
    attn_doc_mask dcmask = {.mask = {.kind = ATTN_MASK_DOCUMENT_CAUSAL}, .doc = doc};
    const attn_mask *dm = &dmask.mask, *dc = &dcmask.mask;
    const char *want_doc[2][4] = {{"001110", "001110", "001110", "000001"},
                                  {"011111", "011111", "011111", "011111"}};
    const char *want_causal[2][4] = {{"001000", "001100", "001110", "000001"},
                                     {"011000", "011100", "011110", "011111"}};
    for (int z = 0; z < 2; z++)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 6; j++) {
                assert_int_equal(attn_ref_visible(dm, &d, z, 0, i, j), want_doc[z][i][j] == '1');
                assert_int_equal(attn_ref_visible(dc, &d, z, 0, i, j),
                                 want_causal[z][i][j] == '1');
            }
    attn_dims tall = {.Z = 1, .H = 1, .HK = 1, .M = 7, .N = 6, .D = 1};
    for (int j = 0; j < 6; j++) assert_false(attn_ref_visible(dm, &tall, 0, 0, 0, j));
    assert_true(attn_ref_visible(dm, &tall, 0, 0, 1, 1));   /* i' = 0, same document */
    assert_false(attn_ref_visible(dm, &tall, 0, 0, 1, 2));
    assert_true(attn_ref_visible(dc, &tall, 0, 0, 6, 5));
}

/* With V = 1 everywhere, O is the row sum of P: 1 for a row that sees a key,
 * 0 (and LSE -inf) for a fully masked one. */
static void test_softmax_rows_sum_to_one(void **state)
{
    (void)state;
    attn_dims d = {.Z = 2, .H = 2, .HK = 1, .M = 9, .N = 5, .D = 4};
    th_rng rng = th_rng_new(7);
    float *q = TH_NEW(float, 2 * 2 * 9 * 4), *k = TH_NEW(float, 2 * 5 * 4);
    float *v = TH_NEW(float, 2 * 5 * 4);
    th_fill(&rng, q, 2 * 2 * 9 * 4, -1, 1, IR_F32);
    th_fill(&rng, k, 2 * 5 * 4, -1, 1, IR_F32);
    for (int i = 0; i < 2 * 5 * 4; i++) v[i] = 1;
    double *o = TH_NEW(double, 2 * 2 * 9 * 4), *lse = TH_NEW(double, 2 * 2 * 9);
    attn_mask masks[] = {{.kind = ATTN_MASK_FULL}, {.kind = ATTN_MASK_CAUSAL},
                         {.kind = ATTN_MASK_SLIDING, .window = 2, .sinks = 1},
                         {.kind = ATTN_MASK_SLIDING, .window = 0, .sinks = 0}};
    for (size_t mi = 0; mi < sizeof masks / sizeof masks[0]; mi++) {
        attn_ref_fwd(&d, q, k, v, 0.5, &masks[mi], o, lse);
        for (int z = 0; z < 2; z++)
            for (int h = 0; h < 2; h++)
                for (int i = 0; i < 9; i++) {
                    bool any = false;
                    for (int j = 0; j < 5; j++) any |= attn_ref_visible(&masks[mi], &d, z, h, i, j);
                    size_t row = ((size_t)z * 2 + h) * 9 + i;
                    if (any) {
                        assert_true(isfinite(lse[row]));
                    } else {
                        assert_true(lse[row] == -INFINITY);
                    }
                    for (int c = 0; c < 4; c++) NEAR(o[row * 4 + c], any ? 1.0 : 0.0, 1e-12);
                }
    }
    free(q), free(k), free(v), free(o), free(lse);
}

/* GQA: query head h reads kv head h / (H / HK); the same as MHA on repeated heads. */
static void test_gqa_equals_repeated_heads(void **state)
{
    (void)state;
    enum { H = 4, HK = 2, M = 6, N = 7, D = 3 };
    attn_dims g = {.Z = 1, .H = H, .HK = HK, .M = M, .N = N, .D = D};
    attn_dims mha = {.Z = 1, .H = H, .HK = H, .M = M, .N = N, .D = D};
    th_rng rng = th_rng_new(11);
    float q[H * M * D], k[HK * N * D], v[HK * N * D], kr[H * N * D], vr[H * N * D];
    th_fill(&rng, q, H * M * D, -1, 1, IR_F32);
    th_fill(&rng, k, HK * N * D, -1, 1, IR_F32);
    th_fill(&rng, v, HK * N * D, -1, 1, IR_F32);
    for (int h = 0; h < H; h++) {
        memcpy(kr + h * N * D, k + (h / (H / HK)) * N * D, sizeof(float) * N * D);
        memcpy(vr + h * N * D, v + (h / (H / HK)) * N * D, sizeof(float) * N * D);
    }
    double o1[H * M * D], o2[H * M * D], l1[H * M], l2[H * M];
    attn_mask causal = {.kind = ATTN_MASK_CAUSAL};
    attn_ref_fwd(&g, q, k, v, 0.7, &causal, o1, l1);
    attn_ref_fwd(&mha, q, kr, vr, 0.7, &causal, o2, l2);
    for (int i = 0; i < H * M * D; i++) NEAR(o1[i], o2[i], 1e-14);
    for (int i = 0; i < H * M; i++) NEAR(l1[i], l2[i], 1e-14);
}

/* L = sum(dout * O); each gradient entry against a central difference. */
static double loss(const attn_dims *d, const float *q, const float *k, const float *v,
                   const float *dout, double scale, const attn_mask *m)
{
    size_t n = (size_t)d->Z * d->H * d->M * d->D;
    double *o = TH_NEW(double, n), l = 0;
    attn_ref_fwd(d, q, k, v, scale, m, o, NULL);
    for (size_t i = 0; i < n; i++) l += dout[i] * o[i];
    free(o);
    return l;
}

static void check_fd(const attn_dims *d, float *x, size_t n, const double *grad, const float *q,
                     const float *k, const float *v, const float *dout, double scale,
                     const attn_mask *m)
{
    for (size_t i = 0; i < n; i++) {
        float saved = x[i];
        float hi = saved + 1e-2f, lo = saved - 1e-2f;
        x[i] = hi;
        double lp = loss(d, q, k, v, dout, scale, m);
        x[i] = lo;
        double lm = loss(d, q, k, v, dout, scale, m);
        x[i] = saved;
        double fd = (lp - lm) / ((double)hi - (double)lo);
        if (fabs(fd - grad[i]) > 1e-3 * fmax(1, fabs(grad[i])))
            fail_msg("gradient entry %zu: analytic %.9g, finite difference %.9g", i, grad[i], fd);
    }
}

static void test_bwd_matches_finite_differences(void **state)
{
    (void)state;
    enum { Z = 1, H = 4, HK = 2, M = 5, N = 4, D = 3 };
    attn_dims d = {.Z = Z, .H = H, .HK = HK, .M = M, .N = N, .D = D};
    th_rng rng = th_rng_new(3);
    float q[H * M * D], k[HK * N * D], v[HK * N * D], dout[H * M * D];
    th_fill(&rng, q, H * M * D, -1, 1, IR_F32);
    th_fill(&rng, k, HK * N * D, -1, 1, IR_F32);
    th_fill(&rng, v, HK * N * D, -1, 1, IR_F32);
    th_fill(&rng, dout, H * M * D, -1, 1, IR_F32);
    double dq[H * M * D], dk[HK * N * D], dv[HK * N * D];
    attn_mask masks[] = {{.kind = ATTN_MASK_FULL}, {.kind = ATTN_MASK_CAUSAL},
                         {.kind = ATTN_MASK_SLIDING, .window = 1, .sinks = 1}};
    for (size_t mi = 0; mi < sizeof masks / sizeof masks[0]; mi++) {
        attn_ref_bwd(&d, q, k, v, dout, 0.8, &masks[mi], dq, dk, dv);
        check_fd(&d, q, H * M * D, dq, q, k, v, dout, 0.8, &masks[mi]);
        check_fd(&d, k, HK * N * D, dk, q, k, v, dout, 0.8, &masks[mi]);
        check_fd(&d, v, HK * N * D, dv, q, k, v, dout, 0.8, &masks[mi]);
    }
}

/* Block-sparse layout -> dense mask, on a case drawn by hand: M = 5, N = 6,
 * BM = 2, BN = 4 (query blocks {0,1} {2,3} {4}; key blocks {0..3} {4,5}). */
static void test_block_sparse_mask(void **state)
{
    (void)state;
    attn_dims d = {.Z = 1, .H = 1, .HK = 1, .M = 5, .N = 6, .D = 1};
    int32_t idx[3 * 2] = {1, -1, /* empty */ 0, 0, 1, 0};
    int32_t cnt[3] = {1, 0, 2};
    uint8_t vis[5 * 6];
    attn_ref_block_sparse_mask(&d, 2, 4, 2, idx, cnt, NULL, vis);
    const char *want[] = {"000011", "000011", "000000", "000000", "111111"};
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 6; j++) assert_int_equal(vis[i * 6 + j], want[i][j] == '1');
    /* with causal inside (N - M = 1: row i sees j <= i + 1) */
    attn_mask causal = {.kind = ATTN_MASK_CAUSAL};
    attn_ref_block_sparse_mask(&d, 2, 4, 2, idx, cnt, &causal, vis);
    const char *want_c[] = {"000000", "000000", "000000", "000000", "111111"};
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 6; j++) assert_int_equal(vis[i * 6 + j], want_c[i][j] == '1');
}

/* Decoding over a shuffled paged cache equals the plain forward with M = 1
 * over the gathered keys; seq_len 0 gives O = 0, LSE = -inf. */
static void test_decode_equals_gathered_fwd(void **state)
{
    (void)state;
    enum { Z = 3, H = 4, HK = 2, D = 5, PS = 3, MAXP = 4, P = 12 };
    attn_paged_dims pd = {.Z = Z, .H = H, .HK = HK, .D = D, .P = P, .PS = PS, .MAXP = MAXP};
    th_rng rng = th_rng_new(5);
    float q[Z * H * D], kc[P * PS * HK * D], vc[P * PS * HK * D];
    th_fill(&rng, q, Z * H * D, -1, 1, IR_F32);
    th_fill(&rng, kc, P * PS * HK * D, -1, 1, IR_F32);
    th_fill(&rng, vc, P * PS * HK * D, -1, 1, IR_F32);
    int32_t pages[P];
    for (int i = 0; i < P; i++) pages[i] = i;
    th_rng_shuffle(&rng, pages, P);
    int32_t table[Z * MAXP], lens[Z] = {10, 0, 1};
    memcpy(table, pages, sizeof table);
    double o[Z * H * D], lse[Z * H];
    attn_ref_decode(&pd, q, kc, vc, table, lens, 0.6, o, lse);
    for (int z = 0; z < Z; z++) {
        int n = lens[z];
        if (n == 0) {
            for (int h = 0; h < H; h++) {
                assert_true(lse[z * H + h] == -INFINITY);
                for (int c = 0; c < D; c++) assert_true(o[(z * H + h) * D + c] == 0);
            }
            continue;
        }
        float k[HK * 10 * D], v[HK * 10 * D];
        for (int hk = 0; hk < HK; hk++)
            for (int j = 0; j < n; j++)
                for (int c = 0; c < D; c++) {
                    size_t page = (size_t)table[z * MAXP + j / PS];
                    size_t src = ((page * PS + j % PS) * HK + hk) * D + c;
                    k[(hk * n + j) * D + c] = kc[src];
                    v[(hk * n + j) * D + c] = vc[src];
                }
        attn_dims d = {.Z = 1, .H = H, .HK = HK, .M = 1, .N = n, .D = D};
        double of[H * D], lf[H];
        attn_ref_fwd(&d, q + z * H * D, k, v, 0.6, NULL, of, lf);
        for (int i = 0; i < H * D; i++) NEAR(o[z * H * D + i], of[i], 1e-12);
        for (int h = 0; h < H; h++) NEAR(lse[z * H + h], lf[h], 1e-12);
    }
}

/* Combining the partial results of key chunks gives the whole softmax; empty
 * chunks (LSE -inf) weigh nothing; all empty gives 0 and -inf. */
static void test_combine_equals_whole(void **state)
{
    (void)state;
    enum { N = 10, D = 4, S = 4 };
    int bounds[S + 1] = {0, 3, 3, 10, 10}; /* chunks 1 and 3 empty */
    th_rng rng = th_rng_new(9);
    float q[D], k[N * D], v[N * D];
    th_fill(&rng, q, D, -1, 1, IR_F32);
    th_fill(&rng, k, N * D, -1, 1, IR_F32);
    th_fill(&rng, v, N * D, -1, 1, IR_F32);
    float o_part[S * D], lse_part[S];
    for (int s = 0; s < S; s++) {
        int n = bounds[s + 1] - bounds[s];
        if (n == 0) {
            lse_part[s] = -INFINITY;
            for (int c = 0; c < D; c++) o_part[s * D + c] = 0;
            continue;
        }
        attn_dims d = {.Z = 1, .H = 1, .HK = 1, .M = 1, .N = n, .D = D};
        double o[D], l;
        attn_ref_fwd(&d, q, k + bounds[s] * D, v + bounds[s] * D, 1.0, NULL, o, &l);
        for (int c = 0; c < D; c++) o_part[s * D + c] = (float)o[c];
        lse_part[s] = (float)l;
    }
    double o[D], lse, ow[D], lw;
    attn_ref_combine(1, S, D, o_part, lse_part, o, &lse);
    attn_dims d = {.Z = 1, .H = 1, .HK = 1, .M = 1, .N = N, .D = D};
    attn_ref_fwd(&d, q, k, v, 1.0, NULL, ow, &lw);
    for (int c = 0; c < D; c++) NEAR(o[c], ow[c], 1e-6);
    NEAR(lse, lw, 1e-6);

    float empty_o[S * D] = {0}, empty_l[S] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    attn_ref_combine(1, S, D, empty_o, empty_l, o, &lse);
    assert_true(lse == -INFINITY);
    for (int c = 0; c < D; c++) assert_true(o[c] == 0);
}

static void test_lightning_by_hand(void **state)
{
    (void)state;
    /* N = 2, D = E = 1, decay 0.5: o_0 = (1*1)*3 = 3, o_1 = 0.5*(1*1)*3 + (1*2)*4 = 9.5 */
    lightning_dims d = {.Z = 1, .H = 1, .N = 2, .D = 1, .E = 1};
    float q[] = {1, 1}, k[] = {1, 2}, v[] = {3, 4}, decay[] = {0.5f};
    double o[2];
    attn_ref_lightning(&d, q, k, v, decay, o);
    NEAR(o[0], 3, 1e-14);
    NEAR(o[1], 9.5, 1e-14);
    attn_ref_lightning_recurrent(&d, q, k, v, decay, o);
    NEAR(o[0], 3, 1e-14);
    NEAR(o[1], 9.5, 1e-14);
}

static void test_lightning_sum_equals_recurrence(void **state)
{
    (void)state;
    enum { Z = 2, H = 3, N = 37, D = 5, E = 7 };
    lightning_dims d = {.Z = Z, .H = H, .N = N, .D = D, .E = E};
    th_rng rng = th_rng_new(13);
    float q[Z * H * N * D], k[Z * H * N * D], v[Z * H * N * E], decay[H] = {1.0f, 0.9f, 0.25f};
    th_fill(&rng, q, Z * H * N * D, -1, 1, IR_F32);
    th_fill(&rng, k, Z * H * N * D, -1, 1, IR_F32);
    th_fill(&rng, v, Z * H * N * E, -1, 1, IR_F32);
    double o1[Z * H * N * E], o2[Z * H * N * E];
    attn_ref_lightning(&d, q, k, v, decay, o1);
    attn_ref_lightning_recurrent(&d, q, k, v, decay, o2);
    for (int i = 0; i < Z * H * N * E; i++) NEAR(o1[i], o2[i], 1e-10 * fmax(1, fabs(o1[i])));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fwd_by_hand),
        cmocka_unit_test(test_mask_geometry),
        cmocka_unit_test(test_document_mask_geometry),
        cmocka_unit_test(test_softmax_rows_sum_to_one),
        cmocka_unit_test(test_gqa_equals_repeated_heads),
        cmocka_unit_test(test_bwd_matches_finite_differences),
        cmocka_unit_test(test_block_sparse_mask),
        cmocka_unit_test(test_decode_equals_gathered_fwd),
        cmocka_unit_test(test_combine_equals_whole),
        cmocka_unit_test(test_lightning_by_hand),
        cmocka_unit_test(test_lightning_sum_equals_recurrence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
