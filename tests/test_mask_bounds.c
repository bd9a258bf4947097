/* test_mask_bounds.c - the bounds the front end derives from a mask fn by
 * interval analysis (frontend/fe_mask.c: mask_kv_bounds, mask_q_bounds,
 * mask_slots), against the mask itself.
 *
 * For each mask, shape and block size, tests/masks/mask_bounds.tile's
 * mask_table evaluates the mask at every (h, i, j) on the interpreter (the
 * reference: the mask's own code), and bounds_table gives the derived
 * bounds of every block of rows (keys: true) or of keys (keys: false).  Per
 * block and position g of the other axis, with "some" = some position of
 * the block sees g and "all" = every one does:
 *   - sound: some => g in a visit range; g in a full range => all;
 *     0 <= lo <= hi <= length, a full range inside its slot's visit range,
 *     the second slot (0, 0, 0, 0) when mask_slots is 1;
 *   - exact (the masks the analysis covers exactly: causal, sliding window
 *     with sinks, prefix-LM, affine comparisons of i, j, h and constants with
 *     and/or/not, min, abs, where): g in a visit range => some, and
 *     all => g in a full range.
 * Masks outside that (i * j; three bands for two slots) are checked for
 * soundness only, and that they still skip something where they can.
 *
 * Tested (masks.tile): the bounds derived from full_mask, causal,
 * sliding_window (W 1 to 100, S 0 to 50), prefix_lm (P 0 to 100), for (M, N)
 * from (1, 1) to (64, 64), M < N and M > N, block sizes 1, 3, 8 and 16, in
 * both directions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ref/harness.h"

#define PROBE "../tests/masks/mask_bounds.tile"
#define H 2

typedef struct mask_case {
    const char *mask;      /* the -D value */
    bool exact;            /* visit ranges exact */
    bool full_exact;       /* full ranges exact */
} mask_case;

typedef struct shape {
    int M, N;
} shape;

static const shape SHAPES[] = {{1, 1}, {7, 5}, {5, 7}, {16, 16}, {33, 47}, {50, 29}, {64, 64}};
static const int BLOCKS[] = {1, 3, 8, 16};

static int imin(int a, int b) { return a < b ? a : b; }

/* Compiled probes, kept across the shapes of one mask (compiling dominates
 * the test's time): a kernel name and its defines per entry. */
typedef struct cached {
    char key[300];
    th_kernel k;
} cached;
static cached cache[64];
static int ncached;

static th_kernel *probe(const char *name, const char *defines)
{
    char key[300];
    snprintf(key, sizeof key, "%s|%s", name, defines);
    for (int c = 0; c < ncached; c++)
        if (strcmp(cache[c].key, key) == 0) return &cache[c].k;
    if (ncached == (int)(sizeof cache / sizeof cache[0])) return NULL;
    if (!th_compile(&cache[ncached].k, PROBE, name, defines)) return NULL;
    snprintf(cache[ncached].key, sizeof cache[ncached].key, "%s", key);
    return &cache[ncached++].k;
}

static void drop_probes(void)
{
    for (int c = 0; c < ncached; c++) th_kernel_free(&cache[c].k);
    ncached = 0;
}
static int cdiv(int a, int b) { return (a + b - 1) / b; }

/* vis[(h * M + i) * N + j] from mask_table. */
static bool mask_table(const char *mask, int M, int N, int32_t *vis)
{
    char defines[160];
    snprintf(defines, sizeof defines, "mask=%s", mask);
    th_kernel *k = probe("mask_table", defines);
    if (!k) return false;
    th_tensor t = th_tensor_new(IR_I32, TH_DIMS(H, M, N), NULL);
    bool ok = th_launch(k, (th_arg[]){TH_T("vis", &t)}, 1);
    if (ok) {
        float *f = TH_NEW(float, (size_t)H * M * N);
        th_tensor_get(&t, f);
        for (size_t x = 0; x < (size_t)H * M * N; x++) vis[x] = (int32_t)f[x];
        free(f);
    }
    th_tensor_free(&t);
    return ok;
}

