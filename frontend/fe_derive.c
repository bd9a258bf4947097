/* fe_derive.c - derivative(f, x, ...): the derivative of an fn value with
 * respect to one of its arguments, derived by the compiler.
 *
 * How.  Forward mode over the IR of the fn's instance: the call
 * f(x, ...) is lowered as usual (so the fn is checked, monomorphised and
 * its captures resolved exactly as for a call), then the instance is
 * walked once in program order and copied into a new fn that computes,
 * beside each value v, its tangent dv/dx (the chain rule, one rule per
 * elementwise op); the copy returns the tangents of the results and the
 * call is redirected to it.  A tangent that is zero (a value that does not
 * depend on x: an index, a load, a constant) is absent, not a tile of
 * zeros, so no op is emitted for it and the derivative of the identity is
 * the constant 1 itself, which `dS * 1` folds away.  Calls inside the fn
 * are walked through (inlined into the derivative), so nested fns need no
 * derivative functions of their own.
 *
 * Why forward mode over the IR, not reverse mode or the AST.  The fns this
 * serves (score modifiers) are elementwise in x: each result element
 * depends on the element of x at the same index, so the Jacobian is
 * diagonal and one forward sweep with the tangent 1 gives all of it, with
 * no tape and no reversed control flow.  The IR instance has constants
 * folded, names resolved, fns partially applied and captures bound, so the
 * rules see only the few dozen ops of the op table, not the surface
 * syntax.  To keep the Jacobian diagonal (and the result honest), an op
 * that moves elements (a reduction, dot, trans, slicing, a broadcast of a
 * tile of x) is an error when it touches x, as is an op without a
 * derivative (floor, round, %, argmax, a cast to an integer, a loop or a
 * runtime if over x); a comparison of x may only choose (the condition of
 * where / a load mask): the derivative of where is that of the chosen
 * branch.  Conventions at the kinks: max(a, b) follows a where a >= b,
 * min(a, b) where a <= b (clamp is max then min), abs'(0) = 0.
 * docs/language.md ("derivative") is the user's description. */
#include "fe_lower.h"

#include <math.h>
#include <string.h>

#define LN2 0.69314718055994530942
#define TWO_OVER_SQRT_PI 1.12837916709551257390

typedef struct dctx {
    fe_ctx *cx;
    ir_builder b;               /* inside the derivative fn */
    ir_value_map prim;          /* source value -> its copy */
    ir_value_map tan;           /* source value -> its tangent (absent: 0) */
    ir_value_map cmp;           /* bool source value -> the comparison of x it
                                   depends on (absent: none) */
    const char *fname;          /* the fn differentiated, and its parameter */
    const char *xname;
    /* accumulate_grad only: the tensor differentiated against.  wt marks
     * the values that are that tensor (a parameter of each fn walked);
     * the load of it numbered `seed_load` (program order, from 0) gets the
     * tangent 1 and its copy is kept in `seeded`. */
    ir_value_map wt;
    int seed_load, nloads;
    ir_op *seeded;
    bool failed, oom;
} dctx;

/* The call chain inside the fn, for the notes of an error. */
typedef struct dlevel {
    const ir_op *call;          /* the CALL that entered this level */
    const ir_func *caller;
    const struct dlevel *up;
} dlevel;

/* A map entry, or NULL (ir_value_map_get returns the key when absent). */
static ir_value *entry(const ir_value_map *m, const ir_value *v)
{
    return v && v->id >= 0 && v->id < m->n ? m->to[v->id] : NULL;
}

/* Sets (or, with NULL, clears: an fn called twice is walked twice) an entry. */
static void set(dctx *D, ir_value_map *m, const ir_value *from, ir_value *to)
{
    if (!ir_value_map_set(m, from, to)) D->oom = true;
}

/* op's results have no tangent and no deciding comparison. */
static void clear_results(dctx *D, const ir_op *op)
{
    for (int i = 0; i < op->nresults; i++) {
        set(D, &D->tan, op->results[i], NULL);
        set(D, &D->cmp, op->results[i], NULL);
    }
}

/* An fn instance's name as the user wrote it ("alibi", not "alibi.2"). */
static const char *user_name(fe_ctx *cx, const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || !dot[1] || strspn(dot + 1, "0123456789") != strlen(dot + 1)) return name;
    return arena_strndup(cx->mem, name, (size_t)(dot - name));
}

/* How the user spells an op in messages. */
static const char *op_word(fe_ctx *cx, const ir_op *op)
{
    switch (op->code) {
    case IR_OP_CAST:
        return arena_printf(cx->mem, "cast<%s>", ir_dtype_name(op->results[0]->type.dtype));
    case IR_OP_REM: return "%";
    case IR_OP_SHL: return "<<";
    case IR_OP_SHR: return ">>";
    case IR_OP_REDUCE_SUM: return "sum";
    case IR_OP_REDUCE_MAX: return "max (a reduction)";
    case IR_OP_REDUCE_MIN: return "min (a reduction)";
    case IR_OP_SCAN: return "associative_scan";
    case IR_OP_SLICE: return "slicing";
    case IR_OP_FOR: return "a for loop";
    case IR_OP_WHILE: return "a while loop";
    case IR_OP_IF: return "a runtime if";
    case IR_OP_EXPAND_DIMS: return "None (expand_dims)";
    default: return ir_op_table[op->code].name;
    }
}

