/* fe_lower_kernel.c - kernels, specialisations and the front end's entry
 * points (fe_compile, fe_check).
 *
 * A kernel is lowered once per set of constants: its const parameters are
 * bound from (in priority order) a `kernel x = k(...)` specialisation, a -D
 * define, the default, or `auto`; a kernel with a constant left unbound is
 * skipped when compiling everything, and an error when named.  The front end
 * never picks an `auto` value: compiler/'s scheduler passes it in
 * (fe_options.auto_values), after a first compilation reported which
 * constants are `auto` (fe_options.auto_report).
 * Const parameters are not IR parameters: they are folded in and recorded in
 * ir_func.consts.  Tensor and scalar parameters become IR parameters in
 * declaration order; each dynamic dimension name becomes a TENSOR_DIM of the
 * first tensor that has it, at the top of both the grid and the body.
 *
 * A specialisation may declare parameters of its own
 * (`kernel k_doc(doc: tensor<i32>[Z, N]) = k(mask: document(doc: doc));`).
 * They follow the base kernel's parameters in the IR and at launch (a dim
 * named like one of the kernel's is the same dim, checked at launch), but
 * are not names in the kernel's body: they are reachable only through the
 * fn values that captured them (fe_func.caps, fe_lower_call.c).
 *
 * fe_check lowers every kernel of the file, those with unbound constants
 * too: with the values of each `// tilec: -D ...` line of the file that
 * gives them one, else with representative values it chooses, and reports
 * each kernel checked with the values used (docs/language.md, "Checking
 * generic kernels").  Errors get context notes: the specialisation that
 * asked for the kernel, the values check chose. */
#include "fe_lower.h"
#include "support/timing.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct kbinding {
    const char *name;
    fe_val val;
} kbinding;

typedef struct fe_spec {
    const ast_item *kernel;      /* the kernel specialised, NULL if broken */
    int n;
    kbinding *b;
    int nparams;                 /* parameters added by this spec and the ones */
    const ast_param **params;    /*   it specialises, outermost first */
} fe_spec;

typedef struct kconst {
    const ast_param *p;
    fe_val val;
    bool was_auto;
    bool pending_auto;           /* `auto` without a value yet (auto_report) */
    src_loc at;                  /* where the value was given */
    int source;                  /* kc_source */
} kconst;

static const ast_param *kparam(const ast_item *k, int i) { return k->params.items[i]; }

static const ast_param *find_param(const ast_item *k, const char *name)
{
    for (int i = 0; i < k->params.len; i++)
        if (strcmp(kparam(k, i)->name, name) == 0) return kparam(k, i);
    return NULL;
}

static const char *kind_word(fe_global_kind k)
{
    switch (k) {
    case FE_G_CONST: return "a constant";
    case FE_G_FN: return "an fn";
    default: return "a kernel";
    }
}

/* "; did you mean 'k'?" among the kernels and specialisations, or "". */
static const char *kernel_hint(fe_ctx *cx, const char *name)
{
    fe_suggest s;
    fe_suggest_init(&s, name);
    for (int i = 0; i < cx->globals.len; i++) {
        const fe_global *g = cx->globals.items[i];
        if (g->kind == FE_G_KERNEL || g->kind == FE_G_SPEC) fe_suggest_add(&s, g->name);
    }
    return fe_did_you_mean(cx->mem, &s);
}

/* ---- specialisations --------------------------------------------------- */

/* The dim of kernel k named `name`, or NULL. */
static const ast_expr *find_dim(const ast_item *k, const char *name)
{
    for (int i = 0; i < k->params.len; i++) {
        const ast_param *p = kparam(k, i);
        if (p->kind != AST_PARAM_TENSOR || !p->type) continue;
        for (int d = 0; d < p->type->dims.len; d++) {
            const ast_expr *de = p->type->dims.items[d];
            if (de->kind == AST_NAME && strcmp(de->u.str, name) == 0) return de;
        }
    }
    return NULL;
}

/* Adds spec item `it`'s own parameters to sp->params (after the inherited
 * ones); false after reporting a bad one. */
static bool add_spec_params(fe_ctx *cx, const ast_item *it, fe_spec *sp)
{
    bool ok = true;
    for (int i = 0; i < it->params.len; i++) {
        const ast_param *p = it->params.items[i];
        const ast_param *clash = sp->kernel ? find_param(sp->kernel, p->name) : NULL;
        const ast_expr *dim = sp->kernel && !clash ? find_dim(sp->kernel, p->name) : NULL;
        if (p->kind == AST_PARAM_CONST) {
            diag_error(cx->d, p->loc, "a kernel specialisation cannot declare constant '%s' "
                       "(it binds the kernel's constants in its call)", p->name);
            ok = false;
        } else if (p->kind == AST_PARAM_VALUE && !p->type) {
            diag_error(cx->d, p->loc, "kernel parameter '%s' needs a type (e.g. '%s: f32')",
                       p->name, p->name);
            ok = false;
        } else if (fe_is_builtin_name(p->name)) {
            diag_error(cx->d, p->loc, "'%s' is a built-in name and cannot be redefined", p->name);
            ok = false;
        } else if (clash || dim) {
            diag_error(cx->d, p->loc, "parameter '%s' of specialisation '%s' collides with %s '%s' "
                       "of kernel '%s'", p->name, it->name, clash ? "parameter" : "dimension",
                       p->name, sp->kernel->name);
            diag_note(cx->d, clash ? clash->loc : dim->loc, "'%s' is declared here", p->name);
            ok = false;
        } else {
            for (int j = 0; j < sp->nparams; j++)
                if (strcmp(sp->params[j]->name, p->name) == 0) {
                    diag_error(cx->d, p->loc, "redefinition of parameter '%s'", p->name);
                    diag_note(cx->d, sp->params[j]->loc, "previous definition is here");
                    ok = false;
                    break;
                }
        }
        sp->params[sp->nparams++] = p;
    }
    return ok;
}

/* The scope a spec's arguments are evaluated in: each of its parameters
 * stands for itself, as an FE_CAPTURE. */
static fe_scope *capture_scope(fe_ctx *cx, const fe_spec *sp)
{
    fe_scope *sc = arena_alloc(cx->mem, sizeof *sc);
    if (!sc) {
        fe_oom(cx);
        return NULL;
    }
    for (int i = 0; i < sp->nparams; i++) {
        fe_sym *sym = arena_alloc(cx->mem, sizeof *sym);
        if (!sym) {
            fe_oom(cx);
            return NULL;
        }
        sym->name = sp->params[i]->name;
        sym->kind = FE_SYM_PARAM;
        sym->val = (fe_val){.kind = FE_CAPTURE, .u.s = sp->params[i]->name};
        sym->loc = sp->params[i]->loc;
        sym->next = sc->syms;
        sc->syms = sym;
    }
    return sc;
}