/* out[(h * nblk + b) * 9 + c] from bounds_table. */
static bool bounds_table(const char *mask, bool keys, int bb, int M, int N, int nblk, int32_t *out)
{
    char defines[200];
    snprintf(defines, sizeof defines, "mask=%s,keys=%s,BB=%d", mask, keys ? "true" : "false", bb);
    th_kernel *k = probe("bounds_table", defines);
    if (!k) return false;
    th_tensor t = th_tensor_new(IR_I32, TH_DIMS(H, nblk, 9), NULL);
    bool ok = th_launch(k, (th_arg[]){TH_T("bounds", &t), TH_S("M", M), TH_S("N", N)}, 3);
    if (ok) {
        float *f = TH_NEW(float, (size_t)H * nblk * 9);
        th_tensor_get(&t, f);
        for (size_t x = 0; x < (size_t)H * nblk * 9; x++) out[x] = (int32_t)f[x];
        free(f);
    }
    th_tensor_free(&t);
    return ok;
}

static bool in_range(const int32_t *r, int g) { return g >= r[0] && g < r[1]; }

/* Checks the bounds of one direction; counts positions skipped. */
static bool check_dir(const mask_case *mc, const int32_t *vis, int M, int N, bool keys, int bb,
                      long *skipped)
{
    int fixed_len = keys ? M : N, free_len = keys ? N : M, nblk = cdiv(fixed_len, bb);
    int32_t *b = TH_NEW(int32_t, (size_t)H * nblk * 9);
    bool ok = bounds_table(mc->mask, keys, bb, M, N, nblk, b);
    for (int h = 0; ok && h < H; h++)
        for (int blk = 0; ok && blk < nblk; blk++) {
            const int32_t *r = b + ((size_t)h * nblk + blk) * 9;
            char where[200];
            snprintf(where, sizeof where, "%s %s M=%d N=%d B=%d h=%d block %d: [%d,%d) full [%d,%d), "
                     "[%d,%d) full [%d,%d), slots %d", mc->mask, keys ? "kv" : "q", M, N, bb, h, blk,
                     r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]);
            for (int s = 0; s < 2; s++) {
                const int32_t *q = r + 4 * s;
                bool shape_ok = 0 <= q[0] && q[0] <= q[1] && q[1] <= free_len && q[2] <= q[3] &&
                                (q[2] == q[3] || (q[0] <= q[2] && q[3] <= q[1]));
                if (!shape_ok) {
                    fprintf(stderr, "%s: malformed slot %d\n", where, s);
                    ok = false;
                }
            }
            if (r[8] != 1 && r[8] != 2) ok = false;
            if (r[8] == 1 && (r[4] | r[5] | r[6] | r[7])) {
                fprintf(stderr, "%s: one slot, the second not empty\n", where);
                ok = false;
            }
            int lo = blk * bb, hi = imin(lo + bb, fixed_len);
            for (int g = 0; ok && g < free_len; g++) {
                bool some = false, all = true;
                for (int f = lo; f < hi; f++) {
                    int i = keys ? f : g, j = keys ? g : f;
                    bool v = vis[((size_t)h * M + i) * N + j] != 0;
                    some |= v;
                    all &= v;
                }
                bool visit = in_range(r, g) || in_range(r + 4, g);
                bool full = in_range(r + 2, g) || in_range(r + 6, g);
                *skipped += !visit;
                if (some && !visit) fprintf(stderr, "%s: misses visible %d\n", where, g), ok = false;
                if (full && !all) fprintf(stderr, "%s: %d full but not all see it\n", where, g), ok = false;
                if (mc->exact && visit && !some)
                    fprintf(stderr, "%s: visits invisible %d\n", where, g), ok = false;
                if (mc->full_exact && all && !full)
                    fprintf(stderr, "%s: %d seen by all, not full\n", where, g), ok = false;
            }
        }
    free(b);
    return ok;
}

/* The library's block segments (masks.tile: kv_segments, q_segments) of
 * blocks of bb along the fixed axis, in blocks of bo along the other: each
 * block visited at most once in ascending order, every block holding a
 * visible pair visited, full blocks entirely visible and inside the axis;
 * for exact masks, every visited block holds a visible pair and every
 * entirely visible block is full.  *skipped counts blocks not visited. */
