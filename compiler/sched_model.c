/* sched_model.c - the scheduler's cost model (sched_model.h).
 *
 * Everything is derived from the scheduled IR, never from a kernel's name:
 * a load, store or atomic moves its whole tile (masked lanes included: the
 * model is an upper bound on HBM bytes, and K/V are re-read once per query
 * block because every program loads them), a dot does 2*m*n*k FLOPs and
 * reads its operands from shared memory, and each op runs once per trip of
 * its enclosing loops.  Trip counts come from evaluating the loop bounds
 * (scalar integer ops of program_id, tensor_dim and constants) for sampled
 * programs of the grid at the representative shape, so a range fn's bounds
 * (causal, sliding window) shorten the loops exactly as they will at run
 * time.  A bound that depends on loaded data (a block list's count, a
 * sequence's length) is taken at the largest value an assert of the
 * kernel allows it (`assert(count <= MAXB)`): the worst case, which the
 * kernel's shapes state.  Without such an assert the loop counts once and
 * the cost says the trips are not exact. */
#include "sched_model.h"

#include "sched_layout.h"
#include "sched_pipeline.h"

#include <math.h>
#include <string.h>

#include "ir/eval.h"

#define SCHED_LAUNCH_S 2e-6   /* launch latency added to every prediction */
/* A global load that misses L2: 600-800 cycles on H100/H200 (pointer-chase
 * microbenchmarks: chipsandcheese.com, "Nvidia's H100: Funny L2, and Tons
 * of Bandwidth", 2023, and the ~600-cycle HBM3 figure tables quote); taken
 * at 700 and checked against the one-stage slowdowns tilec tune measured
 * (docs/scheduling.md). */
#define SCHED_LOAD_LATENCY_CYCLES 700.0

int64_t sched_shape_dim(const sched_shape *s, const char *name)
{
    for (int i = 0; s && name && i < s->n; i++)
        if (strcmp(s->names[i], name) == 0) return s->values[i];
    return SCHED_DEFAULT_DIM;
}

/* ---- scalar evaluation of one program ------------------------------------ */

typedef struct evaluator {
    const ir_func *k;
    const sched_shape *shape;
    int64_t pid[3], grid[3];
    int64_t *val;          /* by value id */
    unsigned *gen;         /* val[id] is current when gen[id] == cur */
    unsigned cur;
    int nvals;
    bool bound_loads;      /* a loaded scalar takes its asserted maximum (loop bounds) */
    bool used_bound;       /*   and one did */
} evaluator;

static int64_t dim_size(const ir_param *p, int d, const sched_shape *s)
{
    if (d < 0 || d >= p->type.rank) return -1;
    if (p->dims[d].size >= 1) return p->dims[d].size;
    return sched_shape_dim(s, p->dims[d].name);
}

/* The kernel parameter a block argument of the grid or body stands for. */
static const ir_param *param_of(const evaluator *e, const ir_value *v)
{
    if (v->def || !v->owner) return NULL;
    if (v->owner != e->k->body && v->owner != e->k->grid) return NULL;
    return v->index < e->k->nparams ? &e->k->params[v->index] : NULL;
}

static bool eval_value(evaluator *e, const ir_value *v, int64_t *out);

/* Does the bool scalar c reach an assert (directly or as a term of `and`s)? */
static bool asserted(const ir_value *c, int depth)
{
    for (const ir_use *u = c->uses; u && depth < 8; u = u->next) {
        if (u->user->code == IR_OP_ASSERT) return true;
        if (u->user->code == IR_OP_AND && asserted(u->user->results[0], depth + 1)) return true;
    }
    return false;
}

/* The largest value the kernel's asserts allow the integer scalar v:
 * `v <= x`, `v < x` (x - 1), `x >= v`, `x > v`, asserted alone or as a term
 * of an `and`, the least of them.  False if none. */
static bool asserted_max(evaluator *e, const ir_value *v, int64_t *out)
{
    bool found = false;
    for (const ir_use *u = v->uses; u; u = u->next) {
        const ir_op *cmp = u->user;
        int side = cmp->code == IR_OP_CMP_LE || cmp->code == IR_OP_CMP_LT ? 0
                   : cmp->code == IR_OP_CMP_GE || cmp->code == IR_OP_CMP_GT ? 1 : -1;
        if (side < 0 || u->index != side || !asserted(cmp->results[0], 0)) continue;
        int64_t x;
        if (!eval_value(e, cmp->operands[1 - side], &x)) continue;
        if (cmp->code == IR_OP_CMP_LT || cmp->code == IR_OP_CMP_GT) x--;
        if (!found || x < *out) *out = x;
        found = true;
    }
    return found;
}

static bool eval_def(evaluator *e, const ir_op *op, int64_t *out)
{
    int64_t a = 0, b = 0, c = 0;
    ir_opcode code = op->code;
    switch (code) {
    case IR_OP_LOAD:
        if (!e->bound_loads || op->nresults != 1 || op->results[0]->type.rank != 0 ||
            !ir_dtype_is_int(op->results[0]->type.dtype) || !asserted_max(e, op->results[0], out))
            return false;
        e->used_bound = true;
        return true;
    case IR_OP_CONST:
        *out = op->attr.cval.i;
        return ir_dtype_is_int(op->results[0]->type.dtype) || op->results[0]->type.dtype == IR_BOOL;
    case IR_OP_PROGRAM_ID:
    case IR_OP_NUM_PROGRAMS:
        if (op->attr.i < 0 || op->attr.i > 2) return false;
        *out = code == IR_OP_PROGRAM_ID ? e->pid[op->attr.i] : e->grid[op->attr.i];
        return true;
    case IR_OP_TENSOR_DIM: {
        const ir_param *p = param_of(e, op->operands[0]);
        *out = p ? dim_size(p, (int)op->attr.i, e->shape) : -1;
        return *out >= 0;
    }
    default: break;
    }
    if (op->nresults != 1 || op->results[0]->type.rank != 0) return false;
    ir_dtype rt = op->results[0]->type.dtype;
    if (ir_dtype_is_float(rt)) return false;
    ir_scalar r;
    if ((ir_op_table[code].flags & IR_ELEMENTWISE) && op->noperands == 1) {
        ir_dtype in = op->operands[0]->type.dtype;
        if (ir_dtype_is_float(in) || !eval_value(e, op->operands[0], &a)) return false;
        if (ir_eval_unary(code, in, rt, (ir_scalar){.i = a}, &r) != TILE_OK) return false;
    } else if ((ir_op_table[code].flags & IR_ELEMENTWISE) && op->noperands == 2) {
        ir_dtype in = op->operands[0]->type.dtype;
        if (ir_dtype_is_float(in) || !eval_value(e, op->operands[0], &a) ||
            !eval_value(e, op->operands[1], &b))
            return false;
        if (ir_eval_binary(code, in, (ir_scalar){.i = a}, (ir_scalar){.i = b}, &r) != TILE_OK)
            return false;
    } else if (code == IR_OP_SELECT) {
        if (!eval_value(e, op->operands[0], &a)) return false;
        const ir_value *pick = op->operands[a ? 1 : 2];
        if (ir_dtype_is_float(pick->type.dtype) || !eval_value(e, pick, &c)) return false;
        r.i = c;
    } else {
        return false;
    }
    *out = r.i;
    return true;
}

