/* fe_resolve.c - name checking of code that is not lowered: kernels whose
 * constants are unbound and fns no kernel calls (`tilec check`).
 *
 * Without constants there are no shapes or dtypes, so this walk checks only
 * what does not depend on them: every name resolves, assignments target
 * vars, named arguments exist.  Messages are the lowering's own. */
#include "fe_lower.h"

#include <string.h>

typedef struct rsym {
    const char *name;
    fe_sym_kind kind;
    struct rsym *next;
} rsym;

typedef struct rscope {
    rsym *syms;
    struct rscope *parent;
} rscope;

typedef struct resolver {
    fe_ctx *cx;
    rscope *sc;
    int depth;
    int loops;          /* for/while bodies around the statement */
    bool in_fn;
} resolver;

static void push(resolver *R)
{
    rscope *sc = arena_alloc(R->cx->mem, sizeof *sc);
    if (!sc) {
        fe_oom(R->cx);
        return;
    }
    sc->parent = R->sc;
    R->sc = sc;
}

static void pop(resolver *R)
{
    if (R->sc) R->sc = R->sc->parent;
}

static rsym *lookup(resolver *R, const char *name)
{
    for (rscope *sc = R->sc; sc; sc = sc->parent)
        for (rsym *s = sc->syms; s; s = s->next)
            if (strcmp(s->name, name) == 0) return s;
    return NULL;
}

static void declare(resolver *R, const char *name, fe_sym_kind kind, src_loc loc, bool check)
{
    fe_ctx *cx = R->cx;
    if (!R->sc) return;
    if (check && fe_is_builtin_name(name)) {
        diag_error(cx->d, loc, "'%s' is a built-in name and cannot be redefined", name);
        return;
    }
    for (rsym *s = R->sc->syms; s; s = s->next)
        if (strcmp(s->name, name) == 0) {
            if (check) diag_error(cx->d, loc, "redefinition of '%s'", name);
            return;
        }
    rsym *s = arena_alloc(cx->mem, sizeof *s);
    if (!s) {
        fe_oom(cx);
        return;
    }
    s->name = name;
    s->kind = kind;
    s->next = R->sc->syms;
    R->sc->syms = s;
}

static const char *hint(resolver *R, const char *name)
{
    fe_suggest s;
    fe_suggest_init(&s, name);
    for (rscope *sc = R->sc; sc; sc = sc->parent)
        for (rsym *y = sc->syms; y; y = y->next) fe_suggest_add(&s, y->name);
    fe_suggest_globals(R->cx, &s);
    return fe_did_you_mean(R->cx->mem, &s);
}

static bool known(resolver *R, const char *name)
{
    return lookup(R, name) || fe_global_find(R->cx, name) || fe_is_builtin_name(name);
}

static void type_name(resolver *R, const ast_type *t)
{
    ir_dtype dt;
    if (!t || (t->kind != AST_TY_NAME && t->kind != AST_TY_TENSOR) || !t->name ||
        ir_dtype_from_name(t->name, &dt))
        return;
    if (lookup(R, t->name) || fe_global_find(R->cx, t->name)) return;
    diag_error(R->cx->d, t->loc, "unknown dtype '%s'", t->name);
}

static void expr(resolver *R, const ast_expr *e);

static void call(resolver *R, const ast_expr *e)
{
    fe_ctx *cx = R->cx;
    const ast_expr *callee = e->u.call.callee;
    const ast_list *args = &e->u.call.args;
    if (callee->kind == AST_NAME && !lookup(R, callee->u.str)) {
        fe_global *g = fe_global_find(cx, callee->u.str);
        const fe_builtin *b = g ? NULL : fe_find_builtin(callee->u.str);
        for (int i = 0; i < args->len; i++) {
            const ast_arg *a = args->items[i];
            if (!a->name) continue;
            bool ok = true;
            fe_suggest s;
            fe_suggest_init(&s, a->name);
            if (b) {
                ok = fe_builtin_arg_allowed(b, a->name);
                fe_suggest_builtin_args(b, &s);
            } else if (g && g->kind == FE_G_FN) {
                ok = false;
                for (int j = 0; j < g->item->params.len; j++) {
                    const char *pn = ((const ast_param *)g->item->params.items[j])->name;
                    ok |= strcmp(pn, a->name) == 0;
                    fe_suggest_add(&s, pn);
                }
            }
            if (!ok)
                diag_error(cx->d, a->loc, "unknown argument '%s' to '%s'%s", a->name,
                           callee->u.str, fe_did_you_mean(cx->mem, &s));
        }
        if (!g && !b) expr(R, callee);
    } else {
        expr(R, callee);
    }
    for (int i = 0; i < args->len; i++) expr(R, ((const ast_arg *)args->items[i])->value);
}

static void expr(resolver *R, const ast_expr *e)
{
    if (!e || R->depth > 400) return;
    R->depth++;
    switch (e->kind) {
    case AST_NAME:
        if (!known(R, e->u.str))
            diag_error(R->cx->d, e->loc, "unknown name '%s'%s", e->u.str, hint(R, e->u.str));
        break;
    case AST_UNARY: expr(R, e->u.unary.operand); break;
    case AST_BINARY:
        expr(R, e->u.binary.lhs);
        expr(R, e->u.binary.rhs);
        break;
    case AST_CALL: call(R, e); break;
    case AST_INDEX:
        expr(R, e->u.index.base);
        for (int i = 0; i < e->u.index.idx.len; i++) expr(R, e->u.index.idx.items[i]);
        break;
    case AST_TUPLE: case AST_LIST:
        for (int i = 0; i < e->u.elems.len; i++) expr(R, e->u.elems.items[i]);
        break;
    case AST_SLICE:
        expr(R, e->u.slice.lo);
        expr(R, e->u.slice.hi);
        expr(R, e->u.slice.step);
        break;
    case AST_CAST:
        type_name(R, e->u.cast.to);
        expr(R, e->u.cast.operand);
        break;
    default: break;
    }
    R->depth--;
}

