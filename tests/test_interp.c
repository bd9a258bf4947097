/* test_interp.c - the interpreter on IR built by hand with the builder.
 *
 * Every expected value is computed here with plain C loops (or written out
 * by hand), never copied from interpreter output.  Each kernel is run
 * through the verifier first, so these are also "verified IR" cases.  The
 * last tests compile small programs from source (tc_compile) where what is
 * checked is the language feature's run-time meaning: tuple assignment,
 * assert, fn values that capture a specialisation's parameters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/pipeline.h"
#include "ir/eval.h"
#include "support/fp16.h"
#include "ir/interp.h"
#include "ir/interp_impl.h"

/* ---- fixture ----------------------------------------------------------- */

typedef struct fx {
    arena mem;
    diag_ctx d;
    ir_module *m;
    ir_func *k;
    ir_builder b;
    int next_col;
} fx;

static src_loc LOC(int line, int col)
{
    src_loc l = {"t.tile", line, col};
    return l;
}

static fx *fx_new(const char *name)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    arena_init(&f->mem);
    diag_init(&f->d, &f->mem);
    f->m = ir_module_new(&f->mem, &f->d);
    f->k = ir_func_new(f->m, name, IR_FUNC_KERNEL, LOC(1, 1));
    assert_non_null(f->k);
    ir_builder_at_end(&f->b, f->k->body);
    f->b.loc = LOC(2, 1);
    f->next_col = 10;
    return f;
}

static void fx_free(fx *f)
{
    arena_free(&f->mem);
    free(f);
}

/* dims: "M,4,D=8": a name, a literal size, or a const name with its value. */
static ir_value *tensor_param(fx *f, const char *name, ir_dtype t, const char *dims, bool out)
{
    ir_param p;
    memset(&p, 0, sizeof p);
    p.name = name;
    p.is_out = out;
    p.loc = LOC(1, f->next_col++);
    char *spec = arena_strdup(&f->mem, dims);
    int rank = 0;
    for (char *tok = strtok(spec, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        if (eq) {
            *eq = 0;
            p.dims[rank].name = tok;
            p.dims[rank].size = atoll(eq + 1);
        } else if (tok[0] >= '0' && tok[0] <= '9') {
            p.dims[rank].size = atoll(tok);
        } else {
            p.dims[rank].name = tok;
            p.dims[rank].size = -1;
        }
        rank++;
    }
    p.type = ir_type_tensor(t, rank);
    ir_value *v = ir_func_add_param(f->k, &p);
    assert_non_null(v);
    return v;
}

static ir_value *scalar_param(fx *f, const char *name, ir_dtype t)
{
    ir_param p;
    memset(&p, 0, sizeof p);
    p.name = name;
    p.loc = LOC(1, f->next_col++);
    p.type = ir_type_scalar(t);
    ir_value *v = ir_func_add_param(f->k, &p);
    assert_non_null(v);
    return v;
}

static void grid3(fx *f, int64_t gx, int64_t gy, int64_t gz)
{
    ir_builder g = {0};
    ir_builder_at_end(&g, f->k->grid);
    ir_value *ys[3] = {ir_const_int(&g, IR_I32, gx, 0, NULL), ir_const_int(&g, IR_I32, gy, 0, NULL),
                       ir_const_int(&g, IR_I32, gz, 0, NULL)};
    assert_non_null(ir_build(&g, IR_OP_YIELD, 3, ys, 0, NULL, 0));
}

static void finish(fx *f)
{
    assert_non_null(ir_build(&f->b, IR_OP_RETURN, 0, NULL, 0, NULL, 0));
    tile_status s = ir_verify_module(f->m, "test");
    if (s != TILE_OK) diag_print_all(&f->d, stderr);
    assert_int_equal(s, TILE_OK);
}

static tile_status launch(fx *f, interp_arg *args, int nargs, FILE *out)
{
    interp_options o = {.print_out = out};
    tile_status s = interp_launch(f->k, args, nargs, &f->d, &o);
    return s;
}

static tile_status launch_ok(fx *f, interp_arg *args, int nargs)
{
    tile_status s = launch(f, args, nargs, NULL);
    if (s != TILE_OK) diag_print_all(&f->d, stderr);
    return s;
}

static interp_arg targ(ir_dtype t, void *data, int rank, const int64_t *shape)
{
    interp_arg a;
    memset(&a, 0, sizeof a);
    a.tensor.dtype = t;
    a.tensor.rank = rank;
    for (int i = 0; i < rank; i++) a.tensor.shape[i] = shape[i];
    a.tensor.data = data;
    interp_contiguous_strides(&a.tensor);
    return a;
}

static interp_arg sarg_i(int64_t v)
{
    interp_arg a;
    memset(&a, 0, sizeof a);
    a.scalar.i = v;
    return a;
}

/* ---- builders ---------------------------------------------------------- */

static ir_value *ci(fx *f, int64_t v) { return ir_const_int(&f->b, IR_I32, v, 0, NULL); }

static ir_value *ci_t(fx *f, int64_t v, int rank, const int64_t *shape)
{
    return ir_const_int(&f->b, IR_I32, v, rank, shape);
}

static ir_value *arange(fx *f, int64_t n)
{
    ir_type t = ir_type_tile(IR_I32, 1, &n);
    ir_op *op = ir_build(&f->b, IR_OP_ARANGE, 0, NULL, 1, &t, 0);
    assert_non_null(op);
    return op->results[0];
}

static ir_value *bin(fx *f, ir_opcode code, ir_value *a, ir_value *b)
{
    ir_value *r = ir_binary(&f->b, code, a, b);
    assert_non_null(r);
    return r;
}

static ir_value *load(fx *f, ir_value *t, ir_value *const *idx, ir_value *mask, ir_value *other)
{
    ir_value *ops[IR_MAX_RANK + 3];
    int n = 0, rank = t->type.rank;
    ops[n++] = t;
    ir_type rt = ir_type_scalar(t->type.dtype);
    for (int d = 0; d < rank; d++) {
        ops[n++] = idx[d];
        for (int i = 0; i < idx[d]->type.rank; i++) rt.shape[rt.rank++] = idx[d]->type.shape[i];
    }
    int64_t flags = 0;
    if (mask) {
        ops[n++] = mask;
        flags |= IR_LOAD_HAS_MASK;
    }
    if (other) {
        ops[n++] = other;
        flags |= IR_LOAD_HAS_OTHER;
    }
    ir_op *op = ir_build(&f->b, IR_OP_LOAD, n, ops, 1, &rt, 0);
    assert_non_null(op);
    op->attr.i = flags;
    return op->results[0];
}

static ir_op *store_op(fx *f, ir_opcode code, ir_value *t, ir_value *const *idx, ir_value *val,
                       ir_value *mask)
{
    ir_value *ops[IR_MAX_RANK + 3];
    int n = 0;
    ops[n++] = t;
    for (int d = 0; d < t->type.rank; d++) ops[n++] = idx[d];
    ops[n++] = val;
    if (mask) ops[n++] = mask;
    ir_op *op = ir_build(&f->b, code, n, ops, 0, NULL, 0);
    assert_non_null(op);
    op->attr.i = mask ? IR_LOAD_HAS_MASK : 0;
    return op;
}

static void store(fx *f, ir_value *t, ir_value *const *idx, ir_value *val, ir_value *mask)
{
    store_op(f, IR_OP_STORE, t, idx, val, mask);
}

static ir_value *op1(fx *f, ir_opcode code, ir_value *x, ir_type rt, int64_t axis)
{
    ir_op *op = ir_build(&f->b, code, 1, &x, 1, &rt, 0);
    assert_non_null(op);
    op->attr.i = axis;
    return op->results[0];
}

static ir_value *bcast(fx *f, ir_value *x, int rank, const int64_t *shape)
{
    ir_value *r = ir_broadcast(&f->b, x, rank, shape);
    assert_non_null(r);
    return r;
}

static ir_value *reshape(fx *f, ir_value *x, int rank, const int64_t *shape)
{
    ir_value *r = ir_reshape(&f->b, x, rank, shape);
    assert_non_null(r);
    return r;
}

/* Independent f32 -> bf16 nearest-even model (finite values). */
static uint16_t ref_bf16_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t low = u & 0xffffu, high = u >> 16;
    if (low > 0x8000u || (low == 0x8000u && (high & 1u))) high++;
    return (uint16_t)high;
}

static float bf16_val(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}
static float rndf(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() % 100000) / 100000.0f; }

static bool same_float(float a, float b)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return memcmp(&a, &b, sizeof a) == 0;
}

static const char *first_msg(fx *f) { return f->d.first ? f->d.first->msg : ""; }

/* ---- tests ------------------------------------------------------------- */

static void test_const_arange_broadcast(void **state)
{
    (void)state;
    fx *f = fx_new("k");
    ir_value *out = tensor_param(f, "out", IR_I32, "4,3", true);
    ir_value *out3 = tensor_param(f, "out3", IR_I32, "2,3,2", true);
    grid3(f, 1, 1, 1);
    int64_t s43[2] = {4, 3}, s41[2] = {4, 1}, s31[2] = {3, 1}, s232[3] = {2, 3, 2};
    ir_value *rows = arange(f, 4), *cols = arange(f, 3);
    ir_value *r = bcast(f, reshape(f, rows, 2, s41), 2, s43);
    ir_value *v = bin(f, IR_OP_ADD, bin(f, IR_OP_MUL, r, ci_t(f, 10, 2, s43)), bcast(f, cols, 2, s43));
    v = bin(f, IR_OP_ADD, v, bcast(f, ci(f, 1000), 2, s43)); /* scalar broadcast */
    store(f, out, (ir_value *[]){rows, cols}, v, NULL);
    ir_value *g = bcast(f, reshape(f, cols, 2, s31), 3, s232); /* rank grows */
    store(f, out3, (ir_value *[]){arange(f, 2), arange(f, 3), arange(f, 2)}, g, NULL);
    finish(f);

    int32_t o[12], o3[12];
    memset(o, 0, sizeof o);
    memset(o3, 0, sizeof o3);
    interp_arg args[2] = {targ(IR_I32, o, 2, (int64_t[]){4, 3}), targ(IR_I32, o3, 3, s232)};
    assert_int_equal(launch_ok(f, args, 2), TILE_OK);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) assert_int_equal(o[i * 3 + j], 1000 + 10 * i + j);
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 2; c++) assert_int_equal(o3[(a * 3 + b) * 2 + c], b);
    fx_free(f);
}

static void test_masked_strided_load_store(void **state)
{
    (void)state;
    fx *f = fx_new("k");
    ir_value *x = tensor_param(f, "x", IR_F32, "R,C", false);
    ir_value *y = tensor_param(f, "y", IR_F32, "8,4", true);
    ir_value *z = tensor_param(f, "z", IR_F32, "R,C", true);
    ir_value *w = tensor_param(f, "w", IR_F32, "5", true);
    grid3(f, 1, 1, 1);
    int64_t s8[1] = {8}, s84[2] = {8, 4}, s14[2] = {1, 4}, s81[2] = {8, 1};
    ir_value *i8 = arange(f, 8), *cols = arange(f, 4);
    ir_value *rows = bin(f, IR_OP_SUB, i8, ci_t(f, 2, 1, s8));
    ir_value *cb = bcast(f, reshape(f, cols, 2, s14), 2, s84);
    ir_value *rb = bcast(f, reshape(f, i8, 2, s81), 2, s84);
    ir_value *mask = bin(f, IR_OP_CMP_NE, cb, ci_t(f, 1, 2, s84));
    ir_value *other = ir_const_float(&f->b, IR_F32, -1.0, 2, s84);
    ir_value *t = load(f, x, (ir_value *[]){rows, cols}, mask, other);
    store(f, y, (ir_value *[]){i8, cols}, t, NULL);
    /* masked store through a padded layout: only (i + j) even, in range */
    ir_value *par = bin(f, IR_OP_REM, bin(f, IR_OP_ADD, rb, cb), ci_t(f, 2, 2, s84));
    ir_value *even = bin(f, IR_OP_CMP_EQ, par, ci_t(f, 0, 2, s84));
    ir_value *val = bin(f, IR_OP_ADD, t, ir_const_float(&f->b, IR_F32, 1.0, 2, s84));
    store(f, z, (ir_value *[]){rows, cols}, val, even);
    /* scalar index: a row of x; and an i64 index far out of range */
    ir_value *row2 = load(f, x, (ir_value *[]){ci(f, 2), cols}, NULL, NULL);
    store(f, w, (ir_value *[]){cols}, row2, NULL);
    ir_value *far = ir_const_int(&f->b, IR_I64, ((int64_t)1 << 32) + 1, 0, NULL);
    ir_value *fv = load(f, x, (ir_value *[]){far, ci(f, 0)}, NULL, NULL);
    store(f, w, (ir_value *[]){ci(f, 4)}, fv, NULL);
    finish(f);

    float xbuf[15], ybuf[32], zbuf[20], wbuf[5];
    for (int i = 0; i < 15; i++) xbuf[i] = 100.0f + (float)i;
    for (int i = 0; i < 32; i++) ybuf[i] = 555.0f;
    for (int i = 0; i < 20; i++) zbuf[i] = 999.0f;
    for (int i = 0; i < 5; i++) wbuf[i] = 777.0f;
    interp_arg args[4];
    args[0] = targ(IR_F32, xbuf, 2, (int64_t[]){5, 3});
    args[0].tensor.strides[0] = 1; /* column-major */
    args[0].tensor.strides[1] = 5;
    args[1] = targ(IR_F32, ybuf, 2, s84);
    args[2] = targ(IR_F32, zbuf, 2, (int64_t[]){5, 3});
    args[2].tensor.strides[0] = 4; /* padded rows */
    args[2].tensor.strides[1] = 1;
    args[3] = targ(IR_F32, wbuf, 1, (int64_t[]){5});
    assert_int_equal(launch_ok(f, args, 4), TILE_OK);

    float expect_t[8][4];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++) {
            int r = i - 2, c = j;
            bool in = r >= 0 && r < 5 && c < 3 && j != 1;
            expect_t[i][j] = in ? xbuf[r + 5 * c] : -1.0f;
            assert_true(ybuf[i * 4 + j] == expect_t[i][j]);
        }
    float expect_z[20];
    for (int i = 0; i < 20; i++) expect_z[i] = 999.0f;
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++) {
            int r = i - 2, c = j;
            if (r >= 0 && r < 5 && c < 3 && (i + j) % 2 == 0)
                expect_z[r * 4 + c] = expect_t[i][j] + 1.0f;
        }
    for (int i = 0; i < 20; i++) assert_true(zbuf[i] == expect_z[i]);
    for (int c = 0; c < 4; c++) assert_true(wbuf[c] == (c < 3 ? xbuf[2 + 5 * c] : 0.0f));
    assert_true(wbuf[4] == 0.0f);
    fx_free(f);
}

