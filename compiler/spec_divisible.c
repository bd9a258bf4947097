/* spec_divisible.c - specialisation on "a size is a multiple of the block
 * that tiles it" (pipeline.h: tc_div_candidates, tc_specialise_divisible).
 *
 * A kernel tiles a named dim N by a block constant BN: `cdiv(N, BN)` in the
 * grid, and the library splits the key range into full blocks and a
 * partial last one (`hi / BN` full ones, one more when `hi % BN > 0`) that
 * takes the bounds mask `cols < N`.  When N is a multiple of BN the
 * remainder is 0 and the partial segment runs from the end of the full
 * blocks to the same end: nothing.  The facts say exactly that, and this
 * pass makes the compiler see it:
 *
 *   candidates  every (named dim, power-of-two constant c) such that the
 *               kernel takes `rem(x, c)` of a scalar x computed from the
 *               dim: the facts a launch can offer (bit j of
 *               tc_arg_facts.divisible = candidate j holds);
 *   analysis    a congruence per integer scalar, x = r (mod m) with m a power
 *               of two (so i32/i64 wrap-around keeps it true): constants,
 *               tensor_dim of a dim with a fact (r = 0, m = its divisor),
 *               add/sub/mul/select/min/max, a for's induction variable;
 *   rewrites    rem(x, c) -> 0 and div(x, c) > 0 -> x > 0 where x = 0 (mod c);
 *               then the optimiser folds the remainders' selects and CSE
 *               makes the partial segment's bounds one value: flash_fwd's
 *               test of a full block (flash_fwd.tile, full_in_slot) becomes
 *               a compare of its loop's induction variable with the loop's
 *               own bound, which canonicalize settles, and the branch that
 *               applies the mask goes (a loop over such a segment alone,
 *               `for i = a to a`, goes with its masked loads).
 *
 * Everything it rewrites is exact under the facts, so a variant compiled
 * with them is only launched with arguments that have them (runtime/). */
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

#define CAP ((int64_t)1 << 30) /* the largest modulus tracked */

typedef struct cong {
    int64_t m, r; /* value = r (mod m); m a power of two, 1 = nothing known */
} cong;

typedef struct spec {
    ir_func *f;
    const tc_div_candidate *cand;
    int ncand;
    uint64_t facts;
    cong *memo;     /* by value id; m == 0: not computed yet */
    uint64_t *dims; /* by value id: candidate dims a value is computed from, +1 */
    int nvalues;
    bool changed;
} spec;

/* The largest power of two dividing x (CAP for 0 and above). */
static int64_t pow2_of(int64_t x)
{
    if (x == 0) return CAP;
    uint64_t u = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
    uint64_t p = u & (~u + 1);
    return p >= (uint64_t)CAP ? CAP : (int64_t)p;
}

static int64_t min3(int64_t a, int64_t b, int64_t c) { return a < b ? (a < c ? a : c) : (b < c ? b : c); }

static cong make(int64_t m, int64_t r)
{
    int64_t k = r % m;
    return (cong){m, k < 0 ? k + m : k};
}

static const cong UNKNOWN = {1, 0};

/* Param i's dim name behind `tensor_dim %param, d`, or NULL. */
static const char *dim_name(const ir_func *f, const ir_op *op)
{
    const ir_value *t = op->operands[0];
    if (t->def || !t->owner || (t->owner != f->body && t->owner != f->grid)) return NULL;
    if (t->index < 0 || t->index >= f->nparams || op->attr.i < 0 || op->attr.i >= IR_MAX_RANK)
        return NULL;
    return f->params[t->index].dims[op->attr.i].name;
}

/* The divisor the facts promise for dim `name` (1: none). */
static int64_t dim_divisor(const spec *s, const char *name)
{
    int64_t best = 1;
    for (int j = 0; name && j < s->ncand; j++)
        if ((s->facts >> j & 1) && strcmp(s->cand[j].dim, name) == 0 && s->cand[j].divisor > best)
            best = s->cand[j].divisor;
    return best;
}

static bool const_int(const ir_value *v, int64_t *out)
{
    ir_scalar c;
    if (!ir_value_const(v, &c) || v->type.rank != 0 || !ir_dtype_is_int(v->type.dtype)) return false;
    *out = c.i;
    return true;
}

static cong cong_of(spec *s, const ir_value *v);

