#!/usr/bin/env python3
"""Register-model calibration data (CPU only: tilec + ptxas).

For each library kernel and schedule below, records the scheduler's two
live-register counts (tilec --explain=json: tile IR and pipelined scheduled
IR) next to what ptxas -v assigns (registers, spill bytes).  The model in
compiler/sched_model.c (sched_predict_regs) is fitted on this table; rerun
it after a codegen change:

    python3 bench/reg_fit.py build/tilec > bench/logs/reg_fit.csv
"""
import concurrent.futures as cf
import itertools
import json
import re
import subprocess
import sys

TILEC = sys.argv[1] if len(sys.argv) > 1 else "build/tilec"
LIB = "lib/attention"
ARCH = "sm_90"
TILES = [32, 64, 128]


def configs():
    for d, (bm, bn), w in itertools.product([64, 128], itertools.product(TILES, TILES), [4, 8]):
        for k in ["flash_fwd", "flash_fwd_causal"]:
            yield ("flash_fwd.tile", k, {"D": d, "BM": bm, "BN": bn}, w)
        for k in ["flash_bwd_dq", "flash_bwd_dkdv"]:
            if bm <= 64 and bn <= 64:
                yield ("flash_bwd.tile", k, {"D": d, "BM": bm, "BN": bn}, w)
    for b, w in itertools.product([32, 64, 128], [4, 8]):
        yield ("lightning2.tile", "lightning2", {"D": 128, "E": 128, "B": b}, w)


def run(cfg):
    path, kernel, defs, warps = cfg
    args = [TILEC, f"{LIB}/{path}", "-k", kernel, "--arch", ARCH, "--warps", str(warps),
            "--stages", "2"]
    for k, v in defs.items():
        args += ["-D", f"{k}={v}"]
    ex = subprocess.run(args + ["--explain=json"], capture_output=True, text=True)
    try:
        c = json.loads(ex.stdout)["candidates"]
        c = [x for x in c if x["stages"] == 2][0]
        live, slive = c["live_tile_registers"], c["scheduled_live_registers"]
    except (ValueError, KeyError, IndexError):
        return None
    px = subprocess.run(args + ["--ptxas"], capture_output=True, text=True)
    m = re.search(r"registers (\d+).*spill stores (\d+) bytes, spill loads (\d+)", px.stdout + px.stderr)
    if not m:
        return None
    return (kernel, " ".join(f"{k}={v}" for k, v in defs.items()), warps, live, slive,
            int(m.group(1)), int(m.group(2)) + int(m.group(3)))


def main():
    print("kernel,defines,warps,live_tile,live_sched,ptxas_regs,spill_bytes")
    with cf.ThreadPoolExecutor(2) as ex:
        for r in ex.map(run, list(configs())):
            if r:
                print(",".join(str(x) for x in r), flush=True)


if __name__ == "__main__":
    main()
