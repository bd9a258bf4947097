/* rt_api.c - the public face of libtile (tile.h): contexts, memory,
 * compiling kernels, the per-thread last error.  Launching is rt_launch.c. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "support/timing.h"
#include "rt_internal.h"

_Static_assert(TILE_BOOL == (int)IR_BOOL && TILE_I32 == (int)IR_I32 && TILE_I64 == (int)IR_I64 &&
                   TILE_F16 == (int)IR_F16 && TILE_BF16 == (int)IR_BF16 &&
                   TILE_F32 == (int)IR_F32 && TILE_MAX_RANK == IR_MAX_RANK,
               "tile.h's dtypes mirror ir_dtype");

/* ---- the last error ---------------------------------------------------------------- */
/* One malloc'd string per thread, held in a pthread key so that a thread's
 * last message is freed when the thread exits. */
static pthread_key_t error_key;
static pthread_once_t error_once = PTHREAD_ONCE_INIT;

static void make_error_key(void) { (void)pthread_key_create(&error_key, free); }

const char *tile_last_error(void)
{
    pthread_once(&error_once, make_error_key);
    const char *msg = pthread_getspecific(error_key);
    return msg ? msg : "";
}

static void set_error(char *msg)
{
    pthread_once(&error_once, make_error_key);
    free(pthread_getspecific(error_key));
    if (pthread_setspecific(error_key, msg) != 0) free(msg);
}

void rt_clear_error(void) { set_error(NULL); }

tile_status rt_error(tile_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0) msg = NULL;
    va_end(ap);
    set_error(msg);
    return st;
}

tile_status rt_error_diags(tile_status st, const diag_ctx *d)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f) return rt_error(st, "%s (out of memory for its message)", tile_status_name(st));
    diag_print_all(d, f);
    fclose(f);
    if (buf && size == 0) {
        free(buf);
        return rt_error(st, "%s", tile_status_name(st));
    }
    set_error(buf);
    return st;
}

/* ---- contexts ------------------------------------------------------------------------- */
static bool is_dir(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A library root holds attention/. */
static char *library_root(const char *dir)
{
    char marker[4200];
    snprintf(marker, sizeof marker, "%s/attention", dir);
    return is_dir(marker) ? strdup(dir) : NULL;
}

/* The library next to the build: <prefix>/lib beside the directory that
 * holds libtile.so (or the executable that links libtile statically). */
static char *library_beside_binary(void)
{
    Dl_info info;
    if (!dladdr((void *)&tile_open, &info) || !info.dli_fname) return NULL;
    char *copy = realpath(info.dli_fname, NULL);
    if (!copy) return NULL;
    char path[4200];
    snprintf(path, sizeof path, "%s/../lib", dirname(copy));
    free(copy);
    return library_root(path);
}

static char *find_lib_dir(const tile_config *cfg)
{
    if (cfg->lib_dir) return strdup(cfg->lib_dir);
    const char *env = getenv("TILE_LIB");
    if (env && *env) return strdup(env);
    char *lib = library_beside_binary();
    return lib ? lib : library_root(TILE_LIB_DIR);
}

static bool want_interpreter(const tile_config *cfg)
{
    if (cfg->mode != TILE_MODE_AUTO) return cfg->mode == TILE_MODE_INTERPRET;
    const char *env = getenv("TILE_INTERPRET");
    return env && *env && strcmp(env, "0") != 0;
}

static tile_status open_device(tile_context *ctx, const tile_config *cfg)
{
    tile_status st;
    const char *why;
    ctx->drv = rt_driver_get(&st, &why);
    if (!ctx->drv)
        return rt_error(st, "tile_open: %s (set TILE_INTERPRET=1 to run on the CPU interpreter)",
                        why);
    char err[512];
    if ((st = rt_device_open(ctx->drv, cfg->device, &ctx->dev, err, sizeof err)) != TILE_OK)
        return rt_error(st, "tile_open: %s", err);
    snprintf(ctx->arch, sizeof ctx->arch, "%s", cfg->arch ? cfg->arch : ctx->dev.arch);
    /* The scheduler plans for this device: its SM count and shared memory
     * (cuDeviceGetAttribute), the rest from the architecture's description. */
    const ir_target *base = ir_target_find(ctx->arch);
    if (base) {
        ctx->target = *base;
        if (ctx->dev.sm_count > 0) ctx->target.sm_count = ctx->dev.sm_count;
        if (ctx->dev.smem_optin > 0) ctx->target.smem_per_block = ctx->dev.smem_optin;
        ctx->have_target = true;
    }
    return TILE_OK;
}

tile_status tile_open(tile_context **out, const tile_config *cfg)
{
    rt_clear_error();
    if (!out) return rt_error(TILE_ERR_ARG, "tile_open: out is NULL");
    *out = NULL;
    static const tile_config defaults = {0};
    if (!cfg) cfg = &defaults;
    if (cfg->mode < TILE_MODE_AUTO || cfg->mode > TILE_MODE_INTERPRET)
        return rt_error(TILE_ERR_ARG, "tile_open: unknown mode %d", (int)cfg->mode);
    if (cfg->num_warps < 0 || cfg->num_warps > 32)
        return rt_error(TILE_ERR_ARG, "tile_open: num_warps %d is outside 0..32", cfg->num_warps);
    tile_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return rt_error(TILE_ERR_NOMEM, "tile_open: out of memory");
    pthread_mutex_init(&ctx->lock, NULL);
    ctx->interpret = want_interpreter(cfg);
    ctx->num_warps = cfg->num_warps;
    ctx->no_specialise = cfg->no_specialise != 0;
    ctx->lib_dir = find_lib_dir(cfg);
    if (cfg->cache_dir) ctx->cache_dir = *cfg->cache_dir ? strdup(cfg->cache_dir) : NULL;
    else ctx->cache_dir = rt_cache_default_dir();
    tile_status st = ctx->interpret ? TILE_OK : open_device(ctx, cfg);
    if (st != TILE_OK) {
        tile_close(ctx);
        return st;
    }
    *out = ctx;
    return TILE_OK;
}

void tile_close(tile_context *ctx)
{
    if (!ctx) return;
    for (rt_variant *v = ctx->variants, *next; v; v = next) {
        next = v->next;
        rt_variant_free(ctx, v);
    }
    if (ctx->drv) rt_device_close(ctx->drv, &ctx->dev);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx->cache_dir);
    free(ctx->lib_dir);
    free(ctx);
}

