/* sched_pipeline.c - software pipelining of the loads that feed tensor cores.
 *
 * A `for` loop whose body loads a tile that only tensor-core dots read (as
 * an operand, directly or transposed: flash attention's K and V, the
 * backward's Q and dO) gets, per such load, a buffer of S slots in shared
 * memory; the load becomes a cp.async into slot it % S issued S - 1
 * iterations ahead, and the dots read the slot in place (ldmatrix), so the
 * tile never passes through registers and its latency hides behind S - 1
 * iterations of math.  The loop then reads (it = iteration index):
 *
 *     before:  buf = local_alloc; copies for iterations 0 .. S-2, one
 *              commit each (a copy past the end is predicated off)
 *     body:    async_wait S-2        -- this iteration's group landed
 *              barrier               -- ... for every thread; and every
 *                                       thread is done with it - 1
 *              copies for it + S - 1 into slot (it - 1) % S; commit
 *              view = local_view buf, it % S;  the dots read view
 *
 * The copies' indices are the load's, recomputed for the later iteration
 * by cloning the pure ops of the body they depend on with the induction
 * variable advanced; the slice may hold integer loads of tensors the
 * kernel never writes (a paged cache's block-table entries: the pages to
 * copy), which read the same values whenever they run and cannot fail;
 * those are loaded one iteration earlier still and carried to the next
 * (find_index_loads, carry_indices).  A
 * tile that something besides an mma dot also reads (scaled before its
 * product) is staged too when its rows are 128 bytes or more: those uses
 * read the slot back into registers (convert_layout of the view) where the
 * load stood.  Loads that cannot be moved (a mask, an index computed from a
 * loop-carried value or an effect, narrower rows read into registers) stay
 * plain loads. */
#include "sched_pipeline.h"

#include <string.h>

#define MAX_PIPE_LOADS 8
#define MAX_SLICE 256

typedef struct pipe_load {
    ir_op *load;
    ir_value *buf;
    bool wgmma;          /* feeds_wgmma: the buffer has swizzle=128 */
} pipe_load;

/* Buffers made so far, each allocated in the kernel's top-level block
 * before the op that holds its loop: a later loop of the kernel whose
 * loads have the same types reuses them unless one loop holds the other
 * (a loop starts after an earlier sibling ends, so one set of slots serves
 * the sequence of loops, e.g. a backward kernel's partial / full / partial
 * segments, each in its own `if`). */
#define MAX_BUFS 32
typedef struct pipe_buf {
    ir_block *block;
    ir_op *loop;
    ir_type type;
    ir_value *buf;
} pipe_buf;

typedef struct pipe_bufs {
    pipe_buf b[MAX_BUFS];
    int n;
} pipe_bufs;

typedef struct pipe_loop {
    const ir_func *kernel;
    pipe_bufs *bufs;
    ir_module *m;
    const ir_target *t;
    ir_op *loop;
    ir_block *body;
    pipe_load loads[MAX_PIPE_LOADS];
    int nloads;
    ir_op *slice[MAX_SLICE];   /* body ops the loads' operands depend on, in order */
    int nslice;
    /* The slice's index loads, each loaded one iteration before its copies
     * are issued (find_index_loads); nidx 0: loaded where the copies are. */
    ir_op *idx[MAX_PIPE_LOADS];
    int nidx;
    bool idx_chain[MAX_SLICE];  /* slice[i] is an index load or feeds one */
    bool oom;
} pipe_loop;

/* Is dot `d` one the mma.sync path of codegen lowers (cg_dot.c)? */
static bool mma_dot(const pipe_loop *p, const ir_op *d)
{
    const ir_type *a = &d->operands[0]->type, *b = &d->operands[1]->type, *r = &d->results[0]->type;
    return p->t->has_mma_m16n8k16 && r->dtype == IR_F32 && r->layout && r->layout->kind == IR_LAYOUT_MMA &&
           a->dtype == b->dtype && (a->dtype == IR_BF16 || a->dtype == IR_F16) && a->rank == 2 &&
           b->rank == 2 && a->shape[0] % 16 == 0 && a->shape[1] % 16 == 0 && b->shape[1] % 8 == 0;
}

static bool only_mma_operand(const pipe_loop *p, const ir_value *v, int depth)
{
    if (!v->uses) return false;
    for (const ir_use *u = v->uses; u; u = u->next) {
        const ir_op *user = u->user;
        if (user->code == IR_OP_DOT && u->index < 2 && mma_dot(p, user)) continue;
        if (user->code == IR_OP_TRANS && depth == 0 && (!p->body || user->parent == p->body) &&
            only_mma_operand(p, user->results[0], 1))
            continue;
        return false;
    }
    return true;
}

/* Does use u of a staged load read the slot in place: an mma dot's operand,
 * directly or through a trans that only such operands read? */
static bool in_place(const pipe_loop *p, const ir_use *u)
{
    const ir_op *user = u->user;
    if (user->code == IR_OP_DOT) return u->index < 2 && mma_dot(p, user);
    return user->code == IR_OP_TRANS && (!p->body || user->parent == p->body) &&
           only_mma_operand(p, user->results[0], 1);
}

