/* sched_layout.c - layout assignment (compiler/ decides, ir/layout.h holds
 * the result, codegen/ obeys).
 *
 * Every tile of rank >= 1 starts from the blocked layout its shape implies
 * (sched_default_layout): the last dim fastest, up to 8 consecutive
 * elements per thread along it (one 16-byte vector for bf16, two for f32,
 * so loads and stores of row-major tiles are vectorised and coalesced),
 * lanes then warps spread over the dims from the last to the first, and
 * what is left over covers padding.  Tensor-core dots then anchor the mma
 * family of layouts (below: "anchored layouts"), which spreads along the
 * dataflow; convert_layout ops are inserted where the two meet.  The ops
 * that mix positions read any layout (codegen's generic path, or its
 * register fast paths for the mma family). */
#include "sched_layout.h"

#include <stdlib.h>
#include <string.h>

static int pow2_floor(int64_t x)
{
    int p = 1;
    while ((int64_t)p * 2 <= x && p < (1 << 30)) p *= 2;
    return p;
}

static int pow2_ceil(int64_t x)
{
    int p = 1;
    while (p < x && p < (1 << 30)) p *= 2;
    return p;
}

/* Largest power of two dividing x (x >= 1). */
static int pow2_divisor(int64_t x)
{
    int p = 1;
    while (x % (2 * p) == 0 && p < (1 << 30)) p *= 2;
    return p;
}

const ir_layout *sched_default_layout(ir_module *m, int rank, const int64_t *shape, int num_warps)
{
    ir_layout l = {.kind = IR_LAYOUT_BLOCKED, .rank = rank};
    int64_t numel = 1;
    for (int d = 0; d < rank; d++) {
        numel *= shape[d];
        l.size_per_thread[d] = 1;
        l.order[d] = rank - 1 - d;
    }
    int last = rank - 1;
    int64_t per_thread = numel / (32 * num_warps);
    int vec = pow2_divisor(shape[last]);
    if (vec > 8) vec = 8;
    if (vec > pow2_floor(per_thread > 1 ? per_thread : 1)) vec = pow2_floor(per_thread > 1 ? per_thread : 1);
    l.size_per_thread[last] = vec;

    int lanes = 32;
    for (int d = last; d >= 0; d--) {
        int64_t need = (shape[d] + l.size_per_thread[d] - 1) / l.size_per_thread[d];
        int t = pow2_ceil(need);
        if (t > lanes) t = lanes;
        l.threads_per_warp[d] = t;
        lanes /= t;
    }
    l.threads_per_warp[0] *= lanes; /* left-over lanes cover padding */

    int warps = num_warps;
    for (int d = 0; d < rank; d++) {
        int64_t cover = (int64_t)l.size_per_thread[d] * l.threads_per_warp[d];
        int w = pow2_ceil((shape[d] + cover - 1) / cover);
        if (w > warps) w = warps;
        l.warps_per_cta[d] = w;
        warps /= w;
    }
    l.warps_per_cta[0] *= warps;
    return ir_layout_intern(m->mem, &m->layouts, &l);
}

static void largest_tile(ir_op *op, void *ctx)
{
    int64_t *max = ctx;
    for (int i = 0; i < op->nresults; i++) {
        int64_t n = ir_type_numel(&op->results[i]->type);
        if (op->results[i]->type.kind == IR_TY_TILE && n > *max) *max = n;
    }
}

/* The fewest 16-row tiles along M of a tensor-core dot (bf16/f16 operands;
 * the warps of its mma layout go along M first). */
static void min_dot_rows(ir_op *op, void *ctx)
{
    int64_t *min = ctx;
    if (op->code != IR_OP_DOT || op->operands[0]->type.rank != 2) return;
    ir_dtype t = op->operands[0]->type.dtype;
    int64_t tiles = op->operands[0]->type.shape[0] / 16;
    if ((t == IR_BF16 || t == IR_F16) && tiles >= 1 && (*min == 0 || tiles < *min)) *min = tiles;
}

int sched_choose_num_warps(const ir_func *f)
{
    int64_t max = 0, tiles = 0;
    ir_walk(f->body, largest_tile, &max);
    int w = max >= 4096 ? 8 : SCHED_DEFAULT_NUM_WARPS;
    /* Warps along N make every row reduction of the mma accumulator exchange
     * partials through shared memory and keep P from staying in registers:
     * no more warps than 16-row tiles of the dots when there are 4 or more
     * (fewer warps would hold too much per thread). */
    ir_walk(f->body, min_dot_rows, &tiles);
    if (tiles >= 4 && max / (32 * tiles) <= 32)
        while (w > tiles) w /= 2;
    return w;
}

