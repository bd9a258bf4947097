/* rng.c - see rng.h. */
#include "rng.h"

#include <stdio.h>
#include <stdlib.h>

#include "support/fp16.h"

/* ---- random numbers ------------------------------------------------------------ */
th_rng th_rng_new(uint64_t seed) { return (th_rng){.state = seed * 0x9e3779b97f4a7c15ull + 1}; }

uint64_t th_rng_next(th_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double th_rng_uniform(th_rng *r) { return (double)(th_rng_next(r) >> 11) * 0x1.0p-53; }

int th_rng_int(th_rng *r, int n) { return n <= 0 ? 0 : (int)(th_rng_next(r) % (uint64_t)n); }

void th_rng_shuffle(th_rng *r, int32_t *x, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = th_rng_int(r, i + 1);
        int32_t t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
}

float th_round(float x, ir_dtype dt)
{
    switch (dt) {
    case IR_BF16: return fp_round_bf16(x);
    case IR_F16: return fp_round_f16(x);
    default: return x;
    }
}

void th_fill(th_rng *r, float *x, size_t n, float lo, float hi, ir_dtype dt)
{
    for (size_t i = 0; i < n; i++)
        x[i] = th_round((float)(lo + (hi - lo) * th_rng_uniform(r)), dt);
}

void *th_alloc(size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "harness: out of memory (%zu bytes)\n", bytes);
        abort();
    }
    return p;
}
