//! C functions of the relay daemon object model.
#![allow(non_camel_case_types)]

use super::{ffi_guard, null_check};
use crate::core::diag::{misuse, trace_ref};
use crate::core::kind::{Kind, TagCheck};
use crate::core::reclaim;
use crate::relay::connection::{self, Connection, ConnectionTable, TableError};
use crate::relay::index::{Flush, Index};
use crate::relay::lock::{Level, Locked};
use crate::relay::object::{self, Head, RelayObject};
use crate::relay::session::Session;
use crate::relay::stream::{self, Close, Closer, Stream};
use crate::relay::trace::{CtfTrace, TraceError};
use crate::relay::viewer::{AttachError, ViewerSession, ViewerStream};
use crate::relay::{self as model, Ptr};
use libc::{c_char, c_int, c_long, c_void};
use std::ffi::CStr;
use std::ptr;

/// A tracing session, created by a control connection. Refcounted.
pub struct relay_session {
    _private: [u8; 0],
}
/// A ctf-trace: the streams of one path within a session. Refcounted.
pub struct ctf_trace {
    _private: [u8; 0],
}
/// A stream of trace data, unique by handle. Refcounted.
pub struct relay_stream {
    _private: [u8; 0],
}
/// The index of one packet of a stream. Refcounted.
pub struct relay_index {
    _private: [u8; 0],
}
/// A live viewer's view of a stream. Refcounted.
pub struct relay_viewer_stream {
    _private: [u8; 0],
}
/// The sessions a live viewer is attached to. Not refcounted.
pub struct relay_viewer_session {
    _private: [u8; 0],
}
/// A connection from a session daemon, consumer or live viewer. Refcounted.
pub struct relay_connection {
    _private: [u8; 0],
}
/// The connections of one worker thread, by socket.
pub struct relay_connection_table {
    _private: [u8; 0],
}

/// Connection type: not yet known.
pub const RELAY_CONNECTION_UNKNOWN: c_int = 0;
const _: () = assert!(RELAY_CONNECTION_UNKNOWN == connection::TYPE_UNKNOWN);
/// Connection type: trace data from a consumer.
pub const RELAY_DATA: c_int = 1;
const _: () = assert!(RELAY_DATA == connection::TYPE_DATA);
/// Connection type: control commands from a session daemon (owns a session).
pub const RELAY_CONTROL: c_int = 2;
const _: () = assert!(RELAY_CONTROL == connection::TYPE_CONTROL);
/// Connection type: a live viewer's commands (owns a viewer session).
pub const RELAY_VIEWER_COMMAND: c_int = 3;
const _: () = assert!(RELAY_VIEWER_COMMAND == connection::TYPE_VIEWER_COMMAND);
/// Connection type: a live viewer's notifications.
pub const RELAY_VIEWER_NOTIFICATION: c_int = 4;
const _: () = assert!(RELAY_VIEWER_NOTIFICATION == connection::TYPE_VIEWER_NOTIFICATION);

/// Sequence number value meaning "none yet" (`-1ULL`).
pub const RELAY_SEQ_UNSET: u64 = 0xFFFF_FFFF_FFFF_FFFF;
const _: () = assert!(RELAY_SEQ_UNSET == stream::SEQ_UNSET);

/// Visitor of relay_sessions_for_each(): return 0 to go on, non-zero to stop.
/// `session` carries a reference valid during the call only (take one of
/// your own with relay_session_get() to keep it). Called on the thread that
/// called relay_sessions_for_each(), with no library lock held: it may call
/// any function of this library.
pub type relay_session_visit_func =
    Option<unsafe extern "C" fn(session: *mut relay_session, data: *mut c_void) -> c_int>;

/// Visitor of relay_session_for_each_stream(): return 0 to go on, non-zero
/// to stop. `stream` carries a reference valid during the call only (take
/// one of your own with relay_stream_get() to keep it). Called on the thread
/// that called relay_session_for_each_stream(), with no library lock held:
/// it may call any function of this library.
pub type relay_stream_visit_func =
    Option<unsafe extern "C" fn(stream: *mut relay_stream, data: *mut c_void) -> c_int>;

/// Destructor of a payload attached with traceref_payload_set(): called
/// once, after the object's grace period, on the traceref-reclaim thread or
/// inside a traceref_reclaim_barrier() on its caller's thread (and, under
/// TRACEREF_LEAK_CHECK=1, in the exit handler that reclaims before its
/// report), never inside another call of this library. It must not call into this library; it may
/// take the application's own locks (except one held around
/// traceref_reclaim_barrier()).
pub type traceref_payload_destroy_func = Option<unsafe extern "C" fn(data: *mut c_void)>;

/// Validate a pointer as a live relay object of type `$t`, or return.
macro_rules! arg {
    ($func:expr, $p:expr, $t:ty, $default:expr) => {{
        null_check!($func, $p, $default);
        // SAFETY: a non-null pointer handed to this library by C is, by the
        // documented contract, one it returned, so its tag word is readable.
        match unsafe { object::checked::<$t>($func, $p.cast::<c_void>()) } {
            Some(o) => o,
            None => return $default,
        }
    }};
}

/// A C string argument, or return `$default` when NULL.
macro_rules! cstr_arg {
    ($func:expr, $p:expr, $default:expr) => {{
        null_check!($func, $p, $default);
        // SAFETY: a non-null string argument is NUL-terminated (contract).
        unsafe { CStr::from_ptr($p) }
    }};
}

/// A direct get: the caller names the object, so unlike a lookup by id it
/// should never find it at count 0; a refusal is reported.
fn get_of<T: RelayObject>(func: &str, p: *mut c_void) -> bool {
    let o = arg!(func, p, T, false);
    if object::get(func, o) {
        return true;
    }
    misuse!(
        func,
        "{} {}: get on a reference count of zero; refused",
        T::KIND.name(),
        o.id()
    );
    false
}

fn put_of<T: RelayObject>(func: &str, p: *mut c_void) {
    if p.is_null() {
        return;
    }
    let o = arg!(func, p, T, ());
    // SAFETY: the caller owns the reference it drops.
    unsafe { object::put(func, o) };
}

fn count_of<T: RelayObject>(func: &str, p: *const c_void) -> c_long {
    let o = arg!(func, p, T, -1);
    o.head().count() as c_long
}

fn lock_result(r: Locked) -> c_int {
    match r {
        Locked::Ok => 0,
        Locked::OutOfOrder => 1,
        Locked::Recursive => -1,
    }
}

/// Validate a viewer session pointer.
///
/// # Safety
/// `p` is non-null with a readable tag word.
unsafe fn viewer_session<'a>(
    func: &str,
    p: *mut relay_viewer_session,
) -> Option<&'a ViewerSession> {
    // SAFETY: per the contract; the tag is the first field.
    let vs = unsafe { &*p.cast::<ViewerSession>() };
    match vs.tag().check(Kind::RelayViewerSession) {
        TagCheck::Ok(_) => Some(vs),
        other => {
            misuse!(func, "{:p} is not a live viewer session ({:?})", p, other);
            None
        }
    }
}

macro_rules! vs_arg {
    ($func:expr, $p:expr, $default:expr) => {{
        null_check!($func, $p, $default);
        // SAFETY: non-null, and a pointer from this library (contract).
        match unsafe { viewer_session($func, $p) } {
            Some(v) => v,
            None => return $default,
        }
    }};
}

macro_rules! table_arg {
    ($func:expr, $p:expr, $default:expr) => {{
        null_check!($func, $p, $default);
        // SAFETY: non-null, and a pointer from this library (contract); the
        // tag is the first field.
        let t = unsafe { &*$p.cast::<ConnectionTable>() };
        match t.tag().check(Kind::RelayConnectionTable) {
            TagCheck::Ok(_) => t,
            other => {
                misuse!(
                    $func,
                    "{:p} is not a live connection table ({:?})",
                    $p,
                    other
                );
                return $default;
            }
        }
    }};
}

// ---------------------------------------------------------------------------
// Read-side sections and reclamation.

/// Enter a read-side section: objects seen by lookups made inside it stay
/// allocated until the matching traceref_read_unlock(), even if their last
/// reference is dropped meanwhile. Nestable. Lookups do not need it (each
/// enters its own); it lets a caller batch several lookups cheaply. Must not
/// be held across traceref_reclaim_barrier() or
/// relay_connection_table_destroy(). Needs nothing; any thread (the section
/// is the calling thread's).
#[no_mangle]
pub extern "C" fn traceref_read_lock() {
    ffi_guard!("traceref_read_lock", (), { reclaim::read_lock() })
}

/// Leave the innermost read-side section entered by this thread. Reported
/// and ignored when none is open. Any thread: each leaves its own sections.
#[no_mangle]
pub extern "C" fn traceref_read_unlock() {
    ffi_guard!("traceref_read_unlock", (), {
        if !reclaim::read_unlock() {
            misuse!(
                "traceref_read_unlock",
                "no read-side section is open on this thread"
            );
        }
    })
}

