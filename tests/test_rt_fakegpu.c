/* test_rt_fakegpu.c - the runtime's GPU path on a machine without a GPU,
 * through a stand-in driver (tests/fake_cuda.c, loaded via
 * TILE_CUDA_DRIVER): device attributes, a variant found in the disk cache
 * and loaded (dynamic shared memory above 48 KiB raised), the launch's
 * grid, block, shared memory, stream and every parameter as docs/abi.md
 * lays them out, an assert reported from the status buffer, a faulting
 * stream, the grid limit, arguments that break the cached variant's facts
 * (another variant, never the cached code), a PTX load failure with the
 * ptxas log, a corrupt cache entry not trusted, and no driver resource
 * left after tile_close.
 *
 * The variant is seeded into the disk cache under the key the runtime
 * computes, so no code generator is needed; where one is built in, the
 * checks that involve code generation accept a successful compile as long
 * as the seeded code is not what runs. */
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
#include "runtime/rt_cache.h"
#include "runtime/tile.h"

static fake_cuda_state *fake;
static char cache[64];
static const char *PATH = "../examples/scale_rows.tile";
static const char *SEEDED_PTX = "// fake PTX, nparams 12\n.entry scale_rows\n";

static tile_config config(void)
{
    return (tile_config){.mode = TILE_MODE_GPU, .cache_dir = cache, .lib_dir = TILE_SOURCE_DIR "/lib"};
}

/* The key the runtime computes for scale_rows [C=64,BR=16] on the fake
 * device (sm_90) under `facts`. */
static void variant_key(const char *cval, tc_arg_facts facts, uint8_t *key)
{
    char c[32];
    snprintf(c, sizeof c, "C=%s", cval);
    const char *defs[2] = {c, "BR=16"};
    tc_options o = {.kernel = "scale_rows", .defines = defs, .ndefines = 2, .opt_level = 1};
    tc_unit *u = NULL;
    assert_int_equal(tc_compile(&u, PATH, NULL, &o), TILE_OK);
    rt_key_parts p = {.files = u->diags.files, .kernel = "scale_rows", .arch = "sm_90",
                      .facts = facts, .num_warps = 0, .opt_level = 1};
    rt_cache_key(&p, key);
    tc_unit_free(u);
}

static void seed(const char *cval, const char *ptx)
{
    tc_gpu_assert a = {.loc = {"../examples/scale_rows.tile", 7, 5}, .message = "rows fit"};
    tc_gpu_kernel gk = {.ptx = ptx, .entry = "scale_rows", .arch = "sm_90", .num_warps = 4,
                        .smem_bytes = 65536, .nasserts = 1, .asserts = &a};
    rt_entry e;
    uint8_t key[RT_KEY_SIZE];
    variant_key(cval, (tc_arg_facts){.aligned16 = 3, .unit_stride = 3}, key);
    assert_int_equal(rt_entry_from_gpu(&e, &gk), TILE_OK);
    char err[256];
    assert_int_equal(rt_cache_store(cache, key, &e, err, sizeof err), TILE_OK);
    rt_entry_free(&e);
}