static bool check_segments(const mask_case *mc, const int32_t *vis, int M, int N, bool keys,
                           int bb, int bo, long *skipped)
{
    int fixed_len = keys ? M : N, free_len = keys ? N : M;
    int nblk = cdiv(fixed_len, bb), nother = cdiv(free_len, bo);
    char defines[240];
    snprintf(defines, sizeof defines, "mask=%s,keys=%s,BB=%d,BO=%d", mc->mask,
             keys ? "true" : "false", bb, bo);
    th_kernel *k = probe("segments_table", defines);
    if (!k) return false;
    th_tensor t = th_tensor_new(IR_I32, TH_DIMS(H, nblk, 9), NULL);
    bool ok = th_launch(k, (th_arg[]){TH_T("seg", &t), TH_S("M", M), TH_S("N", N)}, 3);
    float *f = TH_NEW(float, (size_t)H * nblk * 9);
    if (ok) th_tensor_get(&t, f);
    for (int h = 0; ok && h < H; h++)
        for (int blk = 0; ok && blk < nblk; blk++) {
            int r[9];
            for (int c = 0; c < 9; c++) r[c] = (int)f[((size_t)h * nblk + blk) * 9 + c];
            if (r[8] == 1) r[4] = r[5] = r[6] = r[7] = r[3];   /* the kernels skip slot 1 */
            char where[220];
            snprintf(where, sizeof where, "%s %s M=%d N=%d B=%d/%d h=%d block %d: %d %d %d %d | %d %d %d %d",
                     mc->mask, keys ? "kv" : "q", M, N, bb, bo, h, blk, r[0], r[1], r[2], r[3], r[4],
                     r[5], r[6], r[7]);
            bool b_empty = r[7] == r[4];
            bool ordered = 0 <= r[0] && r[0] <= r[1] && r[1] <= r[2] && r[2] <= r[3] &&
                           r[3] <= nother && r[4] <= r[5] && r[5] <= r[6] && r[6] <= r[7] &&
                           r[7] <= nother && (b_empty || r[3] <= r[4]);
            if (!ordered) {
                fprintf(stderr, "%s: segments out of order\n", where);
                ok = false;
                break;
            }
            int lo = blk * bb, hi = imin(lo + bb, fixed_len);
            for (int ob = 0; ob < nother; ob++) {
                bool some = false, all = (ob + 1) * bo <= free_len;
                for (int fx = lo; fx < hi; fx++)
                    for (int g = ob * bo; g < imin((ob + 1) * bo, free_len); g++) {
                        int i = keys ? fx : g, j = keys ? g : fx;
                        bool v = vis[((size_t)h * M + i) * N + j] != 0;
                        some |= v;
                        all &= v;
                    }
                bool full = (ob >= r[1] && ob < r[2]) || (ob >= r[5] && ob < r[6]);
                bool visit = (ob >= r[0] && ob < r[3]) || (ob >= r[4] && ob < r[7]);
                *skipped += !visit;
                if (some && !visit) fprintf(stderr, "%s: misses block %d\n", where, ob), ok = false;
                if (full && !all) fprintf(stderr, "%s: block %d full, not all visible\n", where, ob), ok = false;
                if (mc->exact && visit && !some)
                    fprintf(stderr, "%s: visits empty block %d\n", where, ob), ok = false;
                if (mc->full_exact && all && !full)
                    fprintf(stderr, "%s: block %d all visible, not full\n", where, ob), ok = false;
            }
        }
    free(f);
    th_tensor_free(&t);
    return ok;
}

static const int SEG_BLOCKS[][2] = {{16, 16}, {8, 32}, {32, 8}, {3, 5}};

/* Every shape and block size, both directions; *skipped counts positions
 * left out of the visit ranges. */
