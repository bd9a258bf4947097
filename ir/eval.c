/* eval.c - scalar semantics of every elementwise op and cast (see eval.h).
 *
 * Constant folding calls these one scalar at a time; the interpreter runs
 * the same inline kernels (eval_ops.h) in per-dtype loops.  Values arrive
 * as ir_scalar: bool/ints in .i, floats in .f (already rounded to their
 * dtype, so converting to float is exact). */
#include "eval.h"

#include "eval_ops.h"

static float as_f32(ir_scalar x) { return (float)x.f; }

static ir_scalar from_f(float f)
{
    ir_scalar r;
    r.f = f;
    return r;
}

static ir_scalar from_i(int64_t i)
{
    ir_scalar r;
    r.i = i;
    return r;
}

static tile_status eval_cast(ir_dtype in, ir_dtype out, ir_scalar x, ir_scalar *r)
{
    if (ev_is_float(in)) {
        float f = as_f32(x);
        if (ev_is_float(out)) *r = from_f(ev_round(out, f));
        else if (out == IR_BOOL) *r = from_i(f != 0);
        else *r = from_i(ev_f2i(out, f));
        return TILE_OK;
    }
    int64_t v = ev_wrap(in, (uint64_t)x.i);
    if (ev_is_float(out)) *r = from_f(ev_i2f(out, v));
    else if (out == IR_BOOL) *r = from_i(v != 0);
    else *r = from_i(ev_wrap(out, (uint64_t)v));
    return TILE_OK;
}

tile_status ir_eval_unary(ir_opcode op, ir_dtype in, ir_dtype out, ir_scalar x, ir_scalar *r)
{
    if ((unsigned)in >= IR_DTYPE_COUNT || (unsigned)out >= IR_DTYPE_COUNT)
        return TILE_ERR_INTERNAL;
    if (op == IR_OP_CAST) return eval_cast(in, out, x, r);
    if (in != out) return TILE_ERR_INTERNAL;
    if (ev_is_float(in)) {
        float f = as_f32(x), v;
        switch (op) {
        case IR_OP_NEG: v = -f; break;
        case IR_OP_ABS: v = fabsf(f); break;
        case IR_OP_EXP: v = expf(f); break;
        case IR_OP_EXP2: v = exp2f(f); break;
        case IR_OP_LOG: v = logf(f); break;
        case IR_OP_LOG2: v = log2f(f); break;
        case IR_OP_SQRT: v = sqrtf(f); break;
        case IR_OP_RSQRT: v = ev_rsqrt(f); break;
        case IR_OP_SIGMOID: v = ev_sigmoid(f); break;
        case IR_OP_TANH: v = tanhf(f); break;
        default: {
            int ok = 1;
            v = ev_unary_math(op, f, &ok);
            if (!ok) return TILE_ERR_INTERNAL;
        }
        }
        *r = from_f(ev_round(in, v));
        return TILE_OK;
    }
    int64_t i = ev_wrap(in, (uint64_t)x.i);
    switch (op) {
    case IR_OP_NOT:
        *r = from_i(in == IR_BOOL ? !i : ev_wrap(in, ~(uint64_t)i));
        return TILE_OK;
    case IR_OP_NEG:
        if (in == IR_BOOL) return TILE_ERR_INTERNAL;
        *r = from_i(ev_wrap(in, 0 - (uint64_t)i));
        return TILE_OK;
    case IR_OP_ABS:
        if (in == IR_BOOL) return TILE_ERR_INTERNAL;
        *r = from_i(ev_wrap(in, i < 0 ? 0 - (uint64_t)i : (uint64_t)i));
        return TILE_OK;
    default:
        return TILE_ERR_INTERNAL;
    }
}

static tile_status eval_float_binary(ir_opcode op, ir_dtype t, float a, float b, ir_scalar *r)
{
    float v;
    switch (op) {
    case IR_OP_ADD: v = a + b; break;
    case IR_OP_SUB: v = a - b; break;
    case IR_OP_MUL: v = a * b; break;
    case IR_OP_DIV: v = a / b; break;
    case IR_OP_REM: v = fmodf(a, b); break;
    case IR_OP_MIN: v = ev_fmin(a, b); break;
    case IR_OP_MAX: v = ev_fmax(a, b); break;
    case IR_OP_POW: v = ev_pow(a, b); break;
    case IR_OP_CMP_EQ: *r = from_i(a == b); return TILE_OK;
    case IR_OP_CMP_NE: *r = from_i(a != b); return TILE_OK;
    case IR_OP_CMP_LT: *r = from_i(a < b); return TILE_OK;
    case IR_OP_CMP_LE: *r = from_i(a <= b); return TILE_OK;
    case IR_OP_CMP_GT: *r = from_i(a > b); return TILE_OK;
    case IR_OP_CMP_GE: *r = from_i(a >= b); return TILE_OK;
    default: return TILE_ERR_INTERNAL;
    }
    *r = from_f(ev_round(t, v));
    return TILE_OK;
}

tile_status ir_eval_binary(ir_opcode op, ir_dtype in, ir_scalar x, ir_scalar y, ir_scalar *r)
{
    if ((unsigned)in >= IR_DTYPE_COUNT) return TILE_ERR_INTERNAL;
    if (ev_is_float(in)) return eval_float_binary(op, in, as_f32(x), as_f32(y), r);
    /* Normalise: bool to 0/1, i32 sign-extended. */
    int64_t a = ev_wrap(in, (uint64_t)x.i), b = ev_wrap(in, (uint64_t)y.i);
    uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
    int64_t v;
    switch (op) {
    case IR_OP_ADD: v = ev_wrap(in, ua + ub); break;
    case IR_OP_SUB: v = ev_wrap(in, ua - ub); break;
    case IR_OP_MUL: v = ev_wrap(in, ua * ub); break;
    case IR_OP_DIV:
    case IR_OP_REM:
        if (b == 0) return TILE_ERR_RUNTIME;
        v = op == IR_OP_DIV ? ev_idiv(in, a, b) : ev_irem(in, a, b);
        break;
    case IR_OP_MIN: v = a < b ? a : b; break;
    case IR_OP_MAX: v = a > b ? a : b; break;
    case IR_OP_AND: v = a & b; break;
    case IR_OP_OR: v = a | b; break;
    case IR_OP_XOR: v = a ^ b; break;
    case IR_OP_SHL: v = ev_shl(in, a, b); break;
    case IR_OP_SHR: v = ev_shr(in, a, b); break;
    case IR_OP_CMP_EQ: v = a == b; break;
    case IR_OP_CMP_NE: v = a != b; break;
    case IR_OP_CMP_LT: v = a < b; break;
    case IR_OP_CMP_LE: v = a <= b; break;
    case IR_OP_CMP_GT: v = a > b; break;
    case IR_OP_CMP_GE: v = a >= b; break;
    default: return TILE_ERR_INTERNAL;
    }
    *r = from_i(v);
    return TILE_OK;
}

tile_status ir_eval_ternary(ir_opcode op, ir_dtype in, ir_scalar x, ir_scalar y, ir_scalar z,
                            ir_scalar *r)
{
    if (op != IR_OP_FMA || !ev_is_float(in)) return TILE_ERR_INTERNAL;
    *r = from_f(ev_round(in, ev_fma(as_f32(x), as_f32(y), as_f32(z))));
    return TILE_OK;
}
