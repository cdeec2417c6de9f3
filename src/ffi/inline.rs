//! What the header's inline Babeltrace fast paths (`TRACEREF_INLINE`) rely
//! on: the ABI version that names the layout of `struct bt_object` they
//! read, and the switch that sends them to the library when every call must
//! be seen (reference tracking, debug logging).
//!
//! The layout itself is `bt::object::BtObject`'s; the unit test below
//! checks it against the header's `TRACEREF_BT_*` definitions.

use crate::core::{diag, track};
use libc::c_int;

/// The version of the library's ABI, including the layout of
/// `struct bt_object` that the inline fast paths read. The shared library's
/// SONAME (libtraceref.so.N) and the CMake and pkg-config package versions
/// carry the same major number.
pub const TRACEREF_ABI_VERSION: c_int = 1;

/// Nonzero when the header's inline fast paths (TRACEREF_INLINE) may handle
/// the steady cases themselves; zero when every bt_get() and bt_put() must
/// reach the library (TRACEREF_TRACK=1 or TRACEREF_LOG=debug at process
/// start). Set once, when the library is loaded; read-only for C.
#[no_mangle]
pub static mut traceref_bt_inline_enabled: c_int = 1;

/// Sets [`traceref_bt_inline_enabled`] from the environment when the
/// library is loaded, before any C code can call it.
extern "C" fn set_inline_switch() {
    // The environment is read here without settling the log level, which
    // stays read at its first use (a program may set TRACEREF_LOG in main).
    let debug = diag::level_in_environment() >= diag::DEBUG;
    let all_calls = track::enabled() || debug;
    // SAFETY: runs once, at load, before any other code of the library or
    // of its callers can read the variable.
    unsafe { traceref_bt_inline_enabled = c_int::from(!all_calls) };
}

#[used]
#[link_section = ".init_array"]
static SET_INLINE_SWITCH: extern "C" fn() = set_inline_switch;

/// The library's ABI version (TRACEREF_ABI_VERSION of the header it was
/// built with). A program compares it with the header's TRACEREF_ABI_VERSION
/// to check that the library it runs with lays out `struct bt_object` as
/// its inline fast paths expect. Needs nothing; any thread.
#[no_mangle]
pub extern "C" fn traceref_abi_version() -> c_int {
    TRACEREF_ABI_VERSION
}

#[cfg(test)]
mod tests {
    use crate::bt::object::LAYOUT;
    use crate::core::kind::Kind;
    use crate::core::refcount::MAX;
    use std::collections::HashMap;

    /// The header's `#define TRACEREF_...` values.
    fn header_defines() -> HashMap<String, u64> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/traceref.h");
        let text = std::fs::read_to_string(path).expect("include/traceref.h");
        text.lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                if w.next() != Some("#define") {
                    return None;
                }
                let name = w.next()?.to_string();
                let v = w.next()?.trim_end_matches(['u', 'U']);
                let n = match v.strip_prefix("0x") {
                    Some(h) => u64::from_str_radix(h, 16).ok()?,
                    None => v.parse().ok()?,
                };
                Some((name, n))
            })
            .collect()
    }

    /// The layout the inline fast paths read is the library's.
    #[test]
    fn header_layout_is_the_librarys() {
        let d = header_defines();
        let get = |n: &str| *d.get(n).unwrap_or_else(|| panic!("{n} not in the header"));
        assert_eq!(
            get("TRACEREF_ABI_VERSION"),
            super::TRACEREF_ABI_VERSION as u64
        );
        assert_eq!(get("TRACEREF_BT_TAG_OFFSET"), LAYOUT.0 as u64);
        assert_eq!(get("TRACEREF_BT_COUNT_OFFSET"), LAYOUT.1 as u64);
        assert_eq!(get("TRACEREF_BT_RELEASE_OFFSET"), LAYOUT.2 as u64);
        assert_eq!(get("TRACEREF_BT_TAG_FIRST"), Kind::BtObject as u64);
        assert_eq!(get("TRACEREF_BT_TAG_LAST"), Kind::CtfStructureType as u64);
        assert_eq!(get("TRACEREF_BT_COUNT_MAX"), MAX as u64);
        // The tag range is exactly the Babeltrace kinds.
        for k in crate::core::kind::ALL {
            let v = k as u64;
            let in_range =
                (get("TRACEREF_BT_TAG_FIRST")..=get("TRACEREF_BT_TAG_LAST")).contains(&v);
            assert_eq!(in_range, k.is_bt(), "{k:?}");
        }
        // The count and the tag are 32-bit words, the release a pointer.
        assert_eq!(std::mem::size_of::<crate::core::refcount::RefCount>(), 4);
        assert_eq!(std::mem::size_of::<crate::core::kind::Tag>(), 4);
    }
}
