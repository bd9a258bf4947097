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
 * pass removes.  The chain of fns being lowered is kept to report recursion.
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

static int param_index(const ast_item *fn, const char *name)
{
    for (int i = 0; i < fn->params.len; i++)
        if (strcmp(((const ast_param *)fn->params.items[i])->name, name) == 0) return i;
    return -1;
}

static const ast_param *param_at(const ast_item *fn, int i) { return fn->params.items[i]; }

static bool has_default(const ast_param *p) { return p->kind == AST_PARAM_CONST && p->deflt; }

static ast_const_kind ckind_of(const ast_param *p)
{
    return p->type && p->type->kind == AST_TY_CONST ? p->type->ckind : AST_CK_INT;
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

static void report_recursion(fe_ctx *cx, const ast_item *item, src_loc call)
{
    diag_error(cx->d, call, "recursive call to '%s'", item->name);
    for (const fe_frame *fr = cx->stack; fr && fr->fn != item && fr->up; fr = fr->up)
        diag_note(cx->d, fr->call, "'%s' calls '%s' here", fr->up->fn->name, fr->fn->name);
}

/* Lowers the fn body for one key.  slot[] holds every parameter's value:
 * constants for const params, tiles/tensors for the others. */
static fe_inst *instantiate(fe_func *F, const ast_item *item, fe_scope *consts, const fe_val *slot,
                            const fe_capture *caps, int ncaps, const char *key, src_loc call)
{
    fe_ctx *cx = F->cx;
    for (const fe_frame *fr = cx->stack; fr; fr = fr->up)
        if (fr->fn == item) {
            report_recursion(cx, item, call);
            return NULL;
        }
    for (fe_inst *in = cx->insts; in; in = in->next)
        if (strcmp(in->key, key) == 0) return in;
    fe_inst *in = arena_alloc(cx->mem, sizeof *in);
    const char *name = instance_name(cx, item->name);
    ir_func *f = name ? ir_func_new(cx->m, name, IR_FUNC_FN, item->loc) : NULL;
    if (!in || !f) {
        fe_oom(cx);
        return NULL;
    }
    in->key = key;
    in->f = f;
    in->next = cx->insts;
    cx->insts = in;
    fe_global *g = fe_global_find(cx, item->name);
    if (g) g->used = true;

    fe_func G = {.cx = cx, .f = f, .item = item};
    ir_builder_at_end(&G.b, f->body);
    G.b.m = cx->m;
    G.b.f = f;
    G.scope = consts;
    fe_push_scope(&G);
    for (int i = 0; i < item->params.len; i++) {
        const ast_param *p = param_at(item, i);
        if (p->kind == AST_PARAM_CONST) continue;
        ir_param ip = {.name = p->name, .loc = p->loc};
        if (slot[i].kind == FE_TENSOR) {
            const fe_tensor *t = slot[i].u.t;
            ip.type = ir_type_tensor(t->dtype, t->rank);
            ip.is_out = t->is_out;
            memcpy(ip.dims, t->dims, sizeof ip.dims);
        } else {
            ip.type = slot[i].u.v->type;
        }
        ir_value *arg = ir_func_add_param(f, &ip);
        if (!arg) {
            fe_oom(cx);
            return NULL;
        }
        fe_val v;
        if (slot[i].kind == FE_TENSOR) {
            fe_tensor *t = arena_alloc(cx->mem, sizeof *t);
            if (!t) {
                fe_oom(cx);
                return NULL;
            }
            *t = *slot[i].u.t;
            t->v = arg;
            t->name = p->name;
            v = (fe_val){.kind = FE_TENSOR, .u.t = t};
        } else {
            v = fe_tile(arg, slot[i].weak);
        }
        fe_declare(&G, p->name, FE_SYM_PARAM, v, p->loc);
    }
    /* Hidden parameters: the captured values the fn values among the
     * constants refer to, in the order the caller passes them. */
    fe_capture *own = arena_calloc(cx->mem, (size_t)ncaps + 1, sizeof *own);
    if (!own) {
        fe_oom(cx);
        return NULL;
    }
    for (int i = 0; i < ncaps; i++) {
        ir_param ip = {.name = caps[i].name, .loc = item->loc};
        const fe_val *cv = &caps[i].val;
        if (cv->kind == FE_TENSOR) {
            ip.type = ir_type_tensor(cv->u.t->dtype, cv->u.t->rank);
            ip.is_out = cv->u.t->is_out;
            memcpy(ip.dims, cv->u.t->dims, sizeof ip.dims);
        } else {
            ip.type = cv->u.v->type;
        }
        ir_value *arg = ir_func_add_param(f, &ip);
        fe_tensor *t = cv->kind == FE_TENSOR ? arena_alloc(cx->mem, sizeof *t) : NULL;
        if (!arg || (cv->kind == FE_TENSOR && !t)) {
            fe_oom(cx);
            return NULL;
        }
        own[i].name = caps[i].name;
        if (t) {
            *t = *cv->u.t;
            t->v = arg;
            own[i].val = (fe_val){.kind = FE_TENSOR, .u.t = t};
        } else {
            own[i].val = fe_tile(arg, false);
        }
    }
    G.caps = own;
    G.ncaps = ncaps;

    fe_frame fr = {.fn = item, .call = call, .up = cx->stack};
    cx->stack = &fr;
    int errors = cx->d->nerrors;
    fe_val result = fe_unit();
    fe_block(&G, item->body, &result, true);
    cx->stack = fr.up;

    /* Results: the trailing expression or `return e;`, checked against the
     * declared result type. */
    const ast_type *ret = item->ret;
    int n = result.kind == FE_TUPLE ? result.u.tup.n : result.kind == FE_UNIT ? 0 : 1;
    const fe_val *vals = result.kind == FE_TUPLE ? result.u.tup.items : &result;
    src_loc rloc = item->body->value ? item->body->value->loc : item->body->end;
    if (ret) {
        int want = ret->kind == AST_TY_TUPLE ? ret->elems.len : 1;
        if (result.kind != FE_ERR && want != n) {
            diag_error(cx->d, rloc, "fn '%s' is declared to return %d value%s, got %d", item->name,
                       want, want == 1 ? "" : "s", n);
            result = fe_err();
        }
    }
    ir_value **rv = arena_calloc(cx->mem, (size_t)(n ? n : 1), sizeof *rv);
    ir_type *rt = arena_calloc(cx->mem, (size_t)(n ? n : 1), sizeof *rt);
    in->weak_results = arena_calloc(cx->mem, (size_t)(n ? n : 1), sizeof *in->weak_results);
    if (!rv || !rt || !in->weak_results) {
        fe_oom(cx);
        return NULL;
    }
    bool ok = result.kind != FE_ERR;
    for (int i = 0; ok && i < n; i++) {
        const fe_val *v = &vals[i];
        if (v->kind == FE_ERR) {
            ok = false;
            break;
        }
        if (!fe_check_operand(&G, v, rloc)) {
            ok = false;
            break;
        }
        const ast_type *rt_ast = ret ? (ret->kind == AST_TY_TUPLE ? ret->elems.items[i] : ret) : NULL;
        ir_dtype dt;
        if (rt_ast) {
            if (!fe_type_dtype(&G, rt_ast, &dt)) {
                ok = false;
                break;
            }
            rv[i] = fe_convert_to(&G, v, dt, -1, NULL, rloc, "return",
                                  arena_printf(cx->mem, "from fn '%s'", item->name));
        } else {
            rv[i] = fe_to_ir(&G, v, rloc);
            in->weak_results[i] = v->kind != FE_TILE || v->weak;
        }
        if (!rv[i]) ok = false;
        else rt[i] = rv[i]->type;
    }
    if (!ok || cx->d->nerrors > errors) {
        in->f = NULL;
        return in;
    }
    ir_func_set_results(f, n, rt);
    fe_build(&G, item->body->end, IR_OP_RETURN, n, rv, 0, NULL, 0);
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
        bool weak = v->kind != FE_TILE || v->weak;
        x = fe_to_ir(F, v, loc);
        if (x) *v = fe_tile(x, weak);
    }
    return x != NULL;
}