/* ---- anchored layouts ---------------------------------------------------------
 *
 * A bf16/f16 dot with f32 accumulation gets the mma (m16n8k16) accumulator
 * layout, and that choice spreads along the dataflow (the "hints", a
 * fixpoint over the function): elementwise ops with an mma-family operand,
 * broadcasts of [M,1] mma tiles, expand_dims(slice(mma,1), 1) -> mma,
 * reductions of an mma tile along its rows -> slice(mma, 1), loop-carried
 * values (a body argument takes its initial value's or its yielded value's
 * hint, the loop's result the same), an `if`'s results (its branches'
 * yields' hint).  Everything else keeps the blocked
 * default.  Then every value takes its layout (hint or default) and a
 * convert_layout is inserted before each use that needs another one:
 * elementwise operands, dot accumulators and loop-carried values take the
 * layout of what they feed; the A operand of an mma dot that is already in
 * that dot's mma layout becomes dot_operand(A) (codegen: the same
 * registers, packed in pairs: P never goes through shared memory); every
 * other op (loads, stores, calls, if/while, ...) sees blocked layouts only.
 * The mma layout puts warps along M (as FlashAttention-2: a row of S lives
 * in the 4 lanes of one quad, so row reductions need two shuffles). */

typedef struct assign_ctx {
    ir_module *m;
    const ir_target *t;
    int num_warps;
    const ir_layout **hint;   /* by value id; NULL: the blocked default */
    int nhint;
    bool wgmma;               /* sched_wgmma_enabled */
    bool changed;
    bool oom;
} assign_ctx;

static const ir_layout *intern(assign_ctx *a, ir_layout *l)
{
    const ir_layout *r = ir_layout_intern(a->m->mem, &a->m->layouts, l);
    if (!r) a->oom = true;
    return r;
}

/* The mma layout for an M-row accumulator: as many warps along M as divide
 * it in 16-row tiles, the rest along N. */
static const ir_layout *mma_layout(assign_ctx *a, int64_t M)
{
    int wm = a->num_warps;
    while (wm > 1 && M % (16 * wm) != 0) wm /= 2;
    ir_layout l = {.kind = IR_LAYOUT_MMA, .rank = 2, .version = 2};
    l.warps_per_cta[0] = wm;
    l.warps_per_cta[1] = a->num_warps / wm;
    return intern(a, &l);
}

/* Does layout l (of the mma family) cover a tile of this type exactly (no
 * padding; a dim of size 1 is replicated)? */
bool sched_mma_fits(const ir_layout *l, const ir_type *t)
{
    if (!l || t->kind != IR_TY_TILE) return false;
    switch (l->kind) {
    case IR_LAYOUT_MMA:
        return t->rank == 2 && (t->shape[0] == 1 || t->shape[0] % (16 * l->warps_per_cta[0]) == 0) &&
               (t->shape[1] == 1 || t->shape[1] % (8 * l->warps_per_cta[1]) == 0) &&
               (t->shape[0] != 1 || t->shape[1] != 1);
    case IR_LAYOUT_SLICE:
        /* dim 1: a value per row (a row max); dim 0: a value per column
         * (flash_bwd_dkdv's LSE across its transposed scores). */
        if (t->rank != 1 || l->parent->kind != IR_LAYOUT_MMA) return false;
        return l->dim == 1 ? t->shape[0] % (16 * l->parent->warps_per_cta[0]) == 0
                           : l->dim == 0 && t->shape[0] % (8 * l->parent->warps_per_cta[1]) == 0;
    case IR_LAYOUT_DOT_OPERAND:
        return t->rank == 2 && l->opidx == 0 && l->parent->warps_per_cta[1] == 1 &&
               t->shape[0] % (16 * l->parent->warps_per_cta[0]) == 0 && t->shape[1] % 16 == 0;
    default: return false;
    }
}

bool sched_wgmma_enabled(const ir_target *t)
{
    const char *env = getenv("TILE_WGMMA");
    return t && t->has_wgmma && !(env && strcmp(env, "0") == 0);
}

/* wgmma m64nNk16 for an M-row accumulator: all warps along M in whole
 * warpgroups (64 rows each per instruction), N <= 256 columns in one
 * instruction; NULL when the dot does not fit. */
