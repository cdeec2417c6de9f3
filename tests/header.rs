//! The checked-in header must be exactly what cbindgen generates.

#[test]
fn checked_in_header_is_current() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/traceref.h"));
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/traceref.h"))
            .expect("include/traceref.h is missing");
    assert!(
        generated == checked_in,
        "include/traceref.h differs from what cbindgen generates; \
         regenerate it with `TRACEREF_WRITE_HEADER=1 cargo build` and commit it"
    );
}
