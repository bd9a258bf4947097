"""ncu_fwd.py - launches one attention kernel a few times, for Nsight Compute.

    python3 bench/ncu_fwd.py --lib build-gpu/libtile.so --kernel flash_fwd --L 4096 --D 128
    ncu --kernel-name regex:flash --launch-skip 2 --launch-count 1 ... python3 bench/ncu_fwd.py ...

The same inputs as bench_attn.py's forward (16k tokens, H = 2048 / D heads,
bf16); the output is checked against SDPA once so a profile is never of a
wrong kernel.  Prints the median time of the launches it made (CUDA events).
"""
import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_attn  # noqa: E402  (Tile over torch tensors)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default="build-gpu/libtile.so")
    ap.add_argument("--kernel", default="flash_fwd")
    ap.add_argument("--L", type=int, default=4096)
    ap.add_argument("--D", type=int, default=128)
    ap.add_argument("--launches", type=int, default=4)
    ap.add_argument("--defines", default="", help="extra constants, e.g. BM=128,BN=128")
    a = ap.parse_args()
    Z, H = bench_attn.TOKENS // a.L, bench_attn.MODEL_DIM // a.D
    gen = torch.Generator(device="cuda").manual_seed(a.L + a.D)
    q, k, v = (torch.randn(Z, H, a.L, a.D, device="cuda", dtype=torch.bfloat16, generator=gen) for _ in range(3))
    o = torch.full_like(q, float("nan"))
    lse = torch.empty(Z, H, a.L, device="cuda", dtype=torch.float32)
    defs = {"D": a.D, "T": "bf16", **dict(kv.split("=", 1) for kv in a.defines.split(",") if kv)}
    tile = bench_attn.Tile(a.lib)
    kern = tile.kernel("attention/flash_fwd.tile", a.kernel, defs)
    causal = "causal" in a.kernel
    args = kern.args(q=q, k=k, v=v, o=o, lse=lse, scale=1 / math.sqrt(a.D))
    times = []
    for _ in range(a.launches):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        kern.launch(args)
        e.record()
        torch.cuda.synchronize()
        times.append(s.elapsed_time(e) * 1e3)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    err = ((o.float() - ref.float()).norm() / ref.float().norm()).item()
    flops = 4 * Z * H * a.L * a.L * a.D / (2 if causal else 1)
    times.sort()
    med = times[len(times) // 2]
    print(f"{a.kernel} L={a.L} D={a.D} Z={Z} H={H}: rel err {err:.2e}, median {med:.1f} us "
          f"({flops / med / 1e6:.1f} TFLOP/s) over {a.launches} launches (under ncu: replayed)")
    return 0 if err < 2e-2 else 1


if __name__ == "__main__":
    sys.exit(main())
