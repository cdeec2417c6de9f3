#!/usr/bin/env bash
# Compile and run every C snippet of README.md: each ```c block is a complete
# program, compiled with the C tests' strict flags against the library and
# run with TRACEREF_LEAK_CHECK=1. Each must compile, exit 0 and print
# nothing on stderr (no misuse line, no leak report). Compiler messages name
# README.md lines (each snippet starts with a #line directive).
#
# Usage: run-readme-snippets.sh <README.md> <work directory>
#
# Environment (c-tests/CMakeLists.txt sets it for each configuration):
#   CC                 the C compiler (default: cc)
#   TRACEREF_INCLUDE   the directory of traceref.h (default: include/ of
#                      the repository)
#   TRACEREF_LIB_DIR   the directory of libtraceref.so (default: target/release)
#   SNIPPET_CFLAGS     more compile and link flags (a sanitizer's)
#   SNIPPET_RUNNER     a command to run each program under (valgrind -q ...)
#   SNIPPET_LEAK_CHECK 1 (default): run with TRACEREF_LEAK_CHECK=1; 0: not
#                      (under valgrind, whose memcheck reads the leak
#                      check's own registry, a hash table, as "possibly
#                      lost": memcheck is the leak check there)
set -euo pipefail

if (($# != 2)); then
    echo "usage: run-readme-snippets.sh <README.md> <work directory>" >&2
    exit 2
fi
readme=$1
work=$2
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cc=${CC:-cc}
include=${TRACEREF_INCLUDE:-$root/include}
libdir=${TRACEREF_LIB_DIR:-$root/target/release}
read -r -a extra_flags <<<"${SNIPPET_CFLAGS:-}"
read -r -a runner <<<"${SNIPPET_RUNNER:-}"
leak_check=${SNIPPET_LEAK_CHECK:-1}

fail() {
    echo "run-readme-snippets: FAIL: $*" >&2
    exit 1
}

[ -f "$readme" ] || fail "no $readme"
[ -f "$libdir/libtraceref.so" ] || fail "no $libdir/libtraceref.so (build the library first)"
rm -rf "$work"
mkdir -p "$work"

# One file per block, starting with a #line directive naming its first line
# in the README; the list of "<file> <line>" pairs goes to snippets.txt.
awk -v dir="$work" -v readme="$readme" '
    !inside && /^[[:space:]]*```c[[:space:]]*$/ {
        n++
        file = sprintf("%s/snippet-%d.c", dir, n)
        printf "#line %d \"%s\"\n", NR + 1, readme > file
        printf "%s %d\n", file, NR + 1 > (dir "/snippets.txt")
        inside = 1
        next
    }
    inside && /^[[:space:]]*```[[:space:]]*$/ { inside = 0; close(file); next }
    inside { print > file }
    END { if (inside) { print "unterminated ```c block" > "/dev/stderr"; exit 1 } }
' "$readme" || fail "cannot extract the C blocks of $readme"

fences=$(grep -cE '^[[:space:]]*```c[[:space:]]*$' "$readme" || true)
[ "$fences" -gt 0 ] || fail "$readme has no \`\`\`c block"
[ "$(wc -l <"$work/snippets.txt")" -eq "$fences" ] ||
    fail "extracted $(wc -l <"$work/snippets.txt") of the $fences C blocks of $readme"

failed=0
while read -r src line; do
    name=$(basename "$src" .c)
    echo "==> $name (README.md line $line)"
    if ! grep -qE '\bmain[[:space:]]*\(' "$src"; then
        echo "$name: README.md line $line: not a complete program (no main): every C block of the README must be one" >&2
        failed=1
        continue
    fi
    if ! "$cc" -std=c99 -Wall -Wextra -Werror -pedantic "${extra_flags[@]}" \
        -I "$include" -o "$work/$name" "$src" \
        -L "$libdir" -ltraceref -Wl,-rpath,"$libdir" -pthread; then
        echo "$name: README.md line $line: does not compile" >&2
        failed=1
        continue
    fi
    status=0
    TRACEREF_LEAK_CHECK=$leak_check "${runner[@]}" "$work/$name" >"$work/$name.out" \
        2>"$work/$name.err" || status=$?
    if [ "$status" -ne 0 ] || [ -s "$work/$name.err" ]; then
        cat "$work/$name.err" >&2
        echo "$name: README.md line $line: exit status $status (TRACEREF_LEAK_CHECK=$leak_check${runner:+, under ${runner[0]}})$([ -s "$work/$name.err" ] && echo ", with the output above on stderr")" >&2
        failed=1
        continue
    fi
    echo "    ok"
done <"$work/snippets.txt"

((failed == 0)) || fail "a C snippet of $readme failed (see above)"
echo "run-readme-snippets: $fences snippet(s) compiled and ran cleanly"
