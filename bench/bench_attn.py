#!/usr/bin/env python3
"""bench_attn.py - our attention kernels against the usual peers, on one GPU.

Loads libtile.so through ctypes and launches the library's kernels on PyTorch
tensors (tensor.data_ptr(), PyTorch's current stream), so every contender runs
in one process on the same inputs:

  forward   flash_fwd / flash_fwd_causal   vs torch SDPA (FLASH and CUDNN
            backends), FlexAttention (torch.compile'd), and a Triton
            FlashAttention-2 forward written here (tutorial style)
  backward  flash_bwd_preprocess + flash_bwd_dkdv + flash_bwd_dq
            vs SDPA FLASH / CUDNN backward and FlexAttention backward
  decode    decode_gqa + decode_merge (split count from tile_split_count) and
            decode_split + decode_combine over a paged KV cache, vs a torch
            copy of the same bytes and SDPA FLASH / CUDNN on the contiguous
            cache (GB/s of KV cache read)
  scores    (only with --only scores) flash_fwd / flash_bwd with each score modifier of
            lib/attention/scores.tile (ALiBi, softcap 50, T5 relative bias, ACT) vs
            FlexAttention with the same score_mod, forward and backward; FlexAttention's
            outputs and autograd gradients are also the correctness reference
  score-tables (only with --only score-tables) the learned tables' gradients: T5's
            bucketed bias (bidirectional and causal) and the relative bias, whose
            flash_bwd_dq also writes d(bias) (accumulate_grad), vs FlexAttention with
            the table as a captured tensor with requires_grad (forward + backward)
  based     (only with --only based) BASED's causal Taylor linear attention
            (based_fwd, F = 16) vs the flash-linear-attention package's kernel
            (fla.ops.based) when it imports, else a plain PyTorch chunked
            implementation of the same computation (the output names which)

bf16; batch x length = 16k tokens; lengths 1k, 4k, 16k; head dims 64 and 128
(H = 2048 / D heads); causal and not.  Before timing, each of our kernels is
checked against SDPA (forward O and a sample of LSE rows, backward dQ dK dV
against autograd, decode against a float32 softmax): a wrong kernel is
reported as WRONG and not timed.  Times are triton.testing.do_bench medians.
Also reported: compile time cold and from the disk cache, and host launch
overhead from Python (the C figure comes from build/launch_overhead).

Usage (repository root, GPU machine):
  python3 bench/bench_attn.py [--lib build-gpu/libtile.so] [--quick]
         [--no-flex] [--flex-lengths 4096] [--no-triton]
         [--only fwd,bwd,decode,compile,launch,scores,score-tables,based]
  --only dynsparse: the dynamic sparse chains at 32k and 128k (bench/bench_dynsparse.py)
FlexAttention runs at length 4k only by default: each shape costs a
torch.compile of tens of seconds.
Prints one line per measurement and a short table last.
"""
import argparse
import math
import os
import shutil
import sys
import tempfile
import time
import traceback

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB_DIR = os.path.join(ROOT, "lib")
TOKENS = 16 * 1024
rows = []  # (group, config, contender, value, unit, note)

# ---- libtile through ctypes (bench/tile_ctypes.py), on torch tensors ---------------------------
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tile_ctypes  # noqa: E402
from tile_ctypes import TileError  # noqa: E402

TORCH_DTYPES = {torch.bool: tile_ctypes.BOOL, torch.int32: tile_ctypes.I32, torch.int64: tile_ctypes.I64,
                torch.float16: tile_ctypes.F16, torch.bfloat16: tile_ctypes.BF16, torch.float32: tile_ctypes.F32}


def torch_arg(t):
    assert t.is_cuda, "tile kernels take device tensors"
    return tile_ctypes.tensor_arg(t.data_ptr(), TORCH_DTYPES[t.dtype], list(t.shape), list(t.stride()))


def current_stream():
    return torch.cuda.current_stream().cuda_stream


class Tile(tile_ctypes.Tile):
    """A GPU context whose kernels take torch tensors and use torch's stream."""

    def __init__(self, path, cache_dir=None, num_warps=0):
        super().__init__(path, mode=tile_ctypes.MODE_GPU, lib_dir=LIB_DIR, cache_dir=cache_dir,
                         stream=current_stream, to_arg=torch_arg, num_warps=num_warps)


# ---- timing and reporting -----------------------------------------------------------------
def bench_ms(fn):
    """Median milliseconds of fn() (triton.testing.do_bench, else CUDA events)."""
    try:
        import triton.testing
        return triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median")
    except ImportError:
        pass
    for _ in range(5):
        fn()
    times = []
    for _ in range(30):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return sorted(times)[len(times) // 2]


def record(group, config, who, value, unit, note=""):
    rows.append((group, config, who, value, unit, note))
    shown = f"{value:8.1f} {unit}" if value is not None else f"{'-':>8s} {unit}"
    print(f"{group:8s} {config:28s} {who:16s} {shown} {note}", flush=True)


def try_peer(group, config, who, fn, work, unit):
    """Times a peer; a failing peer is reported with its reason, not fatal."""
    try:
        fn()
        torch.cuda.synchronize()
        ms = bench_ms(fn)
        record(group, config, who, work / (ms * 1e-3) * 1e-12 if unit == "TFLOP/s" else work / (ms * 1e-3) * 1e-9,
               unit, f"{ms:.3f} ms")
    except Exception as e:  # noqa: BLE001 - any failure of a peer is a table entry
        record(group, config, who, None, unit, f"n/a ({type(e).__name__}: {str(e).splitlines()[0][:80] if str(e) else ''})")


def rel_err(got, ref):
    got, ref = got.float(), ref.float()
    if not torch.isfinite(got).all():
        return float("inf")
    return (torch.linalg.vector_norm(got - ref) / torch.linalg.vector_norm(ref).clamp_min(1e-30)).item()


def sdpa(backend, q, k, v, causal, **kw):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    with sdpa_kernel(getattr(SDPBackend, backend)):
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal, **kw)


# ---- a Triton FlashAttention-2 forward (bench/triton_fa.py, written here) -----------------------
def triton_fwd_factory():
    import triton_fa  # needs triton; imported late so the rest runs without it
    return triton_fa.attention_fwd


# ---- forward ----------------------------------------------------------------------------------
def configs(quick):
    lengths = [4096] if quick else [1024, 4096, 16384]
    dims = [128] if quick else [64, 128]
    for L in lengths:
        for D in dims:
            for causal in (False, True):
                yield L, D, causal


def lse_rows(q, k, scale, causal, rows_):
    """Reference LSE of some query rows of batch 0, head 0, in float32."""
    s = (q[0, 0, rows_].float() @ k[0, 0].float().T) * scale
    if causal:
        cols = torch.arange(k.shape[2], device=q.device)
        s = s.masked_fill(cols[None, :] > rows_[:, None], float("-inf"))
    return torch.logsumexp(s, dim=-1)


