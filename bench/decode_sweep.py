#!/usr/bin/env python3
"""decode_sweep.py - where decode_gqa's bandwidth goes: GB/s of KV read for
split counts, key-block sizes and warps around the scheduler's choice, on the
issue-7 decoding shape (32 query heads over 8 KV heads, D=128, 16-token pages,
32k context, batch 1 and 8).  Each configuration is checked against torch
before it is timed.  Needs the GPU machine (torch); run from the repo root:

    python3 bench/decode_sweep.py --lib build-gpu/libtile.so
"""
import argparse
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_attn as ba  # noqa: E402


def setup(Z, L, D=128, PS=16, H=32, HK=8):
    pages = -(-L // PS)
    gen = torch.Generator(device="cuda").manual_seed(L + Z)
    P = Z * pages
    q = torch.randn(Z, H, D, device="cuda", dtype=torch.bfloat16, generator=gen)
    kc, vc = (torch.randn(P, PS, HK, D, device="cuda", dtype=torch.bfloat16, generator=gen) for _ in range(2))
    table = torch.randperm(P, device="cuda", generator=gen).to(torch.int32).view(Z, pages)
    lens = torch.full((Z,), L, device="cuda", dtype=torch.int32)
    kz = kc[table.long()].reshape(Z, pages * PS, HK, D)[:, :L].transpose(1, 2)
    vz = vc[table.long()].reshape(Z, pages * PS, HK, D)[:, :L].transpose(1, 2)
    qf = q.float().view(Z, HK, H // HK, D)
    s = torch.einsum("zgrd,zgld->zgrl", qf, kz.float()) / math.sqrt(D)
    ref = torch.einsum("zgrl,zgld->zgrd", torch.softmax(s, -1), vz.float()).reshape(Z, H, D)
    return dict(q=q, kc=kc, vc=vc, table=table, lens=lens, ref=ref, pages=pages, P=P,
                Z=Z, L=L, D=D, PS=PS, H=H, HK=HK)


def launches(tile, s, S, BN, lens=None):
    """decode_gqa and decode_merge of setup()'s shape bound to fresh (NaN) buffers:
    (split, a1, merge, a2, o); lens replaces the sequence lengths."""
    Z, H, HK, D, PS, P = s["Z"], s["H"], s["HK"], s["D"], s["PS"], s["P"]
    split = tile.kernel("attention/decode.tile", "decode_gqa",
                        {"D": D, "T": "bf16", "G": H // HK, "PS": PS, "BN": BN})
    comb = tile.kernel("attention/decode.tile", "decode_merge", {"D": D, "T": "bf16"})
    o_part = torch.full((Z, H, S, D), float("nan"), device="cuda")
    lse_part = torch.full((Z, H, S), float("nan"), device="cuda")
    o = torch.full((Z, H, D), float("nan"), device="cuda", dtype=torch.bfloat16)
    lse = torch.full((Z, H), float("nan"), device="cuda")
    a1 = split.args(q=s["q"], k_slots=s["kc"].view(P * PS, HK, D), v_slots=s["vc"].view(P * PS, HK, D),
                    block_table=s["table"], seq_lens=s["lens"] if lens is None else lens,
                    o_part=o_part, lse_part=lse_part, scale=1 / math.sqrt(D))
    a2 = comb.args(o_part=o_part, lse_part=lse_part, o=o, lse=lse)
    return split, a1, comb, a2, o


def run_one(tile, s, S, BN):
    split, a1, comb, a2, o = launches(tile, s, S, BN)

    def both():
        split.launch(a1)
        comb.launch(a2)
    both()
    tile.sync()
    err = ba.rel_err(o, s["ref"])
    if err > 1e-2:
        return None, None, err
    return ba.bench_ms(both), ba.bench_ms(lambda: split.launch(a1)), err


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default="build-gpu/libtile.so")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--bn", default="32,64,128")
    ap.add_argument("--warps", default="0,1,2,4,8", help="0: the compiler's choice")
    args = ap.parse_args()
    torch.cuda.init()
    print(f"{'Z':>2} {'S':>4} {'BN':>4} {'warps':>5} {'ms':>7} {'split ms':>8} {'GB/s':>7} {'%copy':>6}  note")
    for Z in (int(b) for b in args.batches.split(",")):
        s = setup(Z, 32768)
        kv_bytes = 2 * Z * s["L"] * s["HK"] * s["D"] * 2
        copy = ba.copy_gbps(kv_bytes)
        base = ba.Tile(args.lib)
        S0 = base.split_count(Z * s["HK"], s["pages"])
        print(f"# Z={Z}: copy {copy:.0f} GB/s; tile_split_count -> S={S0}", flush=True)
        for warps in (int(w) for w in args.warps.split(",")):
            tile = base if warps == 0 else ba.Tile(args.lib, num_warps=warps)
            for BN in (int(b) for b in args.bn.split(",")):
                for S in sorted({S0, 2 * S0, 4 * S0, 8 * S0, 16 * S0}):
                    try:
                        ms, sms, err = run_one(tile, s, S, BN)
                    except Exception as e:  # noqa: BLE001 - a failing config is a row
                        print(f"{Z:>2} {S:>4} {BN:>4} {warps or 'auto':>5}  failed: {str(e).splitlines()[0][:100]}")
                        continue
                    if ms is None:
                        print(f"{Z:>2} {S:>4} {BN:>4} {warps or 'auto':>5}  WRONG rel_err {err:.1e}")
                        continue
                    gbps = kv_bytes / (ms * 1e-3) * 1e-9
                    print(f"{Z:>2} {S:>4} {BN:>4} {warps or 'auto':>5} {ms:7.3f} {sms:8.3f} {gbps:7.0f} "
                          f"{100 * gbps / copy:5.0f}%  {'chosen S' if S == S0 else ''}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
