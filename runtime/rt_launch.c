/* rt_launch.c - from tile_launch's arguments to a running kernel.
 *
 *   check   every argument against the kernel's signature (kinds, dtypes,
 *           ranks, sizes, NULL data: the interpreter's own checks, so both
 *           modes say the same), outputs overlapping other arguments, the
 *           grid clause evaluated on the host and held to the device's limits;
 *   facts   what the arguments guarantee (16-byte aligned base, unit last
 *           stride, sizes that are multiples of the blocks tiling them):
 *           the variant compiled for exactly those facts is used,
 *           so no code ever runs under an assumption its arguments break;
 *   launch  parameters marshalled as docs/abi.md says, hidden status last;
 *           a failed assert is read back by tile_sync. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "support/fp16.h"
#include "support/timing.h"
#include "rt_internal.h"

static const char *pname(const ir_param *p) { return p->name ? p->name : "?"; }

/* ---- checks ---------------------------------------------------------------------------- */
static bool valid_dtype(tile_dtype t) { return (unsigned)t < IR_DTYPE_COUNT; }

static const char *dtype_name(tile_dtype t) { return valid_dtype(t) ? ir_dtype_name((ir_dtype)t) : "?"; }

/* Kind, dtype and value of one argument, and its conversion for the
 * interpreter's checks (which then see only well-formed input). */
static bool convert_arg(diag_ctx *d, const ir_param *p, const tile_arg *a, interp_arg *out)
{
    memset(out, 0, sizeof *out);
    bool tensor = p->type.kind == IR_TY_TENSOR;
    const char *want = tensor ? "a tensor" : "a scalar";
    if (a->kind != TILE_ARG_TENSOR && a->kind != TILE_ARG_SCALAR) {
        diag_error(d, p->loc, "argument '%s': expected %s, got an unset argument", pname(p), want);
        return false;
    }
    if (tensor != (a->kind == TILE_ARG_TENSOR)) {
        diag_error(d, p->loc, "argument '%s': expected %s, got %s", pname(p), want,
                   tensor ? "a scalar" : "a tensor");
        return false;
    }
    if (tensor) {
        if (a->rank < 0 || a->rank > IR_MAX_RANK) {
            diag_error(d, p->loc, "argument '%s': expected a tensor of rank %d, got rank %d",
                       pname(p), p->type.rank, a->rank);
            return false;
        }
        out->tensor = (interp_tensor){.dtype = valid_dtype(a->dtype) ? (ir_dtype)a->dtype : IR_DTYPE_COUNT,
                                      .rank = a->rank, .data = a->data};
        memcpy(out->tensor.shape, a->shape, sizeof a->shape);
        memcpy(out->tensor.strides, a->strides, sizeof a->strides);
        return true;
    }
    ir_dtype want_dt = p->type.dtype;
    if (a->dtype != (tile_dtype)want_dt) {
        diag_error(d, p->loc, "argument '%s': expected a scalar %s, got a scalar %s", pname(p),
                   ir_dtype_name(want_dt), dtype_name(a->dtype));
        return false;
    }
    if (want_dt == IR_BOOL && a->value.i != 0 && a->value.i != 1) {
        diag_error(d, p->loc, "argument '%s': a bool must be 0 or 1, got %" PRId64, pname(p),
                   a->value.i);
        return false;
    }
    if (ir_dtype_is_float(want_dt)) out->scalar.f = a->value.f;
    else out->scalar.i = a->value.i;
    return true;
}

/* The bytes a tensor can touch: [*lo, *hi).  False for an empty tensor. */
static bool byte_range(const interp_tensor *t, __int128 *lo, __int128 *hi)
{
    __int128 base = (__int128)(uintptr_t)t->data, first = 0, last = 0;
    for (int i = 0; i < t->rank; i++) {
        if (t->shape[i] == 0) return false;
        __int128 span = (__int128)t->strides[i] * (t->shape[i] - 1);
        if (span < 0) first += span;
        else last += span;
    }
    int es = ir_dtype_size(t->dtype);
    *lo = base + first * es;
    *hi = base + (last + 1) * es;
    return true;
}

/* An output must not share memory with any other argument: the kernel
 * may read an input after another program wrote the output, and two
 * outputs would race.  Whole address ranges are compared, so interleaved
 * strided views of one buffer are refused too (conservative). */
