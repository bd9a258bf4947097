#!/usr/bin/env bash
# check_layers.sh - the layering of docs/architecture.md, checked on the
# sources: no folder includes a header of a folder above it, and one include
# style (a header of the same folder by its bare name, any other by its path
# from the source root: "support/diag.h", never "../ir/ir.h").  examples/ and
# bench/ see only the public API (tile.h, tile_status.h); nothing in
# examples/ or lib/ depends on tests/.  CTest `layers`; exits 1 on a breach.
#
#   tests/check_layers.sh [SOURCE_DIR]
#   tests/check_layers.sh --selftest    each kind of breach, planted in a
#                                       scratch tree, must be caught
set -euo pipefail
if [ "${1:-}" = --selftest ]; then
  self=$(readlink -f "$0")
  scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
  plant() {  # plant FILE LINE: a clean tree plus LINE in FILE must fail
    rm -rf "$scratch/t"; mkdir -p "$scratch/t"/{support,ir,compiler,examples,lib}
    printf '/* clean */\n' > "$scratch/t/support/tile_status.h"
    printf '#include "support/tile_status.h"\n' > "$scratch/t/ir/ir.h"
    printf '#include "ir/ir.h"\n' > "$scratch/t/compiler/pipeline.h"
    "$self" "$scratch/t" 2>/dev/null || { echo "selftest: clean tree rejected" >&2; exit 1; }
    printf '%s\n' "$2" >> "$scratch/t/$1"
    if "$self" "$scratch/t" 2>/dev/null; then echo "selftest: missed $1: $2" >&2; exit 1; fi
  }
  plant ir/ir.h '#include "compiler/pipeline.h"'
  plant support/arena.h '#include "ir/ir.h"'
  plant compiler/pipeline.h '#include "../ir/ir.h"'
  plant ir/ir.h '#include "ir/other.h"'
  plant examples/demo.c '#include "ir/ir.h"'
  plant examples/demo.c '#include "ref/harness.h"'
  plant lib/a.tile 'import "../tests/golden/x.tile";'
  plant support/tile_status.h '#include "arena.h"'
  echo "selftest: 8 planted breaches caught"
  exit 0
fi
cd "${1:-$(dirname "$0")/..}"

# What each layer may include besides itself.
declare -A allowed=(
  [support]=""
  [ir]="support"
  [frontend]="support ir"
  [codegen]="support ir"
  [compiler]="support ir frontend codegen"
  [runtime]="support ir compiler"
)
# Bare names found on the include path rather than beside the includer:
# the bison/flex outputs, the runtime's generated version, the public API.
generated="parser.h lexer.h rt_version.h"
public="tile.h tile_status.h"

fail=0
breach() { echo "layers: $1" >&2; fail=1; }

for dir in support ir frontend codegen compiler runtime examples bench; do
  [ -d "$dir" ] || continue
  for f in "$dir"/*.[chly]; do
    [ -e "$f" ] || continue
    while IFS= read -r line; do
      inc=${line#*\"}; inc=${inc%%\"*}
      case "$inc" in
        ../*|./*) breach "$f: #include \"$inc\": relative path (use the path from the source root)"; continue ;;
        */*) ;;
        *)
          if [ "$dir" = examples ] || [ "$dir" = bench ]; then
            [[ " $public " == *" $inc "* ]] || [ -e "$dir/$inc" ] ||
              breach "$f: #include \"$inc\": examples and bench see only $public"
          elif [ "$f" = runtime/tile.h ] && [ "$inc" = tile_status.h ]; then
            :  # the public header names its sibling public header
          elif [ ! -e "$dir/$inc" ] && [[ " $generated " != *" $inc "* ]]; then
            breach "$f: #include \"$inc\": no such header in $dir/ (name another folder's header by its path from the root)"
          fi
          continue ;;
      esac
      top=${inc%%/*}
      [ "$top" = "$dir" ] && [ "$f" != frontend/parser.y ] &&
        breach "$f: #include \"$inc\": a header of the same folder goes by its bare name"
      [ "$top" = "$dir" ] && continue
      if [ "$dir" = examples ] || [ "$dir" = bench ]; then
        breach "$f: #include \"$inc\": examples and bench see only $public"
      elif [ "$f" = compiler/tilec.c ] && [ "$inc" = runtime/tile.h ]; then
        :  # the tilec executable sits above every library: `tilec tune` runs kernels through tile.h
      elif [[ " ${allowed[$dir]} " != *" $top "* ]]; then
        breach "$f: #include \"$inc\": $dir/ may include only from: ${allowed[$dir]:-(nothing)}"
      fi
    done < <(grep -h '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" || true)
  done
done

# The public status header stands alone: it includes nothing of tile.
if grep -q '#[[:space:]]*include[[:space:]]*"' support/tile_status.h; then
  breach "support/tile_status.h: the public header must include no other tile header"
fi
# examples/ and lib/ never reach into tests/ (imports, includes, build rules).
if grep -rnE '(import|#[[:space:]]*include)[^"]*"[^"]*tests/' examples lib >&2; then
  breach "examples/ or lib/ import or include from tests/"
fi
exit $fail
