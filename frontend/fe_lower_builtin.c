/* fe_lower_builtin.c - the built-in functions of docs/language.md section 8.
 *
 * One table gives each built-in its arity and named arguments, so argument
 * checking (`unknown argument 'axs' to 'max'`) is generic; each built-in then
 * checks shapes and dtypes and emits its op.  Built-ins that only compute on
 * constants (cdiv, min, max, abs on constants) fold, so they work in constant
 * expressions. */
#include "fe_lower.h"

#include <math.h>
#include <string.h>

#include "ir/eval.h"

typedef enum bkind {
    B_PROGRAM_ID, B_ARANGE, B_ZEROS, B_FULL, B_DOT, B_TRANS, B_RESHAPE, B_BROADCAST_TO,
    B_WHERE, B_UNARY_F, B_ABS, B_MINMAX, B_REDUCE, B_ROWRED, B_CUMSUM, B_CDIV, B_PRINT,
    B_LOAD, B_STORE, B_SCAN, B_POW, B_FMA, B_CLAMP, B_ARGEXT, B_ANYALL, B_CONCAT,
    B_SPLIT, B_DERIV, B_GRAD, B_SORT, B_TOPK, B_MASK_BOUNDS, B_MASK_SLOTS,
} bkind;

#define BUILTIN_NAMED 4          /* named arguments a built-in takes, at most */

struct fe_builtin {
    const char *name;
    bkind kind;
    ir_opcode code;
    int min, max;               /* positional arguments; max -1 = any */
    const char *named[BUILTIN_NAMED];
};

static const fe_builtin builtins[] = {
    {"program_id", B_PROGRAM_ID, IR_OP_PROGRAM_ID, 1, 1, {0}},
    {"num_programs", B_PROGRAM_ID, IR_OP_NUM_PROGRAMS, 1, 1, {0}},
    {"arange", B_ARANGE, IR_OP_ARANGE, 1, 2, {0}},
    {"zeros", B_ZEROS, IR_OP_CONST, 1, 1, {"dtype"}},
    {"full", B_FULL, IR_OP_CONST, 2, 2, {"dtype"}},
    {"dot", B_DOT, IR_OP_DOT, 2, 3, {0}},
    {"trans", B_TRANS, IR_OP_TRANS, 1, 1, {0}},
    {"reshape", B_RESHAPE, IR_OP_RESHAPE, 2, 2, {0}},
    {"broadcast_to", B_BROADCAST_TO, IR_OP_BROADCAST, 2, 2, {0}},
    {"where", B_WHERE, IR_OP_SELECT, 3, 3, {0}},
    {"exp", B_UNARY_F, IR_OP_EXP, 1, 1, {0}},
    {"exp2", B_UNARY_F, IR_OP_EXP2, 1, 1, {0}},
    {"log", B_UNARY_F, IR_OP_LOG, 1, 1, {0}},
    {"log2", B_UNARY_F, IR_OP_LOG2, 1, 1, {0}},
    {"sqrt", B_UNARY_F, IR_OP_SQRT, 1, 1, {0}},
    {"rsqrt", B_UNARY_F, IR_OP_RSQRT, 1, 1, {0}},
    {"sigmoid", B_UNARY_F, IR_OP_SIGMOID, 1, 1, {0}},
    {"tanh", B_UNARY_F, IR_OP_TANH, 1, 1, {0}},
    {"sin", B_UNARY_F, IR_OP_SIN, 1, 1, {0}},
    {"cos", B_UNARY_F, IR_OP_COS, 1, 1, {0}},
    {"floor", B_UNARY_F, IR_OP_FLOOR, 1, 1, {0}},
    {"ceil", B_UNARY_F, IR_OP_CEIL, 1, 1, {0}},
    {"round", B_UNARY_F, IR_OP_ROUND, 1, 1, {0}},
    {"erf", B_UNARY_F, IR_OP_ERF, 1, 1, {0}},
    {"log1p", B_UNARY_F, IR_OP_LOG1P, 1, 1, {0}},
    {"expm1", B_UNARY_F, IR_OP_EXPM1, 1, 1, {0}},
    {"pow", B_POW, IR_OP_POW, 2, 2, {0}},
    {"fma", B_FMA, IR_OP_FMA, 3, 3, {0}},
    {"clamp", B_CLAMP, IR_OP_MAX, 3, 3, {0}},
    {"argmax", B_ARGEXT, IR_OP_ARGMAX, 1, 1, {"axis"}},
    {"argmin", B_ARGEXT, IR_OP_ARGMIN, 1, 1, {"axis"}},
    {"any", B_ANYALL, IR_OP_REDUCE_MAX, 1, 1, {"axis"}},
    {"all", B_ANYALL, IR_OP_REDUCE_MIN, 1, 1, {"axis"}},
    {"concat", B_CONCAT, IR_OP_CONCAT, 2, 2, {"axis"}},
    {"split", B_SPLIT, IR_OP_SLICE, 1, 1, {"axis"}},
    {"sort", B_SORT, IR_OP_SORT, 1, 1, {"axis", "descending"}},
    {"argsort", B_SORT, IR_OP_SORT, 1, 1, {"axis", "descending"}},
    {"topk", B_TOPK, IR_OP_TOPK, 2, 3, {"axis"}},
    {"abs", B_ABS, IR_OP_ABS, 1, 1, {0}},
    {"max", B_MINMAX, IR_OP_MAX, 1, 2, {"axis"}},
    {"min", B_MINMAX, IR_OP_MIN, 1, 2, {"axis"}},
    {"sum", B_REDUCE, IR_OP_REDUCE_SUM, 1, 1, {"axis"}},
    {"rowmax", B_ROWRED, IR_OP_REDUCE_MAX, 1, 1, {0}},
    {"rowmin", B_ROWRED, IR_OP_REDUCE_MIN, 1, 1, {0}},
    {"rowsum", B_ROWRED, IR_OP_REDUCE_SUM, 1, 1, {0}},
    {"cumsum", B_CUMSUM, IR_OP_CUMSUM, 1, 1, {"axis"}},
    {"associative_scan", B_SCAN, IR_OP_SCAN, 1, IR_SCAN_MAX_OPERANDS, {"axis", "combine"}},
    {"cdiv", B_CDIV, IR_OP_DIV, 2, 2, {0}},
    {"print", B_PRINT, IR_OP_PRINT, 1, -1, {0}},
    {"load", B_LOAD, IR_OP_LOAD, 1, 1, {"mask", "other"}},
    {"store", B_STORE, IR_OP_STORE, 2, 2, {"mask"}},
    {"atomic_add", B_STORE, IR_OP_ATOMIC_ADD, 2, 2, {"mask"}},
    {"derivative", B_DERIV, IR_OP_CALL, 2, -1, {"wrt"}},
    {"accumulate_grad", B_GRAD, IR_OP_CALL, 1, -1, {"wrt", "into", "seed", "mask"}},
    {"mask_kv_bounds", B_MASK_BOUNDS, IR_OP_CALL, 7, 7, {0}},
    {"mask_q_bounds", B_MASK_BOUNDS, IR_OP_CALL, 7, 7, {0}},
    {"mask_slots", B_MASK_SLOTS, IR_OP_CALL, 1, 1, {0}},
};

const fe_builtin *fe_find_builtin(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(builtins[i].name, name) == 0) return &builtins[i];
    return NULL;
}

const char *fe_builtin_name_at(int i)
{
    return i >= 0 && (size_t)i < sizeof builtins / sizeof builtins[0] ? builtins[i].name : NULL;
}

void fe_suggest_builtin_args(const fe_builtin *b, fe_suggest *s)
{
    for (int i = 0; i < BUILTIN_NAMED; i++) fe_suggest_add(s, b->named[i]);
}

bool fe_builtin_arg_allowed(const fe_builtin *b, const char *arg)
{
    for (int i = 0; i < BUILTIN_NAMED; i++)
        if (b->named[i] && strcmp(b->named[i], arg) == 0) return true;
    return false;
}

/* The evaluated arguments of one call. */
typedef struct bargs {
    const fe_builtin *b;
    src_loc loc;                /* the callee name */
    int npos;
    fe_val *pos;
    src_loc *pos_loc;
    fe_val named[BUILTIN_NAMED];
    src_loc named_loc[BUILTIN_NAMED];
    bool has[BUILTIN_NAMED];
} bargs;

static const fe_val *named_arg(const bargs *a, const char *name)
{
    for (int i = 0; i < BUILTIN_NAMED; i++)
        if (a->has[i] && strcmp(a->b->named[i], name) == 0) return &a->named[i];
    return NULL;
}

static src_loc named_loc(const bargs *a, const char *name)
{
    for (int i = 0; i < BUILTIN_NAMED; i++)
        if (a->has[i] && strcmp(a->b->named[i], name) == 0) return a->named_loc[i];
    return a->loc;
}

/* ---- helpers ----------------------------------------------------------- */

