/* cg_scalar.c - one element of every elementwise op and cast, with the
 * interpreter's semantics (ir/eval_ops.h, docs/language.md "Numerics"):
 * bf16/f16 arithmetic runs in f32 and rounds once to nearest even; integer
 * ops wrap; division by zero and out-of-range shifts have defined results
 * (no LLVM poison); max/min propagate NaN.  exp/exp2/log/log2/sigmoid/tanh
 * use the approximate hardware instructions (the tolerance contract in
 * docs/language.md); floor/ceil/round/fma are exact single instructions;
 * sin/cos/erf/log1p/expm1/pow are cg_math.c's f64 software routines.
 *
 * Table-driven: RULES maps an opcode to how its float and its integer
 * elements are built; a new elementwise op is one line there (plus a case
 * in `build` only when it needs a new kind of instruction). */
#include "cg_impl.h"

#include <math.h>

typedef enum rule {
    R_NONE,
    R_FNEG, R_FABS, R_EXP, R_EXP2, R_LOG, R_LOG2, R_SQRT, R_RSQRT, R_SIGMOID, R_TANH,
    R_FADD, R_FSUB, R_FMUL, R_FDIV, R_FREM, R_FMIN, R_FMAX,
    R_FEQ, R_FNE, R_FLT, R_FLE, R_FGT, R_FGE,
    R_INEG, R_IABS, R_NOT,
    R_IADD, R_ISUB, R_IMUL, R_IDIV, R_IREM, R_IMIN, R_IMAX, R_AND, R_OR, R_XOR, R_SHL, R_SHR,
    R_IEQ, R_INE, R_ILT, R_ILE, R_IGT, R_IGE,
    R_SELECT, R_CAST,
    R_FLOOR, R_CEIL, R_ROUND, R_FMA, R_MATH, /* R_MATH: cg_math.c */
} rule;

typedef struct rules {
    rule f, i; /* float dtypes; bool/int dtypes */
} rules;

static const rules RULES[IR_OP_COUNT] = {
    [IR_OP_CAST] = {R_CAST, R_CAST},
    [IR_OP_NEG] = {R_FNEG, R_INEG},
    [IR_OP_NOT] = {R_NONE, R_NOT},
    [IR_OP_ABS] = {R_FABS, R_IABS},
    [IR_OP_EXP] = {R_EXP, R_NONE},
    [IR_OP_EXP2] = {R_EXP2, R_NONE},
    [IR_OP_LOG] = {R_LOG, R_NONE},
    [IR_OP_LOG2] = {R_LOG2, R_NONE},
    [IR_OP_SQRT] = {R_SQRT, R_NONE},
    [IR_OP_RSQRT] = {R_RSQRT, R_NONE},
    [IR_OP_SIGMOID] = {R_SIGMOID, R_NONE},
    [IR_OP_TANH] = {R_TANH, R_NONE},
    [IR_OP_ADD] = {R_FADD, R_IADD},
    [IR_OP_SUB] = {R_FSUB, R_ISUB},
    [IR_OP_MUL] = {R_FMUL, R_IMUL},
    [IR_OP_DIV] = {R_FDIV, R_IDIV},
    [IR_OP_REM] = {R_FREM, R_IREM},
    [IR_OP_MIN] = {R_FMIN, R_IMIN},
    [IR_OP_MAX] = {R_FMAX, R_IMAX},
    [IR_OP_AND] = {R_NONE, R_AND},
    [IR_OP_OR] = {R_NONE, R_OR},
    [IR_OP_XOR] = {R_NONE, R_XOR},
    [IR_OP_SHL] = {R_NONE, R_SHL},
    [IR_OP_SHR] = {R_NONE, R_SHR},
    [IR_OP_CMP_EQ] = {R_FEQ, R_IEQ},
    [IR_OP_CMP_NE] = {R_FNE, R_INE},
    [IR_OP_CMP_LT] = {R_FLT, R_ILT},
    [IR_OP_CMP_LE] = {R_FLE, R_ILE},
    [IR_OP_CMP_GT] = {R_FGT, R_IGT},
    [IR_OP_CMP_GE] = {R_FGE, R_IGE},
    [IR_OP_SELECT] = {R_SELECT, R_SELECT},
    [IR_OP_FLOOR] = {R_FLOOR, R_NONE},
    [IR_OP_CEIL] = {R_CEIL, R_NONE},
    [IR_OP_ROUND] = {R_ROUND, R_NONE},
    [IR_OP_FMA] = {R_FMA, R_NONE},
    [IR_OP_SIN] = {R_MATH, R_NONE},
    [IR_OP_COS] = {R_MATH, R_NONE},
    [IR_OP_ERF] = {R_MATH, R_NONE},
    [IR_OP_LOG1P] = {R_MATH, R_NONE},
    [IR_OP_EXPM1] = {R_MATH, R_NONE},
    [IR_OP_POW] = {R_MATH, R_NONE},
};