static void test_store_duplicates_and_atomic_add(void **state)
{
    (void)state;
    fx *f = fx_new("k");
    ir_value *o = tensor_param(f, "o", IR_F32, "3", true);
    ir_value *a = tensor_param(f, "a", IR_F32, "3", true);
    ir_value *ai = tensor_param(f, "ai", IR_I32, "3", true);
    grid3(f, 2, 1, 1);
    int64_t s5[1] = {5};
    /* idx = [1, 1, 2, 1, 0] from arange: (i * i) % 3 -> [0,1,1,0,1]; use a table */
    ir_value *i5 = arange(f, 5);
    ir_value *idx = bin(f, IR_OP_REM, bin(f, IR_OP_MUL, i5, i5), ci_t(f, 3, 1, s5));
    ir_value *vals = ir_cast(&f->b, bin(f, IR_OP_ADD, i5, ci_t(f, 10, 1, s5)), IR_F32);
    store(f, o, (ir_value *[]){idx}, vals, NULL);
    store_op(f, IR_OP_ATOMIC_ADD, a, (ir_value *[]){idx}, vals, NULL);
    store_op(f, IR_OP_ATOMIC_ADD, ai, (ir_value *[]){idx}, i5, NULL);
    finish(f);

    float ob[3] = {-1, -1, -1}, ab[3] = {0.5f, 0, 0};
    int32_t aib[3] = {INT32_MAX, 0, 0};
    interp_arg args[3] = {targ(IR_F32, ob, 1, (int64_t[]){3}), targ(IR_F32, ab, 1, (int64_t[]){3}),
                          targ(IR_I32, aib, 1, (int64_t[]){3})};
    assert_int_equal(launch_ok(f, args, 3), TILE_OK);
    /* naive model: idx[i] = i*i % 3, value 10 + i, two programs */
    float eo[3] = {-1, -1, -1}, ea[3] = {0.5f, 0, 0};
    uint32_t eai[3] = {INT32_MAX, 0, 0};
    for (int p = 0; p < 2; p++)
        for (int i = 0; i < 5; i++) {
            int j = i * i % 3;
            eo[j] = (float)(10 + i);
            ea[j] = ea[j] + (float)(10 + i);
            eai[j] += (uint32_t)i;
        }
    for (int j = 0; j < 3; j++) {
        assert_true(ob[j] == eo[j]);
        assert_true(ab[j] == ea[j]);
        assert_int_equal(aib[j], (int32_t)eai[j]);
    }
    assert_int_equal(aib[0], INT32_MIN + 5); /* INT32_MAX + 2 * (0 + 3) wraps */
    fx_free(f);
}

static void test_bf16_every_op(void **state)
{
    (void)state;
    enum { N = 64, NOUT = 8 };
    fx *f = fx_new("k");
    ir_value *x = tensor_param(f, "x", IR_BF16, "N", false);
    ir_value *y = tensor_param(f, "y", IR_BF16, "N", false);
    ir_value *src = tensor_param(f, "src", IR_F32, "N", false);
    ir_value *o = tensor_param(f, "o", IR_BF16, "8,64", true);
    ir_value *h = tensor_param(f, "h", IR_F16, "64", true);
    ir_value *back = tensor_param(f, "back", IR_F32, "64", true);
    grid3(f, 1, 1, 1);
    ir_value *i = arange(f, N);
    ir_value *a = load(f, x, (ir_value *[]){i}, NULL, NULL);
    ir_value *b = load(f, y, (ir_value *[]){i}, NULL, NULL);
    ir_value *s = load(f, src, (ir_value *[]){i}, NULL, NULL);
    ir_value *res[NOUT] = {
        bin(f, IR_OP_ADD, a, b),
        bin(f, IR_OP_MUL, a, b),
        bin(f, IR_OP_DIV, a, b),
        bin(f, IR_OP_SUB, a, b),
        ir_unary(&f->b, IR_OP_EXP, a),
        ir_unary(&f->b, IR_OP_SQRT, ir_unary(&f->b, IR_OP_ABS, a)),
        ir_cast(&f->b, s, IR_BF16),
        bin(f, IR_OP_MAX, a, b),
    };
    for (int r = 0; r < NOUT; r++) store(f, o, (ir_value *[]){ci(f, r), i}, res[r], NULL);
    store(f, h, (ir_value *[]){i}, ir_cast(&f->b, s, IR_F16), NULL);
    store(f, back, (ir_value *[]){i}, ir_cast(&f->b, a, IR_F32), NULL);
    finish(f);

    uint16_t xb[N], yb[N], ob[NOUT * N], hb[N];
    float sb[N], bk[N];
    for (int k = 0; k < N; k++) {
        xb[k] = ref_bf16_bits(rndf(-3, 3));
        yb[k] = ref_bf16_bits(rndf(0.25f, 4));
        sb[k] = rndf(-100, 100);
    }
    xb[0] = ref_bf16_bits(1.0f); /* 1 + 2^-8 ties to 1 */
    yb[0] = ref_bf16_bits(1.0f / 256);
    sb[0] = 1.0f + 3.0f / 256; /* ties up to 1 + 2^-6 */
    interp_arg args[6] = {targ(IR_BF16, xb, 1, (int64_t[]){N}), targ(IR_BF16, yb, 1, (int64_t[]){N}),
                          targ(IR_F32, sb, 1, (int64_t[]){N}), targ(IR_BF16, ob, 2, (int64_t[]){NOUT, N}),
                          targ(IR_F16, hb, 1, (int64_t[]){N}), targ(IR_F32, bk, 1, (int64_t[]){N})};
    assert_int_equal(launch_ok(f, args, 6), TILE_OK);
    for (int k = 0; k < N; k++) {
        float av = bf16_val(xb[k]), bv = bf16_val(yb[k]);
        float e[NOUT] = {av + bv, av * bv, av / bv, av - bv, expf(av), sqrtf(fabsf(av)), sb[k],
                         av > bv ? av : bv};
        for (int r = 0; r < NOUT; r++) assert_int_equal(ob[r * N + k], ref_bf16_bits(e[r]));
        assert_true(bk[k] == av);
        /* f16 store: compare with a value-level check (exactness in fp16 is tested in eval) */
        assert_true(fabsf(fp_f16_to_f32(hb[k]) - sb[k]) <= fabsf(sb[k]) * (1.0f / 2048));
    }
    assert_int_equal(ob[0], ref_bf16_bits(1.0f));
    assert_true(bf16_val(ob[6 * N]) == 1.0f + 1.0f / 64);
    fx_free(f);
}

static void test_for_carried(void **state)
{
    (void)state;
    fx *f = fx_new("k");
    ir_value *n = scalar_param(f, "n", IR_I32);
    ir_value *out = tensor_param(f, "out", IR_I32, "4", true);
    ir_value *outf = tensor_param(f, "outf", IR_F32, "4", true);
    grid3(f, 1, 1, 1);
    int64_t s4[1] = {4};
    ir_value *init[5] = {ci(f, 0), ci(f, 0), ci(f, 1), ci(f, 2),
                         ir_const_float(&f->b, IR_F32, 1.0, 1, s4)};
    ir_value *ops[8] = {ci(f, 3), n, ci(f, 2), init[0], init[1], init[2], init[3], init[4]};
    ir_type rts[5];
    for (int i = 0; i < 5; i++) rts[i] = init[i]->type;
    ir_op *loop = ir_build(&f->b, IR_OP_FOR, 8, ops, 5, rts, 1);
    assert_non_null(loop);
    ir_type bt[6] = {ir_type_scalar(IR_I32), rts[0], rts[1], rts[2], rts[3], rts[4]};
    ir_block *body = ir_block_new(f->k, 6, bt);
    body->parent = loop;
    loop->blocks[0] = body;
    ir_builder saved = f->b;
    ir_builder_at_end(&f->b, body);
    ir_value *iv = body->args[0];
    ir_value *acc = bin(f, IR_OP_ADD, body->args[1], iv);
    ir_value *cnt = bin(f, IR_OP_ADD, body->args[2], ci(f, 1));
    ir_value *ivf = bcast(f, ir_cast(&f->b, iv, IR_F32), 1, s4);
    ir_value *vec = bin(f, IR_OP_ADD, bin(f, IR_OP_MUL, body->args[5],
                                          ir_const_float(&f->b, IR_F32, 0.5, 1, s4)), ivf);
    ir_value *ys[5] = {acc, cnt, body->args[4], body->args[3], vec}; /* swaps a and b */
    assert_non_null(ir_build(&f->b, IR_OP_YIELD, 5, ys, 0, NULL, 0));
    f->b = saved;
    for (int r = 0; r < 4; r++) store(f, out, (ir_value *[]){ci(f, r)}, loop->results[r], NULL);
    store(f, outf, (ir_value *[]){arange(f, 4)}, loop->results[4], NULL);
    finish(f);

    int64_t ns[] = {20, 21, 3, 4, -5};
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
        int32_t o[4] = {-9, -9, -9, -9};
        float of[4] = {0};
        interp_arg args[3] = {sarg_i(ns[t]), targ(IR_I32, o, 1, s4), targ(IR_F32, of, 1, s4)};
        assert_int_equal(launch_ok(f, args, 3), TILE_OK);
        int32_t acc_e = 0, cnt_e = 0, a_e = 1, b_e = 2;
        float v_e = 1.0f;
        for (int32_t i = 3; i < ns[t]; i += 2) {
            acc_e += i;
            cnt_e++;
            int32_t tmp = a_e;
            a_e = b_e;
            b_e = tmp;
            v_e = v_e * 0.5f + (float)i;
        }
        assert_int_equal(o[0], acc_e);
        assert_int_equal(o[1], cnt_e);
        assert_int_equal(o[2], a_e);
        assert_int_equal(o[3], b_e);
        for (int k = 0; k < 4; k++) assert_true(of[k] == v_e);
    }
    assert_int_equal(3 + 5 + 7 + 9 + 11 + 13 + 15 + 17 + 19, 99);
    fx_free(f);
}

/* A long loop: memory must not grow with the trip count. */
static void test_long_loop(void **state)
{
    (void)state;
    fx *f = fx_new("k");
    ir_value *out = tensor_param(f, "out", IR_I64, "16", true);
    grid3(f, 1, 1, 1);
    int64_t s16[1] = {16};
    ir_value *init = ir_const_int(&f->b, IR_I64, 0, 1, s16);
    ir_value *ops[4] = {ci(f, 0), ci(f, 300000), ci(f, 1), init};
    ir_op *loop = ir_build(&f->b, IR_OP_FOR, 4, ops, 1, &init->type, 1);
    ir_type bt[2] = {ir_type_scalar(IR_I32), init->type};
    ir_block *body = ir_block_new(f->k, 2, bt);
    body->parent = loop;
    loop->blocks[0] = body;
    ir_builder saved = f->b;
    ir_builder_at_end(&f->b, body);
    ir_value *step = ir_cast(&f->b, bcast(f, body->args[0], 1, s16), IR_I64);
    ir_value *acc = bin(f, IR_OP_ADD, body->args[1], bin(f, IR_OP_ADD, step,
                                                          ir_cast(&f->b, arange(f, 16), IR_I64)));
    assert_non_null(ir_build(&f->b, IR_OP_YIELD, 1, &acc, 0, NULL, 0));
    f->b = saved;
    store(f, out, (ir_value *[]){arange(f, 16)}, loop->results[0], NULL);
    finish(f);
    int64_t o[16];
    interp_arg args[1] = {targ(IR_I64, o, 1, s16)};
    assert_int_equal(launch_ok(f, args, 1), TILE_OK);
    for (int k = 0; k < 16; k++) {
        int64_t e = 0;
        for (int64_t i = 0; i < 300000; i++) e += i + k;
        assert_int_equal(o[k], e);
    }
    fx_free(f);
}

