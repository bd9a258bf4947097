/* fe_lower_call.c - calls of fns: argument binding, partial application and
 * monomorphisation.
 *
 * A call binds arguments to parameters: positional arguments fill the
 * parameters not bound yet, in order; named arguments bind by name.  A call
 * whose arguments are all named and all bind const parameters, leaving some
 * parameter unbound, is a partial application: its value is a new fn value
 * (`sliding_window(W: 64)`), no code.  Any other call must bind everything;
 * it becomes an IR CALL of the fn instance for exactly these constants and
 * argument types (one IR_FUNC_FN per distinct key, cached), which the inline
 * pass removes.  The chain of fns being lowered is kept to report recursion
 * (an fn called again with the same fn constants).  A tensor parameter's
 * declared dims are checked against the argument, and its dim names are
 * the argument's sizes in the instance.
 *
 * Captures.  In a kernel specialisation's arguments, a partial application
 * may also bind runtime parameters, to the specialisation's own parameters
 * (`document(doc: doc)`): the fn value then holds an FE_CAPTURE, a name.  A
 * call resolves it to what that parameter is in the calling function
 * (fe_func.caps): in the kernel, its IR parameter.  An fn instance cannot
 * see the kernel's values, so when an fn value holding captures is passed to
 * an fn (as a const fn argument, at any depth), the captured values are
 * passed along as hidden arguments after the ordinary ones, and the
 * instance's own caps name its hidden parameters. */
#include "fe_lower.h"

#include <stdlib.h>
#include <string.h>

fe_fnval *fe_fnval_of(fe_ctx *cx, const ast_item *item)
{
    fe_fnval *fn = arena_alloc(cx->mem, sizeof *fn);
    if (!fn) {
        fe_oom(cx);
        return NULL;
    }
    fn->item = item;
    return fn;
}

const fe_val *fe_find_capture(const fe_func *F, const char *name)
{
    for (int i = 0; i < F->ncaps; i++)
        if (strcmp(F->caps[i].name, name) == 0) return &F->caps[i].val;
    return NULL;
}

/* Appends the names captured by v (an fn value, at any depth) to names. */
static void collect_captures(fe_ctx *cx, const fe_val *v, ptr_vec *names, int depth)
{
    if (v->kind != FE_FN || depth > 64) return;
    const fe_fnval *fn = v->u.fn;
    for (int i = 0; i < fn->nbound; i++) {
        const fe_val *b = &fn->vals[i];
        if (b->kind == FE_FN) {
            collect_captures(cx, b, names, depth + 1);
            continue;
        }
        if (b->kind != FE_CAPTURE) continue;
        bool seen = false;
        for (int j = 0; j < names->len && !seen; j++) seen = strcmp(names->items[j], b->u.s) == 0;
        if (!seen && ptr_vec_push(cx->mem, names, (void *)b->u.s)) fe_oom(cx);
    }
}

bool fe_check_param_names(fe_ctx *cx, const ast_item *it)
{
    bool ok = true;
    for (int i = 0; i < it->params.len; i++) {
        const ast_param *p = it->params.items[i];
        for (int j = 0; j < i; j++) {
            const ast_param *q = it->params.items[j];
            if (strcmp(q->name, p->name) == 0) {
                diag_error(cx->d, p->loc, "redefinition of parameter '%s'", p->name);
                diag_note(cx->d, q->loc, "previous definition is here");
                ok = false;
                break;
            }
        }
        if (fe_is_builtin_name(p->name)) {
            diag_error(cx->d, p->loc, "'%s' is a built-in name and cannot be redefined", p->name);
            ok = false;
        }
        if (p->kind != AST_PARAM_TENSOR || !p->type) continue;
        for (int d = 0; d < p->type->dims.len; d++) {
            const ast_expr *de = p->type->dims.items[d];
            if (de->kind == AST_NAME && fe_is_builtin_name(de->u.str)) {
                diag_error(cx->d, de->loc, "'%s' is a built-in name and cannot name a dimension",
                           de->u.str);
                ok = false;
            }
        }
    }
    return ok;
}

/* Checks fn item's parameter names once (fe_global.state: 1 ok, 2 not). */
bool fe_check_fn(fe_ctx *cx, const ast_item *item)
{
    fe_global *g = fe_global_find(cx, item->name);
    if (!g || g->item != item) return fe_check_param_names(cx, item);
    if (!g->state) g->state = fe_check_param_names(cx, item) ? 1 : 2;
    return g->state == 1;
}

static int param_index(const ast_item *fn, const char *name)
{
    for (int i = 0; i < fn->params.len; i++)
        if (strcmp(((const ast_param *)fn->params.items[i])->name, name) == 0) return i;
    return -1;
}

static const ast_param *param_at(const ast_item *fn, int i) { return fn->params.items[i]; }

static bool has_default(const ast_param *p) { return p->kind == AST_PARAM_CONST && p->deflt; }

