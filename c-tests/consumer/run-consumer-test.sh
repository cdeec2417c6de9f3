#!/usr/bin/env bash
# Install libtraceref into a temporary prefix with scripts/install.sh, then use
# it the ways an adopting project would:
#   1. the consumer project (this directory), configured out of tree with
#      find_package(TraceRef) and -DCMAKE_PREFIX_PATH=<prefix>: consumer (the
#      shared library) and consumer_static (the static one) are built and run;
#      find_package must refuse an incompatible version;
#   2. consumer.c compiled with cc and pkg-config, as the README says: shared
#      with an rpath, shared run with LD_LIBRARY_PATH, libtraceref.a with the
#      system's shared libraries through Libs.private, and a fully static
#      program (cc -static ... $(pkg-config --static --libs traceref)); each
#      is run;
#   3. the installed shared library: SONAME libtraceref.so.<major>, and only bt_*,
#      relay_* and traceref_* symbols exported;
#   4. the installed tree moved elsewhere: the CMake package still works.
# Exits non-zero on the first failure. Needs cargo, cmake, cc, pkg-config,
# readelf and nm (binutils); pkg-config is installed with apt-get when missing
# and running as root. TRACEREF_CONSUMER_KEEP=1 keeps the temporary
# directory.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

fail() {
    echo "run-consumer-test: FAIL: $*" >&2
    exit 1
}
step() {
    echo "==> $*"
}

if ! command -v pkg-config >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        step "pkg-config is missing: apt-get install -y pkg-config"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pkg-config
    else
        fail "pkg-config is not installed (apt-get install -y pkg-config)"
    fi
fi
# CARGO, when set, names the cargo that scripts/install.sh runs.
for tool in "${CARGO:-cargo}" cmake cc readelf nm; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/traceref-consumer.XXXXXX")
if [ "${TRACEREF_CONSUMER_KEEP:-0}" = 1 ]; then
    echo "run-consumer-test: keeping $work"
else
    trap 'rm -rf "$work"' EXIT
fi
prefix=$work/prefix
cflags=(-std=c99 -Wall -Wextra -Werror -pedantic)

# Make, with a bounded number of jobs, whatever the generator.
build() {
    cmake --build "$1" --parallel "$(nproc 2>/dev/null || echo 2)"
}

step "scripts/install.sh --prefix $prefix"
bash "$root/scripts/install.sh" --prefix "$prefix"