/// Wait until every relay object, and every object of a C kind, whose last
/// reference was put before this call has been reclaimed (its payload
/// destructor or its kind's free function has run and its memory is freed),
/// including objects whose last reference such a destructor or free
/// function drops: a chain of them is reclaimed by one call. Returns 0, or -1 without waiting when called inside a read-side
/// section (it would wait for itself). Any thread; it reclaims on the
/// calling thread too, so payload destructors may run inside it: do not
/// call it holding a lock that a destructor takes.
#[no_mangle]
pub extern "C" fn traceref_reclaim_barrier() -> c_int {
    ffi_guard!("traceref_reclaim_barrier", -1, {
        if reclaim::barrier() {
            0
        } else {
            misuse!(
                "traceref_reclaim_barrier",
                "called inside a read-side section; nothing waited for"
            );
            -1
        }
    })
}

/// Attach a caller payload to a refcounted relay object (session, ctf-trace,
/// stream, index, viewer stream or connection). `destroy` (may be NULL) is
/// called once with `data` when the object is reclaimed, after its grace
/// period: on the library's reclaim thread (`traceref-reclaim`, started with
/// the first object reclaimed and stopped at exit), or inside a
/// traceref_reclaim_barrier() on its caller's thread; never inside a lookup,
/// get, put, close or any other call. It must not call into this library;
/// it may take the application's own locks.
/// Returns 0, or -1 when `obj` is NULL or not a relay object, or already has
/// a payload. The caller must hold a reference on `obj`.
#[no_mangle]
pub extern "C" fn traceref_payload_set(
    obj: *mut c_void,
    data: *mut c_void,
    destroy: traceref_payload_destroy_func,
) -> c_int {
    ffi_guard!("traceref_payload_set", -1, {
        const F: &str = "traceref_payload_set";
        let Some(head) = relay_head(F, obj) else {
            return -1;
        };
        if head.set_payload(data, destroy) {
            0
        } else {
            misuse!(F, "{:p} already has a payload", obj);
            -1
        }
    })
}

/// The payload attached to `obj`, or NULL (none, NULL `obj`, or not a relay
/// object). The caller must hold a reference on `obj`.
#[no_mangle]
pub extern "C" fn traceref_payload_get(obj: *mut c_void) -> *mut c_void {
    ffi_guard!("traceref_payload_get", ptr::null_mut(), {
        match relay_head("traceref_payload_get", obj) {
            Some(h) => h.payload(),
            None => ptr::null_mut(),
        }
    })
}

fn relay_head<'a>(func: &str, obj: *mut c_void) -> Option<&'a Head> {
    if obj.is_null() {
        misuse!(func, "obj is NULL");
        return None;
    }
    // SAFETY: a pointer from this library (contract): its first field is the
    // tag, and for refcounted relay objects the `Head` that contains it.
    let head = unsafe { &*obj.cast::<Head>() };
    match head.tag().read() {
        TagCheck::Ok(
            Kind::RelaySession
            | Kind::RelayCtfTrace
            | Kind::RelayStream
            | Kind::RelayIndex
            | Kind::RelayViewerStream
            | Kind::RelayConnection,
        ) => Some(head),
        other => {
            misuse!(
                func,
                "{:p} is not a refcounted relay object ({:?})",
                obj,
                other
            );
            None
        }
    }
}

// ---------------------------------------------------------------------------
// Sessions.

/// Create a session with a new id (from a global counter) and count 1: the
/// owner's reference, dropped by relay_session_close(), or by the final put
/// of the connection it is given to (see relay_connection_set_session()).
/// It is in the session table at once. `name` and `hostname` are copied.
/// `live_timer` is the session's live timer period in microseconds, as the
/// session daemon sends it (0 for a session that is not live); `snapshot`
/// tells a snapshot session; `major` and `minor` are the relay protocol
/// version of the connection that creates the session (the one the session
/// daemon announced, e.g. 2 and 11 for 2.11). The library stores these four
/// for the getters and interprets none of them. NULL when `name` or
/// `hostname` is NULL. Needs nothing; any thread.
#[no_mangle]
pub extern "C" fn relay_session_create(
    name: *const c_char,
    hostname: *const c_char,
    live_timer: u32,
    snapshot: bool,
    major: u32,
    minor: u32,
) -> *mut relay_session {
    ffi_guard!("relay_session_create", ptr::null_mut(), {
        const F: &str = "relay_session_create";
        let n = cstr_arg!(F, name, ptr::null_mut());
        let h = cstr_arg!(F, hostname, ptr::null_mut());
        Session::create(n, h, live_timer, snapshot, major, minor).cast()
    })
}

/// Look a session up by id and take a reference (put it when done). NULL
/// when no such session exists or its count already reached 0. Takes no
/// lock and needs no reference: any thread, holding any lock, inside a
/// read-side section or not.
#[no_mangle]
pub extern "C" fn relay_session_get_by_id(id: u64) -> *mut relay_session {
    ffi_guard!("relay_session_get_by_id", ptr::null_mut(), {
        model::get_by_id("relay_session_get_by_id", &model::SESSIONS, id).cast()
    })
}

/// Take a reference on `session` unless its count is 0. Returns true when
/// taken. The caller must hold a reference on `session`, or be inside a
/// read-side section in which it found it (that keeps it allocated); any
/// thread. A count of 0 here
/// means the caller kept a pointer past its last reference: the get is
/// refused (false) and one warning line is printed. To race the last put on
/// purpose, look the object up by id instead: those lookups refuse silently.
#[no_mangle]
pub extern "C" fn relay_session_get(session: *mut relay_session) -> bool {
    ffi_guard!("relay_session_get", false, {
        get_of::<Session>("relay_session_get", session.cast())
    })
}

/// Drop a reference on `session`. At 0 the session leaves the session table
/// and is reclaimed after a grace period. NULL does nothing. A put with no
/// reference left to drop (a double put) releases nothing and prints one
/// warning; one that races the last legitimate put may leave the object
/// never released (leaked, never freed twice or under a reference). The
/// same holds for every relay_*_put(). The caller gives up the reference it
/// drops: without another one of its own it must not use `session`
/// afterwards. Any thread.
#[no_mangle]
pub extern "C" fn relay_session_put(session: *mut relay_session) {
    ffi_guard!("relay_session_put", (), {
        put_of::<Session>("relay_session_put", session.cast())
    })
}

/// Close `session`: mark it closed, close its traces' streams (a stream
/// still waiting for announced data closes when it arrives, or when the
/// session is aborted; a stream whose lock this thread holds completes its
/// close at relay_stream_unlock(), see relay_stream_close()) and put the
/// owner's reference. Returns 0, or -1 when NULL or already closed (nothing
/// changes). The caller gives up the owner's reference and must hold another
/// if it keeps using `session`. Must not be called with the session's lock
/// held.
#[no_mangle]
pub extern "C" fn relay_session_close(session: *mut relay_session) -> c_int {
    ffi_guard!("relay_session_close", -1, {
        const F: &str = "relay_session_close";
        let s = arg!(F, session, Session, -1);
        // SAFETY: the caller holds the owner's reference.
        if unsafe { s.close(F) } {
            0
        } else {
            misuse!(F, "session {} is already closed", s.id());
            -1
        }
    })
}

/// Mark `session` aborted: its streams close without waiting for announced
/// data (a stream whose lock this thread holds completes its close at
/// relay_stream_unlock(), see relay_stream_close()). Returns 0, or -1 for
/// NULL. The caller must hold a reference.
#[no_mangle]
pub extern "C" fn relay_session_abort(session: *mut relay_session) -> c_int {
    ffi_guard!("relay_session_abort", -1, {
        let s = arg!("relay_session_abort", session, Session, -1);
        s.abort("relay_session_abort");
        0
    })
}

/// The id of `session`, or `UINT64_MAX` for NULL. The caller must hold a
/// reference on `session`.
#[no_mangle]
pub extern "C" fn relay_session_get_id(session: *mut relay_session) -> u64 {
    ffi_guard!("relay_session_get_id", u64::MAX, {
        arg!("relay_session_get_id", session, Session, u64::MAX).id()
    })
}

/// The name of `session` (valid while it is held), or NULL for NULL. The
/// caller must hold a reference on `session`.
#[no_mangle]
pub extern "C" fn relay_session_get_name(session: *mut relay_session) -> *const c_char {
    ffi_guard!("relay_session_get_name", ptr::null(), {
        arg!("relay_session_get_name", session, Session, ptr::null())
            .name
            .as_ptr()
    })
}

/// The hostname of `session` (valid while it is held), or NULL for NULL.
/// The caller must hold a reference on `session`.
#[no_mangle]
pub extern "C" fn relay_session_get_hostname(session: *mut relay_session) -> *const c_char {
    ffi_guard!("relay_session_get_hostname", ptr::null(), {
        arg!("relay_session_get_hostname", session, Session, ptr::null())
            .hostname
            .as_ptr()
    })
}

/// The live timer period of `session` in microseconds, as given to
/// relay_session_create() (0 for NULL). The caller must hold a reference on
/// `session`.
#[no_mangle]
pub extern "C" fn relay_session_get_live_timer(session: *mut relay_session) -> u32 {
    ffi_guard!("relay_session_get_live_timer", 0, {
        arg!("relay_session_get_live_timer", session, Session, 0).live_timer
    })
}

/// Whether `session` is a snapshot session (false for NULL). The caller
/// must hold a reference on `session`.
#[no_mangle]
pub extern "C" fn relay_session_is_snapshot(session: *mut relay_session) -> bool {
    ffi_guard!("relay_session_is_snapshot", false, {
        arg!("relay_session_is_snapshot", session, Session, false).snapshot
    })
}

