/* sched_choose.c - the SRAM-capacity scheduler's search (sched_choose.h).
 *
 * The candidate space is the product of: a power of two from 16 to 256
 * for each `auto` constant (16 is the mma tile; 3 or more `auto`s stop at
 * 128), warps per block {4, 8} and pipeline stages {1, 2, 3}.  Each
 * (constants, warps) pair is compiled for real: the front end with the
 * candidate's values (a kernel's own asserts and shape checks reject it,
 * with the message as the reason), the optimiser, layout assignment and
 * codegen up to its shared-memory plan (CG_EMIT_ANALYSIS).  Stages need no
 * recompilation: they add staged buffers to codegen's bytes.  The cost
 * model (sched_model.c) then rejects what does not fit and predicts the
 * time of the rest; the lowest predicted time wins, the first in
 * enumeration order on a tie, so the choice is deterministic.
 *
 * Hopper's choices enter as more dimensions of the same product (warpgroup
 * specialisation, setmaxnreg splits, TMA stages), with their resources in
 * sched_evaluate: docs/architecture.md, "Scheduling". */
#include "sched_choose.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codegen/codegen.h"
#include "sched_layout.h"
#include "sched_pipeline.h"

sched_explain_hook sched_explain_ranges = NULL;

static const int warp_choices[] = {4, 8};
static const int stage_choices[] = {1, 2, 3};
enum { NWARPS = 2, NSTAGES = 3 };

void sched_shape_from_defines(sched_shape *s, const char *const *defines, int n)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < n && s->n < SCHED_MAX_DIMS; i++) {
        const char *eq = strchr(defines[i], '=');
        if (!eq || eq == defines[i]) continue;
        char *end;
        long long v = strtoll(eq + 1, &end, 10);
        if (*end || end == eq + 1 || v < 1) continue;
        /* A later define of the same name wins, as in the front end. */
        size_t len = (size_t)(eq - defines[i]);
        int k = 0;
        while (k < s->n && (strcspn(s->names[k], "=") != len ||
                            strncmp(s->names[k], defines[i], len) != 0))
            k++;
        s->names[k] = defines[i];     /* "M=4096": compared up to '=' below */
        s->values[k] = v;
        if (k == s->n) s->n++;
    }
}

/* Copies a shape's names (pointing at "NAME=VALUE") as plain names. */
static void own_shape(sched_shape *s, arena *mem)
{
    for (int i = 0; i < s->n; i++) {
        const char *eq = strchr(s->names[i], '=');
        if (eq) s->names[i] = arena_strndup(mem, s->names[i], (size_t)(eq - s->names[i]));
    }
}

typedef struct search {
    const char *path, *text;
    const tc_options *o;
    const char *kernel;
    const ir_target *t;
    arena *mem;
    sched_plan *plan;
} search;

/* "file:line:col: message" of the first error of d, in mem. */
static const char *first_error(const diag_ctx *d, arena *mem, const char *what)
{
    for (const diag *g = d->first; g; g = g->next)
        if (g->level == DIAG_ERROR) {
            const char *file = g->loc.file ? strrchr(g->loc.file, '/') : NULL;
            file = file ? file + 1 : g->loc.file;
            if (g->loc.line > 0)
                return arena_printf(mem, "%s: %s:%d:%d: %s", what, file ? file : "?", g->loc.line,
                                    g->loc.col, g->msg);
            return arena_printf(mem, "%s: %s", what, g->msg);
        }
    return arena_printf(mem, "%s", what);
}

static void own_tensors(sched_cost *c, arena *mem)
{
    sched_tensor *t = arena_calloc(mem, (size_t)c->ntensors + 1, sizeof *t);
    if (!t) {
        c->ntensors = 0;
        c->tensors = NULL;
        return;
    }
    for (int i = 0; i < c->ntensors; i++) {
        t[i] = c->tensors[i];
        t[i].name = arena_strdup(mem, t[i].name);
    }
    c->tensors = t;
}

/* The front end and optimiser with the candidate's values: a unit, or
 * NULL with *why set. */
