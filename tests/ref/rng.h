/* rng.h - seeded random numbers, rounding to a 16-bit dtype and checked
 * allocation for the tests: the part of harness.h that needs no compiler.
 * Its own object (rng.c, library tilerng, on tilesupport only), so that
 * test_gpu, which runs everything through libtile.so, links neither the
 * compiler nor LLVM a second time. */
#ifndef TILE_TEST_RNG_H
#define TILE_TEST_RNG_H

#include <stddef.h>
#include <stdint.h>

#include "ir/ir.h" /* ir_dtype: an enum, nothing to link */

/* ---- random numbers (splitmix64: tiny, seedable, same everywhere) ---------- */
typedef struct th_rng {
    uint64_t state;
} th_rng;

th_rng th_rng_new(uint64_t seed);
uint64_t th_rng_next(th_rng *r);
double th_rng_uniform(th_rng *r);          /* [0, 1) */
int th_rng_int(th_rng *r, int n);          /* [0, n) */
void th_rng_shuffle(th_rng *r, int32_t *x, int n);

/* What a float holds after a round trip through dtype (f32: unchanged). */
float th_round(float x, ir_dtype dt);
/* x[0..n) uniform in [lo, hi), each rounded to dt. */
void th_fill(th_rng *r, float *x, size_t n, float lo, float hi, ir_dtype dt);

/* Allocation that aborts on failure (test code only). */
void *th_alloc(size_t bytes);
#define TH_NEW(type, n) ((type *)th_alloc(sizeof(type) * (size_t)(n)))

#endif