static bool eval_value(evaluator *e, const ir_value *v, int64_t *out)
{
    if (v->id >= 0 && v->id < e->nvals && e->gen[v->id] == e->cur) {
        *out = e->val[v->id];
        return true;
    }
    if (!v->def || v->type.rank != 0) return false;   /* arguments: bound by the walk */
    if (!eval_def(e, v->def, out)) return false;
    /* What a bound load's maximum gave holds for the loop bound only. */
    if (!e->bound_loads && v->id >= 0 && v->id < e->nvals) {
        e->val[v->id] = *out;
        e->gen[v->id] = e->cur;
    }
    return true;
}

static void bind(evaluator *e, const ir_value *v, int64_t x)
{
    if (v->id < 0 || v->id >= e->nvals) return;
    e->val[v->id] = x;
    e->gen[v->id] = e->cur;
}

/* ---- counting one program ------------------------------------------------ */

typedef struct counter {
    evaluator *e;
    sched_cost *c;
    double weight;         /* programs this sample stands for */
    int num_warps;
} counter;

static double tile_bytes(const ir_type *t)
{
    return (double)ir_type_numel(t) * ir_dtype_size(t->dtype);
}

static sched_tensor *tensor_of(counter *n, const ir_value *t)
{
    const ir_param *p = param_of(n->e, t);
    return p ? &n->c->tensors[p - n->e->k->params] : NULL;
}

static bool has_loop(const ir_block *b)
{
    for (const ir_op *op = b->first; op; op = op->next) {
        if (op->code == IR_OP_FOR || op->code == IR_OP_WHILE) return true;
        for (int i = 0; i < op->nblocks; i++)
            if (op->blocks[i] && has_loop(op->blocks[i])) return true;
    }
    return false;
}

static void count_block(counter *n, const ir_block *b, double mult);
static bool reads_pid(const ir_value *v, int axis, int depth);
static bool reads_pid_in(const ir_value *v, int axis, const ir_op *within, bool *iv, int depth);

/* The innermost for loop around op, or NULL. */
static const ir_op *enclosing_for(const ir_op *op)
{
    for (const ir_block *b = op->parent; b && b->parent; b = b->parent->parent)
        if (b->parent->code == IR_OP_FOR) return b->parent;
    return NULL;
}

/* May load op's index operand v differ between the programs along
 * program_id(0) for the same iteration of its loop?  Values from outside
 * the loop that an index of the induction variable also reads offset the
 * walk over the tensor as the loop's bounds do (flash_fwd's key block is
 * the t-th of its program's segments: where(t < na, s0 + t, ...)), and a
 * loop's bounds are not followed either (reads_pid): the programs still
 * walk the same blocks, in windows shifted by their position. */
static bool index_reads_pid0(const ir_op *op, const ir_value *v)
{
    const ir_op *loop = enclosing_for(op);
    if (!loop) return reads_pid(v, 0, 0);
    bool iv = false;
    if (reads_pid_in(v, 0, loop, &iv, 0)) return true;
    return iv ? false : reads_pid(v, 0, 0);
}

/* The tensors some load (or atomic) reads at indices that may depend on
 * program_id(0) (l2_hits): a property of the ops, found in one walk, not
 * per counted execution. */
static void mark_pid0_reads(counter *n, const ir_block *b)
{
    for (const ir_op *op = b->first; op; op = op->next) {
        bool reads = op->code == IR_OP_LOAD || op->code == IR_OP_ATOMIC_ADD;
        sched_tensor *t = reads ? tensor_of(n, op->operands[0]) : NULL;
        for (int i = 1; t && !t->reads_pid0 && i < op->noperands; i++)
            t->reads_pid0 = op->code == IR_OP_ATOMIC_ADD || index_reads_pid0(op, op->operands[i]);
        for (int r = 0; r < op->nblocks; r++)
            if (op->blocks[r]) mark_pid0_reads(n, op->blocks[r]);
    }
}

/* A loop's bounds, exact or, where they read data, at its asserted maximum. */
static bool loop_bounds(counter *n, const ir_op *op, int64_t *lo, int64_t *hi, int64_t *step)
{
    evaluator *e = n->e;
    for (int pass = 0; pass < 2; pass++) {
        e->bound_loads = pass == 1;
        e->used_bound = false;
        bool ok = eval_value(e, op->operands[0], lo) && eval_value(e, op->operands[1], hi) &&
                  eval_value(e, op->operands[2], step);
        e->bound_loads = false;
        if (ok) {
            n->c->trips_bounded |= e->used_bound;
            return true;
        }
    }
    return false;
}

static void count_for(counter *n, const ir_op *op, double mult)
{
    int64_t lo, hi, step;
    const ir_block *body = op->blocks[0];
    if (!loop_bounds(n, op, &lo, &hi, &step) || step <= 0) {
        n->c->trips_exact = false;
        if (!has_loop(body)) n->c->inner_iters += mult * n->weight;
        count_block(n, body, mult);
        return;
    }
    int64_t trips = hi > lo ? (hi - lo - 1) / step + 1 : 0;
    if (trips == 0) return;
    if (!has_loop(body)) {
        n->c->inner_iters += mult * (double)trips * n->weight;
        count_block(n, body, mult * (double)trips);
        return;
    }
    /* Inner bounds may depend on the induction variable: walk up to 64
     * evenly spread iterations, each standing for its share. */
    int64_t walks = trips < 64 ? trips : 64;
    unsigned outer = n->e->cur;
    for (int64_t w = 0; w < walks; w++) {
        int64_t it = w * trips / walks;
        n->e->cur = ++n->e->cur ? n->e->cur : 1;
        bind(n->e, body->args[0], lo + it * step);
        count_block(n, body, mult * (double)trips / (double)walks);
    }
    n->e->cur = outer;
}

/* Transcendentals: the MUFU pipe, 16 a clock per SM (sigmoid and pow take
 * two; a natural exp or log's scaling by log2(e) fuses into the FMA that
 * forms its argument). */
static int sfu_count(ir_opcode code)
{
    switch (code) {
    case IR_OP_EXP: case IR_OP_EXP2: case IR_OP_LOG: case IR_OP_LOG2: case IR_OP_SQRT:
    case IR_OP_RSQRT: case IR_OP_SIN: case IR_OP_COS: case IR_OP_TANH: case IR_OP_ERF:
    case IR_OP_LOG1P: case IR_OP_EXPM1: case IR_OP_DIV:
        return 1;
    case IR_OP_SIGMOID: case IR_OP_POW: return 2;
    default: return 0;
    }
}

/* The elementwise work on tiles, per element: arithmetic, comparisons,
 * selects and conversions on the FMA/ALU pipes, transcendentals on MUFU,
 * reductions over their input.  FlashAttention's softmax is this term: at
 * D = 64 an exponential costs the MUFU pipe as long as the 256 tensor-core
 * FLOPs of its score element (the imbalance FlashAttention-3 is built
 * around).  Scalars are uniform registers and cost nothing here; so do
 * moves (broadcast, expand_dims, layout conversions). */