tile_status tile_device(const tile_context *ctx, tile_device_info *out)
{
    rt_clear_error();
    if (!ctx || !out) return rt_error(TILE_ERR_ARG, "tile_device: NULL argument");
    memset(out, 0, sizeof *out);
    out->interpreted = ctx->interpret;
    if (ctx->interpret) {
        snprintf(out->name, sizeof out->name, "CPU interpreter");
        return TILE_OK;
    }
    snprintf(out->name, sizeof out->name, "%s", ctx->dev.name);
    snprintf(out->arch, sizeof out->arch, "%s", ctx->arch);
    out->sm_count = ctx->dev.sm_count;
    out->smem_per_block_optin = ctx->dev.smem_optin;
    memcpy(out->max_grid, ctx->dev.max_grid, sizeof out->max_grid);
    return TILE_OK;
}

tile_status tile_split_count(const tile_context *ctx, int64_t programs, int64_t blocks,
                             int64_t *splits)
{
    rt_clear_error();
    if (!ctx || !splits) return rt_error(TILE_ERR_ARG, "tile_split_count: NULL argument");
    if (programs < 0 || blocks < 0)
        return rt_error(TILE_ERR_ARG, "tile_split_count: negative programs or blocks");
    const ir_target *t = ctx->have_target ? &ctx->target : ir_target_find("sm_90");
    *splits = sched_split_count(t->sm_count, programs, blocks).splits;
    return TILE_OK;
}

/* ---- memory ------------------------------------------------------------------------------ */
/* Runs one driver call with the context's device current, restoring the
 * caller's current context after. */
#define WITH_DEVICE(ctx, call, r)                                                             \
    do {                                                                                      \
        (r) = (ctx)->drv->cuCtxPushCurrent((ctx)->dev.ctx);                                   \
        if ((r) == RT_CUDA_SUCCESS) {                                                         \
            (r) = (call);                                                                     \
            CUcontext popped_;                                                                \
            (ctx)->drv->cuCtxPopCurrent(&popped_);                                            \
        }                                                                                     \
    } while (0)

static tile_status driver_failed(const tile_context *ctx, const char *what, CUresult r)
{
    char e[256];
    return rt_error(TILE_ERR_RUNTIME, "%s: %s", what, rt_cuda_error(ctx->drv, r, e, sizeof e));
}

