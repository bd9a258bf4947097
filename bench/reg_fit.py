#!/usr/bin/env python3
"""Register-model calibration data (CPU only: tilec + ptxas).

For each library kernel and schedule below, records the scheduler's
register facts (tilec --explain=json at two stages: live tiles on the tile
IR and on the pipelined scheduled IR, one k step's operand fragments of a
loop's dots, the dots of the loop and how many of them run on wgmma,
whether a dot operand stayed in registers) next to what ptxas -v assigns (registers, spill bytes).  The
model in compiler/sched_model.c (sched_predict_regs) is fitted on this
table (bench/logs/s5-model.md); rerun it after a codegen change:

    python3 bench/reg_fit.py build/tilec > bench/logs/reg_fit.csv
    (bench/logs/reg_fit_wgmma.csv: the same with wgmma, the sm_90 default;
    ALIGNED=1 SPARSE=1: the aligned variant, and block_sparse_fwd too)
"""
import concurrent.futures as cf
import itertools
import json
import os
import re
import subprocess
import sys

TILEC = sys.argv[1] if len(sys.argv) > 1 else "build/tilec"
LIB = "lib/attention"
ARCH = "sm_90"
FWD_BM = [32, 64, 128, 256]
FWD_BN = [16, 32, 64, 128]
BWD = [(32, 32), (32, 64), (64, 32), (64, 64), (128, 16), (128, 32), (16, 128), (32, 128)]
# ALIGNED=1: the variant of aligned tensors (unit last stride, 16-byte rows), which the
# runtime compiles for such launches: the one the fit since session 8 is on.
ALIGNED = os.environ.get("ALIGNED", "0") == "1"
# SPARSE=1: block_sparse_fwd too (BM=128, BN=64/128, D=64/128, 4/8 warps).
SPARSE = os.environ.get("SPARSE", "0") == "1"


def configs():
    for d, w in itertools.product([64, 128], [4, 8]):
        for bm, bn in itertools.product(FWD_BM, FWD_BN):
            yield ("flash_fwd.tile", "flash_fwd", {"D": d, "BM": bm, "BN": bn}, w)
        for (bm, bn), k in itertools.product(BWD, ["flash_bwd_dq", "flash_bwd_dkdv"]):
            yield ("flash_bwd.tile", k, {"D": d, "BM": bm, "BN": bn}, w)
    for b, w in itertools.product([32, 64, 128], [4, 8]):
        yield ("lightning2.tile", "lightning2", {"D": 128, "E": 128, "B": b}, w)
    for d, bn, w in itertools.product([64, 128], [64, 128], [4, 8]):
        if SPARSE:
            yield ("block_sparse.tile", "block_sparse_fwd", {"D": d, "BM": 128, "BN": bn}, w)


def run(cfg):
    path, kernel, defs, warps = cfg
    args = [TILEC, f"{LIB}/{path}", "-k", kernel, "--arch", ARCH, "--warps", str(warps),
            "--stages", "2"] + (["--aligned"] if ALIGNED else [])
    for k, v in defs.items():
        args += ["-D", f"{k}={v}"]
    ex = subprocess.run(args + ["--explain=json"], capture_output=True, text=True)
    try:
        c = json.loads(ex.stdout)["candidates"]
        c = [x for x in c if x["stages"] == 2][0]
        facts = (c["live_tile_registers"], c["scheduled_live_registers"], c["fragment_registers"],
                 c["loop_dots"], c["loop_wgmma_dots"], int(c["dot_operand_in_registers"]), c["registers"])
    except (ValueError, KeyError, IndexError):
        return None
    px = subprocess.run(args + ["--ptxas"], capture_output=True, text=True)
    m = re.search(r"registers (\d+).*spill stores (\d+) bytes, spill loads (\d+)", px.stdout + px.stderr)
    if not m:
        return None
    return (kernel, " ".join(f"{k}={v}" for k, v in defs.items()), warps) + facts + (
        int(m.group(1)), int(m.group(2)) + int(m.group(3)))


def main():
    print("kernel,defines,warps,live_tile,live_sched,frag,dots,wgmma_dots,in_regs,model_regs,ptxas_regs,spill_bytes")
    with cf.ThreadPoolExecutor(2) as ex:
        for r in ex.map(run, list(configs())):
            if r:
                print(",".join(str(x) for x in r), flush=True)


if __name__ == "__main__":
    main()
