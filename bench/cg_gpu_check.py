#!/usr/bin/env python3
"""cg_gpu_check.py - the code generator against the interpreter, on the GPU.

For each case (a kernel of the library or of the tests, its constants, its
dimension sizes and scalars):
  1. `tilec --emit=ir` gives the signature and the grid block (evaluated here);
  2. `tilec --emit=ptx` gives the PTX (header: num_warps, smem_bytes);
  3. random inputs (floats rounded to the dtype, so both sides see the same
     values) are written as .npy and run through `tilec run --interp`;
  4. the PTX is loaded with CuPy and launched per docs/abi.md (tensor = u64
     pointer, sizes, strides in elements; scalars; the hidden status
     pointer), every output poisoned with NaN / 0x7fc0 bf16 / INT32_MIN first;
  5. outputs are compared with the interpreter's within the dtype's tolerance
     (docs/language.md, "GPU tolerance"): f32 1e-4, f16 2e-3, bf16 2e-2,
     relative to max(1, max |interp|); infinities must match, a NaN where the
     interpreter has none fails (an unwritten element).

Needs CuPy (and numpy); no runtime library, no torch.  Run from the
repository root:  python3 bench/cg_gpu_check.py [--tilec build/tilec]
[--arch sm_90] [--only SUBSTRING,...] [--keep DIR] [--warps N] [--generic-dot]
[--no-vector] [--dry-run].  Prints one line
per case and a summary; exit status 1 if any case fails.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np

# ---- cases ---------------------------------------------------------------
# (label, file, kernel, consts, dims, scalars, ints)
#   consts:  -D for compilation (T, D, block sizes, masks)
#   dims:    sizes of named tensor dims
#   scalars: runtime scalar parameters
#   ints:    {tensor: (lo, hi)} ranges for integer inputs (default [0, 4))
ATT = "lib/attention/"


def fwd_cases():
    out = []
    for T in ("f32", "bf16", "f16"):
        for D in (64, 128):
            for (M, N) in ((128, 128), (100, 100), (37, 70), (70, 37), (1, 1)):
                if T == "f16" and (M, N) not in ((100, 100),):
                    continue
                out.append((f"flash_fwd T={T} D={D} M={M} N={N}", ATT + "flash_fwd.tile", "flash_fwd",
                            {"T": T, "D": D}, {"Z": 2, "H": 2, "HK": 1, "M": M, "N": N},
                            {"scale": 0.125}, {}))
    for name in ("flash_fwd_causal", "flash_fwd_streaming"):
        out.append((f"{name} bf16 D=64 M=100 N=100", ATT + "flash_fwd.tile", name,
                    {"T": "bf16", "D": 64}, {"Z": 1, "H": 2, "HK": 2, "M": 100, "N": 100},
                    {"scale": 0.125}, {}))
    out.append(("flash_fwd_document bf16 D=64", ATT + "flash_fwd.tile", "flash_fwd_document",
                {"T": "bf16", "D": 64}, {"Z": 1, "H": 2, "HK": 2, "M": 64, "N": 64},
                {"scale": 0.125}, {"doc": "sorted:3"}))
    for D in (40, 80, 96, 111, 160):
        out.append((f"flash_fwd f32 D={D} (odd head dim)", ATT + "flash_fwd.tile", "flash_fwd",
                    {"T": "f32", "D": D}, {"Z": 1, "H": 1, "HK": 1, "M": 50, "N": 45},
                    {"scale": 0.1}, {}))
    out.append(("flash_fwd bf16 D=256", ATT + "flash_fwd.tile", "flash_fwd",
                {"T": "bf16", "D": 256, "BM": 16, "BN": 16}, {"Z": 1, "H": 1, "HK": 1, "M": 40, "N": 33},
                {"scale": 0.0625}, {}))
    return out


def other_cases():
    out = []
    bwd_dims = {"Z": 1, "H": 2, "HK": 1, "M": 45, "N": 37}
    for T in ("f32", "bf16"):
        out.append((f"flash_bwd_preprocess {T}", ATT + "flash_bwd.tile", "flash_bwd_preprocess",
                    {"T": T, "D": 64}, bwd_dims, {}, {}))
        out.append((f"flash_bwd_dkdv {T}", ATT + "flash_bwd.tile", "flash_bwd_dkdv",
                    {"T": T, "D": 64}, bwd_dims, {"scale": 0.125}, {}))
        out.append((f"flash_bwd_dq {T}", ATT + "flash_bwd.tile", "flash_bwd_dq",
                    {"T": T, "D": 64}, bwd_dims, {"scale": 0.125}, {}))
    out.append(("flash_bwd_dkdv_causal bf16", ATT + "flash_bwd.tile", "flash_bwd_dkdv_causal",
                {"T": "bf16", "D": 64}, {"Z": 1, "H": 2, "HK": 2, "M": 40, "N": 40},
                {"scale": 0.125}, {}))
    out.append(("decode_split bf16", ATT + "decode.tile", "decode_split",
                {"T": "bf16", "D": 64, "PS": 16, "S": 4},
                {"Z": 2, "H": 4, "HK": 2, "P": 12, "MAXP": 5}, {"scale": 0.125},
                {"block_table": (0, 12), "seq_lens": (0, 80)}))
    out.append(("decode_combine bf16", ATT + "decode.tile", "decode_combine",
                {"T": "bf16", "D": 64, "S": 4}, {"Z": 2, "H": 4}, {}, {}))
    out.append(("block_sparse_fwd bf16", ATT + "block_sparse.tile", "block_sparse_fwd",
                {"T": "bf16", "D": 64, "BM": 32, "BN": 32},
                {"Z": 1, "H": 2, "HK": 2, "M": 70, "N": 90, "MB": 3, "MAXB": 3}, {"scale": 0.125},
                {"kv_idx": (0, 3), "kv_cnt": (0, 4)}))
    out.append(("lightning2 bf16", ATT + "lightning2.tile", "lightning2",
                {"T": "bf16", "D": 64, "E": 64}, {"Z": 1, "H": 2, "N": 70}, {}, {}))
    out.append(("lightning2 f32", ATT + "lightning2.tile", "lightning2",
                {"T": "f32", "D": 64, "E": 64}, {"Z": 1, "H": 2, "N": 45}, {}, {}))
    # The programs added with issue 5 (associative_scan, slices, the new math).
    for T, N in (("bf16", 100), ("f32", 37)):
        out.append((f"aaren_fwd {T} N={N}", ATT + "aaren.tile", "aaren_fwd",
                    {"T": T, "D": 64, "E": 64}, {"Z": 1, "H": 2, "N": N}, {}, {}))
    out.append(("based_fwd bf16 GQA", ATT + "based.tile", "based_fwd",
                {"T": "bf16", "E": 64}, {"Z": 1, "H": 4, "HK": 2, "N": 100}, {}, {}))
    flashlike = (("based_window", "based.tile", {}), ("s2_fwd", "s2.tile", {"S": 4, "L": 16}),
                 ("sqa_fwd", "sqa.tile", {}), ("sqa_fwd_causal", "sqa.tile", {}),
                 ("moh_fwd_causal", "moh.tile", {}))
    for name, f, extra in flashlike:
        for T, (M, N) in (("bf16", (100, 100)), ("f32", (77, 77))):
            out.append((f"{name} {T} M={M} N={N} GQA", ATT + f, name, dict({"T": T, "D": 64}, **extra),
                        {"Z": 1, "H": 4, "HK": 2, "M": M, "N": N}, {"scale": 0.125}, {}))
    out.append(("duo_prefill bf16 GQA", ATT + "duo.tile", "duo_prefill",
                {"T": "bf16", "D": 64, "W": 64, "S": 4}, {"Z": 1, "H": 4, "HK": 2, "M": 100, "N": 100},
                {"scale": 0.125}, {"streaming": (0, 2)}))
    out.append(("duo_decode_split bf16", ATT + "duo.tile", "duo_decode_split",
                {"T": "bf16", "D": 128, "PS": 16, "NS": 4, "W": 64, "S": 4},
                {"Z": 2, "H": 4, "HK": 2, "P": 12, "MAXP": 5}, {"scale": 0.125},
                {"block_table": (0, 12), "seq_lens": (0, 80), "streaming": (0, 2)}))
    out.append(("scale_rows R=100", "examples/scale_rows.tile", "scale_rows", {}, {"R": 100}, {"s": 3.0}, {}))
    g = "tests/golden/"
    out.append(("golden ir_reduce", g + "ir_reduce.tile", "k", {}, {}, {}, {}))
    out.append(("golden ir_loop", g + "ir_loop.tile", "k", {}, {"N": 9}, {"steps": 7}, {}))
    out.append(("golden ir_if", g + "ir_if.tile", "k", {}, {}, {"n": 5}, {}))
    out.append(("golden ir_view_mask", g + "ir_view_mask.tile", "k", {}, {"B": 3, "M": 7}, {"m": 1}, {}))
    out.append(("golden ir_weak", g + "ir_weak.tile", "k", {}, {}, {}, {}))
    out.append(("golden ok_misc", g + "ok_misc.tile", "k", {}, {"N": 100}, {"n": 3}, {}))
    out.append(("golden ir_defines", g + "ir_defines.tile", "k", {"D": 16}, {"M": 50}, {}, {}))
    for n, flag in ((5, True), (2, False), (0, True)):
        out.append((f"every op (ptx_ops) n={n} flag={flag}", g + "ptx_ops.tile", "ops", {}, {"R": 20},
                    {"n": n, "flag": flag}, {"xi": (-20, 20)}))
    out.append(("golden ptx_newops (every issue-5 op)", g + "ptx_newops.tile", "newops", {}, {}, {}, {}))
    out.append(("golden ir_scan", g + "ir_scan.tile", "k", {}, {}, {}, {}))
    out.append(("golden ops_ir_index", g + "ops_ir_index.tile", "k", {}, {}, {}, {}))
    out.append(("golden ops_ir_math", g + "ops_ir_math.tile", "k", {}, {}, {}, {}))
    return out


# Outputs that kernels accumulate into with atomic_add: zero on both sides
# instead of poisoned (file basename, kernel) -> names.
ZERO_INIT = {("ok_misc.tile", "k"): {"hist", "total"}, ("ptx_ops.tile", "ops"): {"total"}}


# ---- signature and grid from --emit=ir -------------------------------------
PARAM_RE = re.compile(r"%(\w+): (out )?(?:tensor<(\w+)>\[([^\]]*)\]|(\w+))")


def parse_ir(text):
    lines = text.splitlines()
    head = lines[0]
    sig = head[head.index("(") + 1:]
    sig = sig[:sig.index(") consts(")] if ") consts(" in sig else sig[:sig.rindex(")")]
    params = []
    for m in PARAM_RE.finditer(sig):
        name, out, tdt, tdims, sdt = m.groups()
        if tdt:
            dims = [d.strip() for d in tdims.split(",")]
            params.append({"name": name, "tensor": True, "out": bool(out), "dtype": tdt, "dims": dims})
        else:
            params.append({"name": name, "tensor": False, "out": False, "dtype": sdt})
    grid = []
    i = lines.index("grid:") + 1
    while lines[i] != "body:":
        grid.append(lines[i].strip())
        i += 1
    return params, grid


def i32(v):
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def eval_grid(grid, params, shapes, scalars):
    """Evaluates the grid block (i32 arithmetic, C division) on the host."""
    env = {}
    pvals = {p["name"]: scalars.get(p["name"], 0) for p in params if not p["tensor"]}

    def val(tok):
        tok = tok.strip()
        if tok in env:
            return env[tok]
        if tok.startswith("%") and tok[1:] in pvals:
            return pvals[tok[1:]]
        raise KeyError(f"grid operand {tok}")

    for line in grid:
        if line.startswith("yield"):
            return [int(val(t)) for t in line[len("yield"):].split(",")]
        lhs, rhs = line.split(" = ", 1)
        rhs = rhs.rsplit(" : ", 1)[0]
        op, _, args = rhs.partition(" ")
        a = [t.strip() for t in args.split(",")] if args else []
        if op == "const":
            r = int(a[0] == "true") if a[0] in ("true", "false") else int(float(a[0]))
        elif op == "tensor_dim":
            r = shapes[a[0][1:]][int(a[1])]
        else:
            x = [val(t) for t in a]
            if op == "add": r = i32(x[0] + x[1])
            elif op == "sub": r = i32(x[0] - x[1])
            elif op == "mul": r = i32(x[0] * x[1])
            elif op == "div": r = int(x[0] / x[1]) if x[1] else 0
            elif op == "rem": r = x[0] - int(x[0] / x[1]) * x[1] if x[1] else 0
            elif op == "max": r = max(x)
            elif op == "min": r = min(x)
            elif op == "select": r = x[1] if x[0] else x[2]
            elif op.startswith("cmp."):
                r = int({"eq": x[0] == x[1], "ne": x[0] != x[1], "lt": x[0] < x[1], "le": x[0] <= x[1],
                         "gt": x[0] > x[1], "ge": x[0] >= x[1]}[op[4:]])
            elif op == "cast": r = int(x[0])
            else:
                raise ValueError(f"grid op '{op}' not handled by cg_gpu_check.py")
        env[lhs.strip()] = r
    raise ValueError("grid block without yield")


# ---- dtypes ------------------------------------------------------------------
def round_to(x, dt):
    """f32 array -> values representable in dt (nearest even), as f32."""
    x = np.asarray(x, np.float32)
    if dt == "f32":
        return x
    if dt == "f16":
        return x.astype(np.float16).astype(np.float32)
    b = x.view(np.uint32).astype(np.uint64)
    b = (b + 0x7FFF + ((b >> 16) & 1)) >> 16
    return (b.astype(np.uint32) << 16).view(np.float32)


def to_device_bits(x, dt):
    """Host array (f32 values already representable) -> numpy array of the
    device representation."""
    if dt == "f32": return np.ascontiguousarray(x, np.float32)
    if dt == "f16": return np.ascontiguousarray(x.astype(np.float16))
    if dt == "bf16": return np.ascontiguousarray((np.asarray(x, np.float32).view(np.uint32) >> 16).astype(np.uint16))
    if dt == "i32": return np.ascontiguousarray(x, np.int32)
    if dt == "i64": return np.ascontiguousarray(x, np.int64)
    if dt == "bool": return np.ascontiguousarray(x, np.uint8)
    raise ValueError(dt)


def from_device_bits(a, dt):
    if dt == "bf16": return (a.astype(np.uint32) << 16).view(np.float32)
    if dt == "f16": return a.astype(np.float32)
    return a


def poison(dt, shape):
    if dt == "f32": return np.full(shape, np.nan, np.float32)
    if dt == "f16": return np.full(shape, np.nan, np.float16)
    if dt == "bf16": return np.full(shape, 0x7FC1, np.uint16)
    if dt == "i32": return np.full(shape, -2**31, np.int32)
    if dt == "i64": return np.full(shape, -2**63, np.int64)
    return np.full(shape, 2, np.uint8)


TOL = {"f32": 1e-4, "f16": 2e-3, "bf16": 2e-2}


def compare(got, ref, dt):
    got = np.asarray(got, np.float64).ravel()
    ref = np.asarray(ref, np.float64).ravel()
    if got.shape != ref.shape:
        return False, f"shape {got.shape} vs {ref.shape}"
    if dt not in TOL:
        bad = np.count_nonzero(got != ref)
        return bad == 0, f"{bad} of {ref.size} differ (exact)"
    nan_ref, nan_got = np.isnan(ref), np.isnan(got)
    if np.any(nan_got & ~nan_ref):
        i = int(np.argmax(nan_got & ~nan_ref))
        return False, f"NaN at {i} (unwritten?) ref {ref[i]}"
    if np.any(nan_ref & ~nan_got):
        i = int(np.argmax(nan_ref & ~nan_got))
        return False, f"{got[i]} at {i} where the interpreter gives NaN"
    inf_ref = np.isinf(ref)
    if np.any(inf_ref & (got != ref)):
        i = int(np.argmax(inf_ref & (got != ref)))
        return False, f"inf mismatch at {i}: got {got[i]} ref {ref[i]}"
    fin = ~nan_ref & ~inf_ref
    if not np.any(fin):
        return True, "no finite values (NaN and inf positions match)"
    scale = max(1.0, float(np.max(np.abs(ref[fin]))))
    tol = TOL[dt] * scale
    err = np.abs(got[fin] - ref[fin])
    worst = float(np.max(err))
    if np.any(~np.isfinite(got[fin])) or worst > tol:
        idx = np.flatnonzero(fin)[int(np.argmax(np.where(np.isfinite(err), err, np.inf)))]
        return False, f"max err {worst:.3g} > tol {tol:.3g} at {idx}: got {got[idx]} ref {ref[idx]}"
    return True, f"max err {worst:.2g} (tol {tol:.2g})"


# ---- one case ----------------------------------------------------------------
def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{p.stderr.strip()}")
    return p.stdout


def defs(d):
    out = []
    for k, v in d.items():
        out += ["-D", f"{k}={v}"]
    return out


def check_case(case, args, work, cp):
    label, path, kernel, consts, dims, scalars, ints = case
    tilec = args.tilec
    ir = run([tilec, path, "-k", kernel, "--emit=ir"] + defs(consts))
    params, grid = parse_ir(ir)
    ptx_path = os.path.join(work, "k.ptx")
    gpu_flags = ["--arch", args.arch] + (["--warps", str(args.warps)] if args.warps else [])
    run([tilec, path, "-k", kernel, "--emit=ptx", "-o", ptx_path] + gpu_flags + defs(consts))
    with open(ptx_path) as f:
        header = f.readline()
    m = re.search(r"num_warps (\d+), smem_bytes (\d+), asserts (\d+)", header)
    num_warps, smem = int(m.group(1)), int(m.group(2))
    entry = kernel

    rng = np.random.default_rng(zlib.crc32(label.encode()) + args.seed)  # reproducible per case
    zero_init = ZERO_INIT.get((os.path.basename(path), kernel), set())
    shapes, host, dev_in = {}, {}, []
    cmd = [tilec, "run", path, "-k", kernel, "--interp", "--out-dir", work] + defs(consts)
    allsizes = dict(dims)
    allsizes.update({k: v for k, v in consts.items() if isinstance(v, int)})
    for p in params:
        if not p["tensor"]:
            continue
        shape = tuple(int(d) if d.lstrip("-").isdigit() else allsizes[d] for d in p["dims"])
        shapes[p["name"]] = shape
        if p["out"] and p["name"] in zero_init:
            z = np.zeros(shape, np.float32 if p["dtype"] in TOL else np.int32 if p["dtype"] == "i32" else np.int64)
            np.save(os.path.join(work, p["name"] + ".in.npy"), z)
            cmd += ["--in", f"{p['name']}={os.path.join(work, p['name'] + '.in.npy')}"]
            continue
        if p["out"]:
            continue
        dt = p["dtype"]
        spec = ints.get(p["name"])
        if dt in TOL:
            x = round_to(rng.uniform(-1, 1, shape).astype(np.float32), dt)
            np.save(os.path.join(work, p["name"] + ".in.npy"), x)
        else:
            if isinstance(spec, str) and spec.startswith("sorted:"):
                x = np.sort(rng.integers(0, int(spec[7:]), shape), axis=-1)
            else:
                lo, hi = spec if spec else (0, 4)
                x = rng.integers(lo, hi, shape)
            x = x.astype(np.int64 if dt == "i64" else np.int32 if dt == "i32" else np.uint8)
            np.save(os.path.join(work, p["name"] + ".in.npy"), x)
        host[p["name"]] = x
        cmd += ["--in", f"{p['name']}={os.path.join(work, p['name'] + '.in.npy')}"]
    used = {d for p in params if p["tensor"] for d in p["dims"]}
    for k, v in dims.items():
        if k in used and k not in consts:
            cmd += ["-D", f"{k}={v}"]
    for k, v in scalars.items():
        cmd += ["-D", f"{k}={str(v).lower() if isinstance(v, bool) else v}"]
    run(cmd)

    grid_xyz = eval_grid(grid, params, shapes, scalars)
    if cp is None:  # --dry-run: everything but the GPU
        return True, f"dry run: grid {grid_xyz}", 0.0, num_warps, smem
    kargs, outs, keep = [], {}, []
    for p in params:
        dt = p["dtype"]
        if p["tensor"]:
            shape = shapes[p["name"]]
            if p["out"] and p["name"] in zero_init:
                arr = to_device_bits(np.zeros(shape, np.float32 if dt in TOL else np.int64), dt)
            else:
                arr = poison(dt, shape) if p["out"] else to_device_bits(host[p["name"]], dt)
            d = cp.asarray(arr)
            keep.append(d)
            if p["out"]:
                outs[p["name"]] = (d, dt)
                if getattr(cp, "FAKE", False):  # --fake-gpu: the interpreter's result
                    cp.expect(d, os.path.join(work, p["name"] + ".npy"),
                              lambda x, dt=dt: to_device_bits(x, dt))
            kargs.append(np.uint64(d.data.ptr))
            kargs += [np.int64(s) for s in shape]
            kargs += [np.int64(s // d.itemsize) for s in d.strides]
        else:
            v = scalars.get(p["name"], 0)
            if dt == "f32": kargs.append(np.float32(v))
            elif dt == "i32": kargs.append(np.int32(v))
            elif dt == "i64": kargs.append(np.int64(v))
            elif dt == "bool": kargs.append(np.uint32(1 if v else 0))
            elif dt == "f16": kargs.append(np.float16(v).view(np.uint16))
            elif dt == "bf16": kargs.append(np.uint16(to_device_bits(np.float32([v]), "bf16")[0]))
    status = cp.zeros(8, cp.int32)
    kargs.append(np.uint64(status.data.ptr))
    mod = cp.RawModule(path=ptx_path)
    fn = mod.get_function(entry)
    if smem > 48 * 1024:
        fn.max_dynamic_shared_size_bytes = smem
    t0 = time.perf_counter()
    if all(g > 0 for g in grid_xyz):
        fn(tuple(grid_xyz), (32 * num_warps, 1, 1), tuple(kargs), shared_mem=smem)
    cp.cuda.runtime.deviceSynchronize()
    ms = (time.perf_counter() - t0) * 1e3
    st = cp.asnumpy(status)
    if st[0] != 0:
        return False, f"device assert #{st[0] - 1} failed in program {tuple(st[1:4])}", ms, num_warps, smem
    msgs, ok = [], True
    for name, (d, dt) in outs.items():
        got = from_device_bits(cp.asnumpy(d), dt)
        ref = np.load(os.path.join(work, name + ".npy"))
        good, msg = compare(got, ref, dt)
        ok &= good
        msgs.append(f"{name}: {msg}")
    return ok, "; ".join(msgs), ms, num_warps, smem


def run_isolated(cases, a):
    """One child process per case: an illegal address or a hang in one
    kernel leaves the CUDA context of the others intact."""
    passthrough = ["--tilec", a.tilec, "--arch", a.arch, "--seed", str(a.seed)]
    if a.warps: passthrough += ["--warps", str(a.warps)]
    if a.keep: passthrough += ["--keep", a.keep]
    if a.generic_dot: passthrough.append("--generic-dot")
    if a.no_vector: passthrough.append("--no-vector")
    nfail = 0
    for case in cases:
        cmd = [sys.executable, os.path.abspath(__file__), "--exact", case[0]] + passthrough
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            line = next((l for l in p.stdout.splitlines() if l.startswith(("PASS", "FAIL"))), None)
            if line is None:
                tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
                line = f"FAIL  {case[0]:<44} (process exit {p.returncode}) {' | '.join(tail)}"
        except subprocess.TimeoutExpired:
            line = f"FAIL  {case[0]:<44} timed out after 600 s"
        nfail += line.startswith("FAIL")
        print(line, flush=True)
    print(f"\ncg_gpu_check: {len(cases) - nfail} of {len(cases)} cases pass ({a.arch})")
    return 1 if nfail else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tilec", default="build/tilec")
    ap.add_argument("--arch", default="sm_90")
    ap.add_argument("--warps", type=int, default=0)
    ap.add_argument("--only", default="", help="comma-separated substrings of case names")
    ap.add_argument("--keep", default="")
    ap.add_argument("--generic-dot", action="store_true",
                    help="compile with TILE_CG_GENERIC_DOT=1 (no mma.sync): to bisect a failure")
    ap.add_argument("--no-vector", action="store_true",
                    help="compile with TILE_CG_NO_VECTOR=1 (scalar global accesses)")
    ap.add_argument("--seed", type=int, default=0, help="added to each case's input seed")
    ap.add_argument("--no-isolate", dest="isolate", action="store_false",
                    help="run every case in this process (default: one process per case, so a "
                         "device fault in one case cannot poison the context of the others)")
    ap.add_argument("--exact", default="", help=argparse.SUPPRESS)
    ap.add_argument("--fake-gpu", action="store_true",
                    help="bench/fake_cupy.py instead of CuPy: checks launch arguments against the "
                         "PTX signature, no GPU (tests the script itself)")
    ap.add_argument("--dry-run", action="store_true",
                    help="compile, run the interpreter and evaluate grids; no GPU")
    a = ap.parse_args()
    if a.generic_dot:
        os.environ["TILE_CG_GENERIC_DOT"] = "1"
    if a.no_vector:
        os.environ["TILE_CG_NO_VECTOR"] = "1"
    wanted = [w for w in a.only.split(",")] if a.only else [""]
    cases = [c for c in fwd_cases() + other_cases() if any(w in c[0] for w in wanted)]
    if a.exact:
        cases = [c for c in cases if c[0] == a.exact]
    if a.isolate and not a.dry_run and not a.fake_gpu and not a.exact:
        return run_isolated(cases, a)
    cp = None
    if a.fake_gpu:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import fake_cupy as cp
    elif not a.dry_run:
        import cupy as cp  # imported late so --help and --dry-run work without a GPU
    rows, nfail = [], 0
    for case in cases:
        work = tempfile.mkdtemp(prefix="cgcheck-", dir=a.keep or None)
        try:
            ok, msg, ms, nw, smem = check_case(case, a, work, cp)
        except Exception as e:  # one broken case must not hide the others
            ok, msg, ms, nw, smem = False, f"{type(e).__name__}: {str(e).strip()[:400]}", 0.0, 0, 0
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
        nfail += not ok
        line = f"{'PASS' if ok else 'FAIL'}  {case[0]:<44} warps {nw} smem {smem:>6}  {ms:8.2f} ms  {msg}"
        print(line, flush=True)
        rows.append(line)
    print(f"\ncg_gpu_check: {len(cases) - nfail} of {len(cases)} cases pass ({a.arch})")
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main())
