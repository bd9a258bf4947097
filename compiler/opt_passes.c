/* opt_passes.c - `tilec opt`'s pass list: the generic IR passes of
 * ir_run_passes plus the scheduling passes of compiler/, so a scheduled
 * pass is tested as an .ir -> .ir golden file like the generic ones
 * (tests/golden/passes/).  The scheduling passes take their target from
 * the options, else from the module's attributes (scheduled IR read back),
 * else sm_90 and the compiler's choice of warps. */
#include <string.h>

#include "pipeline.h"
#include "sched_layout.h"
#include "sched_pipeline.h"

static const ir_target *opt_target(ir_module *m, const tc_opt_options *o)
{
    const char *arch = o->arch ? o->arch
                       : m->stage == IR_STAGE_SCHEDULED && m->target.arch ? m->target.arch
                       : "sm_90";
    const ir_target *t = ir_target_find(arch);
    if (!t) diag_error(m->diags, (src_loc){0}, "unknown GPU architecture '%s' (known: %s)", arch,
                       ir_target_names());
    return t;
}

/* sched_layouts: tile IR -> scheduled IR (layouts, convert_layout where
 * layouts meet and cannot be produced directly). */
static tile_status run_layouts(ir_module *m, const tc_opt_options *o)
{
    const ir_target *t = opt_target(m, o);
    if (!t) return TILE_ERR_ARG;
    int warps = o->num_warps > 0 ? o->num_warps
                : m->stage == IR_STAGE_SCHEDULED ? m->target.num_warps
                : m->first ? sched_choose_num_warps(m->first) : SCHED_DEFAULT_NUM_WARPS;
    return sched_assign_layouts(m, t, warps);
}

/* sched_pipeline: shared buffers and async copies for mma operands, with
 * the module's stages when it has them (else --stages, else 2). */
static tile_status run_pipeline(ir_module *m, const tc_opt_options *o)
{
    if (m->stage != IR_STAGE_SCHEDULED) {
        diag_error(m->diags, (src_loc){0}, "sched_pipeline runs on scheduled IR (run sched_layouts first)");
        return TILE_ERR_ARG;
    }
    const ir_target *t = opt_target(m, o);
    if (!t) return TILE_ERR_ARG;
    int stages = o->num_stages > 0 ? o->num_stages
                 : m->target.num_stages > 0 ? m->target.num_stages : SCHED_DEFAULT_STAGES;
    tile_status st = sched_pipeline(m, t, stages, NULL);
    if (st == TILE_OK) m->target.num_stages = stages;
    return st;
}

/* Is the n-byte name one of the comma-separated names of `names`? */
static bool listed(const char *names, const char *name, size_t n)
{
    for (const char *q = names; *q;) {
        q += strspn(q, ", ");
        size_t k = strcspn(q, ",");
        if (k == n && memcmp(q, name, n) == 0) return true;
        q += k;
    }
    return false;
}

tile_status tc_run_passes(ir_module *m, const char *list, const tc_opt_options *o)
{
    static const tc_opt_options defaults = {.ir = {.level = 1}};
    if (!o) o = &defaults;
    for (int pass = 0; pass < 2; pass++) { /* check every name, then run */
        for (const char *p = list ? list : ""; *p;) {
            size_t n = strcspn(p, ",");
            char name[32];
            if (n >= sizeof name ||
                (n && !listed(IR_PASS_NAMES, p, n) && !listed(TC_SCHED_PASS_NAMES, p, n)))
                return TILE_ERR_ARG;
            memcpy(name, p, n);
            name[n] = 0;
            p += n + (p[n] == ',');
            if (pass == 0 || n == 0) continue;
            tile_status st;
            if (strcmp(name, "sched_layouts") == 0) st = run_layouts(m, o);
            else if (strcmp(name, "sched_pipeline") == 0) st = run_pipeline(m, o);
            else st = ir_run_passes(m, name, &o->ir);
            if (st == TILE_OK && o->ir.verify_each && strncmp(name, "sched_", 6) == 0)
                st = ir_verify_module(m, name);
            if (st != TILE_OK) return st;
        }
    }
    return TILE_OK;
}