static fe_spec *eval_spec(fe_ctx *cx, fe_global *g)
{
    if (g->spec) return g->spec;
    fe_spec *sp = arena_alloc(cx->mem, sizeof *sp);
    if (!sp) {
        fe_oom(cx);
        return NULL;
    }
    const ast_item *it = g->item;
    if (g->state == 1) {
        diag_error(cx->d, it->base_loc, "specialisation '%s' refers to itself", g->name);
        return sp;
    }
    g->state = 1;
    fe_global *base = fe_global_find(cx, it->base);
    const fe_spec *parent = NULL;
    if (!base) {
        diag_error(cx->d, it->base_loc, "unknown kernel '%s'%s", it->base,
                   kernel_hint(cx, it->base));
    } else if (base->kind == FE_G_SPEC && base->state == 1) {
        diag_error(cx->d, it->base_loc, "specialisation cycle through '%s'", base->name);
    } else if (base->kind == FE_G_SPEC) {
        parent = eval_spec(cx, base);
        if (parent) sp->kernel = parent->kernel;
    } else if (base->kind == FE_G_KERNEL) {
        sp->kernel = base->item;
    } else {
        diag_error(cx->d, it->base_loc, "'%s' is not a kernel (it is %s)", it->base,
                   kind_word(base->kind));
    }
    g->spec = sp;
    g->state = 2;
    int np = parent ? parent->n : 0, npp = parent ? parent->nparams : 0;
    sp->b = arena_calloc(cx->mem, (size_t)(np + it->args.len) + 1, sizeof *sp->b);
    sp->params = arena_calloc(cx->mem, (size_t)(npp + it->params.len) + 1, sizeof *sp->params);
    if (!sp->b || !sp->params) {
        fe_oom(cx);
        sp->kernel = NULL;
        return sp;
    }
    for (int i = 0; i < np; i++) sp->b[sp->n++] = parent->b[i];
    for (int i = 0; i < npp; i++) sp->params[sp->nparams++] = parent->params[i];
    bool bad = !add_spec_params(cx, it, sp);
    fe_scope *captures = capture_scope(cx, sp);
    const ast_item *outer_kernel = cx->spec_kernel;
    const char *outer_name = cx->spec_name;
    cx->spec_kernel = sp->kernel;
    cx->spec_name = it->name;
    for (int i = 0; i < it->args.len; i++) {
        const ast_arg *a = it->args.items[i];
        fe_val v = fe_const_expr(cx, captures, a->value);
        if (!sp->kernel || !a->name) {
            bad = true;
            continue;
        }
        const ast_param *p = find_param(sp->kernel, a->name);
        if (!p) {
            fe_suggest s;
            fe_suggest_init(&s, a->name);
            for (int j = 0; j < sp->kernel->params.len; j++)
                if (kparam(sp->kernel, j)->kind == AST_PARAM_CONST)
                    fe_suggest_add(&s, kparam(sp->kernel, j)->name);
            diag_error(cx->d, a->loc, "kernel '%s' has no constant named '%s'%s", sp->kernel->name,
                       a->name, fe_did_you_mean(cx->mem, &s));
            bad = true;
            continue;
        }
        if (p->kind != AST_PARAM_CONST) {
            diag_error(cx->d, a->loc, "'%s' of kernel '%s' is not a constant (only const "
                       "parameters can be bound)", a->name, sp->kernel->name);
            bad = true;
            continue;
        }
        if (v.kind == FE_ERR) {
            bad = true;
            continue;
        }
        if (!fe_const_fits_kind(fe_param_ckind(p), &v)) {
            diag_error(cx->d, a->value->loc, "constant '%s' of kernel '%s' is %s, got %s", a->name,
                       sp->kernel->name, fe_ckind_name(fe_param_ckind(p)), fe_describe(cx, &v));
            bad = true;
            continue;
        }
        int k = 0;
        while (k < sp->n && strcmp(sp->b[k].name, a->name) != 0) k++;
        for (int j = 0; j < i; j++) {
            const ast_arg *prev = it->args.items[j];
            if (prev->name && strcmp(prev->name, a->name) == 0) {
                diag_error(cx->d, a->loc, "constant '%s' is bound twice", a->name);
                bad = true;
            }
        }
        sp->b[k] = (kbinding){a->name, v};
        if (k == sp->n) sp->n++;
    }
    cx->spec_kernel = outer_kernel;
    cx->spec_name = outer_name;
    if (bad) sp->kernel = NULL;
    return sp;
}

/* ---- kernel signature and constants ------------------------------------ */

/* Checks what does not depend on constants, once per kernel item. */
static void check_signature(fe_ctx *cx, fe_global *g)
{
    if (!g || g->state) return;
    g->state = 1;
    const ast_item *k = g->item;
    fe_check_param_names(cx, k);
    for (int i = 0; i < k->params.len; i++) {
        const ast_param *p = kparam(k, i);
        if (p->kind == AST_PARAM_VALUE && !p->type)
            diag_error(cx->d, p->loc, "kernel parameter '%s' needs a type (e.g. '%s: f32')",
                       p->name, p->name);
        if (p->kind == AST_PARAM_CONST && p->deflt && p->deflt->kind == AST_AUTO &&
            fe_param_ckind(p) != AST_CK_INT)
            diag_error(cx->d, p->deflt->loc, "'auto' needs an int constant, '%s' is %s", p->name,
                       fe_ckind_name(fe_param_ckind(p)));
    }
}

/* Where a kernel constant's value came from.  By priority: the
 * specialisation, -D, a `// tilec:` line, the default, auto, tilec check's
 * choice; tilec check reports them in the enum's order (representative
 * values first). */
typedef enum kc_source {
    KC_SPEC, KC_LINE, KC_CHOSEN, KC_DEFINE, KC_DEFAULT, KC_AUTO,
} kc_source;

static fe_def *line_define(const fe_check_line *l, const char *name)
{
    for (int i = l ? l->ndefs - 1 : -1; i >= 0; i--)
        if (strcmp(l->defs[i].name, name) == 0) return &l->defs[i];
    return NULL;
}

/* `tilec check`'s representative value for constant p that nothing binds;
 * false for an fn constant (there is no representative fn).  Ints are
 * distinct powers of two (16, 32, ... in order: two sizes that must differ
 * are not checked equal, and none is 1, which broadcasts). */
static bool chosen_value(fe_ctx *cx, const ast_param *p, int *nint, fe_val *out)
{
    switch (fe_param_ckind(p)) {
    case AST_CK_INT:
        *out = fe_int((int64_t)16 << (*nint < 20 ? (*nint)++ : 20));
        return true;
    case AST_CK_FLOAT: *out = fe_float(1.0); return true;
    case AST_CK_BOOL:
        *out = fe_bool(cx->bool_choice);
        cx->chose_bool = true;
        return true;
    case AST_CK_DTYPE: *out = fe_dtype(IR_F32); return true;
    case AST_CK_FN: return false;
    }
    return false;
}