static bool check_mask(const mask_case *mc, long *skipped)
{
    *skipped = 0;
    for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++) {
        int M = SHAPES[s].M, N = SHAPES[s].N;
        int32_t *vis = TH_NEW(int32_t, (size_t)H * M * N);
        bool ok = mask_table(mc->mask, M, N, vis);
        for (size_t k = 0; ok && k < sizeof BLOCKS / sizeof BLOCKS[0]; k++)
            ok = check_dir(mc, vis, M, N, true, BLOCKS[k], skipped) &&
                 check_dir(mc, vis, M, N, false, BLOCKS[k], skipped);
        long blocks_skipped = 0;
        for (size_t k = 0; ok && k < sizeof SEG_BLOCKS / sizeof SEG_BLOCKS[0]; k++)
            ok = check_segments(mc, vis, M, N, true, SEG_BLOCKS[k][0], SEG_BLOCKS[k][1], &blocks_skipped) &&
                 check_segments(mc, vis, M, N, false, SEG_BLOCKS[k][0], SEG_BLOCKS[k][1], &blocks_skipped);
        free(vis);
        if (!ok) {
            drop_probes();
            return false;
        }
    }
    drop_probes();
    return true;
}

static void run_masks(const mask_case *cases, size_t n)
{
    for (size_t c = 0; c < n; c++) {
        long skipped;
        if (!check_mask(&cases[c], &skipped)) fail_msg("mask %s", cases[c].mask);
    }
}

static void test_library_masks(void **state)
{
    (void)state;
    static const mask_case cases[] = {
        {"full_mask", true, true},
        {"causal", true, true},
        {"sliding_window(W: 1)", true, true},
        {"sliding_window(W: 1, S: 1)", true, false},
        {"sliding_window(W: 5, S: 3)", true, false},
        {"sliding_window(W: 4, S: 9)", true, false},
        {"sliding_window(W: 40, S: 50)", true, false},
        {"sliding_window(W: 100)", true, true},
        {"prefix_lm(P: 0)", true, true},
        {"prefix_lm(P: 7)", true, true},
        {"prefix_lm(P: 100)", true, true},
        {"both(a: causal, b: sliding_window(W: 6))", true, true},
    };
    run_masks(cases, sizeof cases / sizeof cases[0]);
}

static void test_affine_masks(void **state)
{
    (void)state;
    static const mask_case cases[] = {
        {"band(W: 3)", true, true},
        {"half_rate(C: 3)", true, true},
        {"half_rate(C: -4)", true, true},
        {"strictly_causal", true, true},
        {"per_head", true, true},
        {"capped(P: 9, R: 4)", true, true},
        {"none_mask", true, true},
        {"checker", true, true},
        {"policy", true, false},
    };
    run_masks(cases, sizeof cases / sizeof cases[0]);
}

/* Outside the exact fragment the bounds stay sound, and still skip what the
 * analysable part of the mask rules out. */
static void test_inexact_masks_sound(void **state)
{
    (void)state;
    static const mask_case product = {"product", false, false}, bands = {"three_bands", false, false};
    long skipped;
    assert_true(check_mask(&product, &skipped));
    assert_true(skipped > 0);          /* the j <= i part still bounds it */
    assert_true(check_mask(&bands, &skipped));
    assert_true(skipped > 0);
}

/* A mask that does not lower with scalar i and j is not analysed: every key
 * visited, none full, no diagnostic (the kernel reports the mask's own
 * errors where it applies it, with its tile types), and the probe's failed
 * instance leaves nothing behind (the IR verifies). */
static void test_unanalysable_mask(void **state)
{
    (void)state;
    int M = 20, N = 37, bb = 8, nblk = 3;
    int32_t b[H * 3 * 9];
    assert_true(bounds_table("tile_only", true, bb, M, N, nblk, b));
    for (int r = 0; r < H * nblk; r++) {
        const int32_t *q = b + r * 9;
        assert_int_equal(q[0], 0);
        assert_int_equal(q[1], N);
        assert_int_equal(q[3] - q[2], 0);
        assert_int_equal(q[8], 1);
    }
    drop_probes();
}

/* ---- the kernels' loops ---------------------------------------------------- */

typedef struct loop_count {
    int loops;              /* key loops of the kernel body */
    int always, branched;   /* mask selects at a loop body's top level; in an `if` there */
} loop_count;

static bool is_mask_select(const ir_op *op)
{
    /* where(visible, s, -inf) on the scores: a rank-2 select */
    return op->code == IR_OP_SELECT && op->results[0]->type.rank == 2;
}