static void count_elementwise(sched_cost *c, const ir_op *op, double w)
{
    const ir_type *t = NULL;
    double per = 1;
    switch (op->code) {
    case IR_OP_REDUCE_SUM: case IR_OP_REDUCE_MAX: case IR_OP_REDUCE_MIN:
        t = &op->operands[0]->type;
        break;
    case IR_OP_CUMSUM: case IR_OP_ARGMAX: case IR_OP_ARGMIN:
        t = &op->operands[0]->type, per = 2;
        break;
    default:
        if ((ir_op_table[op->code].flags & IR_ELEMENTWISE) && op->nresults) t = &op->results[0]->type;
        if (op->code == IR_OP_CAST && t && ir_dtype_size(t->dtype) == 2) per = 0.5;   /* cvt packs two */
    }
    if (!t || t->rank == 0) return;
    double n = (double)ir_type_numel(t) * w;
    int sfu = sfu_count(op->code);
    c->sfu_ops += sfu * n;
    /* a transcendental is MUFU's alone; a division is MUFU's reciprocal and
     * an FMA's multiply */
    c->alu_ops += (sfu ? op->code == IR_OP_DIV : per) * n;
}

static void count_op(counter *n, const ir_op *op, double mult)
{
    sched_cost *c = n->c;
    double w = mult * n->weight;
    switch (op->code) {
    case IR_OP_LOAD: {
        double bytes = tile_bytes(&op->results[0]->type) * w;
        sched_tensor *t = tensor_of(n, op->operands[0]);
        if (t) t->read_bytes += bytes;
        c->hbm_bytes += bytes;
        break;
    }
    case IR_OP_STORE:
    case IR_OP_ATOMIC_ADD: {
        int nidx = op->operands[0]->type.rank;
        double bytes = tile_bytes(&op->operands[1 + nidx]->type) * w;
        sched_tensor *t = tensor_of(n, op->operands[0]);
        if (t) t->written_bytes += bytes;
        if (t && op->code == IR_OP_ATOMIC_ADD) t->read_bytes += bytes;
        c->hbm_bytes += bytes * (op->code == IR_OP_ATOMIC_ADD ? 2 : 1);
        break;
    }
    case IR_OP_DOT: {
        const ir_type *a = &op->operands[0]->type, *b = &op->operands[1]->type;
        if (a->rank != 2 || b->rank != 2) break;
        double m = (double)a->shape[0], k = (double)a->shape[1], nn = (double)b->shape[1];
        c->flops += 2 * m * nn * k * w;
        /* mma.sync: each warp reads its rows of A and (warps along M) all of
         * B.  wgmma: a warpgroup's instruction reads B once for 64 rows. */
        double sync = (m * k + k * nn * n->num_warps) * ir_dtype_size(a->dtype) * w;
        bool wg = sched_wgmma_fits(op, n->num_warps);
        c->smem_traffic += sync;
        c->smem_traffic_wgmma += wg ? (m * k + k * nn * (m / 64)) * ir_dtype_size(a->dtype) * w : sync;
        if (wg) {
            c->flops_wgmma += 2 * m * nn * k * w;
            c->wgmma_issue_flops += 2 * m * (nn < 64 ? 64 : nn) * k * w;
        }
        break;
    }
    case IR_OP_FOR: count_for(n, op, mult); break;
    case IR_OP_WHILE:
        c->trips_exact = false;
        for (int i = 0; i < op->nblocks; i++)
            if (op->blocks[i]) count_block(n, op->blocks[i], mult);
        break;
    case IR_OP_IF: {
        int64_t cond;
        if (eval_value(n->e, op->operands[0], &cond) && op->nblocks == 2) {
            if (op->blocks[cond ? 0 : 1]) count_block(n, op->blocks[cond ? 0 : 1], mult);
            break;
        }
        for (int i = 0; i < op->nblocks; i++)   /* unknown: both, an upper bound */
            if (op->blocks[i]) count_block(n, op->blocks[i], mult);
        break;
    }
    default: count_elementwise(c, op, w); break;
    }
}

static void count_block(counter *n, const ir_block *b, double mult)
{
    for (const ir_op *op = b->first; op; op = op->next) count_op(n, op, mult);
}

/* ---- static facts: staged bytes, per-iteration loads, live registers ----- */

/* Does v reach a dot operand through moves and unary conversions? */
static bool feeds_dot(const ir_value *v, int depth)
{
    if (depth > 4) return false;
    for (const ir_use *u = v->uses; u; u = u->next) {
        const ir_op *op = u->user;
        if (op->code == IR_OP_DOT && u->index < 2) return true;
        bool move = op->code == IR_OP_CAST || op->code == IR_OP_TRANS ||
                    op->code == IR_OP_CONVERT_LAYOUT || op->code == IR_OP_EXPAND_DIMS ||
                    op->code == IR_OP_BROADCAST ||
                    ((ir_op_table[op->code].flags & IR_ELEMENTWISE) && op->noperands == 1);
        if (move && op->nresults == 1 && feeds_dot(op->results[0], depth + 1)) return true;
    }
    return false;
}

/* A load the pipeliner stages although something besides a dot reads it
 * (sched_pipeline.c, candidate): a 16-bit rank-2 tile, unmasked, in a for
 * body.  Its slots take shared memory; its register copy, registers. */
static bool staged_for_registers(const ir_op *op)
{
    const ir_type *t = &op->results[0]->type;
    const ir_op *loop = op->parent ? op->parent->parent : NULL;
    return loop && loop->code == IR_OP_FOR && op->attr.i == 0 && t->rank == 2 &&
           ir_dtype_size(t->dtype) == 2 && t->shape[1] * 2 >= SCHED_MIN_READ_ROW_BYTES && (t->shape[1] * 2) % 16 == 0;
}

static void static_facts(const ir_block *b, bool in_loop, sched_cost *c)
{
    double loads = 0;
    bool inner = false;
    int staged = 0, nstaged = 0, unstaged = 0;
    for (const ir_op *op = b->first; op; op = op->next) {
        if (op->code == IR_OP_LOAD) {
            double bytes = tile_bytes(&op->results[0]->type);
            loads += bytes;
            if (in_loop && feeds_dot(op->results[0], 0)) staged += (int)bytes, nstaged++;
            else if (in_loop && staged_for_registers(op)) staged += (int)bytes, nstaged++, unstaged += (int)bytes;
            else if (in_loop && op->results[0]->type.rank > 0) unstaged += (int)bytes;
        }
        for (int i = 0; i < op->nblocks; i++) {
            if (!op->blocks[i]) continue;
            inner |= has_loop(op->blocks[i]) || op->code == IR_OP_FOR || op->code == IR_OP_WHILE;
            static_facts(op->blocks[i], in_loop || op->code == IR_OP_FOR || op->code == IR_OP_WHILE,
                         c);
        }
    }
    if (in_loop && !inner && loads > c->iter_load_bytes) c->iter_load_bytes = loads;
    /* Loops one after another share their buffers (sched_pipeline.c): the
     * largest loop's, not the sum. */
    if (staged > c->staged_bytes) c->staged_bytes = staged;
    if (nstaged > c->staged_loads) c->staged_loads = nstaged;
    if (unstaged > c->unstaged_tile_bytes) c->unstaged_tile_bytes = unstaged;
}

/* Is v's load in a loop body, read only by dots: an operand the pipeliner
 * stages in shared memory (sched_pipeline.c), not a register tile? */
