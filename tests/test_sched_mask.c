/* test_sched_mask.c - compiler/sched_mask.c: the counts of the block plan
 * derived from a mask, against closed forms.
 *
 * With nq = cdiv(M, BM) query blocks and nk = cdiv(N, BN) key blocks:
 *   full_mask: every block visited; full unless it holds keys past N (the
 *     last key block when N % BN != 0), so partial = nq or 0, skipped 0;
 *   causal, M = N, BM = BN = B: query block q visits key blocks 0..q
 *     (nq (nq + 1) / 2 in all, about half), the diagonal one partial, the
 *     others full except the last key block when N % B != 0 (never below
 *     a diagonal there), skipped nq (nq - 1) / 2;
 *   sliding_window(W), W = w B, M = N = n B: query block q visits blocks
 *     max(0, q - w) .. q; of them q - w + 1 .. q - 1 (clipped at 0) are
 *     full (w - 1 once q >= w - 1);
 * and every plan of these masks is exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compiler/sched_mask.h"

static sched_mask_plan plan(const char *mask, int64_t M, int64_t N, int BM, int BN)
{
    sched_mask_plan p;
    assert_int_equal(sched_mask_plan_compute(NULL, mask, M, N, BM, BN, &p, stderr), TILE_OK);
    assert_false(p.data);
    return p;
}

static void expect_exact(const sched_mask_plan *p)
{
    assert_int_equal(p->full + p->partial, p->visible);
    assert_int_equal(p->full, p->all_visible);
}

static void test_full_mask(void **state)
{
    (void)state;
    sched_mask_plan p = plan("full_mask", 256, 256, 64, 64);
    assert_int_equal(p.full, 16);
    assert_int_equal(p.partial, 0);
    p = plan("full_mask", 100, 130, 32, 16);        /* 4 x 9 blocks, 130 % 16 != 0 */
    assert_int_equal(p.full, 4 * 8);
    assert_int_equal(p.partial, 4);
    expect_exact(&p);
}

static void test_causal_about_half(void **state)
{
    (void)state;
    static const struct { int64_t n; int b; } shapes[] = {{4096, 64}, {1000, 32}, {77, 8}, {64, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t n = shapes[s].n, b = shapes[s].b, nb = (n + b - 1) / b;
        sched_mask_plan p = plan("causal", n, n, (int)b, (int)b);
        assert_int_equal(p.full + p.partial, nb * (nb + 1) / 2);
        assert_int_equal(p.partial, nb);
        assert_int_equal(p.full, nb * (nb - 1) / 2);
        assert_int_equal(p.qblocks * p.kblocks - p.full - p.partial, nb * (nb - 1) / 2);
        expect_exact(&p);
    }
}

static void test_sliding_window(void **state)
{
    (void)state;
    enum { B = 16, w = 4, n = 20 };
    sched_mask_plan p = plan("sliding_window(W: 64)", n * B, n * B, B, B);
    int64_t visited = 0, full = 0;
    for (int q = 0; q < n; q++) {
        int first = q - w > 0 ? q - w : 0, ffirst = q - w + 1 > 0 ? q - w + 1 : 0;
        visited += q - first + 1;
        full += q - ffirst > 0 ? q - ffirst : 0;
    }
    assert_int_equal(p.full + p.partial, visited);
    assert_int_equal(p.full, full);
    expect_exact(&p);
    assert_int_equal(p.slots, 2 - 1);               /* no sinks: one slot */
    p = plan("sliding_window(W: 64, S: 4)", n * B, n * B, B, B);
    assert_int_equal(p.slots, 2);
    assert_int_equal(p.full + p.partial, p.visible);
}

/* A mask that captures a tensor cannot be evaluated here: said, not failed. */
static void test_data_mask(void **state)
{
    (void)state;
    sched_mask_plan p;
    assert_int_equal(sched_mask_plan_compute(NULL, "document(doc: doc)", 64, 64, 16, 16, &p, stderr),
                     TILE_OK);
    assert_true(p.data);
    assert_non_null(strstr(p.note, "reads data"));
    assert_int_equal(sched_mask_plan_compute(NULL, "causal", 0, 64, 16, 16, &p, stderr), TILE_ERR_ARG);
}

static void test_describe(void **state)
{
    (void)state;
    sched_mask_plan p = plan("causal", 256, 256, 64, 64);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    sched_mask_plan_describe(f, &p);
    fclose(f);
    assert_non_null(strstr(text, "visited 10 (62.5%): full 6 (37.5%, no mask arithmetic), "
                                 "partial 4 (25.0%, masked); skipped 6 (37.5%)"));
    assert_non_null(strstr(text, "exact"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_mask),
        cmocka_unit_test(test_causal_about_half),
        cmocka_unit_test(test_sliding_window),
        cmocka_unit_test(test_data_mask),
        cmocka_unit_test(test_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
