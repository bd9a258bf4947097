/* harness.c - shared helpers of the library tests (see harness.h). */
#include "harness.h"

#include "compiler/sched_layout.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/fp16.h"

/* ---- host tensors ---------------------------------------------------------------- */
th_tensor th_tensor_new(ir_dtype dt, int rank, const int64_t *shape, const int *order)
{
    th_tensor t = {.t = {.dtype = dt, .rank = rank}, .numel = 1};
    for (int i = 0; i < rank; i++) {
        t.t.shape[i] = shape[i];
        t.numel *= (size_t)shape[i];
    }
    int64_t stride = 1;
    for (int k = rank - 1; k >= 0; k--) {
        int dim = order ? order[k] : k;
        t.t.strides[dim] = stride;
        stride *= shape[dim];
    }
    t.t.data = th_alloc(t.numel * (size_t)ir_dtype_size(dt));
    return t;
}

void th_tensor_free(th_tensor *t)
{
    free(t->t.data);
    t->t.data = NULL;
}

/* Memory offset (in elements) of the i-th element in logical row-major order. */
static size_t offset_of(const interp_tensor *t, size_t flat)
{
    size_t off = 0;
    for (int d = t->rank - 1; d >= 0; d--) {
        size_t n = (size_t)t->shape[d];
        off += (flat % n) * (size_t)t->strides[d];
        flat /= n;
    }
    return off;
}

static void put(interp_tensor *t, size_t off, double v)
{
    switch (t->dtype) {
    case IR_F32: ((float *)t->data)[off] = (float)v; break;
    case IR_BF16: ((uint16_t *)t->data)[off] = fp_f32_to_bf16((float)v); break;
    case IR_F16: ((uint16_t *)t->data)[off] = fp_f32_to_f16((float)v); break;
    case IR_I32: ((int32_t *)t->data)[off] = (int32_t)v; break;
    case IR_I64: ((int64_t *)t->data)[off] = (int64_t)v; break;
    case IR_BOOL: ((uint8_t *)t->data)[off] = v != 0; break;
    default: abort();
    }
}

static double get(const interp_tensor *t, size_t off)
{
    switch (t->dtype) {
    case IR_F32: return ((const float *)t->data)[off];
    case IR_BF16: return fp_bf16_to_f32(((const uint16_t *)t->data)[off]);
    case IR_F16: return fp_f16_to_f32(((const uint16_t *)t->data)[off]);
    case IR_I32: return ((const int32_t *)t->data)[off];
    case IR_I64: return (double)((const int64_t *)t->data)[off];
    case IR_BOOL: return ((const uint8_t *)t->data)[off];
    default: abort();
    }
}

void th_tensor_set(th_tensor *t, const float *src)
{
    for (size_t i = 0; i < t->numel; i++) put(&t->t, offset_of(&t->t, i), src[i]);
}

void th_tensor_set_i32(th_tensor *t, const int32_t *src)
{
    for (size_t i = 0; i < t->numel; i++) put(&t->t, offset_of(&t->t, i), src[i]);
}

void th_tensor_get(const th_tensor *t, float *dst)
{
    for (size_t i = 0; i < t->numel; i++) dst[i] = (float)get(&t->t, offset_of(&t->t, i));
}

void th_tensor_poison(th_tensor *t)
{
    bool is_float = ir_dtype_is_float(t->t.dtype);
    for (size_t i = 0; i < t->numel; i++)
        put(&t->t, offset_of(&t->t, i), is_float ? NAN : (double)INT32_MIN);
}