/* The size dim `de` of a tensor parameter of fn `item` demands: a literal,
 * or a constant (a const parameter, in `consts`, or a top-level const).
 * False for a dimension name, which names the argument's size in the fn
 * (so does a runtime parameter's name), and after reporting a constant that
 * is not an int (then *bad is set). */
static bool dim_constant(fe_ctx *cx, const ast_item *item, fe_scope *consts, const ast_expr *de,
                         int64_t *size, bool *bad)
{
    if (de->kind == AST_INT) {
        *size = de->u.ival;
        return true;
    }
    if (de->kind != AST_NAME) return false;
    fe_val v;
    int k = param_index(item, de->u.str);
    if (k >= 0) {
        fe_func C = {.cx = cx, .scope = consts};
        fe_sym *s = param_at(item, k)->kind == AST_PARAM_CONST ? fe_lookup(&C, de->u.str) : NULL;
        if (!s) return false;
        v = s->val;
    } else {
        fe_global *g = fe_global_find(cx, de->u.str);
        if (!g || g->kind != FE_G_CONST) return false;
        v = fe_global_const(cx, g, de->loc);
    }
    if (v.kind == FE_INT) {
        *size = v.u.i;
        return true;
    }
    if (v.kind != FE_ERR)
        diag_error(cx->d, de->loc, "dimension '%s' of a tensor must be an int constant, got %s",
                   de->u.str, fe_describe(cx, &v));
    *bad = true;
    return false;
}

/* Declares in G the dimension names of fn item's tensor parameters: a
 * static size as a constant, a dynamic one as the TENSOR_DIM of the first
 * tensor that has it.  False after reporting two static sizes that differ. */
static bool declare_fn_dims(fe_func *G, const ast_item *item, src_loc call)
{
    fe_ctx *cx = G->cx;
    for (int i = 0; i < item->params.len; i++) {
        const ast_param *p = param_at(item, i);
        if (p->kind != AST_PARAM_TENSOR || !p->type) continue;
        const fe_sym *ts = fe_lookup(G, p->name);
        if (!ts || ts->val.kind != FE_TENSOR) continue;
        const fe_tensor *t = ts->val.u.t;
        for (int d = 0; d < p->type->dims.len && d < t->rank; d++) {
            const ast_expr *de = p->type->dims.items[d];
            if (de->kind != AST_NAME || param_index(item, de->u.str) >= 0 ||
                fe_is_builtin_name(de->u.str))
                continue;
            const fe_global *g = fe_global_find(cx, de->u.str);
            if (g && g->kind == FE_G_CONST) continue;
            int64_t size = t->dims[d].size;
            const fe_sym *prev = fe_lookup(G, de->u.str);
            if (prev) {
                if (prev->val.kind == FE_INT && size > 0 && prev->val.u.i != size) {
                    diag_error(cx->d, call, "tensor arguments of '%s' disagree on dimension '%s' "
                               "(%lld and %lld)", item->name, de->u.str,
                               (long long)prev->val.u.i, (long long)size);
                    return false;
                }
                continue;
            }
            fe_val v = fe_int(size);
            if (size < 1) {
                ir_op *op = fe_build(G, de->loc, IR_OP_TENSOR_DIM, 1, &t->v, 1,
                                     &(ir_type){.kind = IR_TY_TILE, .dtype = IR_I32}, 0);
                if (!op) return false;
                op->attr.i = d;
                op->results[0]->name = de->u.str;
                v = fe_tile(op->results[0], false);
            }
            fe_declare(G, de->u.str, FE_SYM_DIM, v, de->loc);
        }
    }
    return true;
}

/* Appends a type's key text for an argument. */
static char *key_add(fe_ctx *cx, char *key, const fe_val *v)
{
    char buf[128];
    if (!key) return NULL;
    switch (v->kind) {
    case FE_TILE:
        return arena_printf(cx->mem, "%s|%s%s", key, ir_type_str(&v->u.v->type, buf, sizeof buf),
                            v->weak ? "w" : "");
    case FE_TENSOR: {
        const fe_tensor *t = v->u.t;
        key = arena_printf(cx->mem, "%s|T%s%s", key, ir_dtype_name(t->dtype), t->is_out ? "o" : "");
        for (int d = 0; key && d < t->rank; d++)
            key = arena_printf(cx->mem, "%s,%s=%lld", key, t->dims[d].name ? t->dims[d].name : "",
                               (long long)t->dims[d].size);
        return key;
    }
    default:
        return arena_printf(cx->mem, "%s|c%s", key, fe_const_str(cx, v));
    }
}

static const char *instance_name(fe_ctx *cx, const char *base)
{
    if (!ir_module_find(cx->m, base)) return base;
    for (int n = 2;; n++) {
        const char *name = arena_printf(cx->mem, "%s.%d", base, n);
        if (!name || !ir_module_find(cx->m, name)) return name;
    }
}

