/* test_lib_token_select.c - lib/attention/token_select.tile on the
 * interpreter: token scores, token and page selection, the cache-append
 * kernel, and attention over the kept tokens through ts_decode_split and
 * decode.tile's decode_combine.
 *
 * References: scores and page bounds in double from the rounded inputs
 * (tolerance: f32 rounding); the selections EXACTLY, from the kernels' own
 * scores (no arithmetic: sort by score, ties to the lower position), so a
 * wrong tie, a lost sink or window token or an off-by-one fails; summaries
 * and the append exactly (min, max and copies); attention in double over
 * the reference's kept set (each query head over its group's tokens).
 *
 * Tested (token_select.tile): every kernel (ts_lse_split, ts_score, the
 * one-pass ts_logits + ts_score_logits, ts_select_chunk, ts_select,
 * ts_decode_split with decode_combine, ts_decode_gqa with decode_merge,
 * quest_summaries, quest_append, quest_score, quest_select); f32 and bf16;
 * (H, HK) = (4, 2), (2, 2), (4, 1), (8, 1); sequences of
 * lengths 0, 1, 5 (shorter than sinks + window), odd lengths up to 300 and a
 * multiple of the page size; pages shuffled in the cache; chunks smaller
 * than the context (the merge); a score tensor full of ties across chunks;
 * appends that open a fresh page and that fill a partial one. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ref/attn_ref.h"
#include "ref/harness.h"

#define FILE_TS "attention/token_select.tile"

typedef struct ts_case {
    ir_dtype T;
    int Z, H, HK, D, PS;
    int lens[4];               /* seq_lens, Z of them */
    int K, C, S, W;            /* top K, chunk, sinks, window */
    int KP;                    /* quest: top pages besides page 0 and the last */
} ts_case;

/* The cache and its table for one case. */
typedef struct cache {
    const ts_case *c;
    int P, MAXP, NMAX, NS, G;
    float *q, *k, *v;          /* q [Z, H, D]; k, v [NS, HK, D] */
    int32_t *table, *lens;     /* [Z, MAXP], [Z] */
    th_tensor tq, tk, tv, ttable, tlens;
} cache;

static void cache_new(cache *ch, const ts_case *c, uint64_t seed)
{
    memset(ch, 0, sizeof *ch);
    ch->c = c;
    ch->G = c->H / c->HK;
    for (int z = 0; z < c->Z; z++) {
        int np = (c->lens[z] + 1 + c->PS - 1) / c->PS; /* room for one append */
        if (np > ch->MAXP) ch->MAXP = np;
        if (c->lens[z] > ch->NMAX) ch->NMAX = c->lens[z];
    }
    if (ch->NMAX < 1) ch->NMAX = 1;
    ch->P = c->Z * ch->MAXP + 1;
    ch->NS = ch->P * c->PS;
    th_rng rng = th_rng_new(seed);
    size_t nq = (size_t)c->Z * c->H * c->D, nk = (size_t)ch->NS * c->HK * c->D;
    ch->q = TH_NEW(float, nq), ch->k = TH_NEW(float, nk), ch->v = TH_NEW(float, nk);
    th_fill(&rng, ch->q, nq, -2, 2, c->T);
    th_fill(&rng, ch->k, nk, -1, 1, c->T);
    th_fill(&rng, ch->v, nk, -1, 1, c->T);
    /* pages shuffled: sequence z's pages are a random part of the cache */
    int32_t *perm = TH_NEW(int32_t, ch->P);
    for (int p = 0; p < ch->P; p++) perm[p] = p;
    th_rng_shuffle(&rng, perm, ch->P);
    ch->table = TH_NEW(int32_t, (size_t)c->Z * ch->MAXP), ch->lens = TH_NEW(int32_t, c->Z);
    for (int z = 0; z < c->Z; z++) {
        ch->lens[z] = c->lens[z];
        for (int p = 0; p < ch->MAXP; p++) ch->table[z * ch->MAXP + p] = perm[z * ch->MAXP + p];
    }
    free(perm);
    ch->tq = th_tensor_new(c->T, TH_DIMS(c->Z, c->H, c->D), NULL);
    ch->tk = th_tensor_new(c->T, TH_DIMS(ch->NS, c->HK, c->D), NULL);
    ch->tv = th_tensor_new(c->T, TH_DIMS(ch->NS, c->HK, c->D), NULL);
    ch->ttable = th_tensor_new(IR_I32, TH_DIMS(c->Z, ch->MAXP), NULL);
    ch->tlens = th_tensor_new(IR_I32, TH_DIMS(c->Z), NULL);
    th_tensor_set(&ch->tq, ch->q);
    th_tensor_set(&ch->tk, ch->k);
    th_tensor_set(&ch->tv, ch->v);
    th_tensor_set_i32(&ch->ttable, ch->table);
    th_tensor_set_i32(&ch->tlens, ch->lens);
}

static void cache_free(cache *ch)
{
    th_tensor_free(&ch->tq), th_tensor_free(&ch->tk), th_tensor_free(&ch->tv);
    th_tensor_free(&ch->ttable), th_tensor_free(&ch->tlens);
    free(ch->q), free(ch->k), free(ch->v), free(ch->table), free(ch->lens);
}