static bool wgmma_shape(int num_warps, int64_t M, int64_t N)
{
    return num_warps % 4 == 0 && M % (16 * num_warps) == 0 && N <= 256;
}

static const ir_layout *wgmma_layout(assign_ctx *a, int64_t M, int64_t N)
{
    if (!a->wgmma || !wgmma_shape(a->num_warps, M, N)) return NULL;
    ir_layout l = {.kind = IR_LAYOUT_MMA, .rank = 2, .version = 3};
    l.warps_per_cta[0] = a->num_warps;
    l.warps_per_cta[1] = 1;
    return intern(a, &l);
}

/* Operand and accumulator types the tensor cores take (16-bit inputs, f32
 * accumulation, whole m16n8k16 tiles). */
static bool mma_types(const ir_op *op)
{
    const ir_type *x = &op->operands[0]->type, *y = &op->operands[1]->type, *r = &op->results[0]->type;
    return r->dtype == IR_F32 && x->dtype == y->dtype && (x->dtype == IR_BF16 || x->dtype == IR_F16) &&
           x->rank == 2 && y->rank == 2 && x->shape[0] % 16 == 0 && x->shape[1] % 16 == 0 &&
           y->shape[1] % 8 == 0;
}

bool sched_wgmma_fits(const ir_op *op, int num_warps)
{
    const ir_type *r = &op->results[0]->type;
    return op->code == IR_OP_DOT && mma_types(op) && wgmma_shape(num_warps, r->shape[0], r->shape[1]);
}

/* Is dot `op` one for the tensor cores (wgmma, else mma.sync m16n8k16)?
 * Then its accumulator layout. */
static const ir_layout *dot_mma(assign_ctx *a, const ir_op *op)
{
    const ir_type *r = &op->results[0]->type;
    if (!a->t->has_mma_m16n8k16 || !mma_types(op)) return NULL;
    const ir_layout *l = wgmma_layout(a, r->shape[0], r->shape[1]);
    if (!l) l = mma_layout(a, r->shape[0]);
    return sched_mma_fits(l, r) ? l : NULL;
}

static const ir_layout *hint_of(assign_ctx *a, const ir_value *v)
{
    return v->id >= 0 && v->id < a->nhint ? a->hint[v->id] : NULL;
}

static void set_hint(assign_ctx *a, const ir_value *v, const ir_layout *l)
{
    if (!l || v->id < 0 || v->id >= a->nhint || a->hint[v->id] || !sched_mma_fits(l, &v->type)) return;
    a->hint[v->id] = l;
    a->changed = true;
}

/* Can codegen recompute v at any coordinate (constants, aranges and
 * elementwise ops on them)?  Then a layout conversion of it costs no shared
 * memory, and no hint need reach it. */
static bool remat_at(const ir_value *v, int depth)
{
    if (v->type.rank == 0) return true;
    const ir_op *d = v->def;
    if (!d || depth > 12) return false;
    if (d->code == IR_OP_ARANGE || d->code == IR_OP_CONST) return true;
    if (d->code == IR_OP_BROADCAST || d->code == IR_OP_EXPAND_DIMS || (ir_op_table[d->code].flags & IR_ELEMENTWISE)) {
        for (int i = 0; i < d->noperands; i++)
            if (!remat_at(d->operands[i], depth + 1)) return false;
        return true;
    }
    return false;
}

static bool remat(const ir_value *v) { return remat_at(v, 0); }

/* Is every use of v an expand_dims (LSE, Delta)?  A vector also used on
 * its own (decode's live-token mask, which also picks the rows to gather)
 * keeps its own layout: replicated down the mma tile's rows it would cost
 * registers there, and the gathers could no longer be staged. */
static bool only_expanded(const ir_value *v)
{
    for (const ir_use *u = v->uses; u; u = u->next)
        if (u->user->code != IR_OP_EXPAND_DIMS) return false;
    return v->uses != NULL;
}

/* Is v ([M, 1] or [1, N]) a vector expanded by expand_dims that codegen
 * cannot recompute (a loaded LSE)? */
static bool expands_loaded(const ir_value *v)
{
    const ir_op *d = v->def;
    return d && d->code == IR_OP_EXPAND_DIMS && v->type.rank == 2 &&
           (v->type.shape[0] == 1 || v->type.shape[1] == 1) && !remat(d->operands[0]) &&
           only_expanded(d->operands[0]);
}

