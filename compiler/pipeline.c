/* pipeline.c - the one compilation pipeline (see pipeline.h).
 *
 *   source --fe_compile--> tile IR --ir_optimize--> optimised tile IR
 *   source --fe_check--> tile IR, verified (tc_check: `tilec check`)
 *
 * The scheduler (SRAM-capacity model, layouts) and code generation slot in
 * after ir_optimize; everything that compiles a .tile file goes through
 * tc_compile so tilec, the runtime and the tests see identical IR. */
#include "pipeline.h"

#include <stdlib.h>
#include <string.h>

#include "sched_choose.h"
#include "support/timing.h"

/* The front end's options from o: "NAME=VALUE" defines split in the unit's
 * arena (a define without a name or '=' is an error). */
static tile_status front_end_options(tc_unit *u, const tc_options *o, fe_options *fo)
{
    fe_define *defs = NULL;
    if (o->ndefines > 0) {
        defs = arena_calloc(&u->mem, (size_t)o->ndefines, sizeof *defs);
        if (!defs) return TILE_ERR_NOMEM;
    }
    for (int i = 0; i < o->ndefines; i++) {
        const char *eq = strchr(o->defines[i], '=');
        if (!eq || eq == o->defines[i]) {
            diag_error(&u->diags, (src_loc){0}, "bad define '%s': expected NAME=VALUE",
                       o->defines[i]);
            return TILE_ERR_ARG;
        }
        defs[i].name = arena_strndup(&u->mem, o->defines[i], (size_t)(eq - o->defines[i]));
        if (!defs[i].name) return TILE_ERR_NOMEM;
        defs[i].value = eq + 1;
    }
    *fo = (fe_options){
        .include_dirs = o->include_dirs, .ninclude = o->ninclude,
        .defines = defs, .ndefines = o->ndefines, .strict_defines = true,
        .parse_cache = o->parse_cache,
    };
    return TILE_OK;
}

/* Debug builds (CI's sanitizer run among them) verify after every pass. */
#ifdef NDEBUG
static const bool verify_by_default = false;
#else
static const bool verify_by_default = true;
#endif

const sched_plan *tc_unit_plan(const tc_unit *u, const char *name)
{
    for (int i = 0; u && name && i < u->plans.len; i++) {
        const sched_plan *p = u->plans.items[i];
        if (strcmp(p->kernel, name) == 0) return p;
    }
    return NULL;
}

void tc_candidate_text(const sched_plan *p, const sched_candidate *c, char *buf, size_t size)
{
    if (size) buf[0] = 0;
    size_t n = 0;
    for (int i = 0; i < p->nautos && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s=%lld", i ? "," : "", p->names[i],
                              (long long)c->values[i]);
    if (n < size) snprintf(buf + n, size - n, " w%d s%d", c->num_warps, c->num_stages);
}

void tc_schedule_text(const tc_unit *u, char *buf, size_t size)
{
    const sched_plan *p = u && u->kernel ? tc_unit_plan(u, u->kernel->name) : NULL;
    if (size) buf[0] = 0;
    if (p && p->best >= 0) tc_candidate_text(p, &p->cand[p->best], buf, size);
}

/* The front end reported `auto` constants without values: the scheduler
 * chooses them per kernel (sched_choose.c) and the module is lowered again
 * with its choices, in a fresh module (what the first pass said is
 * dropped, so no warning is repeated). */
static tile_status schedule_autos(tc_unit *u, const char *path, const char *text,
                                  const tc_options *o, const ptr_vec *pending, fe_options *fo,
                                  diag *mark)
{
    const ir_target *t = o->target ? o->target : ir_target_find("sm_90");
    fe_auto_value *vals = arena_calloc(&u->mem, (size_t)pending->len, sizeof *vals);
    const fe_auto_const **group = arena_calloc(&u->mem, (size_t)pending->len, sizeof *group);
    if (!vals || !group) return TILE_ERR_NOMEM;
    int nvals = 0;
    for (int i = 0; i < pending->len; i++) {
        const fe_auto_const *a = pending->items[i];
        if (tc_unit_plan(u, a->kernel)) continue;
        int n = 0;
        for (int j = i; j < pending->len; j++) {
            const fe_auto_const *b = pending->items[j];
            if (strcmp(b->kernel, a->kernel) == 0) group[n++] = b;
        }
        sched_plan *p = arena_calloc(&u->mem, 1, sizeof *p);
        if (!p || ptr_vec_push(&u->mem, &u->plans, p)) return TILE_ERR_NOMEM;
        tt_begin(TT_SCHED_SEARCH);
        tile_status st = sched_choose(path, text, o, a->kernel, group, n, t, &u->mem, &u->diags, p);
        tt_end(TT_SCHED_SEARCH);
        if (st != TILE_OK) return st;
        for (int k = 0; k < n; k++)
            vals[nvals++] = (fe_auto_value){.kernel = p->kernel, .name = p->names[k],
                                            .value = p->cand[p->best].values[k]};
    }
    u->diags.last = mark;
    if (mark) mark->next = NULL;
    else u->diags.first = NULL;
    u->diags.nerrors = 0;
    u->module = ir_module_new(&u->mem, &u->diags);
    if (!u->module) return TILE_ERR_NOMEM;
    fo->auto_values = vals;
    fo->nauto_values = nvals;
    fo->auto_report = NULL;
    return fe_compile(u->module, path, text, o->kernel, fo);
}

