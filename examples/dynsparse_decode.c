/* dynsparse_decode.c - token-selection decoding from C through tile.h
 * (TokenSelect, lib/attention/token_select.tile): over a paged KV cache,
 * score every cached key per key/value head (the group's query heads'
 * softmaxes summed; ts_logits reads each key once, ts_score_logits
 * normalises), keep the sinks, the recent window and the top K tokens, and
 * attend over those only through ts_decode_gqa and decode.tile's
 * decode_merge, all on the device.  The split counts are the runtime's
 * (tile_split_count, from the shape and the SM count).  Then the check:
 * dense decoding (decode_gqa + decode_merge) on the same cache, the kept
 * share of the softmax mass (exp(LSE_sparse - LSE_dense)), and the sparse
 * output against a double reference over the tokens the kernels chose (read
 * back for the check only; -1 marks an empty slot of a list).
 *
 *   GPU          Z = 4 sequences of 32768 tokens, K = 2048, timed per stage.
 *   interpreter  (no GPU, or TILE_INTERPRET=1) a small cache, every head.
 * Exits 0 when the error is within the f32 tolerance, 1 otherwise.
 *
 * usage: dynsparse_decode [LIBDIR] */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tile.h"

typedef struct problem {
    int Z, H, HK, D, PS, n;          /* every sequence holds n tokens */
    int K, C, S, W, NCMAX;           /* top K in chunks of C; sinks, window */
} problem;

static const problem GPU_PROBLEM = {4, 32, 8, 128, 16, 32768, 2048, 4096, 4, 64, 8};
static const problem CPU_PROBLEM = {2, 4, 2, 32, 16, 301, 24, 64, 4, 16, 5};
enum { BT = 64 };                    /* ts_decode_gqa's tokens per step (its default) */
static const double TOLERANCE = 1e-4;

typedef struct named {
    const char *name;
    tile_arg arg;
} named;

static int fail(const char *what)
{
    fprintf(stderr, "dynsparse_decode: %s failed:\n%s\n", what, tile_last_error());
    return 1;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

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

static float *random_array(size_t n, uint64_t *seed, float amp)
{
    float *x = malloc(n * sizeof *x);
    if (!x) exit(1);
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = amp * (float)((double)(*seed >> 11) * 0x1.0p-53 * 2 - 1);
    }
    return x;
}

/* As in real caches, a few keys draw most of the attention: every 23rd
 * position (scattered) leans toward its group's first query. */
static void add_heavy_hitters(const problem *p, const float *q, float *kc, const int32_t *table, int maxp)
{
    for (int z = 0; z < p->Z; z++)
        for (int j = 0; j < p->n; j++) {
            if ((j * 37) % 23 != 0) continue;
            size_t slot = (size_t)table[z * maxp + j / p->PS] * p->PS + j % p->PS;
            for (int g = 0; g < p->HK; g++)
                for (int d = 0; d < p->D; d++)
                    kc[(slot * p->HK + g) * p->D + d] += 1.0f * q[((size_t)z * p->H + g * (p->H / p->HK)) * p->D + d];
        }
}

typedef struct kernels {
    tile_kernel *logits, *score, *chunk, *select, *split, *combine, *dense;
} kernels;

/* No split count here: the kernels take it from the partials' shapes. */
static tile_status compile_all(tile_context *ctx, const problem *p, kernels *k)
{
    char a[96], b[96], c[96], d[96], e[96], f[96];
    const char *ts = "attention/token_select.tile", *dc = "attention/decode.tile";
    int G = p->H / p->HK;
    snprintf(a, sizeof a, "T=f32,D=%d,G=%d,PS=%d", p->D, G, p->PS);
    snprintf(b, sizeof b, "K=%d,C=%d,S=%d,W=%d", p->K, p->C, p->S, p->W);
    snprintf(c, sizeof c, "K=%d,NCMAX=%d,S=%d,W=%d", p->K, p->NCMAX, p->S, p->W);
    snprintf(d, sizeof d, "G=%d", G);
    snprintf(e, sizeof e, "T=f32,D=%d", p->D);
    snprintf(f, sizeof f, "T=f32,D=%d,G=%d,PS=%d,BT=%d", p->D, G, p->PS, BT);
    tile_status st;
    if ((st = tile_compile_file(ctx, ts, "ts_logits", a, &k->logits)) ||
        (st = tile_compile_file(ctx, ts, "ts_score_logits", d, &k->score)) ||
        (st = tile_compile_file(ctx, ts, "ts_select_chunk", b, &k->chunk)) ||
        (st = tile_compile_file(ctx, ts, "ts_select", c, &k->select)) ||
        (st = tile_compile_file(ctx, ts, "ts_decode_gqa", f, &k->split)) ||
        (st = tile_compile_file(ctx, dc, "decode_merge", e, &k->combine)) ||
        (st = tile_compile_file(ctx, dc, "decode_gqa", a, &k->dense)))
        return st;
    return TILE_OK;
}

