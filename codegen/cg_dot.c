/* cg_dot.c - dot(a[M,K], b[K,N] [, acc]) -> [M,N].
 *
 * Tensor cores (bf16/f16 operands, f32 accumulation, M % 16 == N % 8 ==
 * K % 16 == 0 on a target with mma.sync m16n8k16): a and b are written to
 * shared memory row-major with 16 bytes of padding per row (so the eight
 * 16-byte rows an ldmatrix reads fall in different banks); warp w computes
 * the 16x8 output tiles w, w + num_warps, ... with ldmatrix.x4 for A,
 * ldmatrix.x2.trans for B and mma.sync, k-step by k-step; the accumulator
 * fragments go back through shared memory into the result's layout (and
 * the initial accumulator the same way in).  The order in which products
 * are added is the tensor core's (docs/language.md: tolerance contract).
 *
 * The generic path, for everything else: a and b go to the scratch, and
 * every result register runs k = 0..K-1 over them in order (floats in f32,
 * ints wrapping in i32), the interpreter's order up to fma contraction.
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

/* ---- mma.sync m16n8k16 ------------------------------------------------------- */

typedef struct mma_ctx {
    const ir_op *op;
    int64_t M, N, K;
    int tiles_n, tiles, per_warp;   /* 16x8 tiles: per row of tiles, all, per warp */
    int64_t a_off, b_off;           /* scratch offsets of padded A and B */
    int64_t a_pitch, b_pitch;       /* row pitch in elements (K + 8, N + 8) */
    LLVMValueRef *row0, *col0;      /* per tile j of this warp: first row / column */
    const char *mma;                /* the mma.sync instruction */
} mma_ctx;

static bool mma_applies(cg_ctx *g, const ir_op *op)
{
    const ir_type *a = &op->operands[0]->type, *b = &op->operands[1]->type;
    if (!g->target->has_mma_m16n8k16 || op->results[0]->type.dtype != IR_F32) return false;
    if (a->dtype != b->dtype || (a->dtype != IR_BF16 && a->dtype != IR_F16)) return false;
    return a->shape[0] % 16 == 0 && b->shape[1] % 8 == 0 && a->shape[1] % 16 == 0;
}

/* Shared-memory address (i32, for ldmatrix) of element (row, col) of a
 * 16-bit matrix at offset with the given pitch. */
static LLVMValueRef smem_addr16(cg_ctx *g, int64_t offset, int64_t pitch, LLVMValueRef row, LLVMValueRef col)
{
    LLVMBuilderRef b = g->b;
    LLVMValueRef idx = LLVMBuildAdd(b, LLVMBuildMul(b, row, cg_i32(g, pitch), ""), col, "");
    LLVMValueRef byte = LLVMBuildAdd(b, cg_i32(g, offset), LLVMBuildMul(b, idx, cg_i32(g, 2), ""), "");
    LLVMValueRef p = LLVMBuildGEP2(b, LLVMInt8TypeInContext(g->ctx), g->scratch, &byte, 1, "");
    return LLVMBuildPtrToInt(b, p, LLVMInt32TypeInContext(g->ctx), "");
}

/* Writes the valid registers of v (rank 2, 16-bit) row-major with a pitch. */
static void spill_padded(cg_ctx *g, const ir_value *v, int64_t offset, int64_t pitch)
{
    const cg_map *m = cg_map_of(g, &v->type);
    cg_val *cv = cg_get(g, v);
    if (!m || !cv) return;
    for (int k = 0; k < m->nregs; k++) {
        LLVMBasicBlockRef cont = cg_begin_if(g, cg_and(g, m->valid[k], m->own ? m->own[k] : NULL));
        LLVMValueRef r = m->coord[2 * k], c = m->coord[2 * k + 1];
        LLVMValueRef idx = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, r, cg_i32(g, pitch), ""), c, "");
        LLVMValueRef byte = LLVMBuildAdd(g->b, cg_i32(g, offset), LLVMBuildMul(g->b, idx, cg_i32(g, 2), ""), "");
        LLVMValueRef p = LLVMBuildGEP2(g->b, LLVMInt8TypeInContext(g->ctx), g->scratch, &byte, 1, "");
        LLVMValueRef st = LLVMBuildStore(g->b, cv->regs[k], p);
        LLVMSetAlignment(st, 2);
        cg_end_if(g, cont);
    }
}

