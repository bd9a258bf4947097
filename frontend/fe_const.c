/* fe_const.c - compile-time constants: construction, printing, folding of
 * operators, kinds of const parameters, and top-level `const` items.
 *
 * Constant ints are i64 and wrap (one folded from cast<i64> remembers it, so
 * alone it is an i64, not an i32); constant floats are f32 values (held in a
 * double; a literal keeps its exact decimal value until it meets a dtype, so
 * it is rounded once).  Folding goes through ir_eval_binary/ir_eval_unary,
 * the same code the interpreter runs, so a folded expression and a runtime
 * one always agree. */
#include "fe_lower.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir/eval.h"

fe_val fe_err(void) { return (fe_val){.kind = FE_ERR}; }
fe_val fe_unit(void) { return (fe_val){.kind = FE_UNIT}; }
fe_val fe_int(int64_t i) { return (fe_val){.kind = FE_INT, .u.i = i}; }
fe_val fe_int_like(int64_t i, bool i64) { return (fe_val){.kind = FE_INT, .i64 = i64, .u.i = i}; }

/* The dtype int constants a, b fold in: i64 if either was cast to i64, i32 if
 * either was cast to i32 (the run-time promotion rule, so a folded
 * expression wraps exactly where the same expression on i32 values does),
 * else i64 (a weak constant: int constants are i64). */
ir_dtype fe_int_fold_dtype(const fe_val *a, const fe_val *b)
{
    if (a->i64 || (b && b->i64)) return IR_I64;
    return a->i32 || (b && b->i32) ? IR_I32 : IR_I64;
}

/* An int constant of fold dtype dt (tagged i32 / i64 accordingly). */
fe_val fe_int_of(int64_t i, ir_dtype dt, bool i64)
{
    fe_val v = fe_int_like(i, i64);
    v.i32 = dt == IR_I32 && !i64;
    return v;
}
fe_val fe_float(double f) { return (fe_val){.kind = FE_FLOAT, .u.f = f}; }
fe_val fe_bool(bool b) { return (fe_val){.kind = FE_BOOL, .u.b = b}; }
fe_val fe_dtype(ir_dtype t) { return (fe_val){.kind = FE_DTYPE, .u.dt = t}; }
fe_val fe_tile(ir_value *v, bool weak)
{
    if (!v) return fe_err();
    return (fe_val){.kind = FE_TILE, .weak = weak, .u.v = v};
}

bool fe_is_scalar_const(const fe_val *v)
{
    return v->kind == FE_INT || v->kind == FE_FLOAT || v->kind == FE_BOOL;
}

/* ---- printing ---------------------------------------------------------- */

static const char *float_str(fe_ctx *cx, double v)
{
    if (isnan(v)) return "nan";
    if (isinf(v)) return v < 0 ? "-inf" : "inf";
    char buf[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".eEn")) strcat(buf, ".0");
    return arena_strdup(cx->mem, buf);
}

char *fe_shape_str(fe_ctx *cx, int rank, const int64_t *shape)
{
    char buf[160];
    return arena_strdup(cx->mem, ir_shape_str(rank, shape, buf, sizeof buf));
}

const char *fe_const_str(fe_ctx *cx, const fe_val *v)
{
    switch (v->kind) {
    case FE_INT:
        if (v->i64 && v->u.i >= INT32_MIN && v->u.i <= INT32_MAX)
            return arena_printf(cx->mem, "cast<i64>(%lld)", (long long)v->u.i);
        return arena_printf(cx->mem, "%lld", (long long)v->u.i);
    case FE_FLOAT: return float_str(cx, v->u.f);
    case FE_BOOL: return v->u.b ? "true" : "false";
    case FE_DTYPE: return ir_dtype_name(v->u.dt);
    case FE_STR: return arena_printf(cx->mem, "\"%s\"", v->u.s);
    case FE_SHAPE: return fe_shape_str(cx, v->u.shape.rank, v->u.shape.dims);
    case FE_CAPTURE: return v->u.s;
    case FE_FN: {
        const fe_fnval *fn = v->u.fn;
        if (fn->nbound == 0) return fn->item->name;
        char *s = arena_printf(cx->mem, "%s(", fn->item->name);
        for (int i = 0; s && i < fn->nbound; i++)
            s = arena_printf(cx->mem, "%s%s%s: %s", s, i ? ", " : "", fn->names[i],
                             fe_const_str(cx, &fn->vals[i]));
        return s ? arena_printf(cx->mem, "%s)", s) : "?";
    }
    default: return "?";
    }
}

