#!/usr/bin/env python3
"""decode_floor.py - batch-1 decoding's time against the bytes it reads: a fixed
cost and a bandwidth, fitted over context lengths, for decode_gqa (split count
fixed) and for a torch copy of the same bytes, timed both after an L2 flush
(triton's do_bench, as bench_attn.py times) and back to back.  Also the
split kernel with every sequence empty (seq_len 0: its launch, prologue and
epilogue alone) and an empty torch kernel.  Each length is checked against
torch before it is timed.  On the GPU machine, from the repo root:

    python3 bench/decode_floor.py --lib build-gpu/libtile.so [--bn 64] [--S 33]
    python3 bench/decode_floor.py --ncu --L 32768     (two launches, for ncu)
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_attn as ba  # noqa: E402
import decode_sweep as ds  # noqa: E402


def hot_ms(fn, n=50):
    """Milliseconds a call of fn back to back (no flush between calls)."""
    for _ in range(5):
        fn()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    for _ in range(n):
        fn()
    b.record()
    torch.cuda.synchronize()
    return a.elapsed_time(b) / n


def split_launch(tile, s, S, BN, lens=None):
    """The split kernel's launch (a callable) and the output, after one split + merge."""
    split, a1, comb, a2, o = ds.launches(tile, s, S, BN, lens)
    split.launch(a1)
    comb.launch(a2)
    tile.sync()
    return (lambda: split.launch(a1)), o


def fit(xs, ys):
    """Least squares y = a + b x."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default="build-gpu/libtile.so")
    ap.add_argument("--bn", type=int, default=64)
    ap.add_argument("--S", type=int, default=0, help="split count (0: the rule's at L=32k)")
    ap.add_argument("--lengths", default="2048,4096,8192,16384,32768,65536,131072")
    ap.add_argument("--ncu", action="store_true", help="two launches at --L, nothing timed")
    ap.add_argument("--L", type=int, default=32768)
    args = ap.parse_args()
    torch.cuda.init()
    tile = ba.Tile(args.lib)
    S = args.S or tile.split_count(8, -(-32768 // 16))
    if args.ncu:
        s = ds.setup(1, args.L)
        fn, _ = split_launch(tile, s, S, args.bn)
        fn()
        tile.sync()
        return 0
    empty = torch.zeros(1, device="cuda")
    print(f"# empty torch kernel: {ba.bench_ms(lambda: empty.add_(1)) * 1e3:.1f} us flushed, "
          f"{hot_ms(lambda: empty.add_(1)) * 1e3:.1f} us back to back")
    print(f"# decode_gqa BN={args.bn} S={S}, Z=1, 32 heads over 8, D=128, 16-token pages")
    print(f"{'L':>7} {'MB':>6} {'split us':>9} {'hot us':>7} {'copy us':>8} {'hot us':>7} "
          f"{'split GB/s':>10} {'copy GB/s':>9}  check")
    rows = []
    for L in (int(x) for x in args.lengths.split(",")):
        s = ds.setup(1, L)
        mb = 2 * L * 8 * 128 * 2
        fn, o = split_launch(tile, s, S, args.bn)
        if L == int(args.lengths.split(",")[0]):
            zero = torch.zeros_like(s["lens"])
            fz, _ = split_launch(tile, s, S, args.bn, lens=zero)
            print(f"# decode_gqa, every sequence empty: {ba.bench_ms(fz) * 1e3:.1f} us flushed, "
                  f"{hot_ms(fz) * 1e3:.1f} us back to back")
        # the merge ran in split_launch: o is the whole answer
        err = ba.rel_err(o, s["ref"])
        src = torch.empty(mb // 2, device="cuda", dtype=torch.bfloat16).normal_()
        dst = torch.empty_like(src)
        cp = lambda: dst.copy_(src)  # noqa: E731
        t = [ba.bench_ms(fn) * 1e3, hot_ms(fn) * 1e3, ba.bench_ms(cp) * 1e3, hot_ms(cp) * 1e3]
        del src, dst, s
        rows.append((mb, t))
        print(f"{L:>7} {mb / 1e6:6.1f} {t[0]:9.1f} {t[1]:7.1f} {t[2]:8.1f} {t[3]:7.1f} "
              f"{mb / t[0] * 1e-3:10.0f} {2 * mb / t[2] * 1e-3:9.0f}  rel_err {err:.1e}"
              f"{'  WRONG' if not err <= 1e-2 else ''}", flush=True)
    big = [(mb, t) for mb, t in rows if mb >= 16e6]
    if len(big) >= 2:
        for i, what, per in ((0, "split, flushed", 1), (1, "split, back to back", 1),
                             (2, "copy, flushed", 2), (3, "copy, back to back", 2)):
            a, b = fit([mb for mb, _ in big], [t[i] for _, t in big])
            print(f"# fit {what:20s}: {a:6.1f} us fixed + {per * 1e-3 / b:6.0f} GB/s "
                  f"({'bytes read' if per == 1 else 'read + written'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
