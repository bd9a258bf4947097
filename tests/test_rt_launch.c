/* test_rt_launch.c - runtime/rt_launch.c: every launch-argument check with
 * its exact message (through tile_launch in interpret mode, so no GPU is
 * needed), outputs untouched when a check fails, the grid against device
 * limits, specialisation facts, and the parameter layout of docs/abi.md. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/fp16.h"
#include "runtime/rt_internal.h"
#include "runtime/tile.h"

/* x, y, z, s, n, flag, h: the parameter kinds a launch can get wrong. */
static const char *SRC =
    "kernel k(x: tensor<f32>[R, C], y: out tensor<f32>[R, C], z: out tensor<f32>[R],\n"
    "         s: f32, n: i32, flag: bool, h: bf16, const C: int = 8) grid(cdiv(R, 4))\n"
    "{\n"
    "    let rows = program_id(0) * 4 + arange(4);\n"
    "    store(y[rows, :], load(x[rows, :]) * s + cast<f32>(h));\n"
    "    store(z[rows], load(x[rows, 0]) + cast<f32>(n) + where(flag, 1.0, 0.0));\n"
    "}\n";

enum { R = 6, C = 8 };

typedef struct fixture {
    tile_context *ctx;
    tile_kernel *k;
    float x[R * C], y[R * C], z[R];
    tile_arg args[7];
} fixture;

static void poison(fixture *f)
{
    for (int i = 0; i < R * C; i++) f->y[i] = NAN;
    for (int i = 0; i < R; i++) f->z[i] = NAN;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(tile_open(&f->ctx, &(tile_config){.mode = TILE_MODE_INTERPRET, .cache_dir = ""}),
                     TILE_OK);
    tile_source src = {.path = "k.tile", .text = SRC, .kernel = "k"};
    if (tile_compile(f->ctx, &src, &f->k) != TILE_OK) fprintf(stderr, "%s\n", tile_last_error());
    assert_non_null(f->k);
    for (int i = 0; i < R * C; i++) f->x[i] = (float)i;
    poison(f);
    int64_t shape[2] = {R, C};
    f->args[0] = tile_tensor(TILE_F32, f->x, 2, shape, NULL);
    f->args[1] = tile_tensor(TILE_F32, f->y, 2, shape, NULL);
    f->args[2] = tile_tensor(TILE_F32, f->z, 1, shape, NULL);
    f->args[3] = tile_scalar_float(TILE_F32, 2.0);
    f->args[4] = tile_scalar_int(TILE_I32, 10);
    f->args[5] = tile_scalar_int(TILE_BOOL, 1);
    f->args[6] = tile_scalar_float(TILE_BF16, 0.5);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tile_kernel_free(f->k);
    tile_close(f->ctx);
    free(f);
    return 0;
}

static bool untouched(const fixture *f)
{
    for (int i = 0; i < R * C; i++)
        if (!isnan(f->y[i])) return false;
    for (int i = 0; i < R; i++)
        if (!isnan(f->z[i])) return false;
    return true;
}

/* The launch fails with TILE_ERR_ARG, the message is `line` located in
 * k.tile with the source line and caret, and no output was written. */
static void expect_error(fixture *f, int nargs, const char *line)
{
    poison(f);
    assert_int_equal(tile_launch(f->k, f->args, nargs, NULL), TILE_ERR_ARG);
    const char *msg = tile_last_error();
    char want[512];
    snprintf(want, sizeof want, ": error: %s\n", line);
    if (!strstr(msg, want) || strncmp(msg, "k.tile:", 7) != 0 || !strstr(msg, " | ") ||
        !strchr(msg, '^'))
        fail_msg("expected '%s', got:\n%s", line, msg);
    assert_true(untouched(f));
}

static void test_good_launch(void **state)
{
    fixture *f = *state;
    assert_int_equal(tile_launch(f->k, f->args, 7, NULL), TILE_OK);
    assert_string_equal(tile_last_error(), "");
    for (int i = 0; i < R * C; i++) assert_true(f->y[i] == 2.0f * f->x[i] + 0.5f);
    for (int r = 0; r < R; r++) assert_true(f->z[r] == f->x[r * C] + 11.0f);
    int64_t grid[3];
    assert_int_equal(tile_grid(f->k, f->args, 7, grid), TILE_OK);
    assert_true(grid[0] == 2 && grid[1] == 1 && grid[2] == 1);
}