static bool pipelined_operand(const ir_value *v)
{
    const ir_op *d = v->def;
    if (!d || d->code != IR_OP_LOAD || ir_dtype_size(v->type.dtype) != 2) return false;
    for (const ir_op *p = d->parent ? d->parent->parent : NULL; p; p = p->parent ? p->parent->parent : NULL)
        if (p->code == IR_OP_FOR || p->code == IR_OP_WHILE) return feeds_dot(v, 0);
    return false;
}

/* 32-bit registers per thread holding value v (16-bit elements pack two to
 * a register; a scalar takes one).  In scheduled IR (layouts) the count is
 * the layout's elements per thread, replication and padding included; in
 * tile IR the tile spread evenly over the threads. */
static int value_regs(const ir_value *v, int threads)
{
    if (v->type.kind != IR_TY_TILE) return 0;
    if (v->type.rank == 0) return 1;
    /* Codegen recomputes integer and bool tiles (indices, masks) at each
     * use and folds splat constants: only float data stays in registers. */
    if (!ir_dtype_is_float(v->type.dtype)) return 0;
    /* Splats and broadcasts are views of fewer registers (their source). */
    for (const ir_op *d = v->def; d; d = d->noperands ? d->operands[0]->def : NULL) {
        if (d->code == IR_OP_CONST || d->code == IR_OP_BROADCAST) return 0;
        if (d->code != IR_OP_CONVERT_LAYOUT && d->code != IR_OP_EXPAND_DIMS) break;
    }
    double bytes;
    if (v->type.layout) {
        bytes = (double)ir_layout_elems_per_thread(v->type.layout, v->type.rank, v->type.shape) *
                ir_dtype_size(v->type.dtype);
    } else {
        /* Tile IR: 16-bit dot operands loaded in loops will live in the
         * pipeliner's shared buffers. */
        if (pipelined_operand(v)) return 0;
        bytes = tile_bytes(&v->type) / threads;
    }
    int r = (int)ceil(bytes / 4.0);
    return r < 1 && bytes > 0 ? 1 : r;
}

/* The op of block b that is or contains `user`, or NULL. */
static const ir_op *top_in(const ir_block *b, const ir_op *user)
{
    for (const ir_op *op = user; op; op = op->parent ? op->parent->parent : NULL)
        if (op->parent == b) return op;
    return NULL;
}

/* Last position in b (ops[0..n)) at which v is used (-1: unused). */
static int last_use(const ir_op *const *ops, int n, const ir_block *b, const ir_value *v)
{
    int last = -1;
    for (const ir_use *u = v->uses; u; u = u->next) {
        const ir_op *top = top_in(b, u->user);
        for (int p = n - 1; top && p > last; p--)
            if (ops[p] == top) {
                last = p;
                break;
            }
    }
    return last;
}

/* Registers one k step of an mma dot's operands takes per thread where
 * they sit in shared-memory buffers: the A fragment of the warp's rows
 * (m / warps along M) and the B fragment of its columns (n / warps along
 * N), 16 deep, as ldmatrix loads them into dot-operand registers.  So
 * the term follows the warp tile: more warps along M shrink A's share,
 * along N B's (ir_layout_elems_per_thread counts the replication). */
static int dot_kstep_regs(const ir_op *op)
{
    /* wgmma reads its shared operands through descriptors: no fragments. */
    if (op->code != IR_OP_DOT || !op->results[0]->type.layout ||
        op->results[0]->type.layout->kind != IR_LAYOUT_MMA || op->results[0]->type.layout->version == 3)
        return 0;
    const ir_layout *mma = op->results[0]->type.layout;
    int64_t regs = 0;
    for (int i = 0; i < 2; i++) {
        const ir_type *t = &op->operands[i]->type;
        if (!t->layout || t->layout->kind != IR_LAYOUT_SHARED || t->rank != 2) continue;
        int64_t shape[2] = {i == 0 ? t->shape[0] : 16, i == 0 ? 16 : t->shape[1]};
        ir_layout l = {.kind = IR_LAYOUT_DOT_OPERAND, .rank = 2, .parent = mma, .opidx = i,
                       .kwidth = 8};
        regs += (ir_layout_elems_per_thread(&l, 2, shape) * ir_dtype_size(t->dtype) + 3) / 4;
    }
    return (int)regs;
}

/* Peak registers of block b: its arguments and the values it defines that
 * are live at each op, plus the peak inside the op's regions.  Values from
 * outside that b uses are counted by the caller (live across the op).  A
 * region op's operands that die there become its regions' arguments and
 * its results their yields, so they count once, as the larger of the
 * region's peak and the results. */
static int block_peak(const ir_block *b, int threads, arena *mem)
{
    int n = 0;
    for (const ir_op *op = b->first; op; op = op->next) n++;
    if (n == 0) return 0;
    const ir_op **ops = arena_calloc(mem, (size_t)n, sizeof *ops);
    int *dies = arena_calloc(mem, (size_t)n, sizeof *dies);   /* last use at p, defined before */
    int *born = arena_calloc(mem, (size_t)n, sizeof *born);
    int *stays = arena_calloc(mem, (size_t)n, sizeof *stays); /* born at p and used after p */
    if (!ops || !dies || !born || !stays) return 0;
    int i = 0;
    for (const ir_op *op = b->first; op; op = op->next) ops[i++] = op;
    int live = 0;
    for (int a = 0; a < b->nargs; a++) {
        int last = last_use(ops, n, b, b->args[a]);
        if (last < 0) continue;
        live += value_regs(b->args[a], threads);
        dies[last] += value_regs(b->args[a], threads);
    }
    for (int p = 0; p < n; p++)
        for (int r = 0; r < ops[p]->nresults; r++) {
            int regs = value_regs(ops[p]->results[r], threads);
            int last = last_use(ops, n, b, ops[p]->results[r]);
            born[p] += regs;
            if (last > p) dies[last] += regs, stays[p] += regs;
        }
    int peak = 0;
    for (int p = 0; p < n; p++) {
        int inner = 0;
        for (int k = 0; k < ops[p]->nblocks; k++)
            if (ops[p]->blocks[k]) {
                int q = block_peak(ops[p]->blocks[k], threads, mem);
                if (q > inner) inner = q;
            }
        int here = ops[p]->nblocks ? live - dies[p] + (inner > born[p] ? inner : born[p])
                                   : live + born[p];
        if (here > peak) peak = here;
        live += stays[p] - dies[p];
    }
    return peak;
}

static bool on_wgmma(const ir_op *dot)
{
    const ir_layout *l = dot->results[0]->type.layout;
    return l && l->kind == IR_LAYOUT_MMA && l->version == 3;
}

/* Over the loop bodies of b (in_loop: b is one): the most dots one body
 * runs, how many of that body's run on wgmma, and the most k-step fragment
 * registers its dots take (nested loops count separately). */
typedef struct loop_dot_facts {
    int dots, wgmma, frags;
} loop_dot_facts;