static void test_while(void **state)
{
    (void)state;
    fx *f = fx_new("k");
    ir_value *limit = scalar_param(f, "limit", IR_I32);
    ir_value *out = tensor_param(f, "out", IR_I32, "2", true);
    grid3(f, 1, 1, 1);
    ir_value *init[2] = {ci(f, 1), ci(f, 0)};
    ir_type ts[2] = {init[0]->type, init[1]->type};
    ir_op *w = ir_build(&f->b, IR_OP_WHILE, 2, init, 2, ts, 2);
    ir_block *cond = ir_block_new(f->k, 2, ts), *body = ir_block_new(f->k, 2, ts);
    cond->parent = body->parent = w;
    w->blocks[0] = cond;
    w->blocks[1] = body;
    ir_builder saved = f->b;
    ir_builder_at_end(&f->b, cond);
    ir_value *c = bin(f, IR_OP_CMP_LT, cond->args[0], limit);
    assert_non_null(ir_build(&f->b, IR_OP_CONDITION, 1, &c, 0, NULL, 0));
    ir_builder_at_end(&f->b, body);
    ir_value *k3 = bin(f, IR_OP_ADD, bin(f, IR_OP_MUL, body->args[0], ci(f, 3)), ci(f, 1));
    ir_value *ys[2] = {k3, bin(f, IR_OP_ADD, body->args[1], ci(f, 1))};
    assert_non_null(ir_build(&f->b, IR_OP_YIELD, 2, ys, 0, NULL, 0));
    f->b = saved;
    store(f, out, (ir_value *[]){ci(f, 0)}, w->results[0], NULL);
    store(f, out, (ir_value *[]){ci(f, 1)}, w->results[1], NULL);
    finish(f);
    int64_t limits[] = {1000, 1, -3, 2};
    for (size_t t = 0; t < 4; t++) {
        int32_t o[2] = {0, 0};
        interp_arg args[2] = {sarg_i(limits[t]), targ(IR_I32, o, 1, (int64_t[]){2})};
        assert_int_equal(launch_ok(f, args, 2), TILE_OK);
        int32_t k = 1, n = 0;
        while (k < limits[t]) {
            k = k * 3 + 1;
            n++;
        }
        assert_int_equal(o[0], k);
        assert_int_equal(o[1], n);
    }
    fx_free(f);
}

static void test_if(void **state)
{
    (void)state;
    fx *f = fx_new("k");
    ir_value *out = tensor_param(f, "out", IR_I32, "3", true);
    grid3(f, 3, 1, 1);
    ir_op *pidop = ir_build(&f->b, IR_OP_PROGRAM_ID, 0, NULL, 1, (ir_type[]){ir_type_scalar(IR_I32)}, 0);
    ir_value *pid = pidop->results[0];
    ir_value *c = bin(f, IR_OP_CMP_EQ, pid, ci(f, 1));
    ir_type it = ir_type_scalar(IR_I32);
    ir_op *iff = ir_build(&f->b, IR_OP_IF, 1, &c, 1, &it, 2);
    ir_block *th = ir_block_new(f->k, 0, NULL), *el = ir_block_new(f->k, 0, NULL);
    th->parent = el->parent = iff;
    iff->blocks[0] = th;
    iff->blocks[1] = el;
    ir_builder saved = f->b;
    ir_builder_at_end(&f->b, th);
    ir_value *ten = ci(f, 10);
    assert_non_null(ir_build(&f->b, IR_OP_YIELD, 1, &ten, 0, NULL, 0));
    ir_builder_at_end(&f->b, el);
    ir_value *h = bin(f, IR_OP_MUL, pid, ci(f, 100));
    assert_non_null(ir_build(&f->b, IR_OP_YIELD, 1, &h, 0, NULL, 0));
    f->b = saved;
    store(f, out, (ir_value *[]){pid}, iff->results[0], NULL);
    finish(f);
    int32_t o[3] = {-1, -1, -1};
    interp_arg args[1] = {targ(IR_I32, o, 1, (int64_t[]){3})};
    assert_int_equal(launch_ok(f, args, 1), TILE_OK);
    assert_int_equal(o[0], 0);
    assert_int_equal(o[1], 10);
    assert_int_equal(o[2], 200);
    fx_free(f);
}

static void test_dot(void **state)
{
    (void)state;
    enum { M = 5, K = 37, N = 6 };
    fx *f = fx_new("k");
    ir_value *a = tensor_param(f, "a", IR_BF16, "5,37", false);
    ir_value *b = tensor_param(f, "b", IR_BF16, "37,6", false);
    ir_value *acc = tensor_param(f, "acc", IR_F32, "5,6", false);
    ir_value *c1 = tensor_param(f, "c1", IR_F32, "5,6", true);
    ir_value *c2 = tensor_param(f, "c2", IR_F32, "5,6", true);
    ir_value *ia = tensor_param(f, "ia", IR_I32, "5,37", false);
    ir_value *ib = tensor_param(f, "ib", IR_I32, "37,6", false);
    ir_value *ic = tensor_param(f, "ic", IR_I32, "5,6", true);
    grid3(f, 1, 1, 1);
    ir_value *m = arange(f, M), *k = arange(f, K), *n = arange(f, N);
    ir_value *av = load(f, a, (ir_value *[]){m, k}, NULL, NULL);
    ir_value *bv = load(f, b, (ir_value *[]){k, n}, NULL, NULL);
    ir_value *accv = load(f, acc, (ir_value *[]){m, n}, NULL, NULL);
    ir_type rt = ir_type_tile(IR_F32, 2, (int64_t[]){M, N});
    ir_op *d1 = ir_build(&f->b, IR_OP_DOT, 3, (ir_value *[]){av, bv, accv}, 1, &rt, 0);
    ir_op *d2 = ir_build(&f->b, IR_OP_DOT, 2, (ir_value *[]){av, bv}, 1, &rt, 0);
    store(f, c1, (ir_value *[]){m, n}, d1->results[0], NULL);
    store(f, c2, (ir_value *[]){m, n}, d2->results[0], NULL);
    ir_type irt = ir_type_tile(IR_I32, 2, (int64_t[]){M, N});
    ir_value *iav = load(f, ia, (ir_value *[]){m, k}, NULL, NULL);
    ir_value *ibv = load(f, ib, (ir_value *[]){k, n}, NULL, NULL);
    ir_op *d3 = ir_build(&f->b, IR_OP_DOT, 2, (ir_value *[]){iav, ibv}, 1, &irt, 0);
    store(f, ic, (ir_value *[]){m, n}, d3->results[0], NULL);
    finish(f);

    uint16_t ab[M * K], bb[K * N];
    float accb[M * N], o1[M * N], o2[M * N];
    int32_t iab[M * K], ibb[K * N], icb[M * N];
    for (int i = 0; i < M * K; i++) {
        ab[i] = ref_bf16_bits(rndf(-2, 2) * ldexpf(1, (int)(rnd() % 20) - 10));
        iab[i] = (int32_t)(rnd() * 2654435761u);
    }
    for (int i = 0; i < K * N; i++) {
        bb[i] = ref_bf16_bits(rndf(-2, 2) * ldexpf(1, (int)(rnd() % 20) - 10));
        ibb[i] = (int32_t)(rnd() * 40503u);
    }
    for (int i = 0; i < M * N; i++) accb[i] = rndf(-1, 1);
    interp_arg args[8] = {
        targ(IR_BF16, ab, 2, (int64_t[]){M, K}), targ(IR_BF16, bb, 2, (int64_t[]){K, N}),
        targ(IR_F32, accb, 2, (int64_t[]){M, N}), targ(IR_F32, o1, 2, (int64_t[]){M, N}),
        targ(IR_F32, o2, 2, (int64_t[]){M, N}),   targ(IR_I32, iab, 2, (int64_t[]){M, K}),
        targ(IR_I32, ibb, 2, (int64_t[]){K, N}),  targ(IR_I32, icb, 2, (int64_t[]){M, N})};
    assert_int_equal(launch_ok(f, args, 8), TILE_OK);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s1 = accb[i * N + j], s2 = 0.0f;
            uint32_t si = 0;
            for (int kk = 0; kk < K; kk++) {
                double exact = (double)bf16_val(ab[i * K + kk]) * (double)bf16_val(bb[kk * N + j]);
                float p = (float)exact; /* bf16 x bf16 is exact in f32 */
                assert_true((double)p == exact);
                s1 = s1 + p;
                s2 = s2 + p;
                si += (uint32_t)iab[i * K + kk] * (uint32_t)ibb[kk * N + j];
            }
            assert_true(same_float(o1[i * N + j], s1));
            assert_true(same_float(o2[i * N + j], s2));
            assert_int_equal(icb[i * N + j], (int32_t)si);
        }
    fx_free(f);
}

static void test_reductions(void **state)
{
    (void)state;
    fx *f = fx_new("k");
    ir_value *x = tensor_param(f, "x", IR_F32, "3,5", false);
    ir_value *osum = tensor_param(f, "osum", IR_F32, "3", true);
    ir_value *omax = tensor_param(f, "omax", IR_F32, "5", true);
    ir_value *omin = tensor_param(f, "omin", IR_F32, "3", true);
    ir_value *oall = tensor_param(f, "oall", IR_F32, "1", true);
    grid3(f, 1, 1, 1);
    ir_value *r3 = arange(f, 3), *r5 = arange(f, 5);
    ir_value *xv = load(f, x, (ir_value *[]){r3, r5}, NULL, NULL);
    ir_type t3 = ir_type_tile(IR_F32, 1, (int64_t[]){3}), t5 = ir_type_tile(IR_F32, 1, (int64_t[]){5});
    store(f, osum, (ir_value *[]){r3}, op1(f, IR_OP_REDUCE_SUM, xv, t3, 1), NULL);
    store(f, omax, (ir_value *[]){r5}, op1(f, IR_OP_REDUCE_MAX, xv, t5, 0), NULL);
    store(f, omin, (ir_value *[]){r3}, op1(f, IR_OP_REDUCE_MIN, xv, t3, 1), NULL);
    ir_value *flat = reshape(f, xv, 1, (int64_t[]){15});
    store(f, oall, (ir_value *[]){ci(f, 0)},
          op1(f, IR_OP_REDUCE_SUM, flat, ir_type_scalar(IR_F32), 0), NULL);
    finish(f);

    float xb[15], os[3], ox[5], on[3], oa[1];
    for (int i = 0; i < 15; i++) xb[i] = rndf(-10, 10) * 1e-3f * (float)(1 + i * i * i);
    xb[1 * 5 + 2] = NAN;
    for (int j = 0; j < 5; j++) xb[2 * 5 + j] = -INFINITY;
    xb[2 * 5 + 3] = 4.0f;
    interp_arg args[5] = {targ(IR_F32, xb, 2, (int64_t[]){3, 5}), targ(IR_F32, os, 1, (int64_t[]){3}),
                          targ(IR_F32, ox, 1, (int64_t[]){5}), targ(IR_F32, on, 1, (int64_t[]){3}),
                          targ(IR_F32, oa, 1, (int64_t[]){1})};
    assert_int_equal(launch_ok(f, args, 5), TILE_OK);
    for (int i = 0; i < 3; i++) {
        float s = xb[i * 5], mn = xb[i * 5];
        bool nan = isnan(mn);
        for (int j = 1; j < 5; j++) {
            s = s + xb[i * 5 + j];
            nan |= isnan(xb[i * 5 + j]);
            if (xb[i * 5 + j] < mn) mn = xb[i * 5 + j];
        }
        assert_true(same_float(os[i], s));
        assert_true(same_float(on[i], nan ? NAN : mn));
    }
    for (int j = 0; j < 5; j++) {
        float mx = -INFINITY;
        bool nan = false;
        for (int i = 0; i < 3; i++) {
            nan |= isnan(xb[i * 5 + j]);
            if (xb[i * 5 + j] > mx) mx = xb[i * 5 + j];
        }
        assert_true(same_float(ox[j], nan ? NAN : mx));
    }
    assert_true(isnan(ox[2]));
    assert_true(isnan(on[1]));
    assert_true(on[2] == -INFINITY);
    float all = xb[0];
    for (int i = 1; i < 15; i++) all = all + xb[i];
    assert_true(same_float(oa[0], all));
    fx_free(f);
}