static LLVMValueRef f32_at(cg_ctx *g, int64_t N, LLVMValueRef row, LLVMValueRef col, int dr, int dc,
                           LLVMValueRef store)
{
    LLVMBuilderRef b = g->b;
    LLVMValueRef r = LLVMBuildAdd(b, row, cg_i32(g, dr), ""), c = LLVMBuildAdd(b, col, cg_i32(g, dc), "");
    LLVMValueRef idx = LLVMBuildAdd(b, LLVMBuildMul(b, r, cg_i32(g, N), ""), c, "");
    LLVMValueRef byte = LLVMBuildMul(b, idx, cg_i32(g, 4), "");
    LLVMValueRef p = LLVMBuildGEP2(b, LLVMInt8TypeInContext(g->ctx), g->scratch, &byte, 1, "");
    if (store) {
        LLVMSetAlignment(LLVMBuildStore(b, store, p), 4);
        return NULL;
    }
    LLVMValueRef v = LLVMBuildLoad2(b, LLVMFloatTypeInContext(g->ctx), p, "");
    LLVMSetAlignment(v, 4);
    return v;
}

/* Accumulator fragment element i (0..3) of a 16x8 tile: row lane/4 (+8 for
 * i >= 2), column 2 * (lane % 4) (+1 for odd i). */
static void frag_pos(cg_ctx *g, int i, LLVMValueRef *dr, LLVMValueRef *dc)
{
    LLVMBuilderRef b = g->b;
    *dr = LLVMBuildAdd(b, LLVMBuildLShr(b, g->lane, cg_i32(g, 2), ""), cg_i32(g, i >= 2 ? 8 : 0), "");
    *dc = LLVMBuildAdd(b, LLVMBuildMul(b, LLVMBuildAnd(b, g->lane, cg_i32(g, 3), ""), cg_i32(g, 2), ""),
                       cg_i32(g, i & 1), "");
}