/* Reads a shape argument: [a, b], a tuple of ints, or one int. */
static bool get_shape(fe_func *F, const fe_val *v, src_loc loc, int *rank, int64_t *shape)
{
    fe_ctx *cx = F->cx;
    if (v->kind == FE_SHAPE) {
        *rank = v->u.shape.rank;
        memcpy(shape, v->u.shape.dims, (size_t)*rank * sizeof *shape);
    } else if (v->kind == FE_INT) {
        *rank = 1;
        shape[0] = v->u.i;
    } else if (v->kind == FE_TUPLE && v->u.tup.n <= IR_MAX_RANK) {
        *rank = v->u.tup.n;
        for (int i = 0; i < *rank; i++) {
            if (v->u.tup.items[i].kind != FE_INT) {
                diag_error(cx->d, loc, "shape dimensions must be constant ints, got %s",
                           fe_describe(cx, &v->u.tup.items[i]));
                return false;
            }
            shape[i] = v->u.tup.items[i].u.i;
        }
    } else {
        diag_error(cx->d, loc, "expected a shape like [64, 32], got %s", fe_describe(cx, v));
        return false;
    }
    return fe_shape_ok(F, *rank, shape, loc);
}

static bool get_const_int(fe_func *F, const fe_val *v, src_loc loc, const char *what,
                          int64_t *out)
{
    if (v->kind == FE_INT) {
        *out = v->u.i;
        return true;
    }
    diag_error(F->cx->d, loc, "%s must be a constant int, got %s", what, fe_describe(F->cx, v));
    return false;
}

static bool get_axis(fe_func *F, const fe_val *v, src_loc loc, int rank, int *axis)
{
    int64_t a;
    if (!get_const_int(F, v, loc, "axis", &a)) return false;
    if (a < -rank || a >= rank) {
        diag_error(F->cx->d, loc, "axis %lld is out of range for a tile of rank %d", (long long)a,
                   rank);
        return false;
    }
    *axis = (int)(a < 0 ? a + rank : a);
    return true;
}

static fe_val emit_tile(fe_func *F, src_loc loc, ir_opcode code, int n, ir_value *const *ops,
                        ir_type t, int64_t attr, bool weak)
{
    ir_op *op = fe_build(F, loc, code, n, ops, 1, &t, 0);
    if (!op) return fe_err();
    op->attr.i = attr;
    return fe_tile(op->results[0], weak);
}

/* ---- the built-ins ----------------------------------------------------- */

static fe_val b_program_id(fe_func *F, bargs *a)
{
    int64_t axis;
    if (!get_const_int(F, &a->pos[0], a->pos_loc[0], "axis", &axis)) return fe_err();
    if (axis < 0 || axis > 2) {
        diag_error(F->cx->d, a->pos_loc[0], "%s axis must be 0, 1 or 2, got %lld", a->b->name,
                   (long long)axis);
        return fe_err();
    }
    return emit_tile(F, a->loc, a->b->code, 0, NULL, ir_type_scalar(IR_I32), axis, false);
}

static fe_val b_arange(fe_func *F, bargs *a)
{
    int64_t lo = 0, hi;
    if (a->npos == 2) {
        if (!get_const_int(F, &a->pos[0], a->pos_loc[0], "arange bound", &lo) ||
            !get_const_int(F, &a->pos[1], a->pos_loc[1], "arange bound", &hi))
            return fe_err();
    } else if (!get_const_int(F, &a->pos[0], a->pos_loc[0], "arange size", &hi)) {
        return fe_err();
    }
    if (a->npos == 1 && hi <= 0) {
        diag_error(F->cx->d, a->pos_loc[0], "arange size must be positive, got %lld", (long long)hi);
        return fe_err();
    }
    if (hi <= lo || lo < INT32_MIN || hi > (int64_t)INT32_MAX + 1) {
        diag_error(F->cx->d, a->loc, "arange(%lld, %lld) is empty or outside the i32 range",
                   (long long)lo, (long long)hi);
        return fe_err();
    }
    int64_t n = hi - lo;
    if (!fe_shape_ok(F, 1, &n, a->loc)) return fe_err();
    fe_val r = emit_tile(F, a->loc, IR_OP_ARANGE, 0, NULL, ir_type_tile(IR_I32, 1, &n), 0, false);
    if (lo == 0 || r.kind == FE_ERR) return r;
    return fe_binop(F, AST_OP_ADD, r, fe_int(lo), a->loc);
}

static fe_val b_full(fe_func *F, bargs *a)
{
    fe_ctx *cx = F->cx;
    int rank;
    int64_t shape[IR_MAX_RANK];
    if (!get_shape(F, &a->pos[0], a->pos_loc[0], &rank, shape)) return fe_err();
    const fe_val *dv = named_arg(a, "dtype");
    if (dv && dv->kind != FE_DTYPE) {
        diag_error(cx->d, named_loc(a, "dtype"), "dtype must be a dtype, got %s",
                   fe_describe(cx, dv));
        return fe_err();
    }
    fe_val v = a->b->kind == B_ZEROS ? fe_int(0) : a->pos[1];
    src_loc vloc = a->b->kind == B_ZEROS ? a->loc : a->pos_loc[1];
    if (!fe_check_operand(F, &v, vloc)) return fe_err();
    if (fe_val_rank(&v) != 0) {
        diag_error(cx->d, vloc, "full needs a scalar value, got %s", fe_describe(cx, &v));
        return fe_err();
    }
    ir_dtype dt = dv ? dv->u.dt : a->b->kind == B_ZEROS ? IR_F32 : fe_val_dtype(&v);
    if (!fe_need_ir(F, a->loc, a->b->kind == B_ZEROS ? "'zeros'" : "'full'")) return fe_err();
    ir_value *r = fe_materialize(F, &v, dt, rank, shape, a->loc);
    bool weak = a->b->kind == B_FULL && !dv && fe_is_weak(&v);
    return fe_tile(r, weak);
}

static fe_val b_dot(fe_func *F, bargs *a)
{
    fe_ctx *cx = F->cx;
    for (int i = 0; i < 2; i++)
        if (a->pos[i].kind != FE_TILE) {
            if (fe_check_operand(F, &a->pos[i], a->pos_loc[i]))
                diag_error(cx->d, a->pos_loc[i], "dot needs tiles, got %s",
                           fe_describe(cx, &a->pos[i]));
            return fe_err();
        }
    const ir_type *x = &a->pos[0].u.v->type, *y = &a->pos[1].u.v->type;
    if (x->rank != 2 || y->rank != 2 || x->shape[1] != y->shape[0]) {
        diag_error(cx->d, a->loc, "dot expects [M,K]x[K,N], got %sx%s",
                   fe_shape_str(cx, x->rank, x->shape), fe_shape_str(cx, y->rank, y->shape));
        return fe_err();
    }
    if (x->dtype != y->dtype) {
        diag_error(cx->d, a->loc, "dot operands must have the same dtype, got %s and %s",
                   fe_describe(cx, &a->pos[0]), fe_describe(cx, &a->pos[1]));
        return fe_err();
    }
    if (!ir_dtype_is_float(x->dtype) && x->dtype != IR_I32) {
        diag_error(cx->d, a->loc, "dot is not defined on %s (use a float type or i32)",
                   ir_dtype_name(x->dtype));
        return fe_err();
    }
    ir_dtype rdt = x->dtype == IR_I32 ? IR_I32 : IR_F32;
    int64_t mn[2] = {x->shape[0], y->shape[1]};
    ir_value *ops[3] = {a->pos[0].u.v, a->pos[1].u.v, NULL};
    if (a->npos == 3) {
        ops[2] = fe_convert_to(F, &a->pos[2], rdt, 2, mn, a->pos_loc[2], "use",
                               "as the accumulator");
        if (!ops[2]) return fe_err();
    }
    return emit_tile(F, a->loc, IR_OP_DOT, a->npos, ops, ir_type_tile(rdt, 2, mn), 0, false);
}

static fe_val b_trans(fe_func *F, bargs *a)
{
    fe_ctx *cx = F->cx;
    const fe_val *x = &a->pos[0];
    if (!fe_check_operand(F, x, a->pos_loc[0])) return fe_err();
    int rank = fe_val_rank(x);
    if (rank < 2) {
        diag_error(cx->d, a->loc, "trans needs a tile of rank 2 or more, got %s",
                   fe_describe(cx, x));
        return fe_err();
    }
    ir_type t = x->u.v->type;
    ir_op *op;
    int perm[IR_MAX_RANK] = {0}; /* entries past rank stay 0: CSE and printers see them */
    for (int i = 0; i < rank; i++) perm[i] = i;
    perm[rank - 2] = rank - 1;
    perm[rank - 1] = rank - 2;
    t.shape[rank - 2] = x->u.v->type.shape[rank - 1];
    t.shape[rank - 1] = x->u.v->type.shape[rank - 2];
    op = fe_build(F, a->loc, IR_OP_TRANS, 1, &x->u.v, 1, &t, 0);
    if (!op) return fe_err();
    memcpy(op->attr.perm, perm, sizeof perm);
    return fe_tile(op->results[0], x->weak);
}