const char *fe_describe(fe_ctx *cx, const fe_val *v)
{
    char buf[160];
    switch (v->kind) {
    case FE_ERR: return "an erroneous value";
    case FE_UNIT: return "no value";
    case FE_INT: return "int";
    case FE_FLOAT: return "float";
    case FE_BOOL: return "bool";
    case FE_DTYPE: return "dtype";
    case FE_FN: return arena_printf(cx->mem, "fn '%s'", v->u.fn->item->name);
    case FE_STR: return "string";
    case FE_SHAPE: return "shape";
    case FE_TILE: return arena_strdup(cx->mem, ir_type_str(&v->u.v->type, buf, sizeof buf));
    case FE_TENSOR: return arena_printf(cx->mem, "tensor '%s'", v->u.t->name);
    case FE_VIEW: return "a tensor view";
    case FE_TUPLE: return arena_printf(cx->mem, "a tuple of %d", v->u.tup.n);
    case FE_CAPTURE: return arena_printf(cx->mem, "runtime parameter '%s'", v->u.s);
    }
    return "?";
}

/* ---- operators on constants -------------------------------------------- */

const char *fe_binop_verb(ast_binop op)
{
    switch (op) {
    case AST_OP_ADD: return "add";
    case AST_OP_SUB: return "subtract";
    case AST_OP_MUL: return "multiply";
    case AST_OP_DIV: return "divide";
    case AST_OP_REM: return "take the remainder of";
    case AST_OP_SHL: case AST_OP_SHR: return "shift";
    case AST_OP_EQ: case AST_OP_NE: case AST_OP_LT: case AST_OP_LE: case AST_OP_GT:
    case AST_OP_GE: return "compare";
    default: return NULL; /* "apply 'op' to" */
    }
}

ir_opcode fe_binop_ir(ast_binop op)
{
    static const ir_opcode map[] = {
        [AST_OP_ADD] = IR_OP_ADD, [AST_OP_SUB] = IR_OP_SUB, [AST_OP_MUL] = IR_OP_MUL,
        [AST_OP_DIV] = IR_OP_DIV, [AST_OP_REM] = IR_OP_REM, [AST_OP_SHL] = IR_OP_SHL,
        [AST_OP_SHR] = IR_OP_SHR, [AST_OP_BAND] = IR_OP_AND, [AST_OP_BOR] = IR_OP_OR,
        [AST_OP_BXOR] = IR_OP_XOR, [AST_OP_LAND] = IR_OP_AND, [AST_OP_LOR] = IR_OP_OR,
        [AST_OP_EQ] = IR_OP_CMP_EQ, [AST_OP_NE] = IR_OP_CMP_NE, [AST_OP_LT] = IR_OP_CMP_LT,
        [AST_OP_LE] = IR_OP_CMP_LE, [AST_OP_GT] = IR_OP_CMP_GT, [AST_OP_GE] = IR_OP_CMP_GE,
    };
    return map[op];
}

bool fe_binop_is_cmp(ast_binop op) { return op >= AST_OP_EQ && op <= AST_OP_GE; }

/* Why operands of categories ca, cb (FE_CAT_*) cannot meet in `op`, or NULL. */
const char *fe_binop_reason(fe_ctx *cx, ast_binop op, int ca, int cb)
{
    const char *sym = ast_binop_text(op);
    bool ab = ca == FE_CAT_BOOL, bb = cb == FE_CAT_BOOL;
    switch (op) {
    case AST_OP_LAND: case AST_OP_LOR:
        return ab && bb ? NULL : arena_printf(cx->mem, "'%s' needs bools", sym);
    case AST_OP_BAND: case AST_OP_BOR: case AST_OP_BXOR:
        if ((ab && bb) || (ca == FE_CAT_INT && cb == FE_CAT_INT)) return NULL;
        return arena_printf(cx->mem, "'%s' needs two bools or two integers", sym);
    case AST_OP_SHL: case AST_OP_SHR:
        if (ca == FE_CAT_INT && cb == FE_CAT_INT) return NULL;
        return arena_printf(cx->mem, "'%s' needs integers", sym);
    case AST_OP_EQ: case AST_OP_NE:
        if (ab == bb) return NULL;
        return "bool does not mix with numbers (use cast<i32>(...))";
    default:
        if (!ab && !bb) return NULL;
        if (ab && bb) return arena_printf(cx->mem, "'%s' is not defined on bool", sym);
        return "bool does not mix with numbers (use cast<i32>(...))";
    }
}