static int setup(void **state)
{
    (void)state;
    snprintf(cache, sizeof cache, "/tmp/tile_fakegpu_XXXXXX");
    if (!mkdtemp(cache)) return -1;
    setenv("TILE_CUDA_DRIVER", TILE_FAKE_CUDA, 1);
    void *lib = dlopen(TILE_FAKE_CUDA, RTLD_NOW | RTLD_LOCAL); /* the runtime gets this handle too */
    if (!lib) return -1;
    fake = ((fake_cuda_state * (*)(void)) dlsym(lib, "fake_cuda_state_get"))();
    seed("64", SEEDED_PTX);
    return fake ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", cache);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_device(void **state)
{
    (void)state;
    tile_context *ctx;
    tile_config cfg = config();
    assert_int_equal(tile_open(&ctx, &cfg), TILE_OK);
    tile_device_info info;
    assert_int_equal(tile_device(ctx, &info), TILE_OK);
    assert_false(info.interpreted);
    assert_string_equal(info.name, "Fake GPU 0");
    assert_string_equal(info.arch, "sm_90");
    assert_int_equal(info.sm_count, 132);
    assert_int_equal(info.smem_per_block_optin, 232448);
    assert_int_equal(fake->primary_retained, 1);
    tile_close(ctx);
    assert_int_equal(fake->primary_retained, 0);
    cfg.device = 1;
    assert_int_equal(tile_open(&ctx, &cfg), TILE_ERR_NO_DEVICE);
    assert_string_equal(tile_last_error(), "tile_open: no CUDA device 1 (there is 1)");
}

typedef struct run {
    tile_context *ctx;
    tile_kernel *k;
    void *x, *y;
    tile_arg args[3];
} run;

static void open_run(run *r, int rows)
{
    tile_config cfg = config();
    assert_int_equal(tile_open(&r->ctx, &cfg), TILE_OK);
    if (tile_compile_file(r->ctx, PATH, "scale_rows", "C=64,BR=16", &r->k) != TILE_OK)
        fail_msg("%s", tile_last_error());
    assert_int_equal(tile_alloc(r->ctx, 100 * 64 * 4, &r->x), TILE_OK);
    assert_int_equal(tile_alloc(r->ctx, 100 * 64 * 4, &r->y), TILE_OK);
    int64_t shape[2] = {rows, 64};
    r->args[0] = tile_tensor(TILE_F32, r->x, 2, shape, NULL);
    r->args[1] = tile_tensor(TILE_F32, r->y, 2, shape, NULL);
    r->args[2] = tile_scalar_float(TILE_F32, 2.5);
}

static void close_run(run *r)
{
    tile_free(r->ctx, r->x);
    tile_free(r->ctx, r->y);
    tile_kernel_free(r->k);
    tile_close(r->ctx);
    assert_int_equal(fake->allocations, 0);
    assert_int_equal(fake->modules_loaded, fake->modules_unloaded);
    assert_int_equal(fake->ctx_depth, 0);
    assert_int_equal(fake->primary_retained, 0);
}

static void test_launch(void **state)
{
    (void)state;
    run r;
    int loaded = fake->modules_loaded;
    open_run(&r, 100);
    assert_int_equal(fake->modules_loaded, loaded + 1); /* from the disk cache */
    assert_int_equal(fake->max_dynamic_smem, 65536);    /* > 48 KiB: raised */
    int launches = fake->launches;
    void *stream = (void *)0x5eed;
    assert_int_equal(tile_launch(r.k, r.args, 3, stream), TILE_OK);
    assert_int_equal(fake->launches, launches + 1);
    assert_string_equal(fake->last.ptx, SEEDED_PTX);
    assert_true(fake->last.grid[0] == 7 && fake->last.grid[1] == 1 && fake->last.grid[2] == 1);
    assert_true(fake->last.block[0] == 128 && fake->last.block[1] == 1 && fake->last.block[2] == 1);
    assert_int_equal(fake->last.smem, 65536);
    assert_ptr_equal(fake->last.stream, stream);
    const uint64_t *p = fake->last.params;
    assert_true(p[0] == (uintptr_t)r.x && p[1] == 100 && p[2] == 64 && p[3] == 64 && p[4] == 1);
    assert_true(p[5] == (uintptr_t)r.y && p[6] == 100 && p[7] == 64 && p[8] == 64 && p[9] == 1);
    float s;
    memcpy(&s, &p[10], 4);
    assert_true(s == 2.5f);
    int32_t *status = (int32_t *)(uintptr_t)p[11];
    assert_non_null(status);
    for (int i = 0; i < 8; i++) assert_int_equal(status[i], 0);
    assert_int_equal(tile_sync(r.ctx, stream), TILE_OK);

    /* a failed assert, as the kernel would leave it */
    assert_int_equal(tile_launch(r.k, r.args, 3, stream), TILE_OK);
    status[0] = 1, status[1] = 3, status[2] = 0, status[3] = 2;
    assert_int_equal(tile_sync(r.ctx, stream), TILE_ERR_RUNTIME);
    assert_string_equal(tile_last_error(), "../examples/scale_rows.tile:7:5: runtime error: "
                                           "assertion failed: rows fit (program 3, 0, 2)");
    assert_int_equal(status[0], 0); /* cleared: reported once */
    assert_int_equal(tile_sync(r.ctx, stream), TILE_OK);

    /* a launch that faults */
    assert_int_equal(tile_launch(r.k, r.args, 3, stream), TILE_OK);
    fake->sync_error = 700;
    assert_int_equal(tile_sync(r.ctx, stream), TILE_ERR_RUNTIME);
    assert_string_equal(tile_last_error(), "a kernel failed: CUDA_ERROR_FAKE (a fake failure)");

    /* a zero grid launches nothing */
    launches = fake->launches;
    tile_arg empty[3] = {r.args[0], r.args[1], r.args[2]};
    empty[0].shape[0] = empty[1].shape[0] = 0;
    assert_int_equal(tile_launch(r.k, empty, 3, stream), TILE_OK);
    assert_int_equal(fake->launches, launches);

    /* memory round trip through the driver */
    float in[4] = {1, 2, 3, 4}, out[4] = {0};
    assert_int_equal(tile_upload(r.ctx, r.x, in, sizeof in), TILE_OK);
    assert_int_equal(tile_download(r.ctx, out, r.x, sizeof out), TILE_OK);
    assert_memory_equal(in, out, sizeof in);
    close_run(&r);
}

static void test_grid_limit(void **state)
{
    (void)state;
    fake->max_grid[0] = 5;
    run r;
    open_run(&r, 100);
    fake->max_grid[0] = 2147483647;
    int launches = fake->launches;
    assert_int_equal(tile_launch(r.k, r.args, 3, NULL), TILE_ERR_ARG);
    if (!strstr(tile_last_error(), "error: kernel 'scale_rows': grid (7, 1, 1) exceeds the device's "
                                   "limit (5, 65535, 65535)"))
        fail_msg("%s", tile_last_error());
    assert_int_equal(fake->launches, launches);
    close_run(&r);
}

/* Arguments that break the seeded variant's facts get another variant:
 * compiled by the code generator, never the seeded code. */
static void expect_other_variant(run *r, const tile_arg *args)
{
    int launches = fake->launches;
    tile_status st = tile_launch(r->k, args, 3, NULL);
    if (st == TILE_OK) {
        assert_int_equal(fake->launches, launches + 1);
        assert_string_not_equal(fake->last.ptx, SEEDED_PTX);
    } else {
        assert_int_equal(st, TILE_ERR_INTERNAL);
        assert_non_null(strstr(tile_last_error(), "GPU code generation is not built in"));
        assert_int_equal(fake->launches, launches);
    }
}

static void test_facts_pick_variant(void **state)
{
    (void)state;
    run r;
    open_run(&r, 100);
    tile_arg a[3] = {r.args[0], r.args[1], r.args[2]};
    a[0].data = (char *)r.x + 4; /* misaligned x */
    a[0].shape[0] = 99;
    a[1].shape[0] = 99;
    expect_other_variant(&r, a);
    tile_arg b[3] = {r.args[0], r.args[1], r.args[2]};
    b[1].strides[0] = 1, b[1].strides[1] = 100; /* y transposed: last stride 100 */
    expect_other_variant(&r, b);
    /* the seeded variant still serves aligned, contiguous arguments */
    assert_int_equal(tile_launch(r.k, r.args, 3, NULL), TILE_OK);
    assert_string_equal(fake->last.ptx, SEEDED_PTX);
    close_run(&r);
}

/* Rows a multiple of BR (scale_rows' grid is cdiv(R, BR): candidate (R, 16))
 * get the variant specialised on it, under its own key; rows that are not
 * get the general one, here the seeded entry: never code that assumes a
 * fact the arguments break. */
static void test_divisible_picks_variant(void **state)
{
    (void)state;
    run r;
    open_run(&r, 100);
    tile_arg even[3] = {r.args[0], r.args[1], r.args[2]};
    even[0].shape[0] = even[1].shape[0] = 96;
    expect_other_variant(&r, even);
    uint8_t key[RT_KEY_SIZE];
    variant_key("64", (tc_arg_facts){.aligned16 = 3, .unit_stride = 3, .divisible = 1}, key);
    rt_entry e;
    if (strcmp(fake->last.ptx, SEEDED_PTX) != 0) { /* a code generator is built in */
        assert_true(rt_cache_load(cache, key, &e));  /* the fact is in the key */
        assert_string_equal(e.ptx, fake->last.ptx);
        rt_entry_free(&e);
    }
    for (int rows = 97; rows <= 100; rows += 3) { /* odd sizes: the general variant */
        tile_arg odd[3] = {r.args[0], r.args[1], r.args[2]};
        odd[0].shape[0] = odd[1].shape[0] = rows;
        assert_int_equal(tile_launch(r.k, odd, 3, NULL), TILE_OK);
        assert_string_equal(fake->last.ptx, SEEDED_PTX);
    }
    close_run(&r);
}

/* `auto` constants are chosen for the device that is there: its SM count
 * and shared memory (cuDeviceGetAttribute) refine the target the scheduler
 * plans with; the launch runs that choice (grid from BR, block from the
 * warps). */
static const char *auto_src =
    "kernel rows(x: tensor<f32>[R, 64], y: out tensor<f32>[R, 64], const BR: int = auto)\n"
    "    grid(cdiv(R, BR))\n"
    "{\n"
    "    let r = program_id(0) * BR + arange(BR);\n"
    "    store(y[r, :], exp(load(x[r, :])));\n"
    "}\n";

static void test_scheduler_uses_device(void **state)
{
    (void)state;
    fake->sm_count = 6;
    fake->smem_optin = 100 * 1024;
    ir_target t = *ir_target_find("sm_90");
    t.sm_count = 6;
    t.smem_per_block = 100 * 1024;
    const char *defs[] = {"R=3000"};
    tc_options o = {.kernel = "rows", .defines = defs, .ndefines = 1, .opt_level = 1, .target = &t};
    tc_unit *u = NULL;
    assert_int_equal(tc_compile(&u, "rows.tile", auto_src, &o), TILE_OK);
    char want[256];
    tc_schedule_text(u, want, sizeof want);
    assert_non_null(strstr(want, "BR="));
    tc_gpu_options g = {.target = &t};
    tc_gpu_kernel gk;
    assert_int_equal(tc_compile_gpu(u, &g, &gk), TILE_OK);
    long long br = strtoll(strstr(want, "BR=") + 3, NULL, 10);
    int warps = gk.num_warps;
    tc_unit_free(u);
    /* The test can fail: sm_90's own description chooses otherwise. */
    o.target = NULL;
    assert_int_equal(tc_compile(&u, "rows.tile", auto_src, &o), TILE_OK);
    char dflt[256];
    tc_schedule_text(u, dflt, sizeof dflt);
    tc_unit_free(u);
    if (strcmp(dflt, want) == 0) fail_msg("same schedule on both targets: %s", want);

    tile_context *ctx;
    tile_config cfg = config();
    assert_int_equal(tile_open(&ctx, &cfg), TILE_OK);
    tile_source src = {.text = auto_src, .path = "rows.tile", .kernel = "rows", .defines = defs,
                       .ndefines = 1};
    tile_kernel *k;
    if (tile_compile(ctx, &src, &k) != TILE_OK) fail_msg("%s", tile_last_error());
    void *x, *y;
    assert_int_equal(tile_alloc(ctx, 3000 * 64 * 4, &x), TILE_OK);
    assert_int_equal(tile_alloc(ctx, 3000 * 64 * 4, &y), TILE_OK);
    int64_t shape[2] = {3000, 64};
    tile_arg args[2] = {tile_tensor(TILE_F32, x, 2, shape, NULL), tile_tensor(TILE_F32, y, 2, shape, NULL)};
    assert_int_equal(tile_launch(k, args, 2, NULL), TILE_OK);
    assert_int_equal((long long)fake->last.grid[0], (3000 + br - 1) / br);
    assert_int_equal((int)fake->last.block[0], 32 * warps);
    assert_int_equal(tile_sync(ctx, NULL), TILE_OK);
    tile_free(ctx, x);
    tile_free(ctx, y);
    tile_kernel_free(k);
    tile_close(ctx);
    fake->sm_count = fake->smem_optin = 0;
}

/* tile_tune on the stand-in driver (its times are the host's, so which
 * candidate wins is arbitrary): the model's choice comes first, each
 * candidate runs with its own schedule, the winner becomes the kernel's
 * schedule and a later tile_compile finds it in the disk cache; a corrupt
 * record is ignored; no `auto` constant or an interpreting context is an
 * error. */
static long long br_of(const char *schedule) { return strtoll(strstr(schedule, "BR=") + 3, NULL, 10); }
static int warps_of(const char *schedule) { return atoi(strstr(schedule, " w") + 2); }

/* Overwrites every schedule record of the cache directory with `line`;
 * returns how many there were. */
static int corrupt_records(const char *line)
{
    char cmd[256], path[512];
    snprintf(cmd, sizeof cmd, "ls %s/*.plan 2>/dev/null", cache);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int n = 0;
    while (fgets(path, sizeof path, p)) {
        path[strcspn(path, "\n")] = 0;
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(line, f);
        fclose(f);
        n++;
    }
    pclose(p);
    return n;
}

/* tile_tune times each launch between two CUDA events and keeps the
 * median: with the device's answers 5, 1, 3, 100, 2 ms every candidate
 * measures 3 ms (the mean would be 22.2); every event is destroyed. */
static void test_tune_events(void **state)
{
    (void)state;
    tile_context *ctx;
    tile_config cfg = config();
    cfg.cache_dir = NULL;
    assert_int_equal(tile_open(&ctx, &cfg), TILE_OK);
    const char *defs[] = {"R=3000"};
    tile_source src = {.text = auto_src, .path = "rows.tile", .kernel = "rows", .defines = defs,
                       .ndefines = 1};
    tile_kernel *k;
    if (tile_compile(ctx, &src, &k) != TILE_OK) fail_msg("%s", tile_last_error());
    void *x, *y;
    assert_int_equal(tile_alloc(ctx, 3000 * 64 * 4, &x), TILE_OK);
    assert_int_equal(tile_alloc(ctx, 3000 * 64 * 4, &y), TILE_OK);
    int64_t shape[2] = {3000, 64};
    tile_arg args[2] = {tile_tensor(TILE_F32, x, 2, shape, NULL), tile_tensor(TILE_F32, y, 2, shape, NULL)};
    const float script[] = {5, 1, 3, 100, 2};
    memcpy(fake->elapsed_ms, script, sizeof script);
    fake->nelapsed = 5;
    fake->elapsed_next = 0;
    int records = fake->event_records, launches = fake->launches;
    tile_tune_options o = {.top = 3, .warmup = 1, .iters = 5};
    tile_tune_result res;
    tile_status st = tile_tune(k, args, 2, NULL, &o, &res);
    fake->nelapsed = 0;
    if (st != TILE_OK) fail_msg("%s", tile_last_error());
    assert_true(res.n >= 2);
    for (int i = 0; i < res.n; i++) assert_true(res.cand[i].measured_us == 3000.0);
    assert_int_equal(fake->event_records - records, 2 * 5 * res.n);
    assert_int_equal(fake->launches - launches, 6 * res.n);
    assert_int_equal(fake->events, 0);
    assert_int_equal(fake->ctx_depth, 0);
    tile_kernel_free(k);
    tile_free(ctx, x);
    tile_free(ctx, y);
    tile_close(ctx);
}

static void test_tune(void **state)
{
    (void)state;
    tile_context *ctx;
    tile_config cfg = config();
    assert_int_equal(tile_open(&ctx, &cfg), TILE_OK);
    const char *defs[] = {"R=3000"};
    tile_source src = {.text = auto_src, .path = "rows.tile", .kernel = "rows", .defines = defs,
                       .ndefines = 1};
    tile_kernel *k;
    if (tile_compile(ctx, &src, &k) != TILE_OK) fail_msg("%s", tile_last_error());
    char model[96];
    int tuned = -1;
    assert_int_equal(tile_kernel_schedule(k, model, sizeof model, &tuned), TILE_OK);
    assert_int_equal(tuned, 0);
    void *x, *y;
    assert_int_equal(tile_alloc(ctx, 3000 * 64 * 4, &x), TILE_OK);
    assert_int_equal(tile_alloc(ctx, 3000 * 64 * 4, &y), TILE_OK);
    int64_t shape[2] = {3000, 64};
    tile_arg args[2] = {tile_tensor(TILE_F32, x, 2, shape, NULL), tile_tensor(TILE_F32, y, 2, shape, NULL)};
    tile_tune_options o = {.top = 4, .warmup = 1, .iters = 2};
    tile_tune_result res;
    int before = fake->launches;
    if (tile_tune(k, args, 2, NULL, &o, &res) != TILE_OK) fail_msg("%s", tile_last_error());
    assert_true(res.n >= 2 && res.n <= 4);
    assert_int_equal(fake->launches - before, res.n * 3);
    assert_string_equal(res.cand[0].schedule, model);
    assert_int_equal(res.cand[0].model_choice, 1);
    for (int i = 1; i < res.n; i++) {
        assert_int_equal(res.cand[i].model_choice, 0);
        assert_string_not_equal(res.cand[i].schedule, model);
        assert_true(res.cand[i].measured_us >= 0);
    }
    const char *best = res.cand[res.best].schedule;
    char now[96];
    assert_int_equal(tile_kernel_schedule(k, now, sizeof now, &tuned), TILE_OK);
    assert_string_equal(now, best);
    assert_int_equal(tuned, 1);
    assert_int_equal(tile_launch(k, args, 2, NULL), TILE_OK);
    assert_int_equal((long long)fake->last.grid[0], (3000 + br_of(best) - 1) / br_of(best));
    assert_int_equal((int)fake->last.block[0], 32 * warps_of(best));
    tile_kernel_free(k);

    /* A later compilation (another context: no memory cache) uses the record. */
    tile_context *ctx2;
    assert_int_equal(tile_open(&ctx2, &cfg), TILE_OK);
    if (tile_compile(ctx2, &src, &k) != TILE_OK) fail_msg("%s", tile_last_error());
    assert_int_equal(tile_kernel_schedule(k, now, sizeof now, &tuned), TILE_OK);
    assert_string_equal(now, best);
    assert_int_equal(tuned, 1);
    assert_int_equal(tile_launch(k, args, 2, NULL), TILE_OK);
    assert_int_equal((long long)fake->last.grid[0], (3000 + br_of(best) - 1) / br_of(best));
    tile_kernel_free(k);
    /* Other constants: another record (none yet), the model's choice. */
    const char *defs2[] = {"R=5000"};
    tile_source src2 = src;
    src2.defines = defs2;
    if (tile_compile(ctx2, &src2, &k) != TILE_OK) fail_msg("%s", tile_last_error());
    assert_int_equal(tile_kernel_schedule(k, now, sizeof now, &tuned), TILE_OK);
    assert_int_equal(tuned, 0);
    tile_kernel_free(k);
    /* A record whose sources do not hash as recorded, or that does not
     * parse, is ignored: the scheduler chooses again. */
    char bad[256];
    snprintf(bad, sizeof bad, "TILEPLAN1 %064d 1 %s\n", 0, best);
    assert_true(corrupt_records(bad) >= 2);
    if (tile_compile(ctx2, &src, &k) != TILE_OK) fail_msg("%s", tile_last_error());
    assert_int_equal(tile_kernel_schedule(k, now, sizeof now, &tuned), TILE_OK);
    assert_string_equal(now, model);
    assert_int_equal(tuned, 0);
    tile_kernel_free(k);
    assert_true(corrupt_records("TILEPLAN1 garbage\n") >= 2);
    if (tile_compile(ctx2, &src, &k) != TILE_OK) fail_msg("%s", tile_last_error());
    assert_int_equal(tile_kernel_schedule(k, now, sizeof now, &tuned), TILE_OK);
    assert_string_equal(now, model);
    assert_int_equal(tuned, 0);
    tile_kernel_free(k);
    /* ... and rewritten by that compile: the next one loads it (no search). */
    if (tile_compile(ctx2, &src, &k) != TILE_OK) fail_msg("%s", tile_last_error());
    assert_int_equal(tile_kernel_schedule(k, now, sizeof now, &tuned), TILE_OK);
    assert_string_equal(now, model);
    tile_kernel_free(k);
    tile_close(ctx2);

    /* Nothing to tune without `auto` constants. */
    tile_source fixed = {.path = PATH, .kernel = "scale_rows", .defines = (const char *[]){"BR=16"},
                         .ndefines = 1};
    if (tile_compile(ctx, &fixed, &k) != TILE_OK) fail_msg("%s", tile_last_error());
    assert_int_equal(tile_tune(k, args, 2, NULL, &o, &res), TILE_ERR_ARG);
    assert_non_null(strstr(tile_last_error(), "no `auto` constants"));
    tile_kernel_free(k);
    tile_free(ctx, x);
    tile_free(ctx, y);
    tile_close(ctx);
}

static void test_ptxas_error(void **state)
{
    (void)state;
    seed("32", "// nparams 12\n.entry scale_rows PTXAS_ERROR\n");
    tile_context *ctx;
    tile_config cfg = config();
    assert_int_equal(tile_open(&ctx, &cfg), TILE_OK);
    tile_kernel *k;
    assert_int_equal(tile_compile_file(ctx, PATH, "scale_rows", "C=32,BR=16", &k), TILE_ERR_INTERNAL);
    assert_null(k);
    const char *msg = tile_last_error();
    if (!strstr(msg, "cannot load the kernel's PTX: CUDA_ERROR_FAKE") || !strstr(msg, "ptxas: fake ptxas error: line 1"))
        fail_msg("%s", msg);
    tile_close(ctx);
    assert_int_equal(fake->allocations, 0);
}

static void test_corrupt_entry_not_trusted(void **state)
{
    (void)state;
    uint8_t key[RT_KEY_SIZE];
    variant_key("64", (tc_arg_facts){.aligned16 = 3, .unit_stride = 3}, key);
    char path[256];
    rt_cache_path(cache, key, path, sizeof path);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 90, SEEK_SET);
    fputc('X', f);
    fclose(f);
    tile_context *ctx;
    tile_config cfg = config();
    assert_int_equal(tile_open(&ctx, &cfg), TILE_OK);
    tile_kernel *k = NULL;
    int launches = fake->launches;
    tile_status st = tile_compile_file(ctx, PATH, "scale_rows", "C=64,BR=16", &k);
    if (st == TILE_OK) { /* a code generator is built in: fresh code, rewritten entry */
        rt_entry e;
        assert_true(rt_cache_load(cache, key, &e));
        assert_string_not_equal(e.ptx, SEEDED_PTX);
        rt_entry_free(&e);
    } else {
        assert_int_equal(st, TILE_ERR_INTERNAL);
        assert_non_null(strstr(tile_last_error(), "GPU code generation is not built in"));
    }
    assert_int_equal(fake->launches, launches);
    tile_kernel_free(k);
    tile_close(ctx);
    seed("64", SEEDED_PTX); /* repaired for any later test */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device),
        cmocka_unit_test(test_launch),
        cmocka_unit_test(test_grid_limit),
        cmocka_unit_test(test_facts_pick_variant),
        cmocka_unit_test(test_divisible_picks_variant),
        cmocka_unit_test(test_ptxas_error),
        cmocka_unit_test(test_scheduler_uses_device),
        cmocka_unit_test(test_corrupt_entry_not_trusted),
        cmocka_unit_test(test_tune),
        cmocka_unit_test(test_tune_events),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