static bool check_aliasing(diag_ctx *d, const ir_func *fn, const interp_arg *args)
{
    bool ok = true;
    for (int i = 0; i < fn->nparams; i++) {
        const ir_param *p = &fn->params[i];
        __int128 lo, hi, lo2, hi2;
        if (p->type.kind != IR_TY_TENSOR || !byte_range(&args[i].tensor, &lo, &hi)) continue;
        for (int j = 0; j < fn->nparams; j++) {
            const ir_param *q = &fn->params[j];
            if (j == i || q->type.kind != IR_TY_TENSOR || !(p->is_out || q->is_out)) continue;
            if (q->is_out && !p->is_out) continue;      /* reported at the output */
            if (q->is_out && p->is_out && j < i) continue; /* reported once */
            if (!byte_range(&args[j].tensor, &lo2, &hi2) || hi <= lo2 || hi2 <= lo) continue;
            diag_error(d, p->loc, "argument '%s': output memory overlaps argument '%s'",
                       pname(p), pname(q));
            ok = false;
        }
    }
    return ok;
}

tile_status rt_check_args(const ir_func *fn, const tile_arg *args, int nargs,
                          const int max_grid[3], diag_ctx *d, interp_arg *iargs,
                          int64_t grid[3])
{
    if (nargs != fn->nparams || (nargs > 0 && !args)) {
        diag_error(d, fn->loc, "kernel '%s' takes %d argument%s, got %d", fn->name,
                   fn->nparams, fn->nparams == 1 ? "" : "s", nargs);
        return TILE_ERR_ARG;
    }
    bool ok = true;
    for (int i = 0; i < fn->nparams; i++) ok &= convert_arg(d, &fn->params[i], &args[i], &iargs[i]);
    if (!ok || !interp_check_args(d, fn, iargs, nargs) || !check_aliasing(d, fn, iargs))
        return TILE_ERR_ARG;
    tile_status st = interp_eval_grid(fn, iargs, nargs, d, grid);
    if (st != TILE_OK) return st;
    for (int a = 0; max_grid && a < 3; a++) {
        if (grid[a] <= max_grid[a]) continue;
        diag_error(d, fn->loc, "kernel '%s': grid (%" PRId64 ", %" PRId64 ", %" PRId64
                   ") exceeds the device's limit (%d, %d, %d)", fn->name, grid[0], grid[1],
                   grid[2], max_grid[0], max_grid[1], max_grid[2]);
        return TILE_ERR_ARG;
    }
    return TILE_OK;
}

/* ---- facts ------------------------------------------------------------------------------ */
tc_arg_facts rt_best_facts(const ir_func *fn)
{
    tc_arg_facts f = {0};
    for (int i = 0; i < fn->nparams && i < 64; i++)
        if (fn->params[i].type.kind == IR_TY_TENSOR) {
            f.aligned16 |= 1ull << i;
            if (fn->params[i].type.rank > 0) f.unit_stride |= 1ull << i;
        }
    return f;
}

/* aligned16 is given only when every row starts 16-byte aligned too (each
 * stride but a unit last one a multiple of 16 bytes): vectorised code may
 * assume it of any row, and a weaker fact would cost nothing but speed. */
static bool rows_aligned16(const tile_arg *a)
{
    if ((uintptr_t)a->data % 16 != 0) return false;
    int64_t es = ir_dtype_size((ir_dtype)a->dtype);
    for (int d = 0; d < a->rank; d++) {
        if (a->shape[d] <= 1 || (d == a->rank - 1 && a->strides[d] == 1)) continue;
        if ((a->strides[d] * es) % 16 != 0) return false;
    }
    return true;
}

tc_arg_facts rt_arg_facts(const ir_func *fn, const tile_arg *args)
{
    tc_arg_facts f = {0};
    for (int i = 0; i < fn->nparams && i < 64; i++) {
        const tile_arg *a = &args[i];
        if (fn->params[i].type.kind != IR_TY_TENSOR) continue;
        if (rows_aligned16(a)) f.aligned16 |= 1ull << i;
        if (a->rank > 0 && a->strides[a->rank - 1] == 1) f.unit_stride |= 1ull << i;
    }
    return f;
}