/* ---- compile and launch ------------------------------------------------------------- */
bool th_compile(th_kernel *k, const char *file, const char *name, const char *defines)
{
    memset(k, 0, sizeof *k);
    snprintf(k->label, sizeof k->label, "%s[%s]", name, defines ? defines : "");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", TILE_LIB_DIR, file);

    arena scratch;
    arena_init(&scratch);
    const char **defs = NULL;
    int ndefs = 0;
    if (defines && *defines) {
        ndefs = tc_split_defines(&scratch, defines, &defs);
        if (ndefs < 0) {
            fprintf(stderr, "%s: malformed define list\n", k->label);
            arena_free(&scratch);
            return false;
        }
    }
    tc_options opts = {.kernel = name, .defines = defs, .ndefines = ndefs, .opt_level = 1};
    tile_status st = tc_compile(&k->unit, path, NULL, &opts);
    opts.opt_level = 0;
    tc_unit *failed = k->unit;
    if (st == TILE_OK && k->unit->kernel) {
        /* The -O0 unit gets the tile sizes the scheduler chose for the -O1
         * one (it costs the unoptimised IR and could choose others, and
         * another summation order is not what same_as_O0 checks). */
        const ir_func *kf = k->unit->kernel;
        const char **all = arena_calloc(&scratch, (size_t)(ndefs + kf->nconsts) + 1, sizeof *all);
        int n = 0;
        for (int i = 0; all && i < ndefs; i++) all[n++] = defs[i];
        for (int i = 0; all && i < kf->nconsts; i++)
            if (kf->consts[i].was_auto)
                all[n++] = arena_printf(&scratch, "%s=%s", kf->consts[i].name, kf->consts[i].value);
        if (all) {
            opts.defines = all;
            opts.ndefines = n;
        }
    }
    if (st == TILE_OK) {
        st = tc_compile(&k->unit_O0, path, NULL, &opts);
        failed = k->unit_O0;
    }
    arena_free(&scratch);
    if (st != TILE_OK || !k->unit->kernel || !k->unit_O0->kernel) {
        fprintf(stderr, "%s: compile failed (%s)\n", k->label, tile_status_name(st));
        if (failed) diag_print_all(&failed->diags, stderr);
        th_kernel_free(k);
        return false;
    }
    /* The optimised unit runs as scheduled IR (layouts on every tile, as
     * the GPU gets it); the -O0 unit stays tile IR.  same_as_O0 then also
     * proves that layout assignment changes no result. */
    st = sched_assign_layouts(k->unit->module, ir_target_find("sm_90"), SCHED_DEFAULT_NUM_WARPS);
    if (st != TILE_OK) {
        fprintf(stderr, "%s: layout assignment failed (%s)\n", k->label, tile_status_name(st));
        diag_print_all(&k->unit->diags, stderr);
        th_kernel_free(k);
        return false;
    }
    k->fn = k->unit->kernel;
    k->fn_O0 = k->unit_O0->kernel;
    return true;
}

void th_kernel_free(th_kernel *k)
{
    tc_unit_free(k->unit);
    tc_unit_free(k->unit_O0);
    k->unit = k->unit_O0 = NULL;
    k->fn = k->fn_O0 = NULL;
}

static bool run(th_kernel *k, tc_unit *unit, const ir_func *f, const interp_arg *iargs,
                const char *variant)
{
    diag_ctx *d = &unit->diags;
    int before = d->nerrors;
    tile_status st = interp_launch(f, iargs, f->nparams, d, NULL);
    if (st == TILE_OK) return true;
    fprintf(stderr, "%s%s: launch failed (%s)\n", k->label, variant, tile_status_name(st));
    if (d->nerrors > before) diag_print_all(d, stderr);
    return false;
}

static size_t tensor_bytes(const th_tensor *t)
{
    return t->numel * (size_t)ir_dtype_size(t->t.dtype);
}

/* An output before a run: poison, or zeros for one the kernel adds to. */
static void clear_output(const th_arg *a)
{
    if (a->zeroed) memset(a->tensor->t.data, 0, tensor_bytes(a->tensor));
    else th_tensor_poison(a->tensor);
}

/* Reruns the launch with the -O0 kernel (outputs re-poisoned) and compares
 * every output byte for byte with what the optimised kernel wrote. */