static void test_count_and_kinds(void **state)
{
    fixture *f = *state;
    expect_error(f, 3, "kernel 'k' takes 7 arguments, got 3");
    tile_arg keep = f->args[0];
    f->args[0] = (tile_arg){0};
    expect_error(f, 7, "argument 'x': expected a tensor, got an unset argument");
    f->args[0] = tile_scalar_float(TILE_F32, 1);
    expect_error(f, 7, "argument 'x': expected a tensor, got a scalar");
    f->args[0] = keep;
    keep = f->args[3];
    f->args[3] = f->args[0];
    expect_error(f, 7, "argument 's': expected a scalar, got a tensor");
    f->args[3] = keep;
}

static void test_dtype_rank_null(void **state)
{
    fixture *f = *state;
    tile_arg keep = f->args[0];
    f->args[0].dtype = TILE_I32;
    expect_error(f, 7, "argument 'x': expected tensor<f32>, got tensor<i32>");
    f->args[0] = keep;
    f->args[0].rank = 3;
    expect_error(f, 7, "argument 'x': expected a tensor of rank 2, got rank 3");
    f->args[0].rank = 7;
    expect_error(f, 7, "argument 'x': expected a tensor of rank 2, got rank 7");
    f->args[0] = keep;
    f->args[0].data = NULL;
    expect_error(f, 7, "argument 'x': data pointer is NULL");
    f->args[0] = keep;
}

static void test_dims(void **state)
{
    fixture *f = *state;
    tile_arg keep0 = f->args[0], keep1 = f->args[1];
    f->args[0] = tile_tensor(TILE_F32, f->x, 2, (int64_t[]){R, C + 1}, NULL);
    expect_error(f, 7, "argument 'x': dimension 'C' is 9, expected 8");
    f->args[0] = keep0;
    f->args[1] = tile_tensor(TILE_F32, f->y, 2, (int64_t[]){R - 1, C}, NULL);
    expect_error(f, 7, "argument 'y': dimension 'R' is 5 but 'x' has 6");
    f->args[1] = keep1;
}

static void test_aliasing(void **state)
{
    fixture *f = *state;
    tile_arg keep1 = f->args[1], keep2 = f->args[2];
    f->args[1].data = f->x; /* y is x */
    expect_error(f, 7, "argument 'y': output memory overlaps argument 'x'");
    f->args[1] = keep1;
    f->args[2].data = f->y + R * C - 1; /* z's first element is y's last */
    expect_error(f, 7, "argument 'y': output memory overlaps argument 'z'");
    f->args[2] = keep2;
    /* A transposed view reaching back (negative strides) is checked too. */
    f->args[1] = tile_tensor(TILE_F32, f->x + R * C - 1, 2, (int64_t[]){R, C},
                             (int64_t[]){-C, -1});
    expect_error(f, 7, "argument 'y': output memory overlaps argument 'x'");
    f->args[1] = keep1;
    /* Disjoint parts of one allocation are fine. */
    float *buf = malloc(sizeof(float) * (2 * R * C + R));
    memcpy(buf, f->x, sizeof f->x);
    f->args[0].data = buf;
    f->args[1].data = buf + R * C;
    f->args[2].data = buf + 2 * R * C;
    assert_int_equal(tile_launch(f->k, f->args, 7, NULL), TILE_OK);
    assert_true(buf[R * C + 3] == 2.0f * 3 + 0.5f);
    free(buf);
    f->args[0].data = f->x;
    f->args[1] = keep1;
    f->args[2] = keep2;
}

