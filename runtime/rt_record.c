/* rt_record.c - kernel records: everything launching a kernel needs, so a
 * warm tile_compile neither parses, lowers nor schedules (issue 7: a load
 * from the disk cache in milliseconds, not a front-end run).
 *
 * A record is DIR/<hex key>.tkr in the entries' framing (rt_cache.h: magic
 * "TILEKR01", length, key, SHA-256 of the payload), keyed like a schedule
 * record (rt_source_key: top file, kernel, constants, include dirs,
 * options, arch, target, compiler version).  Its payload:
 *
 *   str the schedule record's line it was built under (rt_plan_line);
 *   str kernel name; u32 forced, tuned, num_warps, num_stages;
 *   str schedule (forced), str scheduler's choice;
 *   u32 n; n x (str name, u64 value): the fixed `auto` values;
 *   u32 n; n x (str path, u32 inline, str text | str SHA-256): every source
 *       the compilation read, in its order (the variant keys hash them);
 *       files read from disk are hashed and checked at load, the others
 *       (the constants' pseudo-file, text given by the caller) kept whole;
 *   str signature: the kernel's tile IR as ir_print_func writes it with the
 *       body reduced to `return` (parameters, constants, the grid block);
 *   u32 nparams; per parameter: u32 rank, rank x str dim name, loc;
 *   loc of the kernel (loc = u32 file index + 1 or 0, u32 line, u32 col);
 *   u32 n; n x (str dim, u64 divisor): the divisibility candidates.
 *
 * The printed IR loses what launch checks need from the source: a static
 * dim's name and the locations their messages point at; the record keeps
 * them beside it.  The cold path builds the record and applies it too, so
 * both paths launch through the same signature. */
#define _GNU_SOURCE /* open_memstream */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/timing.h"
#include "rt_internal.h"

static const char MAGIC[8] = {'T', 'I', 'L', 'E', 'K', 'R', '0', '1'};

/* ---- building ---------------------------------------------------------------------------- */

/* Whether path holds exactly text on disk (else the record keeps the text). */
static bool on_disk(const src_file *f)
{
    FILE *in = fopen(f->path, "rb");
    if (!in) return false;
    bool same = true;
    char buf[8192];
    size_t pos = 0, n;
    while (same && (n = fread(buf, 1, sizeof buf, in)) > 0) {
        same = pos + n <= f->len && memcmp(buf, f->text + pos, n) == 0;
        pos += n;
    }
    fclose(in);
    return same && pos == f->len;
}

/* The kernel printed with its body reduced to `return`: what the grid and
 * the launch checks read, without the rest of the kernel. */
static char *signature_text(const ir_func *fn)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f) return NULL;
    ir_print_func(f, fn);
    fclose(f);
    char *body = text ? strstr(text, "\nbody:\n") : NULL;
    if (!body) {
        free(text);
        return NULL;
    }
    strcpy(body, "\nbody:\n  return\n}\n");
    return text;
}

static int file_index(const src_file *files, const char *path)
{
    int i = 1;
    for (const src_file *f = files; path && f; f = f->next) {
        if (rt_file_repeated(files, f)) continue;
        if (f->path == path || strcmp(f->path, path) == 0) return i;
        i++;
    }
    return 0;
}

static void put_s(rt_wbuf *b, const char *s) { rt_put_str(b, s ? s : "", s ? strlen(s) : 0); }

static void put_loc(rt_wbuf *b, const src_file *files, src_loc loc)
{
    rt_put_u32(b, (uint32_t)file_index(files, loc.file));
    rt_put_u32(b, (uint32_t)loc.line);
    rt_put_u32(b, (uint32_t)loc.col);
}

