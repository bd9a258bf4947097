#!/usr/bin/env python3
"""oracle_check.py - the library's reference semantics against PyTorch.

Runs every attention library program through `build/tilec run --interp` (the
CPU interpreter, the semantics the GPU backend must match) on fresh random
inputs and compares with PyTorch as an independent oracle:
  - forward: torch.nn.functional.scaled_dot_product_attention in float64 (math
    backend) with PyTorch's own masks (causal_lower_right for M != N, boolean
    masks for sliding window + sinks and document masking), GQA through
    enable_gqa, and in bf16 through the FLASH backend (the peer kernel);
  - backward: torch.autograd through the float64 SDPA;
  - decode: SDPA per sequence over the keys gathered from the paged cache;
  - Lightning Attention-2: the O(N^2) decayed sum in float64;
  - issue 8's programs (S2, DuoAttention prefill and paged decode, MoH, Aaren,
    BASED, SQA) and every score modifier of scores.tile through flash_fwd's
    specialisations (ALiBi, softcap, relative bias, ACT, T5 buckets): masked
    softmax written out in float64 (softmax_ref, no SDPA) with each program's
    mask / weighting / modifier written from its definition here.
The tests in tests/ compare the same programs with naive C references; this
script checks that those references mean what PyTorch means.

Needs python3 with torch and numpy (the H200 machine has both); uses CUDA when
present.  Prints one row per check and a summary table last.
Usage: python3 bench/oracle_check.py [--tilec build/tilec] [--seed N] [--only issue8]
"""
import argparse
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, "lib", "attention")
DEV = "cuda" if torch.cuda.is_available() else "cpu"
rows = []


def tilec_run(tilec, file, kernel, inputs, defines):
    """Runs a kernel on the interpreter; returns its outputs as float64 tensors."""
    work = tempfile.mkdtemp(prefix="tile_oracle_")
    args = [tilec, "run", os.path.join(LIB, file), "-k", kernel, "--interp", "--out-dir", work,
            "-I", os.path.join(ROOT, "lib")]
    for name, t in inputs.items():
        path = os.path.join(work, "in_" + name + ".npy")
        t = t.detach().cpu()
        arr = t.to(torch.float32).numpy() if t.is_floating_point() else t.to(torch.int32).numpy()
        np.save(path, arr)
        args += ["--in", f"{name}={path}"]
    for k, v in defines.items():
        args += ["-D", f"{k}={v}"]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"tilec failed ({r.returncode}): {' '.join(args)}\n{r.stderr}")
    return {f[:-4]: torch.from_numpy(np.load(os.path.join(work, f))).to(torch.float64)
            for f in os.listdir(work) if f.endswith(".npy") and not f.startswith("in_")}


def rel_err(got, ref, valid=None):
    got, ref = got.to(torch.float64).cpu(), ref.to(torch.float64).cpu()
    if valid is not None:
        got, ref = got[valid], ref[valid]
    if got.numel() == 0:
        return 0.0
    if torch.isnan(got).any():
        return float("nan")
    return (torch.linalg.vector_norm(got - ref) / max(torch.linalg.vector_norm(ref), 1e-30)).item()


def record(name, what, err, tol):
    ok = err == err and err <= tol
    rows.append((name, what, err, tol, ok))
    print(f"{'ok  ' if ok else 'FAIL'} {name:44s} {what:8s} rel_err={err:.2e} tol={tol:.0e}", flush=True)


def rand(*shape, dtype=torch.bfloat16, gen=None):
    return (torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 - 1).to(dtype)


def visible_mask(kind, M, N, Z, W=0, S=0, doc=None):
    """[Z, 1, M, N] bool, True = attend; the definitions of docs/library.md."""
    i = torch.arange(M).view(M, 1) + (N - M)  # query row in key positions
    j = torch.arange(N).view(1, N)
    if kind == "full":
        m = torch.ones(M, N, dtype=torch.bool)
    elif kind == "causal":
        m = j <= i
    elif kind == "sliding":
        m = (j <= i) & ((i - j < W) | (j < S))
    elif kind == "document":  # causal within each document
        di = doc[:, (torch.arange(M) + (N - M)).clamp(min=0)]
        return (di.view(Z, 1, M, 1) == doc.view(Z, 1, 1, N)) & (j <= i) & (i >= 0)
    return m.expand(Z, 1, M, N).clone()