static tc_unit *compile_values(search *s, const int64_t *v, const char **why)
{
    sched_plan *p = s->plan;
    fe_auto_value vals[SCHED_MAX_AUTOS];
    for (int i = 0; i < p->nautos; i++)
        vals[i] = (fe_auto_value){.kernel = s->kernel, .name = p->names[i], .value = v[i]};
    tc_options co = *s->o;
    co.kernel = s->kernel;
    co.dump_passes = NULL;
    co.auto_values = p->nautos ? vals : NULL;
    co.nauto_values = p->nautos;
    co.target = s->t;
    tc_unit *u = NULL;
    if (tc_compile(&u, s->path, s->text, &co) == TILE_OK) return u;
    *why = u ? first_error(&u->diags, s->mem, "does not compile") : "out of memory";
    tc_unit_free(u);
    return NULL;
}

static void add_slots(ir_op *op, void *ctx)
{
    const ir_type *t = op->code == IR_OP_LOCAL_ALLOC ? &op->results[0]->type : NULL;
    if (t && t->rank == 3 && t->shape[0] > 1) *(double *)ctx += (double)ir_type_numel(t) * ir_dtype_size(t->dtype);
}

/* Bytes of the pipeliner's multi-slot buffers (a loop's staged tiles). */
static double multi_slot_bytes(ir_func *k)
{
    double n = 0;
    ir_walk(k->body, add_slots, &n);
    return n;
}

/* Codegen's shared memory for values v at num_warps, for the kernel that
 * a row of `flat` (one stage: sched_pipeline leaves the kernel as it is)
 * or of two stages and more compiles: layouts assigned and the kernel
 * built up to codegen's plan (CG_EMIT_ANALYSIS), pipelined first unless
 * flat.  Pipelined, the loops' slots are taken out: the model adds them per
 * stage count; the one-slot buffers (a tile staged once, read in a loop or
 * after it) and the scratch stay.  One build of the kernel, not both: the
 * build is most of a candidate's cost, and a flat kernel's scratch (a
 * loop's operand staged there op by op) is no bound on the pipelined one's.
 * *live and the other register inputs come from the pipelined IR either
 * way (the IR the register model was fitted on).  -1 with *why. */
static int codegen_smem(search *s, const int64_t *v, int num_warps, bool flat, sched_cost *facts,
                        const char **why)
{
    tc_unit *u = compile_values(s, v, why);
    if (!u) return -1;
    int bytes = -1;
    cg_result r;
    if (sched_assign_layouts(u->module, s->t, num_warps) != TILE_OK)
        *why = first_error(&u->diags, s->mem, "no layouts");
    else if (flat && sched_pipeline(u->module, s->t, 1, NULL) != TILE_OK)
        *why = first_error(&u->diags, s->mem, "pipelining fails");
    else if (flat && cg_emit_kernel(u->kernel, s->t, CG_EMIT_ANALYSIS, &r) != TILE_OK)
        *why = first_error(&u->diags, s->mem, "code generation fails");
    else if (sched_pipeline(u->module, s->t, SCHED_DEFAULT_STAGES, NULL) != TILE_OK)
        *why = first_error(&u->diags, s->mem, "pipelining fails");
    else if (!flat && cg_emit_kernel(u->kernel, s->t, CG_EMIT_ANALYSIS, &r) != TILE_OK)
        *why = first_error(&u->diags, s->mem, "code generation fails");
    else {
        bytes = flat ? r.smem_bytes : r.smem_bytes - (int)multi_slot_bytes(u->kernel);
        facts->sched_live_regs = sched_live_regs(u->kernel, num_warps, &u->mem);
        facts->sched_frag_regs = sched_fragment_regs(u->kernel);
        facts->sched_wgmma_dots = sched_wgmma_loop_dots(u->kernel);
        facts->unpipelined = sched_unpipelined(u->kernel);
        facts->staged_reads = sched_staged_reads(u->kernel);
    }
    tc_unit_free(u);
    return bytes;
}

/* Live tiles grow with every tile size: values v at least as large as a
 * candidate whose every row is over the registers need not be compiled. */