static void mma_body(cg_ctx *g, LLVMValueRef ks, LLVMValueRef *acc, void *ctx)
{
    mma_ctx *c = ctx;
    LLVMBuilderRef b = g->b;
    LLVMTypeRef i32 = LLVMInt32TypeInContext(g->ctx), f32 = LLVMFloatTypeInContext(g->ctx);
    LLVMValueRef k0 = LLVMBuildMul(b, ks, cg_i32(g, 16), "");
    LLVMValueRef l8 = LLVMBuildAnd(b, g->lane, cg_i32(g, 7), "");
    LLVMValueRef mat = LLVMBuildLShr(b, g->lane, cg_i32(g, 3), "");
    /* A (x4): lane -> row l8 + 8 * (mat & 1), column 8 * (mat >> 1). */
    LLVMValueRef a_dr = LLVMBuildAdd(b, l8, LLVMBuildMul(b, LLVMBuildAnd(b, mat, cg_i32(g, 1), ""), cg_i32(g, 8), ""), "");
    LLVMValueRef a_dc = LLVMBuildMul(b, LLVMBuildLShr(b, mat, cg_i32(g, 1), ""), cg_i32(g, 8), "");
    /* B (x2, trans): lanes 0-15 -> k row l8 + 8 * (mat & 1). */
    LLVMValueRef b_dr = a_dr;
    LLVMTypeRef s4[4] = {i32, i32, i32, i32}, s2[2] = {i32, i32}, f4[4] = {f32, f32, f32, f32};
    LLVMTypeRef t4 = LLVMStructTypeInContext(g->ctx, s4, 4, 0), t2 = LLVMStructTypeInContext(g->ctx, s2, 2, 0);
    LLVMTypeRef tf = LLVMStructTypeInContext(g->ctx, f4, 4, 0);
    for (int j = 0; j < c->per_warp; j++) {
        LLVMValueRef aaddr = smem_addr16(g, c->a_off, c->a_pitch, LLVMBuildAdd(b, c->row0[j], a_dr, ""),
                                         LLVMBuildAdd(b, k0, a_dc, ""));
        LLVMValueRef fa = cg_inline_asm(g, t4, "ldmatrix.sync.aligned.m8n8.x4.shared.b16 {$0, $1, $2, $3}, [$4];",
                                        "=r,=r,=r,=r,r", &aaddr, 1, true);
        LLVMValueRef baddr = smem_addr16(g, c->b_off, c->b_pitch, LLVMBuildAdd(b, k0, b_dr, ""), c->col0[j]);
        LLVMValueRef fb = cg_inline_asm(g, t2, "ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {$0, $1}, [$2];",
                                        "=r,=r,r", &baddr, 1, true);
        LLVMValueRef args[10];
        for (int i = 0; i < 4; i++) args[i] = LLVMBuildExtractValue(b, fa, (unsigned)i, "");
        for (int i = 0; i < 2; i++) args[4 + i] = LLVMBuildExtractValue(b, fb, (unsigned)i, "");
        for (int i = 0; i < 4; i++) args[6 + i] = acc[4 * j + i];
        LLVMValueRef d = cg_inline_asm(g, tf, c->mma, "=f,=f,=f,=f,r,r,r,r,r,r,0,1,2,3", args, 10, false);
        for (int i = 0; i < 4; i++) acc[4 * j + i] = LLVMBuildExtractValue(b, d, (unsigned)i, "");
    }
}

