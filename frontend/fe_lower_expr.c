/* fe_lower_expr.c - expressions: names, operators, implicit conversions,
 * broadcasting, casts and tensor views.
 *
 * Operators fold when both sides are constants; otherwise both operands are
 * materialised as IR values of the promoted dtype and the broadcast shape, so
 * every elementwise op in the IR has operands of exactly its result type.
 * A literal is weak (docs/language.md, "Implicit conversions"): it takes the
 * dtype of the other side; a runtime value computed only from literals stays
 * weak (FE_TILE with .weak). */
#include "fe_lower.h"

#include <math.h>
#include <string.h>

#include "ir/eval.h"

enum { FE_MAX_NUMEL = 1 << 24, FE_MAX_DEPTH = 400 };

void fe_oom(fe_ctx *cx) { cx->oom = true; }

void fe_too_deep(fe_ctx *cx, src_loc loc, const char *msg)
{
    diag_error(cx->d, loc, "%s", msg);
    /* The nesting counts through the fns being inlined: say so. */
    int n = 0;
    const fe_frame *outer = NULL;
    for (const fe_frame *fr = cx->stack; fr; fr = fr->up, n++) outer = fr;
    if (outer)
        diag_note(cx->d, outer->call, "counting the %d nested fn call%s from here", n,
                  n == 1 ? "" : "s");
}

ir_op *fe_build(fe_func *F, src_loc loc, ir_opcode code, int n, ir_value *const *ops, int nres,
                const ir_type *types, int nblocks)
{
    for (int i = 0; i < n; i++)
        if (!ops[i]) return NULL;
    if (!F->f) return NULL;
    F->b.loc = loc;
    ir_op *op = ir_build(&F->b, code, n, ops, nres, types, nblocks);
    if (!op) fe_oom(F->cx);
    return op;
}

ir_value *fe_build1(fe_func *F, src_loc loc, ir_opcode code, int n, ir_value *const *ops,
                    ir_type t)
{
    ir_op *op = fe_build(F, loc, code, n, ops, 1, &t, 0);
    return op ? op->results[0] : NULL;
}

bool fe_need_ir(fe_func *F, src_loc loc, const char *what)
{
    if (F->f) return true;
    diag_error(F->cx->d, loc, "%s cannot be used in a constant expression", what);
    return false;
}

fe_sym *fe_lookup(fe_func *F, const char *name)
{
    for (fe_scope *sc = F->scope; sc; sc = sc->parent)
        for (fe_sym *s = sc->syms; s; s = s->next)
            if (strcmp(s->name, name) == 0) return s;
    return NULL;
}

void fe_name_value(fe_val *v, const char *name)
{
    if (v->kind == FE_TILE && !v->u.v->name && !v->u.v->owner) v->u.v->name = name;
}

/* ---- types and shapes of operands -------------------------------------- */

static bool fits_i32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }

ir_dtype fe_val_dtype(const fe_val *v)
{
    switch (v->kind) {
    case FE_TILE: return v->u.v->type.dtype;
    case FE_INT: return (fits_i32(v->u.i) || v->i32) && !v->i64 ? IR_I32 : IR_I64;
    case FE_BOOL: return IR_BOOL;
    default: return IR_F32;
    }
}

int fe_val_rank(const fe_val *v) { return v->kind == FE_TILE ? v->u.v->type.rank : 0; }

const int64_t *fe_val_shape(const fe_val *v)
{
    return v->kind == FE_TILE ? v->u.v->type.shape : NULL;
}

static int dtype_cat(ir_dtype t)
{
    return t == IR_BOOL ? FE_CAT_BOOL : ir_dtype_is_int(t) ? FE_CAT_INT : FE_CAT_FLOAT;
}

static int val_cat(const fe_val *v)
{
    return v->kind == FE_TILE ? dtype_cat(v->u.v->type.dtype) : fe_const_cat(v);
}

bool fe_is_weak(const fe_val *v) { return v->kind != FE_TILE || v->weak; }

bool fe_broadcast_shapes(int ra, const int64_t *sa, int rb, const int64_t *sb, int *rr,
                         int64_t *sr)
{
    int r = ra > rb ? ra : rb;
    if (r > IR_MAX_RANK) return false;
    for (int i = 0; i < r; i++) {
        int64_t da = i < r - ra ? 1 : sa[i - (r - ra)];
        int64_t db = i < r - rb ? 1 : sb[i - (r - rb)];
        if (da == db || db == 1) sr[i] = da;
        else if (da == 1) sr[i] = db;
        else return false;
    }
    *rr = r;
    return true;
}

