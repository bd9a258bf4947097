/* fe_lower_stmt.c - statements, scopes and structured control flow.
 *
 * Variables are SSA values rebound on assignment: a `var` symbol holds its
 * current IR value.  Loops and ifs find the outer vars their bodies assign
 * (a syntactic pre-scan), pass them in as block arguments / out as results,
 * and rebind the symbols to the op's results afterwards.  An `if` on a
 * compile-time condition lowers only the branch taken.  A var keeps its dtype
 * and shape for life: assignments broadcast to it and only weak values
 * (literals) change dtype.  A tuple assignment evaluates its right side,
 * then assigns each var as a single assignment would.  A runtime assert is an
 * IR ASSERT op; a constant one is decided here, like static_assert.
 *
 * break and continue have no IR op: a loop whose body breaks carries a hidden
 * bool var (FE_BREAK_FLAG) and a continue sets a per-iteration one
 * (FE_CONTINUE_FLAG); the statements after one that may break or continue
 * run under `if !(flags)` (a runtime if, so vars merge as usual), and the
 * loop condition tests the break flag.  A `for` that breaks becomes a while
 * over an i64 counter (no wrap near INT32_MAX); the cond of a `while` that
 * breaks is an `if` that does not evaluate the user's condition again once
 * the flag is set.  The interpreter, -O0 and -O1 all run this one IR. */
#include "fe_lower.h"

#include <string.h>

enum { FE_MAX_NESTING = 200 };

void fe_push_scope(fe_func *F)
{
    fe_scope *sc = arena_alloc(F->cx->mem, sizeof *sc);
    if (!sc) {
        fe_oom(F->cx);
        return;
    }
    sc->parent = F->scope;
    F->scope = sc;
}

void fe_pop_scope(fe_func *F)
{
    if (F->scope) F->scope = F->scope->parent;
}

fe_sym *fe_declare(fe_func *F, const char *name, fe_sym_kind kind, fe_val val, src_loc loc)
{
    fe_ctx *cx = F->cx;
    if (fe_is_builtin_name(name)) {
        diag_error(cx->d, loc, "'%s' is a built-in name and cannot be redefined", name);
        return NULL;
    }
    if (!F->scope) return NULL;
    for (fe_scope *sc = F->scope; sc; sc = sc->continues ? sc->parent : NULL)
        for (fe_sym *s = sc->syms; s; s = s->next)
            if (strcmp(s->name, name) == 0) {
                diag_error(cx->d, loc, "redefinition of '%s'", name);
                diag_note(cx->d, s->loc, "previous definition is here");
                return NULL;
            }
    fe_sym *s = arena_alloc(cx->mem, sizeof *s);
    if (!s) {
        fe_oom(cx);
        return NULL;
    }
    s->name = name;
    s->kind = kind;
    s->val = val;
    s->loc = loc;
    s->next = F->scope->syms;
    F->scope->syms = s;
    return s;
}

void fe_assign_error(fe_ctx *cx, const char *name, fe_sym_kind kind, src_loc loc)
{
    static const char *const what[] = {
        [FE_SYM_LET] = "is declared with let", [FE_SYM_VAR] = "is a var",
        [FE_SYM_CONST] = "is a constant", [FE_SYM_PARAM] = "is a parameter",
        [FE_SYM_LOOP] = "is a loop variable", [FE_SYM_DIM] = "is a tensor dimension",
    };
    diag_error(cx->d, loc, "'%s' %s and cannot be assigned", name, what[kind]);
}

/* ---- the pre-scan: names assigned in a block --------------------------- */

static void add_name(fe_ctx *cx, ptr_vec *names, const char *name)
{
    for (int i = 0; i < names->len; i++)
        if (strcmp(names->items[i], name) == 0) return;
    if (ptr_vec_push(cx->mem, names, (void *)name)) fe_oom(cx);
}

/* `loops`: how many loops inside the scanned block we are; a break or
 * continue at 0 sets the flag of the loop being lowered. */
static void collect_in(fe_ctx *cx, const ast_block *blk, ptr_vec *names, int depth, int loops)
{
    if (!blk || depth > FE_MAX_NESTING) return;
    for (int i = 0; i < blk->stmts.len; i++) {
        const ast_stmt *s = blk->stmts.items[i];
        switch (s->kind) {
        case AST_BREAK: if (!loops) add_name(cx, names, FE_BREAK_FLAG); break;
        case AST_CONTINUE: if (!loops) add_name(cx, names, FE_CONTINUE_FLAG); break;
        case AST_ASSIGN: add_name(cx, names, s->u.assign.name); break;
        case AST_ASSIGN_TUPLE:
            for (int t = 0; t < s->u.tassign.targets.len; t++) {
                const ast_expr *e = s->u.tassign.targets.items[t];
                if (e->kind == AST_NAME) add_name(cx, names, e->u.str);
            }
            break;
        case AST_FOR: collect_in(cx, s->u.for_.body, names, depth + 1, loops + 1); break;
        case AST_WHILE: collect_in(cx, s->u.while_.body, names, depth + 1, loops + 1); break;
        case AST_IF:
            collect_in(cx, s->u.if_.then_, names, depth + 1, loops);
            collect_in(cx, s->u.if_.else_, names, depth + 1, loops);
            break;
        default: break;
        }
    }
}

