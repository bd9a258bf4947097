/* eval_ops.h - private: the scalar kernels behind ir/eval.c, as static
 * inline functions so the interpreter's per-dtype loops (ir/interp_ops.c)
 * run the very same code as constant folding.  One definition of every
 * rounding, wrapping and NaN rule (docs/language.md, "Numerics"); nothing
 * here has C undefined behaviour for any input.
 *
 * Representations: floats of every width as a float holding a value the
 * dtype can represent; bool/i32/i64 as int64_t (i32 sign-extended, bool
 * 0/1). */
#ifndef TILE_EVAL_OPS_H
#define TILE_EVAL_OPS_H

#include <math.h>
#include <stdint.h>

#include "support/fp16.h"
#include "ir.h"

static inline int ev_is_float(ir_dtype t) { return t == IR_F32 || t == IR_BF16 || t == IR_F16; }

/* Two's-complement wrap of a 64-bit pattern into dtype t. */
static inline int64_t ev_wrap(ir_dtype t, uint64_t u)
{
    if (t == IR_BOOL) return u != 0;
    if (t == IR_I32) {
        uint32_t v = (uint32_t)u;
        return v >= 0x80000000u ? (int64_t)v - (int64_t)0x80000000 - (int64_t)0x80000000
                                : (int64_t)v;
    }
    return u > (uint64_t)INT64_MAX ? -(int64_t)(~u) - 1 : (int64_t)u;
}

/* Rounds an f32 value to the float dtype t (nearest even). */
static inline float ev_round(ir_dtype t, float f)
{
    if (t == IR_BF16) return fp_round_bf16(f);
    if (t == IR_F16) return fp_round_f16(f);
    return f;
}

/* double -> float dtype t, rounded once to nearest even: through f32 with
 * round-to-odd (f32 has more than two extra bits over bf16/f16, so the
 * second rounding is then exact-equivalent). */
static inline float ev_from_double(ir_dtype t, double d)
{
    float f = (float)d;
    if (t == IR_F32 || d != d || (double)f == d) return ev_round(t, f);
    if (fabs((double)f) > fabs(d)) f = nextafterf(f, 0.0f);
    union {
        float f;
        uint32_t u;
    } odd = {f};
    odd.u |= 1u;
    return ev_round(t, odd.f);
}

/* NaN-propagating max/min; +0 counts as larger than -0. */
static inline float ev_fmax(float a, float b)
{
    if (a != a) return a;
    if (b != b) return b;
    if (a == b) return signbit(a) ? b : a;
    return a > b ? a : b;
}

static inline float ev_fmin(float a, float b)
{
    if (a != a) return a;
    if (b != b) return b;
    if (a == b) return signbit(a) ? a : b;
    return a < b ? a : b;
}

static inline float ev_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
/* round(): to nearest, ties to even (rint in the default rounding mode,
 * which nothing in tile changes). */
static inline float ev_round_even(float x) { return rintf(x); }
static inline float ev_pow(float x, float y) { return powf(x, y); }
/* a*b+c rounded once in f32. */
static inline float ev_fma(float a, float b, float c) { return fmaf(a, b, c); }

/* The float unary ops added with issue 5, shared by eval.c and the
 * interpreter; sets *ok = 0 for any other op. */
static inline float ev_unary_math(ir_opcode op, float x, int *ok)
{
    switch (op) {
    case IR_OP_SIN: return sinf(x);
    case IR_OP_COS: return cosf(x);
    case IR_OP_FLOOR: return floorf(x);
    case IR_OP_CEIL: return ceilf(x);
    case IR_OP_ROUND: return ev_round_even(x);
    case IR_OP_ERF: return erff(x);
    case IR_OP_LOG1P: return log1pf(x);
    case IR_OP_EXPM1: return expm1f(x);
    default: *ok = 0; return x;
    }
}

/* ARGMAX/ARGMIN order: does candidate x replace the current extreme best?
 * NaN beats every number (the first NaN stays), +0 beats -0 for max and
 * -0 beats +0 for min, ties keep the earlier index.  Matches ev_fmax /
 * ev_fmin, so x[argmax] is what reduce.max returns. */
static inline int ev_float_better(int is_max, float x, float best)
{
    if (best != best) return 0;
    if (x != x) return 1;
    if (x == best) return x == 0 && (is_max ? !signbit(x) && signbit(best) : signbit(x) && !signbit(best));
    return is_max ? x > best : x < best;
}
static inline float ev_rsqrt(float x) { return 1.0f / sqrtf(x); }

static inline int ev_int_width(ir_dtype t) { return t == IR_I32 ? 32 : t == IR_BOOL ? 1 : 64; }

/* Shifts: a count < 0 or >= the width gives 0 (>> of a negative: -1). */
static inline int64_t ev_shl(ir_dtype t, int64_t x, int64_t y)
{
    if (y < 0 || y >= ev_int_width(t)) return 0;
    return ev_wrap(t, (uint64_t)x << y);
}

static inline int64_t ev_shr(ir_dtype t, int64_t x, int64_t y)
{
    if (y < 0 || y >= ev_int_width(t)) return x < 0 ? -1 : 0;
    return x >= 0 ? x >> y : ~(~x >> y);
}

/* Integer division truncating toward zero; the caller excludes y == 0.
 * INT_MIN / -1 wraps to INT_MIN, INT_MIN % -1 is 0. */
static inline int64_t ev_idiv(ir_dtype t, int64_t x, int64_t y)
{
    if (y == -1) return ev_wrap(t, 0 - (uint64_t)x);
    return ev_wrap(t, (uint64_t)(x / y));
}

static inline int64_t ev_irem(ir_dtype t, int64_t x, int64_t y)
{
    if (y == -1) return 0;
    return ev_wrap(t, (uint64_t)(x % y));
}

/* float -> int: truncate toward zero, saturate, NaN -> 0. */
static inline int64_t ev_f2i(ir_dtype t, double f)
{
    if (f != f) return 0;
    if (t == IR_BOOL) return f != 0;
    if (t == IR_I32) {
        if (f >= 2147483647.0) return INT32_MAX;
        if (f <= -2147483648.0) return INT32_MIN;
        return (int64_t)f;
    }
    if (f >= 9223372036854775808.0) return INT64_MAX;
    if (f <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)f;
}

/* int -> float dtype t, rounded once to nearest even from the exact
 * integer (no double rounding through f32 for bf16/f16). */
static inline float ev_i2f(ir_dtype t, int64_t v)
{
    int p = t == IR_BF16 ? 8 : t == IR_F16 ? 11 : 24;
    uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    int n = 0;
    for (uint64_t w = m; w; w >>= 1) n++;
    float r;
    if (n <= p) {
        r = (float)m; /* exact: fits the significand */
    } else {
        int shift = n - p;
        uint64_t q = m >> shift;
        uint64_t rem = m & (((uint64_t)1 << shift) - 1);
        uint64_t half = (uint64_t)1 << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        r = ldexpf((float)q, shift); /* exact: <= p+1 significant bits */
    }
    if (v < 0) r = -r;
    return ev_round(t, r); /* f16 overflow -> inf; exact otherwise */
}

#endif
