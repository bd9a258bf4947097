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

/* `tune` prepares its inputs as `run` does (one prepare_inputs): the same
 * invocations fail with the same messages before any device is needed. */
static void tune_shares_run_inputs(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"-k affine --random 1 -D R=5", "scalar parameter 's' (f32) needs a value: -D s=..."},
        {"-k affine --random 1 -D R=5 -D s=2 -D Q=1",
         "-D Q: kernel 'affine' has no constant, scalar parameter or dimension named 'Q'"},
        {"-k affine -D R=5 -D s=2", "input tensor 'x' is missing"},
        {"-k affine --in x=nope.npy --random 1 -D s=2", "--in x=nope.npy"},
        {"-k affine --random 1 -D R=5 -D s=abc", "-D s=abc is not a valid f32"},
        {"-k affine --random 3 -D s=2", "size of dimension 'R' of 'x' is unknown: give -D R=N"},
    };
    char err[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(tilec(err, sizeof err, "run affine.tile --interp %s", cases[i][0]), 1);
        assert_non_null(strstr(err, cases[i][1]));
        assert_int_equal(tilec(err, sizeof err, "tune affine.tile %s", cases[i][0]), 1);
        assert_non_null(strstr(err, cases[i][1]));
    }
    /* Good inputs get as far as the device (none here; with one, affine
     * has nothing to tune). */
    assert_int_equal(tilec(err, sizeof err, "tune affine.tile -k affine --random 1 -D R=5 -D s=2"), 1);
    assert_true(strstr(err, "tune needs a GPU") || strstr(err, "no `auto` constants"));
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
    assert_int_equal(tilec(err, sizeof err, "affine.tile --emit=sass"), 2);
    assert_non_null(strstr(err, "unknown --emit kind 'sass'"));
    assert_int_equal(tilec(err, sizeof err, "affine.tile --emit=ptx"), 2);
    assert_non_null(strstr(err, "--emit=ptx needs -k KERNEL"));
    assert_int_equal(tilec(err, sizeof err, "affine.tile -k affine --emit=ptx --arch sm_70"), 2);
    assert_non_null(strstr(err, "unknown --arch 'sm_70'"));
    assert_int_equal(tilec(err, sizeof err, "affine.tile -k affine --emit=ptx --warps 3"), 2);
    assert_non_null(strstr(err, "power of two"));
    assert_int_equal(tilec(err, sizeof err, "affine.tile --emit=ir --arch sm_90"), 2);
    assert_non_null(strstr(err, "--arch, --warps and --stages apply to"));
    assert_int_equal(tilec(err, sizeof err, "affine.tile -k affine --emit=ptx --ptxas"), 2);
    assert_non_null(strstr(err, "--ptxas cannot be combined with --emit"));
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

static char *read_file(const char *name)
{
    static char text[8192];
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = 0;
    if (f) fclose(f);
    return text;
}

static void write_inputs(void)
{
    enum { R = 4, C = 8 };
    static float x[R * C], b[C];
    for (int i = 0; i < R * C; i++) x[i] = (float)i * 0.25f;
    for (int j = 0; j < C; j++) b[j] = (float)j;
    interp_tensor tx = {.dtype = IR_F32, .rank = 2, .shape = {R, C}, .data = x};
    interp_tensor tb = {.dtype = IR_F32, .rank = 1, .shape = {C}, .data = b};
    interp_contiguous_strides(&tx);
    interp_contiguous_strides(&tb);
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/x4.npy", dir);
    assert_int_equal(npy_write(path, &tx, err, sizeof err), TILE_OK);
    snprintf(path, sizeof path, "%s/b.npy", dir);
    assert_int_equal(npy_write(path, &tb, err, sizeof err), TILE_OK);
}

/* y[0, 1] of an affine run: x = 0.25, b = 1, so 0.25 * s + 1. */
static float y01(const char *out_dir)
{
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/%s/y.npy", dir, out_dir);
    arena mem;
    arena_init(&mem);
    interp_tensor t;
    assert_int_equal(npy_read(path, &mem, IR_F32, &t, err, sizeof err), TILE_OK);
    float v = ((float *)t.data)[1];
    arena_free(&mem);
    return v;
}

/* A name given twice with -D is refused (a script that sets it twice
 * means one of them), for runtime scalars and dimensions too, in the
 * user's words. */
static void repeated_define_refused(void **state)
{
    (void)state;
    char err[4096];
    write_inputs();
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k affine --interp --in x=x4.npy "
                                            "--in b=b.npy -D s=1 -D s=2 --out-dir ld"), 1);
    assert_non_null(strstr(err, "<command line>:2:4: error: -D s is given twice\n"
                                "    2 | -D s=2\n"));
    assert_non_null(strstr(err, "<command line>:1:4: note: first given here"));
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k affine --interp --random 1 -D s=1 "
                                            "-D R=3 -D R=5 --out-dir ld2"), 1);
    assert_non_null(strstr(err, "-D R is given twice"));
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k affine --interp --in x=x4.npy "
                                            "--in b=b.npy -D s=2 --out-dir ld"), 0);
    assert_true(y01("ld") == 0.25f * 2.0f + 1.0f);
}