uint64_t rt_div_facts(const tile_kernel *k, const tile_arg *args)
{
    const ir_func *fn = k->fn;
    uint64_t facts = 0;
    for (int j = 0; j < k->ndiv; j++) {
        int64_t size = -1;
        for (int i = 0; i < fn->nparams && size < 0; i++)
            for (int d = 0; d < fn->params[i].type.rank && fn->params[i].type.kind == IR_TY_TENSOR; d++)
                if (fn->params[i].dims[d].name && strcmp(fn->params[i].dims[d].name, k->div[j].dim) == 0) {
                    size = args[i].shape[d];
                    break;
                }
        if (size >= 0 && size % k->div[j].divisor == 0) facts |= (uint64_t)1 << j;
    }
    return facts;
}

static bool same_facts(tc_arg_facts a, tc_arg_facts b)
{
    return a.aligned16 == b.aligned16 && a.unit_stride == b.unit_stride && a.divisible == b.divisible;
}

/* ---- variants --------------------------------------------------------------------------- */
/* u NULL: k's own record of its sources and schedule (rt_record.c). */
static void key_of(const tile_kernel *k, const tc_unit *u, tc_arg_facts facts, uint8_t *key)
{
    char schedule[256];
    if (k->forced) snprintf(schedule, sizeof schedule, "%s", k->schedule);
    else if (u) tc_schedule_text(u, schedule, sizeof schedule);
    else snprintf(schedule, sizeof schedule, "%s", k->sched_text);
    rt_key_parts parts = {.files = u ? u->diags.files : k->files, .kernel = k->opts.kernel,
                          .arch = k->ctx->arch, .facts = facts,
                          .num_warps = k->ctx->num_warps,
                          .opt_level = k->opts.opt_level, .schedule = schedule};
    rt_cache_key(&parts, key);
}

/* LLVM's global state (target registration, options) is not promised to
 * be thread safe: one code generation at a time per process.  Contexts'
 * own mutexes do not cover two contexts compiling at once. */
static pthread_mutex_t codegen_lock = PTHREAD_MUTEX_INITIALIZER;

/* Code generation for a cache miss, on a fresh unit: scheduling rewrites
 * the IR, and k->unit must stay the plain tile IR.  tile_compile's own
 * unit, when it left one (k->spare), is used up first. */
static tile_status generate(tile_kernel *k, tc_arg_facts facts, const uint8_t *key, rt_entry *e)
{
    tc_unit *u = k->spare;
    k->spare = NULL;
    tile_status st = u ? TILE_OK : tc_compile(&u, k->path, k->text, &k->opts);
    uint8_t again[RT_KEY_SIZE];
    if (st == TILE_OK) {
        key_of(k, u, facts, again);
        if (memcmp(again, key, RT_KEY_SIZE) != 0)
            st = rt_error(TILE_ERR_IO, "the sources of kernel '%s' changed on disk since "
                          "tile_compile: compile it again", k->opts.kernel);
    } else if (u) {
        rt_error_diags(st, &u->diags);
    }
    if (st == TILE_OK) {
        tc_gpu_options g = {.arch = k->ctx->arch, .num_warps = k->ctx->num_warps, .facts = facts,
                            .target = k->ctx->have_target ? &k->ctx->target : NULL};
        if (k->forced) g.num_warps = k->num_warps, g.num_stages = k->num_stages;
        tc_gpu_kernel gk;
        pthread_mutex_lock(&codegen_lock);
        st = tc_compile_gpu(u, &g, &gk);
        pthread_mutex_unlock(&codegen_lock);
        if (st != TILE_OK) rt_error_diags(st, &u->diags);
        else if ((st = rt_entry_from_gpu(e, &gk)) != TILE_OK) rt_error(st, "out of memory");
        else if (e->num_warps < 1 || e->num_warps > 32 || !e->ptx_size || !*e->entry)
            st = rt_error(TILE_ERR_INTERNAL, "code generation for '%s' reported no PTX, entry "
                          "or warps", k->opts.kernel);
    }
    tc_unit_free(u);
    return st;
}