static void lower_dot_mma(cg_ctx *g, ir_op *op)
{
    const ir_value *r = op->results[0];
    const cg_map *m = cg_map_of(g, &r->type);
    if (!m || !cg_get(g, op->operands[0]) || !cg_get(g, op->operands[1])) return;
    mma_ctx c = {.op = op, .M = op->operands[0]->type.shape[0], .N = op->operands[1]->type.shape[1],
                 .K = op->operands[0]->type.shape[1]};
    c.mma = op->operands[0]->type.dtype == IR_BF16
                ? "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {$0, $1, $2, $3}, {$4, $5, $6, $7}, {$8, $9}, {$10, $11, $12, $13};"
                : "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {$0, $1, $2, $3}, {$4, $5, $6, $7}, {$8, $9}, {$10, $11, $12, $13};";
    c.tiles_n = (int)(c.N / 8);
    c.tiles = (int)(c.M / 16) * c.tiles_n;
    c.per_warp = (c.tiles + g->num_warps - 1) / g->num_warps;
    c.a_pitch = c.K + 8;
    c.b_pitch = c.N + 8;
    int nacc = 4 * c.per_warp;
    LLVMValueRef *acc = arena_calloc(g->mem, (size_t)nacc, sizeof *acc);
    c.row0 = arena_calloc(g->mem, (size_t)c.per_warp, sizeof *c.row0);
    c.col0 = arena_calloc(g->mem, (size_t)c.per_warp, sizeof *c.col0);
    LLVMValueRef *tile_ok = arena_calloc(g->mem, (size_t)c.per_warp, sizeof *tile_ok);
    LLVMValueRef *out = cg_def(g, r, m->nregs);
    if (!acc || !c.row0 || !c.col0 || !tile_ok || !out) {
        g->status = TILE_ERR_NOMEM;
        return;
    }
    LLVMBuilderRef b = g->b;
    for (int j = 0; j < c.per_warp; j++) {
        LLVMValueRef t = LLVMBuildAdd(b, g->warp, cg_i32(g, (int64_t)j * g->num_warps), "");
        tile_ok[j] = LLVMBuildICmp(b, LLVMIntULT, t, cg_i32(g, c.tiles), "");
        t = LLVMBuildSelect(b, tile_ok[j], t, cg_i32(g, 0), ""); /* spare tiles redo tile 0 */
        c.row0[j] = LLVMBuildMul(b, LLVMBuildUDiv(b, t, cg_i32(g, c.tiles_n), ""), cg_i32(g, 16), "");
        c.col0[j] = LLVMBuildMul(b, LLVMBuildURem(b, t, cg_i32(g, c.tiles_n), ""), cg_i32(g, 8), "");
    }
    int64_t cursor = 0;
    cg_scratch(g, &cursor, c.M * c.N * 4); /* accumulators in and out */
    /* Initial accumulator: blocked registers -> f32 scratch -> fragments. */
    if (op->noperands == 3) {
        cg_barrier(g);
        cg_spill_tile(g, op->operands[2], 0);
        cg_barrier(g);
    }
    for (int j = 0; j < c.per_warp; j++)
        for (int i = 0; i < 4; i++) {
            if (op->noperands < 3) {
                acc[4 * j + i] = LLVMConstReal(LLVMFloatTypeInContext(g->ctx), 0.0);
                continue;
            }
            LLVMValueRef dr, dc;
            frag_pos(g, i, &dr, &dc);
            acc[4 * j + i] = f32_at(g, c.N, LLVMBuildAdd(b, c.row0[j], dr, ""),
                                    LLVMBuildAdd(b, c.col0[j], dc, ""), 0, 0, NULL);
        }
    /* Operands, padded. */
    cursor = 0;
    c.a_off = cg_scratch(g, &cursor, c.M * c.a_pitch * 2);
    c.b_off = cg_scratch(g, &cursor, c.K * c.b_pitch * 2);
    cg_barrier(g);
    spill_padded(g, op->operands[0], c.a_off, c.a_pitch);
    spill_padded(g, op->operands[1], c.b_off, c.b_pitch);
    cg_barrier(g);
    cg_counted_loop(g, 0, c.K / 16, nacc, acc, mma_body, &c);
    /* Fragments -> f32 scratch -> the result's registers. */
    cg_barrier(g);
    for (int j = 0; j < c.per_warp; j++) {
        LLVMBasicBlockRef cont = cg_begin_if(g, tile_ok[j]);
        for (int i = 0; i < 4; i++) {
            LLVMValueRef dr, dc;
            frag_pos(g, i, &dr, &dc);
            f32_at(g, c.N, LLVMBuildAdd(b, c.row0[j], dr, ""), LLVMBuildAdd(b, c.col0[j], dc, ""), 0, 0,
                   acc[4 * j + i]);
        }
        cg_end_if(g, cont);
    }
    cg_barrier(g);
    for (int k = 0; k < m->nregs; k++) {
        LLVMValueRef rc[2];
        cg_clamped_coord(g, m, k, rc);
        out[k] = f32_at(g, c.N, rc[0], rc[1], 0, 0, NULL);
    }
}

/* ---- mma.sync with the result in the mma layout ----------------------------------
 *
 * The accumulator registers are the result's (and the acc operand's, which
 * has the same layout): no shared memory for them.  A comes from registers
 * when it is in dot_operand(A) of this layout (two neighbouring bf16/f16
 * registers of the accumulator-shaped map packed into one 32-bit fragment
 * register), else by ldmatrix.x4 from padded shared memory; B always by
 * ldmatrix.x2.trans.  The k-steps are unrolled (every register index is a
 * constant); each A fragment serves the warp's whole row of tiles. */

typedef struct mma_regs {
    const ir_layout *l;
    int wm, wn, reps_m, reps_n;
    int64_t M, N, K;
    LLVMValueRef wmi, wni;
    const char *mma;
} mma_regs;