static bool same_as_O0(th_kernel *k, const th_arg *args, const int *arg_of, interp_arg *iargs)
{
    const ir_func *f = k->fn;
    bool ok = true;
    unsigned char **saved = TH_NEW(unsigned char *, f->nparams > 0 ? f->nparams : 1);
    for (int p = 0; p < f->nparams; p++) {
        saved[p] = NULL;
        th_tensor *t = args[arg_of[p]].tensor;
        if (!f->params[p].is_out || !t) continue;
        saved[p] = TH_NEW(unsigned char, tensor_bytes(t) + 1);
        memcpy(saved[p], t->t.data, tensor_bytes(t));
        clear_output(&args[arg_of[p]]);
    }
    if (!run(k, k->unit_O0, k->fn_O0, iargs, " at -O0")) ok = false;
    for (int p = 0; p < f->nparams && ok; p++) {
        if (!saved[p]) continue;
        const th_tensor *t = args[arg_of[p]].tensor;
        if (memcmp(saved[p], t->t.data, tensor_bytes(t)) != 0) {
            fprintf(stderr, "%s: output '%s' differs between -O1 (scheduled IR) and -O0 (tile IR)\n", k->label,
                    f->params[p].name);
            ok = false;
        }
    }
    for (int p = 0; p < f->nparams; p++) free(saved[p]);
    free(saved);
    return ok;
}

bool th_launch(th_kernel *k, const th_arg *args, int nargs)
{
    const ir_func *f = k->fn;
    interp_arg *iargs = TH_NEW(interp_arg, f->nparams > 0 ? f->nparams : 1);
    int *arg_of = TH_NEW(int, f->nparams > 0 ? f->nparams : 1);
    bool *used = TH_NEW(bool, nargs > 0 ? nargs : 1);
    bool ok = true;
    for (int p = 0; p < f->nparams && ok; p++) {
        const ir_param *param = &f->params[p];
        int a = 0;
        while (a < nargs && strcmp(args[a].name, param->name) != 0) a++;
        if (a == nargs) {
            fprintf(stderr, "%s: no argument for parameter '%s'\n", k->label, param->name);
            ok = false;
            break;
        }
        used[a] = true;
        arg_of[p] = a;
        if (param->type.kind == IR_TY_TENSOR) {
            if (!args[a].tensor) {
                fprintf(stderr, "%s: parameter '%s' is a tensor\n", k->label, param->name);
                ok = false;
                break;
            }
            if (param->is_out) clear_output(&args[a]);
            iargs[p].tensor = args[a].tensor->t;
        } else {
            iargs[p].scalar = ir_scalar_round(param->type.dtype, args[a].value);
        }
    }
    for (int a = 0; a < nargs && ok; a++)
        if (!used[a]) {
            fprintf(stderr, "%s: kernel has no parameter '%s'\n", k->label, args[a].name);
            ok = false;
        }
    if (ok) ok = run(k, k->unit, f, iargs, "") && same_as_O0(k, args, arg_of, iargs);
    free(iargs);
    free(arg_of);
    free(used);
    return ok;
}

/* ---- comparison ------------------------------------------------------------------ */
static void format_index(char *buf, size_t size, size_t flat, int rank, const int64_t *shape)
{
    size_t idx[IR_MAX_RANK + 2] = {0};
    for (int d = rank - 1; d >= 0; d--) {
        idx[d] = flat % (size_t)shape[d];
        flat /= (size_t)shape[d];
    }
    int n = snprintf(buf, size, "[");
    for (int d = 0; d < rank && n < (int)size; d++)
        n += snprintf(buf + n, size - (size_t)n, "%s%zu", d ? "," : "", idx[d]);
    if (n < (int)size) snprintf(buf + n, size - (size_t)n, "]");
}