/* Do all the dots v feeds (directly or through one trans) run on wgmma
 * (mma v3 result)?  Then its buffer takes wgmma's 128-byte swizzle
 * (whole 128-byte rows of the fastest dim, rows in groups of 8), which
 * the descriptors read in place. */
static bool feeds_wgmma(const pipe_loop *p, const ir_value *v, int depth)
{
    const ir_type *t = &v->type;
    if (depth == 0 && (t->rank != 2 || (t->shape[1] * 2) % 128 != 0 || t->shape[0] % 8 != 0)) return false;
    bool any = false;
    for (const ir_use *u = v->uses; u; u = u->next) {
        const ir_op *user = u->user;
        if (depth == 0 && p && !in_place(p, u)) continue;   /* read into registers: any layout serves */
        any = true;
        const ir_layout *rl = user->nresults ? user->results[0]->type.layout : NULL;
        if (user->code == IR_OP_DOT && u->index < 2 && rl && rl->kind == IR_LAYOUT_MMA && rl->version == 3)
            continue;
        if (user->code == IR_OP_TRANS && depth == 0 && feeds_wgmma(p, user->results[0], 1)) continue;
        return false;
    }
    return any;
}

static bool in_slice(const pipe_loop *p, const ir_op *op)
{
    for (int i = 0; i < p->nslice; i++)
        if (p->slice[i] == op) return true;
    return false;
}

/* An integer load (indices) of a kernel parameter the kernel never writes:
 * it reads the same values whenever it runs (out-of-range or masked
 * elements read `other` and touch no memory), so it can be recomputed like
 * a pure op. */
static bool readonly_index_load(const pipe_loop *p, const ir_op *d)
{
    if (d->code != IR_OP_LOAD || d->nresults != 1 || !p->kernel) return false;
    ir_dtype dt = d->results[0]->type.dtype;
    if (dt != IR_I32 && dt != IR_I64) return false;
    const ir_value *t = d->operands[0];
    if (t->def || t->owner != p->kernel->body || t->index >= p->kernel->nparams) return false;
    return !p->kernel->params[t->index].is_out;
}

/* Can v be recomputed for another iteration: defined outside the body,
 * the induction variable, or a pure op of the body over such values (or a
 * read-only index load)?  Adds the body ops it needs to the slice. */
static bool recomputable(pipe_loop *p, ir_value *v, int depth)
{
    if (v->owner == p->body) return v->index == 0;  /* iv yes, carried values no */
    if (!v->def) return v->owner ? !ir_op_is_inside(v->owner->parent, p->body) : true;
    ir_op *d = v->def;
    if (d->parent != p->body) return !ir_op_is_inside(d, p->body);
    if (in_slice(p, d)) return true;
    unsigned fl = ir_op_table[d->code].flags;
    /* The prologue evaluates the slice for iteration 0 even when the loop
     * runs no iteration: nothing in it may stop the launch. */
    bool pure = (fl & IR_PURE) || readonly_index_load(p, d);
    if (!pure || ir_op_may_fail(d) || d->nblocks || depth > 64 || p->nslice >= MAX_SLICE)
        return false;
    for (int i = 0; i < d->noperands; i++)
        if (!recomputable(p, d->operands[i], depth + 1)) return false;
    p->slice[p->nslice++] = d;
    return true;
}

/* A load of the loop body worth staging: a 16-bit rank-2 tile, unmasked,
 * whose indices can be computed S - 1 iterations ahead.  The dots on the
 * mma path read its slot in place; any other use reads the slot into
 * registers where the load stood (convert_layout from the buffer), which
 * still takes the load's latency off the loop's critical path: a tile
 * scaled before a product (lightning2's decayed v) waited for global
 * memory on every iteration when it stayed a plain load. */
static bool candidate(pipe_loop *p, ir_op *op)
{
    if (op->code != IR_OP_LOAD || op->attr.i != 0 || op->nresults != 1) return false;
    const ir_type *rt = &op->results[0]->type;
    if (rt->rank != 2 || (rt->dtype != IR_BF16 && rt->dtype != IR_F16) || (rt->shape[1] * 2) % 16 != 0)
        return false;
    if (!op->results[0]->uses) return false;
    /* Read back into registers, a row narrower than 128 bytes costs more
     * than its load saved: based_fwd's [B, 16] q and k tiles so staged made
     * the kernel 26% slower on the H200 (2026-12-04). */
    bool all_in_place = true;
    for (const ir_use *u = op->results[0]->uses; u; u = u->next) all_in_place &= in_place(p, u);
    if (!all_in_place && rt->shape[1] * 2 < SCHED_MIN_READ_ROW_BYTES) return false;
    int saved = p->nslice;
    for (int i = 0; i < op->noperands; i++)
        if (!recomputable(p, op->operands[i], 0)) {
            p->nslice = saved;
            return false;
        }
    return true;
}

