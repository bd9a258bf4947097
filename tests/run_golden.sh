#!/bin/sh
# Golden-file tests (cproc style): each NAME.tile here sits beside exactly
# one expected output:
#   NAME.err  `tilec check NAME.tile` must exit 1 and print exactly this on stderr
#   NAME.ir   `tilec NAME.tile --emit=ir [flags]` must print exactly this
#   NAME.ok   `tilec check NAME.tile` must succeed
# Optional NAME.flags holds extra tilec arguments (e.g. -k KERNEL -D D=64).
# Pass tests (.ir -> .ir) live in passes/: NAME.in.ir, NAME.flags (the
# `tilec opt` arguments, e.g. --passes=cse,dce) and the expected NAME.out.ir.
# Every .ir and passes/*.out.ir file must also read back unchanged (`tilec opt FILE`, no
# passes: print -> parse -> print is the identity; the .in.ir inputs are
# hand-written, with comments and names like %acc, and need not be).
#
# Update mode: `run_golden.sh TILEC --update` (or TILE_GOLDEN_UPDATE=1)
# rewrites the .err/.ir/.out.ir expectations with what tilec prints now, for
# review with `git diff` before committing.  A round-trip difference is never
# "updated": it is a bug in the reader or the printer.
# Run from tests/golden so paths in diagnostics are stable.
tilec=${1:?usage: run_golden.sh path/to/tilec [--update]}
update=${TILE_GOLDEN_UPDATE:-0}
[ "${2:-}" = "--update" ] && update=1
out="/tmp/golden.$$.out" dif="/tmp/golden.$$.diff"
pass=0 fail=0 updated=0

# check NAME EXPECTED RC WANT_RC: compares $out with EXPECTED.
check() {
    if [ "$3" -eq "$4" ] && diff -u "$2" "$out" >"$dif" 2>&1; then
        pass=$((pass + 1))
    elif [ "$update" = 1 ] && [ "$3" -eq "$4" ]; then
        cp "$out" "$2"; updated=$((updated + 1)); echo "UPDATED $2"
    else
        fail=$((fail + 1))
        echo "FAIL $1 (exit $3)"; cat "$dif" 2>/dev/null; [ "$3" -eq "$4" ] || cat "$out"
    fi
}

for t in *.tile; do
    name=${t%.tile}
    flags=
    [ -f "$name.flags" ] && flags=$(cat "$name.flags")
    if [ -f "$name.err" ]; then
        # shellcheck disable=SC2086
        "$tilec" check "$t" $flags >/dev/null 2>"$out"
        check "$name" "$name.err" $? 1
    elif [ -f "$name.ir" ]; then
        # shellcheck disable=SC2086
        "$tilec" "$t" --emit=ir $flags >"$out" 2>&1
        check "$name" "$name.ir" $? 0
    elif [ -f "$name.ok" ]; then
        # shellcheck disable=SC2086
        if "$tilec" check "$t" $flags >"$out" 2>&1; then
            pass=$((pass + 1))
        else
            fail=$((fail + 1)); echo "FAIL $name (expected to check cleanly)"; cat "$out"
        fi
    else
        fail=$((fail + 1))
        echo "FAIL $name: no $name.err, $name.ir or $name.ok beside it"
    fi
done

for t in passes/*.in.ir; do
    [ -f "$t" ] || continue
    name=${t%.in.ir}
    flags=
    [ -f "$name.flags" ] && flags=$(cat "$name.flags")
    if [ ! -f "$name.out.ir" ] && [ "$update" != 1 ]; then
        fail=$((fail + 1)); echo "FAIL $name: no $name.out.ir beside it"; continue
    fi
    # shellcheck disable=SC2086
    "$tilec" opt "$t" $flags >"$out" 2>&1
    check "$name" "$name.out.ir" $? 0
done

for f in *.ir passes/*.out.ir; do
    [ -f "$f" ] || continue
    "$tilec" opt "$f" >"$out" 2>&1
    rc=$?
    if [ $rc -eq 0 ] && diff -u "$f" "$out" >"$dif"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1)); echo "FAIL round trip of $f (exit $rc)"; cat "$dif"; cat "$out"
    fi
done

rm -f "$out" "$dif"
msg=; [ "$update" = 1 ] && msg=", $updated updated"
echo "golden: $pass passed, $fail failed$msg"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