bool fe_shape_ok(fe_func *F, int rank, const int64_t *shape, src_loc loc)
{
    fe_ctx *cx = F->cx;
    if (rank > IR_MAX_RANK) {
        diag_error(cx->d, loc, "tile rank %d exceeds the maximum of %d", rank, IR_MAX_RANK);
        return false;
    }
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 1) {
            diag_error(cx->d, loc, "tile dimensions must be positive, got %s",
                       fe_shape_str(cx, rank, shape));
            return false;
        }
        if (shape[i] > FE_MAX_NUMEL || n * shape[i] > FE_MAX_NUMEL) {
            diag_error(cx->d, loc, "tile %s is too large (at most %d elements)",
                       fe_shape_str(cx, rank, shape), FE_MAX_NUMEL);
            return false;
        }
        n *= shape[i];
    }
    return true;
}

bool fe_promote(const fe_val *a, const fe_val *b, ir_dtype *dt, bool *weak)
{
    ir_dtype da = fe_val_dtype(a), db = fe_val_dtype(b);
    bool wa = fe_is_weak(a), wb = fe_is_weak(b);
    if (da == IR_BOOL || db == IR_BOOL) {
        *dt = IR_BOOL;
        *weak = wa && wb;
        return da == db;
    }
    if (wa != wb) {
        ir_dtype strong = wa ? db : da, other = wa ? da : db;
        if (ir_dtype_is_float(strong)) *dt = strong;
        else if (ir_dtype_is_float(other)) *dt = IR_F32;
        else *dt = strong;
        *weak = false;
        return true;
    }
    if (ir_dtype_is_float(da) || ir_dtype_is_float(db)) *dt = da == db ? da : IR_F32;
    else *dt = da == IR_I64 || db == IR_I64 ? IR_I64 : IR_I32;
    *weak = wa;
    return true;
}

/* ---- materialisation --------------------------------------------------- */

ir_value *fe_materialize(fe_func *F, const fe_val *v, ir_dtype dt, int rank,
                         const int64_t *shape, src_loc loc)
{
    if (!F->f) return NULL;
    F->b.loc = loc;
    ir_value *r = NULL;
    switch (v->kind) {
    case FE_INT:
        if (dt == IR_I32 && !fits_i32(v->u.i)) {
            diag_error(F->cx->d, loc, "integer constant %lld does not fit in i32",
                       (long long)v->u.i);
            return NULL;
        }
        r = ir_const_int(&F->b, dt, v->u.i, rank, shape);
        break;
    case FE_FLOAT:
        r = ir_const_float(&F->b, dt, v->u.f, rank, shape);
        break;
    case FE_BOOL:
        r = dt == IR_BOOL ? ir_const_bool(&F->b, v->u.b, rank, shape)
                          : ir_const_int(&F->b, dt, v->u.b, rank, shape);
        break;
    case FE_TILE: {
        r = v->u.v;
        if (r->type.dtype != dt) r = ir_cast(&F->b, r, dt);
        ir_type want = ir_type_tile(dt, rank, shape);
        if (r && !ir_type_same_shape(&r->type, &want)) r = ir_broadcast(&F->b, r, rank, shape);
        break;
    }
    default:
        return NULL;
    }
    if (!r) fe_oom(F->cx);
    return r;
}

ir_value *fe_to_ir(fe_func *F, const fe_val *v, src_loc loc)
{
    return fe_materialize(F, v, fe_val_dtype(v), fe_val_rank(v), fe_val_shape(v), loc);
}

bool fe_check_operand(fe_func *F, const fe_val *v, src_loc loc)
{
    fe_ctx *cx = F->cx;
    switch (v->kind) {
    case FE_INT: case FE_FLOAT: case FE_BOOL: case FE_TILE:
        return true;
    case FE_ERR:
        return false;
    case FE_TENSOR:
        diag_error(cx->d, loc, "tensor '%s' cannot be used as a value (load from a view of it: "
                   "load(%s[...]))", v->u.t->name, v->u.t->name);
        return false;
    case FE_VIEW:
        diag_error(cx->d, loc, "a tensor view can only be used by load, store or atomic_add");
        return false;
    case FE_FN:
        diag_error(cx->d, loc, "fn '%s' cannot be used as a value (call it)", v->u.fn->item->name);
        return false;
    case FE_DTYPE:
        diag_error(cx->d, loc, "dtype '%s' cannot be used as a value", ir_dtype_name(v->u.dt));
        return false;
    case FE_TUPLE:
        diag_error(cx->d, loc, "a tuple cannot be used as a value (destructure it with "
                   "let (a, b) = ... or assign it with (a, b) = ...)");
        return false;
    case FE_STR:
        diag_error(cx->d, loc, "a string can only be used by print, static_assert and assert");
        return false;
    case FE_SHAPE:
        diag_error(cx->d, loc, "a shape can only be passed to zeros, full, reshape or broadcast_to");
        return false;
    case FE_UNIT:
        diag_error(cx->d, loc, "this expression has no value");
        return false;
    case FE_CAPTURE:
        diag_error(cx->d, loc, "runtime parameter '%s' of a specialisation can only be bound to "
                   "an fn parameter (f(%s: %s))", v->u.s, v->u.s, v->u.s);
        return false;
    }
    return false;
}

