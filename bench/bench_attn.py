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
  lightning (only with --only lightning) Lightning Attention-2 (lightning2) vs
            flash-linear-attention's chunk_lightning_attn (fla, imported from source by
            bench/peers/fla_import.py) on the same decay, and a PyTorch chunked form
  based     (only with --only based) BASED's causal Taylor linear attention
            (based_fwd, F = 16) vs fla's parallel_based and fused_chunk_based (same
            Taylor kernel and normalisation) and a PyTorch chunked form
  variants  (only with --only variants, or one of s2, duo, duo-decode, moh, aaren, sqa)
            issue 8's programs next to their closest peers: S2-Attention vs FlexAttention
            with the same mask (and our flash_fwd with the mask, and dense causal SDPA);
            DuoAttention prefill vs FlexAttention with the per-head mask, its paged decode
            vs our dense decode and SDPA; MoH vs SDPA followed by the router weighting;
            Aaren vs PyTorch's cumulative-logsumexp form; SQA vs SDPA with enable_gqa

Every row goes through check_and_time: the contender runs once, its output is
checked against a PyTorch reference (a wrong one is reported as WRONG and not
timed, a failing one with its reason), then it is timed.

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
         [--only fwd,bwd,decode,compile,launch,scores,score-tables,masks,lightning,based,
                 variants|s2,duo,duo-decode,moh,aaren,sqa]
  --only dynsparse: the dynamic sparse chains at 32k and 128k (bench/bench_dynsparse.py)
FlexAttention runs at length 4k only by default in fwd / bwd / scores (each
shape costs a torch.compile of tens of seconds), at every length of the
variants (their masks are the point).
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
MODEL_DIM = 2048          # H = MODEL_DIM / D heads
DEV = "cuda"              # "cpu" with --dry-run: the interpreter on small shapes (dry_run_setup)
rows = []  # (group, config, contender, value, unit, note)

# ---- libtile through ctypes (bench/tile_ctypes.py), on torch tensors ---------------------------
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
import tile_ctypes  # noqa: E402
from tile_ctypes import TileError  # noqa: E402

TORCH_DTYPES = {torch.bool: tile_ctypes.BOOL, torch.int32: tile_ctypes.I32, torch.int64: tile_ctypes.I64,
                torch.float16: tile_ctypes.F16, torch.bfloat16: tile_ctypes.BF16, torch.float32: tile_ctypes.F32}


def torch_arg(t):
    assert t.is_cuda or DEV == "cpu", "tile kernels take device tensors"
    assert t.device.type == DEV, f"a {t.device.type} tensor where {DEV} was expected"
    return tile_ctypes.tensor_arg(t.data_ptr(), TORCH_DTYPES[t.dtype], list(t.shape), list(t.stride()))


def current_stream():
    return torch.cuda.current_stream().cuda_stream if DEV == "cuda" else None


def sync():
    if DEV == "cuda":
        torch.cuda.synchronize()


class Tile(tile_ctypes.Tile):
    """A GPU context whose kernels take torch tensors and use torch's stream."""

    def __init__(self, path, cache_dir=None, num_warps=0):
        super().__init__(path, mode=tile_ctypes.MODE_GPU if DEV == "cuda" else tile_ctypes.MODE_INTERPRET,
                         lib_dir=LIB_DIR, cache_dir=cache_dir,
                         stream=current_stream, to_arg=torch_arg, num_warps=num_warps)


# ---- timing and reporting -----------------------------------------------------------------
def bench_ms(fn):
    """Median milliseconds of fn() (triton.testing.do_bench, else CUDA events; one call timed
    by the host clock in a dry run)."""
    if DEV != "cuda":
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3
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


def launches(*steps):
    """One callable launching each (kernel, args) in order: a chain of kernels timed as one."""
    def run():
        for kern, a in steps:
            kern.launch(a)
    return run


def record(group, config, who, value, unit, note=""):
    rows.append((group, config, who, value, unit, note))
    shown = f"{value:8.1f} {unit}" if value is not None else f"{'-':>8s} {unit}"
    print(f"{group:8s} {config:28s} {who:16s} {shown} {note}", flush=True)


RATE = {"TFLOP/s": 1e-12, "GB/s": 1e-9, "Mtok/s": 1e-6}   # work units per second -> the unit


def check_and_time(group, config, who, fn=None, work=0.0, unit="TFLOP/s", check=None, tol=1e-2,
                   prepare=None, note=None, check_out=None):
    """The one check-then-time step of every row, ours and the peers'.

    prepare() (optional) builds the timed callable (compiles our kernel, binds its arguments);
    fn() is run once; check() (or check_out(what fn returned)) then returns the relative errors
    against the reference, a float or {label: error}, each compared with tol (a float, or
    {label: tol}).  A wrong result is recorded as WRONG and not timed; a failure (compile
    error, unsupported peer) is recorded with its reason; neither stops the run.  work is in FLOPs, bytes or tokens (unit
    TFLOP/s, GB/s or Mtok/s); note(ms) adds to the row's note.  Returns the median ms or None."""
    try:
        if prepare is not None:
            fn = prepare()
        result = fn()
        sync()
        errs = check() if check is not None else check_out(result) if check_out is not None else {}
        errs = {"rel_err": errs} if isinstance(errs, (int, float)) else errs
        tols = tol if isinstance(tol, dict) else {k: tol for k in errs}
        shown = ", ".join(f"{k} {e:.1e}" for k, e in errs.items())
        if any(not (e <= tols[k]) for k, e in errs.items()):   # NaN is wrong too
            record(group, config, who, None, unit, f"WRONG ({shown}): not timed")
            return None
        ms = bench_ms(fn)
        extra = note(ms) if note is not None else ""
        record(group, config, who, work / (ms * 1e-3) * RATE[unit], unit,
               ", ".join(x for x in (f"{ms:.3f} ms", shown, extra) if x))
        return ms
    except TileError as e:
        record(group, config, who, None, unit, "FAILED: " + str(e).replace("\n", " | ")[:300])
    except Exception as e:  # noqa: BLE001 - any failure of a contender is a table entry
        first = str(e).splitlines()[0][:100] if str(e) else ""
        record(group, config, who, None, unit, f"n/a ({type(e).__name__}: {first})")
        if who == "tile":
            traceback.print_exc()
    return None


def rel_err(got, ref):
    got, ref = got.float(), ref.float()
    if not torch.isfinite(got).all():
        return float("inf")
    return (torch.linalg.vector_norm(got - ref) / torch.linalg.vector_norm(ref).clamp_min(1e-30)).item()


def sdpa(backend, q, k, v, causal, **kw):
    if DEV != "cuda":   # the dry run: the same function in plain torch ops (any torch version)
        return sdpa_math(q, k, v, causal, **kw)
    from torch.nn.attention import SDPBackend, sdpa_kernel
    with sdpa_kernel(getattr(SDPBackend, backend)):
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal, **kw)


def sdpa_math(q, k, v, causal, enable_gqa=False, scale=None):
    """SDPA's definition in float32 (is_causal: top-left aligned, as SDPA's), differentiable;
    the dry run's stand-in for the SDPA backends, named as such in no row (the rows keep the
    backend's name: a dry run's peer timings mean nothing)."""
    rep = q.shape[1] // k.shape[1]
    if rep > 1:
        k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
    s = (q.float() @ k.float().transpose(-1, -2)) * (scale if scale is not None else 1 / math.sqrt(q.shape[-1]))
    if causal:
        s = s.masked_fill(torch.ones(s.shape[-2:], dtype=torch.bool, device=s.device).triu(1), float("-inf"))
    return (torch.softmax(s, -1) @ v.float()).to(q.dtype)


# ---- a Triton FlashAttention-2 forward (bench/triton_fa.py, written here) -----------------------
def triton_fwd_factory():
    import triton_fa  # needs triton; imported late so the rest runs without it
    return triton_fa.attention_fwd


# ---- forward ----------------------------------------------------------------------------------
def bench_lengths(quick, dry=False):
    """The lengths of the fwd/bwd/masks sections: BENCH_LENGTHS="1024 4096" narrows the
    default (a short device call)."""
    if dry:
        return [128]
    if quick:
        return [4096]
    env = os.environ.get("BENCH_LENGTHS", "").split()
    return [int(x) for x in env] if env else [1024, 4096, 16384]


