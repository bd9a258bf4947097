#!/usr/bin/env bash
# ab_check.sh - one benchmark, two builds, one device call: an A/B that does
# not compare across machines or calls (they differ by up to 5%).
#
#   A=build-gpu-old B=build-gpu bench/ab_check.sh [bench_attn.py options]
#   A=build-gpu B=build-gpu A_ENV="TILE_PROGRAM_ORDER=0" bench/ab_check.sh ...
#
# A_ENV / B_ENV (optional): NAME=VALUE words set for that build's runs only,
# for an A/B of one build under a compiler switch.
# A and B are packs (bench/pack_gpu.sh), each beside the library it was
# built with in PACK/lib (else the tree's lib/); a PACK.txz in build-pack/ is
# unpacked first.  bench_attn.py runs A, then B, then A again: the repeat
# shows how far the machine drifts within the call, and the table (last)
# gives each tile row of B against the mean of the two A runs.  Each build
# compiles into its own cache.  Logs: $OUT/ab_A.log, ab_B.log, ab_A2.log.
set -uo pipefail
cd "$(dirname "$0")/.."
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
A=${A:?A=PACK of the baseline}
B=${B:?B=PACK of the change}
OUT=${OUT:-/tmp}
for p in "$A" "$B"; do
    if [ ! -d "$p" ] && [ -f "build-pack/$p.txz" ]; then tar xJf "build-pack/$p.txz"; fi
    [ -f "$p/libtile.so" ] || { echo "ab_check: no $p/libtile.so"; exit 2; }
done
run() { # run TAG PACK ENV [options]
    local tag=$1 pack=$2 vars=$3 lib="$PWD/lib"
    shift 3
    [ -d "$pack/lib" ] && lib="$PWD/$pack/lib"
    echo "== $tag: $pack (library $lib) ${vars}"
    # shellcheck disable=SC2086 # vars: NAME=VALUE words
    env $vars TILE_LIB="$lib" TILE_CACHE_DIR="/tmp/ab-cache-$tag" PYTHONUNBUFFERED=1 \
        python3 bench/bench_attn.py --lib "$pack/libtile.so" "$@" 2>&1 | tee "$OUT/ab_$tag.log"
}
run A "$A" "${A_ENV:-}" "$@"
run B "$B" "${B_ENV:-}" "$@"
run A2 "$A" "${A_ENV:-}" "$@"
python3 - "$OUT/ab_A.log" "$OUT/ab_B.log" "$OUT/ab_A2.log" <<'EOF'
import re, sys
row = re.compile(r'^(\w+)\s+(.*\S)\s+(\S+)\s+([0-9.]+) (TFLOP/s|GB/s|Mtok/s)')
def rows(path):
    out = {}
    for line in open(path):
        m = row.match(line)
        if m:
            shape, who = m.group(2).strip(), m.group(3)
            head, _, last = shape.rpartition(" ")
            if last.startswith("tile-"):      # "tile-chain CH=256": a contender of two words
                shape, who = head, last + " " + who
            out[(m.group(1), shape, who)] = float(m.group(4))
    return out
a, b, a2 = (rows(p) for p in sys.argv[1:4])
print("== ab_check: tile, B against the mean of A and A2 (same call)")
print(f"{'kernel':8} {'shape':34} {'who':18} {'A':>8} {'B':>8} {'A2':>8} {'B/A':>6}   peer (B run)")
for key in b:
    kind, shape, who = key
    if not who.startswith("tile") or key not in a:
        continue
    base = (a[key] + a2.get(key, a[key])) / 2
    name = "sdpa-flash" if (kind, shape, "sdpa-flash") in b else "flex"
    peer = b.get((kind, shape, name))
    ptxt = f"{name} {peer:.1f} (B x{b[key] / peer:.2f})" if peer else ""
    print(f"{kind:8} {shape:34} {who:18} {a[key]:8.1f} {b[key]:8.1f} {a2.get(key, float('nan')):8.1f} "
          f"{b[key] / base:6.3f}   {ptxt}")
EOF
