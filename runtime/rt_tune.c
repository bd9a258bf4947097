/* rt_tune.c - measured tuning: tile_tune times the cost model's best
 * candidates on the device and keeps the fastest; tuning records let a
 * later tile_compile find that choice in the disk cache.
 *
 * The model's ranking comes from the scheduler run exhaustively (every
 * candidate costed exactly: compiler/sched_choose.c).  Besides the top
 * feasible candidates, the tuner also times the ones the model rejected
 * for registers alone that it predicts faster than its choice: the
 * register model is a fit, and the tuner's job is to check the model.
 *
 * A candidate becomes k's schedule by recompiling k's tile IR with its
 * `auto` values (the grid clause may read them) and fixing warps and
 * stages for code generation; its text enters the variant key, so every
 * candidate has its own cache entries.
 *
 * A schedule record is DIR/<hex key>.plan holding
 *     "TILEPLAN1 <sha-256 of every source file> <tuned 0|1> <schedule>\n".
 * tile_compile writes the scheduler's choice there and tile_tune the
 * measured best; a later tile_compile of the same top file, kernel,
 * constants, include dirs and target compiles once with that schedule
 * and skips the scheduler's search (its compile-time cost), after
 * checking that the files that compilation read hash as recorded.  It is
 * written to a temporary file and renamed; a record that does not parse,
 * does not compile or whose files changed is ignored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler/sched_choose.h"
#include "rt_internal.h"

#define PLAN_MAGIC "TILEPLAN1 "

/* The plan of k's kernel in u, or NULL when it has no `auto` constant. */
static const sched_plan *plan_of(const tile_kernel *k, const tc_unit *u)
{
    return u && u->kernel ? tc_unit_plan(u, u->kernel->name) : NULL;
}

/* Makes candidate c of plan p k's schedule (c NULL: the scheduler's own
 * choice again): k's tile IR recompiled with c's values, warps and stages
 * fixed for code generation. */
static tile_status apply(tile_kernel *k, const sched_plan *p, const sched_candidate *c)
{
    tc_options o = k->opts;
    o.auto_values = NULL;
    o.nauto_values = 0;
    if (c) {
        fe_auto_value *v = arena_calloc(&k->mem, (size_t)p->nautos + 1, sizeof *v);
        if (!v) return rt_error(TILE_ERR_NOMEM, "out of memory");
        for (int i = 0; i < p->nautos; i++) {
            v[i] = (fe_auto_value){.kernel = k->opts.kernel,
                                   .name = arena_strdup(&k->mem, p->names[i]),
                                   .value = c->values[i]};
            if (!v[i].name) return rt_error(TILE_ERR_NOMEM, "out of memory");
        }
        o.auto_values = v;
        o.nauto_values = p->nautos;
    }
    tc_unit *u = NULL;
    tile_status st = tc_compile(&u, k->path, k->text, &o);
    if (st != TILE_OK) {
        if (u) rt_error_diags(st, &u->diags);
        else rt_error(st, "recompiling '%s': %s", k->opts.kernel, tile_status_name(st));
        tc_unit_free(u);
        return st;
    }
    tc_unit_free(k->unit);
    k->unit = u;
    k->fn = u->kernel;
    /* The divisibility facts name the new unit's dims and its block sizes. */
    k->ndiv = tc_div_candidates(k->fn, k->div, TC_MAX_DIV_CANDIDATES);
    k->opts.auto_values = o.auto_values;
    k->opts.nauto_values = o.nauto_values;
    k->forced = c != NULL;
    k->num_warps = c ? c->num_warps : 0;
    k->num_stages = c ? c->num_stages : 0;
    k->schedule[0] = 0;
    if (c) tc_candidate_text(p, c, k->schedule, sizeof k->schedule);
    k->nused = 0;   /* the variants of the old schedule stay in ctx's cache */
    return TILE_OK;
}

/* ---- records --------------------------------------------------------------------------------- */

/* The record's key, from what is known before compiling: the top source
 * file, the kernel, constants and include dirs, and the target the
 * scheduler plans for.  Imports are checked after the fast compile (the
 * record holds the hash of every file that compilation read). */