/// The relay protocol major version of `session`, as given to
/// relay_session_create() (0 for NULL). The caller must hold a reference on
/// `session`.
#[no_mangle]
pub extern "C" fn relay_session_get_major(session: *mut relay_session) -> u32 {
    ffi_guard!("relay_session_get_major", 0, {
        arg!("relay_session_get_major", session, Session, 0).major
    })
}

/// The relay protocol minor version of `session`, as given to
/// relay_session_create() (0 for NULL). The caller must hold a reference on
/// `session`.
#[no_mangle]
pub extern "C" fn relay_session_get_minor(session: *mut relay_session) -> u32 {
    ffi_guard!("relay_session_get_minor", 0, {
        arg!("relay_session_get_minor", session, Session, 0).minor
    })
}

/// Whether `session` was closed (false for NULL). The caller must hold a
/// reference on `session`.
#[no_mangle]
pub extern "C" fn relay_session_is_closed(session: *mut relay_session) -> bool {
    ffi_guard!("relay_session_is_closed", false, {
        arg!("relay_session_is_closed", session, Session, false).is_closed()
    })
}

/// Whether `session` was aborted (false for NULL). The caller must hold a
/// reference on `session`.
#[no_mangle]
pub extern "C" fn relay_session_is_aborted(session: *mut relay_session) -> bool {
    ffi_guard!("relay_session_is_aborted", false, {
        arg!("relay_session_is_aborted", session, Session, false).is_aborted()
    })
}

/// The reference count of `session`, for tests and diagnostics; -1 for NULL.
/// The caller must hold a reference on `session` (counted in the result), or
/// be inside a read-side section in which it found it (it may read 0).
#[no_mangle]
pub extern "C" fn relay_session_get_ref_count(session: *mut relay_session) -> c_long {
    ffi_guard!("relay_session_get_ref_count", -1, {
        count_of::<Session>("relay_session_get_ref_count", session.cast())
    })
}

/// Take the lock of `session`: the outermost lock (session, then ctf-trace,
/// then stream). Returns 0; 1 when taken out of order (reported: this thread
/// holds an inner lock, or another lock of the same level); -1, not taken,
/// when NULL or already held by this thread. The caller must hold a
/// reference.
#[no_mangle]
pub extern "C" fn relay_session_lock(session: *mut relay_session) -> c_int {
    ffi_guard!("relay_session_lock", -1, {
        const F: &str = "relay_session_lock";
        let s = arg!(F, session, Session, -1);
        lock_result(s.lock.lock(F, Level::Session, Kind::RelaySession, s.id()))
    })
}

/// Release the lock of `session`. Returns 0, or -1 when NULL or not held by
/// this thread (reported, nothing released). The caller must hold the lock
/// (taken by this thread) and a reference on `session`.
#[no_mangle]
pub extern "C" fn relay_session_unlock(session: *mut relay_session) -> c_int {
    ffi_guard!("relay_session_unlock", -1, {
        const F: &str = "relay_session_unlock";
        let s = arg!(F, session, Session, -1);
        if s.lock.unlock(F, Kind::RelaySession, s.id()) {
            0
        } else {
            -1
        }
    })
}

/// Call `visit` on every session of the session table whose get succeeds,
/// with a reference valid during the call (put by the library afterwards).
/// Stops when `visit` returns non-zero. Returns the number of sessions
/// visited, or -1 when `visit` is NULL. No library lock is held during the
/// calls, so `visit` may call any function of this library. Needs nothing;
/// any thread.
#[no_mangle]
pub extern "C" fn relay_sessions_for_each(
    visit: relay_session_visit_func,
    data: *mut c_void,
) -> c_int {
    ffi_guard!("relay_sessions_for_each", -1, {
        const F: &str = "relay_sessions_for_each";
        let Some(visit) = visit else {
            misuse!(F, "visit is NULL");
            return -1;
        };
        visit_all(
            F,
            model::table_snapshot(F, &model::SESSIONS),
            |_| false,
            |p| {
                // SAFETY: the visitor is a C function given by the caller.
                unsafe { visit(p.0 as *mut relay_session, data) }
            },
        )
    })
}

/// Call `visit` on every stream of `session` (published or not) that is not
/// closed when its turn comes, with a reference valid during the call. The
/// walk goes over the streams the session had when it started (one created
/// meanwhile is not visited) and checks each right before its visit: a
/// stream closed by an earlier visit, or by another thread, before its turn
/// is skipped (one closed during its own visit stays valid until the call
/// returns). Stops when `visit` returns non-zero. Returns the number
/// visited, or -1 when an argument is NULL. The caller must hold a reference
/// on `session`; no library lock is held during the calls, so `visit` may
/// call any function of this library.
#[no_mangle]
pub extern "C" fn relay_session_for_each_stream(
    session: *mut relay_session,
    visit: relay_stream_visit_func,
    data: *mut c_void,
) -> c_int {
    ffi_guard!("relay_session_for_each_stream", -1, {
        const F: &str = "relay_session_for_each_stream";
        let s = arg!(F, session, Session, -1);
        let Some(visit) = visit else {
            misuse!(F, "visit is NULL");
            return -1;
        };
        visit_all(F, s.streams_snapshot(F), Stream::is_closed, |p| {
            // SAFETY: the visitor is a C function given by the caller.
            unsafe { visit(p.0 as *mut relay_stream, data) }
        })
    })
}

/// Visit each referenced object, unless `skip` says otherwise right before
/// its turn, putting every reference, and count visits.
fn visit_all<T: RelayObject>(
    func: &str,
    all: Vec<Ptr<T>>,
    skip: impl Fn(&T) -> bool,
    mut visit: impl FnMut(Ptr<T>) -> c_int,
) -> c_int {
    let mut n = 0;
    let mut stop = false;
    for p in all {
        // SAFETY: each entry carries a reference taken by the snapshot.
        let o = unsafe { p.get() };
        if !stop && !skip(o) {
            n += 1;
            stop = visit(p) != 0;
        }
        // SAFETY: the snapshot's reference on `o`, dropped once.
        unsafe { object::put(func, o) };
    }
    n
}

// ---------------------------------------------------------------------------
// Ctf-traces.

/// The trace of `session` at `path`, created if there is none (it then takes
/// a reference on the session). Returns a new reference the caller puts; two
/// racing callers get the same trace. NULL for NULL arguments, or when there
/// is no trace at `path` and the session is closed (silently: another
/// thread's close can cause it; an existing trace is still returned, as the
/// original did). The caller must hold a reference on `session`.
#[no_mangle]
pub extern "C" fn relay_ctf_trace_get_by_path_or_create(
    session: *mut relay_session,
    path: *const c_char,
) -> *mut ctf_trace {
    ffi_guard!("relay_ctf_trace_get_by_path_or_create", ptr::null_mut(), {
        const F: &str = "relay_ctf_trace_get_by_path_or_create";
        let s = arg!(F, session, Session, ptr::null_mut());
        let p = cstr_arg!(F, path, ptr::null_mut());
        match CtfTrace::get_by_path_or_create(F, s, p) {
            Ok(t) => t.cast(),
            Err(TraceError::SessionClosed) => {
                // Not a misuse: another thread's close can cause it.
                trace_ref!(F, "session {} is closed: no new trace", s.id());
                ptr::null_mut()
            }
            Err(TraceError::SessionGone) => {
                misuse!(F, "session {} has a count of zero", s.id());
                ptr::null_mut()
            }
        }
    })
}

/// Take a reference on `trace` unless its count is 0; true when taken. At
/// count 0: false and one warning line, as for relay_session_get(). The
/// caller must hold a reference on `trace` (or keep it allocated, as for
/// relay_session_get()).
#[no_mangle]
pub extern "C" fn relay_ctf_trace_get(trace: *mut ctf_trace) -> bool {
    ffi_guard!("relay_ctf_trace_get", false, {
        get_of::<CtfTrace>("relay_ctf_trace_get", trace.cast())
    })
}

/// Drop a reference on `trace`; at 0 it leaves its session and puts its
/// session reference. NULL does nothing. The caller gives up the reference
/// it drops.
#[no_mangle]
pub extern "C" fn relay_ctf_trace_put(trace: *mut ctf_trace) {
    ffi_guard!("relay_ctf_trace_put", (), {
        put_of::<CtfTrace>("relay_ctf_trace_put", trace.cast())
    })
}

/// The reference count of `trace`; -1 for NULL. The caller must hold a
/// reference on `trace` (or keep it allocated, as for relay_session_get()).
#[no_mangle]
pub extern "C" fn relay_ctf_trace_get_ref_count(trace: *mut ctf_trace) -> c_long {
    ffi_guard!("relay_ctf_trace_get_ref_count", -1, {
        count_of::<CtfTrace>("relay_ctf_trace_get_ref_count", trace.cast())
    })
}

/// The path of `trace` (valid while it is held), or NULL for NULL. The
/// caller must hold a reference on `trace`.
#[no_mangle]
pub extern "C" fn relay_ctf_trace_get_path(trace: *mut ctf_trace) -> *const c_char {
    ffi_guard!("relay_ctf_trace_get_path", ptr::null(), {
        arg!("relay_ctf_trace_get_path", trace, CtfTrace, ptr::null())
            .path
            .as_ptr()
    })
}

