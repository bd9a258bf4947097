#!/bin/sh
# check_library_doc.sh TILEC - docs/library.md must be what `tilec doc`
# generates from lib/attention/*.tile and tests/test_lib_*.c, every library
# file must be covered by a `Tested (NAME.tile):` statement, and every
# example command (`// $ build/tilec ...` lines of the library; `///` reads
# as `//`) must succeed.
# Run from the repository root (CTest does).
set -u
tilec=$1
regen="build/tilec doc -o docs/library.md lib/attention/*.tile tests/test_lib_*.c"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
status=0

LC_ALL=C
export LC_ALL
if ! "$tilec" doc -o "$tmp/library.md" lib/attention/*.tile tests/test_lib_*.c; then
    echo "FAIL: tilec doc failed (the library's doc conventions: see docs/library.md)"
    exit 1
fi
if ! diff -u docs/library.md "$tmp/library.md"; then
    echo "FAIL: docs/library.md is out of date (diff above: - the page, + the files)."
    echo "      Regenerate it from the repository root with: $regen"
    status=1
fi
if grep -n "No library test states what it covers" "$tmp/library.md"; then
    echo "FAIL: a library file above has no 'Tested (NAME.tile):' statement in tests/test_lib_*.c"
    status=1
fi

# The commands run where `build/tilec` and `lib/` resolve, writing into a
# scratch folder.
mkdir -p "$tmp/run/build"
ln -s "$(cd "$(dirname "$tilec")" && pwd)/$(basename "$tilec")" "$tmp/run/build/tilec"
ln -s "$(pwd)/lib" "$tmp/run/lib"
ncmd=0
for f in lib/attention/*.tile; do
    grep '^///\{0,1\} \$ ' "$f" | sed 's|^///\{0,1\} \$ ||' > "$tmp/cmds"
    if [ ! -s "$tmp/cmds" ] && grep -q '^kernel ' "$f"; then
        echo "FAIL: $f has kernels but no example command ('// \$ build/tilec ...')"
        status=1
    fi
    while IFS= read -r cmd; do
        ncmd=$((ncmd + 1))
        if ! (cd "$tmp/run" && eval "$cmd") > "$tmp/out" 2>&1; then
            echo "FAIL: example command of $f failed:"
            echo "  $cmd"
            sed 's/^/    /' "$tmp/out" | head -20
            status=1
        fi
    done < "$tmp/cmds"
done
echo "library_doc: page up to date: $([ $status = 0 ] && echo yes || echo no); $ncmd example commands run"
exit $status
