"""bench_dynsparse.py - the dynamic sparse attention chains (issue 9) on one GPU,
stage by stage, next to dense attention on the same inputs.

Run through bench_attn.py: `python3 bench/bench_attn.py --only dynsparse [--quick]`
(it passes its Tile context and its timing/recording helpers to run()).
DYNSPARSE_LENGTHS=131072 picks the lengths, DYNSPARSE_CHAINS=decode the chains
(prefill, decode, bucketed).

  prefill  FlexPrefill (lib/attention/flexprefill.tile): flex_pool_k,
           flex_pool_q, flex_estimate, flex_last_lse + flex_last_mass (the
           exact last query block in runs of key blocks, the run count from
           tile_split_count), flex_select (top-k mode, about 10% of the
           causal key blocks kept), block_sparse_fwd_causal (BK = 64: 128-key
           blocks in two steps); dense
           flash_fwd_causal; the kept softmax mass (flex_kept_mass, mean over
           rows); the exact last row checked against torch's softmax mass per
           key block, the sparse output on a sample of rows against torch
           with the same block mask.
  decode   TokenSelect (token_select.tile): ts_logits (each key read
           once), ts_score_logits, ts_select_chunk, ts_select (K = 2048 plus
           4 sinks and a 64-token window), ts_decode_gqa, decode_merge;
           Quest: quest_score, quest_select (2048 tokens' worth of pages),
           the same attention; dense decode_gqa + decode_merge (GB/s of KV
           read next to a torch copy of the same bytes); split counts from
           tile_split_count; kept mass exp(LSE_sparse - LSE_dense); outputs
           checked against torch over the kept tokens.
  bucketed HyperAttention (hyper.tile: hyper_planes, hyper_hash of the
           queries and the keys, the chunked counting sort of both
           (bucket_count, bucket_offsets, bucket_place), hyper_sample,
           hyper_attn; 64 buckets, blocks of 128, 64 samples) and Routing
           (route_code of both with 16 centroids, the same sorts,
           routing_attn), non-causal; dense flash_fwd on the same inputs;
           each stage's time, the total, exp(LSE - LSE_dense) (for Routing
           the kept softmax mass), rows of two heads (two KV groups) checked
           against torch with the kernels' own codes, orders and samples.
Contexts of 32k and 128k tokens (--quick: 32k).  bf16, D = 128.  Inputs are
random with structure (a few key blocks / tokens that queries align with), so
that selection has something to find.
"""
import math
import os
import traceback

import torch

FLEX = "attention/flexprefill.tile"
TS = "attention/token_select.tile"
DEC = "attention/decode.tile"
BS = "attention/block_sparse.tile"
FWD = "attention/flash_fwd.tile"
HYP = "attention/hyper.tile"


def _time(bench_ms, fns):
    """Milliseconds of each stage (a list of callables), each timed alone."""
    return [bench_ms(f) for f in fns]