/* Binds every const parameter of kernel k; false if one is unbound or bad
 * (then it is an FE_ERR in the scope, so defaults using it stay silent). */
/* The scheduler's value for `auto` constant `name` of kernel `kname`. */
static const fe_auto_value *auto_value(fe_ctx *cx, const char *kname, const char *name)
{
    const fe_options *o = cx->opts;
    for (int i = o ? o->nauto_values - 1 : -1; i >= 0; i--) {
        const fe_auto_value *v = &o->auto_values[i];
        if (strcmp(v->name, name) == 0 && (!v->kernel || strcmp(v->kernel, kname) == 0)) return v;
    }
    return NULL;
}

/* Binds `auto` constant p of kernel kname: the scheduler's value or tilec
 * check's representative one; false when it has none yet (pending_auto:
 * compile_global reports it). */
static bool bind_auto(fe_ctx *cx, const char *kname, const ast_param *p, int *nint, kconst *c)
{
    const fe_auto_value *av = auto_value(cx, kname, p->name);
    c->was_auto = true;
    c->source = KC_AUTO;
    if (av) {
        c->val = fe_int(av->value);
        return true;
    }
    if (cx->checking) return chosen_value(cx, p, nint, &c->val);
    c->pending_auto = true;
    return false;
}

/* A kernel whose only unbound constants are `auto` ones: reports them to
 * auto_report (the caller schedules and compiles again), or, without one,
 * says that nothing chose them. */
static void report_pending_autos(fe_ctx *cx, const char *kname, const kconst *c, int n)
{
    ptr_vec *report = cx->opts ? cx->opts->auto_report : NULL;
    for (int i = 0; i < n; i++) {
        if (!c[i].pending_auto) continue;
        if (!report) {
            diag_error(cx->d, c[i].p->deflt->loc, "internal error: constant '%s' of kernel '%s' "
                       "is 'auto' and no schedule chose it (compile through tc_compile)",
                       c[i].p->name, kname);
            continue;
        }
        fe_auto_const *a = arena_calloc(cx->mem, 1, sizeof *a);
        if (!a || ptr_vec_push(cx->mem, report, a)) {
            fe_oom(cx);
            return;
        }
        *a = (fe_auto_const){.kernel = kname, .name = c[i].p->name, .loc = c[i].p->deflt->loc};
    }
}

static bool bind_consts(fe_ctx *cx, const ast_item *k, const char *kname, const fe_spec *sp,
                        kconst *out, bool report_unbound, fe_scope **scope,
                        const char **unbound)
{
    fe_func C = {.cx = cx};
    fe_push_scope(&C);
    bool ok = true;
    int nc = 0, nint = 0;
    for (int i = 0; i < k->params.len; i++) {
        const ast_param *p = kparam(k, i);
        if (p->kind != AST_PARAM_CONST) continue;
        kconst *c = &out[nc++];
        c->p = p;
        c->val = fe_err();
        bool found = false;
        src_loc at = p->loc;
        for (int j = 0; sp && j < sp->n; j++)
            if (strcmp(sp->b[j].name, p->name) == 0) {
                c->val = sp->b[j].val;
                c->source = KC_SPEC;
                found = true;
            }
        fe_def *over = found && report_unbound ? fe_find_define(cx, p->name) : NULL;
        if (over && over->expr) {
            /* A -D for the kernel named cannot be dropped without a word. */
            diag_error(cx->d, over->expr->loc, "-D %s: constant '%s' of kernel '%s' is bound by the "
                       "specialisation (%s=%s) and cannot be overridden", p->name, p->name, k->name,
                       p->name, fe_const_str(cx, &c->val));
            ok = false;
        }
        fe_def *def = found ? NULL : fe_find_define(cx, p->name);
        c->source = def ? KC_DEFINE : c->source;
        if (!def && !found && (def = line_define(cx->line, p->name))) c->source = KC_LINE;
        if (def && def->state == 0 && def->expr && def->expr->kind == AST_NAME &&
            fe_param_ckind(p) == AST_CK_DTYPE && !fe_is_builtin_name(def->expr->u.str) &&
            !fe_global_find(cx, def->expr->u.str)) {
            /* -D T=fp32: say what a dtype may be, not just "unknown name". */
            fe_unknown_dtype(cx, def->expr->loc, def->expr->u.str);
            def->state = 2;
            def->val = fe_err();
        }
        if (def) {
            c->val = fe_define_value(cx, def);
            if (def->expr) at = def->expr->loc;
            found = true;
        } else if (!found && p->deflt) {
            if (p->deflt->kind == AST_AUTO) {
                if (fe_param_ckind(p) != AST_CK_INT) {
                    ok = false; /* reported by check_signature */
                    fe_declare(&C, p->name, FE_SYM_CONST, fe_err(), p->loc);
                    continue;
                }
                if (!bind_auto(cx, kname, p, &nint, c)) {
                    ok = false;
                    fe_declare(&C, p->name, FE_SYM_CONST, fe_err(), p->loc);
                    continue;
                }
            } else {
                c->val = fe_const_expr(cx, C.scope, p->deflt);
                at = p->deflt->loc;
                c->source = KC_DEFAULT;
            }
            found = true;
        } else if (!found && cx->checking) {
            found = chosen_value(cx, p, &nint, &c->val);
            c->source = KC_CHOSEN;
            if (!found)
                diag_error(cx->d, p->loc, "kernel '%s' cannot be checked: constant '%s' (fn) has "
                           "no value (give one with -D %s=... or a '// tilec: -D %s=...' line "
                           "in the file)", k->name, p->name, p->name, p->name);
        }
        if (!found) {
            if (unbound && *unbound)
                *unbound = arena_printf(cx->mem, "%s, '%s'", *unbound, p->name);
            else if (unbound)
                *unbound = arena_printf(cx->mem, "'%s'", p->name);
            if (report_unbound)
                diag_error(cx->d, p->loc, "constant '%s' needs a value (give it with -D %s=...)",
                           p->name, p->name);
            ok = false;
            fe_declare(&C, p->name, FE_SYM_CONST, fe_err(), p->loc);
            continue;
        }
        if (c->val.kind == FE_ERR) {
            ok = false;
            fe_declare(&C, p->name, FE_SYM_CONST, fe_err(), p->loc);
            continue;
        }
        if (!fe_const_fits_kind(fe_param_ckind(p), &c->val)) {
            diag_error(cx->d, at, "constant '%s' of kernel '%s' is %s, got %s", p->name, k->name,
                       fe_ckind_name(fe_param_ckind(p)), fe_describe(cx, &c->val));
            ok = false;
            fe_declare(&C, p->name, FE_SYM_CONST, fe_err(), p->loc);
            continue;
        }
        c->at = c->was_auto ? p->deflt->loc : at;
        fe_declare(&C, p->name, FE_SYM_CONST, c->val, p->loc);
    }
    *scope = C.scope;
    return ok;
}

/* ---- lowering one kernel ----------------------------------------------- */

