//! Static probes (USDT / SystemTap SDT notes), provider `traceref`.
//!
//! Each probe is a `nop` in the code and a note in `.note.stapsdt` that
//! names it and says where its arguments are (`readelf -n libtraceref.so`
//! lists them), for bpftrace, `perf probe`, SystemTap or GDB. They are made
//! with the `probe` crate's `probe_lazy!`: each has a semaphore (a `u16` in
//! the `.probes` section) that a tracer increments while it is attached, and
//! the code reads it and skips the probe, arguments included, while it is
//! 0. Off, a probe costs the semaphore's load (its address comes from the
//! GOT in the shared library) and a branch not taken to an out-of-line
//! block: the `kind` and `id` closures the engines pass are not called,
//! and `misuse` formats nothing.
//!
//! The probes and their arguments (each a 64-bit value; strings are
//! pointers to NUL-terminated UTF-8, valid during the probe only):
//!
//! | probe         | arg0             | arg1         | arg2 | arg3            |
//! |---------------|------------------|--------------|------|-----------------|
//! | `get`         | object address   | kind name    | id   | count after     |
//! | `put`         | object address   | kind name    | id   | count after     |
//! | `release`     | object address   | kind name    | id   |                 |
//! | `get_refused` | object address   | kind name    | id   |                 |
//! | `free`        | object address   | kind name    |      |                 |
//! | `misuse`      | function name    | message      |      |                 |
//! | `lock_order`  | lock being taken | lock held    |      |                 |
//!
//! The id is the relay object's id, 0 for Babeltrace objects (and for kinds
//! without one). `release` is the count reaching 0; `free` is the memory
//! being reclaimed (after the grace period for relay objects), when the id
//! is no longer read. `get_refused` is a get of an object whose count was
//! already 0. The kind names are [`Kind::c_name`] ("session", "stream",
//! "trace", ...).
//!
//! Not compiled into the loom models (loom-tests/ stubs `hooks`).

use std::ffi::CString;

use probe::probe_lazy;

use super::kind::Kind;

/// A reference was taken; `count` is the count after it.
#[inline(always)]
pub fn get(obj: *const (), kind: impl FnOnce() -> Kind, id: impl FnOnce() -> u64, count: u32) {
    probe_lazy!(traceref, get, obj, kind_arg(kind()), id(), count);
}

/// A reference was dropped; `count` is the count after it.
#[inline(always)]
pub fn put(obj: *const (), kind: impl FnOnce() -> Kind, id: impl FnOnce() -> u64, count: u32) {
    probe_lazy!(traceref, put, obj, kind_arg(kind()), id(), count);
}

/// The count reached 0: the object is released.
#[inline(always)]
pub fn release(obj: *const (), kind: impl FnOnce() -> Kind, id: impl FnOnce() -> u64) {
    probe_lazy!(traceref, release, obj, kind_arg(kind()), id());
}

/// A get was refused: the count was already 0.
#[inline(always)]
pub fn get_refused(obj: *const (), kind: impl FnOnce() -> Kind, id: impl FnOnce() -> u64) {
    probe_lazy!(traceref, get_refused, obj, kind_arg(kind()), id());
}

/// The object's memory is reclaimed.
#[inline(always)]
pub fn free(obj: *const (), kind: Kind) {
    probe_lazy!(traceref, free, obj, kind_arg(kind));
}

/// A misuse of the API was detected in `func` (the exported function).
#[inline(always)]
pub fn misuse(func: &str, what: &std::fmt::Arguments<'_>) {
    // The strings are built only when a tracer is attached (the argument
    // expressions are evaluated only then), into these locals, which
    // outlive the probe.
    let mut func_c = None;
    let mut what_c = None;
    probe_lazy!(
        traceref,
        misuse,
        func_c.insert(c_string(func.to_owned())).as_ptr(),
        what_c.insert(c_string(what.to_string())).as_ptr()
    );
}

/// A lock was taken out of order: `taking` while holding `held`.
#[inline(always)]
pub fn lock_order(taking: *const (), held: *const ()) {
    probe_lazy!(traceref, lock_order, taking, held);
}

/// The `kind` argument: [`Kind::c_name`], its bytes read first. A tracer
/// reads the string from the probe without faulting its page in (bpftrace's
/// `str()`), and a page of the library's read-only data that this process
/// never touched yet reads as an empty string; reading the first and last
/// byte maps the one or two pages it is on. Called only while a tracer is
/// attached.
#[cold]
fn kind_arg(kind: Kind) -> *const std::ffi::c_char {
    let bytes = kind.c_name().to_bytes_with_nul();
    // SAFETY: both are in bounds of `bytes` (never empty: it has the NUL),
    // a live `&'static [u8]`.
    unsafe {
        std::ptr::read_volatile(bytes.as_ptr());
        std::ptr::read_volatile(bytes.as_ptr().add(bytes.len() - 1));
    }
    bytes.as_ptr().cast()
}

/// `s` as a C string, cut at its first NUL if it has one.
#[cold]
fn c_string(s: String) -> CString {
    CString::new(s).unwrap_or_else(|e| {
        let at = e.nul_position();
        let mut bytes = e.into_vec();
        bytes.truncate(at);
        // No NUL is left: this cannot fail.
        CString::new(bytes).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    /// No tracer is attached under `cargo test`: the closures must not run.
    #[test]
    fn arguments_are_not_evaluated_when_off() {
        let obj = 0x1000 as *const ();
        let kind = || -> super::Kind { panic!("kind evaluated with no tracer attached") };
        let id = || -> u64 { panic!("id evaluated with no tracer attached") };
        super::get(obj, kind, id, 1);
        super::put(obj, kind, id, 0);
        super::release(obj, kind, id);
        super::get_refused(obj, kind, id);
        super::free(obj, super::Kind::RelaySession);
        super::misuse("f", &format_args!("{}", 1));
        super::lock_order(obj, obj);
    }

    #[test]
    fn c_string_cuts_at_nul() {
        assert_eq!(super::c_string("ab\0cd".into()).as_bytes(), b"ab");
        assert_eq!(super::c_string("abc".into()).as_bytes(), b"abc");
    }
}