static void collect_assigned(fe_ctx *cx, const ast_block *blk, ptr_vec *names, int depth)
{
    collect_in(cx, blk, names, depth, 0);
}

enum { EXIT_BREAK = 1, EXIT_CONTINUE = 2 };

static int block_exits(const ast_block *blk, int depth);

/* Does s break or continue the loop it is in (EXIT_* bits)?  Nested loops
 * own theirs. */
static int stmt_exits(const ast_stmt *s, int depth)
{
    if (depth > FE_MAX_NESTING) return 0;
    switch (s->kind) {
    case AST_BREAK: return EXIT_BREAK;
    case AST_CONTINUE: return EXIT_CONTINUE;
    case AST_IF: return block_exits(s->u.if_.then_, depth + 1) | block_exits(s->u.if_.else_, depth + 1);
    default: return 0;
    }
}

static int block_exits(const ast_block *blk, int depth)
{
    int r = 0;
    for (int i = 0; blk && i < blk->stmts.len; i++) r |= stmt_exits(blk->stmts.items[i], depth);
    return r;
}

/* Declares the hidden flag `name` = false in the current scope. */
static void declare_flag(fe_func *F, const char *name, src_loc loc)
{
    F->b.loc = loc;
    ir_value *f = ir_const_bool(&F->b, false, 0, NULL);
    if (!f) {
        fe_oom(F->cx);
        return;
    }
    fe_declare(F, name, FE_SYM_VAR, fe_tile(f, false), loc);
}

/* The vars of enclosing scopes (holding tiles) among `names`. */
static int carried_vars(fe_func *F, const ptr_vec *names, fe_sym ***out)
{
    fe_sym **syms = arena_calloc(F->cx->mem, (size_t)names->len + 1, sizeof *syms);
    int n = 0;
    if (!syms) {
        fe_oom(F->cx);
        *out = NULL;
        return 0;
    }
    for (int i = 0; i < names->len; i++) {
        fe_sym *s = fe_lookup(F, names->items[i]);
        if (s && s->kind == FE_SYM_VAR && s->val.kind == FE_TILE) syms[n++] = s;
    }
    *out = syms;
    return n;
}

/* The IR name hint of a symbol: hidden vars (%break) print as `%break.N`,
 * not `%%break.N`. */
static const char *hint(const char *name) { return name[0] == '%' ? name + 1 : name; }

/* Sets up the region `idx` of op with block arguments (prefix types, then
 * the carried vars' types) and moves the builder into it. */
static ir_block *open_region(fe_func *F, ir_op *op, int idx, int nprefix, const ir_type *prefix,
                             fe_sym **carried, int nc)
{
    ir_type *types = arena_calloc(F->cx->mem, (size_t)(nprefix + nc) + 1, sizeof *types);
    if (!types) {
        fe_oom(F->cx);
        return NULL;
    }
    for (int i = 0; i < nprefix; i++) types[i] = prefix[i];
    for (int i = 0; i < nc; i++) types[nprefix + i] = carried[i]->val.u.v->type;
    ir_block *blk = ir_block_new(F->f, nprefix + nc, types);
    if (!blk) {
        fe_oom(F->cx);
        return NULL;
    }
    blk->parent = op;
    op->blocks[idx] = blk;
    for (int i = 0; i < nc; i++) {
        blk->args[nprefix + i]->name = hint(carried[i]->name);
        carried[i]->val = fe_tile(blk->args[nprefix + i], false);
    }
    ir_builder_at_end(&F->b, blk);
    return blk;
}

/* Ends the current region with YIELD(current values of the carried vars).
 * A carried var never leaves FE_TILE: a failed assignment keeps its value. */
static void close_region(fe_func *F, fe_sym **carried, int nc, src_loc loc)
{
    ir_value **ys = arena_calloc(F->cx->mem, (size_t)nc + 1, sizeof *ys);
    if (!ys) {
        fe_oom(F->cx);
        return;
    }
    for (int i = 0; i < nc; i++) ys[i] = carried[i]->val.u.v;
    fe_build(F, loc, IR_OP_YIELD, nc, ys, 0, NULL, 0);
}

static void rebind_results(ir_op *op, fe_sym **carried, int nc)
{
    for (int i = 0; i < nc; i++) {
        op->results[i]->name = hint(carried[i]->name);
        carried[i]->val = fe_tile(op->results[i], false);
    }
}

static bool is_int_scalar(const fe_val *v)
{
    return v->kind == FE_INT || (v->kind == FE_TILE && v->u.v->type.rank == 0 &&
                                 ir_dtype_is_int(v->u.v->type.dtype));
}

/* A scalar of the loop's dtype dt for a loop bound; reports what is wrong at loc. */
static ir_value *int_scalar(fe_func *F, const fe_val *v, ir_dtype dt, src_loc loc, const char *what)
{
    fe_ctx *cx = F->cx;
    if (v->kind == FE_ERR) return NULL;
    if (is_int_scalar(v)) return fe_materialize(F, v, dt, 0, NULL, loc);
    diag_error(cx->d, loc, "%s must be an integer scalar, got %s", what, fe_describe(cx, v));
    return NULL;
}

/* ---- control flow ------------------------------------------------------ */