typedef struct kparam_info {
    const ast_param *p;
    ir_param ip;
} kparam_info;

typedef struct dyn_dim {
    const char *name;
    int param;                   /* index into the IR params */
    int axis;
} dyn_dim;

/* Params, dims and dynamic dim names of kernel k under constants `consts`:
 * k's own, then the `nextra` parameters its specialisation adds (their dims
 * become no names of their own). */
static bool build_params(fe_ctx *cx, const ast_item *k, const ast_param *const *extra, int nextra,
                         fe_scope *consts, kparam_info *info, int *nparams, dyn_dim *dims,
                         int *ndims)
{
    fe_func C = {.cx = cx, .scope = consts};
    bool ok = true;
    *nparams = *ndims = 0;
    for (int i = 0; i < k->params.len + nextra; i++) {
        bool own = i < k->params.len;
        const ast_param *p = own ? kparam(k, i) : extra[i - k->params.len];
        if (p->kind == AST_PARAM_CONST) continue;
        kparam_info *pi = &info[(*nparams)++];
        pi->p = p;
        pi->ip.name = p->name;
        pi->ip.loc = p->loc;
        ir_dtype dt = IR_F32;
        if (!p->type) {
            ok = false;
            continue;
        }
        if (!fe_type_dtype(&C, p->type, &dt)) {
            ok = false;
            continue;
        }
        if (p->kind == AST_PARAM_VALUE) {
            pi->ip.type = ir_type_scalar(dt);
            continue;
        }
        int rank = p->type->dims.len;
        if (rank < 1 || rank > IR_MAX_RANK) {
            diag_error(cx->d, p->type->loc, "tensor '%s' has rank %d (1 to %d allowed)", p->name,
                       rank, IR_MAX_RANK);
            ok = false;
            continue;
        }
        pi->ip.type = ir_type_tensor(dt, rank);
        pi->ip.is_out = p->is_out;
        for (int d = 0; d < rank; d++) {
            const ast_expr *de = p->type->dims.items[d];
            ir_dim *dim = &pi->ip.dims[d];
            dim->size = -1;
            if (de->kind == AST_INT) {
                dim->size = de->u.ival;
            } else if (de->kind == AST_NAME) {
                dim->name = de->u.str;
                fe_sym *s = fe_lookup(&C, de->u.str);
                fe_global *g = s ? NULL : fe_global_find(cx, de->u.str);
                fe_val v = s ? s->val : g && g->kind == FE_G_CONST ? fe_global_const(cx, g, de->loc)
                                                                   : fe_unit();
                if (v.kind == FE_ERR) {
                    ok = false;
                    continue;
                }
                if (v.kind == FE_UNIT) {
                    int j = 0;
                    while (j < *ndims && strcmp(dims[j].name, de->u.str) != 0) j++;
                    if (j == *ndims && own) dims[(*ndims)++] = (dyn_dim){de->u.str, *nparams - 1, d};
                    continue;
                }
                if (v.kind != FE_INT) {
                    diag_error(cx->d, de->loc, "dimension '%s' of '%s' must be an int constant, "
                               "got %s", de->u.str, p->name, fe_describe(cx, &v));
                    ok = false;
                    continue;
                }
                dim->size = v.u.i;
            } else {
                diag_error(cx->d, de->loc, "a tensor dimension must be a name or an integer");
                ok = false;
                continue;
            }
            if (dim->size < 1) {
                diag_error(cx->d, de->loc, "dimension %d of '%s' must be positive, got %lld", d,
                           p->name, (long long)dim->size);
                ok = false;
            }
        }
    }
    return ok;
}

/* Declares the parameters and dims for the block `blk` (body or grid): the
 * kernel's first `nown`, the rest (a specialisation's) as captures. */
static void declare_params(fe_func *F, ir_block *blk, const kparam_info *info, int np, int nown,
                           const dyn_dim *dims, int nd, bool report)
{
    fe_ctx *cx = F->cx;
    fe_push_scope(F);
    fe_capture *caps = arena_calloc(cx->mem, (size_t)(np - nown) + 1, sizeof *caps);
    if (!caps) {
        fe_oom(cx);
        return;
    }
    F->caps = caps;
    F->ncaps = 0;
    for (int i = 0; i < np; i++) {
        const ast_param *p = info[i].p;
        fe_val v;
        if (info[i].ip.type.kind == IR_TY_TENSOR) {
            fe_tensor *t = arena_alloc(cx->mem, sizeof *t);
            if (!t) {
                fe_oom(cx);
                return;
            }
            t->v = blk->args[i];
            t->name = p->name;
            t->dtype = info[i].ip.type.dtype;
            t->rank = info[i].ip.type.rank;
            memcpy(t->dims, info[i].ip.dims, sizeof t->dims);
            t->is_out = p->is_out;
            v = (fe_val){.kind = FE_TENSOR, .u.t = t};
        } else {
            v = fe_tile(blk->args[i], false);
        }
        if (i >= nown) {
            caps[F->ncaps++] = (fe_capture){p->name, v};
            continue;
        }
        fe_sym *s = F->scope->syms;
        while (s && strcmp(s->name, p->name) != 0) s = s->next;
        /* Clashes were reported by check_signature. */
        if (!s && !fe_is_builtin_name(p->name)) fe_declare(F, p->name, FE_SYM_PARAM, v, p->loc);
    }
    for (int i = 0; i < nd; i++) {
        if (fe_is_builtin_name(dims[i].name)) continue; /* reported by check_signature */
        fe_sym *s = F->scope->syms;
        while (s && strcmp(s->name, dims[i].name) != 0) s = s->next;
        if (s) {
            if (report)
                diag_error(cx->d, s->loc, "'%s' is both a dimension and a parameter", dims[i].name);
            continue;
        }
        ir_value *t = blk->args[dims[i].param];
        ir_op *op = fe_build(F, info[dims[i].param].ip.loc, IR_OP_TENSOR_DIM, 1, &t, 1,
                             &(ir_type){.kind = IR_TY_TILE, .dtype = IR_I32}, 0);
        if (!op) return;
        op->attr.i = dims[i].axis;
        op->results[0]->name = dims[i].name;
        fe_declare(F, dims[i].name, FE_SYM_DIM, fe_tile(op->results[0], false), info[dims[i].param].ip.loc);
    }
}

/* The grid is evaluated once, before any program runs: it may not read
 * program ids or memory, directly or in an fn it calls. */
typedef struct grid_check {
    fe_ctx *cx;
    const ir_op *call;           /* the grid's call being walked into, or NULL */
} grid_check;

