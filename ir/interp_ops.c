/* interp_ops.c - the interpreter's compute kernels on flat tile buffers.
 *
 * One switch per op and then a tight loop per storage kind, running the
 * same inline scalar kernels as constant folding (eval_ops.h), so the two
 * agree bit for bit.  16-bit float results are rounded in a second pass
 * over the result (compute in f32, round once: docs/language.md
 * "Numerics").  Storage is described in interp_impl.h. */
#include "interp_impl.h"

#include <string.h>

#include "eval_ops.h"

/* Rounds a float buffer to dtype t in place (no-op for f32). */
static void round_buffer(ir_dtype t, int64_t n, float *r)
{
    if (t == IR_BF16)
        for (int64_t i = 0; i < n; i++) r[i] = fp_round_bf16(r[i]);
    else if (t == IR_F16)
        for (int64_t i = 0; i < n; i++) r[i] = fp_round_f16(r[i]);
}

#define LOOP(expr)                                                     \
    do {                                                               \
        for (int64_t i = 0; i < n; i++) r[i] = (expr);                 \
    } while (0)

static tile_status cast_loop(ir_dtype in, ir_dtype out, int64_t n, const void *xv, void *rv)
{
    if (ir_dtype_is_float(in)) {
        const float *x = xv;
        if (ir_dtype_is_float(out)) {
            float *r = rv;
            if (r != x) memcpy(r, x, (size_t)n * sizeof *r);
            round_buffer(out, n, r);
        } else {
            int64_t *r = rv;
            if (out == IR_BOOL) LOOP(x[i] != 0);
            else LOOP(ev_f2i(out, x[i]));
        }
        return TILE_OK;
    }
    const int64_t *x = xv;
    if (ir_dtype_is_float(out)) {
        float *r = rv;
        LOOP(ev_i2f(out, x[i]));
    } else {
        int64_t *r = rv;
        if (out == IR_BOOL) LOOP(x[i] != 0);
        else LOOP(ev_wrap(out, (uint64_t)x[i]));
    }
    return TILE_OK;
}

tile_status iop_unary(ir_opcode op, ir_dtype in, ir_dtype out, int64_t n, const void *xv, void *rv)
{
    if (op == IR_OP_CAST) return cast_loop(in, out, n, xv, rv);
    if (in != out) return TILE_ERR_INTERNAL;
    if (ir_dtype_is_float(in)) {
        const float *x = xv;
        float *r = rv;
        switch (op) {
        case IR_OP_NEG: LOOP(-x[i]); break;
        case IR_OP_ABS: LOOP(fabsf(x[i])); break;
        case IR_OP_EXP: LOOP(expf(x[i])); break;
        case IR_OP_EXP2: LOOP(exp2f(x[i])); break;
        case IR_OP_LOG: LOOP(logf(x[i])); break;
        case IR_OP_LOG2: LOOP(log2f(x[i])); break;
        case IR_OP_SQRT: LOOP(sqrtf(x[i])); break;
        case IR_OP_RSQRT: LOOP(ev_rsqrt(x[i])); break;
        case IR_OP_SIGMOID: LOOP(ev_sigmoid(x[i])); break;
        case IR_OP_TANH: LOOP(tanhf(x[i])); break;
        default: {
            int ok = 1;
            ev_unary_math(op, 0.0f, &ok);
            if (!ok) return TILE_ERR_INTERNAL;
            LOOP(ev_unary_math(op, x[i], &ok));
        }
        }
        round_buffer(in, n, r);
        return TILE_OK;
    }
    const int64_t *x = xv;
    int64_t *r = rv;
    switch (op) {
    case IR_OP_NOT:
        if (in == IR_BOOL) LOOP(!x[i]);
        else LOOP(ev_wrap(in, ~(uint64_t)x[i]));
        return TILE_OK;
    case IR_OP_NEG:
        if (in == IR_BOOL) return TILE_ERR_INTERNAL;
        LOOP(ev_wrap(in, 0 - (uint64_t)x[i]));
        return TILE_OK;
    case IR_OP_ABS:
        if (in == IR_BOOL) return TILE_ERR_INTERNAL;
        LOOP(ev_wrap(in, x[i] < 0 ? 0 - (uint64_t)x[i] : (uint64_t)x[i]));
        return TILE_OK;
    default:
        return TILE_ERR_INTERNAL;
    }
}

