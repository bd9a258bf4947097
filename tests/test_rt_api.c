/* test_rt_api.c - runtime/rt_api.c through the public API (tile.h):
 * misuse gives the documented statuses and messages; without a driver GPU
 * mode is TILE_ERR_NO_DEVICE with a reason; the last error is per thread;
 * a bad .tile file gives tilec's diagnostics; TILE_INTERPRET=1 runs the
 * same API on the interpreter (scale_rows, flash_fwd_causal on an odd
 * shape against the naive reference); libtile.so needs only libc/libm and
 * exports only tile_*. */
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
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

#include "ref/attn_ref.h"
#include "ref/harness.h"
#include "runtime/tile.h"

static tile_context *interp_ctx(void)
{
    tile_context *ctx = NULL;
    assert_int_equal(tile_open(&ctx, &(tile_config){.mode = TILE_MODE_INTERPRET, .cache_dir = ""}),
                     TILE_OK);
    return ctx;
}

static void expect_error(tile_status got, tile_status want, const char *text)
{
    assert_int_equal(got, want);
    if (!strstr(tile_last_error(), text))
        fail_msg("expected '%s' in the error, got '%s'", text, tile_last_error());
}

static bool have_driver(void)
{
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib) dlclose(lib);
    return lib != NULL;
}

static void test_no_device(void **state)
{
    (void)state;
    if (have_driver()) skip(); /* only meaningful where there is no driver */
    tile_context *ctx = (tile_context *)1;
    unsetenv("TILE_INTERPRET");
    expect_error(tile_open(&ctx, NULL), TILE_ERR_NO_DEVICE, "no CUDA driver: cannot load libcuda.so.1");
    assert_null(ctx);
    assert_non_null(strstr(tile_last_error(), "set TILE_INTERPRET=1"));
    expect_error(tile_open(&ctx, &(tile_config){.mode = TILE_MODE_GPU}), TILE_ERR_NO_DEVICE,
                 "no CUDA driver");
    /* TILE_INTERPRET=1 turns the default mode into the interpreter. */
    setenv("TILE_INTERPRET", "1", 1);
    assert_int_equal(tile_open(&ctx, NULL), TILE_OK);
    tile_device_info info;
    assert_int_equal(tile_device(ctx, &info), TILE_OK);
    assert_true(info.interpreted);
    assert_string_equal(info.name, "CPU interpreter");
    tile_close(ctx);
    setenv("TILE_INTERPRET", "0", 1);
    assert_int_equal(tile_open(&ctx, NULL), TILE_ERR_NO_DEVICE);
    unsetenv("TILE_INTERPRET");
}