static tile_status compile_unit(tc_unit *u, const char *path, const char *text,
                                const tc_options *o)
{
    /* The scheduler compiles the same sources once per candidate (30 times
     * for flash_fwd): they are parsed once, into this unit, which outlives
     * the candidates (parsing took 38 of the 265 ms of CPU of a cold
     * flash_fwd_causal compile).  Not kept in u->opts: a unit made later
     * from them may outlive this one. */
    tc_options with_cache = *o;
    if (!with_cache.parse_cache) with_cache.parse_cache = fe_parse_cache_new(&u->mem);
    if (!with_cache.parse_cache) return TILE_ERR_NOMEM;
    o = &with_cache;
    fe_options fo;
    tile_status st = front_end_options(u, o, &fo);
    if (st != TILE_OK) return st;
    ptr_vec pending = {0};
    fo.auto_values = o->auto_values;
    fo.nauto_values = o->nauto_values;
    fo.auto_report = o->auto_values ? NULL : &pending;
    diag *mark = u->diags.last;
    st = fe_compile(u->module, path, text, o->kernel, &fo);
    if (st == TILE_OK && pending.len) st = schedule_autos(u, path, text, o, &pending, &fo, mark);
    if (st != TILE_OK) return st;
    ir_opt_options oo = {
        .level = o->opt_level, .verify_each = o->verify_each || verify_by_default,
        .dump = o->dump_passes,
    };
    st = ir_verify_module(u->module, "front end");
    if (st != TILE_OK) return st;
    tt_begin(TT_OPTIMIZE);
    st = ir_optimize(u->module, &oo);
    tt_end(TT_OPTIMIZE);
    if (st != TILE_OK) return st;
    if (o->kernel) {
        u->kernel = ir_module_find(u->module, o->kernel);
        if (!u->kernel) {
            diag_error(&u->diags, (src_loc){.file = path}, "no kernel named '%s'", o->kernel);
            return TILE_ERR_SEMA;
        }
    }
    return TILE_OK;
}

static const tc_options defaults = {.opt_level = 1};

static tile_status new_unit(tc_unit **out)
{
    *out = NULL;
    tc_unit *u = calloc(1, sizeof *u);
    if (!u) return TILE_ERR_NOMEM;
    arena_init(&u->mem);
    diag_init(&u->diags, &u->mem);
    *out = u;
    u->module = ir_module_new(&u->mem, &u->diags);
    return u->module ? TILE_OK : TILE_ERR_NOMEM;
}

static const char **copy_list(arena *mem, const char *const *items, int n)
{
    const char **c = arena_calloc(mem, (size_t)n + 1, sizeof *c);
    for (int i = 0; c && i < n; i++)
        if (!(c[i] = arena_strdup(mem, items[i]))) return NULL;
    return c;
}

/* u keeps what it compiled (copied: the caller's storage may go before a
 * later tc_compile_gpu recompiles for a resource error's nearest fit). */
static tile_status remember(tc_unit *u, const char *path, const char *text, const tc_options *o)
{
    u->opts = *o;
    u->path = path ? arena_strdup(&u->mem, path) : NULL;
    u->text = text ? arena_strdup(&u->mem, text) : NULL;
    u->opts.kernel = o->kernel ? arena_strdup(&u->mem, o->kernel) : NULL;
    u->opts.defines = copy_list(&u->mem, o->defines, o->ndefines);
    u->opts.include_dirs = copy_list(&u->mem, o->include_dirs, o->ninclude);
    u->opts.auto_values = NULL;   /* only the scheduler's own candidates set them */
    u->opts.nauto_values = 0;
    u->opts.parse_cache = NULL;   /* the trees it holds may go before u */
    bool ok = (!path || u->path) && (!text || u->text) && (!o->kernel || u->opts.kernel) &&
              u->opts.defines && u->opts.include_dirs;
    return ok ? TILE_OK : TILE_ERR_NOMEM;
}

tile_status tc_compile(tc_unit **out, const char *path, const char *text, const tc_options *o)
{
    tile_status st = new_unit(out);
    if (st == TILE_OK) st = remember(*out, path, text, o ? o : &defaults);
    return st == TILE_OK ? compile_unit(*out, path, text, o ? o : &defaults) : st;
}

tile_status tc_check(tc_unit **out, const char *path, const tc_options *o)
{
    tile_status st = new_unit(out);
    if (st != TILE_OK) return st;
    fe_options fo;
    if ((st = front_end_options(*out, o ? o : &defaults, &fo)) != TILE_OK) return st;
    fo.check_report = &(*out)->checked;
    st = fe_check((*out)->module, path, &fo);
    return st == TILE_OK ? ir_verify_module((*out)->module, "front end") : st;
}

void tc_unit_free(tc_unit *u)
{
    if (!u) return;
    arena_free(&u->mem);
    free(u);
}

int tc_split_defines(arena *mem, const char *list, const char ***out)
{
    int cap = 1;
    for (const char *p = list; *p; p++) cap += *p == ',';
    const char **defs = arena_calloc(mem, (size_t)cap, sizeof *defs);
    if (!defs) return -1;
    int n = 0, depth = 0;
    const char *start = list;
    for (const char *p = list;; p++) {
        if (*p == '(' || *p == '[') depth++;
        if (*p == ')' || *p == ']') depth--;
        if (depth < 0) return -1;
        if ((*p == ',' && depth == 0) || *p == 0) {
            if (p > start) {
                defs[n] = arena_strndup(mem, start, (size_t)(p - start));
                if (!strchr(defs[n], '=')) return -1;
                n++;
            }
            if (!*p) break;
            start = p + 1;
        }
    }
    if (depth != 0) return -1;
    *out = defs;
    return n;
}
