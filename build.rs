//! Generates the public C header with cbindgen and sets the shared library's
//! SONAME.
//!
//! The header is written to `$OUT_DIR/traceref.h`; the checked-in copy in
//! `include/traceref.h` is refreshed only when `TRACEREF_WRITE_HEADER=1`, and
//! a test fails when the two differ.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=TRACEREF_WRITE_HEADER");
    // The SONAME's number is the package's major version, which is the ABI
    // version (TRACEREF_ABI_VERSION: the layout of struct bt_object that the
    // header's inline fast paths read is part of it).
    let major = env::var("CARGO_PKG_VERSION_MAJOR").expect("CARGO_PKG_VERSION_MAJOR");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libtraceref.so.{major}");

    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let generated = out.join("traceref.h");
    cbindgen::Builder::new()
        .with_crate(&root)
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate the header")
        .write_to_file(&generated);

    if env::var("TRACEREF_WRITE_HEADER").as_deref() == Ok("1") {
        let dest = root.join("include").join("traceref.h");
        let text = fs::read(&generated).expect("generated header");
        if fs::read(&dest).ok().as_deref() != Some(&text[..]) {
            fs::write(&dest, text).expect("write include/traceref.h");
        }
    }
}
