/* cg_mma.c - tiles held in the mma.sync m16n8k16 accumulator layout and
 * its relatives (ir/layout.h), chosen by compiler/sched_layout.c.
 *
 * mma(wpc = [wm, wn]), tile [M, N] (M % 16wm == 0, N % 8wn == 0 or N == 1):
 * warp w works on rows of 16-row tiles w % wm, w % wm + wm, ... and
 * columns of 8-column tiles w / wm, w / wm + wn, ...; in each 16x8 tile a
 * lane holds the accumulator fragment of mma.sync: element i (0..3) at row
 * lane/4 + 8*(i/2), column 2*(lane%4) + i%2.  Registers are numbered
 * ((rm * reps_n) + rn) * 4 + i.  A dim of size 1 (an expand_dims'd row
 * vector, [M, 1]) is replicated: every register holds column 0.
 * slice(mma, 1), [M]: register rm*2 + h holds row lane/4 + 8h of row tile
 * rm, replicated over the 4 lanes of a quad (and over the wn warps).
 * dot_operand(mma, 0): the parent's registers for the tile [M, K]; two
 * neighbouring registers, packed, are one 32-bit register of mma.sync's A
 * fragment (FlashAttention-2's observation), so convert_layout from the
 * accumulator layout is a copy (cg_dot.c packs).
 *
 * Replicated registers carry an `own` flag: exactly one copy of each
 * element is written when a tile goes to shared memory. */
#include "cg_impl.h"

static LLVMValueRef i32c(cg_ctx *g, int64_t v) { return cg_i32(g, v); }

void cg_mma_warp(cg_ctx *g, const ir_layout *l, LLVMValueRef *wm_idx, LLVMValueRef *wn_idx)
{
    int wm = l->warps_per_cta[0];
    *wm_idx = LLVMBuildURem(g->b, g->warp, i32c(g, wm), "");
    *wn_idx = LLVMBuildUDiv(g->b, g->warp, i32c(g, wm), "");
}

static bool alloc_map(cg_ctx *g, cg_map *m, int n, bool replicated)
{
    m->nregs = n;
    m->vec = 1;
    m->coord = arena_calloc(g->mem, (size_t)n * (size_t)m->rank, sizeof *m->coord);
    m->valid = arena_calloc(g->mem, (size_t)n, sizeof *m->valid);
    m->own = replicated ? arena_calloc(g->mem, (size_t)n, sizeof *m->own) : NULL;
    return m->coord && m->valid && (!replicated || m->own);
}

static bool build_mma(cg_ctx *g, cg_map *m, const ir_layout *l)
{
    int wm = l->warps_per_cta[0], wn = l->warps_per_cta[1];
    int64_t M = m->shape[0], N = m->shape[1];
    /* M == 1 ([1, N], a column vector expanded): the map of one 16-row tile
     * with every row at 0, owned by the threads of row 0. */
    if ((M != 1 && M % (16 * wm) != 0) || (N != 1 && N % (8 * wn) != 0) || (M == 1 && N == 1)) return false;
    int reps_m = M == 1 ? 1 : (int)(M / (16 * wm)), reps_n = N == 1 ? 1 : (int)(N / (8 * wn));
    if ((int64_t)reps_m * reps_n * 4 > CG_MAX_REGS) return false;
    if (!alloc_map(g, m, reps_m * reps_n * 4, N == 1 || M == 1)) return false;
    if (N != 1) m->vec = 2; /* registers 2i, 2i+1 are neighbours in a row */
    LLVMValueRef wmi, wni;
    cg_mma_warp(g, l, &wmi, &wni);
    LLVMValueRef g4 = LLVMBuildLShr(g->b, g->lane, i32c(g, 2), "");
    LLVMValueRef t4 = LLVMBuildAnd(g->b, g->lane, i32c(g, 3), "");
    LLVMValueRef rbase = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, wmi, i32c(g, 16), ""), g4, "");
    LLVMValueRef cbase = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, wni, i32c(g, 8), ""),
                                      LLVMBuildMul(g->b, t4, i32c(g, 2), ""), "");
    LLVMValueRef owner = NULL, false1 = LLVMConstInt(LLVMInt1TypeInContext(g->ctx), 0, 0);
    if (N == 1)
        owner = LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, t4, i32c(g, 0), ""),
                             LLVMBuildICmp(g->b, LLVMIntEQ, wni, i32c(g, 0), ""), "");
    else if (M == 1)
        owner = LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, g4, i32c(g, 0), ""),
                             LLVMBuildICmp(g->b, LLVMIntEQ, wmi, i32c(g, 0), ""), "");
    for (int rm = 0; rm < reps_m; rm++)
        for (int rn = 0; rn < reps_n; rn++)
            for (int i = 0; i < 4; i++) {
                int k = (rm * reps_n + rn) * 4 + i;
                if (M == 1) {
                    m->coord[2 * k] = i32c(g, 0);
                    m->coord[2 * k + 1] = LLVMBuildAdd(g->b, cbase, i32c(g, (int64_t)rn * wn * 8 + (i & 1)), "");
                    m->own[k] = (i >> 1) ? false1 : owner;
                    continue;
                }
                m->coord[2 * k] = LLVMBuildAdd(g->b, rbase, i32c(g, (int64_t)rm * wm * 16 + 8 * (i >> 1)), "");
                if (N == 1) {
                    m->coord[2 * k + 1] = i32c(g, 0);
                    m->own[k] = (i & 1) ? false1 : owner;
                } else {
                    m->coord[2 * k + 1] = LLVMBuildAdd(g->b, cbase, i32c(g, (int64_t)rn * wn * 8 + (i & 1)), "");
                }
            }
    return true;
}