/// The session of `trace`, WITHOUT a new reference (a borrowed pointer):
/// valid while `trace` is held (the trace holds its session). NULL for
/// NULL. The caller must hold a reference on `trace`.
#[no_mangle]
pub extern "C" fn relay_ctf_trace_get_session(trace: *mut ctf_trace) -> *mut relay_session {
    ffi_guard!("relay_ctf_trace_get_session", ptr::null_mut(), {
        arg!(
            "relay_ctf_trace_get_session",
            trace,
            CtfTrace,
            ptr::null_mut()
        )
        .session
        .0 as *mut _
    })
}

/// A new reference (put it with relay_viewer_stream_put()) on the viewer
/// stream of the metadata stream of `trace`. NULL when `trace` is NULL or
/// not a ctf-trace, when no viewer stream of its metadata stream was
/// created, or when that viewer stream's count reached 0 (the trace points
/// at it without holding a reference, so a released one is not returned;
/// a closed one that someone still holds is). The caller must hold a
/// reference on `trace`; any thread.
#[no_mangle]
pub extern "C" fn relay_ctf_trace_get_viewer_metadata_stream(
    trace: *mut ctf_trace,
) -> *mut relay_viewer_stream {
    ffi_guard!(
        "relay_ctf_trace_get_viewer_metadata_stream",
        ptr::null_mut(),
        {
            const F: &str = "relay_ctf_trace_get_viewer_metadata_stream";
            arg!(F, trace, CtfTrace, ptr::null_mut())
                .viewer_metadata_stream(F)
                .cast()
        }
    )
}

/// Take the lock of `trace` (nests inside its session's lock). Returns 0; 1
/// when taken out of order (reported); -1, not taken, for NULL or when this
/// thread already holds it. The caller must hold a reference on `trace`.
#[no_mangle]
pub extern "C" fn relay_ctf_trace_lock(trace: *mut ctf_trace) -> c_int {
    ffi_guard!("relay_ctf_trace_lock", -1, {
        const F: &str = "relay_ctf_trace_lock";
        let t = arg!(F, trace, CtfTrace, -1);
        lock_result(t.lock.lock(F, Level::Trace, Kind::RelayCtfTrace, t.id()))
    })
}

/// Release the lock of `trace`. Returns 0, or -1 when NULL or not held by
/// this thread. The caller must hold the lock (taken by this thread) and a
/// reference on `trace`.
#[no_mangle]
pub extern "C" fn relay_ctf_trace_unlock(trace: *mut ctf_trace) -> c_int {
    ffi_guard!("relay_ctf_trace_unlock", -1, {
        const F: &str = "relay_ctf_trace_unlock";
        let t = arg!(F, trace, CtfTrace, -1);
        if t.lock.unlock(F, Kind::RelayCtfTrace, t.id()) {
            0
        } else {
            -1
        }
    })
}

// ---------------------------------------------------------------------------
// Streams.

/// Create a stream of `trace` with a unique `handle`: count 1, the owner's
/// reference, dropped by relay_stream_close() or relay_stream_try_close().
/// It takes a reference on the trace, joins its session's streams (not yet
/// published) and the stream table. A channel named "metadata" makes a
/// metadata stream. NULL for NULL arguments or a handle already in the
/// stream table (one warning line each), or for a closed session (silently:
/// another thread's close can cause it). The caller must hold a reference
/// on `trace`.
///
/// The returned reference is the owner's, and the session's close or abort
/// (or its connection's final put) closes the stream and puts it, from any
/// thread. So when another thread may tear the session down meanwhile,
/// create the stream inside a read-side section (traceref_read_lock()) and
/// take a reference of your own with relay_stream_get_by_id() before
/// leaving it: NULL then means the teardown came first.
#[no_mangle]
pub extern "C" fn relay_stream_create(
    trace: *mut ctf_trace,
    handle: u64,
    path_name: *const c_char,
    channel_name: *const c_char,
    tracefile_size: u64,
    tracefile_count: u64,
) -> *mut relay_stream {
    ffi_guard!("relay_stream_create", ptr::null_mut(), {
        const F: &str = "relay_stream_create";
        let t = arg!(F, trace, CtfTrace, ptr::null_mut());
        let p = cstr_arg!(F, path_name, ptr::null_mut());
        let c = cstr_arg!(F, channel_name, ptr::null_mut());
        match Stream::create(F, t, handle, p, c, tracefile_size, tracefile_count) {
            Ok(s) => s.cast(),
            Err(stream::CreateError::SessionClosed) => {
                // Not a misuse: another thread's close can cause it.
                trace_ref!(F, "stream {} not created: its session is closed", handle);
                ptr::null_mut()
            }
            Err(e) => {
                misuse!(F, "stream {} not created: {:?}", handle, e);
                ptr::null_mut()
            }
        }
    })
}

/// Look a stream up by handle and take a reference (put it when done). NULL
/// when absent (never created, or closed) or when its count reached 0.
/// Takes no lock and needs no reference: any thread, holding any lock,
/// inside a read-side section or not.
#[no_mangle]
pub extern "C" fn relay_stream_get_by_id(handle: u64) -> *mut relay_stream {
    ffi_guard!("relay_stream_get_by_id", ptr::null_mut(), {
        model::get_by_id("relay_stream_get_by_id", &model::STREAMS, handle).cast()
    })
}

/// Take a reference on `stream` unless its count is 0; true when taken. At
/// count 0: false and one warning line, as for relay_session_get(). The
/// caller must hold a reference on `stream` (or keep it allocated, as for
/// relay_session_get()).
#[no_mangle]
pub extern "C" fn relay_stream_get(stream: *mut relay_stream) -> bool {
    ffi_guard!("relay_stream_get", false, {
        get_of::<Stream>("relay_stream_get", stream.cast())
    })
}

/// Drop a reference on `stream`; at 0 it leaves every table and list and
/// puts its trace reference. NULL does nothing. The caller gives up the
/// reference it drops.
#[no_mangle]
pub extern "C" fn relay_stream_put(stream: *mut relay_stream) {
    ffi_guard!("relay_stream_put", (), {
        put_of::<Stream>("relay_stream_put", stream.cast())
    })
}

/// Publish `stream`: it moves to its trace's published streams, visible to
/// viewers. Returns 0, or -1 for NULL, an already published stream or one
/// its owner closed (one warning line each), or a stream that its session's
/// close or abort closed (silently: a publish racing the session's
/// teardown is normal). The caller must hold a reference.
#[no_mangle]
pub extern "C" fn relay_stream_publish(stream: *mut relay_stream) -> c_int {
    ffi_guard!("relay_stream_publish", -1, {
        const F: &str = "relay_stream_publish";
        let s = arg!(F, stream, Stream, -1);
        match s.publish() {
            Ok(()) => 0,
            Err(stream::Unpublished::Closed(Closer::Teardown)) => {
                trace_ref!(F, "stream {} was closed by its session", s.id());
                -1
            }
            Err(stream::Unpublished::Closed(Closer::Owner)) => {
                misuse!(F, "stream {} is closed", s.id());
                -1
            }
            Err(stream::Unpublished::AlreadyPublished) => {
                misuse!(F, "stream {} is already published", s.id());
                -1
            }
        }
    })
}

fn close_result(func: &str, s: &Stream, r: Close) -> c_int {
    match r {
        Close::Closed => 0,
        Close::Pending => 1,
        Close::AlreadyClosed(Closer::Owner) => {
            misuse!(func, "stream {} is already closed", s.id());
            -1
        }
        Close::AlreadyClosed(Closer::Teardown) => {
            // Not a misuse: the owner's close raced its session's teardown.
            trace_ref!(func, "stream {} was closed by its session", s.id());
            -1
        }
    }
}

/// Close `stream` now: it leaves the stream table and its lists (it is
/// closed from then on), every index drops its self reference, and the
/// owner's reference is put. Those last two steps belong to a release of the
/// stream's lock, so that an index borrowed under the lock stays valid for
/// as long as the lock is held: when no thread holds it, the call takes and
/// releases it, so the close completes before it returns; when this thread
/// holds it, its relay_stream_unlock() completes the close; when another
/// thread holds it, that thread's relay_stream_unlock() does (the lock is
/// never waited for). The same holds for every call that completes a close
/// (relay_stream_try_close(), relay_stream_set_received_seq_num(),
/// relay_stream_set_last_net_seq_num(), relay_session_abort(),
/// relay_session_close(), a connection's final relay_connection_put());
/// however many of them are made under the lock, the close completes once.
/// Returns 0, or -1 when NULL or already closed (nothing changes): with one
/// warning line when the owner closed it before, silently when its
/// session's close or abort, or its connection's final put, did (the
/// owner's close racing the session's teardown is normal; hold a reference
/// of your own to make that call safely). The caller gives up the owner's
/// reference. Any thread; may be called holding any relay lock.
#[no_mangle]
pub extern "C" fn relay_stream_close(stream: *mut relay_stream) -> c_int {
    ffi_guard!("relay_stream_close", -1, {
        const F: &str = "relay_stream_close";
        let s = arg!(F, stream, Stream, -1);
        close_result(F, s, s.close(F, Closer::Owner))
    })
}