static void hint_op(ir_op *op, void *ctx)
{
    assign_ctx *a = ctx;
    const ir_layout *l = NULL;
    switch (op->code) {
    case IR_OP_DOT: set_hint(a, op->results[0], dot_mma(a, op)); return;
    case IR_OP_REDUCE_SUM:
    case IR_OP_REDUCE_MAX:
    case IR_OP_REDUCE_MIN:
        l = hint_of(a, op->operands[0]);
        if (l && l->kind == IR_LAYOUT_MMA && op->attr.i == 1) {
            ir_layout s = {.kind = IR_LAYOUT_SLICE, .rank = 1, .parent = l, .dim = 1};
            set_hint(a, op->results[0], intern(a, &s));
        }
        return;
    case IR_OP_EXPAND_DIMS:
        l = hint_of(a, op->operands[0]);
        if (l && l->kind == IR_LAYOUT_SLICE && op->attr.i == l->dim) set_hint(a, op->results[0], l->parent);
        l = hint_of(a, op->results[0]);
        if (l && l->kind == IR_LAYOUT_MMA && op->operands[0]->type.rank == 1 && !remat(op->operands[0]) &&
            only_expanded(op->operands[0])) {
            ir_layout s = {.kind = IR_LAYOUT_SLICE, .rank = 1, .parent = l, .dim = op->attr.i};
            set_hint(a, op->operands[0], intern(a, &s));
        }
        return;
    case IR_OP_BROADCAST:
        l = hint_of(a, op->operands[0]);
        if (l && l->kind == IR_LAYOUT_MMA && op->operands[0]->type.rank == 2) set_hint(a, op->results[0], l);
        l = hint_of(a, op->results[0]);
        if (l && l->kind == IR_LAYOUT_MMA && op->operands[0]->type.rank == 2 && expands_loaded(op->operands[0]))
            set_hint(a, op->operands[0], l);
        return;
    case IR_OP_FOR: {
        ir_block *body = op->blocks[0];
        int n = op->noperands - 3;
        if (!body || body->nargs != n + 1 || op->nresults != n) return;
        for (int i = 0; i < n; i++) {
            const ir_layout *h = hint_of(a, op->operands[3 + i]);
            if (!h && body->last && body->last->noperands == n) h = hint_of(a, body->last->operands[i]);
            set_hint(a, body->args[1 + i], h);
            set_hint(a, op->results[i], hint_of(a, body->args[1 + i]));
        }
        return;
    }
    case IR_OP_IF:
        /* A result takes its branches' hint (flash_fwd's segments, each in
         * an `if`, pass the mma accumulator on without a conversion). */
        for (int i = 0; i < op->nresults; i++)
            for (int r = 0; r < op->nblocks && r < 2; r++) {
                const ir_op *y = op->blocks[r] ? op->blocks[r]->last : NULL;
                if (y && y->code == IR_OP_YIELD && y->noperands == op->nresults)
                    set_hint(a, op->results[i], hint_of(a, y->operands[i]));
            }
        return;
    default: break;
    }
    if (!(ir_op_table[op->code].flags & IR_ELEMENTWISE) || op->nresults != 1) return;
    for (int i = 0; i < op->noperands && !l; i++)
        if (op->operands[i]->type.rank == op->results[0]->type.rank) l = hint_of(a, op->operands[i]);
    set_hint(a, op->results[0], l);
    /* Backwards, into a broadcast operand: a scalar (scale) broadcast in the
     * mma layout, or a loaded vector (LSE, Delta) expanded across it, is
     * built in place rather than converted through shared memory. */
    l = hint_of(a, op->results[0]);
    if (!l || l->kind != IR_LAYOUT_MMA) return;
    for (int i = 0; i < op->noperands; i++) {
        const ir_value *x = op->operands[i];
        const ir_op *d = x->def;
        if (!d || d->code != IR_OP_BROADCAST || x->type.rank != op->results[0]->type.rank) continue;
        const ir_value *src = d->operands[0];
        if (src->type.rank == 0 || (src->type.rank == 2 && expands_loaded(src))) set_hint(a, x, l);
    }
}

static void assign_value(assign_ctx *a, ir_value *v)
{
    ir_type *t = &v->type;
    if (t->kind != IR_TY_TILE || t->rank == 0) return;
    const ir_layout *h = hint_of(a, v);
    t->layout = h ? h : sched_default_layout(a->m, t->rank, t->shape, a->num_warps);
    if (!t->layout) a->oom = true;
}

