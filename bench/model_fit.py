#!/usr/bin/env python3
"""model_fit.py - the scheduler's cost model against measured schedules, on
the CPU: which schedule the model picks for each measured shape, and how far
that pick is from the measured best.

The points (bench/logs/model_points.csv) are timings from the H200:
`tilec tune` rows (bench/tune_check.sh) and hand-set schedules
(bench/sweep_fwd.sh, bench/sparse_sweep.py --window), one line each:
source,kernel,L,D,Z,H,BM,BN,warps,stages,us with kernel one of fwd, causal,
window (flash_fwd with bench_attn.py's sliding window), dq, dkdv.

For every shape, `tilec --explain=json` gives the model's terms for every
candidate; this script re-forms the predicted time from them with the
parameters below (the same formula as sched_evaluate in
compiler/sched_model.c) so a grid of parameters can be tried without a
rebuild:

    time = max(memory, bytes / L2_BW, compute, smem) / (wave_eff x latency_eff) + 2 us
    compute = max(tensor, elementwise) + min(...) x OVERLAP^(blocks/SM - 1)
    latency_eff: each innermost iteration also waits DOT_WAIT cycles a dot

    python3 bench/model_fit.py [--tilec build/tilec] [--points CSV]
        [--show]          the pick of every shape at the compiled-in values
        [--grid]          the parameter grid, best first

A pick that is not among the measured schedules of its shape is counted as
unmeasured: the fit says nothing about it, a GPU run must.
"""
import argparse
import csv
import itertools
import json
import math
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNELS = {"fwd": ("flash_fwd.tile", "flash_fwd"), "causal": ("flash_fwd.tile", "flash_fwd_causal"),
           "window": ("flash_fwd.tile", "flash_fwd"), "dq": ("flash_bwd.tile", "flash_bwd_dq"),
           "dkdv": ("flash_bwd.tile", "flash_bwd_dkdv")}
WINDOW = "mask=sliding_window(W: 1024, S: 4)"
SMS, CLOCK = 132, 1.98e9          # sm_90 in ir/target.c
COMPILED = dict(overlap=0.75, dot_wait=150, l2_bw=5.5e12)   # compiler/sched_model.c


def explain(tilec, kind, L, D, Z, H, memo={}):
    """--explain=json at the shape; L = 0: at the default shape, as the runtime
    plans (only D given: every other dimension SCHED_DEFAULT_DIM)."""
    key = (kind, L, D, Z, H)
    if key not in memo:
        f, k = KERNELS[kind]
        dims = ["-D", f"Z={Z}", "-D", f"H={H}", "-D", f"HK={H}", "-D", f"M={L}", "-D", f"N={L}"] if L else []
        args = [tilec, os.path.join(ROOT, "lib/attention", f), "-k", k] + dims + ["-D", f"D={D}", "-D",
                                                                                "scale=0.125", "--explain=json"]
        if kind == "window":
            args += ["-D", WINDOW]
        memo[key] = json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)
    return memo[key]


def feasible(r):
    return "tensor_us" in r and r.get("verdict") in ("fits", "chosen")


def predict(r, p):
    """sched_evaluate's time from a candidate's terms, with parameters p."""
    bps = max(1, r["blocks_per_sm"])
    t, a = r["tensor_us"], r["elementwise_us"]
    comp = (max(t, a) + min(t, a) * p["overlap"] ** (bps - 1)) / r["compute_efficiency"]
    tmax = max(r["memory_us"], comp, r["smem_us"], r["hbm_bytes"] / p["l2_bw"] * 1e6 if p.get("l2_bw") else 0)
    eff = 1.0
    if r["inner_iterations"] > 0:
        it = tmax * SMS / r["inner_iterations"]
        staged = r["staged_bytes_per_stage"] > 0 and not r["dot_operand_in_registers"]
        stages = r["stages"] if staged else 1
        wait = max(0.0, r["round_trip_us"] - (stages - 1) * bps * it) if r["round_trip_us"] > 0 else 0.0
        wait += p["dot_wait"] * r["loop_dots"] / CLOCK * 1e6
        eff = bps * it / (bps * it + wait) if wait > 0 and it > 0 else 1.0
    return tmax / (r["wave_efficiency"] * eff) + 2


