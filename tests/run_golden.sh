#!/bin/sh
# Golden-file tests (cproc style): each NAME.tile here sits beside exactly
# one expected output:
#   NAME.err  `tilec check NAME.tile` must exit 1 and print exactly this on stderr
#   NAME.ir   `tilec NAME.tile --emit=ir [flags]` must print exactly this
#   NAME.ptx.grep  `tilec NAME.tile --emit=ptx [flags]` must match every line
#             (grep -E; a line '!PATTERN' must not match; '#' comments)
# Optional NAME.flags holds extra tilec arguments (e.g. -k KERNEL -D D=64).
# Run from tests/golden so paths in diagnostics are stable.
tilec=${1:?usage: run_golden.sh path/to/tilec}
pass=0 fail=0
for t in *.tile; do
    name=${t%.tile}
    flags=
    [ -f "$name.flags" ] && flags=$(cat "$name.flags")
    if [ -f "$name.err" ]; then
        # shellcheck disable=SC2086
        "$tilec" check "$t" $flags >/dev/null 2>"/tmp/golden.$$.out"
        rc=$?
        if [ $rc -eq 1 ] && diff -u "$name.err" "/tmp/golden.$$.out" >"/tmp/golden.$$.diff"; then
            pass=$((pass + 1))
        else
            fail=$((fail + 1))
            echo "FAIL $name (exit $rc)"; cat "/tmp/golden.$$.diff"
        fi
    elif [ -f "$name.ir" ]; then
        # shellcheck disable=SC2086
        "$tilec" "$t" --emit=ir $flags >"/tmp/golden.$$.out" 2>&1
        rc=$?
        if [ $rc -eq 0 ] && diff -u "$name.ir" "/tmp/golden.$$.out" >"/tmp/golden.$$.diff"; then
            pass=$((pass + 1))
        else
            fail=$((fail + 1))
            echo "FAIL $name (exit $rc)"; cat "/tmp/golden.$$.diff"
        fi
    elif [ -f "$name.ok" ]; then
        # shellcheck disable=SC2086
        if "$tilec" check "$t" $flags >"/tmp/golden.$$.out" 2>&1; then
            pass=$((pass + 1))
        else
            fail=$((fail + 1)); echo "FAIL $name (expected to check cleanly)"; cat "/tmp/golden.$$.out"
        fi
    elif [ -f "$name.ptx.grep" ]; then
        # Each line a pattern (grep -E) the PTX must contain; '!PATTERN'
        # must not occur.  flags hold -k KERNEL and any --arch/-D.
        # shellcheck disable=SC2086
        if "$tilec" "$t" --emit=ptx $flags >"/tmp/golden.$$.out" 2>&1; then
            ok=1
            while IFS= read -r pat; do
                [ -z "$pat" ] && continue
                case $pat in
                '#'*) ;;
                '!'*) if grep -Eq -- "${pat#!}" "/tmp/golden.$$.out"; then ok=0; echo "FAIL $name: PTX contains '${pat#!}'"; fi ;;
                *) if ! grep -Eq -- "$pat" "/tmp/golden.$$.out"; then ok=0; echo "FAIL $name: PTX lacks '$pat'"; fi ;;
                esac
            done <"$name.ptx.grep"
            if [ $ok -eq 1 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
        else
            fail=$((fail + 1)); echo "FAIL $name (tilec --emit=ptx failed)"; cat "/tmp/golden.$$.out"
        fi
    else
        fail=$((fail + 1))
        echo "FAIL $name: no $name.err, $name.ir, $name.ok or $name.ptx.grep beside it"
    fi
done
rm -f "/tmp/golden.$$.out" "/tmp/golden.$$.diff"
echo "golden: $pass passed, $fail failed"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