static void assign_op(ir_op *op, void *ctx)
{
    assign_ctx *a = ctx;
    for (int i = 0; i < op->nresults; i++) assign_value(a, op->results[i]);
    for (int r = 0; r < op->nblocks; r++)
        if (op->blocks[r])
            for (int i = 0; i < op->blocks[r]->nargs; i++) assign_value(a, op->blocks[r]->args[i]);
}

static void assign_block(assign_ctx *a, ir_block *blk)
{
    if (!blk) return;
    for (int i = 0; i < blk->nargs; i++) assign_value(a, blk->args[i]);
    ir_walk(blk, assign_op, a);
}

/* Is x defined inside op p (in one of its regions, or as an argument)? */
static bool defined_inside(const ir_value *x, const ir_op *p)
{
    const ir_op *d = x->def ? x->def : x->owner ? x->owner->parent : NULL;
    if (!x->def && d == p) return true;
    for (int r = 0; d && r < p->nblocks; r++)
        if (p->blocks[r] && ir_op_is_inside(d, p->blocks[r])) return true;
    return false;
}

static bool is_loop(const ir_op *p) { return p && (p->code == IR_OP_FOR || p->code == IR_OP_WHILE); }

/* Is x defined outside the innermost loop around op? */
static bool loop_invariant(const ir_op *op, const ir_value *x)
{
    for (const ir_block *blk = op->parent; blk && blk->parent; blk = blk->parent->parent)
        if (is_loop(blk->parent)) return !defined_inside(x, blk->parent);
    return false;
}

/* Where a convert of x for op goes: before op, or before the outermost
 * loop around op that x is invariant in (a loop-invariant conversion runs
 * once).  Not out of an `if`: that would run it when not needed. */
static ir_op *convert_point(ir_op *op, const ir_value *x)
{
    ir_op *pos = op;
    while (pos->parent && is_loop(pos->parent->parent) && !defined_inside(x, pos->parent->parent))
        pos = pos->parent->parent;
    return pos;
}

/* The layout operand i of op must have, or NULL for any. */
static const ir_layout *wanted(assign_ctx *a, const ir_op *op, int i)
{
    const ir_type *t = &op->operands[i]->type;
    if (t->kind != IR_TY_TILE || t->rank == 0) return NULL;
    const ir_layout *have = t->layout, *res = op->nresults > 0 ? op->results[0]->type.layout : NULL;
    switch (op->code) {
    case IR_OP_CONVERT_LAYOUT:
    case IR_OP_REDUCE_SUM:
    case IR_OP_REDUCE_MAX:
    case IR_OP_REDUCE_MIN:
    case IR_OP_EXPAND_DIMS:
    case IR_OP_BROADCAST: return NULL; /* codegen reads any layout */
    case IR_OP_DOT:
        if (i == 2) return res;
        /* A in registers: P (already in the accumulator layout) and a
         * loop-invariant A such as flash_fwd's Q block, converted once
         * before the loop (convert_op hoists it), when it takes at most 32
         * registers a thread; a larger one stays in shared memory
         * (sched_pipeline.c stages it there once), as FlashAttention-2
         * keeps Q, because the registers are the accumulator's.  On
         * wgmma a loop-invariant A stays in shared memory (FlashAttention-3's
         * Q): the descriptors read it in place, and its registers serve
         * the accumulators in flight. */
        if (i == 0 && res && res->kind == IR_LAYOUT_MMA &&
            (have == res || (loop_invariant(op, op->operands[0]) && res->version != 3 &&
                             ir_type_numel(t) <= 64 * 32 * (int64_t)a->num_warps))) {
            ir_layout d = {.kind = IR_LAYOUT_DOT_OPERAND, .rank = 2, .parent = res, .opidx = 0, .kwidth = 2};
            const ir_layout *dl = intern(a, &d);
            if (dl && sched_mma_fits(dl, t)) return dl;
        }
        return NULL; /* other operands: any layout (codegen writes them to shared memory) */
    case IR_OP_STORE: {
        /* A value in the mma family is stored from its own registers (pairs
         * of neighbours: 4- or 8-byte stores) rather than converted through
         * the scratch first; the mask follows it. */
        int tr = op->operands[0]->type.rank;
        const ir_layout *vl = op->noperands > 1 + tr ? op->operands[1 + tr]->type.layout : NULL;
        bool mma_family = vl && (vl->kind == IR_LAYOUT_MMA ||
                                 (vl->kind == IR_LAYOUT_SLICE && vl->parent->kind == IR_LAYOUT_MMA));
        if (mma_family && i == 1 + tr) return NULL;
        if (mma_family && i == 2 + tr) return vl;
        break;
    }
    case IR_OP_FOR:
        if (i >= 3 && op->blocks[0] && op->blocks[0]->nargs > i - 2) return op->blocks[0]->args[i - 2]->type.layout;
        break;
    case IR_OP_YIELD: {
        const ir_op *p = op->parent ? op->parent->parent : NULL;
        if (p && (p->code == IR_OP_FOR || p->code == IR_OP_IF) && i < p->nresults)
            return p->results[i]->type.layout;
        break;
    }
    default:
        if ((ir_op_table[op->code].flags & IR_ELEMENTWISE) && op->nresults == 1) return res;
        break;
    }
    if (have && have->kind == IR_LAYOUT_BLOCKED) return NULL;
    return sched_default_layout(a->m, t->rank, t->shape, a->num_warps);
}

