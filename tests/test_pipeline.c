/* test_pipeline.c - compiler/pipeline.c: define lists, compiling from text,
 * error paths, and the "-O0 vs -O1 give the same results" property on the
 * interpreter (SQLite's optimisations-off habit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "compiler/pipeline.h"

static void split_defines(void **state)
{
    (void)state;
    arena mem;
    arena_init(&mem);
    const char **d = NULL;
    int n = tc_split_defines(&mem, "D=64,mask=sliding_window(W: 8, S: 2),BM=16", &d);
    assert_int_equal(n, 3);
    assert_string_equal(d[0], "D=64");
    assert_string_equal(d[1], "mask=sliding_window(W: 8, S: 2)");
    assert_string_equal(d[2], "BM=16");
    assert_int_equal(tc_split_defines(&mem, "", &d), 0);
    assert_int_equal(tc_split_defines(&mem, "D", &d), -1);       /* no '=' */
    assert_int_equal(tc_split_defines(&mem, "m=f(W: 1", &d), -1); /* unbalanced */
    assert_int_equal(tc_split_defines(&mem, "m=f)(", &d), -1);
    arena_free(&mem);
}

static const char *saxpy_src =
    "kernel saxpy(x: tensor<f32>[N], y: tensor<f32>[N], res: out tensor<f32>[N], a: f32,\n"
    "             const B: int = 8) grid(cdiv(N, B))\n"
    "{\n"
    "    let i = program_id(0) * B + arange(B);\n"
    "    let t = load(x[i]) * (a + 0.0) * 1.0 + load(y[i]) * (2 - 1);\n"
    "    store(res[i], t);\n"
    "}\n";

static void run_saxpy(int opt_level, float *out, int n)
{
    tc_options o = {.kernel = "saxpy", .opt_level = opt_level, .verify_each = true};
    tc_unit *u = NULL;
    tile_status st = tc_compile(&u, "saxpy.tile", saxpy_src, &o);
    if (st != TILE_OK) diag_print_all(&u->diags, stderr);
    assert_int_equal(st, TILE_OK);
    assert_non_null(u->kernel);
    float x[13], y[13];
    for (int i = 0; i < n; i++) { x[i] = (float)i * 0.5f; y[i] = 1.0f - (float)i; out[i] = -1.0f; }
    interp_arg args[4];
    memset(args, 0, sizeof args);
    float *data[3] = {x, y, out};
    for (int p = 0; p < 3; p++) {
        args[p].tensor = (interp_tensor){.dtype = IR_F32, .rank = 1, .shape = {n}, .data = data[p]};
        interp_contiguous_strides(&args[p].tensor);
    }
    args[3].scalar.f = 3.0;
    st = interp_launch(u->kernel, args, 4, &u->diags, NULL);
    if (st != TILE_OK) diag_print_all(&u->diags, stderr);
    assert_int_equal(st, TILE_OK);
    tc_unit_free(u);
}

static void optimised_equals_unoptimised(void **state)
{
    (void)state;
    float o0[13], o1[13];
    run_saxpy(0, o0, 13);
    run_saxpy(1, o1, 13);
    for (int i = 0; i < 13; i++) {
        float want = (float)i * 0.5f * 3.0f + (1.0f - (float)i);
        assert_float_equal(o0[i], want, 0.0f);
        assert_memory_equal(&o0[i], &o1[i], sizeof(float));
    }
}

static void errors_are_reported_not_fatal(void **state)
{
    (void)state;
    tc_options o = {.kernel = "nope", .opt_level = 1};
    tc_unit *u = NULL;
    assert_int_not_equal(tc_compile(&u, "saxpy.tile", saxpy_src, &o), TILE_OK);
    assert_non_null(u);
    assert_true(u->diags.nerrors > 0);
    tc_unit_free(u);

    const char *bad_define[] = {"B"};
    tc_options o2 = {.kernel = "saxpy", .defines = bad_define, .ndefines = 1};
    assert_int_equal(tc_compile(&u, "saxpy.tile", saxpy_src, &o2), TILE_ERR_ARG);
    char *msg = diag_render(&u->diags, &u->mem);
    assert_non_null(strstr(msg, "bad define 'B': expected NAME=VALUE"));
    tc_unit_free(u);

    assert_int_not_equal(tc_compile(&u, "/nonexistent/x.tile", NULL, NULL), TILE_OK);
    assert_true(u->diags.nerrors > 0);
    tc_unit_free(u);
}

/* tc_check (`tilec check`) reads defines exactly as tc_compile does. */
static void check_reads_defines_like_compile(void **state)
{
    (void)state;
    char path[] = "/tmp/tile_pipeline_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, saxpy_src, strlen(saxpy_src)), (ssize_t)strlen(saxpy_src));
    close(fd);
    tc_unit *u = NULL;
    const char *good[] = {"B=4"};
    tc_options o = {.defines = good, .ndefines = 1};
    assert_int_equal(tc_check(&u, path, &o), TILE_OK);
    assert_int_equal(u->diags.nerrors, 0);
    tc_unit_free(u);
    const char *bad[][1] = {{"=5"}, {"B"}};
    for (int i = 0; i < 2; i++) {
        tc_options ob = {.defines = bad[i], .ndefines = 1};
        assert_int_equal(tc_check(&u, path, &ob), TILE_ERR_ARG);
        char *msg = diag_render(&u->diags, &u->mem);
        assert_non_null(strstr(msg, "expected NAME=VALUE"));
        tc_unit_free(u);
        assert_int_equal(tc_compile(&u, path, NULL, &ob), TILE_ERR_ARG);
        tc_unit_free(u);
    }
    assert_int_not_equal(tc_check(&u, "/nonexistent/x.tile", NULL), TILE_OK);
    assert_true(u->diags.nerrors > 0);
    tc_unit_free(u);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(split_defines),
        cmocka_unit_test(optimised_equals_unoptimised),
        cmocka_unit_test(errors_are_reported_not_fatal),
        cmocka_unit_test(check_reads_defines_like_compile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