static void test_bf16_and_int_sums(void **state)
{
    (void)state;
    fx *f = fx_new("k");
    ir_value *hb = tensor_param(f, "hb", IR_BF16, "5", false);
    ir_value *osum = tensor_param(f, "osum", IR_BF16, "1", true);
    ir_value *ocum = tensor_param(f, "ocum", IR_BF16, "5", true);
    ir_value *xi = tensor_param(f, "xi", IR_I32, "2,4", false);
    ir_value *c1 = tensor_param(f, "c1", IR_I32, "2,4", true);
    ir_value *c0 = tensor_param(f, "c0", IR_I32, "2,4", true);
    ir_value *rs = tensor_param(f, "rs", IR_I32, "2", true);
    ir_value *cm = tensor_param(f, "cm", IR_I32, "4", true);
    grid3(f, 1, 1, 1);
    ir_value *r5 = arange(f, 5), *r2 = arange(f, 2), *r4 = arange(f, 4);
    ir_value *h = load(f, hb, (ir_value *[]){r5}, NULL, NULL);
    store(f, osum, (ir_value *[]){ci(f, 0)}, op1(f, IR_OP_REDUCE_SUM, h, ir_type_scalar(IR_BF16), 0),
          NULL);
    store(f, ocum, (ir_value *[]){r5}, op1(f, IR_OP_CUMSUM, h, h->type, 0), NULL);
    ir_value *iv = load(f, xi, (ir_value *[]){r2, r4}, NULL, NULL);
    store(f, c1, (ir_value *[]){r2, r4}, op1(f, IR_OP_CUMSUM, iv, iv->type, 1), NULL);
    store(f, c0, (ir_value *[]){r2, r4}, op1(f, IR_OP_CUMSUM, iv, iv->type, 0), NULL);
    store(f, rs, (ir_value *[]){r2},
          op1(f, IR_OP_REDUCE_SUM, iv, ir_type_tile(IR_I32, 1, (int64_t[]){2}), 1), NULL);
    store(f, cm, (ir_value *[]){r4},
          op1(f, IR_OP_REDUCE_MIN, iv, ir_type_tile(IR_I32, 1, (int64_t[]){4}), 0), NULL);
    finish(f);

    uint16_t hv[5], os[1], oc[5];
    const float hvals[5] = {1.0f, 1.0f / 256, 1.0f / 256, 1.0f / 256, 1.0f / 256};
    for (int i = 0; i < 5; i++) hv[i] = ref_bf16_bits(hvals[i]);
    int32_t xiv[8] = {INT32_MAX, 1, 5, -3, 7, -8, 9, 10}, o1[8], o0[8], ors[2], ocm[4];
    interp_arg args[8] = {targ(IR_BF16, hv, 1, (int64_t[]){5}), targ(IR_BF16, os, 1, (int64_t[]){1}),
                          targ(IR_BF16, oc, 1, (int64_t[]){5}), targ(IR_I32, xiv, 2, (int64_t[]){2, 4}),
                          targ(IR_I32, o1, 2, (int64_t[]){2, 4}), targ(IR_I32, o0, 2, (int64_t[]){2, 4}),
                          targ(IR_I32, ors, 1, (int64_t[]){2}), targ(IR_I32, ocm, 1, (int64_t[]){4})};
    assert_int_equal(launch_ok(f, args, 8), TILE_OK);
    /* f32 running sum, rounded once: 1 + 4 * 2^-8 = 1 + 2^-6 (a bf16 running
     * sum would stay at 1: every step ties to even) */
    float run = hvals[0];
    assert_int_equal(oc[0], ref_bf16_bits(run));
    for (int i = 1; i < 5; i++) {
        run = run + hvals[i];
        assert_int_equal(oc[i], ref_bf16_bits(run));
    }
    assert_int_equal(os[0], ref_bf16_bits(run));
    assert_true(bf16_val(os[0]) == 1.015625f);
    assert_true(bf16_val(oc[1]) == 1.0f);
    for (int i = 0; i < 2; i++) {
        uint32_t r = 0;
        for (int j = 0; j < 4; j++) {
            r += (uint32_t)xiv[i * 4 + j];
            assert_int_equal(o1[i * 4 + j], (int32_t)r);
        }
        assert_int_equal(ors[i], (int32_t)r);
    }
    for (int j = 0; j < 4; j++) {
        assert_int_equal(o0[j], xiv[j]);
        assert_int_equal(o0[4 + j], (int32_t)((uint32_t)xiv[j] + (uint32_t)xiv[4 + j]));
        assert_int_equal(ocm[j], xiv[j] < xiv[4 + j] ? xiv[j] : xiv[4 + j]);
    }
    assert_int_equal(o1[1], INT32_MIN); /* wrapped */
    fx_free(f);
}

static void test_trans_reshape(void **state)
{
    (void)state;
    fx *f = fx_new("k");
    ir_value *x = tensor_param(f, "x", IR_F32, "2,3,4", false);
    ir_value *o = tensor_param(f, "o", IR_F32, "4,2,3", true);
    ir_value *o2 = tensor_param(f, "o2", IR_F32, "3,2", true);
    grid3(f, 1, 1, 1);
    ir_value *r2 = arange(f, 2), *r3 = arange(f, 3), *r4 = arange(f, 4);
    ir_value *xv = load(f, x, (ir_value *[]){r2, r3, r4}, NULL, NULL);
    ir_type tt = ir_type_tile(IR_F32, 3, (int64_t[]){4, 2, 3});
    ir_op *tr = ir_build(&f->b, IR_OP_TRANS, 1, &xv, 1, &tt, 0);
    tr->attr.perm[0] = 2;
    tr->attr.perm[1] = 0;
    tr->attr.perm[2] = 1;
    store(f, o, (ir_value *[]){r4, r2, r3}, tr->results[0], NULL);
    /* the first 6 elements of x, as [2,3], transposed to [3,2] */
    ir_value *six = reshape(f, load(f, x, (ir_value *[]){ci(f, 0), r3, r2}, NULL, NULL), 2,
                            (int64_t[]){2, 3}); /* x[0, 0..2, 0..1] is [3,2] -> [2,3] */
    ir_type t32 = ir_type_tile(IR_F32, 2, (int64_t[]){3, 2});
    ir_op *tr2 = ir_build(&f->b, IR_OP_TRANS, 1, &six, 1, &t32, 0);
    tr2->attr.perm[0] = 1;
    tr2->attr.perm[1] = 0;
    store(f, o2, (ir_value *[]){r3, r2}, tr2->results[0], NULL);
    finish(f);
    float xb[24], ob[24], o2b[6];
    for (int i = 0; i < 24; i++) xb[i] = (float)i;
    interp_arg args[3] = {targ(IR_F32, xb, 3, (int64_t[]){2, 3, 4}),
                          targ(IR_F32, ob, 3, (int64_t[]){4, 2, 3}),
                          targ(IR_F32, o2b, 2, (int64_t[]){3, 2})};
    assert_int_equal(launch_ok(f, args, 3), TILE_OK);
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 3; c++) assert_true(ob[(a * 2 + b) * 3 + c] == xb[(b * 3 + c) * 4 + a]);
    /* six (row-major [3,2] of x[0, i, j] = 4i + j) viewed as [2,3] */
    float sixv[6];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++) sixv[i * 2 + j] = xb[i * 4 + j];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++) assert_true(o2b[i * 2 + j] == sixv[j * 3 + i]);
    fx_free(f);
}

static void test_div_by_zero(void **state)
{
    (void)state;
    fx *f = fx_new("k");
    ir_value *x = tensor_param(f, "x", IR_I32, "4", false);
    ir_value *o = tensor_param(f, "o", IR_I32, "4", true);
    grid3(f, 2, 1, 1);
    ir_value *r4 = arange(f, 4);
    ir_value *xv = load(f, x, (ir_value *[]){r4}, NULL, NULL);
    ir_op *pid = ir_build(&f->b, IR_OP_PROGRAM_ID, 0, NULL, 1, (ir_type[]){ir_type_scalar(IR_I32)}, 0);
    ir_value *den = bin(f, IR_OP_SUB, xv, bcast(f, pid->results[0], 1, (int64_t[]){4}));
    f->b.loc = LOC(7, 9);
    ir_value *q = bin(f, IR_OP_DIV, ci_t(f, 100, 1, (int64_t[]){4}), den);
    f->b.loc = LOC(8, 1);
    store(f, o, (ir_value *[]){r4}, q, NULL);
    finish(f);
    int32_t xb[4] = {1, 2, 3, 4}, ob[4] = {0, 0, 0, 0};
    interp_arg args[2] = {targ(IR_I32, xb, 1, (int64_t[]){4}), targ(IR_I32, ob, 1, (int64_t[]){4})};
    /* program 0 divides by 1..4; program 1 by 0..3 and stops */
    assert_int_equal(launch(f, args, 2, NULL), TILE_ERR_RUNTIME);
    assert_int_equal(f->d.nerrors, 1);
    assert_string_equal(first_msg(f), "integer division by zero (program 1, 0, 0)");
    assert_string_equal(f->d.first->loc.file, "t.tile");
    assert_int_equal(f->d.first->loc.line, 7);
    assert_int_equal(f->d.first->loc.col, 9);
    for (int i = 0; i < 4; i++) assert_int_equal(ob[i], 100 / (i + 1)); /* program 0 only */
    fx_free(f);
}

static void test_for_bad_step(void **state)
{
    (void)state;
    fx *f = fx_new("k");
    ir_value *step = scalar_param(f, "step", IR_I32);
    grid3(f, 1, 1, 1);
    f->b.loc = LOC(5, 3);
    ir_value *ops[3] = {ci(f, 0), ci(f, 10), step};
    ir_op *loop = ir_build(&f->b, IR_OP_FOR, 3, ops, 0, NULL, 1);
    ir_type it = ir_type_scalar(IR_I32);
    ir_block *body = ir_block_new(f->k, 1, &it);
    body->parent = loop;
    loop->blocks[0] = body;
    ir_builder saved = f->b;
    ir_builder_at_end(&f->b, body);
    assert_non_null(ir_build(&f->b, IR_OP_YIELD, 0, NULL, 0, NULL, 0));
    f->b = saved;
    finish(f);
    interp_arg args[1] = {sarg_i(0)};
    assert_int_equal(launch(f, args, 1, NULL), TILE_ERR_RUNTIME);
    assert_string_equal(first_msg(f), "for loop step is 0, must be positive (program 0, 0, 0)");
    assert_int_equal(f->d.first->loc.line, 5);
    args[0] = sarg_i(-2);
    assert_int_equal(launch(f, args, 1, NULL), TILE_ERR_RUNTIME);
    args[0] = sarg_i(3);
    assert_int_equal(launch(f, args, 1, NULL), TILE_OK);
    fx_free(f);
}

/* assert: program p stores y[p] = p, then asserts p < n.  With n = 2 the
 * launch stops at program 2, after its store, before program 3 runs. */
static void test_assert(void **state)
{
    (void)state;
    fx *f = fx_new("k");
    ir_value *y = tensor_param(f, "y", IR_I32, "4", true);
    ir_value *n = scalar_param(f, "n", IR_I32);
    grid3(f, 4, 1, 1);
    ir_op *pid = ir_build(&f->b, IR_OP_PROGRAM_ID, 0, NULL, 1, (ir_type[]){ir_type_scalar(IR_I32)}, 0);
    ir_value *p = pid->results[0];
    store(f, y, (ir_value *[]){p}, p, NULL);
    ir_value *c = bin(f, IR_OP_CMP_LT, p, n);
    f->b.loc = LOC(6, 5);
    ir_op *a = ir_build(&f->b, IR_OP_ASSERT, 1, &c, 0, NULL, 0);
    a->attr.str = "p below \"n\"";
    finish(f);
    int32_t yb[4] = {-1, -1, -1, -1};
    interp_arg args[2] = {targ(IR_I32, yb, 1, (int64_t[]){4}), sarg_i(2)};
    assert_int_equal(launch(f, args, 2, NULL), TILE_ERR_RUNTIME);
    assert_int_equal(f->d.nerrors, 1);
    assert_string_equal(first_msg(f), "assertion failed: p below \"n\" (program 2, 0, 0)");
    assert_int_equal(f->d.first->loc.line, 6);
    assert_int_equal(f->d.first->loc.col, 5);
    assert_int_equal(yb[0], 0);
    assert_int_equal(yb[1], 1);
    assert_int_equal(yb[2], 2);
    assert_int_equal(yb[3], -1);
    args[1] = sarg_i(4);
    assert_int_equal(launch_ok(f, args, 2), TILE_OK);
    assert_int_equal(yb[3], 3);
    fx_free(f);
}

/* kernel k(q: tensor<f32>[M, 4], k: tensor<f32>[N, D=8], v: tensor<f32>[N, 8], n: i32) */
static fx *arg_kernel(void)
{
    fx *f = fx_new("attn");
    tensor_param(f, "q", IR_F32, "M,4", false);
    tensor_param(f, "k", IR_F32, "N,D=8", false);
    tensor_param(f, "v", IR_F32, "N,8", false);
    scalar_param(f, "n", IR_I32);
    grid3(f, 1, 1, 1);
    finish(f);
    return f;
}

static float argbuf[1024];

static void good_args(interp_arg *a)
{
    a[0] = targ(IR_F32, argbuf, 2, (int64_t[]){5, 4});
    a[1] = targ(IR_F32, argbuf, 2, (int64_t[]){77, 8});
    a[2] = targ(IR_F32, argbuf, 2, (int64_t[]){77, 8});
    a[3] = sarg_i(3);
}