/* A value per row (dim 1: a row max) or per column (dim 0: flash_bwd_dkdv's
 * LSE across its transposed scores) of an mma tile: the rows (columns) this
 * thread holds, 2 of each 16-row (8-column) tile, replicated across the
 * other dim and owned by the threads at its index 0. */
static bool build_slice(cg_ctx *g, cg_map *m, const ir_layout *p, int dim)
{
    bool rows = dim == 1;
    int w = p->warps_per_cta[rows ? 0 : 1], tile = rows ? 16 : 8;
    int64_t n = m->shape[0];
    if (n % (tile * w) != 0 || n / (tile * w) * 2 > CG_MAX_REGS) return false;
    int reps = (int)(n / (tile * w));
    if (!alloc_map(g, m, reps * 2, true)) return false;
    LLVMValueRef wmi, wni;
    cg_mma_warp(g, p, &wmi, &wni);
    LLVMValueRef g4 = LLVMBuildLShr(g->b, g->lane, i32c(g, 2), "");
    LLVMValueRef t4 = LLVMBuildAnd(g->b, g->lane, i32c(g, 3), "");
    /* rows: warp row * 16 + lane / 4; columns: warp column * 8 + 2 * (lane % 4) */
    LLVMValueRef base = rows ? LLVMBuildAdd(g->b, LLVMBuildMul(g->b, wmi, i32c(g, 16), ""), g4, "")
                             : LLVMBuildAdd(g->b, LLVMBuildMul(g->b, wni, i32c(g, 8), ""),
                                            LLVMBuildMul(g->b, t4, i32c(g, 2), ""), "");
    LLVMValueRef owner = LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, rows ? t4 : g4, i32c(g, 0), ""),
                                      LLVMBuildICmp(g->b, LLVMIntEQ, rows ? wni : wmi, i32c(g, 0), ""), "");
    for (int r = 0; r < reps; r++)
        for (int h = 0; h < 2; h++) {
            int k = r * 2 + h;
            m->coord[k] = LLVMBuildAdd(g->b, base, i32c(g, (int64_t)r * w * tile + (rows ? 8 : 1) * h), "");
            m->own[k] = owner;
        }
    return true;
}

bool cg_mma_build_map(cg_ctx *g, cg_map *m, const ir_layout *l)
{
    switch (l->kind) {
    /* v3 with warpgroups only along M numbers its registers as v2 (cg_wgmma.c). */
    case IR_LAYOUT_MMA: return m->rank == 2 && (l->version == 2 || l->warps_per_cta[1] == 1) && build_mma(g, m, l);
    case IR_LAYOUT_DOT_OPERAND:
        return m->rank == 2 && l->opidx == 0 && l->parent->warps_per_cta[1] == 1 && l->parent->kind == IR_LAYOUT_MMA &&
               m->shape[1] % 16 == 0 && build_mma(g, m, l->parent);
    case IR_LAYOUT_SLICE:
        if (m->rank != 1 || l->parent->kind != IR_LAYOUT_MMA ||
            (l->parent->version == 3 && l->parent->warps_per_cta[1] != 1))
            return false;
        return (l->dim == 0 || l->dim == 1) && build_slice(g, m, l->parent, l->dim);
    default: return false;
    }
}

/* ---- moves in registers -------------------------------------------------------- */