/* A call is recursive when the fn being called is being lowered already
 * with the same fn constants: other constants change nothing about it, but
 * other fn values make another fn (`both(a: m1, b: both(a: m2, b: m3))`
 * composes, and ends). */
static bool same_frame(const fe_frame *fr, const ast_item *item, const char *fns)
{
    return fr->fn == item && strcmp(fr->fns, fns) == 0;
}

static void report_recursion(fe_ctx *cx, const ast_item *item, const char *fns, src_loc call)
{
    diag_error(cx->d, call, "recursive call to '%s'", item->name);
    for (const fe_frame *fr = cx->stack; fr && !same_frame(fr, item, fns) && fr->up; fr = fr->up)
        diag_note(cx->d, fr->call, "'%s' calls '%s' here", fr->up->fn->name, fr->fn->name);
}

/* Adds a parameter `name` to instance f, of the type of argument `like` (a
 * tile or a tensor), and gives in *out what it is inside f. */
static bool add_param(fe_ctx *cx, ir_func *f, const char *name, src_loc loc, const fe_val *like,
                      bool weak, fe_val *out)
{
    ir_param ip = {.name = name, .loc = loc};
    const fe_tensor *lt = like->kind == FE_TENSOR ? like->u.t : NULL;
    if (lt) {
        ip.type = ir_type_tensor(lt->dtype, lt->rank);
        ip.is_out = lt->is_out;
        memcpy(ip.dims, lt->dims, sizeof ip.dims);
    } else {
        ip.type = like->u.v->type;
    }
    ir_value *arg = ir_func_add_param(f, &ip);
    fe_tensor *t = lt ? arena_alloc(cx->mem, sizeof *t) : NULL;
    if (!arg || (lt && !t)) {
        fe_oom(cx);
        return false;
    }
    if (!t) {
        *out = fe_tile(arg, weak);
        return true;
    }
    *t = *lt;
    t->v = arg;
    t->name = name;
    *out = (fe_val){.kind = FE_TENSOR, .u.t = t};
    return true;
}

/* The instance's results: the body's trailing expression or `return e;`
 * (`result`), checked against the declared result types, then RETURN.
 * False after an error. */
static bool lower_results(fe_func *G, fe_inst *in, fe_val result)
{
    fe_ctx *cx = G->cx;
    const ast_item *item = G->item;
    const ast_type *ret = item->ret;
    int n = result.kind == FE_TUPLE ? result.u.tup.n : result.kind == FE_UNIT ? 0 : 1;
    const fe_val *vals = result.kind == FE_TUPLE ? result.u.tup.items : &result;
    src_loc rloc = item->body->value ? item->body->value->loc : item->body->end;
    if (result.kind == FE_ERR) return false;
    if (ret) {
        int want = ret->kind == AST_TY_TUPLE ? ret->elems.len : 1;
        if (want != n) {
            diag_error(cx->d, rloc, "fn '%s' is declared to return %d value%s, got %d", item->name,
                       want, want == 1 ? "" : "s", n);
            return false;
        }
    }
    ir_value **rv = arena_calloc(cx->mem, (size_t)(n ? n : 1), sizeof *rv);
    ir_type *rt = arena_calloc(cx->mem, (size_t)(n ? n : 1), sizeof *rt);
    in->weak_results = arena_calloc(cx->mem, (size_t)(n ? n : 1), sizeof *in->weak_results);
    if (!rv || !rt || !in->weak_results) {
        fe_oom(cx);
        return false;
    }
    for (int i = 0; i < n; i++) {
        const fe_val *v = &vals[i];
        if (v->kind == FE_ERR) return false;
        if (v->kind == FE_TENSOR) {
            diag_error(cx->d, rloc, "fn '%s' cannot return tensor '%s' (an fn may take tensors, "
                       "not return them)", item->name, v->u.t->name);
            return false;
        }
        if (!fe_check_operand(G, v, rloc)) return false;
        const ast_type *rt_ast = ret ? (ret->kind == AST_TY_TUPLE ? ret->elems.items[i] : ret) : NULL;
        ir_dtype dt;
        if (rt_ast) {
            if (!fe_type_dtype(G, rt_ast, &dt)) return false;
            rv[i] = fe_convert_to(G, v, dt, -1, NULL, rloc, "return",
                                  arena_printf(cx->mem, "from fn '%s'", item->name));
        } else {
            rv[i] = fe_to_ir(G, v, rloc);
            in->weak_results[i] = fe_is_weak(v);
        }
        if (!rv[i]) return false;
        rt[i] = rv[i]->type;
    }
    ir_func_set_results(G->f, n, rt);
    fe_build(G, item->body->end, IR_OP_RETURN, n, rv, 0, NULL, 0);
    return true;
}

/* Lowers the fn body for one key.  slot[] holds every parameter's value:
 * constants for const params, tiles/tensors for the others; caps are the
 * captured values the fn values among the constants refer to, passed as
 * hidden parameters after the others; fns is the printed form of the fn
 * constants.  An instance whose body has errors has f == NULL. */