static const sched_candidate *dominated(const sched_plan *p, const int64_t *v)
{
    for (int i = 0; i < p->ncand; i += NWARPS * NSTAGES) {
        bool all_regs = i + NWARPS * NSTAGES <= p->ncand, ge = true;
        for (int j = i; all_regs && j < i + NWARPS * NSTAGES; j++)
            all_regs = p->cand[j].compiled && p->cand[j].cost.regs_only;
        for (int a = 0; a < p->nautos; a++) ge &= v[a] >= p->cand[i].values[a];
        if (all_regs && ge) return &p->cand[i];
    }
    return NULL;
}

/* Phase 1 for values v: the IR half of the cost for every warps choice
 * (one front-end compilation), rows for every warps x stages choice
 * allowed; rows that cannot fit even without codegen's shared memory are
 * rejected here (more shared memory only makes them worse). */
static void add_rows(search *s, const int64_t *v, int want_warps, int want_stages)
{
    sched_plan *p = s->plan;
    const char *why = NULL;
    const sched_candidate *d = want_warps || want_stages ? NULL : dominated(p, v);
    if (d) {
        why = arena_strdup(s->mem, "registers: at least those of");
        for (int a = 0; a < p->nautos && why; a++)
            why = arena_printf(s->mem, "%s %s=%lld", why, p->names[a], (long long)d->values[a]);
        why = why ? arena_printf(s->mem, "%s (over at every warps choice)", why) : NULL;
    }
    tc_unit *u = d ? NULL : compile_values(s, v, &why);
    for (int w = 0; w < NWARPS; w++) {
        if (want_warps && warp_choices[w] != want_warps) continue;
        sched_cost cost;
        memset(&cost, 0, sizeof cost);
        if (u && sched_analyze(u->kernel, warp_choices[w], &p->shape, &u->mem, &cost) != TILE_OK)
            why = "out of memory";
        if (u && !why) own_tensors(&cost, s->mem);
        for (int k = 0; k < NSTAGES; k++) {
            if (want_stages && stage_choices[k] != want_stages) continue;
            sched_candidate *c = &p->cand[p->ncand++];
            memset(c, 0, sizeof *c);
            memcpy(c->values, v, sizeof c->values);
            c->num_warps = warp_choices[w];
            c->num_stages = stage_choices[k];
            c->reject = why;
            if (why) continue;
            c->compiled = true;
            c->cost = cost;
            sched_evaluate(s->t, c->num_warps, c->num_stages, 0, s->mem, &c->cost);
            c->reject = c->cost.reject;
            c->bound = sched_time_bound(s->t, &c->cost, 0);
        }
    }
    tc_unit_free(u);
}

/* Does a row of num_stages compile the kernel as sched_pipeline leaves it? */
static bool flat_row(const search *s, int num_stages)
{
    return num_stages < 2 || !s->t->has_cp_async;
}

/* Between schedules of the same tile sizes, predicted times within
 * SCHED_TIE of each other are a tie, won by the earlier candidate in
 * enumeration order (fewer warps, fewer stages): the model's resolution is
 * a few percent, and the extra resources are not free (H200, flash_fwd
 * D=128 L=4k: 3 stages were predicted 2% faster than 2 and measured 3%
 * slower, 18% slower causal; bench/RESULTS.md session 5).  Between tile
 * sizes the lower prediction wins: the larger tile's fewer iterations save
 * per-iteration costs the model does not count (waits, barriers, the
 * softmax's row reductions), and the tie went the wrong way there (session
 * 8: flash_fwd_causal D=64 L=1k, BN=64 predicted 2.8% faster than BN=32,
 * measured 1.26x; flash_fwd D=128 L=1k, BN=128 against 64: 1.11x). */
#define SCHED_TIE 0.03

/* A row built exactly for the same values and warps: of the same
 * flatness when `same_flat`, else any (the register inputs come from the
 * pipelined IR for both, sched_evaluate's registers do not depend on the
 * stages).  -1 if none. */