def configs(quick, dry=False):
    lengths = bench_lengths(quick, dry)
    dims = [32] if dry else [128] if quick else [64, 128]
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
    Z, H = TOKENS // L, MODEL_DIM // D
    cfg = f"L={L} D={D} Z={Z} H={H}{' causal' if causal else ''}"
    gen = torch.Generator(device=DEV).manual_seed(L + D)
    q, k, v = (torch.randn(Z, H, L, D, device=DEV, dtype=torch.bfloat16, generator=gen) for _ in range(3))
    o = torch.empty_like(q)
    lse = torch.empty(Z, H, L, device=DEV, dtype=torch.float32)
    scale = 1 / math.sqrt(D)
    flops = 4 * Z * H * L * L * D / (2 if causal else 1)
    ref = sdpa("FLASH_ATTENTION", q, k, v, causal)
    sample = torch.cat([torch.arange(0, 64), torch.arange(L - 64, L)]).to(DEV)

    def prepare():
        defs = {"D": D, "T": "bf16", **args.fwd_defines}
        kern = tile.kernel("attention/flash_fwd.tile", "flash_fwd_causal" if causal else "flash_fwd", defs)
        launch_args = kern.args(q=q, k=k, v=v, o=o, lse=lse, scale=scale)
        o.fill_(float("nan"))
        lse.fill_(float("nan"))
        return lambda: kern.launch(launch_args)

    def check():   # O against SDPA; LSE of some rows against float32, as an absolute error
        return {"O rel_err": rel_err(o, ref),
                "LSE max err": (lse[0, 0, sample] - lse_rows(q, k, scale, causal, sample)).abs().max().item()}
    check_and_time("fwd", cfg, "tile", prepare=prepare, check=check, work=flops)
    check_and_time("fwd", cfg, "sdpa-flash", lambda: sdpa("FLASH_ATTENTION", q, k, v, causal), flops)
    check_and_time("fwd", cfg, "sdpa-cudnn", lambda: sdpa("CUDNN_ATTENTION", q, k, v, causal), flops)
    if flex is not None:
        fn, make_mask = flex
        bm = make_mask(L, causal)
        check_and_time("fwd", cfg, "flex", lambda: fn(q, k, v, block_mask=bm), flops,
                       check_out=lambda out: rel_err(out, ref))
    if args.triton_fwd is not None:
        out = torch.empty_like(q)
        check_and_time("fwd", cfg, "triton", lambda: args.triton_fwd(q, k, v, out, causal), flops,
                       check=lambda: rel_err(out, ref))


# ---- backward ---------------------------------------------------------------------------------
def bench_backward(tile, L, D, causal, flex):
    Z, H = TOKENS // L, MODEL_DIM // D
    cfg = f"L={L} D={D} Z={Z} H={H}{' causal' if causal else ''}"
    gen = torch.Generator(device=DEV).manual_seed(7 * L + D)
    q, k, v, do = (torch.randn(Z, H, L, D, device=DEV, dtype=torch.bfloat16, generator=gen) for _ in range(4))
    scale = 1 / math.sqrt(D)
    flops = 10 * Z * H * L * L * D / (2 if causal else 1)  # 2.5 x the forward
    qr, kr, vr = (t.detach().clone().requires_grad_() for t in (q, k, v))
    out = sdpa("FLASH_ATTENTION", qr, kr, vr, causal)
    out.backward(do)
    sfx = "_causal" if causal else ""
    defs = {"D": D, "T": "bf16"}
    o, dq, dk, dv = (torch.full_like(q, float("nan")) for _ in range(4))
    lse = torch.empty(Z, H, L, device=DEV, dtype=torch.float32)
    delta = torch.full_like(lse, float("nan"))

    def prepare():
        fwd = tile.kernel("attention/flash_fwd.tile", "flash_fwd" + sfx, defs)
        pre = tile.kernel("attention/flash_bwd.tile", "flash_bwd_preprocess", defs)
        dkdv = tile.kernel("attention/flash_bwd.tile", "flash_bwd_dkdv" + sfx, defs)
        dqk = tile.kernel("attention/flash_bwd.tile", "flash_bwd_dq" + sfx, defs)
        fwd(q=q, k=k, v=v, o=o, lse=lse, scale=scale)
        a_pre = pre.args(o=o, dout=do, delta=delta)
        a_kv = dkdv.args(q=q, k=k, v=v, dout=do, lse=lse, delta=delta, dk=dk, dv=dv, scale=scale)
        a_q = dqk.args(q=q, k=k, v=v, dout=do, lse=lse, delta=delta, dq=dq, scale=scale)

        return launches((pre, a_pre), (dkdv, a_kv), (dqk, a_q))
    check_and_time("bwd", cfg, "tile", prepare=prepare, work=flops, tol=2e-2,
                   check=lambda: {"dq": rel_err(dq, qr.grad), "dk": rel_err(dk, kr.grad), "dv": rel_err(dv, vr.grad)})
    for backend, who in (("FLASH_ATTENTION", "sdpa-flash"), ("CUDNN_ATTENTION", "sdpa-cudnn")):
        def peer(backend=backend):
            qr.grad = kr.grad = vr.grad = None
            sdpa(backend, qr, kr, vr, causal).backward(do)
        check_and_time("bwd", cfg, who, peer, flops)
    if flex is not None:
        fn, make_mask = flex
        bm = make_mask(L, causal)

        def flex_bwd():
            qr.grad = kr.grad = vr.grad = None
            fn(qr, kr, vr, block_mask=bm).backward(do)
        check_and_time("bwd", cfg, "flex", flex_bwd, flops)


# ---- score modifiers (--only scores) -----------------------------------------------------------
# flash_fwd_NAME / flash_bwd_{dkdv,dq}_NAME (lib/attention/scores.tile: the backward's derivative is
# derived by the compiler) next to FlexAttention with the same score_mod.  Our kernels are checked
# against FlexAttention's outputs and gradients first (rel_err <= 1e-2 / 2e-2) and not timed if wrong.
SCORE_MODS = {  # name: causal (as the named specialisations in flash_fwd.tile bind it)
    "alibi": True, "softcap": True, "rel_bias": False, "act": True,
}


def score_inputs(name, H, L):
    """The modifier's tensors (ours, by parameter name) and the equivalent torch score_mod (M = N = L)."""
    dev = DEV
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
    Z, H = TOKENS // L, MODEL_DIM // D
    scale = 1 / math.sqrt(D)
    gen = torch.Generator(device=DEV).manual_seed(11 * L + D)
    q, k, v, do = (torch.randn(Z, H, L, D, device=DEV, dtype=torch.bfloat16, generator=gen) for _ in range(4))
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
        o, dq, dk, dv = (torch.full_like(q, float("nan")) for _ in range(4))
        lse = torch.empty(Z, H, L, device=DEV, dtype=torch.float32)
        delta = torch.full_like(lse, float("nan"))

        def prep_fwd(name=name, caps=caps):
            fwd = tile.kernel("attention/flash_fwd.tile", f"flash_fwd_{name}", defs)
            a_fwd = fwd.args(q=q, k=k, v=v, o=o, lse=lse, scale=scale, **caps)
            return lambda: fwd.launch(a_fwd)

        def prep_bwd(name=name, caps=caps):   # after the forward: o and lse are its outputs
            pre = tile.kernel("attention/flash_bwd.tile", "flash_bwd_preprocess", defs)
            dkdv = tile.kernel("attention/flash_bwd.tile", f"flash_bwd_dkdv_{name}", defs)
            dqk = tile.kernel("attention/flash_bwd.tile", f"flash_bwd_dq_{name}", defs)
            a_pre = pre.args(o=o, dout=do, delta=delta)
            a_kv = dkdv.args(q=q, k=k, v=v, dout=do, lse=lse, delta=delta, dk=dk, dv=dv, scale=scale, **caps)
            a_q = dqk.args(q=q, k=k, v=v, dout=do, lse=lse, delta=delta, dq=dq, scale=scale, **caps)

            return launches((pre, a_pre), (dkdv, a_kv), (dqk, a_q))
        if check_and_time("sc-fwd", cfg, "tile", prepare=prep_fwd, work=fwd_flops,
                          check=lambda ref=ref: {"O rel_err": rel_err(o, ref)}) is not None:
            check_and_time("sc-bwd", cfg, "tile", prepare=prep_bwd, work=2.5 * fwd_flops, tol=2e-2,
                           check=lambda qr=qr, kr=kr, vr=vr: {"dq": rel_err(dq, qr.grad), "dk": rel_err(dk, kr.grad),
                                                              "dv": rel_err(dv, vr.grad)})
        else:
            record("sc-bwd", cfg, "tile", None, "TFLOP/s", "not run: the forward failed (its O and LSE feed it)")
        if not flex_on:
            continue
        check_and_time("sc-fwd", cfg, "flex",
                       lambda score_mod=score_mod, bm=bm: flex(q, k, v, score_mod=score_mod, block_mask=bm, scale=scale),
                       fwd_flops)

        def flex_bwd(qr=qr, kr=kr, vr=vr, score_mod=score_mod, bm=bm):
            qr.grad = kr.grad = vr.grad = None
            flex(qr, kr, vr, score_mod=score_mod, block_mask=bm, scale=scale).backward(do)
        check_and_time("sc-bwd", cfg, "flex", flex_bwd, 2.5 * fwd_flops)


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
    Z, H = TOKENS // L, MODEL_DIM // D
    scale = 1 / math.sqrt(D)
    gen = torch.Generator(device=DEV).manual_seed(13 * L + D)
    q, k, v, do = (torch.randn(Z, H, L, D, device=DEV, dtype=torch.bfloat16, generator=gen) for _ in range(4))
    for name, (causal, dq_name) in SCORE_TABLES.items():
        cfg = f"{name}+dbias L={L} D={D}{' causal' if causal else ''}"
        fwd_flops = 4 * Z * H * L * L * D / (2 if causal else 1)
        width = 32 if name.startswith("t5") else 2 * L - 1
        bias = torch.randn(H, width, device=DEV, generator=gen)
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
        o, dq, dk, dv = (torch.full_like(q, float("nan")) for _ in range(4))
        lse = torch.empty(Z, H, L, device=DEV, dtype=torch.float32)
        delta = torch.full_like(lse, float("nan"))
        dbias = torch.zeros_like(bias)

        def prepare(fname=fname, dq_name=dq_name, bias=bias, dbias=dbias, o=o, dq=dq, dk=dk, dv=dv, lse=lse,
                    delta=delta):
            fwd = tile.kernel("attention/flash_fwd.tile", f"flash_fwd_{fname}", defs)
            pre = tile.kernel("attention/flash_bwd.tile", "flash_bwd_preprocess", defs)
            dkdv = tile.kernel("attention/flash_bwd.tile", f"flash_bwd_dkdv_{fname}", defs)
            dqk = tile.kernel("attention/flash_bwd.tile", f"flash_bwd_dq_{dq_name}", defs)
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
            return ours
        check_and_time("sc-tab", cfg, "tile", prepare=prepare, work=3.5 * fwd_flops, tol=2e-2,
                       note=lambda ms: "fwd+bwd",
                       check=lambda qr=qr, kr=kr, vr=vr, dq=dq, dk=dk, dv=dv, dbias=dbias, ref_dbias=ref_dbias: {
                           "dq": rel_err(dq, qr.grad), "dk": rel_err(dk, kr.grad), "dv": rel_err(dv, vr.grad),
                           "dbias": rel_err(dbias, ref_dbias)})
        if not flex_on:
            continue

        def flex_train(qr=qr, kr=kr, vr=vr, bias_r=bias_r, score_mod=score_mod, bm=bm):
            qr.grad = kr.grad = vr.grad = bias_r.grad = None
            flex(qr, kr, vr, score_mod=score_mod, block_mask=bm, scale=scale).backward(do)
        check_and_time("sc-tab", cfg, "flex", flex_train, 3.5 * fwd_flops)


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


