#!/usr/bin/env bash
# Every test: the Rust tests (cargo test --release), then the C tests (cmake
# and ctest in build/c-tests). Stops at the first failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "test.sh: cargo not found: install a Rust toolchain (https://rustup.rs)" >&2
    exit 1
fi
if ! command -v cmake >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> cmake is missing: apt-get install -y cmake"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake
    else
        echo "test.sh: cmake is not installed; the C tests need it." >&2
        echo "test.sh: install it with: apt-get install -y cmake" >&2
        exit 1
    fi
fi
if ! command -v ctest >/dev/null 2>&1; then
    echo "test.sh: ctest is not installed (it comes with cmake): apt-get install -y cmake" >&2
    exit 1
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