ir_value *fe_convert_to(fe_func *F, const fe_val *v, ir_dtype dt, int rank,
                        const int64_t *shape, src_loc loc, const char *verb, const char *target)
{
    fe_ctx *cx = F->cx;
    if (!fe_check_operand(F, v, loc)) return NULL;
    int vr = fe_val_rank(v);
    const int64_t *vs = fe_val_shape(v);
    if (rank < 0) {
        rank = vr;
        shape = vs;
    }
    ir_dtype vd = fe_val_dtype(v);
    int rr;
    int64_t rs[IR_MAX_RANK];
    bool shape_ok = fe_broadcast_shapes(vr, vs, rank, shape, &rr, rs) && rr == rank;
    for (int i = 0; shape_ok && i < rank; i++) shape_ok = rs[i] == shape[i];
    bool dt_ok = vd == dt;
    if (!dt_ok && fe_is_weak(v)) {
        int cv = dtype_cat(vd), cd = dtype_cat(dt);
        dt_ok = cv == cd || (cv == FE_CAT_INT && cd == FE_CAT_FLOAT);
    }
    if (!shape_ok || !dt_ok) {
        ir_type want = ir_type_tile(dt, rank, shape);
        char buf[128];
        diag_error(cx->d, loc, "cannot %s %s %s of type %s", verb, fe_describe(cx, v), target,
                   ir_type_str(&want, buf, sizeof buf));
        return NULL;
    }
    return fe_materialize(F, v, dt, rank, shape, loc);
}

void fe_unknown_dtype(fe_ctx *cx, src_loc loc, const char *name)
{
    fe_suggest s;
    fe_suggest_init(&s, name);
    for (int t = 0; t < IR_DTYPE_COUNT; t++) fe_suggest_add(&s, ir_dtype_name((ir_dtype)t));
    diag_error(cx->d, loc, "unknown dtype '%s' (expected one of bool, i32, i64, f16, bf16, f32)%s",
               name, fe_did_you_mean(cx->mem, &s));
}

bool fe_type_dtype(fe_func *F, const ast_type *t, ir_dtype *out)
{
    fe_ctx *cx = F->cx;
    if ((t->kind != AST_TY_NAME && t->kind != AST_TY_TENSOR) || !t->name) {
        diag_error(cx->d, t->loc, "expected a dtype (bool, i32, i64, f16, bf16, f32)");
        return false;
    }
    if (ir_dtype_from_name(t->name, out)) return true;
    fe_sym *s = fe_lookup(F, t->name);
    fe_val v = fe_err();
    if (s) {
        v = s->val;
    } else {
        fe_global *g = fe_global_find(cx, t->name);
        if (g && g->kind == FE_G_CONST) {
            v = fe_global_const(cx, g, t->loc);
        } else if (g) {
            diag_error(cx->d, t->loc, "'%s' is not a dtype (it is %s)", t->name,
                       g->kind == FE_G_FN ? "an fn" : "a kernel");
            return false;
        } else {
            const char *hint = strcmp(t->name, "int") == 0 ? " (use i32 or i64)"
                             : strcmp(t->name, "float") == 0 ? " (use f32, bf16 or f16)" : NULL;
            if (hint)
                diag_error(cx->d, t->loc, "unknown dtype '%s'%s", t->name, hint);
            else
                fe_unknown_dtype(cx, t->loc, t->name);
            return false;
        }
    }
    if (v.kind == FE_DTYPE) {
        *out = v.u.dt;
        return true;
    }
    if (v.kind != FE_ERR)
        diag_error(cx->d, t->loc, "'%s' is not a dtype (it is %s)", t->name, fe_describe(cx, &v));
    return false;
}

/* ---- operators --------------------------------------------------------- */