static fe_val b_reshape(fe_func *F, bargs *a)
{
    fe_ctx *cx = F->cx;
    const fe_val *x = &a->pos[0];
    int rank;
    int64_t shape[IR_MAX_RANK];
    if (!fe_check_operand(F, x, a->pos_loc[0]) ||
        !get_shape(F, &a->pos[1], a->pos_loc[1], &rank, shape))
        return fe_err();
    ir_type want = ir_type_tile(fe_val_dtype(x), rank, shape);
    int xr = fe_val_rank(x);
    const int64_t *xs = fe_val_shape(x);
    if (a->b->kind == B_RESHAPE) {
        ir_type xt = ir_type_tile(fe_val_dtype(x), xr, xs);
        if (ir_type_numel(&xt) != ir_type_numel(&want)) {
            diag_error(cx->d, a->loc, "cannot reshape %s to %s: element counts differ (%lld vs %lld)",
                       fe_describe(cx, x), fe_shape_str(cx, rank, shape),
                       (long long)ir_type_numel(&xt), (long long)ir_type_numel(&want));
            return fe_err();
        }
    } else {
        int rr;
        int64_t rs[IR_MAX_RANK];
        bool ok = fe_broadcast_shapes(xr, xs, rank, shape, &rr, rs) && rr == rank;
        for (int i = 0; ok && i < rank; i++) ok = rs[i] == shape[i];
        if (!ok) {
            diag_error(cx->d, a->loc, "cannot broadcast %s to %s", fe_describe(cx, x),
                       fe_shape_str(cx, rank, shape));
            return fe_err();
        }
    }
    if (!fe_need_ir(F, a->loc, a->b->kind == B_RESHAPE ? "'reshape'" : "'broadcast_to'"))
        return fe_err();
    ir_value *v = fe_to_ir(F, x, a->pos_loc[0]);
    if (!v) return fe_err();
    bool weak = fe_is_weak(x);
    if (ir_type_same_shape(&v->type, &want)) return fe_tile(v, weak);
    F->b.loc = a->loc;
    ir_value *r = a->b->kind == B_RESHAPE ? ir_reshape(&F->b, v, rank, shape)
                                           : ir_broadcast(&F->b, v, rank, shape);
    if (!r) fe_oom(cx);
    return fe_tile(r, weak);
}

static fe_val b_where(fe_func *F, bargs *a)
{
    fe_ctx *cx = F->cx;
    for (int i = 0; i < 3; i++)
        if (!fe_check_operand(F, &a->pos[i], a->pos_loc[i])) return fe_err();
    const fe_val *c = &a->pos[0], *x = &a->pos[1], *y = &a->pos[2];
    if (fe_val_dtype(c) != IR_BOOL) {
        diag_error(cx->d, a->pos_loc[0], "where condition must be bool, got %s",
                   fe_describe(cx, c));
        return fe_err();
    }
    ir_dtype dt;
    bool weak;
    if (!fe_promote(x, y, &dt, &weak)) {
        diag_error(cx->d, a->loc, "where cannot mix %s and %s: bool does not mix with numbers",
                   fe_describe(cx, x), fe_describe(cx, y));
        return fe_err();
    }
    if (c->kind == FE_BOOL && fe_is_scalar_const(x) && fe_is_scalar_const(y)) {
        /* Folded, the branch taken still has the promoted dtype. */
        const fe_val *v = c->u.b ? x : y;
        if (v->kind == FE_INT && ir_dtype_is_float(dt)) return fe_float((double)v->u.i);
        if (v->kind == FE_INT) return fe_int_of(v->u.i, fe_int_fold_dtype(x, y), dt == IR_I64);
        return *v;
    }
    int r1, r2;
    int64_t s1[IR_MAX_RANK], s2[IR_MAX_RANK];
    if (!fe_broadcast_shapes(fe_val_rank(x), fe_val_shape(x), fe_val_rank(y), fe_val_shape(y),
                             &r1, s1) ||
        !fe_broadcast_shapes(fe_val_rank(c), fe_val_shape(c), r1, s1, &r2, s2)) {
        diag_error(cx->d, a->loc, "where operands %s, %s and %s do not broadcast",
                   fe_describe(cx, c), fe_describe(cx, x), fe_describe(cx, y));
        return fe_err();
    }
    if (!fe_shape_ok(F, r2, s2, a->loc) || !fe_need_ir(F, a->loc, "'where'")) return fe_err();
    ir_value *cv = fe_materialize(F, c, IR_BOOL, r2, s2, a->loc);
    ir_value *xv = cv ? fe_materialize(F, x, dt, r2, s2, a->loc) : NULL;
    ir_value *yv = xv ? fe_materialize(F, y, dt, r2, s2, a->loc) : NULL;
    if (!yv) return fe_err();
    F->b.loc = a->loc;
    ir_value *r = ir_select(&F->b, cv, xv, yv);
    if (!r) fe_oom(cx);
    return fe_tile(r, weak);
}

static fe_val b_unary(fe_func *F, bargs *a)
{
    fe_ctx *cx = F->cx;
    fe_val x = a->pos[0];
    if (!fe_check_operand(F, &x, a->pos_loc[0])) return fe_err();
    ir_dtype dt = fe_val_dtype(&x);
    bool weak = fe_is_weak(&x);
    if (a->b->kind == B_ABS) {
        if (dt == IR_BOOL) {
            diag_error(cx->d, a->loc, "abs needs a number, got %s", fe_describe(cx, &x));
            return fe_err();
        }
        if (x.kind == FE_INT) return fe_int_unary(IR_OP_ABS, x);
        if (x.kind == FE_FLOAT) return fe_float(fabs(x.u.f));
    } else if (!ir_dtype_is_float(dt)) {
        if (x.kind != FE_INT) {
            diag_error(cx->d, a->loc, "%s needs a float tile, got %s%s", a->b->name,
                       fe_describe(cx, &x), dt == IR_BOOL ? "" : " (use cast<f32>(x))");
            return fe_err();
        }
        dt = IR_F32;
    }
    if (!fe_need_ir(F, a->loc, arena_printf(cx->mem, "'%s'", a->b->name))) return fe_err();
    ir_value *v = fe_materialize(F, &x, dt, fe_val_rank(&x), fe_val_shape(&x), a->pos_loc[0]);
    if (!v) return fe_err();
    F->b.loc = a->loc;
    ir_value *r = ir_unary(&F->b, a->b->code, v);
    if (!r) fe_oom(cx);
    return fe_tile(r, weak);
}

static fe_val reduce(fe_func *F, bargs *a, ir_opcode code, const fe_val *axis_v, bool last)
{
    fe_ctx *cx = F->cx;
    const fe_val *x = &a->pos[0];
    if (!fe_check_operand(F, x, a->pos_loc[0])) return fe_err();
    if (fe_val_dtype(x) == IR_BOOL) {
        diag_error(cx->d, a->loc, "%s needs numbers, got %s", a->b->name, fe_describe(cx, x));
        return fe_err();
    }
    int rank = fe_val_rank(x);
    if (rank == 0 && !axis_v && !last && code != IR_OP_CUMSUM) return *x;
    if (rank == 0) {
        diag_error(cx->d, a->loc, "%s needs a tile of rank 1 or more, got %s", a->b->name,
                   fe_describe(cx, x));
        return fe_err();
    }
    int axis = rank - 1;
    if (axis_v && !get_axis(F, axis_v, named_loc(a, "axis"), rank, &axis)) return fe_err();
    ir_value *v = x->u.v;
    ir_type t = v->type;
    if (code == IR_OP_CUMSUM)
        return emit_tile(F, a->loc, code, 1, &v, t, axis, x->weak);
    if (!axis_v && !last && rank > 1) {
        /* Over all axes: flatten, then reduce the one axis. */
        int64_t n = ir_type_numel(&t);
        F->b.loc = a->loc;
        v = ir_reshape(&F->b, v, 1, &n);
        if (!v) {
            fe_oom(cx);
            return fe_err();
        }
        t = v->type;
        axis = 0;
    }
    ir_type rt = t;
    rt.rank = t.rank - 1;
    for (int i = axis; i < rt.rank; i++) rt.shape[i] = t.shape[i + 1];
    rt.shape[t.rank - 1] = 0;
    return emit_tile(F, a->loc, code, 1, &v, rt, axis, x->weak);
}

/* Binary elementwise op on numbers x and y (checked by the caller):
 * promoted like '+', broadcast, emitted. */