void fe_binop_error(fe_func *F, ast_binop op, const fe_val *a, const fe_val *b,
                    const char *reason, src_loc loc)
{
    fe_ctx *cx = F->cx;
    const char *verb = fe_binop_verb(op);
    if (verb)
        diag_error(cx->d, loc, "cannot %s %s and %s: %s", verb, fe_describe(cx, a),
                   fe_describe(cx, b), reason);
    else
        diag_error(cx->d, loc, "cannot apply '%s' to %s and %s: %s", ast_binop_text(op),
                   fe_describe(cx, a), fe_describe(cx, b), reason);
}

/* A weak int constant meeting an i32-typed one must fit i32, as it must when
 * it meets an i32 tile (fe_materialize). */
bool fe_const_fits(fe_func *F, const fe_val *v, ir_dtype dt, src_loc loc)
{
    if (dt != IR_I32 || v->kind != FE_INT || (v->u.i >= INT32_MIN && v->u.i <= INT32_MAX))
        return true;
    diag_error(F->cx->d, loc, "integer constant %lld does not fit in i32", (long long)v->u.i);
    return false;
}

int fe_const_cat(const fe_val *v)
{
    return v->kind == FE_BOOL ? FE_CAT_BOOL : v->kind == FE_INT ? FE_CAT_INT : FE_CAT_FLOAT;
}

static ir_scalar as_f32(const fe_val *v)
{
    return ir_scalar_round(IR_F32, v->kind == FE_INT ? (double)v->u.i : v->u.f);
}

fe_val fe_const_binary(fe_func *F, ast_binop op, fe_val a, fe_val b, src_loc loc)
{
    fe_ctx *cx = F->cx;
    if (a.kind == FE_DTYPE || b.kind == FE_DTYPE) {
        if (a.kind == FE_DTYPE && b.kind == FE_DTYPE && (op == AST_OP_EQ || op == AST_OP_NE))
            return fe_bool((a.u.dt == b.u.dt) == (op == AST_OP_EQ));
        fe_binop_error(F, op, &a, &b, "dtypes can only be compared with == and !=", loc);
        return fe_err();
    }
    if (a.kind == FE_FN || b.kind == FE_FN) {
        /* The same fn with the same bound constants (printed alike). */
        if (a.kind == FE_FN && b.kind == FE_FN && (op == AST_OP_EQ || op == AST_OP_NE))
            return fe_bool((strcmp(fe_const_str(cx, &a), fe_const_str(cx, &b)) == 0) ==
                           (op == AST_OP_EQ));
        fe_binop_error(F, op, &a, &b, "fn values can only be compared with == and !=", loc);
        return fe_err();
    }
    const char *why = fe_binop_reason(cx, op, fe_const_cat(&a), fe_const_cat(&b));
    if (why) {
        fe_binop_error(F, op, &a, &b, why, loc);
        return fe_err();
    }
    if (a.kind == FE_BOOL) {
        bool x = a.u.b, y = b.u.b;
        switch (op) {
        case AST_OP_LAND: case AST_OP_BAND: return fe_bool(x && y);
        case AST_OP_LOR: case AST_OP_BOR: return fe_bool(x || y);
        case AST_OP_BXOR: case AST_OP_NE: return fe_bool(x != y);
        default: return fe_bool(x == y);
        }
    }
    ir_opcode code = fe_binop_ir(op);
    ir_scalar r;
    if (a.kind == FE_INT && b.kind == FE_INT) {
        ir_scalar x = {.i = a.u.i}, y = {.i = b.u.i};
        ir_dtype dt = fe_int_fold_dtype(&a, &b);
        if (!fe_const_fits(F, &a, dt, loc) || !fe_const_fits(F, &b, dt, loc)) return fe_err();
        if ((op == AST_OP_DIV || op == AST_OP_REM) && b.u.i == 0) {
            diag_error(cx->d, loc, "division by zero in a constant expression");
            return fe_err();
        }
        if (ir_eval_binary(code, dt, x, y, &r) != TILE_OK) {
            diag_error(cx->d, loc, "internal error: cannot fold '%s'", ast_binop_text(op));
            return fe_err();
        }
        return fe_binop_is_cmp(op) ? fe_bool(r.i != 0) : fe_int_of(r.i, dt, a.i64 || b.i64);
    }
    if (ir_eval_binary(code, IR_F32, as_f32(&a), as_f32(&b), &r) != TILE_OK) {
        diag_error(cx->d, loc, "internal error: cannot fold '%s'", ast_binop_text(op));
        return fe_err();
    }
    return fe_binop_is_cmp(op) ? fe_bool(r.i != 0) : fe_float(r.f);
}

/* NEG, NOT (~) or ABS of an int constant, in its fold dtype. */
fe_val fe_int_unary(ir_opcode code, fe_val a)
{
    ir_dtype dt = fe_int_fold_dtype(&a, NULL);
    ir_scalar r = {0};
    (void)ir_eval_unary(code, dt, dt, (ir_scalar){.i = a.u.i}, &r); /* cannot fail on ints */
    return fe_int_of(r.i, dt, a.i64);
}

