/* layout.c - interning, printing and checking layouts (see layout.h). */
#include "layout.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "support/arena.h"

static bool ints_equal(const int *a, const int *b, int n) { return memcmp(a, b, sizeof *a * (size_t)n) == 0; }

static bool layout_equal(const ir_layout *a, const ir_layout *b)
{
    if (a->kind != b->kind || a->rank != b->rank) return false;
    int r = a->rank;
    switch (a->kind) {
    case IR_LAYOUT_BLOCKED:
        return ints_equal(a->size_per_thread, b->size_per_thread, r) &&
               ints_equal(a->threads_per_warp, b->threads_per_warp, r) &&
               ints_equal(a->warps_per_cta, b->warps_per_cta, r) && ints_equal(a->order, b->order, r);
    case IR_LAYOUT_SLICE: return a->parent == b->parent && a->dim == b->dim;
    case IR_LAYOUT_MMA:
        return a->version == b->version && ints_equal(a->warps_per_cta, b->warps_per_cta, 2);
    case IR_LAYOUT_DOT_OPERAND:
        return a->parent == b->parent && a->opidx == b->opidx && a->kwidth == b->kwidth;
    case IR_LAYOUT_SHARED:
        return a->vec == b->vec && a->per_phase == b->per_phase && a->max_phase == b->max_phase &&
               a->swizzle == b->swizzle && ints_equal(a->order, b->order, r);
    }
    return false;
}

const ir_layout *ir_layout_intern(arena *mem, ir_layout_set *set, const ir_layout *l)
{
    for (const ir_layout *p = set->first; p; p = p->next)
        if (layout_equal(p, l)) return p;
    ir_layout *n = arena_alloc(mem, sizeof *n);
    if (!n) return NULL;
    *n = *l;
    n->next = set->first;
    set->first = n;
    return n;
}

int ir_layout_num_warps(const ir_layout *l)
{
    switch (l->kind) {
    case IR_LAYOUT_BLOCKED: {
        int n = 1;
        for (int i = 0; i < l->rank; i++) n *= l->warps_per_cta[i];
        return n;
    }
    case IR_LAYOUT_MMA: return l->warps_per_cta[0] * l->warps_per_cta[1];
    case IR_LAYOUT_SLICE:
    case IR_LAYOUT_DOT_OPERAND: return ir_layout_num_warps(l->parent);
    case IR_LAYOUT_SHARED: return 0;
    }
    return 0;
}