tile_status tile_alloc(tile_context *ctx, size_t bytes, void **out)
{
    rt_clear_error();
    if (!ctx || !out) return rt_error(TILE_ERR_ARG, "tile_alloc: NULL argument");
    *out = NULL;
    if (ctx->interpret) {
        /* 256-byte aligned like cuMemAlloc, so facts and vectorisation see
         * the same pointers in both modes. */
        *out = aligned_alloc(256, (bytes + 255) / 256 * 256 + (bytes == 0) * 256);
        return *out ? TILE_OK : rt_error(TILE_ERR_NOMEM, "tile_alloc: out of memory (%zu bytes)", bytes);
    }
    CUdeviceptr p = 0;
    CUresult r;
    WITH_DEVICE(ctx, ctx->drv->cuMemAlloc(&p, bytes ? bytes : 1), r);
    if (r != RT_CUDA_SUCCESS) return driver_failed(ctx, "tile_alloc: cuMemAlloc", r);
    *out = (void *)(uintptr_t)p;
    return TILE_OK;
}

tile_status tile_free(tile_context *ctx, void *ptr)
{
    rt_clear_error();
    if (!ctx) return rt_error(TILE_ERR_ARG, "tile_free: context is NULL");
    if (!ptr) return TILE_OK;
    if (ctx->interpret) {
        free(ptr);
        return TILE_OK;
    }
    CUresult r;
    WITH_DEVICE(ctx, ctx->drv->cuMemFree((CUdeviceptr)(uintptr_t)ptr), r);
    return r == RT_CUDA_SUCCESS ? TILE_OK : driver_failed(ctx, "tile_free: cuMemFree", r);
}

tile_status tile_upload(tile_context *ctx, void *dst, const void *src_host, size_t bytes)
{
    rt_clear_error();
    if (!ctx || ((!dst || !src_host) && bytes))
        return rt_error(TILE_ERR_ARG, "tile_upload: NULL argument");
    if (!bytes) return TILE_OK;
    if (ctx->interpret) {
        memmove(dst, src_host, bytes);
        return TILE_OK;
    }
    CUresult r;
    WITH_DEVICE(ctx, ctx->drv->cuMemcpyHtoD((CUdeviceptr)(uintptr_t)dst, src_host, bytes), r);
    return r == RT_CUDA_SUCCESS ? TILE_OK : driver_failed(ctx, "tile_upload: cuMemcpyHtoD", r);
}

tile_status tile_download(tile_context *ctx, void *dst_host, const void *src, size_t bytes)
{
    rt_clear_error();
    if (!ctx || ((!dst_host || !src) && bytes))
        return rt_error(TILE_ERR_ARG, "tile_download: NULL argument");
    if (!bytes) return TILE_OK;
    if (ctx->interpret) {
        memmove(dst_host, src, bytes);
        return TILE_OK;
    }
    CUresult r;
    WITH_DEVICE(ctx, ctx->drv->cuMemcpyDtoH(dst_host, (CUdeviceptr)(uintptr_t)src, bytes), r);
    return r == RT_CUDA_SUCCESS ? TILE_OK : driver_failed(ctx, "tile_download: cuMemcpyDtoH", r);
}

/* ---- kernels ------------------------------------------------------------------------------- */
static const char **copy_strings(arena *mem, const char *const *src, int n, int extra)
{
    const char **dst = arena_calloc(mem, (size_t)(n + extra + 1), sizeof *dst);
    for (int i = 0; dst && i < n; i++)
        if (!(dst[i] = arena_strdup(mem, src[i] ? src[i] : ""))) return NULL;
    return dst;
}

/* A relative path that does not exist from the working directory is looked
 * up as an import is: in the include dirs, then the library root (so
 * "attention/flash_fwd.tile" finds the library's file). */
static const char *find_source(arena *m, const tile_source *src, const char *lib_dir)
{
    struct stat st;
    if (!src->path) return "<string>";
    if (src->text || src->path[0] == '/' || stat(src->path, &st) == 0) return src->path;
    for (int i = 0; i <= src->ninclude; i++) {
        const char *dir = i < src->ninclude ? src->include_dirs[i] : lib_dir;
        char *cand = dir ? arena_printf(m, "%s/%s", dir, src->path) : NULL;
        if (cand && stat(cand, &st) == 0 && S_ISREG(st.st_mode)) return cand;
    }
    return src->path; /* tc_compile reports it */
}

/* The kernel's own copies of everything tc_compile needs, so a variant can
 * be compiled again later from the same inputs. */