static fe_inst *instantiate(fe_func *F, const ast_item *item, fe_scope *consts, const fe_val *slot,
                            const fe_capture *caps, int ncaps, const char *key, const char *fns,
                            src_loc call)
{
    fe_ctx *cx = F->cx;
    for (const fe_frame *fr = cx->stack; fr; fr = fr->up)
        if (same_frame(fr, item, fns)) {
            report_recursion(cx, item, fns, call);
            return NULL;
        }
    for (fe_inst *in = cx->insts; in; in = in->next)
        if (strcmp(in->key, key) == 0) return in;
    fe_inst *in = arena_alloc(cx->mem, sizeof *in);
    const char *name = instance_name(cx, item->name);
    ir_func *f = name ? ir_func_new(cx->m, name, IR_FUNC_FN, item->loc) : NULL;
    fe_capture *own = arena_calloc(cx->mem, (size_t)ncaps + 1, sizeof *own);
    if (!in || !f || !own) {
        fe_oom(cx);
        return NULL;
    }
    in->key = key;
    in->f = f;
    in->next = cx->insts;
    cx->insts = in;
    fe_global *g = fe_global_find(cx, item->name);
    if (g) g->used = true;

    fe_func G = {.cx = cx, .f = f, .item = item, .scope = consts, .caps = own, .ncaps = ncaps};
    ir_builder_at_end(&G.b, f->body);
    G.b.m = cx->m;
    G.b.f = f;
    fe_push_scope(&G);
    for (int i = 0; i < item->params.len; i++) {
        const ast_param *p = param_at(item, i);
        fe_val v;
        if (p->kind == AST_PARAM_CONST) continue;
        if (!add_param(cx, f, p->name, p->loc, &slot[i], slot[i].weak, &v)) return NULL;
        fe_declare(&G, p->name, FE_SYM_PARAM, v, p->loc);
    }
    for (int i = 0; i < ncaps; i++) {
        own[i].name = caps[i].name;
        if (!add_param(cx, f, caps[i].name, item->loc, &caps[i].val, false, &own[i].val))
            return NULL;
    }
    int errors = cx->d->nerrors;
    bool ok = declare_fn_dims(&G, item, call);
    if (ok) {
        fe_frame fr = {.fn = item, .fns = fns, .call = call, .up = cx->stack};
        cx->stack = &fr;
        fe_val result = fe_unit();
        diag *mark = cx->d->last;
        fe_block(&G, item->body, &result, true);
        cx->stack = fr.up;
        ok = lower_results(&G, in, result) && cx->d->nerrors == errors;
        if (F->item && F->item->name)
            fe_note_since(cx, mark, call, "in call to '%s' from '%s'", item->name, F->item->name);
    }
    if (!ok) in->f = NULL;
    return in;
}

/* Value of parameter p for a full call: a constant of its kind, or a tile or
 * tensor converted to its declared dtype.  Reports at loc. */
static bool check_value_arg(fe_func *F, const ast_item *item, const ast_param *p, fe_scope *consts,
                            fe_val *v, src_loc loc)
{
    fe_ctx *cx = F->cx;
    if (v->kind == FE_TENSOR) {
        if (p->type && p->kind != AST_PARAM_TENSOR) {
            diag_error(cx->d, loc, "argument '%s' of '%s' must be a tile, got %s", p->name,
                       item->name, fe_describe(cx, v));
            return false;
        }
        if (p->kind == AST_PARAM_TENSOR && p->type) {
            fe_func C = {.cx = cx, .scope = consts};
            ir_dtype dt;
            if (!fe_type_dtype(&C, p->type, &dt)) return false;
            if (dt != v->u.t->dtype || p->type->dims.len != v->u.t->rank) {
                diag_error(cx->d, loc, "argument '%s' of '%s' must be a tensor<%s> of rank %d, got %s",
                           p->name, item->name, ir_dtype_name(dt), p->type->dims.len,
                           fe_describe(cx, v));
                return false;
            }
            if (p->is_out && !v->u.t->is_out) {
                diag_error(cx->d, loc, "argument '%s' of '%s' must be an 'out' tensor", p->name,
                           item->name);
                return false;
            }
            for (int d = 0; d < p->type->dims.len; d++) {
                int64_t want;
                bool bad = false;
                if (!dim_constant(cx, item, consts, p->type->dims.items[d], &want, &bad)) {
                    if (bad) return false;
                    continue;
                }
                const ir_dim *got = &v->u.t->dims[d];
                if (got->size == want) continue;
                if (got->size > 0)
                    diag_error(cx->d, loc, "dimension %d of argument '%s' of '%s' must be %lld, "
                               "got %lld", d, p->name, item->name, (long long)want,
                               (long long)got->size);
                else
                    diag_error(cx->d, loc, "dimension %d of argument '%s' of '%s' must be %lld, "
                               "got the dynamic size '%s'", d, p->name, item->name,
                               (long long)want, got->name ? got->name : "?");
                return false;
            }
        }
        return true;
    }
    if (p->kind == AST_PARAM_TENSOR) {
        diag_error(cx->d, loc, "argument '%s' of '%s' must be a tensor, got %s", p->name, item->name,
                   fe_describe(cx, v));
        return false;
    }
    if (v->kind == FE_FN || v->kind == FE_DTYPE) {
        diag_error(cx->d, loc, "argument '%s' of '%s' must be a tile, got %s (declare it "
                   "'const %s: %s' to pass one)", p->name, item->name, fe_describe(cx, v), p->name,
                   v->kind == FE_FN ? "fn" : "dtype");
        return false;
    }
    if (!fe_check_operand(F, v, loc)) return false;
    ir_value *x;
    if (p->type) {
        fe_func C = {.cx = cx, .scope = consts};
        ir_dtype dt;
        if (!fe_type_dtype(&C, p->type, &dt)) return false;
        x = fe_convert_to(F, v, dt, -1, NULL, loc, "pass",
                          arena_printf(cx->mem, "to parameter '%s' of '%s'", p->name, item->name));
        if (x) *v = fe_tile(x, false);
    } else {
        bool weak = fe_is_weak(v);
        x = fe_to_ir(F, v, loc);
        if (x) *v = fe_tile(x, weak);
    }
    return x != NULL;
}