fe_val fe_binop(fe_func *F, ast_binop op, fe_val a, fe_val b, src_loc loc)
{
    fe_ctx *cx = F->cx;
    if (a.kind == FE_ERR || b.kind == FE_ERR) return fe_err();
    bool fn_cmp = op == AST_OP_EQ || op == AST_OP_NE;   /* fn values compare, at compile time */
    bool ac = fe_is_scalar_const(&a) || a.kind == FE_DTYPE || (a.kind == FE_FN && fn_cmp);
    bool bc = fe_is_scalar_const(&b) || b.kind == FE_DTYPE || (b.kind == FE_FN && fn_cmp);
    if (ac && bc) return fe_const_binary(F, op, a, b, loc);
    if (!fe_check_operand(F, &a, loc) || !fe_check_operand(F, &b, loc)) return fe_err();
    const char *why = fe_binop_reason(cx, op, val_cat(&a), val_cat(&b));
    if (why) {
        fe_binop_error(F, op, &a, &b, why, loc);
        return fe_err();
    }
    ir_dtype dt;
    bool weak;
    fe_promote(&a, &b, &dt, &weak);
    int rr;
    int64_t rs[IR_MAX_RANK];
    if (!fe_broadcast_shapes(fe_val_rank(&a), fe_val_shape(&a), fe_val_rank(&b),
                             fe_val_shape(&b), &rr, rs)) {
        /* Two 1-D index or mask tiles that differ are, as a rule, rows and
         * columns meant to make a 2-D one. */
        bool rows_cols = fe_val_rank(&a) == 1 && fe_val_rank(&b) == 1 &&
                         !ir_dtype_is_float(fe_val_dtype(&a)) && !ir_dtype_is_float(fe_val_dtype(&b));
        fe_binop_error(F, op, &a, &b, rows_cols ? "shapes do not broadcast (for a 2-D tile, "
                       "index one side [:, None] and the other [None, :])"
                       : "shapes do not broadcast", loc);
        return fe_err();
    }
    if (!fe_shape_ok(F, rr, rs, loc)) return fe_err();
    ir_value *x = fe_materialize(F, &a, dt, rr, rs, loc);
    ir_value *y = x ? fe_materialize(F, &b, dt, rr, rs, loc) : NULL;
    if (!x || !y) return fe_err();
    F->b.loc = loc;
    ir_value *r = ir_binary(&F->b, fe_binop_ir(op), x, y);
    if (!r) fe_oom(cx);
    return fe_tile(r, fe_binop_is_cmp(op) ? false : weak);
}

static fe_val lower_unary(fe_func *F, const ast_expr *e)
{
    fe_ctx *cx = F->cx;
    const ast_expr *operand = e->u.unary.operand;
    fe_val a = fe_expr(F, operand);
    if (a.kind == FE_ERR) return a;
    if (fe_is_scalar_const(&a)) return fe_const_unary(F, e->u.unary.op, a, e->loc);
    if (!fe_check_operand(F, &a, operand->loc)) return fe_err();
    ir_dtype dt = a.u.v->type.dtype;
    ir_opcode code = IR_OP_NEG;
    switch (e->u.unary.op) {
    case AST_OP_NEG:
        if (dt == IR_BOOL) {
            diag_error(cx->d, e->loc, "cannot negate %s", fe_describe(cx, &a));
            return fe_err();
        }
        break;
    case AST_OP_NOT:
        if (dt != IR_BOOL) {
            diag_error(cx->d, e->loc, "'!' needs a bool, got %s%s", fe_describe(cx, &a),
                       ir_dtype_is_int(dt) ? " (use ~ for integers)" : "");
            return fe_err();
        }
        code = IR_OP_NOT;
        break;
    case AST_OP_BNOT:
        if (!ir_dtype_is_int(dt)) {
            diag_error(cx->d, e->loc, "'~' needs an integer, got %s%s", fe_describe(cx, &a),
                       dt == IR_BOOL ? " (use ! for bools)" : "");
            return fe_err();
        }
        code = IR_OP_NOT;
        break;
    }
    F->b.loc = e->loc;
    ir_value *r = ir_unary(&F->b, code, a.u.v);
    if (!r) fe_oom(cx);
    return fe_tile(r, a.weak);
}

static fe_val lower_binary(fe_func *F, const ast_expr *e)
{
    fe_val a = fe_expr(F, e->u.binary.lhs);
    fe_val b = fe_expr(F, e->u.binary.rhs);
    if (a.kind == FE_ERR || b.kind == FE_ERR) return fe_err();
    ast_binop op = e->u.binary.op;
    bool fn_cmp = op == AST_OP_EQ || op == AST_OP_NE;   /* fn values compare, at compile time */
    bool ac = fe_is_scalar_const(&a) || a.kind == FE_DTYPE || (a.kind == FE_FN && fn_cmp);
    bool bc = fe_is_scalar_const(&b) || b.kind == FE_DTYPE || (b.kind == FE_FN && fn_cmp);
    if (!(ac && bc)) {
        /* Point at the operand that cannot take part. */
        if (!ac && !fe_check_operand(F, &a, e->u.binary.lhs->loc)) return fe_err();
        if (!bc && !fe_check_operand(F, &b, e->u.binary.rhs->loc)) return fe_err();
        if ((ac && a.kind == FE_DTYPE && !fe_check_operand(F, &a, e->u.binary.lhs->loc)) ||
            (bc && b.kind == FE_DTYPE && !fe_check_operand(F, &b, e->u.binary.rhs->loc)))
            return fe_err();
    }
    return fe_binop(F, e->u.binary.op, a, b, e->loc);
}

/* ---- names ------------------------------------------------------------- */

/* Is `name` a parameter or a dimension of kernel k? */
static bool spec_base_names(const ast_item *k, const char *name)
{
    for (int i = 0; i < k->params.len; i++) {
        const ast_param *p = k->params.items[i];
        if (strcmp(p->name, name) == 0) return true;
        if (p->kind != AST_PARAM_TENSOR || !p->type) continue;
        for (int d = 0; d < p->type->dims.len; d++) {
            const ast_expr *de = p->type->dims.items[d];
            if (de->kind == AST_NAME && strcmp(de->u.str, name) == 0) return true;
        }
    }
    return false;
}