static fe_val elementwise2(fe_func *F, ir_opcode code, const char *name, fe_val x, fe_val y,
                           src_loc loc)
{
    fe_ctx *cx = F->cx;
    ir_dtype dt;
    bool weak;
    fe_promote(&x, &y, &dt, &weak);
    if (code == IR_OP_POW && !ir_dtype_is_float(dt)) dt = IR_F32; /* weak ints met a float */
    int rr;
    int64_t rs[IR_MAX_RANK];
    if (!fe_broadcast_shapes(fe_val_rank(&x), fe_val_shape(&x), fe_val_rank(&y), fe_val_shape(&y),
                             &rr, rs)) {
        diag_error(cx->d, loc, "cannot take the %s of %s and %s: shapes do not broadcast", name,
                   fe_describe(cx, &x), fe_describe(cx, &y));
        return fe_err();
    }
    if (!fe_shape_ok(F, rr, rs, loc) || !fe_need_ir(F, loc, arena_printf(cx->mem, "'%s'", name)))
        return fe_err();
    ir_value *xv = fe_materialize(F, &x, dt, rr, rs, loc);
    ir_value *yv = xv ? fe_materialize(F, &y, dt, rr, rs, loc) : NULL;
    if (!yv) return fe_err();
    F->b.loc = loc;
    ir_value *r = ir_binary(&F->b, code, xv, yv);
    if (!r) fe_oom(cx);
    return fe_tile(r, weak);
}

/* Elementwise max/min on two operands (folds on constants). */
static fe_val minmax2(fe_func *F, bargs *a)
{
    fe_ctx *cx = F->cx;
    fe_val x = a->pos[0], y = a->pos[1];
    if (named_arg(a, "axis")) {
        diag_error(cx->d, named_loc(a, "axis"), "%s(a, b) takes no axis (reduce with %s(x, axis: k))",
                   a->b->name, a->b->name);
        return fe_err();
    }
    if (!fe_check_operand(F, &x, a->pos_loc[0]) || !fe_check_operand(F, &y, a->pos_loc[1]))
        return fe_err();
    if (fe_val_dtype(&x) == IR_BOOL || fe_val_dtype(&y) == IR_BOOL) {
        diag_error(cx->d, a->loc, "%s needs numbers, got %s and %s", a->b->name,
                   fe_describe(cx, &x), fe_describe(cx, &y));
        return fe_err();
    }
    if (fe_is_scalar_const(&x) && fe_is_scalar_const(&y)) {
        ir_scalar r;
        if (x.kind == FE_INT && y.kind == FE_INT) {
            ir_dtype fd = fe_int_fold_dtype(&x, &y);
            if (!fe_const_fits(F, &x, fd, a->loc) || !fe_const_fits(F, &y, fd, a->loc)) return fe_err();
            ir_eval_binary(a->b->code, fd, (ir_scalar){.i = x.u.i}, (ir_scalar){.i = y.u.i}, &r);
            return fe_int_of(r.i, fd, x.i64 || y.i64);
        }
        ir_scalar fx = ir_scalar_round(IR_F32, x.kind == FE_INT ? (double)x.u.i : x.u.f);
        ir_scalar fy = ir_scalar_round(IR_F32, y.kind == FE_INT ? (double)y.u.i : y.u.f);
        ir_eval_binary(a->b->code, IR_F32, fx, fy, &r);
        return fe_float(r.f);
    }
    return elementwise2(F, a->b->code, a->b->name, x, y, a->loc);
}

static bool is_number(const fe_val *v) { return fe_val_dtype(v) != IR_BOOL; }

/* pow(x, y): float; a weak int operand converts, two ints are an error. */
static fe_val b_pow(fe_func *F, bargs *a)
{
    fe_ctx *cx = F->cx;
    fe_val x = a->pos[0], y = a->pos[1];
    if (!fe_check_operand(F, &x, a->pos_loc[0]) || !fe_check_operand(F, &y, a->pos_loc[1]))
        return fe_err();
    ir_dtype dt;
    bool weak;
    bool mix = fe_promote(&x, &y, &dt, &weak);
    if (!mix || !is_number(&x) || !is_number(&y) ||
        (!ir_dtype_is_float(dt) && !(fe_is_weak(&x) && fe_is_weak(&y)))) {
        diag_error(cx->d, a->loc, "pow needs float operands, got %s and %s%s", fe_describe(cx, &x),
                   fe_describe(cx, &y), mix && is_number(&x) && is_number(&y)
                                            ? " (use cast<f32>(x))" : "");
        return fe_err();
    }
    if (fe_is_scalar_const(&x) && fe_is_scalar_const(&y)) {
        ir_scalar fx = ir_scalar_round(IR_F32, x.kind == FE_INT ? (double)x.u.i : x.u.f);
        ir_scalar fy = ir_scalar_round(IR_F32, y.kind == FE_INT ? (double)y.u.i : y.u.f);
        ir_scalar r;
        ir_eval_binary(IR_OP_POW, IR_F32, fx, fy, &r);
        return fe_float(r.f);
    }
    return elementwise2(F, IR_OP_POW, "pow", x, y, a->loc);
}

/* fma(a, b, c) = a*b + c rounded once (floats); integers: a*b + c, wrapping. */
static fe_val b_fma(fe_func *F, bargs *a)
{
    fe_ctx *cx = F->cx;
    for (int i = 0; i < 3; i++)
        if (!fe_check_operand(F, &a->pos[i], a->pos_loc[i])) return fe_err();
    ir_dtype d1, dt;
    bool w1, weak;
    if (!is_number(&a->pos[0]) || !is_number(&a->pos[1]) || !is_number(&a->pos[2]) ||
        !fe_promote(&a->pos[0], &a->pos[1], &d1, &w1)) {
        diag_error(cx->d, a->loc, "fma needs numbers, got %s, %s and %s",
                   fe_describe(cx, &a->pos[0]), fe_describe(cx, &a->pos[1]),
                   fe_describe(cx, &a->pos[2]));
        return fe_err();
    }
    /* The dtype of a*b, then of (a*b) + c, by the rules of '*' and '+'. */
    int r1, r2;
    int64_t s1[IR_MAX_RANK], s2[IR_MAX_RANK];
    if (!fe_broadcast_shapes(fe_val_rank(&a->pos[0]), fe_val_shape(&a->pos[0]),
                             fe_val_rank(&a->pos[1]), fe_val_shape(&a->pos[1]), &r1, s1) ||
        !fe_broadcast_shapes(r1, s1, fe_val_rank(&a->pos[2]), fe_val_shape(&a->pos[2]), &r2, s2)) {
        diag_error(cx->d, a->loc, "fma operands %s, %s and %s do not broadcast",
                   fe_describe(cx, &a->pos[0]), fe_describe(cx, &a->pos[1]),
                   fe_describe(cx, &a->pos[2]));
        return fe_err();
    }
    ir_value prod_type = {.type = ir_type_tile(d1, r1, s1)};
    fe_val prod = fe_tile(&prod_type, w1);
    if (!fe_promote(&prod, &a->pos[2], &dt, &weak)) return fe_err();
    if (!ir_dtype_is_float(dt)) {
        fe_val ab = fe_binop(F, AST_OP_MUL, a->pos[0], a->pos[1], a->loc);
        return fe_binop(F, AST_OP_ADD, ab, a->pos[2], a->loc);
    }
    if (!fe_shape_ok(F, r2, s2, a->loc) || !fe_need_ir(F, a->loc, "'fma'")) return fe_err();
    ir_value *ops[3];
    for (int i = 0; i < 3; i++) {
        ops[i] = fe_materialize(F, &a->pos[i], dt, r2, s2, a->pos_loc[i]);
        if (!ops[i]) return fe_err();
    }
    return emit_tile(F, a->loc, IR_OP_FMA, 3, ops, ir_type_tile(dt, r2, s2), 0, weak);
}

/* clamp(x, lo, hi) = min(max(x, lo), hi): NaN-propagating, lo > hi gives hi. */
static fe_val b_clamp(fe_func *F, bargs *a)
{
    fe_ctx *cx = F->cx;
    for (int i = 0; i < 3; i++)
        if (!fe_check_operand(F, &a->pos[i], a->pos_loc[i])) return fe_err();
    if (!is_number(&a->pos[0]) || !is_number(&a->pos[1]) || !is_number(&a->pos[2])) {
        diag_error(cx->d, a->loc, "clamp needs numbers, got %s, %s and %s",
                   fe_describe(cx, &a->pos[0]), fe_describe(cx, &a->pos[1]),
                   fe_describe(cx, &a->pos[2]));
        return fe_err();
    }
    fe_val lo = elementwise2(F, IR_OP_MAX, "clamp", a->pos[0], a->pos[1], a->loc);
    if (lo.kind == FE_ERR) return lo;
    return elementwise2(F, IR_OP_MIN, "clamp", lo, a->pos[2], a->loc);
}

/* The tile operand of a shape built-in: a tile of rank >= 1. */
static bool tile_arg(fe_func *F, bargs *a, int i, const fe_val **x)
{
    fe_ctx *cx = F->cx;
    *x = &a->pos[i];
    if (!fe_check_operand(F, *x, a->pos_loc[i])) return false;
    if (fe_val_rank(*x) == 0) {
        diag_error(cx->d, a->pos_loc[i], "%s needs a tile of rank 1 or more, got %s", a->b->name,
                   fe_describe(cx, *x));
        return false;
    }
    return fe_need_ir(F, a->loc, arena_printf(cx->mem, "'%s'", a->b->name));
}

/* argmax(x, axis: k) / argmin: i32 index of the first extreme element
 * (default: the last axis). */