/* The arguments of one call, by parameter. */
typedef struct binding {
    const ast_item *item;
    int n;                       /* parameters */
    fe_val *slot;                /* each parameter's value */
    src_loc *sloc;               /* ... and where it came from */
    unsigned char *state;        /* 0 unbound, 1 bound by a partial application,
                                    2 by this call, 3 by its default */
    bool all_named;              /* every argument named (and at least one) */
    bool only_const;             /* ... binding constants (or captures) only */
    const char *via;             /* the name called (an fn value's name), or NULL */
    diag *mark;                  /* the last diagnostic before the call (notes attach after it) */
} binding;

/* Binds fn's earlier bindings, then the call's arguments: positional ones
 * fill the unbound parameters in order, except const parameters with a
 * default, which are only given by name.  False after an error. */
static bool bind_args(fe_func *F, const fe_fnval *fn, const ast_list *args, binding *b)
{
    fe_ctx *cx = F->cx;
    const ast_item *item = b->item;
    int n = b->n;
    for (int i = 0; i < fn->nbound; i++) {
        int k = param_index(item, fn->names[i]);
        if (k >= 0) {
            b->slot[k] = fn->vals[i];
            b->state[k] = 1;
        }
    }
    bool bad = false, by_name_only = false;
    int next = 0, nfree = 0;
    b->all_named = args->len > 0;
    b->only_const = true;
    for (int i = 0; i < n; i++) {
        nfree += b->state[i] == 0 && !has_default(param_at(item, i));
        by_name_only |= b->state[i] == 0 && has_default(param_at(item, i));
    }
    for (int i = 0; i < args->len; i++) {
        const ast_arg *arg = args->items[i];
        fe_val v = fe_expr(F, arg->value);
        bad |= v.kind == FE_ERR;
        if (v.kind == FE_CAPTURE && !arg->name) {
            diag_error(cx->d, arg->value->loc, "runtime parameter '%s' is captured by naming the "
                       "fn parameter it binds (%s(NAME: %s))", v.u.s, item->name, v.u.s);
            bad = true;
            continue;
        }
        int k;
        if (arg->name) {
            k = param_index(item, arg->name);
            if (k < 0) {
                fe_suggest s;
                fe_suggest_init(&s, arg->name);
                for (int j = 0; j < item->params.len; j++)
                    fe_suggest_add(&s, ((const ast_param *)item->params.items[j])->name);
                diag_error(cx->d, arg->loc, "unknown argument '%s' to '%s'%s", arg->name,
                           item->name, fe_did_you_mean(cx->mem, &s));
                bad = true;
                continue;
            }
            if (b->state[k]) {
                if (b->state[k] == 1)
                    diag_error(cx->d, arg->loc, "%s '%s' of '%s' is already bound",
                               param_at(item, k)->kind == AST_PARAM_CONST ? "constant" : "parameter",
                               arg->name, item->name);
                else
                    diag_error(cx->d, arg->loc, "argument '%s' given twice", arg->name);
                bad = true;
                continue;
            }
            /* A runtime parameter bound to a captured one keeps the call a
             * partial application. */
            if (param_at(item, k)->kind != AST_PARAM_CONST && v.kind != FE_CAPTURE)
                b->only_const = false;
            b->sloc[k] = arg->loc;
        } else {
            b->all_named = false;
            while (next < n && (b->state[next] || has_default(param_at(item, next)))) next++;
            if (next == n) {
                diag_error(cx->d, arg->value->loc, "too many arguments to '%s' (it takes %d%s)",
                           item->name, nfree,
                           by_name_only ? "; constants with a default are given by name" : "");
                bad = true;
                break;
            }
            k = next;
            b->sloc[k] = arg->value->loc;
        }
        b->slot[k] = v;
        b->state[k] = 2;
    }
    return !bad;
}