def bench_forward(tile, L, D, causal, args, flex):
    Z, H = TOKENS // L, 2048 // D
    cfg = f"L={L} D={D} Z={Z} H={H}{' causal' if causal else ''}"
    gen = torch.Generator(device="cuda").manual_seed(L + D)
    q, k, v = (torch.randn(Z, H, L, D, device="cuda", dtype=torch.bfloat16, generator=gen) for _ in range(3))
    o = torch.empty_like(q)
    lse = torch.empty(Z, H, L, device="cuda", dtype=torch.float32)
    scale = 1 / math.sqrt(D)
    flops = 4 * Z * H * L * L * D / (2 if causal else 1)
    ref = sdpa("FLASH_ATTENTION", q, k, v, causal)
    try:
        defs = {"D": D, "T": "bf16", **args.fwd_defines}
        kern = tile.kernel("attention/flash_fwd.tile", "flash_fwd_causal" if causal else "flash_fwd", defs)
        launch_args = kern.args(q=q, k=k, v=v, o=o, lse=lse, scale=scale)
        o.fill_(float("nan"))
        lse.fill_(float("nan"))
        kern.launch(launch_args)
        tile.sync()
        err = rel_err(o, ref)
        sample = torch.cat([torch.arange(0, 64), torch.arange(L - 64, L)]).cuda()
        lerr = (lse[0, 0, sample] - lse_rows(q, k, scale, causal, sample)).abs().max().item()
        if not (err <= 1e-2 and lerr <= 1e-2):
            record("fwd", cfg, "tile", None, "TFLOP/s", f"WRONG: O rel_err {err:.2e}, LSE max err {lerr:.2e}")
        else:
            ms = bench_ms(lambda: kern.launch(launch_args))
            record("fwd", cfg, "tile", flops / (ms * 1e-3) * 1e-12, "TFLOP/s", f"{ms:.3f} ms, O rel_err {err:.1e}")
    except TileError as e:
        record("fwd", cfg, "tile", None, "TFLOP/s", "FAILED: " + str(e).replace("\n", " | ")[:300])
    try_peer("fwd", cfg, "sdpa-flash", lambda: sdpa("FLASH_ATTENTION", q, k, v, causal), flops, "TFLOP/s")
    try_peer("fwd", cfg, "sdpa-cudnn", lambda: sdpa("CUDNN_ATTENTION", q, k, v, causal), flops, "TFLOP/s")
    if flex is not None:
        fn, make_mask = flex
        bm = make_mask(L, causal)
        try_peer("fwd", cfg, "flex", lambda: fn(q, k, v, block_mask=bm), flops, "TFLOP/s")
    if args.triton_fwd is not None:
        out = torch.empty_like(q)

        def tri():
            return args.triton_fwd(q, k, v, out, causal)
        try:
            tri()
            e = rel_err(out, ref)
            if e > 1e-2:
                record("fwd", cfg, "triton", None, "TFLOP/s", f"WRONG (rel_err {e:.1e}): not timed")
            else:
                try_peer("fwd", cfg, "triton", tri, flops, "TFLOP/s")
        except Exception as ex:  # noqa: BLE001
            record("fwd", cfg, "triton", None, "TFLOP/s", f"n/a ({type(ex).__name__})")


# ---- backward ---------------------------------------------------------------------------------
def bench_backward(tile, L, D, causal, flex):
    Z, H = TOKENS // L, 2048 // D
    cfg = f"L={L} D={D} Z={Z} H={H}{' causal' if causal else ''}"
    gen = torch.Generator(device="cuda").manual_seed(7 * L + D)
    q, k, v, do = (torch.randn(Z, H, L, D, device="cuda", dtype=torch.bfloat16, generator=gen) for _ in range(4))
    scale = 1 / math.sqrt(D)
    flops = 10 * Z * H * L * L * D / (2 if causal else 1)  # 2.5 x the forward
    qr, kr, vr = (t.detach().clone().requires_grad_() for t in (q, k, v))
    out = sdpa("FLASH_ATTENTION", qr, kr, vr, causal)
    out.backward(do)
    try:
        sfx = "_causal" if causal else ""
        defs = {"D": D, "T": "bf16"}
        fwd = tile.kernel("attention/flash_fwd.tile", "flash_fwd" + sfx, defs)
        pre = tile.kernel("attention/flash_bwd.tile", "flash_bwd_preprocess", defs)
        dkdv = tile.kernel("attention/flash_bwd.tile", "flash_bwd_dkdv" + sfx, defs)
        dqk = tile.kernel("attention/flash_bwd.tile", "flash_bwd_dq" + sfx, defs)
        o, dq, dk, dv = (torch.full_like(q, float("nan")) for _ in range(4))
        lse = torch.empty(Z, H, L, device="cuda", dtype=torch.float32)
        delta = torch.full_like(lse, float("nan"))
        fwd(q=q, k=k, v=v, o=o, lse=lse, scale=scale)
        a_pre = pre.args(o=o, dout=do, delta=delta)
        a_kv = dkdv.args(q=q, k=k, v=v, dout=do, lse=lse, delta=delta, dk=dk, dv=dv, scale=scale)
        a_q = dqk.args(q=q, k=k, v=v, dout=do, lse=lse, delta=delta, dq=dq, scale=scale)

        def ours():
            pre.launch(a_pre)
            dkdv.launch(a_kv)
            dqk.launch(a_q)
        ours()
        tile.sync()
        errs = [rel_err(dq, qr.grad), rel_err(dk, kr.grad), rel_err(dv, vr.grad)]
        if max(errs) > 2e-2:
            record("bwd", cfg, "tile", None, "TFLOP/s", "WRONG: rel_err dq %.1e dk %.1e dv %.1e" % tuple(errs))
        else:
            ms = bench_ms(ours)
            record("bwd", cfg, "tile", flops / (ms * 1e-3) * 1e-12, "TFLOP/s", f"{ms:.3f} ms, max rel_err {max(errs):.1e}")
    except TileError as e:
        record("bwd", cfg, "tile", None, "TFLOP/s", "FAILED: " + str(e).replace("\n", " | ")[:300])
    for backend, who in (("FLASH_ATTENTION", "sdpa-flash"), ("CUDNN_ATTENTION", "sdpa-cudnn")):
        def peer(backend=backend):
            qr.grad = kr.grad = vr.grad = None
            sdpa(backend, qr, kr, vr, causal).backward(do)
        try_peer("bwd", cfg, who, peer, flops, "TFLOP/s")
    if flex is not None:
        fn, make_mask = flex
        bm = make_mask(L, causal)

        def flex_bwd():
            qr.grad = kr.grad = vr.grad = None
            fn(qr, kr, vr, block_mask=bm).backward(do)
        try_peer("bwd", cfg, "flex", flex_bwd, flops, "TFLOP/s")


# ---- score modifiers (--only scores) -----------------------------------------------------------
# flash_fwd_NAME / flash_bwd_{dkdv,dq}_NAME (lib/attention/scores.tile: the backward's derivative is
# derived by the compiler) next to FlexAttention with the same score_mod.  Our kernels are checked
# against FlexAttention's outputs and gradients first (rel_err <= 1e-2 / 2e-2) and not timed if wrong.
SCORE_MODS = {  # name: causal (as the named specialisations in flash_fwd.tile bind it)
    "alibi": True, "softcap": True, "rel_bias": False, "act": True,
}


