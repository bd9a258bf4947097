/* dynsparse_prefill.c - dynamic sparse prefill from C through tile.h: the
 * FlexPrefill chain of lib/attention/flexprefill.tile (pool the keys and
 * the queries, estimate block scores, the last query block's row from exact
 * attention in runs of key blocks, select key blocks per head and query
 * block until their estimated mass reaches tau), then
 * block_sparse_fwd_causal over the selection, all on the device with no
 * host round trip between the stages.
 * Then the check: dense flash_fwd_causal on the same inputs and
 * flex_kept_mass, the fraction of every row's true softmax mass the
 * selection kept; and the sparse output against a double reference that
 * attends over the blocks the kernels chose (read back for the check only).
 *
 *   GPU          M = N = 16384, timed per stage and against dense attention.
 *   interpreter  (no GPU, or TILE_INTERPRET=1) a small problem, every row.
 * Prints the kept blocks, the kept mass and the error; exits 0 when the
 * error is within the f32 tolerance, 1 otherwise.
 *
 * usage: dynsparse_prefill [LIBDIR] */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tile.h"

typedef struct problem {
    int Z, H, HK, M, N, D, BM, BN;
    float tau;
} problem;

static const problem GPU_PROBLEM = {1, 8, 8, 16384, 16384, 128, 64, 64, 0.9f};
static const problem CPU_PROBLEM = {1, 4, 2, 200, 200, 32, 32, 32, 0.9f};
static const double TOLERANCE = 1e-4; /* f32 */

typedef struct named {
    const char *name;
    tile_arg arg;
} named;

static int fail(const char *what)
{
    fprintf(stderr, "dynsparse_prefill: %s failed:\n%s\n", what, tile_last_error());
    return 1;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Launches k with the arguments matched to its parameters by name. */
static tile_status launch(tile_kernel *k, const named *a, int n)
{
    tile_arg args[16] = {{0}};
    int np = tile_kernel_nparams(k);
    for (int i = 0; i < np && i < 16; i++) {
        tile_param_info info;
        tile_kernel_param(k, i, &info);
        for (int j = 0; j < n; j++)
            if (strcmp(info.name, a[j].name) == 0) args[i] = a[j].arg;
    }
    return tile_launch(k, args, np, NULL);
}

static void *device_array(tile_context *ctx, size_t bytes, const void *init)
{
    void *p = NULL;
    if (tile_alloc(ctx, bytes, &p) != TILE_OK) return NULL;
    if (init && tile_upload(ctx, p, init, bytes) != TILE_OK) return NULL;
    return p;
}

static float *random_array(size_t n, uint64_t *seed)
{
    float *x = malloc(n * sizeof *x);
    if (!x) exit(1);
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(*seed >> 11) * 0x1.0p-53 * 2 - 1);
    }
    return x;
}

/* Structure that makes attention sparse, as in real text: every key block
 * and every query block leans toward one of four random directions, so a
 * query attends mostly to the key blocks of its own direction. */
static void add_topics(const problem *p, float *q, float *k, uint64_t *seed)
{
    float *topic = random_array((size_t)4 * p->D, seed);
    for (size_t r = 0; r < (size_t)p->Z * p->H * p->M; r++)
        for (int d = 0; d < p->D; d++) q[r * p->D + d] += 1.5f * topic[(r % p->M / p->BM * 7 % 4) * p->D + d];
    for (size_t r = 0; r < (size_t)p->Z * p->HK * p->N; r++)
        for (int d = 0; d < p->D; d++) k[r * p->D + d] += 1.5f * topic[(r % p->N / p->BN * 5 % 4) * p->D + d];
    free(topic);
}

/* The kernels of the chain, compiled once. */
enum { NSTAGES = 9 };

typedef struct chain {
    tile_kernel *pool, *pool_q, *estimate, *last_lse, *last_mass, *select, *sparse, *dense, *kept;
} chain;