static fe_val b_argext(fe_func *F, bargs *a)
{
    fe_ctx *cx = F->cx;
    const fe_val *x;
    if (!tile_arg(F, a, 0, &x)) return fe_err();
    if (fe_val_dtype(x) == IR_BOOL) {
        diag_error(cx->d, a->loc, "%s needs numbers, got %s (use cast<i32>(x))", a->b->name,
                   fe_describe(cx, x));
        return fe_err();
    }
    int rank = fe_val_rank(x), axis = rank - 1;
    const fe_val *av = named_arg(a, "axis");
    if (av && !get_axis(F, av, named_loc(a, "axis"), rank, &axis)) return fe_err();
    ir_value *v = fe_to_ir(F, x, a->pos_loc[0]);
    if (!v) return fe_err();
    ir_type rt = ir_type_scalar(IR_I32);
    for (int i = 0; i < rank; i++)
        if (i != axis) rt.shape[rt.rank++] = v->type.shape[i];
    return emit_tile(F, a->loc, a->b->code, 1, &v, rt, axis, false);
}

/* any(x, axis: k) / all: OR / AND of a bool tile, as max / min of 0/1. */
static fe_val b_anyall(fe_func *F, bargs *a)
{
    fe_ctx *cx = F->cx;
    fe_val x = a->pos[0];
    if (!fe_check_operand(F, &x, a->pos_loc[0])) return fe_err();
    if (fe_val_dtype(&x) != IR_BOOL) {
        diag_error(cx->d, a->loc, "%s needs a bool tile, got %s (compare first: %s(x != 0))",
                   a->b->name, fe_describe(cx, &x), a->b->name);
        return fe_err();
    }
    const fe_val *axis_v = named_arg(a, "axis");
    if (x.kind == FE_BOOL && !axis_v) return x;
    if (!fe_need_ir(F, a->loc, arena_printf(cx->mem, "'%s'", a->b->name))) return fe_err();
    ir_value *v = fe_to_ir(F, &x, a->pos_loc[0]);
    if (!v) return fe_err();
    F->b.loc = a->loc;
    ir_value *iv = ir_cast(&F->b, v, IR_I32);
    if (!iv) {
        fe_oom(cx);
        return fe_err();
    }
    a->pos[0] = fe_tile(iv, false);
    fe_val r = reduce(F, a, a->b->code, axis_v, false);
    if (r.kind != FE_TILE) return r;
    F->b.loc = a->loc;
    ir_value *b = ir_cast(&F->b, r.u.v, IR_BOOL);
    if (!b) fe_oom(cx);
    return fe_tile(b, false);
}

/* concat(a, b, axis: k): a then b along axis k (default: the last); the
 * other dims must be equal; dtypes promote like '+'. */
static fe_val b_concat(fe_func *F, bargs *a)
{
    fe_ctx *cx = F->cx;
    const fe_val *x, *y;
    if (!tile_arg(F, a, 0, &x) || !tile_arg(F, a, 1, &y)) return fe_err();
    ir_dtype dt;
    bool weak;
    if (!fe_promote(x, y, &dt, &weak)) {
        diag_error(cx->d, a->loc, "concat cannot mix %s and %s: bool does not mix with numbers",
                   fe_describe(cx, x), fe_describe(cx, y));
        return fe_err();
    }
    int rank = fe_val_rank(x), axis = rank - 1;
    const fe_val *av = named_arg(a, "axis");
    if (av && !get_axis(F, av, named_loc(a, "axis"), rank, &axis)) return fe_err();
    const int64_t *xs = fe_val_shape(x), *ys = fe_val_shape(y);
    bool ok = fe_val_rank(y) == rank;
    for (int i = 0; ok && i < rank; i++) ok = i == axis || xs[i] == ys[i];
    if (!ok) {
        diag_error(cx->d, a->loc, "cannot concat %s and %s along axis %d: the other dimensions "
                   "must be equal", fe_describe(cx, x), fe_describe(cx, y), axis);
        return fe_err();
    }
    int64_t rs[IR_MAX_RANK];
    memcpy(rs, xs, (size_t)rank * sizeof *rs);
    rs[axis] = xs[axis] + ys[axis];
    if (!fe_shape_ok(F, rank, rs, a->loc)) return fe_err();
    ir_value *ops[2];
    ops[0] = fe_materialize(F, x, dt, rank, xs, a->pos_loc[0]);
    ops[1] = ops[0] ? fe_materialize(F, y, dt, rank, ys, a->pos_loc[1]) : NULL;
    if (!ops[1]) return fe_err();
    return emit_tile(F, a->loc, IR_OP_CONCAT, 2, ops, ir_type_tile(dt, rank, rs), axis, weak);
}

ir_value *fe_slice(fe_func *F, src_loc loc, ir_value *v, int axis, int64_t start, int64_t step,
                   int64_t count)
{
    ir_type t = v->type;
    t.shape[axis] = count;
    ir_op *op = fe_build(F, loc, IR_OP_SLICE, 1, &v, 1, &t, 0);
    if (!op) return NULL;
    op->attr.i = axis;
    op->attr.start = start;
    op->attr.step = step;
    return op->results[0];
}

/* split(x, axis: k) -> (first half, second half) along axis k (default: the
 * last); the dimension must be even. */
static fe_val b_split(fe_func *F, bargs *a)
{
    fe_ctx *cx = F->cx;
    const fe_val *x;
    if (!tile_arg(F, a, 0, &x)) return fe_err();
    int rank = fe_val_rank(x), axis = rank - 1;
    const fe_val *av = named_arg(a, "axis");
    if (av && !get_axis(F, av, named_loc(a, "axis"), rank, &axis)) return fe_err();
    int64_t n = fe_val_shape(x)[axis];
    if (n % 2 != 0) {
        diag_error(cx->d, a->loc, "split needs an even dimension: axis %d of %s has size %lld",
                   axis, fe_describe(cx, x), (long long)n);
        return fe_err();
    }
    ir_value *v = fe_to_ir(F, x, a->pos_loc[0]);
    if (!v) return fe_err();
    fe_val *items = arena_calloc(cx->mem, 2, sizeof *items);
    if (!items) {
        fe_oom(cx);
        return fe_err();
    }
    for (int h = 0; h < 2; h++) {
        ir_value *r = fe_slice(F, a->loc, v, axis, h * (n / 2), 1, n / 2);
        if (!r) return fe_err();
        items[h] = fe_tile(r, fe_is_weak(x));
    }
    return (fe_val){.kind = FE_TUPLE, .u.tup = {2, items}};
}

/* Emits SORT (ascending) or TOPK (descending, the first k) of x along axis:
 * the (values, indices) pair. */
static fe_val sort_op(fe_func *F, bargs *a, const fe_val *x, int axis, bool descending, int64_t k)
{
    ir_value *v = fe_to_ir(F, x, a->pos_loc[0]);
    if (!v) return fe_err();
    ir_type types[2] = {v->type, v->type};
    types[0].shape[axis] = types[1].shape[axis] = k;
    types[1].dtype = IR_I32;
    ir_op *op = fe_build(F, a->loc, descending ? IR_OP_TOPK : IR_OP_SORT, 1, &v, 2, types, 0);
    fe_val *items = op ? arena_calloc(F->cx->mem, 2, sizeof *items) : NULL;
    if (!items) {
        if (op) fe_oom(F->cx);
        return fe_err();
    }
    op->attr.i = axis;
    items[0] = fe_tile(op->results[0], fe_is_weak(x));
    items[1] = fe_tile(op->results[1], false);
    return (fe_val){.kind = FE_TUPLE, .u.tup = {2, items}};
}

/* The numeric tile operand of sort/argsort/topk. */
static bool sortable_arg(fe_func *F, bargs *a, const fe_val **x)
{
    if (!tile_arg(F, a, 0, x)) return false;
    if (fe_val_dtype(*x) != IR_BOOL) return true;
    diag_error(F->cx->d, a->loc, "%s needs numbers, got %s (use cast<i32>(x))", a->b->name,
               fe_describe(F->cx, *x));
    return false;
}

/* sort(x, axis: k, descending: b) -> values; argsort -> i32 indices.  Stable
 * in both directions (ties keep index order); NaN sorts above +inf. */
static fe_val b_sort(fe_func *F, bargs *a)
{
    const fe_val *x;
    if (!sortable_arg(F, a, &x)) return fe_err();
    int rank = fe_val_rank(x), axis = rank - 1;
    const fe_val *av = named_arg(a, "axis"), *dv = named_arg(a, "descending");
    if (av && !get_axis(F, av, named_loc(a, "axis"), rank, &axis)) return fe_err();
    if (dv && dv->kind != FE_BOOL) {
        diag_error(F->cx->d, named_loc(a, "descending"),
                   "descending must be a constant bool, got %s", fe_describe(F->cx, dv));
        return fe_err();
    }
    fe_val r = sort_op(F, a, x, axis, dv && dv->u.b, fe_val_shape(x)[axis]);
    if (r.kind != FE_TUPLE) return r;
    return r.u.tup.items[strcmp(a->b->name, "argsort") == 0 ? 1 : 0];
}