static void test_scalars(void **state)
{
    fixture *f = *state;
    tile_arg keep = f->args[3];
    f->args[3] = tile_scalar_int(TILE_I32, 2);
    expect_error(f, 7, "argument 's': expected a scalar f32, got a scalar i32");
    f->args[3] = keep;
    keep = f->args[5];
    f->args[5] = tile_scalar_int(TILE_BOOL, 2);
    expect_error(f, 7, "argument 'flag': a bool must be 0 or 1, got 2");
    f->args[5] = keep;
    keep = f->args[4];
    f->args[4] = tile_scalar_int(TILE_I32, INT64_C(1) << 32);
    expect_error(f, 7, "argument 'n': 4294967296 does not fit in i32");
    f->args[4] = keep;
    keep = f->args[6];
    f->args[6] = tile_scalar_float(TILE_F16, 0.5);
    expect_error(f, 7, "argument 'h': expected a scalar bf16, got a scalar f16");
    f->args[6] = keep;
}

static void test_grid_limits(void **state)
{
    fixture *f = *state;
    arena mem;
    arena_init(&mem);
    diag_ctx d;
    diag_init(&d, &mem);
    interp_arg iargs[7];
    int64_t grid[3];
    const ir_func *fn = f->k->fn;
    assert_int_equal(rt_check_args(fn, f->args, 7, (int[]){2, 1, 1}, &d, iargs, grid), TILE_OK);
    assert_int_equal(rt_check_args(fn, f->args, 7, (int[]){1, 1, 1}, &d, iargs, grid), TILE_ERR_ARG);
    assert_non_null(d.first);
    assert_string_equal(d.first->msg, "kernel 'k': grid (2, 1, 1) exceeds the device's limit (1, 1, 1)");
    arena_free(&mem);
}

static void test_facts(void **state)
{
    fixture *f = *state;
    const ir_func *fn = f->k->fn;
    tc_arg_facts best = rt_best_facts(fn);
    assert_true(best.aligned16 == 7 && best.unit_stride == 7); /* x, y, z; not scalars */
    float *buf = aligned_alloc(64, 4096);
    tile_arg a[7];
    memcpy(a, f->args, sizeof a);
    a[0].data = buf;
    a[1].data = buf + 1;                                    /* 4 bytes off */
    a[2] = tile_tensor(TILE_F32, buf + 4, 1, (int64_t[]){R}, (int64_t[]){4}); /* stride 4 */
    tc_arg_facts got = rt_arg_facts(fn, a);
    assert_true(got.aligned16 == (1u | 4u)); /* stride 4 x 4 bytes keeps rows aligned */
    assert_true(got.unit_stride == (1u | 2u));
    a[2].strides[0] = 2;                      /* 8 bytes: every other row is not */
    assert_true(rt_arg_facts(fn, a).aligned16 == 1u);
    a[0] = tile_tensor(TILE_F32, buf, 2, (int64_t[]){R, C}, (int64_t[]){9, 1}); /* 36-byte rows */
    assert_true(rt_arg_facts(fn, a).aligned16 == 0u);
    a[0] = tile_tensor(TILE_F32, buf, 2, (int64_t[]){1, C}, (int64_t[]){9, 1}); /* one row */
    assert_true(rt_arg_facts(fn, a).aligned16 == 1u);
    free(buf);
}

/* docs/abi.md: tensor = ptr, sizes, strides (s64); bool/i32 as 32 bits,
 * bf16 as its bits; the status pointer last. */
static void test_abi_layout(void **state)
{
    fixture *f = *state;
    const ir_func *fn = f->k->fn;
    int n = rt_marshal_count(fn);
    assert_int_equal(n, 5 + 5 + 3 + 4 + 1);
    uint64_t slot[32];
    assert_int_equal(rt_marshal(fn, f->args, 0xabcdef, slot), n);
    assert_true(slot[0] == (uintptr_t)f->x && slot[1] == R && slot[2] == C && slot[3] == C &&
                slot[4] == 1);
    assert_true(slot[5] == (uintptr_t)f->y && slot[10] == (uintptr_t)f->z && slot[11] == R &&
                slot[12] == 1);
    float s;
    memcpy(&s, &slot[13], 4);
    assert_true(s == 2.0f);
    assert_true(slot[14] == 10 && slot[15] == 1);
    assert_true(slot[16] == fp_f32_to_bf16(0.5f));
    assert_true(slot[17] == 0xabcdef);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_good_launch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_count_and_kinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dtype_rank_null, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aliasing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scalars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grid_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_facts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abi_layout, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