static void loop_facts(const ir_block *b, bool in_loop, loop_dot_facts *r)
{
    loop_dot_facts here = {0};
    for (const ir_op *op = b->first; op; op = op->next) {
        if (op->code == IR_OP_DOT && in_loop) {
            here.dots++;
            here.wgmma += on_wgmma(op);
            here.frags += dot_kstep_regs(op);
        }
        bool loop = op->code == IR_OP_FOR || op->code == IR_OP_WHILE;
        for (int i = 0; i < op->nblocks; i++)
            if (op->blocks[i]) loop_facts(op->blocks[i], in_loop || loop, r);
    }
    if (here.dots > r->dots) r->dots = here.dots, r->wgmma = here.wgmma;
    if (here.frags > r->frags) r->frags = here.frags;
}

int sched_loop_dots(const ir_func *k)
{
    loop_dot_facts r = {0};
    loop_facts(k->body, false, &r);
    return r.dots;
}

int sched_wgmma_loop_dots(const ir_func *k)
{
    loop_dot_facts r = {0};
    loop_facts(k->body, false, &r);
    return r.wgmma;
}

int sched_fragment_regs(const ir_func *k)
{
    loop_dot_facts r = {0};
    loop_facts(k->body, false, &r);
    return r.frags;
}

static bool dot_operand_in_registers(const ir_block *b, bool in_loop)
{
    for (const ir_op *op = b->first; op; op = op->next) {
        if (in_loop && op->code == IR_OP_LOAD && op->nresults == 1 &&
            ir_dtype_size(op->results[0]->type.dtype) == 2 && op->results[0]->type.layout &&
            feeds_dot(op->results[0], 0))
            return true;
        bool loop = op->code == IR_OP_FOR || op->code == IR_OP_WHILE;
        for (int i = 0; i < op->nblocks; i++)
            if (op->blocks[i] && dot_operand_in_registers(op->blocks[i], in_loop || loop))
                return true;
    }
    return false;
}

static bool reads_staged(const ir_block *b, bool in_loop)
{
    for (const ir_op *op = b->first; op; op = op->next) {
        if (in_loop && op->code == IR_OP_CONVERT_LAYOUT && op->operands[0]->type.layout &&
            op->operands[0]->type.layout->kind == IR_LAYOUT_SHARED)
            return true;
        bool loop = op->code == IR_OP_FOR || op->code == IR_OP_WHILE;
        for (int i = 0; i < op->nblocks; i++)
            if (op->blocks[i] && reads_staged(op->blocks[i], in_loop || loop)) return true;
    }
    return false;
}

bool sched_staged_reads(const ir_func *k)
{
    return reads_staged(k->body, false);
}

bool sched_unpipelined(const ir_func *k)
{
    return dot_operand_in_registers(k->body, false);
}

int sched_live_regs(const ir_func *k, int num_warps, arena *mem)
{
    return block_peak(k->body, 32 * num_warps, mem);
}

/* ---- sched_analyze ------------------------------------------------------- */

static bool eval_grid(evaluator *e, int64_t grid[3])
{
    const ir_op *y = e->k->grid ? e->k->grid->last : NULL;
    if (!y || y->code != IR_OP_YIELD || y->noperands != 3) return false;
    for (int i = 0; i < 3; i++)
        if (!eval_value(e, y->operands[i], &grid[i]) || grid[i] < 1) return false;
    return true;
}

/* Up to `cap` program ids evenly spread over [0, n). */
static int64_t sample_count(int64_t n, int64_t cap) { return n < cap ? n : cap; }

/* May the scalar v depend on program_id(axis)?  Through its defs; a
 * function's parameter and a for's induction variable end the walk (the
 * loop's own bounds are checked where the loop is); any other block
 * argument (a loop-carried value), a result of a region op (computed in
 * its blocks) and a walk too deep answer yes. */
static bool reads_pid(const ir_value *v, int axis, int depth)
{
    return reads_pid_in(v, axis, NULL, NULL, depth);
}

/* reads_pid, and when `within` is given the walk also ends at values
 * defined outside that loop; *iv then says whether it met the loop's
 * induction variable (index_reads_pid0). */
static bool reads_pid_in(const ir_value *v, int axis, const ir_op *within, bool *iv, int depth)
{
    const ir_op *d = v->def;
    if (!d) {
        const ir_op *loop = v->owner ? v->owner->parent : NULL;
        if (within && loop == within && v->index == 0) *iv = true;
        return loop && !(loop->code == IR_OP_FOR && v->index == 0);
    }
    if (within && !ir_op_is_inside(d, within->blocks[0])) return false;
    if (depth > 64 || d->nblocks > 0) return true;
    if (d->code == IR_OP_PROGRAM_ID || d->code == IR_OP_NUM_PROGRAMS) return d->attr.i == axis;
    for (int i = 0; i < d->noperands; i++)
        if (reads_pid_in(d->operands[i], axis, within, iv, depth + 1)) return true;
    return false;
}

/* Does any loop bound or branch condition of b depend on program_id(axis)?
 * When none does, every program along that axis counts the same, and one
 * sample stands for all of them (flash_fwd's heads and batch: 32 times
 * fewer walks at the representative shape). */
static bool control_reads_pid(const ir_block *b, int axis)
{
    for (const ir_op *op = b->first; op; op = op->next) {
        int n = op->code == IR_OP_FOR ? 3 : op->code == IR_OP_IF ? 1 : 0;
        if (op->code == IR_OP_WHILE) return true;
        for (int i = 0; i < n && i < op->noperands; i++)
            if (reads_pid(op->operands[i], axis, 0)) return true;
        for (int i = 0; i < op->nblocks; i++)
            if (op->blocks[i] && control_reads_pid(op->blocks[i], axis)) return true;
    }
    return false;
}

tile_status sched_analyze(const ir_func *k, int num_warps, const sched_shape *s, arena *mem,
                          sched_cost *c)
{
    memset(c, 0, sizeof *c);
    c->trips_exact = true;
    int nvals = k->module->next_value_id;
    evaluator e = {.k = k, .shape = s, .nvals = nvals, .cur = 1};
    e.val = arena_calloc(mem, (size_t)nvals + 1, sizeof *e.val);
    e.gen = arena_calloc(mem, (size_t)nvals + 1, sizeof *e.gen);
    c->tensors = arena_calloc(mem, (size_t)k->nparams + 1, sizeof *c->tensors);
    if (!e.val || !e.gen || !c->tensors) return TILE_ERR_NOMEM;
    c->ntensors = k->nparams;
    for (int i = 0; i < k->nparams; i++) {
        const ir_param *p = &k->params[i];
        c->tensors[i].name = p->name;
        if (p->type.kind != IR_TY_TENSOR) continue;
        double size = ir_dtype_size(p->type.dtype);
        for (int d = 0; d < p->type.rank; d++) size *= (double)dim_size(p, d, s);
        c->tensors[i].size_bytes = size;
    }
    if (!eval_grid(&e, c->grid)) {
        c->grid[0] = c->grid[1] = c->grid[2] = 1;
        c->trips_exact = false;
    }
    c->programs = c->grid[0] * c->grid[1] * c->grid[2];
    int64_t nx = sample_count(c->grid[0], 128),
            ny = control_reads_pid(k->body, 1) ? sample_count(c->grid[1], 8) : 1,
            nz = control_reads_pid(k->body, 2) ? sample_count(c->grid[2], 4) : 1;
    counter n = {.e = &e, .c = c, .num_warps = num_warps,
                 .weight = (double)c->programs / (double)(nx * ny * nz)};
    memcpy(e.grid, c->grid, sizeof e.grid);
    for (int64_t z = 0; z < nz; z++)
        for (int64_t y = 0; y < ny; y++)
            for (int64_t x = 0; x < nx; x++) {
                e.pid[0] = x * c->grid[0] / nx;
                e.pid[1] = y * c->grid[1] / ny;
                e.pid[2] = z * c->grid[2] / nz;
                e.cur = ++e.cur ? e.cur : 1;
                count_block(&n, k->body, 1.0);
            }
    mark_pid0_reads(&n, k->body);
    static_facts(k->body, false, c);
    if (c->iter_load_bytes == 0)
        c->iter_load_bytes = c->programs ? c->hbm_bytes / (double)c->programs : 0;
    c->live_regs = sched_live_regs(k, num_warps, mem);
    c->loop_dots = sched_loop_dots(k);
    return TILE_OK;
}

