/* test_sched_split.c - compiler/sched_split.c (the split count of split-KV
 * decoding) and its runtime query tile_split_count.
 *
 * Expected values are worked by hand from the rule in docs/scheduling.md
 * (cost = waves x (pages per split + 4), waves over SMs x 2 slots, ties to
 * fewer splits), not taken from the code: e.g. 8 programs over 2048 pages
 * on 132 SMs (264 slots): one wave holds at most 33 splits (33 x 8 <= 264),
 * 63 pages each, cost 67; two waves give 64 splits of 32 pages, cost 72.
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
    expect(132, 8, 2048, 33, 63, 1);    /* batch 1 x 8 KV heads, 32k keys */
    expect(132, 64, 2048, 4, 512, 1);   /* batch 8: 4 x 64 = 256 <= 264 (8: 2 x 260) */
    /* A100, 216 slots: 27 splits of 76 (80) beat two waves of 54 x 38 (84) */
    expect(108, 8, 2048, 27, 76, 1);
}

static void test_full_batch(void **state)
{
    (void)state;
    expect(132, 1000, 100, 1, 100, 4);  /* more programs than slots: no split pays (S = 2: 8 x 54) */
}

/* 300 programs on 264 slots: S = 1 takes 2 waves of 64 pages (136); S = 4
 * takes 5 waves of 16 (100), the least (S = 3: 4 x 26 = 104; S = 5: 6 x 17
 * = 102). */
static void test_wave_quantisation(void **state)
{
    (void)state;
    expect(132, 300, 64, 4, 16, 5);
}

static void test_degenerate(void **state)
{
    (void)state;
    expect(132, 8, 0, 1, 1, 1);         /* no pages: one (empty) split */
    expect(132, 8, 1, 1, 1, 1);
    expect(0, 0, 5, 2, 3, 1);           /* 2 slots: 2 x 3 pages (7) beats 1 x 5 (9) and 2 waves of 2 (12) */
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
    assert_non_null(strstr(text, "on sm_90 (132 SMs x 2 per SM = 264 slots a wave)"));
    assert_non_null(strstr(text, "=>       33           63       264      1      67\n"));
    assert_non_null(strstr(text, "         64           32       512      2      72\n"));
    assert_null(strstr(text, "         32           64"));   /* not the last of its wave */
    assert_non_null(strstr(text, "chosen: S = 33 (63 pages per split, 1 wave)\n"));
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
    assert_int_equal(s, 33);            /* the interpreter plans for sm_90: 132 SMs */
    assert_int_equal(tile_split_count(ctx, 64, 2048, &s), TILE_OK);
    assert_int_equal(s, 4);
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