def score_inputs(name, H, L):
    """The modifier's tensors (ours, by parameter name) and the equivalent torch score_mod (M = N = L)."""
    dev = "cuda"
    if name == "alibi":
        slopes = torch.tensor([2.0 ** (-8.0 * (h + 1) / H) for h in range(H)], device=dev)
        return {"slopes": slopes}, lambda s, b, h, qi, ki: s + slopes[h] * (ki - qi).to(torch.float32)
    if name == "softcap":
        return {}, lambda s, b, h, qi, ki: 50.0 * torch.tanh(s / 50.0)
    if name == "rel_bias":
        bias = torch.randn(H, 2 * L - 1, device=dev, generator=torch.Generator(device=dev).manual_seed(5))
        return {"bias": bias}, lambda s, b, h, qi, ki: s + bias[h, ki - qi + (L - 1)]
    sink = (torch.arange(L, device=dev) < 4).to(torch.int32)
    beta = torch.tensor([1.0 if h % 2 == 0 else 0.25 for h in range(H)], device=dev)
    log_beta = torch.log(beta)
    return ({"sink": sink, "beta": beta},
            lambda s, b, h, qi, ki: s + torch.where(sink[ki] != 0, log_beta[h], torch.zeros_like(s)))


def bench_scores(tile, L, D, flex_on):
    """Forward and backward of each modifier: tile's named kernels vs FlexAttention."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    import torch._dynamo
    torch._dynamo.config.cache_size_limit = 64   # one graph per (shape, score_mod)
    flex = torch.compile(flex_attention, dynamic=False)
    Z, H = TOKENS // L, 2048 // D
    scale = 1 / math.sqrt(D)
    gen = torch.Generator(device="cuda").manual_seed(11 * L + D)
    q, k, v, do = (torch.randn(Z, H, L, D, device="cuda", dtype=torch.bfloat16, generator=gen) for _ in range(4))
    for name, causal in SCORE_MODS.items():
        cfg = f"{name} L={L} D={D}{' causal' if causal else ''}"
        fwd_flops = 4 * Z * H * L * L * D / (2 if causal else 1)
        caps, score_mod = score_inputs(name, H, L)
        bm = (create_block_mask(lambda b, h, qi, ki: qi >= ki, B=None, H=None, Q_LEN=L, KV_LEN=L)
              if causal else None)
        qr, kr, vr = (t.detach().clone().requires_grad_() for t in (q, k, v))
        try:  # the reference: FlexAttention (compiled) with autograd
            ref = flex(qr, kr, vr, score_mod=score_mod, block_mask=bm, scale=scale)
            ref.backward(do)
        except Exception as e:  # noqa: BLE001
            record("sc-fwd", cfg, "tile", None, "TFLOP/s", f"no reference ({type(e).__name__}: {e})"[:200])
            continue
        defs = {"D": D, "T": "bf16"}
        try:
            fwd = tile.kernel("attention/flash_fwd.tile", f"flash_fwd_{name}", defs)
            pre = tile.kernel("attention/flash_bwd.tile", "flash_bwd_preprocess", defs)
            dkdv = tile.kernel("attention/flash_bwd.tile", f"flash_bwd_dkdv_{name}", defs)
            dqk = tile.kernel("attention/flash_bwd.tile", f"flash_bwd_dq_{name}", defs)
            o, dq, dk, dv = (torch.full_like(q, float("nan")) for _ in range(4))
            lse = torch.empty(Z, H, L, device="cuda", dtype=torch.float32)
            delta = torch.full_like(lse, float("nan"))
            a_fwd = fwd.args(q=q, k=k, v=v, o=o, lse=lse, scale=scale, **caps)
            fwd.launch(a_fwd)
            tile.sync()
            err = rel_err(o, ref)
            if err > 1e-2:
                record("sc-fwd", cfg, "tile", None, "TFLOP/s", f"WRONG: O rel_err {err:.2e}")
            else:
                ms = bench_ms(lambda: fwd.launch(a_fwd))
                record("sc-fwd", cfg, "tile", fwd_flops / (ms * 1e-3) * 1e-12, "TFLOP/s", f"{ms:.3f} ms, O rel_err {err:.1e}")
            a_pre = pre.args(o=o, dout=do, delta=delta)
            a_kv = dkdv.args(q=q, k=k, v=v, dout=do, lse=lse, delta=delta, dk=dk, dv=dv, scale=scale, **caps)
            a_q = dqk.args(q=q, k=k, v=v, dout=do, lse=lse, delta=delta, dq=dq, scale=scale, **caps)

            def ours():
                pre.launch(a_pre)
                dkdv.launch(a_kv)
                dqk.launch(a_q)
            ours()
            tile.sync()
            errs = [rel_err(dq, qr.grad), rel_err(dk, kr.grad), rel_err(dv, vr.grad)]
            if max(errs) > 2e-2:
                record("sc-bwd", cfg, "tile", None, "TFLOP/s", "WRONG: rel_err dq %.1e dk %.1e dv %.1e" % tuple(errs))
            else:
                ms = bench_ms(ours)
                record("sc-bwd", cfg, "tile", 2.5 * fwd_flops / (ms * 1e-3) * 1e-12, "TFLOP/s",
                       f"{ms:.3f} ms, max rel_err {max(errs):.1e}")
        except TileError as e:
            record("sc-fwd", cfg, "tile", None, "TFLOP/s", "FAILED: " + str(e).replace("\n", " | ")[:300])
        if not flex_on:
            continue
        try_peer("sc-fwd", cfg, "flex", lambda: flex(q, k, v, score_mod=score_mod, block_mask=bm, scale=scale),
                 fwd_flops, "TFLOP/s")

        def flex_bwd():
            qr.grad = kr.grad = vr.grad = None
            flex(qr, kr, vr, score_mod=score_mod, block_mask=bm, scale=scale).backward(do)
        try_peer("sc-bwd", cfg, "flex", flex_bwd, 2.5 * fwd_flops, "TFLOP/s")


# ---- learned score tables (--only score-tables) -------------------------------------------------
# The modifier's table trains too: flash_bwd_dq_t5 / _t5_causal / _rel_bias_grad add d(bias)
# (accumulate_grad: atomic adds, so d(bias) is zeroed before every backward, inside the timed
# call) next to FlexAttention with the table as a captured tensor with requires_grad.
SCORE_TABLES = {  # name: (causal, flash_bwd_dq's kernel suffix)
    "t5": (False, "t5"), "t5_causal": (True, "t5_causal"), "rel_bias": (False, "rel_bias_grad"),
}


def t5_bucket_torch(rp, bidirectional, num_buckets=32, max_distance=128):
    """T5's relative-position bucket of rp = key - query (mesh_tensorflow's definition)."""
    n = -rp
    ret = torch.zeros_like(n)
    if bidirectional:
        num_buckets //= 2
        ret = ret + (n < 0).to(n.dtype) * num_buckets
        n = n.abs()
    else:
        n = n.clamp_min(0)
    max_exact = num_buckets // 2
    large = max_exact + (torch.log(n.float().clamp_min(max_exact) / max_exact)
                         / math.log(max_distance / max_exact) * (num_buckets - max_exact)).to(n.dtype)
    large = large.clamp_max(num_buckets - 1)
    return ret + torch.where(n < max_exact, n, large)


def table_score_mod(name, bias_r, L):
    """FlexAttention's score_mod reading the learnable table bias_r (M = N = L)."""
    if name.startswith("t5"):
        bidir = name == "t5"

        def t5_mod(s, b, h, qi, ki):
            return s + bias_r[h, t5_bucket_torch(ki - qi, bidir)]
        return t5_mod

    def rel_mod(s, b, h, qi, ki):
        return s + bias_r[h, ki - qi + (L - 1)]
    return rel_mod