static void integer_values(void **state)
{
    (void)state;
    char err[4096];
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k affine --interp --random 1 -D s=1 "
                                            "-D R=010 --out-dir iv"), 0);
    assert_non_null(strstr(read_file("stdout.txt"), "y: bf16[10,8]"));
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k affine --interp --random 1 -D s=1 "
                                            "-D R=0x0c --out-dir iv"), 0);
    assert_non_null(strstr(read_file("stdout.txt"), "y: bf16[12,8]"));
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k affine --interp --random 1 -D s=1 "
                                            "-D R=0 --out-dir iv"), 0);
    assert_non_null(strstr(read_file("stdout.txt"), "y: bf16[0,8]"));
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k affine --interp --random 1 -D s=1 "
                                            "-D R=-3"), 1);
    assert_non_null(strstr(err, "-D R=-3: a dimension size must be a non-negative integer"));
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k affine --interp --random 1 -D s=1 "
                                            "-D R=1+1"), 1);
    assert_non_null(strstr(err, "-D R=1+1: a dimension size must be a non-negative integer"));
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k affine --interp --random 1x -D s=1"), 2);
    assert_non_null(strstr(err, "--random needs an integer seed, got '1x'"));
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k affine --interp --random -1 -D s=1"), 2);
    assert_non_null(strstr(err, "--random needs an integer seed, got '-1'"));
}

/* -o is written only after the compilation succeeded: a failed one leaves
 * the file alone, and -o may name the input itself. */
static void output_written_on_success_only(void **state)
{
    (void)state;
    char err[4096];
    write_source("keep.ir", "previous\n");
    write_source("broken2.tile", "kernel k() grid(1) { let x = ; }\n");
    assert_int_equal(tilec(err, sizeof err, "broken2.tile --emit=ir -o keep.ir"), 1);
    assert_string_equal(read_file("keep.ir"), "previous\n");
    assert_int_equal(tilec(err, sizeof err, "broken2.tile --emit=ast -o keep.ir"), 1);
    assert_string_equal(read_file("keep.ir"), "previous\n");
    write_source("self.tile", kernel_src);
    assert_int_equal(tilec(err, sizeof err, "self.tile --emit=ir -o self.tile"), 0);
    assert_string_equal(err, "");
    assert_non_null(strstr(read_file("self.tile"), "kernel @affine("));
    assert_int_equal(tilec(err, sizeof err, "affine.tile --emit=ir -o /nonexistent/dir/x.ir"), 1);
    assert_non_null(strstr(err, "tilec: cannot write /nonexistent/dir/x.ir"));
}

/* An option that does nothing for the command is a usage error, not
 * silently ignored. */
static void options_must_apply(void **state)
{
    (void)state;
    char err[4096];
    static const struct {
        const char *args, *msg;
    } cases[] = {
        {"check affine.tile -o x.ir", "option -o does not apply to 'check'"},
        {"check affine.tile -k affine", "option -k does not apply to 'check'"},
        {"check affine.tile -O0", "option -O0 does not apply to 'check'"},
        {"check affine.tile --in x=x4.npy", "option --in does not apply to 'check'"},
        {"affine.tile --emit=ir --interp", "option --interp does not apply to '--emit'"},
        {"affine.tile --emit=ir --random 3", "option --random does not apply to '--emit'"},
        {"affine.tile --emit=ir --out-dir o", "option --out-dir does not apply to '--emit'"},
        {"run affine.tile -k affine --interp -o x.ir", "option -o does not apply to 'run'"},
        {"affine.tile --emit=ir -k", "option -k needs a value"},
        {"affine.tile --emit=ir --emit=ast", "--emit given twice"},
        {"check affine.tile run", "unexpected argument 'run' (one FILE at a time)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = tilec(err, sizeof err, "%s", cases[i].args);
        if (rc != 2 || !strstr(err, cases[i].msg))
            fail_msg("tilec %s: exit %d, stderr '%s', expected '%s'", cases[i].args, rc, err,
                     cases[i].msg);
    }
}

/* `check` reads defines as compilation does: a define needs a name. */
static void check_rejects_bad_define(void **state)
{
    (void)state;
    char err[4096];
    assert_int_equal(tilec(err, sizeof err, "check affine.tile -D =5"), 1);
    assert_non_null(strstr(err, "bad define '=5': expected NAME=VALUE"));
    assert_int_equal(tilec(err, sizeof err, "check affine.tile -D C=8"), 0);
}

/* Arguments that would be silently ignored are errors. */
static void odd_run_arguments(void **state)
{
    (void)state;
    char err[4096];
    write_inputs();
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k affine --interp --in x=x4.npy "
                                            "--in b=b.npy --in x=x4.npy -D s=1"), 1);
    assert_non_null(strstr(err, "tilec: --in x=x4.npy: 'x' is given twice"));
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k affine --interp --random 1 -D s=1 "
                                            "-D R=4 -D b=3"), 1);
    assert_non_null(strstr(err, "tilec: -D b: 'b' is a tensor: give it with --in b=FILE.npy"));
}

/* The library root is searched once and named as such: a tilec built
 * inside the source tree does not add the same folder again by path. */