static bool copy_source(tile_kernel *k, const tile_source *src, const char *lib_dir)
{
    arena *m = &k->mem;
    k->path = arena_strdup(m, find_source(m, src, lib_dir));
    k->text = src->text ? arena_strdup(m, src->text) : NULL;
    const char **defs = copy_strings(m, src->defines, src->ndefines, 0);
    const char **incs = copy_strings(m, src->include_dirs, src->ninclude, 1);
    if (!k->path || (src->text && !k->text) || !defs || !incs) return false;
    int ninc = src->ninclude;
    if (lib_dir && !(incs[ninc++] = arena_strdup(m, lib_dir))) return false;
    k->opts = (tc_options){.kernel = arena_strdup(m, src->kernel), .defines = defs,
                           .ndefines = src->ndefines, .include_dirs = incs, .ninclude = ninc,
                           .opt_level = 1, .num_warps = k->ctx ? k->ctx->num_warps : 0};
    return k->opts.kernel != NULL;
}

static tile_status check_source(const tile_source *src)
{
    if (!src->kernel || !*src->kernel) return rt_error(TILE_ERR_ARG, "tile_compile: no kernel name");
    if (!src->path && !src->text)
        return rt_error(TILE_ERR_ARG, "tile_compile: neither a path nor source text");
    if (src->ndefines < 0 || src->ninclude < 0 || (src->ndefines && !src->defines) ||
        (src->ninclude && !src->include_dirs))
        return rt_error(TILE_ERR_ARG, "tile_compile: bad define or include-dir list");
    return TILE_OK;
}

/* Compiles k from its sources (a schedule record, when there is one, fixes
 * the schedule and skips the search).  In GPU mode k's signature then
 * comes from the kernel record built from the unit (*rec, to be stored
 * once the first variant is loaded), and the unit is left in k->spare
 * for that variant's code generation. */
static tile_status compile_sources(tile_kernel *k, rt_wbuf *rec)
{
    if (!rt_plan_load(k)) {
        tile_status st = tc_compile(&k->unit, k->path, k->text, &k->opts);
        if (st != TILE_OK) {
            if (k->unit) rt_error_diags(st, &k->unit->diags);
            else rt_error(st, "tile_compile: %s", tile_status_name(st));
            return st;
        }
        k->fn = k->unit->kernel;
        char schedule[96];
        tc_schedule_text(k->unit, schedule, sizeof schedule);
        rt_plan_store(k, schedule, false);   /* the next tile_compile skips the search */
        /* Variants compiled later (other facts) skip it too. */
        if (!k->ctx->interpret && *schedule) (void)rt_plan_force(k, schedule);
    }
    k->ndiv = tc_div_candidates(k->fn, k->div, TC_MAX_DIV_CANDIDATES);
    if (k->ctx->interpret) return TILE_OK;
    if (k->forced) snprintf(k->sched_text, sizeof k->sched_text, "%s", k->schedule);
    else tc_schedule_text(k->unit, k->sched_text, sizeof k->sched_text);
    if (rt_record_build(k, k->unit, rec) && rt_record_apply(k, rec->p, rec->len)) {
        k->spare = k->unit;
        k->unit = NULL;
    } else {
        rec->failed = true;   /* launch from the unit itself; store no record */
        k->files = k->unit->diags.files;
    }
    return TILE_OK;
}

/* GPU mode: the variant for the best facts, found or compiled and loaded. */
static tile_status first_variant(tile_kernel *k)
{
    tile_context *ctx = k->ctx;
    rt_variant *v;
    pthread_mutex_lock(&ctx->lock);
    tile_status st =
        rt_variant_get(k, ctx->no_specialise ? (tc_arg_facts){0} : rt_best_facts(k->fn), &v);
    pthread_mutex_unlock(&ctx->lock);
    tc_unit_free(k->spare);   /* unused when the variant was cached */
    k->spare = NULL;
    return st;
}

static tile_status compile_kernel(tile_context *ctx, const tile_source *src, tile_kernel **out);

tile_status tile_compile(tile_context *ctx, const tile_source *src, tile_kernel **out)
{
    if (tt_enabled()) tt_reset();
    tile_status st = compile_kernel(ctx, src, out);
    if (tt_report_wanted())
        tt_report(stderr, src && src->kernel ? src->kernel : "tile_compile"); /* TILE_TIMING=1 */
    return st;
}

