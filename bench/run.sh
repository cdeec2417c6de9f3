#!/usr/bin/env bash
# Build the benchmark (and the library, through cargo) and run it.
#
#   bench/run.sh            full run: the table of BENCHMARKS.md (a few minutes)
#   bench/run.sh --smoke    every workload with tiny counts (a few seconds)
#
# Any other argument is passed to the benchmark (see `bench/run.sh --help`).
# Works from any directory; builds in build/bench at the repository root.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build/bench"

fail() {
    echo "bench/run.sh: $*" >&2
    exit 1
}

command -v cargo >/dev/null 2>&1 ||
    fail "cargo not found: install a Rust toolchain (https://rustup.rs)"
command -v cmake >/dev/null 2>&1 ||
    fail "cmake not found: apt-get install -y cmake"
command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 ||
    fail "no C compiler found: apt-get install -y gcc"
command -v pkg-config >/dev/null 2>&1 ||
    fail "pkg-config not found (the liburcu baseline is found through it): apt-get install -y pkg-config liburcu-dev"
pkg-config --exists liburcu-memb liburcu-cds ||
    fail "liburcu-dev is missing (pkg-config liburcu-memb liburcu-cds found nothing): apt-get install -y liburcu-dev"

echo "==> cmake -S bench -B build/bench -DCMAKE_BUILD_TYPE=Release" >&2
cmake -S "$root/bench" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
echo "==> cmake --build build/bench" >&2
cmake --build "$build" >/dev/null

echo "==> build/bench/bench $*" >&2
exec "$build/bench" "$@"