static void has_masking(ir_op *op, void *ctx)
{
    if (is_mask_select(op)) *(bool *)ctx = true;
}

/* The mask selects of a loop body: at its top level (every block pays
 * for them) or under an `if` (only the blocks that take it). */
static void count_body(ir_block *body, loop_count *n)
{
    for (ir_op *op = body->first; op; op = op->next) {
        if (is_mask_select(op)) n->always++;
        if (op->code != IR_OP_IF) continue;
        bool masked = false;
        for (int r = 0; r < op->nblocks; r++)
            if (op->blocks[r]) ir_walk(op->blocks[r], has_masking, &masked);
        n->branched += masked;
    }
}

/* The loops of blk outside any other loop (the key loop sits in an `if`
 * that skips a program without key blocks: flash_fwd.tile's
 * attend_segments). */
static void count_key_loops(ir_block *blk, loop_count *n)
{
    for (ir_op *op = blk->first; op; op = op->next) {
        if (op->code == IR_OP_IF) {
            for (int r = 0; r < op->nblocks; r++)
                if (op->blocks[r]) count_key_loops(op->blocks[r], n);
            continue;
        }
        if (op->code != IR_OP_FOR) continue;
        n->loops++;
        count_body(op->blocks[0], n);
    }
}

/* Counts flash_fwd's key loops and those with mask arithmetic. */
static loop_count fwd_loops(const char *mask, const char *extra)
{
    char def[160];
    snprintf(def, sizeof def, "mask=%s", mask);
    const char *defines[] = {"D=64", def, extra};
    tc_options o = {.kernel = "flash_fwd", .defines = defines, .ndefines = extra ? 3 : 2,
                    .opt_level = 1};
    tc_unit *u = NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/attention/flash_fwd.tile", TILE_LIB_DIR);
    loop_count n = {0, 0, 0};
    if (tc_compile(&u, path, NULL, &o) == TILE_OK && u->kernel) {
        count_key_loops(u->kernel->body, &n);
    } else if (u) {
        diag_print_all(&u->diags, stderr);
    }
    tc_unit_free(u);
    return n;
}

/* flash_fwd visits every segment of the derived plan (per slot partial,
 * full, partial) in one key loop, whose mask arithmetic sits in an `if`
 * that the full blocks skip: none of it at the loop body's top level. */
static void test_flash_fwd_loops(void **state)
{
    (void)state;
    static const char *masks[] = {
        "full_mask", "causal", "sliding_window(W: 64)", "sliding_window(W: 64, S: 4)",
        "prefix_lm(P: 100)",
    };
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        loop_count n = fwd_loops(masks[i], NULL);
        if (n.loops != 1 || n.always != 0 || n.branched != 1)
            fail_msg("flash_fwd mask=%s: %d loops, %d mask selects always run, %d branches "
                     "with them; want 1, 0, 1", masks[i], n.loops, n.always, n.branched);
    }
    /* A hand-written range: the same loop (its blocks are all partial). */
    loop_count n = fwd_loops("causal", "kv_range=causal_range");
    assert_int_equal(n.loops, 1);
    assert_int_equal(n.always, 0);
    assert_int_equal(n.branched, 1);
}

/* The analysis must be able to fail the test: a wrong mask table (causal's
 * table checked against full_mask's bounds) is caught. */
static void test_checker_catches_wrong_bounds(void **state)
{
    (void)state;
    int M = 16, N = 16;
    int32_t *vis = TH_NEW(int32_t, (size_t)H * M * N);
    assert_true(mask_table("full_mask", M, N, vis));
    long skipped = 0;
    mask_case causal = {"causal", true, true};
    assert_false(check_dir(&causal, vis, M, N, true, 4, &skipped));
    drop_probes();
    free(vis);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_library_masks),
        cmocka_unit_test(test_affine_masks),
        cmocka_unit_test(test_inexact_masks_sound),
        cmocka_unit_test(test_unanalysable_mask),
        cmocka_unit_test(test_flash_fwd_loops),
        cmocka_unit_test(test_checker_catches_wrong_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