def bench_based(tile, L, fla):
    """based_fwd vs fla's two BASED kernels (parallel_based: quadratic over key chunks;
    fused_chunk_based: chunked with an expanded-feature state, as ours) and PyTorch chunked, on the
    same inputs.  fla computes the same Taylor kernel 1 + s + s^2/2 of s = scale q.k (scale = 1 here:
    q, k are the already-scaled projections ours takes) and the same o / (z + 1e-6)."""
    Z, H, F_, E = TOKENS // L, 16, 16, 64
    cfg = f"based L={L} Z={Z} H={H} F={F_} E={E}"
    gen = torch.Generator(device=DEV).manual_seed(17 * L)
    q, k = (0.25 * torch.randn(Z, H, L, F_, device=DEV, generator=gen) for _ in range(2))
    q, k = q.to(torch.bfloat16), k.to(torch.bfloat16)
    v = torch.randn(Z, H, L, E, device=DEV, dtype=torch.bfloat16, generator=gen)
    # reported as tokens per second (and ms); q, k scaled small as BASED's projections are
    ref = based_reference(based_sample(q), based_sample(k), based_sample(v))
    o = torch.full_like(v, float("nan"))

    def prepare():
        kern = tile.kernel("attention/based.tile", "based_fwd", {"E": E, "T": "bf16"})
        a = kern.args(q=q, k=k, v=v, o=o)
        return lambda: kern.launch(a)
    check_and_time("based", cfg, "tile", prepare=prepare, work=Z * L, unit="Mtok/s", tol=2e-2,
                   check=lambda: rel_err(based_sample(o), ref))
    qt, kt, vt = (t.transpose(1, 2).contiguous() for t in (q, k, v))   # fla's [B, T, H, K], untimed
    for who, name in (("fla-parallel", "parallel_based"), ("fla-fused-chunk", "fused_chunk_based")):
        if name not in fla[0]:
            record("based", cfg, who, None, "Mtok/s", "n/a (" + fla[1].get(name, "?")[:100] + ")")
            continue
        check_and_time("based", cfg, who, lambda fn=fla[0][name]: fn(qt, kt, vt, scale=1.0, use_norm=True),
                       Z * L, "Mtok/s", tol=2e-2,
                       check_out=lambda out: rel_err(based_sample(out.transpose(1, 2)), ref))
    check_and_time("based", cfg, "torch-chunked", lambda: based_torch_chunked(q, k, v), Z * L, "Mtok/s", tol=2e-2,
                   check_out=lambda out: rel_err(based_sample(out), ref))


# ---- masks: sliding window with sinks, 50% block-sparse (issue 7's mask targets) ----------------
WINDOW, SINKS, SPARSE_BLOCK = 1024, 4, 128


