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
  - Lightning Attention-2: the O(N^2) decayed sum in float64.
The tests in tests/ compare the same programs with naive C references; this
script checks that those references mean what PyTorch means.

Needs python3 with torch and numpy (the H200 machine has both); uses CUDA when
present.  Prints one row per check and a summary table last.
Usage: python3 bench/oracle_check.py [--tilec build/tilec] [--seed N]
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


def check_decode(tilec, gen, name, Z, H, HK, D, PS, S, lens):
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tilec", default=os.path.join(ROOT, "build", "tilec"))
    ap.add_argument("--seed", type=int, default=2026)
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