static void expect_arg_error(interp_arg *a, int nargs, const char *msg, int col)
{
    fx *f = arg_kernel();
    assert_int_equal(launch(f, a, nargs, NULL), TILE_ERR_ARG);
    assert_int_equal(f->d.nerrors, 1);
    assert_string_equal(first_msg(f), msg);
    assert_int_equal(f->d.first->loc.line, 1);
    assert_int_equal(f->d.first->loc.col, col);
    fx_free(f);
}

static void test_arg_validation(void **state)
{
    (void)state;
    interp_arg a[4];
    good_args(a);
    fx *f = arg_kernel();
    assert_int_equal(launch_ok(f, a, 4), TILE_OK);
    fx_free(f);

    expect_arg_error(a, 3, "kernel 'attn' takes 4 arguments, got 3", 1);
    good_args(a);
    a[0].tensor.dtype = IR_BF16;
    expect_arg_error(a, 4, "argument 'q': expected tensor<f32>, got tensor<bf16>", 10);
    good_args(a);
    a[0] = targ(IR_F32, argbuf, 3, (int64_t[]){5, 4, 1});
    expect_arg_error(a, 4, "argument 'q': expected a tensor of rank 2, got rank 3", 10);
    good_args(a);
    a[2].tensor.data = NULL;
    expect_arg_error(a, 4, "argument 'v': data pointer is NULL", 12);
    good_args(a);
    a[0].tensor.shape[1] = 3;
    expect_arg_error(a, 4, "argument 'q': dimension 1 is 3, expected 4", 10);
    good_args(a);
    a[1].tensor.shape[1] = 7;
    expect_arg_error(a, 4, "argument 'k': dimension 'D' is 7, expected 8", 11);
    good_args(a);
    a[2].tensor.shape[0] = 78;
    expect_arg_error(a, 4, "argument 'v': dimension 'N' is 78 but 'k' has 77", 12);
    good_args(a);
    a[3] = sarg_i((int64_t)1 << 32);
    expect_arg_error(a, 4, "argument 'n': 4294967296 does not fit in i32", 13);
    good_args(a);
    a[0].tensor.shape[0] = -1;
    expect_arg_error(a, 4, "argument 'q': dimension 'M' is -1, outside 0..2147483647", 10);
    good_args(a);
    a[1].tensor.strides[0] = INT64_MAX / 2;
    expect_arg_error(a, 4, "argument 'k': strides address beyond 2^59 elements", 11);

    /* several problems: all reported */
    good_args(a);
    a[0].tensor.dtype = IR_I32;
    a[2].tensor.data = NULL;
    a[3] = sarg_i(-((int64_t)1 << 40));
    f = arg_kernel();
    assert_int_equal(launch(f, a, 4, NULL), TILE_ERR_ARG);
    assert_int_equal(f->d.nerrors, 3);
    fx_free(f);

    /* a name used twice in one tensor */
    f = fx_new("sq");
    tensor_param(f, "a", IR_F32, "N,N", false);
    grid3(f, 1, 1, 1);
    finish(f);
    interp_arg sq = targ(IR_F32, argbuf, 2, (int64_t[]){3, 4});
    assert_int_equal(launch(f, &sq, 1, NULL), TILE_ERR_ARG);
    assert_string_equal(first_msg(f), "argument 'a': dimension 'N' is both 3 and 4");
    fx_free(f);

    /* an empty dimension is fine: every index is out of range */
    good_args(a);
    a[0].tensor.shape[0] = 0;
    f = arg_kernel();
    assert_int_equal(launch_ok(f, a, 4), TILE_OK);
    fx_free(f);
}

static void test_grid_order(void **state)
{
    (void)state;
    fx *f = fx_new("k");
    ir_value *cnt = tensor_param(f, "cnt", IR_I32, "1", true);
    ir_value *order = tensor_param(f, "order", IR_I32, "P", true);
    ir_value *np = tensor_param(f, "np", IR_I32, "3", true);
    /* grid(P / 4, 2, 2), P read through tensor_dim in the grid block */
    ir_builder g = {0};
    ir_builder_at_end(&g, f->k->grid);
    ir_type it = ir_type_scalar(IR_I32);
    ir_op *td = ir_build(&g, IR_OP_TENSOR_DIM, 1, &f->k->grid->args[1], 1, &it, 0);
    td->attr.i = 0;
    ir_value *gx = ir_binary(&g, IR_OP_DIV, td->results[0], ir_const_int(&g, IR_I32, 4, 0, NULL));
    ir_value *ys[3] = {gx, ir_const_int(&g, IR_I32, 2, 0, NULL), ir_const_int(&g, IR_I32, 2, 0, NULL)};
    assert_non_null(ir_build(&g, IR_OP_YIELD, 3, ys, 0, NULL, 0));

    ir_value *pid[3], *nprog[3];
    for (int a = 0; a < 3; a++) {
        ir_op *p = ir_build(&f->b, IR_OP_PROGRAM_ID, 0, NULL, 1, &it, 0);
        p->attr.i = a;
        pid[a] = p->results[0];
        ir_op *n = ir_build(&f->b, IR_OP_NUM_PROGRAMS, 0, NULL, 1, &it, 0);
        n->attr.i = a;
        nprog[a] = n->results[0];
    }
    ir_value *c = load(f, cnt, (ir_value *[]){ci(f, 0)}, NULL, NULL);
    ir_value *lin = bin(f, IR_OP_ADD, pid[0],
                        bin(f, IR_OP_MUL, nprog[0],
                            bin(f, IR_OP_ADD, pid[1], bin(f, IR_OP_MUL, nprog[1], pid[2]))));
    store(f, order, (ir_value *[]){c}, lin, NULL);
    store(f, cnt, (ir_value *[]){ci(f, 0)}, bin(f, IR_OP_ADD, c, ci(f, 1)), NULL);
    for (int a = 0; a < 3; a++) store(f, np, (ir_value *[]){ci(f, a)}, nprog[a], NULL);
    finish(f);
    int32_t cb[1] = {0}, ob[12], nb[3];
    for (int i = 0; i < 12; i++) ob[i] = -1;
    interp_arg args[3] = {targ(IR_I32, cb, 1, (int64_t[]){1}), targ(IR_I32, ob, 1, (int64_t[]){12}),
                          targ(IR_I32, nb, 1, (int64_t[]){3})};
    assert_int_equal(launch_ok(f, args, 3), TILE_OK);
    assert_int_equal(cb[0], 12);
    for (int i = 0; i < 12; i++) assert_int_equal(ob[i], i); /* x fastest, then y, z */
    assert_int_equal(nb[0], 3);
    assert_int_equal(nb[1], 2);
    assert_int_equal(nb[2], 2);
    fx_free(f);
}

static void test_print(void **state)
{
    (void)state;
    fx *f = fx_new("k");
    ir_value *x = tensor_param(f, "x", IR_F32, "3", false);
    grid3(f, 1, 1, 1);
    ir_value *xv = load(f, x, (ir_value *[]){arange(f, 3)}, NULL, NULL);
    ir_value *m = bin(f, IR_OP_CMP_GT, xv, ir_const_float(&f->b, IR_F32, 0.0, 1, (int64_t[]){3}));
    ir_value *third = ir_cast(&f->b, ir_const_float(&f->b, IR_F32, 1.0 / 3.0, 0, NULL), IR_BF16);
    ir_value *mat = reshape(f, arange(f, 4), 2, (int64_t[]){2, 2});
    ir_value *vals[5] = {xv, ci(f, -7), m, third, mat};
    ir_op *p = ir_build(&f->b, IR_OP_PRINT, 5, vals, 0, NULL, 0);
    p->attr.str = "v";
    ir_value *big = ir_const_float(&f->b, IR_F32, 1e20, 0, NULL);
    ir_op *p2 = ir_build(&f->b, IR_OP_PRINT, 1, &big, 0, NULL, 0);
    p2->attr.str = "big";
    finish(f);
    float xb[3] = {1.5f, 2.0f, -0.1f};
    interp_arg args[1] = {targ(IR_F32, xb, 1, (int64_t[]){3})};
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    assert_int_equal(launch(f, args, 1, out), TILE_OK);
    fclose(out);
    assert_string_equal(text, "v: [1.5, 2.0, -0.1] -7 [true, true, false] 0.334 [[0, 1], [2, 3]]\n"
                              "big: 1e+20\n");
    free(text);
    fx_free(f);
}

/* fn twice(x: f32[4]) -> (f32[4], f32[4]) { (x * 2, x) }, called twice. */
static void test_call(void **state)
{
    (void)state;
    fx *f = fx_new("k");
    ir_value *o = tensor_param(f, "o", IR_F32, "3,4", true);
    grid3(f, 1, 1, 1);
    int64_t s4[1] = {4};
    ir_type t4 = ir_type_tile(IR_F32, 1, s4);
    ir_func *fn = ir_func_new(f->m, "twice", IR_FUNC_FN, LOC(20, 1));
    ir_param p;
    memset(&p, 0, sizeof p);
    p.name = "x";
    p.type = t4;
    ir_value *px = ir_func_add_param(fn, &p);
    ir_type rts[2] = {t4, t4};
    ir_func_set_results(fn, 2, rts);
    ir_builder fb = {0};
    ir_builder_at_end(&fb, fn->body);
    ir_value *two = ir_binary(&fb, IR_OP_MUL, px, ir_const_float(&fb, IR_F32, 2.0, 1, s4));
    assert_non_null(ir_build(&fb, IR_OP_RETURN, 2, (ir_value *[]){two, px}, 0, NULL, 0));

    ir_value *a = ir_cast(&f->b, arange(f, 4), IR_F32);
    ir_op *c1 = ir_build(&f->b, IR_OP_CALL, 1, &a, 2, rts, 0);
    c1->attr.callee = fn;
    ir_op *c2 = ir_build(&f->b, IR_OP_CALL, 1, &c1->results[0], 2, rts, 0);
    c2->attr.callee = fn;
    ir_value *r4 = arange(f, 4);
    store(f, o, (ir_value *[]){ci(f, 0), r4}, c1->results[0], NULL);
    store(f, o, (ir_value *[]){ci(f, 1), r4}, c2->results[0], NULL);
    store(f, o, (ir_value *[]){ci(f, 2), r4}, c2->results[1], NULL);
    finish(f);
    float ob[12];
    interp_arg args[1] = {targ(IR_F32, ob, 2, (int64_t[]){3, 4})};
    assert_int_equal(launch_ok(f, args, 1), TILE_OK);
    for (int i = 0; i < 4; i++) {
        assert_true(ob[i] == 2.0f * (float)i);
        assert_true(ob[4 + i] == 4.0f * (float)i);
        assert_true(ob[8 + i] == 2.0f * (float)i);
    }
    fx_free(f);
}

/* Loops whose yields permute and repeat their own arguments: every carried
 * value reads the arguments of the same iteration.
 *   while (n < limit) { (a, b, c, d, n) = (b, c, a, a, n + 1) }  (scalars)
 *   for i { (u, v, w) = (w, u, u + i) }                          (i32[3] tiles) */
static void test_loop_yields_permute_and_repeat(void **state)
{
    (void)state;
    fx *f = fx_new("k");
    ir_value *limit = scalar_param(f, "limit", IR_I32);
    ir_value *out = tensor_param(f, "out", IR_I32, "5", true);
    ir_value *outv = tensor_param(f, "outv", IR_I32, "3,3", true);
    grid3(f, 1, 1, 1);
    ir_value *init[5] = {ci(f, 1), ci(f, 2), ci(f, 3), ci(f, 4), ci(f, 0)};
    ir_type ts[5];
    for (int i = 0; i < 5; i++) ts[i] = init[i]->type;
    ir_op *w = ir_build(&f->b, IR_OP_WHILE, 5, init, 5, ts, 2);
    ir_block *cond = ir_op_new_region(w, 0, 5, ts), *body = ir_op_new_region(w, 1, 5, ts);
    ir_builder saved = f->b;
    ir_builder_at_end(&f->b, cond);
    ir_value *c = bin(f, IR_OP_CMP_LT, cond->args[4], limit);
    assert_non_null(ir_build(&f->b, IR_OP_CONDITION, 1, &c, 0, NULL, 0));
    ir_builder_at_end(&f->b, body);
    ir_value **a = body->args;
    ir_value *ys[5] = {a[1], a[2], a[0], a[0], bin(f, IR_OP_ADD, a[4], ci(f, 1))};
    assert_non_null(ir_build(&f->b, IR_OP_YIELD, 5, ys, 0, NULL, 0));
    f->b = saved;
    for (int i = 0; i < 5; i++) store(f, out, (ir_value *[]){ci(f, i)}, w->results[i], NULL);

    int64_t s3[1] = {3};
    ir_value *r3 = arange(f, 3);
    ir_value *vi[3] = {r3, bin(f, IR_OP_MUL, r3, ci_t(f, 10, 1, s3)), ci_t(f, 7, 1, s3)};
    ir_value *fops[6] = {ci(f, 0), limit, ci(f, 1), vi[0], vi[1], vi[2]};
    ir_type vt[3] = {vi[0]->type, vi[1]->type, vi[2]->type};
    ir_op *loop = ir_build(&f->b, IR_OP_FOR, 6, fops, 3, vt, 1);
    ir_block *fb = ir_op_new_region(loop, 0, 4, (ir_type[]){ir_type_scalar(IR_I32), vt[0], vt[1], vt[2]});
    saved = f->b;
    ir_builder_at_end(&f->b, fb);
    ir_value *ui = bin(f, IR_OP_ADD, fb->args[1], bcast(f, fb->args[0], 1, s3));
    ir_value *fy[3] = {fb->args[3], fb->args[1], ui};
    assert_non_null(ir_build(&f->b, IR_OP_YIELD, 3, fy, 0, NULL, 0));
    f->b = saved;
    for (int i = 0; i < 3; i++) store(f, outv, (ir_value *[]){ci(f, i), r3}, loop->results[i], NULL);
    finish(f);

    for (int32_t lim = -1; lim < 9; lim++) {
        int32_t o[5], ov[9];
        interp_arg args[3] = {sarg_i(lim), targ(IR_I32, o, 1, (int64_t[]){5}),
                              targ(IR_I32, ov, 2, (int64_t[]){3, 3})};
        assert_int_equal(launch_ok(f, args, 3), TILE_OK);
        int32_t e[5] = {1, 2, 3, 4, 0};
        while (e[4] < lim) {
            int32_t n[5] = {e[1], e[2], e[0], e[0], e[4] + 1};
            memcpy(e, n, sizeof e);
        }
        assert_memory_equal(o, e, sizeof e);
        int32_t u[3], v[3], wv[3];
        for (int k = 0; k < 3; k++) { u[k] = k; v[k] = 10 * k; wv[k] = 7; }
        for (int32_t i = 0; i < lim; i++)
            for (int k = 0; k < 3; k++) {
                int32_t nu = wv[k], nv = u[k], nw = u[k] + i;
                u[k] = nu;
                v[k] = nv;
                wv[k] = nw;
            }
        for (int k = 0; k < 3; k++) {
            assert_int_equal(ov[k], u[k]);
            assert_int_equal(ov[3 + k], v[k]);
            assert_int_equal(ov[6 + k], wv[k]);
        }
    }
    fx_free(f);
}