static LLVMValueRef pack2(cg_ctx *g, LLVMValueRef lo, LLVMValueRef hi)
{
    LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(lo), 2);
    LLVMValueRef v = LLVMGetUndef(vt);
    v = LLVMBuildInsertElement(g->b, v, lo, cg_i32(g, 0), "");
    v = LLVMBuildInsertElement(g->b, v, hi, cg_i32(g, 1), "");
    return LLVMBuildBitCast(g->b, v, LLVMInt32TypeInContext(g->ctx), "");
}

void cg_pack_a_fragment(cg_ctx *g, const cg_val *av, int64_t K, int rm, int ks, LLVMValueRef *fa)
{
    int kt = (int)(K / 8), t0 = (rm * kt + 2 * ks) * 4, t1 = t0 + 4;
    fa[0] = pack2(g, av->regs[t0], av->regs[t0 + 1]);
    fa[1] = pack2(g, av->regs[t0 + 2], av->regs[t0 + 3]);
    fa[2] = pack2(g, av->regs[t1], av->regs[t1 + 1]);
    fa[3] = pack2(g, av->regs[t1 + 2], av->regs[t1 + 3]);
}

/* The A fragment of row tile rm, k-step ks: from registers or ldmatrix. */
static void a_fragment(cg_ctx *g, const mma_regs *c, const cg_val *av, int64_t a_off, int64_t a_pitch,
                       int rm, int ks, LLVMValueRef *fa)
{
    LLVMBuilderRef b = g->b;
    if (av) {
        cg_pack_a_fragment(g, av, c->K, rm, ks, fa);
        return;
    }
    LLVMTypeRef i32 = LLVMInt32TypeInContext(g->ctx);
    LLVMTypeRef s4[4] = {i32, i32, i32, i32};
    LLVMTypeRef t4 = LLVMStructTypeInContext(g->ctx, s4, 4, 0);
    LLVMValueRef l8 = LLVMBuildAnd(b, g->lane, cg_i32(g, 7), "");
    LLVMValueRef mat = LLVMBuildLShr(b, g->lane, cg_i32(g, 3), "");
    LLVMValueRef dr = LLVMBuildAdd(b, l8, LLVMBuildMul(b, LLVMBuildAnd(b, mat, cg_i32(g, 1), ""), cg_i32(g, 8), ""), "");
    LLVMValueRef dc = LLVMBuildMul(b, LLVMBuildLShr(b, mat, cg_i32(g, 1), ""), cg_i32(g, 8), "");
    LLVMValueRef row0 = LLVMBuildAdd(b, LLVMBuildMul(b, c->wmi, cg_i32(g, 16), ""),
                                     cg_i32(g, (int64_t)rm * c->wm * 16), "");
    LLVMValueRef addr = smem_addr16(g, a_off, a_pitch, LLVMBuildAdd(b, row0, dr, ""),
                                    LLVMBuildAdd(b, cg_i32(g, (int64_t)ks * 16), dc, ""));
    LLVMValueRef f = cg_inline_asm(g, t4, "ldmatrix.sync.aligned.m8n8.x4.shared.b16 {$0, $1, $2, $3}, [$4];",
                                   "=r,=r,=r,=r,r", &addr, 1, true);
    for (int i = 0; i < 4; i++) fa[i] = LLVMBuildExtractValue(b, f, (unsigned)i, "");
}