tile_status tile_kernel_ptx(tile_kernel *k, const char *arch, char **ptx)
{
    rt_clear_error();
    if (!k || !ptx) return rt_error(TILE_ERR_ARG, "tile_kernel_ptx: null argument");
    *ptx = NULL;
    if (!arch || !*arch) arch = k->ctx->arch[0] ? k->ctx->arch : "sm_90";
    tc_unit *u = NULL;
    tile_status st = tc_compile(&u, k->path, k->text, &k->opts);
    if (st != TILE_OK) {
        if (u) rt_error_diags(st, &u->diags);
        tc_unit_free(u);
        return st;
    }
    tc_gpu_options g = {.arch = arch, .num_warps = k->ctx->num_warps};
    tc_gpu_kernel gk;
    pthread_mutex_lock(&codegen_lock);
    st = tc_compile_gpu(u, &g, &gk);
    pthread_mutex_unlock(&codegen_lock);
    if (st != TILE_OK) rt_error_diags(st, &u->diags);
    else if (!(*ptx = strdup(gk.ptx))) st = rt_error(TILE_ERR_NOMEM, "out of memory");
    tc_unit_free(u);
    return st;
}

/* Whether variants are loaded as cubins made by cuLink (TILE_CUBIN=0: as
 * PTX, the driver compiling it at every load its own JIT cache misses). */
static bool want_cubin(void)
{
    const char *env = getenv("TILE_CUBIN");
    return !env || strcmp(env, "0") != 0;
}

/* The variant's module: its cubin when the entry has one (from the disk
 * cache), else one linked from its PTX now (kept in the entry, so the disk
 * cache stores it), else the PTX itself, whose load reports any error. */
static tile_status load_module(const rt_driver *drv, rt_variant *v, char *err, size_t size)
{
    rt_entry *e = &v->entry;
    if (e->cubin && rt_module_load(drv, (const char *)e->cubin, e->entry, e->smem_bytes,
                                   &v->module, &v->fn, err, size) == TILE_OK)
        return TILE_OK;
    free(e->cubin);
    e->cubin = NULL;
    e->cubin_size = 0;
    if (want_cubin() && rt_module_link(drv, e->ptx, e->ptx_size, &e->cubin, &e->cubin_size) &&
        rt_module_load(drv, (const char *)e->cubin, e->entry, e->smem_bytes, &v->module, &v->fn,
                       err, size) == TILE_OK)
        return TILE_OK;
    free(e->cubin);
    e->cubin = NULL;
    e->cubin_size = 0;
    return rt_module_load(drv, e->ptx, e->entry, e->smem_bytes, &v->module, &v->fn, err, size);
}

/* Module, function and status buffer of a variant, on the device. */
static tile_status load_variant(tile_context *ctx, rt_variant *v)
{
    const rt_driver *drv = ctx->drv;
    CUresult r = drv->cuCtxPushCurrent(ctx->dev.ctx);
    char err[20000], e[256];
    if (r != RT_CUDA_SUCCESS)
        return rt_error(TILE_ERR_RUNTIME, "cuCtxPushCurrent: %s", rt_cuda_error(drv, r, e, sizeof e));
    tt_begin(TT_MODULE_LOAD);
    tile_status st = load_module(drv, v, err, sizeof err);
    tt_end(TT_MODULE_LOAD);
    if (st != TILE_OK) {
        rt_error(st, "%s", err);
    } else if ((r = drv->cuMemAlloc(&v->status, 8 * sizeof(int32_t))) != RT_CUDA_SUCCESS ||
               (r = drv->cuMemsetD32(v->status, 0, 8)) != RT_CUDA_SUCCESS) {
        st = rt_error(TILE_ERR_RUNTIME, "status buffer: %s", rt_cuda_error(drv, r, e, sizeof e));
    }
    CUcontext popped;
    drv->cuCtxPopCurrent(&popped);
    return st;
}

void rt_variant_free(tile_context *ctx, rt_variant *v)
{
    if (ctx->drv && (v->module || v->status) &&
        ctx->drv->cuCtxPushCurrent(ctx->dev.ctx) == RT_CUDA_SUCCESS) {
        if (v->status) ctx->drv->cuMemFree(v->status);
        if (v->module) ctx->drv->cuModuleUnload(v->module);
        CUcontext popped;
        ctx->drv->cuCtxPopCurrent(&popped);
    }
    rt_entry_free(&v->entry);
    free(v);
}