bool rt_source_key(const tile_kernel *k, const char *tag, uint8_t key[RT_KEY_SIZE])
{
    const tile_context *ctx = k->ctx;
    arena m;
    arena_init(&m);
    const char *text = k->text;
    size_t len = 0;
    if (!text) {
        FILE *f = fopen(k->path, "rb");
        char *t = NULL;
        if (f && fseek(f, 0, SEEK_END) == 0) {
            long n = ftell(f);
            if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (t = arena_alloc(&m, (size_t)n + 1)) &&
                fread(t, 1, (size_t)n, f) == (size_t)n)
                t[n] = 0, len = (size_t)n;
            else
                t = NULL;
        }
        if (f) fclose(f);
        text = t;
    } else {
        len = strlen(text);
    }
    char switches[256];
    tc_codegen_switches(switches, sizeof switches);
    char *what = text ? arena_printf(&m, "%s|O%d|%d SMs|%d smem|%s", k->opts.kernel,
                                     k->opts.opt_level, ctx->have_target ? ctx->target.sm_count : 0,
                                     ctx->have_target ? ctx->target.smem_per_block : 0, switches)
                      : NULL;
    for (int i = 0; what && i < k->opts.ndefines; i++) what = arena_printf(&m, "%s|-D%s", what, k->opts.defines[i]);
    for (int i = 0; what && i < k->opts.ninclude; i++) what = arena_printf(&m, "%s|-I%s", what, k->opts.include_dirs[i]);
    bool ok = what != NULL;
    if (ok) {
        src_file top = {.path = k->path, .text = text, .len = len};
        rt_key_parts parts = {.files = &top, .kernel = what, .arch = ctx->arch,
                              .num_warps = ctx->num_warps, .schedule = tag};
        rt_cache_key(&parts, key);
    }
    arena_free(&m);
    return ok;
}

static bool record_path(const tile_kernel *k, char *buf, size_t size)
{
    uint8_t key[RT_KEY_SIZE];
    char hex[2 * RT_KEY_SIZE + 1];
    if (!k->ctx->cache_dir || !rt_source_key(k, "plan", key)) return false;
    rt_key_hex(key, hex);
    return snprintf(buf, size, "%s/%s.plan", k->ctx->cache_dir, hex) < (int)size;
}

void rt_plan_line(const tile_kernel *k, char *line, size_t size)
{
    char path[4096];
    line[0] = 0;
    FILE *f = record_path(k, path, sizeof path) ? fopen(path, "r") : NULL;
    if (!f) return;
    if (!fgets(line, (int)size, f)) line[0] = 0;
    fclose(f);
}

/* Hex SHA-256 of every source file u read. */
static void files_hash(const tc_unit *u, char hex[2 * RT_KEY_SIZE + 1])
{
    rt_key_parts parts = {.files = u->diags.files, .kernel = "", .arch = "", .schedule = "files"};
    uint8_t key[RT_KEY_SIZE];
    rt_cache_key(&parts, key);
    rt_key_hex(key, hex);
}

void rt_plan_store(const tile_kernel *k, const char *schedule, bool tuned)
{
    char path[4096], tmp[4200], hex[2 * RT_KEY_SIZE + 1];
    if (!schedule || !*schedule || !record_path(k, path, sizeof path)) return;
    files_hash(k->unit, hex);
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = rt_make_dirs(k->ctx->cache_dir) == 0 ? fopen(tmp, "w") : NULL;
    if (!f) return;   /* the disk cache only saves time */
    bool ok = fprintf(f, "%s%s %d %s\n", PLAN_MAGIC, hex, tuned ? 1 : 0, schedule) > 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path) != 0) remove(tmp);
}

/* "BM=128,BN=64 w8 s2" into names/values, warps and stages. */
static int parse_schedule(arena *m, const char *text, const char **names, int64_t *values,
                          int *warps, int *stages)
{
    const char *sp = strrchr(text, ' '), *sp2 = NULL;
    for (const char *p = text; sp && p < sp; p++)
        if (*p == ' ') sp2 = p;
    if (!sp2 || sscanf(sp2, " w%d s%d", warps, stages) != 2 || *warps < 1 || *warps > 32 ||
        *stages < 1 || *stages > 8)
        return -1;
    int n = 0;
    for (const char *p = text; p < sp2 && n < SCHED_MAX_AUTOS;) {
        const char *eq = memchr(p, '=', (size_t)(sp2 - p));
        if (!eq || eq == p) return -1;
        names[n] = arena_strndup(m, p, (size_t)(eq - p));
        char *end;
        long long v = strtoll(eq + 1, &end, 10);
        if (!names[n] || end == eq + 1 || v < 1 || (*end != ',' && end != sp2)) return -1;
        values[n++] = v;
        p = *end == ',' ? end + 1 : sp2;
    }
    return n;
}

/* The `auto` values of schedule text `sched` into *v (in k->mem): the
 * count, or <= 0 when the text does not parse. */
