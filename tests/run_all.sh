#!/usr/bin/env bash
# run_all.sh - every test tile has, in the order CI runs them:
#   1. the suite (CTest: CMocka unit tests, golden files, library programs on
#      the interpreter) on build/;
#   2. the same suite built with AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. valgrind (memcheck) over tilec compiling and running one small kernel
#      of each library file on the interpreter: uninitialised reads, which
#      ASan and UBSan cannot see;
#   4. the front-end fuzzer (libFuzzer, clang) for a bounded time over a seed
#      corpus made of the library, the test programs and a few .npy files,
#      then the IR-reader fuzzer over the golden .ir files
#      (TILE_FUZZ_IR_SECONDS, default 60).
# Counts are test cases, not executables: each CMocka test inside an
# executable, each golden file, each valgrind run, the fuzz run.  A CTest
# test that exits 77 is skipped (it needs what this machine lacks, e.g. a
# GPU) and should print `skip: REASON` first; the reasons are listed.  The
# last line is the one CI parses:  tile: N passed, N failed, N skipped
# Assumes tests/setup.sh ran (the README's command does both).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
fuzz_seconds=${TILE_FUZZ_SECONDS:-300}
fuzz_ir_seconds=${TILE_FUZZ_IR_SECONDS:-60}
log=$(mktemp)
work=$(mktemp -d)
trap 'rm -rf "$log" "$work"' EXIT

passed=0 failed=0 skipped=0
breakdown=""   # "what: N passed, N failed; ..." for the line before the last
reasons=""     # one line per skip reason