/* Reports an error at op, with a note at `why` (if not NULL) and one per
 * call level up to the fn. */
static void fail_at(dctx *D, const dlevel *lv, const ir_op *op, const char *msg,
                    const ir_op *why, const char *why_msg)
{
    diag_error(D->cx->d, op->loc, "%s", msg);
    if (why) diag_note(D->cx->d, why->loc, "%s", why_msg);
    for (; lv && lv->call; lv = lv->up)
        diag_note(D->cx->d, lv->call->loc, "in call to '%s' from '%s'",
                  user_name(D->cx, lv->call->attr.callee->name), user_name(D->cx, lv->caller->name));
    D->failed = true;
}

/* Ops that move or combine elements across indices. */
static bool moves_elements(const ir_op *op)
{
    switch (op->code) {
    case IR_OP_BROADCAST: case IR_OP_RESHAPE: case IR_OP_EXPAND_DIMS: case IR_OP_TRANS:
    case IR_OP_SLICE: case IR_OP_CONCAT: case IR_OP_REDUCE_SUM: case IR_OP_REDUCE_MAX:
    case IR_OP_REDUCE_MIN: case IR_OP_CUMSUM: case IR_OP_SCAN: case IR_OP_DOT:
    case IR_OP_ARGMAX: case IR_OP_ARGMIN:
        return true;
    default:
        return false;
    }
}

static void no_derivative(dctx *D, const dlevel *lv, const ir_op *op)
{
    const char *msg =
        moves_elements(op)
            ? arena_printf(D->cx->mem, "'%s' moves the elements of a value that depends on '%s': "
                           "a derivative is taken elementwise (each element of the result may "
                           "depend only on the element of '%s' at its own index)",
                           op_word(D->cx, op), D->xname, D->xname)
            : arena_printf(D->cx->mem, "'%s' has no derivative (it is applied to a value that "
                           "depends on '%s')", op_word(D->cx, op), D->xname);
    fail_at(D, lv, op, msg, NULL, NULL);
}

/* ---- building tangents (NULL operands are zero) ----------------------- */

static ir_value *chk(dctx *D, ir_value *v)
{
    if (!v) D->oom = true;
    return v;
}

static ir_value *konst(dctx *D, const ir_value *like, double v)
{
    const ir_type *t = &like->type;
    return chk(D, ir_const_float(&D->b, t->dtype, v, t->rank, t->shape));
}

static ir_value *un(dctx *D, ir_opcode code, ir_value *x)
{
    return x ? chk(D, ir_unary(&D->b, code, x)) : NULL;
}

static ir_value *bin(dctx *D, ir_opcode code, ir_value *x, ir_value *y)
{
    return x && y ? chk(D, ir_binary(&D->b, code, x, y)) : NULL;
}

static ir_value *tadd(dctx *D, ir_value *a, ir_value *b)
{
    return !a ? b : !b ? a : bin(D, IR_OP_ADD, a, b);
}

static ir_value *tsub(dctx *D, ir_value *a, ir_value *b)
{
    return !b ? a : !a ? un(D, IR_OP_NEG, b) : bin(D, IR_OP_SUB, a, b);
}

/* t * f, where f is only built when t is not zero. */
#define TMUL(D, t, f) ((t) ? bin((D), IR_OP_MUL, (t), (f)) : NULL)

static ir_value *or_zero(dctx *D, ir_value *t, const ir_value *like)
{
    return t ? t : konst(D, like, 0.0);
}

/* where(c, ta, tb) of two tangents, either may be zero. */
static ir_value *tselect(dctx *D, ir_value *c, ir_value *ta, ir_value *tb, const ir_value *like)
{
    if (!ta && !tb) return NULL;
    return chk(D, ir_select(&D->b, c, or_zero(D, ta, like), or_zero(D, tb, like)));
}

/* ---- the walk ---------------------------------------------------------- */

static bool walk_func(dctx *D, const ir_func *f, const dlevel *lv, ir_value *const *args,
                      ir_value *const *targs, ir_value *const *cargs, ir_value **res,
                      ir_value **tres, ir_value **cres);

/* Does op (or an op in its regions) use a value with a tangent or one that
 * a comparison of x decides? */
static bool active(const dctx *D, const ir_op *op)
{
    for (int i = 0; i < op->noperands; i++)
        if (entry(&D->tan, op->operands[i]) || entry(&D->cmp, op->operands[i]) ||
            entry(&D->wt, op->operands[i]))
            return true;
    for (int r = 0; r < op->nblocks; r++)
        for (const ir_op *in = op->blocks[r] ? op->blocks[r]->first : NULL; in; in = in->next)
            if (active(D, in)) return true;
    return false;
}

/* The comparison of x behind operand i of op, or NULL. */
static const ir_value *decided_by(const dctx *D, const ir_op *op, int i)
{
    return entry(&D->cmp, op->operands[i]);
}

/* May operand i of op be decided by a comparison of x?  Only where it
 * chooses: where's condition, a load's mask, bool logic and comparisons
 * (which pass it on), an assert or a print. */
