#!/usr/bin/env bash
# sass_check.sh - ptxas -v and the SASS instruction mix of the main library
# kernels at the benchmarked shapes, with the scheduler's default schedule
# (needs tilec, ptxas and cuobjdump or nvdisasm: the GPU machine's CUDA).
#     bench/sass_check.sh [TILEC]      (default build-gpu/tilec)
# Writes each kernel's SASS to $OUT/sass/ and prints a table per kernel
# (bench/sass_mix.py).
set -uo pipefail
cd "$(dirname "$0")/.."
tilec=${1:-build-gpu/tilec}
out=${OUT:-/tmp}/sass
mkdir -p "$out"
cuda=${CUDA_HOME:-/usr/local/cuda}
ptxas=$(command -v ptxas || echo "$cuda/bin/ptxas")
dis=$(command -v cuobjdump || echo "$cuda/bin/cuobjdump")
if [ ! -x "$ptxas" ] || [ ! -x "$dis" ]; then
    echo "sass_check: skipped: needs ptxas and cuobjdump ($ptxas, $dis)"
    exit 0
fi
attn="-D T=bf16 -D Z=4 -D H=16 -D HK=16 -D M=4096 -D N=4096"
while read -r name file kernel defs; do
    [ -z "$name" ] && continue
    # shellcheck disable=SC2086
    if ! "$tilec" "lib/attention/$file" -k "$kernel" ${defs//@ATTN@/$attn} --aligned --emit=ptx > "$out/$name.ptx" 2> "$out/$name.err"; then
        echo "$name: tilec failed: $(head -3 "$out/$name.err")"
        continue
    fi
    arch=sm_90; grep -q "^\.target sm_90a" "$out/$name.ptx" && arch=sm_90a
    "$ptxas" -arch=$arch -v -o "$out/$name.cubin" "$out/$name.ptx" 2>&1 | grep -E 'registers|spill' | tr '\n' ' '
    echo
    "$dis" -sass "$out/$name.cubin" > "$out/$name.sass"
    python3 bench/sass_mix.py --name "$name" < "$out/$name.sass"
done <<'LIST'
fwd64 flash_fwd.tile flash_fwd @ATTN@ -D D=64
fwd128 flash_fwd.tile flash_fwd @ATTN@ -D D=128
fwd128c flash_fwd.tile flash_fwd_causal @ATTN@ -D D=128
dq128 flash_bwd.tile flash_bwd_dq @ATTN@ -D D=128
dkdv128 flash_bwd.tile flash_bwd_dkdv @ATTN@ -D D=128
decode decode.tile decode_gqa -D T=bf16 -D Z=1 -D H=32 -D HK=8 -D D=128 -D G=4 -D PS=16 -D S=16 -D NS=524288 -D MAXP=2048
LIST