/* The interpreter does not trust its input to be verified: a binary op on
 * integers whose result claims to be a float (the verifier rejects it)
 * is an internal error, not a write of 8-byte integers into a buffer of
 * 4-byte floats. */
static void test_unverified_result_dtype(void **state)
{
    (void)state;
    fx *f = fx_new("k");
    ir_value *o = tensor_param(f, "o", IR_F32, "64", true);
    grid3(f, 1, 1, 1);
    int64_t s64[1] = {64};
    ir_value *a = ir_const_int(&f->b, IR_I64, 3, 1, s64);
    ir_value *r = bin(f, IR_OP_ADD, a, a);
    r->type.dtype = IR_F32;
    store(f, o, (ir_value *[]){arange(f, 64)}, r, NULL);
    assert_non_null(ir_build(&f->b, IR_OP_RETURN, 0, NULL, 0, NULL, 0));
    float ob[64];
    interp_arg args[1] = {targ(IR_F32, ob, 1, s64)};
    assert_int_equal(launch(f, args, 1, NULL), TILE_ERR_INTERNAL);
    assert_non_null(strstr(first_msg(f), "internal error: interpreter: add: "));
    fx_free(f);
}

/* The interpreter's per-dtype loops agree bit for bit with ir_eval_*. */
static const double special[] = {0.0, -0.0, 1.0, -1.0, 0.5, 1.0 + 1.0 / 256, 3.0, -2.5, 65504.0,
                                 65520.0, 1e-8, -1e30, 1e38, 3.4e38, INFINITY, -INFINITY, NAN,
                                 2147483647.0, -2147483648.0, 1e10, 7.0, 100.0, 0.1, -0.3};
static const int64_t ispecial[] = {0, 1, -1, 2, -2, 3, 7, -7, 31, 32, 33, 63, 64, 65, -64,
                                   INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, 1LL << 40,
                                   -(1LL << 35), 123456789, -987654321, 0x7fffffff00000001LL};
enum { NSPEC = sizeof special / sizeof special[0], NISPEC = sizeof ispecial / sizeof ispecial[0] };

static void fill(ir_dtype t, int64_t n, void *buf, ir_scalar *sc, int salt)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t j = (i * (salt + 1) + salt) % (t == IR_BOOL ? 2 : (ir_dtype_is_float(t) ? NSPEC : NISPEC));
        ir_scalar s;
        if (ir_dtype_is_float(t)) {
            ir_scalar r;
            ir_eval_unary(IR_OP_CAST, IR_F32, t, (ir_scalar){.f = (double)(float)special[j]}, &r);
            ((float *)buf)[i] = (float)r.f;
            s.f = r.f;
        } else {
            int64_t v = t == IR_BOOL ? j : ispecial[j];
            ir_scalar r;
            ir_eval_unary(IR_OP_CAST, IR_I64, t, (ir_scalar){.i = v}, &r);
            ((int64_t *)buf)[i] = r.i;
            s.i = r.i;
        }
        sc[i] = s;
    }
}

static bool same_scalar(ir_dtype t, const void *buf, int64_t i, ir_scalar e)
{
    if (ir_dtype_is_float(t)) return same_float(((const float *)buf)[i], (float)e.f);
    return ((const int64_t *)buf)[i] == e.i;
}

static void test_fast_paths_match_eval(void **state)
{
    (void)state;
    enum { N = NSPEC * NISPEC };
    static float fa[N], fb[N], fr[N];
    static int64_t ia[N], ib[N], ir[N];
    static ir_scalar sa[N], sb[N];
    const ir_dtype dts[] = {IR_BOOL, IR_I32, IR_I64, IR_F16, IR_BF16, IR_F32};
    for (int d = 0; d < 6; d++) {
        ir_dtype t = dts[d];
        int fl = ir_dtype_is_float(t);
        void *a = fl ? (void *)fa : ia, *b = fl ? (void *)fb : ib;
        fill(t, N, a, sa, 1);
        fill(t, N, b, sb, NSPEC + 2);
        for (int op = 0; op < IR_OP_COUNT; op++) {
            unsigned flags = ir_op_table[op].flags;
            if (!(flags & IR_ELEMENTWISE) || op == IR_OP_SELECT) continue;
            if (ir_op_table[op].noperands == 1) {
                for (int d2 = 0; d2 < 6; d2++) {
                    ir_dtype out = op == IR_OP_CAST ? dts[d2] : t;
                    if (op != IR_OP_CAST && d2) break;
                    ir_scalar e;
                    if (ir_eval_unary(op, t, out, sa[0], &e) != TILE_OK) continue;
                    void *r = ir_dtype_is_float(out) ? (void *)fr : ir;
                    assert_int_equal(iop_unary(op, t, out, N, a, r), TILE_OK);
                    for (int64_t i = 0; i < N; i++) {
                        assert_int_equal(ir_eval_unary(op, t, out, sa[i], &e), TILE_OK);
                        if (!same_scalar(out, r, i, e))
                            fail_msg("%s %s->%s element %d", ir_op_table[op].name,
                                     ir_dtype_name(t), ir_dtype_name(out), (int)i);
                    }
                }
                continue;
            }
            ir_scalar e;
            if (ir_eval_binary(op, t, sa[1], sb[1], &e) == TILE_ERR_INTERNAL) continue;
            ir_dtype out = (flags & IR_CMP) ? IR_BOOL : t;
            void *r = ir_dtype_is_float(out) ? (void *)fr : ir;
            tile_status st = iop_binary(op, t, N, a, b, r);
            bool any_err = false;
            for (int64_t i = 0; i < N; i++) {
                tile_status es = ir_eval_binary(op, t, sa[i], sb[i], &e);
                if (es == TILE_ERR_RUNTIME) {
                    any_err = true;
                    continue;
                }
                assert_int_equal(es, TILE_OK);
                if (st == TILE_OK && !same_scalar(out, r, i, e))
                    fail_msg("%s %s element %d", ir_op_table[op].name, ir_dtype_name(t), (int)i);
            }
            assert_int_equal(st, any_err ? TILE_ERR_RUNTIME : TILE_OK);
            if (any_err) { /* again without zero divisors */
                for (int64_t i = 0; i < N; i++)
                    if (((int64_t *)b)[i] == 0) ((int64_t *)b)[i] = sb[i].i = t == IR_BOOL ? 1 : 3;
                assert_int_equal(iop_binary(op, t, N, a, b, r), TILE_OK);
                for (int64_t i = 0; i < N; i++) {
                    assert_int_equal(ir_eval_binary(op, t, sa[i], sb[i], &e), TILE_OK);
                    assert_true(same_scalar(out, r, i, e));
                }
                fill(t, N, b, sb, NSPEC + 2);
            }
        }
    }
}

/* A FlashAttention-style kernel built by hand (online softmax over key
 * blocks, bf16 operands, f32 accumulation, masked tails), checked against
 * a naive double-precision attention.  Also the interpreter's speed test:
 * head dim 128 and a few hundred tokens, as the library tests run it. */
enum { FA_BM = 64, FA_BN = 64, FA_D = 128 };

static ir_value *bc2(fx *f, ir_value *x, int64_t rows, int64_t cols, bool as_col)
{
    /* x[n] -> [rows, cols] as a column (x[:, None]) or a row (x[None, :]) */
    int64_t col_shape[2] = {rows, 1}, row_shape[2] = {1, cols}, full[2] = {rows, cols};
    ir_value *r = reshape(f, x, 2, as_col ? col_shape : row_shape);
    return bcast(f, r, 2, full);
}

static void build_flash(fx *f)
{
    ir_value *q = tensor_param(f, "q", IR_BF16, "M,D=128", false);
    ir_value *k = tensor_param(f, "k", IR_BF16, "N,D=128", false);
    ir_value *v = tensor_param(f, "v", IR_BF16, "N,D=128", false);
    ir_value *o = tensor_param(f, "o", IR_F32, "M,D=128", true);
    ir_value *scale = scalar_param(f, "scale", IR_F32);
    ir_type it = ir_type_scalar(IR_I32);
    /* grid(cdiv(M, BM)) */
    ir_builder g = {0};
    ir_builder_at_end(&g, f->k->grid);
    ir_op *md = ir_build(&g, IR_OP_TENSOR_DIM, 1, &f->k->grid->args[0], 1, &it, 0);
    ir_value *gx = ir_binary(&g, IR_OP_DIV,
                             ir_binary(&g, IR_OP_ADD, md->results[0],
                                       ir_const_int(&g, IR_I32, FA_BM - 1, 0, NULL)),
                             ir_const_int(&g, IR_I32, FA_BM, 0, NULL));
    ir_value *one = ir_const_int(&g, IR_I32, 1, 0, NULL);
    assert_non_null(ir_build(&g, IR_OP_YIELD, 3, (ir_value *[]){gx, one, one}, 0, NULL, 0));

    int64_t bm[1] = {FA_BM}, bn[1] = {FA_BN}, bmd[2] = {FA_BM, FA_D}, bmbn[2] = {FA_BM, FA_BN};
    ir_op *pid = ir_build(&f->b, IR_OP_PROGRAM_ID, 0, NULL, 1, &it, 0);
    ir_value *rows = bin(f, IR_OP_ADD, bcast(f, bin(f, IR_OP_MUL, pid->results[0], ci(f, FA_BM)), 1, bm),
                         arange(f, FA_BM));
    ir_value *dcols = arange(f, FA_D);
    ir_value *qt = load(f, q, (ir_value *[]){rows, dcols}, NULL, NULL);
    ir_op *nd = ir_build(&f->b, IR_OP_TENSOR_DIM, 1, &k, 1, &it, 0);
    ir_value *nv = nd->results[0];
    ir_value *init[3] = {ir_const_float(&f->b, IR_F32, -INFINITY, 1, bm),
                         ir_const_float(&f->b, IR_F32, 0.0, 1, bm),
                         ir_const_float(&f->b, IR_F32, 0.0, 2, bmd)};
    ir_type rts[3] = {init[0]->type, init[1]->type, init[2]->type};
    ir_op *loop = ir_build(&f->b, IR_OP_FOR, 6,
                           (ir_value *[]){ci(f, 0), nv, ci(f, FA_BN), init[0], init[1], init[2]},
                           3, rts, 1);
    ir_type bt[4] = {it, rts[0], rts[1], rts[2]};
    ir_block *body = ir_block_new(f->k, 4, bt);
    body->parent = loop;
    loop->blocks[0] = body;
    ir_builder saved = f->b;
    ir_builder_at_end(&f->b, body);
    ir_value *m_i = body->args[1], *l_i = body->args[2], *acc = body->args[3];
    ir_value *cols = bin(f, IR_OP_ADD, bcast(f, body->args[0], 1, bn), arange(f, FA_BN));
    ir_value *kt = load(f, k, (ir_value *[]){cols, dcols}, NULL, NULL);
    ir_type ktt = ir_type_tile(IR_BF16, 2, (int64_t[]){FA_D, FA_BN});
    ir_op *tr = ir_build(&f->b, IR_OP_TRANS, 1, &kt, 1, &ktt, 0);
    tr->attr.perm[0] = 1;
    tr->attr.perm[1] = 0;
    ir_type st = ir_type_tile(IR_F32, 2, bmbn);
    ir_op *d1 = ir_build(&f->b, IR_OP_DOT, 2, (ir_value *[]){qt, tr->results[0]}, 1, &st, 0);
    ir_value *sc = bin(f, IR_OP_MUL, d1->results[0], bcast(f, scale, 2, bmbn));
    ir_value *valid = bin(f, IR_OP_CMP_LT, bc2(f, cols, FA_BM, FA_BN, false), bcast(f, nv, 2, bmbn));
    sc = ir_select(&f->b, valid, sc, ir_const_float(&f->b, IR_F32, -INFINITY, 2, bmbn));
    ir_value *rmax = op1(f, IR_OP_REDUCE_MAX, sc, ir_type_tile(IR_F32, 1, bm), 1);
    ir_value *m_new = bin(f, IR_OP_MAX, m_i, rmax);
    ir_value *p = ir_unary(&f->b, IR_OP_EXP, bin(f, IR_OP_SUB, sc, bc2(f, m_new, FA_BM, FA_BN, true)));
    ir_value *alpha = ir_unary(&f->b, IR_OP_EXP, bin(f, IR_OP_SUB, m_i, m_new));
    ir_value *l_new = bin(f, IR_OP_ADD, bin(f, IR_OP_MUL, l_i, alpha),
                          op1(f, IR_OP_REDUCE_SUM, p, ir_type_tile(IR_F32, 1, bm), 1));
    ir_value *vt = load(f, v, (ir_value *[]){cols, dcols}, NULL, NULL);
    ir_type ot = ir_type_tile(IR_F32, 2, bmd);
    ir_op *d2 = ir_build(&f->b, IR_OP_DOT, 2, (ir_value *[]){ir_cast(&f->b, p, IR_BF16), vt}, 1, &ot, 0);
    ir_value *acc_new = bin(f, IR_OP_ADD, bin(f, IR_OP_MUL, acc, bc2(f, alpha, FA_BM, FA_D, true)),
                            d2->results[0]);
    assert_non_null(ir_build(&f->b, IR_OP_YIELD, 3, (ir_value *[]){m_new, l_new, acc_new}, 0, NULL, 0));
    f->b = saved;
    ir_value *out = bin(f, IR_OP_DIV, loop->results[2], bc2(f, loop->results[1], FA_BM, FA_D, true));
    store(f, o, (ir_value *[]){rows, dcols}, out, NULL);
    finish(f);
}