static void block(resolver *R, const ast_block *b);

static void assign_target(resolver *R, const char *name, src_loc loc)
{
    fe_ctx *cx = R->cx;
    rsym *sym = lookup(R, name);
    fe_global *g = sym ? NULL : fe_global_find(cx, name);
    if (sym && sym->kind != FE_SYM_VAR) fe_assign_error(cx, name, sym->kind, loc);
    else if (!sym && g && g->kind == FE_G_CONST) fe_assign_error(cx, name, FE_SYM_CONST, loc);
    else if (!sym && g)
        diag_error(cx->d, loc, "'%s' is %s and cannot be assigned", name,
                   g->kind == FE_G_FN ? "an fn" : "a kernel");
    else if (!sym && fe_is_builtin_name(name))
        diag_error(cx->d, loc, "'%s' is a built-in name and cannot be assigned", name);
    else if (!sym)
        diag_error(cx->d, loc, "unknown name '%s'%s", name, hint(R, name));
}

static void stmt(resolver *R, const ast_stmt *s)
{
    switch (s->kind) {
    case AST_LET: case AST_VAR:
        expr(R, s->u.let.init);
        type_name(R, s->u.let.type);
        for (int i = 0; i < s->u.let.names.len; i++)
            declare(R, s->u.let.names.items[i], s->kind == AST_LET ? FE_SYM_LET : FE_SYM_VAR,
                    s->u.let.name_locs[i], true);
        break;
    case AST_ASSIGN:
        expr(R, s->u.assign.value);
        assign_target(R, s->u.assign.name, s->u.assign.name_loc);
        break;
    case AST_ASSIGN_TUPLE:
        expr(R, s->u.tassign.value);
        for (int i = 0; i < s->u.tassign.targets.len; i++) {
            const ast_expr *t = s->u.tassign.targets.items[i];
            if (t->kind == AST_NAME) assign_target(R, t->u.str, t->loc);
        }
        break;
    case AST_EXPR: case AST_RETURN: expr(R, s->u.expr); break;
    case AST_FOR:
        expr(R, s->u.for_.lo);
        expr(R, s->u.for_.hi);
        expr(R, s->u.for_.step);
        push(R);
        declare(R, s->u.for_.var, FE_SYM_LOOP, s->u.for_.var_loc, true);
        R->loops++;
        block(R, s->u.for_.body);
        R->loops--;
        pop(R);
        break;
    case AST_WHILE:
        expr(R, s->u.while_.cond);
        R->loops++;
        block(R, s->u.while_.body);
        R->loops--;
        break;
    case AST_BREAK: case AST_CONTINUE:
        if (!R->loops)
            diag_error(R->cx->d, s->loc, "'%s' outside a loop (it can only be used inside the "
                       "body of a for or while loop%s)", s->kind == AST_BREAK ? "break" : "continue",
                       R->in_fn ? " of this fn" : "");
        break;
    case AST_IF:
        expr(R, s->u.if_.cond);
        block(R, s->u.if_.then_);
        block(R, s->u.if_.else_);
        break;
    case AST_STATIC_ASSERT: case AST_ASSERT: expr(R, s->u.sassert.cond); break;
    }
}

static void block(resolver *R, const ast_block *b)
{
    if (!b || R->depth > 200) return;
    R->depth++;
    push(R);
    for (int i = 0; i < b->stmts.len; i++) stmt(R, b->stmts.items[i]);
    expr(R, b->value);
    pop(R);
    R->depth--;
}

void fe_resolve_item(fe_ctx *cx, const ast_item *it)
{
    resolver R = {.cx = cx, .in_fn = it->kind == AST_ITEM_FN};
    push(&R);
    bool kernel = it->kind == AST_ITEM_KERNEL;
    if (!kernel) fe_check_fn(cx, it);   /* kernels: check_signature */
    for (int i = 0; i < it->params.len; i++) {
        const ast_param *p = it->params.items[i];
        declare(&R, p->name, p->kind == AST_PARAM_CONST ? FE_SYM_CONST : FE_SYM_PARAM, p->loc,
                false);
        if (p->kind == AST_PARAM_VALUE) type_name(&R, p->type);
    }
    for (int i = 0; i < it->params.len; i++) {
        const ast_param *p = it->params.items[i];
        if (p->kind != AST_PARAM_TENSOR || !p->type) continue;
        type_name(&R, p->type);
        for (int d = 0; d < p->type->dims.len; d++) {
            const ast_expr *de = p->type->dims.items[d];
            if (de->kind == AST_NAME && !lookup(&R, de->u.str) && !fe_global_find(cx, de->u.str))
                declare(&R, de->u.str, FE_SYM_DIM, de->loc, false);
        }
    }
    for (int i = 0; kernel && i < it->grid.len; i++) expr(&R, it->grid.items[i]);
    block(&R, it->body);
    pop(&R);
}