def bench_score_tables(tile, L, D, flex_on):
    """Forward + backward with d(table): tile's kernels vs FlexAttention with a learnable table."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    import torch._dynamo
    torch._dynamo.config.cache_size_limit = 64
    flex = torch.compile(flex_attention, dynamic=False)
    Z, H = TOKENS // L, 2048 // D
    scale = 1 / math.sqrt(D)
    gen = torch.Generator(device="cuda").manual_seed(13 * L + D)
    q, k, v, do = (torch.randn(Z, H, L, D, device="cuda", dtype=torch.bfloat16, generator=gen) for _ in range(4))
    for name, (causal, dq_name) in SCORE_TABLES.items():
        cfg = f"{name}+dbias L={L} D={D}{' causal' if causal else ''}"
        fwd_flops = 4 * Z * H * L * L * D / (2 if causal else 1)
        width = 32 if name.startswith("t5") else 2 * L - 1
        bias = torch.randn(H, width, device="cuda", generator=gen)
        bias_r = bias.clone().requires_grad_()
        score_mod = table_score_mod(name, bias_r, L)
        bm = (create_block_mask(lambda b, h, qi, ki: qi >= ki, B=None, H=None, Q_LEN=L, KV_LEN=L)
              if causal else None)
        qr, kr, vr = (t.detach().clone().requires_grad_() for t in (q, k, v))
        try:  # the reference: FlexAttention with autograd, the table's gradient included
            flex(qr, kr, vr, score_mod=score_mod, block_mask=bm, scale=scale).backward(do)
            ref_dbias = bias_r.grad.clone()
        except Exception as e:  # noqa: BLE001
            record("sc-tab", cfg, "tile", None, "TFLOP/s", f"no reference ({type(e).__name__}: {e})"[:200])
            continue
        defs = {"D": D, "T": "bf16"}
        fname = "rel_bias" if name == "rel_bias" else name
        try:
            fwd = tile.kernel("attention/flash_fwd.tile", f"flash_fwd_{fname}", defs)
            pre = tile.kernel("attention/flash_bwd.tile", "flash_bwd_preprocess", defs)
            dkdv = tile.kernel("attention/flash_bwd.tile", f"flash_bwd_dkdv_{fname}", defs)
            dqk = tile.kernel("attention/flash_bwd.tile", f"flash_bwd_dq_{dq_name}", defs)
            o, dq, dk, dv = (torch.full_like(q, float("nan")) for _ in range(4))
            lse = torch.empty(Z, H, L, device="cuda", dtype=torch.float32)
            delta = torch.full_like(lse, float("nan"))
            dbias = torch.zeros_like(bias)
            a_fwd = fwd.args(q=q, k=k, v=v, o=o, lse=lse, scale=scale, bias=bias)
            a_pre = pre.args(o=o, dout=do, delta=delta)
            a_kv = dkdv.args(q=q, k=k, v=v, dout=do, lse=lse, delta=delta, dk=dk, dv=dv, scale=scale, bias=bias)
            a_q = dqk.args(q=q, k=k, v=v, dout=do, lse=lse, delta=delta, dq=dq, scale=scale, bias=bias,
                           dbias=dbias)

            def ours():
                fwd.launch(a_fwd)
                pre.launch(a_pre)
                dkdv.launch(a_kv)
                dbias.zero_()
                dqk.launch(a_q)
            ours()
            tile.sync()
            errs = [rel_err(dq, qr.grad), rel_err(dk, kr.grad), rel_err(dv, vr.grad), rel_err(dbias, ref_dbias)]
            if max(errs) > 2e-2:
                record("sc-tab", cfg, "tile", None, "TFLOP/s",
                       "WRONG: rel_err dq %.1e dk %.1e dv %.1e dbias %.1e" % tuple(errs))
            else:
                ms = bench_ms(ours)
                record("sc-tab", cfg, "tile", 3.5 * fwd_flops / (ms * 1e-3) * 1e-12, "TFLOP/s",
                       f"{ms:.3f} ms fwd+bwd, max rel_err {max(errs):.1e} (dbias {errs[3]:.1e})")
        except TileError as e:
            record("sc-tab", cfg, "tile", None, "TFLOP/s", "FAILED: " + str(e).replace("\n", " | ")[:300])
        if not flex_on:
            continue

        def flex_train():
            qr.grad = kr.grad = vr.grad = bias_r.grad = None
            flex(qr, kr, vr, score_mod=score_mod, block_mask=bm, scale=scale).backward(do)
        try_peer("sc-tab", cfg, "flex", flex_train, 3.5 * fwd_flops, "TFLOP/s")


# ---- BASED (--only based) -------------------------------------------------------------------------
# based_fwd (lib/attention/based.tile) next to flash-linear-attention's BASED kernel when the
# package imports, else a plain PyTorch chunked implementation of the same computation.
def based_reference(q, k, v):
    """The O(N^2) definition in float32: y_t = sum_{s<=t} phi(q_t).phi(k_s) v_s / (1e-6 + sum ...)."""
    a = q.float() @ k.float().transpose(-1, -2)
    a = (1 + a + 0.5 * a * a).tril()
    return (a @ v.float()) / (a.sum(-1, keepdim=True) + 1e-6)


def based_torch_chunked(q, k, v, C=64):
    """BASED chunk-wise in PyTorch (float32): intra-chunk quadratic, inter-chunk expanded-feature state."""
    Z, H, N, F_ = q.shape
    E = v.shape[-1]
    pad = (-N) % C
    qf, kf, vf = (torch.nn.functional.pad(t.float(), (0, 0, 0, pad)) for t in (q, k, v))
    n = (N + pad) // C
    qc, kc, vc = (t.view(Z, H, n, C, -1) for t in (qf, kf, vf))
    a = qc @ kc.transpose(-1, -2)
    a = (1 + a + 0.5 * a * a).tril()
    num = a @ vc
    den = a.sum(-1)
    k2 = (kc[..., :, None] * kc[..., None, :]).reshape(Z, H, n, C, F_ * F_)
    q2 = (qc[..., :, None] * qc[..., None, :]).reshape(Z, H, n, C, F_ * F_)
    # per-chunk sums, made exclusive prefixes over the chunks
    def excl(x):
        return torch.cumsum(x, dim=2) - x
    s0 = excl(vc.sum(3))                                   # [Z, H, n, E]
    s1 = excl(kc.transpose(-1, -2) @ vc)                  # [Z, H, n, F, E]
    s2 = excl(k2.transpose(-1, -2) @ vc)                  # [Z, H, n, F*F, E]
    z1 = excl(kc.sum(3))
    z2 = excl(k2.sum(3))
    z0 = (torch.arange(n, device=q.device, dtype=torch.float32) * C).view(1, 1, n, 1)
    num = num + s0[:, :, :, None, :] + qc @ s1 + 0.5 * (q2 @ s2)
    den = den + z0 + (qc @ z1[..., None]).squeeze(-1) + 0.5 * (q2 @ z2[..., None]).squeeze(-1)
    o = num / (den[..., None] + 1e-6)
    return o.reshape(Z, H, n * C, E)[:, :, :N]


def based_sample(x):
    """What the O(N^2) reference checks: batch 0, heads 0 and 1, the first 4096 positions (causal, so
    they depend on nothing later)."""
    return x[:1, :2, :4096]


def based_peer(q, k, v):
    """(name, fn) of the closest peer: fla's BASED kernel if it imports and agrees, else PyTorch chunked."""
    ref = based_reference(based_sample(q), based_sample(k), based_sample(v))
    try:
        from fla.ops.based import fused_chunk_based, parallel_based
        attempts = []
        for fname, fn in (("fla.parallel_based", parallel_based), ("fla.fused_chunk_based", fused_chunk_based)):
            # q is already scaled (scale 1); fla's layout is [B, H, T, K] (head_first) or [B, T, H, K]
            attempts.append((fname, lambda q, k, v, fn=fn: fn(q, k, v, scale=1.0, use_norm=True, head_first=True)))
            attempts.append((fname, lambda q, k, v, fn=fn: fn(q.transpose(1, 2), k.transpose(1, 2),
                                                              v.transpose(1, 2), scale=1.0,
                                                              use_norm=True).transpose(1, 2)))
        for fname, fn in attempts:
            try:
                out = fn(q[:1], k[:1], v[:1])
                out = out[0] if isinstance(out, tuple) else out
                if rel_err(based_sample(out), ref) <= 2e-2:
                    return fname, fn
            except Exception:  # noqa: BLE001 - another signature or layout
                continue
        print("bench_attn: fla imports but no BASED call agreed with the reference; using PyTorch chunked")
    except ImportError as e:
        print(f"bench_attn: flash-linear-attention (fla) unavailable ({e}); using PyTorch chunked")
    return "torch-chunked", based_torch_chunked