static tile_status float_binary(ir_opcode op, ir_dtype t, int64_t n, const float *a,
                                const float *b, void *rv)
{
    if (ir_op_table[op].flags & IR_CMP) {
        int64_t *r = rv;
        switch (op) {
        case IR_OP_CMP_EQ: LOOP(a[i] == b[i]); break;
        case IR_OP_CMP_NE: LOOP(a[i] != b[i]); break;
        case IR_OP_CMP_LT: LOOP(a[i] < b[i]); break;
        case IR_OP_CMP_LE: LOOP(a[i] <= b[i]); break;
        case IR_OP_CMP_GT: LOOP(a[i] > b[i]); break;
        case IR_OP_CMP_GE: LOOP(a[i] >= b[i]); break;
        default: return TILE_ERR_INTERNAL;
        }
        return TILE_OK;
    }
    float *r = rv;
    switch (op) {
    case IR_OP_ADD: LOOP(a[i] + b[i]); break;
    case IR_OP_SUB: LOOP(a[i] - b[i]); break;
    case IR_OP_MUL: LOOP(a[i] * b[i]); break;
    case IR_OP_DIV: LOOP(a[i] / b[i]); break;
    case IR_OP_REM: LOOP(fmodf(a[i], b[i])); break;
    case IR_OP_MIN: LOOP(ev_fmin(a[i], b[i])); break;
    case IR_OP_MAX: LOOP(ev_fmax(a[i], b[i])); break;
    case IR_OP_POW: LOOP(ev_pow(a[i], b[i])); break;
    default: return TILE_ERR_INTERNAL;
    }
    round_buffer(t, n, r);
    return TILE_OK;
}

tile_status iop_binary(ir_opcode op, ir_dtype t, int64_t n, const void *av, const void *bv,
                       void *rv)
{
    if ((unsigned)op >= IR_OP_COUNT) return TILE_ERR_INTERNAL;
    if (ir_dtype_is_float(t)) return float_binary(op, t, n, av, bv, rv);
    const int64_t *a = av, *b = bv;
    int64_t *r = rv;
    switch (op) {
    case IR_OP_ADD: LOOP(ev_wrap(t, (uint64_t)a[i] + (uint64_t)b[i])); break;
    case IR_OP_SUB: LOOP(ev_wrap(t, (uint64_t)a[i] - (uint64_t)b[i])); break;
    case IR_OP_MUL: LOOP(ev_wrap(t, (uint64_t)a[i] * (uint64_t)b[i])); break;
    case IR_OP_DIV:
    case IR_OP_REM:
        for (int64_t i = 0; i < n; i++)
            if (b[i] == 0) return TILE_ERR_RUNTIME;
        if (op == IR_OP_DIV) LOOP(ev_idiv(t, a[i], b[i]));
        else LOOP(ev_irem(t, a[i], b[i]));
        break;
    case IR_OP_MIN: LOOP(a[i] < b[i] ? a[i] : b[i]); break;
    case IR_OP_MAX: LOOP(a[i] > b[i] ? a[i] : b[i]); break;
    case IR_OP_AND: LOOP(a[i] & b[i]); break;
    case IR_OP_OR: LOOP(a[i] | b[i]); break;
    case IR_OP_XOR: LOOP(a[i] ^ b[i]); break;
    case IR_OP_SHL: LOOP(ev_shl(t, a[i], b[i])); break;
    case IR_OP_SHR: LOOP(ev_shr(t, a[i], b[i])); break;
    case IR_OP_CMP_EQ: LOOP(a[i] == b[i]); break;
    case IR_OP_CMP_NE: LOOP(a[i] != b[i]); break;
    case IR_OP_CMP_LT: LOOP(a[i] < b[i]); break;
    case IR_OP_CMP_LE: LOOP(a[i] <= b[i]); break;
    case IR_OP_CMP_GT: LOOP(a[i] > b[i]); break;
    case IR_OP_CMP_GE: LOOP(a[i] >= b[i]); break;
    default: return TILE_ERR_INTERNAL;
    }
    return TILE_OK;
}