/* The slice in program order (it was collected depth first). */
static void order_slice(pipe_loop *p)
{
    int n = 0;
    ir_op *sorted[MAX_SLICE];
    for (ir_op *op = p->body->first; op; op = op->next)
        if (in_slice(p, op)) sorted[n++] = op;
    memcpy(p->slice, sorted, sizeof *sorted * (size_t)n);
    p->nslice = n;
}

static const ir_layout *intern(pipe_loop *p, const ir_layout *l)
{
    const ir_layout *r = ir_layout_intern(p->m->mem, &p->m->layouts, l);
    if (!r) p->oom = true;
    return r;
}

/* Row-major swizzled buffer layout for rows of `cols` 16-bit elements:
 * 16-byte chunks XOR-ed with the row's phase.  The phase stays below the
 * largest power of two dividing the chunks of a row (the XOR must map a
 * row's chunks onto themselves: 10 chunks of a D = 80 row allow 2 phases),
 * at most 8, and rows shorter than 128 bytes share a phase so that the 8
 * rows one ldmatrix reads still span all 32 banks. */
const ir_layout *sched_shared_layout(ir_module *m, int rank, int64_t cols)
{
    ir_layout l = {.kind = IR_LAYOUT_SHARED, .rank = rank, .vec = 8, .max_phase = 1};
    int64_t chunks = cols / 8;
    while (l.max_phase < 8 && chunks % (2 * l.max_phase) == 0) l.max_phase *= 2;
    l.per_phase = chunks >= 8 ? 1 : (int)(8 / (chunks > 0 ? chunks : 1));
    for (int d = 0; d < rank; d++) l.order[d] = rank - 1 - d;
    return ir_layout_intern(m->mem, &m->layouts, &l);
}

static const ir_layout *shared_layout(pipe_loop *p, int rank, int64_t cols, bool wgmma)
{
    ir_layout w = {.kind = IR_LAYOUT_SHARED, .rank = rank, .vec = 8, .per_phase = 1, .max_phase = 8,
                   .swizzle = 128};
    for (int d = 0; d < rank; d++) w.order[d] = rank - 1 - d;
    const ir_layout *l = wgmma ? ir_layout_intern(p->m->mem, &p->m->layouts, &w) : sched_shared_layout(p->m, rank, cols);
    if (!l) p->oom = true;
    return l;
}

static ir_value *scalar(ir_builder *b, ir_dtype t, int64_t v) { return ir_const_int(b, t, v, 0, NULL); }

/* Clones the slice with the induction variable replaced by iv2 and
 * issues the copies of every load for that iteration into `slot`.  With
 * `idx_vals` (the index loads' values for iv2, loaded earlier) the index
 * loads are not cloned. */
static void issue(pipe_loop *p, ir_builder *b, ir_value *iv2, ir_value *slot, ir_value *pred,
                  ir_value *const *idx_vals)
{
    ir_value_map map = {0};
    ir_value_map_set(&map, p->body->args[0], iv2);
    for (int k = 0; idx_vals && k < p->nidx; k++) ir_value_map_set(&map, p->idx[k]->results[0], idx_vals[k]);
    for (int i = 0; i < p->nslice && !map.oom; i++) {
        if (idx_vals && p->slice[i]->code == IR_OP_LOAD) continue;   /* all of them are p->idx */
        if (!ir_clone_op(b, p->slice[i], &map)) p->oom = true;
    }
    for (int l = 0; l < p->nloads && !p->oom && !map.oom; l++) {
        ir_op *ld = p->loads[l].load;
        const ir_type *bt = &p->loads[l].buf->type;
        ir_type vt = ld->results[0]->type;
        vt.layout = shared_layout(p, 2, vt.shape[1], p->loads[l].wgmma);
        ir_value *vops[2] = {p->loads[l].buf, slot};
        ir_op *view = ir_build(b, IR_OP_LOCAL_VIEW, 2, vops, 1, &vt, 0);
        ir_value *ops[2 + IR_MAX_RANK + 1];
        int n = 0;
        ops[n++] = view ? view->results[0] : NULL;
        ops[n++] = pred;
        for (int i = 0; i < ld->noperands; i++) ops[n++] = ir_value_map_get(&map, ld->operands[i]);
        ir_type ct = ld->results[0]->type;  /* the load's own (blocked) layout: who copies what */
        if (!view || !ir_build(b, IR_OP_ASYNC_COPY, n, ops, 1, &ct, 0)) p->oom = true;
        (void)bt;
    }
    if (map.oom) p->oom = true;
    ir_value_map_free(&map);
    if (!ir_build(b, IR_OP_ASYNC_COMMIT, 0, NULL, 0, NULL, 0)) p->oom = true;
}

/* The slot `view` read into registers in ld's own layout, where ld stands
 * (each thread reads back the elements its own copy wrote). */
static ir_value *read_slot(pipe_loop *p, ir_op *ld, ir_value *view)
{
    ir_builder b = {.m = p->m, .block = ld->parent, .before = ld, .loc = ld->loc};
    ir_type rt = ld->results[0]->type;
    ir_op *rd = ir_build(&b, IR_OP_CONVERT_LAYOUT, 1, &view, 1, &rt, 0);
    if (!rd) p->oom = true;
    return rd ? rd->results[0] : NULL;
}

