/* fe_mask.c - block bounds derived from a mask fn by interval analysis
 * (the built-ins mask_kv_bounds, mask_q_bounds and mask_slots).
 *
 * A mask says which (query i, key j) pairs are visible.  For a block of
 * query rows [q_lo, q_hi) the attention kernels need the keys that some row
 * of the block can see (the blocks to visit) and the keys that every row
 * sees (the blocks that need no mask arithmetic); the backward's dK/dV loop
 * needs the same with the roles of i and j swapped.  Instead of asking the
 * user for range fns, the front end reads them off the mask itself:
 *
 *  1. The mask is instantiated as usual, with scalar i32 arguments, so every
 *     front-end feature (partial application, lets, nested fn calls,
 *     captures) has already been resolved into the instance's tile IR.
 *  2. That IR is evaluated symbolically from its result: an integer is an
 *     affine form c_i*i + c_j*j + rest (rest a value computed in the caller
 *     from z, h, M, N and constants, emitted there as the walk goes), or a
 *     min/max of two; a bool is a formula of linear constraints
 *     (form <= 0), bools that do not depend on i or j, and/or/not.
 *     Anything else that depends on i or j (a load, i * j, a division) is
 *     "unknown".
 *  3. The formula goes to disjunctive normal form.  Each conjunct bounds the
 *     free axis by the extremes of its constraints over the block (an
 *     interval hull: exact for one lower and one upper bound each monotone
 *     in i, as in causal, sliding windows and prefix-LM) and, evaluated the
 *     other way round, gives the keys every row of the block sees.  An
 *     unknown atom is taken as true for the visit set and false for the
 *     full set, so both stay sound: visited is a superset of what is
 *     visible, full a subset of what is entirely visible.
 *
 * The result is two slots (conjunct 0, and the hull of the others), each
 * (lo, hi, full_lo, full_hi) in positions of the free axis; an empty range
 * is (0, 0).  mask_slots says at compile time how many slots can be
 * non-empty, so the library emits the second slot's loops only when the
 * mask has one.  docs/language.md, "Masks and block bounds", is the user's
 * view. */
#include "fe_lower.h"

#include <string.h>

#define MASK_MAX_CONJ 16    /* larger normal forms give up: visit all */
#define MASK_MAX_DEPTH 200  /* nesting of the walk (calls and ops) */
#define MASK_MAX_COEF ((int64_t)1 << 20)

typedef enum fo_kind { FO_TRUE, FO_FALSE, FO_UNKNOWN, FO_LEQ, FO_BOOL, FO_AND, FO_OR, FO_NOT } fo_kind;

/* A bool formula.  FO_LEQ: c[0]*i + c[1]*j + rest <= 0 (rest an int);
 * FO_BOOL: rest, a bool that depends on neither i nor j. */
typedef struct form {
    fo_kind kind;
    int64_t c[2];
    fe_val rest;
    const struct form *a, *b;
} form;

typedef enum sy_kind { SY_UNKNOWN, SY_AFF, SY_MIN, SY_MAX, SY_SEL, SY_FORM, SY_VAL, SY_TENSOR } sy_kind;

/* A symbolic value.  SY_AFF: c[0]*i + c[1]*j + rest; SY_MIN/SY_MAX of a
 * and b (ints); SY_SEL: where(f, a, b) (ints); SY_FORM: a bool; SY_VAL:
 * any other value free of i and j (rest); SY_TENSOR: a tensor parameter
 * (its value in the caller). */
typedef struct sym {
    sy_kind kind;
    int64_t c[2];
    fe_val rest;
    const struct sym *a, *b;
    const form *f;
    ir_value *tensor;
} sym;

typedef struct frame {
    const ir_func *f;
    const sym *args;
} frame;

typedef struct walk {
    fe_func *F;
    src_loc loc;
    int depth;
    bool failed;            /* out of memory: the result is FE_ERR */
} walk;

/* ---- emitting rests in the caller ------------------------------------- */

static fe_val ebin(walk *w, ast_binop op, fe_val a, fe_val b)
{
    fe_val r = fe_binop(w->F, op, a, b, w->loc);
    if (r.kind == FE_ERR) w->failed = true;
    return r;
}

static ir_value *as_ir(walk *w, fe_val v, ir_dtype dt)
{
    ir_value *x = fe_materialize(w->F, &v, dt, 0, NULL, w->loc);
    if (!x) w->failed = true;
    return x;
}

static fe_val emit2(walk *w, ir_opcode code, fe_val a, fe_val b)
{
    if (a.kind == FE_ERR || b.kind == FE_ERR) return fe_err();
    if (a.kind == FE_INT && b.kind == FE_INT)
        return fe_int(code == IR_OP_MIN ? (a.u.i < b.u.i ? a.u.i : b.u.i)
                                        : (a.u.i > b.u.i ? a.u.i : b.u.i));
    ir_value *x = as_ir(w, a, IR_I32), *y = as_ir(w, b, IR_I32);
    if (!x || !y) return fe_err();
    w->F->b.loc = w->loc;
    ir_value *r = ir_binary(&w->F->b, code, x, y);
    if (!r) w->failed = true;
    return r ? fe_tile(r, false) : fe_err();
}

static fe_val emin(walk *w, fe_val a, fe_val b) { return emit2(w, IR_OP_MIN, a, b); }
static fe_val emax(walk *w, fe_val a, fe_val b) { return emit2(w, IR_OP_MAX, a, b); }