static const float *key_at(const cache *ch, const float *kv, int z, int g, int j)
{
    int slot = ch->table[z * ch->MAXP + j / ch->c->PS] * ch->c->PS + j % ch->c->PS;
    return kv + ((size_t)slot * ch->c->HK + g) * ch->c->D;
}

static double dot_qk(const cache *ch, int z, int h, const float *key)
{
    double s = 0;
    for (int d = 0; d < ch->c->D; d++) s += (double)ch->q[((size_t)z * ch->c->H + h) * ch->c->D + d] * key[d];
    return s;
}

/* ---- references ------------------------------------------------------------------- */

/* score [Z, HK, NMAX]: the group's summed softmax; 0 past n. */
static void ref_score(const cache *ch, double scale, double *score)
{
    const ts_case *c = ch->c;
    double *s = TH_NEW(double, ch->NMAX);
    memset(score, 0, sizeof *score * (size_t)c->Z * c->HK * ch->NMAX);
    for (int z = 0; z < c->Z; z++)
        for (int h = 0; h < c->H; h++) {
            int g = h / ch->G, n = ch->lens[z];
            double m = -INFINITY, l = 0;
            for (int j = 0; j < n; j++) {
                s[j] = scale * dot_qk(ch, z, h, key_at(ch, ch->k, z, g, j));
                if (s[j] > m) m = s[j];
            }
            for (int j = 0; j < n; j++) l += exp(s[j] - m);
            for (int j = 0; j < n; j++) score[((size_t)z * c->HK + g) * ch->NMAX + j] += exp(s[j] - m) / l;
        }
    free(s);
}

/* Positions of `key` sorted by (key desc, position asc); keys[j] for j in
 * [lo, hi) only.  Returns how many (hi - lo). */
static int ref_rank(const float *keys, int lo, int hi, int *out)
{
    int n = 0;
    for (int j = lo; j < hi; j++) {
        int t = n++;
        while (t > 0 && keys[out[t - 1]] < keys[j]) {
            out[t] = out[t - 1];
            t--;
        }
        out[t] = j;
    }
    return n;
}

/* TokenSelect's kept list of (z, g) from the kernel's scores (row of NMAX),
 * in its fixed slots: sinks [0, S), window [S, S + W), top K after; -1 for
 * an empty slot.  Returns the entries to scan, S + W + the top K kept. */
static int ref_token_list(const ts_case *c, const float *score_row, int n, int32_t *list)
{
    int n_sink = n < c->S ? n : c->S;
    int n_win = n - n_sink < c->W ? n - n_sink : c->W;
    for (int t = 0; t < c->S + c->W + c->K; t++) list[t] = -1;
    for (int j = 0; j < n_sink; j++) list[j] = j;
    for (int t = 0; t < n_win; t++) list[c->S + t] = n - n_win + t;
    int *order = TH_NEW(int, n > 0 ? n : 1);
    int ncand = n - c->W - c->S > 0 ? ref_rank(score_row, c->S, n - c->W, order) : 0;
    int n_top = ncand < c->K ? ncand : c->K;
    for (int t = 0; t < n_top; t++) list[c->S + c->W + t] = order[t];
    free(order);
    return c->S + c->W + n_top;
}

/* Exact attention of every query head over its group's list. */
static void ref_attend(const cache *ch, const int32_t *lists, const int32_t *cnts, int TMAX,
                       double scale, double *o, double *lse)
{
    const ts_case *c = ch->c;
    double *s = TH_NEW(double, TMAX);
    for (int z = 0; z < c->Z; z++)
        for (int h = 0; h < c->H; h++) {
            int g = h / ch->G, cnt = cnts[z * c->HK + g];
            const int32_t *list = lists + ((size_t)z * c->HK + g) * TMAX;
            double *orow = o + ((size_t)z * c->H + h) * c->D, m = -INFINITY, l = 0;
            for (int t = 0; t < cnt; t++) {
                if (list[t] < 0) continue; /* an empty slot */
                s[t] = scale * dot_qk(ch, z, h, key_at(ch, ch->k, z, g, list[t]));
                if (s[t] > m) m = s[t];
            }
            for (int d = 0; d < c->D; d++) orow[d] = 0;
            for (int t = 0; t < cnt; t++) {
                if (list[t] < 0) continue;
                double p = exp(s[t] - m);
                const float *val = key_at(ch, ch->v, z, g, list[t]);
                l += p;
                for (int d = 0; d < c->D; d++) orow[d] += p * val[d];
            }
            for (int d = 0; d < c->D && l > 0; d++) orow[d] /= l;
            lse[z * c->H + h] = l > 0 ? m + log(l) : -INFINITY;
        }
    free(s);
}

/* ---- kernels ------------------------------------------------------------------------ */