/* The loads' uses read the view of this iteration's slot (the others a
 * register copy of it); returns the last load's view. */
static ir_op *rewire(pipe_loop *p, ir_builder *b, ir_value *slot)
{
    ir_op *last = NULL;
    for (int l = 0; l < p->nloads && !p->oom; l++) {
        ir_op *ld = p->loads[l].load;
        ir_value *res = ld->results[0];
        ir_type vt = res->type;
        vt.layout = shared_layout(p, 2, vt.shape[1], p->loads[l].wgmma);
        ir_value *vops[2] = {p->loads[l].buf, slot};
        ir_op *view = ir_build(b, IR_OP_LOCAL_VIEW, 2, vops, 1, &vt, 0);
        if (!view) {
            p->oom = true;
            return NULL;
        }
        last = view;
        ir_value *regs = NULL;   /* the slot read into registers, for the other uses */
        for (ir_use *u = res->uses, *next; u; u = next) {
            next = u->next;
            ir_op *user = u->user;
            if (!in_place(p, u)) {
                if (!regs) regs = read_slot(p, ld, view->results[0]);
                if (!regs) return NULL;
                ir_op_set_operand(user, u->index, regs);
                continue;
            }
            if (user->code != IR_OP_TRANS) {
                ir_op_set_operand(user, u->index, view->results[0]);
                continue;
            }
            /* trans of a buffer: the same memory, the order permuted.  The
             * trans is changed in place, not replaced: callers walk the
             * block and hold the op after the load, often this one. */
            ir_layout tl = *vt.layout;
            tl.next = NULL;
            for (int i = 0; i < 2; i++) tl.order[i] = user->attr.perm[0] == vt.layout->order[i] ? 0 : 1;
            const ir_layout *tlay = intern(p, &tl);
            if (!tlay) return NULL;
            ir_op_set_operand(user, u->index, view->results[0]);
            user->results[0]->type.layout = tlay;
        }
        ir_op_erase(ld);
    }
    return last;
}

/* Is op inside a loop?  Then its block runs again, and the buffers it
 * fills are the ones the previous run's loop may still be reading. */
static bool inside_loop(const ir_op *op)
{
    for (const ir_op *q = op->parent ? op->parent->parent : NULL; q;
         q = q->parent ? q->parent->parent : NULL)
        if (q->code == IR_OP_FOR || q->code == IR_OP_WHILE) return true;
    return false;
}

/* The op of the kernel's top-level block that holds op (or op itself):
 * buffers are allocated before it, so that sibling `if`s share them. */
static ir_op *top_level(const pipe_loop *p, ir_op *op)
{
    while (op->parent && op->parent != p->kernel->body && op->parent->parent) op = op->parent->parent;
    return op;
}

/* Does `outer` hold op (or is it op)? */
static bool holds(const ir_op *outer, const ir_op *op)
{
    for (const ir_op *q = op; q; q = q->parent ? q->parent->parent : NULL)
        if (q == outer) return true;
    return false;
}

/* Index loads (a paged cache's block-table entries, a block list's
 * entries) whose copies they address are prefetched: each iteration loads
 * the entries of iteration it + S and carries them to the next, so the
 * copies of it + S - 1 are issued without waiting for a global load.
 * Where the copies waited, each iteration paid the entry's round trip to
 * memory before its copy was issued.  H200, 2026-12-04: block_sparse_fwd
 * D=128 in 64-key steps +5%, decode_gqa +2-5% (with the model's warps and
 * stages, measured together); batch-1 decoding stays at 63% of the copy
 * bandwidth, so the entries were not what held it.  Only loads whose
 * indices read no other index load (one level of indirection), at most
 * MAX_PIPE_LOADS of them. */
static void find_index_loads(pipe_loop *p)
{
    p->nidx = 0;
    memset(p->idx_chain, 0, sizeof p->idx_chain);
    for (int i = p->nslice - 1; i >= 0; i--) {
        ir_op *op = p->slice[i];
        bool chain = op->code == IR_OP_LOAD;
        if (chain) {
            if (p->nidx == MAX_PIPE_LOADS) goto none;
            p->idx[p->nidx++] = op;
        }
        for (int j = i + 1; j < p->nslice && !chain; j++)
            for (int o = 0; p->idx_chain[j] && o < p->slice[j]->noperands; o++)
                chain |= p->slice[j]->operands[o]->def == op;
        p->idx_chain[i] = chain;
    }
    /* One level: nothing in an index load's chain reads another's result. */
    for (int i = 0; i < p->nslice; i++)
        for (int o = 0; p->idx_chain[i] && o < p->slice[i]->noperands; o++) {
            const ir_op *d = p->slice[i]->operands[o]->def;
            if (d && d->code == IR_OP_LOAD && d->parent == p->body) goto none;
        }
    return;
none:
    p->nidx = 0;
}

/* The index loads' values for iteration iv (the slice's index chain
 * cloned at b) into vals. */