/* ---- sched_evaluate ------------------------------------------------------ */

/* Fitted on ptxas -v of the pipelined code (sm_90, 2026-12-02:
 * bench/reg_fit.py, its table in bench/logs/reg_fit.csv).  With the
 * pipeliner's operands in shared memory, what ptxas needs beyond the live
 * tiles grows with the dots of the loop body (fragments of one k step,
 * addresses, the unrolled k loop): regs = live + 40 * dots - 25.  Refitted
 * in session 5 over 132 schedules (bench/logs/s5-model.md): of 124
 * pipelined ones it accepts 9 that spill (8-956 B; warps along N, BM=32 at
 * 4 warps, most of them) and rejects 5 that do not.  The per-warp term
 * (sched_frag_regs: one k step of the operands by the warp tile) did not
 * separate them better at zero spills, and a line that lets small spills
 * through (live + fragments + 30 * dots - 90, spills under 256 B) makes
 * the library's default schedules spill, which tests/run_ptxas.sh forbids:
 * the line stays until a measurement says small spills cost nothing.
 * Where a 16-bit load still feeds a dot through registers (the pipeliner
 * could not take it), conversions through scratch come on top: the fit of
 * the unpipelined code, 67 + 1.75 * live.  A loop that reads one of its
 * staged tiles into registers to scale it before its dots (lightning2's
 * decayed v, based's features of k: sched_pipeline.c) keeps that line: its
 * register copies and their conversions are the same code, only the
 * global loads are gone (on the wgmma line based_chunk_state, B=64 BE=32
 * at 8 warps, was predicted 237 registers and spilled 344 B; its old line
 * predicted 234 for the B=32 BE=16 schedule ptxas fits in 223).  Before codegen's facts are
 * known (phase 1 of the search) the tile IR's count, which errs high by up
 * to 20%, is scaled down so that no candidate is rejected before it is
 * costed.  With wgmma the default on sm_90 (2026-12-03), the same 132
 * schedules (bench/logs/reg_fit_wgmma.csv, with each loop's wgmma dots,
 * sched_wgmma_dots) are not separated by any line in live and dots: at
 * this line 5 accepted ones spill (8-1084 B) and 8 rejected ones do not
 * (flash_fwd D=64 BM=256 BN=64 at 8 warps among them, the fastest that
 * tilec tune measured); a per-dot term for wgmma from 0 to 40 trades one
 * kind of error for the other.  Session 7 (2026-12-03): once every loop dot
 * of a kernel runs on wgmma with its shared operands read by descriptor
 * (flash_fwd's Q too), no fragment is loaded to registers, and over the
 * 33 flash_fwd schedules of D = 64/128, BM 64-256, BN 32-128, 4/8 warps
 * (bench/logs/reg_fit_s7_fwd.txt) live + 7 per dot accepts every clean
 * one (live <= 241, the fastest D = 64 schedule BM=256 BN=64 at 8 warps
 * among them) and one that spills (D=128 BM=64 BN=128, 4 warps: live
 * 237, 226 bytes).  Session 8 refit it on the variant aligned tensors
 * launch (unit last stride: fewer address registers) as live + 6 per dot:
 * over 48 flash_fwd and flash_fwd_causal schedules
 * (bench/logs/reg_fit_s8_fwd.csv) every one of live <= 242 is clean (the
 * causal D = 64 BM=256 BN=64, 8 warps, 228 registers, among them; the line
 * of 7 rejected it by one) and spills start at live 345.  It holds for
 * loops of at most four dots whose loads
 * are all staged.  Four: flash_bwd_dkdv formed keys down (session 8,
 * 2026-12-03; 20 schedules, D = 64/128, BN 64-256, BM 16-64, 4/8 warps,
 * the variant of aligned tensors, bench/logs/reg_fit_s8_dkdv.csv): every
 * schedule of live <= 223 is clean and every one of live >= 246 spills,
 * with LSE and Delta loaded beside the staged Q and dO (at unit stride
 * their addresses are constant offsets of one base).  Of two dots beside
 * a plain load only flash_fwd_document is measured (its key ids: live
 * 234, 12 bytes spilled at BM=256 BN=64), so there, and where mma.sync
 * dots remain, the line above stays.  "Plain load" means a tile (session
 * 12): a scalar one (block_sparse_fwd's block index) takes one register,
 * and counting it put that kernel's BM=128 BN=64 4-warp rows at 265 where
 * ptxas takes 207; the key ids of flash_fwd_document, loaded inside the
 * mask's branch, count now (ptxas: 255 and 16 B of spill at BN=64, 4
 * warps). */
int sched_predict_regs(const sched_cost *c)
{
    int r;
    if (c->sched_live_regs <= 0) r = c->live_regs * 4 / 5 + 40 * c->loop_dots - 25;
    else if (c->unpipelined || c->staged_reads) r = 67 + (c->sched_live_regs * 7 + 3) / 4;
    else if (c->sched_wgmma_dots > 0 && c->sched_wgmma_dots == c->loop_dots && c->loop_dots <= 4 &&
             (c->unstaged_tile_bytes == 0 || c->loop_dots > 2))
        r = c->sched_live_regs + 6 * c->loop_dots;
    else r = c->sched_live_regs + 40 * c->loop_dots - 25;
    /* Indices, addresses and the ABI's parameters: no kernel takes fewer. */
    return r < 32 ? 32 : r;
}

/* The SM clock, from the shared-memory bandwidth's 128 B a clock an SM. */
static double sm_clock(const ir_target *t)
{
    return t->smem_bytes_per_s / (128.0 * t->sm_count);
}

/* The load latency a loop leaves exposed.  An innermost iteration's
 * loads take a round trip to memory (SCHED_LOAD_LATENCY_CYCLES) plus
 * their transfer at the SM's share of the bandwidth before its dots can
 * start: one round trip when the pipeliner issues them together
 * (cp.async), one per staged operand when they load synchronously (one
 * stage; with a single trip the model fell short of every one-stage
 * slowdown tilec tune measured).  With S stages the loads of iteration
 * i + S - 1 are issued at iteration i, so S - 1 iterations of the block
 * (each as long as bps blocks' worth of the SM's time per iteration, c)
 * cover them.  What stays exposed, E, adds to every iteration: a block's
 * iteration lasts bps c + E and the SM works bps c of it.  The other
 * resident blocks do not hide it (their loops wait at the same points;
 * measured, two blocks per SM left one stage 2.1x slower, dkdv 32/32/4,
 * as one block did, 2.2x).  Without staged operands the pipeliner does nothing,
 * so the stages do not count; where it left a dot operand in registers
 * (scheduled IR) the loop runs as one stage. */