def sdpa64(q, k, v, mask, scale):
    """Reference O and LSE in float64 via PyTorch SDPA (math backend)."""
    q64, k64, v64 = (t.to(DEV, torch.float64) for t in (q, k, v))
    m = mask.to(DEV)
    o = F.scaled_dot_product_attention(q64, k64, v64, attn_mask=m, scale=scale,
                                       enable_gqa=q.shape[1] != k.shape[1])
    rep = q.shape[1] // k.shape[1]
    s = (q64 @ k64.repeat_interleave(rep, 1).transpose(-1, -2)) * scale
    lse = torch.logsumexp(s.masked_fill(~m, -math.inf), dim=-1)
    return o.cpu(), lse.cpu()


def check_fwd(tilec, gen, name, Z, H, HK, M, N, D, kind, W=0, S=0, T="bf16"):
    dt = torch.bfloat16 if T == "bf16" else torch.float32
    q, k, v = rand(Z, H, M, D, dtype=dt, gen=gen), rand(Z, HK, N, D, dtype=dt, gen=gen), \
        rand(Z, HK, N, D, dtype=dt, gen=gen)
    scale = 1 / math.sqrt(D)
    defines = {"T": T, "D": D, "scale": repr(scale), "BM": 32, "BN": 32}
    inputs = {"q": q, "k": k, "v": v}
    doc = None
    kernel = "flash_fwd"
    if kind == "causal":
        defines.update(mask="causal", kv_range="causal_range")
    elif kind == "sliding":
        defines.update(mask=f"sliding_window(W:{W},S:{S})", kv_range=f"sliding_window_range(W:{W},S:{S})")
    elif kind == "document":
        lens = []
        while sum(lens) < N:
            lens.append(int(torch.randint(1, max(2, N // 3), (1,), generator=gen)))
        doc = torch.repeat_interleave(torch.arange(len(lens)), torch.tensor(lens))[:N]
        doc = doc.view(1, N).expand(Z, N).contiguous()
        inputs["doc"] = doc
        kernel = "flash_fwd_document_causal"
    out = tilec_run(tilec, "flash_fwd.tile", kernel, inputs, defines)
    mask = visible_mask(kind, M, N, Z, W, S, doc)
    ref_o, ref_lse = sdpa64(q, k, v, mask, scale)
    seen = mask.any(-1).expand(Z, H, M)  # rows that see at least one key
    tol = 1e-2 if T == "bf16" else 1e-5
    record(name, "O", rel_err(out["o"], ref_o, seen), tol)
    record(name, "LSE", rel_err(out["lse"], ref_lse, seen), 1e-5)
    blind = ~seen
    if blind.any():
        ok = bool((out["o"][blind] == 0).all() and torch.isneginf(out["lse"][blind]).all())
        record(name, "masked", 0.0 if ok else float("inf"), 0)
    if kind == "causal" and T == "bf16" and DEV == "cuda":
        # The peer: PyTorch's FlashAttention-2 kernel in bf16 on the same inputs.
        from torch.nn.attention import SDPBackend, sdpa_kernel
        from torch.nn.attention.bias import causal_lower_right
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]):
            rep = H // HK
            peer = F.scaled_dot_product_attention(
                q.to(DEV), k.to(DEV).repeat_interleave(rep, 1), v.to(DEV).repeat_interleave(rep, 1),
                attn_mask=causal_lower_right(M, N) if M != N else None, is_causal=M == N, scale=scale)
        record(name, "vs flash", rel_err(out["o"], peer.float(), seen), 2e-2)


def check_bwd(tilec, gen, name, Z, H, HK, M, N, D, causal):
    q, k, v = rand(Z, H, M, D, gen=gen), rand(Z, HK, N, D, gen=gen), rand(Z, HK, N, D, gen=gen)
    dout = rand(Z, H, M, D, gen=gen)
    scale = 1 / math.sqrt(D)
    base = {"D": D, "BM": 16, "BN": 16}
    fwd_defines = dict(base, scale=repr(scale))
    if causal:
        fwd_defines.update(mask="causal", kv_range="causal_range")
    f = tilec_run(tilec, "flash_fwd.tile", "flash_fwd", {"q": q, "k": k, "v": v}, fwd_defines)
    o = f["o"].to(torch.bfloat16)
    lse = f["lse"].to(torch.float32)
    delta = tilec_run(tilec, "flash_bwd.tile", "flash_bwd_preprocess", {"o": o, "dout": dout},
                      {"D": D, "BM": 16})["delta"].to(torch.float32)
    ins = {"q": q, "k": k, "v": v, "dout": dout, "lse": lse, "delta": delta}
    kv = tilec_run(tilec, "flash_bwd.tile", "flash_bwd_dkdv", ins,
                   dict(base, scale=repr(scale), **({"mask": "causal", "q_range": "causal_q_range"} if causal else {})))
    dq = tilec_run(tilec, "flash_bwd.tile", "flash_bwd_dq", ins,
                   dict(base, scale=repr(scale), **({"mask": "causal", "kv_range": "causal_range"} if causal else {})))
    q64, k64, v64 = (t.to(DEV, torch.float64).requires_grad_() for t in (q, k, v))
    mask = visible_mask("causal" if causal else "full", M, N, Z).to(DEV)
    o64 = F.scaled_dot_product_attention(q64, k64, v64, attn_mask=mask, scale=scale, enable_gqa=H != HK)
    seen = mask.any(-1).expand(Z, H, M)
    o64 = torch.where(seen[..., None], o64, torch.zeros_like(o64))  # SDPA gives NaN there
    o64.backward(dout.to(DEV, torch.float64))
    for what, got, ref in (("dQ", dq["dq"], q64.grad), ("dK", kv["dk"], k64.grad), ("dV", kv["dv"], v64.grad)):
        record(name, what, rel_err(got, torch.nan_to_num(ref)), 2e-2)


def paged_cache(gen, Z, H, HK, D, PS, lens):
    """q [Z, H, D], a paged K/V cache [P, PS, HK, D] (3 spare pages) and a block table
    giving each sequence its pages in a random order."""
    P = sum((n + PS - 1) // PS for n in lens) + 3
    maxp = max(1, max((n + PS - 1) // PS for n in lens))
    q = rand(Z, H, D, gen=gen)
    kc, vc = rand(P, PS, HK, D, gen=gen), rand(P, PS, HK, D, gen=gen)
    pages = torch.randperm(P, generator=gen)
    table = torch.zeros(Z, maxp, dtype=torch.int32)
    at = 0
    for z, n in enumerate(lens):
        for p in range((n + PS - 1) // PS):
            table[z, p] = pages[at]
            at += 1
    return q, kc, vc, table


def check_decode(tilec, gen, name, Z, H, HK, D, PS, S, lens):
    q, kc, vc, table = paged_cache(gen, Z, H, HK, D, PS, lens)
    seq = torch.tensor(lens, dtype=torch.int32)
    scale = 1 / math.sqrt(D)
    part = tilec_run(tilec, "decode.tile", "decode_split",
                     {"q": q, "k_cache": kc, "v_cache": vc, "block_table": table, "seq_lens": seq},
                     {"D": D, "PS": PS, "S": S, "scale": repr(scale)})
    out = tilec_run(tilec, "decode.tile", "decode_combine",
                    {"o_part": part["o_part"].float(), "lse_part": part["lse_part"].float()},
                    {"D": D, "S": S})
    for z, n in enumerate(lens):
        if n == 0:
            record(f"{name} z={z} (empty)", "O", rel_err(out["o"][z], torch.zeros(H, D)), 0)
            continue
        idx = torch.arange(n)
        keys = kc[table[z, idx // PS].long(), idx % PS]  # [n, HK, D]
        vals = vc[table[z, idx // PS].long(), idx % PS]
        ref_o, ref_lse = sdpa64(q[z].view(1, H, 1, D), keys.permute(1, 0, 2)[None], vals.permute(1, 0, 2)[None],
                                torch.ones(1, 1, 1, n, dtype=torch.bool), scale)
        record(f"{name} z={z} n={n}", "O", rel_err(out["o"][z], ref_o.view(H, D)), 1e-2)
        record(f"{name} z={z} n={n}", "LSE", rel_err(out["lse"][z], ref_lse.view(H)), 1e-5)


def check_lightning(tilec, gen, name, Z, H, N, D, E, B, decays):
    q, k, v = rand(Z, H, N, D, dtype=torch.float32, gen=gen), rand(Z, H, N, D, dtype=torch.float32, gen=gen), \
        rand(Z, H, N, E, dtype=torch.float32, gen=gen)
    lam = torch.tensor(decays, dtype=torch.float32)
    out = tilec_run(tilec, "lightning2.tile", "lightning2", {"q": q, "k": k, "v": v, "decay": lam},
                    {"T": "f32", "D": D, "E": E, "B": B})
    t = torch.arange(N, dtype=torch.float64)
    diff = t.view(N, 1) - t.view(1, N)
    q64, k64, v64 = (x.to(DEV, torch.float64) for x in (q, k, v))
    w = torch.where(diff >= 0, lam.to(torch.float64).view(H, 1, 1) ** diff.clamp(min=0), 0.0).to(DEV)
    ref = ((q64 @ k64.transpose(-1, -2)) * w) @ v64
    record(name, "O", rel_err(out["o"], ref), 1e-5)


# ---- issue 8's programs and the score modifiers: float64 references written from the definitions
def softmax_ref(q, k, v, vis, scale, score=None):
    """Masked softmax attention in float64, written out (no SDPA): q [Z, H, M, D]; k, v [Z, HK, N, *]
    (query head h reads key/value head h // (H / HK)); vis: bool, broadcastable to [Z, H, M, N];
    score(s, h, i, j): the modifier on the scaled scores (h [1, H, 1, 1], i [M, 1] in key
    positions i' = i + N - M, j [1, N]).  Returns O, LSE and the rows that see a key."""
    Z, H, M, _ = q.shape
    HK, N = k.shape[1], k.shape[2]
    k64 = k.to(torch.float64).repeat_interleave(H // HK, 1)
    v64 = v.to(torch.float64).repeat_interleave(H // HK, 1)
    s = (q.to(torch.float64) @ k64.transpose(-1, -2)) * scale
    if score is not None:
        s = score(s, torch.arange(H).view(1, H, 1, 1), torch.arange(M).view(M, 1) + (N - M),
                  torch.arange(N).view(1, N))
    vis = vis.expand(Z, H, M, N)
    s = s.masked_fill(~vis, -math.inf)
    lse = torch.logsumexp(s, -1)
    p = torch.exp(s - lse[..., None]).nan_to_num(0.0)
    return p @ v64, lse, vis.any(-1)


def record_attention(name, out, o, lse, seen, T, o_key="o", lse_key="lse"):
    """O and LSE against the reference on the rows that see a key; the others O = 0, LSE = -inf."""
    record(name, "O", rel_err(out[o_key], o, seen), 1e-2 if T == "bf16" else 1e-5)
    if lse_key is not None:
        record(name, "LSE", rel_err(out[lse_key], lse, seen), 1e-5)
    blind = ~seen
    if blind.any():
        ok = bool((out[o_key][blind] == 0).all() and
                  (lse_key is None or torch.isneginf(out[lse_key][blind]).all()))
        record(name, "masked", 0.0 if ok else float("inf"), 0)


def qkv(gen, Z, H, HK, M, N, D, T, E=None):
    dt = torch.bfloat16 if T == "bf16" else torch.float32
    return (rand(Z, H, M, D, dtype=dt, gen=gen), rand(Z, HK, N, D, dtype=dt, gen=gen),
            rand(Z, HK, N, E or D, dtype=dt, gen=gen))


def causal_vis(M, N):
    return (torch.arange(N).view(1, N) <= torch.arange(M).view(M, 1) + (N - M)).view(1, 1, M, N)


def check_s2(tilec, gen, name, Z, H, HK, M, N, D, S, W, T="f32"):
    """s2_fwd: head h sees j <= i' and (j mod S == h mod S or i' - j < W)."""
    q, k, v = qkv(gen, Z, H, HK, M, N, D, T)
    scale = 1 / math.sqrt(D)
    out = tilec_run(tilec, "s2.tile", "s2_fwd", {"q": q, "k": k, "v": v},
                    {"T": T, "D": D, "S": S, "L": W, "scale": repr(scale), "BM": 32, "BN": 32})
    i = (torch.arange(M) + (N - M)).view(1, 1, M, 1)
    j = torch.arange(N).view(1, 1, 1, N)
    h = torch.arange(H).view(1, H, 1, 1)
    vis = (j <= i) & ((j % S == h % S) | (i - j < W))
    record_attention(name, out, *softmax_ref(q, k, v, vis, scale), T)


def check_duo_prefill(tilec, gen, name, Z, H, HK, M, N, D, W, S, streaming, T="f32"):
    """duo_prefill: retrieval heads causal, streaming heads j <= i' and (i' - j < W or j < S)."""
    q, k, v = qkv(gen, Z, H, HK, M, N, D, T)
    scale = 1 / math.sqrt(D)
    st = torch.tensor(streaming, dtype=torch.int32)
    out = tilec_run(tilec, "duo.tile", "duo_prefill", {"q": q, "k": k, "v": v, "streaming": st},
                    {"T": T, "D": D, "W": W, "S": S, "scale": repr(scale), "BM": 32, "BN": 32})
    i = (torch.arange(M) + (N - M)).view(1, 1, M, 1)
    j = torch.arange(N).view(1, 1, 1, N)
    window = (j <= i) & ((i - j < W) | (j < S))
    vis = torch.where(st.view(1, H, 1, 1) != 0, window, j <= i)
    record_attention(name, out, *softmax_ref(q, k, v, vis, scale), T)


def check_duo_decode(tilec, gen, name, Z, H, HK, D, PS, NS, W, S, streaming, lens):
    """duo_decode_split + decode_combine over a paged cache: the new token (position n - 1) of a
    streaming head sees keys j < S or j >= n - W; a retrieval head all n keys."""
    q, kc, vc, table = paged_cache(gen, Z, H, HK, D, PS, lens)
    st = torch.tensor(streaming, dtype=torch.int32)
    scale = 1 / math.sqrt(D)
    part = tilec_run(tilec, "duo.tile", "duo_decode_split",
                     {"q": q, "k_cache": kc, "v_cache": vc, "block_table": table,
                      "seq_lens": torch.tensor(lens, dtype=torch.int32), "streaming": st},
                     {"D": D, "PS": PS, "NS": NS, "W": W, "S": S, "scale": repr(scale)})
    out = tilec_run(tilec, "decode.tile", "decode_combine",
                    {"o_part": part["o_part"].float(), "lse_part": part["lse_part"].float()}, {"D": D, "S": NS})
    for z, n in enumerate(lens):
        idx = torch.arange(n)
        keys = kc[table[z, idx // PS].long(), idx % PS].permute(1, 0, 2)[None]   # [1, HK, n, D]
        vals = vc[table[z, idx // PS].long(), idx % PS].permute(1, 0, 2)[None]
        j = torch.arange(n).view(1, 1, 1, n)
        vis = torch.where(st.view(1, H, 1, 1) != 0, (j < S) | (j >= n - W), torch.ones_like(j, dtype=torch.bool))
        o, lse, seen = softmax_ref(q[z].view(1, H, 1, D), keys, vals, vis, scale)
        got = {"o": out["o"][z].view(1, H, 1, D), "lse": out["lse"][z].view(1, H, 1)}
        record_attention(f"{name} z={z} n={n}", got, o, lse, seen, "bf16")


def check_moh(tilec, gen, name, Z, H, HK, M, N, D, BM, T="f32"):
    """moh_fwd_causal: O = g[z, i, h] softmax(S_i) V, LSE unweighted; a block of BM rows whose
    weights for head h are all 0 is skipped (O = 0, LSE = -inf); other rows with g = 0 get O = 0
    and their true LSE."""
    q, k, v = qkv(gen, Z, H, HK, M, N, D, T)
    scale = 1 / math.sqrt(D)
    g = torch.rand(Z, M, H, generator=gen, dtype=torch.float64).to(torch.float32) + 0.5
    g[:, ::3, :] = 0.0                       # rows that do not use a head, inside used blocks
    g[:, :BM, 1] = 0.0                       # block 0 of head 1: skipped
    g[:, BM:2 * BM, :] = 0.0                 # block 1 of every head: skipped
    out = tilec_run(tilec, "moh.tile", "moh_fwd_causal", {"q": q, "k": k, "v": v, "g": g},
                    {"T": T, "D": D, "scale": repr(scale), "BM": BM, "BN": 32})
    o, lse, seen = softmax_ref(q, k, v, causal_vis(M, N), scale)
    gz = g.to(torch.float64).permute(0, 2, 1)                         # [Z, H, M]
    record(name, "O", rel_err(out["o"], o * gz[..., None]), 1e-2 if T == "bf16" else 1e-5)
    blk = torch.arange(M) // BM
    zero_blocks = torch.stack([(gz[..., blk == b] == 0).all(-1) for b in range(int(blk[-1]) + 1)], -1)
    skipped = zero_blocks[..., blk]                                     # [Z, H, M]: the row's block is all zero
    record(name, "LSE", rel_err(out["lse"], lse, seen & ~skipped), 1e-5)
    ok = bool(torch.isneginf(out["lse"][skipped]).all() and (out["o"][skipped] == 0).all())
    record(name, "skipped", 0.0 if ok and skipped.any() else float("inf"), 0)


def check_aaren(tilec, gen, name, Z, H, N, D, E, T="f32"):
    """aaren_fwd: o_t = sum_{i<=t} exp(q_h . k_i) v_i / sum_{i<=t} exp(q_h . k_i)."""
    dt = torch.bfloat16 if T == "bf16" else torch.float32
    q = rand(H, D, dtype=dt, gen=gen)
    k, v = rand(Z, H, N, D, dtype=dt, gen=gen), rand(Z, H, N, E, dtype=dt, gen=gen)
    out = tilec_run(tilec, "aaren.tile", "aaren_fwd", {"q": q, "k": k, "v": v}, {"T": T, "D": D, "E": E, "BN": 16})
    s = torch.einsum("hd,zhnd->zhn", q.to(torch.float64), k.to(torch.float64))
    p = torch.exp(s - s.amax(-1, keepdim=True))
    ref = torch.cumsum(p[..., None] * v.to(torch.float64), 2) / torch.cumsum(p, 2)[..., None]
    record(name, "O", rel_err(out["o"], ref), 1e-2 if T == "bf16" else 1e-5)


def check_based(tilec, gen, name, Z, H, HK, N, E, T="f32", F_=16):
    """based_fwd: y_t = sum_{s<=t} (1 + q_t.k_s + (q_t.k_s)^2 / 2) v_s / (1e-6 + sum_{s<=t} ...)."""
    dt = torch.bfloat16 if T == "bf16" else torch.float32
    q = (rand(Z, H, N, F_, gen=gen, dtype=torch.float32) * 0.5).to(dt)
    k = (rand(Z, HK, N, F_, gen=gen, dtype=torch.float32) * 0.5).to(dt)
    v = rand(Z, HK, N, E, gen=gen, dtype=dt)
    out = tilec_run(tilec, "based.tile", "based_fwd", {"q": q, "k": k, "v": v}, {"T": T, "E": E, "B": 16})
    rep = H // HK
    a = q.to(torch.float64) @ k.to(torch.float64).repeat_interleave(rep, 1).transpose(-1, -2)
    a = (1 + a + 0.5 * a * a) * causal_vis(N, N)
    ref = (a @ v.to(torch.float64).repeat_interleave(rep, 1)) / (1e-6 + a.sum(-1, keepdim=True))
    record(name, "O", rel_err(out["o"], ref), 1e-2 if T == "bf16" else 1e-5)


def check_sqa(tilec, gen, name, Z, Hq, HK, M, N, D, T="f32"):
    """sqa_fwd_causal: causal attention with Hq query heads over HK key/value heads (grouped)."""
    q, k, v = qkv(gen, Z, Hq, HK, M, N, D, T)
    scale = 1 / math.sqrt(D)
    out = tilec_run(tilec, "sqa.tile", "sqa_fwd_causal", {"q": q, "k": k, "v": v},
                    {"T": T, "D": D, "scale": repr(scale), "BM": 32, "BN": 32})
    record_attention(name, out, *softmax_ref(q, k, v, causal_vis(M, N), scale), T)


def t5_bucket64(rp, bidirectional, num_buckets=32, max_distance=128):
    """T5's relative-position bucket of rp = j - i' (mesh_tensorflow's _relative_position_bucket),
    in float64 with a 1e-9 nudge so that exact logs (n = 16, 32, 64) land in their bucket."""
    n = -rp
    ret = torch.zeros_like(n)
    if bidirectional:
        num_buckets //= 2
        ret = ret + (n < 0).long() * num_buckets
        n = n.abs()
    else:
        n = n.clamp(min=0)
    exact = num_buckets // 2
    large = exact + torch.floor(torch.log(n.clamp(min=exact).double() / exact) / math.log(max_distance / exact)
                                * (num_buckets - exact) + 1e-9).long()
    return ret + torch.where(n < exact, n, large.clamp(max=num_buckets - 1))


def check_score(tilec, gen, name, kernel, Z, H, HK, M, N, D, causal, scale, T="f32"):
    """flash_fwd_<modifier> (flash_fwd.tile's specialisations) against the modifier written here."""
    q, k, v = qkv(gen, Z, H, HK, M, N, D, T)
    inputs = {"q": q, "k": k, "v": v}
    defines = {"T": T, "D": D, "scale": repr(scale), "BM": 32, "BN": 32}
    if kernel == "alibi":
        slopes = torch.tensor([2.0 ** (-8.0 * (h + 1) / H) for h in range(H)])
        inputs["slopes"] = slopes
        score = lambda s, h, i, j: s + slopes.double()[h] * (j - i)            # noqa: E731
    elif kernel == "softcap":
        score = lambda s, h, i, j: 50.0 * torch.tanh(s / 50.0)                 # noqa: E731
    elif kernel == "rel_bias":
        bias = rand(H, 2 * N - 1, dtype=torch.float32, gen=gen)
        inputs["bias"] = bias
        score = lambda s, h, i, j: s + bias.double()[h, j - i + (N - 1)]      # noqa: E731
    elif kernel == "act":
        sink = (torch.arange(N) < 4).to(torch.int32)
        beta = torch.tensor([1.0 if h % 2 == 0 else 0.25 for h in range(H)])
        inputs.update(sink=sink, beta=beta)
        score = lambda s, h, i, j: s + torch.where(sink[j] != 0, torch.log(beta.double()[h]),  # noqa: E731
                                                   torch.zeros((), dtype=torch.float64))
    else:   # t5, t5_causal: 32 buckets, max_distance 128
        bias = rand(H, 32, dtype=torch.float32, gen=gen)
        inputs["bias"] = bias
        bidir = kernel == "t5"
        score = lambda s, h, i, j: s + bias.double()[h, t5_bucket64(j - i, bidir)]  # noqa: E731
    out = tilec_run(tilec, "flash_fwd.tile", f"flash_fwd_{kernel}", inputs, defines)
    vis = causal_vis(M, N) if causal else torch.ones(1, 1, M, N, dtype=torch.bool)
    record_attention(name, out, *softmax_ref(q, k, v, vis, scale, score), T)


def issue8_checks(t, gen):
    """The checks of issue 8's programs and of every score modifier (main's list)."""
    return [
        lambda: check_s2(t, gen, "s2 S=3 W=16 GQA f32 M=N=150", 1, 4, 2, 150, 150, 32, 3, 16),
        lambda: check_s2(t, gen, "s2 S=4 W=8 bf16 M=70 N=150", 1, 4, 4, 70, 150, 32, 4, 8, T="bf16"),
        lambda: check_duo_prefill(t, gen, "duo prefill W=20 S=4 GQA f32 M=N=150", 1, 4, 2, 150, 150, 32, 20, 4,
                                  [0, 1, 1, 0]),
        lambda: check_duo_decode(t, gen, "duo decode PS=16 NS=3 W=20 S=4", 4, 4, 2, 32, 16, 3, 20, 4,
                                 [1, 0, 1, 1], [1, 37, 130, 64]),
        lambda: check_moh(t, gen, "moh causal f32 BM=32 GQA M=N=130", 1, 4, 2, 130, 130, 32, 32),
        lambda: check_aaren(t, gen, "aaren f32 N=100 D=32 E=48", 2, 2, 100, 32, 48),
        lambda: check_aaren(t, gen, "aaren bf16 N=77 D=64 E=64", 1, 2, 77, 64, 64, T="bf16"),
        lambda: check_based(t, gen, "based f32 GQA N=100 E=48", 1, 4, 2, 100, 48),
        lambda: check_based(t, gen, "based bf16 N=200 E=64", 1, 2, 2, 200, 64, T="bf16"),
        lambda: check_sqa(t, gen, "sqa causal f32 Hq=4 HK=2 M=N=120", 1, 4, 2, 120, 120, 32),
        lambda: check_score(t, gen, "score alibi causal f32 M=70 N=90", "alibi", 1, 4, 2, 70, 90, 32, True, 0.25),
        lambda: check_score(t, gen, "score softcap causal f32 M=70 N=90", "softcap", 1, 2, 1, 70, 90, 32, True, 10.0),
        lambda: check_score(t, gen, "score rel_bias f32 M=70 N=90", "rel_bias", 1, 2, 2, 70, 90, 32, False, 0.25),
        lambda: check_score(t, gen, "score act causal f32 M=N=90", "act", 1, 2, 1, 90, 90, 32, True, 0.25),
        lambda: check_score(t, gen, "score t5 f32 M=N=300", "t5", 1, 2, 1, 300, 300, 32, False, 0.25),
        lambda: check_score(t, gen, "score t5_causal f32 M=70 N=300", "t5_causal", 1, 2, 1, 70, 300, 32, True, 0.25),
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tilec", default=os.path.join(ROOT, "build", "tilec"))
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--only", default="", help="issue8: only the checks of issue 8's programs and the modifiers")
    a = ap.parse_args()
    gen = torch.Generator().manual_seed(a.seed)
    print(f"oracle: torch {torch.__version__} on {DEV}"
          f"{' (' + torch.cuda.get_device_name() + ')' if DEV == 'cuda' else ''}", flush=True)
    checks = [
        lambda: check_fwd(a.tilec, gen, "fwd full f32 GQA M=77 N=93 D=64", 2, 4, 2, 77, 93, 64, "full", T="f32"),
        lambda: check_fwd(a.tilec, gen, "fwd causal bf16 GQA M=N=200 D=128", 1, 4, 2, 200, 200, 128, "causal"),
        lambda: check_fwd(a.tilec, gen, "fwd causal bf16 M=70 N=250 D=64", 1, 2, 2, 70, 250, 64, "causal"),
        lambda: check_fwd(a.tilec, gen, "fwd causal f32 M=90 N=40 (masked rows)", 1, 2, 1, 90, 40, 64, "causal", T="f32"),
        lambda: check_fwd(a.tilec, gen, "fwd sliding W=40 S=4 bf16 M=N=300", 1, 2, 1, 300, 300, 64, "sliding", 40, 4),
        lambda: check_fwd(a.tilec, gen, "fwd document causal f32 M=N=150", 2, 2, 2, 150, 150, 64, "document", T="f32"),
        lambda: check_bwd(a.tilec, gen, "bwd full GQA M=45 N=61 D=64", 1, 4, 2, 45, 61, 64, False),
        lambda: check_bwd(a.tilec, gen, "bwd causal M=N=80 D=64", 1, 2, 1, 80, 80, 64, True),
        lambda: check_decode(a.tilec, gen, "decode PS=16 S=3 GQA", 4, 8, 2, 64, 16, 3, [1, 37, 0, 130]),
        lambda: check_lightning(a.tilec, gen, "lightning2 N=100 D=32 E=48", 1, 3, 100, 32, 48, 16, [1.0, 0.99, 0.8]),
    ]
    checks = issue8_checks(a.tilec, gen) if a.only == "issue8" else checks + issue8_checks(a.tilec, gen)
    for c in checks:
        try:
            c()
        except Exception as e:  # report and go on: one broken check must not hide the others
            rows.append(("exception", str(e)[:200], float("nan"), 0, False))
            print(f"FAIL exception: {e}", flush=True)
    bad = [r for r in rows if not r[4]]
    print("\n| check | quantity | rel. error vs PyTorch | tolerance | |")
    print("|---|---|---|---|---|")
    for name, what, err, tol, ok in rows:
        print(f"| {name} | {what} | {err:.2e} | {tol:.0e} | {'ok' if ok else 'FAIL'} |")
    print(f"\noracle: {len(rows) - len(bad)} passed, {len(bad)} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