/// Close `stream` once the data up to its `last_net_seq_num` has arrived
/// (see relay_stream_set_received_seq_num()), or at once when no
/// `last_net_seq_num` was announced or the session was aborted. Returns 0
/// when closed now, as by relay_stream_close(); 1 when the close is
/// pending; -1 for NULL or an already closed stream, as
/// relay_stream_close(). A close made while this thread holds the stream's
/// lock completes at its relay_stream_unlock() (see relay_stream_close()).
///
/// On 0 or 1 the caller gives up the owner's reference. After 1, the stream
/// keeps it until the close completes: the stream stays open (in the stream
/// table, publishable, not relay_stream_is_closed()) until the call that
/// brings the data (relay_stream_set_received_seq_num() or
/// relay_stream_set_last_net_seq_num()) or aborts its session
/// (relay_session_abort()), made by any thread, completes the close and
/// puts the owner's reference; a relay_stream_close() of `stream` meanwhile
/// completes it at once. So the stream may be released at any moment after
/// this call returns: the caller may keep using `stream` only if it holds a
/// reference of its own (taken before, or with relay_stream_get_by_id()).
/// Any thread; may be called holding any relay lock, as relay_stream_close().
#[no_mangle]
pub extern "C" fn relay_stream_try_close(stream: *mut relay_stream) -> c_int {
    ffi_guard!("relay_stream_try_close", -1, {
        const F: &str = "relay_stream_try_close";
        let s = arg!(F, stream, Stream, -1);
        close_result(F, s, s.try_close(F, Closer::Owner))
    })
}

/// The handle of `stream`, or `UINT64_MAX` for NULL. The caller must hold a
/// reference on `stream`.
#[no_mangle]
pub extern "C" fn relay_stream_get_handle(stream: *mut relay_stream) -> u64 {
    ffi_guard!("relay_stream_get_handle", u64::MAX, {
        arg!("relay_stream_get_handle", stream, Stream, u64::MAX).id()
    })
}

/// The path name of `stream` (valid while it is held), or NULL for NULL.
/// The caller must hold a reference on `stream`.
#[no_mangle]
pub extern "C" fn relay_stream_get_path_name(stream: *mut relay_stream) -> *const c_char {
    ffi_guard!("relay_stream_get_path_name", ptr::null(), {
        arg!("relay_stream_get_path_name", stream, Stream, ptr::null())
            .path_name
            .as_ptr()
    })
}

/// The channel name of `stream` (valid while it is held), or NULL for NULL.
/// The caller must hold a reference on `stream`.
#[no_mangle]
pub extern "C" fn relay_stream_get_channel_name(stream: *mut relay_stream) -> *const c_char {
    ffi_guard!("relay_stream_get_channel_name", ptr::null(), {
        arg!("relay_stream_get_channel_name", stream, Stream, ptr::null())
            .channel_name
            .as_ptr()
    })
}

/// The trace file size of `stream` (0 for NULL). The caller must hold a
/// reference on `stream`.
#[no_mangle]
pub extern "C" fn relay_stream_get_tracefile_size(stream: *mut relay_stream) -> u64 {
    ffi_guard!("relay_stream_get_tracefile_size", 0, {
        arg!("relay_stream_get_tracefile_size", stream, Stream, 0).tracefile_size
    })
}

/// The trace file count of `stream` (0 for NULL). The caller must hold a
/// reference on `stream`.
#[no_mangle]
pub extern "C" fn relay_stream_get_tracefile_count(stream: *mut relay_stream) -> u64 {
    ffi_guard!("relay_stream_get_tracefile_count", 0, {
        arg!("relay_stream_get_tracefile_count", stream, Stream, 0).tracefile_count
    })
}

/// Whether `stream` was published (false for NULL). The caller must hold a
/// reference on `stream`.
#[no_mangle]
pub extern "C" fn relay_stream_is_published(stream: *mut relay_stream) -> bool {
    ffi_guard!("relay_stream_is_published", false, {
        arg!("relay_stream_is_published", stream, Stream, false).is_published()
    })
}

/// Whether `stream` was closed (false for NULL; false too while a close is
/// pending, see relay_stream_try_close()). The caller must hold a reference
/// on `stream`.
#[no_mangle]
pub extern "C" fn relay_stream_is_closed(stream: *mut relay_stream) -> bool {
    ffi_guard!("relay_stream_is_closed", false, {
        arg!("relay_stream_is_closed", stream, Stream, false).is_closed()
    })
}

/// Whether `stream` is a metadata stream (false for NULL). The caller must
/// hold a reference on `stream`.
#[no_mangle]
pub extern "C" fn relay_stream_is_metadata(stream: *mut relay_stream) -> bool {
    ffi_guard!("relay_stream_is_metadata", false, {
        arg!("relay_stream_is_metadata", stream, Stream, false).is_metadata
    })
}

/// The announced last sequence number of `stream`, `RELAY_SEQ_UNSET` when
/// none was announced or for NULL. The caller must hold a reference on
/// `stream`.
#[no_mangle]
pub extern "C" fn relay_stream_get_last_net_seq_num(stream: *mut relay_stream) -> u64 {
    ffi_guard!("relay_stream_get_last_net_seq_num", RELAY_SEQ_UNSET, {
        arg!(
            "relay_stream_get_last_net_seq_num",
            stream,
            Stream,
            RELAY_SEQ_UNSET
        )
        .last_net_seq_num()
    })
}

/// Announce the last sequence number of `stream` (the close command's). A
/// pending close completes if the data already arrived (at
/// relay_stream_unlock() when this thread holds the stream's lock, see
/// relay_stream_close()). Returns 0, or -1 for NULL. The caller must hold a
/// reference.
#[no_mangle]
pub extern "C" fn relay_stream_set_last_net_seq_num(stream: *mut relay_stream, seq: u64) -> c_int {
    ffi_guard!("relay_stream_set_last_net_seq_num", -1, {
        const F: &str = "relay_stream_set_last_net_seq_num";
        arg!(F, stream, Stream, -1).set_last_net_seq_num(F, seq);
        0
    })
}

/// The highest sequence number whose data arrived, `RELAY_SEQ_UNSET` when
/// none or for NULL. The caller must hold a reference on `stream`.
#[no_mangle]
pub extern "C" fn relay_stream_get_received_seq_num(stream: *mut relay_stream) -> u64 {
    ffi_guard!("relay_stream_get_received_seq_num", RELAY_SEQ_UNSET, {
        arg!(
            "relay_stream_get_received_seq_num",
            stream,
            Stream,
            RELAY_SEQ_UNSET
        )
        .received_seq_num()
    })
}

/// Record that the data of `stream` up to `seq` arrived (the highest value
/// is kept). A pending close completes once `last_net_seq_num` is reached,
/// putting the owner's reference (at relay_stream_unlock() when this thread
/// holds the stream's lock: the indexes borrowed under it stay valid, see
/// relay_stream_close()). Returns 0, or -1 for NULL. The caller must hold a
/// reference.
#[no_mangle]
pub extern "C" fn relay_stream_set_received_seq_num(stream: *mut relay_stream, seq: u64) -> c_int {
    ffi_guard!("relay_stream_set_received_seq_num", -1, {
        const F: &str = "relay_stream_set_received_seq_num";
        arg!(F, stream, Stream, -1).set_received_seq_num(F, seq);
        0
    })
}

/// The trace of `stream`, WITHOUT a new reference (a borrowed pointer):
/// valid while `stream` is held. NULL for NULL. The caller must hold a
/// reference on `stream`.
#[no_mangle]
pub extern "C" fn relay_stream_get_trace(stream: *mut relay_stream) -> *mut ctf_trace {
    ffi_guard!("relay_stream_get_trace", ptr::null_mut(), {
        arg!("relay_stream_get_trace", stream, Stream, ptr::null_mut())
            .trace
            .0 as *mut _
    })
}

/// The reference count of `stream`; -1 for NULL. The caller must hold a
/// reference on `stream` (or keep it allocated, as for relay_session_get()).
#[no_mangle]
pub extern "C" fn relay_stream_get_ref_count(stream: *mut relay_stream) -> c_long {
    ffi_guard!("relay_stream_get_ref_count", -1, {
        count_of::<Stream>("relay_stream_get_ref_count", stream.cast())
    })
}

/// Take the lock of `stream` (innermost: nests inside its trace's and its
/// session's locks; also guards its indexes and viewer streams). Returns 0;
/// 1 when taken out of order (reported); -1, not taken, for NULL or when
/// this thread already holds it. The caller must hold a reference on
/// `stream`.
#[no_mangle]
pub extern "C" fn relay_stream_lock(stream: *mut relay_stream) -> c_int {
    ffi_guard!("relay_stream_lock", -1, {
        const F: &str = "relay_stream_lock";
        let s = arg!(F, stream, Stream, -1);
        lock_result(s.lock.lock(F, Level::Stream, Kind::RelayStream, s.id()))
    })
}

/// Release the lock of `stream`. A close of `stream` made while this thread
/// held the lock completes here (see relay_stream_close()): its indexes
/// drop their self references, then its owner's reference is put, so the
/// caller must not use `stream` afterwards unless it holds a reference of
/// its own. Returns 0, or -1 when NULL or not held by this thread (nothing
/// released). The caller must hold the lock (taken by this thread) and a
/// reference on `stream`, or have given up the owner's reference by a close
/// made under the lock (the stream then stays allocated until this call
/// returns).
#[no_mangle]
pub extern "C" fn relay_stream_unlock(stream: *mut relay_stream) -> c_int {
    ffi_guard!("relay_stream_unlock", -1, {
        const F: &str = "relay_stream_unlock";
        let s = arg!(F, stream, Stream, -1);
        if s.unlock(F) {
            0
        } else {
            -1
        }
    })
}

// ---------------------------------------------------------------------------
// Indexes.