static double round_trip_s(const ir_target *t, int stages, const sched_cost *c)
{
    double per_sm_bw = t->hbm_bytes_per_s / t->sm_count;
    int trips = stages == 1 && c->staged_loads > 1 ? c->staged_loads : 1;
    return trips * SCHED_LOAD_LATENCY_CYCLES / sm_clock(t) + c->iter_load_bytes / per_sm_bw;
}

/* The dots of an innermost iteration wait for their results: the
 * softmax needs the scores, the next dot its probabilities, so the tensor
 * pipe fills and drains once per dot and the iteration's barrier adds to
 * it.  Other resident blocks do not hide it (the same argument as the
 * loads' exposed latency, below).  Fitted with the elementwise, overlap
 * and L2 terms on 173 flash_fwd and flash_bwd schedules that tilec tune
 * and bench/sweep_fwd.sh measured on the H200 (bench/model_fit.py,
 * bench/logs/model_points.csv): 150 cycles a dot.  Without it the model
 * takes BN=32 rows for the causal D=64 forward, measured 1.26x slower
 * than BN=64 (session 8) and 5-15% slower again in session 15. */
#define SCHED_DOT_WAIT_CYCLES 150.0

static void latency(const ir_target *t, int bps, int num_stages, double tmax, sched_cost *c)
{
    c->exposed_s = c->round_trip_s = c->dot_wait_s = 0;
    c->latency_eff = 1;
    if (c->inner_iters <= 0) return;
    double iter = tmax * t->sm_count / c->inner_iters;   /* c: SM time per block iteration */
    c->dot_wait_s = c->loop_dots * SCHED_DOT_WAIT_CYCLES / sm_clock(t);
    if (c->iter_load_bytes > 0) {
        int stages = c->staged_bytes > 0 && !c->unpipelined ? num_stages : 1;
        double round_trip = c->round_trip_s = round_trip_s(t, stages, c);
        double exposed = round_trip - (stages - 1) * bps * iter;
        c->exposed_s = exposed > 0 ? exposed : 0;
    }
    double wait = c->exposed_s + c->dot_wait_s;
    if (wait > 0 && iter > 0) c->latency_eff = bps * iter / (bps * iter + wait);
}

static const char *sprint(arena *mem, const char *fmt, double a, double b, double x)
{
    return arena_printf(mem, fmt, a, b, x);
}

/* Read in eight passes or more, by loads whose indices do not read
 * program_id(0) (the programs along the grid's fastest axis share it, and
 * they run together).  Below two passes the excess is the masked lanes of
 * partial tiles, which the byte count includes and no memory moves; the
 * eight is measured (H200, session 10): flash_fwd's K and V, 8-64 passes,
 * behave as L2-resident, while counting the hits of lightning2_chunk_out's
 * q and k (2-4 passes, one per BE block) made the model pick BE=32 at 4
 * warps, 1.6x slower for the chain than its BE=64 at 8: at few passes
 * the tile's other costs, which the model does not count (per-iteration
 * waits and reductions), decide, and a small tile's bytes are a better
 * proxy for them than nothing. */
static bool reread(const sched_tensor *x)
{
    return x->size_bytes > 0 && x->read_bytes >= 8 * x->size_bytes && !x->reads_pid0;
}

/* Bytes read beyond the tensors' sizes, over all tensors. */
static double rereads(const sched_cost *c)
{
    double n = 0;
    for (int i = 0; i < c->ntensors; i++)
        if (reread(&c->tensors[i])) n += c->tensors[i].read_bytes - c->tensors[i].size_bytes;
    return n;
}

/* Re-reads that L2 serves.  A tensor read more than once over the grid
 * (K and V: once per query block of their head) is re-read by programs
 * that run together when the grid enumerates the programs sharing it on
 * its fastest axis, as the library's grids do (program_id(0) walks the
 * query blocks of one head).  The part of such tensors that the resident
 * programs touch is then size x resident / programs; while it fits in half
 * of L2, each byte comes from HBM once and the re-reads hit L2.  (Measured,
 * H200: flash_fwd D=64 L=4k at BM=128 re-reads K and V 32 times, 4.3 GB
 * in 1.6 ms, at the speed of BM=256, which reads half as much; counted as
 * HBM bytes the model called BM=128 memory-bound.)  The hits take no HBM
 * time; every byte, hit or not, counts in the L2 term (sched_evaluate).
 * Which tensors count: reread, above. */
static double l2_hits(const ir_target *t, const sched_cost *c, double resident)
{
    double footprint = 0;
    double share = c->programs > 0 && resident < (double)c->programs ? resident / (double)c->programs : 1;
    for (int i = 0; i < c->ntensors; i++)
        if (reread(&c->tensors[i])) footprint += c->tensors[i].size_bytes * share;
    return footprint <= t->l2_bytes / 2 ? rereads(c) : 0;
}

/* The elementwise work's time (FMA/ALU and MUFU pipes in parallel would
 * be their max; their sum, because a softmax's exp waits for the sums and
 * maxima around it). */
static double alu_time(const ir_target *t, const sched_cost *c)
{
    return (t->alu_ops_per_s > 0 ? c->alu_ops / t->alu_ops_per_s : 0) +
           (t->sfu_ops_per_s > 0 ? c->sfu_ops / t->sfu_ops_per_s : 0);
}

/* Tensor-core and elementwise time together.  One block's warps issue
 * both, and each waits for the other (the softmax for its scores, the next
 * dot for its probabilities): the two add up.  Another resident block can
 * run its dots while this one runs its softmax, so of the smaller term a
 * share SCHED_OVERLAP^(blocks - 1) stays exposed.  Measured, H200 (bench/
 * RESULTS.md, session 15): flash_fwd D=64 L=4k Z=4 H=16 BM=128 BN=64 at 4
 * warps, two blocks an SM, 811 us, where the dots take 357 at wgmma's rate
 * and the elementwise work 507 (their max 507, their sum 864, this term
 * 775); at one block an SM (BM=128 BN=128, 8 warps) the same work runs
 * 5-19% slower, and at three (BM=64 BN=64) up to 8% faster under a causal
 * mask.  0.75 is the fit of bench/model_fit.py (SCHED_DOT_WAIT_CYCLES). */
#define SCHED_OVERLAP 0.75

/* The dots at their rates: wgmma's where it is on and the dot fits it.  A
 * wgmma narrower than 64 columns issues as slowly as a 64-column one
 * (measured, H200: block_sparse_fwd D=64 at BK=32, where QK^T is m64n32,
 * 6-9% slower than at BK=64; flash_fwd's BN=32 rows are among the slowest
 * of every sweep). */
static double tensor_time(const ir_target *t, const sched_cost *c)
{
    if (!sched_wgmma_enabled(t) || t->wgmma_flops_per_s <= 0) return c->flops / t->mma_flops_per_s;
    return (c->flops - c->flops_wgmma) / t->mma_flops_per_s + c->wgmma_issue_flops / t->wgmma_flops_per_s;
}