tile_status iop_fma(ir_dtype t, int64_t n, const void *av, const void *bv, const void *cv,
                    void *rv)
{
    if (!ir_dtype_is_float(t)) return TILE_ERR_INTERNAL;
    const float *a = av, *b = bv, *c = cv;
    float *r = rv;
    LOOP(ev_fma(a[i], b[i], c[i]));
    round_buffer(t, n, r);
    return TILE_OK;
}

void iop_select(ir_dtype t, int64_t n, const int64_t *c, const void *av, const void *bv, void *rv)
{
    if (ir_dtype_is_float(t)) {
        const float *a = av, *b = bv;
        float *r = rv;
        LOOP(c[i] ? a[i] : b[i]);
    } else {
        const int64_t *a = av, *b = bv;
        int64_t *r = rv;
        LOOP(c[i] ? a[i] : b[i]);
    }
}

void iop_splat(ir_dtype t, int64_t n, ir_scalar v, void *rv)
{
    if (ir_dtype_is_float(t)) {
        float *r = rv;
        float f = ev_round(t, (float)v.f);
        LOOP(f);
    } else {
        int64_t *r = rv;
        int64_t x = ev_wrap(t, (uint64_t)v.i);
        LOOP(x);
    }
}

#undef LOOP

/* Row-major walk over `shape`, reading x through element strides xs (0 for
 * broadcast dims) and writing r contiguously. */
static void strided_copy(size_t esize, int rank, const int64_t *shape, const int64_t *xs,
                         const void *xv, void *rv)
{
    const unsigned char *x = xv;
    unsigned char *r = rv;
    if (rank == 0) {
        memcpy(r, x, esize);
        return;
    }
    int64_t idx[IR_MAX_RANK] = {0};
    int64_t inner = shape[rank - 1], is = xs[rank - 1];
    int64_t outer = 1;
    for (int d = 0; d < rank - 1; d++) outer *= shape[d];
    for (int64_t o = 0; o < outer; o++) {
        int64_t base = 0;
        for (int d = 0; d < rank - 1; d++) base += idx[d] * xs[d];
        const unsigned char *src = x + (size_t)base * esize;
        if (is == 1) {
            memcpy(r, src, (size_t)inner * esize);
        } else if (esize == 4) {
            float *dst = (float *)(void *)r;
            const float *s = (const float *)(const void *)src;
            for (int64_t i = 0; i < inner; i++) dst[i] = s[i * is];
        } else {
            int64_t *dst = (int64_t *)(void *)r;
            const int64_t *s = (const int64_t *)(const void *)src;
            for (int64_t i = 0; i < inner; i++) dst[i] = s[i * is];
        }
        r += (size_t)inner * esize;
        for (int d = rank - 2; d >= 0; d--) {
            if (++idx[d] < shape[d]) break;
            idx[d] = 0;
        }
    }
}

static void row_major_strides(int rank, const int64_t *shape, int64_t *st)
{
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        st[d] = s;
        s *= shape[d];
    }
}

void iop_broadcast(size_t esize, int xrank, const int64_t *xshape, const void *x, int rrank,
                   const int64_t *rshape, void *r)
{
    int64_t xst[IR_MAX_RANK], st[IR_MAX_RANK];
    row_major_strides(xrank, xshape, xst);
    for (int d = 0; d < rrank; d++) {
        int xd = d - (rrank - xrank);
        st[d] = xd < 0 || xshape[xd] == 1 ? 0 : xst[xd];
    }
    strided_copy(esize, rrank, rshape, st, x, r);
}