static int64_t cdiv64(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Elements per thread of a blocked layout over the dims of shape that are
 * not `skip` (-1: none): the pattern repeats to cover each dim. */
static int64_t blocked_elems(const ir_layout *l, const int64_t *shape, int skip)
{
    int64_t n = 1;
    for (int d = 0, s = 0; d < l->rank; d++) {
        if (d == skip) continue;
        int64_t cta = (int64_t)l->size_per_thread[d] * l->threads_per_warp[d] * l->warps_per_cta[d];
        n *= l->size_per_thread[d] * cdiv64(shape[s++], cta);
    }
    return n;
}

/* mma.sync m16n8: 4 accumulators per thread per 16x8 tile of a warp. */
static int64_t mma_elems(const ir_layout *l, int64_t m, int64_t n)
{
    int64_t reps_n = n == 1 ? 1 : cdiv64(n, 8 * (int64_t)l->warps_per_cta[1]);
    return cdiv64(m, 16 * (int64_t)l->warps_per_cta[0]) * reps_n * 4;
}

int64_t ir_layout_elems_per_thread(const ir_layout *l, int rank, const int64_t *shape)
{
    if (!l) return 0;
    switch (l->kind) {
    case IR_LAYOUT_BLOCKED: return rank == l->rank ? blocked_elems(l, shape, -1) : 0;
    case IR_LAYOUT_MMA: return rank == 2 ? mma_elems(l, shape[0], shape[1]) : 0;
    case IR_LAYOUT_DOT_OPERAND:
        if (rank != 2) return 0;
        /* A: the accumulator map of its rows (every warp column holds the
         * whole k extent); B: k16 x n8 tiles, 4 elements each. */
        if (l->opidx == 0)
            return cdiv64(shape[0], 16 * (int64_t)l->parent->warps_per_cta[0]) * cdiv64(shape[1], 8) * 4;
        return cdiv64(shape[0], 16) * cdiv64(shape[1], 8 * (int64_t)l->parent->warps_per_cta[1]) * 4;
    case IR_LAYOUT_SLICE: {
        const ir_layout *p = l->parent;
        if (rank != p->rank - 1) return 0;
        if (p->kind == IR_LAYOUT_BLOCKED) return blocked_elems(p, shape, l->dim);
        if (p->kind != IR_LAYOUT_MMA || rank != 1) return 0;
        /* Two rows (or two columns) of each 16x8 tile per thread. */
        return l->dim == 1 ? cdiv64(shape[0], 16 * (int64_t)p->warps_per_cta[0]) * 2
                           : cdiv64(shape[0], 8 * (int64_t)p->warps_per_cta[1]) * 2;
    }
    case IR_LAYOUT_SHARED: return 0;
    }
    return 0;
}

typedef struct sbuf {
    char *buf;
    size_t size, n;
} sbuf;

static void put(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *s, const char *fmt, ...)
{
    if (s->n >= s->size) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(s->buf + s->n, s->size - s->n, fmt, ap);
    va_end(ap);
    if (k > 0) s->n += (size_t)k;
}

static void put_ints(sbuf *s, const char *name, const int *v, int n)
{
    put(s, "%s=[", name);
    for (int i = 0; i < n; i++) put(s, "%s%d", i ? "," : "", v[i]);
    put(s, "]");
}

static void put_layout(sbuf *s, const ir_layout *l)
{
    switch (l->kind) {
    case IR_LAYOUT_BLOCKED:
        put(s, "#blocked<");
        put_ints(s, "spt", l->size_per_thread, l->rank);
        put_ints(s, ",tpw", l->threads_per_warp, l->rank);
        put_ints(s, ",wpc", l->warps_per_cta, l->rank);
        put_ints(s, ",order", l->order, l->rank);
        put(s, ">");
        return;
    case IR_LAYOUT_SLICE:
        put(s, "#slice<dim=%d,", l->dim);
        put_layout(s, l->parent);
        put(s, ">");
        return;
    case IR_LAYOUT_MMA:
        put(s, "#mma<v%d,", l->version);
        put_ints(s, "wpc", l->warps_per_cta, 2);
        put(s, ">");
        return;
    case IR_LAYOUT_DOT_OPERAND:
        put(s, "#dot_op<%d,kwidth=%d,", l->opidx, l->kwidth);
        put_layout(s, l->parent);
        put(s, ">");
        return;
    case IR_LAYOUT_SHARED:
        put(s, "#shared<vec=%d,per_phase=%d,max_phase=%d,", l->vec, l->per_phase, l->max_phase);
        put_ints(s, "order", l->order, l->rank);
        if (l->swizzle) put(s, ",swizzle=%d", l->swizzle);
        put(s, ">");
        return;
    }
}

char *ir_layout_str(const ir_layout *l, char *buf, size_t size)
{
    if (!size) return buf;
    buf[0] = 0;
    sbuf s = {buf, size, 0};
    put_layout(&s, l);
    return buf;
}

static bool is_perm(const int *order, int n)
{
    bool seen[IR_LAYOUT_MAX_RANK] = {false};
    for (int i = 0; i < n; i++) {
        if (order[i] < 0 || order[i] >= n || seen[order[i]]) return false;
        seen[order[i]] = true;
    }
    return true;
}

static bool blocked_valid(const ir_layout *l, int num_warps, const char **why)
{
    int lanes = 1, warps = 1;
    for (int i = 0; i < l->rank; i++) {
        if (l->size_per_thread[i] < 1 || l->threads_per_warp[i] < 1 || l->warps_per_cta[i] < 1) {
            *why = "a blocked layout needs positive sizes";
            return false;
        }
        lanes *= l->threads_per_warp[i];
        warps *= l->warps_per_cta[i];
    }
    if (lanes != 32) {
        *why = "threads_per_warp does not multiply to 32";
        return false;
    }
    if (warps != num_warps) {
        *why = "warps_per_cta does not multiply to the module's num_warps";
        return false;
    }
    if (!is_perm(l->order, l->rank)) {
        *why = "order is not a permutation of the dims";
        return false;
    }
    return true;
}

bool ir_layout_valid(const ir_layout *l, int rank, int num_warps, const char **why)
{
    if (l->rank != rank) {
        *why = "layout rank differs from the tile's";
        return false;
    }
    switch (l->kind) {
    case IR_LAYOUT_BLOCKED: return blocked_valid(l, num_warps, why);
    case IR_LAYOUT_SLICE:
        if (!l->parent || l->parent->rank != rank + 1 || l->dim < 0 || l->dim > rank) {
            *why = "slice: parent must have one more dim, dim in range";
            return false;
        }
        return ir_layout_valid(l->parent, rank + 1, num_warps, why);
    case IR_LAYOUT_MMA:
        if (rank != 2 || (l->version != 2 && l->version != 3) || l->warps_per_cta[0] < 1 ||
            l->warps_per_cta[1] < 1 || l->warps_per_cta[0] * l->warps_per_cta[1] != num_warps) {
            *why = "mma: rank 2, version 2 or 3, warps_per_cta multiplying to num_warps";
            return false;
        }
        if (l->version == 3 && l->warps_per_cta[0] % 4 != 0) {
            *why = "mma v3 (wgmma): warps_per_cta[0] must be a multiple of 4 (whole warpgroups along M)";
            return false;
        }
        return true;
    case IR_LAYOUT_DOT_OPERAND:
        if (rank != 2 || !l->parent || l->parent->kind != IR_LAYOUT_MMA || l->opidx < 0 ||
            l->opidx > 1 || l->kwidth < 1) {
            *why = "dot_operand: rank 2, an mma parent, opidx 0 or 1";
            return false;
        }
        return ir_layout_valid(l->parent, 2, num_warps, why);
    case IR_LAYOUT_SHARED:
        /* A buffer in shared memory (ir.h: LOCAL_ALLOC and its views). */
        if (l->vec < 1 || l->per_phase < 1 || l->max_phase < 1 || !is_perm(l->order, rank)) {
            *why = "shared: vec, per_phase, max_phase >= 1 and order a permutation of the dims";
            return false;
        }
        if (l->swizzle != 0 && (l->swizzle != 128 || l->per_phase != 1 || l->max_phase != 8 || rank < 2)) {
            *why = "shared: swizzle=128 needs per_phase=1, max_phase=8 and rank >= 2";
            return false;
        }
        return true;
    }
    *why = "unknown layout kind";
    return false;
}
