#!/bin/sh
# Golden-file tests (cproc style): each NAME.tile here sits beside exactly
# one expected output:
#   NAME.err  `tilec check NAME.tile` must exit 1 and print exactly this on stderr
#   NAME.ir   `tilec NAME.tile --emit=ir [flags]` must print exactly this
#   NAME.ok   `tilec check NAME.tile` must exit 0
#   NAME.ptx.grep  `tilec NAME.tile --emit=ptx [flags]` must match every line
#             (grep -E; a line '!PATTERN' must not match; '=N PATTERN' must
#             match exactly N lines; '#' comments)
# Optional NAME.flags holds extra tilec arguments (e.g. -k KERNEL -D D=64);
# optional NAME.env environment settings for that run (e.g. TILE_WGMMA=1),
# for .ptx.grep tests and pass tests.
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
#
# Update mode (`run_golden.sh --update path/to/tilec`, or
# TILE_GOLDEN_UPDATE=1): every .err and .ir that differs is rewritten with
# what tilec printed now, and listed, for review with `git diff`; an
# expected exit status that is wrong is still a failure (nothing to write).
update=${TILE_GOLDEN_UPDATE:-0}
if [ "$1" = "--update" ]; then
    update=1
    shift
fi
tilec=${1:?usage: run_golden.sh [--update] path/to/tilec}
pass=0 fail=0 updated=0
out="/tmp/golden.$$.out" diffs="/tmp/golden.$$.diff"

# compare NAME EXPECTED RC WANT_RC: diff the output against EXPECTED.
compare() {
    if [ "$3" -eq "$4" ] && diff -u "$2" "$out" >"$diffs"; then
        pass=$((pass + 1))
    elif [ "$3" -eq "$4" ] && [ "$update" = 1 ]; then
        cp "$out" "$2"
        updated=$((updated + 1))
        echo "UPDATED $2"
    else
        fail=$((fail + 1))
        echo "FAIL $1 (exit $3, expected $4)"; cat "$diffs"
    fi
}

for t in *.tile; do
    name=${t%.tile}
    flags=
    [ -f "$name.flags" ] && flags=$(cat "$name.flags")
    : >"$diffs"
    if [ -f "$name.err" ]; then
        # shellcheck disable=SC2086
        "$tilec" check "$t" $flags >/dev/null 2>"$out"
        compare "$name" "$name.err" $? 1
    elif [ -f "$name.ir" ]; then
        # shellcheck disable=SC2086
        "$tilec" "$t" --emit=ir $flags >"$out" 2>&1
        compare "$name" "$name.ir" $? 0
    elif [ -f "$name.sched.err" ]; then
        # a schedule that cannot fit: tilec --emit=sched fails with exactly
        # these diagnostics (flags hold -k KERNEL and any -D/--warps)
        # shellcheck disable=SC2086
        "$tilec" "$t" --emit=sched $flags >/dev/null 2>"$out"
        compare "$name" "$name.sched.err" $? 1
    elif [ -f "$name.explain" ]; then
        # tilec --explain's table, without its timing line
        # shellcheck disable=SC2086
        "$tilec" "$t" --explain $flags 2>&1 | grep -v '^scheduled in ' >"$out"
        compare "$name" "$name.explain" 0 0
    elif [ -f "$name.ok" ]; then
        # shellcheck disable=SC2086
        if "$tilec" check "$t" $flags >"$out" 2>&1; then
            pass=$((pass + 1))
        else
            fail=$((fail + 1)); echo "FAIL $name (expected to check cleanly)"; cat "$out"
        fi
    elif [ -f "$name.ptx.grep" ]; then
        # Each line a pattern (grep -E) the PTX must contain; '!PATTERN'
        # must not occur.  flags hold -k KERNEL and any --arch/-D.
        envs=
        [ -f "$name.env" ] && envs=$(cat "$name.env")
        # shellcheck disable=SC2086
        if env $envs "$tilec" "$t" --emit=ptx $flags >"/tmp/golden.$$.out" 2>&1; then
            ok=1
            while IFS= read -r pat; do
                [ -z "$pat" ] && continue
                case $pat in
                '#'*) ;;
                '!'*) if grep -Eq -- "${pat#!}" "/tmp/golden.$$.out"; then ok=0; echo "FAIL $name: PTX contains '${pat#!}'"; fi ;;
                '='[0-9]*)
                    # '=N PATTERN': exactly N lines match
                    want=${pat%% *} re=${pat#* } want=${want#=}
                    got=$(grep -Ec -- "$re" "/tmp/golden.$$.out")
                    if [ "$got" != "$want" ]; then ok=0; echo "FAIL $name: PTX has $got lines matching '$re', expected $want"; fi ;;
                *) if ! grep -Eq -- "$pat" "/tmp/golden.$$.out"; then ok=0; echo "FAIL $name: PTX lacks '$pat'"; fi ;;
                esac
            done <"$name.ptx.grep"
            if [ $ok -eq 1 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
        else
            fail=$((fail + 1)); echo "FAIL $name (tilec --emit=ptx failed)"; cat "/tmp/golden.$$.out"
        fi
    else
        fail=$((fail + 1))
        echo "FAIL $name: no $name.err, $name.ir, $name.ok, $name.ptx.grep, $name.sched.err or $name.explain beside it"
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
    envs=
    [ -f "$name.env" ] && envs=$(cat "$name.env")
    # shellcheck disable=SC2086
    env $envs "$tilec" opt "$t" $flags >"$out" 2>&1
    compare "$name" "$name.out.ir" $? 0
done

for f in *.ir passes/*.out.ir; do
    [ -f "$f" ] || continue
    "$tilec" opt "$f" >"$out" 2>&1
    rc=$?
    if [ $rc -eq 0 ] && diff -u "$f" "$out" >"$diffs"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1)); echo "FAIL round trip of $f (exit $rc)"; cat "$diffs"; cat "$out"
    fi
done

rm -f "$out" "$diffs"
if [ "$update" = 1 ]; then
    echo "golden: $pass passed, $updated updated, $fail failed"
else
    echo "golden: $pass passed, $fail failed"
fi
[ $fail -eq 0 ] && [ $((pass + updated)) -gt 0 ]