void iop_transpose(size_t esize, int rank, const int64_t *xshape, const int *perm, const void *x,
                   void *r)
{
    int64_t xst[IR_MAX_RANK], st[IR_MAX_RANK], rshape[IR_MAX_RANK];
    row_major_strides(rank, xshape, xst);
    for (int d = 0; d < rank; d++) {
        st[d] = xst[perm[d]];
        rshape[d] = xshape[perm[d]];
    }
    strided_copy(esize, rank, rshape, st, x, r);
}

void iop_slice(size_t esize, int rank, const int64_t *xshape, int axis, int64_t start,
               int64_t step, const void *x, const int64_t *rshape, void *r)
{
    int64_t st[IR_MAX_RANK];
    row_major_strides(rank, xshape, st);
    const unsigned char *from = (const unsigned char *)x + (size_t)(start * st[axis]) * esize;
    st[axis] *= step;
    strided_copy(esize, rank, rshape, st, from, r);
}

void iop_concat(size_t esize, int rank, const int64_t *ashape, const int64_t *bshape, int axis,
                const void *av, const void *bv, void *rv)
{
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= ashape[d];
    for (int d = axis + 1; d < rank; d++) inner *= ashape[d];
    size_t an = (size_t)(ashape[axis] * inner) * esize, bn = (size_t)(bshape[axis] * inner) * esize;
    const unsigned char *a = av, *b = bv;
    unsigned char *r = rv;
    for (int64_t o = 0; o < outer; o++) {
        memcpy(r, a + (size_t)o * an, an);
        r += an;
        memcpy(r, b + (size_t)o * bn, bn);
        r += bn;
    }
}

/* Splits shape around axis: outer * len * inner. */
static void split_axis(int rank, const int64_t *shape, int axis, int64_t *outer, int64_t *len,
                       int64_t *inner)
{
    *outer = *inner = 1;
    for (int d = 0; d < axis; d++) *outer *= shape[d];
    for (int d = axis + 1; d < rank; d++) *inner *= shape[d];
    *len = shape[axis];
}

tile_status iop_reduce(ir_opcode op, ir_dtype t, int rank, const int64_t *shape, int axis,
                       const void *xv, void *rv)
{
    if (axis < 0 || axis >= rank) return TILE_ERR_INTERNAL;
    int64_t outer, len, inner;
    split_axis(rank, shape, axis, &outer, &len, &inner);
    if (ir_dtype_is_float(t)) {
        const float *x = xv;
        float *r = rv;
        for (int64_t o = 0; o < outer; o++) {
            float *ro = r + o * inner;
            const float *xo = x + o * len * inner;
            memcpy(ro, xo, (size_t)inner * sizeof *ro);
            for (int64_t l = 1; l < len; l++) {
                const float *xl = xo + l * inner;
                switch (op) {
                case IR_OP_REDUCE_SUM:
                    for (int64_t i = 0; i < inner; i++) ro[i] = ro[i] + xl[i];
                    break;
                case IR_OP_REDUCE_MAX:
                    for (int64_t i = 0; i < inner; i++) ro[i] = ev_fmax(ro[i], xl[i]);
                    break;
                case IR_OP_REDUCE_MIN:
                    for (int64_t i = 0; i < inner; i++) ro[i] = ev_fmin(ro[i], xl[i]);
                    break;
                default:
                    return TILE_ERR_INTERNAL;
                }
            }
        }
        if (op == IR_OP_REDUCE_SUM) round_buffer(t, outer * inner, r);
        return TILE_OK;
    }
    const int64_t *x = xv;
    int64_t *r = rv;
    for (int64_t o = 0; o < outer; o++) {
        int64_t *ro = r + o * inner;
        const int64_t *xo = x + o * len * inner;
        memcpy(ro, xo, (size_t)inner * sizeof *ro);
        for (int64_t l = 1; l < len; l++) {
            const int64_t *xl = xo + l * inner;
            switch (op) {
            case IR_OP_REDUCE_SUM:
                for (int64_t i = 0; i < inner; i++)
                    ro[i] = ev_wrap(t, (uint64_t)ro[i] + (uint64_t)xl[i]);
                break;
            case IR_OP_REDUCE_MAX:
                for (int64_t i = 0; i < inner; i++) ro[i] = ro[i] > xl[i] ? ro[i] : xl[i];
                break;
            case IR_OP_REDUCE_MIN:
                for (int64_t i = 0; i < inner; i++) ro[i] = ro[i] < xl[i] ? ro[i] : xl[i];
                break;
            default:
                return TILE_ERR_INTERNAL;
            }
        }
    }
    return TILE_OK;
}