static void check_grid_op(ir_op *op, void *ctx)
{
    grid_check *gc = ctx;
    switch (op->code) {
    case IR_OP_PROGRAM_ID: case IR_OP_NUM_PROGRAMS: case IR_OP_LOAD: case IR_OP_STORE:
    case IR_OP_ATOMIC_ADD:
        diag_error(gc->cx->d, op->loc, "'%s' cannot be used in the grid (it is computed before "
                   "any program runs)", ir_op_table[op->code].name);
        if (gc->call) diag_note(gc->cx->d, gc->call->loc, "called in the grid here");
        break;
    case IR_OP_CALL:
        if (!op->attr.callee) break;
        grid_check inner = {gc->cx, gc->call ? gc->call : op};
        ir_walk(op->attr.callee->body, check_grid_op, &inner);
        break;
    default:
        break;
    }
}

/* An i64 grid size is launched as i32: one that does not fit would launch
 * the wrong number of programs, so the grid asserts it fits (reported at the
 * grid expression when the launch evaluates the grid). */
static void check_grid_fits_i32(fe_func *F, const fe_val *v, int axis, src_loc loc)
{
    fe_val lo = fe_binop(F, AST_OP_GE, *v, fe_int(INT32_MIN), loc);
    fe_val hi = fe_binop(F, AST_OP_LE, *v, fe_int(INT32_MAX), loc);
    fe_val ok = fe_binop(F, AST_OP_LAND, lo, hi, loc);
    if (ok.kind != FE_TILE) return;
    ir_op *op = fe_build(F, loc, IR_OP_ASSERT, 1, &ok.u.v, 0, NULL, 0);
    if (op)
        op->attr.str = arena_printf(F->cx->mem, "grid size along axis %d does not fit i32 "
                                                "(at most 2147483647 programs)", axis);
}

static void lower_grid(fe_func *F, const ast_item *k)
{
    fe_ctx *cx = F->cx;
    ir_value *g[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        if (i < k->grid.len) {
            const ast_expr *e = k->grid.items[i];
            fe_val v = fe_expr(F, e);
            if (v.kind == FE_TILE && v.u.v->type.rank == 0 && v.u.v->type.dtype == IR_I64)
                check_grid_fits_i32(F, &v, i, e->loc);
            if (v.kind == FE_INT || (v.kind == FE_TILE && v.u.v->type.rank == 0 &&
                                     ir_dtype_is_int(v.u.v->type.dtype)))
                g[i] = fe_materialize(F, &v, IR_I32, 0, NULL, e->loc);
            else if (v.kind != FE_ERR)
                diag_error(cx->d, e->loc, "grid size must be an integer scalar, got %s",
                           fe_describe(cx, &v));
        }
        if (!g[i]) {
            F->b.loc = k->loc;
            g[i] = ir_const_int(&F->b, IR_I32, 1, 0, NULL);
            if (!g[i]) {
                fe_oom(cx);
                return;
            }
        }
    }
    fe_build(F, k->loc, IR_OP_YIELD, 3, g, 0, NULL, 0);
    ir_walk(F->f->grid, check_grid_op, &(grid_check){cx, NULL});
}

static void lower_kernel(fe_ctx *cx, const ast_item *k, const fe_spec *sp, const char *fname,
                         src_loc loc, const kconst *consts, int nconsts, fe_scope *const_scope)
{
    int np, nd, nextra = sp ? sp->nparams : 0;
    int nall = k->params.len + nextra;
    kparam_info *info = arena_calloc(cx->mem, (size_t)nall + 1, sizeof *info);
    dyn_dim *dims = arena_calloc(cx->mem, (size_t)nall * IR_MAX_RANK + 1, sizeof *dims);
    if (!info || !dims) {
        fe_oom(cx);
        return;
    }
    if (!build_params(cx, k, sp ? sp->params : NULL, nextra, const_scope, info, &np, dims, &nd))
        return;
    int nown = np - nextra;
    ir_func *f = ir_func_new(cx->m, fname, IR_FUNC_KERNEL, loc);
    if (!f) {
        fe_oom(cx);
        return;
    }
    int nover = 0;
    for (int i = 0; i < cx->globals.len; i++)
        nover += ((fe_global *)cx->globals.items[i])->define >= 0;
    f->consts = arena_calloc(cx->mem, (size_t)(nconsts + nover) + 1, sizeof *f->consts);
    if (!f->consts) {
        fe_oom(cx);
        return;
    }
    for (int i = 0; i < nconsts; i++)
        f->consts[f->nconsts++] = (ir_const_binding){consts[i].p->name,
                                                     fe_const_str(cx, &consts[i].val),
                                                     consts[i].was_auto, consts[i].at};
    for (int i = 0; i < cx->globals.len; i++) {
        fe_global *g = cx->globals.items[i];
        if (g->define >= 0 && g->state == 2 && g->val.kind != FE_ERR)
            f->consts[f->nconsts++] = (ir_const_binding){g->name, fe_const_str(cx, &g->val), false, {0}};
    }
    for (int i = 0; i < np; i++)
        if (!ir_func_add_param(f, &info[i].ip)) {
            fe_oom(cx);
            return;
        }

    fe_func G = {.cx = cx, .f = f, .item = k, .is_kernel = true, .scope = const_scope};
    ir_builder_at_end(&G.b, f->grid);
    declare_params(&G, f->grid, info, np, nown, dims, nd, true);
    lower_grid(&G, k);

    fe_func B = {.cx = cx, .f = f, .item = k, .is_kernel = true, .scope = const_scope};
    ir_builder_at_end(&B.b, f->body);
    declare_params(&B, f->body, info, np, nown, dims, nd, false);
    fe_block(&B, k->body, NULL, true);
    fe_build(&B, k->body ? k->body->end : loc, IR_OP_RETURN, 0, NULL, 0, NULL, 0);
}

/* ---- context notes ----------------------------------------------------- */

void fe_note_since(fe_ctx *cx, diag *mark, src_loc loc, const char *fmt, ...)
{
    diag_ctx *d = cx->d;
    diag *g = mark ? mark->next : d->first;
    if (!g) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *msg = n >= 0 ? arena_alloc(cx->mem, (size_t)n + 1) : NULL;
    if (!msg) {
        fe_oom(cx);
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, (size_t)n + 1, fmt, ap);
    va_end(ap);
    while (g) {
        if (g->level == DIAG_NOTE) {
            g = g->next;
            continue;
        }
        diag *end = g;
        bool there = false;   /* a note of its own already points at loc */
        while (end->next && end->next->level == DIAG_NOTE) {
            end = end->next;
            there |= end->loc.line == loc.line && end->loc.col == loc.col && end->loc.file == loc.file;
        }
        if (there) {
            g = end->next;
            continue;
        }
        diag *note = arena_alloc(cx->mem, sizeof *note);
        if (!note) {
            fe_oom(cx);
            return;
        }
        *note = (diag){.level = DIAG_NOTE, .loc = loc, .msg = msg, .next = end->next};
        end->next = note;
        if (d->last == end) d->last = note;
        g = note->next;
    }
}

/* ---- one mistake, one error ------------------------------------------- */

