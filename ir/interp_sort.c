/* interp_sort.c - the interpreter's SORT and TOPK (ir.h): a stable sort of
 * every line along one axis, on (key, index) pairs.
 *
 * Floats are compared through an integer key that orders every f32 value
 * totally (-inf < .. < -0.0 < +0.0 < .. < +inf < NaN, all NaNs one key), so
 * the comparison is a plain integer one and the same key is what the GPU
 * lowering (codegen/cg_sort.c) computes.  The index is the second key, which
 * makes qsort stable and breaks ties toward the lower index in both
 * directions. */
#include "interp_impl.h"

#include <stdlib.h>
#include <string.h>

typedef struct sort_item {
    int64_t key, index;
} sort_item;

int64_t iop_sort_key_f32(float x)
{
    if (x != x) return (int64_t)UINT32_MAX;
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    return (int64_t)(bits & 0x80000000u ? ~bits : bits | 0x80000000u);
}

static int by_key_up(const void *pa, const void *pb)
{
    const sort_item *a = pa, *b = pb;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

static int by_key_down(const void *pa, const void *pb)
{
    const sort_item *a = pa, *b = pb;
    if (a->key != b->key) return a->key > b->key ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

tile_status iop_sort(bool descending, ir_dtype t, int rank, const int64_t *shape, int axis,
                     int64_t k, const void *xv, void *values, int64_t *indices)
{
    if (axis < 0 || axis >= rank || t == IR_BOOL || k < 1 || k > shape[axis])
        return TILE_ERR_INTERNAL;
    int64_t outer = 1, len = shape[axis], inner = 1;
    for (int d = 0; d < axis; d++) outer *= shape[d];
    for (int d = axis + 1; d < rank; d++) inner *= shape[d];
    sort_item *line = malloc((size_t)len * sizeof *line);
    if (!line) return TILE_ERR_NOMEM;
    bool is_float = ir_dtype_is_float(t);
    const float *xf = xv;
    const int64_t *xi = xv;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * len * inner + i, rbase = o * k * inner + i;
            for (int64_t l = 0; l < len; l++) {
                int64_t at = base + l * inner;
                line[l] = (sort_item){is_float ? iop_sort_key_f32(xf[at]) : xi[at], l};
            }
            qsort(line, (size_t)len, sizeof *line, descending ? by_key_down : by_key_up);
            for (int64_t l = 0; l < k; l++) {
                int64_t from = base + line[l].index * inner, to = rbase + l * inner;
                if (is_float) ((float *)values)[to] = xf[from];
                else ((int64_t *)values)[to] = xi[from];
                indices[to] = line[l].index;
            }
        }
    free(line);
    return TILE_OK;
}