/* Builds the WHILE op over the carried vars and opens its cond region. */
static ir_op *open_while(fe_func *F, src_loc loc, fe_sym **carried, int nc)
{
    fe_ctx *cx = F->cx;
    ir_value **ops = arena_calloc(cx->mem, (size_t)nc + 1, sizeof *ops);
    ir_type *types = arena_calloc(cx->mem, (size_t)nc + 1, sizeof *types);
    if (!ops || !types) {
        fe_oom(cx);
        return NULL;
    }
    for (int i = 0; i < nc; i++) {
        ops[i] = carried[i]->val.u.v;
        types[i] = ops[i]->type;
    }
    ir_op *op = fe_build(F, loc, IR_OP_WHILE, nc, ops, nc, types, 2);
    if (op && !open_region(F, op, 0, 0, NULL, carried, nc)) return NULL;
    return op;
}

/* Lowers a loop body in its own scope, with the continue flag it needs. */
static void loop_body(fe_func *F, const ast_stmt *s, const ast_block *body, int exits,
                      const char *var, src_loc var_loc, fe_val iv)
{
    fe_push_scope(F);
    if (var) fe_declare(F, var, FE_SYM_LOOP, iv, var_loc);
    if (exits & EXIT_CONTINUE) declare_flag(F, FE_CONTINUE_FLAG, s->loc);
    fe_block(F, body, NULL, false);
    fe_pop_scope(F);
}

/* `for` whose body breaks: a while over an i64 counter, carrying the break
 * flag; cond = !break && iv < hi. */
static void lower_for_break(fe_func *F, const ast_stmt *s, ir_value *lov, ir_value *hiv,
                            int64_t step, int exits)
{
    fe_ctx *cx = F->cx;
    fe_push_scope(F);
    F->b.loc = s->loc;
    ir_value *lo64 = ir_cast(&F->b, lov, IR_I64), *hi64 = ir_cast(&F->b, hiv, IR_I64);
    ir_value *step64 = ir_const_int(&F->b, IR_I64, step, 0, NULL);
    if (!lo64 || !hi64 || !step64) {
        fe_oom(cx);
        fe_pop_scope(F);
        return;
    }
    fe_sym *iv = fe_declare(F, "%iv", FE_SYM_VAR, fe_tile(lo64, false), s->loc);
    declare_flag(F, FE_BREAK_FLAG, s->loc);
    ptr_vec names = {0};
    add_name(cx, &names, "%iv");
    add_name(cx, &names, FE_BREAK_FLAG);
    collect_assigned(cx, s->u.for_.body, &names, 0);
    fe_sym **carried;
    int nc = carried_vars(F, &names, &carried);
    ir_block *outer = F->b.block;
    ir_op *op = iv && carried ? open_while(F, s->loc, carried, nc) : NULL;
    if (!op) {
        fe_pop_scope(F);
        return;
    }
    /* cond region: carried[0] is %iv, carried[1] the break flag */
    F->b.loc = s->loc;
    ir_value *go = ir_unary(&F->b, IR_OP_NOT, carried[1]->val.u.v);
    ir_value *lt = ir_binary(&F->b, IR_OP_CMP_LT, carried[0]->val.u.v, hi64);
    ir_value *c = go && lt ? ir_binary(&F->b, IR_OP_AND, go, lt) : NULL;
    if (!c) {
        fe_oom(cx);
        fe_pop_scope(F);
        return;
    }
    fe_build(F, s->loc, IR_OP_CONDITION, 1, &c, 0, NULL, 0);
    if (!open_region(F, op, 1, 0, NULL, carried, nc)) {
        fe_pop_scope(F);
        return;
    }
    F->b.loc = s->u.for_.var_loc;
    ir_value *i32 = ir_cast(&F->b, iv->val.u.v, IR_I32);
    if (!i32) {
        fe_oom(cx);
        fe_pop_scope(F);
        return;
    }
    i32->name = s->u.for_.var;
    loop_body(F, s, s->u.for_.body, exits, s->u.for_.var, s->u.for_.var_loc, fe_tile(i32, false));
    F->b.loc = s->u.for_.body->end;
    ir_value *next = ir_binary(&F->b, IR_OP_ADD, iv->val.u.v, step64);
    if (next) iv->val = fe_tile(next, false);
    close_region(F, carried, nc, s->u.for_.body->end);
    ir_builder_at_end(&F->b, outer);
    rebind_results(op, carried, nc);
    fe_pop_scope(F);
}

