#!/bin/sh
# run_tune_check_dry.sh SRCDIR: bench/tune_check.sh's table against a
# stand-in tilec (no GPU): every shape gets a row with the model's pick,
# its time, the best and the ratio parsed from `tilec tune`'s last line;
# a shape whose tune fails says FAILED; the tally counts ratios <= 1.10.
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/tilec" <<'FAKE'
#!/bin/sh
# 1.05x for forward D=64, 1.25x for forward D=128, a failure for dq
case "$*" in
*flash_bwd_dq*) echo "tilec: tune needs a GPU: none" >&2; exit 1;;
*"-D D=64 "*) r=1.05;;
*) r=1.25;;
esac
echo "tuning on the device: the model's choice first"
echo "  [1/2] BM=64,BN=64 w4 s2     predicted  100.0 us   measured  105.0 us   (the model's choice)"
echo "best: BM=128,BN=64 w8 s2, 100.0 us; the model's choice BM=64,BN=64 w4 s2, 105.0 us (${r}x the best)"
FAKE
chmod +x "$tmp/tilec"
out=$(FWD_LENGTHS=1024 BWD_LENGTHS=4096 DIMS="64 128" LOG="$tmp/log" bash "$src/bench/tune_check.sh" "$tmp/tilec" 2>&1)
fail=0
check() { printf '%s\n' "$out" | grep -qE "$1" || { echo "FAIL: no line matching: $1"; fail=1; }; }
check '^fwd L=1024 D=64 +BM=64,BN=64 w4 s2 +105\.0 BM=128,BN=64 w8 s2 +100\.0 +1\.05 '
check '^fwd causal L=1024 D=128 +BM=64,BN=64 w4 s2 +105\.0 BM=128,BN=64 w8 s2 +100\.0 +1\.25 '
check '^dq L=4096 D=64 +FAILED'
check '^dkdv L=4096 D=128 +BM=64'
check '^model within 10% of the best: 3 of 8 shapes; wall time [0-9]+ s'
check '   +\[1/2\] BM=64,BN=64 w4 s2'
[ $fail = 0 ] || printf '%s\n' "$out"
exit $fail