static fe_val lower_name(fe_func *F, const ast_expr *e)
{
    fe_ctx *cx = F->cx;
    const char *name = e->u.str;
    fe_sym *s = fe_lookup(F, name);
    if (s) return s->val;
    fe_global *g = fe_global_find(cx, name);
    if (g) {
        switch (g->kind) {
        case FE_G_CONST: return fe_global_const(cx, g, e->loc);
        case FE_G_FN: {
            fe_fnval *fn = fe_fnval_of(cx, g->item);
            return fn ? (fe_val){.kind = FE_FN, .u.fn = fn} : fe_err();
        }
        default:
            diag_error(cx->d, e->loc, "kernel '%s' cannot be used in an expression", name);
            return fe_err();
        }
    }
    ir_dtype dt;
    if (ir_dtype_from_name(name, &dt)) return fe_dtype(dt);
    if (strcmp(name, "inf") == 0) return fe_float(INFINITY);
    if (fe_find_builtin(name)) {
        diag_error(cx->d, e->loc, "built-in '%s' must be called", name);
        return fe_err();
    }
    if (cx->spec_kernel && spec_base_names(cx->spec_kernel, name)) {
        diag_error(cx->d, e->loc, "'%s' belongs to kernel '%s', not to specialisation '%s': only "
                   "the specialisation's own parameters can be captured", name,
                   cx->spec_kernel->name, cx->spec_name);
        return fe_err();
    }
    diag_error(cx->d, e->loc, "unknown name '%s'%s", name, fe_name_hint(F, name));
    return fe_err();
}

/* ---- indexing ---------------------------------------------------------- */

static fe_val lower_view(fe_func *F, const ast_expr *e, const fe_tensor *t)
{
    fe_ctx *cx = F->cx;
    const ast_list *idx = &e->u.index.idx;
    if (idx->len != t->rank) {
        diag_error(cx->d, e->loc, "tensor '%s' has %d dimension%s, got %d ind%s", t->name,
                   t->rank, t->rank == 1 ? "" : "s", idx->len, idx->len == 1 ? "ex" : "ices");
        return fe_err();
    }
    fe_view *vw = arena_alloc(cx->mem, sizeof *vw);
    if (!vw) {
        fe_oom(cx);
        return fe_err();
    }
    vw->t = t;
    bool ok = true;
    for (int k = 0; k < idx->len; k++) {
        const ast_expr *ix = idx->items[k];
        ir_value *iv = NULL;
        if (ix->kind == AST_SLICE && (ix->u.slice.lo || ix->u.slice.hi || ix->u.slice.step)) {
            diag_error(cx->d, ix->loc, "a tensor is indexed with ':' without bounds (for a range "
                       "of '%s', index it with arange(lo, hi))", t->name);
            ok = false;
            continue;
        } else if (ix->kind == AST_SLICE) {
            int64_t size = t->dims[k].size;
            if (size < 1) {
                diag_error(cx->d, ix->loc, "':' needs a static size for dimension %d of '%s' "
                           "(size '%s' is dynamic)", k, t->name,
                           t->dims[k].name ? t->dims[k].name : "?");
                ok = false;
                continue;
            }
            if (!fe_need_ir(F, ix->loc, "a tensor view")) return fe_err();
            iv = fe_build1(F, ix->loc, IR_OP_ARANGE, 0, NULL, ir_type_tile(IR_I32, 1, &size));
        } else if (ix->kind == AST_NONE) {
            diag_error(cx->d, ix->loc, "None cannot index a tensor (use an integer, an integer "
                       "tile or ':')");
            ok = false;
            continue;
        } else {
            fe_val v = fe_expr(F, ix);
            if (v.kind == FE_ERR) {
                ok = false;
                continue;
            }
            if (v.kind == FE_INT) {
                if (!fe_need_ir(F, ix->loc, "a tensor view")) return fe_err();
                iv = fe_to_ir(F, &v, ix->loc);
            } else if (v.kind == FE_TILE && ir_dtype_is_int(v.u.v->type.dtype)) {
                iv = v.u.v;
            } else {
                diag_error(cx->d, ix->loc, "index %d of '%s' must be an integer, got %s", k,
                           t->name, fe_describe(cx, &v));
                ok = false;
                continue;
            }
        }
        if (!iv) return fe_err();
        vw->idx[k] = iv;
        for (int d = 0; d < iv->type.rank; d++) {
            if (vw->rank == IR_MAX_RANK) {
                diag_error(cx->d, ix->loc, "view of '%s' has rank above %d", t->name, IR_MAX_RANK);
                return fe_err();
            }
            vw->shape[vw->rank++] = iv->type.shape[d];
        }
    }
    if (!ok || !fe_shape_ok(F, vw->rank, vw->shape, e->loc)) return fe_err();
    return (fe_val){.kind = FE_VIEW, .u.view = vw};
}