static void lower_for(fe_func *F, const ast_stmt *s)
{
    fe_ctx *cx = F->cx;
    const ast_expr *lo_e = s->u.for_.lo, *hi_e = s->u.for_.hi, *step_e = s->u.for_.step;
    fe_val lo = lo_e ? fe_expr(F, lo_e) : fe_int(0);
    fe_val hi = fe_expr(F, hi_e);
    fe_val step = step_e ? fe_expr(F, step_e) : fe_int(1);
    src_loc step_loc = step_e ? step_e->loc : s->loc;
    /* The loop counts in i64 when a bound is i64 (a run-time i64 bound cast
     * to i32 would silently run the wrong number of iterations). */
    ir_dtype dt = (is_int_scalar(&lo) && fe_val_dtype(&lo) == IR_I64) ||
                  (is_int_scalar(&hi) && fe_val_dtype(&hi) == IR_I64) ? IR_I64 : IR_I32;
    ir_value *lov = int_scalar(F, &lo, dt, lo_e ? lo_e->loc : s->loc, "for loop start");
    ir_value *hiv = int_scalar(F, &hi, dt, hi_e ? hi_e->loc : s->loc, "for loop end");
    ir_value *stepv = NULL;
    int exits = block_exits(s->u.for_.body, 0);
    if (step.kind == FE_INT && step.u.i > 0) {
        stepv = fe_materialize(F, &step, dt, 0, NULL, step_loc);
    } else if (step.kind != FE_ERR) {
        diag_error(cx->d, step_loc, "for loop step must be a positive constant, got %s",
                   step.kind == FE_INT ? fe_const_str(cx, &step) : fe_describe(cx, &step));
    }
    ptr_vec names = {0};
    collect_assigned(cx, s->u.for_.body, &names, 0);
    fe_sym **carried;
    int nc = carried_vars(F, &names, &carried);
    if (!lov || !hiv || !stepv || !carried) {
        /* Still check the body, outside any loop op. */
        fe_push_scope(F);
        if (exits & EXIT_BREAK) declare_flag(F, FE_BREAK_FLAG, s->loc);
        loop_body(F, s, s->u.for_.body, exits, s->u.for_.var, s->u.for_.var_loc, fe_err());
        fe_pop_scope(F);
        return;
    }
    if (exits & EXIT_BREAK) {
        lower_for_break(F, s, lov, hiv, step.u.i, exits);
        return;
    }
    ir_value **ops = arena_calloc(cx->mem, (size_t)nc + 3, sizeof *ops);
    ir_type *types = arena_calloc(cx->mem, (size_t)nc + 1, sizeof *types);
    if (!ops || !types) {
        fe_oom(cx);
        return;
    }
    ops[0] = lov;
    ops[1] = hiv;
    ops[2] = stepv;
    for (int i = 0; i < nc; i++) {
        ops[3 + i] = carried[i]->val.u.v;
        types[i] = ops[3 + i]->type;
    }
    ir_block *outer = F->b.block;
    ir_op *op = fe_build(F, s->loc, IR_OP_FOR, nc + 3, ops, nc, types, 1);
    if (!op) return;
    ir_type iv_type = ir_type_scalar(dt);
    ir_block *body = open_region(F, op, 0, 1, &iv_type, carried, nc);
    if (!body) return;
    body->args[0]->name = s->u.for_.var;
    loop_body(F, s, s->u.for_.body, exits, s->u.for_.var, s->u.for_.var_loc,
              fe_tile(body->args[0], false));
    close_region(F, carried, nc, s->u.for_.body->end);
    ir_builder_at_end(&F->b, outer);
    rebind_results(op, carried, nc);
}

/* The while condition `ce` as a bool scalar (false after an error). */
static ir_value *while_cond(fe_func *F, const ast_expr *ce)
{
    fe_ctx *cx = F->cx;
    fe_val c = fe_expr(F, ce);
    ir_value *cv = NULL;
    if (c.kind == FE_BOOL || (c.kind == FE_TILE && c.u.v->type.rank == 0 &&
                              c.u.v->type.dtype == IR_BOOL)) {
        cv = fe_materialize(F, &c, IR_BOOL, 0, NULL, ce->loc);
    } else if (c.kind != FE_ERR) {
        diag_error(cx->d, ce->loc, "while condition must be a bool scalar, got %s%s",
                   fe_describe(cx, &c),
                   c.kind == FE_TILE && c.u.v->type.dtype == IR_BOOL ? " (reduce it to a scalar)" : "");
    }
    if (!cv) {
        F->b.loc = ce->loc;
        cv = ir_const_bool(&F->b, false, 0, NULL);
        if (!cv) fe_oom(cx);
    }
    return cv;
}

/* cond of a while that breaks: if brk { false } else { cond }, so the
 * user's condition is not evaluated again once the loop broke. */
static ir_value *guarded_cond(fe_func *F, ir_value *brk, const ast_expr *ce)
{
    fe_ctx *cx = F->cx;
    ir_type bt = ir_type_scalar(IR_BOOL);
    ir_block *at = F->b.block;
    ir_op *op = fe_build(F, ce->loc, IR_OP_IF, 1, &brk, 1, &bt, 2);
    if (!op) return NULL;
    for (int r = 0; r < 2; r++) {
        ir_block *blk = ir_op_new_region(op, r, 0, NULL);
        if (!blk) {
            fe_oom(cx);
            return NULL;
        }
        ir_builder_at_end(&F->b, blk);
        F->b.loc = ce->loc;
        ir_value *v = r == 0 ? ir_const_bool(&F->b, false, 0, NULL) : while_cond(F, ce);
        if (!v) {
            fe_oom(cx);
            return NULL;
        }
        fe_build(F, ce->loc, IR_OP_YIELD, 1, &v, 0, NULL, 0);
    }
    ir_builder_at_end(&F->b, at);
    return op->results[0];
}