bool cg_mma_move(cg_ctx *g, ir_op *op)
{
    const ir_value *x = op->operands[0], *r = op->results[0];
    const ir_layout *xl = x->type.layout, *rl = r->type.layout;
    if (!xl || !rl || x->type.rank == 0) return false;
    int n = 0;
    if (op->code == IR_OP_CONVERT_LAYOUT && xl->kind == IR_LAYOUT_MMA && rl->kind == IR_LAYOUT_DOT_OPERAND &&
        rl->parent == xl) {
        n = 0; /* same registers */
    } else if (op->code == IR_OP_EXPAND_DIMS && xl->kind == IR_LAYOUT_SLICE && xl->dim == 1 &&
               op->attr.i == 1 && rl == xl->parent && rl->kind == IR_LAYOUT_MMA) {
        n = 1;
    } else if (op->code == IR_OP_BROADCAST && xl == rl && xl->kind == IR_LAYOUT_MMA && x->type.rank == 2 &&
               x->type.shape[1] == 1 && x->type.shape[0] == r->type.shape[0]) {
        n = 2;
    } else if (op->code == IR_OP_EXPAND_DIMS && xl->kind == IR_LAYOUT_SLICE && xl->dim == 0 &&
               op->attr.i == 0 && rl == xl->parent && rl->kind == IR_LAYOUT_MMA) {
        n = 3; /* [N] per column -> [1, N]: registers (rn, i) from column pair rn */
    } else if (op->code == IR_OP_BROADCAST && xl == rl && xl->kind == IR_LAYOUT_MMA && x->type.rank == 2 &&
               x->type.shape[0] == 1 && x->type.shape[1] == r->type.shape[1] && r->type.shape[0] != 1) {
        n = 4; /* [1, N] -> [M, N]: every row tile repeats row 0's registers */
    } else {
        return false;
    }
    const cg_map *m = cg_map_of(g, &r->type);
    cg_val *xv = cg_get(g, x);
    if (!m || !xv) return true;
    LLVMValueRef *out = cg_def(g, r, m->nregs);
    if (!out) return true;
    const ir_layout *ml = rl->kind == IR_LAYOUT_MMA ? rl : rl->parent;
    int64_t rows = r->type.shape[0] == 1 ? 1 : r->type.shape[0] / (16 * ml->warps_per_cta[0]);
    int per_rm = m->nregs / (int)rows; /* 4 * reps_n */
    for (int k = 0; k < m->nregs; k++) {
        int rm = k / per_rm, i = k % 4, rn = (k % per_rm) / 4;
        switch (n) {
        case 0: out[k] = xv->regs[k]; break;
        case 1: out[k] = xv->regs[rm * 2 + (i >> 1)]; break;
        case 2: out[k] = xv->regs[rm * 4 + i]; break;
        case 3: out[k] = xv->regs[rn * 2 + (i & 1)]; break;
        default: out[k] = xv->regs[rn * 4 + i]; break;
        }
    }
    return true;
}

/* ---- reductions along the rows of an mma tile ------------------------------------ */

static LLVMValueRef shfl_xor(cg_ctx *g, LLVMValueRef v, int mask)
{
    LLVMTypeRef i32 = LLVMInt32TypeInContext(g->ctx);
    bool fl = LLVMGetTypeKind(LLVMTypeOf(v)) == LLVMFloatTypeKind;
    LLVMValueRef args[2] = {fl ? LLVMBuildBitCast(g->b, v, i32, "") : v, i32c(g, mask)};
    LLVMValueRef r = cg_inline_asm(g, i32, "shfl.sync.bfly.b32 $0, $1, $2, 0x1f, 0xffffffff;", "=r,r,r",
                                   args, 2, true);
    return fl ? LLVMBuildBitCast(g->b, r, LLVMTypeOf(v), "") : r;
}

static LLVMValueRef combine(cg_ctx *g, ir_opcode code, ir_dtype t, LLVMValueRef a, LLVMValueRef b)
{
    ir_opcode e = code == IR_OP_REDUCE_MAX ? IR_OP_MAX : code == IR_OP_REDUCE_MIN ? IR_OP_MIN : IR_OP_ADD;
    LLVMValueRef args[2] = {a, b};
    return cg_scalar_op(g, e, t, t, args);
}

/* wn > 1 warps share a row: lane 0 of each quad writes its warp's partial,
 * then every thread combines the wn partials in warp order (so every copy
 * of a row's result is the same bits). */