static bool load_indices(pipe_loop *p, ir_builder *b, ir_value *iv, ir_value **vals)
{
    ir_value_map map = {0};
    bool ok = ir_value_map_set(&map, p->body->args[0], iv);
    for (int i = 0; i < p->nslice && ok; i++)
        if (p->idx_chain[i]) ok = ir_clone_op(b, p->slice[i], &map) != NULL;
    for (int k = 0; k < p->nidx && ok; k++) ok = (vals[k] = ir_value_map_get(&map, p->idx[k]->results[0])) != NULL;
    ok &= !map.oom;
    ir_value_map_free(&map);
    return ok;
}

static ir_value *given(ir_value *arg, void *ctx)
{
    (void)arg;
    return ctx;
}

/* Carries the index loads' values: initially those of iteration S - 1
 * (loaded before the loop), in the body those of it + S - 1 (returned in
 * args), passed on as those of it + S (loaded at the body's head). */
static bool carry_indices(pipe_loop *p, ir_builder *pre, ir_builder *h, int stages, ir_value **args)
{
    ir_op *loop = p->loop;
    ir_value *lo = loop->operands[0], *step = loop->operands[2], *iv = p->body->args[0];
    ir_dtype it_t = lo->type.dtype;
    ir_value *init[MAX_PIPE_LOADS], *next[MAX_PIPE_LOADS];
    ir_value *iv0 = ir_binary(pre, IR_OP_ADD, lo, ir_binary(pre, IR_OP_MUL, step, scalar(pre, it_t, stages - 1)));
    ir_value *iv1 = ir_binary(h, IR_OP_ADD, iv, ir_binary(h, IR_OP_MUL, step, scalar(h, it_t, stages)));
    if (!iv0 || !iv1 || !load_indices(p, pre, iv0, init) || !load_indices(p, h, iv1, next)) return false;
    int first = p->body->nargs;
    for (int k = 0; k < p->nidx; k++)
        if (!ir_for_add_carried(loop, init[k], given, next[k])) return false;
    for (int k = 0; k < p->nidx; k++) args[k] = p->body->args[first + k];
    return true;
}

static void transform(pipe_loop *p, int stages)
{
    ir_op *loop = p->loop;
    ir_value *lo = loop->operands[0], *hi = loop->operands[1], *step = loop->operands[2];
    ir_dtype it_t = lo->type.dtype;
    ir_builder b = {.m = p->m, .block = loop->parent, .before = loop, .loc = loop->loc};
    ir_op *anchor = top_level(p, loop);
    ir_builder ab = {.m = p->m, .block = anchor->parent, .before = anchor, .loc = loop->loc};
    bool reused = false;
    for (int l = 0; l < p->nloads; l++) {
        ir_type bt = p->loads[l].load->results[0]->type;
        bt.rank = 3;
        bt.shape[2] = bt.shape[1];
        bt.shape[1] = bt.shape[0];
        bt.shape[0] = stages;
        bt.layout = shared_layout(p, 3, bt.shape[2], p->loads[l].wgmma);
        ir_value *buf = NULL;
        for (int i = 0; i < p->bufs->n && !buf; i++) {
            pipe_buf *pb = &p->bufs->b[i];
            bool taken = false;
            for (int j = 0; j < l; j++) taken |= p->loads[j].buf == pb->buf;
            if (pb->block == anchor->parent && !taken && !holds(pb->loop, loop) && !holds(loop, pb->loop) &&
                ir_type_equal(&pb->type, &bt))
                buf = pb->buf;
        }
        if (buf) {
            reused = true;
        } else {
            ir_op *a = ir_build(&ab, IR_OP_LOCAL_ALLOC, 0, NULL, 1, &bt, 0);
            if (!a) {
                p->oom = true;
                return;
            }
            buf = a->results[0];
            if (p->bufs->n < MAX_BUFS) p->bufs->b[p->bufs->n++] = (pipe_buf){anchor->parent, loop, bt, buf};
        }
        p->loads[l].buf = buf;
    }
    /* A reused buffer: every thread has left the earlier loop (whose last
     * iteration may still read a slot the prologue now fills).  Inside an
     * enclosing loop the same holds for the previous trip's loops
     * (compute-sanitizer's racecheck found it in flash_bwd_dkdv's GQA loop). */
    if ((reused || inside_loop(loop)) && !ir_build(&b, IR_OP_BARRIER, 0, NULL, 0, NULL, 0))
        p->oom = true;
    /* Prologue: iterations 0 .. S-2. */
    for (int s = 0; s < stages - 1 && !p->oom; s++) {
        ir_value *iv = ir_binary(&b, IR_OP_ADD, lo, ir_binary(&b, IR_OP_MUL, step, scalar(&b, it_t, s)));
        ir_value *pred = ir_binary(&b, IR_OP_CMP_LT, iv, hi);
        issue(p, &b, iv, scalar(&b, IR_I32, s), pred, NULL);
    }
    /* Body head. */
    ir_builder h = {.m = p->m, .block = p->body, .before = p->body->first, .loc = loop->loc};
    ir_value *iv = p->body->args[0];
    ir_value *it = ir_binary(&h, IR_OP_DIV, ir_binary(&h, IR_OP_SUB, iv, lo), step);
    ir_value *ns = scalar(&h, it_t, stages);
    ir_value *slot = ir_binary(&h, IR_OP_REM, it, ns);
    ir_value *ahead = ir_binary(&h, IR_OP_REM, ir_binary(&h, IR_OP_ADD, it, scalar(&h, it_t, stages - 1)), ns);
    if (it_t != IR_I32) {
        slot = ir_cast(&h, slot, IR_I32);
        ahead = ir_cast(&h, ahead, IR_I32);
    }
    ir_op *w = ir_build(&h, IR_OP_ASYNC_WAIT, 0, NULL, 0, NULL, 0);
    if (w) w->attr.i = stages - 2;
    if (!w || !ir_build(&h, IR_OP_BARRIER, 0, NULL, 0, NULL, 0) || !it || !slot || !ahead) {
        p->oom = true;
        return;
    }
    ir_value *iv2 = ir_binary(&h, IR_OP_ADD, iv, ir_binary(&h, IR_OP_MUL, step, scalar(&h, it_t, stages - 1)));
    ir_value *idx_vals[MAX_PIPE_LOADS];
    bool prefetch = p->nidx > 0;
    if (prefetch && !carry_indices(p, &b, &h, stages, idx_vals)) {
        p->oom = true;
        return;
    }
    issue(p, &h, iv2, ahead, ir_binary(&h, IR_OP_CMP_LT, iv2, hi), prefetch ? idx_vals : NULL);
    rewire(p, &h, slot);
}