static void put_files(rt_wbuf *b, const src_file *files)
{
    uint32_t n = 0;
    for (const src_file *f = files; f; f = f->next) n += !rt_file_repeated(files, f);
    rt_put_u32(b, n);
    for (const src_file *f = files; f; f = f->next) {
        if (rt_file_repeated(files, f)) continue;
        put_s(b, f->path);
        bool disk = on_disk(f);
        rt_put_u32(b, !disk);
        if (disk) {
            uint8_t sum[RT_KEY_SIZE];
            rt_sha256(f->text, f->len, sum);
            rt_put_str(b, (const char *)sum, sizeof sum);
        } else {
            rt_put_str(b, f->text, f->len);
        }
    }
}

bool rt_record_build(const tile_kernel *k, const tc_unit *u, rt_wbuf *b)
{
    const ir_func *fn = u->kernel;
    char *sig = fn ? signature_text(fn) : NULL;
    if (!sig) return false;
    char sched[96], plan[256];
    if (u == k->unit && *k->sched_text) snprintf(sched, sizeof sched, "%s", k->sched_text);
    else tc_schedule_text(u, sched, sizeof sched);
    rt_plan_line(k, plan, sizeof plan);
    put_s(b, plan);
    put_s(b, fn->name);
    rt_put_u32(b, k->forced);
    rt_put_u32(b, k->tuned);
    rt_put_u32(b, (uint32_t)k->num_warps);
    rt_put_u32(b, (uint32_t)k->num_stages);
    put_s(b, k->forced ? k->schedule : "");
    put_s(b, sched);
    rt_put_u32(b, (uint32_t)k->opts.nauto_values);
    for (int i = 0; i < k->opts.nauto_values; i++) {
        put_s(b, k->opts.auto_values[i].name);
        rt_put_u64(b, (uint64_t)k->opts.auto_values[i].value);
    }
    put_files(b, u->diags.files);
    put_s(b, sig);
    free(sig);
    rt_put_u32(b, (uint32_t)fn->nparams);
    for (int i = 0; i < fn->nparams; i++) {
        const ir_param *p = &fn->params[i];
        int rank = p->type.kind == IR_TY_TENSOR ? p->type.rank : 0;
        rt_put_u32(b, (uint32_t)rank);
        for (int d = 0; d < rank; d++) put_s(b, p->dims[d].name);
        put_loc(b, u->diags.files, p->loc);
    }
    put_loc(b, u->diags.files, fn->loc);
    rt_put_u32(b, (uint32_t)k->ndiv);
    for (int j = 0; j < k->ndiv; j++) {
        put_s(b, k->div[j].dim);
        rt_put_u64(b, (uint64_t)k->div[j].divisor);
    }
    return !b->failed;
}

/* ---- reading ----------------------------------------------------------------------------- */

/* A string of the payload copied into m (NULL on a short or bad payload). */
static char *get_s(rt_rbuf *b, arena *m, size_t *len)
{
    uint32_t n = rt_get_u32(b);
    if (b->failed || b->len - b->pos < n) {
        b->failed = true;
        return NULL;
    }
    char *s = arena_strndup(m, (const char *)b->p + b->pos, n);
    b->pos += n;
    if (!s) b->failed = true;
    if (len) *len = n;
    return s;
}

/* A count that the rest of the payload could hold at min_bytes each. */
static uint32_t get_count(rt_rbuf *b, size_t min_bytes)
{
    uint32_t n = rt_get_u32(b);
    if (!b->failed && n > (b->len - b->pos) / min_bytes) b->failed = true;
    return b->failed ? 0 : n;
}

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = NULL;
    size_t size = 0, n;
    char buf[8192];
    FILE *out = open_memstream(&text, &size);
    while (out && (n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, out);
    bool ok = out && !ferror(f);
    fclose(f);
    if (out) fclose(out);
    if (!ok) {
        free(text);
        return NULL;
    }
    *len = size;
    return text;
}

/* The sources, each on disk hashed and compared: a changed import (or any
 * file the compilation read) makes the record stale. */