static cong of_op(spec *s, const ir_op *op)
{
    int64_t c;
    if (op->nresults != 1) return UNKNOWN;
    if (const_int(op->results[0], &c)) return make(CAP, c);
    if (op->code == IR_OP_TENSOR_DIM) return make(dim_divisor(s, dim_name(s->f, op)), 0);
    if (op->noperands < 2 || op->results[0]->type.rank != 0) return UNKNOWN;
    cong a = cong_of(s, op->operands[0]), b = cong_of(s, op->operands[1]);
    switch (op->code) {
    case IR_OP_ADD: return make(a.m < b.m ? a.m : b.m, a.r + b.r);
    case IR_OP_SUB: return make(a.m < b.m ? a.m : b.m, a.r - b.r);
    case IR_OP_MUL: {
        /* (ra + i*ma)(rb + j*mb) = ra*rb (mod each of ma*mb, p2(ra)*mb, p2(rb)*ma) */
        int64_t m = min3(a.m >= CAP || b.m >= CAP ? CAP : a.m * b.m,
                         pow2_of(a.r) >= CAP / b.m ? CAP : pow2_of(a.r) * b.m,
                         pow2_of(b.r) >= CAP / a.m ? CAP : pow2_of(b.r) * a.m);
        return make(m, (a.r % m) * (b.r % m));
    }
    case IR_OP_MIN:
    case IR_OP_MAX: return make(min3(a.m, b.m, pow2_of(a.r - b.r)), a.r);
    case IR_OP_SELECT: {
        cong e = cong_of(s, op->operands[2]);
        return make(min3(b.m, e.m, pow2_of(b.r - e.r)), b.r);
    }
    case IR_OP_REM:
        if (const_int(op->operands[1], &c) && c > 0 && pow2_of(c) == c && a.m >= c && a.r % c == 0)
            return make(CAP, 0);
        return UNKNOWN;
    default: return UNKNOWN;
    }
}

/* A for's induction variable: lo + k*step. */
static cong of_arg(spec *s, const ir_value *v)
{
    const ir_op *loop = v->owner ? v->owner->parent : NULL;
    int64_t step;
    if (!loop || loop->code != IR_OP_FOR || v->index != 0 || loop->noperands < 3 ||
        !const_int(loop->operands[2], &step))
        return UNKNOWN;
    cong lo = cong_of(s, loop->operands[0]);
    int64_t m = pow2_of(step);
    return make(lo.m < m ? lo.m : m, lo.r);
}

static cong cong_of(spec *s, const ir_value *v)
{
    if (v->id < 0 || v->id >= s->nvalues || v->type.rank != 0 || !ir_dtype_is_int(v->type.dtype))
        return UNKNOWN;
    if (s->memo[v->id].m) return s->memo[v->id];
    s->memo[v->id] = UNKNOWN; /* a cycle (none in SSA) would stop here */
    cong c = v->def ? of_op(s, v->def) : of_arg(s, v);
    s->memo[v->id] = c;
    return c;
}

/* ---- candidates -------------------------------------------------------- */

/* Bit k: the k-th named dim of f (in parameter order) feeds v. */
static uint64_t dims_of(spec *s, const ir_value *v, const char *const *names, int nnames);

static uint64_t dims_of_op(spec *s, const ir_op *op, const char *const *names, int nnames)
{
    if (op->code == IR_OP_TENSOR_DIM) {
        const char *n = dim_name(s->f, op);
        for (int k = 0; n && k < nnames; k++)
            if (strcmp(names[k], n) == 0) return (uint64_t)1 << k;
        return 0;
    }
    switch (op->code) {
    case IR_OP_ADD: case IR_OP_SUB: case IR_OP_MUL: case IR_OP_MIN: case IR_OP_MAX:
    case IR_OP_SELECT: case IR_OP_DIV: break;
    default: return 0;
    }
    uint64_t d = 0;
    for (int i = 0; i < op->noperands; i++) d |= dims_of(s, op->operands[i], names, nnames);
    return d;
}

static uint64_t dims_of(spec *s, const ir_value *v, const char *const *names, int nnames)
{
    if (v->id < 0 || v->id >= s->nvalues || v->type.rank != 0) return 0;
    if (s->dims[v->id]) return s->dims[v->id] - 1;
    s->dims[v->id] = 1;
    uint64_t d = v->def ? dims_of_op(s, v->def, names, nnames) : 0;
    if (!v->def && v->owner && v->owner->parent && v->owner->parent->code == IR_OP_FOR &&
        v->index == 0)
        d = dims_of(s, v->owner->parent->operands[0], names, nnames);
    s->dims[v->id] = d + 1;
    return d;
}

typedef struct collect {
    spec *s;
    const char *names[64];
    int nnames;
    tc_div_candidate *out;
    int n, cap;
} collect;

static void add_candidate(collect *c, const char *dim, int64_t divisor)
{
    for (int j = 0; j < c->n; j++)
        if (c->out[j].divisor == divisor && strcmp(c->out[j].dim, dim) == 0) return;
    if (c->n < c->cap) c->out[c->n++] = (tc_div_candidate){dim, divisor};
}

static void collect_op(ir_op *op, void *ctx)
{
    collect *c = ctx;
    int64_t k;
    if (op->code != IR_OP_REM || op->results[0]->type.rank != 0 ||
        !const_int(op->operands[1], &k) || k < 2 || k > CAP || pow2_of(k) != k)
        return;
    uint64_t d = dims_of(c->s, op->operands[0], c->names, c->nnames);
    for (int i = 0; i < c->nnames; i++)
        if (d >> i & 1) add_candidate(c, c->names[i], k);
}