static fe_val lower_tile_index(fe_func *F, const ast_expr *e, fe_val base)
{
    fe_ctx *cx = F->cx;
    if (!fe_check_operand(F, &base, e->u.index.base->loc)) return fe_err();
    int rank = fe_val_rank(&base), nslice = 0, nr = 0;
    int new_axes[IR_MAX_RANK + 1], nnew = 0;  /* result dims from None */
    for (int k = 0; k < e->u.index.idx.len; k++) {
        const ast_expr *ix = e->u.index.idx.items[k];
        if (ix->kind != AST_SLICE && ix->kind != AST_NONE) {
            diag_error(cx->d, ix->loc, "a tile can only be indexed with ':' and None (index a "
                       "tensor to gather)");
            return fe_err();
        }
        if (nr == IR_MAX_RANK) {
            diag_error(cx->d, ix->loc, "tile rank exceeds the maximum of %d", IR_MAX_RANK);
            return fe_err();
        }
        if (ix->kind == AST_NONE) {
            new_axes[nnew++] = nr++;
        } else {
            if (nslice < rank) nr++;
            nslice++;
        }
    }
    if (nslice != rank) {
        diag_error(cx->d, e->loc, "indexing %s needs exactly %d ':' (one per axis), got %d",
                   fe_describe(cx, &base), rank, nslice);
        return fe_err();
    }
    if (nr == rank) return base;
    if (!fe_need_ir(F, e->loc, "indexing")) return fe_err();
    ir_value *x = fe_to_ir(F, &base, e->loc);
    if (!x) return fe_err();
    F->b.loc = e->loc;
    /* One expand_dims per None, in result order (each axis is where the 1
     * sits in the final shape, so earlier insertions do not shift it). */
    ir_value *r = x;
    for (int i = 0; i < nnew && r; i++) r = ir_expand_dims(&F->b, r, new_axes[i]);
    if (!r) fe_oom(cx);
    return fe_tile(r, fe_is_weak(&base));
}

static bool plain_slice(const ast_expr *ix)
{
    return ix->kind == AST_SLICE && !ix->u.slice.lo && !ix->u.slice.hi && !ix->u.slice.step;
}

/* A slice bound or tile index: a constant int (loc for errors). */
static bool const_index(fe_func *F, const ast_expr *x, const char *what, int64_t *out)
{
    fe_ctx *cx = F->cx;
    fe_val v = fe_expr(F, x);
    if (v.kind == FE_ERR) return false;
    if (v.kind != FE_INT) {
        diag_error(cx->d, x->loc, "%s must be a constant int, got %s%s", what, fe_describe(cx, &v),
                   v.kind == FE_TILE ? " (index a tensor to gather, or select with where)" : "");
        return false;
    }
    *out = v.u.i;
    return true;
}

/* One `lo:hi:step` of axis `axis` (size n): start, step and count. */
static bool slice_bounds(fe_func *F, const ast_expr *ix, int axis, int64_t n, int64_t *start,
                         int64_t *step, int64_t *count)
{
    fe_ctx *cx = F->cx;
    int64_t lo = 0, hi = n, st = 1;
    if ((ix->u.slice.lo && !const_index(F, ix->u.slice.lo, "a slice bound", &lo)) ||
        (ix->u.slice.hi && !const_index(F, ix->u.slice.hi, "a slice bound", &hi)) ||
        (ix->u.slice.step && !const_index(F, ix->u.slice.step, "a slice step", &st)))
        return false;
    if (st < 1) {
        diag_error(cx->d, ix->u.slice.step->loc, "slice step must be positive, got %lld",
                   (long long)st);
        return false;
    }
    const ast_expr *bad = lo < 0 || lo > n ? ix->u.slice.lo : hi < 0 || hi > n ? ix->u.slice.hi : NULL;
    if (bad) {
        diag_error(cx->d, bad->loc, "slice bound %lld is out of range for axis %d of size %lld "
                   "(bounds are 0..%lld; negative bounds do not count from the end)",
                   (long long)(bad == ix->u.slice.lo ? lo : hi), axis, (long long)n, (long long)n);
        return false;
    }
    if (lo >= hi) {
        diag_error(cx->d, ix->loc, "slice %lld:%lld of axis %d is empty (a tile dimension has at "
                   "least one element)", (long long)lo, (long long)hi, axis);
        return false;
    }
    *start = lo;
    *step = st;
    *count = (hi - lo - 1) / st + 1;
    return true;
}

/* t[1, :], t[:, 0:4], t[:, lo:hi:step, None]: integer indices and bounded
 * slices cut the tile (SLICE ops; an integer index also drops its axis),
 * then the remaining ':' and None go through lower_tile_index. */