bool cg_has_scalar_rule(ir_opcode code)
{
    return code < IR_OP_COUNT && (RULES[code].f != R_NONE || RULES[code].i != R_NONE);
}

static LLVMTypeRef f32(cg_ctx *g) { return LLVMFloatTypeInContext(g->ctx); }
static LLVMValueRef fc(cg_ctx *g, double v) { return LLVMConstReal(f32(g), v); }

LLVMValueRef cg_const_scalar(cg_ctx *g, ir_dtype t, ir_scalar c)
{
    if (ir_dtype_is_float(t)) return LLVMConstReal(cg_type(g, t), c.f);
    return LLVMConstInt(cg_type(g, t), (unsigned long long)c.i, t != IR_BOOL);
}

static LLVMValueRef call1(cg_ctx *g, const char *name, LLVMValueRef x)
{
    LLVMTypeRef t = LLVMTypeOf(x);
    return cg_intrinsic(g, name, &t, 1, &x, 1);
}

static LLVMValueRef call2(cg_ctx *g, const char *name, LLVMValueRef x, LLVMValueRef y)
{
    LLVMTypeRef t = LLVMTypeOf(x);
    LLVMValueRef a[2] = {x, y};
    return cg_intrinsic(g, name, &t, 1, a, 2);
}

static LLVMValueRef asm1(cg_ctx *g, const char *text, LLVMValueRef x)
{
    return cg_inline_asm(g, f32(g), text, "=f,f", &x, 1, false);
}

/* ex2.approx / lg2.approx (PTX: max relative error 2^-22 / abs 2^-22).
 * ex2 flushes subnormals (.ftz): ptxas expands the non-ftz form into four
 * instructions around MUFU.EX2 (a range test and two scalings), the
 * softmax's largest per-element cost; a result below 2^-126 becomes 0
 * (docs/language.md, "GPU tolerance contract").  lg2 keeps subnormal
 * inputs: log of one is -87..-103, not -inf. */
static LLVMValueRef ex2(cg_ctx *g, LLVMValueRef x) { return asm1(g, "ex2.approx.ftz.f32 $0, $1;", x); }
static LLVMValueRef lg2(cg_ctx *g, LLVMValueRef x) { return asm1(g, "lg2.approx.f32 $0, $1;", x); }

/* a * b + c may become one fma (docs/language.md, "GPU tolerance
 * contract"): the contract flag lets LLVM fuse a multiply into the add or
 * subtract that uses it, e.g. the softmax's exp2(s * log2e - m) into FFMA +
 * MUFU.  Without it NVPTX prints mul.rn/add.rn, which ptxas may not fuse
 * either. */
static LLVMValueRef contractible(LLVMValueRef inst)
{
    if (LLVMIsAInstruction(inst)) LLVMSetFastMathFlags(inst, LLVMFastMathAllowContract);
    return inst;
}

