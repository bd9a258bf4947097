#!/usr/bin/env python3
"""sparse_sweep.py - block_sparse_fwd over hand-set schedules on the issue-7
mask shape (a random 50% layout of 128 x 128 blocks, bf16, 16k tokens, L=4k),
next to FlexAttention on the same mask in the same run: which key block, step
and warps the kernel should run, the measured side of the scheduler's choice
for block_sparse (bench/RESULTS.md).  Each configuration is checked against
SDPA with the explicit mask before it is timed.  On the GPU machine:

    python3 bench/sparse_sweep.py --lib build-gpu/libtile.so [--dims 64,128]
        [--cfgs BN:BK:WARPS,...]      (WARPS 0, BK 0: the compiler's choice)
    python3 bench/sparse_sweep.py --window [--cfgs BM:BN:WARPS,...]
        (the other mask of the bench: flash_fwd with sliding_window(W: 1024, S: 4);
         BM 0: the compiler's tiles)
    python3 bench/sparse_sweep.py --fwd causal|none [--cfgs BM:BN:WARPS,...]
        (flash_fwd_causal, or flash_fwd without a mask, next to SDPA's FLASH
         backend (FlashAttention-2) instead of Flex: the forward's side of the
         scheduler's choice)
"""
import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_attn as ba  # noqa: E402

LAYOUT_BLOCK = 128