/* Is some parameter left without a value (not even a default)? */
static bool leaves_unbound(const binding *b)
{
    for (int k = 0; k < b->n; k++) {
        const ast_param *p = param_at(b->item, k);
        if (!b->state[k] && (p->kind != AST_PARAM_CONST || !p->deflt)) return true;
    }
    return false;
}

/* The fn value of a partial application: everything bound so far. */
static fe_val partial_application(fe_ctx *cx, binding *b)
{
    int nb = 0;
    for (int k = 0; k < b->n; k++) nb += b->state[k] != 0;
    fe_fnval *pf = arena_alloc(cx->mem, sizeof *pf);
    if (pf) {
        pf->names = arena_calloc(cx->mem, (size_t)nb + 1, sizeof *pf->names);
        pf->vals = arena_calloc(cx->mem, (size_t)nb + 1, sizeof *pf->vals);
    }
    if (!pf || !pf->names || !pf->vals) {
        fe_oom(cx);
        return fe_err();
    }
    pf->item = b->item;
    bool bad = false;
    for (int k = 0; k < b->n; k++) {
        if (!b->state[k]) continue;
        const ast_param *p = param_at(b->item, k);
        if (b->state[k] == 2 && p->kind == AST_PARAM_CONST &&
            !fe_const_fits_kind(fe_param_ckind(p), &b->slot[k])) {
            diag_error(cx->d, b->sloc[k], "constant '%s' of '%s' is %s, got %s", p->name,
                       b->item->name, fe_ckind_name(fe_param_ckind(p)), fe_describe(cx, &b->slot[k]));
            bad = true;
        }
        pf->names[pf->nbound] = p->name;
        pf->vals[pf->nbound++] = b->slot[k];
    }
    return bad ? fe_err() : (fe_val){.kind = FE_FN, .u.fn = pf};
}

/* Gives the const parameters left unbound their defaults, checks every
 * constant's kind and declares them, in order, in C's scope (a default may
 * use the constants before it); reports parameters left without a value.
 * False after an error. */
static bool bind_consts(fe_func *C, binding *b, src_loc cloc)
{
    fe_ctx *cx = C->cx;
    const ast_item *item = b->item;
    bool bad = false;
    for (int k = 0; k < b->n; k++) {
        const ast_param *p = param_at(item, k);
        if (p->kind != AST_PARAM_CONST) continue;
        ast_const_kind ck = fe_param_ckind(p);
        if (!b->state[k]) {
            if (!p->deflt) continue; /* reported below */
            if (p->deflt->kind == AST_AUTO) {
                if (ck != AST_CK_INT) {
                    diag_error(cx->d, p->deflt->loc, "'auto' needs an int constant, '%s' is %s",
                               p->name, fe_ckind_name(ck));
                    bad = true;
                    continue;
                }
                b->slot[k] = fe_int(32);
            } else {
                b->slot[k] = fe_const_expr(cx, C->scope, p->deflt);
            }
            b->sloc[k] = p->deflt->loc;
            b->state[k] = 3;
        }
        if (b->slot[k].kind == FE_ERR) {
            bad = true;
            continue;
        }
        if (!fe_const_fits_kind(ck, &b->slot[k])) {
            diag_error(cx->d, b->sloc[k], "constant '%s' of '%s' is %s, got %s", p->name, item->name,
                       fe_ckind_name(ck), fe_describe(cx, &b->slot[k]));
            bad = true;
            continue;
        }
        fe_declare(C, p->name, FE_SYM_CONST, b->slot[k], p->loc);
    }
    for (int k = 0; k < b->n; k++) {
        const ast_param *p = param_at(item, k);
        if (b->state[k] || (p->kind == AST_PARAM_CONST && p->deflt)) continue;
        bool tensor = p->kind == AST_PARAM_TENSOR || (p->type && p->type->dims.len > 0);
        if (tensor && b->via && strcmp(b->via, item->name) != 0)
            diag_error(cx->d, cloc, "missing argument '%s' in call to '%s' (an fn value that reads a "
                       "tensor captures it in the specialisation: %s(%s: %s))", p->name, item->name,
                       item->name, p->name, p->name);
        else
            diag_error(cx->d, cloc, "missing argument '%s' in call to '%s'", p->name, item->name);
        bad = true;
    }
    return !bad;
}

/* What captured parameter `name` is in F (reports an internal error if it
 * is nowhere: sema should have made that impossible). */
static const fe_val *capture_here(fe_func *F, const char *name, src_loc cloc)
{
    const fe_val *cv = fe_find_capture(F, name);
    if (!cv)
        diag_error(F->cx->d, cloc, "internal error: captured parameter '%s' is not available here",
                   name);
    return cv;
}

