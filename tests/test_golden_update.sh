#!/bin/sh
# run_golden.sh's update mode: a stale .err fails without it, is rewritten
# with it (and listed), and then passes; a wrong exit status is never
# "updated" away.  Usage: test_golden_update.sh path/to/run_golden.sh path/to/tilec
runner=${1:?} tilec=${2:?}
dir=$(mktemp -d /tmp/tile_golden_update.XXXXXX) || exit 1
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
printf 'kernel k(y: out tensor<f32>[4]) grid(1) { store(y[arange(4)], rosw); }\n' >stale.tile
printf 'stale.tile:1:1: error: an old message\n' >stale.err
printf 'kernel k(y: out tensor<f32>[4]) grid(1) { store(y[arange(4)], 1.0); }\n' >fine.tile
printf 'nothing\n' >fine.err            # checks cleanly: exit 0, not 1
fail() { echo "FAIL: $*"; exit 1; }
sh "$runner" "$tilec" >out.txt 2>&1 && fail "a stale .err passed"
grep -q 'FAIL stale' out.txt || fail "the stale .err is not reported"
TILE_GOLDEN_UPDATE=1 sh "$runner" "$tilec" >out.txt 2>&1 && fail "a wrong exit status was updated away"
grep -q 'UPDATED stale.err' out.txt || fail "stale.err not listed as updated"
grep -q "unknown name 'rosw'" stale.err || fail "stale.err not rewritten"
grep -q 'nothing' fine.err || fail "fine.err rewritten despite the wrong exit status"
rm fine.tile fine.err
sh "$runner" "$tilec" >out.txt 2>&1 || fail "the updated .err does not pass: $(cat out.txt)"
printf 'stale.tile:1:1: error: an old message\n' >stale.err
sh "$runner" --update "$tilec" >out.txt 2>&1 || fail "--update failed"
sh "$runner" "$tilec" >out.txt 2>&1 || fail "--update did not rewrite"
echo "golden update mode: ok"
