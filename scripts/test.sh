#!/usr/bin/env bash
# Every test: the Rust tests (cargo test --release), then the C tests (cmake
# and ctest in build/c-tests). Stops at the first failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "test.sh: cargo not found: install a Rust toolchain (https://rustup.rs)" >&2
    exit 1
fi
# What the C tests and the benchmark's smoke run need beyond cargo.
missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists liburcu-memb liburcu-cds 2>/dev/null || missing+=(liburcu-dev)
if ((${#missing[@]})); then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing ${missing[*]} (apt-get)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    else
        echo "test.sh: missing ${missing[*]}; install with: apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi

echo "==> cargo test --release"
cargo test --release

echo "==> cmake -S c-tests -B build/c-tests"
cmake -S c-tests -B build/c-tests

echo "==> cmake --build build/c-tests"
cmake --build build/c-tests --parallel "$(nproc 2>/dev/null || echo 2)"

echo "==> ctest --output-on-failure"
cd build/c-tests
ctest --output-on-failure

echo "==> all tests passed"