static bool same_loc(src_loc a, src_loc b)
{
    return a.line == b.line && a.col == b.col &&
           (a.file == b.file || (a.file && b.file && strcmp(a.file, b.file) == 0));
}

/* A kernel body lowered for several sets of constants, or an fn body for
 * several argument types, repeats its mistakes: an error identical to an
 * earlier one (place and text) is dropped, with its notes. */
static void drop_repeated_errors(diag_ctx *d)
{
    diag *prev = NULL;
    for (diag *g = d->first; g;) {
        bool seen = false;
        for (const diag *e = d->first; g->level == DIAG_ERROR && e != g && !seen; e = e->next)
            seen = e->level == DIAG_ERROR && same_loc(e->loc, g->loc) && strcmp(e->msg, g->msg) == 0;
        if (!seen) {
            prev = g;
            g = g->next;
            continue;
        }
        diag *next = g->next;
        while (next && next->level == DIAG_NOTE) next = next->next;
        if (prev) prev->next = next;
        else d->first = next;
        if (!next) d->last = prev;
        d->nerrors--;
        g = next;
    }
}

static const char *source_word(fe_ctx *cx, int source)
{
    switch (source) {
    case KC_DEFINE: return "-D";
    case KC_LINE: return cx->line ? arena_printf(cx->mem, "line %d", cx->line->line) : "line";
    case KC_DEFAULT: return "default";
    case KC_AUTO: return "auto";
    case KC_CHOSEN: return "chosen";
    default: return "";
    }
}

/* "D=16, E=32 (chosen), T=bf16 (default)": the constants from sources
 * lo to hi, a group per source, in declaration order within it. */
static char *const_list(fe_ctx *cx, const kconst *c, int n, int lo, int hi, char *s)
{
    for (int src = lo; src <= hi; src++) {
        bool any = false;
        for (int i = 0; s && i < n; i++)
            if (c[i].source == src) {
                s = arena_printf(cx->mem, "%s%s%s=%s", s, *s ? ", " : "", c[i].p->name,
                                 fe_const_str(cx, &c[i].val));
                any = true;
            }
        if (any && s) s = arena_printf(cx->mem, "%s (%s)", s, source_word(cx, src));
    }
    return s;
}

/* tilec check's line for a kernel checked: the values it was checked with,
 * representative ones first; a specialisation's own are in its source. */
static void report_checked(fe_ctx *cx, const fe_global *g, const kconst *c, int n, diag *mark)
{
    char *rep = const_list(cx, c, n, KC_LINE, KC_CHOSEN, arena_strdup(cx->mem, ""));
    if (rep && *rep)
        fe_note_since(cx, mark, g->item->name_loc, "'%s' was checked with %s", g->name, rep);
    char *all = const_list(cx, c, n, KC_DEFINE, KC_AUTO, rep);
    const char *line = all ? arena_printf(cx->mem, "checked %s%s%s", g->name, *all ? " with " : "",
                                          all) : NULL;
    ptr_vec *out = cx->opts ? cx->opts->check_report : NULL;
    if (!line || (out && ptr_vec_push(cx->mem, out, (void *)line))) fe_oom(cx);
}

/* Lowers kernel or specialisation g if all its constants are bound (in
 * fe_check, with representative values for the others).  A kernel left
 * unlowered gets a warning if warn_unbound. */
static void compile_global(fe_ctx *cx, fe_global *g, bool report_unbound, bool warn_unbound)
{
    const ast_item *k = NULL;
    const fe_spec *sp = NULL;
    if (g->kind == FE_G_SPEC) {
        sp = eval_spec(cx, g);
        if (!sp || !sp->kernel) return;
        k = sp->kernel;
    } else if (g->kind == FE_G_KERNEL) {
        k = g->item;
    } else {
        return;
    }
    fe_global *kg = fe_global_find(cx, k->name);
    check_signature(cx, kg);
    kconst *consts = arena_calloc(cx->mem, (size_t)k->params.len + 1, sizeof *consts);
    if (!consts) {
        fe_oom(cx);
        return;
    }
    int nconsts = 0;
    for (int i = 0; i < k->params.len; i++) nconsts += kparam(k, i)->kind == AST_PARAM_CONST;
    fe_scope *scope = NULL;
    int errors = cx->d->nerrors;
    const char *unbound = NULL;
    if (!bind_consts(cx, k, g->name, sp, consts, report_unbound, &scope, &unbound) ||
        cx->d->nerrors > errors) {
        if (!unbound && cx->d->nerrors == errors)
            report_pending_autos(cx, g->name, consts, nconsts);
        if (warn_unbound && unbound && cx->d->nerrors == errors)
            diag_report(cx->d, DIAG_WARNING, g->item->name_loc, "kernel '%s' is not compiled: "
                        "no value for %s %s (give %s with -D NAME=VALUE)", g->name,
                        strchr(unbound, ',') ? "constants" : "constant", unbound,
                        strchr(unbound, ',') ? "them" : "it");
        return;
    }
    g->used = true;
    if (kg) kg->used = true;
    diag *mark = cx->d->last;
    lower_kernel(cx, k, sp, g->name, g->item->name_loc, consts, nconsts, scope);
    if (sp) fe_note_since(cx, mark, g->item->name_loc, "in specialisation '%s' requested here", g->name);
    if (cx->checking) report_checked(cx, g, consts, nconsts, mark);
    drop_repeated_errors(cx->d);
}

/* ---- entry points ------------------------------------------------------ */

static tile_status setup(fe_ctx *cx, ir_module *m, const char *path, const char *text,
                         const fe_options *opts)
{
    memset(cx, 0, sizeof *cx);
    cx->mem = m->mem;
    cx->d = m->diags;
    cx->m = m;
    cx->opts = opts;
    tile_status st = fe_load_program(cx, path, text);
    if (st != TILE_OK) return st;
    fe_parse_defines(cx);
    for (int i = 0; i < cx->ndefs; i++) {
        fe_global *g = fe_global_find(cx, cx->defs[i].name);
        if (g && g->kind == FE_G_CONST) g->define = i;
    }
    fe_eval_all_globals(cx);
    return cx->oom ? TILE_ERR_NOMEM : TILE_OK;
}

static tile_status finish(fe_ctx *cx, tile_status st)
{
    drop_repeated_errors(cx->d);
    if (cx->oom) return TILE_ERR_NOMEM;
    if (st != TILE_OK) return st;
    return cx->d->nerrors ? TILE_ERR_SEMA : TILE_OK;
}

/* Adds the names a -D can give in kernel item k (constants, runtime
 * parameters, dimensions) to s; true if `name` is one of them.  Constants
 * that specialisation sp binds do not count (*bound says one was named). */