/* Replaces the runtime arguments bound to captures by what they are in F,
 * and collects the captures inside the fn values among the constants: they
 * are passed as hidden arguments (*caps, *ncaps).  False after an error. */
static bool resolve_captures(fe_func *F, binding *b, src_loc cloc, fe_capture **caps, int *ncaps)
{
    fe_ctx *cx = F->cx;
    for (int k = 0; k < b->n; k++) {
        if (b->slot[k].kind != FE_CAPTURE) continue;
        const fe_val *cv = capture_here(F, b->slot[k].u.s, cloc);
        if (!cv) return false;
        b->slot[k] = *cv;
        b->sloc[k] = cloc;
    }
    ptr_vec names = {0};
    for (int k = 0; k < b->n; k++)
        if (param_at(b->item, k)->kind == AST_PARAM_CONST)
            collect_captures(cx, &b->slot[k], &names, 0);
    *caps = arena_calloc(cx->mem, (size_t)names.len + 1, sizeof **caps);
    if (!*caps) {
        fe_oom(cx);
        return false;
    }
    for (int i = 0; i < names.len; i++) {
        const fe_val *cv = capture_here(F, names.items[i], cloc);
        if (!cv) return false;
        (*caps)[i] = (fe_capture){names.items[i], *cv};
    }
    *ncaps = names.len;
    return true;
}

/* The CALL op of instance `in`, and its results as a value. */
static fe_val emit_call(fe_func *F, const fe_inst *in, ir_value **ops, int nargs, src_loc cloc)
{
    ir_func *f = in->f;
    ir_op *op = fe_build(F, cloc, IR_OP_CALL, nargs, ops, f->nresults, f->result_types, 0);
    if (!op) return fe_err();
    op->attr.callee = f;
    if (f->nresults == 0) return fe_unit();
    if (f->nresults == 1) return fe_tile(op->results[0], in->weak_results[0]);
    fe_val *items = arena_calloc(F->cx->mem, (size_t)f->nresults, sizeof *items);
    if (!items) {
        fe_oom(F->cx);
        return fe_err();
    }
    for (int i = 0; i < f->nresults; i++) items[i] = fe_tile(op->results[i], in->weak_results[i]);
    return (fe_val){.kind = FE_TUPLE, .u.tup = {f->nresults, items}};
}

/* A binding of fn's parameters, all unbound; false on OOM. */
static bool new_binding(fe_ctx *cx, const ast_item *item, binding *b)
{
    int n = item->params.len;
    *b = (binding){.item = item, .n = n};
    b->slot = arena_calloc(cx->mem, (size_t)n + 1, sizeof *b->slot);
    b->sloc = arena_calloc(cx->mem, (size_t)n + 1, sizeof *b->sloc);
    b->state = arena_calloc(cx->mem, (size_t)n + 1, 1);
    if (!b->slot || !b->sloc || !b->state) {
        fe_oom(cx);
        return false;
    }
    return true;
}

static fe_val call_bound(fe_func *F, binding *bp, src_loc cloc);

/* A call through an fn value (`mask(...)` calling the user's `my_mask`)
 * that does not fit the fn: the errors are at the call, in the code that
 * calls the value; a note shows the fn.  Returns FE_ERR. */
static fe_val declared_here(fe_ctx *cx, const binding *b, diag *mark)
{
    if (b->via && strcmp(b->via, b->item->name) != 0)
        fe_note_since(cx, mark, b->item->name_loc, "'%s' (called as '%s') is declared here",
                      b->item->name, b->via);
    return fe_err();
}

fe_val fe_call_fn(fe_func *F, const fe_fnval *fn, const ast_expr *call)
{
    binding b;
    if (!fe_check_fn(F->cx, fn->item) || !new_binding(F->cx, fn->item, &b)) return fe_err();
    const ast_expr *callee = call->u.call.callee;
    b.via = callee->kind == AST_NAME ? callee->u.str : NULL;
    b.mark = F->cx->d->last;
    if (!bind_args(F, fn, &call->u.call.args, &b)) return declared_here(F->cx, &b, b.mark);
    return call_bound(F, &b, callee->loc);
}

/* Binds fn's earlier bindings, then vals[0..nvals) to the unbound
 * parameters in order (skipping const parameters with a default), and
 * calls it: how a built-in calls an fn value (associative_scan's combine). */
