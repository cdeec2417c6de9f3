#!/usr/bin/env bash
# Build libtraceref in release mode and install it under a prefix:
#
#   <prefix>/lib/libtraceref.so.N                 the shared library (SONAME; N is the
#                                                 major version, the ABI version)
#   <prefix>/lib/libtraceref.so -> libtraceref.so.N
#   <prefix>/lib/libtraceref.a                    the static library
#   <prefix>/include/traceref.h                   the public header
#   <prefix>/include/traceref/relayd-compat.h     the relay daemon's names
#   <prefix>/lib/cmake/TraceRef/TraceRefConfig.cmake
#   <prefix>/lib/cmake/TraceRef/TraceRefConfigVersion.cmake
#   <prefix>/lib/pkgconfig/traceref.pc
#
# Usage: scripts/install.sh [--prefix DIR]     (default: /usr/local)
#
# DESTDIR, when set, is put in front of every installed path (for staging and
# packaging); the installed files still name <prefix>. The CMake files find
# everything relative to their own location, so the installed tree can be
# moved; traceref.pc names <prefix>.
#
# The system libraries a program linking libtraceref.a also needs (listed in
# traceref.pc's Libs.private and in the link interface of
# TraceRef::traceref_static) are those that
#   cargo rustc --release --lib --crate-type staticlib -- --print native-static-libs
# reports for Linux with glibc, less -lc and -lgcc_s: the compiler driver
# links the C library and the unwinder itself (libgcc_s, or libgcc_eh under
# -static), and libgcc_s has no archive, so -lgcc_s would break
# `cc -static ... $(pkg-config --static --libs traceref)`.
# TRACEREF_NATIVE_STATIC_LIBS (a space-separated list of -l flags) replaces
# them.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