static void lower_while(fe_func *F, const ast_stmt *s)
{
    fe_ctx *cx = F->cx;
    int exits = block_exits(s->u.while_.body, 0);
    fe_push_scope(F);
    ptr_vec names = {0};
    if (exits & EXIT_BREAK) {
        declare_flag(F, FE_BREAK_FLAG, s->loc);
        add_name(cx, &names, FE_BREAK_FLAG);
    }
    collect_assigned(cx, s->u.while_.body, &names, 0);
    fe_sym **carried;
    int nc = carried_vars(F, &names, &carried);
    ir_block *outer = F->b.block;
    ir_op *op = carried ? open_while(F, s->loc, carried, nc) : NULL;
    if (!op) {
        fe_pop_scope(F);
        return;
    }
    const ast_expr *ce = s->u.while_.cond;
    ir_value *cv = exits & EXIT_BREAK ? guarded_cond(F, carried[0]->val.u.v, ce) : while_cond(F, ce);
    if (cv) fe_build(F, ce->loc, IR_OP_CONDITION, 1, &cv, 0, NULL, 0);
    ir_block *body = cv ? open_region(F, op, 1, 0, NULL, carried, nc) : NULL;
    if (!body) {
        fe_pop_scope(F);
        return;
    }
    loop_body(F, s, s->u.while_.body, exits, NULL, s->loc, fe_err());
    close_region(F, carried, nc, s->u.while_.body->end);
    ir_builder_at_end(&F->b, outer);
    rebind_results(op, carried, nc);
    fe_pop_scope(F);
}

/* A runtime `if` on the bool scalar cv (NULL after an error in the
 * condition: both branches are still checked, without an op). */
static void runtime_if(fe_func *F, ir_value *cv, const ast_block *then_, const ast_block *else_,
                       src_loc loc)
{
    fe_ctx *cx = F->cx;
    ptr_vec names = {0};
    collect_assigned(cx, then_, &names, 0);
    collect_assigned(cx, else_, &names, 0);
    fe_sym **carried;
    int nc = carried_vars(F, &names, &carried);
    fe_val *saved = arena_calloc(cx->mem, (size_t)nc + 1, sizeof *saved);
    if (!carried || !saved) {
        fe_oom(cx);
        return;
    }
    if (!cv) {
        /* Check both branches without building an op. */
        for (int i = 0; i < nc; i++) saved[i] = carried[i]->val;
        fe_block(F, then_, NULL, false);
        for (int i = 0; i < nc; i++) carried[i]->val = saved[i];
        if (else_) fe_block(F, else_, NULL, false);
        for (int i = 0; i < nc; i++) carried[i]->val = saved[i];
        return;
    }
    ir_type *types = arena_calloc(cx->mem, (size_t)nc + 1, sizeof *types);
    if (!types) {
        fe_oom(cx);
        return;
    }
    for (int i = 0; i < nc; i++) {
        saved[i] = carried[i]->val;
        types[i] = saved[i].u.v->type;
    }
    ir_block *outer = F->b.block;
    ir_op *op = fe_build(F, loc, IR_OP_IF, 1, &cv, nc, types, 2);
    if (!op) return;
    for (int r = 0; r < 2; r++) {
        ir_block *blk = ir_block_new(F->f, 0, NULL);
        if (!blk) {
            fe_oom(cx);
            return;
        }
        blk->parent = op;
        op->blocks[r] = blk;
        ir_builder_at_end(&F->b, blk);
        for (int i = 0; i < nc; i++) carried[i]->val = saved[i];
        const ast_block *branch = r == 0 ? then_ : else_;
        if (branch) fe_block(F, branch, NULL, false);
        close_region(F, carried, nc, branch ? branch->end : then_->end);
    }
    ir_builder_at_end(&F->b, outer);
    rebind_results(op, carried, nc);
}

static void lower_if(fe_func *F, const ast_stmt *s)
{
    fe_ctx *cx = F->cx;
    const ast_expr *ce = s->u.if_.cond;
    const ast_block *then_ = s->u.if_.then_, *else_ = s->u.if_.else_;
    fe_val c = fe_expr(F, ce);
    if (c.kind == FE_BOOL) {
        const ast_block *taken = c.u.b ? then_ : else_;
        if (taken) fe_block(F, taken, NULL, false);
        return;
    }
    ir_value *cv = NULL;
    if (c.kind == FE_TILE && c.u.v->type.rank == 0 && c.u.v->type.dtype == IR_BOOL) {
        cv = c.u.v;
    } else if (c.kind != FE_ERR) {
        bool bool_tile = c.kind == FE_TILE && c.u.v->type.dtype == IR_BOOL;
        diag_error(cx->d, ce->loc, "if condition must be a bool scalar, got %s%s",
                   fe_describe(cx, &c), bool_tile ? " (use where() for tiles)" : "");
    }
    runtime_if(F, cv, then_, else_, s->loc);
}

/* break / continue: set the innermost loop's flag (declared by the loop
 * when its body was scanned; absent outside a loop of this function). */
static void lower_exit(fe_func *F, const ast_stmt *s)
{
    bool brk = s->kind == AST_BREAK;
    fe_sym *flag = fe_lookup(F, brk ? FE_BREAK_FLAG : FE_CONTINUE_FLAG);
    if (!flag) {
        diag_error(F->cx->d, s->loc, "'%s' outside a loop (it can only be used inside the body "
                   "of a for or while loop%s)", brk ? "break" : "continue",
                   F->item && F->item->kind == AST_ITEM_FN ? " of this fn" : "");
        return;
    }
    if (flag->val.kind != FE_TILE) return;
    F->b.loc = s->loc;
    ir_value *t = ir_const_bool(&F->b, true, 0, NULL);
    if (!t) {
        fe_oom(F->cx);
        return;
    }
    flag->val = fe_tile(t, false);
}

