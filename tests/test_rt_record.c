/* test_rt_record.c - kernel records (runtime/rt_record.c) on the stand-in
 * driver (tests/fake_cuda.c): a warm tile_compile runs no compiler phase
 * (counted by support/timing.h) and launches exactly as the cold one did;
 * a changed import, a changed source text, a truncated, corrupt or
 * misplaced record each recompile; the divisible variant compiles lazily
 * from a warm kernel (without the scheduler's search) and is found in the
 * disk cache after; launch errors read the same from a warm kernel as from
 * the interpreter's full IR; every truncation of a record's payload is
 * refused by rt_record_apply; variants load as the cubins made at their
 * first load and stored with them, the PTX when the driver refuses those.
 *
 * The kernel imports a file whose constant is its grid's second axis, so
 * the import's effect is visible in the launch. */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_cuda.h"
#include "runtime/rt_internal.h"
#include "support/timing.h"

static fake_cuda_state *fake;
static char cache[64], dir[64], main_path[128], helper_path[128];

static const char *MAIN_SRC =
    "import \"helper.tile\";\n"
    "kernel rows(x: tensor<f32>[R, C], y: out tensor<f32>[R, C], s: f32,\n"
    "            const C: int = 64, const BR: int = auto)\n"
    "    grid(cdiv(R, BR), SPLIT)\n"
    "{\n"
    "    let r = program_id(0) * BR + arange(BR);\n"
    "    store(y[r, :], load(x[r, :]) * s);\n"
    "}\n";

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void set_split(int split)
{
    char text[64];
    snprintf(text, sizeof text, "const SPLIT = %d;\n", split);
    write_text(helper_path, text);
}

static tile_config config(tile_mode mode)
{
    return (tile_config){.mode = mode, .cache_dir = cache, .lib_dir = TILE_SOURCE_DIR "/lib"};
}