static int64_t stage_bytes(const pipe_loop *p)
{
    int64_t n = 0;
    for (int l = 0; l < p->nloads; l++) {
        const ir_type *t = &p->loads[l].load->results[0]->type;
        n += ir_type_numel(t) * ir_dtype_size(t->dtype);
    }
    return n;
}

/* ---- loop-invariant operands ----------------------------------------------
 *
 * A tile loaded once, outside a loop, and read by mma dots inside it (the
 * backward's K and V blocks) is copied into a one-slot buffer right where
 * it is loaded, so the dots read it in place at every iteration instead of
 * writing it (and its transpose) to the scratch each time. */

static bool used_in_loop(const ir_value *v, int depth)
{
    for (const ir_use *u = v->uses; u; u = u->next) {
        const ir_op *user = u->user;
        if (user->code == IR_OP_TRANS && depth == 0 && used_in_loop(user->results[0], 1)) return true;
        for (const ir_block *b = user->parent; b && b->parent; b = b->parent->parent)
            if (b->parent->code == IR_OP_FOR || b->parent->code == IR_OP_WHILE) {
                if (!ir_op_is_inside(v->def, b)) return true;
                break;
            }
    }
    return false;
}

/* A one-slot buffer for load ld.  `shared`: one read only by the dots
 * right after it (no loop in between), which later such loads of the same
 * type reuse, as the pipelined loops reuse theirs (flash_fwd's last P V
 * of each segment); the others get their own. */
/* Is v (a buffer, or a view or trans of one) read at or after `anchor`,
 * an op of its block: by an op there or inside it, or by a later one? */
static bool read_from(const ir_value *v, const ir_op *anchor, int depth)
{
    for (const ir_use *u = v->uses; u; u = u->next) {
        const ir_op *user = u->user;
        if ((user->code == IR_OP_LOCAL_VIEW || user->code == IR_OP_TRANS) && depth < 4 &&
            user->nresults == 1 && read_from(user->results[0], anchor, depth + 1))
            return true;
        const ir_op *top = user;
        while (top && top->parent != anchor->parent) top = top->parent ? top->parent->parent : NULL;
        for (const ir_op *x = anchor; x && top; x = x->next)
            if (x == top) return true;
    }
    return false;
}

static ir_value *stage_buffer(pipe_loop *p, ir_op *ld, const ir_type *bt, bool shared, bool *reused)
{
    ir_op *anchor = top_level(p, ld);
    *reused = false;
    /* A buffer an earlier staged load filled is reused once nothing reads
     * it from this top-level op on (not hyper_attn's Q, which its second
     * dot reads after K of the same shape is staged; not across the two
     * branches of one if either, which would be safe but is not told
     * apart). */
    if (shared)
        for (int i = 0; i < p->bufs->n; i++) {
            pipe_buf *pb = &p->bufs->b[i];
            if (pb->block == anchor->parent && !pb->loop && ir_type_equal(&pb->type, bt) &&
                !read_from(pb->buf, anchor, 0)) {
                *reused = true;
                return pb->buf;
            }
        }
    ir_builder ab = {.m = p->m, .block = anchor->parent, .before = anchor, .loc = ld->loc};
    if (!shared) ab = (ir_builder){.m = p->m, .block = ld->parent, .before = ld->next, .loc = ld->loc};
    ir_op *a = ir_build(&ab, IR_OP_LOCAL_ALLOC, 0, NULL, 1, bt, 0);
    if (!a) return NULL;
    if (shared && p->bufs->n < MAX_BUFS) p->bufs->b[p->bufs->n++] = (pipe_buf){anchor->parent, NULL, *bt, a->results[0]};
    return a->results[0];
}