static fe_val lower_tile_subscript(fe_func *F, const ast_expr *e, fe_val base)
{
    fe_ctx *cx = F->cx;
    const ast_list *idx = &e->u.index.idx;
    if (!fe_check_operand(F, &base, e->u.index.base->loc)) return fe_err();
    int rank = fe_val_rank(&base), naxes = 0;
    for (int k = 0; k < idx->len; k++) naxes += ((const ast_expr *)idx->items[k])->kind != AST_NONE;
    if (naxes != rank) {
        diag_error(cx->d, e->loc, "indexing %s needs exactly %d indices or slices (one per axis, "
                   "plus any None), got %d", fe_describe(cx, &base), rank, naxes);
        return fe_err();
    }
    if (!fe_need_ir(F, e->loc, "indexing")) return fe_err();
    ir_value *v = fe_to_ir(F, &base, e->loc);
    if (!v) return fe_err();
    ast_expr *rest = arena_calloc(cx->mem, 1, sizeof *rest);
    if (!rest) {
        fe_oom(cx);
        return fe_err();
    }
    *rest = *e;
    rest->u.index.idx = (ast_list){0};
    int64_t keep[IR_MAX_RANK];
    int nkeep = 0, axis = 0;
    bool ok = true, has_none = false;
    for (int k = 0; k < idx->len; k++) {
        const ast_expr *ix = idx->items[k];
        const ast_expr *item = ix;
        if (ix->kind == AST_NONE) {
            has_none = true;
        } else {
            int64_t n = v->type.shape[axis], start = 0, step = 1, count = n;
            bool is_int = ix->kind != AST_SLICE;
            if (is_int) {
                if (!const_index(F, ix, "a tile index", &start)) {
                    ok = false;
                } else if (start < 0 || start >= n) {
                    diag_error(cx->d, ix->loc, "index %lld is out of range for axis %d of size %lld",
                               (long long)start, axis, (long long)n);
                    ok = false;
                }
                count = 1;
            } else if (!plain_slice(ix) && !slice_bounds(F, ix, axis, n, &start, &step, &count)) {
                ok = false;
            }
            if (ok && (start != 0 || count != n)) {
                v = fe_slice(F, ix->loc, v, axis, start, step, count);
                if (!v) return fe_err();
            }
            if (!is_int) keep[nkeep++] = ok ? v->type.shape[axis] : 1;
            if (!is_int && !plain_slice(ix)) {
                ast_expr *colon = arena_calloc(cx->mem, 1, sizeof *colon);
                if (!colon) {
                    fe_oom(cx);
                    return fe_err();
                }
                colon->kind = AST_SLICE;
                colon->loc = ix->loc;
                item = colon;
            }
            axis++;
            if (is_int) continue;
        }
        if (ast_list_push(cx->mem, &rest->u.index.idx, (void *)item) != 0) {
            fe_oom(cx);
            return fe_err();
        }
    }
    if (!ok) return fe_err();
    bool weak = fe_is_weak(&base);
    if (nkeep != rank) {
        F->b.loc = e->loc;
        v = ir_reshape(&F->b, v, nkeep, keep);
        if (!v) {
            fe_oom(cx);
            return fe_err();
        }
    }
    if (!has_none) return fe_tile(v, weak);
    return lower_tile_index(F, rest, fe_tile(v, weak));
}

static fe_val lower_index(fe_func *F, const ast_expr *e)
{
    fe_val base = fe_expr(F, e->u.index.base);
    if (base.kind == FE_ERR) return base;
    if (base.kind == FE_TENSOR) return lower_view(F, e, base.u.t);
    for (int k = 0; k < e->u.index.idx.len; k++) {
        const ast_expr *ix = e->u.index.idx.items[k];
        if (ix->kind != AST_NONE && !plain_slice(ix)) return lower_tile_subscript(F, e, base);
    }
    return lower_tile_index(F, e, base);
}

/* ---- casts, calls, aggregates ------------------------------------------ */

static fe_val lower_cast(fe_func *F, const ast_expr *e)
{
    fe_ctx *cx = F->cx;
    ir_dtype dt;
    bool dt_ok = fe_type_dtype(F, e->u.cast.to, &dt);
    fe_val v = fe_expr(F, e->u.cast.operand);
    if (!dt_ok || v.kind == FE_ERR) return fe_err();
    if (fe_is_scalar_const(&v)) {
        ir_dtype in = v.kind == FE_INT ? IR_I64 : v.kind == FE_BOOL ? IR_BOOL : IR_F32;
        ir_scalar x, r;
        if (v.kind == FE_FLOAT) x = ir_scalar_round(IR_F32, v.u.f);
        else x.i = v.kind == FE_INT ? v.u.i : v.u.b;
        if (ir_eval_unary(IR_OP_CAST, in, dt, x, &r) != TILE_OK) {
            diag_error(cx->d, e->loc, "internal error: cannot fold cast");
            return fe_err();
        }
        switch (dt) {
        case IR_I32: case IR_I64: return fe_int_of(r.i, dt, dt == IR_I64);
        case IR_BOOL: return fe_bool(r.i != 0);
        case IR_F32: return fe_float(r.f);
        default: break;
        }
        if (!fe_need_ir(F, e->loc, "a 16-bit float")) return fe_err();
        F->b.loc = e->loc;
        ir_value *c = ir_const_float(&F->b, dt, r.f, 0, NULL);
        if (!c) fe_oom(cx);
        return fe_tile(c, false);
    }
    if (!fe_check_operand(F, &v, e->u.cast.operand->loc)) return fe_err();
    if (v.u.v->type.dtype == dt) return fe_tile(v.u.v, false);
    F->b.loc = e->loc;
    ir_value *r = ir_cast(&F->b, v.u.v, dt);
    if (!r) fe_oom(cx);
    return fe_tile(r, false);
}