static void b_fragment(cg_ctx *g, const mma_regs *c, int64_t b_off, int64_t b_pitch, int rn, int ks,
                       LLVMValueRef *fb)
{
    LLVMBuilderRef b = g->b;
    LLVMTypeRef i32 = LLVMInt32TypeInContext(g->ctx);
    LLVMTypeRef s2[2] = {i32, i32};
    LLVMTypeRef t2 = LLVMStructTypeInContext(g->ctx, s2, 2, 0);
    LLVMValueRef l8 = LLVMBuildAnd(b, g->lane, cg_i32(g, 7), "");
    LLVMValueRef mat = LLVMBuildLShr(b, g->lane, cg_i32(g, 3), "");
    LLVMValueRef dr = LLVMBuildAdd(b, l8, LLVMBuildMul(b, LLVMBuildAnd(b, mat, cg_i32(g, 1), ""), cg_i32(g, 8), ""), "");
    LLVMValueRef col0 = LLVMBuildAdd(b, LLVMBuildMul(b, c->wni, cg_i32(g, 8), ""),
                                     cg_i32(g, (int64_t)rn * c->wn * 8), "");
    LLVMValueRef addr = smem_addr16(g, b_off, b_pitch, LLVMBuildAdd(b, cg_i32(g, (int64_t)ks * 16), dr, ""), col0);
    LLVMValueRef f = cg_inline_asm(g, t2, "ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {$0, $1}, [$2];",
                                   "=r,=r,r", &addr, 1, true);
    for (int i = 0; i < 2; i++) fb[i] = LLVMBuildExtractValue(b, f, (unsigned)i, "");
}

/* B fragment from a shared buffer (software pipelining, cg_async.c): a
 * buffer whose memory rows run along k (order [1,0]: V as stored) is read
 * by ldmatrix.trans like the scratch copy; one whose rows run along n
 * (order [0,1]: trans(K) of a K stored row-major) by plain ldmatrix, whose
 * 8x8 blocks then are exactly the col-major B fragments. */
static void b_fragment_buf(cg_ctx *g, const mma_regs *c, const ir_value *bv, int rn, int ks, LLVMValueRef *fb)
{
    LLVMBuilderRef b = g->b;
    LLVMTypeRef i32 = LLVMInt32TypeInContext(g->ctx);
    LLVMTypeRef s2[2] = {i32, i32};
    LLVMTypeRef t2 = LLVMStructTypeInContext(g->ctx, s2, 2, 0);
    LLVMValueRef l8 = LLVMBuildAnd(b, g->lane, cg_i32(g, 7), "");
    LLVMValueRef hi8 = LLVMBuildMul(b, LLVMBuildAnd(b, LLVMBuildLShr(b, g->lane, cg_i32(g, 3), ""), cg_i32(g, 1), ""),
                                    cg_i32(g, 8), "");
    LLVMValueRef col0 = LLVMBuildMul(b, c->wni, cg_i32(g, 8), "");
    int64_t ncst = (int64_t)rn * c->wn * 8, kcst = (int64_t)ks * 16;
    bool k_rows = bv->type.layout->order[0] == 1;
    LLVMValueRef addr = k_rows ? cg_buffer_addr_split(g, bv, LLVMBuildAdd(b, hi8, l8, ""), kcst, col0, ncst)
                               : cg_buffer_addr_split(g, bv, LLVMBuildAdd(b, col0, l8, ""), ncst, hi8, kcst);
    if (!addr) return;
    LLVMValueRef f = cg_inline_asm(g, t2,
                                   k_rows ? "ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {$0, $1}, [$2];"
                                          : "ldmatrix.sync.aligned.m8n8.x2.shared.b16 {$0, $1}, [$2];",
                                   "=r,=r,r,~{memory}", &addr, 1, true);
    for (int i = 0; i < 2; i++) fb[i] = LLVMBuildExtractValue(b, f, (unsigned)i, "");
}

/* A fragment of row tile rm, k-step ks from a shared buffer: rows along m
 * (order [1,0]) by ldmatrix.x4 as from the scratch; rows along k (order
 * [0,1]: trans(X) of an X stored row-major) by ldmatrix.x4.trans, whose
 * transposed 8x8 blocks are the row-major A fragments. */