tile_status iop_argext(ir_opcode op, ir_dtype t, int rank, const int64_t *shape, int axis,
                       const void *xv, int64_t *r)
{
    if (axis < 0 || axis >= rank || t == IR_BOOL) return TILE_ERR_INTERNAL;
    int is_max = op == IR_OP_ARGMAX;
    int64_t outer, len, inner;
    split_axis(rank, shape, axis, &outer, &len, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * len * inner + i, best = 0;
            if (ir_dtype_is_float(t)) {
                const float *x = (const float *)xv + base;
                for (int64_t l = 1; l < len; l++)
                    if (ev_float_better(is_max, x[l * inner], x[best * inner])) best = l;
            } else {
                const int64_t *x = (const int64_t *)xv + base;
                for (int64_t l = 1; l < len; l++)
                    if (is_max ? x[l * inner] > x[best * inner] : x[l * inner] < x[best * inner])
                        best = l;
            }
            r[o * inner + i] = best;
        }
    return TILE_OK;
}

tile_status iop_cumsum(ir_dtype t, int rank, const int64_t *shape, int axis, const void *xv,
                       void *rv)
{
    if (axis < 0 || axis >= rank) return TILE_ERR_INTERNAL;
    int64_t outer, len, inner;
    split_axis(rank, shape, axis, &outer, &len, &inner);
    if (ir_dtype_is_float(t)) {
        /* The running sum stays in f32; each output is rounded to t. */
        const float *x = xv;
        float *r = rv;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t base = o * len * inner + i;
                float run = x[base];
                r[base] = ev_round(t, run);
                for (int64_t l = 1; l < len; l++) {
                    run = run + x[base + l * inner];
                    r[base + l * inner] = ev_round(t, run);
                }
            }
        return TILE_OK;
    }
    const int64_t *x = xv;
    int64_t *r = rv;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * len * inner + i;
            uint64_t run = (uint64_t)x[base];
            r[base] = ev_wrap(t, run);
            for (int64_t l = 1; l < len; l++) {
                run += (uint64_t)x[base + l * inner];
                r[base + l * inner] = ev_wrap(t, run);
            }
        }
    return TILE_OK;
}

/* DOT inner loops, in m, k, n order: every c[m][n] still sums its products
 * k ascending, one rounding per product and per sum (separate statements:
 * never contracted into an fma), and the n loop is a contiguous update.
 * Eight k steps per pass over the row keep the partial sums in registers
 * (the same additions in the same order).  The n loop uses GNU vector
 * types, whose lane-wise IEEE ops are exactly the scalar ones: -O2 would
 * not vectorise it, and the interpreter runs attention under ASan. */
#if defined(__GNUC__) || defined(__clang__)
/* In-bounds float arithmetic only: UBSan's per-access pointer checks would
 * double its cost in sanitizer builds (ASan still checks every access). */
#define HOT_LOOP __attribute__((no_sanitize("undefined")))
#define DOT_VEC 4
typedef float vec4 __attribute__((vector_size(16)));
HOT_LOOP static inline vec4 vload(const float *p)
{
    vec4 v;
    memcpy(&v, p, sizeof v);
    return v;
}
HOT_LOOP static inline void vstore(float *p, vec4 v) { memcpy(p, &v, sizeof v); }
#endif