static src_file *get_files(rt_rbuf *b, arena *m, int *count)
{
    uint32_t n = get_count(b, 12);
    src_file *first = NULL, **tail = &first;
    for (uint32_t i = 0; i < n && !b->failed; i++) {
        src_file *f = arena_calloc(m, 1, sizeof *f);
        if (!f) return NULL;
        f->path = get_s(b, m, NULL);
        uint32_t inline_text = rt_get_u32(b);
        size_t len = 0;
        char *data = get_s(b, m, &len);
        if (b->failed) return NULL;
        if (inline_text) {
            f->text = data, f->len = len;
        } else {
            uint8_t sum[RT_KEY_SIZE];
            char *text = len == RT_KEY_SIZE ? read_text(f->path, &f->len) : NULL;
            if (text) rt_sha256(text, f->len, sum);
            bool same = text && memcmp(sum, data, RT_KEY_SIZE) == 0;
            f->text = same ? arena_strndup(m, text, f->len) : NULL;
            free(text);
            if (!f->text) return NULL;
        }
        *tail = f;
        tail = &f->next;
    }
    *count = (int)n;
    return b->failed ? NULL : first;
}

static src_loc get_loc(rt_rbuf *b, const src_file *files)
{
    uint32_t idx = rt_get_u32(b);
    src_loc loc = {.line = (int)rt_get_u32(b), .col = (int)rt_get_u32(b)};
    const src_file *f = files;
    for (uint32_t i = 1; f && i < idx; i++) f = f->next;
    if (idx > 0 && f) loc.file = f->path;
    else if (idx > 0) b->failed = true;
    return loc;
}

/* The signature's IR, parsed into a module of its own in m. */
static ir_func *parse_signature(arena *m, const char *text, const char *name)
{
    diag_ctx *d = arena_calloc(m, 1, sizeof *d);
    if (!d) return NULL;
    diag_init(d, m);
    ir_module *mod = ir_module_new(m, d);
    if (!mod || ir_parse_module(mod, "<kernel record>", text, strlen(text)) != TILE_OK) return NULL;
    ir_func *fn = ir_module_find(mod, name);
    return fn && fn->kind == IR_FUNC_KERNEL ? fn : NULL;
}

/* Restores what the printed IR lost: static dims' names, locations. */
static bool get_params(rt_rbuf *b, arena *m, ir_func *fn, const src_file *files)
{
    if (get_count(b, 16) != (uint32_t)fn->nparams) return false;
    for (int i = 0; i < fn->nparams && !b->failed; i++) {
        ir_param *p = &fn->params[i];
        uint32_t rank = rt_get_u32(b);
        int want = p->type.kind == IR_TY_TENSOR ? p->type.rank : 0;
        if (rank != (uint32_t)want) return false;
        for (int d = 0; d < want; d++) {
            char *name = get_s(b, m, NULL);
            p->dims[d].name = name && *name ? name : NULL;
        }
        p->loc = get_loc(b, files);
    }
    fn->loc = get_loc(b, files);
    return !b->failed;
}

typedef struct record {
    char *name, *schedule, *sched_text;
    uint32_t forced, tuned, num_warps, num_stages;
    fe_auto_value *autos;
    int nautos;
} record;

static bool get_schedule(rt_rbuf *b, arena *m, const tile_kernel *k, record *r)
{
    char plan[256];
    rt_plan_line(k, plan, sizeof plan);
    const char *recorded = get_s(b, m, NULL);
    if (!recorded || strcmp(recorded, plan) != 0) return false;   /* rescheduled since */
    const char *kernel = k->opts.kernel;
    r->name = get_s(b, m, NULL);
    r->forced = rt_get_u32(b);
    r->tuned = rt_get_u32(b);
    r->num_warps = rt_get_u32(b);
    r->num_stages = rt_get_u32(b);
    r->schedule = get_s(b, m, NULL);
    r->sched_text = get_s(b, m, NULL);
    r->nautos = (int)get_count(b, 12);
    r->autos = arena_calloc(m, (size_t)r->nautos + 1, sizeof *r->autos);
    if (!r->autos) return false;
    for (int i = 0; i < r->nautos && !b->failed; i++) {
        r->autos[i].kernel = kernel;
        r->autos[i].name = get_s(b, m, NULL);
        r->autos[i].value = (int64_t)rt_get_u64(b);
    }
    return !b->failed && r->num_warps <= 32 && r->num_stages <= 8 &&
           strlen(r->schedule) < sizeof ((tile_kernel *)0)->schedule &&
           strlen(r->sched_text) < sizeof ((tile_kernel *)0)->sched_text;
}