/* where(c, a, b) on i32 scalars. */
static fe_val esel(walk *w, fe_val c, fe_val a, fe_val b)
{
    if (c.kind == FE_ERR || a.kind == FE_ERR || b.kind == FE_ERR) return fe_err();
    if (c.kind == FE_BOOL) return c.u.b ? a : b;
    if (a.kind == FE_INT && b.kind == FE_INT && a.u.i == b.u.i) return a;
    ir_value *cv = as_ir(w, c, IR_BOOL), *x = as_ir(w, a, IR_I32), *y = as_ir(w, b, IR_I32);
    if (!cv || !x || !y) return fe_err();
    w->F->b.loc = w->loc;
    ir_value *r = ir_select(&w->F->b, cv, x, y);
    if (!r) w->failed = true;
    return r ? fe_tile(r, false) : fe_err();
}

static fe_val enot(walk *w, fe_val c)
{
    if (c.kind == FE_ERR) return c;
    if (c.kind == FE_BOOL) return fe_bool(!c.u.b);
    return ebin(w, AST_OP_EQ, c, fe_bool(false));
}

static fe_val eand(walk *w, fe_val a, fe_val b)
{
    if (a.kind == FE_BOOL) return a.u.b ? b : a;
    if (b.kind == FE_BOOL) return b.u.b ? a : b;
    return ebin(w, AST_OP_BAND, a, b);
}

/* floor(x / d) and ceil(x / d) for a constant d > 0. */
static fe_val efloordiv(walk *w, fe_val x, int64_t d)
{
    if (d == 1 || x.kind == FE_ERR) return x;
    if (x.kind == FE_INT) {
        int64_t q = x.u.i / d;
        return fe_int(q - (x.u.i % d < 0));
    }
    fe_val q = ebin(w, AST_OP_DIV, x, fe_int(d));
    fe_val neg = ebin(w, AST_OP_LT, ebin(w, AST_OP_REM, x, fe_int(d)), fe_int(0));
    return ebin(w, AST_OP_SUB, q, esel(w, neg, fe_int(1), fe_int(0)));
}

static fe_val eceildiv(walk *w, fe_val x, int64_t d)
{
    if (d == 1) return x;
    return ebin(w, AST_OP_SUB, fe_int(0), efloordiv(w, ebin(w, AST_OP_SUB, fe_int(0), x), d));
}

/* ---- symbolic values --------------------------------------------------- */

static void *alloc(walk *w, size_t n)
{
    void *p = arena_calloc(w->F->cx->mem, 1, n);
    if (!p) {
        w->failed = true;
        fe_oom(w->F->cx);
    }
    return p;
}

static sym unknown(void) { return (sym){.kind = SY_UNKNOWN}; }

static sym aff(int64_t ci, int64_t cj, fe_val rest)
{
    return (sym){.kind = SY_AFF, .c = {ci, cj}, .rest = rest};
}

static const form *mkform(walk *w, form f)
{
    form *p = alloc(w, sizeof *p);
    if (p) *p = f;
    return p;
}

static sym formv(walk *w, form f)
{
    const form *p = mkform(w, f);
    return p ? (sym){.kind = SY_FORM, .f = p} : unknown();
}

static const form *fo_unknown(walk *w) { return mkform(w, (form){.kind = FO_UNKNOWN}); }

/* The formula of a bool sym (an unknown one is FO_UNKNOWN). */
static const form *as_form(walk *w, const sym *s)
{
    if (s->kind == SY_FORM) return s->f;
    if (s->kind == SY_VAL && fe_val_dtype(&s->rest) == IR_BOOL)
        return mkform(w, (form){.kind = FO_BOOL, .rest = s->rest});
    return fo_unknown(w);
}

static bool is_rest(const sym *s)
{
    return (s->kind == SY_AFF && s->c[0] == 0 && s->c[1] == 0) || s->kind == SY_VAL ||
           s->kind == SY_TENSOR ||
           (s->kind == SY_FORM && (s->f->kind == FO_BOOL || s->f->kind == FO_TRUE ||
                                   s->f->kind == FO_FALSE));
}

static fe_val rest_of(const sym *s)
{
    if (s->kind == SY_FORM)
        return s->f->kind == FO_BOOL ? s->f->rest : fe_bool(s->f->kind == FO_TRUE);
    return s->rest;
}

static bool coef_ok(int64_t c) { return c > -MASK_MAX_COEF && c < MASK_MAX_COEF; }

/* a + k*b for affine a, b (k = 1 or -1); min/max distribute over a constant-free
 * shift only, so anything else is unknown. */
static sym add_aff(walk *w, const sym *a, const sym *b, int k)
{
    if (a->kind != SY_AFF || b->kind != SY_AFF) return unknown();
    fe_val r = ebin(w, k > 0 ? AST_OP_ADD : AST_OP_SUB, a->rest, b->rest);
    return aff(a->c[0] + k * b->c[0], a->c[1] + k * b->c[1], r);
}

static sym scale_aff(walk *w, const sym *a, int64_t k)
{
    if (a->kind != SY_AFF || !coef_ok(k) || !coef_ok(a->c[0] * k) || !coef_ok(a->c[1] * k))
        return unknown();
    return aff(a->c[0] * k, a->c[1] * k, ebin(w, AST_OP_MUL, a->rest, fe_int(k)));
}