/// The index of `stream` for `net_seq_num`, created if absent with a
/// reference on the stream and a self reference (count 1). As in the
/// original, NO reference is taken for the caller: the pointer is borrowed,
/// and stays valid for as long as the caller holds the stream's lock,
/// whatever the calls it makes meanwhile: the self reference is only
/// dropped under that lock, and a close of the stream completed by a call
/// under it (relay_stream_set_received_seq_num(), relay_session_abort(),
/// ...) leaves that to relay_stream_unlock() (see relay_stream_close()).
/// Only the caller's own relay_index_try_flush() of this index or
/// relay_index_close_all() of the stream drop it at once: the pointer is
/// not to be used after those. Take relay_index_get() for a reference that
/// outlives the lock. Two threads asking for the same `net_seq_num` get the
/// same index. NULL for NULL, or for a closed stream (silently). The caller must hold the
/// stream's lock (reported if not) and a reference on the stream.
#[no_mangle]
pub extern "C" fn relay_index_get_by_id_or_create(
    stream: *mut relay_stream,
    net_seq_num: u64,
) -> *mut relay_index {
    ffi_guard!("relay_index_get_by_id_or_create", ptr::null_mut(), {
        const F: &str = "relay_index_get_by_id_or_create";
        let s = arg!(F, stream, Stream, ptr::null_mut());
        if !s.lock.held_by_me() {
            misuse!(F, "called without the lock of stream {}", s.id());
        }
        let i = Index::get_by_id_or_create(F, s, net_seq_num);
        if i.is_null() {
            // Not a misuse: a close by another thread, or by a call this
            // thread made under the lock, can cause it.
            trace_ref!(F, "stream {} is closed: no new index", s.id());
        }
        i.cast()
    })
}

/// Take a reference on `index` unless its count is 0; true when taken. At
/// count 0: false and one warning line, as for relay_session_get(). The
/// caller must hold a reference on `index`, or the lock of its stream with
/// `index` borrowed under it (see relay_index_get_by_id_or_create()).
#[no_mangle]
pub extern "C" fn relay_index_get(index: *mut relay_index) -> bool {
    ffi_guard!("relay_index_get", false, {
        get_of::<Index>("relay_index_get", index.cast())
    })
}

/// Drop a reference on `index`; at 0 it leaves its stream and puts its
/// stream reference. NULL does nothing. The caller gives up the reference
/// it drops (never put a borrowed index).
#[no_mangle]
pub extern "C" fn relay_index_put(index: *mut relay_index) {
    ffi_guard!("relay_index_put", (), {
        put_of::<Index>("relay_index_put", index.cast())
    })
}

/// Flush `index` if its stream's data up to its `net_seq_num` arrived: the
/// index leaves its stream and its self reference is put (the index is
/// reclaimed then unless someone holds a reference from relay_index_get()).
/// Returns 0 when flushed now, 1 when no flush was done (data not there yet,
/// or already flushed), -1 for NULL, as the original. The caller must hold
/// the stream's lock (with `index` borrowed under it) or a reference on
/// `index`; any thread. When the data has arrived, the flush is done under
/// the stream's lock: if this thread does not hold it, the call takes the
/// stream's lock, and waits for it while another thread holds it (checked
/// against the locks this thread holds, as relay_stream_lock() is), then
/// releases it, which completes a close of the stream made meanwhile (see
/// relay_stream_close()); when no flush is due it takes no lock. The flush
/// is done at once, also under the caller's lock: a borrowed `index` is not
/// to be used after a flush; one the caller holds a reference on stays valid
/// until it puts it.
#[no_mangle]
pub extern "C" fn relay_index_try_flush(index: *mut relay_index) -> c_int {
    ffi_guard!("relay_index_try_flush", -1, {
        const F: &str = "relay_index_try_flush";
        let i = arg!(F, index, Index, -1);
        match i.try_flush(F) {
            Flush::Flushed => 0,
            Flush::NotReady | Flush::AlreadyFlushed => 1,
        }
    })
}

/// Put the self reference of every index of `stream` that still holds one.
/// Returns 0, or -1 for NULL. The caller must hold a reference on `stream`;
/// the stream's lock is taken for the duration unless the caller holds it.
/// Done at once, also under the caller's lock: indexes borrowed under it are
/// not to be used afterwards.
#[no_mangle]
pub extern "C" fn relay_index_close_all(stream: *mut relay_stream) -> c_int {
    ffi_guard!("relay_index_close_all", -1, {
        const F: &str = "relay_index_close_all";
        let s = arg!(F, stream, Stream, -1);
        let _lock = s.hold_lock(F);
        Index::close_all(F, s);
        0
    })
}

/// The sequence number of `index`, or `RELAY_SEQ_UNSET` for NULL. The
/// caller must hold a reference on `index`, or its stream's lock with
/// `index` borrowed under it.
#[no_mangle]
pub extern "C" fn relay_index_get_net_seq_num(index: *mut relay_index) -> u64 {
    ffi_guard!("relay_index_get_net_seq_num", RELAY_SEQ_UNSET, {
        arg!("relay_index_get_net_seq_num", index, Index, RELAY_SEQ_UNSET).net_seq_num
    })
}

/// The reference count of `index`; -1 for NULL. The caller must hold a
/// reference on `index`, or its stream's lock with `index` borrowed under
/// it.
#[no_mangle]
pub extern "C" fn relay_index_get_ref_count(index: *mut relay_index) -> c_long {
    ffi_guard!("relay_index_get_ref_count", -1, {
        count_of::<Index>("relay_index_get_ref_count", index.cast())
    })
}

// ---------------------------------------------------------------------------
// Viewer streams.

/// Create the viewer stream of `stream` (same handle), count 1: the
/// ownership reference of the live connection, dropped by
/// relay_viewer_stream_close() or by relay_viewer_session_close() of a
/// viewer session attached to the stream's session. It takes a reference on
/// the stream and joins the viewer stream table; for a metadata stream, the
/// trace points at it without a reference. `seek` is stored as given. NULL
/// for NULL, a stream whose count is 0, or a handle that already has one.
/// The caller must hold a reference on `stream`.
#[no_mangle]
pub extern "C" fn relay_viewer_stream_create(
    stream: *mut relay_stream,
    seek: u32,
) -> *mut relay_viewer_stream {
    ffi_guard!("relay_viewer_stream_create", ptr::null_mut(), {
        const F: &str = "relay_viewer_stream_create";
        let s = arg!(F, stream, Stream, ptr::null_mut());
        match ViewerStream::create(F, s, seek) {
            Ok(v) => v.cast(),
            Err(e) => {
                misuse!(F, "viewer stream {} not created: {:?}", s.id(), e);
                ptr::null_mut()
            }
        }
    })
}

/// Look a viewer stream up by handle and take a reference (put it when
/// done). NULL when absent (never created, or closed) or when its count
/// reached 0. Takes no lock and needs no reference: any thread, holding any
/// lock, inside a read-side section or not.
#[no_mangle]
pub extern "C" fn relay_viewer_stream_get_by_id(handle: u64) -> *mut relay_viewer_stream {
    ffi_guard!("relay_viewer_stream_get_by_id", ptr::null_mut(), {
        model::get_by_id(
            "relay_viewer_stream_get_by_id",
            &model::VIEWER_STREAMS,
            handle,
        )
        .cast()
    })
}

/// Take a reference on `vstream` unless its count is 0; true when taken. At
/// count 0: false and one warning line, as for relay_session_get(). The
/// caller must hold a reference on `vstream` (or keep it allocated, as for
/// relay_session_get()).
#[no_mangle]
pub extern "C" fn relay_viewer_stream_get(vstream: *mut relay_viewer_stream) -> bool {
    ffi_guard!("relay_viewer_stream_get", false, {
        get_of::<ViewerStream>("relay_viewer_stream_get", vstream.cast())
    })
}

/// Drop a reference on `vstream`; at 0 it leaves the viewer stream table and
/// puts its stream reference. NULL does nothing. The caller gives up the
/// reference it drops.
#[no_mangle]
pub extern "C" fn relay_viewer_stream_put(vstream: *mut relay_viewer_stream) {
    ffi_guard!("relay_viewer_stream_put", (), {
        put_of::<ViewerStream>("relay_viewer_stream_put", vstream.cast())
    })
}

/// Close `vstream`: it leaves the viewer stream table and its ownership
/// reference (the owner's reference, from relay_viewer_stream_create()) is
/// put. Returns 0, or -1 (one warning line) for NULL or when already closed,
/// by this function or by relay_viewer_session_close() of a viewer session
/// attached to its stream's session. The caller gives up the owner's
/// reference: it must not use `vstream` afterwards unless it holds a
/// reference of its own. Any thread.
#[no_mangle]
pub extern "C" fn relay_viewer_stream_close(vstream: *mut relay_viewer_stream) -> c_int {
    ffi_guard!("relay_viewer_stream_close", -1, {
        const F: &str = "relay_viewer_stream_close";
        let v = arg!(F, vstream, ViewerStream, -1);
        if v.close(F) {
            0
        } else {
            misuse!(F, "viewer stream {} is already closed", v.id());
            -1
        }
    })
}