static void library_searched_once(void **state)
{
    (void)state;
    char err[4096];
    write_source("imp.tile", "import \"no_such_file.tile\";\nkernel k() grid(1) { }\n");
    assert_int_equal(tilec(err, sizeof err, "check imp.tile"), 1);
    assert_non_null(strstr(err, "cannot find 'no_such_file.tile' (searched: ., the tile library)"));
    write_source("imp2.tile", "import \"attention/masks.tile\";\nkernel k() grid(1) { }\n");
    assert_int_equal(tilec(err, sizeof err, "check imp2.tile"), 0);
}

/* Sum of an i32 .npy file written by tilec (the checker kernels' output). */
static long npy_sum_i32(const char *rel)
{
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    arena mem;
    arena_init(&mem);
    interp_tensor t;
    long sum = -1;
    if (npy_read(path, &mem, IR_I32, &t, err, sizeof err) == TILE_OK) {
        int64_t n = 1;
        for (int d = 0; d < t.rank; d++) n *= t.shape[d];
        sum = 0;
        for (int64_t i = 0; i < n; i++) sum += ((int32_t *)t.data)[i];
    }
    arena_free(&mem);
    return sum;
}

/* The README's and examples' commands work as a user types them: the
 * example kernels check and run, and a user's own mask can be checked
 * against a range fn with the library's check_kv_range. */
static void examples_work(void **state)
{
    (void)state;
    char err[4096];
    assert_int_equal(tilec(err, sizeof err, "check %s/examples/scale_rows.tile", TILE_SOURCE_DIR), 0);
    assert_int_equal(tilec(err, sizeof err, "check %s/examples/local_global.tile", TILE_SOURCE_DIR), 0);
    assert_int_equal(tilec(err, sizeof err, "run %s/examples/local_global.tile -k longformer --interp "
                                            "--random 1 -D Z=1 -D H=2 -D HK=1 -D M=70 -D N=90 "
                                            "-D scale=0.125 --out-dir lg", TILE_SOURCE_DIR), 0);
    assert_string_equal(err, "");
    const char *check = "run %s/examples/local_global.tile -k check_kv_range --interp "
                        "-D mask=local_global -D 'kv_range=%s' -D M=300 -D N=300 --out-dir %s";
    assert_int_equal(tilec(err, sizeof err, check, TILE_SOURCE_DIR,
                           "sliding_window_range(W: 128, S: 16)", "c1"), 0);
    assert_int_equal(npy_sum_i32("c1/missed.npy"), 0);
    /* a range that forgets the global keys misses blocks the mask needs: the
     * run fails and names them; -D strict=false only writes the table */
    assert_int_equal(tilec(err, sizeof err, check, TILE_SOURCE_DIR, "sliding_window_range(W: 128)",
                           "c2"), 1);
    assert_non_null(strstr(err, "error: assertion failed: check_kv_range: the range fn skips key "
                                "blocks the mask needs"));
    assert_non_null(strstr(read_file("stdout.txt"), "check_kv_range: missed (query block, key block): "));
    assert_int_equal(tilec(err, sizeof err, "run %s/examples/local_global.tile -k check_kv_range "
                                            "--interp -D mask=local_global -D strict=false -D "
                                            "'kv_range=sliding_window_range(W: 128)' -D M=300 "
                                            "-D N=300 --out-dir c3", TILE_SOURCE_DIR), 0);
    assert_true(npy_sum_i32("c3/missed.npy") > 0);
}

/* --check-bounds: an off-by-one head index reads 0 silently without it and
 * is reported with its location and program id with it; a ragged block edge
 * (an index tile past R) is the language's bounds masking and is reported
 * only with --check-bounds=all. */