static LLVMValueRef float_op(cg_ctx *g, rule r, LLVMValueRef *a)
{
    LLVMBuilderRef b = g->b;
    switch (r) {
    case R_FNEG: return LLVMBuildFNeg(b, a[0], "");
    case R_FABS: return call1(g, "llvm.fabs", a[0]);
    case R_EXP: return ex2(g, LLVMBuildFMul(b, a[0], fc(g, 1.4426950408889634), ""));
    case R_EXP2: return ex2(g, a[0]);
    case R_LOG: return LLVMBuildFMul(b, lg2(g, a[0]), fc(g, 0.6931471805599453), "");
    case R_LOG2: return lg2(g, a[0]);
    case R_SQRT: return call1(g, "llvm.sqrt", a[0]);
    case R_RSQRT: return LLVMBuildFDiv(b, fc(g, 1.0), call1(g, "llvm.sqrt", a[0]), "");
    case R_SIGMOID: {
        LLVMValueRef e = ex2(g, LLVMBuildFMul(b, a[0], fc(g, -1.4426950408889634), ""));
        return LLVMBuildFDiv(b, fc(g, 1.0), LLVMBuildFAdd(b, fc(g, 1.0), e, ""), "");
    }
    case R_TANH: return asm1(g, "tanh.approx.f32 $0, $1;", a[0]);
    case R_FADD: return contractible(LLVMBuildFAdd(b, a[0], a[1], ""));
    case R_FSUB: return contractible(LLVMBuildFSub(b, a[0], a[1], ""));
    case R_FMUL: return contractible(LLVMBuildFMul(b, a[0], a[1], ""));
    case R_FDIV: return LLVMBuildFDiv(b, a[0], a[1], "");
    case R_FREM: {
        /* NVPTX expands frem as a - b * trunc(a / b), which gives NaN for a
         * finite a and an infinite b; fmod gives a there. */
        LLVMValueRef rem = LLVMBuildFRem(b, a[0], a[1], "");
        LLVMValueRef binf = LLVMBuildFCmp(b, LLVMRealOEQ, call1(g, "llvm.fabs", a[1]), fc(g, INFINITY), "");
        LLVMValueRef afin = LLVMBuildFCmp(b, LLVMRealONE, call1(g, "llvm.fabs", a[0]), fc(g, INFINITY), "");
        return LLVMBuildSelect(b, LLVMBuildAnd(b, binf, afin, ""), a[0], rem, "");
    }
    case R_FMIN: return call2(g, "llvm.minimum", a[0], a[1]);
    case R_FMAX: return call2(g, "llvm.maximum", a[0], a[1]);
    case R_FEQ: return LLVMBuildFCmp(b, LLVMRealOEQ, a[0], a[1], "");
    case R_FNE: return LLVMBuildFCmp(b, LLVMRealUNE, a[0], a[1], "");
    case R_FLT: return LLVMBuildFCmp(b, LLVMRealOLT, a[0], a[1], "");
    case R_FLE: return LLVMBuildFCmp(b, LLVMRealOLE, a[0], a[1], "");
    case R_FGT: return LLVMBuildFCmp(b, LLVMRealOGT, a[0], a[1], "");
    case R_FGE: return LLVMBuildFCmp(b, LLVMRealOGE, a[0], a[1], "");
    /* Exact: cvt.rmi / cvt.rpi / cvt.rni.f32.f32 (NaN, inf, -0 pass). */
    case R_FLOOR: return call1(g, "llvm.floor", a[0]);
    case R_CEIL: return call1(g, "llvm.ceil", a[0]);
    case R_ROUND: return call1(g, "llvm.roundeven", a[0]);
    case R_FMA: {
        /* fma.rn.f32: one rounding, never contracted differently. */
        LLVMTypeRef t = LLVMTypeOf(a[0]);
        return cg_intrinsic(g, "llvm.fma", &t, 1, a, 3);
    }
    default: return NULL;
    }
}

static LLVMValueRef ic(LLVMValueRef like, long long v)
{
    return LLVMConstInt(LLVMTypeOf(like), (unsigned long long)v, 1);
}

/* x / y and x % y without poison: y == 0 gives 0 (the interpreter stops
 * with a runtime error there), MIN / -1 wraps, MIN % -1 is 0. */
static LLVMValueRef int_divrem(cg_ctx *g, bool rem, LLVMValueRef x, LLVMValueRef y)
{
    LLVMBuilderRef b = g->b;
    LLVMValueRef zero = LLVMBuildICmp(b, LLVMIntEQ, y, ic(y, 0), "");
    LLVMValueRef m1 = LLVMBuildICmp(b, LLVMIntEQ, y, ic(y, -1), "");
    LLVMValueRef safe = LLVMBuildSelect(b, LLVMBuildOr(b, zero, m1, ""), ic(y, 1), y, "");
    LLVMValueRef q = rem ? LLVMBuildSRem(b, x, safe, "") : LLVMBuildSDiv(b, x, safe, "");
    LLVMValueRef neg1 = rem ? ic(x, 0) : LLVMBuildSub(b, ic(x, 0), x, "");
    q = LLVMBuildSelect(b, m1, neg1, q, "");
    return LLVMBuildSelect(b, zero, ic(x, 0), q, "");
}

static LLVMValueRef shift(cg_ctx *g, bool left, LLVMValueRef x, LLVMValueRef y)
{
    LLVMBuilderRef b = g->b;
    unsigned w = LLVMGetIntTypeWidth(LLVMTypeOf(x));
    LLVMValueRef in = LLVMBuildICmp(b, LLVMIntULT, y, ic(y, w), ""); /* 0 <= y < w */
    LLVMValueRef cnt = LLVMBuildSelect(b, in, y, ic(y, 0), "");
    LLVMValueRef v = left ? LLVMBuildShl(b, x, cnt, "") : LLVMBuildAShr(b, x, cnt, "");
    LLVMValueRef out = left ? ic(x, 0) : LLVMBuildAShr(b, x, ic(x, w - 1), "");
    return LLVMBuildSelect(b, in, v, out, "");
}