def bench_masks(tile, L, D, flex_on):
    """flash_fwd with the sliding-window-with-sinks mask (derived block skipping) and
    block_sparse_fwd over a random 50% block list, each against FlexAttention on the same mask
    (and SDPA with an explicit mask as a correctness reference).  FLOPs count the visible blocks
    of FlexAttention's own block mask, so both sides are charged the same work."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    Z, H = TOKENS // L, MODEL_DIM // D
    gen = torch.Generator(device=DEV).manual_seed(3 * L + D)
    q, k, v = (torch.randn(Z, H, L, D, device=DEV, dtype=torch.bfloat16, generator=gen) for _ in range(3))
    scale = 1 / math.sqrt(D)
    o = torch.empty_like(q)
    lse = torch.empty(Z, H, L, device=DEV, dtype=torch.float32)
    # static shapes: a second length would otherwise recompile flex_attention with
    # dynamic shapes, slower code (the D=64 window at 4k: 201 against 279 TFLOP/s,
    # RESULTS.md session 16)
    flex = torch.compile(flex_attention, dynamic=False) if flex_on else None
    nb = triton_cdiv(L, SPARSE_BLOCK)
    keep = torch.rand(H, nb, nb, device=DEV, generator=gen) < 0.5
    keep |= torch.eye(nb, dtype=torch.bool, device=DEV)[None]      # every query block sees a block
    cases = {
        "window": (lambda b, h, i, j: (j <= i) & ((i - j < WINDOW) | (j < SINKS))),
        "sparse50": (lambda b, h, i, j: keep[h, i // SPARSE_BLOCK, j // SPARSE_BLOCK]),
    }
    for name, mask_mod in cases.items():
        cfg = f"{name} L={L} D={D} Z={Z} H={H}"
        bm = create_block_mask(mask_mod, None, H, L, L, device=DEV)
        dense = bm.to_dense()                                          # [1|Z, H, nb, nb] visible blocks
        vis_frac = dense.float().mean().item()
        flops = 4 * Z * H * L * L * D * vis_frac
        # the reference: batch 0, heads 0 and 1, SDPA with the explicit mask
        i = torch.arange(L, device=DEV)
        full = mask_mod(None, torch.arange(2, device=DEV)[:, None, None], i[None, :, None], i[None, None, :])
        ref = F.scaled_dot_product_attention(q[:1, :2], k[:1, :2], v[:1, :2], attn_mask=full[None], scale=scale)
        del full

        def prepare(name=name):
            o.fill_(float("nan"))
            if name == "window":
                kern = tile.kernel("attention/flash_fwd.tile", "flash_fwd",
                                   {"D": D, "T": "bf16", "mask": f"sliding_window(W: {WINDOW}, S: {SINKS})"})
                a = kern.args(q=q, k=k, v=v, o=o, lse=lse, scale=scale)
            else:
                # the layout's blocks as they are (BM = BN = 128); the key step BK is the compiler's
                kv_idx, kv_cnt = sparse_lists(keep, Z, 1)
                kern = tile.kernel("attention/block_sparse.tile", "block_sparse_fwd",
                                   {"D": D, "T": "bf16", "BM": SPARSE_BLOCK, "BN": SPARSE_BLOCK})
                a = kern.args(q=q, k=k, v=v, kv_idx=kv_idx, kv_cnt=kv_cnt, o=o, lse=lse, scale=scale)
            return lambda: kern.launch(a)
        check_and_time("masks", cfg, "tile", prepare=prepare, work=flops, check=lambda ref=ref: rel_err(o[:1, :2], ref),
                       note=lambda ms: f"{vis_frac:.0%} of blocks visible")
        if flex is not None:
            check_and_time("masks", cfg, "flex", lambda bm=bm: flex(q, k, v, block_mask=bm, scale=scale), flops,
                           check_out=lambda out, ref=ref: rel_err(out[:1, :2], ref))


def sparse_lists(keep, Z, per):
    """block_sparse_fwd's kv_idx / kv_cnt from a [H, nb, nb] block mask of FlexAttention-sized
    blocks, each split into `per` of our key blocks."""
    H, nb, _ = keep.shape
    idx_l, cnt_l = [], []
    for h in range(H):
        rows_i, rows_c = [], []
        for qb in range(nb):
            ks = torch.nonzero(keep[h, qb]).flatten()
            ks = (ks[:, None] * per + torch.arange(per, device=DEV)[None]).flatten()
            rows_c.append(len(ks))
            rows_i.append(torch.nn.functional.pad(ks, (0, nb * per - len(ks))))
        idx_l.append(torch.stack(rows_i))
        cnt_l.append(torch.tensor(rows_c, device=DEV))
    kv_idx = torch.stack(idx_l)[None].expand(Z, -1, -1, -1).to(torch.int32).contiguous()
    kv_cnt = torch.stack(cnt_l)[None].expand(Z, -1, -1).to(torch.int32).contiguous()
    return kv_idx, kv_cnt


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


LIGHTNING_LAYER = (12, 24)   # (layer_idx, num_layers) of fla's chunk_lightning_attn: TransNormerLLM's decay


def lightning_reference(q, k, v, decay):
    """The definition on batch 0, heads 0 and 1, the first 4096 positions (causal: they depend on
    nothing later), in float32: o_t = sum_{s<=t} lambda^(t-s) (q_t . k_s) v_s."""
    q, k, v = (x[0, :2, :4096].float() for x in (q, k, v))
    t = torch.arange(q.shape[1], device=q.device, dtype=torch.float32)
    gap = t[:, None] - t[None, :]
    w = torch.where(gap >= 0, torch.exp(gap.clamp(min=0) * torch.log(decay[:2].float()).view(2, 1, 1)),
                    torch.zeros((), device=q.device))
    return ((q @ k.transpose(-1, -2)) * w) @ v


def lightning_decay(H, layer_idx, num_layers):
    """lambda_h = exp(-(8 / H) (1 - layer_idx / num_layers) h): the decay fla's chunk_lightning_attn
    derives from (layer_idx, num_layers) (its g_gamma, the log of lambda), so that every contender
    computes the same function."""
    h = torch.arange(H, device=DEV, dtype=torch.float32)
    return torch.exp(-(8 / H) * (1 - layer_idx / num_layers) * h)


def bench_lightning(tile, L, fla):
    Z, H, D = TOKENS // L, 16, 128
    cfg = f"lightning2 L={L} Z={Z} H={H} D={D}"
    gen = torch.Generator(device=DEV).manual_seed(29 * L)
    q, k, v = (0.1 * torch.randn(Z, H, L, D, device=DEV, generator=gen) for _ in range(3))
    q, k, v = q.to(torch.bfloat16), k.to(torch.bfloat16), v.to(torch.bfloat16)
    decay = lightning_decay(H, *LIGHTNING_LAYER)                  # lambda_h in (0, 1]
    work = Z * L                                                  # tokens
    ref = lightning_reference(q, k, v, decay)
    o = torch.full_like(v, float("nan"))

    def prepare():
        kern = tile.kernel("attention/lightning2.tile", "lightning2", {"D": D, "E": D, "T": "bf16"})
        a = kern.args(q=q, k=k, v=v, decay=decay.contiguous(), o=o)
        return lambda: kern.launch(a)
    check_and_time("linear", cfg, "tile", prepare=prepare, work=work, unit="Mtok/s", tol=2e-2,
                   check=lambda: rel_err(o[0, :2, :4096], ref))
    # the chunk-parallel chain: lightning2_chunk_state -> lightning2_state_scan ->
    # lightning2_chunk_out (CH rows a chunk, NC = cdiv(L, CH) chunks of f32 [D, E] states)
    for CH in (256, 512):
        oc = torch.full_like(v, float("nan"))

        def prepare_chain(CH=CH, oc=oc):
            NC = -(-L // CH)
            d = {"D": D, "E": D, "T": "bf16", "CH": CH}
            k_state = tile.kernel("attention/lightning2.tile", "lightning2_chunk_state", d)
            k_scan = tile.kernel("attention/lightning2.tile", "lightning2_state_scan", {"D": D, "E": D, "CH": CH})
            k_out = tile.kernel("attention/lightning2.tile", "lightning2_chunk_out", d)
            dec = decay.float().contiguous()
            kv_chunk = torch.empty(Z, H, NC, D, D, device=DEV, dtype=torch.float32)
            kv_in = torch.empty_like(kv_chunk)
            a1 = k_state.args(k=k, v=v, decay=dec, kv_chunk=kv_chunk)
            a2 = k_scan.args(kv_chunk=kv_chunk, decay=dec, kv_in=kv_in)
            a3 = k_out.args(q=q, k=k, v=v, decay=dec, kv_in=kv_in, o=oc)

            return launches((k_state, a1), (k_scan, a2), (k_out, a3))
        check_and_time("linear", cfg, f"tile-chain CH={CH}", prepare=prepare_chain, work=work, unit="Mtok/s",
                       tol=2e-2, check=lambda oc=oc: rel_err(oc[0, :2, :4096], ref))
        del oc
    # the block-state chain: lightning2_block_states (the state entering each block of B rows,
    # sequential over the blocks, in T) -> lightning2_block_out (every block independent); the
    # note gives each launch's own time.  LIGHTNING_BLOCK_TILES="BD=64,BE=32;..." adds rows with
    # block_states' tiles set (the sweep of the scheduler's choice).
    tiles = [t for t in os.environ.get("LIGHTNING_BLOCK_TILES", "").split(";") if t]
    for B, extra in [(64, ""), (128, "")] + [(64, t) for t in tiles]:
        ob = torch.full_like(v, float("nan"))
        parts = {}

        def prepare_blocks(B=B, extra=extra, ob=ob, parts=parts):
            NB = -(-L // B)
            d = {"D": D, "E": D, "T": "bf16", "B": B}
            ds = dict(d, **dict(kv.split("=") for kv in extra.split(",") if kv))
            k_states = tile.kernel("attention/lightning2.tile", "lightning2_block_states", ds)
            k_out = tile.kernel("attention/lightning2.tile", "lightning2_block_out", d)
            h_in = torch.empty(Z, H, NB, D, D, device=DEV, dtype=torch.bfloat16)
            dec = decay.float().contiguous()
            a1 = k_states.args(k=k, v=v, decay=dec, h_in=h_in)
            a2 = k_out.args(q=q, k=k, v=v, decay=dec, h_in=h_in, o=ob)
            parts["states"] = lambda: k_states.launch(a1)
            parts["out"] = lambda: k_out.launch(a2)

            return launches((k_states, a1), (k_out, a2))

        def split_note(ms, parts=parts):
            return ", ".join(f"{n} {bench_ms(f):.3f} ms" for n, f in parts.items())
        check_and_time("linear", cfg, f"tile-blocks B={B}" + (f" {extra}" if extra else ""),
                       prepare=prepare_blocks, work=work, unit="Mtok/s", tol=2e-2, note=split_note,
                       check=lambda ob=ob: rel_err(ob[0, :2, :4096], ref))
        del ob
    if "chunk_lightning_attn" in fla[0]:
        # fla's layout is [B, T, H, K], made contiguous outside the timed call; scale 1 as ours
        qt, kt, vt = (t.transpose(1, 2).contiguous() for t in (q, k, v))
        out = {}

        def fla_lightning():
            out["o"] = fla[0]["chunk_lightning_attn"](qt, kt, vt, *LIGHTNING_LAYER, scale=1.0)[0]
        check_and_time("linear", cfg, "fla-lightning", fla_lightning, work, "Mtok/s", tol=2e-2,
                       check=lambda: rel_err(out["o"].transpose(1, 2)[0, :2, :4096], ref))
    else:
        record("linear", cfg, "fla-lightning", None, "Mtok/s",
               "n/a (" + fla[1].get("chunk_lightning_attn", "?")[:100] + ")")
    check_and_time("linear", cfg, "torch-chunked", lambda: lightning_torch_chunked(q, k, v, decay), work, "Mtok/s",
                   tol=2e-2, check_out=lambda out: rel_err(out[0, :2, :4096], ref))


# ---- the literature variants (--only variants, or s2,duo,duo-decode,moh,aaren,sqa) -----------------
# Issue 8: each program of lib/attention next to its closest peer, on the same bf16 inputs.  Our
# output is checked first against a float32 PyTorch reference computed here from the definition
# (sample_ref: batch 0, a few heads, a sample of query rows), and so is every peer's output.
S2_STRIDE, S2_LOCAL = 8, 512            # s2.tile's S (shard stride) and L (local window)
DUO_SINKS, DUO_WINDOW = 64, 256         # streaming heads: 64 sink tokens + the last 256 keys
MOH_BLOCK = 128                         # the routing granularity of the block-coherent MoH case
VARIANTS = ("s2", "duo", "duo-decode", "moh", "aaren", "sqa")


def sample_rows(L):
    """Query rows the references check: the first 128, 128 in the middle and the last 512."""
    rows = torch.cat([torch.arange(0, 128), torch.arange(L // 2, L // 2 + 128), torch.arange(L - 512, L)])
    return rows[(rows >= 0) & (rows < L)].unique().to(DEV)


def sample_ref(q, k, v, heads, rows, visible, scale):
    """float32 softmax attention of batch 0: [len(heads), len(rows), D]; visible(h, i, j) -> bool
    (i: [R, 1] query rows, j: [1, N] keys); GQA as ours (query head h reads h // (H / HK));
    rows that see no key get 0."""
    H, HK, N = q.shape[1], k.shape[1], k.shape[2]
    j = torch.arange(N, device=q.device)[None, :]
    outs = []
    for h in heads:
        hk = h // (H // HK)
        s = (q[0, h, rows].float() @ k[0, hk].float().T) * scale
        s = s.masked_fill(~visible(h, rows[:, None], j), float("-inf"))
        outs.append(torch.softmax(s, -1).nan_to_num(0.0) @ v[0, hk].float())
    return torch.stack(outs)


def on_sample(o, heads, rows):
    """The part of a [Z, H, M, D] output that sample_ref computes."""
    return o[0, list(heads)][:, rows]


def causal_pairs(L):
    return L * (L + 1) // 2


def s2_pairs(L, H, S, W):
    """Visible (query, key) pairs of the S2 mask summed over the heads (M = N = L)."""
    i = torch.arange(L, dtype=torch.int64)
    window = torch.clamp(i + 1, max=W)
    outside = torch.clamp(i + 1 - W, min=0)              # keys [0, outside) lie before the window
    total = 0
    for h in range(H):
        r = h % S
        total += int((window + torch.clamp((outside - r + S - 1) // S, min=0)).sum())
    return total


def streaming_pairs(L, W, S):
    """Visible pairs of one streaming head: the last W keys up to the diagonal, or one of S sinks."""
    i = torch.arange(L, dtype=torch.int64)
    return int((torch.clamp(i + 1, max=W) + torch.clamp(torch.clamp(i + 1 - W, min=0), max=S)).sum())


def flex_peer(group, cfg, flex, mask_mod, H, L, q, k, v, scale, work, ref, heads, rows):
    """FlexAttention with mask_mod (its block mask built here, untimed), checked against ref."""
    if flex is None:
        record(group, cfg, "flex", None, "TFLOP/s", "n/a (--no-flex or FlexAttention unavailable)")
        return
    from torch.nn.attention.flex_attention import create_block_mask
    fn = flex[0]
    try:
        bm = create_block_mask(mask_mod, None, H, L, L, device=DEV)
    except Exception as e:  # noqa: BLE001
        record(group, cfg, "flex", None, "TFLOP/s", f"n/a (create_block_mask: {type(e).__name__}: {str(e)[:80]})")
        return
    check_and_time(group, cfg, "flex", lambda: fn(q, k, v, block_mask=bm, scale=scale), work,
                   check_out=lambda out: rel_err(on_sample(out, heads, rows), ref))


def bench_s2(tile, L, flex, D=128, S=S2_STRIDE, W=S2_LOCAL):
    """s2_fwd (strided shard gathered + local window) vs FlexAttention with the same mask, our
    flash_fwd with the S2 mask (every causal block visited), and dense causal SDPA for scale.
    TFLOP/s count the mask's visible pairs (4 D FLOPs each) for every contender."""
    Z, H = TOKENS // L, MODEL_DIM // D
    cfg = f"S={S} Lw={W} L={L} D={D} Z={Z} H={H}"
    gen = torch.Generator(device=DEV).manual_seed(41 * L + D)
    q, k, v = (torch.randn(Z, H, L, D, device=DEV, dtype=torch.bfloat16, generator=gen) for _ in range(3))
    scale = 1 / math.sqrt(D)
    work = 4 * D * Z * s2_pairs(L, H, S, W)

    def visible(h, i, j):
        return (j <= i) & ((j % S == h % S) | (i - j < W))
    heads, rows = list(range(min(S, H))), sample_rows(L)  # one head of every shard
    ref = sample_ref(q, k, v, heads, rows, visible, scale)
    o = torch.full_like(q, float("nan"))
    lse = torch.empty(Z, H, L, device=DEV, dtype=torch.float32)
    for who, kernel, defs in (("tile", "s2_fwd", {"D": D, "T": "bf16", "S": S, "L": W}),
                              ("tile-flash+mask", "flash_fwd", {"D": D, "T": "bf16", "mask": f"s2_mask(S: {S}, L: {W})"})):
        def prepare(kernel=kernel, defs=defs):
            kern = tile.kernel("attention/s2.tile", kernel, defs)
            a = kern.args(q=q, k=k, v=v, o=o, lse=lse, scale=scale)
            o.fill_(float("nan"))
            return lambda: kern.launch(a)
        check_and_time("s2", cfg, who, prepare=prepare, work=work, check=lambda: rel_err(on_sample(o, heads, rows), ref))
    flex_peer("s2", cfg, flex, lambda b, h, qi, ki: (ki <= qi) & ((ki % S == h % S) | (qi - ki < W)),
              H, L, q, k, v, scale, work, ref, heads, rows)
    check_and_time("s2", cfg, "sdpa-causal", lambda: sdpa("FLASH_ATTENTION", q, k, v, True), work,
                   note=lambda ms: "dense causal (more work), for scale")


def duo_policy(H, G=1):
    """DuoAttention's per-head policy: every other (KV group of) head(s) streaming, i32 [H]."""
    return ((torch.arange(H, device=DEV) // G) % 2).to(torch.int32)


def bench_duo(tile, L, flex, D=128, S=DUO_SINKS, W=DUO_WINDOW):
    """duo_prefill (half the heads streaming: sinks + window, the rest causal) vs FlexAttention with
    the same per-head mask and dense causal SDPA for scale; TFLOP/s of the visible pairs."""
    Z, H = TOKENS // L, MODEL_DIM // D
    cfg = f"S={S} W={W} L={L} D={D} Z={Z} H={H}"
    gen = torch.Generator(device=DEV).manual_seed(43 * L + D)
    q, k, v = (torch.randn(Z, H, L, D, device=DEV, dtype=torch.bfloat16, generator=gen) for _ in range(3))
    scale = 1 / math.sqrt(D)
    streaming = duo_policy(H)
    n_stream = int(streaming.sum())
    work = 4 * D * Z * ((H - n_stream) * causal_pairs(L) + n_stream * streaming_pairs(L, W, S))

    def visible(h, i, j):
        return (j <= i) & ((i - j < W) | (j < S)) if int(streaming[h]) else (j <= i)
    heads, rows = [0, 1], sample_rows(L)                   # a retrieval and a streaming head
    ref = sample_ref(q, k, v, heads, rows, visible, scale)
    o = torch.full_like(q, float("nan"))
    lse = torch.empty(Z, H, L, device=DEV, dtype=torch.float32)

    def prepare():
        kern = tile.kernel("attention/duo.tile", "duo_prefill", {"D": D, "T": "bf16", "W": W, "S": S})
        a = kern.args(q=q, k=k, v=v, streaming=streaming, o=o, lse=lse, scale=scale)
        return lambda: kern.launch(a)
    check_and_time("duo", cfg, "tile", prepare=prepare, work=work, check=lambda: rel_err(on_sample(o, heads, rows), ref),
                   note=lambda ms: f"{n_stream}/{H} heads streaming")
    flex_peer("duo", cfg, flex,
              lambda b, h, qi, ki: (ki <= qi) & ((streaming[h] == 0) | (qi - ki < W) | (ki < S)),
              H, L, q, k, v, scale, work, ref, heads, rows)
    check_and_time("duo", cfg, "sdpa-causal", lambda: sdpa("FLASH_ATTENTION", q, k, v, True), work,
                   note=lambda ms: "every head causal (more work), for scale")


def bench_duo_decode(tile, Z, L, D=128, sinks_window=(DUO_SINKS, DUO_WINDOW), PS=16, H=32, HK=8):
    """duo_decode_split + decode_combine over a paged cache (half the KV groups streaming) vs our
    dense decode (decode_gqa + decode_merge: every head reads the whole cache) and SDPA on the
    contiguous cache.  GB/s are effective: the dense cache's bytes / time, for every contender."""
    G, (S, W) = H // HK, sinks_window
    pages = -(-L // PS)
    cfg = f"ctx={L} D={D} Z={Z} H={H} HK={HK}"
    gen = torch.Generator(device=DEV).manual_seed(47 * L + Z)
    P = Z * pages
    q = torch.randn(Z, H, D, device=DEV, dtype=torch.bfloat16, generator=gen)
    kc, vc = (torch.randn(P, PS, HK, D, device=DEV, dtype=torch.bfloat16, generator=gen) for _ in range(2))
    table = torch.randperm(P, device=DEV, generator=gen).to(torch.int32).view(Z, pages)
    lens = torch.full((Z,), L, device=DEV, dtype=torch.int32)
    scale = 1 / math.sqrt(D)
    kz = kc[table.long()].reshape(Z, pages * PS, HK, D)[:, :L].transpose(1, 2).contiguous()   # [Z, HK, L, D]
    vz = vc[table.long()].reshape(Z, pages * PS, HK, D)[:, :L].transpose(1, 2).contiguous()
    kv_bytes = 2 * Z * L * HK * D * 2
    streaming = duo_policy(H, G)
    # the references, float32 from the definition: streaming heads see keys j < S or j >= L - W
    j = torch.arange(L, device=DEV)
    keep_stream = (j < S) | (j >= L - W)
    s = torch.einsum("zgrd,zgld->zgrl", q.float().view(Z, HK, G, D), kz.float()) * scale
    dense_ref = torch.einsum("zgrl,zgld->zgrd", torch.softmax(s, -1), vz.float()).reshape(Z, H, D)
    st = streaming.view(1, HK, G, 1).bool()
    s = torch.where(st & ~keep_stream.view(1, 1, 1, L), torch.full_like(s, float("-inf")), s)
    duo_ref = torch.einsum("zgrl,zgld->zgrd", torch.softmax(s, -1), vz.float()).reshape(Z, H, D)
    del s
    NS = tile.split_count(Z * H, pages)
    o = torch.full((Z, H, D), float("nan"), device=DEV, dtype=torch.bfloat16)

    def prepare():
        split = tile.kernel("attention/duo.tile", "duo_decode_split",
                            {"D": D, "T": "bf16", "PS": PS, "NS": NS, "W": W, "S": S})
        comb = tile.kernel("attention/decode.tile", "decode_combine", {"D": D, "T": "bf16", "S": NS})
        o_part = torch.full((Z, H, NS, D), float("nan"), device=DEV)
        lse_part = torch.full((Z, H, NS), float("nan"), device=DEV)
        lse = torch.empty(Z, H, device=DEV)
        a1 = split.args(q=q, k_cache=kc, v_cache=vc, block_table=table, seq_lens=lens, streaming=streaming,
                        o_part=o_part, lse_part=lse_part, scale=scale)
        a2 = comb.args(o_part=o_part, lse_part=lse_part, o=o, lse=lse)

        return launches((split, a1), (comb, a2))
    check_and_time("duo-dec", cfg, "tile", prepare=prepare, work=kv_bytes, unit="GB/s",
                   check=lambda: rel_err(o, duo_ref), note=lambda ms: f"NS={NS}, {HK // 2}/{HK} KV groups streaming")
    o_dense = torch.full((Z, H, D), float("nan"), device=DEV, dtype=torch.bfloat16)

    def prepare_dense():
        split = tile.kernel("attention/decode.tile", "decode_gqa", {"D": D, "T": "bf16", "G": G, "PS": PS})
        comb = tile.kernel("attention/decode.tile", "decode_merge", {"D": D, "T": "bf16"})
        S_ = tile.split_count(Z * HK, pages)
        o_part = torch.full((Z, H, S_, D), float("nan"), device=DEV)
        lse_part = torch.full((Z, H, S_), float("nan"), device=DEV)
        lse = torch.empty(Z, H, device=DEV)
        a1 = split.args(q=q, k_slots=kc.view(P * PS, HK, D), v_slots=vc.view(P * PS, HK, D), block_table=table,
                        seq_lens=lens, o_part=o_part, lse_part=lse_part, scale=scale)
        a2 = comb.args(o_part=o_part, lse_part=lse_part, o=o_dense, lse=lse)

        def dense():
            split.launch(a1)
            comb.launch(a2)
        return dense
    check_and_time("duo-dec", cfg, "tile-dense", prepare=prepare_dense, work=kv_bytes, unit="GB/s",
                   check=lambda: rel_err(o_dense, dense_ref), note=lambda ms: "every head full")
    q4 = q.view(Z, H, 1, D)
    check_and_time("duo-dec", cfg, "sdpa-flash", lambda: sdpa("FLASH_ATTENTION", q4, kz, vz, False, enable_gqa=True),
                   kv_bytes, "GB/s", check_out=lambda out: rel_err(out.view(Z, H, D), dense_ref),
                   note=lambda ms: "every head full")


def moh_gates(Z, L, H, block, gen):
    """Router weights g [Z, L, H] (f32): half the heads per token (block = 1) or per block of
    `block` tokens, weights uniform in [0.5, 1.5) on the chosen heads and 0 elsewhere."""
    n = -(-L // block)
    score = torch.rand(Z, n, H, device=DEV, generator=gen)
    top = score.topk(H // 2, dim=-1).indices                     # the router's top half
    chosen = torch.zeros_like(score).scatter_(-1, top, 1.0)
    w = (0.5 + torch.rand(Z, n, H, device=DEV, generator=gen)) * chosen
    return w.repeat_interleave(block, dim=1)[:, :L].contiguous()


def bench_moh(tile, L, D=128, block=MOH_BLOCK):
    """moh_fwd_causal vs SDPA over every head followed by the router weighting (the peer computes
    all (block, head) pairs, then O * g: the same output); per-token routing (no block all zero:
    nothing to skip) and block-coherent routing (half the (block, head) pairs skipped).  TFLOP/s
    count dense causal work for both, so the ratio is the time ratio."""
    Z, H = TOKENS // L, MODEL_DIM // D
    gen = torch.Generator(device=DEV).manual_seed(53 * L + D)
    q, k, v = (torch.randn(Z, H, L, D, device=DEV, dtype=torch.bfloat16, generator=gen) for _ in range(3))
    scale = 1 / math.sqrt(D)
    work = 4 * D * Z * H * causal_pairs(L)
    heads, rows = [0, 1, 2, 3], sample_rows(L)
    causal_ref = sample_ref(q, k, v, heads, rows, lambda h, i, j: j <= i, scale)
    for routing, blk in (("token", 1), (f"block{block}", block)):
        cfg = f"{routing} L={L} D={D} Z={Z} H={H}"
        g = moh_gates(Z, L, H, blk, gen)
        ref = causal_ref * g[0][rows][:, heads].T[:, :, None]
        o = torch.full_like(q, float("nan"))
        lse = torch.empty(Z, H, L, device=DEV, dtype=torch.float32)

        def prepare(g=g, o=o, lse=lse):
            kern = tile.kernel("attention/moh.tile", "moh_fwd_causal", {"D": D, "T": "bf16"})
            a = kern.args(q=q, k=k, v=v, g=g, o=o, lse=lse, scale=scale)
            return lambda: kern.launch(a)
        check_and_time("moh", cfg, "tile", prepare=prepare, work=work,
                       check=lambda o=o, ref=ref: rel_err(on_sample(o, heads, rows), ref))
        gw = g.transpose(1, 2).unsqueeze(-1)                # [Z, H, L, 1]

        def peer(gw=gw):
            return (sdpa("FLASH_ATTENTION", q, k, v, True).float() * gw).to(torch.bfloat16)
        check_and_time("moh", cfg, "sdpa+weight", peer, work,
                       check_out=lambda out, ref=ref: rel_err(on_sample(out, heads, rows), ref))


def aaren_torch(q, k, v):
    """Aaren's prefix attention in PyTorch (float32), the cumulative logsumexp form:
    o_t = sum_{i<=t} exp(s_i - M) v_i * exp(M - logcumsumexp(s)_t), s_i = q_h . k_i, M = max_i s_i."""
    s = torch.einsum("hd,zhnd->zhn", q.float(), k.float())
    m = s.amax(-1, keepdim=True)
    num = torch.cumsum(torch.exp(s - m)[..., None] * v.float(), dim=2)
    return (num * torch.exp(m - torch.logcumsumexp(s, dim=-1))[..., None]).to(v.dtype)


def aaren_reference(q, k, v):
    """The definition in float64 on batch 0, heads 0 and 1: running softmax-weighted means."""
    s = torch.einsum("hd,hnd->hn", q[:2].double(), k[0, :2].double())
    p = torch.exp(s - s.amax(-1, keepdim=True))
    return torch.cumsum(p[..., None] * v[0, :2].double(), 1) / torch.cumsum(p, 1)[..., None]


def bench_aaren(tile, N, D=128):
    """aaren_fwd (parallel prefix scan, one program per (batch, head)) vs the PyTorch form above."""
    Z, H = TOKENS // N, MODEL_DIM // D
    cfg = f"N={N} D=E={D} Z={Z} H={H}"
    gen = torch.Generator(device=DEV).manual_seed(59 * N + D)
    q = (torch.randn(H, D, device=DEV, generator=gen) / math.sqrt(D)).to(torch.bfloat16)   # scaled beforehand
    k, v = (torch.randn(Z, H, N, D, device=DEV, dtype=torch.bfloat16, generator=gen) for _ in range(2))
    ref = aaren_reference(q, k, v)
    o = torch.full_like(v, float("nan"))

    def prepare():
        kern = tile.kernel("attention/aaren.tile", "aaren_fwd", {"D": D, "E": D, "T": "bf16"})
        a = kern.args(q=q, k=k, v=v, o=o)
        return lambda: kern.launch(a)
    check_and_time("aaren", cfg, "tile", prepare=prepare, work=Z * N, unit="Mtok/s", check=lambda: rel_err(o[0, :2], ref))
    check_and_time("aaren", cfg, "torch-cumsum", lambda: aaren_torch(q, k, v), Z * N, "Mtok/s",
                   check_out=lambda out: rel_err(out[0, :2], ref))


def bench_sqa(tile, L, Hq, HK, D=128):
    """sqa_fwd_causal (Hq of the model's MODEL_DIM / D heads as queries, HK key/value heads) vs SDPA
    with enable_gqa on the same shapes, and SDPA with every head (H = MODEL_DIM / D, multi-head attention)
    for scale.  TFLOP/s count SQA's work (Hq heads) for all."""
    Z, H = TOKENS // L, MODEL_DIM // D
    cfg = f"Hq={Hq} HK={HK} of {H} L={L} D={D} Z={Z}"
    gen = torch.Generator(device=DEV).manual_seed(61 * L + Hq)
    q = torch.randn(Z, Hq, L, D, device=DEV, dtype=torch.bfloat16, generator=gen)
    k, v = (torch.randn(Z, HK, L, D, device=DEV, dtype=torch.bfloat16, generator=gen) for _ in range(2))
    scale = 1 / math.sqrt(D)
    work = 4 * D * Z * Hq * causal_pairs(L)
    heads, rows = [0, Hq - 1], sample_rows(L)
    ref = sample_ref(q, k, v, heads, rows, lambda h, i, j: j <= i, scale)
    o = torch.full_like(q, float("nan"))
    lse = torch.empty(Z, Hq, L, device=DEV, dtype=torch.float32)

    def prepare():
        kern = tile.kernel("attention/sqa.tile", "sqa_fwd_causal", {"D": D, "T": "bf16"})
        a = kern.args(q=q, k=k, v=v, o=o, lse=lse, scale=scale)
        return lambda: kern.launch(a)
    check_and_time("sqa", cfg, "tile", prepare=prepare, work=work, check=lambda: rel_err(on_sample(o, heads, rows), ref))
    for backend, who in (("FLASH_ATTENTION", "sdpa-flash"), ("CUDNN_ATTENTION", "sdpa-cudnn")):
        check_and_time("sqa", cfg, who, lambda backend=backend: sdpa(backend, q, k, v, True, enable_gqa=True), work,
                       check_out=lambda out: rel_err(on_sample(out, heads, rows), ref))
    qm, km, vm = (torch.randn(Z, H, L, D, device=DEV, dtype=torch.bfloat16, generator=gen) for _ in range(3))
    check_and_time("sqa", cfg, "sdpa-mha", lambda: sdpa("FLASH_ATTENTION", qm, km, vm, True), work,
                   note=lambda ms: f"all {H} heads (more work), for scale")


def variant_shapes(quick, dry):
    """The shapes of the variant sections: issue 8's (bf16, 16k tokens, D = 128), or the dry run's
    (tiny, for the interpreter, with S2's and Duo's constants scaled down to matter at L = 128)."""
    if dry:
        return dict(lengths=[128], D=32, s2=(2, 16), duo=(4, 16), moh_block=32, decode=[(2, 100)],
                    aaren=[100], sqa=[(4, 2), (2, 1)])
    return dict(lengths=[4096] if quick else [4096, 16384], D=128, s2=(S2_STRIDE, S2_LOCAL),
                duo=(DUO_SINKS, DUO_WINDOW), moh_block=MOH_BLOCK,
                decode=[(8, 32768)] if quick else [(1, 32768), (8, 32768)],
                aaren=[4096] if quick else [512, 4096], sqa=[(8, 4), (4, 2)])


def run_variants(tile, only, flex, shapes):
    """The sections of issue 8 named in only (or all with 'variants'), each shape in its own try."""
    want = set(VARIANTS) if "variants" in only else only
    D, lengths = shapes["D"], shapes["lengths"]
    jobs = []
    if "s2" in want:
        jobs += [(f"s2 L={L}", lambda L=L: bench_s2(tile, L, flex, D, *shapes["s2"])) for L in lengths]
    if "duo" in want:
        jobs += [(f"duo L={L}", lambda L=L: bench_duo(tile, L, flex, D, *shapes["duo"])) for L in lengths]
    if "duo-decode" in want:
        jobs += [(f"duo-decode Z={Z}", lambda Z=Z, ctx=ctx: bench_duo_decode(tile, Z, ctx, D, shapes["duo"]))
                 for Z, ctx in shapes["decode"]]
    if "moh" in want:
        jobs += [(f"moh L={L}", lambda L=L: bench_moh(tile, L, D, shapes["moh_block"])) for L in lengths]
    if "aaren" in want:
        jobs += [(f"aaren N={N}", lambda N=N: bench_aaren(tile, N, D)) for N in shapes["aaren"]]
    if "sqa" in want:
        jobs += [(f"sqa L={L} Hq={Hq}", lambda L=L, Hq=Hq, HK=HK: bench_sqa(tile, L, Hq, HK, D))
                 for L in lengths for Hq, HK in shapes["sqa"]]
    for name, job in jobs:
        run_section(name, job)


# ---- decode -------------------------------------------------------------------------------------
def copy_gbps(nbytes):
    """A torch device-to-device copy of nbytes: (bytes read + bytes written) / time, in GB/s."""
    src = torch.empty(nbytes // 2, device=DEV, dtype=torch.bfloat16).normal_()
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
    gen = torch.Generator(device=DEV).manual_seed(L + 3 * D + Z)
    P = Z * pages
    q = torch.randn(Z, H, D, device=DEV, dtype=torch.bfloat16, generator=gen)
    kc, vc = (torch.randn(P, PS, HK, D, device=DEV, dtype=torch.bfloat16, generator=gen) for _ in range(2))
    table = torch.randperm(P, device=DEV, generator=gen).to(torch.int32).view(Z, pages)
    lens = torch.full((Z,), L, device=DEV, dtype=torch.int32)
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
        o = torch.full((Z, H, D), float("nan"), device=DEV, dtype=torch.bfloat16)
        timed = {}

        def prepare(split_name=split_name, comb_name=comb_name, defs=defs, comb_defs=comb_defs, o=o, timed=timed):
            split = tile.kernel("attention/decode.tile", split_name, defs)
            comb = tile.kernel("attention/decode.tile", comb_name, comb_defs)
            o_part = torch.full((Z, H, S, D), float("nan"), device=DEV)
            lse_part = torch.full((Z, H, S), float("nan"), device=DEV)
            lse = torch.full((Z, H), float("nan"), device=DEV)
            cache = (dict(k_slots=kc.view(P * PS, HK, D), v_slots=vc.view(P * PS, HK, D))
                     if split_name == "decode_gqa" else dict(k_cache=kc, v_cache=vc))
            a1 = split.args(q=q, block_table=table, seq_lens=lens, o_part=o_part, lse_part=lse_part,
                            scale=scale, **cache)
            a2 = comb.args(o_part=o_part, lse_part=lse_part, o=o, lse=lse)
            timed["split"] = lambda: split.launch(a1)

            return launches((split, a1), (comb, a2))

        def note(ms, timed=timed):
            gbps = kv_bytes / (ms * 1e-3) * 1e-9
            return f"({bench_ms(timed['split']):.3f} split), S={S}, {100 * gbps / copy:.0f}% of copy"
        check_and_time("decode", cfg, who, prepare=prepare, work=kv_bytes, unit="GB/s", note=note,
                       check=lambda o=o: rel_err(o, ref))
    q4 = q.view(Z, H, 1, D)
    for backend, who in (("FLASH_ATTENTION", "sdpa-flash"), ("CUDNN_ATTENTION", "sdpa-cudnn")):
        check_and_time("decode", cfg, who, lambda backend=backend: sdpa(backend, q4, kz, vz, False, enable_gqa=True),
                       kv_bytes, "GB/s", check_out=lambda out: rel_err(out.view(Z, H, D), ref))


# ---- compile time and launch overhead ------------------------------------------------------------
COLD_COMPILE = """
import sys, time
sys.path.insert(0, sys.argv[4])
import tile_ctypes as tc
t0 = time.perf_counter()
t = tc.Tile(sys.argv[1], mode=tc.MODE_GPU, lib_dir=sys.argv[2], cache_dir=sys.argv[3])
k = t.kernel("attention/flash_fwd.tile", "flash_fwd_causal", {"D": 128, "T": "bf16"})
print(k.compile_s, time.perf_counter() - t0)
"""


def bench_compile(libpath):
    # Truly cold: a fresh process with the CUDA driver's own JIT cache off
    # (CUDA_CACHE_DISABLE=1), so the PTX -> SASS step is timed too; the
    # in-process row below may find this PTX in the driver's cache (earlier
    # sections compiled it), which is then what a second program sees.
    if DEV == "cuda":
        cache = tempfile.mkdtemp(prefix="tile_bench_cache_")
        try:
            import subprocess
            env = dict(os.environ, CUDA_CACHE_DISABLE="1", TILE_TIMING="1")
            r = subprocess.run([sys.executable, "-c", COLD_COMPILE, os.path.abspath(libpath), LIB_DIR, cache,
                                os.path.dirname(os.path.abspath(__file__))],
                               env=env, capture_output=True, text=True, timeout=120)
            if r.returncode == 0:
                compile_s, total_s = map(float, r.stdout.split()[-2:])
                record("compile", "flash_fwd_causal D=128", "cold, driver JIT cache off", compile_s * 1e3, "ms",
                       f"{total_s * 1e3:.0f} ms with the context")
                sys.stderr.write(r.stderr[-3000:])
            else:
                print(f"cold compile subprocess failed: {r.stderr[-2000:]}")
        finally:
            shutil.rmtree(cache, ignore_errors=True)
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
    q = torch.randn(1, 1, 64, 64, device=DEV, dtype=torch.bfloat16)
    o, lse = torch.empty_like(q), torch.empty(1, 1, 64, device=DEV)
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


SUMMARY_GROUPS = ("fwd", "bwd", "decode", "sc-fwd", "sc-bwd", "sc-tab", "masks", "linear", "based",
                  "s2", "duo", "duo-dec", "moh", "aaren", "sqa")


def summary():
    """One line per (group, config): our value, then each peer's value and the ratio tile / peer
    (every unit here is a rate: > 1 means tile is faster).  WRONG / failed rows say so."""
    print("\n== summary (ratio = tile / peer; > 1: tile faster; rates as each row's unit)")
    keyed = {}
    for g, c, who, val, unit, note in rows:
        keyed.setdefault((g, c), {})[who] = (val, unit, note)
    for (g, c), d in keyed.items():
        if g not in SUMMARY_GROUPS:
            continue
        ours = d.get("tile", (None, "", ""))
        unit = ours[1] or next(iter(d.values()))[1]

        def cell(v):
            if v[0] is not None:
                return f"{v[0]:8.1f}"
            return "   WRONG" if "WRONG" in v[2] else "     n/a" if v[2].startswith("n/a") else "  failed"
        line = f"{g:8s} {c:34s} {cell(ours):>9s} {unit:8s}"
        for who, pv in d.items():
            if who == "tile":
                continue
            ratio = f" x{ours[0] / pv[0]:.2f}" if pv[0] and ours[0] is not None else ""
            line += f" | {who} {cell(pv).strip()}{ratio}"
        print(line)
    for g, c, who, val, unit, note in rows:
        if g in ("compile", "launch") and val is not None:
            print(f"{g:8s} {c:28s} {who:14s} {val:10.2f} {unit} {note}")


SECTION_ERRORS = []   # sections that raised (each printed its traceback and the run went on)


def run_section(name, fn):
    """Runs one section (one shape of one group); an exception is a traceback, not the end."""
    try:
        fn()
    except Exception:  # noqa: BLE001 - keep going: one broken config is one traceback
        print(f"bench_attn: section {name} failed:", flush=True)
        traceback.print_exc()
        SECTION_ERRORS.append(name)
    if DEV == "cuda":
        torch.cuda.empty_cache()


DRY_SECTIONS = {"fwd", "bwd", "lightning", "based", "decode", "variants", *VARIANTS}


def dry_run_setup(args):
    """--dry-run: no GPU needed.  libtile's interpreter runs our kernels on CPU tensors (their
    data pointers are host memory), on small shapes; the peers that need CUDA report n/a.  Checks
    the sections' plumbing (kernel and parameter names, shapes, references, the checks) where
    torch is installed without a GPU."""
    global DEV, TOKENS, MODEL_DIM
    DEV, TOKENS, MODEL_DIM = "cpu", 256, 128
    args.no_flex = args.no_triton = True
    if args.lib == DEFAULT_LIB:
        args.lib = os.path.join(ROOT, "build", "libtile.so")
    only = set(args.only.split(","))
    if not only <= DRY_SECTIONS:
        print(f"bench_attn: --dry-run covers {','.join(sorted(DRY_SECTIONS))}; "
              f"ignoring {','.join(sorted(only - DRY_SECTIONS))}", file=sys.stderr)
    args.only = ",".join(only & DRY_SECTIONS)


DEFAULT_LIB = os.path.join(ROOT, "build-gpu", "libtile.so")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lib", default=DEFAULT_LIB)
    ap.add_argument("--quick", action="store_true", help="L=4k, D=128 only")
    ap.add_argument("--no-flex", action="store_true")
    ap.add_argument("--flex-lengths", default="4096",
                    help="lengths at which FlexAttention runs in fwd, bwd, scores (each shape costs a torch.compile)")
    ap.add_argument("--no-triton", action="store_true")
    ap.add_argument("--only", default="fwd,bwd,decode,compile,launch")
    ap.add_argument("--warps", type=int, default=0, help="warps per block (0: the compiler's choice)")
    ap.add_argument("--fwd-defines", default="",
                    help="extra constants for our forward kernel, e.g. BM=64,BN=64 (until the scheduler picks them)")
    ap.add_argument("--dry-run", action="store_true",
                    help="no GPU: our kernels on libtile's interpreter (default build/libtile.so), tiny shapes, "
                         "sections fwd, bwd, lightning, based, decode and the variants (SDPA by its definition); "
                         "exit 1 if one of ours is not right")
    args = ap.parse_args()
    args.fwd_defines = dict(kv.split("=", 1) for kv in args.fwd_defines.split(",") if kv)
    if args.dry_run:
        dry_run_setup(args)
    elif not torch.cuda.is_available():
        print("bench_attn: no CUDA device; nothing to measure", file=sys.stderr)
        return 77
    else:
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
    fla = ({}, {})
    if only & {"lightning", "based"}:
        import fla_import                     # bench/peers: flash-linear-attention without pip
        fla = fla_import.load()
        for name, why in fla[1].items():
            print(f"bench_attn: fla's {name} unavailable: {why}", flush=True)
    for L, D, causal in configs(args.quick, args.dry_run):
        fx = flex if L in flex_lengths else None
        if "fwd" in only:
            run_section(f"fwd L={L} D={D}", lambda: bench_forward(tile, L, D, causal, args, fx))
        if "bwd" in only:
            run_section(f"bwd L={L} D={D}", lambda: bench_backward(tile, L, D, causal, fx))
    if "scores" in only:
        for L in ([4096] if args.quick else [1024, 4096, 16384]):
            for D in ([128] if args.quick else [64, 128]):
                run_section(f"scores L={L} D={D}",
                            lambda: bench_scores(tile, L, D, not args.no_flex and L in flex_lengths))
    if "score-tables" in only:
        for L in ([4096] if args.quick else [1024, 4096]):
            for D in ([128] if args.quick else [64, 128]):
                run_section(f"score-tables L={L} D={D}",
                            lambda: bench_score_tables(tile, L, D, not args.no_flex and L in flex_lengths))
    if "masks" in only:
        for L in bench_lengths(args.quick):
            for D in ([128] if args.quick else [64, 128]):
                run_section(f"masks L={L} D={D}", lambda: bench_masks(tile, L, D, not args.no_flex))
    if "lightning" in only:
        for L in ([128] if args.dry_run else [16384] if args.quick else [4096, 16384]):
            run_section(f"lightning L={L}", lambda: bench_lightning(tile, L, fla))
    if "based" in only:
        for L in ([128] if args.dry_run else [4096] if args.quick else [1024, 4096, 16384]):
            run_section(f"based L={L}", lambda: bench_based(tile, L, fla))
    if only & {"variants", *VARIANTS}:         # issue 8: the literature variants next to their peers
        run_variants(tile, only, flex, variant_shapes(args.quick, args.dry_run))
    if "decode" in only:
        # issue 7's target shapes (32k keys, batch 1 and 8), then 16k tokens per batch
        shapes = [(2, 100, 32)] if args.dry_run else [(1, 32768, 128), (8, 32768, 128)]
        if not args.quick and not args.dry_run:
            shapes += [(TOKENS // L, L, D) for L in (1024, 4096, 16384) for D in (64, 128)]
        for Z, L, D in shapes:
            run_section(f"decode Z={Z} L={L} D={D}", lambda: bench_decode(tile, Z, L, D))
    if "dynsparse" in only:   # issue 9: estimate-select-attend chains (bench/bench_dynsparse.py)
        import bench_dynsparse
        bench_dynsparse.run(tile, record, bench_ms, args.quick)
    if "compile" in only:
        run_section("compile", lambda: bench_compile(args.lib))
    if "launch" in only:
        run_section("launch", lambda: bench_launch_overhead(tile))
    tile.close()
    summary()
    if args.dry_run:   # every one of our rows must have been checked right, and no section may raise
        bad = [r for r in rows if r[2].startswith("tile") and r[3] is None]
        print(f"bench_attn --dry-run: {len([r for r in rows if r[2].startswith('tile')]) - len(bad)} passed, "
              f"{len(bad) + len(SECTION_ERRORS)} failed")
        return 1 if bad or SECTION_ERRORS else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