static int setup(void **state)
{
    (void)state;
    snprintf(cache, sizeof cache, "/tmp/tile_record_c_XXXXXX");
    snprintf(dir, sizeof dir, "/tmp/tile_record_s_XXXXXX");
    if (!mkdtemp(cache) || !mkdtemp(dir)) return -1;
    snprintf(main_path, sizeof main_path, "%s/main.tile", dir);
    snprintf(helper_path, sizeof helper_path, "%s/helper.tile", dir);
    FILE *f = fopen(main_path, "w");
    if (!f) return -1;
    fputs(MAIN_SRC, f);
    fclose(f);
    f = fopen(helper_path, "w");
    if (!f) return -1;
    fputs("const SPLIT = 1;\n", f);
    fclose(f);
    setenv("TILE_CUDA_DRIVER", TILE_FAKE_CUDA, 1);
    void *lib = dlopen(TILE_FAKE_CUDA, RTLD_NOW | RTLD_LOCAL);
    if (!lib) return -1;
    fake = ((fake_cuda_state * (*)(void)) dlsym(lib, "fake_cuda_state_get"))();
    tt_enable(true);   /* counts phases; prints nothing */
    return fake ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", cache, dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Every compiler phase that ran since the last reset. */
static int compiler_calls(void)
{
    return tt_calls(TT_PARSE) + tt_calls(TT_LOWER) + tt_calls(TT_OPTIMIZE) +
           tt_calls(TT_SCHED_SEARCH) + tt_calls(TT_SCHED_LAYOUT) + tt_calls(TT_LLVM_BUILD);
}

/* How often the optimiser runs in one tc_compile of the kernel for the
 * stand-in device (the scheduler's candidates and the choice). */
static int optimiser_runs(void)
{
    ir_target t = *ir_target_find("sm_90");
    t.sm_count = 132;
    t.smem_per_block = 232448;
    const char *defs[] = {"R=3000"};
    tc_options o = {.kernel = "rows", .defines = defs, .ndefines = 1, .opt_level = 1, .target = &t};
    tc_unit *u = NULL;
    tt_reset();
    assert_int_equal(tc_compile(&u, main_path, NULL, &o), TILE_OK);
    tc_unit_free(u);
    int n = tt_calls(TT_OPTIMIZE);
    assert_true(n > 1);
    return n;
}

static tile_kernel *compile(tile_context *ctx)
{
    tile_kernel *k = NULL;
    tt_reset();
    if (tile_compile_file(ctx, main_path, "rows", "R=3000", &k) != TILE_OK)
        fail_msg("%s", tile_last_error());
    return k;
}

/* What one launch did, as the stand-in driver saw it. */
typedef struct seen {
    unsigned grid[3], block, smem;
    char entry[64];
    char *ptx;
} seen;

static void launch_rows(tile_context *ctx, tile_kernel *k, int64_t rows, seen *out)
{
    void *x, *y;
    assert_int_equal(tile_alloc(ctx, (size_t)rows * 64 * 4, &x), TILE_OK);
    assert_int_equal(tile_alloc(ctx, (size_t)rows * 64 * 4, &y), TILE_OK);
    int64_t shape[2] = {rows, 64};
    tile_arg args[3] = {tile_tensor(TILE_F32, x, 2, shape, NULL),
                        tile_tensor(TILE_F32, y, 2, shape, NULL), tile_scalar_float(TILE_F32, 2.0)};
    if (tile_launch(k, args, 3, NULL) != TILE_OK) fail_msg("%s", tile_last_error());
    assert_int_equal(tile_sync(ctx, NULL), TILE_OK);
    memcpy(out->grid, fake->last.grid, sizeof out->grid);
    out->block = fake->last.block[0];
    out->smem = fake->last.smem;
    snprintf(out->entry, sizeof out->entry, "%s", fake->last.entry ? fake->last.entry : "");
    out->ptx = strdup(fake->last.ptx ? fake->last.ptx : "");
    tile_free(ctx, x);
    tile_free(ctx, y);
}

static void same_launch(const seen *a, const seen *b)
{
    assert_memory_equal(a->grid, b->grid, sizeof a->grid);
    assert_int_equal(a->block, b->block);
    assert_int_equal(a->smem, b->smem);
    assert_string_equal(a->entry, b->entry);
    assert_string_equal(a->ptx, b->ptx);
}

static int64_t block_rows(tile_kernel *k)
{
    char schedule[96];
    assert_int_equal(tile_kernel_schedule(k, schedule, sizeof schedule, NULL), TILE_OK);
    const char *br = strstr(schedule, "BR=");
    assert_non_null(br);
    return strtoll(br + 3, NULL, 10);
}

/* Cold, then warm in fresh contexts (no memory cache): the warm compile
 * and its launches run no compiler phase and launch the same code with the
 * same configuration; the divisible variant compiles lazily once (no
 * search) and is found in the disk cache after. */
static void test_warm_runs_no_compiler(void **state)
{
    (void)state;
    tile_context *ctx;
    tile_config cfg = config(TILE_MODE_GPU);
    assert_int_equal(tile_open(&ctx, &cfg), TILE_OK);
    int once = optimiser_runs();
    int links = fake->links, cubins = fake->cubin_loads;
    tile_kernel *k = compile(ctx);
    assert_int_equal(fake->links - links, 1);         /* the variant's cubin, made ... */
    assert_int_equal(fake->cubin_loads - cubins, 1);  /* ... and loaded */
    /* One compile: the first variant's code generation reuses its unit. */
    assert_int_equal(tt_calls(TT_OPTIMIZE), once);
    assert_int_equal(tt_calls(TT_SCHED_SEARCH), 1);
    assert_int_equal(tt_calls(TT_LLVM_BUILD), 1);
    int64_t br = block_rows(k);
    char cold_sched[96];
    assert_int_equal(tile_kernel_schedule(k, cold_sched, sizeof cold_sched, NULL), TILE_OK);
    int64_t odd = 3 * br + 1, even = 4 * br;
    seen cold, cold_div;
    launch_rows(ctx, k, odd, &cold);
    assert_int_equal(cold.grid[0], 4);
    assert_int_equal(cold.grid[1], 1);
    tt_reset();
    launch_rows(ctx, k, even, &cold_div);
    assert_true(tt_calls(TT_LOWER) > 0);               /* the divisible variant, compiled now */
    assert_int_equal(tt_calls(TT_SCHED_SEARCH), 0);    /* with the schedule fixed */
    assert_int_equal(cold_div.grid[0], 4);
    tile_kernel_free(k);
    tile_close(ctx);

    for (int round = 0; round < 2; round++) {
        assert_int_equal(tile_open(&ctx, &cfg), TILE_OK);
        links = fake->links, cubins = fake->cubin_loads;
        k = compile(ctx);
        assert_int_equal(compiler_calls(), 0);
        char sched[96];
        int tuned = -1;
        assert_int_equal(tile_kernel_schedule(k, sched, sizeof sched, &tuned), TILE_OK);
        assert_string_equal(sched, cold_sched);
        assert_int_equal(tuned, 0);
        assert_int_equal(tile_kernel_nparams(k), 3);
        tile_param_info p;
        assert_int_equal(tile_kernel_param(k, 1, &p), TILE_OK);
        assert_string_equal(p.name, "y");
        assert_true(p.is_tensor && p.is_out && p.rank == 2 && p.dtype == TILE_F32);
        assert_int_equal(tile_kernel_param(k, 2, &p), TILE_OK);
        assert_true(!p.is_tensor && p.dtype == TILE_F32);
        seen warm, warm_div;
        launch_rows(ctx, k, odd, &warm);
        launch_rows(ctx, k, even, &warm_div);
        assert_int_equal(compiler_calls(), 0);        /* both variants from the disk cache, */
        assert_int_equal(fake->links, links);         /* as the cubins stored there */
        assert_int_equal(fake->cubin_loads - cubins, 2);
        same_launch(&cold, &warm);
        same_launch(&cold_div, &warm_div);
        free(warm.ptx);
        free(warm_div.ptx);
        tile_kernel_free(k);
        /* The memory cache: the same context compiles it again, no disk. */
        k = compile(ctx);
        assert_int_equal(compiler_calls(), 0);
        tile_kernel_free(k);
        tile_close(ctx);
    }
    free(cold.ptx);
    free(cold_div.ptx);
}

/* An import that changes makes the record stale: the kernel is compiled
 * again and launches with the new constant; back to the old text, the
 * record is rebuilt but the variant is the one already on disk. */
static void test_changed_import(void **state)
{
    (void)state;
    tile_context *ctx;
    tile_config cfg = config(TILE_MODE_GPU);
    assert_int_equal(tile_open(&ctx, &cfg), TILE_OK);
    tile_kernel *k = compile(ctx);   /* warm or cold: the record exists after */
    tile_kernel_free(k);
    set_split(3);
    k = compile(ctx);
    assert_true(tt_calls(TT_PARSE) > 0);
    seen s;
    launch_rows(ctx, k, 5, &s);
    assert_int_equal(s.grid[1], 3);
    free(s.ptx);
    tile_kernel_free(k);
    k = compile(ctx);   /* the new record */
    assert_int_equal(compiler_calls(), 0);
    tile_kernel_free(k);
    set_split(1);
    k = compile(ctx);
    assert_true(tt_calls(TT_PARSE) > 0);
    assert_int_equal(tt_calls(TT_LLVM_BUILD), 0);   /* SPLIT=1's variant is cached */
    launch_rows(ctx, k, 5, &s);
    assert_int_equal(s.grid[1], 1);
    free(s.ptx);
    tile_kernel_free(k);
    tile_close(ctx);
}

/* The one record of main.tile's kernel in the cache. */
static void record_path(char *path, size_t size)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls %s/*.tkr", cache);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(path, (int)size, p));
    path[strcspn(path, "\n")] = 0;
    char more[512];
    assert_null(fgets(more, sizeof more, p));
    pclose(p);
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(*len);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, *len, f), *len);
    fclose(f);
    return data;
}

static void write_all(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* A compile after the record was damaged: recompiled (the front end ran),
 * launches right, and rewrites the record byte for byte. */
static void damaged_recompiles(tile_context *ctx, const char *path, const uint8_t *good, size_t len)
{
    tile_kernel *k = compile(ctx);
    assert_true(tt_calls(TT_PARSE) > 0);
    assert_int_equal(tt_calls(TT_LLVM_BUILD), 0);   /* the variant itself is cached */
    seen s;
    launch_rows(ctx, k, 5, &s);
    assert_int_equal(s.grid[1], 1);
    free(s.ptx);
    tile_kernel_free(k);
    size_t now_len;
    uint8_t *now = read_all(path, &now_len);
    assert_int_equal(now_len, len);
    assert_memory_equal(now, good, len);
    free(now);
}

static void test_damaged_record(void **state)
{
    (void)state;
    tile_context *ctx;
    tile_config cfg = config(TILE_MODE_GPU);
    assert_int_equal(tile_open(&ctx, &cfg), TILE_OK);
    tile_kernel_free(compile(ctx));
    char path[512];
    record_path(path, sizeof path);
    size_t len;
    uint8_t *good = read_all(path, &len);
    assert_true(len > 200);
    const size_t cuts[] = {0, 7, 16, 79, 80, 81, 200, len / 2, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        write_all(path, good, cuts[i]);
        damaged_recompiles(ctx, path, good, len);
    }
    /* Magic, length, key, checksum, payload's first, middle and last byte. */
    const size_t flips[] = {0, 9, 20, 50, 80, 80 + (len - 80) / 2, len - 1};
    uint8_t *bad = malloc(len);
    assert_non_null(bad);
    for (size_t i = 0; i < sizeof flips / sizeof *flips; i++) {
        memcpy(bad, good, len);
        bad[flips[i]] ^= 0x20;
        write_all(path, bad, len);
        damaged_recompiles(ctx, path, good, len);
    }
    /* Well framed, checksummed and under its key, but not a record. */
    const char magic[8] = {'T', 'I', 'L', 'E', 'K', 'R', '0', '1'};
    uint8_t key[RT_KEY_SIZE];
    memcpy(key, good + 16, RT_KEY_SIZE);
    char err[256];
    const char *junk = "not a kernel record";
    assert_int_equal(rt_blob_store(cache, key, ".tkr", magic, (const uint8_t *)junk, strlen(junk),
                                   err, sizeof err), TILE_OK);
    damaged_recompiles(ctx, path, good, len);
    free(bad);
    free(good);
    tile_close(ctx);
}

/* rt_record_apply refuses every proper prefix of a good payload (and
 * takes the whole), leaving the kernel as it was. */
static void test_apply_truncated(void **state)
{
    (void)state;
    tile_context *ctx;
    tile_config cfg = config(TILE_MODE_GPU);
    assert_int_equal(tile_open(&ctx, &cfg), TILE_OK);
    tile_kernel *k = compile(ctx);
    char path[512];
    record_path(path, sizeof path);
    size_t len;
    uint8_t *data = read_all(path, &len);
    const uint8_t *payload = data + 80;
    size_t n = len - 80;
    const ir_func *fn = k->fn;
    for (size_t cut = 0; cut < n; cut++)
        if (rt_record_apply(k, payload, cut)) fail_msg("a payload cut at %zu of %zu applied", cut, n);
    assert_ptr_equal(k->fn, fn);
    assert_true(rt_record_apply(k, payload, n));
    assert_int_equal(k->fn->nparams, 3);
    /* Any byte flipped: applied or refused, never a crash (ASan run). */
    uint8_t *copy = malloc(n);
    assert_non_null(copy);
    for (size_t i = 0; i < n; i += 3) {
        memcpy(copy, payload, n);
        copy[i] ^= 0x41;
        (void)rt_record_apply(k, copy, n);
    }
    free(copy);
    free(data);
    tile_kernel_free(k);
    tile_close(ctx);
}

/* Launch errors of a warm kernel read exactly as from the interpreter's
 * full IR, located in the sources with the line and caret; a grid that
 * does not fit (an error inside the grid's evaluation) too. */
static void test_same_errors(void **state)
{
    (void)state;
    tile_context *gpu, *interp;
    tile_config cfg = config(TILE_MODE_GPU), icfg = config(TILE_MODE_INTERPRET);
    assert_int_equal(tile_open(&gpu, &cfg), TILE_OK);
    assert_int_equal(tile_open(&interp, &icfg), TILE_OK);
    tile_kernel_free(compile(gpu));
    tile_kernel *warm = compile(gpu);
    assert_int_equal(compiler_calls(), 0);
    tile_kernel *full = compile(interp);
    static float x[4 * 64], y[4 * 64];
    int64_t shape[2] = {4, 64}, narrow[2] = {4, 32}, huge[2] = {(int64_t)1 << 40, 64};
    tile_arg cases[][3] = {
        {tile_tensor(TILE_I32, x, 2, shape, NULL), tile_tensor(TILE_F32, y, 2, shape, NULL),
         tile_scalar_float(TILE_F32, 1)},
        {tile_tensor(TILE_F32, x, 2, narrow, NULL), tile_tensor(TILE_F32, y, 2, narrow, NULL),
         tile_scalar_float(TILE_F32, 1)},
        {tile_tensor(TILE_F32, x, 2, shape, NULL), tile_tensor(TILE_F32, x, 2, shape, NULL),
         tile_scalar_float(TILE_F32, 1)},
        {tile_tensor(TILE_F32, x, 2, shape, NULL), tile_tensor(TILE_F32, y, 2, shape, NULL),
         tile_scalar_int(TILE_I32, 1)},
        {tile_tensor(TILE_F32, x, 2, huge, (int64_t[]){0, 1}),
         tile_tensor(TILE_F32, y, 2, huge, (int64_t[]){0, 1}), tile_scalar_float(TILE_F32, 1)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tile_status a = tile_grid(full, cases[i], 3, (int64_t[3]){0});
        char *want = strdup(tile_last_error());
        tile_status b = tile_grid(warm, cases[i], 3, (int64_t[3]){0});
        assert_int_not_equal(a, TILE_OK);
        assert_int_equal(a, b);
        assert_string_equal(tile_last_error(), want);
        assert_non_null(strstr(want, "main.tile:"));
        assert_non_null(strchr(want, '^'));
        free(want);
    }
    /* The wrong count names the kernel at its definition. */
    assert_int_not_equal(tile_grid(full, cases[0], 2, (int64_t[3]){0}), TILE_OK);
    char *want = strdup(tile_last_error());
    assert_int_not_equal(tile_grid(warm, cases[0], 2, (int64_t[3]){0}), TILE_OK);
    assert_string_equal(tile_last_error(), want);
    free(want);
    tile_kernel_free(warm);
    tile_kernel_free(full);
    /* An error inside the grid's evaluation: located at the grid clause. */
    tile_source neg = {.path = "neg.tile", .kernel = "neg",
                       .text = "kernel neg(x: tensor<f32>[N], y: out tensor<f32>[N], n: i32)\n"
                               "    grid(n)\n{\n    let i = program_id(0) * 16 + arange(16);\n"
                               "    store(y[i], load(x[i]));\n}\n"};
    for (int i = 0; i < 2; i++) {
        tt_reset();
        assert_int_equal(tile_compile(gpu, &neg, &warm), TILE_OK);
        if (i == 0) tile_kernel_free(warm);
    }
    assert_int_equal(compiler_calls(), 0);
    assert_int_equal(tile_compile(interp, &neg, &full), TILE_OK);
    int64_t n16[1] = {16};
    tile_arg args[3] = {tile_tensor(TILE_F32, x, 1, n16, NULL), tile_tensor(TILE_F32, y, 1, n16, NULL),
                        tile_scalar_int(TILE_I32, -1)};
    assert_int_equal(tile_grid(full, args, 3, (int64_t[3]){0}), TILE_ERR_RUNTIME);
    want = strdup(tile_last_error());
    assert_int_equal(tile_grid(warm, args, 3, (int64_t[3]){0}), TILE_ERR_RUNTIME);
    assert_string_equal(tile_last_error(), want);
    assert_non_null(strstr(want, "neg.tile:"));
    assert_non_null(strstr(want, "grid size along axis 0 is -1"));
    free(want);
    tile_kernel_free(warm);
    tile_kernel_free(full);
    tile_close(gpu);
    tile_close(interp);
}

/* Source text given in memory: the record keeps it whole and its key
 * covers it, so other text is another record, never a stale hit. */
static void test_text_source(void **state)
{
    (void)state;
    tile_context *ctx;
    tile_config cfg = config(TILE_MODE_GPU);
    assert_int_equal(tile_open(&ctx, &cfg), TILE_OK);
    const char *text = "kernel twice(x: tensor<f32>[N], y: out tensor<f32>[N]) grid(cdiv(N, 128))\n"
                       "{\n    let i = program_id(0) * 128 + arange(128);\n"
                       "    store(y[i], load(x[i]) * 2.0);\n}\n";
    tile_source src = {.path = "mem.tile", .text = text, .kernel = "twice"};
    tile_kernel *k;
    for (int i = 0; i < 2; i++) {
        tt_reset();
        assert_int_equal(tile_compile(ctx, &src, &k), TILE_OK);
        if (i == 0) assert_true(tt_calls(TT_PARSE) > 0);
        else assert_int_equal(compiler_calls(), 0);
        tile_kernel_free(k);
    }
    char *other = strdup(text);
    *strstr(other, "2.0") = '3';
    src.text = other;
    tt_reset();
    assert_int_equal(tile_compile(ctx, &src, &k), TILE_OK);
    assert_true(tt_calls(TT_PARSE) > 0);
    assert_true(tt_calls(TT_LLVM_BUILD) > 0);
    tile_kernel_free(k);
    free(other);
    tile_close(ctx);
}

/* A driver that refuses the stored cubin gets the PTX (and a TILE_CUBIN=0
 * context makes no cubin); either way the kernel runs the same code. */
static void test_cubin_fallback(void **state)
{
    (void)state;
    tile_context *ctx;
    tile_config cfg = config(TILE_MODE_GPU);
    assert_int_equal(tile_open(&ctx, &cfg), TILE_OK);
    tile_kernel *k = compile(ctx);
    seen want;
    launch_rows(ctx, k, 5, &want);
    tile_kernel_free(k);
    tile_close(ctx);
    fake->reject_cubin = 1;
    int cubins = fake->cubin_loads, loads = fake->modules_loaded;
    assert_int_equal(tile_open(&ctx, &cfg), TILE_OK);
    k = compile(ctx);
    seen got;
    launch_rows(ctx, k, 5, &got);
    same_launch(&want, &got);
    assert_int_equal(fake->cubin_loads, cubins);
    assert_int_equal(fake->modules_loaded - loads, 1);
    free(got.ptx);
    tile_kernel_free(k);
    tile_close(ctx);
    fake->reject_cubin = 0;

    setenv("TILE_CUBIN", "0", 1);
    int links = fake->links;
    cubins = fake->cubin_loads;
    const char *text = "kernel thrice(x: tensor<f32>[N], y: out tensor<f32>[N]) grid(cdiv(N, 64))\n"
                       "{\n    let i = program_id(0) * 64 + arange(64);\n"
                       "    store(y[i], load(x[i]) * 3.0);\n}\n";
    tile_source src = {.path = "thrice.tile", .text = text, .kernel = "thrice"};
    assert_int_equal(tile_open(&ctx, &cfg), TILE_OK);
    assert_int_equal(tile_compile(ctx, &src, &k), TILE_OK);
    assert_int_equal(fake->links, links);
    assert_int_equal(fake->cubin_loads, cubins);
    tile_kernel_free(k);
    tile_close(ctx);
    unsetenv("TILE_CUBIN");
    free(want.ptx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_warm_runs_no_compiler),
        cmocka_unit_test(test_changed_import),
        cmocka_unit_test(test_damaged_record),
        cmocka_unit_test(test_apply_truncated),
        cmocka_unit_test(test_same_errors),
        cmocka_unit_test(test_text_source),
        cmocka_unit_test(test_cubin_fallback),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