static bool may_choose(const ir_op *op, int i)
{
    switch (op->code) {
    case IR_OP_SELECT: return i == 0;
    case IR_OP_NOT: case IR_OP_AND: case IR_OP_OR: case IR_OP_XOR:
        return op->results[0]->type.dtype == IR_BOOL;
    case IR_OP_LOAD: case IR_OP_ASSERT: case IR_OP_PRINT: return true;
    default: return (ir_op_table[op->code].flags & IR_CMP) != 0;
    }
}

/* An op that moves or spreads elements is allowed on a tangent only when
 * the tangent has one element (a scalar x broadcast to the result). */
static bool spreads(const ir_op *op)
{
    return op->code == IR_OP_BROADCAST || op->code == IR_OP_RESHAPE ||
           op->code == IR_OP_EXPAND_DIMS;
}

/* The same op applied to the tangent t of its operand (a scalar). */
static ir_value *same_op(dctx *D, const ir_op *op, ir_value *t)
{
    ir_value_map tmp = {0};
    ir_value *out = NULL;
    if (ir_value_map_set(&tmp, op->operands[0], t)) {
        ir_op *copy = ir_clone_op(&D->b, op, &tmp);
        out = copy ? copy->results[0] : NULL;
    }
    ir_value_map_free(&tmp);
    return chk(D, out);
}

/* The tangent of a one-operand float op with result r, operand x and
 * operand tangent t (not zero); NULL with *known false for an op without
 * a rule. */
static ir_value *unary_rule(dctx *D, const ir_op *op, ir_value *x, ir_value *r, ir_value *t,
                            bool *known)
{
    *known = true;
    switch (op->code) {
    case IR_OP_NEG: return un(D, IR_OP_NEG, t);
    case IR_OP_ABS: {
        ir_value *zero = konst(D, x, 0.0);
        ir_value *flipped = chk(D, ir_select(&D->b, bin(D, IR_OP_CMP_LT, x, zero),
                                            un(D, IR_OP_NEG, t), t));
        return chk(D, ir_select(&D->b, bin(D, IR_OP_CMP_EQ, x, zero), zero, flipped));
    }
    case IR_OP_EXP: return bin(D, IR_OP_MUL, t, r);
    case IR_OP_EXP2: return bin(D, IR_OP_MUL, t, bin(D, IR_OP_MUL, r, konst(D, r, LN2)));
    case IR_OP_EXPM1: return bin(D, IR_OP_MUL, t, bin(D, IR_OP_ADD, r, konst(D, r, 1.0)));
    case IR_OP_LOG: return bin(D, IR_OP_DIV, t, x);
    case IR_OP_LOG2: return bin(D, IR_OP_DIV, t, bin(D, IR_OP_MUL, x, konst(D, x, LN2)));
    case IR_OP_LOG1P: return bin(D, IR_OP_DIV, t, bin(D, IR_OP_ADD, x, konst(D, x, 1.0)));
    case IR_OP_SQRT: return bin(D, IR_OP_DIV, bin(D, IR_OP_MUL, t, konst(D, t, 0.5)), r);
    case IR_OP_RSQRT: {
        ir_value *r3 = bin(D, IR_OP_MUL, bin(D, IR_OP_MUL, r, r), r);
        return bin(D, IR_OP_MUL, t, bin(D, IR_OP_MUL, r3, konst(D, r, -0.5)));
    }
    case IR_OP_SIGMOID:
        return bin(D, IR_OP_MUL, t,
                   bin(D, IR_OP_MUL, r, bin(D, IR_OP_SUB, konst(D, r, 1.0), r)));
    case IR_OP_TANH:
        return bin(D, IR_OP_MUL, t, bin(D, IR_OP_SUB, konst(D, r, 1.0), bin(D, IR_OP_MUL, r, r)));
    case IR_OP_SIN: return bin(D, IR_OP_MUL, t, un(D, IR_OP_COS, x));
    case IR_OP_COS: return un(D, IR_OP_NEG, bin(D, IR_OP_MUL, t, un(D, IR_OP_SIN, x)));
    case IR_OP_ERF: {
        ir_value *g = un(D, IR_OP_EXP, un(D, IR_OP_NEG, bin(D, IR_OP_MUL, x, x)));
        return bin(D, IR_OP_MUL, t, bin(D, IR_OP_MUL, g, konst(D, x, TWO_OVER_SQRT_PI)));
    }
    case IR_OP_CAST:
        if (!ir_dtype_is_float(r->type.dtype)) break;
        return chk(D, ir_cast(&D->b, t, r->type.dtype));
    default: break;
    }
    *known = false;
    return NULL;
}

/* The tangent of a two- or three-operand op; x[i] the copied operands,
 * t[i] their tangents (some not zero), r the copied result. */