def load(tilec, path):
    groups = {}
    for row in csv.reader(line for line in open(path) if not line.startswith("#")):
        src, kind, L, D, Z, H, BM, BN, w, s, us = row
        d = explain(tilec, kind, int(L), int(D), int(Z), int(H))
        key = (int(BM), int(BN), int(w), int(s))
        for r in d["candidates"]:
            if (r["values"].get("BM"), r["values"].get("BN"), r["warps"], r["stages"]) == key and feasible(r):
                groups.setdefault((src, kind, L, D, Z, H), (d, {}))[1][key] = (r, float(us))
    return groups


def picks(groups, p, show=False):
    """Per shape: the model's pick over all feasible candidates, and its measured
    time over the measured best (None when the pick was not measured)."""
    out = []
    for g, (d, meas) in groups.items():
        rows = [r for r in d["candidates"] if feasible(r)]
        best = min(rows, key=lambda r: predict(r, p))
        key = (best["values"].get("BM"), best["values"].get("BN"), best["warps"], best["stages"])
        top = min(us for _, us in meas.values())
        ratio = meas[key][1] / top if key in meas else None
        out.append(ratio)
        if show:
            fast = min(meas, key=lambda k: meas[k][1])
            print(f"{' '.join(g):34} pick {key}  " + (f"{ratio:.3f} x the best" if ratio else "UNMEASURED") +
                  f"  (best measured {fast}, {top:.0f} us)")
    return out


def runtime_picks(tilec, groups, p, show=False):
    """The runtime plans at the default shape (it compiles before it knows the
    lengths): that one pick per kernel and D, against every measured shape of
    that kernel and D."""
    out = []
    for kind, D in sorted({(g[1], int(g[3])) for g in groups}):
        d = explain(tilec, kind, 0, D, 0, 0)
        best = min((r for r in d["candidates"] if feasible(r)), key=lambda r: predict(r, p))
        key = (best["values"].get("BM"), best["values"].get("BN"), best["warps"], best["stages"])
        for g, (_, meas) in groups.items():
            if g[1] != kind or int(g[3]) != D:
                continue
            top = min(us for _, us in meas.values())
            hit = [us for k, (_, us) in meas.items() if k[:3] == key[:3]]
            ratio = min(hit) / top if hit else None
            out.append(ratio)
            if show:
                print(f"runtime {kind:6} D={D:<3} pick {key} at {' '.join(g):30} " +
                      (f"{ratio:.3f} x the best" if ratio else "UNMEASURED"))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tilec", default=os.path.join(ROOT, "build/tilec"))
    ap.add_argument("--points", default=os.path.join(ROOT, "bench/logs/model_points.csv"))
    ap.add_argument("--show", action="store_true")
    ap.add_argument("--grid", action="store_true")
    args = ap.parse_args()
    groups = load(args.tilec, args.points)
    print(f"{sum(len(m) for _, m in groups.values())} schedules in {len(groups)} shapes")
    if args.show or not args.grid:
        r = picks(groups, COMPILED, show=True)
        known = [x for x in r if x]
        print(f"compiled-in {COMPILED}: worst {max(known):.3f}, within 10% {sum(x <= 1.10 for x in known)}"
              f" of {len(known)} measured picks, {r.count(None)} unmeasured")
        r = runtime_picks(args.tilec, groups, COMPILED, show=True)
        known = [x for x in r if x]
        print(f"the runtime's picks: worst {max(known):.3f}, {r.count(None)} unmeasured")
    if args.grid:
        res = []
        for ov, dw, l2 in itertools.product([0.5, 0.6, 0.75, 0.85, 1.0], [0, 150, 300, 500, 800],
                                            [0, 4.5e12, 5e12, 5.5e12, 6e12, 7e12]):
            pp = dict(overlap=ov, dot_wait=dw, l2_bw=l2)
            r = picks(groups, pp)
            known = [x for x in r if x]
            rt = [x for x in runtime_picks(args.tilec, groups, pp) if x]
            geo = math.exp(sum(math.log(x) for x in known) / len(known))
            res.append((sum(x > 1.10 for x in known + rt), max(known + rt), geo, r.count(None), max(rt), ov, dw, l2))
        print("over 10%  worst  geomean  unmeasured  runtime-worst  overlap  dot_wait  L2 B/s")
        for x in sorted(res)[:16]:
            print(f"{x[0]:9d} {x[1]:6.3f} {x[2]:8.4f} {x[3]:11d} {x[4]:14.3f} {x[5]:8.2f} {x[6]:9.0f} {x[7]:8.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