static int built_sibling(const search *s, const sched_candidate *c, bool same_flat)
{
    const sched_plan *p = s->plan;
    bool flat = flat_row(s, c->num_stages);
    for (int j = 0; j < p->ncand; j++) {
        const sched_candidate *o = &p->cand[j];
        if (o->exact && o->compiled && o->num_warps == c->num_warps &&
            (!same_flat || flat_row(s, o->num_stages) == flat) &&
            memcmp(o->values, c->values, sizeof c->values) == 0)
            return j;
    }
    return -1;
}

static void take_registers(sched_cost *c, const sched_cost *from)
{
    c->sched_live_regs = from->sched_live_regs;
    c->sched_frag_regs = from->sched_frag_regs;
    c->sched_wgmma_dots = from->sched_wgmma_dots;
    c->unpipelined = from->unpipelined;
    c->staged_reads = from->staged_reads;
}

/* A one-stage row of the pruned search whose pipelined sibling is built
 * needs its own build only if it can win.  Its registers are the
 * sibling's: a row over them, or over the threads, is settled without the
 * build; so is one whose time bound with the blocks per SM those allow
 * (no shared memory counted) is past the best beyond the tie.  True when
 * settled (c->reject says how). */
static bool settled_without_build(search *s, sched_candidate *c)
{
    const sched_plan *p = s->plan;
    int j = built_sibling(s, c, false);
    if (j < 0) return false;
    sched_cost trial = c->cost;
    take_registers(&trial, &p->cand[j].cost);
    sched_evaluate(s->t, c->num_warps, c->num_stages, 0, s->mem, &trial);
    if (trial.reject) {
        c->cost = trial;
        c->reject = trial.reject;
        return true;
    }
    double bound = sched_time_bound(s->t, &trial, trial.blocks_per_sm);
    if (p->best >= 0 && bound > p->cand[p->best].cost.time_s * (1 + SCHED_TIE)) {
        c->reject = arena_printf(s->mem, "pruned: at least %.2f us", bound * 1e6);
        c->pruned = true;
        return true;
    }
    return false;
}

/* Phase 2 for row i: codegen's bytes (shared by the rows of the same
 * values and warps that build the same kernel: one stage, or two and
 * more), then the exact cost. */
static void evaluate_row(search *s, int i, bool exhaustive)
{
    sched_plan *p = s->plan;
    sched_candidate *c = &p->cand[i];
    bool flat = flat_row(s, c->num_stages);
    int j = built_sibling(s, c, true);
    if (j < 0 && flat && !exhaustive && settled_without_build(s, c)) return;
    int cg = -1;
    sched_cost from = {0};
    const char *why = NULL;
    if (j >= 0) {
        cg = p->cand[j].cost.cg_smem_bytes;
        from = p->cand[j].cost;
    } else {
        cg = codegen_smem(s, c->values, c->num_warps, flat, &from, &why);
    }
    c->exact = true;
    if (cg < 0) {
        c->compiled = false;
        c->reject = why;
        return;
    }
    take_registers(&c->cost, &from);
    sched_evaluate(s->t, c->num_warps, c->num_stages, cg, s->mem, &c->cost);
    c->reject = c->cost.reject;
}

static int by_bound(const void *a, const void *b)
{
    const sched_candidate *x = *(const sched_candidate *const *)a,
                          *y = *(const sched_candidate *const *)b;
    if (x->bound != y->bound) return x->bound < y->bound ? -1 : 1;
    return x < y ? -1 : x > y;
}

static bool same_tiles(const sched_plan *p, int i, int j)
{
    return memcmp(p->cand[i].values, p->cand[j].values, sizeof *p->cand[i].values * (size_t)p->nautos) == 0;
}

static bool better(const sched_plan *p, int i)
{
    if (p->best < 0) return true;
    double a = p->cand[i].cost.time_s, b = p->cand[p->best].cost.time_s;
    if (!same_tiles(p, i, p->best)) return a < b;
    return a < b * (1 - SCHED_TIE) || (a <= b * (1 + SCHED_TIE) && i < p->best);
}