static int schedule_values(tile_kernel *k, const char *sched, fe_auto_value **v, int *warps,
                           int *stages)
{
    const char *names[SCHED_MAX_AUTOS];
    int64_t values[SCHED_MAX_AUTOS];
    int nv = parse_schedule(&k->mem, sched, names, values, warps, stages);
    *v = nv > 0 ? arena_calloc(&k->mem, (size_t)nv, sizeof **v) : NULL;
    if (!*v) return 0;
    for (int i = 0; i < nv; i++)
        (*v)[i] = (fe_auto_value){.kernel = k->opts.kernel, .name = names[i], .value = values[i]};
    return nv;
}

/* Fixes k's schedule to `sched` (its auto values, warps and stages), as a
 * record does; k's IR is left as it is (compiled with that schedule). */
static void force(tile_kernel *k, fe_auto_value *v, int nv, const char *sched, bool tuned,
                  int warps, int stages)
{
    k->opts.auto_values = v;
    k->opts.nauto_values = nv;
    k->forced = true;
    k->tuned = tuned;
    /* A context that fixes the warps keeps them, as without a record. */
    k->num_warps = k->ctx->num_warps && !k->tuned ? k->ctx->num_warps : warps;
    k->num_stages = stages;
    snprintf(k->schedule, sizeof k->schedule, "%s", sched);
}

bool rt_plan_force(tile_kernel *k, const char *sched)
{
    fe_auto_value *v;
    int warps, stages, nv = schedule_values(k, sched, &v, &warps, &stages);
    if (nv <= 0 || strlen(sched) >= sizeof k->schedule) return false;
    force(k, v, nv, sched, false, warps, stages);
    return true;
}

bool rt_plan_load(tile_kernel *k)
{
    char path[4096], line[256], hex[2 * RT_KEY_SIZE + 1], want[2 * RT_KEY_SIZE + 1], sched[96];
    int tuned;
    if (!record_path(k, path, sizeof path)) return false;
    FILE *f = fopen(path, "r");
    if (!f) return false;
    bool got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    size_t n = strlen(PLAN_MAGIC);
    if (!got || strncmp(line, PLAN_MAGIC, n) != 0 ||
        sscanf(line + n, "%64s %d %95[^\n]", want, &tuned, sched) != 3)
        return false;
    fe_auto_value *v;
    int warps, stages, nv = schedule_values(k, sched, &v, &warps, &stages);
    if (nv <= 0) return false;
    tc_options o = k->opts;
    o.auto_values = v;
    o.nauto_values = nv;
    tc_unit *u = NULL;
    if (tc_compile(&u, k->path, k->text, &o) != TILE_OK) {
        tc_unit_free(u);   /* stale (the source changed under the same top file): compile afresh */
        return false;
    }
    files_hash(u, hex);
    if (strcmp(hex, want) != 0) {   /* an import changed */
        tc_unit_free(u);
        return false;
    }
    k->unit = u;
    k->fn = u->kernel;
    force(k, v, nv, sched, tuned != 0, warps, stages);
    return true;
}

/* ---- tile_tune ------------------------------------------------------------------------------- */

typedef struct pick {
    const sched_candidate *c;
    bool rejected;
} pick;

static int by_time(const void *a, const void *b)
{
    const pick *x = a, *y = b;
    double s = x->c->cost.time_s, t = y->c->cost.time_s;
    return s < t ? -1 : s > t ? 1 : (x->c > y->c) - (x->c < y->c);
}

/* The model's choice first, then the feasible candidates by predicted
 * time, then (up to half of `top`) those over the register model that it
 * predicts faster than its choice. */