fe_val fe_call_fn_values(fe_func *F, const fe_fnval *fn, const fe_val *vals, int nvals,
                         src_loc cloc)
{
    fe_ctx *cx = F->cx;
    const ast_item *item = fn->item;
    binding b;
    if (!fe_check_fn(cx, item) || !new_binding(cx, item, &b)) return fe_err();
    for (int i = 0; i < fn->nbound; i++) {
        int k = param_index(item, fn->names[i]);
        if (k >= 0) {
            b.slot[k] = fn->vals[i];
            b.state[k] = 1;
        }
    }
    int next = 0;
    for (int i = 0; i < nvals; i++) {
        while (next < b.n && (b.state[next] || has_default(param_at(item, next)))) next++;
        if (next == b.n) {
            diag_error(cx->d, cloc, "fn '%s' takes fewer than the %d arguments it is given here",
                       item->name, nvals);
            return fe_err();
        }
        b.slot[next] = vals[i];
        b.sloc[next] = cloc;
        b.state[next] = 2;
    }
    return call_bound(F, &b, cloc);
}

int fe_fn_arg_operand(const fe_fnval *fn, int k)
{
    const ast_item *item = fn->item;
    int n = item->params.len;
    bool *bound = calloc((size_t)n + 1, 1);
    if (!bound) return -1;
    for (int i = 0; i < fn->nbound; i++) {
        int p = param_index(item, fn->names[i]);
        if (p >= 0) bound[p] = true;
    }
    int operand = -1, next = 0;
    for (int i = 0; i <= k; i++) {
        while (next < n && (bound[next] || has_default(param_at(item, next)))) next++;
        if (next == n) break;
        if (i == k) {
            operand = 0;
            for (int p = 0; p < next; p++) operand += param_at(item, p)->kind != AST_PARAM_CONST;
        }
        next++;
    }
    free(bound);
    return operand;
}

/* The rest of a call, once its arguments are bound: a partial application,
 * or the checked arguments and the CALL of the fn's instance. */
static fe_val call_bound(fe_func *F, binding *bp, src_loc cloc)
{
    fe_ctx *cx = F->cx;
    binding b = *bp;
    const ast_item *item = b.item;
    int n = b.n;
    bool unbound = leaves_unbound(&b);
    if (b.all_named && unbound && b.only_const) return partial_application(cx, &b);
    if (b.all_named && unbound && !F->f) {
        /* Meant as a partial application, in a constant context. */
        for (int k = 0; k < n; k++)
            if (b.state[k] == 2 && param_at(item, k)->kind != AST_PARAM_CONST &&
                b.slot[k].kind != FE_CAPTURE) {
                diag_error(cx->d, b.sloc[k], "'%s' of '%s' is a runtime parameter: a partial "
                           "application binds constants, and in a kernel specialisation's "
                           "arguments its own parameters", param_at(item, k)->name, item->name);
                return fe_err();
            }
    }
    fe_func C = {.cx = cx};
    fe_push_scope(&C);
    if (!bind_consts(&C, &b, cloc)) return declared_here(cx, &b, b.mark);
    if (!fe_need_ir(F, cloc, arena_printf(cx->mem, "a call of fn '%s'", item->name)))
        return fe_err();
    fe_capture *caps;
    int ncaps;
    if (!resolve_captures(F, &b, cloc, &caps, &ncaps)) return fe_err();

    /* Runtime arguments, converted, then the hidden ones; the instance key
     * says everything the instance depends on. */
    char *key = arena_printf(cx->mem, "%p", (const void *)item);
    char *fns = arena_strdup(cx->mem, "");
    ir_value **ops = arena_calloc(cx->mem, (size_t)(n + ncaps) + 1, sizeof *ops);
    if (!ops) {
        fe_oom(cx);
        return fe_err();
    }
    int nargs = 0;
    bool bad = false;
    for (int k = 0; k < n; k++) {
        const ast_param *p = param_at(item, k);
        if (p->kind == AST_PARAM_CONST) {
            key = key ? arena_printf(cx->mem, "%s|%s=", key, p->name) : NULL;
            key = key_add(cx, key, &b.slot[k]);
            if (b.slot[k].kind == FE_FN && fns)
                fns = arena_printf(cx->mem, "%s|%s=%s", fns, p->name, fe_const_str(cx, &b.slot[k]));
            continue;
        }
        if (!check_value_arg(F, item, p, C.scope, &b.slot[k], b.sloc[k])) {
            bad = true;
            continue;
        }
        key = key_add(cx, key, &b.slot[k]);
        ops[nargs++] = b.slot[k].kind == FE_TENSOR ? b.slot[k].u.t->v : b.slot[k].u.v;
    }
    if (bad) return fe_err();
    for (int i = 0; i < ncaps; i++) {
        key = key ? arena_printf(cx->mem, "%s|^%s", key, caps[i].name) : NULL;
        key = key_add(cx, key, &caps[i].val);
        ops[nargs++] = caps[i].val.kind == FE_TENSOR ? caps[i].val.u.t->v : caps[i].val.u.v;
    }
    if (!key || !fns) {
        fe_oom(cx);
        return fe_err();
    }
    fe_inst *in = instantiate(F, item, C.scope, b.slot, caps, ncaps, key, fns, cloc);
    if (!in || !in->f) return fe_err();
    return emit_call(F, in, ops, nargs, cloc);
}