static void check_bounds(void **state)
{
    (void)state;
    write_source("oob.tile",
                 "kernel heads(q: tensor<f32>[H, N], o: out tensor<f32>[H, N], const N: int = 4)\n"
                 "    grid(H)\n"
                 "{\n"
                 "    let h = program_id(0);\n"
                 "    store(o[h, arange(N)], load(q[h + 1, arange(N)]));\n"
                 "}\n"
                 "kernel ragged(x: tensor<f32>[R, C], y: out tensor<f32>[R, C], const C: int = 4,\n"
                 "              const BR: int = 4) grid(cdiv(R, BR))\n"
                 "{\n"
                 "    let rows = program_id(0) * BR + arange(BR);\n"
                 "    store(y[rows, :], load(x[rows, :]), mask: rows[:, None] < R);\n"
                 "    store(y[rows, :], load(x[rows, :]));\n"
                 "}\n");
    char err[4096];
    assert_int_equal(tilec(err, sizeof err, "run oob.tile -k heads --interp --random 1 -D H=3 --out-dir b0"), 0);
    assert_int_equal(tilec(err, sizeof err, "run oob.tile -k heads --interp --random 1 -D H=3 "
                                            "--check-bounds --out-dir b1"), 1);
    assert_non_null(strstr(err, "oob.tile:5:28: error: load reads q[3, 0]: index 3 is outside "
                                "dimension 0 (size 3) (program 2, 0, 0)\n"));
    assert_int_equal(tilec(err, sizeof err, "run oob.tile -k ragged --interp --random 1 -D R=5 "
                                            "--check-bounds --out-dir b2"), 0);
    assert_string_equal(err, "");
    assert_int_equal(tilec(err, sizeof err, "run oob.tile -k ragged --interp --random 1 -D R=5 "
                                            "--check-bounds=all --out-dir b3"), 1);
    /* the masked store passes; the unmasked load and store of line 12 do not */
    assert_non_null(strstr(err, "oob.tile:11:23: error: load reads x[5, 0]: index 5 is outside "
                                "dimension 0 (size 5) (program 1, 0, 0)\n"));
    write_source("oob2.tile",
                 "kernel ragged(x: tensor<f32>[R, C], y: out tensor<f32>[R, C], const C: int = 4,\n"
                 "              const BR: int = 4) grid(cdiv(R, BR))\n"
                 "{\n"
                 "    let rows = program_id(0) * BR + arange(BR);\n"
                 "    let ok = rows[:, None] < R;\n"
                 "    store(y[rows, :], load(x[rows, :], mask: ok), mask: ok);\n"
                 "    store(y[rows + 1, :], load(x[rows, :], mask: ok));\n"
                 "}\n");
    assert_int_equal(tilec(err, sizeof err, "run oob2.tile -k ragged --interp --random 1 -D R=5 "
                                            "--check-bounds=all --out-dir b4"), 1);
    assert_non_null(strstr(err, "oob2.tile:7:5: error: store writes y[5, 0]: index 5 is outside "
                                "dimension 0 (size 5) (program 1, 0, 0)\n"));
    assert_int_equal(tilec(err, sizeof err, "check oob.tile --check-bounds"), 2);
}

/* The interpreter's budgets stop what would never end or exhaust memory,
 * with the option that raises them; a -D dimension over the launch limit is
 * refused before anything is allocated. */
static void budgets(void **state)
{
    (void)state;
    write_source("spin.tile", "kernel spin(o: out tensor<f32>[1]) grid(1) { while true {} }\n");
    char err[4096];
    assert_int_equal(tilec(err, sizeof err, "run spin.tile -k spin --interp --max-ops 100000 --out-dir s"), 1);
    assert_non_null(strstr(err, "spin.tile:1:52: error: interpreter: the launch ran over its budget of "
                                "100000 executed ops (an endless loop?  raise it with --max-ops) "
                                "(program 0, 0, 0)\n"));
    /* ten distinct 2^20-element tiles: 40 MiB of f32, more than 16 MiB */
    char src[2048] = "kernel chain(x: tensor<f32>[1], o: out tensor<f32>[1]) grid(1) {\n"
                     "    let t0 = zeros([1024, 1024]) + load(x[0]);\n";
    for (int i = 1; i < 10; i++)
        snprintf(src + strlen(src), sizeof src - strlen(src), "    let t%d = t%d * 2.0;\n", i, i - 1);
    strcat(src, "    store(o[arange(1)], reshape(max(max(t9, axis: 1), axis: 0), [1]));\n}\n");
    write_source("chain.tile", src);
    assert_int_equal(tilec(err, sizeof err, "run chain.tile -k chain --interp --random 1 --out-dir c0"), 0);
    assert_int_equal(tilec(err, sizeof err, "run chain.tile -k chain --interp --random 1 --max-memory 16M --out-dir c1"), 1);
    assert_non_null(strstr(err, "error: interpreter: the launch needs more than its memory budget of "
                                "16777216 bytes for tiles (raise it with --max-memory)"));
    /* tensors tilec allocates count too: 2^24 rows of 8 f32 = 512 MiB > 1 MiB */
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k affine --interp --random 1 -D s=1 "
                                            "-D R=16777216 --max-memory 1M --out-dir c2"), 1);
    assert_non_null(strstr(err, "tensor 'x' (f32[16777216,8]) does not fit the memory budget of "
                                "1048576 bytes (raise it with --max-memory)"));
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k affine --interp --random 1 -D s=1 "
                                            "-D R=3000000000 --out-dir c3"), 1);
    assert_non_null(strstr(err, "-D R=3000000000: a dimension size must be at most 2147483647"));
    assert_int_equal(tilec(err, sizeof err, "run spin.tile -k spin --interp --max-ops 0"), 2);
    /* a source file has a size limit (imports always had one): /dev/zero ends */
    assert_int_equal(tilec(err, sizeof err, "check /dev/zero"), 1);
    assert_non_null(strstr(err, "cannot read /dev/zero: it is larger than 64 MiB, the limit for a "
                                "source file"));
    assert_int_equal(tilec(err, sizeof err, "run spin.tile -k spin --interp --max-memory 3X"), 2);
}

/* --save-inputs writes the generated inputs, so the outputs can be checked
 * against them: y = x * s + b. */