static void test_flash_attention(void **state)
{
    (void)state;
    enum { M = 300, N = 260, D = FA_D };
    fx *f = fx_new("attn");
    build_flash(f);
    uint16_t *qb = malloc(sizeof(uint16_t) * M * D), *kb = malloc(sizeof(uint16_t) * N * D),
             *vb = malloc(sizeof(uint16_t) * N * D);
    float *ob = malloc(sizeof(float) * M * D);
    double *srow = malloc(sizeof(double) * N);
    assert_true(qb && kb && vb && ob && srow);
    for (int i = 0; i < M * D; i++) qb[i] = ref_bf16_bits(rndf(-1, 1));
    for (int i = 0; i < N * D; i++) {
        kb[i] = ref_bf16_bits(rndf(-1, 1));
        vb[i] = ref_bf16_bits(rndf(-1, 1));
    }
    float scale = 1.0f / sqrtf((float)D);
    interp_arg args[5] = {targ(IR_BF16, qb, 2, (int64_t[]){M, D}), targ(IR_BF16, kb, 2, (int64_t[]){N, D}),
                          targ(IR_BF16, vb, 2, (int64_t[]){N, D}), targ(IR_F32, ob, 2, (int64_t[]){M, D}),
                          {.scalar.f = scale}};
    assert_int_equal(launch_ok(f, args, 5), TILE_OK);
    double worst = 0;
    for (int i = 0; i < M; i++) {
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int d = 0; d < D; d++) s += (double)bf16_val(qb[i * D + d]) * bf16_val(kb[j * D + d]);
            srow[j] = s * scale;
            if (srow[j] > mx) mx = srow[j];
        }
        for (int j = 0; j < N; j++) sum += srow[j] = exp(srow[j] - mx);
        for (int d = 0; d < D; d++) {
            double acc = 0;
            for (int j = 0; j < N; j++) acc += srow[j] * bf16_val(vb[j * D + d]);
            double err = fabs(acc / sum - ob[i * D + d]);
            if (err > worst) worst = err;
        }
    }
    if (getenv("TILE_TEST_VERBOSE")) print_message("flash worst abs error %g\n", worst);
    assert_true(worst < 4e-3); /* p is rounded to bf16 before P.V */
    free(qb);
    free(kb);
    free(vb);
    free(ob);
    free(srow);
    fx_free(f);
}

/* ---- from source ------------------------------------------------------- */

static tc_unit *compile_src(const char *src, const char *kernel, int opt_level)
{
    tc_options o = {.kernel = kernel, .opt_level = opt_level, .verify_each = true};
    tc_unit *u = NULL;
    tile_status st = tc_compile(&u, "t.tile", src, &o);
    if (st != TILE_OK) diag_print_all(&u->diags, stderr);
    assert_int_equal(st, TILE_OK);
    assert_non_null(u->kernel);
    return u;
}

/* (a, b) = (b, a) swaps: the right side is evaluated before any var is
 * assigned; an fn's results carried through a loop by tuple assignment. */
static void test_tuple_assignment_from_source(void **state)
{
    (void)state;
    const char *src =
        "fn fib_step(a, b) -> (i32, i32) { (b, a + b) }\n"
        "kernel k(y: out tensor<i32>[4], n: i32) grid(1) {\n"
        "    var a = 0;\n"
        "    var b = 1;\n"
        "    for i in range(n) { (a, b) = fib_step(a, b); }\n"
        "    var c = a;\n"
        "    var d = b;\n"
        "    (c, d) = (d, c);\n"
        "    store(y[arange(4)], where(arange(4) == 0, a, where(arange(4) == 1, b,\n"
        "                              where(arange(4) == 2, c, d))));\n"
        "}\n";
    for (int opt = 0; opt < 2; opt++) {
        tc_unit *u = compile_src(src, "k", opt);
        int32_t yb[4] = {0};
        interp_arg args[2] = {targ(IR_I32, yb, 1, (int64_t[]){4}), sarg_i(10)};
        assert_int_equal(interp_launch(u->kernel, args, 2, &u->diags, NULL), TILE_OK);
        assert_int_equal(yb[0], 55); /* fib(10) */
        assert_int_equal(yb[1], 89);
        assert_int_equal(yb[2], 89); /* swapped */
        assert_int_equal(yb[3], 55);
        tc_unit_free(u);
    }
}

/* interp_options.check_bounds: off, an out-of-range element is read as 0;
 * SCALAR reports one along a dimension indexed by a scalar (with the location
 * and program id), not along an index tile; ALL reports both; a masked-off
 * element is never reported. */
