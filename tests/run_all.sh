#!/usr/bin/env bash
# run_all.sh - every test tile has, in the order CI runs them:
#   1. the suite (CTest: CMocka unit tests, golden files, library programs on
#      the interpreter, GPU tests that skip without a driver) on build/;
#   2. the same suite built with AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. the front-end fuzzer (libFuzzer, clang) for a bounded time over a seed
#      corpus made of the library and the test programs, then the IR-reader
#      fuzzer over the golden .ir files (TILE_FUZZ_IR_SECONDS, default 60).
# Assumes tests/setup.sh ran (the README's command does both).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
fuzz_seconds=${TILE_FUZZ_SECONDS:-300}
fuzz_ir_seconds=${TILE_FUZZ_IR_SECONDS:-60}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Adds the counts of the ctest run in $log to the totals (skips apart).
passed=0 failed=0 skipped=0
count() {
    local line total bad skip
    line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -n 1)
    total=${line##*out of }
    bad=$(echo "$line" | sed -E 's/.* ([0-9]+) tests failed.*/\1/')
    skip=$(grep -c '(Skipped)' "$log" || true)
    passed=$((passed + total - bad - skip))
    skipped=$((skipped + skip))
    failed=$((failed + bad))
}

echo "== tests (build/)"
ctest --test-dir build --output-on-failure -j"$jobs" 2>&1 | tee "$log"
count

echo "== tests under ASan+UBSan (build-asan/)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTILE_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs" 2>&1 | tee "$log"
count

echo "== fuzzing the front end for ${fuzz_seconds}s (build-fuzz/)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTILE_FUZZ=ON -DTILE_TESTS=OFF >/dev/null
cmake --build build-fuzz -j"$jobs" --target fuzz_frontend
corpus=build-fuzz/corpus
tests/fuzz/seed.sh "$corpus"
mkdir -p build-fuzz/crashes
build-fuzz/tests/fuzz/fuzz_frontend -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix=build-fuzz/crashes/ -print_final_stats=1 "$corpus" 2>&1 | tail -n 25
echo "fuzz: no crash in ${fuzz_seconds}s"
passed=$((passed + 1))

echo "== fuzzing the IR reader for ${fuzz_ir_seconds}s (build-fuzz/)"
cmake --build build-fuzz -j"$jobs" --target fuzz_ir
tests/fuzz/seed.sh --ir build-fuzz/corpus-ir
build-fuzz/tests/fuzz/fuzz_ir -max_total_time="$fuzz_ir_seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix=build-fuzz/crashes/ -print_final_stats=1 build-fuzz/corpus-ir 2>&1 | tail -n 5
echo "fuzz_ir: no crash in ${fuzz_ir_seconds}s"
passed=$((passed + 1))
echo "tile: $passed passed, $failed failed, $skipped skipped"
