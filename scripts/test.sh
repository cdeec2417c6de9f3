#!/usr/bin/env bash
# Every test, in order (stops at the first failure):
#
#   1. the Rust tests: cargo test --release; then the loom models of the
#      counter, the Babeltrace transitions and the table (loom-tests/, run
#      with RUSTFLAGS="--cfg loom --cfg crossbeam_loom" in loom-tests/target)
#   2. the C tests: cmake and ctest in build/c-tests
#   3. AddressSanitizer (with LeakSanitizer): the Rust tests again, the
#      library built with RUSTC_BOOTSTRAP=1 RUSTFLAGS=-Zsanitizer=address
#      --target <host> into target/asan; then the C tests compiled with
#      -fsanitize=address against that library, in build/c-tests-asan
#   4. valgrind memcheck: the C tests under valgrind, in build/c-tests-valgrind
#   5. a bounded libFuzzer run of the C API fuzz target (clang), the library
#      built with ASan and coverage into target/fuzz, in build/c-tests-fuzz
#   6. the benchmark's smoke mode (bench/run.sh --smoke)
#   7. the real LTTng relay daemon on the library: integration/lttng-relayd/
#      run.sh --valgrind (Debian's lttng-tools 2.13.9 source, patched by
#      integration/lttng-relayd/*.patch and linked with libtraceref, serving
#      live sessions beside the package's relayd); it needs root and the
#      package registries, and is skipped, said so at the end, without them
#
# The C tests include the API fuzz target's standalone driver and the soak,
# so both run in steps 2, 3 and 4. What is missing (cmake, valgrind, clang
# and its runtimes, bpftrace, ...) is installed with apt-get when the script
# runs as root; otherwise it says what to install and stops, except for
# clang, whose absence only skips step 5 (said so at the end), and bpftrace,
# whose absence only skips the probes C test (ctest says so).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "test.sh: cargo not found: install a Rust toolchain (https://rustup.rs)" >&2
    exit 1
fi
jobs=$(nproc 2>/dev/null || echo 2)

# The libFuzzer runtime of clang (Debian: libclang-rt-<version>-dev).
have_libfuzzer() {
    command -v clang >/dev/null 2>&1 &&
        [ -f "$(clang -print-file-name="libclang_rt.fuzzer-$(uname -m).a" 2>/dev/null)" ]
}

# What the C tests and the benchmark's smoke run need beyond cargo.
missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists liburcu-memb liburcu-cds 2>/dev/null || missing+=(liburcu-dev)
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
# Only when running as root: clang and its sanitizer and libFuzzer runtimes.
optional=()
command -v clang >/dev/null 2>&1 || optional+=(clang)
have_libfuzzer || optional+=(libclang-rt-14-dev)
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    missing+=("${optional[@]}")
    optional=()
fi
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
# Only when running as root: bpftrace, for the C test that attaches to the
# static probes (c-tests/probes/). A failed install does not stop the run:
# that test is then skipped and says why.
if ! command -v bpftrace >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing bpftrace (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bpftrace; } ||
        echo "test.sh: could not install bpftrace: the probes test will be skipped" >&2
fi

start=$SECONDS
step() {
    echo
    echo "==> [$((SECONDS - start))s] $*"
}

# 1. Rust tests.
step "cargo test --release"
cargo test --release

# The loom models (loom-tests/, a crate of its own with its own target dir):
# the counter, the Babeltrace transitions and the table under loom, with
# crossbeam-epoch's loom build.
step "loom models: cargo test --release --manifest-path loom-tests/Cargo.toml"
RUSTFLAGS="--cfg loom --cfg crossbeam_loom" \
    cargo test --release --manifest-path loom-tests/Cargo.toml

# 2. C tests.
step "C tests: cmake -S c-tests -B build/c-tests"
cmake -S c-tests -B build/c-tests
cmake --build build/c-tests --parallel "$jobs"
(cd build/c-tests && ctest --output-on-failure)

# 3. AddressSanitizer. rustc links the ASan runtime into executables only:
# the Rust test binaries carry rustc's, the C test binaries gcc's libasan.
host=$(cargo -vV | sed -n 's/^host: //p')
step "AddressSanitizer: cargo test --release --target $host (RUSTFLAGS=-Zsanitizer=address)"
RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address" ASAN_OPTIONS="detect_leaks=1" \
    cargo test --release --tests --target "$host" --target-dir target/asan

step "AddressSanitizer: C tests in build/c-tests-asan"
cmake -S c-tests -B build/c-tests-asan -DTRACEREF_SANITIZE=address
cmake --build build/c-tests-asan --parallel "$jobs"
(cd build/c-tests-asan && ctest --output-on-failure)

# 4. valgrind memcheck over the C tests.
step "valgrind: C tests in build/c-tests-valgrind"
cmake -S c-tests -B build/c-tests-valgrind -DTRACEREF_TEST_VALGRIND=ON
cmake --build build/c-tests-valgrind --parallel "$jobs"
(cd build/c-tests-valgrind && ctest --output-on-failure)

# 5. libFuzzer.
skipped=
if have_libfuzzer; then
    step "libFuzzer: bounded run of fuzz_api in build/c-tests-fuzz"
    CC=clang CXX=clang++ cmake -S c-tests -B build/c-tests-fuzz \
        -DTRACEREF_SANITIZE=address -DTRACEREF_LIBFUZZER=ON
    cmake --build build/c-tests-fuzz --parallel "$jobs"
    (cd build/c-tests-fuzz && ctest --output-on-failure)
else
    skipped="the libFuzzer run (no clang with its libFuzzer runtime: apt-get install -y ${optional[*]})"
fi

# 6. The benchmark's smoke mode: every workload with tiny counts, so that the
# benchmark keeps building and running (bench/run.sh without --smoke is the
# full comparison, run by hand).
step "benchmark smoke run: bench/run.sh --smoke"
bash bench/run.sh --smoke

# 7. The real relay daemon: lttng-relayd 2.13.9 with its object lifetimes
# handed to this library, against the package's relayd, live sessions end to
# end (exit status 77: the machine cannot run it; run.sh said why).
step "relay daemon: integration/lttng-relayd/run.sh --valgrind"
rc=0
bash integration/lttng-relayd/run.sh --valgrind || rc=$?
if ((rc == 77)); then
    skipped="${skipped:+$skipped; }the relay daemon integration run (integration/lttng-relayd/run.sh exited 77: see its SKIP line above)"
elif ((rc != 0)); then
    echo "test.sh: the relay daemon integration run failed (integration/lttng-relayd/build/logs/summary.txt)" >&2
    exit "$rc"
fi

echo
echo "==> all tests passed in $((SECONDS - start))s"
if [ -n "$skipped" ]; then
    echo "==> NOT RUN: $skipped" >&2
fi