static void test_misuse(void **state)
{
    (void)state;
    tile_kernel *k = (tile_kernel *)1;
    expect_error(tile_open(NULL, NULL), TILE_ERR_ARG, "tile_open: out is NULL");
    expect_error(tile_open(&(tile_context *){0}, &(tile_config){.mode = 7}), TILE_ERR_ARG,
                 "tile_open: unknown mode 7");
    expect_error(tile_open(&(tile_context *){0}, &(tile_config){.mode = TILE_MODE_INTERPRET, .num_warps = 33}),
                 TILE_ERR_ARG, "num_warps 33 is outside 0..32");
    expect_error(tile_compile(NULL, &(tile_source){.path = "x.tile", .kernel = "k"}, &k),
                 TILE_ERR_ARG, "tile_compile: NULL argument");
    assert_null(k);
    tile_context *ctx = interp_ctx();
    expect_error(tile_compile(ctx, &(tile_source){.path = "x.tile"}, &k), TILE_ERR_ARG,
                 "tile_compile: no kernel name");
    expect_error(tile_compile(ctx, &(tile_source){.kernel = "k"}, &k), TILE_ERR_ARG,
                 "neither a path nor source text");
    expect_error(tile_compile(ctx, &(tile_source){.path = "x.tile", .kernel = "k", .ndefines = 1}, &k),
                 TILE_ERR_ARG, "bad define or include-dir list");
    expect_error(tile_compile_file(ctx, "../examples/scale_rows.tile", "scale_rows", "C=64,BR", &k),
                 TILE_ERR_ARG, "bad constant list 'C=64,BR'");
    expect_error(tile_compile_file(ctx, "no/such/file.tile", "k", NULL, &k), TILE_ERR_IO,
                 "cannot read no/such/file.tile");
    expect_error(tile_compile_file(ctx, "../examples/scale_rows.tile", "nope", NULL, &k), TILE_ERR_SEMA,
                 "no kernel named 'nope'");
    expect_error(tile_launch(NULL, NULL, 0, NULL), TILE_ERR_ARG, "tile_launch: kernel is NULL");
    expect_error(tile_sync(NULL, NULL), TILE_ERR_ARG, "tile_sync: context is NULL");
    expect_error(tile_alloc(NULL, 4, &(void *){0}), TILE_ERR_ARG, "tile_alloc: NULL argument");
    expect_error(tile_upload(ctx, NULL, "x", 1), TILE_ERR_ARG, "tile_upload: NULL argument");
    assert_int_equal(tile_compile_file(ctx, "../examples/scale_rows.tile", "scale_rows", NULL, &k), TILE_OK);
    assert_string_equal(tile_last_error(), ""); /* success clears it */
    tile_param_info info;
    expect_error(tile_kernel_param(k, 3, &info), TILE_ERR_ARG, "kernel 'scale_rows' has no parameter 3");
    assert_int_equal(tile_kernel_nparams(k), 3);
    assert_int_equal(tile_kernel_param(k, 1, &info), TILE_OK);
    assert_string_equal(info.name, "y");
    assert_true(info.is_tensor && info.is_out && info.dtype == TILE_F32 && info.rank == 2);
    assert_int_equal(tile_kernel_param(k, 2, &info), TILE_OK);
    assert_true(!info.is_tensor && info.dtype == TILE_F32);
    tile_kernel_free(k);
    tile_close(ctx);
    assert_string_equal(tile_status_name(TILE_ERR_NO_DEVICE), "no CUDA device");
    assert_string_equal(tile_status_name(TILE_ERR_ARG), "invalid argument");
}

static void *fail_in_thread(void *arg)
{
    (void)arg;
    tile_sync(NULL, NULL);
    return strdup(tile_last_error());
}

static void test_error_per_thread(void **state)
{
    (void)state;
    tile_open(NULL, NULL);
    pthread_t t;
    char *other;
    assert_int_equal(pthread_create(&t, NULL, fail_in_thread, NULL), 0);
    assert_int_equal(pthread_join(t, (void **)&other), 0);
    assert_non_null(strstr(other, "tile_sync: context is NULL"));
    assert_non_null(strstr(tile_last_error(), "tile_open: out is NULL"));
    free(other);
}