def _structured(gen, shape, block, lean, dim):
    """Random bf16 values plus a direction shared by every `block` rows along
    dim -2, so attention concentrates on a few blocks."""
    x = torch.randn(*shape, device="cuda", generator=gen)
    n = shape[-2]
    topics = torch.randn(4, shape[-1], device="cuda", generator=gen)
    which = (torch.arange(n, device="cuda") // block * 5) % 4
    return (x + lean * topics[which]).to(torch.bfloat16)


def bench_prefill(tile, record, bench_ms, L):
    Z, H, HK, D, BM, BN = 1, 32, 8, 128, 128, 128
    MB = NB = L // BM
    keep = max(2, NB // 20)   # about 10% of the causal blocks (NB / 2 per row on average)
    cfg = f"prefill L={L} H={H} HK={HK} D={D}"
    gen = torch.Generator(device="cuda").manual_seed(L)
    q = _structured(gen, (Z, H, L, D), BM, 1.0, 2)
    k = _structured(gen, (Z, HK, L, D), BN, 1.0, 2)
    v = torch.randn(Z, HK, L, D, device="cuda", generator=gen).to(torch.bfloat16)
    scale = 1 / math.sqrt(D)
    runs = tile.split_count(Z * H, NB)          # runs of key blocks of the exact last row
    f32 = dict(device="cuda", dtype=torch.float32)
    kbar = torch.empty(Z, HK, NB, D, **f32)
    qbar = torch.empty(Z, H, MB, D, **f32)
    lse_part = torch.empty(Z, H, runs, BM, **f32)
    est = torch.empty(Z, H, MB, NB, **f32)
    kv_idx = torch.empty(Z, H, MB, NB, device="cuda", dtype=torch.int32)
    kv_cnt = torch.empty(Z, H, MB, device="cuda", dtype=torch.int32)
    o = torch.empty_like(q)
    lse = torch.empty(Z, H, L, **f32)
    od = torch.empty_like(q)
    lsed = torch.empty(Z, H, L, **f32)
    frac = torch.empty(Z, H, L, **f32)
    exact = {"T": "bf16", "D": D, "BM": BM, "BN": BN}
    pool = tile.kernel(FLEX, "flex_pool_k", {"T": "bf16", "D": D, "BN": BN})
    pool_q = tile.kernel(FLEX, "flex_pool_q", {"T": "bf16", "D": D, "BM": BM})
    estimate = tile.kernel(FLEX, "flex_estimate", {"D": D, "BM": BM, "BN": BN})
    last_lse = tile.kernel(FLEX, "flex_last_lse", exact)
    last_mass = tile.kernel(FLEX, "flex_last_mass", exact)
    select = tile.kernel(FLEX, "flex_select", {"BM": BM, "BN": BN, "NBMAX": NB, "by_mass": "false"})
    # 128-key blocks attended in 64-key steps (BK): dense attention's [128, 64] tile, where one
    # [128, 128] step spills (session 4: 125 ms for 9.7% of the blocks, 2.5x dense's rate per block)
    sparse = tile.kernel(BS, "block_sparse_fwd_causal", {"T": "bf16", "D": D, "BM": BM, "BN": BN, "BK": 64})
    dense = tile.kernel(FWD, "flash_fwd_causal", {"T": "bf16", "D": D})
    kept = tile.kernel(FLEX, "flex_kept_mass", {})
    # stages in chain order (the last two overwrite est's last row after flex_estimate)
    chain = [("pool_k", pool, pool.args(k=k, kbar=kbar)),
             ("pool_q", pool_q, pool_q.args(q=q, qbar=qbar)),
             ("estimate", estimate, estimate.args(qbar=qbar, kbar=kbar, est=est, M=L, N=L, scale=scale)),
             ("last_lse", last_lse, last_lse.args(q=q, k=k, lse_part=lse_part, scale=scale)),
             ("last_mass", last_mass, last_mass.args(q=q, k=k, lse_part=lse_part, est=est, scale=scale)),
             ("select", select, select.args(est=est, kv_idx=kv_idx, kv_cnt=kv_cnt, M=L, N=L, tau=0.0, keep=keep)),
             ("sparse_attn", sparse, sparse.args(q=q, k=k, v=v, kv_idx=kv_idx, kv_cnt=kv_cnt, o=o, lse=lse,
                                                 scale=scale))]
    dense_args = dense.args(q=q, k=k, v=v, o=od, lse=lsed, scale=scale)
    for _, kk, aa in chain:
        kk.launch(aa)
    dense.launch(dense_args)
    kept.launch(kept.args(lse_sparse=lse, lse_dense=lsed, frac=frac))
    tile.sync()
    # the exact last row against torch for head 0: log of the mean softmax mass per key block
    rows = torch.arange((MB - 1) * BM, L, device="cuda")
    s = (q[0, 0, rows].float() @ k[0, 0].float().T) * scale
    s = s.masked_fill(torch.arange(L, device="cuda")[None, :] > rows[:, None], float("-inf"))
    mass = torch.softmax(s, -1).view(len(rows), NB, BN).sum(-1).mean(0)
    est_err = (est[0, 0, MB - 1].exp() - mass).abs().max().item()
    # check a sample of query blocks of head 0 against torch with the kept blocks
    err = 0.0
    for b in sorted({0, MB // 3, MB - 1}):
        rows = torch.arange(b * BM, (b + 1) * BM, device="cuda")
        blocks = kv_idx[0, 0, b, :kv_cnt[0, 0, b]].long()
        vis = torch.zeros(L, dtype=torch.bool, device="cuda")
        vis[(blocks[:, None] * BN + torch.arange(BN, device="cuda")).flatten()] = True
        mask = vis[None, :] & (torch.arange(L, device="cuda")[None, :] <= rows[:, None])
        s = (q[0, 0, rows].float() @ k[0, 0].float().T) * scale
        p = torch.softmax(s.masked_fill(~mask, float("-inf")), -1)
        ref = p @ v[0, 0].float()
        err = max(err, ((o[0, 0, rows].float() - ref).norm() / ref.norm()).item())
    kept_frac = kv_cnt.float().sum().item() / (Z * H * sum(b + 1 for b in range(MB)))
    kept_mass = frac.mean().item()
    ms = _time(bench_ms, [lambda kk=kk, aa=aa: kk.launch(aa) for _, kk, aa in chain])
    dense_ms = bench_ms(lambda: dense.launch(dense_args))
    total = sum(ms)
    note = (f"kept {100 * kept_frac:.1f}% blocks, mass {kept_mass:.3f}, rel_err {err:.1e}, "
            f"last-row mass err {est_err:.1e} ({runs} runs)")
    if err > 2e-2 or est_err > 1e-3:
        note = "WRONG: " + note
    for (name, _, _), t in zip(chain, ms):
        record("dynsparse", cfg, "tile-" + name, t, "ms", f"{t:.3f} ms")
    record("dynsparse", cfg, "tile-estimate-chain", sum(ms[:6]), "ms", "pool_k .. select")
    record("dynsparse", cfg, "tile-total", total, "ms", note)
    record("dynsparse", cfg, "dense-flash", dense_ms, "ms", f"speedup x{dense_ms / total:.2f}")


def bench_decode(tile, record, bench_ms, L):
    Z, H, HK, D, PS = 4, 32, 8, 128, 64
    K, S, W, C = 2048, 4, 64, 16384
    pages = L // PS
    P = Z * pages
    NCK = -(-L // C) * K
    G = H // HK
    BT = 64                                  # ts_decode_gqa's tokens per step (its default)
    cfg = f"decode ctx={L} Z={Z} H={H} HK={HK} D={D}"
    gen = torch.Generator(device="cuda").manual_seed(L + 1)
    q = torch.randn(Z, H, D, device="cuda", generator=gen).to(torch.bfloat16)
    kc = torch.randn(P, PS, HK, D, device="cuda", generator=gen)
    # heavy hitters: 1% of the tokens lean toward their group's first query
    hot = torch.rand(P, PS, device="cuda", generator=gen) < 0.01
    table = torch.randperm(P, device="cuda", generator=gen).to(torch.int32).view(Z, pages)
    owner = torch.empty(P, dtype=torch.long, device="cuda")
    owner[table.long().flatten()] = torch.arange(Z, device="cuda").repeat_interleave(pages)
    lean = q.float().view(Z, HK, H // HK, D)[:, :, 0][owner]            # [P, HK, D]
    kc = (kc + hot[:, :, None, None] * lean[:, None]).to(torch.bfloat16)
    vc = torch.randn(P, PS, HK, D, device="cuda", generator=gen).to(torch.bfloat16)
    lens = torch.full((Z,), L, device="cuda", dtype=torch.int32)
    ks, vs = kc.view(P * PS, HK, D), vc.view(P * PS, HK, D)
    scale = 1 / math.sqrt(D)
    f32 = dict(device="cuda", dtype=torch.float32)
    i32 = dict(device="cuda", dtype=torch.int32)
    S_dense = tile.split_count(Z * HK, pages)
    lse_p = torch.empty(Z, H, S_dense, **f32)
    logits = torch.empty(Z, H, L, **f32)
    score = torch.empty(Z, HK, L, **f32)
    cs, cp = torch.empty(Z, HK, NCK, **f32), torch.empty(Z, HK, NCK, **i32)
    tmax = S + W + K
    KP = K // PS
    tq = (KP + 2) * PS
    ti, tc = torch.empty(Z, HK, tmax, **i32), torch.empty(Z, HK, **i32)
    qi, qc = torch.empty(Z, HK, tq, **i32), torch.empty(Z, HK, **i32)
    bf16 = dict(device="cuda", dtype=torch.bfloat16)
    kmin, kmax = torch.empty(P, HK, D, **bf16), torch.empty(P, HK, D, **bf16)   # min/max of bf16 keys: exact
    pscore = torch.empty(Z, HK, pages, **f32)
    S_tok = tile.split_count(Z * HK, -(-max(tmax, tq) // BT))
    o_part, l_part = torch.empty(Z, H, S_tok, D, **f32), torch.empty(Z, H, S_tok, **f32)
    o_dense, l_dense = torch.empty(Z, H, S_dense, D, **f32), torch.empty(Z, H, S_dense, **f32)
    outs = {n: (torch.empty(Z, H, D, device="cuda", dtype=torch.bfloat16), torch.empty(Z, H, **f32))
            for n in ("token", "quest", "dense")}
    kd = lambda name, defs, path=TS: tile.kernel(path, name, defs)  # noqa: E731
    k_lse = kd("ts_logits", {"T": "bf16", "D": D, "G": G, "PS": PS})
    k_score = kd("ts_score_logits", {"G": G})
    k_chunk = kd("ts_select_chunk", {"K": K, "C": C, "S": S, "W": W})
    k_sel = kd("ts_select", {"K": K, "NCMAX": NCK // K, "S": S, "W": W})
    k_att = kd("ts_decode_gqa", {"T": "bf16", "D": D, "G": G, "PS": PS, "BT": BT})
    k_comb = kd("decode_merge", {"T": "bf16", "D": D}, DEC)
    k_sum = kd("quest_summaries", {"T": "bf16", "D": D, "PS": PS})
    k_qs = kd("quest_score", {"T": "bf16", "D": D, "G": G, "PS": PS})
    k_qsel = kd("quest_select", {"PS": PS, "KP": KP, "PMAX": pages})
    k_dense = kd("decode_gqa", {"T": "bf16", "D": D, "G": G, "PS": PS}, DEC)
    common = dict(q=q, block_table=table, seq_lens=lens)
    token = [(k_lse, k_lse.args(k_slots=ks, logits=logits, lse_part=lse_p, scale=scale, **common)),
             (k_score, k_score.args(logits=logits, lse_part=lse_p, seq_lens=lens, score=score)),
             (k_chunk, k_chunk.args(score=score, seq_lens=lens, cand_score=cs, cand_pos=cp)),
             (k_sel, k_sel.args(cand_score=cs, cand_pos=cp, seq_lens=lens, tok_idx=ti, tok_cnt=tc)),
             (k_att, k_att.args(q=q, k_slots=ks, v_slots=vs, block_table=table, tok_idx=ti, tok_cnt=tc,
                                o_part=o_part, lse_part=l_part, scale=scale)),
             (k_comb, k_comb.args(o_part=o_part, lse_part=l_part, o=outs["token"][0], lse=outs["token"][1]))]
    quest = [(k_qs, k_qs.args(kmin=kmin, kmax=kmax, page_score=pscore, **common)),
             (k_qsel, k_qsel.args(page_score=pscore, seq_lens=lens, tok_idx=qi, tok_cnt=qc)),
             (k_att, k_att.args(q=q, k_slots=ks, v_slots=vs, block_table=table, tok_idx=qi, tok_cnt=qc,
                                o_part=o_part, lse_part=l_part, scale=scale)),
             (k_comb, k_comb.args(o_part=o_part, lse_part=l_part, o=outs["quest"][0], lse=outs["quest"][1]))]
    dense = [(k_dense, k_dense.args(k_slots=ks, v_slots=vs, o_part=o_dense, lse_part=l_dense, scale=scale, **common)),
             (k_comb, k_comb.args(o_part=o_dense, lse_part=l_dense, o=outs["dense"][0], lse=outs["dense"][1]))]
    k_sum(k_slots=ks, kmin=kmin, kmax=kmax, **{n: common[n] for n in ("block_table", "seq_lens")})
    for chain in (token, quest, dense):
        for kk, aa in chain:
            kk.launch(aa)
    tile.sync()

    def check(lists, name):
        """rel error vs torch over the kept tokens, and the kept mass."""
        o, lse = outs[name]
        errs = []
        for z in range(Z):
            for g in range(HK):
                pos = lists[z, g]
                pos = pos[pos >= 0].long()
                slot = table[z, pos // PS].long() * PS + pos % PS
                kk, vv = ks[slot, g].float(), vs[slot, g].float()
                qq = q[z, g * (H // HK):(g + 1) * (H // HK)].float()
                ref = torch.softmax(qq @ kk.T * scale, -1) @ vv
                got = o[z, g * (H // HK):(g + 1) * (H // HK)].float()
                errs.append(((got - ref).norm() / ref.norm()).item())
        mass = torch.exp(lse - outs["dense"][1]).mean().item()
        return max(errs), mass

    totals = {}
    for name, chain, lists in (("token", token, ti), ("quest", quest, qi)):
        err, mass = check(lists, name)
        ms = _time(bench_ms, [lambda kk=kk, aa=aa: kk.launch(aa) for kk, aa in chain])
        note = f"mass {mass:.3f}, rel_err {err:.1e}" + ("" if err < 2e-2 else " WRONG")
        for (kk, _), t in zip(chain, ms):
            record("dynsparse", cfg, f"{name}-{kk.name}", t, "ms", f"{1e3 * t:.1f} us")
        record("dynsparse", cfg, f"{name}-total", sum(ms), "ms", note + f"; {1e3 * sum(ms):.1f} us")
        totals[name] = sum(ms)
    ms = _time(bench_ms, [lambda kk=kk, aa=aa: kk.launch(aa) for kk, aa in dense])
    speedups = ", ".join(f"{n} x{sum(ms) / t:.2f}" for n, t in totals.items())
    kv_bytes = 2 * Z * L * HK * D * 2
    src = torch.empty(kv_bytes // 2, device="cuda", dtype=torch.bfloat16)
    dst = torch.empty_like(src)
    copy = 2 * kv_bytes / (bench_ms(lambda: dst.copy_(src)) * 1e-3) * 1e-9   # (read + written) / time
    del src, dst
    gbps = kv_bytes / (sum(ms) * 1e-3) * 1e-9
    record("dynsparse", cfg, "dense-decode", sum(ms), "ms",
           f"{1e3 * sum(ms):.1f} us, S={S_dense} (token lists S={S_tok}); KV read {gbps:.0f} GB/s, "
           f"{100 * gbps / copy:.0f}% of copy {copy:.0f} GB/s; speedup {speedups}")


def _hyper_ref(q, k, v, scale, perm_k, pos_q, pos_k, cols, h, hk, rows, BB, MS, N):
    """HyperAttention rows of head h from the kernel's own buckets and samples:
    the keys of the query's block of the sorted order, plus the sampled
    columns outside it weighted N / MS (lse includes the weights)."""
    outs, lses = [], []
    for i in rows.tolist():
        qb = int(pos_q[0, h, i]) // BB
        blk = perm_k[0, hk, qb * BB:min(qb * BB + BB, N)].long()
        c = cols[0, h].long()
        outside = (pos_k[0, hk, c] // BB) != qb
        c = c[outside]
        qi = q[0, h, i].float()
        s = torch.cat([k[0, hk, blk].float() @ qi * scale,
                       k[0, hk, c].float() @ qi * scale + math.log(N / MS)])
        vv = torch.cat([v[0, hk, blk].float(), v[0, hk, c].float()])
        outs.append(torch.softmax(s, 0) @ vv)
        lses.append(torch.logsumexp(s, 0))
    return torch.stack(outs), torch.stack(lses)


def _routing_ref(q, k, v, scale, code_q, code_k, h, hk, rows):
    """Routing rows of head h: exact softmax over the keys of the query's own
    cluster (O = 0, LSE = -inf for a cluster with no key)."""
    outs, lses = [], []
    for i in rows.tolist():
        keys = (code_k[0, hk] == code_q[0, h, i]).nonzero().flatten()
        if len(keys) == 0:
            outs.append(torch.zeros(q.shape[-1], device="cuda"))
            lses.append(torch.tensor(float("-inf"), device="cuda"))
            continue
        s = k[0, hk, keys].float() @ q[0, h, i].float() * scale
        outs.append(torch.softmax(s, 0) @ v[0, hk, keys].float())
        lses.append(torch.logsumexp(s, 0))
    return torch.stack(outs), torch.stack(lses)


def _rows_err(o, lse, ref_o, ref_l, h, rows):
    """Largest relative error of O (per row) and absolute error of finite LSEs."""
    got = o[0, h, rows].float()
    err_o = ((got - ref_o).norm(dim=-1) / ref_o.norm(dim=-1).clamp_min(1e-6)).max().item()
    fin = torch.isfinite(ref_l)
    err_l = (lse[0, h, rows][fin] - ref_l[fin]).abs().max().item() if fin.any() else 0.0
    bad_inf = bool((torch.isinf(lse[0, h, rows]) != ~fin).any())
    return max(err_o, err_l, float("inf") if bad_inf else 0.0)


def bench_bucketed(tile, record, bench_ms, L):
    """HyperAttention (hyper_planes, hyper_hash q and k, bucket_sort q and k,
    hyper_sample, hyper_attn) and Routing (route_code q and k, bucket_sort q
    and k, routing_attn), non-causal, next to dense flash_fwd on the same
    inputs; rows of two heads (one per KV group: GQA) checked against torch
    with the kernels' own codes, orders and samples."""
    Z, H, HK, D = 1, 32, 8, 128
    NP, BB, MS = 6, 128, 64                 # 64 buckets, blocks of 128 sorted positions, 64 samples
    C, BM, BN = 16, 64, 64                  # routing: 16 clusters
    cfg = f"bucketed L={L} H={H} HK={HK} D={D}"
    gen = torch.Generator(device="cuda").manual_seed(L + 7)
    q = _structured(gen, (Z, H, L, D), 128, 1.0, 2)
    k = _structured(gen, (Z, HK, L, D), 128, 1.0, 2)
    v = torch.randn(Z, HK, L, D, device="cuda", generator=gen).to(torch.bfloat16)
    centroids = torch.randn(C, D, device="cuda", generator=gen)
    scale = 1 / math.sqrt(D)
    f32 = dict(device="cuda", dtype=torch.float32)
    i32 = dict(device="cuda", dtype=torch.int32)
    planes = torch.empty(NP, D, **f32)
    CH = 2048                               # positions per chunk of the chunked counting sort
    NCH = -(-L // CH)
    side = {}   # per (method, q|k): code, perm, pos, starts, counts, offsets
    for m, ncode in (("hyper", 2 ** NP), ("route", C)):
        for x, hx in (("q", H), ("k", HK)):
            side[m, x] = ([torch.empty(Z, hx, L, **i32) for _ in range(3)] + [torch.empty(Z, hx, ncode + 1, **i32)] +
                          [torch.empty(Z, hx, NCH, ncode, **i32) for _ in range(2)])
    cols = torch.empty(Z, H, MS, **i32)
    o_h, o_r, o_d = (torch.empty_like(q) for _ in range(3))
    l_h, l_r, l_d = (torch.empty(Z, H, L, **f32) for _ in range(3))
    k_planes = tile.kernel(HYP, "hyper_planes", {"NP": NP, "D": D})
    k_hash = tile.kernel(HYP, "hyper_hash", {"T": "bf16", "D": D, "NP": NP})
    k_route = tile.kernel(HYP, "route_code", {"T": "bf16", "D": D, "C": C, "BL": 16})
    sorts = {m: [tile.kernel(HYP, n, {"NCODE": ncode, "CH": CH} if n != "bucket_offsets" else {"NCODE": ncode})
                 for n in ("bucket_count", "bucket_offsets", "bucket_place")]
             for m, ncode in (("hyper", 2 ** NP), ("route", C))}
    k_sample = tile.kernel(HYP, "hyper_sample", {"MS": MS})
    k_hattn = tile.kernel(HYP, "hyper_attn", {"T": "bf16", "D": D, "BB": BB, "MS": MS})
    k_rattn = tile.kernel(HYP, "routing_attn", {"T": "bf16", "D": D, "BM": BM, "BN": BN})
    dense = tile.kernel(FWD, "flash_fwd", {"T": "bf16", "D": D})

    def sort_stages(m, x):
        """The chunked sort of side x: count, offsets, place (one launch each)."""
        code, perm, pos, starts, counts, offsets = side[m, x]
        kc, ko, kp = sorts[m]
        return [(f"count_{x}", kc, kc.args(code=code, counts=counts)),
                (f"offsets_{x}", ko, ko.args(counts=counts, offsets=offsets, starts=starts)),
                (f"place_{x}", kp, kp.args(code=code, offsets=offsets, perm=perm, pos=pos))]
    hq, hk_ = side["hyper", "q"], side["hyper", "k"]
    rq, rk = side["route", "q"], side["route", "k"]
    chains = {
        "hyper": [("planes", k_planes, k_planes.args(planes=planes, seed=1234)),
                  ("hash_q", k_hash, k_hash.args(x=q, planes=planes, code=hq[0])),
                  ("hash_k", k_hash, k_hash.args(x=k, planes=planes, code=hk_[0])),
                  *sort_stages("hyper", "q"), *sort_stages("hyper", "k"),
                  ("sample", k_sample, k_sample.args(cols=cols, N=L, seed=99)),
                  ("attn", k_hattn, k_hattn.args(q=q, k=k, v=v, perm_q=hq[1], perm_k=hk_[1], pos_k=hk_[2],
                                                 cols=cols, o=o_h, lse=l_h, scale=scale))],
        "routing": [("code_q", k_route, k_route.args(x=q, centroids=centroids, code=rq[0])),
                    ("code_k", k_route, k_route.args(x=k, centroids=centroids, code=rk[0])),
                    *sort_stages("route", "q"), *sort_stages("route", "k"),
                    ("attn", k_rattn, k_rattn.args(q=q, k=k, v=v, perm_q=rq[1], code_q=rq[0], perm_k=rk[1],
                                                   code_k=rk[0], starts_k=rk[3], o=o_r, lse=l_r, scale=scale))],
    }
    dense_args = dense.args(q=q, k=k, v=v, o=o_d, lse=l_d, scale=scale)
    dense.launch(dense_args)
    dense_ms = bench_ms(lambda: dense.launch(dense_args))
    record("dynsparse", cfg, "dense-flash", dense_ms, "ms", f"{dense_ms:.3f} ms, non-causal")
    gen_rows = torch.Generator(device="cuda").manual_seed(5)
    for name, chain in chains.items():
        try:
            for _, kk, aa in chain:
                kk.launch(aa)
            tile.sync()
            err = 0.0
            for h in (0, H // HK + 1):                    # two KV groups
                hkv = h // (H // HK)
                rows = torch.randint(0, L, (24,), device="cuda", generator=gen_rows)
                if name == "hyper":
                    ro, rl = _hyper_ref(q, k, v, scale, hk_[1], hq[2], hk_[2], cols, h, hkv, rows, BB, MS, L)
                    err = max(err, _rows_err(o_h, l_h, ro, rl, h, rows))
                else:
                    ro, rl = _routing_ref(q, k, v, scale, rq[0], rk[0], h, hkv, rows)
                    err = max(err, _rows_err(o_r, l_r, ro, rl, h, rows))
            lse = l_h if name == "hyper" else l_r
            ratio = torch.exp(lse - l_d).mean().item()   # routing: the kept softmax mass
            ms = _time(bench_ms, [lambda kk=kk, aa=aa: kk.launch(aa) for _, kk, aa in chain])
            for (stage, _, _), t in zip(chain, ms):
                record("dynsparse", cfg, f"{name}-{stage}", t, "ms", f"{t:.3f} ms")
            note = (f"{sum(ms):.3f} ms, speedup x{dense_ms / sum(ms):.2f}, rel_err {err:.1e}, "
                    f"exp(LSE - LSE_dense) {ratio:.3f}" + ("" if err < 3e-2 else " WRONG"))
            record("dynsparse", cfg, f"{name}-total", sum(ms), "ms", note)
            if name == "hyper":   # the one-program-per-head bucket_sort on the same codes, for comparison
                serial = tile.kernel(HYP, "bucket_sort", {"NCODE": 2 ** NP})
                perm2, pos2, starts2 = torch.empty_like(hq[1]), torch.empty_like(hq[2]), torch.empty_like(hq[3])
                sa = serial.args(code=hq[0], perm=perm2, pos=pos2, starts=starts2)
                serial.launch(sa)
                tile.sync()
                same = bool((perm2 == hq[1]).all() and (pos2 == hq[2]).all() and (starts2 == hq[3]).all())
                t = bench_ms(lambda: serial.launch(sa))
                record("dynsparse", cfg, "hyper-bucket_sort_q", t, "ms",
                       f"{t:.3f} ms: one program per head (the chunked sort's q stages replace it)"
                       + ("" if same else "; WRONG: differs from the chunked sort"))
        except Exception as e:  # noqa: BLE001 - one failing chain is one row
            traceback.print_exc()
            record("dynsparse", cfg, f"{name}-total", None, "ms", "FAILED: " + str(e).replace("\n", " | ")[:300])


def run(tile, record, bench_ms, quick):
    lengths = os.environ.get("DYNSPARSE_LENGTHS")     # e.g. "131072": one length only
    for L in ([int(x) for x in lengths.split(",")] if lengths else [32768] if quick else [32768, 131072]):
        chains = os.environ.get("DYNSPARSE_CHAINS", "prefill,decode,bucketed").split(",")   # e.g. "decode"
        for fn in [f for f in (bench_prefill, bench_decode, bench_bucketed) if f.__name__[6:] in chains]:
            try:
                fn(tile, record, bench_ms, L)
            except Exception as e:  # noqa: BLE001 - one failing chain is one row
                traceback.print_exc()
                record("dynsparse", f"{fn.__name__} L={L}", "tile", None, "ms",
                       "FAILED: " + str(e).replace("\n", " | ")[:300])
            torch.cuda.empty_cache()