fe_val fe_call_fn(fe_func *F, const fe_fnval *fn, const ast_expr *call)
{
    fe_ctx *cx = F->cx;
    const ast_item *item = fn->item;
    const ast_list *args = &call->u.call.args;
    src_loc cloc = call->u.call.callee->loc;
    int n = item->params.len;
    fe_val *slot = arena_calloc(cx->mem, (size_t)n + 1, sizeof *slot);
    src_loc *sloc = arena_calloc(cx->mem, (size_t)n + 1, sizeof *sloc);
    unsigned char *state = arena_calloc(cx->mem, (size_t)n + 1, 1); /* 1 bound before, 2 by this call */
    if (!slot || !sloc || !state) {
        fe_oom(cx);
        return fe_err();
    }
    for (int i = 0; i < fn->nbound; i++) {
        int k = param_index(item, fn->names[i]);
        if (k >= 0) {
            slot[k] = fn->vals[i];
            state[k] = 1;
        }
    }
    bool bad = false, all_named = args->len > 0, only_const = true;
    int next = 0, nfree = 0;
    /* Positional arguments fill the unbound parameters in order, except
     * const parameters with a default: those are only given by name. */
    bool by_name_only = false;
    for (int i = 0; i < n; i++) {
        nfree += state[i] == 0 && !has_default(param_at(item, i));
        by_name_only |= state[i] == 0 && has_default(param_at(item, i));
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
                diag_error(cx->d, arg->loc, "unknown argument '%s' to '%s'", arg->name, item->name);
                bad = true;
                continue;
            }
            if (state[k]) {
                if (state[k] == 1)
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
            if (param_at(item, k)->kind != AST_PARAM_CONST && v.kind != FE_CAPTURE) only_const = false;
            sloc[k] = arg->loc;
        } else {
            all_named = false;
            while (next < n && (state[next] || has_default(param_at(item, next)))) next++;
            if (next == n) {
                diag_error(cx->d, arg->value->loc, "too many arguments to '%s' (it takes %d%s)",
                           item->name, nfree,
                           by_name_only ? "; constants with a default are given by name" : "");
                bad = true;
                break;
            }
            k = next;
            sloc[k] = arg->value->loc;
        }
        slot[k] = v;
        state[k] = 2;
    }
    if (bad) return fe_err();

    /* Const parameters, in order, into the callee's scope (defaults may use
     * earlier constants). */
    fe_func C = {.cx = cx};
    fe_push_scope(&C);
    bool unbound = false;
    for (int k = 0; k < n; k++) {
        const ast_param *p = param_at(item, k);
        if (!state[k] && (p->kind != AST_PARAM_CONST || !p->deflt)) unbound = true;
    }
    if (all_named && !only_const && unbound && !F->f) {
        /* Meant as a partial application, in a constant context. */
        for (int k = 0; k < n; k++)
            if (state[k] == 2 && param_at(item, k)->kind != AST_PARAM_CONST &&
                slot[k].kind != FE_CAPTURE) {
                diag_error(cx->d, sloc[k], "'%s' of '%s' is a runtime parameter: a partial "
                           "application binds constants, and in a kernel specialisation's "
                           "arguments its own parameters", param_at(item, k)->name, item->name);
                return fe_err();
            }
    }
    if (all_named && only_const && unbound) {
        fe_fnval *pf = arena_alloc(cx->mem, sizeof *pf);
        int nb = 0;
        for (int k = 0; k < n; k++) nb += state[k] != 0;
        if (pf) {
            pf->names = arena_calloc(cx->mem, (size_t)nb + 1, sizeof *pf->names);
            pf->vals = arena_calloc(cx->mem, (size_t)nb + 1, sizeof *pf->vals);
        }
        if (!pf || !pf->names || !pf->vals) {
            fe_oom(cx);
            return fe_err();
        }
        pf->item = item;
        for (int k = 0; k < n; k++) {
            if (!state[k]) continue;
            const ast_param *p = param_at(item, k);
            if (state[k] == 2 && p->kind == AST_PARAM_CONST &&
                !fe_const_fits_kind(ckind_of(p), &slot[k])) {
                diag_error(cx->d, sloc[k], "constant '%s' of '%s' is %s, got %s", p->name, item->name,
                           fe_ckind_name(ckind_of(p)),
                           fe_describe(cx, &slot[k]));
                bad = true;
            }
            pf->names[pf->nbound] = p->name;
            pf->vals[pf->nbound++] = slot[k];
        }
        if (bad) return fe_err();
        return (fe_val){.kind = FE_FN, .u.fn = pf};
    }

    for (int k = 0; k < n; k++) {
        const ast_param *p = param_at(item, k);
        if (p->kind != AST_PARAM_CONST) continue;
        ast_const_kind ck = ckind_of(p);
        if (!state[k]) {
            if (!p->deflt) continue; /* reported below */
            if (p->deflt->kind == AST_AUTO) {
                if (ck != AST_CK_INT) {
                    diag_error(cx->d, p->deflt->loc, "'auto' needs an int constant, '%s' is %s",
                               p->name, fe_ckind_name(ck));
                    bad = true;
                    continue;
                }
                slot[k] = fe_int(32);
            } else {
                slot[k] = fe_const_expr(cx, C.scope, p->deflt);
            }
            sloc[k] = p->deflt->loc;
            state[k] = 3;
        }
        if (slot[k].kind == FE_ERR) {
            bad = true;
            continue;
        }
        if (!fe_const_fits_kind(ck, &slot[k])) {
            diag_error(cx->d, sloc[k], "constant '%s' of '%s' is %s, got %s", p->name, item->name,
                       fe_ckind_name(ck), fe_describe(cx, &slot[k]));
            bad = true;
            continue;
        }
        fe_declare(&C, p->name, FE_SYM_CONST, slot[k], p->loc);
    }
    for (int k = 0; k < n; k++) {
        if (state[k]) continue;
        const ast_param *p = param_at(item, k);
        if (p->kind == AST_PARAM_CONST && p->deflt) continue;
        diag_error(cx->d, cloc, "missing argument '%s' in call to '%s'", p->name, item->name);
        bad = true;
    }
    if (bad) return fe_err();
    if (!fe_need_ir(F, cloc, arena_printf(cx->mem, "a call of fn '%s'", item->name)))
        return fe_err();

    /* Captured runtime arguments: what they are in this function. */
    for (int k = 0; k < n; k++) {
        if (slot[k].kind != FE_CAPTURE) continue;
        const fe_val *cv = fe_find_capture(F, slot[k].u.s);
        if (!cv) {
            diag_error(cx->d, cloc, "internal error: captured parameter '%s' is not available here",
                       slot[k].u.s);
            return fe_err();
        }
        slot[k] = *cv;
        sloc[k] = cloc;
    }
    /* Captures inside the fn values among the constants: hidden arguments. */
    ptr_vec capnames = {0};
    for (int k = 0; k < n; k++)
        if (param_at(item, k)->kind == AST_PARAM_CONST) collect_captures(cx, &slot[k], &capnames, 0);
    fe_capture *caps = arena_calloc(cx->mem, (size_t)capnames.len + 1, sizeof *caps);
    if (!caps) {
        fe_oom(cx);
        return fe_err();
    }
    for (int i = 0; i < capnames.len; i++) {
        const fe_val *cv = fe_find_capture(F, capnames.items[i]);
        if (!cv) {
            diag_error(cx->d, cloc, "internal error: captured parameter '%s' is not available here",
                       (const char *)capnames.items[i]);
            return fe_err();
        }
        caps[i] = (fe_capture){capnames.items[i], *cv};
    }

    /* Runtime arguments, converted; then the instance key. */
    char *key = arena_printf(cx->mem, "%p", (const void *)item);
    int nargs = 0;
    ir_value **ops = arena_calloc(cx->mem, (size_t)(n + capnames.len) + 1, sizeof *ops);
    if (!ops) {
        fe_oom(cx);
        return fe_err();
    }
    for (int k = 0; k < n; k++) {
        const ast_param *p = param_at(item, k);
        if (p->kind == AST_PARAM_CONST) {
            key = key ? arena_printf(cx->mem, "%s|%s=", key, p->name) : NULL;
            key = key_add(cx, key, &slot[k]);
            continue;
        }
        if (!check_value_arg(F, item, p, C.scope, &slot[k], sloc[k])) {
            bad = true;
            continue;
        }
        key = key_add(cx, key, &slot[k]);
        ops[nargs++] = slot[k].kind == FE_TENSOR ? slot[k].u.t->v : slot[k].u.v;
    }
    if (bad) return fe_err();
    for (int i = 0; i < capnames.len; i++) {
        key = key ? arena_printf(cx->mem, "%s|^%s", key, caps[i].name) : NULL;
        key = key_add(cx, key, &caps[i].val);
        ops[nargs++] = caps[i].val.kind == FE_TENSOR ? caps[i].val.u.t->v : caps[i].val.u.v;
    }
    if (!key) {
        fe_oom(cx);
        return fe_err();
    }
    fe_inst *in = instantiate(F, item, C.scope, slot, caps, capnames.len, key, cloc);
    if (!in || !in->f) return fe_err();
    ir_func *f = in->f;
    ir_op *op = fe_build(F, cloc, IR_OP_CALL, nargs, ops, f->nresults, f->result_types, 0);
    if (!op) return fe_err();
    op->attr.callee = f;
    if (f->nresults == 0) return fe_unit();
    if (f->nresults == 1) return fe_tile(op->results[0], in->weak_results[0]);
    fe_val *items = arena_calloc(cx->mem, (size_t)f->nresults, sizeof *items);
    if (!items) {
        fe_oom(cx);
        return fe_err();
    }
    for (int i = 0; i < f->nresults; i++) items[i] = fe_tile(op->results[i], in->weak_results[i]);
    return (fe_val){.kind = FE_TUPLE, .u.tup = {f->nresults, items}};
}