/* The runtime's message for a bad file is tilec's, byte for byte. */
static void test_diagnostics_as_tilec(void **state)
{
    (void)state;
    char dir[] = "/tmp/tile_rt_api_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[300], cmd[1200];
    snprintf(path, sizeof path, "%s/bad.tile", dir);
    FILE *f = fopen(path, "w");
    fputs("kernel k(x: tensor<f32>[R], y: out tensor<f32>[R]) grid(1)\n{\n"
          "    store(y[arange(4)], load(x[arange(4)]) + undefined_name);\n}\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "cd %s && %s/tilec bad.tile --emit=ir -k k >/dev/null 2>tilec.err",
             dir, TILE_BINARY_DIR);
    assert_int_not_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/tilec.err", dir);
    char expected[4096] = {0};
    f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(expected, 1, sizeof expected - 1, f);
    fclose(f);
    assert_true(n > 0);
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    tile_context *ctx = interp_ctx();
    tile_kernel *k;
    assert_int_equal(tile_compile_file(ctx, "bad.tile", "k", NULL, &k), TILE_ERR_SEMA);
    assert_string_equal(tile_last_error(), expected);
    assert_non_null(strstr(expected, "bad.tile:3:"));
    tile_close(ctx);
    assert_int_equal(chdir(cwd), 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* The memory helpers and scale_rows, as hello_tile uses them. */
static void test_interpret_scale_rows(void **state)
{
    (void)state;
    tile_context *ctx = interp_ctx();
    tile_kernel *k;
    assert_int_equal(tile_compile_file(ctx, "../examples/scale_rows.tile", "scale_rows", "C=32,BR=8", &k),
                     TILE_OK);
    enum { ROWS = 37, COLS = 32 };
    float hx[ROWS * COLS], hy[ROWS * COLS];
    for (int i = 0; i < ROWS * COLS; i++) hx[i] = (float)i * 0.25f, hy[i] = NAN;
    void *x, *y;
    assert_int_equal(tile_alloc(ctx, sizeof hx, &x), TILE_OK);
    assert_int_equal(tile_alloc(ctx, sizeof hy, &y), TILE_OK);
    assert_true((uintptr_t)x % 256 == 0);
    assert_int_equal(tile_upload(ctx, x, hx, sizeof hx), TILE_OK);
    assert_int_equal(tile_upload(ctx, y, hy, sizeof hy), TILE_OK);
    int64_t shape[2] = {ROWS, COLS};
    tile_arg args[3] = {tile_tensor(TILE_F32, x, 2, shape, NULL), tile_tensor(TILE_F32, y, 2, shape, NULL),
                        tile_scalar_float(TILE_F32, -3)};
    int64_t grid[3];
    assert_int_equal(tile_grid(k, args, 3, grid), TILE_OK);
    assert_true(grid[0] == 5 && grid[1] == 1 && grid[2] == 1);
    assert_int_equal(tile_launch(k, args, 3, NULL), TILE_OK);
    assert_int_equal(tile_sync(ctx, NULL), TILE_OK);
    assert_int_equal(tile_download(ctx, hy, y, sizeof hy), TILE_OK);
    for (int i = 0; i < ROWS * COLS; i++) assert_true(hy[i] == -3 * hx[i]);
    tile_free(ctx, x);
    tile_free(ctx, y);
    tile_kernel_free(k);
    tile_close(ctx);
}

/* tile_kernel_ptx needs no GPU: the general variant's PTX for each arch,
 * with the kernel's entry; a bad arch is the code generator's error. */
static void test_kernel_ptx(void **state)
{
    (void)state;
    tile_context *ctx = interp_ctx();
    tile_kernel *k;
    assert_int_equal(tile_compile_file(ctx, "attention/flash_fwd.tile", "flash_fwd_causal", "D=64",
                                       &k), TILE_OK);
    const char *arch[] = {"sm_80", "sm_90"};
    for (int i = 0; i < 2; i++) {
        char *ptx = NULL;
        assert_int_equal(tile_kernel_ptx(k, arch[i], &ptx), TILE_OK);
        assert_non_null(strstr(ptx, ".entry flash_fwd_causal("));
        char target[32];
        /* sm_90's dots run on wgmma (sm_90a), sm_80's on mma.sync */
        snprintf(target, sizeof target, ".target %s%s", arch[i], i == 1 ? "a" : "");
        assert_non_null(strstr(ptx, target));
        assert_non_null(strstr(ptx, i == 1 ? "wgmma.mma_async" : "mma.sync.aligned.m16n8k16"));
        free(ptx);
    }
    char *ptx = (char *)"untouched";
    assert_int_not_equal(tile_kernel_ptx(k, "sm_12", &ptx), TILE_OK);
    assert_null(ptx);
    assert_true(strlen(tile_last_error()) > 0);
    expect_error(tile_kernel_ptx(NULL, NULL, &ptx), TILE_ERR_ARG, "null argument");
    tile_kernel_free(k);
    tile_close(ctx);
}

/* flash_fwd_causal through tile.h, found in the library by its relative
 * path, on an odd shape with GQA, M != N and a strided q. */
static void test_interpret_flash_fwd(void **state)
{
    (void)state;
    tile_context *ctx = interp_ctx();
    tile_kernel *k;
    if (tile_compile_file(ctx, "attention/flash_fwd.tile", "flash_fwd_causal", "D=40,T=bf16,BM=16,BN=16", &k))
        fail_msg("%s", tile_last_error());
    attn_dims d = {.Z = 2, .H = 4, .HK = 2, .M = 37, .N = 53, .D = 40};
    size_t nq = (size_t)d.Z * d.H * d.M * d.D, nk = (size_t)d.Z * d.HK * d.N * d.D;
    float *q = TH_NEW(float, nq), *kk = TH_NEW(float, nk), *v = TH_NEW(float, nk);
    float *o = TH_NEW(float, nq), *lse = TH_NEW(float, nq / d.D);
    double *ref_o = TH_NEW(double, nq), *ref_lse = TH_NEW(double, nq / d.D);
    th_rng rng = th_rng_new(7);
    th_fill(&rng, q, nq, -1, 1, IR_BF16);
    th_fill(&rng, kk, nk, -1, 1, IR_BF16);
    th_fill(&rng, v, nk, -1, 1, IR_BF16);
    th_tensor tq = th_tensor_new(IR_BF16, TH_DIMS(d.Z, d.H, d.M, d.D), (int[]){0, 2, 1, 3});
    th_tensor tk = th_tensor_new(IR_BF16, TH_DIMS(d.Z, d.HK, d.N, d.D), NULL);
    th_tensor tv = th_tensor_new(IR_BF16, TH_DIMS(d.Z, d.HK, d.N, d.D), NULL);
    th_tensor to = th_tensor_new(IR_BF16, TH_DIMS(d.Z, d.H, d.M, d.D), NULL);
    th_tensor tl = th_tensor_new(IR_F32, TH_DIMS(d.Z, d.H, d.M), NULL);
    th_tensor_set(&tq, q), th_tensor_set(&tk, kk), th_tensor_set(&tv, v);
    th_tensor_poison(&to), th_tensor_poison(&tl);
    th_tensor *ts[5] = {&tq, &tk, &tv, &to, &tl};
    tile_arg args[6];
    for (int i = 0; i < 5; i++)
        args[i] = tile_tensor((tile_dtype)ts[i]->t.dtype, ts[i]->t.data, ts[i]->t.rank,
                              ts[i]->t.shape, ts[i]->t.strides);
    args[5] = tile_scalar_float(TILE_F32, 1 / sqrt(d.D));
    assert_int_equal(tile_kernel_nparams(k), 6);
    if (tile_launch(k, args, 6, NULL) != TILE_OK) fail_msg("%s", tile_last_error());
    th_tensor_get(&to, o), th_tensor_get(&tl, lse);
    attn_ref_fwd(&d, q, kk, v, 1 / sqrt(d.D), &(attn_mask){.kind = ATTN_MASK_CAUSAL}, ref_o, ref_lse);
    assert_true(th_check_attention("tile.h flash_fwd_causal", &d, IR_BF16, o, lse, ref_o, ref_lse));
    for (int i = 0; i < 5; i++) th_tensor_free(ts[i]);
    free(q), free(kk), free(v), free(o), free(lse), free(ref_o), free(ref_lse);
    tile_kernel_free(k);
    tile_close(ctx);
}

/* An assert that fails while interpreting is a runtime error at its line. */
static void test_interpret_assert(void **state)
{
    (void)state;
    tile_context *ctx = interp_ctx();
    tile_kernel *k;
    tile_source src = {.path = "a.tile", .kernel = "k",
                       .text = "kernel k(x: out tensor<f32>[R]) grid(2)\n{\n"
                               "    assert(R > 8, \"R must exceed 8\");\n"
                               "    store(x[arange(4)], zeros([4]));\n}\n"};
    assert_int_equal(tile_compile(ctx, &src, &k), TILE_OK);
    float x[4];
    tile_arg a = tile_tensor(TILE_F32, x, 1, (int64_t[]){4}, NULL);
    expect_error(tile_launch(k, &a, 1, NULL), TILE_ERR_RUNTIME,
                 "a.tile:3:5: error: assertion failed: R must exceed 8 (program 0, 0, 0)");
    tile_kernel_free(k);
    tile_close(ctx);
}

/* Several threads compile and launch through one context at once. */
typedef struct worker {
    tile_context *ctx;
    tile_kernel *shared;
    int id, bad;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    tile_kernel *own = NULL;
    if (tile_compile_file(w->ctx, "../examples/scale_rows.tile", "scale_rows", "C=16,BR=4", &own)) {
        w->bad = 1000;
        return NULL;
    }
    enum { ROWS = 9, COLS = 16 };
    float x[ROWS * COLS], y[ROWS * COLS];
    int64_t shape[2] = {ROWS, COLS};
    for (int r = 0; r < 20; r++) {
        for (int i = 0; i < ROWS * COLS; i++) x[i] = (float)(i + w->id), y[i] = NAN;
        tile_arg args[3] = {tile_tensor(TILE_F32, x, 2, shape, NULL), tile_tensor(TILE_F32, y, 2, shape, NULL),
                            tile_scalar_float(TILE_F32, w->id)};
        tile_kernel *k = r % 2 ? own : w->shared;
        if (tile_launch(k, args, 3, NULL) != TILE_OK) w->bad++;
        for (int i = 0; i < ROWS * COLS; i++) w->bad += y[i] != x[i] * (float)w->id;
    }
    tile_kernel_free(own);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    tile_context *ctx = interp_ctx();
    tile_kernel *shared;
    assert_int_equal(tile_compile_file(ctx, "../examples/scale_rows.tile", "scale_rows", "C=16,BR=4", &shared),
                     TILE_OK);
    enum { N = 4 };
    pthread_t t[N];
    worker w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (worker){.ctx = ctx, .shared = shared, .id = i + 1};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].bad, 0);
    }
    tile_kernel_free(shared);
    tile_close(ctx);
}