static tile_status compile_chain(tile_context *ctx, const problem *p, int nbmax, chain *c)
{
    char d1[96], d2[128], d3[128], d4[96], d5[96], d6[96];
    snprintf(d1, sizeof d1, "T=f32,D=%d,BN=%d", p->D, p->BN);
    snprintf(d2, sizeof d2, "T=f32,D=%d,BM=%d,BN=%d", p->D, p->BM, p->BN);
    snprintf(d5, sizeof d5, "T=f32,D=%d,BM=%d", p->D, p->BM);
    snprintf(d6, sizeof d6, "D=%d,BM=%d,BN=%d", p->D, p->BM, p->BN);
    snprintf(d3, sizeof d3, "BM=%d,BN=%d,NBMAX=%d", p->BM, p->BN, nbmax);
    snprintf(d4, sizeof d4, "T=f32,D=%d", p->D);
    tile_status st;
    if ((st = tile_compile_file(ctx, "attention/flexprefill.tile", "flex_pool_k", d1, &c->pool)) ||
        (st = tile_compile_file(ctx, "attention/flexprefill.tile", "flex_pool_q", d5, &c->pool_q)) ||
        (st = tile_compile_file(ctx, "attention/flexprefill.tile", "flex_estimate", d6, &c->estimate)) ||
        (st = tile_compile_file(ctx, "attention/flexprefill.tile", "flex_last_lse", d2, &c->last_lse)) ||
        (st = tile_compile_file(ctx, "attention/flexprefill.tile", "flex_last_mass", d2, &c->last_mass)) ||
        (st = tile_compile_file(ctx, "attention/flexprefill.tile", "flex_select", d3, &c->select)) ||
        (st = tile_compile_file(ctx, "attention/block_sparse.tile", "block_sparse_fwd_causal", d2, &c->sparse)) ||
        (st = tile_compile_file(ctx, "attention/flash_fwd.tile", "flash_fwd_causal", d4, &c->dense)) ||
        (st = tile_compile_file(ctx, "attention/flexprefill.tile", "flex_kept_mass", "", &c->kept)))
        return st;
    return TILE_OK;
}

/* Row i of head h over the listed key blocks of its query block (causal),
 * in double; returns the LSE. */
static double ref_row(const problem *p, const float *q, const float *k, const float *v,
                      const int32_t *idx, const int32_t *cnt, int nbmax, int h, int i, double *o,
                      double *s)
{
    int hk = h / (p->H / p->HK), b = i / p->BM, mb = (p->M + p->BM - 1) / p->BM;
    const int32_t *list = idx + ((size_t)h * mb + b) * nbmax;
    const float *qi = q + ((size_t)h * p->M + i) * p->D;
    double mx = -INFINITY, sum = 0;
    for (int d = 0; d < p->D; d++) o[d] = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int t = 0; t < cnt[h * mb + b]; t++)
            for (int j = list[t] * p->BN; j < (list[t] + 1) * p->BN && j < p->N; j++) {
                if (j > i + (p->N - p->M)) continue;
                const float *kj = k + ((size_t)hk * p->N + j) * p->D, *vj = v + ((size_t)hk * p->N + j) * p->D;
                if (pass == 0) {
                    double dot = 0;
                    for (int d = 0; d < p->D; d++) dot += (double)qi[d] * kj[d];
                    s[j] = dot / sqrt(p->D);
                    mx = s[j] > mx ? s[j] : mx;
                    continue;
                }
                double e = exp(s[j] - mx);
                sum += e;
                for (int d = 0; d < p->D; d++) o[d] += e * vj[d];
            }
    for (int d = 0; d < p->D && sum > 0; d++) o[d] /= sum;
    return sum > 0 ? mx + log(sum) : -INFINITY;
}