/* When every candidate is over the register model's limit and nothing
 * else rejects it, the model (a fit, not ptxas) may be wrong: take the
 * one with the fewest predicted registers that fits otherwise, and say so
 * in its verdict.  Explicit constants get the located error instead. */
static void register_fallback(search *s)
{
    sched_plan *p = s->plan;
    for (;;) {
        int pick = -1;
        for (int i = 0; i < p->ncand; i++) {
            const sched_candidate *c = &p->cand[i];
            if (!c->compiled || !c->cost.regs_only || c->fallback_tried) continue;
            if (pick < 0 || c->cost.regs < p->cand[pick].cost.regs ||
                (c->cost.regs == p->cand[pick].cost.regs &&
                 c->cost.time_s < p->cand[pick].cost.time_s))
                pick = i;
        }
        if (pick < 0) return;
        sched_candidate *c = &p->cand[pick];
        c->fallback_tried = true;
        if (!c->exact) evaluate_row(s, pick, true);
        if (c->compiled && c->cost.regs_only) {
            c->reject = NULL;
            c->over_regs = true;
            p->best = pick;
            return;
        }
    }
}

/* Exact costs in order of the lower bound, until the bound passes the best
 * time found (strictly: an equal time is still evaluated, so ties resolve
 * by enumeration order as in the exhaustive search). */
