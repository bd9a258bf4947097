#!/bin/sh
# The default score modifier leaves the FlashAttention kernels' IR unchanged:
# each tests/score_identity/KERNEL[.VARIANT].ir must equal `tilec --emit=ir`
# of that kernel now, once the consts entries `score=identity_score` and
# `score_grad=no_score_grad` (what the two parameters add to the printed
# form) are dropped.  See
# tests/score_identity/README.  Usage: run_score_identity.sh TILEC [--update]
# Tile sizes are pinned so that the reference (written by a tilec built
# from the tree before the score parameter, with --update) does not depend
# on the scheduler's choice.
tilec=${1:?usage: run_score_identity.sh path/to/tilec [--update]}
update=$2
here=$(cd "$(dirname "$0")" && pwd)
dir=$here/score_identity
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
printf 'import "attention/flash_fwd.tile";\n' >"$tmp/fwd.tile"
printf 'import "attention/flash_bwd.tile";\n' >"$tmp/bwd.tile"
pass=0 fail=0
# check NAME FILE FLAGS...
check() {
    name=$1 file=$2
    shift 2
    if ! "$tilec" "$tmp/$file" --emit=ir "$@" >"$tmp/out.raw" 2>"$tmp/err"; then
        echo "FAIL $name: tilec failed"; cat "$tmp/err"; fail=$((fail + 1)); return
    fi
    sed -e 's/, score=identity_score//' -e 's/, score_grad=no_score_grad//' "$tmp/out.raw" >"$tmp/out"
    if [ "$update" = --update ]; then cp "$tmp/out" "$dir/$name.ir"; fi
    if diff -u "$dir/$name.ir" "$tmp/out"; then
        pass=$((pass + 1))
    else
        echo "FAIL $name: the IR changed"; fail=$((fail + 1))
    fi
}
for k in flash_fwd flash_fwd_causal flash_fwd_document_causal flash_fwd_streaming; do
    check $k fwd.tile -k $k -D D=64 -D BM=32 -D BN=32
done
check flash_fwd_causal.f16 fwd.tile -k flash_fwd_causal -D D=128 -D T=f16 -D BM=32 -D BN=32
for k in flash_bwd_dq flash_bwd_dkdv flash_bwd_dq_causal flash_bwd_dkdv_causal; do
    check $k bwd.tile -k $k -D D=64 -D BM=32 -D BN=32
done
echo "score_identity: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