def bench_based(tile, L):
    Z, H, F_, E = TOKENS // L, 16, 16, 64
    cfg = f"based L={L} Z={Z} H={H} F={F_} E={E}"
    gen = torch.Generator(device="cuda").manual_seed(17 * L)
    q, k = (0.25 * torch.randn(Z, H, L, F_, device="cuda", generator=gen) for _ in range(2))
    q, k = q.to(torch.bfloat16), k.to(torch.bfloat16)
    v = torch.randn(Z, H, L, E, device="cuda", dtype=torch.bfloat16, generator=gen)
    # reported as tokens per second (and ms); q, k scaled small as BASED's projections are
    ref = based_reference(based_sample(q), based_sample(k), based_sample(v))
    try:
        kern = tile.kernel("attention/based.tile", "based_fwd", {"E": E, "T": "bf16"})
        o = torch.full_like(v, float("nan"))
        a = kern.args(q=q, k=k, v=v, o=o)
        kern.launch(a)
        tile.sync()
        err = rel_err(based_sample(o), ref)
        if err > 2e-2:
            record("based", cfg, "tile", None, "Mtok/s", f"WRONG: rel_err {err:.2e}")
        else:
            ms = bench_ms(lambda: kern.launch(a))
            record("based", cfg, "tile", Z * L / (ms * 1e-3) * 1e-6, "Mtok/s", f"{ms:.3f} ms, rel_err {err:.1e}")
    except TileError as e:
        record("based", cfg, "tile", None, "Mtok/s", "FAILED: " + str(e).replace("\n", " | ")[:300])
    who, fn = based_peer(q, k, v)
    try:
        out = fn(q, k, v)
        out = out[0] if isinstance(out, tuple) else out
        err = rel_err(based_sample(out), ref)
        torch.cuda.synchronize()
        if err > 2e-2:
            record("based", cfg, who, None, "Mtok/s", f"WRONG: rel_err {err:.2e}: not timed")
        else:
            ms = bench_ms(lambda: fn(q, k, v))
            record("based", cfg, who, Z * L / (ms * 1e-3) * 1e-6, "Mtok/s", f"{ms:.3f} ms, rel_err {err:.1e}")
    except Exception as e:  # noqa: BLE001
        record("based", cfg, who, None, "Mtok/s", f"n/a ({type(e).__name__}: {str(e)[:80]})")
    ours = [r[3] for r in rows if r[0] == "based" and r[1] == cfg and r[2] == "tile"]
    peer = [r[3] for r in rows if r[0] == "based" and r[1] == cfg and r[2] == who]
    if ours and peer and ours[-1] and peer[-1]:
        print(f"based    {cfg:28s} tile / {who}: x{ours[-1] / peer[-1]:.2f}", flush=True)


# ---- masks: sliding window with sinks, 50% block-sparse (issue 7's mask targets) ----------------
WINDOW, SINKS, SPARSE_BLOCK = 1024, 4, 128