static fe_val lower_call(fe_func *F, const ast_expr *e)
{
    fe_ctx *cx = F->cx;
    const ast_expr *callee = e->u.call.callee;
    if (callee->kind == AST_NAME && !fe_lookup(F, callee->u.str) &&
        !fe_global_find(cx, callee->u.str)) {
        const fe_builtin *bi = fe_find_builtin(callee->u.str);
        if (bi) return fe_call_builtin(F, bi, e);
    }
    fe_val c = fe_expr(F, callee);
    if (c.kind == FE_ERR) return c;
    if (c.kind == FE_FN) return fe_call_fn(F, c.u.fn, e);
    if (callee->kind == AST_NAME)
        diag_error(cx->d, callee->loc, "'%s' is not a function (it is %s)", callee->u.str,
                   fe_describe(cx, &c));
    else
        diag_error(cx->d, callee->loc, "cannot call %s", fe_describe(cx, &c));
    return fe_err();
}

static fe_val lower_tuple(fe_func *F, const ast_expr *e)
{
    const ast_list *l = &e->u.elems;
    fe_val *items = arena_calloc(F->cx->mem, (size_t)(l->len ? l->len : 1), sizeof *items);
    if (!items) {
        fe_oom(F->cx);
        return fe_err();
    }
    bool bad = false;
    for (int i = 0; i < l->len; i++) {
        items[i] = fe_expr(F, l->items[i]);
        bad |= items[i].kind == FE_ERR;
    }
    if (bad) return fe_err();
    return (fe_val){.kind = FE_TUPLE, .u.tup = {l->len, items}};
}

static fe_val lower_list(fe_func *F, const ast_expr *e)
{
    fe_ctx *cx = F->cx;
    const ast_list *l = &e->u.elems;
    if (l->len > IR_MAX_RANK) {
        diag_error(cx->d, e->loc, "shape has %d dimensions, at most %d are allowed", l->len,
                   IR_MAX_RANK);
        return fe_err();
    }
    int64_t *dims = arena_calloc(cx->mem, IR_MAX_RANK, sizeof *dims);
    if (!dims) {
        fe_oom(cx);
        return fe_err();
    }
    bool bad = false;
    for (int i = 0; i < l->len; i++) {
        const ast_expr *x = l->items[i];
        fe_val v = fe_expr(F, x);
        if (v.kind == FE_INT) {
            dims[i] = v.u.i;
        } else {
            if (v.kind != FE_ERR)
                diag_error(cx->d, x->loc, "shape dimensions must be constant ints, got %s",
                           fe_describe(cx, &v));
            bad = true;
        }
    }
    if (bad) return fe_err();
    return (fe_val){.kind = FE_SHAPE, .u.shape = {l->len, dims}};
}

fe_val fe_expr(fe_func *F, const ast_expr *e)
{
    fe_ctx *cx = F->cx;
    if (!e) return fe_err();
    if (cx->depth >= FE_MAX_DEPTH) {
        fe_too_deep(cx, e->loc, "expression is nested too deeply");
        return fe_err();
    }
    cx->depth++;
    fe_val r = fe_err();
    switch (e->kind) {
    case AST_INT: r = fe_int(e->u.ival); break;
    case AST_FLOAT: r = fe_float(e->u.fval); break;
    case AST_BOOL: r = fe_bool(e->u.bval); break;
    case AST_STRING: r = (fe_val){.kind = FE_STR, .u.s = e->u.str}; break;
    case AST_NAME: r = lower_name(F, e); break;
    case AST_UNARY: r = lower_unary(F, e); break;
    case AST_BINARY: r = lower_binary(F, e); break;
    case AST_CALL: r = lower_call(F, e); break;
    case AST_INDEX: r = lower_index(F, e); break;
    case AST_CAST: r = lower_cast(F, e); break;
    case AST_TUPLE: r = lower_tuple(F, e); break;
    case AST_LIST: r = lower_list(F, e); break;
    case AST_SLICE:
        diag_error(cx->d, e->loc, "':' can only be used inside an index");
        break;
    case AST_NONE:
        diag_error(cx->d, e->loc, "None can only be used inside an index");
        break;
    case AST_AUTO:
        diag_error(cx->d, e->loc, "'auto' can only be the default of a const parameter");
        break;
    }
    cx->depth--;
    return r;
}