/* The op of block `home` that holds op (or op itself); NULL if none does. */
static ir_op *held_in(ir_op *op, const ir_block *home)
{
    while (op && op->parent != home) op = op->parent ? op->parent->parent : NULL;
    return op;
}

/* Does a pipelined loop's own wait cover the buffer for `user`?  The
 * innermost loop around it (below `home`, the staged load's block) starts
 * its body with `async_wait S-2; barrier` before the user: the loop's
 * prologue commits S - 1 groups after the staged copy, so at the first
 * iteration's wait the copy's group is among the older ones, which the
 * wait completes, and the barrier publishes every thread's part. */
static bool covered_by_loop_wait(ir_op *user, const ir_block *home)
{
    for (ir_op *x = user; x && x->parent && x->parent != home; x = x->parent->parent) {
        ir_block *body = x->parent;
        ir_op *loop = body->parent;
        if (!loop || (loop->code != IR_OP_FOR && loop->code != IR_OP_WHILE)) continue;
        for (ir_op *y = body->first; y && y != x; y = y->next)
            if (y->code == IR_OP_ASYNC_WAIT && y->next && y->next->code == IR_OP_BARRIER) return true;
        return false;
    }
    return false;
}

/* The earliest op of `home` that holds a use of v (or of a trans of v) that
 * no pipelined loop's wait covers; NULL when every use is covered. */
static ir_op *first_uncovered(const ir_value *v, const ir_block *home, int depth)
{
    ir_op *first = NULL;
    for (const ir_use *u = v->uses; u; u = u->next) {
        ir_op *at = NULL;
        if (u->user->code == IR_OP_TRANS && depth == 0) at = first_uncovered(u->user->results[0], home, 1);
        else if (!covered_by_loop_wait(u->user, home)) at = held_in(u->user, home);
        if (!at) continue;
        if (!first) {
            first = at;
            continue;
        }
        for (ir_op *y = at; y; y = y->next)
            if (y == first) {
                first = at;
                break;
            }
    }
    return first;
}

/* The staged copy is waited for (async_wait 0; barrier) only right before
 * the first op that reads the buffer outside a pipelined loop's own wait,
 * so everything in between runs while it lands: flash_fwd's Q block flies
 * beside the first K/V blocks of the loop's prologue, and its last P V's
 * V block (loaded before the loop) beside the whole loop. */
static void wait_before_use(pipe_loop *p, ir_block *home, ir_value *view)
{
    ir_op *at = first_uncovered(view, home, 0);
    if (!at) return;
    /* Another staged load's wait already stands there: it waits for all. */
    if (at->prev && at->prev->code == IR_OP_BARRIER && at->prev->prev &&
        at->prev->prev->code == IR_OP_ASYNC_WAIT && at->prev->prev->attr.i == 0)
        return;
    ir_builder b = {.m = p->m, .block = home, .before = at, .loc = at->loc};
    ir_op *w = ir_build(&b, IR_OP_ASYNC_WAIT, 0, NULL, 0, NULL, 0);
    if (!w || !ir_build(&b, IR_OP_BARRIER, 0, NULL, 0, NULL, 0)) {
        p->oom = true;
        return;
    }
    w->attr.i = 0;
}

static void stage_invariant(pipe_loop *p, ir_op *ld, bool shared)
{
    ir_builder b = {.m = p->m, .block = ld->parent, .before = ld->next, .loc = ld->loc};
    ir_type bt = ld->results[0]->type;
    bt.rank = 3;
    bt.shape[2] = bt.shape[1];
    bt.shape[1] = bt.shape[0];
    bt.shape[0] = 1;
    bool wg = feeds_wgmma(p, ld->results[0], 0);
    bt.layout = shared_layout(p, 3, bt.shape[2], wg);
    bool reused;
    ir_value *buf = stage_buffer(p, ld, &bt, shared, &reused);
    /* Restaged on every trip of an enclosing loop, or a buffer an earlier
     * load used: wait for the earlier readers first. */
    if (buf && (reused || inside_loop(ld)) && !ir_build(&b, IR_OP_BARRIER, 0, NULL, 0, NULL, 0)) buf = NULL;
    if (!buf) {
        p->oom = true;
        return;
    }
    ir_value *zero = scalar(&b, IR_I32, 0);
    ir_value *yes = ir_const_bool(&b, true, 0, NULL);
    ir_type vt = ld->results[0]->type;
    vt.layout = shared_layout(p, 2, vt.shape[1], wg);
    ir_value *vops[2] = {buf, zero};
    ir_op *view = ir_build(&b, IR_OP_LOCAL_VIEW, 2, vops, 1, &vt, 0);
    ir_value *ops[2 + IR_MAX_RANK + 1];
    int n = 0;
    ops[n++] = view ? view->results[0] : NULL;
    ops[n++] = yes;
    for (int i = 0; i < ld->noperands; i++) ops[n++] = ld->operands[i];
    ir_type ct = ld->results[0]->type;
    if (!view || !yes || !ir_build(&b, IR_OP_ASYNC_COPY, n, ops, 1, &ct, 0) ||
        !ir_build(&b, IR_OP_ASYNC_COMMIT, 0, NULL, 0, NULL, 0)) {
        p->oom = true;
        return;
    }
    p->loads[0] = (pipe_load){.load = ld, .buf = buf, .wgmma = wg};
    p->nloads = 1;
    ir_block *home = ld->parent;
    ir_op *rv = rewire(p, &b, zero);   /* erases ld */
    if (p->oom) return;
    if (rv) wait_before_use(p, home, rv->results[0]);
    else p->oom = true;
}