# Adds the test cases of the verbose ctest run in $log (-V prefixes each
# output line with the test's number) to the totals, under label $1.  A
# CMocka executable counts its tests; the golden runner its files; an
# executable that failed without a summary (a crash) counts as one failure.
count_ctest() {
    local label=$1 p f s
    read -r p f s < <(sed -nE \
        -e 's/^([0-9]+): \[  PASSED  \] ([0-9]+) test.*/\1 pass \2/p' \
        -e 's/^([0-9]+): \[  FAILED  \] ([0-9]+) test.*/\1 fail \2/p' \
        -e 's/^([0-9]+): \[  SKIPPED \] ([0-9]+) test.*/\1 skip \2/p' \
        -e 's/^([0-9]+): golden: ([0-9]+) passed, ([0-9]+) failed.*/\1 golden \2 \3/p' \
        -e 's/.*Test +#([0-9]+): .*Skipped.*/\1 exe_skipped 0/p' \
        -e 's/.*Test +#([0-9]+): .*(\*\*\*Failed|\*\*\*Exception|\*\*\*Timeout|Not Run).*/\1 exe_failed 0/p' \
        "$log" | awk '
        $2 == "pass"   { pass[$1] += $3; seen[$1] = 1 }
        $2 == "fail"   { fail[$1] += $3; seen[$1] = 1 }
        $2 == "skip"   { skip[$1] += $3; seen[$1] = 1 }
        $2 == "golden" { pass[$1] += $3; fail[$1] += $4; seen[$1] = 1 }
        $2 == "exe_skipped" { exe_skipped[$1] = 1 }
        $2 == "exe_failed"  { exe_failed[$1] = 1 }
        END {
            for (t in exe_failed) if (!fail[t]) fail[t] = 1
            for (t in exe_skipped) if (!seen[t]) skip[t] = 1
            for (t in pass) P += pass[t]
            for (t in fail) F += fail[t]
            for (t in skip) S += skip[t]
            print P + 0, F + 0, S + 0
        }')
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
    breakdown="$breakdown${breakdown:+; }$label: $p passed, $f failed, $s skipped"
    local why
    why=$(sed -nE 's/^[0-9]+: skip: (.*)$/\1/p' "$log" | sort -u)
    [ -n "$why" ] && reasons="$reasons$(printf '%s\n' "$why" | sed "s/^/  $label skipped: /")"$'\n'
    return 0
}

echo "== tests (build/)"
ctest --test-dir build -V -j"$jobs" >"$log" 2>&1 || true
grep -E '^[0-9]+/[0-9]+ Test|tests passed|^[0-9]+: \[  (FAILED|ERROR) ' "$log" || true
count_ctest "unit+golden+library"

echo "== tests under ASan+UBSan (build-asan/)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTILE_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan -V -j"$jobs" >"$log" 2>&1 || true
grep -E '^[0-9]+/[0-9]+ Test|tests passed|^[0-9]+: \[  (FAILED|ERROR) ' "$log" || true
count_ctest "asan+ubsan"

echo "== valgrind over the library on the interpreter (build/)"
# .npy files for block_sparse's i32 inputs: a v1.0 header padded so that
# preamble (10 bytes) + header is a multiple of 64.
npy_i32() { # path shape little-endian-bytes(printf escapes)
    local hdr="{'descr': '<i4', 'fortran_order': False, 'shape': $2, }"
    local hlen=$(( ((10 + ${#hdr} + 1 + 63) / 64) * 64 - 10 ))
    { printf '\223NUMPY\001\000'; printf "\\$(printf %03o $((hlen % 256)))\\$(printf %03o $((hlen / 256)))"
      printf '%s%*s\n' "$hdr" $((hlen - ${#hdr} - 1)) ''; printf "$3"; } >"$1"
}
npy_i32 "$work/kv_idx.npy" '(1, 1, 2, 2)' '\000\000\000\000\001\000\000\000\001\000\000\000\000\000\000\000'
npy_i32 "$work/kv_cnt.npy" '(1, 1, 2)' '\001\000\000\000\002\000\000\000'
lib=lib/attention
vg_runs=(
    "$lib/flash_fwd.tile -k flash_fwd_causal -D D=16 -D Z=1 -D H=2 -D HK=1 -D M=20 -D N=24 -D scale=0.25"
    "$lib/flash_bwd.tile -k flash_bwd_dkdv_causal -D D=16 -D Z=1 -D H=1 -D HK=1 -D M=20 -D N=20 -D scale=0.25"
    "$lib/decode.tile -k decode_combine -D D=16 -D S=2 -D Z=1 -D H=2"
    "$lib/lightning2.tile -k lightning2 -D D=16 -D E=16 -D Z=1 -D H=1 -D N=20"
    "$lib/block_sparse.tile -k block_sparse_fwd_causal -D D=16 -D BM=4 -D BN=4 -D M=8 -D N=8 -D HK=1 -D scale=0.25 --in kv_idx=$work/kv_idx.npy --in kv_cnt=$work/kv_cnt.npy"
    "$lib/masks.tile -k check_kv_range -D mask=causal -D kv_range=causal_range -D M=40 -D N=40"
)
vg_pass=0 vg_fail=0
if command -v valgrind >/dev/null; then
    for run in "${vg_runs[@]}"; do
        # shellcheck disable=SC2086
        if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
                build/tilec run $run --interp --random 1 --out-dir "$work/out" >"$log" 2>&1; then
            vg_pass=$((vg_pass + 1))
        else
            vg_fail=$((vg_fail + 1))
            echo "FAIL valgrind: tilec run $run"; tail -n 40 "$log"
        fi
    done
    echo "valgrind: $vg_pass passed, $vg_fail failed"
    breakdown="$breakdown; valgrind: $vg_pass passed, $vg_fail failed, 0 skipped"
else
    skipped=$((skipped + ${#vg_runs[@]}))
    breakdown="$breakdown; valgrind: 0 passed, 0 failed, ${#vg_runs[@]} skipped"
    reasons="$reasons  valgrind skipped: valgrind is not installed (tests/setup.sh installs it)"$'\n'
fi
passed=$((passed + vg_pass)) failed=$((failed + vg_fail))

echo "== fuzzing the front end, the interpreter and the .npy reader for ${fuzz_seconds}s (build-fuzz/)"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTILE_FUZZ=ON -DTILE_TESTS=OFF >/dev/null
cmake --build build-fuzz -j"$jobs" --target fuzz_frontend
corpus=build-fuzz/corpus
tests/fuzz/seed.sh "$corpus"
mkdir -p build-fuzz/crashes
if build-fuzz/tests/fuzz/fuzz_frontend -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
       -dict=tests/fuzz/tile.dict -artifact_prefix=build-fuzz/crashes/ -print_final_stats=1 \
       "$corpus" >"$log" 2>&1; then
    tail -n 25 "$log"
    echo "fuzz: no crash in ${fuzz_seconds}s"
    passed=$((passed + 1))
    breakdown="$breakdown; fuzz: 1 passed, 0 failed, 0 skipped"
else
    tail -n 60 "$log"
    echo "fuzz: FAILED (the input is in build-fuzz/crashes/)"
    failed=$((failed + 1))
    breakdown="$breakdown; fuzz: 0 passed, 1 failed, 0 skipped"
fi


echo "== fuzzing the IR reader for ${fuzz_ir_seconds}s (build-fuzz/)"
cmake --build build-fuzz -j"$jobs" --target fuzz_ir
tests/fuzz/seed.sh --ir build-fuzz/corpus-ir
if build-fuzz/tests/fuzz/fuzz_ir -max_total_time="$fuzz_ir_seconds" -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix=build-fuzz/crashes/ -print_final_stats=1 build-fuzz/corpus-ir >"$log" 2>&1; then
    tail -n 5 "$log"
    echo "fuzz_ir: no crash in ${fuzz_ir_seconds}s"
    passed=$((passed + 1))
    breakdown="$breakdown; fuzz_ir: 1 passed, 0 failed, 0 skipped"
else
    tail -n 60 "$log"
    echo "fuzz_ir: FAILED (the input is in build-fuzz/crashes/)"
    failed=$((failed + 1))
    breakdown="$breakdown; fuzz_ir: 0 passed, 1 failed, 0 skipped"
fi

[ -n "$reasons" ] && printf 'skipped:\n%s' "$reasons"
echo "($breakdown)"
echo "tile: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