/// The stream of `vstream`, WITHOUT a new reference (a borrowed pointer):
/// valid while `vstream` is held. NULL for NULL. The caller must hold a
/// reference on `vstream`.
#[no_mangle]
pub extern "C" fn relay_viewer_stream_get_stream(
    vstream: *mut relay_viewer_stream,
) -> *mut relay_stream {
    ffi_guard!("relay_viewer_stream_get_stream", ptr::null_mut(), {
        arg!(
            "relay_viewer_stream_get_stream",
            vstream,
            ViewerStream,
            ptr::null_mut()
        )
        .stream
        .0 as *mut _
    })
}

/// The seek position `vstream` was created with (0 for NULL). The caller
/// must hold a reference on `vstream`.
#[no_mangle]
pub extern "C" fn relay_viewer_stream_get_seek(vstream: *mut relay_viewer_stream) -> u32 {
    ffi_guard!("relay_viewer_stream_get_seek", 0, {
        arg!("relay_viewer_stream_get_seek", vstream, ViewerStream, 0).seek
    })
}

/// The reference count of `vstream`; -1 for NULL. The caller must hold a
/// reference on `vstream` (or keep it allocated, as for relay_session_get()).
#[no_mangle]
pub extern "C" fn relay_viewer_stream_get_ref_count(vstream: *mut relay_viewer_stream) -> c_long {
    ffi_guard!("relay_viewer_stream_get_ref_count", -1, {
        count_of::<ViewerStream>("relay_viewer_stream_get_ref_count", vstream.cast())
    })
}

// ---------------------------------------------------------------------------
// Viewer sessions.

/// Create a viewer session (not refcounted) with no session attached.
/// Destroy it with relay_viewer_session_destroy(), or hand it to a live
/// connection with relay_connection_set_viewer_session(), which then owns it
/// and destroys it at its final put. The functions taking `vs` need it not
/// destroyed: "the caller must hold `vs`" means that it owns it (created and
/// neither destroyed nor handed over), or holds a reference on the
/// connection that owns it. Needs nothing; any thread.
#[no_mangle]
pub extern "C" fn relay_viewer_session_create() -> *mut relay_viewer_session {
    ffi_guard!("relay_viewer_session_create", ptr::null_mut(), {
        ViewerSession::create().cast()
    })
}

/// Attach `session` to `vs`, taking a reference on the session. A session is
/// attached to one viewer session at a time. Returns 0, or -1 (nothing
/// changes) for NULL, a closed `vs`, a session already attached, or a
/// session whose count is 0. The caller must hold `vs` (see
/// relay_viewer_session_create()) and a reference on `session`.
#[no_mangle]
pub extern "C" fn relay_viewer_session_attach(
    vs: *mut relay_viewer_session,
    session: *mut relay_session,
) -> c_int {
    ffi_guard!("relay_viewer_session_attach", -1, {
        const F: &str = "relay_viewer_session_attach";
        let v = vs_arg!(F, vs, -1);
        let s = arg!(F, session, Session, -1);
        match v.attach(F, s) {
            Ok(()) => 0,
            Err(e) => {
                let why = match e {
                    AttachError::Closed => "the viewer session is closed",
                    AttachError::AlreadyAttached => "the session is already attached",
                    AttachError::SessionGone => "the session has a count of zero",
                };
                misuse!(F, "session {} not attached: {}", s.id(), why);
                -1
            }
        }
    })
}

/// Detach `session` from `vs`, putting the reference taken by the attach.
/// Returns 0, or -1 for NULL or a session not attached to `vs`. The caller
/// must hold `vs` (see relay_viewer_session_create()) and a reference on
/// `session` (or know it attached to `vs`, whose reference keeps it).
#[no_mangle]
pub extern "C" fn relay_viewer_session_detach(
    vs: *mut relay_viewer_session,
    session: *mut relay_session,
) -> c_int {
    ffi_guard!("relay_viewer_session_detach", -1, {
        const F: &str = "relay_viewer_session_detach";
        let v = vs_arg!(F, vs, -1);
        let s = arg!(F, session, Session, -1);
        if v.detach(F, s) {
            0
        } else {
            misuse!(
                F,
                "session {} is not attached to this viewer session",
                s.id()
            );
            -1
        }
    })
}

/// Whether `session` is attached to `vs` (false for NULL). The caller must
/// hold `vs` (see relay_viewer_session_create()) and a reference on
/// `session`.
#[no_mangle]
pub extern "C" fn relay_viewer_session_is_attached(
    vs: *mut relay_viewer_session,
    session: *mut relay_session,
) -> bool {
    ffi_guard!("relay_viewer_session_is_attached", false, {
        const F: &str = "relay_viewer_session_is_attached";
        let v = vs_arg!(F, vs, false);
        let s = arg!(F, session, Session, false);
        v.is_attached(s)
    })
}

/// Close `vs`: close the viewer streams of every attached session (putting
/// their ownership references), then detach every session. Returns 0, or -1
/// for NULL or when already closed. The caller must hold `vs` (see
/// relay_viewer_session_create()); it still holds it afterwards (a closed
/// viewer session refuses attaches until it is destroyed).
#[no_mangle]
pub extern "C" fn relay_viewer_session_close(vs: *mut relay_viewer_session) -> c_int {
    ffi_guard!("relay_viewer_session_close", -1, {
        const F: &str = "relay_viewer_session_close";
        let v = vs_arg!(F, vs, -1);
        if v.close(F) {
            0
        } else {
            misuse!(F, "viewer session {} is already closed", v.id);
            -1
        }
    })
}

/// Close `vs` if needed (see relay_viewer_session_close()) and free it after
/// a grace period. NULL does nothing. Refused, with a warning, for a viewer
/// session owned by a connection (given to one with
/// relay_connection_set_viewer_session()): that connection's final put
/// destroys it. The caller gives up `vs`: no call on it may start after this
/// one. A call on `vs` made by another thread at the same time (attach,
/// detach, is_attached or close, which then act before the close or find
/// `vs` closed) must be made inside a read-side section entered before this
/// call began: that keeps its memory valid until the section ends.
/// relay_connection_set_viewer_session() and another
/// relay_viewer_session_destroy() of `vs` must not overlap this call at all.
/// Any thread; may be called inside a read-side section.
#[no_mangle]
pub extern "C" fn relay_viewer_session_destroy(vs: *mut relay_viewer_session) {
    ffi_guard!("relay_viewer_session_destroy", (), {
        const F: &str = "relay_viewer_session_destroy";
        if vs.is_null() {
            return;
        }
        let v = vs_arg!(F, vs, ());
        if v.owned.load(std::sync::atomic::Ordering::Acquire) {
            misuse!(
                F,
                "viewer session {} is owned by a connection; not destroyed",
                v.id
            );
            return;
        }
        // SAFETY: a live viewer session from `create`, not owned by a
        // connection; the caller gives it up.
        unsafe { ViewerSession::destroy(F, vs.cast()) };
    })
}

// ---------------------------------------------------------------------------
// Connections.

/// Create a connection table (one per worker thread). NULL only if memory
/// runs out. Needs nothing; any thread. Destroy it with
/// relay_connection_table_destroy(): until it is destroyed and its grace
/// period ended, traceref_live_objects() counts it and TRACEREF_LEAK_CHECK=1
/// reports it.
#[no_mangle]
pub extern "C" fn relay_connection_table_create() -> *mut relay_connection_table {
    ffi_guard!("relay_connection_table_create", ptr::null_mut(), {
        ConnectionTable::create().cast()
    })
}

/// Destroy `table`. First it stops taking connections: from then on
/// relay_connection_table_add() on it is refused. Then every connection
/// still in it is closed as by relay_connection_close() (its owner's
/// reference put; a later relay_connection_close() of it returns -1), except
/// one whose last reference is being put at that moment, which is only taken
/// out; and the table is freed after a grace period. Returns 0, or -1
/// (nothing done) for NULL, when called inside a read-side section, or when
/// `table` is already being destroyed.
///
/// Under races: a relay_connection_table_add() that overlaps this call
/// either completes first (the connection is then closed here) or is
/// refused; a relay_connection_close() of a connection in `table` that
/// overlaps it closes the connection or finds it closed by this call (-1),
/// one of the two, never both; relay_connection_get_by_sock() finds a
/// connection or nothing. A call on `table` that may overlap this one must be
/// made inside a read-side section (traceref_read_lock()) entered before
/// this call began: that keeps the table's memory valid until it returns.
/// The caller gives up `table`: it must not be used once this call
/// returned. Any thread.
#[no_mangle]
pub extern "C" fn relay_connection_table_destroy(table: *mut relay_connection_table) -> c_int {
    ffi_guard!("relay_connection_table_destroy", -1, {
        const F: &str = "relay_connection_table_destroy";
        let _t = table_arg!(F, table, -1);
        if reclaim::in_read_section() {
            misuse!(F, "called inside a read-side section; table not destroyed");
            return -1;
        }
        // SAFETY: a live table from `create`; the caller gives it up, and
        // makes the calls that may overlap this one from read-side sections
        // entered before it (the documented contract).
        if unsafe { ConnectionTable::destroy(F, table.cast()) } {
            0
        } else {
            misuse!(F, "table {:p} is already being destroyed", table);
            -1
        }
    })
}