static int choose(const sched_plan *p, int top, pick *out)
{
    pick *all = calloc((size_t)p->ncand + 1, sizeof *all);
    if (!all) return -1;
    int n = 0, m = 0;
    out[m++] = (pick){&p->cand[p->best], p->cand[p->best].over_regs};
    for (int i = 0; i < p->ncand; i++)
        if (i != p->best && p->cand[i].compiled && !p->cand[i].reject)
            all[n++] = (pick){&p->cand[i], false};
    qsort(all, (size_t)n, sizeof *all, by_time);
    for (int i = 0; i < n && m < top - top / 4; i++) out[m++] = all[i];
    n = 0;
    for (int i = 0; i < p->ncand; i++)
        if (i != p->best && p->cand[i].compiled && p->cand[i].cost.regs_only &&
            p->cand[i].cost.time_s < p->cand[p->best].cost.time_s)
            all[n++] = (pick){&p->cand[i], true};
    qsort(all, (size_t)n, sizeof *all, by_time);
    for (int i = 0; i < n && m < top; i++) out[m++] = all[i];
    free(all);
    return m;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Records ev[0..2n) around n launches of k on stream: ev[2i] before
 * launch i, ev[2i + 1] after it.  The context is current. */
static tile_status record_launches(tile_kernel *k, const tile_arg *args, int nargs, void *stream,
                                   CUevent *ev, int n)
{
    const rt_driver *drv = k->ctx->drv;
    char e[256];
    for (int i = 0; i < n; i++) {
        CUresult r = drv->cuEventRecord(ev[2 * i], (CUstream)stream);
        if (r != RT_CUDA_SUCCESS)
            return rt_error(TILE_ERR_RUNTIME, "cuEventRecord: %s", rt_cuda_error(drv, r, e, sizeof e));
        tile_status st = tile_launch(k, args, nargs, stream);
        if (st != TILE_OK) return st;
        r = drv->cuEventRecord(ev[2 * i + 1], (CUstream)stream);
        if (r != RT_CUDA_SUCCESS)
            return rt_error(TILE_ERR_RUNTIME, "cuEventRecord: %s", rt_cuda_error(drv, r, e, sizeof e));
    }
    return TILE_OK;
}

/* Median microseconds per launch of ev's n launches into *us. */
static tile_status median_launch(const rt_driver *drv, CUevent *ev, int n, double *us)
{
    char e[256];
    double *t = calloc((size_t)n, sizeof *t);
    if (!t) return rt_error(TILE_ERR_NOMEM, "out of memory");
    CUresult r = drv->cuEventSynchronize(ev[2 * n - 1]);
    for (int i = 0; i < n && r == RT_CUDA_SUCCESS; i++) {
        float ms = 0;
        r = drv->cuEventElapsedTime(&ms, ev[2 * i], ev[2 * i + 1]);
        t[i] = ms * 1e3;
    }
    if (r == RT_CUDA_SUCCESS) {
        qsort(t, (size_t)n, sizeof *t, by_value);
        *us = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
    }
    free(t);
    return r == RT_CUDA_SUCCESS ? TILE_OK
                                : rt_error(TILE_ERR_RUNTIME, "timing with CUDA events: %s",
                                           rt_cuda_error(drv, r, e, sizeof e));
}

/* Median microseconds per launch of k's current schedule, or < 0: after
 * `warmup` launches (compilation, caches), each of `iters` launches timed
 * on the device between two CUDA events (no host time in it), then a
 * tile_sync for the kernels' errors. */
static double time_launches(tile_kernel *k, const tile_arg *args, int nargs, void *stream,
                            int warmup, int iters)
{
    for (int i = 0; i < warmup; i++)
        if (tile_launch(k, args, nargs, stream) != TILE_OK) return -1;
    if (tile_sync(k->ctx, stream) != TILE_OK) return -1;
    const rt_driver *drv = k->ctx->drv;
    char e[256];
    CUevent *ev = calloc((size_t)iters * 2, sizeof *ev);
    if (!ev) {
        rt_error(TILE_ERR_NOMEM, "out of memory");
        return -1;
    }
    CUresult r = drv->cuCtxPushCurrent(k->ctx->dev.ctx);
    if (r != RT_CUDA_SUCCESS) {
        free(ev);
        rt_error(TILE_ERR_RUNTIME, "cuCtxPushCurrent: %s", rt_cuda_error(drv, r, e, sizeof e));
        return -1;
    }
    tile_status st = TILE_OK;
    int made = 0;
    for (; made < 2 * iters && st == TILE_OK; made++)
        if ((r = drv->cuEventCreate(&ev[made], 0)) != RT_CUDA_SUCCESS)
            st = rt_error(TILE_ERR_RUNTIME, "cuEventCreate: %s", rt_cuda_error(drv, r, e, sizeof e));
    if (st != TILE_OK) made--;   /* the failed one holds nothing */
    double us = -1;
    if (st == TILE_OK) st = record_launches(k, args, nargs, stream, ev, iters);
    if (st == TILE_OK) st = median_launch(drv, ev, iters, &us);
    for (int i = 0; i < made; i++) drv->cuEventDestroy(ev[i]);
    free(ev);
    CUcontext popped;
    drv->cuCtxPopCurrent(&popped);
    if (st != TILE_OK || tile_sync(k->ctx, stream) != TILE_OK) return -1;
    return us;
}

static void report(const tile_tune_options *o, const tile_tune_candidate *c, int i, int n)
{
    if (!o || !o->progress) return;
    char line[256];
    if (c->measured_us < 0)
        snprintf(line, sizeof line, "[%d/%d] %-24s predicted %10.1f us   failed: %s", i + 1, n,
                 c->schedule, c->predicted_us, tile_last_error());
    else
        snprintf(line, sizeof line, "[%d/%d] %-24s predicted %10.1f us   measured %10.1f us%s%s",
                 i + 1, n, c->schedule, c->predicted_us, c->measured_us,
                 c->model_choice ? "   (the model's choice)" : "",
                 c->model_rejected ? "   (over the register model)" : "");
    o->progress(o->user, line);
}

static tile_status check_tune(tile_kernel *k, const tile_tune_options *o, tile_tune_result *out)
{
    if (!k || !out) return rt_error(TILE_ERR_ARG, "tile_tune: NULL argument");
    if (k->ctx->interpret)
        return rt_error(TILE_ERR_ARG, "tile_tune: timing needs a GPU (the context interprets)");
    if (o && (o->top < 0 || o->warmup < 0 || o->iters < 0))
        return rt_error(TILE_ERR_ARG, "tile_tune: negative top, warmup or iters");
    return TILE_OK;
}

tile_status tile_tune(tile_kernel *k, const tile_arg *args, int nargs, void *stream,
                      const tile_tune_options *o, tile_tune_result *out)
{
    rt_clear_error();
    tile_status st = check_tune(k, o, out);
    if (st != TILE_OK) return st;
    memset(out, 0, sizeof *out);
    int top = o && o->top ? o->top : 8, warmup = o && o->warmup ? o->warmup : 2,
        iters = o && o->iters ? o->iters : 10;
    if (top > TILE_TUNE_MAX) top = TILE_TUNE_MAX;
    /* The plan again, every candidate costed exactly. */
    tc_options po = k->opts;
    po.auto_values = NULL;
    po.nauto_values = 0;
    po.sched_exhaustive = true;
    tc_unit *pu = NULL;
    st = tc_compile(&pu, k->path, k->text, &po);
    const sched_plan *p = st == TILE_OK ? plan_of(k, pu) : NULL;
    if (st != TILE_OK) {
        if (pu) rt_error_diags(st, &pu->diags);
    } else if (!p || p->best < 0) {
        st = rt_error(TILE_ERR_ARG, "tile_tune: kernel '%s' has no `auto` constants to tune",
                      k->opts.kernel);
    }
    pick picks[TILE_TUNE_MAX];
    int n = st == TILE_OK ? choose(p, top, picks) : 0;
    if (n < 0) st = rt_error(TILE_ERR_NOMEM, "out of memory");
    int best = -1;
    for (int i = 0; st == TILE_OK && i < n; i++) {
        tile_tune_candidate *c = &out->cand[out->n++];
        tc_candidate_text(p, picks[i].c, c->schedule, sizeof c->schedule);
        c->predicted_us = picks[i].c->cost.time_s * 1e6;
        c->model_choice = i == 0;
        c->model_rejected = picks[i].rejected;
        st = apply(k, p, picks[i].c);
        c->measured_us = st == TILE_OK ? time_launches(k, args, nargs, stream, warmup, iters) : -1;
        report(o, c, i, n);
        if (st == TILE_ERR_NOMEM) break;
        st = TILE_OK;   /* a candidate that fails to compile or run is reported, not fatal */
        if (c->measured_us >= 0 && (best < 0 || c->measured_us < out->cand[best].measured_us))
            best = out->n - 1;
    }
    if (st == TILE_OK && best < 0)
        st = rt_error(TILE_ERR_RUNTIME, "tile_tune: no candidate of '%s' ran", k->opts.kernel);
    if (st == TILE_OK) {
        out->best = best;
        out->model = 0;
        out->model_over_best = out->cand[0].measured_us >= 0
                                   ? out->cand[0].measured_us / out->cand[best].measured_us : 0;
        st = apply(k, p, picks[best].c);
        if (st == TILE_OK) {
            k->tuned = true;
            rt_plan_store(k, out->cand[best].schedule, true);
            rt_record_save(k);   /* the kernel record follows the tuned schedule */
        }
    } else if (p && k->forced && !k->tuned) {
        (void)apply(k, p, NULL);   /* back to the model's choice; the error stands */
    }
    tc_unit_free(pu);
    return st;
}

tile_status tile_kernel_schedule(const tile_kernel *k, char *buf, size_t size, int *tuned)
{
    rt_clear_error();
    if (!k || !buf || !size) return rt_error(TILE_ERR_ARG, "tile_kernel_schedule: NULL argument");
    if (k->forced) snprintf(buf, size, "%s", k->schedule);
    else if (k->unit) tc_schedule_text(k->unit, buf, size);
    else snprintf(buf, size, "%s", k->sched_text);
    if (tuned) *tuned = k->tuned;
    return TILE_OK;
}