def inputs(L, D):
    Z, H = ba.TOKENS // L, ba.MODEL_DIM // D
    gen = torch.Generator(device="cuda").manual_seed(3 * L + D)
    q, k, v = (torch.randn(Z, H, L, D, device="cuda", dtype=torch.bfloat16, generator=gen) for _ in range(3))
    nb = ba.triton_cdiv(L, LAYOUT_BLOCK)
    keep = torch.rand(H, nb, nb, device="cuda", generator=gen) < 0.5
    keep |= torch.eye(nb, dtype=torch.bool, device="cuda")[None]
    return Z, H, q, k, v, keep


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default="build-gpu/libtile.so")
    ap.add_argument("--length", type=int, default=4096)
    ap.add_argument("--dims", default="64,128")
    ap.add_argument("--cfgs", default=ap_default_cfgs())
    ap.add_argument("--no-flex", action="store_true")
    ap.add_argument("--window", action="store_true", help="flash_fwd's sliding window with sinks instead")
    ap.add_argument("--fwd", choices=["window", "causal", "none"], help="flash_fwd with this mask instead")
    args = ap.parse_args()
    if args.window or args.fwd:
        return forward(args, args.fwd or "window")
    torch.cuda.init()
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    flex = None if args.no_flex else torch.compile(flex_attention, dynamic=False)
    tiles = {}
    L = args.length
    print(f"{'D':>4} {'BN':>4} {'BK':>4} {'warps':>5} {'ms':>8} {'TFLOP/s':>8} {'x flex':>7}")
    for D in (int(d) for d in args.dims.split(",")):
        Z, H, q, k, v, keep = inputs(L, D)
        scale = 1 / math.sqrt(D)

        def mask_mod(b, h, i, j):
            return keep[h, i // LAYOUT_BLOCK, j // LAYOUT_BLOCK]
        bm = create_block_mask(mask_mod, None, H, L, L, device="cuda")
        flops = 4 * Z * H * L * L * D * bm.to_dense().float().mean().item()
        i = torch.arange(L, device="cuda")
        full = mask_mod(None, torch.arange(2, device="cuda")[:, None, None], i[None, :, None], i[None, None, :])
        ref = F.scaled_dot_product_attention(q[:1, :2], k[:1, :2], v[:1, :2], attn_mask=full[None], scale=scale)
        del full
        flex_ms = None
        if flex is not None:
            out = flex(q, k, v, block_mask=bm, scale=scale)
            err = ba.rel_err(out[:1, :2], ref)
            flex_ms = ba.bench_ms(lambda: flex(q, k, v, block_mask=bm, scale=scale))
            print(f"{D:>4} {'flex':>15} {flex_ms:8.3f} {flops / flex_ms * 1e-9:8.1f}   (err {err:.1e})", flush=True)
        o = torch.empty_like(q)
        lse = torch.empty(Z, H, L, device="cuda", dtype=torch.float32)
        for cfg in args.cfgs.split(","):
            bn, bk, warps = (int(x) for x in cfg.split(":"))
            tile = tiles.setdefault(warps, ba.Tile(args.lib, num_warps=warps))
            consts = {"D": D, "T": "bf16", "BM": LAYOUT_BLOCK, "BN": bn}
            if bk:
                consts["BK"] = bk

            def make(consts=consts, bn=bn):
                kern = tile.kernel("attention/block_sparse.tile", "block_sparse_fwd", consts)
                kv_idx, kv_cnt = ba.sparse_lists(keep, Z, LAYOUT_BLOCK // bn)
                return kern, kern.args(q=q, k=k, v=v, kv_idx=kv_idx, kv_cnt=kv_cnt, o=o, lse=lse, scale=scale)
            time_row(f"{D:>4} {bn:>4} {bk or 'auto':>4} {warps or 'auto':>5}", tile, make, o, ref, flops, flex_ms)
    return 0


def time_row(label, tile, make, o, ref, flops, flex_ms):
    """One configuration: compiled and launched by make() -> (kernel, args), o checked
    against ref (batch 0, heads 0-1) after poisoning, then timed; one printed row."""
    try:
        kern, a = make()
        o.fill_(float("nan"))
        kern.launch(a)
        tile.sync()
    except Exception as e:  # noqa: BLE001 - a failing config is a row
        print(f"{label}  failed: {str(e).splitlines()[0][:100]}")
        return
    err = ba.rel_err(o[:1, :2], ref)
    if not err < 2e-2:
        print(f"{label}  WRONG rel_err {err:.1e}")
        return
    ms = ba.bench_ms(lambda: kern.launch(a))
    ratio = f"{flex_ms / ms:7.2f}" if flex_ms else ""
    print(f"{label} {ms:8.3f} {flops / ms * 1e-9:8.1f} {ratio}", flush=True)


def forward(args, mask):
    """flash_fwd over hand-set BM, BN, warps: with bench_attn's sliding window with
    sinks (against Flex on the same mask), causal or unmasked (against SDPA's
    FLASH backend, FlashAttention-2; the ratio column is then x FA2)."""
    torch.cuda.init()
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    from torch.nn.attention import SDPBackend, sdpa_kernel
    flex = None if args.no_flex or mask != "window" else torch.compile(flex_attention, dynamic=False)
    cfgs = args.cfgs if args.cfgs != ap_default_cfgs() else "0:0:0,128:64:4,128:32:4,256:32:8,128:128:8,64:64:4"
    tiles = {}
    L = args.length
    W, S = ba.WINDOW, ba.SINKS
    peer = "flex" if mask == "window" else "fa2"
    print(f"{mask}, L={L}")
    print(f"{'D':>4} {'BM':>4} {'BN':>4} {'warps':>5} {'ms':>8} {'TFLOP/s':>8} {'x ' + peer:>7}")
    for D in (int(d) for d in args.dims.split(",")):
        Z, H, q, k, v, _ = inputs(L, D)
        scale = 1 / math.sqrt(D)

        def mask_mod(b, h, i, j):
            if mask == "none":
                return j >= 0
            if mask == "causal":
                return j <= i
            return (j <= i) & ((i - j < W) | (j < S))
        i = torch.arange(L, device="cuda")
        dense = mask_mod(None, None, i[:, None], i[None, :])
        flops = 4 * Z * H * L * L * D * dense.float().mean().item()
        ref = F.scaled_dot_product_attention(q[:1, :2], k[:1, :2], v[:1, :2], attn_mask=dense, scale=scale)
        del dense
        peer_ms = None
        if flex is not None:
            bm = create_block_mask(mask_mod, None, None, L, L, device="cuda")
            flex(q, k, v, block_mask=bm, scale=scale)
            peer_ms = ba.bench_ms(lambda: flex(q, k, v, block_mask=bm, scale=scale))
        elif mask != "window":
            def fa2():
                with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                    return F.scaled_dot_product_attention(q, k, v, is_causal=mask == "causal", scale=scale)
            fa2()
            peer_ms = ba.bench_ms(fa2)
        if peer_ms:
            print(f"{D:>4} {peer:>15} {peer_ms:8.3f} {flops / peer_ms * 1e-9:8.1f}", flush=True)
        o = torch.empty_like(q)
        lse = torch.empty(Z, H, L, device="cuda", dtype=torch.float32)
        kernel = "flash_fwd_causal" if mask == "causal" else "flash_fwd"
        for cfg in cfgs.split(","):
            bmv, bnv, warps = (int(x) for x in cfg.split(":"))
            tile = tiles.setdefault(warps, ba.Tile(args.lib, num_warps=warps))
            consts = {"D": D, "T": "bf16"}
            if mask == "window":
                consts["mask"] = f"sliding_window(W: {W}, S: {S})"
            if bmv:
                consts.update(BM=bmv, BN=bnv)

            def make(consts=consts):
                kern = tile.kernel("attention/flash_fwd.tile", kernel, consts)
                return kern, kern.args(q=q, k=k, v=v, o=o, lse=lse, scale=scale)
            time_row(f"{D:>4} {bmv or 'auto':>4} {bnv or 'auto':>4} {warps or 'auto':>5}", tile, make, o, ref,
                     flops, peer_ms)
    return 0


def ap_default_cfgs():
    return "64:0:0,64:0:4,64:0:8,128:0:0,128:128:8,128:64:0,128:64:4,128:64:8"


if __name__ == "__main__":
    sys.exit(main())