/* After a statement that may break or continue (exits), the rest of blk
 * from statement `from` runs only while no flag is set. */
static bool lower_rest_guarded(fe_func *F, const ast_block *blk, int from, int exits)
{
    fe_ctx *cx = F->cx;
    fe_sym *b = exits & EXIT_BREAK ? fe_lookup(F, FE_BREAK_FLAG) : NULL;
    fe_sym *c = exits & EXIT_CONTINUE ? fe_lookup(F, FE_CONTINUE_FLAG) : NULL;
    if (!b && !c) return false; /* outside a loop: already an error */
    if (cx->depth + 8 >= FE_MAX_NESTING) {
        /* The rest of the block nests one level deeper per such statement. */
        const ast_stmt *s = blk->stmts.items[from - 1];
        fe_too_deep(cx, s->loc, "too many statements that may break or continue in one loop "
                    "body (the statements after each one nest a level deeper)");
        return true;
    }
    ast_block *rest = arena_calloc(cx->mem, 1, sizeof *rest);
    if (!rest) {
        fe_oom(cx);
        return true;
    }
    rest->stmts.items = blk->stmts.items + from;
    rest->stmts.len = rest->stmts.cap = blk->stmts.len - from;
    rest->value = blk->value;
    rest->loc = from < blk->stmts.len ? ((const ast_stmt *)blk->stmts.items[from])->loc
                                      : blk->value->loc;
    rest->end = blk->end;
    rest->continues = true;
    ir_value *stop = NULL;
    F->b.loc = rest->loc;
    if (b && b->val.kind == FE_TILE) stop = b->val.u.v;
    if (c && c->val.kind == FE_TILE)
        stop = stop ? ir_binary(&F->b, IR_OP_OR, stop, c->val.u.v) : c->val.u.v;
    ir_value *go = stop ? ir_unary(&F->b, IR_OP_NOT, stop) : NULL;
    if (stop && !go) fe_oom(cx);
    runtime_if(F, go, rest, NULL, rest->loc);
    return true;
}

/* ---- statements -------------------------------------------------------- */

/* The error just reported about the right-hand side of the assignment
 * whose target is at `target` moves to that side and underlines it all
 * (to the ';' or the end of the line): the operator a binary expression is
 * located at says nothing about which value did not fit. */
static void underline_rhs(fe_ctx *cx, int errors, src_loc target)
{
    diag *g = cx->d->last;
    const src_file *sf = diag_find_source(cx->d, target.file);
    if (!g || g->level != DIAG_ERROR || cx->d->nerrors != errors + 1 || !sf || target.line < 1)
        return;
    const char *p = sf->text, *end = sf->text + sf->len;
    for (int l = 1; l < target.line && p < end; p++) l += *p == '\n';
    const char *line = p;
    p += target.col > 1 ? target.col - 1 : 0;
    while (p < end && *p != '\n' && *p != '=') p++;
    if (p >= end || *p != '=') return;
    p++;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    const char *start = p, *stop = p;
    int depth = 0;
    for (; p < end && *p != '\n' && !(depth == 0 && *p == ';'); p++) {
        depth += *p == '(' || *p == '[';
        depth -= *p == ')' || *p == ']';
        if (*p != ' ' && *p != '\t') stop = p + 1;
    }
    if (stop <= start) return;
    g->loc = (src_loc){target.file, target.line, (int)(start - line) + 1};
    g->span = (int)(stop - start);
}

static void lower_let(fe_func *F, const ast_stmt *s)
{
    fe_ctx *cx = F->cx;
    const ast_list *names = &s->u.let.names;
    const ast_expr *init = s->u.let.init;
    fe_val v = fe_expr(F, init);
    if (s->u.let.tuple) {
        if (v.kind != FE_ERR && (v.kind != FE_TUPLE || v.u.tup.n != names->len)) {
            diag_error(cx->d, init->loc, "cannot destructure %s into %d names",
                       fe_describe(cx, &v), names->len);
            v = fe_err();
        }
        for (int i = 0; i < names->len; i++) {
            fe_val item = v.kind == FE_TUPLE ? v.u.tup.items[i] : fe_err();
            if (item.kind == FE_VIEW || item.kind == FE_UNIT) {
                bool literal = init->kind == AST_TUPLE && i < init->u.elems.len;
                fe_check_operand(F, &item,
                                 literal ? ((const ast_expr *)init->u.elems.items[i])->loc : init->loc);
                item = fe_err();
            }
            fe_name_value(&item, names->items[i]);
            fe_declare(F, names->items[i], FE_SYM_LET, item, s->u.let.name_locs[i]);
        }
        return;
    }
    const char *name = names->len ? names->items[0] : "?";
    if (v.kind == FE_VIEW || v.kind == FE_UNIT) {
        fe_check_operand(F, &v, init->loc);
        v = fe_err();
    }
    if (s->u.let.type && v.kind != FE_ERR) {
        ir_dtype dt;
        ir_value *x = NULL;
        int errors = cx->d->nerrors;
        if (fe_type_dtype(F, s->u.let.type, &dt))
            x = fe_convert_to(F, &v, dt, -1, NULL, init->loc, "assign",
                              arena_printf(cx->mem, "to '%s'", name));
        if (!x && cx->d->nerrors == errors + 1) underline_rhs(cx, errors, s->u.let.name_locs[0]);
        v = x ? fe_tile(x, false) : fe_err();
    }
    fe_name_value(&v, name);
    fe_declare(F, name, FE_SYM_LET, v, s->u.let.name_locs[0]);
}