/* x + k for an int sym x (distributes over min/max). */
static sym shift(walk *w, const sym *x, int64_t k)
{
    if (x->kind == SY_AFF) return aff(x->c[0], x->c[1], ebin(w, AST_OP_ADD, x->rest, fe_int(k)));
    if (x->kind == SY_MIN || x->kind == SY_MAX || x->kind == SY_SEL) {
        sym *a = alloc(w, sizeof *a), *b = alloc(w, sizeof *b);
        if (!a || !b) return unknown();
        *a = shift(w, x->a, k);
        *b = shift(w, x->b, k);
        return (sym){.kind = x->kind, .a = a, .b = b, .f = x->f};
    }
    return unknown();
}

static bool is_int_sym(const sym *x)
{
    return x->kind == SY_AFF || x->kind == SY_MIN || x->kind == SY_MAX || x->kind == SY_SEL;
}

/* x <= y for int syms, expanding min and max. */
static const form *leq(walk *w, const sym *x, const sym *y, int depth)
{
    if (depth > 16) return fo_unknown(w);
    if (x->kind == SY_SEL || y->kind == SY_SEL) {
        /* x <= where(c, a, b)  <=>  (c & x <= a) | (!c & x <= b), and so on the left */
        const sym *s = x->kind == SY_SEL ? x : y;
        const form *ta = x->kind == SY_SEL ? leq(w, s->a, y, depth + 1) : leq(w, x, s->a, depth + 1);
        const form *tb = x->kind == SY_SEL ? leq(w, s->b, y, depth + 1) : leq(w, x, s->b, depth + 1);
        const form *nc = mkform(w, (form){.kind = FO_NOT, .a = s->f});
        return mkform(w, (form){.kind = FO_OR,
                                .a = mkform(w, (form){.kind = FO_AND, .a = s->f, .b = ta}),
                                .b = mkform(w, (form){.kind = FO_AND, .a = nc, .b = tb})});
    }
    if (x->kind == SY_MIN || x->kind == SY_MAX) {
        const form *a = leq(w, x->a, y, depth + 1), *b = leq(w, x->b, y, depth + 1);
        return mkform(w, (form){.kind = x->kind == SY_MAX ? FO_AND : FO_OR, .a = a, .b = b});
    }
    if (y->kind == SY_MIN || y->kind == SY_MAX) {
        const form *a = leq(w, x, y->a, depth + 1), *b = leq(w, x, y->b, depth + 1);
        return mkform(w, (form){.kind = y->kind == SY_MIN ? FO_AND : FO_OR, .a = a, .b = b});
    }
    sym d = add_aff(w, x, y, -1);
    if (d.kind != SY_AFF) return fo_unknown(w);
    if (d.c[0] == 0 && d.c[1] == 0)
        return mkform(w, (form){.kind = FO_BOOL, .rest = ebin(w, AST_OP_LE, d.rest, fe_int(0))});
    return mkform(w, (form){.kind = FO_LEQ, .c = {d.c[0], d.c[1]}, .rest = d.rest});
}

static sym compare(walk *w, ir_opcode code, const sym *x, const sym *y)
{
    if (!is_int_sym(x) || !is_int_sym(y)) return formv(w, (form){.kind = FO_UNKNOWN});
    sym x1, y1;
    switch (code) {
    case IR_OP_CMP_LE: return (sym){.kind = SY_FORM, .f = leq(w, x, y, 0)};
    case IR_OP_CMP_GE: return (sym){.kind = SY_FORM, .f = leq(w, y, x, 0)};
    case IR_OP_CMP_LT: x1 = shift(w, x, 1); return (sym){.kind = SY_FORM, .f = leq(w, &x1, y, 0)};
    case IR_OP_CMP_GT: y1 = shift(w, y, 1); return (sym){.kind = SY_FORM, .f = leq(w, &y1, x, 0)};
    case IR_OP_CMP_EQ: case IR_OP_CMP_NE: {
        const form *a = leq(w, x, y, 0), *b = leq(w, y, x, 0);
        const form *both = mkform(w, (form){.kind = FO_AND, .a = a, .b = b});
        if (code == IR_OP_CMP_EQ) return (sym){.kind = SY_FORM, .f = both};
        return (sym){.kind = SY_FORM, .f = mkform(w, (form){.kind = FO_NOT, .a = both})};
    }
    default: return unknown();
    }
}

/* ---- the walk ---------------------------------------------------------- */

static sym eval(walk *w, const frame *fr, ir_value *v);

/* An op whose operands are all free of i and j, rebuilt in the caller. */
static sym clone_rest(walk *w, const ir_op *op, const sym *ops)
{
    ir_value **xs = alloc(w, ((size_t)op->noperands + 1) * sizeof *xs);
    if (!xs) return unknown();
    for (int k = 0; k < op->noperands; k++) {
        if (ops[k].kind == SY_TENSOR) {
            xs[k] = ops[k].tensor;
            continue;
        }
        const ir_type *t = &op->operands[k]->type;
        fe_val r = rest_of(&ops[k]);
        xs[k] = fe_materialize(w->F, &r, t->dtype, t->rank, t->shape, w->loc);
        if (!xs[k]) {
            w->failed = true;
            return unknown();
        }
    }
    w->F->b.loc = w->loc;
    ir_op *c = ir_build(&w->F->b, op->code, op->noperands, xs, 1, &op->results[0]->type, 0);
    if (!c) {
        w->failed = true;
        return unknown();
    }
    ir_attr_copy(c, op);
    fe_val r = fe_tile(c->results[0], false);
    ir_dtype dt = c->results[0]->type.dtype;
    if (c->results[0]->type.rank != 0) return unknown();
    if (dt == IR_BOOL) return formv(w, (form){.kind = FO_BOOL, .rest = r});
    if (ir_dtype_is_int(dt)) return aff(0, 0, r);
    return (sym){.kind = SY_VAL, .rest = r};
}