static rt_variant *remember(tile_kernel *k, tc_arg_facts facts, rt_variant *v)
{
    int slot = k->nused < 8 ? k->nused++
                            : (int)((facts.aligned16 ^ facts.unit_stride ^ facts.divisible) % 8);
    k->used[slot].facts = facts;
    k->used[slot].variant = v;
    return v;
}

tile_status rt_variant_get(tile_kernel *k, tc_arg_facts facts, rt_variant **out)
{
    tile_context *ctx = k->ctx;
    for (int i = 0; i < k->nused; i++)
        if (same_facts(k->used[i].facts, facts))
            return *out = k->used[i].variant, TILE_OK;
    uint8_t key[RT_KEY_SIZE];
    key_of(k, k->unit, facts, key);
    for (rt_variant *v = ctx->variants; v; v = v->next)
        if (memcmp(v->key, key, RT_KEY_SIZE) == 0) return *out = remember(k, facts, v), TILE_OK;
    rt_variant *v = calloc(1, sizeof *v);
    if (!v) return rt_error(TILE_ERR_NOMEM, "out of memory");
    memcpy(v->key, key, RT_KEY_SIZE);
    tile_status st = TILE_OK;
    bool cached = rt_cache_load(ctx->cache_dir, key, &v->entry), had_cubin = v->entry.cubin;
    if (!cached) st = generate(k, facts, key, &v->entry);
    if (st == TILE_OK) st = load_variant(ctx, v);
    /* Stored once loaded, with the cubin the load made (the disk cache only
     * saves time: a failed write is not an error). */
    char err[4600];
    if (st == TILE_OK && (!cached || (!had_cubin && v->entry.cubin)))
        (void)rt_cache_store(ctx->cache_dir, key, &v->entry, err, sizeof err);
    if (st != TILE_OK) {
        rt_variant_free(ctx, v);
        return st;
    }
    v->next = ctx->variants;
    ctx->variants = v;
    *out = remember(k, facts, v);
    return TILE_OK;
}

/* ---- launching ------------------------------------------------------------------------------- */
static void push(uint64_t *slot, int *n, const void *value, size_t size)
{
    slot[*n] = 0;
    memcpy(&slot[*n], value, size);
    (*n)++;
}

int rt_marshal(const ir_func *fn, const tile_arg *args, uint64_t status, uint64_t *slot)
{
    int n = 0;
    for (int i = 0; i < fn->nparams; i++) {
        const tile_arg *a = &args[i];
        ir_dtype dt = fn->params[i].type.dtype;
        if (fn->params[i].type.kind == IR_TY_TENSOR) {
            uint64_t ptr = (uintptr_t)a->data;
            push(slot, &n, &ptr, 8);
            for (int d = 0; d < a->rank; d++) push(slot, &n, &a->shape[d], 8);
            for (int d = 0; d < a->rank; d++) push(slot, &n, &a->strides[d], 8);
        } else if (dt == IR_BOOL || dt == IR_I32) {
            int32_t v = (int32_t)a->value.i;
            push(slot, &n, &v, 4);
        } else if (dt == IR_I64) {
            push(slot, &n, &a->value.i, 8);
        } else if (dt == IR_F32) {
            float v = (float)a->value.f;
            push(slot, &n, &v, 4);
        } else {
            ir_scalar r = ir_scalar_round(dt, a->value.f); /* exact in f32 afterwards */
            uint16_t bits = dt == IR_F16 ? fp_f32_to_f16((float)r.f) : fp_f32_to_bf16((float)r.f);
            push(slot, &n, &bits, 2);
        }
    }
    push(slot, &n, &status, 8);
    return n;
}

int rt_marshal_count(const ir_func *fn)
{
    int n = 1;
    for (int i = 0; i < fn->nparams; i++)
        n += fn->params[i].type.kind == IR_TY_TENSOR ? 1 + 2 * fn->params[i].type.rank : 1;
    return n;
}