static tile_status compile_kernel(tile_context *ctx, const tile_source *src, tile_kernel **out)
{
    rt_clear_error();
    if (!out) return rt_error(TILE_ERR_ARG, "tile_compile: out is NULL");
    *out = NULL;
    if (!ctx || !src) return rt_error(TILE_ERR_ARG, "tile_compile: NULL argument");
    tile_status st = check_source(src);
    if (st != TILE_OK) return st;
    tile_kernel *k = calloc(1, sizeof *k);
    if (!k) return rt_error(TILE_ERR_NOMEM, "tile_compile: out of memory");
    k->ctx = ctx;
    arena_init(&k->mem);
    if (!copy_source(k, src, ctx->lib_dir)) {
        tile_kernel_free(k);
        return rt_error(TILE_ERR_NOMEM, "tile_compile: out of memory");
    }
    /* `auto` constants: chosen for the device (interpreter: for sm_90's
     * description, as tilec run --interp does). */
    k->opts.target = ctx->have_target ? &ctx->target : NULL;
    /* GPU mode: a kernel record makes this a warm compile (no compiler). */
    rt_wbuf rec = {0};
    k->warm = !ctx->interpret && rt_record_load(k);
    if (!k->warm) st = compile_sources(k, &rec);
    if (st == TILE_OK && !ctx->interpret) st = first_variant(k);
    if (st == TILE_OK && !k->warm && !ctx->interpret && !rec.failed)
        rt_record_store(k, rec.p, rec.len);
    free(rec.p);
    if (st != TILE_OK) {
        tile_kernel_free(k);
        return st;
    }
    *out = k;
    return TILE_OK;
}

tile_status tile_compile_file(tile_context *ctx, const char *path, const char *kernel,
                              const char *defines, tile_kernel **out)
{
    rt_clear_error();
    if (!path) {
        if (out) *out = NULL;
        return rt_error(TILE_ERR_ARG, "tile_compile_file: path is NULL");
    }
    arena mem;
    arena_init(&mem);
    const char **defs = NULL;
    int n = defines && *defines ? tc_split_defines(&mem, defines, &defs) : 0;
    tile_status st;
    if (n < 0) {
        if (out) *out = NULL;
        st = rt_error(TILE_ERR_ARG, "tile_compile_file: bad constant list '%s': expected "
                                    "NAME=VALUE[,NAME=VALUE...]", defines);
    } else {
        tile_source src = {.path = path, .kernel = kernel, .defines = defs, .ndefines = n};
        st = tile_compile(ctx, &src, out);
    }
    arena_free(&mem);
    return st;
}

void tile_kernel_free(tile_kernel *k)
{
    if (!k) return;
    tc_unit_free(k->unit);
    tc_unit_free(k->spare);
    arena_free(&k->mem);
    free(k);
}

int tile_kernel_nparams(const tile_kernel *k) { return k && k->fn ? k->fn->nparams : -1; }

tile_status tile_kernel_param(const tile_kernel *k, int i, tile_param_info *out)
{
    rt_clear_error();
    if (!k || !out) return rt_error(TILE_ERR_ARG, "tile_kernel_param: NULL argument");
    if (i < 0 || i >= k->fn->nparams)
        return rt_error(TILE_ERR_ARG, "tile_kernel_param: kernel '%s' has no parameter %d",
                        k->fn->name, i);
    const ir_param *p = &k->fn->params[i];
    *out = (tile_param_info){.name = p->name, .is_tensor = p->type.kind == IR_TY_TENSOR,
                             .is_out = p->is_out, .dtype = (tile_dtype)p->type.dtype,
                             .rank = p->type.kind == IR_TY_TENSOR ? p->type.rank : 0};
    return TILE_OK;
}

/* ---- argument constructors ------------------------------------------------------------------- */
tile_arg tile_tensor(tile_dtype dtype, void *data, int rank, const int64_t *shape,
                     const int64_t *strides)
{
    tile_arg a = {.kind = TILE_ARG_TENSOR, .dtype = dtype, .rank = rank, .data = data};
    if (rank < 0 || rank > TILE_MAX_RANK || (rank > 0 && !shape)) return a; /* launch reports it */
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        a.shape[d] = shape[d];
        a.strides[d] = strides ? strides[d] : s;
        int64_t size = shape[d] > 0 ? shape[d] : 1;
        s = s > INT64_MAX / size ? INT64_MAX : s * size;
    }
    return a;
}

tile_arg tile_scalar_int(tile_dtype dtype, int64_t v)
{
    return (tile_arg){.kind = TILE_ARG_SCALAR, .dtype = dtype, .value.i = v};
}

tile_arg tile_scalar_float(tile_dtype dtype, double v)
{
    return (tile_arg){.kind = TILE_ARG_SCALAR, .dtype = dtype, .value.f = v};
}