static sym eval_call(walk *w, const ir_op *op, const sym *ops)
{
    const ir_func *g = op->attr.callee;
    if (!g || op->nresults != 1 || !g->body->last || g->body->last->code != IR_OP_RETURN ||
        g->body->last->noperands != 1)
        return unknown();
    frame inner = {.f = g, .args = ops};
    return eval(w, &inner, g->body->last->operands[0]);
}

static sym eval_op(walk *w, const frame *fr, ir_op *op)
{
    if (op->nresults != 1 || op->nblocks) return unknown();
    int n = op->noperands;
    sym *ops = alloc(w, ((size_t)n + 1) * sizeof *ops);
    if (!ops) return unknown();
    bool all_rest = true;
    for (int k = 0; k < n; k++) {
        ops[k] = eval(w, fr, op->operands[k]);
        all_rest &= is_rest(&ops[k]);
    }
    if (op->code == IR_OP_CALL) return eval_call(w, op, ops);
    if (op->code == IR_OP_CONST) {
        ir_dtype dt = op->results[0]->type.dtype;
        if (op->results[0]->type.rank != 0) return unknown();
        if (dt == IR_BOOL) return formv(w, (form){.kind = op->attr.cval.i ? FO_TRUE : FO_FALSE});
        if (ir_dtype_is_int(dt)) return aff(0, 0, fe_int(op->attr.cval.i));
    }
    bool is_int = ir_dtype_is_int(op->results[0]->type.dtype);
    switch (op->code) {
    case IR_OP_ADD: if (is_int) return add_aff(w, &ops[0], &ops[1], 1); break;
    case IR_OP_SUB: if (is_int) return add_aff(w, &ops[0], &ops[1], -1); break;
    case IR_OP_NEG: if (is_int) return scale_aff(w, &ops[0], -1); break;
    case IR_OP_MUL:
        if (!is_int) break;
        if (ops[1].kind == SY_AFF && ops[1].c[0] == 0 && ops[1].c[1] == 0 && ops[1].rest.kind == FE_INT)
            return scale_aff(w, &ops[0], ops[1].rest.u.i);
        if (ops[0].kind == SY_AFF && ops[0].c[0] == 0 && ops[0].c[1] == 0 && ops[0].rest.kind == FE_INT)
            return scale_aff(w, &ops[1], ops[0].rest.u.i);
        if (all_rest) return aff(0, 0, ebin(w, AST_OP_MUL, ops[0].rest, ops[1].rest));
        return unknown();
    case IR_OP_CAST:
        if (is_int && ir_dtype_is_int(op->operands[0]->type.dtype)) return ops[0];
        break;
    case IR_OP_MIN: case IR_OP_MAX: case IR_OP_ABS: {
        if (!is_int || all_rest) break;
        sym *a = alloc(w, sizeof *a), *b = alloc(w, sizeof *b);
        if (!a || !b) return unknown();
        *a = ops[0];
        *b = op->code == IR_OP_ABS ? scale_aff(w, &ops[0], -1) : ops[1];
        return (sym){.kind = op->code == IR_OP_MIN ? SY_MIN : SY_MAX, .a = a, .b = b};
    }
    case IR_OP_CMP_EQ: case IR_OP_CMP_NE: case IR_OP_CMP_LT: case IR_OP_CMP_LE:
    case IR_OP_CMP_GT: case IR_OP_CMP_GE:
        if (all_rest) break;
        if (op->operands[0]->type.dtype == IR_BOOL) {
            /* b1 == b2 on bools: (b1 & b2) | (!b1 & !b2); != its negation. */
            const form *x = as_form(w, &ops[0]), *y = as_form(w, &ops[1]);
            const form *nx = mkform(w, (form){.kind = FO_NOT, .a = x});
            const form *ny = mkform(w, (form){.kind = FO_NOT, .a = y});
            const form *eq = mkform(w, (form){.kind = FO_OR,
                .a = mkform(w, (form){.kind = FO_AND, .a = x, .b = y}),
                .b = mkform(w, (form){.kind = FO_AND, .a = nx, .b = ny})});
            if (op->code == IR_OP_CMP_EQ) return (sym){.kind = SY_FORM, .f = eq};
            if (op->code == IR_OP_CMP_NE) return formv(w, (form){.kind = FO_NOT, .a = eq});
            return unknown();
        }
        return compare(w, op->code, &ops[0], &ops[1]);
    case IR_OP_AND: case IR_OP_OR: case IR_OP_XOR: case IR_OP_NOT: {
        if (op->results[0]->type.dtype != IR_BOOL || all_rest) break;
        const form *x = as_form(w, &ops[0]);
        if (op->code == IR_OP_NOT) return formv(w, (form){.kind = FO_NOT, .a = x});
        const form *y = as_form(w, &ops[1]);
        if (op->code != IR_OP_XOR)
            return formv(w, (form){.kind = op->code == IR_OP_AND ? FO_AND : FO_OR, .a = x, .b = y});
        const form *nx = mkform(w, (form){.kind = FO_NOT, .a = x});
        const form *ny = mkform(w, (form){.kind = FO_NOT, .a = y});
        return formv(w, (form){.kind = FO_OR,
                               .a = mkform(w, (form){.kind = FO_AND, .a = x, .b = ny}),
                               .b = mkform(w, (form){.kind = FO_AND, .a = nx, .b = y})});
    }
    case IR_OP_SELECT:
        if (op->results[0]->type.dtype == IR_BOOL && !all_rest) {
            const form *c = as_form(w, &ops[0]);
            const form *nc = mkform(w, (form){.kind = FO_NOT, .a = c});
            return formv(w, (form){.kind = FO_OR,
                .a = mkform(w, (form){.kind = FO_AND, .a = c, .b = as_form(w, &ops[1])}),
                .b = mkform(w, (form){.kind = FO_AND, .a = nc, .b = as_form(w, &ops[2])})});
        }
        if (is_int && !all_rest && is_int_sym(&ops[1]) && is_int_sym(&ops[2])) {
            sym *a = alloc(w, sizeof *a), *b = alloc(w, sizeof *b);
            if (!a || !b) return unknown();
            *a = ops[1];
            *b = ops[2];
            return (sym){.kind = SY_SEL, .a = a, .b = b, .f = as_form(w, &ops[0])};
        }
        break;
    default: break;
    }
    if (all_rest && (ir_op_table[op->code].flags & IR_PURE) && op->results[0]->type.rank == 0)
        return clone_rest(w, op, ops);
    return unknown();
}