static void convert_op(ir_op *op, void *ctx)
{
    assign_ctx *a = ctx;
    for (int i = 0; i < op->noperands && !a->oom; i++) {
        ir_value *x = op->operands[i];
        const ir_layout *want = wanted(a, op, i);
        if (!want || want == x->type.layout) continue;
        ir_op *at = convert_point(op, x);
        ir_builder b = {.m = a->m, .f = NULL, .block = at->parent, .before = at, .loc = op->loc};
        ir_type rt = x->type;
        rt.layout = want;
        ir_op *c = ir_build(&b, IR_OP_CONVERT_LAYOUT, 1, &x, 1, &rt, 0);
        if (!c) {
            a->oom = true;
            return;
        }
        ir_op_set_operand(op, i, c->results[0]);
    }
}

static tile_status assign_func(assign_ctx *a, ir_func *f)
{
    for (int i = 0; i < f->nparams; i++) {
        ir_type *pt = &f->params[i].type;
        if (pt->kind == IR_TY_TILE && pt->rank > 0)
            pt->layout = sched_default_layout(a->m, pt->rank, pt->shape, a->num_warps);
    }
    for (int i = 0; i < f->nresults; i++) {
        ir_type *rt = &f->result_types[i];
        if (rt->kind == IR_TY_TILE && rt->rank > 0)
            rt->layout = sched_default_layout(a->m, rt->rank, rt->shape, a->num_warps);
    }
    a->nhint = a->m->next_value_id;
    a->hint = arena_calloc(a->m->mem, (size_t)(a->nhint ? a->nhint : 1), sizeof *a->hint);
    if (!a->hint) return TILE_ERR_NOMEM;
    /* Helpers keep blocked layouts (their params are blocked).  Bisecting a
     * wrong result on the GPU: TILE_SCHED_BLOCKED_ONLY=1 anchors nothing. */
    const char *env = getenv("TILE_SCHED_BLOCKED_ONLY");
    bool blocked_only = env && env[0] && strcmp(env, "0") != 0;
    if (f->kind == IR_FUNC_KERNEL && !blocked_only)
        for (int iter = 0, go = 1; go && iter < 64; iter++) {
            a->changed = false;
            ir_walk(f->body, hint_op, a);
            go = a->changed;
        }
    assign_block(a, f->body);
    assign_block(a, f->grid);
    ir_walk(f->body, convert_op, a);
    ir_walk(f->grid, convert_op, a);
    return a->oom ? TILE_ERR_NOMEM : TILE_OK;
}

tile_status sched_assign_layouts(ir_module *m, const ir_target *t, int num_warps)
{
    if (num_warps <= 0) num_warps = SCHED_DEFAULT_NUM_WARPS;
    if (m->stage == IR_STAGE_SCHEDULED) {
        if (m->target.num_warps == num_warps) {
            m->target.arch = t->arch;
            return TILE_OK;
        }
        diag_error(m->diags, (src_loc){0}, "internal error: module already scheduled for %d warps",
                   m->target.num_warps);
        return TILE_ERR_INTERNAL;
    }
    assign_ctx a = {.m = m, .t = t, .num_warps = num_warps, .wgmma = sched_wgmma_enabled(t)};
    for (ir_func *f = m->first; f; f = f->next) {
        tile_status st = assign_func(&a, f);
        if (st != TILE_OK) return st;
    }
    m->stage = IR_STAGE_SCHEDULED;
    m->target = (ir_target_attrs){.arch = t->arch, .num_warps = num_warps,
                                  .smem_budget = t->smem_per_block};
    return ir_verify_module(m, "layout assignment");
}