#ifndef HOT_LOOP
#define HOT_LOOP
#endif

HOT_LOOP static void dot_row8(float *restrict crow, const float *restrict a8, const float *restrict b,
                     int64_t N)
{
    const float *b0 = b, *b1 = b + N, *b2 = b + 2 * N, *b3 = b + 3 * N;
    const float *b4 = b + 4 * N, *b5 = b + 5 * N, *b6 = b + 6 * N, *b7 = b + 7 * N;
    int64_t n = 0;
#ifdef DOT_VEC
    for (; n + DOT_VEC <= N; n += DOT_VEC) {
        vec4 s = vload(crow + n), p;
        p = a8[0] * vload(b0 + n);
        s = s + p;
        p = a8[1] * vload(b1 + n);
        s = s + p;
        p = a8[2] * vload(b2 + n);
        s = s + p;
        p = a8[3] * vload(b3 + n);
        s = s + p;
        p = a8[4] * vload(b4 + n);
        s = s + p;
        p = a8[5] * vload(b5 + n);
        s = s + p;
        p = a8[6] * vload(b6 + n);
        s = s + p;
        p = a8[7] * vload(b7 + n);
        s = s + p;
        vstore(crow + n, s);
    }
#endif
    for (; n < N; n++) {
        float s = crow[n], p;
        p = a8[0] * b0[n];
        s = s + p;
        p = a8[1] * b1[n];
        s = s + p;
        p = a8[2] * b2[n];
        s = s + p;
        p = a8[3] * b3[n];
        s = s + p;
        p = a8[4] * b4[n];
        s = s + p;
        p = a8[5] * b5[n];
        s = s + p;
        p = a8[6] * b6[n];
        s = s + p;
        p = a8[7] * b7[n];
        s = s + p;
        crow[n] = s;
    }
}

HOT_LOOP static void dot_row1(float *restrict crow, float a, const float *restrict b, int64_t N)
{
    for (int64_t n = 0; n < N; n++) {
        float p = a * b[n];
        crow[n] = crow[n] + p;
    }
}

tile_status iop_dot(ir_dtype in, ir_dtype out, int64_t M, int64_t N, int64_t K, const void *av,
                    const void *bv, const void *accv, void *cv)
{
    if (ir_dtype_is_float(in)) {
        if (!ir_dtype_is_float(out)) return TILE_ERR_INTERNAL;
        const float *a = av, *b = bv, *acc = accv;
        float *c = cv;
        for (int64_t m = 0; m < M; m++) {
            float *crow = c + m * N;
            if (acc) memcpy(crow, acc + m * N, (size_t)N * sizeof *crow);
            else
                for (int64_t n = 0; n < N; n++) crow[n] = 0.0f;
            const float *arow = a + m * K;
            int64_t k = 0;
            for (; k + 8 <= K; k += 8) dot_row8(crow, arow + k, b + k * N, N);
            for (; k < K; k++) dot_row1(crow, arow[k], b + k * N, N);
        }
        round_buffer(out, M * N, c);
        return TILE_OK;
    }
    if (ir_dtype_is_float(out) || in == IR_BOOL) return TILE_ERR_INTERNAL;
    const int64_t *a = av, *b = bv, *acc = accv;
    int64_t *c = cv;
    uint64_t *row = (uint64_t *)(void *)c; /* accumulate mod 2^64, wrap at the end */
    for (int64_t m = 0; m < M; m++) {
        uint64_t *crow = row + m * N;
        for (int64_t n = 0; n < N; n++) crow[n] = acc ? (uint64_t)acc[m * N + n] : 0;
        for (int64_t k = 0; k < K; k++) {
            uint64_t av_k = (uint64_t)a[m * K + k];
            const int64_t *brow = b + k * N;
            for (int64_t n = 0; n < N; n++) crow[n] += av_k * (uint64_t)brow[n];
        }
    }
    for (int64_t i = 0; i < M * N; i++) c[i] = ev_wrap(out, row[i]);
    return TILE_OK;
}