static sym eval(walk *w, const frame *fr, ir_value *v)
{
    if (w->failed) return unknown();
    if (!v->def) {
        if (v->owner == fr->f->body && v->index < fr->f->body->nargs) return fr->args[v->index];
        return unknown();
    }
    if (++w->depth > MASK_MAX_DEPTH) {
        w->depth--;
        return unknown();
    }
    sym s = eval_op(w, fr, v->def);
    w->depth--;
    return s;
}

/* ---- normal form -------------------------------------------------------- */

typedef struct conj {
    int n;
    const form **atoms;      /* FO_LEQ, FO_BOOL or FO_UNKNOWN */
} conj;

typedef struct dnf {
    int n;                   /* -1: too large (treated as one unknown conjunct) */
    conj *c;
} dnf;

static dnf dnf_of(walk *w, const form *f, bool neg, int depth);

static dnf one_atom(walk *w, const form *atom)
{
    conj *c = alloc(w, sizeof *c);
    const form **a = alloc(w, sizeof *a);
    if (!c || !a) return (dnf){0};
    a[0] = atom;
    *c = (conj){1, a};
    return (dnf){1, c};
}

static dnf dnf_and(walk *w, dnf x, dnf y)
{
    if (x.n < 0 || y.n < 0 || (int64_t)x.n * y.n > MASK_MAX_CONJ) return (dnf){-1, NULL};
    conj *c = alloc(w, ((size_t)(x.n * y.n) + 1) * sizeof *c);
    if (!c) return (dnf){0};
    int k = 0;
    for (int p = 0; p < x.n; p++)
        for (int q = 0; q < y.n; q++) {
            int n = x.c[p].n + y.c[q].n;
            const form **a = alloc(w, ((size_t)n + 1) * sizeof *a);
            if (!a) return (dnf){0};
            if (x.c[p].n) memcpy(a, x.c[p].atoms, (size_t)x.c[p].n * sizeof *a);
            if (y.c[q].n) memcpy(a + x.c[p].n, y.c[q].atoms, (size_t)y.c[q].n * sizeof *a);
            c[k++] = (conj){n, a};
        }
    return (dnf){k, c};
}

static dnf dnf_or(walk *w, dnf x, dnf y)
{
    if (x.n < 0 || y.n < 0 || x.n + y.n > MASK_MAX_CONJ) return (dnf){-1, NULL};
    conj *c = alloc(w, ((size_t)(x.n + y.n) + 1) * sizeof *c);
    if (!c) return (dnf){0};
    if (x.n) memcpy(c, x.c, (size_t)x.n * sizeof *c);
    if (y.n) memcpy(c + x.n, y.c, (size_t)y.n * sizeof *c);
    return (dnf){x.n + y.n, c};
}

static dnf dnf_of(walk *w, const form *f, bool neg, int depth)
{
    if (!f || w->failed || depth > MASK_MAX_DEPTH) return (dnf){-1, NULL};
    switch (f->kind) {
    case FO_TRUE: case FO_FALSE:
        if ((f->kind == FO_TRUE) != neg) {
            conj *c = alloc(w, sizeof *c);
            if (!c) return (dnf){0};
            *c = (conj){0, NULL};
            return (dnf){1, c};
        }
        return (dnf){0, NULL};
    case FO_UNKNOWN: return one_atom(w, f);
    case FO_LEQ:
        if (!neg) return one_atom(w, f);
        /* not (e <= 0)  <=>  -e + 1 <= 0 on integers */
        return one_atom(w, mkform(w, (form){.kind = FO_LEQ, .c = {-f->c[0], -f->c[1]},
                                            .rest = ebin(w, AST_OP_SUB, fe_int(1), f->rest)}));
    case FO_BOOL:
        return one_atom(w, neg ? mkform(w, (form){.kind = FO_BOOL, .rest = enot(w, f->rest)}) : f);
    case FO_NOT: return dnf_of(w, f->a, !neg, depth + 1);
    case FO_AND: case FO_OR: {
        dnf x = dnf_of(w, f->a, neg, depth + 1), y = dnf_of(w, f->b, neg, depth + 1);
        return (f->kind == FO_AND) != neg ? dnf_and(w, x, y) : dnf_or(w, x, y);
    }
    }
    return (dnf){-1, NULL};
}