static ir_value *nary_rule(dctx *D, const dlevel *lv, const ir_op *op, ir_value *const *x,
                           ir_value *const *t, ir_value *r, bool *known)
{
    *known = true;
    switch (op->code) {
    case IR_OP_ADD: return tadd(D, t[0], t[1]);
    case IR_OP_SUB: return tsub(D, t[0], t[1]);
    case IR_OP_MUL: return tadd(D, TMUL(D, t[0], x[1]), TMUL(D, t[1], x[0]));
    case IR_OP_DIV:  /* (ta - r tb) / b */
        return bin(D, IR_OP_DIV, tsub(D, t[0], TMUL(D, t[1], r)), x[1]);
    case IR_OP_MAX: case IR_OP_MIN: {
        ir_opcode keep = op->code == IR_OP_MAX ? IR_OP_CMP_GE : IR_OP_CMP_LE;
        return tselect(D, bin(D, keep, x[0], x[1]), t[0], t[1], r);
    }
    case IR_OP_POW:
        if (t[1]) {
            fail_at(D, lv, op, arena_printf(D->cx->mem, "'pow' has no derivative here: its exponent "
                                            "depends on '%s' (x ** c has one where c does not)",
                                            D->xname), NULL, NULL);
            return NULL;
        }
        return bin(D, IR_OP_MUL, t[0],
                   bin(D, IR_OP_MUL, x[1],
                       bin(D, IR_OP_POW, x[0], bin(D, IR_OP_SUB, x[1], konst(D, x[1], 1.0)))));
    case IR_OP_FMA:
        return tadd(D, tadd(D, TMUL(D, t[0], x[1]), TMUL(D, t[1], x[0])), t[2]);
    case IR_OP_SELECT: return tselect(D, x[0], t[1], t[2], r);
    default: break;
    }
    *known = false;
    return NULL;
}

/* Reports a comparison of x used where it does not only choose. */
static bool check_choices(dctx *D, const dlevel *lv, const ir_op *op)
{
    for (int i = 0; i < op->noperands; i++) {
        const ir_value *c = decided_by(D, op, i);
        if (!c || may_choose(op, i)) continue;
        fail_at(D, lv, op, arena_printf(D->cx->mem, "'%s' of a comparison that depends on '%s' has "
                                        "no derivative", op_word(D->cx, op), D->xname),
                c->def, arena_printf(D->cx->mem, "the comparison is here (a comparison of '%s' "
                                     "can only choose between values, as the condition of "
                                     "where)", D->xname));
        return false;
    }
    return true;
}

/* Walks a CALL whose arguments depend on x through its callee. */
static void walk_call(dctx *D, const dlevel *lv, const ir_func *caller, const ir_op *op)
{
    int n = op->noperands, nr = op->nresults;
    ir_value **v = arena_calloc(D->cx->mem, (size_t)(3 * n + 3 * nr) + 1, sizeof *v);
    if (!v) {
        D->oom = true;
        return;
    }
    for (int i = 0; i < n; i++) {
        v[i] = ir_value_map_get(&D->prim, op->operands[i]);
        v[n + i] = entry(&D->tan, op->operands[i]);
        v[2 * n + i] = entry(&D->cmp, op->operands[i]);
    }
    ir_value **res = v + 3 * n, **tres = res + nr, **cres = tres + nr;
    dlevel inner = {.call = op, .caller = caller, .up = lv};
    for (int i = 0; i < n; i++)     /* the tensor differentiated against, passed on */
        set(D, &D->wt, op->attr.callee->body->args[i],
            entry(&D->wt, op->operands[i]) ? op->attr.callee->body->args[i] : NULL);
    if (!walk_func(D, op->attr.callee, &inner, v, v + n, v + 2 * n, res, tres, cres)) return;
    for (int i = 0; i < nr; i++) {
        set(D, &D->prim, op->results[i], res[i]);
        set(D, &D->tan, op->results[i], tres[i]);
        set(D, &D->cmp, op->results[i], cres[i]);
    }
}

/* A load of the tensor of accumulate_grad: copied; the one this sweep
 * differentiates against gets the tangent 1 (its other operands, indices
 * and mask, never depend on a loaded value: they are integers and bools). */
static bool walk_grad_load(dctx *D, const ir_op *op)
{
    ir_op *copy = ir_clone_op(&D->b, op, &D->prim);
    if (!copy) {
        D->oom = true;
        return false;
    }
    clear_results(D, op);
    if (D->nloads++ != D->seed_load) return true;
    D->seeded = copy;
    set(D, &D->tan, op->results[0], konst(D, copy->results[0], 1.0));
    return !D->oom;
}