static bool compile_ts(th_kernel *k, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool compile_ts(th_kernel *k, const char *name, const char *fmt, ...)
{
    char defs[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(defs, sizeof defs, fmt, ap);
    va_end(ap);
    return th_compile(k, strncmp(name, "decode_", 7) == 0 ? "attention/decode.tile" : FILE_TS, name, defs);
}

/* Lists (z, g) read back: cnt [Z, HK], idx [Z, HK, TMAX]; must equal ref,
 * every slot of the row (the empty ones -1). */
static bool same_lists(const char *what, const ts_case *c, int TMAX, const th_tensor *tidx,
                       const th_tensor *tcnt, const int32_t *ridx, const int32_t *rcnt)
{
    float *gi = TH_NEW(float, (size_t)c->Z * c->HK * TMAX), *gc = TH_NEW(float, (size_t)c->Z * c->HK);
    th_tensor_get(tidx, gi);
    th_tensor_get(tcnt, gc);
    bool ok = true;
    for (int r = 0; r < c->Z * c->HK && ok; r++) {
        ok = gc[r] == rcnt[r];
        for (int t = 0; ok && t < TMAX; t++) ok = gi[(size_t)r * TMAX + t] == ridx[(size_t)r * TMAX + t];
        if (!ok) {
            int t = 0;
            while (t < TMAX - 1 && gi[(size_t)r * TMAX + t] == ridx[(size_t)r * TMAX + t]) t++;
            fprintf(stderr, "%s: list %d: count %g want %d; entry %d is %g, want %d\n", what, r,
                    gc[r], rcnt[r], t, gi[(size_t)r * TMAX + t], ridx[(size_t)r * TMAX + t]);
        }
    }
    free(gi), free(gc);
    return ok;
}

/* ts_decode_split + decode_combine over the lists, against ref_attend. */
static bool run_attend_kernel(const cache *ch, const th_tensor *tidx, const th_tensor *tcnt,
                              const int32_t *ridx, const int32_t *rcnt, int TMAX, double scale,
                              bool grouped)
{
    const ts_case *c = ch->c;
    th_kernel ks, kc;
    int S2 = 3;
    bool built = grouped
        ? compile_ts(&ks, "ts_decode_gqa", "T=%s,D=%d,G=%d,PS=%d,BT=8", ir_dtype_name(c->T), c->D,
                     ch->G, c->PS) &&
              compile_ts(&kc, "decode_merge", "T=%s,D=%d,BS=2", ir_dtype_name(c->T), c->D)
        : compile_ts(&ks, "ts_decode_split", "T=%s,D=%d,PS=%d,S2=%d,BT=8", ir_dtype_name(c->T),
                     c->D, c->PS, S2) &&
              compile_ts(&kc, "decode_combine", "T=%s,D=%d,S=%d", ir_dtype_name(c->T), c->D, S2);
    if (!built) return false;
    th_tensor top = th_tensor_new(IR_F32, TH_DIMS(c->Z, c->H, S2, c->D), NULL);
    th_tensor tlp = th_tensor_new(IR_F32, TH_DIMS(c->Z, c->H, S2), NULL);
    th_tensor to = th_tensor_new(c->T, TH_DIMS(c->Z, c->H, c->D), NULL);
    th_tensor tl = th_tensor_new(IR_F32, TH_DIMS(c->Z, c->H), NULL);
    bool ok = th_launch(&ks, (th_arg[]){TH_T("q", (th_tensor *)&ch->tq), TH_T("k_slots", (th_tensor *)&ch->tk),
                                        TH_T("v_slots", (th_tensor *)&ch->tv),
                                        TH_T("block_table", (th_tensor *)&ch->ttable),
                                        TH_T("tok_idx", (th_tensor *)tidx), TH_T("tok_cnt", (th_tensor *)tcnt),
                                        TH_T("o_part", &top), TH_T("lse_part", &tlp), TH_S("scale", scale)}, 9) &&
              th_launch(&kc, (th_arg[]){TH_T("o_part", &top), TH_T("lse_part", &tlp), TH_T("o", &to),
                                        TH_T("lse", &tl)}, 4);
    size_t no = (size_t)c->Z * c->H * c->D, nl = (size_t)c->Z * c->H;
    double *ro = TH_NEW(double, no), *rl = TH_NEW(double, nl);
    float *o = TH_NEW(float, no), *lse = TH_NEW(float, nl);
    ref_attend(ch, ridx, rcnt, TMAX, scale, ro, rl);
    if (ok) {
        th_tensor_get(&to, o);
        th_tensor_get(&tl, lse);
        ok = th_check(ks.label, o, ro, TH_DIMS(c->Z, c->H, c->D), th_rtol(c->T)) &&
             th_check(kc.label, lse, rl, TH_DIMS(c->Z, c->H), 1e-5);
    }
    th_tensor_free(&top), th_tensor_free(&tlp), th_tensor_free(&to), th_tensor_free(&tl);
    free(ro), free(rl), free(o), free(lse);
    th_kernel_free(&ks), th_kernel_free(&kc);
    return ok;
}

/* ts_decode_split + decode_combine (per query head), then ts_decode_gqa +
 * decode_merge (per group), both against ref_attend. */
static bool run_attend(const cache *ch, const th_tensor *tidx, const th_tensor *tcnt,
                       const int32_t *ridx, const int32_t *rcnt, int TMAX, double scale)
{
    bool ok = run_attend_kernel(ch, tidx, tcnt, ridx, rcnt, TMAX, scale, false);
    return run_attend_kernel(ch, tidx, tcnt, ridx, rcnt, TMAX, scale, true) && ok;
}

/* ts_lse_split + ts_score against ref_score; the kernel's scores go to
 * score_out ([Z, HK, NMAX], 0 past n) for the selection. */
static bool run_score(const cache *ch, double scale, float *score_out)
{
    const ts_case *c = ch->c;
    th_kernel kl, ksc;
    int S = 2;
    if (!compile_ts(&kl, "ts_lse_split", "T=%s,D=%d,PS=%d,S=%d", ir_dtype_name(c->T), c->D, c->PS, S) ||
        !compile_ts(&ksc, "ts_score", "T=%s,D=%d,PS=%d,S=%d", ir_dtype_name(c->T), c->D, c->PS, S))
        return false;
    th_tensor tlp = th_tensor_new(IR_F32, TH_DIMS(c->Z, c->H, S), NULL);
    th_tensor tsc = th_tensor_new(IR_F32, TH_DIMS(c->Z, c->HK, ch->NMAX), NULL);
    th_tensor *tq = (th_tensor *)&ch->tq, *tk = (th_tensor *)&ch->tk;
    th_tensor *tt = (th_tensor *)&ch->ttable, *tn = (th_tensor *)&ch->tlens;
    bool ok = th_launch(&kl, (th_arg[]){TH_T("q", tq), TH_T("k_slots", tk), TH_T("block_table", tt),
                                        TH_T("seq_lens", tn), TH_T("lse_part", &tlp), TH_S("scale", scale)}, 6) &&
              th_launch(&ksc, (th_arg[]){TH_T("q", tq), TH_T("k_slots", tk), TH_T("block_table", tt),
                                         TH_T("seq_lens", tn), TH_T("lse_part", &tlp), TH_T("score", &tsc),
                                         TH_S("scale", scale)}, 7);
    size_t ns = (size_t)c->Z * c->HK * ch->NMAX;
    double *ref = TH_NEW(double, ns);
    ref_score(ch, scale, ref);
    if (ok) {
        th_tensor_get(&tsc, score_out);
        for (int zg = 0; zg < c->Z * c->HK; zg++) /* positions >= n are not written */
            for (int j = ch->lens[zg / c->HK]; j < ch->NMAX; j++) score_out[(size_t)zg * ch->NMAX + j] = 0;
        ok = th_check(ksc.label, score_out, ref, TH_DIMS(c->Z, c->HK, ch->NMAX), 1e-5);
    }
    th_tensor_free(&tlp), th_tensor_free(&tsc);
    free(ref);
    th_kernel_free(&kl), th_kernel_free(&ksc);
    return ok;
}

/* ts_logits (each key read once, S splits) + ts_score_logits against
 * ref_score, the same contract as run_score. */
static bool run_score_grouped(const cache *ch, double scale, float *score_out)
{
    const ts_case *c = ch->c;
    th_kernel kl, ksc;
    int S = 3;
    /* steps of 8 keys (inside a page) or of 64 (across pages) */
    if (!compile_ts(&kl, "ts_logits", "T=%s,D=%d,G=%d,PS=%d,BN=%d", ir_dtype_name(c->T), c->D, ch->G,
                    c->PS, c->PS == 8 ? 64 : 8) ||
        !compile_ts(&ksc, "ts_score_logits", "G=%d,C=32,BS=2", ch->G))
        return false;
    th_tensor tlg = th_tensor_new(IR_F32, TH_DIMS(c->Z, c->H, ch->NMAX), NULL);
    th_tensor tlp = th_tensor_new(IR_F32, TH_DIMS(c->Z, c->H, S), NULL);
    th_tensor tsc = th_tensor_new(IR_F32, TH_DIMS(c->Z, c->HK, ch->NMAX), NULL);
    th_tensor *tq = (th_tensor *)&ch->tq, *tk = (th_tensor *)&ch->tk;
    th_tensor *tt = (th_tensor *)&ch->ttable, *tn = (th_tensor *)&ch->tlens;
    bool ok = th_launch(&kl, (th_arg[]){TH_T("q", tq), TH_T("k_slots", tk), TH_T("block_table", tt),
                                        TH_T("seq_lens", tn), TH_T("logits", &tlg),
                                        TH_T("lse_part", &tlp), TH_S("scale", scale)}, 7) &&
              th_launch(&ksc, (th_arg[]){TH_T("logits", &tlg), TH_T("lse_part", &tlp),
                                         TH_T("seq_lens", tn), TH_T("score", &tsc)}, 4);
    size_t ns = (size_t)c->Z * c->HK * ch->NMAX;
    double *ref = TH_NEW(double, ns);
    ref_score(ch, scale, ref);
    if (ok) {
        th_tensor_get(&tsc, score_out);
        for (int zg = 0; zg < c->Z * c->HK; zg++) /* positions >= n are not written */
            for (int j = ch->lens[zg / c->HK]; j < ch->NMAX; j++) score_out[(size_t)zg * ch->NMAX + j] = 0;
        ok = th_check(ksc.label, score_out, ref, TH_DIMS(c->Z, c->HK, ch->NMAX), 1e-5);
    }
    th_tensor_free(&tlg), th_tensor_free(&tlp), th_tensor_free(&tsc);
    free(ref);
    th_kernel_free(&kl), th_kernel_free(&ksc);
    return ok;
}

/* ts_select_chunk + ts_select on `score` against ref_token_list. */
static bool run_token_select(const cache *ch, const float *score, int TMAX, th_tensor *tidx,
                             th_tensor *tcnt, int32_t *ridx, int32_t *rcnt)
{
    const ts_case *c = ch->c;
    th_kernel kc, km;
    int nchunks = (ch->NMAX + c->C - 1) / c->C, NCK = nchunks * c->K;
    if (!compile_ts(&kc, "ts_select_chunk", "K=%d,C=%d,S=%d,W=%d", c->K, c->C, c->S, c->W) ||
        !compile_ts(&km, "ts_select", "K=%d,NCMAX=%d,S=%d,W=%d", c->K, nchunks + 1, c->S, c->W))
        return false;
    th_tensor tsc = th_tensor_new(IR_F32, TH_DIMS(c->Z, c->HK, ch->NMAX), NULL);
    th_tensor tcs = th_tensor_new(IR_F32, TH_DIMS(c->Z, c->HK, NCK), NULL);
    th_tensor tcp = th_tensor_new(IR_I32, TH_DIMS(c->Z, c->HK, NCK), NULL);
    th_tensor_set(&tsc, score);
    bool ok = th_launch(&kc, (th_arg[]){TH_T("score", &tsc), TH_T("seq_lens", (th_tensor *)&ch->tlens),
                                        TH_T("cand_score", &tcs), TH_T("cand_pos", &tcp)}, 4) &&
              th_launch(&km, (th_arg[]){TH_T("cand_score", &tcs), TH_T("cand_pos", &tcp),
                                        TH_T("seq_lens", (th_tensor *)&ch->tlens), TH_T("tok_idx", tidx),
                                        TH_T("tok_cnt", tcnt)}, 5);
    for (int z = 0; z < c->Z; z++)
        for (int g = 0; g < c->HK; g++)
            rcnt[z * c->HK + g] = ref_token_list(c, score + ((size_t)z * c->HK + g) * ch->NMAX, ch->lens[z],
                                                 ridx + ((size_t)z * c->HK + g) * TMAX);
    ok = ok && same_lists(km.label, c, TMAX, tidx, tcnt, ridx, rcnt);
    th_tensor_free(&tsc), th_tensor_free(&tcs), th_tensor_free(&tcp);
    th_kernel_free(&kc), th_kernel_free(&km);
    return ok;
}

static bool run_token_case(const ts_case *c, uint64_t seed)
{
    cache ch;
    cache_new(&ch, c, seed);
    double scale = 1 / sqrt(c->D);
    int TMAX = c->S + c->W + c->K;
    size_t nl = (size_t)c->Z * c->HK;
    float *score = TH_NEW(float, nl * ch.NMAX);
    int32_t *ridx = TH_NEW(int32_t, nl * TMAX), *rcnt = TH_NEW(int32_t, nl);
    th_tensor tidx = th_tensor_new(IR_I32, TH_DIMS(c->Z, c->HK, TMAX), NULL);
    th_tensor tcnt = th_tensor_new(IR_I32, TH_DIMS(c->Z, c->HK), NULL);
    /* the two-pass scores (ts_lse_split + ts_score), then the one-pass
     * grouped ones (ts_logits + ts_score_logits): each selection exact
     * against the reference from that kernel's own scores */
    bool ok = run_score(&ch, scale, score) &&
              run_token_select(&ch, score, TMAX, &tidx, &tcnt, ridx, rcnt) &&
              run_attend(&ch, &tidx, &tcnt, ridx, rcnt, TMAX, scale);
    ok = run_score_grouped(&ch, scale, score) &&
         run_token_select(&ch, score, TMAX, &tidx, &tcnt, ridx, rcnt) &&
         run_attend(&ch, &tidx, &tcnt, ridx, rcnt, TMAX, scale) && ok;
    th_tensor_free(&tidx), th_tensor_free(&tcnt);
    free(score), free(ridx), free(rcnt);
    cache_free(&ch);
    return ok;
}

/* ---- the page variant ------------------------------------------------------------------ */

/* kmin/kmax [P, HK, D] of every page in use, from the cache. */
static void ref_summaries(const cache *ch, float *kmin, float *kmax)
{
    const ts_case *c = ch->c;
    for (int z = 0; z < c->Z; z++)
        for (int p = 0; p * c->PS < ch->lens[z]; p++)
            for (int g = 0; g < c->HK; g++)
                for (int d = 0; d < c->D; d++) {
                    float lo = INFINITY, hi = -INFINITY;
                    for (int j = p * c->PS; j < ch->lens[z] && j < (p + 1) * c->PS; j++) {
                        float x = key_at(ch, ch->k, z, g, j)[d];
                        lo = x < lo ? x : lo, hi = x > hi ? x : hi;
                    }
                    size_t at = ((size_t)ch->table[z * ch->MAXP + p] * c->HK + g) * c->D + d;
                    kmin[at] = lo, kmax[at] = hi;
                }
}

/* Pages of (z, g) kept by Quest from the kernel's bounds, as a token list
 * in fixed slots: the top pages (page 0 first) in [0, (KP + 1) PS), the last
 * page in the PS slots after; -1 for an empty slot. */
static int ref_page_list(const ts_case *c, const float *bound_row, int n, int32_t *list)
{
    int npages = (n + c->PS - 1) / c->PS, last = npages - 1, order[256];
    assert_true(npages <= 256);
    int nhead = 0;
    for (int t = 0; t < (c->KP + 2) * c->PS; t++) list[t] = -1;
    if (last > 0) {
        order[nhead++] = 0;
        int more = ref_rank(bound_row, 1, last, order + nhead);
        nhead += more < c->KP ? more : c->KP;
    }
    for (int t = 0; t < nhead; t++)
        for (int s = 0; s < c->PS; s++) list[t * c->PS + s] = order[t] * c->PS + s;
    for (int j = last * c->PS; n > 0 && j < n; j++) list[(c->KP + 1) * c->PS + j - last * c->PS] = j;
    return n > 0 ? (c->KP + 2) * c->PS : 0;
}

/* Copies every float of a tensor out (f32 or bf16) / every int. */
static float *get_all(const th_tensor *t)
{
    float *x = TH_NEW(float, t->numel);
    th_tensor_get(t, x);
    return x;
}

static bool equal_where_used(const char *what, const cache *ch, const float *got, const float *want)
{
    const ts_case *c = ch->c;
    for (int z = 0; z < c->Z; z++)
        for (int p = 0; p * c->PS < ch->lens[z]; p++) {
            size_t at = (size_t)ch->table[z * ch->MAXP + p] * c->HK * c->D;
            if (memcmp(got + at, want + at, sizeof *got * (size_t)c->HK * c->D) != 0) {
                fprintf(stderr, "%s: page %d of sequence %d differs\n", what, p, z);
                return false;
            }
        }
    return true;
}

static bool run_quest(cache *ch, double scale, th_tensor *tmin, th_tensor *tmax)
{
    const ts_case *c = ch->c;
    int TMAX = (c->KP + 2) * c->PS;
    th_kernel ks, kb, kp;
    if (!compile_ts(&ks, "quest_summaries", "T=%s,D=%d,PS=%d", ir_dtype_name(c->T), c->D, c->PS) ||
        !compile_ts(&kb, "quest_score", "T=%s,D=%d,G=%d,PS=%d,BP=%d", ir_dtype_name(c->T), c->D, ch->G, c->PS,
                    ch->MAXP > 8 ? 8 : 4) ||
        !compile_ts(&kp, "quest_select", "PS=%d,KP=%d,PMAX=%d", c->PS, c->KP, ch->MAXP + c->KP + 1))
        return false;
    size_t nl = (size_t)c->Z * c->HK;
    th_tensor tb = th_tensor_new(IR_F32, TH_DIMS(c->Z, c->HK, ch->MAXP), NULL);
    th_tensor tidx = th_tensor_new(IR_I32, TH_DIMS(c->Z, c->HK, TMAX), NULL);
    th_tensor tcnt = th_tensor_new(IR_I32, TH_DIMS(c->Z, c->HK), NULL);
    bool ok = th_launch(&ks, (th_arg[]){TH_T("k_slots", &ch->tk), TH_T("block_table", &ch->ttable),
                                        TH_T("seq_lens", &ch->tlens), TH_T("kmin", tmin), TH_T("kmax", tmax)}, 5);
    size_t nsum = (size_t)ch->P * c->HK * c->D;
    float *rmin = TH_NEW(float, nsum), *rmax = TH_NEW(float, nsum);
    ref_summaries(ch, rmin, rmax);
    float *gmin = get_all(tmin), *gmax = get_all(tmax);
    ok = ok && equal_where_used("quest_summaries kmin", ch, gmin, rmin) &&
         equal_where_used("quest_summaries kmax", ch, gmax, rmax);
    ok = ok && th_launch(&kb, (th_arg[]){TH_T("q", &ch->tq), TH_T("block_table", &ch->ttable),
                                         TH_T("seq_lens", &ch->tlens), TH_T("kmin", tmin), TH_T("kmax", tmax),
                                         TH_T("page_score", &tb)}, 6);
    float *bound = get_all(&tb);
    double *rbound = TH_NEW(double, nl * ch->MAXP);
    for (int z = 0; z < c->Z; z++)
        for (int g = 0; g < c->HK; g++)
            for (int p = 0; p < ch->MAXP; p++) {
                size_t at = ((size_t)z * c->HK + g) * ch->MAXP + p, pg = (size_t)ch->table[z * ch->MAXP + p];
                double b = 0;
                for (int hh = 0; hh < ch->G && p * c->PS < ch->lens[z]; hh++)
                    for (int d = 0; d < c->D; d++) {
                        double qd = ch->q[((size_t)z * c->H + g * ch->G + hh) * c->D + d];
                        double lo = qd * rmin[(pg * c->HK + g) * c->D + d], hi = qd * rmax[(pg * c->HK + g) * c->D + d];
                        b += lo > hi ? lo : hi;
                    }
                if (p * c->PS >= ch->lens[z]) bound[at] = 0; /* not written */
                rbound[at] = b;
            }
    ok = ok && th_check(kb.label, bound, rbound, TH_DIMS(c->Z, c->HK, ch->MAXP), 1e-5);
    ok = ok && th_launch(&kp, (th_arg[]){TH_T("page_score", &tb), TH_T("seq_lens", &ch->tlens),
                                         TH_T("tok_idx", &tidx), TH_T("tok_cnt", &tcnt)}, 4);
    int32_t *ridx = TH_NEW(int32_t, nl * TMAX), *rcnt = TH_NEW(int32_t, nl);
    float *kernel_bound = get_all(&tb);
    for (int z = 0; z < c->Z; z++)
        for (int g = 0; g < c->HK; g++)
            rcnt[z * c->HK + g] = ref_page_list(c, kernel_bound + ((size_t)z * c->HK + g) * ch->MAXP, ch->lens[z],
                                                ridx + ((size_t)z * c->HK + g) * TMAX);
    ok = ok && same_lists(kp.label, c, TMAX, &tidx, &tcnt, ridx, rcnt) &&
         run_attend(ch, &tidx, &tcnt, ridx, rcnt, TMAX, scale);
    th_tensor_free(&tb), th_tensor_free(&tidx), th_tensor_free(&tcnt);
    free(rmin), free(rmax), free(gmin), free(gmax), free(bound), free(rbound), free(ridx), free(rcnt);
    free(kernel_bound);
    th_kernel_free(&ks), th_kernel_free(&kb), th_kernel_free(&kp);
    return ok;
}

/* quest_append on the interpreter without poisoning (its outputs are also
 * inputs): the new token lands at its slot, the summaries equal the ones
 * rebuilt from scratch, seq_lens grow by one. */
static bool run_append(cache *ch, th_tensor *tmin, th_tensor *tmax, uint64_t seed)
{
    const ts_case *c = ch->c;
    th_kernel ka;
    if (!compile_ts(&ka, "quest_append", "T=%s,D=%d,PS=%d", ir_dtype_name(c->T), c->D, c->PS)) return false;
    size_t nnew = (size_t)c->Z * c->HK * c->D;
    float *kn = TH_NEW(float, nnew), *vn = TH_NEW(float, nnew);
    th_rng rng = th_rng_new(seed);
    th_fill(&rng, kn, nnew, -3, 3, c->T); /* beyond the cache's range: the bounds move */
    th_fill(&rng, vn, nnew, -1, 1, c->T);
    th_tensor tkn = th_tensor_new(c->T, TH_DIMS(c->Z, c->HK, c->D), NULL);
    th_tensor tvn = th_tensor_new(c->T, TH_DIMS(c->Z, c->HK, c->D), NULL);
    th_tensor_set(&tkn, kn);
    th_tensor_set(&tvn, vn);
    const ir_func *f = ka.fn;
    interp_arg args[12];
    assert_true(f->nparams <= 12);
    for (int p = 0; p < f->nparams; p++) {
        const char *nm = f->params[p].name;
        const th_tensor *t = !strcmp(nm, "k_new") ? &tkn : !strcmp(nm, "v_new") ? &tvn
                           : !strcmp(nm, "k_slots") ? &ch->tk : !strcmp(nm, "v_slots") ? &ch->tv
                           : !strcmp(nm, "block_table") ? &ch->ttable : !strcmp(nm, "seq_lens") ? &ch->tlens
                           : !strcmp(nm, "kmin") ? tmin : tmax;
        memset(&args[p], 0, sizeof args[p]);
        args[p].tensor = t->t;
    }
    tile_status st = interp_launch(f, args, f->nparams, &ka.unit->diags, NULL);
    if (st != TILE_OK) diag_print_all(&ka.unit->diags, stderr);
    bool ok = st == TILE_OK;
    /* the host's copy follows: new lengths, the new tokens in the cache */
    float *lens = get_all(&ch->tlens), *kall = get_all(&ch->tk), *vall = get_all(&ch->tv);
    for (int z = 0; z < c->Z && ok; z++) {
        ok = lens[z] == ch->lens[z] + 1;
        int j = ch->lens[z]++;
        for (int g = 0; g < c->HK; g++) {
            float *kd = (float *)key_at(ch, ch->k, z, g, j), *vd = (float *)key_at(ch, ch->v, z, g, j);
            memcpy(kd, kn + ((size_t)z * c->HK + g) * c->D, sizeof *kd * (size_t)c->D);
            memcpy(vd, vn + ((size_t)z * c->HK + g) * c->D, sizeof *vd * (size_t)c->D);
        }
    }
    size_t nk = (size_t)ch->NS * c->HK * c->D, nsum = (size_t)ch->P * c->HK * c->D;
    if (ok && (memcmp(kall, ch->k, sizeof *kall * nk) || memcmp(vall, ch->v, sizeof *vall * nk))) {
        fprintf(stderr, "quest_append: the cache differs from the expected one\n");
        ok = false;
    }
    float *rmin = TH_NEW(float, nsum), *rmax = TH_NEW(float, nsum), *gmin = get_all(tmin), *gmax = get_all(tmax);
    ref_summaries(ch, rmin, rmax);
    ok = ok && equal_where_used("quest_append kmin", ch, gmin, rmin) &&
         equal_where_used("quest_append kmax", ch, gmax, rmax);
    th_tensor_free(&tkn), th_tensor_free(&tvn);
    free(kn), free(vn), free(lens), free(kall), free(vall), free(rmin), free(rmax), free(gmin), free(gmax);
    th_kernel_free(&ka);
    return ok;
}

static bool run_quest_case(const ts_case *c, uint64_t seed)
{
    cache ch;
    cache_new(&ch, c, seed);
    th_tensor tmin = th_tensor_new(c->T, TH_DIMS(ch.P, c->HK, c->D), NULL);   /* exact: min/max of T values */
    th_tensor tmax = th_tensor_new(c->T, TH_DIMS(ch.P, c->HK, c->D), NULL);
    double scale = 1 / sqrt(c->D);
    bool ok = run_quest(&ch, scale, &tmin, &tmax) && run_append(&ch, &tmin, &tmax, seed + 1) &&
              run_quest(&ch, scale, &tmin, &tmax); /* decoding goes on after the append */
    th_tensor_free(&tmin), th_tensor_free(&tmax);
    cache_free(&ch);
    return ok;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_token_select(void **state)
{
    (void)state;
    const ts_case cases[] = {
        {IR_F32, 3, 4, 2, 32, 16, {300, 5, 77}, 16, 64, 4, 16, 0},
        {IR_F32, 2, 2, 2, 16, 8, {129, 1}, 8, 32, 2, 8, 0},
        {IR_F32, 2, 4, 1, 32, 16, {0, 160}, 24, 32, 4, 32, 0},     /* empty sequence */
        {IR_BF16, 1, 4, 2, 64, 16, {211}, 32, 64, 4, 16, 0},
        {IR_F32, 2, 8, 1, 32, 16, {150, 33}, 16, 64, 4, 16, 0},    /* MQA, G = 8 */
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) failed += !run_token_case(&cases[i], 300 + i);
    assert_int_equal(failed, 0);
}

/* Scores full of ties (four values) across chunks: the merge must keep the
 * lower positions among equal scores. */
static void test_token_ties(void **state)
{
    (void)state;
    const ts_case c = {IR_F32, 2, 2, 2, 16, 8, {250, 97}, 20, 32, 3, 10, 0};
    cache ch;
    cache_new(&ch, &c, 11);
    int TMAX = c.S + c.W + c.K;
    size_t nl = (size_t)c.Z * c.HK;
    float *score = TH_NEW(float, nl * ch.NMAX);
    th_rng rng = th_rng_new(12);
    static const float vals[4] = {0.25f, 0.5f, 0.5f, 1.0f};
    for (size_t i = 0; i < nl * ch.NMAX; i++) score[i] = vals[th_rng_int(&rng, 4)];
    int32_t *ridx = TH_NEW(int32_t, nl * TMAX), *rcnt = TH_NEW(int32_t, nl);
    th_tensor tidx = th_tensor_new(IR_I32, TH_DIMS(c.Z, c.HK, TMAX), NULL);
    th_tensor tcnt = th_tensor_new(IR_I32, TH_DIMS(c.Z, c.HK), NULL);
    assert_true(run_token_select(&ch, score, TMAX, &tidx, &tcnt, ridx, rcnt));
    /* the reference's rule itself: the first top slot holds the lowest
     * position >= S with the maximum score 1.0 */
    int first = c.S;
    while (score[first] != 1.0f) first++;
    assert_int_equal(ridx[c.S + c.W], first);
    th_tensor_free(&tidx), th_tensor_free(&tcnt);
    free(score), free(ridx), free(rcnt);
    cache_free(&ch);
}

static void test_quest(void **state)
{
    (void)state;
    const ts_case cases[] = {
        {IR_F32, 3, 4, 2, 32, 16, {300, 5, 80}, 0, 0, 0, 0, 4},   /* 80: a full last page */
        {IR_F32, 2, 2, 2, 16, 8, {129, 1}, 0, 0, 0, 0, 3},
        {IR_F32, 2, 4, 1, 32, 16, {0, 47}, 0, 0, 0, 0, 1},
        {IR_BF16, 1, 4, 2, 64, 16, {211}, 0, 0, 0, 0, 5},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) failed += !run_quest_case(&cases[i], 500 + i);
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_select),
        cmocka_unit_test(test_token_ties),
        cmocka_unit_test(test_quest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