/* ---- bounds of one conjunct --------------------------------------------- */

typedef struct bounds {
    fe_val lo, hi;           /* free-axis positions some fixed position can see */
    fe_val flo, fhi;         /* ... that every fixed position sees */
} bounds;

/* The bound a constraint c_f*f + c_g*g + r <= 0 puts on g at fixed position f:
 * g <= floor((-r - c_f f) / c_g) when c_g > 0, g >= ceil((r + c_f f) / -c_g)
 * when c_g < 0. */
static fe_val g_bound(walk *w, const form *a, int fx, fe_val f)
{
    int64_t cf = a->c[fx], cg = a->c[1 - fx];
    fe_val t = cf == 0 ? a->rest : ebin(w, AST_OP_ADD, a->rest, ebin(w, AST_OP_MUL, fe_int(cf), f));
    if (cg > 0) return efloordiv(w, ebin(w, AST_OP_SUB, fe_int(0), t), cg);
    return eceildiv(w, t, -cg);
}

/* The constraint on f alone that a lower bound (cg < 0) and an upper bound
 * (cg > 0) on g imply by eliminating g (Fourier-Motzkin): a row where it
 * fails has no g at all, so it leaves the visit hull. */
static const form *eliminate(walk *w, const form *lower, const form *upper, int fx)
{
    int64_t gl = -lower->c[1 - fx], gu = upper->c[1 - fx];      /* both > 0 */
    int64_t cf = gu * lower->c[fx] + gl * upper->c[fx];
    if (!coef_ok(cf) || !coef_ok(gu) || !coef_ok(gl)) return NULL;
    fe_val r = ebin(w, AST_OP_ADD, ebin(w, AST_OP_MUL, lower->rest, fe_int(gu)),
                    ebin(w, AST_OP_MUL, upper->rest, fe_int(gl)));
    form f = {.kind = FO_LEQ, .rest = r};
    f.c[fx] = cf;
    if (cf == 0) f = (form){.kind = FO_BOOL, .rest = ebin(w, AST_OP_LE, r, fe_int(0))};
    return mkform(w, f);
}

/* Narrows [va, vb] by an f-only constraint (visit) and says in fok whether
 * all of [a, b] meets it (full). */
static void narrow(walk *w, const form *at, int fx, fe_val a, fe_val b, fe_val *va, fe_val *vb,
                   fe_val *ok, fe_val *fok)
{
    if (at->kind == FO_BOOL) {
        *ok = eand(w, *ok, at->rest);
        if (fok) *fok = eand(w, *fok, at->rest);
        return;
    }
    int64_t cf = at->c[fx];
    if (cf > 0) {
        fe_val lim = efloordiv(w, ebin(w, AST_OP_SUB, fe_int(0), at->rest), cf);
        *vb = emin(w, *vb, lim);
        if (fok) *fok = eand(w, *fok, ebin(w, AST_OP_LE, b, lim));
    } else {
        fe_val lim = eceildiv(w, at->rest, -cf);
        *va = emax(w, *va, lim);
        if (fok) *fok = eand(w, *fok, ebin(w, AST_OP_GE, a, lim));
    }
}

/* fx: the fixed axis (0: a block of rows [a, b], the keys are free);
 * g_len: the free axis' length. */