static double compute_time(const ir_target *t, const sched_cost *c, int bps)
{
    double dots = tensor_time(t, c), alu = alu_time(t, c);
    double hi = dots > alu ? dots : alu, lo = dots > alu ? alu : dots;
    return hi + lo * pow(SCHED_OVERLAP, bps > 1 ? bps - 1 : 0);
}

/* Every byte, L2 hit or not, through L2 at its bandwidth. */
static double l2_time(const ir_target *t, const sched_cost *c)
{
    return t->l2_bytes_per_s > 0 ? c->hbm_bytes / t->l2_bytes_per_s : 0;
}

static double smem_traffic(const ir_target *t, const sched_cost *c)
{
    return sched_wgmma_enabled(t) ? c->smem_traffic_wgmma : c->smem_traffic;
}

void sched_evaluate(const ir_target *t, int num_warps, int num_stages, int cg_smem, arena *mem,
                    sched_cost *c)
{
    int threads = 32 * num_warps;
    c->num_warps = num_warps;
    c->num_stages = num_stages;
    c->cg_smem_bytes = cg_smem;
    c->smem_bytes = cg_smem + (num_stages > 1 ? num_stages * c->staged_bytes : 0);
    c->regs = sched_predict_regs(c);
    c->reject = NULL;
    c->regs_only = false;
    if (c->smem_bytes > t->smem_per_block)
        c->reject = sprint(mem, "shared memory %.0f bytes > %.0f per block (%.0f over)",
                           c->smem_bytes, t->smem_per_block, c->smem_bytes - t->smem_per_block);
    else if ((c->regs_only = c->regs > t->regs_per_thread))
        c->reject = sprint(mem, "registers %.0f per thread > %.0f (%.0f over)", c->regs,
                           t->regs_per_thread, c->regs - t->regs_per_thread);
    else if ((double)c->regs * threads > t->regs_per_sm)
        c->reject = sprint(mem, "registers %.0f x %.0f threads > the SM's 65536", c->regs, threads,
                           0);
    else if (threads > t->max_threads_per_block)
        c->reject = sprint(mem, "%.0f threads per block > %.0f", threads, t->max_threads_per_block, 0);

    /* Occupancy: blocks per SM under each limit (registers are allocated
     * per warp in units of 256, i.e. per thread in steps of 8). */
    int regs_alloc = (c->regs + 7) / 8 * 8;
    int by_regs = regs_alloc ? t->regs_per_sm / (regs_alloc * threads) : t->max_blocks_per_sm;
    int by_smem = c->smem_bytes ? t->smem_per_sm / (c->smem_bytes + 1024) : t->max_blocks_per_sm;
    int by_threads = t->max_threads_per_sm / threads;
    int bps = t->max_blocks_per_sm;
    c->occupancy_limit = "blocks";
    if (by_threads < bps) bps = by_threads, c->occupancy_limit = "threads";
    if (by_smem < bps) bps = by_smem, c->occupancy_limit = "smem";
    if (by_regs < bps) bps = by_regs, c->occupancy_limit = "registers";
    c->blocks_per_sm = bps;
    if (bps < 1) {
        if (!c->reject) c->reject = arena_printf(mem, "no block fits on an SM (%s)", c->occupancy_limit);
        bps = 1;
    }
    double capacity = (double)bps * t->sm_count;
    c->waves = ceil((double)c->programs / capacity);
    c->wave_eff = c->programs > 0 ? (double)c->programs / (c->waves * capacity) : 1;
    /* Throughput.  Tensor cores: two warps per SM sub-partition keep
     * mma.sync busy.  Memory: the bytes in flight per SM (each block's
     * loads of one iteration, times the stages in flight) must cover
     * bandwidth x latency (about 600 ns).  What one stage leaves exposed
     * is latency() below, not counted here. */
    int warps_per_sm = bps * num_warps;
    c->compute_eff = warps_per_sm >= 8 ? 1.0 : warps_per_sm / 8.0;
    int staging = c->staged_bytes > 0 && !c->unpipelined ? num_stages : 1;
    double inflight = bps * c->iter_load_bytes * (staging > 1 ? staging - 1 : 1);
    double needed = t->hbm_bytes_per_s / t->sm_count * 600e-9;
    c->mem_eff = inflight >= needed ? 1.0 : inflight / needed;
    if (c->mem_eff < 0.05) c->mem_eff = 0.05;
    c->l2_hit_bytes = l2_hits(t, c, capacity);
    c->t_mem = (c->hbm_bytes - c->l2_hit_bytes) / t->hbm_bytes_per_s / c->mem_eff;
    c->t_alu = alu_time(t, c);
    c->t_tensor = tensor_time(t, c);
    c->t_compute = compute_time(t, c, bps) / c->compute_eff;
    c->t_smem = smem_traffic(t, c) / t->smem_bytes_per_s / c->compute_eff;
    /* L2 serves the re-reads (l2_hits) but not for free: at BM=64, D=64
     * flash_fwd re-reads K and V twice as often as at BM=128 and runs 5-7%
     * slower for it (H200), where the other terms call the two even. */
    c->t_l2 = l2_time(t, c);
    double tmax = c->t_mem;
    c->bound = "memory";
    if (c->t_l2 > tmax) tmax = c->t_l2, c->bound = "l2";
    if (c->t_compute > tmax) tmax = c->t_compute, c->bound = "compute";
    if (c->t_smem > tmax) tmax = c->t_smem, c->bound = "smem";
    latency(t, bps, num_stages, tmax, c);
    if (c->exposed_s > 0) c->bound = "latency";
    c->time_s = tmax / (c->wave_eff * c->latency_eff) + SCHED_LAUNCH_S;
}

double sched_time_bound(const ir_target *t, const sched_cost *c, int max_bps)
{
    /* Every re-read an L2 hit (l2_hits takes at most these): a lower bound. */
    double m = (c->hbm_bytes - rereads(c)) / t->hbm_bytes_per_s,
           f = compute_time(t, c, 64),   /* the larger term: any number of blocks */
           s = smem_traffic(t, c) / t->smem_bytes_per_s;
    double x = m > f ? m : f;
    x = x > s ? x : s;
    x = x > l2_time(t, c) ? x : l2_time(t, c);
    /* One stage leaves each iteration's round trip exposed whatever codegen
     * finds: in sched_evaluate, time = (tmax + round_trip x inner_iters /
     * (bps x SMs)) / wave_eff there, with tmax >= x, wave_eff <= 1 and bps
     * at most what the threads (and max_bps) allow.  Without this term the
     * pruned search built every one-stage kernel, each a front-end run and
     * a codegen build of its own. */
    if (c->num_stages == 1 && c->inner_iters > 0 && c->iter_load_bytes > 0) {
        int threads = 32 * c->num_warps, bps = t->max_blocks_per_sm;
        if (threads > 0 && t->max_threads_per_sm / threads < bps) bps = t->max_threads_per_sm / threads;
        if (max_bps > 0 && max_bps < bps) bps = max_bps;
        if (bps < 1) bps = 1;
        x += round_trip_s(t, 1, c) * c->inner_iters / ((double)bps * t->sm_count);
    }
    return x + SCHED_LAUNCH_S;
}