static bool kernel_names(const ast_item *k, const fe_spec *sp, const char *name, fe_suggest *s,
                         bool *bound)
{
    bool found = false;
    for (int i = 0; k && i < k->params.len; i++) {
        const ast_param *p = kparam(k, i);
        bool spec_binds = false;
        for (int b = 0; sp && p->kind == AST_PARAM_CONST && b < sp->n; b++)
            spec_binds |= strcmp(sp->b[b].name, p->name) == 0;
        if (spec_binds) {
            *bound |= strcmp(p->name, name) == 0;
            continue;
        }
        found |= strcmp(p->name, name) == 0;
        fe_suggest_add(s, p->name);
        for (int d = 0; p->kind == AST_PARAM_TENSOR && p->type && d < p->type->dims.len; d++) {
            const ast_expr *de = p->type->dims.items[d];
            if (de->kind != AST_NAME) continue;
            found |= strcmp(de->u.str, name) == 0;
            fe_suggest_add(s, de->u.str);
        }
    }
    return found;
}

/* Compiling or checking a whole file: a -D that names nothing in it (no
 * top-level constant, and no constant, parameter or dimension of one of its
 * kernels) is refused, as `tilec run` refuses one for its kernel. */
static void check_defines_named(fe_ctx *cx)
{
    const ast_file *root = cx->files.len ? cx->files.items[0] : NULL;
    for (int i = 0; root && i < cx->ndefs; i++) {
        const fe_def *def = &cx->defs[i];
        fe_global *cg = fe_global_find(cx, def->name);
        if (cg && cg->kind == FE_G_CONST) continue;
        fe_suggest s;
        fe_suggest_init(&s, def->name);
        bool found = false, bound = false;
        for (int j = 0; j < root->items.len; j++) {
            const ast_item *it = root->items.items[j];
            fe_global *g = it->name ? fe_global_find(cx, it->name) : NULL;
            if (!g || g->item != it || (g->kind != FE_G_KERNEL && g->kind != FE_G_SPEC)) continue;
            const fe_spec *sp = g->kind == FE_G_SPEC ? eval_spec(cx, g) : NULL;
            found |= kernel_names(g->kind == FE_G_SPEC ? (sp ? sp->kernel : NULL) : it, sp,
                                  def->name, &s, &bound);
            if (g->kind == FE_G_SPEC) found |= kernel_names(it, NULL, def->name, &s, &bound);
        }
        const src_file *cl = diag_find_source(cx->d, "<command line>");
        if (!found && bound && def->expr && cl)
            diag_error(cx->d, ((src_loc){cl->path, i + 1, 4}), "-D %s: every kernel of this file "
                       "with a constant '%s' binds it in its specialisation, and a -D cannot "
                       "override that", def->name, def->name);
        else if (!found && def->expr && cl)
            diag_error(cx->d, ((src_loc){cl->path, i + 1, 4}),
                       "-D %s: no kernel of this file has a constant, parameter or dimension "
                       "named '%s', and there is no such top-level constant%s", def->name,
                       def->name, fe_did_you_mean(cx->mem, &s));
    }
}

/* Every kernel and specialisation of the root file, in order. */
static void compile_root(fe_ctx *cx)
{
    const ast_file *root = cx->files.len ? cx->files.items[0] : NULL;
    for (int i = 0; root && i < root->items.len; i++) {
        const ast_item *it = root->items.items[i];
        if (it->kind != AST_ITEM_KERNEL && it->kind != AST_ITEM_SPEC) continue;
        fe_global *g = fe_global_find(cx, it->name);
        if (g && g->item == it) compile_global(cx, g, false, true);
    }
}

static tile_status compile_kernel(ir_module *m, const char *path, const char *text,
                                 const char *kernel, const fe_options *opts);

tile_status fe_compile(ir_module *m, const char *path, const char *text, const char *kernel,
                       const fe_options *opts)
{
    tt_begin(TT_LOWER);
    tile_status st = compile_kernel(m, path, text, kernel, opts);
    tt_end(TT_LOWER);
    return st;
}

static tile_status compile_kernel(ir_module *m, const char *path, const char *text,
                                 const char *kernel, const fe_options *opts)
{
    fe_ctx cx;
    tt_begin(TT_PARSE);
    tile_status st = setup(&cx, m, path, text, opts);
    tt_end(TT_PARSE);
    if (st != TILE_OK) return finish(&cx, st);
    if (!kernel) {
        if (opts && opts->strict_defines) check_defines_named(&cx);
        compile_root(&cx);
        return finish(&cx, TILE_OK);
    }
    fe_global *g = fe_global_find(&cx, kernel);
    if (!g)
        diag_error(cx.d, (src_loc){.file = path}, "no kernel named '%s'%s", kernel,
                   kernel_hint(&cx, kernel));
    else if (g->kind != FE_G_KERNEL && g->kind != FE_G_SPEC)
        diag_error(cx.d, g->item->name_loc, "'%s' is not a kernel (it is %s)", kernel,
                   kind_word(g->kind));
    else
        compile_global(&cx, g, true, false);
    return finish(&cx, TILE_OK);
}

/* ---- tilec check -------------------------------------------------------- */

/* The constants of the root file's kernels (a specialisation's: its
 * kernel's), to check the names a `// tilec:` line gives. */
static void suggest_kernel_consts(fe_ctx *cx, const ast_file *root, const char *name,
                                  bool *found, fe_suggest *s)
{
    for (int i = 0; i < root->items.len; i++) {
        const ast_item *it = root->items.items[i];
        fe_global *g = it->name ? fe_global_find(cx, it->name) : NULL;
        if (!g || g->item != it || (g->kind != FE_G_KERNEL && g->kind != FE_G_SPEC)) continue;
        const fe_spec *sp = g->kind == FE_G_SPEC ? eval_spec(cx, g) : NULL;
        const ast_item *k = g->kind == FE_G_SPEC ? (sp ? sp->kernel : NULL) : it;
        for (int j = 0; k && j < k->params.len; j++) {
            if (kparam(k, j)->kind != AST_PARAM_CONST) continue;
            *found |= strcmp(kparam(k, j)->name, name) == 0;
            fe_suggest_add(s, kparam(k, j)->name);
        }
    }
}

/* Parses one `-D NAME=VALUE` of a `// tilec:` line at p (the value's text
 * ends at white space outside brackets); returns the end, or NULL after an
 * error. */