static bounds conj_bounds(walk *w, const conj *cj, int fx, fe_val a, fe_val b, fe_val g_len)
{
    fe_val va = a, vb = b, ok = fe_bool(true), fok = ebin(w, AST_OP_LE, a, b);
    fe_val glast = ebin(w, AST_OP_SUB, g_len, fe_int(1));
    fe_val lo = fe_int(0), hi = glast, flo = fe_int(0), fhi = glast;
    /* The free axis' domain 0 <= g <= g_len - 1 as two more bounds. */
    form dom_lo = {.kind = FO_LEQ, .rest = fe_int(0)}, dom_hi = {.kind = FO_LEQ};
    dom_lo.c[1 - fx] = -1;
    dom_hi.c[1 - fx] = 1;
    dom_hi.rest = ebin(w, AST_OP_SUB, fe_int(0), glast);
    for (int k = 0; k < cj->n; k++) {           /* fixed-axis constraints narrow [va, vb] */
        const form *at = cj->atoms[k];
        if (at->kind == FO_UNKNOWN) fok = fe_bool(false);
        else if (at->kind == FO_BOOL || at->c[1 - fx] == 0) narrow(w, at, fx, a, b, &va, &vb, &ok, &fok);
    }
    for (int k = -1; k < cj->n; k++) {          /* ... and so does every (lower, upper) pair */
        const form *lower = k < 0 ? &dom_lo : cj->atoms[k];
        if (lower->kind != FO_LEQ || lower->c[1 - fx] >= 0) continue;
        for (int l = -1; l < cj->n; l++) {
            const form *upper = l < 0 ? &dom_hi : cj->atoms[l];
            if (upper->kind != FO_LEQ || upper->c[1 - fx] <= 0 || (k < 0 && l < 0)) continue;
            const form *e = eliminate(w, lower, upper, fx);
            if (e) narrow(w, e, fx, a, b, &va, &vb, &ok, NULL);
        }
    }
    ok = eand(w, ok, ebin(w, AST_OP_LE, va, vb));
    for (int k = 0; k < cj->n; k++) {           /* then the free axis over it */
        const form *at = cj->atoms[k];
        if (at->kind != FO_LEQ || at->c[1 - fx] == 0) continue;
        int64_t cf = at->c[fx];
        if (at->c[1 - fx] > 0) {                /* an upper bound, falling in f when cf > 0 */
            hi = emin(w, hi, g_bound(w, at, fx, cf > 0 ? va : vb));
            fhi = emin(w, fhi, g_bound(w, at, fx, cf > 0 ? b : a));
        } else {                                /* a lower bound, rising in f when cf > 0 */
            lo = emax(w, lo, g_bound(w, at, fx, cf > 0 ? va : vb));
            flo = emax(w, flo, g_bound(w, at, fx, cf > 0 ? b : a));
        }
    }
    ok = eand(w, ok, ebin(w, AST_OP_LE, lo, hi));
    fok = eand(w, fok, ebin(w, AST_OP_LE, flo, fhi));
    return (bounds){esel(w, ok, lo, fe_int(0)), esel(w, ok, ebin(w, AST_OP_ADD, hi, fe_int(1)), fe_int(0)),
                    esel(w, fok, flo, fe_int(0)),
                    esel(w, fok, ebin(w, AST_OP_ADD, fhi, fe_int(1)), fe_int(0))};
}

/* The hull of two visit ranges (either may be empty), with x's full range,
 * or y's when x is empty (where(c, a, b) of two masks: one of them holds). */
static bounds hull(walk *w, bounds x, bounds y)
{
    fe_val ex = ebin(w, AST_OP_LE, x.hi, x.lo), ey = ebin(w, AST_OP_LE, y.hi, y.lo);
    fe_val lo = esel(w, ex, y.lo, esel(w, ey, x.lo, emin(w, x.lo, y.lo)));
    fe_val hi = esel(w, ex, y.hi, esel(w, ey, x.hi, emax(w, x.hi, y.hi)));
    return (bounds){lo, hi, esel(w, ex, y.flo, x.flo), esel(w, ex, y.fhi, x.fhi)};
}

/* ---- entry points --------------------------------------------------------- */

/* The mask's formula over (i, j): the mask instantiated with scalar
 * arguments z, h, i, j, M, N (vals[0..5], i and j only placeholders) and
 * walked.  The probe CALL is erased again.  NULL on error (reported). */
static const form *mask_formula(walk *w, const fe_fnval *mask, const fe_val *vals)
{
    fe_func *F = w->F;
    fe_val args[6];
    for (int k = 0; k < 6; k++) {
        ir_value *x = fe_materialize(F, &vals[k], IR_I32, 0, NULL, w->loc);
        if (!x) return NULL;
        args[k] = fe_tile(x, false);
    }
    /* A mask that does not lower with scalars (it indexes i as a tile, it
     * has an error) is not analysed: its diagnostics are dropped here and
     * come, with the kernel's tile types, where the kernel applies it. */
    diag_ctx *d = F->cx->d;
    diag *mark = d->last;
    int errors = d->nerrors;
    fe_inst *insts = F->cx->insts;
    ir_func *last_func = F->cx->m->last;
    fe_val r = fe_call_fn_values(F, mask, args, 6, w->loc);
    if (r.kind == FE_ERR || d->nerrors != errors) {
        d->last = mark;                   /* the diagnostics, */
        if (mark) mark->next = NULL;
        else d->first = NULL;
        d->nerrors = errors;
        F->cx->insts = insts;             /* the instances (cached as failed) */
        F->cx->m->last = last_func;       /* and their half-built functions go */
        if (last_func) last_func->next = NULL;
        else F->cx->m->first = NULL;
        return fo_unknown(w);
    }
    if (r.kind != FE_TILE || r.u.v->type.dtype != IR_BOOL || r.u.v->type.rank != 0 ||
        !r.u.v->def || r.u.v->def->code != IR_OP_CALL)
        return fo_unknown(w);
    ir_op *call = r.u.v->def;
    sym *ops = alloc(w, ((size_t)call->noperands + 1) * sizeof *ops);
    if (!ops) return NULL;
    for (int k = 0; k < call->noperands; k++) {
        ir_value *x = call->operands[k];
        if (x->type.kind == IR_TY_TENSOR) ops[k] = (sym){.kind = SY_TENSOR, .tensor = x};
        else if (k == 2) ops[k] = aff(1, 0, fe_int(0));
        else if (k == 3) ops[k] = aff(0, 1, fe_int(0));
        else if (x->type.dtype == IR_BOOL) ops[k] = formv(w, (form){.kind = FO_BOOL, .rest = fe_tile(x, false)});
        else if (ir_dtype_is_int(x->type.dtype)) ops[k] = aff(0, 0, fe_tile(x, false));
        else ops[k] = (sym){.kind = SY_VAL, .rest = fe_tile(x, false)};
    }
    /* The walk emits before the probe, so the probe can go at the end. */
    ir_builder saved = F->b;
    ir_builder_before(&F->b, call);
    sym s = eval_call(w, call, ops);
    F->b = saved;
    if (F->b.before == call) F->b.before = call->next;
    ir_op_erase(call);
    return w->failed ? NULL : as_form(w, &s);
}