static void save_inputs(void **state)
{
    (void)state;
    char err[4096];
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k affine --interp --random 5 -D R=6 "
                                            "-D s=0.5 --save-inputs si --out-dir so/deeper/run1"), 0);
    assert_string_equal(err, "");
    arena mem;
    arena_init(&mem);
    interp_tensor x, b, y;
    char path[512];
    snprintf(path, sizeof path, "%s/si/x.npy", dir);
    assert_int_equal(npy_read(path, &mem, IR_F32, &x, err, sizeof err), TILE_OK);
    snprintf(path, sizeof path, "%s/si/b.npy", dir);
    assert_int_equal(npy_read(path, &mem, IR_F32, &b, err, sizeof err), TILE_OK);
    snprintf(path, sizeof path, "%s/so/deeper/run1/y.npy", dir);
    assert_int_equal(npy_read(path, &mem, IR_F32, &y, err, sizeof err), TILE_OK);
    assert_int_equal(x.shape[0], 6);
    assert_int_equal(b.shape[0], 8);
    bool nonzero = false;
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 8; j++) {
            float xv = ((float *)x.data)[i * 8 + j], bv = ((float *)b.data)[j];
            float want = xv * 0.5f + bv, got = ((float *)y.data)[i * 8 + j];
            nonzero |= xv != 0.0f;
            assert_true(fabsf(got - want) <= fabsf(want) * 0x1p-8f + 1e-30f);
        }
    assert_true(nonzero);
    arena_free(&mem);
    assert_non_null(strstr(read_file("stdout.txt"), "input x: f32[6,8] -> si/x.npy\n"));
}

/* A run-time i64 loop bound counts in i64 (it was cast to i32: 2^32 + 5 ran
 * 5 iterations), and an i64 grid size that does not fit i32 stops the
 * launch at the grid expression instead of launching 3 programs. */
static void i64_bounds_and_grid(void **state)
{
    (void)state;
    write_source("wide.tile",
                 "kernel loop(o: out tensor<i64>[2], hi: i64) grid(1) {\n"
                 "    var n = cast<i64>(0);\n"
                 "    var total = cast<i64>(0);\n"
                 "    for i in range(hi - 3, hi) { n += 1; total += i; }\n"
                 "    store(o[0], n);\n"
                 "    store(o[1], total);\n"
                 "}\n"
                 "kernel wide_grid(o: out tensor<i32>[4], n: i64) grid(n) {\n"
                 "    store(o[program_id(0)], 1);\n"
                 "}\n");
    char err[4096];
    assert_int_equal(tilec(err, sizeof err, "run wide.tile -k loop --interp -D hi=4294967301 --out-dir w1"), 0);
    arena mem;
    arena_init(&mem);
    interp_tensor t;
    char path[512];
    snprintf(path, sizeof path, "%s/w1/o.npy", dir);
    assert_int_equal(npy_read(path, &mem, IR_I64, &t, err, sizeof err), TILE_OK);
    assert_int_equal(((int64_t *)t.data)[0], 3);
    assert_int_equal(((int64_t *)t.data)[1], 4294967298LL + 4294967299LL + 4294967300LL);
    arena_free(&mem);
    assert_int_equal(tilec(err, sizeof err, "run wide.tile -k wide_grid --interp -D n=4294967299 --out-dir w2"), 1);
    assert_non_null(strstr(err, "wide.tile:8:54: error: assertion failed: grid size along axis 0 does not "
                                "fit i32 (at most 2147483647 programs)"));
    assert_int_equal(tilec(err, sizeof err, "run wide.tile -k wide_grid --interp -D n=3 --out-dir w3"), 0);
}

/* ---- tilec check on generic kernels ------------------------------------- */

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static const char *generic_src =
    "kernel g(x: tensor<f32>[N, D], y: out tensor<f32>[N, D], const D: int,\n"
    "         const T: dtype = f32, const BM: int = 16) grid(cdiv(N, BM))\n"
    "{\n"
    "    let rows = program_id(0) * BM + arange(BM);\n"
    "    store(y[rows, :], cast<T>(load(x[rows, :])) * 2.0);\n"
    "}\n"
    "kernel g64 = g(D: 64);\n";

/* A kernel with an unbound constant is checked with a representative value,
 * and check says which; a body error is found by check as by run. */
static void check_generic_kernels(void **state)
{
    (void)state;
    char err[4096];
    write_source("generic.tile", generic_src);
    assert_int_equal(tilec(err, sizeof err, "check generic.tile"), 0);
    assert_string_equal(err, "");
    const char *out = read_file("stdout.txt");
    assert_non_null(strstr(out, "checked g with D=16 (chosen), T=f32, BM=16 (default)\n"));
    assert_non_null(strstr(out, "checked g64 with T=f32, BM=16 (default)\n"));

    /* the same body error, planted, found by check and by run */
    char *bad = strdup(generic_src);
    char *at = strstr(bad, " * 2.0");
    memcpy(at, " +true", 6);
    write_source("generic_bad.tile", bad);
    free(bad);
    assert_int_equal(tilec(err, sizeof err, "check generic_bad.tile"), 1);
    const char *want = "generic_bad.tile:5:49: error: cannot add f32[16,16] and bool";
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, "generic_bad.tile:1:8: note: 'g' was checked with D=16 (chosen)"));
    /* g64's instance is f32[16,64]: reported once more, with its own note */
    assert_non_null(strstr(err, "generic_bad.tile:7:8: note: in specialisation 'g64' requested here"));
    assert_int_equal(tilec(err, sizeof err, "run generic_bad.tile -k g --interp --random 1 "
                                            "-D D=16 -D N=4"), 1);
    assert_non_null(strstr(err, want));
    /* -D takes priority over the chosen value, and check reports it */
    assert_int_equal(tilec(err, sizeof err, "check generic.tile -D D=32"), 0);
    assert_non_null(strstr(read_file("stdout.txt"), "checked g with D=32 (-D), T=f32, BM=16 (default)"));
}

