/* attn_ref.h - naive attention references, in double precision.
 *
 * Straight loops over the definitions in docs/library.md, deliberately not
 * tiled and sharing no code with the library programs they check: softmax
 * attention forward and its analytic gradient, split-KV decoding over a
 * paged cache (and the combine step on its own), Lightning Attention as the
 * O(N^2) decayed sum (plus an independent recurrent form to check it), and
 * the dense mask equivalent to a block-sparse index list.  Masks include
 * document masking of packed sequences (a query row sees the keys of its
 * own document, doc indexed by key position, rows bottom-right aligned).
 *
 * Inputs are float arrays (already rounded to the kernel's dtype when a test
 * runs a 16-bit kernel), contiguous row-major, no strides; outputs are
 * double.  Conventions: a row that sees no key gets output 0 and LSE -inf;
 * query head h reads key/value head h / (H / HK). */
#ifndef TILE_ATTN_REF_H
#define TILE_ATTN_REF_H

#include <stdbool.h>
#include <stdint.h>

/* ---- masks --------------------------------------------------------------- */
typedef enum attn_mask_kind {
    ATTN_MASK_FULL,     /* every key visible */
    ATTN_MASK_CAUSAL,   /* j <= i + (N - M): bottom-right aligned */
    ATTN_MASK_SLIDING,  /* causal and (i + (N - M) - j < window or j < sinks) */
    ATTN_MASK_EXPLICIT, /* visible[((z * H + h) * M + i) * N + j] != 0 */
    ATTN_MASK_DOCUMENT, /* i' = i + (N - M) >= 0 and doc[z * N + i'] == doc[z * N + j] */
    ATTN_MASK_DOCUMENT_CAUSAL, /* ATTN_MASK_DOCUMENT and j <= i' */
} attn_mask_kind;

typedef struct attn_mask {
    attn_mask_kind kind;
    int window, sinks;      /* ATTN_MASK_SLIDING */
    const uint8_t *visible; /* ATTN_MASK_EXPLICIT: [Z, H, M, N] */
} attn_mask;

/* The document kinds carry data: an attn_doc_mask, passed as &m.mask (its
 * first member, so the references find the rest).  doc: [Z, N] row-major,
 * doc[z * N + p] is the document id of key position p of batch z; query row
 * i sits at key position i + (N - M), bottom-right aligned as causal is.  (A
 * separate struct keeps attn_mask's positional initialisers valid.) */
typedef struct attn_doc_mask {
    attn_mask mask;         /* .kind = ATTN_MASK_DOCUMENT or ATTN_MASK_DOCUMENT_CAUSAL */
    const int32_t *doc;
} attn_doc_mask;

typedef struct attn_dims {
    int Z, H, HK, M, N, D;  /* batch, query heads, key/value heads, lengths, head dim */
} attn_dims;

bool attn_ref_visible(const attn_mask *mask, const attn_dims *d, int z, int h, int i, int j);

/* The dense [Z, H, M, N] mask of a block-sparse layout: (i, j) is visible iff
 * key block j / BN is one of the first kv_cnt[z, h, i / BM] entries of
 * kv_idx[z, h, i / BM, :] and `inner` (NULL = full) allows it.
 * kv_idx: [Z, H, MB, maxb], kv_cnt: [Z, H, MB] with MB = ceil(M / BM). */
void attn_ref_block_sparse_mask(const attn_dims *d, int BM, int BN, int maxb,
                                const int32_t *kv_idx, const int32_t *kv_cnt,
                                const attn_mask *inner, uint8_t *visible);

/* ---- softmax attention ---------------------------------------------------- */
/* q: [Z, H, M, D]; k, v: [Z, HK, N, D]; o: [Z, H, M, D]; lse: [Z, H, M] (may be NULL).
 * S = scale Q K^T, masked entries -inf, O = softmax(S) V, LSE = log sum exp S. */
void attn_ref_fwd(const attn_dims *d, const float *q, const float *k, const float *v,
                  double scale, const attn_mask *mask, double *o, double *lse);

/* Gradients of L = sum(dout * O) by the analytic softmax derivative:
 * dV = P^T dO, dP = dO V^T, dS = P o (dP - rowsum(P o dP)), dQ = scale dS K,
 * dK = scale dS^T Q; dK and dV are summed over the query heads of a group.
 * dq: [Z, H, M, D]; dk, dv: [Z, HK, N, D]. */
void attn_ref_bwd(const attn_dims *d, const float *q, const float *k, const float *v,
                  const float *dout, double scale, const attn_mask *mask,
                  double *dq, double *dk, double *dv);

/* ---- split-KV decoding over a paged cache --------------------------------- */
typedef struct attn_paged_dims {
    int Z, H, HK, D;
    int P, PS;   /* pages in the cache, page size */
    int MAXP;    /* block_table row length */
} attn_paged_dims;

/* q: [Z, H, D]; k_cache, v_cache: [P, PS, HK, D]; block_table: [Z, MAXP];
 * seq_lens: [Z].  Key j of sequence z is at page block_table[z, j / PS], slot
 * j % PS.  o: [Z, H, D]; lse: [Z, H] (may be NULL). */
void attn_ref_decode(const attn_paged_dims *d, const float *q, const float *k_cache,
                     const float *v_cache, const int32_t *block_table,
                     const int32_t *seq_lens, double scale, double *o, double *lse);

/* The combine step alone: rows = Z * H, each with S partial results.
 * o_part: [rows, S, D]; lse_part: [rows, S]; o: [rows, D]; lse: [rows] (may be NULL).
 * LSE = log sum_s exp(LSE_s), O = sum_s exp(LSE_s - LSE) O_s; all -inf gives 0, -inf. */
void attn_ref_combine(int rows, int S, int D, const float *o_part, const float *lse_part,
                      double *o, double *lse);

/* ---- Lightning Attention ---------------------------------------------------- */
typedef struct lightning_dims {
    int Z, H, N, D, E;  /* q, k: [Z, H, N, D]; v, o: [Z, H, N, E] */
} lightning_dims;

/* o_t = sum_{s <= t} decay[h]^(t - s) (q_t . k_s) v_s, the O(N^2) sum. */
void attn_ref_lightning(const lightning_dims *d, const float *q, const float *k,
                        const float *v, const float *decay, double *o);

/* The same through the D x E state: KV_t = decay KV_{t-1} + k_t^T v_t,
 * o_t = q_t KV_t.  Only for checking the reference itself. */
void attn_ref_lightning_recurrent(const lightning_dims *d, const float *q, const float *k,
                                  const float *v, const float *decay, double *o);

#endif