static tile_status launch_gpu(tile_kernel *k, const tile_arg *args, const int64_t grid[3],
                              void *stream)
{
    tile_context *ctx = k->ctx;
    if (grid[0] == 0 || grid[1] == 0 || grid[2] == 0) return TILE_OK;
    tc_arg_facts facts = {0};
    if (!ctx->no_specialise) {
        facts = rt_arg_facts(k->fn, args);
        facts.divisible = rt_div_facts(k, args);
    }
    rt_variant *v;
    pthread_mutex_lock(&ctx->lock);
    tile_status st = rt_variant_get(k, facts, &v);
    if (st == TILE_OK) v->pending = true, v->stream = stream;
    pthread_mutex_unlock(&ctx->lock);
    if (st != TILE_OK) return st;
    int n = rt_marshal_count(k->fn);
    uint64_t *slot = malloc((size_t)n * sizeof *slot);
    void **ptr = malloc((size_t)n * sizeof *ptr);
    if (!slot || !ptr) {
        free(slot), free(ptr);
        return rt_error(TILE_ERR_NOMEM, "out of memory");
    }
    rt_marshal(k->fn, args, v->status, slot);
    for (int i = 0; i < n; i++) ptr[i] = &slot[i]; /* cuLaunchKernel reads each at its size */
    const rt_driver *drv = ctx->drv;
    CUresult r = drv->cuCtxPushCurrent(ctx->dev.ctx);
    if (r == RT_CUDA_SUCCESS) {
        r = drv->cuLaunchKernel(v->fn, (unsigned)grid[0], (unsigned)grid[1], (unsigned)grid[2],
                                32u * (unsigned)v->entry.num_warps, 1, 1,
                                (unsigned)v->entry.smem_bytes, (CUstream)stream, ptr, NULL);
        CUcontext popped;
        drv->cuCtxPopCurrent(&popped);
    }
    free(slot), free(ptr);
    if (r == RT_CUDA_SUCCESS) return TILE_OK;
    char e[256];
    return rt_error(TILE_ERR_RUNTIME, "launching '%s': %s", k->fn->name,
                    rt_cuda_error(drv, r, e, sizeof e));
}

/* Whether every diagnostic of d points into the kernel's sources (or
 * nowhere): those of its parameters do; an error inside the grid of a
 * kernel launched from its record points into the record's IR text. */
static bool in_sources(const tile_kernel *k, const diag_ctx *d)
{
    for (const diag *g = d->first; g; g = g->next) {
        if (!g->loc.file) continue;
        const src_file *f = k->files;
        while (f && f->path != g->loc.file && strcmp(f->path, g->loc.file) != 0) f = f->next;
        if (!f) return false;
    }
    return true;
}

/* A kernel launched from its record has its signature but not the
 * source locations of its grid's ops: such an error is explained by
 * checking again against the compiled kernel, so the messages are those of
 * a cold compile (an error path may take a compile). */
static tile_status explain_failure(tile_kernel *k, const tile_arg *args, int nargs,
                                   const int *limits, tile_status st, diag_ctx *d)
{
    tc_unit *u = NULL;
    arena mem;
    arena_init(&mem);
    diag_ctx d2;
    diag_init(&d2, &mem);
    interp_arg *iargs = NULL;
    int64_t grid[3];
    if (tc_compile(&u, k->path, k->text, &k->opts) == TILE_OK &&
        (iargs = arena_calloc(&mem, (size_t)(u->kernel->nparams + 1), sizeof *iargs))) {
        d2.files = u->diags.files;
        tile_status again = rt_check_args(u->kernel, args, nargs, limits, &d2, iargs, grid);
        if (again != TILE_OK && d2.first) d = &d2, st = again;
    }
    st = rt_error_diags(st, d);
    tc_unit_free(u);
    arena_free(&mem);
    return st;
}

/* Checks (and converts) the arguments; diagnostics become the last error. */
static tile_status checked(tile_kernel *k, const tile_arg *args, int nargs, interp_arg **iargs,
                           int64_t grid[3], arena *mem, diag_ctx *d)
{
    arena_init(mem);
    diag_init(d, mem);
    d->files = k->unit ? k->unit->diags.files : k->files; /* read only: for source lines */
    *iargs = arena_calloc(mem, (size_t)(k->fn->nparams + 1), sizeof **iargs);
    if (!*iargs) return rt_error(TILE_ERR_NOMEM, "out of memory");
    const int *limits = k->ctx->interpret ? NULL : k->ctx->dev.max_grid;
    tile_status st = rt_check_args(k->fn, args, nargs, limits, d, *iargs, grid);
    if (st == TILE_OK) return TILE_OK;
    if (!k->unit && st != TILE_ERR_NOMEM && !in_sources(k, d))
        return explain_failure(k, args, nargs, limits, st, d);
    return rt_error_diags(st, d);
}

