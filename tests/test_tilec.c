/* test_tilec.c - the tilec driver as a user runs it: `tilec run` with .npy
 * inputs and outputs, --random, -D for constants, scalars and dimensions,
 * and the exit status and message of each kind of bad invocation. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "compiler/npy.h"
#include "ir/interp.h"

static char dir[256];

/* Runs tilec with `args` (shell words), stderr into `err`; returns the exit status. */
static int tilec(char *err, size_t errlen, const char *fmt, ...)
{
    char args[2048], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "cd %s && %s/tilec %s 2>stderr.txt >stdout.txt", dir,
             TILE_BINARY_DIR, args);
    int st = system(cmd);
    char path[512];
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(err, 1, errlen - 1, f) : 0;
    err[n] = 0;
    if (f) fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_source(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *kernel_src =
    "// y = x * s + b (b: one value per column)\n"
    "kernel affine(x: tensor<f32>[R, C], b: tensor<f32>[C], y: out tensor<bf16>[R, C],\n"
    "              s: f32, const C: int = 8, const BR: int = 4) grid(cdiv(R, BR))\n"
    "{\n"
    "    let rows = program_id(0) * BR + arange(BR);\n"
    "    store(y[rows, :], load(x[rows, :]) * s + load(b[:])[None, :]);\n"
    "}\n";

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tile_test_tilec.XXXXXX");
    if (!mkdtemp(dir)) return -1;
    write_source("affine.tile", kernel_src);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void npy_in_and_out(void **state)
{
    (void)state;
    enum { R = 10, C = 8 };
    float x[R * C], b[C];
    for (int i = 0; i < R * C; i++) x[i] = (float)i / 7.0f - 3.0f;
    for (int j = 0; j < C; j++) b[j] = (float)j * 0.25f;
    interp_tensor tx = {.dtype = IR_F32, .rank = 2, .shape = {R, C}, .data = x};
    interp_tensor tb = {.dtype = IR_F32, .rank = 1, .shape = {C}, .data = b};
    interp_contiguous_strides(&tx);
    interp_contiguous_strides(&tb);
    char path[512], err[4096];
    snprintf(path, sizeof path, "%s/x.npy", dir);
    assert_int_equal(npy_write(path, &tx, err, sizeof err), TILE_OK);
    snprintf(path, sizeof path, "%s/b.npy", dir);
    assert_int_equal(npy_write(path, &tb, err, sizeof err), TILE_OK);

    int rc = tilec(err, sizeof err, "run affine.tile -k affine --interp --in x=x.npy "
                                    "--in b=b.npy -D s=1.5 --out-dir res");
    assert_string_equal(err, "");
    assert_int_equal(rc, 0);

    arena mem;
    arena_init(&mem);
    interp_tensor out;
    snprintf(path, sizeof path, "%s/res/y.npy", dir);
    assert_int_equal(npy_read(path, &mem, IR_F32, &out, err, sizeof err), TILE_OK);
    assert_int_equal(out.rank, 2);
    assert_int_equal(out.shape[0], R);
    assert_int_equal(out.shape[1], C);
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) {
            /* computed in f32, then rounded to the bf16 output, written as f32 */
            float want = x[i * C + j] * 1.5f + b[j];
            float got = ((float *)out.data)[i * C + j];
            assert_true(fabsf(got - want) <= fabsf(want) * 0x1p-8f);
        }
    arena_free(&mem);
}

static void random_inputs_need_dimensions(void **state)
{
    (void)state;
    char err[4096];
    int rc = tilec(err, sizeof err, "run affine.tile -k affine --interp --random 3 -D s=2");
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, "size of dimension 'R' of 'x' is unknown: give -D R=N"));
    rc = tilec(err, sizeof err, "run affine.tile -k affine --interp --random 3 -D s=2 -D R=5 "
                                "--out-dir r2");
    assert_int_equal(rc, 0);
}

static void bad_invocations(void **state)
{
    (void)state;
    char err[4096];
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k affine --interp --random 1 -D R=5"), 1);
    assert_non_null(strstr(err, "scalar parameter 's' (f32) needs a value: -D s=..."));
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k affine --interp --random 1 -D R=5 "
                                            "-D s=2 -D Q=1"), 1);
    assert_non_null(strstr(err, "-D Q: kernel 'affine' has no constant, scalar parameter or "
                                "dimension named 'Q'"));
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k affine --interp -D R=5 -D s=2"), 1);
    assert_non_null(strstr(err, "input tensor 'x' is missing"));
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k affine --interp --in x=nope.npy "
                                            "--random 1 -D s=2"), 1);
    assert_non_null(strstr(err, "--in x=nope.npy"));
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k affine --interp --random 1 "
                                            "-D R=5 -D s=abc"), 1);
    assert_non_null(strstr(err, "-D s=abc is not a valid f32"));
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k nope --interp"), 1);
    assert_non_null(strstr(err, "nope"));
    assert_int_equal(tilec(err, sizeof err, "run affine.tile --interp"), 2);
    assert_non_null(strstr(err, "run needs -k KERNEL"));
    assert_int_equal(tilec(err, sizeof err, "affine.tile --emit=ptx"), 2);
    assert_non_null(strstr(err, "unknown --emit kind 'ptx'"));
    assert_int_equal(tilec(err, sizeof err, "check affine.tile --bogus"), 2);
    assert_non_null(strstr(err, "unknown option '--bogus'"));
    assert_int_equal(tilec(err, sizeof err, "check"), 2);
}

static void check_and_emit(void **state)
{
    (void)state;
    char err[4096];
    assert_int_equal(tilec(err, sizeof err, "check affine.tile"), 0);
    assert_string_equal(err, "");
    assert_int_equal(tilec(err, sizeof err, "affine.tile --emit=ir -o affine.ir"), 0);
    assert_int_equal(tilec(err, sizeof err, "affine.tile --emit=ast"), 0);
    assert_int_equal(tilec(err, sizeof err, "--help"), 0);
    write_source("broken.tile", "kernel k() grid(1) { let x = ; }\n");
    assert_int_equal(tilec(err, sizeof err, "check broken.tile"), 1);
    assert_non_null(strstr(err, "broken.tile:1:30: error: "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(npy_in_and_out),
        cmocka_unit_test(random_inputs_need_dimensions),
        cmocka_unit_test(bad_invocations),
        cmocka_unit_test(check_and_emit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