static bool spec_init(spec *s, ir_func *f)
{
    memset(s, 0, sizeof *s);
    s->f = f;
    s->nvalues = f->module->next_value_id;
    s->memo = calloc((size_t)s->nvalues + 1, sizeof *s->memo);
    s->dims = calloc((size_t)s->nvalues + 1, sizeof *s->dims);
    return s->memo && s->dims;
}

static void spec_free(spec *s)
{
    free(s->memo);
    free(s->dims);
}

int tc_div_candidates(const ir_func *kernel, tc_div_candidate *out, int cap)
{
    spec s;
    ir_func *f = (ir_func *)kernel; /* the walk takes no const; nothing is changed */
    if (!f || f->kind != IR_FUNC_KERNEL || !spec_init(&s, f)) {
        if (f) spec_free(&s);
        return 0;
    }
    collect c = {.s = &s, .out = out, .cap = cap < TC_MAX_DIV_CANDIDATES ? cap : TC_MAX_DIV_CANDIDATES};
    for (int i = 0; i < f->nparams; i++)
        for (int d = 0; d < f->params[i].type.rank && f->params[i].type.kind == IR_TY_TENSOR; d++) {
            const char *n = f->params[i].dims[d].name;
            bool seen = !n || f->params[i].dims[d].size >= 1;
            for (int k = 0; !seen && k < c.nnames; k++) seen = strcmp(c.names[k], n) == 0;
            if (!seen && c.nnames < 64) c.names[c.nnames++] = n;
        }
    if (f->grid) ir_walk(f->grid, collect_op, &c);
    ir_walk(f->body, collect_op, &c);
    spec_free(&s);
    return c.n;
}

/* ---- rewrites ---------------------------------------------------------- */

static bool multiple(spec *s, const ir_value *x, int64_t c)
{
    cong k = cong_of(s, x);
    return c > 0 && pow2_of(c) == c && k.m >= c && k.r % c == 0;
}

static void rewrite_op(ir_op *op, void *ctx)
{
    spec *s = ctx;
    int64_t c, zero;
    if (op->code == IR_OP_REM && op->results[0]->type.rank == 0 &&
        const_int(op->operands[1], &c) && multiple(s, op->operands[0], c)) {
        ir_builder b = {.m = s->f->module, .loc = op->loc};
        ir_builder_before(&b, op);
        ir_value *z = ir_const_int(&b, op->results[0]->type.dtype, 0, 0, NULL);
        if (z) {
            ir_replace_all_uses(op->results[0], z);
            s->changed = true;
        }
    } else if (op->code == IR_OP_CMP_GT && op->operands[0]->type.rank == 0 &&
               op->operands[0]->def && op->operands[0]->def->code == IR_OP_DIV &&
               const_int(op->operands[1], &zero) && zero == 0 &&
               const_int(op->operands[0]->def->operands[1], &c) &&
               multiple(s, op->operands[0]->def->operands[0], c)) {
        ir_op_set_operand(op, 0, op->operands[0]->def->operands[0]);
        s->changed = true;
    }
}

/* and(x, x) -> x, or(x, x) -> x: what CSE leaves of the peeled loop's
 * "has a full block" test once both halves are the same compare. */
static void idempotent_op(ir_op *op, void *ctx)
{
    spec *s = ctx;
    if ((op->code == IR_OP_AND || op->code == IR_OP_OR) && op->operands[0] == op->operands[1]) {
        ir_replace_all_uses(op->results[0], op->operands[0]);
        s->changed = true;
    }
}

tile_status tc_specialise_divisible(tc_unit *u, uint64_t divisible)
{
    if (!u || !u->kernel) return TILE_ERR_ARG;
    if (!divisible) return TILE_OK;
    tc_div_candidate cand[TC_MAX_DIV_CANDIDATES];
    int n = tc_div_candidates(u->kernel, cand, TC_MAX_DIV_CANDIDATES);
    if (n < 64 && (divisible >> n) != 0) {
        diag_error(&u->diags, u->kernel->loc, "internal error: divisibility facts 0x%llx for "
                   "kernel '%s' name candidates it does not have (%d)",
                   (unsigned long long)divisible, u->kernel->name, n);
        return TILE_ERR_INTERNAL;
    }
    ir_opt_options oo = {.level = 1};
    for (int round = 0; round < 2; round++) {
        spec s;
        if (!spec_init(&s, u->kernel)) {
            spec_free(&s);
            return TILE_ERR_NOMEM;
        }
        s.cand = cand;
        s.ncand = n;
        s.facts = divisible;
        ir_walk(u->kernel->body, round == 0 ? rewrite_op : idempotent_op, &s);
        if (u->kernel->grid) ir_walk(u->kernel->grid, round == 0 ? rewrite_op : idempotent_op, &s);
        spec_free(&s);
        tile_status st = s.changed ? ir_optimize(u->module, &oo) : TILE_OK;
        if (st != TILE_OK) return st;
    }
    return ir_verify_module(u->module, "specialise divisible");
}