def bench_masks(tile, L, D, flex_on):
    """flash_fwd with the sliding-window-with-sinks mask (derived block skipping) and
    block_sparse_fwd over a random 50% block list, each against FlexAttention on the same mask
    (and SDPA with an explicit mask as a correctness reference).  FLOPs count the visible blocks
    of FlexAttention's own block mask, so both sides are charged the same work."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    Z, H = TOKENS // L, 2048 // D
    gen = torch.Generator(device="cuda").manual_seed(3 * L + D)
    q, k, v = (torch.randn(Z, H, L, D, device="cuda", dtype=torch.bfloat16, generator=gen) for _ in range(3))
    scale = 1 / math.sqrt(D)
    o = torch.empty_like(q)
    lse = torch.empty(Z, H, L, device="cuda", dtype=torch.float32)
    flex = torch.compile(flex_attention) if flex_on else None
    nb = triton_cdiv(L, SPARSE_BLOCK)
    keep = torch.rand(H, nb, nb, device="cuda", generator=gen) < 0.5
    keep |= torch.eye(nb, dtype=torch.bool, device="cuda")[None]      # every query block sees a block
    cases = {
        "window": (lambda b, h, i, j: (j <= i) & ((i - j < WINDOW) | (j < SINKS))),
        "sparse50": (lambda b, h, i, j: keep[h, i // SPARSE_BLOCK, j // SPARSE_BLOCK]),
    }
    for name, mask_mod in cases.items():
        cfg = f"{name} L={L} D={D} Z={Z} H={H}"
        bm = create_block_mask(mask_mod, None, H, L, L, device="cuda")
        dense = bm.to_dense()                                          # [1|Z, H, nb, nb] visible blocks
        vis_frac = dense.float().mean().item()
        flops = 4 * Z * H * L * L * D * vis_frac
        # the reference: batch 0, heads 0 and 1, SDPA with the explicit mask
        i = torch.arange(L, device="cuda")
        full = mask_mod(None, torch.arange(2, device="cuda")[:, None, None], i[None, :, None], i[None, None, :])
        ref = F.scaled_dot_product_attention(q[:1, :2], k[:1, :2], v[:1, :2], attn_mask=full[None], scale=scale)
        del full
        try:
            o.fill_(float("nan"))
            if name == "window":
                kern = tile.kernel("attention/flash_fwd.tile", "flash_fwd",
                                   {"D": D, "T": "bf16", "mask": f"sliding_window(W: {WINDOW}, S: {SINKS})"})
                a = kern.args(q=q, k=k, v=v, o=o, lse=lse, scale=scale)
            else:
                BN = 64
                per = SPARSE_BLOCK // BN                                 # our key blocks per Flex block
                idx_l, cnt_l = [], []
                for h in range(H):
                    rows_i, rows_c = [], []
                    for qb in range(nb):
                        ks = torch.nonzero(keep[h, qb]).flatten()
                        ks = (ks[:, None] * per + torch.arange(per, device="cuda")[None]).flatten()
                        rows_c.append(len(ks))
                        rows_i.append(torch.nn.functional.pad(ks, (0, nb * per - len(ks))))
                    idx_l.append(torch.stack(rows_i))
                    cnt_l.append(torch.tensor(rows_c, device="cuda"))
                kv_idx = torch.stack(idx_l)[None].expand(Z, -1, -1, -1).to(torch.int32).contiguous()
                kv_cnt = torch.stack(cnt_l)[None].expand(Z, -1, -1).to(torch.int32).contiguous()
                kern = tile.kernel("attention/block_sparse.tile", "block_sparse_fwd",
                                   {"D": D, "T": "bf16", "BM": SPARSE_BLOCK, "BN": BN})
                a = kern.args(q=q, k=k, v=v, kv_idx=kv_idx, kv_cnt=kv_cnt, o=o, lse=lse, scale=scale)
            kern.launch(a)
            tile.sync()
            err = rel_err(o[:1, :2], ref)
            if err > 1e-2:
                record("masks", cfg, "tile", None, "TFLOP/s", f"WRONG: rel_err {err:.2e}")
            else:
                ms = bench_ms(lambda: kern.launch(a))
                record("masks", cfg, "tile", flops / (ms * 1e-3) * 1e-12, "TFLOP/s",
                       f"{ms:.3f} ms, {vis_frac:.0%} of blocks visible, rel_err {err:.1e}")
        except TileError as e:
            record("masks", cfg, "tile", None, "TFLOP/s", "FAILED: " + str(e).replace("\n", " | ")[:300])
        if flex is not None:
            try_peer("masks", cfg, "flex", lambda: flex(q, k, v, block_mask=bm, scale=scale), flops, "TFLOP/s")


def triton_cdiv(a, b):
    return (a + b - 1) // b


# ---- Lightning Attention-2 -------------------------------------------------------------------------
def lightning_torch_chunked(q, k, v, decay, C=64):
    """Lightning Attention-2 chunk-wise in PyTorch (float32): intra-chunk masked product, the D x E
    state carried between chunks by a cumulative product of decays."""
    Z, H, N, D = q.shape
    E = v.shape[-1]
    pad = (-N) % C
    qf, kf, vf = (torch.nn.functional.pad(t.float(), (0, 0, 0, pad)) for t in (q, k, v))
    n = (N + pad) // C
    qc, kc, vc = (t.view(Z, H, n, C, -1) for t in (qf, kf, vf))
    ld = torch.log(decay.float()).view(1, H, 1, 1, 1)
    j = torch.arange(C, device=q.device, dtype=torch.float32)
    gap = j[:, None] - j[None, :]
    intra = torch.where(gap >= 0, torch.exp(gap * ld), torch.zeros((), device=q.device))
    o = ((qc @ kc.transpose(-1, -2)) * intra) @ vc
    kdec = torch.exp((C - 1 - j).view(1, 1, 1, C, 1) * ld)
    local = (kc * kdec).transpose(-1, -2) @ vc                    # [Z, H, n, D, E]
    state = torch.zeros(Z, H, D, E, device=q.device)
    bdec = torch.exp(C * ld.view(1, H, 1, 1))
    qdec = torch.exp((j + 1).view(1, 1, C, 1) * ld.view(1, H, 1, 1))
    outs = []
    for c in range(n):
        outs.append(o[:, :, c] + (qc[:, :, c] @ state) * qdec)
        state = state * bdec + local[:, :, c]
    return torch.stack(outs, 2).reshape(Z, H, n * C, E)[:, :, :N]


def bench_lightning(tile, L):
    Z, H, D = TOKENS // L, 16, 128
    cfg = f"lightning2 L={L} Z={Z} H={H} D={D}"
    gen = torch.Generator(device="cuda").manual_seed(29 * L)
    q, k, v = (0.1 * torch.randn(Z, H, L, D, device="cuda", generator=gen) for _ in range(3))
    q, k, v = q.to(torch.bfloat16), k.to(torch.bfloat16), v.to(torch.bfloat16)
    decay = 1 - torch.exp(-torch.linspace(2, 8, H, device="cuda"))   # lambda_h in (0, 1)
    flops = 2 * Z * H * L * (64 * D * 2 + 2 * D * D)              # chunk of 64: intra + inter + state
    ref = lightning_torch_chunked(q[:1, :2], k[:1, :2], v[:1, :2], decay[:2])
    try:
        kern = tile.kernel("attention/lightning2.tile", "lightning2", {"D": D, "E": D, "T": "bf16"})
        o = torch.full_like(v, float("nan"))
        a = kern.args(q=q, k=k, v=v, decay=decay.float().contiguous(), o=o)
        kern.launch(a)
        tile.sync()
        err = rel_err(o[:1, :2], ref)
        if err > 2e-2:
            record("linear", cfg, "tile", None, "Mtok/s", f"WRONG: rel_err {err:.2e}")
        else:
            ms = bench_ms(lambda: kern.launch(a))
            record("linear", cfg, "tile", Z * L / (ms * 1e-3) * 1e-6, "Mtok/s", f"{ms:.3f} ms, rel_err {err:.1e}")
    except TileError as e:
        record("linear", cfg, "tile", None, "Mtok/s", "FAILED: " + str(e).replace("\n", " | ")[:300])
    peers = [("torch-chunked", lambda: lightning_torch_chunked(q, k, v, decay))]
    try:
        from fla.ops.simple_gla import chunk_simple_gla
        g = torch.log(decay.float()).view(1, 1, H).expand(Z, L, H).contiguous()
        peers.insert(0, ("fla-simple-gla", lambda: chunk_simple_gla(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), g=g, scale=1.0)[0]))
    except Exception as e:  # noqa: BLE001
        print(f"bench_attn: flash-linear-attention (fla) unavailable ({type(e).__name__}: {e}); "
              "Lightning-2 is compared with PyTorch chunked")
    for who, fn in peers:
        try_peer("linear", cfg, who, fn, Z * L * 1e3, "Mtok/s")   # work/1e3 so the unit is Mtok/s


# ---- decode -------------------------------------------------------------------------------------
def copy_gbps(nbytes):
    """A torch device-to-device copy of nbytes: (bytes read + bytes written) / time, in GB/s."""
    src = torch.empty(nbytes // 2, device="cuda", dtype=torch.bfloat16).normal_()
    dst = torch.empty_like(src)
    ms = bench_ms(lambda: dst.copy_(src))
    del src, dst
    return 2 * nbytes / (ms * 1e-3) * 1e-9


def bench_decode(tile, Z, L, D, PS=16, H=32, HK=8):
    """decode_gqa + decode_merge (S from tile_split_count) and the old per-head
    decode_split + decode_combine, in GB/s of KV cache read, next to the copy
    bandwidth of the same bytes and the SDPA peers on the contiguous cache."""
    pages = -(-L // PS)
    cfg = f"ctx={L} D={D} Z={Z} H={H} HK={HK}"
    gen = torch.Generator(device="cuda").manual_seed(L + 3 * D + Z)
    P = Z * pages
    q = torch.randn(Z, H, D, device="cuda", dtype=torch.bfloat16, generator=gen)
    kc, vc = (torch.randn(P, PS, HK, D, device="cuda", dtype=torch.bfloat16, generator=gen) for _ in range(2))
    table = torch.randperm(P, device="cuda", generator=gen).to(torch.int32).view(Z, pages)
    lens = torch.full((Z,), L, device="cuda", dtype=torch.int32)
    scale = 1 / math.sqrt(D)
    # the same keys, contiguous per sequence, for the peers: [Z, HK, L, D]
    kz = kc[table.long()].reshape(Z, pages * PS, HK, D)[:, :L].transpose(1, 2).contiguous()
    vz = vc[table.long()].reshape(Z, pages * PS, HK, D)[:, :L].transpose(1, 2).contiguous()
    kv_bytes = 2 * Z * L * HK * D * 2      # the KV cache read once: the figure reported
    copy = copy_gbps(kv_bytes)
    record("decode", cfg, "torch-copy", copy, "GB/s", f"(read + written) / time of a {kv_bytes / 2**20:.0f} MiB copy")
    qf = q.float().view(Z, HK, H // HK, D)
    s = torch.einsum("zgrd,zgld->zgrl", qf, kz.float()) * scale
    ref = torch.einsum("zgrl,zgld->zgrd", torch.softmax(s, -1), vz.float()).reshape(Z, H, D)
    del s, qf
    S = tile.split_count(Z * HK, pages)
    for who, split_name, comb_name, defs, comb_defs in (
            ("tile", "decode_gqa", "decode_merge", {"D": D, "T": "bf16", "G": H // HK, "PS": PS},
             {"D": D, "T": "bf16"}),
            ("tile-per-head", "decode_split", "decode_combine", {"D": D, "T": "bf16", "PS": PS, "S": S},
             {"D": D, "T": "bf16", "S": S})):
        try:
            split = tile.kernel("attention/decode.tile", split_name, defs)
            comb = tile.kernel("attention/decode.tile", comb_name, comb_defs)
            o_part = torch.full((Z, H, S, D), float("nan"), device="cuda")
            lse_part = torch.full((Z, H, S), float("nan"), device="cuda")
            o = torch.full((Z, H, D), float("nan"), device="cuda", dtype=torch.bfloat16)
            lse = torch.full((Z, H), float("nan"), device="cuda")
            cache = (dict(k_slots=kc.view(P * PS, HK, D), v_slots=vc.view(P * PS, HK, D))
                     if split_name == "decode_gqa" else dict(k_cache=kc, v_cache=vc))
            a1 = split.args(q=q, block_table=table, seq_lens=lens, o_part=o_part, lse_part=lse_part,
                            scale=scale, **cache)
            a2 = comb.args(o_part=o_part, lse_part=lse_part, o=o, lse=lse)

            def ours(split=split, comb=comb, a1=a1, a2=a2):
                split.launch(a1)
                comb.launch(a2)
            ours()
            tile.sync()
            err = rel_err(o, ref)
            if err > 1e-2:
                record("decode", cfg, who, None, "GB/s", f"WRONG: rel_err {err:.1e}")
                continue
            ms = bench_ms(ours)
            split_ms = bench_ms(lambda split=split, a1=a1: split.launch(a1))
            gbps = kv_bytes / (ms * 1e-3) * 1e-9
            record("decode", cfg, who, gbps, "GB/s",
                   f"{ms:.3f} ms ({split_ms:.3f} split), S={S}, {100 * gbps / copy:.0f}% of copy, rel_err {err:.1e}")
        except TileError as e:
            record("decode", cfg, who, None, "GB/s", "FAILED: " + str(e).replace("\n", " | ")[:300])
    q4 = q.view(Z, H, 1, D)
    for backend, who in (("FLASH_ATTENTION", "sdpa-flash"), ("CUDNN_ATTENTION", "sdpa-cudnn")):
        try_peer("decode", cfg, who, lambda backend=backend: sdpa(backend, q4, kz, vz, False, enable_gqa=True),
                 kv_bytes, "GB/s")


# ---- compile time and launch overhead ------------------------------------------------------------
def bench_compile(libpath):
    cache = tempfile.mkdtemp(prefix="tile_bench_cache_")
    try:
        for label in ("cold", "disk cache"):
            t = Tile(libpath, cache_dir=cache)
            k = t.kernel("attention/flash_fwd.tile", "flash_fwd_causal", {"D": 128, "T": "bf16"})
            record("compile", "flash_fwd_causal D=128", label, k.compile_s * 1e3, "ms")
            if label == "disk cache":
                k2 = t.kernel("attention/flash_fwd.tile", "flash_fwd_causal", {"D": 128, "T": "bf16"})
                record("compile", "flash_fwd_causal D=128", "memory cache", k2.compile_s * 1e3, "ms")
            t.close()
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def bench_launch_overhead(tile):
    k = tile.kernel("attention/flash_fwd.tile", "flash_fwd", {"D": 64, "T": "bf16"})
    q = torch.randn(1, 1, 64, 64, device="cuda", dtype=torch.bfloat16)
    o, lse = torch.empty_like(q), torch.empty(1, 1, 64, device="cuda")
    a = k.args(q=q, k=q, v=q, o=o, lse=lse, scale=0.125)
    for _ in range(10):
        k.launch(a)
    tile.sync()
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        k.launch(a)
    host = (time.perf_counter() - t0) / n
    tile.sync()
    record("launch", "flash_fwd 64x64 from Python", "tile_launch", host * 1e6, "us", "host time per call (ctypes)")


# ---- main ------------------------------------------------------------------------------------------
def flex_setup():
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    import torch._dynamo
    # one compiled graph per shape: past the default limit of 8, dynamo would
    # fall back to eager flex_attention (a dense, slow reference)
    torch._dynamo.config.cache_size_limit = 64
    fn = torch.compile(flex_attention, dynamic=False)

    def make_mask(L, causal):
        if not causal:
            return None
        return create_block_mask(lambda b, h, qi, ki: qi >= ki, B=None, H=None, Q_LEN=L, KV_LEN=L)
    return fn, make_mask


def summary():
    print("\n== summary (ratio = tile / peer; > 1: tile faster)")
    peers = ["sdpa-flash", "sdpa-cudnn", "flex", "triton", "fla-simple-gla", "torch-chunked"]
    print(f"{'what':8s} {'config':28s} {'tile':>10s} " + " ".join(f"{p:>14s}" for p in peers))
    keyed = {}
    for g, c, who, val, unit, note in rows:
        keyed.setdefault((g, c), {})[who] = (val, unit, note)
    for (g, c), d in keyed.items():
        if g not in ("fwd", "bwd", "decode", "sc-fwd", "sc-bwd", "sc-tab", "masks", "linear"):
            continue
        ours = d.get("tile", (None, "", ""))
        unit = ours[1] or next(iter(d.values()))[1]
        cell = f"{ours[0]:8.1f}" if ours[0] is not None else ("   WRONG" if "WRONG" in ours[2] else "  failed")
        line = f"{g:8s} {c:28s} {cell:>10s} "
        for p in peers:
            pv = d.get(p, (None, "", ""))[0]
            if pv is None or ours[0] is None:
                line += f"{'-':>14s} "
            else:
                line += f"{pv:7.1f} x{ours[0] / pv:4.2f} "
        print(line + f" {unit}")
    for g, c, who, val, unit, note in rows:
        if g in ("compile", "launch"):
            print(f"{g:8s} {c:28s} {who:14s} {val:10.2f} {unit} {note}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lib", default=os.path.join(ROOT, "build-gpu", "libtile.so"))
    ap.add_argument("--quick", action="store_true", help="L=4k, D=128 only")
    ap.add_argument("--no-flex", action="store_true")
    ap.add_argument("--flex-lengths", default="4096",
                    help="lengths at which FlexAttention runs (each shape costs a torch.compile)")
    ap.add_argument("--no-triton", action="store_true")
    ap.add_argument("--only", default="fwd,bwd,decode,compile,launch")
    ap.add_argument("--warps", type=int, default=0, help="warps per block (0: the compiler's choice)")
    ap.add_argument("--fwd-defines", default="",
                    help="extra constants for our forward kernel, e.g. BM=64,BN=64 (until the scheduler picks them)")
    args = ap.parse_args()
    args.fwd_defines = dict(kv.split("=", 1) for kv in args.fwd_defines.split(",") if kv)
    if not torch.cuda.is_available():
        print("bench_attn: no CUDA device; nothing to measure", file=sys.stderr)
        return 77
    torch.cuda.init()
    only = set(args.only.split(","))
    tile = Tile(args.lib, num_warps=args.warps)
    print(f"bench_attn on {tile.device}; torch {torch.__version__}", flush=True)
    flex = None
    if not args.no_flex:
        try:
            flex = flex_setup()
        except Exception as e:  # noqa: BLE001
            print(f"flex attention unavailable: {e}")
    args.triton_fwd = None
    if not args.no_triton:
        try:
            args.triton_fwd = triton_fwd_factory()
        except Exception as e:  # noqa: BLE001
            print(f"triton unavailable: {e}")
    flex_lengths = {int(x) for x in args.flex_lengths.split(",") if x}
    for L, D, causal in configs(args.quick):
        fx = flex if L in flex_lengths else None
        for group, fn in (("fwd", lambda: bench_forward(tile, L, D, causal, args, fx)),
                          ("bwd", lambda: bench_backward(tile, L, D, causal, fx))):
            if group not in only:
                continue
            try:
                fn()
            except Exception:  # noqa: BLE001 - keep going: one broken config is one row
                traceback.print_exc()
            torch.cuda.empty_cache()
    if "scores" in only:
        for L in ([4096] if args.quick else [1024, 4096, 16384]):
            for D in ([128] if args.quick else [64, 128]):
                try:
                    bench_scores(tile, L, D, not args.no_flex and L in flex_lengths)
                except Exception:  # noqa: BLE001
                    traceback.print_exc()
                torch.cuda.empty_cache()
    if "score-tables" in only:
        for L in ([4096] if args.quick else [1024, 4096]):
            for D in ([128] if args.quick else [64, 128]):
                try:
                    bench_score_tables(tile, L, D, not args.no_flex and L in flex_lengths)
                except Exception:  # noqa: BLE001
                    traceback.print_exc()
                torch.cuda.empty_cache()
    if "masks" in only:
        for L in ([4096] if args.quick else [1024, 4096, 16384]):
            for D in ([128] if args.quick else [64, 128]):
                try:
                    bench_masks(tile, L, D, not args.no_flex)
                except Exception:  # noqa: BLE001
                    traceback.print_exc()
                torch.cuda.empty_cache()
    if "lightning" in only:
        for L in ([16384] if args.quick else [4096, 16384]):
            try:
                bench_lightning(tile, L)
            except Exception:  # noqa: BLE001
                traceback.print_exc()
            torch.cuda.empty_cache()
    if "based" in only:
        for L in ([4096] if args.quick else [1024, 4096, 16384]):
            try:
                bench_based(tile, L)
            except Exception:  # noqa: BLE001
                traceback.print_exc()
            torch.cuda.empty_cache()
    if "decode" in only:
        # issue 7's target shapes (32k keys, batch 1 and 8), then 16k tokens per batch
        shapes = [(1, 32768, 128), (8, 32768, 128)]
        if not args.quick:
            shapes += [(TOKENS // L, L, D) for L in (1024, 4096, 16384) for D in (64, 128)]
        for Z, L, D in shapes:
            try:
                bench_decode(tile, Z, L, D)
            except Exception:  # noqa: BLE001
                traceback.print_exc()
            torch.cuda.empty_cache()
    if "dynsparse" in only:   # issue 9: estimate-select-attend chains (bench/bench_dynsparse.py)
        import bench_dynsparse
        bench_dynsparse.run(tile, record, bench_ms, args.quick)
    if "compile" in only:
        try:
            bench_compile(args.lib)
        except Exception:  # noqa: BLE001
            traceback.print_exc()
    if "launch" in only:
        try:
            bench_launch_overhead(tile)
        except Exception:  # noqa: BLE001
            traceback.print_exc()
    tile.close()
    summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
