/* cg_effects.c - assert, run-time checks and print.
 *
 * assert (docs/abi.md): a failed condition (uniform: it is a scalar) makes
 * every thread try an atomic compare-and-swap of status[0] from 0 to the
 * assert's index + 1; the one that succeeds records the program ids in
 * status[1..3]; then the block returns.  No trap: the runtime reports the
 * .tile location after synchronising.
 *
 * print: thread 0 of each program prints through vprintf, scalars as
 * `label: v`, tiles flat as `[v0 v1 ...]` in row-major order (read back
 * from the shared-memory scratch).  Lines of different programs interleave
 * in any order; the format is for debugging, not a contract. */
#include "cg_impl.h"

#include <string.h>

static int add_site(cg_ctx *g, src_loc loc, const char *message)
{
    if (g->nasserts == g->cap_asserts) {
        int cap = g->cap_asserts ? 2 * g->cap_asserts : 8;
        cg_assert_info *n = arena_calloc(g->mem, (size_t)cap, sizeof *n);
        if (!n) return -1;
        if (g->nasserts) memcpy(n, g->asserts, sizeof *n * (size_t)g->nasserts);
        g->asserts = n;
        g->cap_asserts = cap;
    }
    g->asserts[g->nasserts] = (cg_assert_info){.loc = loc, .message = message ? message : ""};
    return g->nasserts++;
}

static LLVMValueRef status_slot(cg_ctx *g, int i)
{
    LLVMValueRef idx = cg_i32(g, i);
    return LLVMBuildGEP2(g->b, LLVMInt32TypeInContext(g->ctx), g->status_ptr, &idx, 1, "");
}

void cg_check(cg_ctx *g, const ir_op *op, LLVMValueRef cond, const char *message)
{
    int site = add_site(g, op->loc, message);
    if (site < 0) {
        g->status = TILE_ERR_NOMEM;
        return;
    }
    LLVMBasicBlockRef fail = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "assert.fail");
    LLVMBasicBlockRef rec = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "assert.record");
    LLVMBasicBlockRef ret = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "assert.return");
    LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "assert.ok");
    LLVMBuildCondBr(g->b, cond, ok, fail);

    LLVMPositionBuilderAtEnd(g->b, fail);
    LLVMValueRef x = LLVMBuildAtomicCmpXchg(g->b, status_slot(g, 0), cg_i32(g, 0), cg_i32(g, site + 1),
                                            LLVMAtomicOrderingMonotonic, LLVMAtomicOrderingMonotonic, 0);
    LLVMBuildCondBr(g->b, LLVMBuildExtractValue(g->b, x, 1, ""), rec, ret);

    LLVMPositionBuilderAtEnd(g->b, rec);
    static const char *const ctaid[3] = {"llvm.nvvm.read.ptx.sreg.ctaid.x",
                                         "llvm.nvvm.read.ptx.sreg.ctaid.y",
                                         "llvm.nvvm.read.ptx.sreg.ctaid.z"};
    for (int i = 0; i < 3; i++)
        LLVMBuildStore(g->b, cg_intrinsic(g, ctaid[i], NULL, 0, NULL, 0), status_slot(g, 1 + i));
    LLVMBuildBr(g->b, ret);

    LLVMPositionBuilderAtEnd(g->b, ret);
    LLVMBuildRetVoid(g->b);
    LLVMPositionBuilderAtEnd(g->b, ok);
}

void cg_lower_assert(cg_ctx *g, ir_op *op)
{
    LLVMValueRef c = cg_scalar_of(g, op->operands[0]);
    if (c) cg_check(g, op, c, op->attr.str);
}

/* ---- print ------------------------------------------------------------------ */

static LLVMValueRef vprintf_fn(cg_ctx *g, LLVMTypeRef *fty)
{
    LLVMTypeRef ptr = LLVMPointerTypeInContext(g->ctx, 0);
    LLVMTypeRef params[2] = {ptr, ptr};
    *fty = LLVMFunctionType(LLVMInt32TypeInContext(g->ctx), params, 2, 0);
    LLVMValueRef f = LLVMGetNamedFunction(g->mod, "vprintf");
    return f ? f : LLVMAddFunction(g->mod, "vprintf", *fty);
}

/* printf(fmt, v) with v promoted as C varargs are (float -> double,
 * small ints -> i32), or printf(fmt) when v is NULL. */
