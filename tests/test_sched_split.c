/* test_sched_split.c - compiler/sched_split.c (the split count of split-KV
 * decoding) and its runtime query tile_split_count.
 *
 * Expected values are worked by hand from the rule in docs/scheduling.md
 * (cost = waves x (pages per split + 4), waves over SMs x 4 slots, ties to
 * fewer splits), not taken from the code: e.g. 8 programs over 2048 pages
 * on 132 SMs (528 slots): one wave holds at most 66 splits (66 x 8 <= 528),
 * but 65 and 66 would leave a split empty (cdiv(2048, 32) = 64), so S = 64
 * of 32 pages, cost 36; two waves give 128 splits of 16 pages, cost 40.
 *
 * Tested: the issue-7 decode shapes (batch 1 and 8, 8 KV heads, 32k keys in
 * pages of 16) on sm_90 (132 SMs) and sm_80 (108 SMs); a batch that fills
 * the machine alone (S = 1); wave quantisation (300 programs); zero and one
 * page; the `tilec splits` table; the runtime query in interpreter mode
 * (sm_90) and its argument errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compiler/sched_split.h"
#include "runtime/tile.h"

static void expect(int sms, int64_t programs, int64_t pages, int64_t splits, int64_t per,
                   int64_t waves)
{
    sched_split_choice c = sched_split_count(sms, programs, pages);
    assert_int_equal(c.splits, splits);
    assert_int_equal(c.pages_per_split, per);
    assert_int_equal(c.waves, waves);
    assert_int_equal(c.cost, waves * (per + SCHED_SPLIT_OVERHEAD_PAGES));
}

static void test_decode_shapes(void **state)
{
    (void)state;
    expect(132, 8, 2048, 64, 32, 1);    /* batch 1 x 8 KV heads, 32k keys */
    expect(132, 64, 2048, 8, 256, 1);   /* batch 8: 8 x 64 = 512 <= 528 (16: 2 x 132) */
    /* A100, 432 slots: 54 splits of 38 (42) beat two waves of 108 x 19 (46) */
    expect(108, 8, 2048, 54, 38, 1);
}

static void test_full_batch(void **state)
{
    (void)state;
    expect(132, 1000, 100, 1, 100, 2);  /* more programs than slots: no split pays (S = 2: 4 x 54) */
}

/* 300 programs on 528 slots: S = 1 takes 1 wave of 64 pages (68); S = 5
 * takes 3 waves of 13 (51), the least (S = 3: 2 x 26 = 52; S = 4: 3 x 20 =
 * 60; S = 7: 4 x 14 = 56). */
static void test_wave_quantisation(void **state)
{
    (void)state;
    expect(132, 300, 64, 5, 13, 3);
}

static void test_degenerate(void **state)
{
    (void)state;
    expect(132, 8, 0, 1, 1, 1);         /* no pages: one (empty) split */
    expect(132, 8, 1, 1, 1, 1);
    expect(0, 0, 5, 3, 2, 1);           /* 4 slots: 3 x 2 pages (6) beats 2 x 3 (7), 1 x 5 (9) and 2 waves of 1 (10) */
}

/* tilec splits' table: the chosen row marked, one row per wave count (the
 * most splits it holds), the chosen line. */
static void test_explain(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    sched_split_explain(out, "sm_90", 132, 8, 2048);
    fclose(out);
    assert_non_null(strstr(text, "on sm_90 (132 SMs x 4 per SM = 528 slots a wave)"));
    assert_non_null(strstr(text, "=>       64           32       512      1      36\n"));
    assert_non_null(strstr(text, "        128           16      1024      2      40\n"));
    assert_null(strstr(text, "         32           64"));   /* not the last of its wave */
    assert_non_null(strstr(text, "chosen: S = 64 (32 pages per split, 1 wave)\n"));
    free(text);
}

static void test_runtime_query(void **state)
{
    (void)state;
    tile_config cfg = {.mode = TILE_MODE_INTERPRET, .cache_dir = ""};
    tile_context *ctx;
    assert_int_equal(tile_open(&ctx, &cfg), TILE_OK);
    int64_t s = 0;
    assert_int_equal(tile_split_count(ctx, 8, 2048, &s), TILE_OK);
    assert_int_equal(s, 64);            /* the interpreter plans for sm_90: 132 SMs */
    assert_int_equal(tile_split_count(ctx, 64, 2048, &s), TILE_OK);
    assert_int_equal(s, 8);
    assert_int_equal(tile_split_count(ctx, 8, 2048, NULL), TILE_ERR_ARG);
    assert_int_equal(tile_split_count(ctx, -1, 2048, &s), TILE_ERR_ARG);
    assert_int_equal(tile_split_count(NULL, 8, 2048, &s), TILE_ERR_ARG);
    tile_close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_shapes),
        cmocka_unit_test(test_full_batch),
        cmocka_unit_test(test_wave_quantisation),
        cmocka_unit_test(test_degenerate),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_runtime_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