static int get_div(rt_rbuf *b, arena *m, tc_div_candidate *div)
{
    uint32_t n = get_count(b, 12);
    if (n > TC_MAX_DIV_CANDIDATES) return -1;
    for (uint32_t j = 0; j < n && !b->failed; j++) {
        div[j].dim = get_s(b, m, NULL);
        div[j].divisor = (int64_t)rt_get_u64(b);
        if (div[j].divisor < 1) return -1;
    }
    return b->failed ? -1 : (int)n;
}

bool rt_record_apply(tile_kernel *k, const uint8_t *payload, size_t len)
{
    rt_rbuf b = {.p = payload, .len = len};
    arena *m = &k->mem;
    record r = {0};
    int nfiles = 0;
    tc_div_candidate div[TC_MAX_DIV_CANDIDATES];
    if (!get_schedule(&b, m, k, &r)) return false;
    src_file *files = get_files(&b, m, &nfiles);
    char *sig = files ? get_s(&b, m, NULL) : NULL;
    ir_func *fn = sig ? parse_signature(m, sig, r.name) : NULL;
    if (!fn || !get_params(&b, m, fn, files)) return false;
    int ndiv = get_div(&b, m, div);
    if (ndiv < 0 || b.pos != b.len) return false;
    k->fn = fn;
    k->files = files;
    memcpy(k->div, div, (size_t)ndiv * sizeof *div);
    k->ndiv = ndiv;
    k->forced = r.forced != 0;
    k->tuned = r.tuned != 0;
    k->num_warps = (int)r.num_warps;
    k->num_stages = (int)r.num_stages;
    snprintf(k->schedule, sizeof k->schedule, "%s", r.schedule);
    snprintf(k->sched_text, sizeof k->sched_text, "%s", r.sched_text);
    k->opts.auto_values = r.nautos ? r.autos : NULL;
    k->opts.nauto_values = r.nautos;
    return true;
}

/* ---- the disk cache ------------------------------------------------------------------------ */

bool rt_record_load(tile_kernel *k)
{
    uint8_t key[RT_KEY_SIZE];
    if (!k->ctx->cache_dir) return false;
    tt_begin(TT_CACHE_IO);
    bool ok = rt_source_key(k, "kernel", key);
    const uint8_t *payload = NULL;
    size_t len = 0;
    uint8_t *data = ok ? rt_blob_load(k->ctx->cache_dir, key, ".tkr", MAGIC, &payload, &len) : NULL;
    ok = data && rt_record_apply(k, payload, len);
    free(data);
    tt_end(TT_CACHE_IO);
    return ok;
}

void rt_record_store(const tile_kernel *k, const uint8_t *payload, size_t len)
{
    uint8_t key[RT_KEY_SIZE];
    char err[4600];
    if (k->ctx->cache_dir && rt_source_key(k, "kernel", key))
        (void)rt_blob_store(k->ctx->cache_dir, key, ".tkr", MAGIC, payload, len, err, sizeof err);
}

void rt_record_save(const tile_kernel *k)
{
    rt_wbuf b = {0};
    if (k->unit && rt_record_build(k, k->unit, &b)) rt_record_store(k, b.p, b.len);
    free(b.p);
}