static void test_check_bounds(void **state)
{
    (void)state;
    const char *src =
        "kernel k(x: tensor<f32>[H, N], y: out tensor<f32>[H, N], const N: int = 4, const B: int = 4)\n"
        "    grid(H)\n"
        "{\n"
        "    let h = program_id(0);\n"
        "    let cols = arange(B);\n"
        "    store(y[h, cols], load(x[h + 1, cols], mask: h + 1 < H));\n"
        "    store(y[h, cols + 1], load(x[h, cols]));\n"
        "    store(y[h, cols], load(x[h + SHIFT, cols]));\n"
        "}\n";
    static const struct { const char *shift; interp_bounds_check mode; const char *want; } cases[] = {
        {"0", INTERP_BOUNDS_OFF, NULL},
        {"0", INTERP_BOUNDS_SCALAR, NULL}, /* the masked load and the ragged store pass */
        {"0", INTERP_BOUNDS_ALL, "t.tile:7:5: error: store writes y[0, 4]: index 4 is outside "
                                 "dimension 1 (size 4) (program 0, 0, 0)"},
        {"1", INTERP_BOUNDS_OFF, NULL},
        {"1", INTERP_BOUNDS_SCALAR, "t.tile:8:23: error: load reads x[2, 0]: index 2 is outside "
                                    "dimension 0 (size 2) (program 1, 0, 0)"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char text[1024];
        const char *at = strstr(src, "SHIFT");
        snprintf(text, sizeof text, "%.*s%s%s", (int)(at - src), src, cases[c].shift, at + 5);
        tc_unit *u = compile_src(text, "k", 1);
        float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, y[8];
        interp_arg args[2] = {targ(IR_F32, x, 2, (int64_t[]){2, 4}), targ(IR_F32, y, 2, (int64_t[]){2, 4})};
        interp_options o = {.check_bounds = cases[c].mode};
        tile_status st = interp_launch(u->kernel, args, 2, &u->diags, &o);
        char *err = diag_render(&u->diags, &u->mem);
        if (!cases[c].want) {
            if (st != TILE_OK) fail_msg("case %zu: %s", c, err);
            if (strcmp(cases[c].shift, "1") == 0) assert_true(y[4] == 0.0f); /* x[2, :] read 0 */
        } else {
            assert_int_equal(st, TILE_ERR_RUNTIME);
            if (!strstr(err, cases[c].want)) fail_msg("case %zu: want '%s' in:\n%s", c, cases[c].want, err);
        }
        tc_unit_free(u);
    }
}

/* The budgets: executed ops end an endless loop; tile memory ends a kernel of
 * many large tiles; both name the option that raises them. */
static void test_budgets(void **state)
{
    (void)state;
    tc_unit *u = compile_src("kernel k(y: out tensor<i32>[1]) grid(1) {\n"
                             "    var n = 0;\n    while n >= 0 { n = n * 1; }\n    store(y[0], n);\n}\n",
                             "k", 1);
    int32_t y[1];
    interp_arg args[1] = {targ(IR_I32, y, 1, (int64_t[]){1})};
    interp_options o = {.max_ops = 1000};
    assert_int_equal(interp_launch(u->kernel, args, 1, &u->diags, &o), TILE_ERR_RUNTIME);
    assert_non_null(strstr(diag_render(&u->diags, &u->mem),
                           "error: interpreter: the launch ran over its budget of 1000 executed ops "
                           "(an endless loop?  raise it with --max-ops) (program 0, 0, 0)"));
    tc_unit_free(u);

    const char *chain = "kernel k(x: tensor<f32>[1], y: out tensor<f32>[1]) grid(1) {\n"
                        "    let a = zeros([512, 512]) + load(x[0]);\n"
                        "    let b = a * 2.0;\n    let c = b * 2.0;\n    let d = c * 2.0;\n"
                        "    store(y[0], max(max(d, axis: 1), axis: 0));\n}\n";
    for (int budget_mib = 1; budget_mib <= 64; budget_mib *= 64) {
        u = compile_src(chain, "k", 1);
        float x[1] = {1}, r[1] = {0};
        interp_arg a2[2] = {targ(IR_F32, x, 1, (int64_t[]){1}), targ(IR_F32, r, 1, (int64_t[]){1})};
        interp_options mo = {.max_bytes = (uint64_t)budget_mib << 20};
        tile_status st = interp_launch(u->kernel, a2, 2, &u->diags, &mo);
        if (budget_mib == 1) { /* four 1 MiB tiles */
            assert_int_equal(st, TILE_ERR_RUNTIME);
            assert_non_null(strstr(diag_render(&u->diags, &u->mem),
                                   "memory budget of 1048576 bytes for tiles (raise it with --max-memory)"));
        } else {
            assert_int_equal(st, TILE_OK);
            assert_true(r[0] == 8.0f);
        }
        tc_unit_free(u);
    }
}

/* assert from source: a precondition on a dimension, and one inside a loop
 * that fails at a data-dependent point. */
static void test_assert_from_source(void **state)
{
    (void)state;
    const char *src =
        "kernel k(x: tensor<i32>[N], y: out tensor<i32>[G], const B: int = 2) grid(G) {\n"
        "    assert(N % B == 0, \"N must be a multiple of B\");\n"
        "    var total = 0;\n"
        "    for i in range(N) {\n"
        "        total += load(x[i]);\n"
        "        assert(total < 10 * (program_id(0) + 1), \"running total too large\");\n"
        "    }\n"
        "    store(y[program_id(0)], total);\n"
        "}\n";
    tc_unit *u = compile_src(src, "k", 1);
    int32_t x[5] = {1, 2, 3, 4, 5}, y[2] = {-1, -1};
    interp_arg args[2] = {targ(IR_I32, x, 1, (int64_t[]){5}), targ(IR_I32, y, 1, (int64_t[]){2})};
    assert_int_equal(interp_launch(u->kernel, args, 2, &u->diags, NULL), TILE_ERR_RUNTIME);
    char *err = diag_render(&u->diags, &u->mem);
    assert_non_null(strstr(err, "t.tile:2:5: error: assertion failed: N must be a multiple of B "
                                "(program 0, 0, 0)"));
    tc_unit_free(u);

    u = compile_src(src, "k", 1);
    args[0].tensor.shape[0] = 4;  /* 1 2 3 4: totals 10 > 10 * 1 in program 0 */
    assert_int_equal(interp_launch(u->kernel, args, 2, &u->diags, NULL), TILE_ERR_RUNTIME);
    err = diag_render(&u->diags, &u->mem);
    assert_non_null(strstr(err, "t.tile:6:9: error: assertion failed: running total too large "
                                "(program 0, 0, 0)"));
    assert_int_equal(y[0], -1);
    tc_unit_free(u);
}

/* A specialisation's tensor and scalar parameters, captured by fn values
 * and used through an fn they are passed to, at -O0 and -O1. */
static void test_captures_from_source(void **state)
{
    (void)state;
    const char *src =
        "fn full_mask(i, j) -> bool { true }\n"
        "fn same_doc(i, j, doc: tensor<i32>[N]) -> bool { load(doc[i]) == load(doc[j]) }\n"
        "fn near(i, j, t: i32, const W: int = 0) -> bool { abs(i - j) <= t + W }\n"
        "fn and2(const a: fn, const b: fn, i, j) -> bool { a(i, j) & b(i, j) }\n"
        "fn count(const m: fn, i, j) -> i32 { sum(cast<i32>(m(i, j)), axis: 1) }\n"
        "kernel k(y: out tensor<i32>[N], const mask: fn = full_mask) grid(1) {\n"
        "    let r = arange(8);\n"
        "    store(y[r], count(mask, r[:, None], r[None, :]));\n"
        "}\n"
        "kernel k_doc(doc: tensor<i32>[N]) = k(mask: same_doc(doc: doc));\n"
        "kernel k_both(doc: tensor<i32>[N], t: i32) =\n"
        "    k(mask: and2(a: same_doc(doc: doc), b: near(t: t)));\n"
        "kernel k_more(w: i32) = k_both(mask: and2(a: near(t: t, W: 1), b: near(t: w)));\n"
        /* a bound runtime parameter between positional ones is skipped like a constant */
        "fn same_doc_mid(i, doc: tensor<i32>[N], j) -> bool { load(doc[i]) == load(doc[j]) }\n"
        "kernel k_mid(doc: tensor<i32>[N]) = k(mask: same_doc_mid(doc: doc));\n";
    int32_t doc[8] = {0, 0, 0, 1, 1, 2, 2, 2};
    for (int opt = 0; opt < 2; opt++) {
        int32_t y[8];
        /* k_doc: each row counts the keys of its document */
        tc_unit *u = compile_src(src, "k_doc", opt);
        interp_arg args[4] = {targ(IR_I32, y, 1, (int64_t[]){8}), targ(IR_I32, doc, 1, (int64_t[]){8}),
                              sarg_i(1), sarg_i(2)};
        assert_int_equal(interp_launch(u->kernel, args, 2, &u->diags, NULL), TILE_OK);
        const int32_t want_doc[8] = {3, 3, 3, 2, 2, 3, 3, 3};
        for (int i = 0; i < 8; i++) assert_int_equal(y[i], want_doc[i]);
        tc_unit_free(u);
        u = compile_src(src, "k_mid", opt);
        memset(y, 0, sizeof y);
        assert_int_equal(interp_launch(u->kernel, args, 2, &u->diags, NULL), TILE_OK);
        for (int i = 0; i < 8; i++) assert_int_equal(y[i], want_doc[i]);
        tc_unit_free(u);
        /* k_both with t = 1: same document and |i - j| <= 1 */
        u = compile_src(src, "k_both", opt);
        assert_int_equal(u->kernel->nparams, 3);
        assert_int_equal(interp_launch(u->kernel, args, 3, &u->diags, NULL), TILE_OK);
        const int32_t want_both[8] = {2, 3, 2, 2, 2, 2, 3, 2};
        for (int i = 0; i < 8; i++) assert_int_equal(y[i], want_both[i]);
        tc_unit_free(u);
        /* k_more with t = 1, w = 2: |i - j| <= 2 and |i - j| <= 2 */
        u = compile_src(src, "k_more", opt);
        assert_int_equal(u->kernel->nparams, 4);
        assert_int_equal(interp_launch(u->kernel, args, 4, &u->diags, NULL), TILE_OK);
        const int32_t want_more[8] = {3, 4, 5, 5, 5, 5, 4, 3};
        for (int i = 0; i < 8; i++) assert_int_equal(y[i], want_more[i]);
        tc_unit_free(u);
    }
}

/* associative_scan: each line folds in index order, r[t] = combine(r[t-1],
 * x[t]) (checked with a non-commutative combine: composing affine maps
 * x -> a x + b); with add it is cumsum, bit for bit (f32 and i32); several
 * tiles of different dtypes scan together; a combine given as a partial
 * application; a runtime error inside the combine is reported. */
static void test_associative_scan_from_source(void **state)
{
    (void)state;
    const char *src =
        "fn add(a, b) { a + b }\n"
        "fn add_k(a, b, const K: int) { a + b + K }\n"
        "fn compose(a1, b1, a2, b2) -> (i32, i32) { (a1 * a2, b1 * a2 + b2) }\n"
        "fn stats(s1, n1, any1, s2, n2, any2) -> (f32, i32, bool) { (s1 + s2, n1 + n2, any1 | any2) }\n"
        "kernel k(xi: tensor<i32>[3, 5], xf: tensor<f32>[3, 5], yi: out tensor<i32>[8, 3, 5],\n"
        "         yf: out tensor<f32>[4, 3, 5], yb: out tensor<i32>[3, 5]) grid(1) {\n"
        "    let r = arange(3);\n"
        "    let c = arange(5);\n"
        "    let a = load(xi[r, c]);\n"
        "    let b = load(xf[r, c]);\n"
        "    store(yi[0, r, c], associative_scan(a, combine: add));\n"
        "    store(yi[1, r, c], cumsum(a, axis: 1));\n"
        "    store(yi[2, r, c], associative_scan(a, axis: 0, combine: add));\n"
        "    store(yi[3, r, c], cumsum(a, axis: 0));\n"
        "    let (ma, mb) = associative_scan(a % 3 - 1, a, axis: -1, combine: compose);\n"
        "    store(yi[4, r, c], ma);\n"
        "    store(yi[5, r, c], mb);\n"
        "    store(yi[6, r, c], associative_scan(a, combine: add_k(K: 1)));\n"
        "    let (s, n, seen) = associative_scan(b, full([3, 5], 1), b > 0.5, combine: stats);\n"
        "    store(yi[7, r, c], n);\n"
        "    store(yf[0, r, c], associative_scan(b, combine: add));\n"
        "    store(yf[1, r, c], cumsum(b));\n"
        "    store(yf[2, r, c], s);\n"
        "    store(yb[r, c], cast<i32>(seen));\n"
        "}\n"
        "fn div(a, b) { a / b }\n"
        "kernel k_div(xi: tensor<i32>[4], y: out tensor<i32>[4]) grid(1) {\n"
        "    store(y[arange(4)], associative_scan(load(xi[arange(4)]), combine: div));\n"
        "}\n";
    int32_t xi[15];
    float xf[15];
    for (int i = 0; i < 15; i++) {
        xi[i] = (i * 7919) % 23 - 11;
        xf[i] = (float)((i * 37) % 17) / 16.0f + 1.0f / 3.0f;
    }
    for (int opt = 0; opt < 2; opt++) {
        tc_unit *u = compile_src(src, "k", opt);
        int32_t yi[8 * 15], yb[15];
        float yf[4 * 15];
        interp_arg args[5] = {targ(IR_I32, xi, 2, (int64_t[]){3, 5}),
                              targ(IR_F32, xf, 2, (int64_t[]){3, 5}),
                              targ(IR_I32, yi, 3, (int64_t[]){8, 3, 5}),
                              targ(IR_F32, yf, 3, (int64_t[]){4, 3, 5}),
                              targ(IR_I32, yb, 2, (int64_t[]){3, 5})};
        assert_int_equal(interp_launch(u->kernel, args, 5, &u->diags, NULL), TILE_OK);
        for (int i = 0; i < 3; i++) {
            int32_t run = 0, run1 = 0, ma = 1, mb = 0, n = 0, any = 0;
            float fr = 0;
            for (int j = 0; j < 5; j++) {
                int32_t x = xi[i * 5 + j];
                run += x;
                run1 = j == 0 ? x : run1 + x + 1;
                int32_t a = x % 3 - 1;
                if (j == 0) ma = a, mb = x;
                else mb = mb * a + x, ma = ma * a;
                fr = fr + xf[i * 5 + j];
                n++;
                any |= xf[i * 5 + j] > 0.5f;
                int32_t col = 0;
                for (int t = 0; t <= i; t++) col += xi[t * 5 + j];
                assert_int_equal(yi[0 * 15 + i * 5 + j], run);
                assert_int_equal(yi[1 * 15 + i * 5 + j], run);
                assert_int_equal(yi[2 * 15 + i * 5 + j], col);
                assert_int_equal(yi[3 * 15 + i * 5 + j], col);
                assert_int_equal(yi[4 * 15 + i * 5 + j], ma);
                assert_int_equal(yi[5 * 15 + i * 5 + j], mb);
                assert_int_equal(yi[6 * 15 + i * 5 + j], run1);
                assert_int_equal(yi[7 * 15 + i * 5 + j], n);
                assert_true(same_float(yf[0 * 15 + i * 5 + j], fr));
                assert_true(same_float(yf[1 * 15 + i * 5 + j], fr));
                assert_true(same_float(yf[2 * 15 + i * 5 + j], fr));
                assert_int_equal(yb[i * 5 + j], any);
            }
        }
        tc_unit_free(u);

        u = compile_src(src, "k_div", opt);
        int32_t xd[4] = {100, 5, 0, 2}, yd[4];
        interp_arg dargs[2] = {targ(IR_I32, xd, 1, (int64_t[]){4}), targ(IR_I32, yd, 1, (int64_t[]){4})};
        assert_int_equal(interp_launch(u->kernel, dargs, 2, &u->diags, NULL), TILE_ERR_RUNTIME);
        char *err = diag_render(&u->diags, &u->mem);
        assert_non_null(strstr(err, "integer division by zero"));
        tc_unit_free(u);
    }
}

/* A combine given through a kernel's const fn parameter, bound by a
 * specialisation to an fn value that captures the specialisation's tensor:
 * the capture reaches the combine region. */
static void test_associative_scan_capture(void **state)
{
    (void)state;
    const char *src =
        "fn add(a, b) { a + b }\n"
        "fn add_bias(a, b, bias: tensor<f32>[2]) { a + b + load(bias[1]) }\n"
        "kernel k(x: tensor<f32>[6], y: out tensor<f32>[6], const comb: fn = add) grid(1) {\n"
        "    store(y[arange(6)], associative_scan(load(x[arange(6)]), combine: comb));\n"
        "}\n"
        "kernel k_bias(bias: tensor<f32>[2]) = k(comb: add_bias(bias: bias));\n";
    float x[6] = {1, 2, 3, 4, 5, 6}, bias[2] = {100, 0.5f};
    for (int opt = 0; opt < 2; opt++) {
        tc_unit *u = compile_src(src, "k_bias", opt);
        float y[6];
        interp_arg args[3] = {targ(IR_F32, x, 1, (int64_t[]){6}), targ(IR_F32, y, 1, (int64_t[]){6}),
                              targ(IR_F32, bias, 1, (int64_t[]){2})};
        assert_int_equal(interp_launch(u->kernel, args, 3, &u->diags, NULL), TILE_OK);
        float run = x[0];
        assert_true(same_float(y[0], run));
        for (int i = 1; i < 6; i++) {
            run = run + x[i] + bias[1];
            assert_true(same_float(y[i], run));
        }
        tc_unit_free(u);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_const_arange_broadcast),
        cmocka_unit_test(test_masked_strided_load_store),
        cmocka_unit_test(test_store_duplicates_and_atomic_add),
        cmocka_unit_test(test_bf16_every_op),
        cmocka_unit_test(test_for_carried),
        cmocka_unit_test(test_long_loop),
        cmocka_unit_test(test_while),
        cmocka_unit_test(test_if),
        cmocka_unit_test(test_dot),
        cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_bf16_and_int_sums),
        cmocka_unit_test(test_trans_reshape),
        cmocka_unit_test(test_div_by_zero),
        cmocka_unit_test(test_for_bad_step),
        cmocka_unit_test(test_arg_validation),
        cmocka_unit_test(test_grid_order),
        cmocka_unit_test(test_print),
        cmocka_unit_test(test_assert),
        cmocka_unit_test(test_call),
        cmocka_unit_test(test_fast_paths_match_eval),
        cmocka_unit_test(test_loop_yields_permute_and_repeat),
        cmocka_unit_test(test_unverified_result_dtype),
        cmocka_unit_test(test_flash_attention),
        cmocka_unit_test(test_tuple_assignment_from_source),
        cmocka_unit_test(test_assert_from_source),
        cmocka_unit_test(test_check_bounds),
        cmocka_unit_test(test_budgets),
        cmocka_unit_test(test_captures_from_source),
        cmocka_unit_test(test_associative_scan_from_source),
        cmocka_unit_test(test_associative_scan_capture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