static void a_fragment_buf(cg_ctx *g, const mma_regs *c, const ir_value *av, int rm, int ks, LLVMValueRef *fa)
{
    LLVMBuilderRef b = g->b;
    LLVMTypeRef i32 = LLVMInt32TypeInContext(g->ctx);
    LLVMTypeRef s4[4] = {i32, i32, i32, i32};
    LLVMTypeRef t4 = LLVMStructTypeInContext(g->ctx, s4, 4, 0);
    LLVMValueRef l8 = LLVMBuildAnd(b, g->lane, cg_i32(g, 7), "");
    LLVMValueRef mat = LLVMBuildLShr(b, g->lane, cg_i32(g, 3), "");
    LLVMValueRef dm = LLVMBuildMul(b, LLVMBuildAnd(b, mat, cg_i32(g, 1), ""), cg_i32(g, 8), "");
    LLVMValueRef dk = LLVMBuildMul(b, LLVMBuildLShr(b, mat, cg_i32(g, 1), ""), cg_i32(g, 8), "");
    LLVMValueRef m0 = LLVMBuildMul(b, c->wmi, cg_i32(g, 16), "");
    int64_t mcst = (int64_t)rm * c->wm * 16, kcst = (int64_t)ks * 16;
    bool m_rows = av->type.layout->order[0] == 1;
    LLVMValueRef addr =
        m_rows ? cg_buffer_addr_split(g, av, LLVMBuildAdd(b, LLVMBuildAdd(b, m0, dm, ""), l8, ""), mcst, dk, kcst)
               : cg_buffer_addr_split(g, av, LLVMBuildAdd(b, dk, l8, ""), kcst, LLVMBuildAdd(b, m0, dm, ""), mcst);
    if (!addr) return;
    LLVMValueRef f = cg_inline_asm(g, t4,
                                   m_rows ? "ldmatrix.sync.aligned.m8n8.x4.shared.b16 {$0, $1, $2, $3}, [$4];"
                                          : "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {$0, $1, $2, $3}, [$4];",
                                   "=r,=r,=r,=r,r,~{memory}", &addr, 1, true);
    for (int i = 0; i < 4; i++) fa[i] = LLVMBuildExtractValue(b, f, (unsigned)i, "");
}