fe_val fe_const_unary(fe_func *F, ast_unop op, fe_val a, src_loc loc)
{
    fe_ctx *cx = F->cx;
    switch (op) {
    case AST_OP_NEG:
        if (a.kind == FE_INT) return fe_int_unary(IR_OP_NEG, a);
        if (a.kind == FE_FLOAT) return fe_float(-a.u.f);
        diag_error(cx->d, loc, "cannot negate %s", fe_describe(cx, &a));
        return fe_err();
    case AST_OP_NOT:
        if (a.kind == FE_BOOL) return fe_bool(!a.u.b);
        diag_error(cx->d, loc, "'!' needs a bool, got %s%s", fe_describe(cx, &a),
                   a.kind == FE_INT ? " (use ~ for integers)" : "");
        return fe_err();
    case AST_OP_BNOT:
        if (a.kind == FE_INT) return fe_int_unary(IR_OP_NOT, a);
        diag_error(cx->d, loc, "'~' needs an integer, got %s%s", fe_describe(cx, &a),
                   a.kind == FE_BOOL ? " (use ! for bools)" : "");
        return fe_err();
    }
    return fe_err();
}

/* ---- const parameter kinds --------------------------------------------- */

const char *fe_ckind_name(ast_const_kind k)
{
    switch (k) {
    case AST_CK_INT: return "int";
    case AST_CK_FLOAT: return "float";
    case AST_CK_BOOL: return "bool";
    case AST_CK_DTYPE: return "dtype";
    case AST_CK_FN: return "fn";
    }
    return "?";
}

ast_const_kind fe_param_ckind(const ast_param *p)
{
    return p->type && p->type->kind == AST_TY_CONST ? p->type->ckind : AST_CK_INT;
}

bool fe_const_fits_kind(ast_const_kind k, fe_val *v)
{
    switch (k) {
    case AST_CK_INT: return v->kind == FE_INT;
    case AST_CK_FLOAT:
        if (v->kind == FE_INT) *v = fe_float((double)v->u.i);
        return v->kind == FE_FLOAT;
    case AST_CK_BOOL: return v->kind == FE_BOOL;
    case AST_CK_DTYPE: return v->kind == FE_DTYPE;
    case AST_CK_FN: return v->kind == FE_FN;
    }
    return false;
}

/* ---- constant expressions and top-level consts ------------------------- */

fe_val fe_const_expr(fe_ctx *cx, fe_scope *sc, const ast_expr *e)
{
    fe_func F = {.cx = cx, .scope = sc};
    fe_val v = fe_expr(&F, e);
    switch (v.kind) {
    case FE_ERR:
        return v;
    case FE_TILE: case FE_TENSOR: case FE_VIEW: case FE_TUPLE: case FE_UNIT:
        diag_error(cx->d, e->loc, "expected a compile-time constant, got %s", fe_describe(cx, &v));
        return fe_err();
    default:
        return v;
    }
}

fe_val fe_global_const(fe_ctx *cx, fe_global *g, src_loc use)
{
    if (g->state == 2) return g->val;
    if (g->state == 1) {
        diag_error(cx->d, use, "constant '%s' depends on itself", g->name);
        return fe_err();
    }
    g->state = 1;
    const ast_item *it = g->item;
    const ast_item *spec_kernel = cx->spec_kernel; /* not in a spec's scope */
    cx->spec_kernel = NULL;
    fe_val v;
    if (g->define >= 0) {
        v = fe_define_value(cx, &cx->defs[g->define]);
    } else {
        v = fe_const_expr(cx, NULL, it->value);
    }
    cx->spec_kernel = spec_kernel;
    if (v.kind != FE_ERR && it->const_type && it->const_type->kind == AST_TY_CONST &&
        !fe_const_fits_kind(it->const_type->ckind, &v)) {
        src_loc at = g->define >= 0 && cx->defs[g->define].expr ? cx->defs[g->define].expr->loc
                                                                  : it->value->loc;
        diag_error(cx->d, at, "constant '%s' is declared %s but its value is %s", g->name,
                   fe_ckind_name(it->const_type->ckind), fe_describe(cx, &v));
        v = fe_err();
    }
    g->val = v;
    g->state = 2;
    return v;
}

void fe_eval_all_globals(fe_ctx *cx)
{
    for (int i = 0; i < cx->globals.len; i++) {
        fe_global *g = cx->globals.items[i];
        if (g->kind == FE_G_CONST) fe_global_const(cx, g, g->item->name_loc);
    }
}
