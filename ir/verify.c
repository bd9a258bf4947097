/* verify.c - the IR checker: every invariant ir.h states, after every pass.
 *
 * It walks each function once, keeping the set of values visible at the
 * current point (arguments of the enclosing blocks and results of earlier
 * ops), so "defined before use, in this block or an enclosing one" is a
 * lookup.  Per-op type rules follow the op table comment in ir.h.  The first
 * broken invariant is reported as an internal error naming the pass that ran
 * last, and the function is dumped to stderr: a verifier failure is always a
 * compiler bug, never a user error. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef struct verifier {
    ir_module *m;
    ir_func *f;
    const char *pass;
    unsigned char *visible; /* by value id */
    unsigned char *seen;    /* by value id: defined somewhere already */
    int nids;
    bool failed;
    bool input;             /* checking IR read from text: a user error */
} verifier;

static void fail(verifier *v, const ir_op *op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(verifier *v, const ir_op *op, const char *fmt, ...)
{
    if (v->failed) return;
    v->failed = true;
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    src_loc loc = op ? op->loc : (v->f ? v->f->loc : (src_loc){0});
    const char *pass = v->pass ? v->pass : "input";
    const char *fname = v->f && v->f->name ? v->f->name : "?";
    if (v->m->diags && v->input)
        diag_error(v->m->diags, loc, "invalid IR: in @%s: %s", fname, what);
    else if (v->m->diags)
        diag_error(v->m->diags, loc, "internal error: ir verifier (after %s): in @%s: %s",
                   pass, fname, what);
    else
        fprintf(stderr, "internal error: ir verifier (after %s): in @%s: %s\n", pass, fname,
                what);
}

static const char *tstr(const ir_type *t, char *buf, size_t n) { return ir_type_str(t, buf, n); }

#define TS(t) tstr((t), (char[320]){0}, 320)

static const char *opname(const ir_op *op)
{
    return (unsigned)op->code < IR_OP_COUNT ? ir_op_table[op->code].name : "?op";
}

static bool is_tile(const ir_value *x) { return x->type.kind == IR_TY_TILE; }
static bool is_scalar(const ir_value *x, ir_dtype t)
{
    return is_tile(x) && x->type.rank == 0 && x->type.dtype == t;
}

/* Tile IR has no layouts; scheduled IR has one on every tile of rank >= 1,
 * well formed for the module's num_warps. */
static void check_layout(verifier *v, const ir_op *op, const ir_type *t, const char *what)
{
    bool want = v->m->stage == IR_STAGE_SCHEDULED && t->kind == IR_TY_TILE && t->rank > 0;
    if (!want && t->layout) {
        fail(v, op, "%s has a layout %s", what,
             v->m->stage == IR_STAGE_SCHEDULED ? "but is not a tile of rank >= 1"
                                               : "before scheduling");
        return;
    }
    if (want && !t->layout) {
        fail(v, op, "%s has no layout in scheduled IR", what);
        return;
    }
    const char *why = NULL;
    if (want && !ir_layout_valid(t->layout, t->rank, v->m->target.num_warps, &why))
        fail(v, op, "%s: bad layout: %s", what, why);
}

static void check_type_wellformed(verifier *v, const ir_op *op, const ir_type *t, const char *what)
{
    if (t->kind != IR_TY_TILE && t->kind != IR_TY_TENSOR) {
        fail(v, op, "%s has a bad type kind %d", what, (int)t->kind);
        return;
    }
    if ((unsigned)t->dtype >= IR_DTYPE_COUNT) {
        fail(v, op, "%s has a bad dtype %d", what, (int)t->dtype);
        return;
    }
    if (t->rank < 0 || t->rank > IR_MAX_RANK) {
        fail(v, op, "%s has a bad rank %d", what, t->rank);
        return;
    }
    check_layout(v, op, t, what);
    if (t->kind != IR_TY_TILE) return;
    for (int i = 0; i < t->rank; i++)
        if (t->shape[i] < 1) {
            fail(v, op, "%s has a bad shape %s", what, TS(t));
            return;
        }
    if (ir_type_numel(t) > IR_MAX_NUMEL)
        fail(v, op, "%s has type %s, more than %d elements", what, TS(t), IR_MAX_NUMEL);
}

/* Defines a value at this point (block argument or op result). */
static void define(verifier *v, const ir_op *op, ir_value *x, const char *what)
{
    if (!x) {
        fail(v, op, "%s is NULL", what);
        return;
    }
    if (x->id < 0 || x->id >= v->nids) {
        fail(v, op, "%s has id %d outside this module", what, x->id);
        return;
    }
    if (v->seen[x->id]) {
        fail(v, op, "%s (value id %d) is defined twice", what, x->id);
        return;
    }
    check_type_wellformed(v, op, &x->type, what);
    v->seen[x->id] = 1;
    v->visible[x->id] = 1;
}

static void undefine(verifier *v, ir_value *x)
{
    if (x && x->id >= 0 && x->id < v->nids) v->visible[x->id] = 0;
}

static bool use_ok(verifier *v, const ir_op *op, int i)
{
    ir_value *x = op->operands[i];
    if (!x) {
        fail(v, op, "%s: operand %d is NULL", opname(op), i);
        return false;
    }
    if (x->id < 0 || x->id >= v->nids || !v->visible[x->id]) {
        fail(v, op, "%s: operand %d (value id %d) is not defined before this use in an "
                    "enclosing block", opname(op), i, x->id);
        return false;
    }
    return true;
}

static void check_block(verifier *v, ir_block *blk, ir_op *parent, ir_opcode term);

/* ---- per-op rules ------------------------------------------------------ */

static bool tensor_operand_allowed(const ir_op *op, int i)
{
    switch (op->code) {
    case IR_OP_LOAD:
    case IR_OP_STORE:
    case IR_OP_ATOMIC_ADD:
    case IR_OP_TENSOR_DIM: return i == 0;
    case IR_OP_ASYNC_COPY: return i == 2;
    case IR_OP_CALL: return true;
    default: return false;
    }
}

static void check_counts(verifier *v, const ir_op *op)
{
    const ir_op_info *info = &ir_op_table[op->code];
    if (info->noperands >= 0 && op->noperands != info->noperands)
        fail(v, op, "%s: expected %d operands, got %d", info->name, info->noperands,
             op->noperands);
    else if (info->nresults >= 0 && op->nresults != info->nresults)
        fail(v, op, "%s: expected %d results, got %d", info->name, info->nresults,
             op->nresults);
    int nblocks = op->code == IR_OP_FOR || op->code == IR_OP_SCAN ? 1
                  : op->code == IR_OP_WHILE || op->code == IR_OP_IF ? 2 : 0;
    if (!v->failed && op->nblocks != nblocks)
        fail(v, op, "%s: expected %d regions, got %d", info->name, nblocks, op->nblocks);
}

/* Elementwise: operands (except SELECT's cond, CAST's source dtype) have
 * the result's exact type; comparisons give bool. */
static void check_elementwise(verifier *v, const ir_op *op)
{
    const ir_op_info *info = &ir_op_table[op->code];
    const ir_type *rt = &op->results[0]->type;
    for (int i = 0; i < op->noperands && v->m->stage == IR_STAGE_SCHEDULED; i++)
        if (op->operands[i]->type.layout != rt->layout) {
            fail(v, op, "%s: operand %d has another layout than the result (convert_layout "
                        "explicitly)", info->name, i);
            return;
        }
    if (op->code == IR_OP_CAST) {
        if (!ir_type_same_shape(&op->operands[0]->type, rt))
            fail(v, op, "cast: operand shape %s differs from result %s",
                 TS(&op->operands[0]->type), TS(rt));
        return;
    }
    if (op->code == IR_OP_SELECT) {
        const ir_type *ct = &op->operands[0]->type;
        if (ct->dtype != IR_BOOL || !ir_type_same_shape(ct, rt))
            fail(v, op, "select: condition has type %s, expected bool with shape of %s",
                 TS(ct), TS(rt));
        for (int i = 1; i < 3 && !v->failed; i++)
            if (!ir_type_equal(&op->operands[i]->type, rt))
                fail(v, op, "select: operand %d has type %s, expected %s", i,
                     TS(&op->operands[i]->type), TS(rt));
        return;
    }
    ir_type want = *rt;
    if (info->flags & IR_CMP) {
        if (rt->dtype != IR_BOOL) {
            fail(v, op, "%s: result has type %s, expected bool", info->name, TS(rt));
            return;
        }
        want.dtype = op->operands[0]->type.dtype;
    }
    for (int i = 0; i < op->noperands && !v->failed; i++)
        if (!ir_type_equal(&op->operands[i]->type, &want))
            fail(v, op, "%s: operand %d has type %s, expected %s", info->name, i,
                 TS(&op->operands[i]->type), TS(&want));
    if (v->failed) return;
    ir_dtype dt = want.dtype;
    bool is_f = ir_dtype_is_float(dt), is_i = ir_dtype_is_int(dt), is_b = dt == IR_BOOL;
    bool ok = true;
    switch (op->code) {
    case IR_OP_NEG: case IR_OP_ABS: case IR_OP_ADD: case IR_OP_SUB: case IR_OP_MUL:
    case IR_OP_DIV: case IR_OP_REM: case IR_OP_MIN: case IR_OP_MAX:
        ok = is_f || is_i;
        break;
    case IR_OP_NOT: case IR_OP_AND: case IR_OP_OR: case IR_OP_XOR:
        ok = is_i || is_b;
        break;
    case IR_OP_SHL: case IR_OP_SHR:
        ok = is_i;
        break;
    default:
        if (info->flags & IR_FLOAT_ONLY) ok = is_f;
        break;
    }
    if (!ok) fail(v, op, "%s: not defined on %s", info->name, ir_dtype_name(dt));
}

static void check_axis(verifier *v, const ir_op *op, int rank)
{
    if (op->attr.i < 0 || op->attr.i >= rank)
        fail(v, op, "%s: axis %" PRId64 " out of range for rank %d", opname(op), op->attr.i,
             rank);
}

/* SORT/TOPK: values of x's type, i32 indices of the same shape; SORT keeps
 * the axis length, TOPK cuts it to k in 1..n.  Layouts are free (each
 * result is written through the scratch). */
static void check_sort(verifier *v, const ir_op *op)
{
    const ir_type *xt = &op->operands[0]->type;
    const char *name = ir_op_table[op->code].name;
    check_axis(v, op, xt->rank);
    if (v->failed) return;
    if (xt->kind != IR_TY_TILE || xt->rank < 1 || xt->dtype == IR_BOOL) {
        fail(v, op, "%s: operand has type %s, expected a numeric tile of rank >= 1", name, TS(xt));
        return;
    }
    const ir_type *vt = &op->results[0]->type, *it = &op->results[1]->type;
    int64_t k = vt->rank == xt->rank ? vt->shape[op->attr.i] : -1;
    ir_type want = *xt;
    want.shape[op->attr.i] = k;
    want.layout = vt->layout;
    bool k_ok = op->code == IR_OP_SORT ? k == xt->shape[op->attr.i]
                                       : k >= 1 && k <= xt->shape[op->attr.i];
    if (!k_ok || !ir_type_equal(vt, &want)) {
        fail(v, op, "%s: values have type %s, not %s along axis %" PRId64 "%s", name, TS(vt),
             TS(xt), op->attr.i, op->code == IR_OP_TOPK ? " cut to k in 1..n" : "");
        return;
    }
    want.dtype = IR_I32;
    want.layout = it->layout;
    if (!ir_type_equal(it, &want))
        fail(v, op, "%s: indices have type %s, expected %s", name, TS(it), TS(&want));
}

/* The parameter a function-argument value stands for, or NULL. */
static const ir_param *param_of(const verifier *v, const ir_value *x)
{
    const ir_func *f = v->f;
    if (x->def || !x->owner || (x->owner != f->body && x->owner != f->grid)) return NULL;
    return x->index >= 0 && x->index < f->nparams ? &f->params[x->index] : NULL;
}

static void check_memory(verifier *v, const ir_op *op)
{
    const char *name = opname(op);
    if (op->noperands < 1 || op->operands[0]->type.kind != IR_TY_TENSOR) {
        fail(v, op, "%s: first operand must be a tensor", name);
        return;
    }
    const ir_type *tt = &op->operands[0]->type;
    bool is_load = op->code == IR_OP_LOAD;
    const ir_param *tp = param_of(v, op->operands[0]);
    if (!is_load && tp && !tp->is_out) {
        fail(v, op, "%s: tensor '%s' is not an out parameter", name, tp->name ? tp->name : "?");
        return;
    }
    int64_t allowed = is_load ? (IR_LOAD_HAS_MASK | IR_LOAD_HAS_OTHER) : IR_LOAD_HAS_MASK;
    if (op->attr.i & ~allowed) {
        fail(v, op, "%s: bad flags %" PRId64, name, op->attr.i);
        return;
    }
    int has_mask = (op->attr.i & IR_LOAD_HAS_MASK) != 0;
    int has_other = (op->attr.i & IR_LOAD_HAS_OTHER) != 0;
    int want = 1 + tt->rank + (is_load ? 0 : 1) + has_mask + has_other;
    if (op->noperands != want) {
        fail(v, op, "%s: expected %d operands for a rank-%d tensor, got %d", name, want,
             tt->rank, op->noperands);
        return;
    }
    ir_type view = ir_type_scalar(tt->dtype);
    for (int d = 0; d < tt->rank; d++) {
        const ir_type *it = &op->operands[1 + d]->type;
        if (it->kind != IR_TY_TILE || !ir_dtype_is_int(it->dtype)) {
            fail(v, op, "%s: index %d has type %s, expected an integer tile", name, d, TS(it));
            return;
        }
        if (view.rank + it->rank > IR_MAX_RANK) {
            fail(v, op, "%s: indexed view has rank above %d", name, IR_MAX_RANK);
            return;
        }
        for (int k = 0; k < it->rank; k++) view.shape[view.rank++] = it->shape[k];
    }
    int k = 1 + tt->rank;
    view.layout = is_load ? op->results[0]->type.layout : op->operands[k]->type.layout;
    if (is_load) {
        if (!ir_type_equal(&op->results[0]->type, &view)) {
            fail(v, op, "load: result has type %s, expected %s", TS(&op->results[0]->type),
                 TS(&view));
            return;
        }
    } else {
        const ir_type *vt = &op->operands[k++]->type;
        if (!ir_type_equal(vt, &view)) {
            fail(v, op, "%s: value has type %s, expected %s", name, TS(vt), TS(&view));
            return;
        }
        if (op->code == IR_OP_ATOMIC_ADD && tt->dtype != IR_F32 && tt->dtype != IR_I32) {
            fail(v, op, "atomic_add: not defined on %s", ir_dtype_name(tt->dtype));
            return;
        }
    }
    if (has_mask) {
        const ir_type *mt = &op->operands[k++]->type;
        if (mt->kind != IR_TY_TILE || mt->dtype != IR_BOOL || !ir_type_same_shape(mt, &view) ||
            mt->layout != view.layout) {
            fail(v, op, "%s: mask has type %s, expected bool with shape of %s", name, TS(mt),
                 TS(&view));
            return;
        }
    }
    if (has_other) {
        const ir_type *ot = &op->operands[k++]->type;
        if (!ir_type_equal(ot, &view))
            fail(v, op, "load: other has type %s, expected %s", TS(ot), TS(&view));
    }
}

static void check_dot(verifier *v, const ir_op *op)
{
    if (op->noperands != 2 && op->noperands != 3) {
        fail(v, op, "dot: expected 2 or 3 operands, got %d", op->noperands);
        return;
    }
    const ir_type *a = &op->operands[0]->type, *b = &op->operands[1]->type;
    const ir_type *rt = &op->results[0]->type;
    if (a->rank != 2 || b->rank != 2 || a->shape[1] != b->shape[0]) {
        fail(v, op, "dot: expects [M,K]x[K,N], got %s x %s", TS(a), TS(b));
        return;
    }
    if (a->dtype != b->dtype) {
        fail(v, op, "dot: operand dtypes differ: %s x %s", TS(a), TS(b));
        return;
    }
    ir_dtype acc = ir_dtype_is_float(a->dtype) ? IR_F32 : a->dtype == IR_I32 ? IR_I32 : IR_BOOL;
    if (acc == IR_BOOL) {
        fail(v, op, "dot: not defined on %s", ir_dtype_name(a->dtype));
        return;
    }
    int64_t shape[2] = {a->shape[0], b->shape[1]};
    ir_type want = ir_type_tile(acc, 2, shape);
    want.layout = rt->layout;
    if (!ir_type_equal(rt, &want)) {
        fail(v, op, "dot: result has type %s, expected %s", TS(rt), TS(&want));
        return;
    }
    if (op->noperands == 3 && !ir_type_equal(&op->operands[2]->type, &want))
        fail(v, op, "dot: accumulator has type %s, expected %s", TS(&op->operands[2]->type),
             TS(&want));
}

/* scan: k >= 1 tiles of one shape (rank >= 1), results of the same types. */
static void check_scan(verifier *v, const ir_op *op)
{
    if (op->noperands < 1 || op->noperands > IR_SCAN_MAX_OPERANDS ||
        op->nresults != op->noperands) {
        fail(v, op, "scan: %d operands and %d results, expected k of each, 1 <= k <= %d",
             op->noperands, op->nresults, IR_SCAN_MAX_OPERANDS);
        return;
    }
    const ir_type *xt = &op->operands[0]->type;
    for (int i = 0; i < op->noperands; i++) {
        const ir_type *t = &op->operands[i]->type;
        if (t->kind != IR_TY_TILE || !ir_type_same_shape(t, xt)) {
            fail(v, op, "scan: operand %d has type %s, expected the shape of %s", i, TS(t), TS(xt));
            return;
        }
        if (!ir_type_equal(&op->results[i]->type, t)) {
            fail(v, op, "scan: result %d has type %s, expected %s", i, TS(&op->results[i]->type),
                 TS(t));
            return;
        }
    }
    check_axis(v, op, xt->rank);
}

/* scan's combine region: args (a_0..a_{k-1}, b_0..b_{k-1}) and yielded
 * values are rank-0 tiles of the operands' dtypes. */
static void check_scan_region(verifier *v, const ir_op *op)
{
    int k = op->noperands;
    const ir_block *blk = op->blocks[0];
    if (!blk || blk->nargs != 2 * k) {
        fail(v, op, "scan: combine region has %d arguments, expected %d", blk ? blk->nargs : 0,
             2 * k);
        return;
    }
    for (int i = 0; i < 2 * k; i++) {
        ir_type want = ir_type_scalar(op->operands[i % k]->type.dtype);
        if (!ir_type_equal(&blk->args[i]->type, &want)) {
            fail(v, op, "scan: combine region argument %d has type %s, expected %s", i,
                 TS(&blk->args[i]->type), TS(&want));
            return;
        }
    }
}

/* Terminator of region `blk` yields values whose types must be `types`. */
static void check_yield(verifier *v, const ir_op *op, const ir_block *blk, int n,
                        ir_value *const *want, const char *what)
{
    if (v->failed || !blk || !blk->last) return;
    const ir_op *t = blk->last;
    if (t->noperands != n) {
        fail(v, t, "%s: %s yields %d values, expected %d", opname(op), what, t->noperands, n);
        return;
    }
    for (int i = 0; i < n; i++)
        if (!ir_type_equal(&t->operands[i]->type, &want[i]->type)) {
            fail(v, t, "%s: %s yields %s for value %d, expected %s", opname(op), what,
                 TS(&t->operands[i]->type), i, TS(&want[i]->type));
            return;
        }
}

static void check_region_args(verifier *v, const ir_op *op, const ir_block *blk, int skip,
                              int n, ir_value *const *want, const char *what)
{
    if (v->failed) return;
    if (!blk) {
        fail(v, op, "%s: %s region is missing", opname(op), what);
        return;
    }
    if (blk->nargs != skip + n) {
        fail(v, op, "%s: %s region has %d arguments, expected %d", opname(op), what,
             blk->nargs, skip + n);
        return;
    }
    for (int i = 0; i < n; i++)
        if (!blk->args[skip + i] ||
            !ir_type_equal(&blk->args[skip + i]->type, &want[i]->type)) {
            fail(v, op, "%s: %s region argument %d does not have type %s", opname(op),
                 what, skip + i, TS(&want[i]->type));
            return;
        }
}

static void check_results_match(verifier *v, const ir_op *op, int n, ir_value *const *inits)
{
    if (op->nresults != n) {
        fail(v, op, "%s: %d results for %d carried values", opname(op), op->nresults, n);
        return;
    }
    for (int i = 0; i < n; i++)
        if (!ir_type_equal(&op->results[i]->type, &inits[i]->type)) {
            fail(v, op, "%s: result %d has type %s, its initial value %s", opname(op), i,
                 TS(&op->results[i]->type), TS(&inits[i]->type));
            return;
        }
}

static void check_call(verifier *v, const ir_op *op)
{
    ir_func *c = op->attr.callee;
    if (!c) {
        fail(v, op, "call: no callee");
        return;
    }
    bool found = false;
    for (ir_func *g = v->m->first; g; g = g->next) found |= g == c;
    if (!found || c->kind != IR_FUNC_FN) {
        fail(v, op, "call: callee @%s is not an fn of this module", c->name ? c->name : "?");
        return;
    }
    if (op->noperands != c->nparams) {
        fail(v, op, "call: @%s takes %d arguments, got %d", c->name, c->nparams, op->noperands);
        return;
    }
    for (int i = 0; i < c->nparams; i++)
        if (!ir_type_equal(&op->operands[i]->type, &c->params[i].type)) {
            fail(v, op, "call: argument %d of @%s has type %s, expected %s", i, c->name,
                 TS(&op->operands[i]->type), TS(&c->params[i].type));
            return;
        }
    if (op->nresults != c->nresults) {
        fail(v, op, "call: @%s returns %d values, call has %d results", c->name, c->nresults,
             op->nresults);
        return;
    }
    for (int i = 0; i < c->nresults; i++)
        if (!ir_type_equal(&op->results[i]->type, &c->result_types[i])) {
            fail(v, op, "call: result %d of @%s has type %s, expected %s", i, c->name,
                 TS(&op->results[i]->type), TS(&c->result_types[i]));
            return;
        }
}

static bool is_shared(const ir_type *t)
{
    return t->kind == IR_TY_TILE && t->layout && t->layout->kind == IR_LAYOUT_SHARED;
}

/* Which operands may be shared-memory tiles (ir.h: a #shared tile is a
 * buffer, so only ops that address memory take one). */
static bool shared_operand_allowed(const ir_op *op, int i)
{
    switch (op->code) {
    case IR_OP_LOCAL_VIEW:
    case IR_OP_ASYNC_COPY: return i == 0;
    case IR_OP_TRANS: return true;
    case IR_OP_DOT: return i < 2;
    case IR_OP_CONVERT_LAYOUT: return op->operands[0]->type.rank == 2;   /* a buffer read into registers */
    default: return false;
    }
}

static void check_async_copy(verifier *v, const ir_op *op)
{
    const ir_type *dt = &op->operands[0]->type, *rt = &op->results[0]->type;
    if (op->noperands < 3 || op->operands[2]->type.kind != IR_TY_TENSOR) {
        fail(v, op, "async_copy: operands are (dst, pred, tensor, indices...)");
        return;
    }
    const ir_type *tt = &op->operands[2]->type;
    if (op->noperands != 3 + tt->rank) {
        fail(v, op, "async_copy: expected %d operands for a rank-%d tensor, got %d", 3 + tt->rank,
             tt->rank, op->noperands);
        return;
    }
    if (!is_scalar(op->operands[1], IR_BOOL)) {
        fail(v, op, "async_copy: the predicate must be a bool scalar");
        return;
    }
    ir_type view = ir_type_scalar(tt->dtype);
    for (int d = 0; d < tt->rank; d++) {
        const ir_type *it = &op->operands[3 + d]->type;
        if (it->kind != IR_TY_TILE || !ir_dtype_is_int(it->dtype) ||
            view.rank + it->rank > IR_MAX_RANK) {
            fail(v, op, "async_copy: index %d has type %s, expected an integer tile", d, TS(it));
            return;
        }
        for (int k = 0; k < it->rank; k++) view.shape[view.rank++] = it->shape[k];
    }
    if (!is_shared(dt) || is_shared(rt) || !ir_type_same_shape(&view, dt) ||
        !ir_type_same_shape(&view, rt) || dt->dtype != tt->dtype || rt->dtype != tt->dtype)
        fail(v, op, "async_copy: copies %s into %s with result %s: shapes and dtypes must agree, "
                    "the destination in shared memory, the result in registers",
             TS(&view), TS(dt), TS(rt));
}

static void check_shared_op(verifier *v, const ir_op *op)
{
    const ir_type *rt = op->nresults ? &op->results[0]->type : NULL;
    if (v->m->stage != IR_STAGE_SCHEDULED) {
        fail(v, op, "%s: only in scheduled IR", opname(op));
        return;
    }
    switch (op->code) {
    case IR_OP_LOCAL_ALLOC:
        if (!is_shared(rt) || rt->rank < 2)
            fail(v, op, "local_alloc: result %s must be a shared buffer of rank >= 2", TS(rt));
        break;
    case IR_OP_LOCAL_VIEW: {
        const ir_type *bt = &op->operands[0]->type;
        bool ok = is_shared(bt) && is_shared(rt) && is_scalar(op->operands[1], IR_I32) &&
                  bt->dtype == rt->dtype && bt->rank == rt->rank + 1;
        for (int d = 0; ok && d < rt->rank; d++) ok = bt->shape[d + 1] == rt->shape[d];
        if (!ok) fail(v, op, "local_view: %s is not a slot of %s", TS(rt), TS(bt));
        break;
    }
    case IR_OP_ASYNC_COPY: check_async_copy(v, op); break;
    case IR_OP_ASYNC_WAIT:
        if (op->attr.i < 0 || op->attr.i > 64) fail(v, op, "async_wait: %" PRId64 " groups", op->attr.i);
        break;
    default: break;
    }
}

static void check_op_types(verifier *v, ir_op *op)
{
    const ir_op_info *info = &ir_op_table[op->code];
    for (int i = 0; i < op->noperands; i++)
        if (op->operands[i]->type.kind == IR_TY_TENSOR && !tensor_operand_allowed(op, i)) {
            fail(v, op, "%s: operand %d is a tensor; tensors are only used by "
                        "load/store/atomic_add/tensor_dim/call", info->name, i);
            return;
        }
    for (int i = 0; i < op->nresults; i++) {
        if (!op->results[i]) {
            fail(v, op, "%s: result %d is NULL", info->name, i);
            return;
        }
        check_layout(v, op, &op->results[i]->type, "result"); /* before type comparisons */
        if (v->failed) return;
        if (op->results[i]->type.kind != IR_TY_TILE) {
            fail(v, op, "%s: result %d is not a tile", info->name, i);
            return;
        }
    }
    for (int i = 0; i < op->noperands; i++)
        if (is_shared(&op->operands[i]->type) && !shared_operand_allowed(op, i)) {
            fail(v, op, "%s: operand %d is a shared-memory buffer %s", info->name, i,
                 TS(&op->operands[i]->type));
            return;
        }
    if (info->flags & IR_ELEMENTWISE) {
        check_elementwise(v, op);
        return;
    }
    const ir_type *rt = op->nresults ? &op->results[0]->type : NULL;
    const ir_type *xt = op->noperands ? &op->operands[0]->type : NULL;
    switch (op->code) {
    case IR_OP_CONST: {
        ir_scalar c = op->attr.cval;
        bool ok = true;
        if (rt->dtype == IR_BOOL) ok = c.i == 0 || c.i == 1;
        else if (rt->dtype == IR_I32) ok = c.i >= INT32_MIN && c.i <= INT32_MAX;
        else if (ir_dtype_is_float(rt->dtype))
            ok = c.f != c.f || ir_scalar_round(rt->dtype, c.f).f == c.f;
        if (!ok) fail(v, op, "const: value is not representable in %s", ir_dtype_name(rt->dtype));
        break;
    }
    case IR_OP_ARANGE:
        if (rt->dtype != IR_I32 || rt->rank != 1)
            fail(v, op, "arange: result has type %s, expected i32[n]", TS(rt));
        break;
    case IR_OP_BROADCAST: {
        bool ok = xt->dtype == rt->dtype && xt->rank <= rt->rank;
        for (int i = 0; ok && i < xt->rank; i++) {
            int64_t s = xt->shape[xt->rank - 1 - i], d = rt->shape[rt->rank - 1 - i];
            ok = s == d || s == 1;
        }
        if (!ok) fail(v, op, "broadcast: cannot broadcast %s to %s", TS(xt), TS(rt));
        break;
    }
    case IR_OP_RESHAPE:
        if (xt->dtype != rt->dtype || ir_type_numel(xt) != ir_type_numel(rt))
            fail(v, op, "reshape: cannot reshape %s to %s", TS(xt), TS(rt));
        break;
    case IR_OP_EXPAND_DIMS: {
        bool ok = xt->dtype == rt->dtype && rt->rank == xt->rank + 1 && op->attr.i >= 0 &&
                  op->attr.i <= xt->rank && rt->shape[op->attr.i] == 1;
        for (int i = 0, j = 0; ok && i < rt->rank; i++)
            if (i != op->attr.i) ok = rt->shape[i] == xt->shape[j++];
        if (!ok) fail(v, op, "expand_dims: cannot insert axis %" PRId64 " into %s giving %s",
                      op->attr.i, TS(xt), TS(rt));
        break;
    }
    case IR_OP_CONVERT_LAYOUT:
        if (v->m->stage != IR_STAGE_SCHEDULED)
            fail(v, op, "convert_layout: only in scheduled IR");
        else if (xt->dtype != rt->dtype || !ir_type_same_shape(xt, rt))
            fail(v, op, "convert_layout: %s to %s changes more than the layout", TS(xt), TS(rt));
        break;
    case IR_OP_TRANS: {
        if (xt->dtype != rt->dtype || xt->rank != rt->rank) {
            fail(v, op, "trans: cannot transpose %s to %s", TS(xt), TS(rt));
            break;
        }
        bool used[IR_MAX_RANK] = {false};
        for (int i = 0; i < rt->rank; i++) {
            int p = op->attr.perm[i];
            if (p < 0 || p >= rt->rank || used[p]) {
                fail(v, op, "trans: perm is not a permutation of 0..%d", rt->rank - 1);
                return;
            }
            used[p] = true;
            if (rt->shape[i] != xt->shape[p]) {
                fail(v, op, "trans: result %s is not %s permuted", TS(rt), TS(xt));
                return;
            }
        }
        break;
    }
    case IR_OP_REDUCE_SUM:
    case IR_OP_REDUCE_MAX:
    case IR_OP_REDUCE_MIN: {
        check_axis(v, op, xt->rank);
        if (v->failed) break;
        ir_type want = ir_type_scalar(xt->dtype);
        for (int i = 0; i < xt->rank; i++)
            if (i != op->attr.i) want.shape[want.rank++] = xt->shape[i];
        want.layout = rt->layout;
        if (!ir_type_equal(rt, &want))
            fail(v, op, "%s: result has type %s, expected %s", info->name, TS(rt), TS(&want));
        break;
    }
    case IR_OP_SLICE: {
        check_axis(v, op, xt->rank);
        if (v->failed) break;
        int64_t ax = op->attr.i;
        bool ok = xt->dtype == rt->dtype && xt->rank == rt->rank && op->attr.start >= 0 &&
                  op->attr.step >= 1;
        for (int i = 0; ok && i < rt->rank; i++)
            if (i != ax) ok = rt->shape[i] == xt->shape[i];
        /* start + (n-1)*step < size, without overflow (n >= 1, step >= 1) */
        if (ok) ok = op->attr.start < xt->shape[ax] &&
                     (rt->shape[ax] - 1) <= (xt->shape[ax] - 1 - op->attr.start) / op->attr.step;
        if (!ok)
            fail(v, op, "slice: %s is not %s along axis %" PRId64 " from %" PRId64 " step %" PRId64,
                 TS(rt), TS(xt), ax, op->attr.start, op->attr.step);
        break;
    }
    case IR_OP_CONCAT: {
        check_axis(v, op, rt->rank);
        if (v->failed) break;
        const ir_type *bt = &op->operands[1]->type;
        int64_t ax = op->attr.i;
        bool ok = xt->dtype == rt->dtype && bt->dtype == rt->dtype && xt->rank == rt->rank &&
                  bt->rank == rt->rank;
        for (int i = 0; ok && i < rt->rank; i++)
            ok = i == ax ? rt->shape[i] == xt->shape[i] + bt->shape[i]
                         : rt->shape[i] == xt->shape[i] && bt->shape[i] == xt->shape[i];
        if (!ok)
            fail(v, op, "concat: %s is not %s and %s joined along axis %" PRId64, TS(rt), TS(xt),
                 TS(bt), ax);
        break;
    }
    case IR_OP_ARGMAX:
    case IR_OP_ARGMIN: {
        check_axis(v, op, xt->rank);
        if (v->failed) break;
        if (xt->dtype == IR_BOOL) {
            fail(v, op, "%s: not defined on bool", info->name);
            break;
        }
        ir_type want = ir_type_scalar(IR_I32);
        for (int i = 0; i < xt->rank; i++)
            if (i != op->attr.i) want.shape[want.rank++] = xt->shape[i];
        want.layout = rt->layout; /* scheduled IR: any layout (as reductions) */
        if (!ir_type_equal(rt, &want))
            fail(v, op, "%s: result has type %s, expected %s", info->name, TS(rt), TS(&want));
        break;
    }
    case IR_OP_SORT:
    case IR_OP_TOPK:
        check_sort(v, op);
        break;
    case IR_OP_CUMSUM:
        check_axis(v, op, xt->rank);
        if (!v->failed && !ir_type_equal(rt, xt))
            fail(v, op, "cumsum: result has type %s, expected %s", TS(rt), TS(xt));
        break;
    case IR_OP_SCAN:
        check_scan(v, op);
        break;
    case IR_OP_DOT:
        check_dot(v, op);
        break;
    case IR_OP_PROGRAM_ID:
    case IR_OP_NUM_PROGRAMS:
        if (op->attr.i < 0 || op->attr.i > 2)
            fail(v, op, "%s: axis %" PRId64 " is not 0..2", info->name, op->attr.i);
        else if (!is_scalar(op->results[0], IR_I32))
            fail(v, op, "%s: result must be an i32 scalar", info->name);
        break;
    case IR_OP_TENSOR_DIM:
        if (xt->kind != IR_TY_TENSOR) fail(v, op, "tensor_dim: operand is not a tensor");
        else check_axis(v, op, xt->rank);
        if (!v->failed && !is_scalar(op->results[0], IR_I32))
            fail(v, op, "tensor_dim: result must be an i32 scalar");
        break;
    case IR_OP_LOAD:
    case IR_OP_STORE:
    case IR_OP_ATOMIC_ADD:
        check_memory(v, op);
        break;
    case IR_OP_LOCAL_ALLOC:
    case IR_OP_LOCAL_VIEW:
    case IR_OP_ASYNC_COPY:
    case IR_OP_ASYNC_COMMIT:
    case IR_OP_ASYNC_WAIT:
    case IR_OP_BARRIER:
        check_shared_op(v, op);
        break;
    case IR_OP_FOR:
        if (op->noperands < 3) {
            fail(v, op, "for: expected lo, hi, step operands");
            break;
        }
        for (int i = 0; i < 3; i++) {
            ir_dtype dt = op->operands[0]->type.dtype;
            if ((dt != IR_I32 && dt != IR_I64) || !is_scalar(op->operands[i], dt)) {
                fail(v, op, "for: %s must be an i32 or i64 scalar, of the same dtype as lo",
                     i == 0 ? "lo" : i == 1 ? "hi" : "step");
                return;
            }
        }
        check_results_match(v, op, op->noperands - 3, op->operands + 3);
        break;
    case IR_OP_WHILE:
        check_results_match(v, op, op->noperands, op->operands);
        break;
    case IR_OP_IF:
        if (!is_scalar(op->operands[0], IR_BOOL))
            fail(v, op, "if: condition has type %s, expected bool", TS(xt));
        break;
    case IR_OP_CONDITION:
        if (!is_scalar(op->operands[0], IR_BOOL))
            fail(v, op, "condition: operand has type %s, expected bool", TS(xt));
        break;
    case IR_OP_CALL:
        check_call(v, op);
        break;
    case IR_OP_ASSERT:
        if (!is_scalar(op->operands[0], IR_BOOL))
            fail(v, op, "assert: condition has type %s, expected bool", TS(xt));
        break;
    case IR_OP_RETURN:
        if (op->parent != v->f->body) break; /* reported as a misplaced terminator */
        if (op->noperands != v->f->nresults) {
            fail(v, op, "return: %d values, @%s returns %d", op->noperands, v->f->name,
                 v->f->nresults);
            break;
        }
        for (int i = 0; i < op->noperands; i++)
            if (!ir_type_equal(&op->operands[i]->type, &v->f->result_types[i])) {
                fail(v, op, "return: value %d has type %s, expected %s", i,
                     TS(&op->operands[i]->type), TS(&v->f->result_types[i]));
                break;
            }
        break;
    default:
        break;
    }
}

static void check_regions(verifier *v, ir_op *op)
{
    switch (op->code) {
    case IR_OP_FOR: {
        ir_block *body = op->blocks[0];
        int n = op->noperands - 3;
        check_region_args(v, op, body, 1, n, op->operands + 3, "body");
        if (!v->failed && !is_scalar(body->args[0], op->operands[0]->type.dtype))
            fail(v, op, "for: induction variable must be a scalar of lo's dtype");
        check_block(v, body, op, IR_OP_YIELD);
        check_yield(v, op, body, n, op->results, "body");
        break;
    }
    case IR_OP_WHILE: {
        ir_block *cond = op->blocks[0], *body = op->blocks[1];
        check_region_args(v, op, cond, 0, op->noperands, op->operands, "cond");
        check_region_args(v, op, body, 0, op->noperands, op->operands, "body");
        check_block(v, cond, op, IR_OP_CONDITION);
        check_block(v, body, op, IR_OP_YIELD);
        check_yield(v, op, body, op->nresults, op->results, "body");
        break;
    }
    case IR_OP_SCAN: {
        check_scan_region(v, op);
        if (v->failed) break;
        ir_block *combine = op->blocks[0];
        check_block(v, combine, op, IR_OP_YIELD);
        check_yield(v, op, combine, op->noperands, combine->args, "combine");
        break;
    }
    case IR_OP_IF:
        for (int r = 0; r < 2 && !v->failed; r++) {
            const char *what = r ? "else" : "then";
            check_region_args(v, op, op->blocks[r], 0, 0, NULL, what);
            check_block(v, op->blocks[r], op, IR_OP_YIELD);
            check_yield(v, op, op->blocks[r], op->nresults, op->results, what);
        }
        break;
    default:
        break;
    }
}

static void check_op(verifier *v, ir_block *blk, ir_op *op)
{
    if ((unsigned)op->code >= IR_OP_COUNT) {
        fail(v, op, "bad opcode %d", (int)op->code);
        return;
    }
    if (op->parent != blk) {
        fail(v, op, "%s: op's parent is not the block holding it", opname(op));
        return;
    }
    if ((op->next && op->next->prev != op) || (!op->next && blk->last != op)) {
        fail(v, op, "%s: broken op list links", opname(op));
        return;
    }
    if ((op->noperands && !op->operands) || (op->nresults && !op->results) ||
        (op->nblocks && !op->blocks)) {
        fail(v, op, "%s: missing operand/result/region array", opname(op));
        return;
    }
    check_counts(v, op);
    for (int i = 0; i < op->noperands && !v->failed; i++) use_ok(v, op, i);
    if (v->failed) return;
    check_op_types(v, op);
    if (v->failed) return;
    check_regions(v, op);
    for (int i = 0; i < op->nresults && !v->failed; i++) {
        ir_value *x = op->results[i];
        define(v, op, x, "result");
        if (!v->failed && (x->def != op || x->index != i || x->owner))
            fail(v, op, "%s: result %d does not point back at its op", opname(op), i);
    }
}

static void check_block(verifier *v, ir_block *blk, ir_op *parent, ir_opcode term)
{
    if (v->failed) return;
    const char *where = parent ? opname(parent) : term == IR_OP_RETURN ? "body" : "grid";
    if (!blk) {
        fail(v, parent, "%s: missing region", where);
        return;
    }
    if (blk->parent != parent) {
        fail(v, parent, "%s: region block's parent is not its op", where);
        return;
    }
    if (blk->func != v->f) {
        fail(v, parent, "%s: block belongs to another function", where);
        return;
    }
    for (int i = 0; i < blk->nargs && !v->failed; i++) {
        ir_value *a = blk->args[i];
        define(v, parent, a, "block argument");
        if (v->failed) break;
        if (a->owner != blk || a->index != i || a->def)
            fail(v, parent, "%s: block argument %d does not point back at its block", where, i);
        else if (parent && a->type.kind != IR_TY_TILE)
            fail(v, parent, "%s: region argument %d is not a tile", where, i);
    }
    if (!v->failed && (!blk->last || !(ir_op_table[blk->last->code].flags & IR_TERMINATOR) ||
                       (unsigned)blk->last->code >= IR_OP_COUNT))
        fail(v, blk->last ? blk->last : parent, "%s: block does not end in a terminator", where);
    if (!v->failed && blk->first && blk->first->prev)
        fail(v, blk->first, "%s: broken op list links", where);
    for (ir_op *op = blk->first; op && !v->failed; op = op->next) {
        if ((unsigned)op->code < IR_OP_COUNT && (ir_op_table[op->code].flags & IR_TERMINATOR)) {
            if (op != blk->last) {
                fail(v, op, "%s: terminator %s is not the last op of its block", where,
                     opname(op));
                break;
            }
            if (op->code != term) {
                fail(v, op, "%s: block ends in %s, expected %s", where, opname(op),
                     ir_op_table[term].name);
                break;
            }
        }
        check_op(v, blk, op);
    }
    for (int i = 0; i < blk->nargs; i++) undefine(v, blk->args[i]);
    for (ir_op *op = blk->first; op; op = op->next)
        for (int i = 0; i < op->nresults && op->results; i++) undefine(v, op->results[i]);
}

static void check_params(verifier *v, ir_block *blk, const char *where)
{
    ir_func *f = v->f;
    if (!blk) {
        fail(v, NULL, "%s block is missing", where);
        return;
    }
    if (blk->nargs != f->nparams) {
        fail(v, NULL, "%s block has %d arguments for %d parameters", where, blk->nargs,
             f->nparams);
        return;
    }
    for (int i = 0; i < f->nparams; i++) {
        const ir_param *p = &f->params[i];
        if (!blk->args[i] || !ir_type_equal(&blk->args[i]->type, &p->type)) {
            fail(v, NULL, "%s argument %d does not have the type of parameter '%s'", where, i,
                 p->name ? p->name : "?");
            return;
        }
        if (p->type.kind == IR_TY_TILE && p->type.rank != 0 && f->kind == IR_FUNC_KERNEL) {
            fail(v, NULL, "kernel parameter '%s' is not a scalar or tensor",
                 p->name ? p->name : "?");
            return;
        }
    }
}

/* Each tensor dim is static (size >= 1), or named and dynamic (size -1). */
static void check_param_dims(verifier *v)
{
    for (int i = 0; i < v->f->nparams && !v->failed; i++) {
        const ir_param *p = &v->f->params[i];
        if (p->type.kind != IR_TY_TENSOR) continue;
        for (int d = 0; d < p->type.rank && d < IR_MAX_RANK; d++) {
            const ir_dim *dim = &p->dims[d];
            if (dim->size == -1 && !dim->name) {
                fail(v, NULL, "parameter '%s': dimension %d has neither a name nor a size",
                     p->name ? p->name : "?", d);
                return;
            }
            if (dim->size != -1 && dim->size < 1) {
                fail(v, NULL, "parameter '%s': dimension %d has size %" PRId64,
                     p->name ? p->name : "?", d, dim->size);
                return;
            }
        }
    }
}

/* ---- use lists --------------------------------------------------------- */

typedef struct use_tally {
    long slots;  /* non-NULL operand slots of ops in the function */
    long listed; /* entries of the use lists of values defined in it */
} use_tally;

/* Every entry of x's use list is the slot of an op in a block that holds x. */
static void check_use_list(verifier *v, const ir_op *def, const ir_value *x, use_tally *t)
{
    long budget = t->slots + 1000000;
    for (const ir_use *u = x ? x->uses : NULL; u && !v->failed; u = u->next) {
        const ir_op *user = u->user;
        if (!user || u->index < 0 || u->index >= user->noperands ||
            &user->operand_uses[u->index] != u || user->operands[u->index] != x) {
            fail(v, def, "use list of value id %d is out of date (an operand was changed "
                         "without ir_op_set_operand)", x->id);
            return;
        }
        if (!user->parent) {
            fail(v, def, "value id %d is used by %s, which is in no block (removed, not "
                         "erased: use ir_op_erase)", x->id, opname(user));
            return;
        }
        if (--budget < 0) {
            fail(v, def, "use list of value id %d is cyclic", x->id);
            return;
        }
        t->listed++;
    }
}

static void tally_block(verifier *v, const ir_block *blk, use_tally *t)
{
    if (!blk) return;
    for (int i = 0; i < blk->nargs; i++) check_use_list(v, blk->parent, blk->args[i], t);
    for (const ir_op *op = blk->first; op && !v->failed; op = op->next) {
        if (op->noperands && !op->operand_uses) {
            fail(v, op, "%s: operands without use records", opname(op));
            return;
        }
        for (int i = 0; i < op->noperands; i++) t->slots += op->operands[i] != NULL;
        for (int i = 0; i < op->nresults; i++) check_use_list(v, op, op->results[i], t);
        for (int r = 0; r < op->nblocks; r++) tally_block(v, op->blocks[r], t);
    }
}

/* Use lists agree with operands: each listed use is a slot holding the
 * value, and there are as many listed uses as operand slots. */
static void check_uses(verifier *v, const ir_func *f)
{
    use_tally t = {0};
    tally_block(v, f->grid, &t);
    tally_block(v, f->body, &t);
    if (!v->failed && t.slots != t.listed)
        fail(v, NULL, "use lists and operands disagree: %ld operand slots, %ld listed uses "
                      "(an operand was changed without ir_op_set_operand?)", t.slots, t.listed);
}

static void check_func(verifier *v, ir_func *f)
{
    v->f = f;
    if (f->module != v->m) {
        fail(v, NULL, "function belongs to another module");
        return;
    }
    check_param_dims(v);
    if (f->kind == IR_FUNC_KERNEL) {
        check_params(v, f->grid, "grid");
        check_block(v, f->grid, NULL, IR_OP_YIELD);
        if (!v->failed) {
            const ir_op *y = f->grid->last;
            bool ok = y->noperands == 3;
            for (int i = 0; ok && i < 3; i++) ok = is_scalar(y->operands[i], IR_I32);
            if (!ok) fail(v, y, "grid: must yield three i32 scalars");
        }
    } else if (f->grid) {
        fail(v, NULL, "fn has a grid block");
    }
    check_params(v, f->body, "body");
    check_block(v, f->body, NULL, IR_OP_RETURN);
    if (!v->failed) check_uses(v, f);
}

static tile_status verify(ir_module *m, const char *after_pass, bool input)
{
    verifier v = {.m = m, .pass = after_pass, .nids = m->next_value_id, .input = input};
    size_t n = v.nids > 0 ? (size_t)v.nids : 1;
    v.visible = calloc(n, 1);
    v.seen = calloc(n, 1);
    if (!v.visible || !v.seen) {
        free(v.visible);
        free(v.seen);
        return TILE_ERR_NOMEM;
    }
    for (ir_func *f = m->first; f && !v.failed; f = f->next) check_func(&v, f);
    free(v.visible);
    free(v.seen);
    if (!v.failed) return TILE_OK;
    if (input) return TILE_ERR_SEMA;
    if (v.f) {
        fprintf(stderr, "// ir verifier: offending function (after %s)\n",
                after_pass ? after_pass : "input");
        ir_print_func(stderr, v.f);
    }
    return TILE_ERR_INTERNAL;
}

tile_status ir_verify_module(ir_module *m, const char *after_pass)
{
    return verify(m, after_pass, false);
}

tile_status ir_verify_input(ir_module *m)
{
    return verify(m, NULL, true);
}
