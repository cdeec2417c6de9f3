//! C functions of reference tracking (`TRACEREF_TRACK=1`).

use super::{ffi_guard, null_check};
use crate::core::diag::misuse;
use crate::core::track;
use libc::{c_int, c_void};

/// Write to `fd` the references of `obj` as tracking recorded them, one
/// line: its kind, id or address and count, the call site that created it,
/// then each call site that took or dropped references on it with its gets
/// and puts (`+2 -0 at handle_attach (live.c:412)`), unbalanced sites
/// first. Call sites are the application's calls into the library,
/// symbolized (function, and file:line where debug information exists);
/// calls made by the library's own thread are listed as such. Needs
/// `TRACEREF_TRACK=1` in the environment from the start of the process.
/// Returns 0, or -1 for NULL, when tracking is off, for a pointer that is
/// not a live library object (or one created before tracking could see
/// it), or when writing fails. Any object of either model or of a C kind
/// (the pointer the library returned, or the `struct traceref_object`).
/// The caller must hold a reference on `obj` (or, for a Babeltrace object
/// at count 0, on its tree); any thread, holding any lock, not from a
/// release function or payload destructor of `obj`.
#[no_mangle]
pub extern "C" fn traceref_dump_references(obj: *const c_void, fd: c_int) -> c_int {
    ffi_guard!("traceref_dump_references", -1, {
        const F: &str = "traceref_dump_references";
        null_check!(F, obj, -1);
        if !track::enabled() {
            misuse!(
                F,
                "reference tracking is off (TRACEREF_TRACK=1 turns it on)"
            );
            return -1;
        }
        // SAFETY: the caller holds a reference on `obj`, so a tracked
        // object is alive; an untracked pointer is not read.
        let Some(mut line) = (unsafe { track::report(obj.cast()) }) else {
            misuse!(F, "{:p} is not a live object known to tracking", obj);
            return -1;
        };
        line.push('\n');
        super::write_fd(F, fd, line.as_bytes())
    })
}