/* `// tilec: -D ...` lines: each is one set of values a kernel is checked
 * with; names they give are checked, an fn constant nothing binds makes a
 * kernel that cannot be checked, which is an error. */
static void check_lines(void **state)
{
    (void)state;
    char err[4096];
    char src[2048];
    snprintf(src, sizeof src, "// tilec: -D D=128\n// tilec: -D D=32 -D T=bf16\n%s", generic_src);
    write_source("lines.tile", src);
    assert_int_equal(tilec(err, sizeof err, "check lines.tile"), 0);
    const char *out = read_file("stdout.txt");
    assert_non_null(strstr(out, "checked g with D=128 (line 1), T=f32, BM=16 (default)\n"));
    assert_non_null(strstr(out, "checked g with D=32, T=bf16 (line 2), BM=16 (default)\n"));
    /* g64 binds D: line 2 still applies to it through T */
    assert_non_null(strstr(out, "checked g64 with T=bf16 (line 2), BM=16 (default)\n"));
    assert_int_equal(count(out, "checked "), 3);   /* g64 takes nothing from line 1 */

    snprintf(src, sizeof src, "// tilec: -D DD=128\n%s", generic_src);
    write_source("lines_bad.tile", src);
    assert_int_equal(tilec(err, sizeof err, "check lines_bad.tile"), 1);
    assert_non_null(strstr(err, "lines_bad.tile:1:14: error: -D DD: no kernel of this file has a "
                                "constant 'DD'; did you mean 'D'?"));

    write_source("fnconst.tile", "kernel m(y: out tensor<i32>[4], const f: fn) grid(1) {\n"
                                 "    store(y[arange(4)], f(arange(4)));\n}\n");
    assert_int_equal(tilec(err, sizeof err, "check fnconst.tile"), 1);
    assert_non_null(strstr(err, "fnconst.tile:1:39: error: kernel 'm' cannot be checked: constant "
                                "'f' (fn) has no value"));
    assert_int_equal(count(read_file("stdout.txt"), "checked "), 0);
}

/* Every library file checks every kernel it defines (with which values is
 * said), and an error planted in a generic library kernel is found. */