prefix=/usr/local
while (($#)); do
    case $1 in
        --prefix)
            if (($# < 2)) || [ -z "$2" ]; then
                echo "install.sh: --prefix needs a directory" >&2
                exit 2
            fi
            prefix=$2
            shift 2
            ;;
        --prefix=*)
            prefix=${1#--prefix=}
            if [ -z "$prefix" ]; then
                echo "install.sh: --prefix needs a directory" >&2
                exit 2
            fi
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            echo "install.sh: unknown argument: $1 (usage: scripts/install.sh [--prefix DIR])" >&2
            exit 2
            ;;
    esac
done

# An absolute prefix, without a trailing slash: it is written into traceref.pc.
case $prefix in
    /*) ;;
    *) prefix=$PWD/$prefix ;;
esac
while [ "$prefix" != / ] && [ "${prefix%/}" != "$prefix" ]; do
    prefix=${prefix%/}
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

# CARGO, when set, names the cargo to run (as cmake's CARGO_EXECUTABLE).
cargo=${CARGO:-cargo}
if ! command -v "$cargo" >/dev/null 2>&1; then
    echo "install.sh: cargo not found: install a Rust toolchain (https://rustup.rs)" >&2
    exit 1
fi

# The value of `key = "..."` in the [package] table of Cargo.toml.
package_field() {
    awk -v key="$1" '
        /^[[:space:]]*\[/ { in_package = ($0 ~ /^[[:space:]]*\[package\][[:space:]]*$/); next }
        in_package && $0 ~ "^[[:space:]]*" key "[[:space:]]*=" {
            sub(/^[^=]*=[[:space:]]*"/, ""); sub(/"[[:space:]]*(#.*)?$/, ""); print; exit
        }' Cargo.toml
}

version=$(package_field version)
description=$(package_field description)
if ! [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]]; then
    echo "install.sh: cannot read the package version from Cargo.toml (got '$version')" >&2
    exit 1
fi
# The SONAME (set by build.rs from the same major number) names the files.
soname=libtraceref.so.${version%%.*}

echo "==> cargo build --release"
"$cargo" build --release

# target/, unless CARGO_TARGET_DIR or a cargo configuration moved it.
target_dir=$("$cargo" metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
target_dir=${target_dir:-$root/target}
so=$target_dir/release/libtraceref.so
a=$target_dir/release/libtraceref.a
for f in "$so" "$a" "$root/include/traceref.h" "$root/include/traceref/relayd-compat.h" \
    "$root/cmake/TraceRefConfig.cmake.in" "$root/cmake/TraceRefConfigVersion.cmake.in" \
    "$root/cmake/traceref.pc.in"; do
    if [ ! -f "$f" ]; then
        echo "install.sh: missing $f" >&2
        exit 1
    fi
done

# Pointer width of the libraries, for the CMake version check.
rustc=${RUSTC:-$(dirname "$(command -v "$cargo")")/rustc}
[ -x "$rustc" ] || rustc=rustc
pointer_bits=$("$rustc" --print cfg 2>/dev/null | sed -n 's/^target_pointer_width="\([0-9]*\)"$/\1/p')
sizeof_void_p=$(( ${pointer_bits:-64} / 8 ))

# System libraries of the static library.
native_libs=${TRACEREF_NATIVE_STATIC_LIBS:--lutil -lrt -lpthread -lm -ldl}
cmake_libs=
for flag in $native_libs; do
    case $flag in
        -lpthread) item=Threads::Threads ;;
        -l*) item=${flag#-l} ;;
        *) item=$flag ;;
    esac
    cmake_libs=${cmake_libs:+$cmake_libs;}$item
done

# Fill a template: @NAME@ placeholders only (sed replacement text escaped).
sed_escape() {
    printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'
}
fill() {
    sed -e "s|@TRACEREF_VERSION@|$(sed_escape "$version")|g" \
        -e "s|@PREFIX@|$(sed_escape "$prefix")|g" \
        -e "s|@DESCRIPTION@|$(sed_escape "$description")|g" \
        -e "s|@TRACEREF_PC_STATIC_LIBS@|$(sed_escape "$native_libs")|g" \
        -e "s|@TRACEREF_CMAKE_STATIC_LIBS@|$(sed_escape "$cmake_libs")|g" \
        -e "s|@TRACEREF_SIZEOF_VOID_P@|$sizeof_void_p|g" \
        -e "s|@TRACEREF_SONAME@|$(sed_escape "$soname")|g" \
        "$1" >"$2"
    if grep -n '@[A-Z_]*@' "$2" >&2; then
        echo "install.sh: unfilled placeholder in $2" >&2
        exit 1
    fi
}

dest=${DESTDIR:-}$prefix
libdir=$dest/lib
includedir=$dest/include
cmakedir=$libdir/cmake/TraceRef
pcdir=$libdir/pkgconfig

echo "==> installing traceref $version under ${DESTDIR:+$DESTDIR}$prefix"
install -d "$libdir" "$includedir/traceref" "$cmakedir" "$pcdir"

install -m 0755 "$so" "$libdir/$soname"
ln -sfn "$soname" "$libdir/libtraceref.so"
install -m 0644 "$a" "$libdir/libtraceref.a"

install -m 0644 include/traceref.h "$includedir/traceref.h"
install -m 0644 include/traceref/relayd-compat.h "$includedir/traceref/relayd-compat.h"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fill cmake/TraceRefConfig.cmake.in "$tmp/TraceRefConfig.cmake"
fill cmake/TraceRefConfigVersion.cmake.in "$tmp/TraceRefConfigVersion.cmake"
fill cmake/traceref.pc.in "$tmp/traceref.pc"
install -m 0644 "$tmp/TraceRefConfig.cmake" "$tmp/TraceRefConfigVersion.cmake" "$cmakedir/"
install -m 0644 "$tmp/traceref.pc" "$pcdir/traceref.pc"

for f in "lib/$soname" lib/libtraceref.so lib/libtraceref.a include/traceref.h \
    include/traceref/relayd-compat.h lib/cmake/TraceRef/TraceRefConfig.cmake \
    lib/cmake/TraceRef/TraceRefConfigVersion.cmake lib/pkgconfig/traceref.pc; do
    echo "    $prefix/$f"
done
echo "==> done"