tile_status tile_launch(tile_kernel *k, const tile_arg *args, int nargs, void *stream)
{
    rt_clear_error();
    if (!k) return rt_error(TILE_ERR_ARG, "tile_launch: kernel is NULL");
    arena mem;
    diag_ctx d;
    interp_arg *iargs;
    int64_t grid[3];
    tile_status st = checked(k, args, nargs, &iargs, grid, &mem, &d);
    if (st == TILE_OK && k->ctx->interpret) {
        st = interp_launch(k->fn, iargs, nargs, &d, NULL);
        if (st != TILE_OK) rt_error_diags(st, &d);
    } else if (st == TILE_OK) {
        st = launch_gpu(k, args, grid, stream);
    }
    arena_free(&mem);
    return st;
}

tile_status tile_grid(tile_kernel *k, const tile_arg *args, int nargs, int64_t grid[3])
{
    rt_clear_error();
    if (!k || !grid) return rt_error(TILE_ERR_ARG, "tile_grid: NULL argument");
    arena mem;
    diag_ctx d;
    interp_arg *iargs;
    tile_status st = checked(k, args, nargs, &iargs, grid, &mem, &d);
    arena_free(&mem);
    return st;
}

/* The first failed assert among the variants last launched on `stream`
 * (now idle), as the message. */
static tile_status collect_asserts(tile_context *ctx, void *stream)
{
    tile_status st = TILE_OK;
    char e[256];
    for (rt_variant *v = ctx->variants; v; v = v->next) {
        if (!v->pending || v->stream != stream) continue;
        v->pending = false;
        int32_t status[8];
        CUresult r = ctx->drv->cuMemcpyDtoH(status, v->status, sizeof status);
        if (r != RT_CUDA_SUCCESS) {
            if (st == TILE_OK)
                st = rt_error(TILE_ERR_RUNTIME, "reading '%s''s status: %s", v->entry.entry,
                              rt_cuda_error(ctx->drv, r, e, sizeof e));
            continue;
        }
        if (status[0] == 0) continue;
        ctx->drv->cuMemsetD32(v->status, 0, 8);
        if (st != TILE_OK) continue;
        int i = status[0] - 1;
        if (i < 0 || i >= v->entry.nasserts) {
            st = rt_error(TILE_ERR_INTERNAL, "kernel '%s' reported assert %d of %d",
                          v->entry.entry, status[0], v->entry.nasserts);
            continue;
        }
        const rt_assert *a = &v->entry.asserts[i];
        st = rt_error(TILE_ERR_RUNTIME,
                      "%s:%d:%d: runtime error: assertion failed: %s (program %d, %d, %d)",
                      a->file, a->line, a->col, a->message, status[1], status[2], status[3]);
    }
    return st;
}

tile_status tile_sync(tile_context *ctx, void *stream)
{
    rt_clear_error();
    if (!ctx) return rt_error(TILE_ERR_ARG, "tile_sync: context is NULL");
    if (ctx->interpret) return TILE_OK;
    const rt_driver *drv = ctx->drv;
    char e[256];
    CUresult r = drv->cuCtxPushCurrent(ctx->dev.ctx);
    if (r != RT_CUDA_SUCCESS)
        return rt_error(TILE_ERR_RUNTIME, "cuCtxPushCurrent: %s", rt_cuda_error(drv, r, e, sizeof e));
    tile_status st = TILE_OK;
    r = drv->cuStreamSynchronize((CUstream)stream);
    if (r != RT_CUDA_SUCCESS) {
        st = rt_error(TILE_ERR_RUNTIME, "a kernel failed: %s", rt_cuda_error(drv, r, e, sizeof e));
    } else {
        pthread_mutex_lock(&ctx->lock);
        st = collect_asserts(ctx, stream);
        pthread_mutex_unlock(&ctx->lock);
    }
    CUcontext popped;
    drv->cuCtxPopCurrent(&popped);
    return st;
}