static LLVMValueRef int_op(cg_ctx *g, rule r, LLVMValueRef *a)
{
    LLVMBuilderRef b = g->b;
    switch (r) {
    case R_INEG: return LLVMBuildSub(b, ic(a[0], 0), a[0], "");
    case R_IABS: {
        LLVMValueRef neg = LLVMBuildICmp(b, LLVMIntSLT, a[0], ic(a[0], 0), "");
        return LLVMBuildSelect(b, neg, LLVMBuildSub(b, ic(a[0], 0), a[0], ""), a[0], "");
    }
    case R_NOT: return LLVMBuildNot(b, a[0], "");
    case R_IADD: return LLVMBuildAdd(b, a[0], a[1], "");
    case R_ISUB: return LLVMBuildSub(b, a[0], a[1], "");
    case R_IMUL: return LLVMBuildMul(b, a[0], a[1], "");
    case R_IDIV: return int_divrem(g, false, a[0], a[1]);
    case R_IREM: return int_divrem(g, true, a[0], a[1]);
    case R_IMIN: return call2(g, "llvm.smin", a[0], a[1]);
    case R_IMAX: return call2(g, "llvm.smax", a[0], a[1]);
    case R_AND: return LLVMBuildAnd(b, a[0], a[1], "");
    case R_OR: return LLVMBuildOr(b, a[0], a[1], "");
    case R_XOR: return LLVMBuildXor(b, a[0], a[1], "");
    case R_SHL: return shift(g, true, a[0], a[1]);
    case R_SHR: return shift(g, false, a[0], a[1]);
    case R_IEQ: return LLVMBuildICmp(b, LLVMIntEQ, a[0], a[1], "");
    case R_INE: return LLVMBuildICmp(b, LLVMIntNE, a[0], a[1], "");
    case R_ILT: return LLVMBuildICmp(b, LLVMIntSLT, a[0], a[1], "");
    case R_ILE: return LLVMBuildICmp(b, LLVMIntSLE, a[0], a[1], "");
    case R_IGT: return LLVMBuildICmp(b, LLVMIntSGT, a[0], a[1], "");
    case R_IGE: return LLVMBuildICmp(b, LLVMIntSGE, a[0], a[1], "");
    default: return NULL;
    }
}

/* bool: max/min/add on i1 are not in the language (the verifier refuses
 * them), so bool takes the integer rules unchanged. */
LLVMValueRef cg_convert(cg_ctx *g, LLVMValueRef x, ir_dtype from, ir_dtype to)
{
    LLVMBuilderRef b = g->b;
    if (from == to) return x;
    LLVMTypeRef tt = cg_type(g, to);
    bool ff = ir_dtype_is_float(from), tf = ir_dtype_is_float(to);
    if (ff && tf) {
        /* Through f32: exact widening, then one rounding to nearest even. */
        LLVMValueRef w = from == IR_F32 ? x : LLVMBuildFPExt(b, x, f32(g), "");
        return to == IR_F32 ? w : LLVMBuildFPTrunc(b, w, tt, "");
    }
    if (ff) {
        if (to == IR_BOOL) return LLVMBuildFCmp(b, LLVMRealUNE, x, LLVMConstReal(LLVMTypeOf(x), 0), "");
        LLVMTypeRef ov[2] = {tt, LLVMTypeOf(x)};
        return cg_intrinsic(g, "llvm.fptosi.sat", ov, 2, &x, 1); /* saturating, NaN -> 0 */
    }
    if (tf) return from == IR_BOOL ? LLVMBuildUIToFP(b, x, tt, "") : LLVMBuildSIToFP(b, x, tt, "");
    if (to == IR_BOOL) return LLVMBuildICmp(b, LLVMIntNE, x, ic(x, 0), "");
    if (from == IR_BOOL) return LLVMBuildZExt(b, x, tt, "");
    return LLVMBuildIntCast2(b, x, tt, 1, "");
}

LLVMValueRef cg_scalar_op(cg_ctx *g, ir_opcode code, ir_dtype in, ir_dtype out, LLVMValueRef *args)
{
    if (code >= IR_OP_COUNT) return NULL;
    bool is_f = ir_dtype_is_float(in);
    rule r = is_f ? RULES[code].f : RULES[code].i;
    if (r == R_NONE) return NULL;
    if (r == R_CAST) return cg_convert(g, args[0], in, out);
    if (r == R_SELECT) return LLVMBuildSelect(g->b, args[0], args[1], args[2], "");
    if (!is_f) return int_op(g, r, args);
    /* Floats: compute in f32, round once to the result dtype. */
    int n = ir_op_table[code].noperands;
    LLVMValueRef w[3];
    for (int i = 0; i < n && i < 3; i++) w[i] = cg_convert(g, args[i], in, IR_F32);
    LLVMValueRef v = r == R_MATH ? cg_math_op(g, code, w) : float_op(g, r, w);
    if (!v || out == IR_BOOL || out == IR_F32) return v;
    return cg_convert(g, v, IR_F32, out);
}