# The ABI version: the package's major number, the SONAME's number and the
# header's TRACEREF_ABI_VERSION are one (the layout of struct bt_object that
# the header's inline fast paths read is part of the ABI).
cargo_version=$(sed -n 's/^version[[:space:]]*=[[:space:]]*"\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1)
abi=${cargo_version%%.*}
so=libtraceref.so.$abi

for f in "lib/$so" lib/libtraceref.a include/traceref.h \
    include/traceref/relayd-compat.h lib/cmake/TraceRef/TraceRefConfig.cmake \
    lib/cmake/TraceRef/TraceRefConfigVersion.cmake lib/pkgconfig/traceref.pc; do
    [ -f "$prefix/$f" ] || fail "not installed: $f"
done
[ -L "$prefix/lib/$so" ] && fail "lib/$so must be the library itself, not a link"
[ -L "$prefix/lib/libtraceref.so" ] || fail "lib/libtraceref.so is not a symbolic link"
[ "$(readlink "$prefix/lib/libtraceref.so")" = "$so" ] ||
    fail "lib/libtraceref.so points to $(readlink "$prefix/lib/libtraceref.so"), not $so"

version=$(sed -n 's/^Version:[[:space:]]*//p' "$prefix/lib/pkgconfig/traceref.pc")
[[ $version =~ ^([0-9]+)\.([0-9]+)\. ]] || fail "traceref.pc has no usable Version ($version)"
major=${BASH_REMATCH[1]}
minor=${BASH_REMATCH[2]}
[ "$major" = "$abi" ] || fail "pkg-config major version $major is not the ABI version $abi"
header_abi=$(sed -n 's/^#define TRACEREF_ABI_VERSION \([0-9]*\)$/\1/p' "$prefix/include/traceref.h")
[ "$header_abi" = "$abi" ] || fail "the header's TRACEREF_ABI_VERSION ($header_abi) is not $abi"

# --- 3. The installed shared library ----------------------------------------
step "SONAME and exported symbols of lib/$so"
soname=$(readelf -d "$prefix/lib/$so" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
[ "$soname" = "$so" ] || fail "SONAME is '$soname', not $so"
# Absolute (A) symbols of a shared library are its symbol version names, if a
# version script defines any: they are not code or data.
nm -D --defined-only "$prefix/lib/$so" >"$work/symbols.txt"
awk '$2 != "A" { name = $NF; sub(/@.*/, "", name); print name }' "$work/symbols.txt" |
    sort -u >"$work/exported.txt"
[ -s "$work/exported.txt" ] || fail "no exported symbol at all"
if grep -Ev '^(bt_|relay_|traceref_)' "$work/exported.txt" >"$work/foreign.txt"; then
    echo "exported symbols outside bt_*, relay_* and traceref_*:" >&2
    head -n 50 "$work/foreign.txt" >&2
    fail "$(wc -l <"$work/foreign.txt") unexpected exported symbol(s)"
fi
echo "    SONAME $soname; $(wc -l <"$work/exported.txt") symbols, all bt_*, relay_* or traceref_*"

# --- 1. find_package --------------------------------------------------------
step "cmake: find_package(TraceRef $major.$minor) against $prefix"
cmake -S "$here" -B "$work/build-cmake" -DCMAKE_PREFIX_PATH="$prefix" \
    -DTRACEREF_CONSUMER_VERSION="$major.$minor" -DCMAKE_BUILD_TYPE=Release
build "$work/build-cmake"

step "run consumer (TraceRef::traceref)"
"$work/build-cmake/consumer" || fail "consumer (shared) failed"
readelf -d "$work/build-cmake/consumer" | grep -qF "[$so]" ||
    fail "consumer does not need $so"

step "run consumer_static (TraceRef::traceref_static)"
"$work/build-cmake/consumer_static" || fail "consumer_static failed"
if readelf -d "$work/build-cmake/consumer_static" | grep -q 'NEEDED.*libtraceref'; then
    fail "consumer_static needs the shared library"
fi

for wanted in "$((major + 1)).0" "$major.$((minor + 1))"; do
    step "cmake: find_package(TraceRef $wanted) must be refused"
    if cmake -S "$here" -B "$work/build-refused" -DCMAKE_PREFIX_PATH="$prefix" \
        -DTRACEREF_CONSUMER_VERSION="$wanted" >"$work/refused.log" 2>&1; then
        cat "$work/refused.log" >&2
        fail "find_package(TraceRef $wanted) accepted version $version"
    fi
    grep -q 'TraceRefConfig.cmake' "$work/refused.log" ||
        { cat "$work/refused.log" >&2; fail "find_package(TraceRef $wanted) failed for another reason"; }
    rm -rf "$work/build-refused"
done

# --- 2. pkg-config ----------------------------------------------------------
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
step "pkg-config: traceref $(pkg-config --modversion traceref)"
libdir=$(pkg-config --variable=libdir traceref)
[ "$libdir" = "$prefix/lib" ] || fail "pkg-config libdir is $libdir, not $prefix/lib"

step "cc consumer.c \$(pkg-config --cflags --libs traceref)"
# shellcheck disable=SC2046 # the flags are words
cc "${cflags[@]}" -o "$work/consumer-pc" "$here/consumer.c" \
    $(pkg-config --cflags --libs traceref) -Wl,-rpath,"$libdir"
"$work/consumer-pc" || fail "consumer built with pkg-config failed"

step "cc consumer.c \$(pkg-config --cflags --libs traceref), run with LD_LIBRARY_PATH"
# shellcheck disable=SC2046 # the flags are words
cc "${cflags[@]}" -o "$work/consumer-pc-norpath" "$here/consumer.c" \
    $(pkg-config --cflags --libs traceref)
LD_LIBRARY_PATH=$libdir "$work/consumer-pc-norpath" ||
    fail "consumer built with pkg-config, run with LD_LIBRARY_PATH, failed"

step "cc consumer.c with libtraceref.a and \$(pkg-config --static --libs traceref)"
static_libs=$(pkg-config --static --libs traceref)
static_libs=${static_libs//-ltraceref/-l:libtraceref.a}
# shellcheck disable=SC2046,SC2086
cc "${cflags[@]}" -o "$work/consumer-pc-static" "$here/consumer.c" \
    $(pkg-config --cflags traceref) $static_libs
"$work/consumer-pc-static" || fail "consumer built statically with pkg-config failed"
if readelf -d "$work/consumer-pc-static" | grep -q 'NEEDED.*libtraceref'; then
    fail "consumer-pc-static needs the shared library"
fi

# The README's fully static link: every library, the C library's too, from
# its archive (glibc warns that getaddrinfo and getpwuid_r, which the Rust
# standard library refers to, would need its shared libraries at run time:
# traceref calls neither).
step "cc -static consumer.c \$(pkg-config --cflags --static --libs traceref)"
# shellcheck disable=SC2046 # the flags are words
cc -static "${cflags[@]}" -o "$work/consumer-full-static" "$here/consumer.c" \
    $(pkg-config --cflags --static --libs traceref) ||
    fail "cc -static with \$(pkg-config --static --libs traceref) failed: $(pkg-config --static --libs traceref)"
"$work/consumer-full-static" || fail "consumer linked fully static failed"
if readelf -d "$work/consumer-full-static" 2>/dev/null | grep -q NEEDED; then
    fail "consumer-full-static needs a shared library"
fi

# --- 4. A moved installation ------------------------------------------------
step "move the installed tree: find_package still works"
mv "$prefix" "$work/moved"
cmake -S "$here" -B "$work/build-moved" -DCMAKE_PREFIX_PATH="$work/moved" \
    -DTRACEREF_CONSUMER_VERSION="$major.$minor" -DCMAKE_BUILD_TYPE=Release
build "$work/build-moved"
"$work/build-moved/consumer" || fail "consumer against the moved tree failed"
"$work/build-moved/consumer_static" || fail "consumer_static against the moved tree failed"

echo "run-consumer-test: all checks passed"