static dnf mask_dnf(walk *w, const fe_fnval *mask, const fe_val *vals)
{
    const form *f = mask_formula(w, mask, vals);
    if (!f) {
        w->failed = true;
        return (dnf){0};
    }
    dnf d = dnf_of(w, f, false, 0);
    if (d.n < 0) d = one_atom(w, fo_unknown(w));   /* too large: visit everything */
    return d;
}

/* Whether a conjunct's visit range is empty whatever the runtime values:
 * its bounds folded to constants that say so. */
static bool surely_empty(const bounds *b)
{
    return b->lo.kind == FE_INT && b->hi.kind == FE_INT && b->hi.u.i <= b->lo.u.i;
}

/* Three i32 values the front end cannot fold (IR constants it sees as
 * runtime tiles; dead, and folded, once the bounds are decided). */
static bool opaque(walk *w, fe_val out[3])
{
    w->F->b.loc = w->loc;
    for (int k = 0; k < 3; k++) {
        ir_value *v = ir_const_int(&w->F->b, IR_I32, k + 1, 0, NULL);
        if (!v) {
            fe_oom(w->F->cx);
            return false;
        }
        out[k] = fe_tile(v, false);
    }
    return true;
}

/* Whether conjunct cj is empty for every block and length: its key bounds
 * for an opaque block of rows and an opaque key length fold to an empty
 * range (a constraint of constants alone, j < 0, two bounds that cannot
 * meet).  Such a conjunct holds for no (i, j >= 0), so it is left out in
 * both directions; mask_slots decides it with opaque arguments as well, and
 * anything constant there is constant here, so the bounds never use more
 * slots than mask_slots says. */
static bool never_holds(walk *w, const conj *cj, const fe_val opq[3])
{
    bounds b = conj_bounds(w, cj, 0, opq[0], opq[1], opq[2]);
    return surely_empty(&b);
}

/* The slots of d's conjuncts that can hold: slot 0 the first, slot 1 the
 * hull of the rest.  Returns how many there are. */
static int fill_slots(walk *w, const dnf *d, int fx, fe_val a, fe_val b, fe_val g_len, bounds slot[2])
{
    fe_val opq[3];
    if (!opaque(w, opq)) {
        w->failed = true;
        return 0;
    }
    int n = 0;
    for (int k = 0; k < d->n; k++) {
        if (never_holds(w, &d->c[k], opq)) continue;
        bounds bk = conj_bounds(w, &d->c[k], fx, a, b, g_len);
        slot[n == 0 ? 0 : 1] = n <= 1 ? bk : hull(w, slot[1], bk);
        n++;
    }
    return n;
}

int fe_mask_slots(fe_func *F, const fe_fnval *mask, src_loc loc)
{
    walk w = {.F = F, .loc = loc};
    fe_val opq[3];
    if (!opaque(&w, opq)) return -1;
    fe_val args[6] = {opq[0], opq[1], opq[2], opq[2], opq[0], opq[1]};
    dnf d = mask_dnf(&w, mask, args);
    if (w.failed) return -1;
    fe_val zero = fe_int(0);
    bounds slot[2] = {{zero, zero, zero, zero}, {zero, zero, zero, zero}};
    int n = fill_slots(&w, &d, 0, opq[0], opq[1], opq[2], slot);
    if (w.failed) return -1;
    return n >= 2 ? 2 : 1;
}

fe_val fe_mask_bounds(fe_func *F, const fe_fnval *mask, const fe_val *args, bool keys, src_loc loc)
{
    walk w = {.F = F, .loc = loc};
    fe_val vals[6] = {args[0], args[1], args[2], args[2], args[4], args[5]};
    dnf d = mask_dnf(&w, mask, vals);
    if (w.failed) return fe_err();
    int fx = keys ? 0 : 1;
    fe_val a = args[2], b = ebin(&w, AST_OP_SUB, args[3], fe_int(1));
    fe_val g_len = keys ? args[5] : args[4];
    fe_val zero = fe_int(0);
    bounds slot[2] = {{zero, zero, zero, zero}, {zero, zero, zero, zero}};
    fill_slots(&w, &d, fx, a, b, g_len, slot);
    if (w.failed) return fe_err();
    fe_val *items = arena_calloc(F->cx->mem, 8, sizeof *items);
    if (!items) {
        fe_oom(F->cx);
        return fe_err();
    }
    for (int s = 0; s < 2; s++) {
        const fe_val v[4] = {slot[s].lo, slot[s].hi, slot[s].flo, slot[s].fhi};
        for (int k = 0; k < 4; k++) {
            items[s * 4 + k] = v[k];
            if (v[k].kind != FE_INT) {
                ir_value *x = as_ir(&w, v[k], IR_I32);
                if (!x) return fe_err();
                items[s * 4 + k] = fe_tile(x, false);
            }
        }
    }
    return (fe_val){.kind = FE_TUPLE, .u.tup = {8, items}};
}
