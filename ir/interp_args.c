/* interp_args.c - launch argument checks (see interp.h): every tensor's
 * dtype, rank, data pointer, sizes (static and same-named dims) and strides,
 * and scalar ranges, each problem reported at its parameter's location. */
#include <inttypes.h>
#include <string.h>

#include "interp.h"
#include "interp_impl.h"

static const char *pname(const ir_param *p) { return p->name ? p->name : "?"; }

/* Checks one tensor argument alone: dtype, rank, data, sizes, strides. */
static bool check_tensor_arg(diag_ctx *d, const ir_param *p, const interp_tensor *t)
{
    if (t->dtype != p->type.dtype) {
        diag_error(d, p->loc, "argument '%s': expected tensor<%s>, got tensor<%s>", pname(p),
                   ir_dtype_name(p->type.dtype),
                   (unsigned)t->dtype < IR_DTYPE_COUNT ? ir_dtype_name(t->dtype) : "?");
        return false;
    }
    if (t->rank != p->type.rank) {
        diag_error(d, p->loc, "argument '%s': expected a tensor of rank %d, got rank %d",
                   pname(p), p->type.rank, t->rank);
        return false;
    }
    if (!t->data) {
        diag_error(d, p->loc, "argument '%s': data pointer is NULL", pname(p));
        return false;
    }
    bool ok = true;
    uint64_t max_off = 0;
    for (int i = 0; i < t->rank; i++) {
        const ir_dim *dim = &p->dims[i];
        int64_t size = t->shape[i];
        char label[96];
        if (dim->name) snprintf(label, sizeof label, "dimension '%s'", dim->name);
        else snprintf(label, sizeof label, "dimension %d", i);
        if (size < 0 || size > INT32_MAX) {
            diag_error(d, p->loc, "argument '%s': %s is %" PRId64 ", outside 0..%d", pname(p),
                       label, size, INT32_MAX);
            ok = false;
            continue;
        }
        if (dim->size >= 0 && size != dim->size) {
            diag_error(d, p->loc, "argument '%s': %s is %" PRId64 ", expected %" PRId64,
                       pname(p), label, size, dim->size);
            ok = false;
        }
        int64_t stride = t->strides[i];
        if (size > 1) {
            uint64_t mag = stride < 0 ? 0 - (uint64_t)stride : (uint64_t)stride;
            uint64_t limit = (uint64_t)INT64_MAX / 16;
            if (mag > limit / (uint64_t)(size - 1) ||
                (max_off += mag * (uint64_t)(size - 1)) > limit) {
                diag_error(d, p->loc, "argument '%s': strides address beyond 2^59 elements",
                           pname(p));
                ok = false;
                max_off = 0;
            }
        }
    }
    return ok;
}

bool interp_check_args(diag_ctx *d, const ir_func *k, const interp_arg *args, int nargs)
{
    if (nargs != k->nparams || (nargs > 0 && !args)) {
        diag_error(d, k->loc, "kernel '%s' takes %d argument%s, got %d",
                   k->name ? k->name : "?", k->nparams, k->nparams == 1 ? "" : "s", nargs);
        return false;
    }
    bool ok = true;
    for (int i = 0; i < k->nparams; i++) {
        const ir_param *p = &k->params[i];
        if (p->type.kind == IR_TY_TENSOR) {
            if (!check_tensor_arg(d, p, &args[i].tensor)) {
                ok = false;
                continue;
            }
            /* Same-named dims agree with the first dim that has the name. */
            for (int dd = 0; dd < p->type.rank; dd++) {
                const char *name = p->dims[dd].name;
                if (!name) continue;
                bool done = false;
                for (int j = 0; j <= i && !done; j++) {
                    const ir_param *q = &k->params[j];
                    if (q->type.kind != IR_TY_TENSOR) continue;
                    for (int e = 0; e < (j == i ? dd : q->type.rank) && !done; e++) {
                        if (!q->dims[e].name || strcmp(q->dims[e].name, name) != 0) continue;
                        done = true;
                        int64_t mine = args[i].tensor.shape[dd];
                        int64_t theirs = args[j].tensor.rank == q->type.rank
                                             ? args[j].tensor.shape[e] : mine;
                        if (mine != theirs && j == i) {
                            diag_error(d, p->loc,
                                       "argument '%s': dimension '%s' is both %" PRId64
                                       " and %" PRId64, pname(p), name, theirs, mine);
                            ok = false;
                        } else if (mine != theirs) {
                            diag_error(d, p->loc,
                                       "argument '%s': dimension '%s' is %" PRId64
                                       " but '%s' has %" PRId64,
                                       pname(p), name, mine, pname(q), theirs);
                            ok = false;
                        }
                    }
                }
            }
        } else if (p->type.kind != IR_TY_TILE || p->type.rank != 0) {
            diag_error(d, p->loc, "argument '%s': parameter is not a scalar or tensor",
                       pname(p));
            ok = false;
        } else if (p->type.dtype == IR_I32 &&
                   (args[i].scalar.i < INT32_MIN || args[i].scalar.i > INT32_MAX)) {
            diag_error(d, p->loc, "argument '%s': %" PRId64 " does not fit in i32",
                       pname(p), args[i].scalar.i);
            ok = false;
        }
    }
    return ok;
}