static void across_warps(cg_ctx *g, const ir_op *op, const cg_map *m, ir_dtype dt, int wn, LLVMValueRef *out)
{
    const ir_layout *l = op->operands[0]->type.layout;
    int64_t M = op->operands[0]->type.shape[0], cursor = 0;
    int64_t off = cg_scratch(g, &cursor, (int64_t)wn * M * 4);
    LLVMValueRef wmi, wni;
    cg_mma_warp(g, l, &wmi, &wni);
    LLVMValueRef lead = LLVMBuildICmp(g->b, LLVMIntEQ, LLVMBuildAnd(g->b, g->lane, i32c(g, 3), ""), i32c(g, 0), "");
    LLVMTypeRef et = LLVMTypeOf(out[0]), i8 = LLVMInt8TypeInContext(g->ctx);
    cg_barrier(g);
    for (int k = 0; k < m->nregs; k++) {
        LLVMBasicBlockRef cont = cg_begin_if(g, lead);
        LLVMValueRef idx = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, wni, i32c(g, M), ""), m->coord[k], "");
        LLVMValueRef byte = LLVMBuildAdd(g->b, i32c(g, off), LLVMBuildMul(g->b, idx, i32c(g, 4), ""), "");
        LLVMSetAlignment(LLVMBuildStore(g->b, out[k], LLVMBuildGEP2(g->b, i8, g->scratch, &byte, 1, "")), 4);
        cg_end_if(g, cont);
    }
    cg_barrier(g);
    for (int k = 0; k < m->nregs; k++) {
        LLVMValueRef acc = NULL;
        for (int w = 0; w < wn; w++) {
            LLVMValueRef byte = LLVMBuildAdd(g->b, i32c(g, off),
                                             LLVMBuildMul(g->b, LLVMBuildAdd(g->b, m->coord[k], i32c(g, w * M), ""),
                                                          i32c(g, 4), ""), "");
            LLVMValueRef v = LLVMBuildLoad2(g->b, et, LLVMBuildGEP2(g->b, i8, g->scratch, &byte, 1, ""), "");
            LLVMSetAlignment(v, 4);
            acc = acc ? combine(g, op->code, dt, acc, v) : v;
        }
        out[k] = acc;
    }
}

/* vals[0..n) combined in a balanced pairwise tree, level by level,
 * ((v0 v1)(v2 v3))...: depth log2 n instead of a chain of n - 1 dependent
 * instructions (a row of an m64n128 accumulator is 32 values a thread; the
 * chain's latency stalled the softmax: ncu, bench/RESULTS.md session 9).
 * vals is overwritten. */
static LLVMValueRef tree(cg_ctx *g, ir_opcode code, ir_dtype dt, LLVMValueRef *vals, int n)
{
    while (n > 1) {
        int half = 0;
        for (int i = 0; i + 1 < n; i += 2) vals[half++] = combine(g, code, dt, vals[i], vals[i + 1]);
        if (n % 2) vals[half++] = vals[n - 1];
        n = half;
    }
    return vals[0];
}

/* In-thread over the thread's columns (a pairwise tree), then shfl.xor 1
 * and 2 across the quad of lanes that shares a row, then across warps
 * (wn > 1). */
bool cg_mma_reduce(cg_ctx *g, ir_op *op)
{
    const ir_value *x = op->operands[0], *r = op->results[0];
    const ir_layout *xl = x->type.layout, *rl = r->type.layout;
    ir_dtype dt = x->type.dtype;
    if (!xl || xl->kind != IR_LAYOUT_MMA || op->attr.i != 1 || !rl || rl->kind != IR_LAYOUT_SLICE ||
        rl->parent != xl || (dt != IR_F32 && dt != IR_I32))
        return false;
    const cg_map *m = cg_map_of(g, &r->type);
    cg_val *xv = cg_get(g, x);
    if (!m || !xv || !cg_map_of(g, &x->type)) return true;
    LLVMValueRef *out = cg_def(g, r, m->nregs);
    if (!out) return true;
    int64_t N = x->type.shape[1];
    int reps_m = m->nregs / 2, reps_n = N == 1 ? 1 : (int)(N / (8 * xl->warps_per_cta[1]));
    LLVMValueRef *vals = arena_calloc(g->mem, (size_t)(2 * reps_n), sizeof *vals);
    if (!vals) {
        g->status = TILE_ERR_NOMEM;   /* as cg_def: the compilation fails with it */
        return true;
    }
    for (int rm = 0; rm < reps_m; rm++)
        for (int h = 0; h < 2; h++) {
            LLVMValueRef acc = xv->regs[rm * reps_n * 4 + 2 * h];
            if (N > 1) {
                for (int i = 0; i < 2 * reps_n; i++) vals[i] = xv->regs[(rm * reps_n + i / 2) * 4 + 2 * h + i % 2];
                acc = tree(g, op->code, dt, vals, 2 * reps_n);
                acc = combine(g, op->code, dt, acc, shfl_xor(g, acc, 1));
                acc = combine(g, op->code, dt, acc, shfl_xor(g, acc, 2));
            }
            out[rm * 2 + h] = acc;
        }
    if (N > 1 && xl->warps_per_cta[1] > 1) across_warps(g, op, m, dt, xl->warps_per_cta[1], out);
    return true;
}