/// Create a connection on socket `sock` of `type` (RELAY_DATA,
/// RELAY_CONTROL, RELAY_VIEWER_COMMAND, ...): count 1, the owner's
/// reference, dropped by relay_connection_close() (or by the table's
/// destruction once added to one). NULL for a negative socket or a type
/// outside RELAY_CONNECTION_UNKNOWN..RELAY_VIEWER_NOTIFICATION. Needs
/// nothing; any thread.
#[no_mangle]
pub extern "C" fn relay_connection_create(sock: c_int, r#type: c_int) -> *mut relay_connection {
    ffi_guard!("relay_connection_create", ptr::null_mut(), {
        const F: &str = "relay_connection_create";
        if sock < 0 || !(RELAY_CONNECTION_UNKNOWN..=RELAY_VIEWER_NOTIFICATION).contains(&r#type) {
            misuse!(F, "invalid socket {} or type {}", sock, r#type);
            return ptr::null_mut();
        }
        Connection::create(sock, r#type).cast()
    })
}

/// Add `conn` to `table`, where relay_connection_get_by_sock() finds it
/// until it is closed or released. Returns 0, or -1 (nothing changes, one
/// warning line) for NULL, a connection already in a table or closed, a
/// socket already in `table`, or a table being destroyed. The caller must
/// hold a reference on `conn`.
///
/// Under races, the add is ordered with relay_connection_close() of `conn`
/// and with relay_connection_table_destroy() of `table`: if it comes first,
/// the close takes `conn` out of `table` again (and the destruction closes
/// it); if it comes second, it is refused. Either way, once the close
/// returned, no lookup finds `conn`. An add that may overlap the
/// destruction of `table` must be made inside a read-side section entered
/// before the destruction began (see relay_connection_table_destroy()).
#[no_mangle]
pub extern "C" fn relay_connection_table_add(
    table: *mut relay_connection_table,
    conn: *mut relay_connection,
) -> c_int {
    ffi_guard!("relay_connection_table_add", -1, {
        const F: &str = "relay_connection_table_add";
        let t = table_arg!(F, table, -1);
        let c = arg!(F, conn, Connection, -1);
        match t.add(c) {
            Ok(()) => 0,
            Err(e) => {
                let why = match e {
                    TableError::AlreadyInTable => "already in a table",
                    TableError::DuplicateSock => "socket already in this table",
                    TableError::Closed => "connection closed",
                    TableError::Destroyed => "table being destroyed",
                };
                misuse!(F, "connection {} not added: {}", c.sock, why);
                -1
            }
        }
    })
}

/// Look a connection up by socket in `table` and take a reference (put it
/// when done). NULL when absent (never added, refused, closed or released),
/// when its count reached 0, or for NULL. A lookup that overlaps a close,
/// an add or the table's destruction finds the connection or nothing; one
/// that may overlap the destruction must be made inside a read-side section
/// entered before it began (see relay_connection_table_destroy()). Takes no
/// lock and needs no reference on a connection; any thread.
#[no_mangle]
pub extern "C" fn relay_connection_get_by_sock(
    table: *mut relay_connection_table,
    sock: c_int,
) -> *mut relay_connection {
    ffi_guard!("relay_connection_get_by_sock", ptr::null_mut(), {
        const F: &str = "relay_connection_get_by_sock";
        let t = table_arg!(F, table, ptr::null_mut());
        if sock < 0 {
            return ptr::null_mut();
        }
        model::get_by_id(F, &t.table, sock as u32 as u64).cast()
    })
}

/// Take a reference on `conn` unless its count is 0; true when taken. At
/// count 0: false and one warning line, as for relay_session_get(). The
/// caller must hold a reference on `conn` (or keep it allocated, as for
/// relay_session_get()).
#[no_mangle]
pub extern "C" fn relay_connection_get(conn: *mut relay_connection) -> bool {
    ffi_guard!("relay_connection_get", false, {
        get_of::<Connection>("relay_connection_get", conn.cast())
    })
}

/// Drop a reference on `conn`. The final put removes it from its table,
/// closes and destroys its viewer session (live connections), closes its
/// session (putting the session's owner reference; as for
/// relay_session_close(), a stream whose lock this thread holds completes
/// its close at relay_stream_unlock()) and puts the connection's own session
/// reference. NULL does nothing. The caller gives up the reference it drops;
/// any thread.
#[no_mangle]
pub extern "C" fn relay_connection_put(conn: *mut relay_connection) {
    ffi_guard!("relay_connection_put", (), {
        put_of::<Connection>("relay_connection_put", conn.cast())
    })
}

/// Close `conn`: it leaves its table and its owner's reference is put.
/// Returns 0, or -1 (one warning line) for NULL or when already closed,
/// including by relay_connection_table_destroy(). Ordered with
/// relay_connection_table_add() of `conn`: an add that came first is undone
/// here, one that comes after is refused, so that once this call returned
/// no lookup finds `conn`. Safe to call while its table is being destroyed:
/// `conn` is closed once, by one of the two. The caller gives up the owner's
/// reference (the one relay_connection_create() returned): it must not use
/// `conn` afterwards unless it holds a reference of its own, and when that
/// reference was the last one, the connection's final put is made here (see
/// relay_connection_put()). Any thread.
#[no_mangle]
pub extern "C" fn relay_connection_close(conn: *mut relay_connection) -> c_int {
    ffi_guard!("relay_connection_close", -1, {
        const F: &str = "relay_connection_close";
        let c = arg!(F, conn, Connection, -1);
        if c.close(F) {
            0
        } else {
            misuse!(F, "connection {} is already closed", c.sock);
            -1
        }
    })
}

/// Make `session` the session of `conn`: the connection takes a reference
/// on it, and its final put closes the session, which puts the session's
/// owner reference (the one relay_session_create() returned): from then on
/// that reference is the connection's, and the caller must not put it.
/// Returns 0, or -1 (nothing changes) for NULL, a connection that already
/// has a session, or a session whose count is 0. The caller must hold a
/// reference on both.
#[no_mangle]
pub extern "C" fn relay_connection_set_session(
    conn: *mut relay_connection,
    session: *mut relay_session,
) -> c_int {
    ffi_guard!("relay_connection_set_session", -1, {
        const F: &str = "relay_connection_set_session";
        let c = arg!(F, conn, Connection, -1);
        let s = arg!(F, session, Session, -1);
        if c.set_session(F, s) {
            0
        } else {
            misuse!(
                F,
                "connection {} already has a session (or session {} is gone)",
                c.sock,
                s.id()
            );
            -1
        }
    })
}

/// Give `vs` to `conn`: the connection owns it from now on, and its final
/// put closes and destroys it (the caller must not destroy it). Returns 0,
/// or -1 (nothing changes) for NULL, a connection that already has one, or
/// a viewer session owned by another connection (or already given to this
/// one). The caller must hold a reference on `conn` and own `vs`; it must
/// not be destroying `vs` (see relay_viewer_session_destroy()).
#[no_mangle]
pub extern "C" fn relay_connection_set_viewer_session(
    conn: *mut relay_connection,
    vs: *mut relay_viewer_session,
) -> c_int {
    ffi_guard!("relay_connection_set_viewer_session", -1, {
        const F: &str = "relay_connection_set_viewer_session";
        let c = arg!(F, conn, Connection, -1);
        let v = vs_arg!(F, vs, -1);
        if c.set_viewer_session(v) {
            0
        } else {
            misuse!(
                F,
                "connection {} already has a viewer session, or it is owned elsewhere",
                c.sock
            );
            -1
        }
    })
}

/// The session of `conn`, WITHOUT a new reference (a borrowed pointer,
/// valid while `conn` is held), or NULL. The caller must hold a reference on
/// `conn`.
#[no_mangle]
pub extern "C" fn relay_connection_get_session(conn: *mut relay_connection) -> *mut relay_session {
    ffi_guard!("relay_connection_get_session", ptr::null_mut(), {
        arg!(
            "relay_connection_get_session",
            conn,
            Connection,
            ptr::null_mut()
        )
        .session_ptr()
        .cast()
    })
}

/// The viewer session of `conn` (owned by it; a borrowed pointer, valid
/// while `conn` is held), or NULL. The caller must hold a reference on
/// `conn`.
#[no_mangle]
pub extern "C" fn relay_connection_get_viewer_session(
    conn: *mut relay_connection,
) -> *mut relay_viewer_session {
    ffi_guard!("relay_connection_get_viewer_session", ptr::null_mut(), {
        arg!(
            "relay_connection_get_viewer_session",
            conn,
            Connection,
            ptr::null_mut()
        )
        .viewer_session_ptr()
        .cast()
    })
}

/// The socket of `conn`, or -1 for NULL. The caller must hold a reference
/// on `conn`.
#[no_mangle]
pub extern "C" fn relay_connection_get_sock(conn: *mut relay_connection) -> c_int {
    ffi_guard!("relay_connection_get_sock", -1, {
        arg!("relay_connection_get_sock", conn, Connection, -1).sock
    })
}

/// The type of `conn`, or -1 for NULL. The caller must hold a reference on
/// `conn`.
#[no_mangle]
pub extern "C" fn relay_connection_get_type(conn: *mut relay_connection) -> c_int {
    ffi_guard!("relay_connection_get_type", -1, {
        arg!("relay_connection_get_type", conn, Connection, -1).ctype
    })
}

/// The reference count of `conn`; -1 for NULL. The caller must hold a
/// reference on `conn` (or keep it allocated, as for relay_session_get()).
#[no_mangle]
pub extern "C" fn relay_connection_get_ref_count(conn: *mut relay_connection) -> c_long {
    ffi_guard!("relay_connection_get_ref_count", -1, {
        count_of::<Connection>("relay_connection_get_ref_count", conn.cast())
    })
}