/* Attention of query head h of sequence z over the listed positions, in
 * double (the cache is [P, PS, HK, D], pages in table order); returns the LSE. */
static double ref_head(const problem *p, const float *q, const float *kc, const float *vc,
                       const int32_t *table, int maxp, const int32_t *list, int cnt, int z, int h,
                       double *o)
{
    int g = h / (p->H / p->HK);
    const float *qh = q + ((size_t)z * p->H + h) * p->D;
    double mx = -INFINITY, sum = 0, *s = malloc(sizeof(double) * (size_t)(cnt > 0 ? cnt : 1));
    if (!s) exit(1);
    for (int t = 0; t < cnt; t++) {
        int j = list[t];
        if (j < 0) continue; /* an empty slot */
        size_t slot = (size_t)table[z * maxp + j / p->PS] * p->PS + j % p->PS;
        const float *kj = kc + (slot * p->HK + g) * p->D;
        double dot = 0;
        for (int d = 0; d < p->D; d++) dot += (double)qh[d] * kj[d];
        s[t] = dot / sqrt(p->D);
        mx = s[t] > mx ? s[t] : mx;
    }
    for (int d = 0; d < p->D; d++) o[d] = 0;
    for (int t = 0; t < cnt; t++) {
        int j = list[t];
        if (j < 0) continue;
        size_t slot = (size_t)table[z * maxp + j / p->PS] * p->PS + j % p->PS;
        const float *vj = vc + (slot * p->HK + g) * p->D;
        double e = exp(s[t] - mx);
        sum += e;
        for (int d = 0; d < p->D; d++) o[d] += e * vj[d];
    }
    for (int d = 0; d < p->D && sum > 0; d++) o[d] /= sum;
    free(s);
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
    kernels kn;
    if (compile_all(ctx, p, &kn) != TILE_OK) return fail("compiling");

    /* The cache: every sequence's pages scattered over the pool. */
    int maxp = (p->n + p->PS - 1) / p->PS, P = p->Z * maxp, ns = P * p->PS;
    int nmax = p->n, nck = (nmax + p->C - 1) / p->C * p->K, tmax = p->S + p->W + p->K;
    if (nck > p->NCMAX * p->K) return fail("NCMAX too small for the context");
    /* split counts: the dense pass (and the scores) over the pages, the
     * sparse attention over the steps of a token list */
    int64_t s_dense, s_sparse;
    if (tile_split_count(ctx, (int64_t)p->Z * p->HK, maxp, &s_dense) != TILE_OK ||
        tile_split_count(ctx, (int64_t)p->Z * p->HK, (tmax + BT - 1) / BT, &s_sparse) != TILE_OK)
        return fail("tile_split_count");
    int64_t smax = s_dense > s_sparse ? s_dense : s_sparse;
    uint64_t seed = 3;
    size_t nq = (size_t)p->Z * p->H * p->D, nkv = (size_t)ns * p->HK * p->D;
    float *q = random_array(nq, &seed, 2.0f), *kc = random_array(nkv, &seed, 1.0f);
    float *vc = random_array(nkv, &seed, 1.0f);
    int32_t *table = malloc(sizeof(int32_t) * (size_t)P), *lens = malloc(sizeof(int32_t) * (size_t)p->Z);
    if (!table || !lens) return 1;
    for (int i = 0; i < P; i++) table[i] = (int32_t)((i * 7919L) % P); /* 7919 is prime to P here */
    for (int z = 0; z < p->Z; z++) lens[z] = p->n;
    add_heavy_hitters(p, q, kc, table, maxp);
    size_t nheads = (size_t)p->Z * p->H, ngroups = (size_t)p->Z * p->HK;
    void *dq = device_array(ctx, nq * 4, q), *dk = device_array(ctx, nkv * 4, kc), *dv = device_array(ctx, nkv * 4, vc);
    void *dt = device_array(ctx, (size_t)P * 4, table), *dl = device_array(ctx, (size_t)p->Z * 4, lens);
    void *dlp = device_array(ctx, nheads * smax * 4, NULL), *dsc = device_array(ctx, ngroups * nmax * 4, NULL);
    void *dlg = device_array(ctx, nheads * nmax * 4, NULL);
    void *dcs = device_array(ctx, ngroups * nck * 4, NULL), *dcp = device_array(ctx, ngroups * nck * 4, NULL);
    void *dti = device_array(ctx, ngroups * tmax * 4, NULL), *dtc = device_array(ctx, ngroups * 4, NULL);
    void *dop = device_array(ctx, nheads * smax * p->D * 4, NULL), *dlp2 = device_array(ctx, nheads * smax * 4, NULL);
    void *dout = device_array(ctx, nheads * p->D * 4, NULL), *dlse = device_array(ctx, nheads * 4, NULL);
    void *dout2 = device_array(ctx, nheads * p->D * 4, NULL), *dlse2 = device_array(ctx, nheads * 4, NULL);
    if (!dlg || !dq || !dk || !dv || !dt || !dl || !dlp || !dsc || !dcs || !dcp || !dti || !dtc || !dop || !dlp2 ||
        !dout || !dlse || !dout2 || !dlse2)
        return fail("allocating");

    int64_t sq[3] = {p->Z, p->H, p->D}, sslot[3] = {ns, p->HK, p->D};
    int64_t st2[2] = {p->Z, maxp}, sl[1] = {p->Z}, slp[3] = {p->Z, p->H, s_dense};
    int64_t ssc[3] = {p->Z, p->HK, nmax}, sck[3] = {p->Z, p->HK, nck}, sti[3] = {p->Z, p->HK, tmax};
    int64_t sop[4] = {p->Z, p->H, s_sparse, p->D}, slp2[3] = {p->Z, p->H, s_sparse};
    int64_t sopd[4] = {p->Z, p->H, s_dense, p->D}, slg[3] = {p->Z, p->H, nmax};
    tile_arg aq = tile_tensor(TILE_F32, dq, 3, sq, NULL), ak = tile_tensor(TILE_F32, dk, 3, sslot, NULL);
    tile_arg av = tile_tensor(TILE_F32, dv, 3, sslot, NULL), at = tile_tensor(TILE_I32, dt, 2, st2, NULL);
    tile_arg al = tile_tensor(TILE_I32, dl, 1, sl, NULL), alp = tile_tensor(TILE_F32, dlp, 3, slp, NULL);
    tile_arg asc = tile_tensor(TILE_F32, dsc, 3, ssc, NULL), acs = tile_tensor(TILE_F32, dcs, 3, sck, NULL);
    tile_arg acp = tile_tensor(TILE_I32, dcp, 3, sck, NULL), ati = tile_tensor(TILE_I32, dti, 3, sti, NULL);
    tile_arg atc = tile_tensor(TILE_I32, dtc, 2, sti, NULL), aop = tile_tensor(TILE_F32, dop, 4, sop, NULL);
    tile_arg alp2 = tile_tensor(TILE_F32, dlp2, 3, slp2, NULL), scale = tile_scalar_float(TILE_F32, 1 / sqrt(p->D));
    tile_arg aout = tile_tensor(TILE_F32, dout, 3, sq, NULL), alse = tile_tensor(TILE_F32, dlse, 2, sq, NULL);
    tile_arg aout2 = tile_tensor(TILE_F32, dout2, 3, sq, NULL), alse2 = tile_tensor(TILE_F32, dlse2, 2, sq, NULL);
    tile_arg alg = tile_tensor(TILE_F32, dlg, 3, slg, NULL);
    tile_arg aopd = tile_tensor(TILE_F32, dop, 4, sopd, NULL), alpd = tile_tensor(TILE_F32, dlp2, 3, slp, NULL);
    named stage[8][9] = {
        {{"q", aq}, {"k_slots", ak}, {"block_table", at}, {"seq_lens", al}, {"logits", alg}, {"lse_part", alp},
         {"scale", scale}},
        {{"logits", alg}, {"lse_part", alp}, {"seq_lens", al}, {"score", asc}},
        {{"score", asc}, {"seq_lens", al}, {"cand_score", acs}, {"cand_pos", acp}},
        {{"cand_score", acs}, {"cand_pos", acp}, {"seq_lens", al}, {"tok_idx", ati}, {"tok_cnt", atc}},
        {{"q", aq}, {"k_slots", ak}, {"v_slots", av}, {"block_table", at}, {"tok_idx", ati}, {"tok_cnt", atc},
         {"o_part", aop}, {"lse_part", alp2}, {"scale", scale}},
        {{"o_part", aop}, {"lse_part", alp2}, {"o", aout}, {"lse", alse}},
        /* dense decoding over the same (flat) cache */
        {{"q", aq}, {"k_slots", ak}, {"v_slots", av}, {"block_table", at}, {"seq_lens", al},
         {"o_part", aopd}, {"lse_part", alpd}, {"scale", scale}},
        {{"o_part", aopd}, {"lse_part", alpd}, {"o", aout2}, {"lse", alse2}},
    };
    tile_kernel *kern[8] = {kn.logits, kn.score, kn.chunk, kn.select, kn.split, kn.combine, kn.dense, kn.combine};
    int nargs[8] = {7, 4, 4, 5, 9, 4, 8, 4};
    double ms[8];
    for (int s = 0; s < 8; s++) {
        int runs = dev.interpreted ? 1 : 5;
        double t0 = now();
        for (int r = 0; r < runs; r++)
            if (launch(kern[s], stage[s], nargs[s]) != TILE_OK) return fail("a launch");
        if (tile_sync(ctx, NULL) != TILE_OK) return fail("a stage");
        ms[s] = (now() - t0) / runs * 1e3;
    }

    int32_t *ti = malloc(ngroups * tmax * 4), *tc = malloc(ngroups * 4);
    float *o = malloc(nheads * p->D * 4), *lse = malloc(nheads * 4), *lse2 = malloc(nheads * 4);
    double *ref = malloc(sizeof(double) * (size_t)p->D);
    if (!ti || !tc || !o || !lse || !lse2 || !ref) return 1;
    if (tile_download(ctx, ti, dti, ngroups * tmax * 4) || tile_download(ctx, tc, dtc, ngroups * 4) ||
        tile_download(ctx, o, dout, nheads * p->D * 4) || tile_download(ctx, lse, dlse, nheads * 4) ||
        tile_download(ctx, lse2, dlse2, nheads * 4))
        return fail("downloading");
    double worst = 0, mass = 0;
    long kept = 0;
    for (size_t zh = 0; zh < nheads; zh++) {
        int z = (int)(zh / p->H), h = (int)(zh % p->H), g = h / (p->H / p->HK);
        size_t list = (size_t)z * p->HK + g;
        double rl = ref_head(p, q, kc, vc, table, maxp, ti + list * tmax, tc[list], z, h, ref);
        for (int d = 0; d < p->D; d++) {
            double e = fabs(o[zh * p->D + d] - ref[d]) / (TOLERANCE * fmax(1, fabs(ref[d])));
            worst = e > worst || e != e ? e : worst;
        }
        double e = fabs(lse[zh] - rl) / (TOLERANCE * fmax(1, fabs(rl)));
        worst = e > worst || e != e ? e : worst;
        mass += exp((double)lse[zh] - lse2[zh]);
    }
    for (size_t l = 0; l < ngroups; l++)
        for (int t = 0; t < tc[l]; t++) kept += ti[l * tmax + t] >= 0;
    bool ok = worst <= 1;
    printf("token_select %s Z=%d H=%d HK=%d n=%d D=%d K=%d S=%d W=%d: kept %.1f%% of the tokens, "
           "%.4f of the softmax mass; splits %lld dense, %lld sparse; error/tol %.2f %s\n",
           dev.interpreted ? "interp" : dev.name, p->Z, p->H, p->HK, p->n, p->D, p->K, p->S, p->W,
           100.0 * kept / ((double)ngroups * p->n), mass / nheads, (long long)s_dense, (long long)s_sparse, worst, ok ? "OK" : "FAIL");
    if (!dev.interpreted)
        printf("  ms: logits %.3f score %.3f chunk %.3f select %.3f attend %.3f combine %.3f = %.3f; "
               "dense decode %.3f\n", ms[0], ms[1], ms[2], ms[3], ms[4], ms[5],
               ms[0] + ms[1] + ms[2] + ms[3] + ms[4] + ms[5], ms[6] + ms[7]);
    for (int s = 0; s < 7; s++) tile_kernel_free(kern[s]);
    void *bufs[] = {dlg, dq, dk, dv, dt, dl, dlp, dsc, dcs, dcp, dti, dtc, dop, dlp2, dout, dlse, dout2, dlse2};
    for (size_t b = 0; b < sizeof bufs / sizeof bufs[0]; b++) tile_free(ctx, bufs[b]);
    free(q), free(kc), free(vc), free(table), free(lens), free(ti), free(tc), free(o), free(lse), free(lse2), free(ref);
    tile_close(ctx);
    return ok ? 0 : 1;
}