int main(int argc, char **argv)
{
    tile_config cfg = {.lib_dir = argc > 1 ? argv[1] : NULL};
    tile_context *ctx;
    tile_status st = tile_open(&ctx, &cfg);
    if (st == TILE_ERR_NO_DEVICE) {
        cfg.mode = TILE_MODE_INTERPRET;
        st = tile_open(&ctx, &cfg);
    }
    if (st != TILE_OK) return fail("tile_open");
    tile_device_info dev;
    tile_device(ctx, &dev);
    const problem *p = dev.interpreted ? &CPU_PROBLEM : &GPU_PROBLEM;
    int mb = (p->M + p->BM - 1) / p->BM, nb = (p->N + p->BN - 1) / p->BN, nbmax = nb < 2 ? 2 : nb;
    chain c;
    if (compile_chain(ctx, p, nbmax, &c) != TILE_OK) return fail("compiling the chain");

    size_t nq = (size_t)p->Z * p->H * p->M * p->D, nk = (size_t)p->Z * p->HK * p->N * p->D;
    size_t nrows = (size_t)p->Z * p->H * p->M, nlists = (size_t)p->Z * p->H * mb;
    uint64_t seed = 7;
    float *q = random_array(nq, &seed), *k = random_array(nk, &seed), *v = random_array(nk, &seed);
    add_topics(p, q, k, &seed);
    void *dq = device_array(ctx, nq * 4, q), *dk = device_array(ctx, nk * 4, k), *dv = device_array(ctx, nk * 4, v);
    /* runs of key blocks for the exact last row: the split-KV rule */
    int64_t runs = 1;
    if (tile_split_count(ctx, (int64_t)p->Z * p->H, nb, &runs) != TILE_OK) return fail("tile_split_count");
    void *dkbar = device_array(ctx, (size_t)p->Z * p->HK * nb * p->D * 4, NULL);
    void *dqbar = device_array(ctx, nlists * p->D * 4, NULL);
    void *dpart = device_array(ctx, (size_t)p->Z * p->H * (size_t)runs * p->BM * 4, NULL);
    void *dest = device_array(ctx, nlists * nb * 4, NULL);
    void *didx = device_array(ctx, nlists * nbmax * 4, NULL), *dcnt = device_array(ctx, nlists * 4, NULL);
    void *dout = device_array(ctx, nq * 4, NULL), *dlse = device_array(ctx, nrows * 4, NULL);
    void *dout2 = device_array(ctx, nq * 4, NULL), *dlse2 = device_array(ctx, nrows * 4, NULL);
    void *dfrac = device_array(ctx, nrows * 4, NULL);
    if (!dq || !dk || !dv || !dkbar || !dqbar || !dpart || !dest || !didx || !dcnt || !dout || !dlse || !dout2 || !dlse2 || !dfrac)
        return fail("allocating");

    double scale = 1 / sqrt(p->D);
    int64_t sq[4] = {p->Z, p->H, p->M, p->D}, sk[4] = {p->Z, p->HK, p->N, p->D};
    int64_t skbar[4] = {p->Z, p->HK, nb, p->D}, sest[4] = {p->Z, p->H, mb, nb};
    int64_t sqbar[4] = {p->Z, p->H, mb, p->D}, spart[4] = {p->Z, p->H, runs, p->BM};
    int64_t sidx[4] = {p->Z, p->H, mb, nbmax}, srow[3] = {p->Z, p->H, p->M};
    tile_arg aq = tile_tensor(TILE_F32, dq, 4, sq, NULL), ak = tile_tensor(TILE_F32, dk, 4, sk, NULL);
    tile_arg av = tile_tensor(TILE_F32, dv, 4, sk, NULL), akbar = tile_tensor(TILE_F32, dkbar, 4, skbar, NULL);
    tile_arg aest = tile_tensor(TILE_F32, dest, 4, sest, NULL), aidx = tile_tensor(TILE_I32, didx, 4, sidx, NULL);
    tile_arg acnt = tile_tensor(TILE_I32, dcnt, 3, sidx, NULL), ascale = tile_scalar_float(TILE_F32, scale);
    tile_arg alse = tile_tensor(TILE_F32, dlse, 3, srow, NULL), alse2 = tile_tensor(TILE_F32, dlse2, 3, srow, NULL);
    tile_arg aqbar = tile_tensor(TILE_F32, dqbar, 4, sqbar, NULL), apart = tile_tensor(TILE_F32, dpart, 4, spart, NULL);
    tile_arg aM = tile_scalar_int(TILE_I32, p->M), aN = tile_scalar_int(TILE_I32, p->N);
    named stage[NSTAGES][9] = {
        {{"k", ak}, {"kbar", akbar}},
        {{"q", aq}, {"qbar", aqbar}},
        {{"qbar", aqbar}, {"kbar", akbar}, {"est", aest}, {"M", aM}, {"N", aN}, {"scale", ascale}},
        {{"q", aq}, {"k", ak}, {"lse_part", apart}, {"scale", ascale}},
        {{"q", aq}, {"k", ak}, {"lse_part", apart}, {"est", aest}, {"scale", ascale}},
        {{"est", aest}, {"kv_idx", aidx}, {"kv_cnt", acnt}, {"M", aM}, {"N", aN}, {"tau", tile_scalar_float(TILE_F32, p->tau)},
         {"keep", tile_scalar_int(TILE_I32, 0)}},
        {{"q", aq}, {"k", ak}, {"v", av}, {"kv_idx", aidx}, {"kv_cnt", acnt},
         {"o", tile_tensor(TILE_F32, dout, 4, sq, NULL)}, {"lse", alse}, {"scale", ascale}},
        {{"q", aq}, {"k", ak}, {"v", av}, {"o", tile_tensor(TILE_F32, dout2, 4, sq, NULL)}, {"lse", alse2},
         {"scale", ascale}},
        {{"lse_sparse", alse}, {"lse_dense", alse2}, {"frac", tile_tensor(TILE_F32, dfrac, 3, srow, NULL)}},
    };
    tile_kernel *kern[NSTAGES] = {c.pool,   c.pool_q, c.estimate, c.last_lse, c.last_mass,
                                  c.select, c.sparse, c.dense,    c.kept};
    const char *names[NSTAGES] = {"pool_k", "pool_q", "estimate", "last_lse", "last_mass",
                                  "select", "sparse", "dense",    "kept_mass"};
    int nargs[NSTAGES] = {2, 2, 6, 4, 5, 7, 8, 6, 3};
    double ms[NSTAGES];
    for (int s = 0; s < NSTAGES; s++) {
        int reps = dev.interpreted ? 1 : 5;
        if (!dev.interpreted && (launch(kern[s], stage[s], nargs[s]) || tile_sync(ctx, NULL))) return fail(names[s]);
        double t0 = now();
        for (int r = 0; r < reps; r++)
            if (launch(kern[s], stage[s], nargs[s]) != TILE_OK) return fail(names[s]);
        if (tile_sync(ctx, NULL) != TILE_OK) return fail(names[s]);
        ms[s] = (now() - t0) / reps * 1e3;
    }

    /* The check, on the host. */
    int32_t *idx = malloc(nlists * nbmax * 4), *cnt = malloc(nlists * 4);
    float *o = malloc(nq * 4), *lse = malloc(nrows * 4), *frac = malloc(nrows * 4);
    double *ref = malloc(sizeof(double) * (size_t)(p->D + p->N));
    if (!idx || !cnt || !o || !lse || !frac || !ref) return 1;
    if (tile_download(ctx, idx, didx, nlists * nbmax * 4) || tile_download(ctx, cnt, dcnt, nlists * 4) ||
        tile_download(ctx, o, dout, nq * 4) || tile_download(ctx, lse, dlse, nrows * 4) ||
        tile_download(ctx, frac, dfrac, nrows * 4))
        return fail("downloading");
    long kept_blocks = 0, causal_blocks = 0;
    for (size_t l = 0; l < nlists; l++) {
        int b = (int)(l % mb), last = ((b + 1) * p->BM < p->M ? (b + 1) * p->BM : p->M) - 1 + (p->N - p->M);
        kept_blocks += cnt[l];
        causal_blocks += last < 0 ? 0 : last / p->BN + 1;
    }
    double mass = 0, worst = 0;
    for (size_t r = 0; r < nrows; r++) mass += frac[r];
    size_t step = dev.interpreted ? 1 : 4093;
    for (size_t r = 0; r < nrows; r += step) {
        int i = (int)(r % p->M), h = (int)(r / p->M);
        double rl = ref_row(p, q, k, v, idx, cnt, nbmax, h, i, ref, ref + p->D);
        for (int d = 0; d < p->D; d++) {
            double e = fabs(o[r * p->D + d] - ref[d]) / (TOLERANCE * fmax(1, fabs(ref[d])));
            worst = e > worst || e != e ? e : worst;
        }
        double e = isinf(rl) ? (lse[r] == rl ? 0 : INFINITY) : fabs(lse[r] - rl) / (TOLERANCE * fmax(1, fabs(rl)));
        worst = e > worst || e != e ? e : worst;
    }
    bool ok = worst <= 1;
    printf("flexprefill %s H=%d HK=%d M=N=%d D=%d BM=BN=%d tau=%.2f: kept %.1f%% of the causal blocks, "
           "%.4f of the softmax mass; error/tol %.2f %s\n",
           dev.interpreted ? "interp" : dev.name, p->H, p->HK, p->M, p->D, p->BM, p->tau,
           100.0 * kept_blocks / causal_blocks, mass / nrows, worst, ok ? "OK" : "FAIL");
    if (!dev.interpreted) {
        double total = 0;
        printf("  ms:");
        for (int s = 0; s < 7; s++) printf(" %s %.3f", names[s], ms[s]), total += ms[s];
        printf(" = %.3f (%" PRId64 " runs); dense flash_fwd_causal %.3f\n", total, runs, ms[7]);
    }
    for (int s = 0; s < NSTAGES; s++) tile_kernel_free(kern[s]);
    void *bufs[] = {dq, dk, dv, dkbar, dqbar, dpart, dest, didx, dcnt, dout, dlse, dout2, dlse2, dfrac};
    for (size_t b = 0; b < sizeof bufs / sizeof bufs[0]; b++) tile_free(ctx, bufs[b]);
    free(q), free(k), free(v), free(idx), free(cnt), free(o), free(lse), free(frac), free(ref);
    tile_close(ctx);
    return ok ? 0 : 1;
}