/* Copies op and gives its results their tangents.  False after an error. */
static bool walk_op(dctx *D, const dlevel *lv, const ir_func *f, const ir_op *op)
{
    D->b.loc = op->loc;
    if (!active(D, op)) {
        if (!ir_clone_op(&D->b, op, &D->prim)) D->oom = true;
        clear_results(D, op);
        return !D->oom;
    }
    if (!check_choices(D, lv, op)) return false;
    if (op->code == IR_OP_LOAD && entry(&D->wt, op->operands[0])) return walk_grad_load(D, op);
    if (op->code == IR_OP_CALL) {
        walk_call(D, lv, f, op);
        return !D->failed && !D->oom;
    }
    bool has_tan = false;
    for (int i = 0; i < op->noperands; i++) has_tan |= entry(&D->tan, op->operands[i]) != NULL;
    if (op->nblocks > 0 || (has_tan && spreads(op) && ir_type_numel(&op->operands[0]->type) != 1)) {
        no_derivative(D, lv, op);
        return false;
    }
    ir_op *copy = ir_clone_op(&D->b, op, &D->prim);
    if (!copy) {
        D->oom = true;
        return false;
    }
    unsigned flags = ir_op_table[op->code].flags;
    clear_results(D, op);
    if (!has_tan) {
        /* Only chosen by a comparison of x: a comparison or bool logic
         * passes it on; the rest (where's condition, a mask) is constant. */
        if (flags & IR_CMP || op->code == IR_OP_NOT || op->code == IR_OP_AND ||
            op->code == IR_OP_OR || op->code == IR_OP_XOR) {
            const ir_value *c = NULL;
            for (int i = 0; i < op->noperands && !c; i++) c = decided_by(D, op, i);
            set(D, &D->cmp, op->results[0], (ir_value *)c);
        }
        return true;
    }
    if (flags & IR_CMP) {            /* a comparison of x: it may only choose */
        set(D, &D->cmp, op->results[0], op->results[0]);
        return true;
    }
    if (op->code == IR_OP_STORE || op->code == IR_OP_ATOMIC_ADD || op->code == IR_OP_PRINT ||
        op->code == IR_OP_ASSERT)
        return true;                 /* effects happen again; no values */
    ir_value *x[3] = {0}, *t[3] = {0};
    for (int i = 0; i < op->noperands && i < 3; i++) {
        x[i] = copy->operands[i];
        t[i] = entry(&D->tan, op->operands[i]);
    }
    ir_value *r = copy->nresults ? copy->results[0] : NULL;
    bool known = false;
    ir_value *tr = NULL;
    if (spreads(op)) {
        tr = same_op(D, op, t[0]);
        known = true;
    } else if (op->noperands == 1 && (flags & IR_ELEMENTWISE)) {
        tr = unary_rule(D, op, x[0], r, t[0], &known);
    } else if (flags & IR_ELEMENTWISE) {
        tr = nary_rule(D, lv, op, x, t, r, &known);
        if (D->failed) return false;
    }
    if (!known) {
        no_derivative(D, lv, op);
        return false;
    }
    set(D, &D->tan, op->results[0], tr);
    return !D->oom;
}

/* Walks fn f's body with its parameters bound to args (copies), targs
 * (tangents) and cargs (deciding comparisons); gives its results' copies,
 * tangents and comparisons.  False after an error. */
static bool walk_func(dctx *D, const ir_func *f, const dlevel *lv, ir_value *const *args,
                      ir_value *const *targs, ir_value *const *cargs, ir_value **res,
                      ir_value **tres, ir_value **cres)
{
    const ir_block *body = f->body;
    for (int i = 0; i < body->nargs; i++) {
        set(D, &D->prim, body->args[i], args[i]);
        set(D, &D->tan, body->args[i], targs[i]);
        set(D, &D->cmp, body->args[i], cargs[i]);
    }
    for (const ir_op *op = body->first; op; op = op->next) {
        if (op->code == IR_OP_RETURN) {
            for (int i = 0; i < op->noperands; i++) {
                res[i] = ir_value_map_get(&D->prim, op->operands[i]);
                tres[i] = entry(&D->tan, op->operands[i]);
                cres[i] = entry(&D->cmp, op->operands[i]);
            }
            return true;
        }
        if (!walk_op(D, lv, f, op)) return false;
    }
    return false;
}

/* ---- the derivative fn and its cache ----------------------------------- */

struct fe_deriv {
    const ir_func *f;
    int wrt;
    ir_func *d;                 /* NULL when it had errors */
    struct fe_deriv *next;
};

static const char *deriv_name(fe_ctx *cx, const ir_func *f, int wrt)
{
    const char *base = arena_printf(cx->mem, "%s.d%d", f->name, wrt);
    if (!base || !ir_module_find(cx->m, base)) return base;
    for (int n = 2;; n++) {
        const char *name = arena_printf(cx->mem, "%s.%d", base, n);
        if (!name || !ir_module_find(cx->m, name)) return name;
    }
}

/* Ends d's body with the tangents (zeros where none). */
static void end_derivative(dctx *D, const ir_func *f, ir_value **tres)
{
    ir_value **rv = arena_calloc(D->cx->mem, (size_t)f->nresults + 1, sizeof *rv);
    if (!rv) {
        D->oom = true;
        return;
    }
    for (int i = 0; i < f->nresults; i++) {
        const ir_type *t = &f->result_types[i];
        rv[i] = tres && tres[i] ? tres[i]
                                : chk(D, ir_const_float(&D->b, t->dtype, 0.0, t->rank, t->shape));
        if (!rv[i]) return;
    }
    if (!ir_build(&D->b, IR_OP_RETURN, f->nresults, rv, 0, NULL, 0)) D->oom = true;
}