/* topk(x, k, axis) -> (values, indices): the k largest along axis (default:
 * the last), largest first, ties to the lower index, NaN above +inf. */
static fe_val b_topk(fe_func *F, bargs *a)
{
    fe_ctx *cx = F->cx;
    const fe_val *x;
    if (!sortable_arg(F, a, &x)) return fe_err();
    int rank = fe_val_rank(x), axis = rank - 1;
    const fe_val *av = named_arg(a, "axis");
    src_loc aloc = named_loc(a, "axis");
    if (a->npos == 3) {
        if (av) {
            diag_error(cx->d, aloc, "argument 'axis' given twice");
            return fe_err();
        }
        av = &a->pos[2];
        aloc = a->pos_loc[2];
    }
    if (av && !get_axis(F, av, aloc, rank, &axis)) return fe_err();
    int64_t k, n = fe_val_shape(x)[axis];
    if (!get_const_int(F, &a->pos[1], a->pos_loc[1], "k", &k)) return fe_err();
    if (k < 1 || k > n) {
        diag_error(cx->d, a->pos_loc[1], "topk needs 1 <= k <= %lld (axis %d of %s), got %lld",
                   (long long)n, axis, fe_describe(cx, x), (long long)k);
        return fe_err();
    }
    return sort_op(F, a, x, axis, true, k);
}

static fe_val b_cdiv(fe_func *F, bargs *a)
{
    fe_ctx *cx = F->cx;
    fe_val x = a->pos[0], y = a->pos[1];
    if (!fe_check_operand(F, &x, a->pos_loc[0]) || !fe_check_operand(F, &y, a->pos_loc[1]))
        return fe_err();
    if (!ir_dtype_is_int(fe_val_dtype(&x)) || !ir_dtype_is_int(fe_val_dtype(&y)) ||
        x.kind == FE_FLOAT || y.kind == FE_FLOAT) {
        diag_error(cx->d, a->loc, "cdiv needs integers, got %s and %s", fe_describe(cx, &x),
                   fe_describe(cx, &y));
        return fe_err();
    }
    /* ceil(x / y) as q + 1 where the truncated quotient q was rounded toward
     * zero from above (a non-zero remainder with the divisor's sign), not as
     * (x + y - 1) / y: that overflows near INT32_MAX.  Constants fold through
     * the same ops, so folded and run-time cdiv agree. */
    src_loc at = a->loc;
    fe_val q = fe_binop(F, AST_OP_DIV, x, y, at);
    fe_val r = fe_binop(F, AST_OP_REM, x, y, at);
    fe_val up;
    if (y.kind == FE_INT && y.u.i > 0) { /* the usual cdiv(M, BM): r has x's sign */
        up = fe_binop(F, AST_OP_GT, r, fe_int(0), at);
    } else {
        fe_val same_sign = fe_binop(F, AST_OP_EQ, fe_binop(F, AST_OP_LT, r, fe_int(0), at),
                                    fe_binop(F, AST_OP_LT, y, fe_int(0), at), at);
        up = fe_binop(F, AST_OP_LAND, fe_binop(F, AST_OP_NE, r, fe_int(0), at), same_sign, at);
    }
    fe_val q1 = fe_binop(F, AST_OP_ADD, q, fe_int(1), at);
    if (up.kind == FE_ERR || q1.kind == FE_ERR) return fe_err();
    if (up.kind == FE_BOOL) return up.u.b ? q1 : q;
    int rr;
    int64_t rs[IR_MAX_RANK];
    if (!fe_broadcast_shapes(fe_val_rank(&q), fe_val_shape(&q), fe_val_rank(&up), fe_val_shape(&up),
                             &rr, rs))
        return fe_err();
    ir_dtype dt = fe_val_dtype(&q1);
    ir_value *uv = fe_materialize(F, &up, IR_BOOL, rr, rs, at);
    ir_value *q1v = uv ? fe_materialize(F, &q1, dt, rr, rs, at) : NULL;
    ir_value *qv = q1v ? fe_materialize(F, &q, dt, rr, rs, at) : NULL;
    if (!qv) return fe_err();
    F->b.loc = at;
    ir_value *res = ir_select(&F->b, uv, q1v, qv);
    if (!res) fe_oom(cx);
    return fe_tile(res, fe_is_weak(&q1));
}

/* print("a", x, y, "b", z): each string starts a group, printed as one
 * PRINT op (one line "a: x y") in order. */
static fe_val b_print(fe_func *F, bargs *a)
{
    fe_ctx *cx = F->cx;
    if (a->pos[0].kind != FE_STR) {
        diag_error(cx->d, a->pos_loc[0], "print needs a string label first: print(\"x\", x)");
        return fe_err();
    }
    if (!fe_need_ir(F, a->loc, "'print'")) return fe_err();
    ir_value **vals = arena_calloc(cx->mem, (size_t)a->npos, sizeof *vals);
    if (!vals) {
        fe_oom(cx);
        return fe_err();
    }
    bool bad = false;
    for (int i = 1; i < a->npos; i++)
        if (a->pos[i].kind != FE_STR && !fe_check_operand(F, &a->pos[i], a->pos_loc[i])) bad = true;
    if (bad) return fe_err();
    for (int g = 0; g < a->npos;) {
        int n = 0, i = g + 1;
        for (; i < a->npos && a->pos[i].kind != FE_STR; i++) {
            vals[n] = fe_to_ir(F, &a->pos[i], a->pos_loc[i]);
            if (!vals[n++]) return fe_err();
        }
        ir_op *op = fe_build(F, a->pos_loc[g], IR_OP_PRINT, n, vals, 0, NULL, 0);
        if (!op) return fe_err();
        op->attr.str = a->pos[g].u.s;
        g = i;
    }
    return fe_unit();
}

/* Does v broadcast to view vw's shape?  If not, says so with the view's
 * type (its tensor's dtype), and for a 1-D value as long as a 2-D view's
 * rows, that [:, None] makes it a column (one as long as its columns
 * broadcasts as a row already). */
static bool fits_view(fe_func *F, const fe_val *v, const fe_view *vw, src_loc loc, const char *verb,
                      const char *target)
{
    fe_ctx *cx = F->cx;
    if (v->kind == FE_ERR || !fe_check_operand(F, v, loc)) return false;
    int vr = fe_val_rank(v), rr;
    const int64_t *vs = fe_val_shape(v);
    int64_t rs[IR_MAX_RANK];
    bool ok = fe_broadcast_shapes(vr, vs, vw->rank, vw->shape, &rr, rs) && rr == vw->rank;
    for (int i = 0; ok && i < rr; i++) ok = rs[i] == vw->shape[i];
    if (ok) return true;
    ir_type want = ir_type_tile(vw->t->dtype, vw->rank, vw->shape);
    char buf[128];
    const char *hint = "";
    if (vr == 1 && vw->rank == 2 && vs[0] == vw->shape[0])
        hint = arena_printf(cx->mem, " (index it [:, None] to make it a column, %s[%lld,1])",
                            ir_dtype_name(fe_val_dtype(v)), (long long)vs[0]);
    diag_error(cx->d, loc, "cannot %s %s %s of type %s%s", verb, fe_describe(cx, v), target,
               ir_type_str(&want, buf, sizeof buf), hint ? hint : "");
    return false;
}