static void lower_var(fe_func *F, const ast_stmt *s)
{
    fe_ctx *cx = F->cx;
    const char *name = s->u.let.names.len ? s->u.let.names.items[0] : "?";
    const ast_expr *init = s->u.let.init;
    fe_val v = fe_expr(F, init);
    ir_value *x = NULL;
    if (v.kind != FE_ERR && fe_check_operand(F, &v, init->loc)) {
        ir_dtype dt;
        if (!s->u.let.type)
            x = fe_to_ir(F, &v, init->loc);
        else if (fe_type_dtype(F, s->u.let.type, &dt)) {
            int errors = cx->d->nerrors;
            x = fe_convert_to(F, &v, dt, -1, NULL, init->loc, "assign",
                              arena_printf(cx->mem, "to var '%s'", name));
            if (!x) underline_rhs(cx, errors, s->u.let.name_locs[0]);
        }
    }
    fe_val val = x ? fe_tile(x, false) : fe_err();
    fe_name_value(&val, name);
    fe_declare(F, name, FE_SYM_VAR, val, s->u.let.name_locs[0]);
}

/* The var `name` an assignment targets, or NULL after reporting why it
 * cannot be assigned. */
static fe_sym *assign_target(fe_func *F, const char *name, src_loc loc)
{
    fe_ctx *cx = F->cx;
    fe_sym *sym = fe_lookup(F, name);
    if (!sym) {
        fe_global *g = fe_global_find(cx, name);
        if (g && g->kind == FE_G_CONST) fe_assign_error(cx, name, FE_SYM_CONST, loc);
        else if (g)
            diag_error(cx->d, loc, "'%s' is %s and cannot be assigned", name,
                       g->kind == FE_G_FN ? "an fn" : "a kernel");
        else if (fe_is_builtin_name(name))
            diag_error(cx->d, loc, "'%s' is a built-in name and cannot be assigned", name);
        else
            diag_error(cx->d, loc, "unknown name '%s'%s", name, fe_name_hint(F, name));
        return NULL;
    }
    if (sym->kind != FE_SYM_VAR) {
        fe_assign_error(cx, name, sym->kind, loc);
        return NULL;
    }
    return sym;
}

/* sym = v, keeping the var's dtype and shape (v was computed at vloc; the
 * assignment's target is at target). */
static void assign_value(fe_func *F, fe_sym *sym, fe_val v, src_loc vloc, src_loc target)
{
    fe_ctx *cx = F->cx;
    if (sym->val.kind != FE_TILE || v.kind == FE_ERR) return;
    const ir_type *t = &sym->val.u.v->type;
    int errors = cx->d->nerrors;
    ir_value *x = fe_convert_to(F, &v, t->dtype, t->rank, t->shape, vloc, "assign",
                                arena_printf(cx->mem, "to var '%s'", sym->name));
    if (!x && target.line > 0) underline_rhs(cx, errors, target);
    if (!x) return;
    fe_val nv = fe_tile(x, false);
    fe_name_value(&nv, sym->name);
    sym->val = nv;
}

static void lower_assign(fe_func *F, const ast_stmt *s)
{
    const ast_expr *ve = s->u.assign.value;
    fe_val v = fe_expr(F, ve);
    fe_sym *sym = assign_target(F, s->u.assign.name, s->u.assign.name_loc);
    if (!sym || sym->val.kind != FE_TILE || v.kind == FE_ERR) return;
    if (s->u.assign.op >= 0) {
        if (!fe_check_operand(F, &v, ve->loc)) return;
        v = fe_binop(F, (ast_binop)s->u.assign.op, sym->val, v, s->loc);
        if (v.kind == FE_ERR) return;
    }
    assign_value(F, sym, v, ve->loc, s->u.assign.op >= 0 ? (src_loc){0} : s->u.assign.name_loc);
}

/* (a, b, c) = e: the whole right side is evaluated first, then each var is
 * assigned its element by the rules of a single assignment. */
static void lower_assign_tuple(fe_func *F, const ast_stmt *s)
{
    fe_ctx *cx = F->cx;
    const ast_list *targets = &s->u.tassign.targets;
    const ast_expr *ve = s->u.tassign.value;
    fe_val v = fe_expr(F, ve);
    fe_sym **syms = arena_calloc(cx->mem, (size_t)targets->len + 1, sizeof *syms);
    if (!syms) {
        fe_oom(cx);
        return;
    }
    bool ok = true;
    for (int i = 0; i < targets->len; i++) {
        const ast_expr *t = targets->items[i];
        syms[i] = t->kind == AST_NAME ? assign_target(F, t->u.str, t->loc) : NULL;
        ok &= syms[i] != NULL;
    }
    if (v.kind == FE_ERR) return;
    if (v.kind != FE_TUPLE || v.u.tup.n != targets->len) {
        diag_error(cx->d, ve->loc, "cannot assign %s to %d variables", fe_describe(cx, &v),
                   targets->len);
        return;
    }
    if (!ok) return;
    for (int i = 0; i < targets->len; i++) {
        bool literal = ve->kind == AST_TUPLE && i < ve->u.elems.len;
        src_loc at = literal ? ((const ast_expr *)ve->u.elems.items[i])->loc : ve->loc;
        assign_value(F, syms[i], v.u.tup.items[i], at, (src_loc){0});
    }
}