static const char *parse_line_define(fe_ctx *cx, const src_file *sf, int line, const char *ls,
                                     const char *p, fe_def *def)
{
    const char *name = p, *eq = p;
    while (*eq && *eq != '=' && *eq != ' ' && *eq != '\t' && *eq != '\n') eq++;
    src_loc at = {sf->path, line, (int)(p - ls) + 1};
    if (*eq != '=' || eq == name) {
        diag_error(cx->d, at, "expected NAME=VALUE after -D in a '// tilec:' line");
        return NULL;
    }
    const char *v = eq + 1, *e = v;
    int depth = 0;
    while (*e && *e != '\n' && (depth > 0 || (*e != ' ' && *e != '\t'))) {
        depth += *e == '(' || *e == '[';
        depth -= *e == ')' || *e == ']';
        e++;
    }
    def->name = arena_strndup(cx->mem, name, (size_t)(eq - name));
    char *src = arena_printf(cx->mem, "const __d = %.*s;", (int)(e - v), v);
    if (!def->name || !src) {
        fe_oom(cx);
        return NULL;
    }
    const char *semi = memchr(v, ';', (size_t)(e - v));
    if (semi) {
        diag_error(cx->d, ((src_loc){sf->path, line, (int)(semi - ls) + 1}),
                   "a -D value is one expression (found ';')");
        return e;
    }
    int before = cx->d->nerrors;
    enum { WRAPPER = 12 };   /* strlen("const __d = ") */
    diag *mark = cx->d->last;
    ast_file *af = fe_parse_at(cx->mem, cx->d, sf->path, src, strlen(src), line,
                               (int)(v - ls) + 1 - WRAPPER);
    fe_reword_wrapper(cx, mark);
    if (!af || cx->d->nerrors > before) return e;
    const ast_item *it = af->items.len == 1 ? af->items.items[0] : NULL;
    if (!it || it->kind != AST_ITEM_CONST || !it->value) {
        diag_error(cx->d, at, "bad value for -D %s: expected one expression", def->name);
        return e;
    }
    def->expr = it->value;
    return e;
}

/* The `// tilec: -D NAME=VALUE ...` lines of the root file, each one set of
 * values to check the kernels with. */
static int parse_check_lines(fe_ctx *cx, const ast_file *root, fe_check_line **out)
{
    const src_file *sf = diag_find_source(cx->d, root->path);
    static const char marker[] = "// tilec:";
    int n = 0, cap = 0;
    fe_check_line *lines = NULL;
    const char *ls = sf ? sf->text : "";
    for (int line = 1; *ls; line++) {
        const char *le = strchr(ls, '\n');
        if (!le) le = ls + strlen(ls);
        const char *p = ls;
        while (p < le && (*p == ' ' || *p == '\t')) p++;
        if ((size_t)(le - p) >= sizeof marker - 1 && strncmp(p, marker, sizeof marker - 1) == 0) {
            if (n == cap) {
                cap = cap ? 2 * cap : 4;
                fe_check_line *grown = arena_calloc(cx->mem, (size_t)cap, sizeof *grown);
                if (!grown) {
                    fe_oom(cx);
                    return 0;
                }
                if (n) memcpy(grown, lines, (size_t)n * sizeof *lines);
                lines = grown;
            }
            fe_check_line *l = &lines[n++];
            *l = (fe_check_line){.line = line};
            int maxdefs = (int)(le - p) / 4 + 1;
            l->defs = arena_calloc(cx->mem, (size_t)maxdefs, sizeof *l->defs);
            if (!l->defs) {
                fe_oom(cx);
                return 0;
            }
            p += sizeof marker - 1;
            while (p && p < le) {
                while (p < le && (*p == ' ' || *p == '\t')) p++;
                if (p >= le) break;
                src_loc at = {sf->path, line, (int)(p - ls) + 1};
                if (strncmp(p, "-D", 2) != 0 || l->ndefs >= maxdefs) {
                    const char *w = p;
                    while (w < le && *w != ' ' && *w != '\t') w++;
                    diag_error(cx->d, at, "a '// tilec:' line takes only -D NAME=VALUE, got '%.*s'",
                               (int)(w - p), p);
                    break;
                }
                p += 2;
                while (p < le && (*p == ' ' || *p == '\t')) p++;
                fe_def *def = &l->defs[l->ndefs];
                src_loc name_at = {sf->path, line, (int)(p - ls) + 1};
                p = parse_line_define(cx, sf, line, ls, p, def);
                if (!p) break;
                bool known = false;
                fe_suggest s;
                fe_suggest_init(&s, def->name);
                suggest_kernel_consts(cx, root, def->name, &known, &s);
                if (!known)
                    diag_error(cx->d, name_at, "-D %s: no kernel of this file has a constant '%s'%s",
                               def->name, def->name, fe_did_you_mean(cx->mem, &s));
                else
                    l->ndefs++;
            }
        }
        ls = *le ? le + 1 : le;
    }
    *out = lines;
    return n;
}

/* Does line l give a value to a constant of g's kernel that neither g (a
 * specialisation) nor a -D binds? */
static bool line_applies(fe_ctx *cx, const fe_check_line *l, fe_global *g)
{
    const fe_spec *sp = g->kind == FE_G_SPEC ? eval_spec(cx, g) : NULL;
    const ast_item *k = g->kind == FE_G_SPEC ? (sp ? sp->kernel : NULL) : g->item;
    for (int j = 0; k && j < k->params.len; j++) {
        const ast_param *p = kparam(k, j);
        if (p->kind != AST_PARAM_CONST || !line_define(l, p->name) || fe_find_define(cx, p->name))
            continue;
        bool bound = false;
        for (int b = 0; sp && b < sp->n; b++) bound |= strcmp(sp->b[b].name, p->name) == 0;
        if (!bound) return true;
    }
    return false;
}

tile_status fe_check(ir_module *m, const char *path, const fe_options *opts)
{
    fe_ctx cx;
    tile_status st = setup(&cx, m, path, NULL, opts);
    if (st != TILE_OK) return finish(&cx, st);
    cx.checking = true;
    if (opts && opts->strict_defines) check_defines_named(&cx);
    const ast_file *root = cx.files.items[0];
    fe_check_line *lines = NULL;
    int nlines = parse_check_lines(&cx, root, &lines);
    for (int i = 0; i < root->items.len; i++) {
        const ast_item *it = root->items.items[i];
        if (it->kind != AST_ITEM_KERNEL && it->kind != AST_ITEM_SPEC) continue;
        fe_global *g = fe_global_find(&cx, it->name);
        if (!g || g->item != it) continue;
        bool any = false;
        for (int l = 0; l < nlines; l++)
            if (line_applies(&cx, &lines[l], g)) {
                cx.line = &lines[l];
                compile_global(&cx, g, false, false);
                any = true;
            }
        cx.line = NULL;
        if (any) continue;
        /* Chosen bools are checked both ways: a constant `if` compiles one
         * side only. */
        cx.chose_bool = cx.bool_choice = false;
        compile_global(&cx, g, false, false);
        if (cx.chose_bool) {
            cx.bool_choice = true;
            compile_global(&cx, g, false, false);
            cx.bool_choice = false;
        }
    }
    /* fns no kernel calls still get their names checked. */
    for (int i = 0; i < root->items.len; i++) {
        const ast_item *it = root->items.items[i];
        fe_global *g = it->name ? fe_global_find(&cx, it->name) : NULL;
        if (!g || g->item != it || g->used) continue;
        if (it->kind == AST_ITEM_KERNEL) check_signature(&cx, g);
        if (it->kind == AST_ITEM_KERNEL || it->kind == AST_ITEM_FN) fe_resolve_item(&cx, it);
    }
    return finish(&cx, TILE_OK);
}