th_cmp th_compare(const char *what, const float *got, const double *ref,
                  int rank, const int64_t *shape, double rtol)
{
    size_t n = 1;
    for (int d = 0; d < rank; d++) n *= (size_t)shape[d];
    double scale = 1;
    for (size_t i = 0; i < n; i++)
        if (isfinite(ref[i]) && fabs(ref[i]) > scale) scale = fabs(ref[i]);
    th_cmp c = {.tol = rtol * scale, .ok = true};
    double worst_excess = -1; /* how far over (or under) the tolerance the worst is */
    for (size_t i = 0; i < n; i++) {
        double g = got[i], r = ref[i], excess;
        if (isnan(g) || isnan(r)) {
            excess = INFINITY;
        } else if (!isfinite(r) || !isfinite(g)) {
            excess = g == r ? -c.tol : INFINITY;
        } else {
            double err = fabs(g - r);
            if (err > c.max_err) c.max_err = err;
            excess = err - c.tol;
        }
        if (excess > 0) c.nbad++;
        if (excess > worst_excess) {
            worst_excess = excess;
            c.worst = i;
        }
    }
    c.ok = c.nbad == 0;
    if (c.ok && getenv("TH_VERBOSE"))
        fprintf(stderr, "%s: ok, max_err %.3g (tol %.3g)\n", what, c.max_err, c.tol);
    if (!c.ok) {
        char where[96];
        format_index(where, sizeof where, c.worst, rank, shape);
        fprintf(stderr, "%s: %zu bad of %zu, worst %s got %.8g ref %.8g (max_err %.3g, tol %.3g)\n",
                what, c.nbad, n, where, (double)got[c.worst], ref[c.worst], c.max_err, c.tol);
    }
    return c;
}

bool th_check(const char *what, const float *got, const double *ref,
              int rank, const int64_t *shape, double rtol)
{
    return th_compare(what, got, ref, rank, shape, rtol).ok;
}

bool th_check_masked_rows(const char *what, const float *o, const float *lse,
                          const double *ref_lse, size_t rows, size_t width)
{
    for (size_t r = 0; r < rows; r++) {
        if (ref_lse[r] != -INFINITY) continue;
        if (!(lse[r] == -INFINITY)) {
            fprintf(stderr, "%s: row %zu is fully masked but lse = %.8g (want -inf)\n",
                    what, r, (double)lse[r]);
            return false;
        }
        for (size_t c = 0; c < width; c++)
            if (o[r * width + c] != 0) {
                fprintf(stderr, "%s: row %zu is fully masked but o[%zu] = %.8g (want 0)\n",
                        what, r, c, (double)o[r * width + c]);
                return false;
            }
    }
    return true;
}

double th_rtol(ir_dtype dt)
{
    switch (dt) {
    case IR_F32: return 1e-5;
    case IR_BF16: return 2e-2;
    case IR_F16: return 5e-3;
    default: return 0;
    }
}

bool th_check_attention(const char *label, const attn_dims *d, ir_dtype T, const float *o,
                        const float *lse, const double *ref_o, const double *ref_lse)
{
    char what[320];
    snprintf(what, sizeof what, "%s Z=%d H=%d HK=%d M=%d N=%d: O", label, d->Z, d->H, d->HK,
             d->M, d->N);
    bool ok = th_check(what, o, ref_o, TH_DIMS(d->Z, d->H, d->M, d->D), th_rtol(T));
    snprintf(what, sizeof what, "%s Z=%d H=%d HK=%d M=%d N=%d: LSE", label, d->Z, d->H, d->HK,
             d->M, d->N);
    ok = th_check(what, lse, ref_lse, TH_DIMS(d->Z, d->H, d->M), th_rtol(IR_F32)) && ok;
    size_t rows = (size_t)d->Z * (size_t)d->H * (size_t)d->M;
    return th_check_masked_rows(what, o, lse, ref_lse, rows, (size_t)d->D) && ok;
}