static void lower_static_assert(fe_func *F, const ast_stmt *s)
{
    fe_ctx *cx = F->cx;
    const ast_expr *ce = s->u.sassert.cond;
    fe_val c = fe_expr(F, ce);
    if (c.kind == FE_ERR) return;
    if (c.kind == FE_TILE) {
        diag_error(cx->d, ce->loc, "static_assert condition is not a compile-time constant");
        return;
    }
    if (c.kind != FE_BOOL) {
        diag_error(cx->d, ce->loc, "static_assert needs a bool condition, got %s",
                   fe_describe(cx, &c));
        return;
    }
    if (!c.u.b)
        diag_error(cx->d, ce->loc, "static assertion failed: %s",
                   s->u.sassert.message ? s->u.sassert.message : "");
}

/* assert(c, "m"): a constant condition is checked now; a runtime one becomes
 * an ASSERT op that the interpreter (and later the GPU) checks. */
static void lower_assert(fe_func *F, const ast_stmt *s)
{
    fe_ctx *cx = F->cx;
    const ast_expr *ce = s->u.sassert.cond;
    const char *msg = s->u.sassert.message ? s->u.sassert.message : "";
    fe_val c = fe_expr(F, ce);
    if (c.kind == FE_ERR) return;
    if (c.kind == FE_BOOL) {
        if (!c.u.b)
            diag_error(cx->d, ce->loc, "assertion failed: %s (the condition is false at compile "
                       "time)", msg);
        return;
    }
    if (c.kind != FE_TILE || c.u.v->type.rank != 0 || c.u.v->type.dtype != IR_BOOL) {
        bool bool_tile = c.kind == FE_TILE && c.u.v->type.dtype == IR_BOOL;
        diag_error(cx->d, ce->loc, "assert needs a bool scalar condition, got %s%s",
                   fe_describe(cx, &c), bool_tile ? " (reduce it to a scalar)" : "");
        return;
    }
    ir_op *op = fe_build(F, s->loc, IR_OP_ASSERT, 1, &c.u.v, 0, NULL, 0);
    if (op) op->attr.str = msg;
}

static void lower_stmt(fe_func *F, const ast_stmt *s, bool last, fe_val *result, bool fn_body)
{
    fe_ctx *cx = F->cx;
    switch (s->kind) {
    case AST_LET: lower_let(F, s); break;
    case AST_VAR: lower_var(F, s); break;
    case AST_ASSIGN: lower_assign(F, s); break;
    case AST_ASSIGN_TUPLE: lower_assign_tuple(F, s); break;
    case AST_EXPR: {
        fe_val v = fe_expr(F, s->u.expr);
        if (v.kind == FE_VIEW) fe_check_operand(F, &v, s->u.expr->loc);
        break;
    }
    case AST_FOR: lower_for(F, s); break;
    case AST_WHILE: lower_while(F, s); break;
    case AST_IF: lower_if(F, s); break;
    case AST_BREAK: case AST_CONTINUE: lower_exit(F, s); break;
    case AST_STATIC_ASSERT: lower_static_assert(F, s); break;
    case AST_ASSERT: lower_assert(F, s); break;
    case AST_RETURN:
        if (F->is_kernel) {
            if (s->u.expr) diag_error(cx->d, s->loc, "a kernel cannot return a value");
            else if (!(last && fn_body))
                diag_error(cx->d, s->loc, "'return' must be the last statement of a kernel");
            break;
        }
        if (!(last && fn_body)) {
            diag_error(cx->d, s->loc, "'return' must be the last statement of an fn");
            if (s->u.expr) fe_expr(F, s->u.expr);
            break;
        }
        if (result) *result = s->u.expr ? fe_expr(F, s->u.expr) : fe_unit();
        break;
    }
}

void fe_block(fe_func *F, const ast_block *blk, fe_val *value, bool fn_body)
{
    fe_ctx *cx = F->cx;
    if (!blk) return;
    if (cx->depth >= FE_MAX_NESTING) {
        fe_too_deep(cx, blk->loc, "blocks are nested too deeply");
        return;
    }
    cx->depth++;
    fe_push_scope(F);
    if (F->scope) F->scope->continues = blk->continues;
    for (int i = 0; i < blk->stmts.len; i++) {
        bool last = i == blk->stmts.len - 1 && !blk->value;
        const ast_stmt *s = blk->stmts.items[i];
        lower_stmt(F, s, last, value, fn_body);
        int exits = stmt_exits(s, 0);
        if (exits && (i + 1 < blk->stmts.len || blk->value) && F->f &&
            lower_rest_guarded(F, blk, i + 1, exits)) {
            fe_pop_scope(F);
            cx->depth--;
            return;
        }
    }
    if (blk->value) {
        fe_val v = fe_expr(F, blk->value);
        if (value && fn_body && !F->is_kernel)
            *value = v;
        else if (v.kind != FE_UNIT && v.kind != FE_ERR)
            diag_error(cx->d, blk->value->loc, "unused block value: only an fn body ends in a "
                       "result ('if' is a statement; use where(c, a, b) to choose a value)");
    }
    fe_pop_scope(F);
    cx->depth--;
}
