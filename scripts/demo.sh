#!/usr/bin/env bash
# Build libtraceref, compile examples/walkthrough.c against it with the system
# C compiler (no cmake) and run it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

if ! command -v cargo >/dev/null 2>&1; then
    echo "demo.sh: cargo not found: install a Rust toolchain (https://rustup.rs)" >&2
    exit 1
fi
cc=${CC:-cc}
if ! command -v "$cc" >/dev/null 2>&1; then
    echo "demo.sh: no C compiler ($cc): install one, e.g. apt-get install -y gcc" >&2
    exit 1
fi

echo "==> cargo build --release"
cargo build --release

# The library's SONAME is libtraceref.so.1; cargo writes only libtraceref.so.
ln -sf libtraceref.so target/release/libtraceref.so.1

echo "==> compiling examples/walkthrough.c"
mkdir -p build/examples
"$cc" -std=c99 -Wall -Wextra -Werror -pedantic -O2 \
    -I "$root/include" \
    -o build/examples/walkthrough examples/walkthrough.c \
    -L "$root/target/release" -ltraceref \
    -Wl,-rpath,"$root/target/release"

echo "==> build/examples/walkthrough build/pictures"
echo
rm -rf build/pictures
mkdir -p build/pictures
./build/examples/walkthrough build/pictures

# One picture per step: DOT files always, SVG when graphviz is installed.
echo
if command -v dot >/dev/null 2>&1; then
    for f in build/pictures/*.dot; do
        dot -Tsvg "$f" -o "${f%.dot}.svg"
    done
    echo "pictures of each step: build/pictures/step-NN.svg"
else
    echo "pictures of each step: build/pictures/step-NN.dot (install graphviz to render them)"
fi