static void check_library(void **state)
{
    (void)state;
    char err[4096], path[512];
    static const char *const lib[] = {"flash_fwd", "flash_bwd", "decode", "block_sparse",
                                      "lightning2", "masks"};
    for (size_t i = 0; i < sizeof lib / sizeof lib[0]; i++) {
        snprintf(path, sizeof path, "%s/lib/attention/%s.tile", TILE_SOURCE_DIR, lib[i]);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        static char text[65536];
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = 0;
        fclose(f);
        int kernels = count(text, "\nkernel ");
        int lines = count(text, "\n// tilec: ");
        assert_true(kernels > 0);
        assert_int_equal(tilec(err, sizeof err, "check %s", path), 0);
        const char *out = read_file("stdout.txt");
        /* a file with `// tilec:` lines checks each kernel once per line */
        int want = lines ? kernels * lines : kernels;
        if (count(out, "checked ") != want)
            fail_msg("%s: %d kernels, %d lines, but:\n%s", lib[i], kernels, lines, out);
    }

    /* a type error planted in flash_fwd's body (a generic kernel: D unbound) */
    snprintf(path, sizeof path, "%s/lib/attention/flash_fwd.tile", TILE_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    char *acc = strstr(text, "var acc = zeros([BM, D]);");
    assert_non_null(acc);
    memcpy(acc, "var acc = zeros([BM, true]", 26);
    char *rest = strdup(acc + 26);
    strcpy(acc + 26, ");");
    strcat(acc, rest + 2);
    free(rest);
    write_source("flash_planted.tile", text);
    assert_int_equal(tilec(err, sizeof err, "check flash_planted.tile"), 1);
    assert_non_null(strstr(err, "flash_planted.tile:"));
    assert_non_null(strstr(err, "error: "));
    assert_non_null(strstr(err, "note: 'flash_fwd' was checked with D=16 (chosen)"));
}

/* --explain shows the block plan of the kernel's mask at its shape and
 * tiles: causal over 4 x 4 blocks of 64 visits the 10 on or below the
 * diagonal (6 full, the 4 diagonal ones masked) and skips 6; the window's
 * two slots; JSON carries the same; a kernel without a mask says so. */
static void explain_shows_block_plan(void **state)
{
    (void)state;
    char err[4096], flash[512], decode[512];
    snprintf(flash, sizeof flash, "%s/lib/attention/flash_fwd.tile", TILE_SOURCE_DIR);
    snprintf(decode, sizeof decode, "%s/lib/attention/decode.tile", TILE_SOURCE_DIR);
    const char *shape = "-D D=64 -D BM=64 -D BN=64 -D M=256 -D N=256 -D Z=1 -D H=2 -D HK=2";
    assert_int_equal(tilec(err, sizeof err, "%s -k flash_fwd_causal %s --explain", flash, shape), 0);
    const char *out = read_file("stdout.txt");
    assert_non_null(strstr(out, "block plan of mask causal: M=256 N=256, BM=64 BN=64"));
    assert_non_null(strstr(out, "visited 10 (62.5%): full 6 (37.5%, no mask arithmetic), "
                                "partial 4 (25.0%, masked); skipped 6 (37.5%)"));
    assert_non_null(strstr(out, "exact: "));
    assert_int_equal(tilec(err, sizeof err, "%s -k flash_fwd %s -D 'mask=sliding_window(W: 64, S: 4)' "
                           "--explain", flash, shape), 0);
    out = read_file("stdout.txt");
    assert_non_null(strstr(out, "key-block ranges per query block: 2 slots"));
    assert_int_equal(tilec(err, sizeof err, "%s -k flash_fwd_causal %s --explain=json", flash, shape), 0);
    out = read_file("stdout.txt");
    assert_non_null(strstr(out, "\"key_ranges\": [{\"mask\": \"causal\", \"M\": 256, \"N\": 256"));
    assert_non_null(strstr(out, "\"full\": 6, \"partial\": 4, \"skipped\": 6"));
    assert_int_equal(tilec(err, sizeof err, "%s -k decode_gqa -D D=128 -D G=4 -D PS=16 --explain",
                           decode), 0);
    out = read_file("stdout.txt");
    assert_non_null(strstr(out, "derived key ranges (block skipping): none (kernel 'decode_gqa' has "
                                "no mask, BM and BN constants)"));
}

/* --emit=ir without -k says which kernels it does not compile. */
static void emit_names_skipped_kernels(void **state)
{
    (void)state;
    char err[4096];
    write_source("generic.tile", generic_src);
    assert_int_equal(tilec(err, sizeof err, "generic.tile --emit=ir"), 0);
    assert_non_null(strstr(err, "generic.tile:1:8: warning: kernel 'g' is not compiled: no value "
                                "for constant 'D' (give it with -D NAME=VALUE)"));
    assert_non_null(strstr(read_file("stdout.txt"), "kernel @g64("));
    assert_null(strstr(read_file("stdout.txt"), "kernel @g("));
}

/* -D names and values: did-you-mean, the user's words, no silent drops. */
static void define_diagnostics(void **state)
{
    (void)state;
    char err[4096];
    write_source("generic.tile", generic_src);
    /* --emit=ir refuses a -D that names nothing, as run does */
    assert_int_equal(tilec(err, sizeof err, "affine.tile --emit=ir -k affine -D NOTAPARAM=3"), 1);
    assert_non_null(strstr(err, "tilec: -D NOTAPARAM: kernel 'affine' has no constant, scalar "
                                "parameter or dimension named 'NOTAPARAM'\n"));
    assert_int_equal(tilec(err, sizeof err, "affine.tile --emit=ir -k affine -D ss=3"), 1);
    assert_non_null(strstr(err, "named 'ss'; did you mean 's'?"));
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k affine --interp --random 1 -D s=2 "
                                            "-D R=4 -D BRR=2"), 1);
    assert_non_null(strstr(err, "named 'BRR'; did you mean 'BR'?"));
    assert_int_equal(tilec(err, sizeof err, "affine.tile --emit=ir -D NOTAPARAM=3"), 1);
    assert_non_null(strstr(err, "<command line>:1:4: error: -D NOTAPARAM: no kernel of this file "
                                "has a constant, parameter or dimension named 'NOTAPARAM'"));
    /* a kernel's name, misspelt */
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k afine --interp"), 1);
    assert_non_null(strstr(err, "no kernel named 'afine'; did you mean 'affine'?"));
    /* a bad value, in the user's words */
    assert_int_equal(tilec(err, sizeof err, "check generic.tile -D T=fp32"), 1);
    assert_string_equal(err, "<command line>:1:6: error: unknown dtype 'fp32' (expected one of "
                             "bool, i32, i64, f16, bf16, f32); did you mean 'f32'?\n"
                             "    1 | -D T=fp32\n"
                             "      |      ^\n");
    assert_int_equal(tilec(err, sizeof err, "check generic.tile -D 'D=(1+'"), 1);
    assert_non_null(strstr(err, "<command line>:1:9: error: expected expression, found the end "
                                "of the value\n"));
    assert_null(strstr(err, "__d"));
    /* a float f32 cannot hold */
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k affine --interp --random 1 -D R=4 "
                                            "-D s=1e39"), 1);
    assert_non_null(strstr(err, "<command line>:2:6: error: float literal '1e39' is out of range "
                                "for f32"));
    assert_int_equal(tilec(err, sizeof err, "run affine.tile -k affine --interp --random 1 -D R=4 "
                                            "-D s=1e-50"), 1);
    assert_non_null(strstr(err, "is too small for f32: it would be 0"));
    /* a -D over a specialisation's binding of the kernel named */
    assert_int_equal(tilec(err, sizeof err, "run generic.tile -k g64 --interp --random 1 -D N=4 "
                                            "-D D=nonexistent"), 1);
    assert_non_null(strstr(err, "<command line>:2:6: error: -D D: constant 'D' of kernel 'g' is "
                                "bound by the specialisation (D=64) and cannot be overridden"));
    assert_int_equal(tilec(err, sizeof err, "generic.tile --emit=ir -k g64 -D D=32"), 1);
    assert_non_null(strstr(err, "cannot be overridden"));
}