static tile_status search_rows(search *s, bool exhaustive)
{
    sched_plan *p = s->plan;
    sched_candidate **order = arena_calloc(s->mem, (size_t)p->ncand + 1, sizeof *order);
    if (!order) return TILE_ERR_NOMEM;
    int n = 0;
    /* Exhaustive: rejected ones too, for exact rows.  Pruned: also those
     * phase 1 rejected only for registers: its count is the tile IR's, and
     * the scheduled IR's can be lower (a wgmma operand that stays in shared
     * memory: flash_bwd_dq's Q), so the exact row may fit. */
    for (int i = 0; i < p->ncand; i++) {
        const sched_candidate *c = &p->cand[i];
        if (!c->reject || (c->compiled && (exhaustive || c->cost.regs_only))) order[n++] = &p->cand[i];
    }
    qsort(order, (size_t)n, sizeof *order, by_bound);
    p->best = -1;
    for (int k = 0; k < n; k++) {
        sched_candidate *c = order[k];
        int i = (int)(c - p->cand);
        if (!exhaustive && p->best >= 0 && c->bound > p->cand[p->best].cost.time_s * (1 + SCHED_TIE)) {
            c->reject = arena_printf(s->mem, "pruned: at least %.2f us", c->bound * 1e6);
            c->pruned = true;
            continue;
        }
        evaluate_row(s, i, exhaustive);
        if (!c->reject && better(p, i)) p->best = i;
    }
    if (p->best < 0) register_fallback(s);
    return TILE_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void init_plan(search *s, const char *kernel, const ir_target *t, sched_plan *out)
{
    memset(out, 0, sizeof *out);
    out->kernel = arena_strdup(s->mem, kernel);
    out->target = t;
    out->best = -1;
    out->model_best = -1;
    sched_shape_from_defines(&out->shape, s->o->defines, s->o->ndefines);
    own_shape(&out->shape, s->mem);
}

/* Warps the caller will run the kernel with, when they are a choice of the
 * search: the `auto` values are then the best for those warps (flash_fwd
 * D=64 causal takes BM=64 at 4 warps, one warpgroup; at 8 that row would
 * leave wgmma for mma.sync).  0: every choice. */
static int forced_warps(const tc_options *o)
{
    for (int w = 0; w < NWARPS; w++)
        if (o->num_warps == warp_choices[w]) return o->num_warps;
    return 0;
}

/* Candidates: every auto a power of two in [lo, hi], crossed with the
 * warps and stages; then the search over them. */
static tile_status search_values(search *s, int64_t lo, int64_t hi)
{
    sched_plan *out = s->plan;
    int nautos = out->nautos, per = 0;
    for (int64_t x = lo; x <= hi; x *= 2) per++;
    int combos = 1;
    for (int i = 0; i < nautos; i++) combos *= per;
    out->ncand = 0;
    out->cand = arena_calloc(s->mem, (size_t)combos * NWARPS * NSTAGES, sizeof *out->cand);
    if (!out->cand) return TILE_ERR_NOMEM;
    for (int c = 0; c < combos; c++) {
        int64_t v[SCHED_MAX_AUTOS] = {0};
        int rest = c;
        for (int i = nautos - 1; i >= 0; i--) {   /* the last auto varies fastest */
            v[i] = lo << (rest % per);
            rest /= per;
        }
        add_rows(s, v, forced_warps(s->o), 0);
    }
    return search_rows(s, s->o->sched_exhaustive);
}

static bool any_compiled(const sched_plan *p)
{
    for (int i = 0; i < p->ncand; i++)
        if (p->cand[i].compiled) return true;
    return false;
}

tile_status sched_choose(const char *path, const char *text, const tc_options *o,
                         const char *kernel, const fe_auto_const *const *autos, int nautos,
                         const ir_target *t, arena *mem, diag_ctx *d, sched_plan *out)
{
    double t0 = now_s();
    search s = {.path = path, .text = text, .o = o, .kernel = kernel, .t = t, .mem = mem,
                .plan = out};
    init_plan(&s, kernel, t, out);
    if (nautos > SCHED_MAX_AUTOS) {
        diag_error(d, autos[SCHED_MAX_AUTOS]->loc, "kernel '%s' has more than %d 'auto' "
                   "constants (give some with -D)", kernel, SCHED_MAX_AUTOS);
        return TILE_ERR_SEMA;
    }
    out->nautos = nautos;
    for (int i = 0; i < nautos; i++) {
        out->names[i] = arena_strdup(mem, autos[i]->name);
        out->locs[i] = autos[i]->loc;
    }
    tile_status st = search_values(&s, 16, nautos >= 3 ? 128 : 256);
    /* Below 16 only where the kernel's own asserts take nothing from 16 up
     * (block_sparse_fwd's step BK must divide a layout's BN of 2..8): the
     * candidates compiled as rows, so the search cannot mistake them. */
    if (st == TILE_OK && out->best < 0 && !any_compiled(out)) st = search_values(&s, 1, 8);
    if (st != TILE_OK) return st;
    out->seconds = now_s() - t0;
    if (out->best >= 0) return TILE_OK;
    const char *why = out->ncand ? out->cand[0].reject : "no candidates";
    diag_error(d, autos[0]->loc, "no schedule of kernel '%s' fits %s (%d candidates, e.g. %s; "
               "tilec --explain lists them)", kernel, t->arch, out->ncand, why);
    return TILE_ERR_SEMA;
}

/* The model's lowest row of a fixed plan (model_best), or none (best
 * -1) when the kernel has no dot in a loop: the register line is fitted
 * on loops of dots only (bucket_sort's [64, 256] one-hot tiles: predicted
 * 32 registers; at the 4 warps that won the tie ptxas spilled 340 B). */
static void fixed_policy(sched_plan *p)
{
    p->model_best = p->best;
    if (p->best >= 0 && p->cand[p->best].cost.loop_dots == 0) p->best = -1;
}

tile_status sched_cost_fixed(const char *path, const char *text, const tc_options *o,
                             const char *kernel, const ir_target *t, int num_warps,
                             int num_stages, arena *mem, sched_plan *out)
{
    double t0 = now_s();
    search s = {.path = path, .text = text, .o = o, .kernel = kernel, .t = t, .mem = mem,
                .plan = out};
    init_plan(&s, kernel, t, out);
    out->cand = arena_calloc(mem, NWARPS * NSTAGES, sizeof *out->cand);
    if (!out->cand) return TILE_ERR_NOMEM;
    int64_t v[SCHED_MAX_AUTOS] = {0};
    add_rows(&s, v, num_warps, num_stages);
    tile_status st = search_rows(&s, true);
    if (st == TILE_OK) fixed_policy(out);
    out->seconds = now_s() - t0;
    return st;
}

void sched_fixed_prefer(sched_plan *p, int num_warps, int num_stages)
{
    int m = p->best;
    sched_mark_fixed(p, num_warps, num_stages);
    if (m >= 0 && p->best != m && p->cand[m].cost.time_s < p->cand[p->best].cost.time_s * (1 - SCHED_TIE))
        p->best = m;
}

void sched_mark_fixed(sched_plan *p, int num_warps, int num_stages)
{
    for (int i = 0; i < p->ncand; i++) {
        const sched_candidate *c = &p->cand[i];
        if (c->num_warps != num_warps || c->num_stages != num_stages || i == p->best ||
            !c->compiled || c->reject)
            continue;
        p->best = i;
        return;
    }
}

/* ---- explicit constants: fit, or a located error with the nearest fit ---- */

/* Does the fixed kernel fit with one stage (the least it can use)? *smem
 * and *live get its numbers; why the first limit it breaks, else NULL. */
static const char *fixed_fit(const ir_target *t, int cg_smem, const sched_cost *c, arena *mem,
                             int num_warps)
{
    if (cg_smem > t->smem_per_block)
        return arena_printf(mem, "needs %d bytes of shared memory per block, %d more than the "
                            "%d of %s", cg_smem, cg_smem - t->smem_per_block, t->smem_per_block,
                            t->arch);
    /* The live-tile count overestimates what ptxas needs (element-wise
     * chains and pipelined operands: flash_fwd at BM=128 BN=64 4 warps
     * counts 559 and runs at 255 registers without spills, bench/RESULTS.md),
     * so explicit constants are an error only far past the register file;
     * the search for `auto` still keeps its candidates under it. */
    if (c->live_regs > 3 * t->regs_per_thread)
        return arena_printf(mem, "keeps %d registers per thread of live tiles at %d warps, %d "
                            "more than 3 x the %d of %s (the most the model, which counts "
                            "high, lets through)",
                            c->live_regs, num_warps, c->live_regs - 3 * t->regs_per_thread,
                            t->regs_per_thread, t->arch);
    return NULL;
}

/* Constants the nearest-fit search may shrink: explicit ints, powers of two
 * of 32 or more, that no tensor parameter has as a dimension (those define
 * the problem, not the schedule). */
static bool shrinkable(const ir_func *k, const ir_const_binding *b, int64_t *v)
{
    char *end;
    long long x = strtoll(b->value, &end, 10);
    if (*end || x < 32 || (x & (x - 1)) || b->was_auto) return false;
    for (int i = 0; i < k->nparams; i++)
        for (int d = 0; d < k->params[i].type.rank; d++)
            if (k->params[i].type.kind == IR_TY_TENSOR && k->params[i].dims[d].name &&
                strcmp(k->params[i].dims[d].name, b->name) == 0)
                return false;
    *v = x;
    return true;
}

/* Compiles u's kernel again with defines NAME=VALUE replacing (or adding
 * to) u's own, schedules it for num_warps and says whether it fits. */
static bool fits_with(tc_unit *u, const ir_target *t, int num_warps, const char *const *names,
                      const int64_t *vals, int n)
{
    const tc_options *o = &u->opts;
    const char **defs = arena_calloc(&u->mem, (size_t)(o->ndefines + n) + 1, sizeof *defs);
    if (!defs) return false;
    int nd = 0;
    for (int i = 0; i < o->ndefines; i++) {
        bool replaced = false;
        for (int j = 0; j < n; j++)
            replaced |= strncmp(o->defines[i], names[j], strlen(names[j])) == 0 &&
                        o->defines[i][strlen(names[j])] == '=';
        if (!replaced) defs[nd++] = o->defines[i];
    }
    for (int j = 0; j < n; j++) defs[nd++] = arena_printf(&u->mem, "%s=%lld", names[j], (long long)vals[j]);
    tc_options co = *o;
    co.defines = defs;
    co.ndefines = nd;
    co.kernel = u->kernel->name;
    co.dump_passes = NULL;
    tc_unit *v = NULL;
    cg_result r;
    sched_cost c;
    /* Registers first: they need no layouts or codegen. */
    bool ok = tc_compile(&v, u->path, u->text, &co) == TILE_OK &&
              sched_analyze(v->kernel, num_warps, &(sched_shape){0}, &v->mem, &c) == TILE_OK &&
              !fixed_fit(t, 0, &c, &v->mem, num_warps) &&
              sched_assign_layouts(v->module, t, num_warps) == TILE_OK &&
              cg_emit_kernel(v->kernel, t, CG_EMIT_ANALYSIS, &r) == TILE_OK &&
              !fixed_fit(t, r.smem_bytes, &c, &v->mem, num_warps);
    tc_unit_free(v);
    return ok;
}

/* "BM=128, BN=64": the nearest smaller choice of u's shrinkable constants
 * that fits (fewest halvings in all, then declaration order), or NULL. */
static const char *nearest_fit(tc_unit *u, const ir_target *t, int num_warps)
{
    const ir_func *k = u->kernel;
    const char *names[3];
    int64_t base[3];
    int n = 0;
    for (int i = 0; i < k->nconsts && n < 3; i++)
        if (shrinkable(k, &k->consts[i], &base[n])) names[n++] = k->consts[i].name;
    if (n == 0) return NULL;
    for (int total = 1; total <= 3 * 4; total++) {
        int steps[3] = {0};
        /* every split of `total` halvings over the n constants */
        for (int code = 0; code < 1 << (4 * n); code++) {
            int sum = 0;
            bool ok = true;
            for (int j = 0; j < n; j++) {
                steps[j] = (code >> (4 * j)) & 15;
                sum += steps[j];
                ok &= (base[j] >> steps[j]) >= 16 && steps[j] <= 8;
            }
            if (sum != total || !ok) continue;
            int64_t vals[3];
            for (int j = 0; j < n; j++) vals[j] = base[j] >> steps[j];
            if (!fits_with(u, t, num_warps, names, vals, n)) continue;
            char *s = arena_strdup(&u->mem, "");
            for (int j = 0; j < n && s; j++)
                s = arena_printf(&u->mem, "%s%s%s=%lld", s, j ? ", " : "", names[j], (long long)vals[j]);
            return s;
        }
    }
    return NULL;
}

tile_status sched_check_fixed(tc_unit *u, const ir_target *t, int num_warps, int cg_smem,
                              int *num_stages)
{
    sched_cost c;
    sched_shape shape;
    sched_shape_from_defines(&shape, u->opts.defines, u->opts.ndefines);
    own_shape(&shape, &u->mem);
    if (sched_analyze(u->kernel, num_warps, &shape, &u->mem, &c) != TILE_OK) return TILE_ERR_NOMEM;
    const char *why = fixed_fit(t, cg_smem, &c, &u->mem, num_warps);
    if (!why) {
        /* The most stages (up to 3) that fit beside codegen's own. */
        int s = *num_stages;
        if (s <= 0)
            for (s = 3; s > 1 && cg_smem + s * c.staged_bytes > t->smem_per_block; s--) {}
        *num_stages = s;
        return TILE_OK;
    }
    /* Located at the explicit tile constant the user is most likely to
     * change: the first shrinkable one, else the kernel. */
    src_loc at = u->kernel->loc;
    const char *names = "";
    for (int i = 0; i < u->kernel->nconsts; i++) {
        int64_t v;
        if (!shrinkable(u->kernel, &u->kernel->consts[i], &v)) continue;
        if (!*names && u->kernel->consts[i].loc.line > 0) at = u->kernel->consts[i].loc;
        names = arena_printf(&u->mem, "%s%s%s=%lld", names, *names ? ", " : "",
                             u->kernel->consts[i].name, (long long)v);
    }
    const char *fit = nearest_fit(u, t, num_warps);
    diag_error(&u->diags, at, "kernel '%s'%s%s does not fit %s: it %s; %s%s", u->kernel->name,
               *names ? " with " : "", names, t->arch, why,
               fit ? "the nearest choice that fits is " : "no smaller choice of its tile "
               "constants fits", fit ? fit : "");
    return TILE_ERR_SEMA;
}