/* load(view, mask: m, other: v), store(view, value, mask: m), atomic_add(...) */
static fe_val b_memory(fe_func *F, bargs *a)
{
    fe_ctx *cx = F->cx;
    const char *fname = a->b->name;
    const fe_val *vv = &a->pos[0];
    if (vv->kind != FE_VIEW) {
        if (vv->kind == FE_TENSOR)
            diag_error(cx->d, a->pos_loc[0], "%s needs a view of '%s': index it (%s[...])", fname,
                       vv->u.t->name, vv->u.t->name);
        else
            diag_error(cx->d, a->pos_loc[0], "%s needs a tensor view as its first argument, got %s",
                       fname, fe_describe(cx, vv));
        return fe_err();
    }
    if (!fe_need_ir(F, a->loc, arena_printf(cx->mem, "'%s'", fname))) return fe_err();
    const fe_view *vw = vv->u.view;
    const fe_tensor *t = vw->t;
    bool is_load = a->b->kind == B_LOAD;
    if (!is_load && !t->is_out) {
        diag_error(cx->d, a->pos_loc[0], "cannot %s '%s': it is not declared 'out'",
                   a->b->code == IR_OP_STORE ? "store to" : "atomic_add to", t->name);
        return fe_err();
    }
    if (a->b->code == IR_OP_ATOMIC_ADD && t->dtype != IR_F32 && t->dtype != IR_I32) {
        diag_error(cx->d, a->loc, "atomic_add needs an f32 or i32 tensor, '%s' is %s", t->name,
                   ir_dtype_name(t->dtype));
        return fe_err();
    }
    ir_value *ops[IR_MAX_RANK + 4];
    int n = 0;
    ops[n++] = t->v;
    for (int k = 0; k < t->rank; k++) ops[n++] = vw->idx[k];
    if (!is_load) {
        const fe_val *x = &a->pos[1];
        ir_value *xv;
        if (!fits_view(F, x, vw, a->pos_loc[1], "store", arena_printf(cx->mem, "to a view of '%s'",
                                                                      t->name)))
            return fe_err();
        if (fe_is_scalar_const(x))
            xv = fe_materialize(F, x, t->dtype, vw->rank, vw->shape, a->pos_loc[1]);
        else
            xv = fe_convert_to(F, x, fe_val_dtype(x), vw->rank, vw->shape, a->pos_loc[1], "store",
                               arena_printf(cx->mem, "to a view of '%s'", t->name));
        if (!xv) return fe_err();
        if (xv->type.dtype != t->dtype) {
            F->b.loc = a->loc;
            xv = ir_cast(&F->b, xv, t->dtype);
            if (!xv) { fe_oom(cx); return fe_err(); }
        }
        ops[n++] = xv;
    }
    int64_t flags = 0;
    const fe_val *m = named_arg(a, "mask");
    if (m) {
        src_loc ml = named_loc(a, "mask");
        if (!fe_check_operand(F, m, ml)) return fe_err();
        if (fe_val_dtype(m) != IR_BOOL) {
            diag_error(cx->d, ml, "mask must be bool, got %s", fe_describe(cx, m));
            return fe_err();
        }
        if (!fits_view(F, m, vw, ml, "use", arena_printf(cx->mem, "as the mask of a view of '%s'", t->name)))
            return fe_err();
        ir_value *mv = fe_convert_to(F, m, IR_BOOL, vw->rank, vw->shape, ml, "use",
                                     "as the mask of a view");
        if (!mv) return fe_err();
        ops[n++] = mv;
        flags |= IR_LOAD_HAS_MASK;
    }
    const fe_val *o = is_load ? named_arg(a, "other") : NULL;
    if (o) {
        src_loc ol = named_loc(a, "other");
        if (!fe_check_operand(F, o, ol)) return fe_err();
        fe_val ow = *o;
        ow.weak = true; /* `other` converts to the tensor's dtype like a literal */
        ir_value *ov = fe_convert_to(F, &ow, t->dtype, vw->rank, vw->shape, ol, "use",
                                     "as the 'other' value of a view");
        if (!ov) return fe_err();
        ops[n++] = ov;
        flags |= IR_LOAD_HAS_OTHER;
    }
    ir_type rt = ir_type_tile(t->dtype, vw->rank, vw->shape);
    ir_op *op = fe_build(F, a->loc, a->b->code, n, ops, is_load ? 1 : 0, &rt, 0);
    if (!op) return fe_err();
    op->attr.i = flags;
    return is_load ? fe_tile(op->results[0], false) : fe_unit();
}

/* ---- associative_scan ---------------------------------------------------- */

/* The scan's operands: runtime tiles (constants materialised) of one shape,
 * rank >= 1.  False after an error. */
static bool scan_operands(fe_func *F, bargs *a, ir_value **xs)
{
    fe_ctx *cx = F->cx;
    for (int i = 0; i < a->npos; i++) {
        const fe_val *x = &a->pos[i];
        if (!fe_check_operand(F, x, a->pos_loc[i])) return false;
        if (fe_val_rank(x) == 0) {
            diag_error(cx->d, a->pos_loc[i], "associative_scan needs tiles of rank 1 or more, got %s",
                       fe_describe(cx, x));
            return false;
        }
        if (!(xs[i] = fe_to_ir(F, x, a->pos_loc[i]))) return false;
        if (i && !ir_type_same_shape(&xs[i]->type, &xs[0]->type)) {
            diag_error(cx->d, a->pos_loc[i], "associative_scan operands must have one shape: "
                       "%s, then %s (use broadcast_to)", fe_describe(cx, &a->pos[0]),
                       fe_describe(cx, x));
            return false;
        }
    }
    return true;
}

/* Lowers the combine fn into the scan's region: args (a..., b...) are
 * scalars of the operands' dtypes; its k results, converted to those
 * dtypes, are yielded.  False after an error. */
static bool scan_region(fe_func *F, ir_op *op, const fe_fnval *fn, src_loc floc)
{
    fe_ctx *cx = F->cx;
    int k = op->noperands;
    ir_type types[2 * IR_SCAN_MAX_OPERANDS];
    fe_val args[2 * IR_SCAN_MAX_OPERANDS];
    for (int i = 0; i < 2 * k; i++) types[i] = ir_type_scalar(op->operands[i % k]->type.dtype);
    ir_block *blk = ir_op_new_region(op, 0, 2 * k, types);
    if (!blk) {
        fe_oom(cx);
        return false;
    }
    for (int i = 0; i < 2 * k; i++) args[i] = fe_tile(blk->args[i], false);
    ir_builder_at_end(&F->b, blk);
    fe_val res = fe_call_fn_values(F, fn, args, 2 * k, floc);
    if (res.kind == FE_ERR) return false;
    int nres = res.kind == FE_TUPLE ? res.u.tup.n : res.kind == FE_UNIT ? 0 : 1;
    if (nres != k) {
        diag_error(cx->d, floc, "the combine fn of associative_scan must return %d value%s (one "
                   "per scanned tile), '%s' returns %d", k, k == 1 ? "" : "s", fn->item->name, nres);
        return false;
    }
    ir_value *ys[IR_SCAN_MAX_OPERANDS];
    for (int i = 0; i < k; i++) {
        const fe_val *r = res.kind == FE_TUPLE ? &res.u.tup.items[i] : &res;
        if (!fe_check_operand(F, r, floc)) return false;
        ys[i] = fe_convert_to(F, r, types[i].dtype, 0, NULL, floc, "return",
                              arena_printf(cx->mem, "from the combine fn of associative_scan as "
                                           "value %d", i));
        if (!ys[i]) return false;
    }
    return fe_build(F, floc, IR_OP_YIELD, k, ys, 0, NULL, 0) != NULL;
}

/* associative_scan(x..., axis: k, combine: f): SCAN with f as its region. */
static fe_val b_scan(fe_func *F, bargs *a)
{
    fe_ctx *cx = F->cx;
    const fe_val *fv = named_arg(a, "combine");
    if (!fv) {
        diag_error(cx->d, a->loc, "associative_scan needs a combine fn (combine: NAME)");
        return fe_err();
    }
    src_loc floc = named_loc(a, "combine");
    if (fv->kind != FE_FN) {
        diag_error(cx->d, floc, "combine must be an fn, got %s", fe_describe(cx, fv));
        return fe_err();
    }
    if (!fe_need_ir(F, a->loc, "'associative_scan'")) return fe_err();
    ir_value *xs[IR_SCAN_MAX_OPERANDS];
    if (!scan_operands(F, a, xs)) return fe_err();
    int rank = xs[0]->type.rank, axis = rank - 1;
    const fe_val *axis_v = named_arg(a, "axis");
    if (axis_v && !get_axis(F, axis_v, named_loc(a, "axis"), rank, &axis)) return fe_err();
    ir_type types[IR_SCAN_MAX_OPERANDS];
    for (int i = 0; i < a->npos; i++) types[i] = xs[i]->type;
    ir_block *outer = F->b.block;
    ir_op *before = F->b.before;
    ir_op *op = fe_build(F, a->loc, IR_OP_SCAN, a->npos, xs, a->npos, types, 1);
    if (!op) return fe_err();
    op->attr.i = axis;
    bool ok = scan_region(F, op, fv->u.fn, floc);
    if (before) ir_builder_before(&F->b, before);
    else ir_builder_at_end(&F->b, outer);
    if (!ok) return fe_err();
    if (a->npos == 1) return fe_tile(op->results[0], false);
    fe_val *items = arena_calloc(cx->mem, (size_t)a->npos, sizeof *items);
    if (!items) {
        fe_oom(cx);
        return fe_err();
    }
    for (int i = 0; i < a->npos; i++) items[i] = fe_tile(op->results[i], false);
    return (fe_val){.kind = FE_TUPLE, .u.tup = {a->npos, items}};
}

/* derivative(f, a_0, ..., wrt: k): d f(a_0, ...) / d a_k (fe_derive.c). */
static fe_val b_derivative(fe_func *F, bargs *a)
{
    fe_ctx *cx = F->cx;
    if (a->pos[0].kind != FE_FN) {
        diag_error(cx->d, a->pos_loc[0], "the first argument of 'derivative' must be an fn, got %s",
                   fe_describe(cx, &a->pos[0]));
        return fe_err();
    }
    int wrt = 0;
    const fe_val *wv = named_arg(a, "wrt");
    if (wv && (wv->kind != FE_INT || wv->u.i < 0 || wv->u.i >= a->npos - 1)) {
        diag_error(cx->d, named_loc(a, "wrt"), "'wrt' must be the index of one of the %d "
                   "arguments passed to the fn (0 to %d), got %s", a->npos - 1, a->npos - 2,
                   wv->kind == FE_INT ? fe_const_str(cx, wv) : fe_describe(cx, wv));
        return fe_err();
    }
    if (wv) wrt = (int)wv->u.i;
    if (!fe_need_ir(F, a->loc, "'derivative'")) return fe_err();
    return fe_derivative(F, a->pos[0].u.fn, a->pos + 1, a->pos_loc + 1, a->npos - 1, wrt, a->loc);
}