typedef struct pipe_ctx {
    pipe_bufs bufs;
    ir_module *m;
    const ir_target *t;
    const ir_func *kernel;
    int stages;
    int npipelined, nstaged;
    bool oom;
} pipe_ctx;

static bool holds_loop(const ir_op *op)
{
    if (op->code == IR_OP_FOR || op->code == IR_OP_WHILE) return true;
    for (int r = 0; r < op->nblocks; r++)
        for (const ir_op *x = op->blocks[r] ? op->blocks[r]->first : NULL; x; x = x->next)
            if (holds_loop(x)) return true;
    return false;
}

/* Is ld's value live across a loop (loaded before it, read after it)?  In
 * registers it would hold them through the loop; staged, it lands beside
 * the loop's work (wait_before_use).  Asked only of a load no loop reads
 * (visit_invariant), so first_uncovered is simply its first reader. */
static bool lives_across_loop(ir_op *ld)
{
    ir_op *first = first_uncovered(ld->results[0], ld->parent, 0);
    for (const ir_op *x = ld->next; x && x != first; x = x->next)
        if (holds_loop(x)) return true;
    return false;
}

static void visit_invariant(ir_op *op, void *ctx)
{
    pipe_ctx *c = ctx;
    if (op->code != IR_OP_LOAD || c->oom || op->attr.i != 0 || op->nresults != 1) return;
    const ir_type *rt = &op->results[0]->type;
    if (rt->rank != 2 || (rt->dtype != IR_BF16 && rt->dtype != IR_F16) || (rt->shape[1] * 2) % 16 != 0) return;
    pipe_loop p = {.kernel = c->kernel, .bufs = &c->bufs, .m = c->m, .t = c->t};
    if (!only_mma_operand(&p, op->results[0], 0)) return;
    /* Outside any loop, a load that only wgmma dots read is staged too:
     * else the dot writes it to the scratch from registers (cg_wgmma.c). */
    bool in_loop = used_in_loop(op->results[0], 0);
    if (!in_loop && (inside_loop(op) || !(feeds_wgmma(&p, op->results[0], 0) || lives_across_loop(op)))) return;
    if (ir_type_numel(rt) * 2 > c->t->smem_per_block / 4) return;
    stage_invariant(&p, op, !in_loop);
    c->oom |= p.oom;
    c->nstaged++;
}

static void visit(ir_op *op, void *ctx)
{
    pipe_ctx *c = ctx;
    if (op->code != IR_OP_FOR || c->oom || !op->blocks[0]) return;
    pipe_loop p = {.kernel = c->kernel, .bufs = &c->bufs, .m = c->m, .t = c->t, .loop = op,
                   .body = op->blocks[0]};
    for (ir_op *x = p.body->first; x && p.nloads < MAX_PIPE_LOADS; x = x->next)
        if (candidate(&p, x))
            p.loads[p.nloads++] = (pipe_load){.load = x, .wgmma = feeds_wgmma(&p, x->results[0], 0)};
    if (!p.nloads) return;
    order_slice(&p);
    find_index_loads(&p);
    /* Buffers take at most three quarters of a block's shared memory: the
     * rest is the scratch of the other ops.  (Half, before, left D=128
     * BN=128 unpipelined: 2 x 64 KB of K and V; whether a second block
     * fits beside them is the scheduler's choice, not this pass's.) */
    int stages = c->stages;
    while (stages >= 2 && stage_bytes(&p) * stages > c->t->smem_per_block / 4 * 3) stages--;
    if (stages < 2) return;
    transform(&p, stages);
    c->oom |= p.oom;
    c->npipelined++;
}

tile_status sched_pipeline(ir_module *m, const ir_target *t, int stages, int *npipelined)
{
    if (npipelined) *npipelined = 0;
    if (!t->has_cp_async) return TILE_OK;
    pipe_ctx c = {.m = m, .t = t, .stages = stages};
    /* One stage pipelines no loop, but a tile loaded outside the loops is
     * staged all the same: else wgmma reads it through scratch, written 16
     * bits at a time (lightning2_block_out, which has no loop, loaded its
     * four tiles with scalar loads: 0.78 ms where 91 us was predicted). */
    for (ir_func *f = m->first; f; f = f->next)
        if (f->kind == IR_FUNC_KERNEL) {
            c.kernel = f;
            if (stages >= 2) ir_walk_post(f->body, visit, &c);
            ir_walk(f->body, visit_invariant, &c);
        }
    if (npipelined) *npipelined = c.npipelined;
    if (c.oom) return TILE_ERR_NOMEM;
    return ir_verify_module(m, "software pipelining");
}