static void lower_dot_mma_regs(cg_ctx *g, ir_op *op)
{
    const ir_value *r = op->results[0], *a = op->operands[0];
    mma_regs c = {.l = r->type.layout, .M = a->type.shape[0], .K = a->type.shape[1],
                  .N = op->operands[1]->type.shape[1]};
    c.wm = c.l->warps_per_cta[0];
    c.wn = c.l->warps_per_cta[1];
    c.reps_m = (int)(c.M / (16 * c.wm));
    c.reps_n = (int)(c.N / (8 * c.wn));
    c.mma = a->type.dtype == IR_BF16
                ? "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {$0, $1, $2, $3}, {$4, $5, $6, $7}, {$8, $9}, {$10, $11, $12, $13};"
                : "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {$0, $1, $2, $3}, {$4, $5, $6, $7}, {$8, $9}, {$10, $11, $12, $13};";
    const cg_map *m = cg_map_of(g, &r->type);
    if (!m || !cg_get(g, a) || !cg_get(g, op->operands[1])) return;
    bool a_regs = a->type.layout && a->type.layout->kind == IR_LAYOUT_DOT_OPERAND && a->type.layout->parent == c.l;
    if (a_regs && !cg_map_of(g, &a->type)) return;
    cg_val *av = a_regs ? cg_get(g, a) : NULL;
    cg_val *init = op->noperands == 3 ? cg_get(g, op->operands[2]) : NULL;
    LLVMValueRef *out = cg_def(g, r, m->nregs);
    if (!out) return;
    cg_mma_warp(g, c.l, &c.wmi, &c.wni);
    for (int k = 0; k < m->nregs; k++)
        out[k] = init ? init->regs[k] : LLVMConstReal(LLVMFloatTypeInContext(g->ctx), 0.0);
    const ir_value *bval = op->operands[1];
    bool b_buf = cg_is_buffer(bval), a_buf = cg_is_buffer(a);
    if (a_buf) a_regs = true; /* no scratch copy of A */
    int64_t cursor = 0, a_pitch = c.K + 8, b_pitch = c.N + 8, a_off = 0, b_off = 0;
    if (!a_regs) a_off = cg_scratch(g, &cursor, c.M * a_pitch * 2);
    if (!b_buf) b_off = cg_scratch(g, &cursor, c.K * b_pitch * 2);
    if (!a_regs || !b_buf) {
        cg_barrier(g);
        if (!a_regs) spill_padded(g, a, a_off, a_pitch);
        if (!b_buf) spill_padded(g, bval, b_off, b_pitch);
        cg_barrier(g);
    }
    /* Buffer bases through an opaque copy: a buffer loaded before the loop
     * has a loop-invariant base, and every ldmatrix address would be
     * hoisted into its own register. */
    cg_val *abv = a_buf ? cg_get(g, a) : NULL, *bbv = b_buf ? cg_get(g, bval) : NULL;
    LLVMValueRef a_base = abv ? abv->regs[0] : NULL, b_base = bbv ? bbv->regs[0] : NULL;
    if (abv) abv->regs[0] = cg_opaque(g, a_base);
    if (bbv && bbv != abv) bbv->regs[0] = cg_opaque(g, b_base);
    LLVMTypeRef f32 = LLVMFloatTypeInContext(g->ctx);
    LLVMTypeRef f4[4] = {f32, f32, f32, f32};
    LLVMTypeRef tf = LLVMStructTypeInContext(g->ctx, f4, 4, 0);
    LLVMValueRef *fa = arena_calloc(g->mem, (size_t)c.reps_m * 4, sizeof *fa);
    if (!fa) {
        g->status = TILE_ERR_NOMEM;
        return;
    }
    for (int ks = 0; ks < (int)(c.K / 16) && g->status == TILE_OK; ks++) {
        for (int rm = 0; rm < c.reps_m; rm++) {
            if (a_buf) a_fragment_buf(g, &c, a, rm, ks, fa + 4 * rm);
            else a_fragment(g, &c, av, a_off, a_pitch, rm, ks, fa + 4 * rm);
        }
        for (int rn = 0; rn < c.reps_n; rn++) {
            LLVMValueRef fb[2] = {NULL, NULL};
            if (b_buf) b_fragment_buf(g, &c, bval, rn, ks, fb);
            else b_fragment(g, &c, b_off, b_pitch, rn, ks, fb);
            if (!fb[0] || !fb[1]) break;
            for (int rm = 0; rm < c.reps_m; rm++) {
                int k = (rm * c.reps_n + rn) * 4;
                LLVMValueRef args[10];
                for (int i = 0; i < 4; i++) args[i] = fa[4 * rm + i];
                args[4] = fb[0];
                args[5] = fb[1];
                for (int i = 0; i < 4; i++) args[6 + i] = out[k + i];
                LLVMValueRef d = cg_inline_asm(g, tf, c.mma, "=f,=f,=f,=f,r,r,r,r,r,r,0,1,2,3", args, 10, false);
                for (int i = 0; i < 4; i++) out[k + i] = LLVMBuildExtractValue(g->b, d, (unsigned)i, "");
            }
        }
    }
    if (abv) abv->regs[0] = a_base; /* later ops get the plain base again */
    if (bbv && bbv != abv) bbv->regs[0] = b_base;
}

void cg_lower_dot(cg_ctx *g, ir_op *op)
{
    const ir_layout *rl = op->results[0]->type.layout;
    bool mma = mma_applies(g, op) && !g->no_mma;
    /* A shared-buffer operand: B of the register mma path; anything else
     * reads the buffer element by element (cg_value_at). */
    if ((cg_is_buffer(op->operands[0]) || cg_is_buffer(op->operands[1])) && !(rl && rl->kind == IR_LAYOUT_MMA))
        mma = false;
    if (mma && cg_wgmma_applies(g, op)) cg_lower_dot_wgmma(g, op);
    else if (mma && rl && rl->kind == IR_LAYOUT_MMA) lower_dot_mma_regs(g, op); /* v3 too: same registers */
    else if (mma) lower_dot_mma(g, op);
    else lower_dot_generic(g, op);
}