/* accumulate_grad(f, a_0, ..., wrt: t, into: dt, seed: g, mask: m): the
 * gradient of a tensor f reads (fe_derive.c). */
static fe_val b_accumulate_grad(fe_func *F, bargs *a)
{
    fe_ctx *cx = F->cx;
    if (a->pos[0].kind != FE_FN) {
        diag_error(cx->d, a->pos_loc[0], "the first argument of 'accumulate_grad' must be an fn, "
                   "got %s", fe_describe(cx, &a->pos[0]));
        return fe_err();
    }
    static const char *const need[] = {"wrt", "into", "seed"};
    for (int i = 0; i < 3; i++)
        if (!named_arg(a, need[i])) {
            diag_error(cx->d, a->loc, "'accumulate_grad' needs '%s:' (wrt: the tensor the fn "
                       "reads, into: its gradient, seed: the gradient of the fn's result)", need[i]);
            return fe_err();
        }
    const fe_val *wv = named_arg(a, "wrt"), *iv = named_arg(a, "into");
    if (wv->kind != FE_TENSOR || !ir_dtype_is_float(wv->u.t->dtype)) {
        diag_error(cx->d, named_loc(a, "wrt"), "'wrt' of 'accumulate_grad' must be a float "
                   "tensor (not a view: no [...]), got %s", fe_describe(cx, wv));
        return fe_err();
    }
    if (iv->kind != FE_TENSOR || !iv->u.t->is_out || iv->u.t->dtype != IR_F32 ||
        iv->u.t->rank != wv->u.t->rank) {
        diag_error(cx->d, named_loc(a, "into"), "'into' of 'accumulate_grad' must be an 'out' f32 "
                   "tensor of the rank of '%s' (%d), got %s", wv->u.t->name, wv->u.t->rank,
                   fe_describe(cx, iv));
        return fe_err();
    }
    if (!fe_need_ir(F, a->loc, "'accumulate_grad'")) return fe_err();
    fe_grad g = {.fn = a->pos[0].u.fn, .args = a->pos + 1, .nargs = a->npos - 1,
                 .wrt = wv->u.t, .into = iv->u.t, .seed = named_arg(a, "seed"),
                 .mask = named_arg(a, "mask"), .loc = a->loc, .wrt_loc = named_loc(a, "wrt"),
                 .seed_loc = named_loc(a, "seed"), .mask_loc = named_loc(a, "mask")};
    return fe_accumulate_grad(F, &g);
}

/* mask_kv_bounds(mask, z, h, q_lo, q_hi, M, N), mask_q_bounds(mask, z, h,
 * k_lo, k_hi, M, N), mask_slots(mask): bounds derived from a mask fn
 * (fe_mask.c). */
static fe_val b_mask(fe_func *F, bargs *a)
{
    fe_ctx *cx = F->cx;
    if (a->pos[0].kind != FE_FN) {
        diag_error(cx->d, a->pos_loc[0], "'%s' needs a mask fn as its first argument, got %s",
                   a->b->name, fe_describe(cx, &a->pos[0]));
        return fe_err();
    }
    if (!fe_need_ir(F, a->loc, arena_printf(cx->mem, "'%s'", a->b->name))) return fe_err();
    if (a->b->kind == B_MASK_SLOTS) {
        int n = fe_mask_slots(F, a->pos[0].u.fn, a->loc);
        return n < 0 ? fe_err() : fe_int(n);
    }
    for (int k = 1; k < 7; k++) {
        const fe_val *v = &a->pos[k];
        if (!fe_check_operand(F, v, a->pos_loc[k])) return fe_err();
        if (fe_val_rank(v) != 0 || !ir_dtype_is_int(fe_val_dtype(v)) || v->kind == FE_FLOAT) {
            diag_error(cx->d, a->pos_loc[k], "'%s' needs integer scalars after the mask, got %s",
                       a->b->name, fe_describe(cx, v));
            return fe_err();
        }
    }
    return fe_mask_bounds(F, a->pos[0].u.fn, a->pos + 1, a->b->name[5] == 'k', a->loc);
}

/* ---- argument checking and dispatch ------------------------------------ */

fe_val fe_call_builtin(fe_func *F, const fe_builtin *b, const ast_expr *call)
{
    fe_ctx *cx = F->cx;
    const ast_list *args = &call->u.call.args;
    bargs a = {.b = b, .loc = call->u.call.callee->loc};
    a.pos = arena_calloc(cx->mem, (size_t)args->len + 1, sizeof *a.pos);
    a.pos_loc = arena_calloc(cx->mem, (size_t)args->len + 1, sizeof *a.pos_loc);
    if (!a.pos || !a.pos_loc) {
        fe_oom(cx);
        return fe_err();
    }
    bool bad = false;
    for (int i = 0; i < args->len; i++) {
        const ast_arg *arg = args->items[i];
        fe_val v = fe_expr(F, arg->value);
        bad |= v.kind == FE_ERR;
        if (!arg->name) {
            a.pos_loc[a.npos] = arg->value->loc;
            a.pos[a.npos++] = v;
            continue;
        }
        int k = -1;
        for (int j = 0; j < BUILTIN_NAMED; j++)
            if (b->named[j] && strcmp(b->named[j], arg->name) == 0) k = j;
        if (k < 0) {
            fe_suggest s;
            fe_suggest_init(&s, arg->name);
            fe_suggest_builtin_args(b, &s);
            diag_error(cx->d, arg->loc, "unknown argument '%s' to '%s'%s", arg->name, b->name,
                       fe_did_you_mean(cx->mem, &s));
            bad = true;
        } else if (a.has[k]) {
            diag_error(cx->d, arg->loc, "argument '%s' given twice", arg->name);
            bad = true;
        } else {
            a.has[k] = true;
            a.named[k] = v;
            a.named_loc[k] = arg->loc;
        }
    }
    if (a.npos < b->min || (b->max >= 0 && a.npos > b->max)) {
        if (b->max < 0)
            diag_error(cx->d, a.loc, "'%s' takes at least %d argument%s, got %d", b->name, b->min,
                       b->min == 1 ? "" : "s", a.npos);
        else if (b->min == b->max)
            diag_error(cx->d, a.loc, "'%s' takes %d argument%s, got %d", b->name, b->min,
                       b->min == 1 ? "" : "s", a.npos);
        else
            diag_error(cx->d, a.loc, "'%s' takes %d to %d arguments, got %d", b->name, b->min,
                       b->max, a.npos);
        return fe_err();
    }
    if (bad) return fe_err();
    switch (b->kind) {
    case B_PROGRAM_ID:
        if (!fe_need_ir(F, a.loc, arena_printf(cx->mem, "'%s'", b->name))) return fe_err();
        return b_program_id(F, &a);
    case B_ARANGE:
        if (!fe_need_ir(F, a.loc, "'arange'")) return fe_err();
        return b_arange(F, &a);
    case B_ZEROS: case B_FULL: return b_full(F, &a);
    case B_DOT: return b_dot(F, &a);
    case B_TRANS: return b_trans(F, &a);
    case B_RESHAPE: case B_BROADCAST_TO: return b_reshape(F, &a);
    case B_WHERE: return b_where(F, &a);
    case B_UNARY_F: case B_ABS: return b_unary(F, &a);
    case B_MINMAX:
        if (a.npos == 2) return minmax2(F, &a);
        return reduce(F, &a, b->code == IR_OP_MAX ? IR_OP_REDUCE_MAX : IR_OP_REDUCE_MIN,
                      named_arg(&a, "axis"), false);
    case B_REDUCE: return reduce(F, &a, b->code, named_arg(&a, "axis"), false);
    case B_ROWRED: return reduce(F, &a, b->code, NULL, true);
    case B_CUMSUM: return reduce(F, &a, IR_OP_CUMSUM, named_arg(&a, "axis"), true);
    case B_CDIV: return b_cdiv(F, &a);
    case B_PRINT: return b_print(F, &a);
    case B_LOAD: case B_STORE: return b_memory(F, &a);
    case B_SCAN: return b_scan(F, &a);
    case B_POW: return b_pow(F, &a);
    case B_FMA: return b_fma(F, &a);
    case B_CLAMP: return b_clamp(F, &a);
    case B_ARGEXT: return b_argext(F, &a);
    case B_ANYALL: return b_anyall(F, &a);
    case B_CONCAT: return b_concat(F, &a);
    case B_SPLIT: return b_split(F, &a);
    case B_DERIV: return b_derivative(F, &a);
    case B_GRAD: return b_accumulate_grad(F, &a);
    case B_SORT: return b_sort(F, &a);
    case B_TOPK: return b_topk(F, &a);
    case B_MASK_BOUNDS: case B_MASK_SLOTS: return b_mask(F, &a);
    }
    return fe_err();
}