static void print1(cg_ctx *g, const char *fmt, LLVMValueRef v, ir_dtype t)
{
    LLVMTypeRef fty;
    LLVMValueRef fn = vprintf_fn(g, &fty);
    LLVMValueRef str = LLVMBuildGlobalStringPtr(g->b, fmt, "fmt");
    LLVMValueRef args[2] = {str, LLVMConstNull(LLVMPointerTypeInContext(g->ctx, 0))};
    if (v) {
        if (ir_dtype_is_float(t))
            v = LLVMBuildFPExt(g->b, cg_convert(g, v, t, IR_F32), LLVMDoubleTypeInContext(g->ctx), "");
        else if (t == IR_BOOL)
            v = LLVMBuildZExt(g->b, v, LLVMInt32TypeInContext(g->ctx), "");
        /* The buffer lives in the entry block so loops do not grow the stack. */
        LLVMBasicBlockRef here = LLVMGetInsertBlock(g->b);
        LLVMPositionBuilderBefore(g->b, g->entry_end);
        LLVMValueRef slot = LLVMBuildAlloca(g->b, LLVMTypeOf(v), "");
        LLVMPositionBuilderAtEnd(g->b, here);
        LLVMBuildStore(g->b, v, slot);
        args[1] = slot;
    }
    LLVMBuildCall2(g->b, fty, fn, args, 2, "");
}

static const char *fmt_of(ir_dtype t)
{
    if (ir_dtype_is_float(t)) return "%g";
    if (t == IR_I64) return "%lld";
    return "%d";
}

typedef struct print_ctx {
    const ir_value *v;
    int64_t offset;
} print_ctx;

static void print_elem(cg_ctx *g, LLVMValueRef k, LLVMValueRef *acc, void *ctx)
{
    print_ctx *p = ctx;
    char fmt[16];
    snprintf(fmt, sizeof fmt, " %s", fmt_of(p->v->type.dtype));
    print1(g, fmt, cg_scratch_load(g, p->v->type.dtype, p->offset, k), p->v->type.dtype);
}

void cg_lower_print(cg_ctx *g, ir_op *op)
{
    /* Tiles go to scratch first (all threads), then thread 0 prints. */
    int64_t cursor = 0;
    int64_t *offs = arena_calloc(g->mem, (size_t)(op->noperands ? op->noperands : 1), sizeof *offs);
    if (!offs) {
        g->status = TILE_ERR_NOMEM;
        return;
    }
    cg_barrier(g);
    for (int i = 0; i < op->noperands; i++) {
        const ir_value *v = op->operands[i];
        if (v->type.kind != IR_TY_TILE || v->type.rank == 0) continue;
        offs[i] = cg_scratch(g, &cursor, ir_type_numel(&v->type) * ir_dtype_size(v->type.dtype));
        cg_spill_tile(g, v, offs[i]);
    }
    cg_barrier(g);
    LLVMBasicBlockRef cont = cg_begin_if(g, LLVMBuildICmp(g->b, LLVMIntEQ, g->tid, cg_i32(g, 0), ""));
    if (op->attr.str) {
        /* The label is text, not a format: double every '%'. */
        size_t n = strlen(op->attr.str);
        char *label = arena_alloc(g->mem, 2 * n + 2);
        if (label) {
            char *w = label;
            for (const char *r = op->attr.str; *r; r++) {
                if (*r == '%') *w++ = '%';
                *w++ = *r;
            }
            *w++ = ':';
            *w = 0;
        }
        print1(g, label ? label : "", NULL, IR_I32);
    }
    for (int i = 0; i < op->noperands && g->status == TILE_OK; i++) {
        const ir_value *v = op->operands[i];
        const char *sep = op->attr.str || i ? " " : "";
        if (v->type.kind != IR_TY_TILE) {
            print1(g, arena_printf(g->mem, "%stensor<%s>", sep, ir_dtype_name(v->type.dtype)), NULL, IR_I32);
            continue;
        }
        if (v->type.rank == 0) {
            print1(g, arena_printf(g->mem, "%s%s", sep, fmt_of(v->type.dtype)), cg_scalar_of(g, v), v->type.dtype);
            continue;
        }
        print1(g, arena_printf(g->mem, "%s[", sep), NULL, IR_I32);
        print_ctx p = {.v = v, .offset = offs[i]};
        cg_counted_loop(g, 0, ir_type_numel(&v->type), 0, NULL, print_elem, &p);
        print1(g, " ]", NULL, IR_I32);
    }
    print1(g, "\n", NULL, IR_I32);
    cg_end_if(g, cont);
}