/* Builds the fn that returns d(results of f)/d(parameter wrt). */
static ir_func *build_derivative(fe_ctx *cx, const ir_func *f, int wrt)
{
    const char *name = deriv_name(cx, f, wrt);
    ir_func *d = name ? ir_func_new(cx->m, name, IR_FUNC_FN, f->loc) : NULL;
    int n = f->nparams, nr = f->nresults;
    ir_value **v = arena_calloc(cx->mem, (size_t)(3 * n + 3 * nr) + 1, sizeof *v);
    if (!d || !v) {
        fe_oom(cx);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (!(v[i] = ir_func_add_param(d, &f->params[i]))) {
            fe_oom(cx);
            return NULL;
        }
    ir_func_set_results(d, nr, f->result_types);
    dctx D = {.cx = cx, .fname = user_name(cx, f->name), .xname = f->params[wrt].name};
    ir_builder_at_end(&D.b, d->body);
    D.b.m = cx->m;
    D.b.f = d;
    D.b.loc = f->loc;
    v[n + wrt] = konst(&D, v[wrt], 1.0);
    ir_value **res = v + 3 * n, **tres = res + nr, **cres = tres + nr;
    bool ok = walk_func(&D, f, NULL, v, v + n, v + 2 * n, res, tres, cres) && !D.oom;
    for (int i = 0; ok && i < nr; i++)
        if (cres[i] && !tres[i]) {
            diag_error(cx->d, f->loc, "internal error: derivative: result %d is a comparison", i);
            ok = false;
        }
    end_derivative(&D, f, ok ? tres : NULL);   /* a well-formed fn either way */
    ir_value_map_free(&D.prim);
    ir_value_map_free(&D.tan);
    ir_value_map_free(&D.cmp);
    ir_value_map_free(&D.wt);
    if (D.oom) fe_oom(cx);
    return ok && !D.oom ? d : NULL;
}

/* The derivative fn of instance f with respect to parameter wrt, built
 * once per compilation; NULL when it had errors (reported the first time). */
static ir_func *derivative_of(fe_ctx *cx, const ir_func *f, int wrt, bool *fresh)
{
    for (const fe_deriv *e = cx->derivs; e; e = e->next)
        if (e->f == f && e->wrt == wrt) {
            *fresh = false;
            return e->d;
        }
    *fresh = true;
    fe_deriv *e = arena_alloc(cx->mem, sizeof *e);
    if (!e) {
        fe_oom(cx);
        return NULL;
    }
    *e = (fe_deriv){.f = f, .wrt = wrt, .next = cx->derivs};
    cx->derivs = e;
    e->d = build_derivative(cx, f, wrt);
    return e->d;
}

fe_val fe_derivative(fe_func *F, const fe_fnval *fn, const fe_val *args, const src_loc *locs,
                     int nargs, int wrt, src_loc loc)
{
    fe_ctx *cx = F->cx;
    const fe_val *x = &args[wrt];
    if (x->kind == FE_ERR || !fe_check_operand(F, x, locs[wrt])) return fe_err();
    if (!ir_dtype_is_float(fe_val_dtype(x))) {
        diag_error(cx->d, locs[wrt], "'derivative' is taken with respect to a float tile, got %s",
                   fe_describe(cx, x));
        return fe_err();
    }
    int operand = fe_fn_arg_operand(fn, wrt);
    fe_val r = fe_call_fn_values(F, fn, args, nargs, loc);
    if (r.kind == FE_ERR) return r;
    const fe_val *first = r.kind == FE_TUPLE ? &r.u.tup.items[0] : &r;
    ir_op *call = first->kind == FE_TILE && first->u.v->def &&
                  first->u.v->def->code == IR_OP_CALL ? first->u.v->def : NULL;
    if (!call || operand < 0 || operand >= call->noperands) {
        diag_error(cx->d, loc, "'derivative' needs an fn that returns values, and '%s' returns "
                   "none", fn->item->name);
        return fe_err();
    }
    const ir_func *f = call->attr.callee;
    for (int i = 0; i < f->nresults; i++)
        if (!ir_dtype_is_float(f->result_types[i].dtype)) {
            char buf[64];
            diag_error(cx->d, loc, "'derivative' needs float results, and '%s' returns %s",
                       fn->item->name, ir_type_str(&f->result_types[i], buf, sizeof buf));
            return fe_err();
        }
    diag *mark = cx->d->last;
    bool fresh;
    ir_func *d = derivative_of(cx, f, operand, &fresh);
    if (fresh)
        fe_note_since(cx, mark, loc, "in the derivative of '%s' with respect to '%s', taken here",
                      fn->item->name, f->params[operand].name);
    if (!d) return fe_err();
    ir_op *dcall = fe_build(F, loc, IR_OP_CALL, call->noperands, call->operands, d->nresults,
                            d->result_types, 0);
    if (!dcall) return fe_err();
    dcall->attr.callee = d;
    ir_op_erase(call);
    if (d->nresults == 1) return fe_tile(dcall->results[0], false);
    fe_val *items = arena_calloc(cx->mem, (size_t)d->nresults, sizeof *items);
    if (!items) {
        fe_oom(cx);
        return fe_err();
    }
    for (int i = 0; i < d->nresults; i++) items[i] = fe_tile(dcall->results[i], false);
    return (fe_val){.kind = FE_TUPLE, .u.tup = {d->nresults, items}};
}

/* ---- accumulate_grad: the gradient of a tensor the fn reads -------------
 *
 * The same forward sweep, with the value of one load of the tensor as the
 * variable: seed the load's result with the tangent 1, walk f, and the
 * tangent of the result is d result / d (the element loaded), elementwise.
 * Each element of the result reads one element of the tensor through that
 * load, so the vector-Jacobian product is seed * tangent added at the
 * load's own indices (an atomic_add with the load's mask), or summed over
 * the whole tile when the load reads one element (a per-head scalar).  A
 * fn that loads the tensor k times takes k sweeps; the ops they share are
 * merged by CSE after inlining.  The ops are built in the caller, where
 * the seed, the mask and the gradient tensor are. */

/* Has the gradient of instance f with respect to its tensor parameter
 * `param` failed before (its errors are reported once)?  With record, it
 * has now.  Kept in the derivative cache with wrt = -2 - param. */
static bool failed_before(fe_ctx *cx, const ir_func *f, int param, bool record)
{
    for (const fe_deriv *e = cx->derivs; e; e = e->next)
        if (e->f == f && e->wrt == -2 - param) return true;
    if (!record) return false;
    fe_deriv *e = arena_alloc(cx->mem, sizeof *e);
    if (!e) return false;
    *e = (fe_deriv){.f = f, .wrt = -2 - param, .next = cx->derivs};
    cx->derivs = e;
    return false;
}

/* Reduces every element of v with `code` (REDUCE_SUM/MIN/MAX) to a scalar. */
static ir_value *reduce_all(dctx *D, ir_opcode code, ir_value *v)
{
    while (v && v->type.rank > 0) {
        ir_type t = ir_type_tile(v->type.dtype, v->type.rank - 1, v->type.shape + 1);
        ir_op *op = ir_build(&D->b, code, 1, &v, 1, &t, 0);
        if (!op) {
            D->oom = true;
            return NULL;
        }
        op->attr.i = 0;     /* the axis */
        v = op->results[0];
    }
    return v;
}

/* Sums every element of v into a tile of type `like` (one element). */
static ir_value *sum_all(dctx *D, ir_value *v, const ir_type *like)
{
    v = reduce_all(D, IR_OP_REDUCE_SUM, v);
    return v && like->rank > 0 ? chk(D, ir_reshape(&D->b, v, like->rank, like->shape)) : v;
}

/* atomic_add(into[idx...], value, mask: mask) (mask may be NULL). */
static void emit_add(dctx *D, const fe_grad *g, ir_value *const *idx, ir_value *value,
                     ir_value *mask)
{
    ir_value *ops[IR_MAX_RANK + 3];
    int n = 0;
    ops[n++] = g->into->v;
    for (int k = 0; k < g->wrt->rank; k++) ops[n++] = idx[k];
    ops[n++] = value;
    if (mask) ops[n++] = mask;
    ir_op *add = ir_build(&D->b, IR_OP_ATOMIC_ADD, n, ops, 0, NULL, 0);
    if (!add) {
        D->oom = true;
        return;
    }
    add->attr.i = mask ? IR_LOAD_HAS_MASK : 0;
}

/* The elementwise contribution value (mask may be NULL) at the tile of
 * indices idx, with one atomic add per element, except when every index
 * tile holds one value (a T5 tile past max_distance reads one bucket):
 * then the tile's masked sum goes in one add.  Contention on one address
 * is what makes many atomic adds slow, and it is highest exactly there. */
static void emit_tile_add(dctx *D, const fe_grad *g, ir_value *const *idx, ir_value *value,
                          ir_value *mask)
{
    int rank = g->wrt->rank;
    ir_value *uniform = NULL, *first[IR_MAX_RANK];
    for (int k = 0; k < rank; k++) {
        first[k] = idx[k];
        if (ir_type_numel(&idx[k]->type) == 1) continue;
        ir_value *lo = reduce_all(D, IR_OP_REDUCE_MIN, idx[k]);
        ir_value *hi = reduce_all(D, IR_OP_REDUCE_MAX, idx[k]);
        ir_value *same = bin(D, IR_OP_CMP_EQ, lo, hi);
        first[k] = lo;
        uniform = uniform ? bin(D, IR_OP_AND, uniform, same) : same;
    }
    if (!uniform || D->oom) {
        if (!D->oom) emit_add(D, g, idx, value, mask);
        return;
    }
    ir_op *op = ir_build(&D->b, IR_OP_IF, 1, &uniform, 0, NULL, 2);
    ir_builder outer = D->b;
    for (int r = 0; op && r < 2 && !D->oom; r++) {
        ir_block *blk = ir_op_new_region(op, r, 0, NULL);
        if (!blk) break;
        ir_builder_at_end(&D->b, blk);
        D->b.loc = outer.loc;
        if (r == 0) {
            ir_value *v = mask ? chk(D, ir_select(&D->b, mask, value, konst(D, value, 0.0))) : value;
            ir_value *scalar[IR_MAX_RANK];
            for (int k = 0; k < rank; k++)
                scalar[k] = first[k]->type.rank == 0 ? first[k]
                                                     : chk(D, ir_reshape(&D->b, first[k], 0, NULL));
            if (v) emit_add(D, g, scalar, reduce_all(D, IR_OP_REDUCE_SUM, v), NULL);
        } else {
            emit_add(D, g, idx, value, mask);
        }
        if (!ir_build(&D->b, IR_OP_YIELD, 0, NULL, 0, NULL, 0)) D->oom = true;
    }
    if (!op || !op->blocks[0] || !op->blocks[1]) D->oom = true;
    D->b = outer;
}

/* seed * tangent added to g->into at the indices of the seeded load. */
static void add_contribution(dctx *D, const fe_grad *g, ir_value *seed, ir_value *mask,
                             ir_value *tangent, src_loc load_loc)
{
    const ir_op *ld = D->seeded;
    const ir_type *lt = &ld->results[0]->type;
    if (tangent->type.dtype != IR_F32) tangent = chk(D, ir_cast(&D->b, tangent, IR_F32));
    ir_value *value = bin(D, IR_OP_MUL, seed, tangent);
    ir_value *lmask = ld->attr.i & IR_LOAD_HAS_MASK ? ld->operands[1 + g->wrt->rank] : NULL;
    if (!value) return;
    if (ir_type_numel(lt) == 1 && ir_type_numel(&value->type) != 1) {
        /* one element for the whole tile: the masked sum, under the load's
         * own mask (one element too) */
        if (mask) value = chk(D, ir_select(&D->b, mask, value, konst(D, value, 0.0)));
        value = sum_all(D, value, lt);
        if (value) emit_add(D, g, ld->operands + 1, value, lmask);
        return;
    }
    if (lmask && mask) mask = bin(D, IR_OP_AND, lmask, mask);
    else if (lmask) mask = lmask;
    if (!ir_type_same_shape(lt, &value->type)) {
        char a[64], b[64];
        diag_error(D->cx->d, load_loc, "accumulate_grad: this load of '%s' reads %s, but the "
                   "result of '%s' is %s: each element of the result must read the element of "
                   "'%s' at its own index, or all of them one element",
                   g->wrt->name, ir_type_str(lt, a, sizeof a), D->fname,
                   ir_type_str(&value->type, b, sizeof b), g->wrt->name);
        D->failed = true;
        return;
    }
    emit_tile_add(D, g, ld->operands + 1, value, mask);
}

/* The sweeps over call f(operands) for the loads of the tensor bound to the
 * parameters marked in D->wt.  False after an error. */
static bool grad_sweeps(dctx *D, const fe_grad *g, const ir_op *call, ir_value *seed,
                        ir_value *mask)
{
    const ir_func *f = call->attr.callee;
    int n = call->noperands;
    ir_value **v = arena_calloc(D->cx->mem, (size_t)(3 * n + 3) + 1, sizeof *v);
    if (!v) {
        D->oom = true;
        return false;
    }
    for (int i = 0; i < n; i++) v[i] = call->operands[i];
    for (int sweep = 0;; sweep++) {
        for (int i = 0; i < n; i++)
            set(D, &D->wt, f->body->args[i], call->operands[i] == g->wrt->v ? f->body->args[i] : NULL);
        D->seed_load = sweep;
        D->nloads = 0;
        D->seeded = NULL;
        ir_value **res = v + 3 * n, **tres = res + 1, **cres = tres + 1;
        if (!walk_func(D, f, NULL, v, v + n, v + 2 * n, res, tres, cres) || D->oom) return false;
        if (!D->seeded) return true;
        if (tres[0]) add_contribution(D, g, seed, mask, tres[0], D->seeded->loc);
        if (D->failed || D->oom) return false;
    }
}

fe_val fe_accumulate_grad(fe_func *F, const fe_grad *g)
{
    fe_ctx *cx = F->cx;
    fe_val r = fe_call_fn_values(F, g->fn, g->args, g->nargs, g->loc);
    if (r.kind == FE_ERR) return r;
    ir_op *call = r.kind == FE_TILE && r.u.v->def && r.u.v->def->code == IR_OP_CALL
                      ? r.u.v->def : NULL;
    if (!call || call->nresults != 1 || !ir_dtype_is_float(call->results[0]->type.dtype)) {
        diag_error(cx->d, g->loc, "'accumulate_grad' needs an fn that returns one float tile, "
                   "and '%s' does not", g->fn->item->name);
        return fe_err();
    }
    const ir_func *f = call->attr.callee;
    int param = -1;
    for (int i = 0; i < call->noperands && param < 0; i++)
        if (call->operands[i] == g->wrt->v) param = i;
    if (param < 0) {
        diag_error(cx->d, g->wrt_loc, "'%s' is not among the arguments of '%s' (accumulate_grad "
                   "differentiates with respect to a tensor passed to the fn)", g->wrt->name,
                   g->fn->item->name);
        return fe_err();
    }
    const ir_type *rt = &call->results[0]->type;
    ir_value *seed = fe_convert_to(F, g->seed, IR_F32, rt->rank, rt->shape, g->seed_loc, "use",
                                   "as the seed of 'accumulate_grad' (the fn's result)");
    ir_value *mask = !g->mask ? NULL
                     : fe_convert_to(F, g->mask, IR_BOOL, rt->rank, rt->shape, g->mask_loc,
                                     "use", "as the mask of 'accumulate_grad' (the fn's result)");
    if (!seed || (g->mask && !mask)) return fe_err();
    if (failed_before(cx, f, param, false)) return fe_err();
    dctx D = {.cx = cx, .fname = user_name(cx, f->name), .xname = g->wrt->name};
    D.b = F->b;
    diag *mark = cx->d->last;
    bool ok = grad_sweeps(&D, g, call, seed, mask) && !D.oom;
    F->b = D.b;
    ir_value_map_free(&D.prim);
    ir_value_map_free(&D.tan);
    ir_value_map_free(&D.cmp);
    ir_value_map_free(&D.wt);
    if (D.oom) {
        fe_oom(cx);
        return fe_err();
    }
    ir_op_erase(call);
    if (!ok) {
        fe_note_since(cx, mark, g->loc, "in the gradient of '%s' with respect to '%s', taken here",
                      g->fn->item->name, g->wrt->name);
        failed_before(cx, f, param, true);
        return fe_err();
    }
    return fe_unit();
}
