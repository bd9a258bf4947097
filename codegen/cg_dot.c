/* cg_dot.c - dot(a[M,K], b[K,N] [, acc]) -> [M,N].
 *
 * The generic path: a and b go to the shared-memory scratch, and every
 * result register runs k = 0..K-1 over them in order (floats in f32, ints
 * wrapping in i32), exactly the interpreter's order up to fma contraction.
 * Any layout, any shape, every dtype; padding registers read clamped
 * coordinates and are never stored. */
#include "cg_impl.h"

typedef struct dot_ctx {
    const ir_op *op;
    const cg_map *m;
    cg_gather gs[2];
    LLVMValueRef *rows, *cols;  /* per register */
    ir_dtype in, acc_t;
} dot_ctx;

static void dot_body(cg_ctx *g, LLVMValueRef k, LLVMValueRef *acc, void *ctx)
{
    dot_ctx *d = ctx;
    for (int r = 0; r < d->m->nregs && g->status == TILE_OK; r++) {
        LLVMValueRef ac[2] = {d->rows[r], k}, bc[2] = {k, d->cols[r]};
        LLVMValueRef a = cg_value_at(g, d->gs, 2, d->op->operands[0], ac);
        LLVMValueRef b = cg_value_at(g, d->gs, 2, d->op->operands[1], bc);
        if (!a || !b) return;
        LLVMValueRef args[2] = {cg_convert(g, a, d->in, d->acc_t), cg_convert(g, b, d->in, d->acc_t)};
        LLVMValueRef p = cg_scalar_op(g, IR_OP_MUL, d->acc_t, d->acc_t, args);
        LLVMValueRef s[2] = {acc[r], p};
        acc[r] = cg_scalar_op(g, IR_OP_ADD, d->acc_t, d->acc_t, s);
    }
}

static void lower_dot_generic(cg_ctx *g, ir_op *op)
{
    const ir_value *r = op->results[0];
    dot_ctx d = {.op = op, .in = op->operands[0]->type.dtype, .acc_t = r->type.dtype};
    d.m = cg_map_of(g, &r->type);
    if (!d.m || !cg_get(g, op->operands[0]) || !cg_get(g, op->operands[1])) return;
    int n = d.m->nregs;
    d.rows = arena_calloc(g->mem, (size_t)n, sizeof *d.rows);
    d.cols = arena_calloc(g->mem, (size_t)n, sizeof *d.cols);
    LLVMValueRef *acc = arena_calloc(g->mem, (size_t)n, sizeof *acc);
    if (!d.rows || !d.cols || !acc) {
        g->status = TILE_ERR_NOMEM;
        return;
    }
    for (int k = 0; k < n; k++) {
        LLVMValueRef c[2];
        cg_clamped_coord(g, d.m, k, c);
        d.rows[k] = c[0];
        d.cols[k] = c[1];
    }
    cg_val *init = op->noperands == 3 ? cg_get(g, op->operands[2]) : NULL;
    for (int k = 0; k < n; k++)
        acc[k] = init ? init->regs[k]
                      : cg_const_scalar(g, d.acc_t, ir_dtype_is_float(d.acc_t) ? (ir_scalar){.f = 0}
                                                                              : (ir_scalar){.i = 0});
    d.gs[0] = (cg_gather){.v = op->operands[0]};
    d.gs[1] = (cg_gather){.v = op->operands[1]};
    cg_prepare_gathers(g, d.gs, 2, 0);
    cg_counted_loop(g, 0, op->operands[0]->type.shape[1], n, acc, dot_body, &d);
    LLVMValueRef *out = cg_def(g, r, n);
    if (out)
        for (int k = 0; k < n; k++) out[k] = acc[k];
}

void cg_lower_dot(cg_ctx *g, ir_op *op) { lower_dot_generic(g, op); }