static void test_shared_library(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    skip(); /* a sanitizer build adds its runtimes to every binary */
#endif
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "readelf -d %s/libtile.so | grep NEEDED | "
             "grep -v -E '\\[(libc|libm|libdl|libpthread)\\.so\\.[0-9]+\\]|ld-linux' ", TILE_BINARY_DIR);
    int rc = system(cmd); /* grep finds nothing: exit 1 */
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
    snprintf(cmd, sizeof cmd, "nm -D --defined-only %s/libtile.so | grep -v -E ' tile_' ", TILE_BINARY_DIR);
    rc = system(cmd);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
    /* and it works through dlopen, as ctypes uses it */
    snprintf(cmd, sizeof cmd, "%s/libtile.so", TILE_BINARY_DIR);
    void *lib = dlopen(cmd, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(lib);
    const char *(*name)(int) = (const char *(*)(int))dlsym(lib, "tile_status_name");
    assert_non_null(name);
    assert_string_equal(name(TILE_ERR_RUNTIME), "runtime error");
    dlclose(lib);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_device),
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_error_per_thread),
        cmocka_unit_test(test_diagnostics_as_tilec),
        cmocka_unit_test(test_interpret_scale_rows),
        cmocka_unit_test(test_interpret_flash_fwd),
        cmocka_unit_test(test_kernel_ptx),
        cmocka_unit_test(test_interpret_assert),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_shared_library),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