/* tilec opt: IR text in, passes, IR text out; piped from --emit=ir. */
static void opt_reads_ir_text(void **state)
{
    (void)state;
    char err[4096];
    write_source("dup.ir",
                 "kernel @k(%y: out tensor<f32>[4], %s: f32) {\n"
                 "grid:\n"
                 "  %one = const 1 : i32\n"
                 "  yield %one, %one, %one\n"
                 "body:\n"
                 "  %a = exp %s : f32\n"
                 "  %b = exp %s : f32\n"
                 "  %dead = neg %a : f32\n"
                 "  %c = add %a, %b : f32\n"
                 "  %i = arange : i32[4]\n"
                 "  %t = broadcast %c : f32[4]\n"
                 "  store %y[%i], %t\n"
                 "  return\n"
                 "}\n");
    assert_int_equal(tilec(err, sizeof err, "opt dup.ir --passes=cse,dce --verify-each -o out.ir"), 0);
    assert_string_equal(err, "");
    char path[512], got[4096];
    snprintf(path, sizeof path, "%s/out.ir", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(got, 1, sizeof got - 1, f);
    got[n] = 0;
    fclose(f);
    assert_string_equal(got, "kernel @k(%y: out tensor<f32>[4], %s: f32) {\n"
                             "grid:\n"
                             "  %one.0 = const 1 : i32\n"
                             "  yield %one.0, %one.0, %one.0\n"
                             "body:\n"
                             "  %a.1 = exp %s : f32\n"
                             "  %c.2 = add %a.1, %a.1 : f32\n"
                             "  %i.3 = arange : i32[4]\n"
                             "  %t.4 = broadcast %c.2 : f32[4]\n"
                             "  store %y[%i.3], %t.4\n"
                             "  return\n"
                             "}\n");
    /* From --emit=ir through stdin, no passes: the same text. */
    assert_int_equal(tilec(err, sizeof err, "affine.tile --emit=ir -o a.ir && %s/tilec opt - < a.ir > b.ir && cmp a.ir b.ir",
                           TILE_BINARY_DIR), 0);
    /* Errors: an unknown pass is bad usage; bad text is located. */
    assert_int_equal(tilec(err, sizeof err, "opt dup.ir --passes=cse,nope"), 2);
    assert_non_null(strstr(err, "tilec: opt: unknown pass in 'cse,nope' (passes: inline, "
                                "canonicalize, fold, cse, dce, optimize, sched_layouts, "
                                "sched_pipeline)\n"));
    /* The scheduling passes: sched_pipeline needs scheduled IR (a located
     * complaint, not a usage error); an unknown --arch is named. */
    assert_int_equal(tilec(err, sizeof err, "opt dup.ir --passes=sched_pipeline"), 1);
    assert_non_null(strstr(err, "error: sched_pipeline runs on scheduled IR (run sched_layouts first)"));
    assert_int_equal(tilec(err, sizeof err, "opt dup.ir --passes=sched_layouts --arch sm_70"), 1);
    assert_non_null(strstr(err, "error: unknown GPU architecture 'sm_70'"));
    write_source("bad.ir", "kernel @k() {\ngrid:\n  yield %q\n");
    assert_int_equal(tilec(err, sizeof err, "opt bad.ir"), 1);
    assert_non_null(strstr(err, "bad.ir:3:9: error: use of undefined value '%q'\n"));
    assert_int_equal(tilec(err, sizeof err, "opt missing.ir"), 1);
    assert_non_null(strstr(err, "tilec: cannot read missing.ir"));
    assert_int_equal(tilec(err, sizeof err, "opt"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(npy_in_and_out),
        cmocka_unit_test(random_inputs_need_dimensions),
        cmocka_unit_test(bad_invocations),
        cmocka_unit_test(tune_shares_run_inputs),
        cmocka_unit_test(check_and_emit),
        cmocka_unit_test(repeated_define_refused),
        cmocka_unit_test(integer_values),
        cmocka_unit_test(output_written_on_success_only),
        cmocka_unit_test(options_must_apply),
        cmocka_unit_test(check_rejects_bad_define),
        cmocka_unit_test(library_searched_once),
        cmocka_unit_test(odd_run_arguments),
        cmocka_unit_test(examples_work),
        cmocka_unit_test(check_bounds),
        cmocka_unit_test(budgets),
        cmocka_unit_test(save_inputs),
        cmocka_unit_test(i64_bounds_and_grid),
        cmocka_unit_test(check_generic_kernels),
        cmocka_unit_test(check_lines),
        cmocka_unit_test(check_library),
        cmocka_unit_test(emit_names_skipped_kernels),
        cmocka_unit_test(define_diagnostics),
        cmocka_unit_test(opt_reads_ir_text),
        cmocka_unit_test(explain_shows_block_plan),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
