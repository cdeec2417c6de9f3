//! C functions of the relay daemon object model.
#![allow(non_camel_case_types)]

use super::{ffi_guard, fn_arg, null_check};
use crate::core::diag::{misuse, trace_ref};
use crate::core::kind::{Kind, TagCheck};
use crate::core::reclaim;
use crate::relay::connection::{self, Connection, ConnectionTable, TableError};
use crate::relay::index::{Flush, Index, IndexError};
use crate::relay::lock::{Level, Locked};
use crate::relay::object::{self, Head, Place, PlaceError, RelayObject};
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

// ---------------------------------------------------------------------------
// The embedded forms: the library's part of each relay kind, placed first in
// a struct of C code's own (see relay_session_init()).

/// The library's part of a session embedded in C code's own `struct relay_session`,
/// as its FIRST member (TRACEREF_ASSERT_FIRST() checks it). Fixed size (the
/// library's state exactly: its size is part of the ABI version); its
/// contents are the library's.
#[repr(C)]
pub struct relay_session_base {
    _opaque: [u64; 20],
}
const _: () = assert!(std::mem::size_of::<Session>() <= std::mem::size_of::<relay_session_base>());
const _: () =
    assert!(std::mem::align_of::<Session>() <= std::mem::align_of::<relay_session_base>());

/// The library's part of a ctf-trace embedded in C code's own `struct ctf_trace`,
/// as its FIRST member (TRACEREF_ASSERT_FIRST() checks it). Fixed size (the
/// library's state exactly: its size is part of the ABI version); its
/// contents are the library's.
#[repr(C)]
pub struct ctf_trace_base {
    _opaque: [u64; 15],
}
const _: () = assert!(std::mem::size_of::<CtfTrace>() <= std::mem::size_of::<ctf_trace_base>());
const _: () = assert!(std::mem::align_of::<CtfTrace>() <= std::mem::align_of::<ctf_trace_base>());

/// The library's part of a stream embedded in C code's own `struct relay_stream`,
/// as its FIRST member (TRACEREF_ASSERT_FIRST() checks it). Fixed size (the
/// library's state exactly: its size is part of the ABI version); its
/// contents are the library's.
#[repr(C)]
pub struct relay_stream_base {
    _opaque: [u64; 19],
}
const _: () = assert!(std::mem::size_of::<Stream>() <= std::mem::size_of::<relay_stream_base>());
const _: () = assert!(std::mem::align_of::<Stream>() <= std::mem::align_of::<relay_stream_base>());

/// The library's part of an index embedded in C code's own `struct relay_index`,
/// as its FIRST member (TRACEREF_ASSERT_FIRST() checks it). Fixed size (the
/// library's state exactly: its size is part of the ABI version); its
/// contents are the library's.
#[repr(C)]
pub struct relay_index_base {
    _opaque: [u64; 5],
}
const _: () = assert!(std::mem::size_of::<Index>() <= std::mem::size_of::<relay_index_base>());
const _: () = assert!(std::mem::align_of::<Index>() <= std::mem::align_of::<relay_index_base>());

/// The library's part of a viewer stream embedded in C code's own `struct relay_viewer_stream`,
/// as its FIRST member (TRACEREF_ASSERT_FIRST() checks it). Fixed size (the
/// library's state exactly: its size is part of the ABI version); its
/// contents are the library's.
#[repr(C)]
pub struct relay_viewer_stream_base {
    _opaque: [u64; 5],
}
const _: () =
    assert!(std::mem::size_of::<ViewerStream>() <= std::mem::size_of::<relay_viewer_stream_base>());
const _: () = assert!(
    std::mem::align_of::<ViewerStream>() <= std::mem::align_of::<relay_viewer_stream_base>()
);

/// The library's part of a viewer session embedded in C code's own `struct relay_viewer_session`,
/// as its FIRST member (TRACEREF_ASSERT_FIRST() checks it). Fixed size (the
/// library's state exactly: its size is part of the ABI version); its
/// contents are the library's.
#[repr(C)]
pub struct relay_viewer_session_base {
    _opaque: [u64; 7],
}
const _: () = assert!(
    std::mem::size_of::<ViewerSession>() <= std::mem::size_of::<relay_viewer_session_base>()
);
const _: () = assert!(
    std::mem::align_of::<ViewerSession>() <= std::mem::align_of::<relay_viewer_session_base>()
);

/// The library's part of a connection embedded in C code's own `struct relay_connection`,
/// as its FIRST member (TRACEREF_ASSERT_FIRST() checks it). Fixed size (the
/// library's state exactly: its size is part of the ABI version); its
/// contents are the library's.
#[repr(C)]
pub struct relay_connection_base {
    _opaque: [u64; 8],
}
const _: () =
    assert!(std::mem::size_of::<Connection>() <= std::mem::size_of::<relay_connection_base>());
const _: () =
    assert!(std::mem::align_of::<Connection>() <= std::mem::align_of::<relay_connection_base>());

/// Frees C code's `struct relay_session` (embedding a relay_session_base)
/// once its grace period is over: called once, on the traceref-reclaim
/// thread or inside traceref_reclaim_barrier(), with no library lock held.
/// The library touches the struct no more; the callee may free it.
pub type relay_session_free_func = Option<unsafe extern "C" fn(session: *mut relay_session)>;
/// Frees C code's `struct ctf_trace`; as relay_session_free_func.
pub type ctf_trace_free_func = Option<unsafe extern "C" fn(trace: *mut ctf_trace)>;
/// Frees C code's `struct relay_stream`; as relay_session_free_func.
pub type relay_stream_free_func = Option<unsafe extern "C" fn(stream: *mut relay_stream)>;
/// Frees C code's `struct relay_index`; as relay_session_free_func.
pub type relay_index_free_func = Option<unsafe extern "C" fn(index: *mut relay_index)>;
/// Frees C code's `struct relay_viewer_stream`; as relay_session_free_func.
pub type relay_viewer_stream_free_func =
    Option<unsafe extern "C" fn(vstream: *mut relay_viewer_stream)>;
/// Frees C code's `struct relay_viewer_session`; as relay_session_free_func.
pub type relay_viewer_session_free_func =
    Option<unsafe extern "C" fn(vs: *mut relay_viewer_session)>;
/// Frees C code's `struct relay_connection`; as relay_session_free_func.
pub type relay_connection_free_func = Option<unsafe extern "C" fn(conn: *mut relay_connection)>;

/// The stream close hook (relay_stream_set_close_hook()): called once for
/// each stream that closes, where its close completes, on the thread that
/// completes it, with the stream's lock held by that thread and the owner's
/// reference not yet put. It must not close, lock or unlock `stream`, nor
/// close its session.
pub type relay_stream_close_hook = Option<unsafe extern "C" fn(stream: *mut relay_stream)>;

/// Where an init places its object: the caller's struct at `at`, given back
/// through `free`. None (reported) for NULL or misaligned memory or a NULL
/// free function.
fn caller_place<T>(
    func: &str,
    at: *mut T,
    free: Option<unsafe extern "C" fn(*mut T)>,
) -> Option<Place> {
    if at.is_null() {
        misuse!(func, "the object is NULL");
        return None;
    }
    let Some(free) = free else {
        misuse!(func, "{:p}: no free function; not initialised", at);
        return None;
    };
    if (at as usize) % std::mem::align_of::<u64>() != 0 {
        misuse!(
            func,
            "{:p} is not aligned for the library's part; not initialised",
            at
        );
        return None;
    }
    // SAFETY: a function taking one pointer argument is called the same way
    // whatever the pointee type; it is called with the `T` it was given for.
    let free =
        unsafe { std::mem::transmute::<unsafe extern "C" fn(*mut T), object::GiveBack>(free) };
    Some(Place::Caller {
        at: at.cast(),
        free,
    })
}

/// Report an init refused because its memory holds a live object.
fn refused_live(func: &str, at: *const c_void, what: &str) {
    misuse!(
        func,
        "{:p} holds a live {}: initialised again; nothing done",
        at,
        what
    );
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

/// Visitor of relay_sessions_for_each() and
/// relay_viewer_session_for_each_session(): return 0 to go on, non-zero to
/// stop. `session` carries a reference valid during the call only (take one
/// of your own with relay_session_get() to keep it). Called on the thread
/// that called the walk, with no library lock held: it may call any
/// function of this library.
pub type relay_session_visit_func =
    Option<unsafe extern "C" fn(session: *mut relay_session, data: *mut c_void) -> c_int>;

/// Visitor of relay_session_for_each_ctf_trace(): return 0 to go on,
/// non-zero to stop. `trace` carries a reference valid during the call only
/// (take one of your own with relay_ctf_trace_get() to keep it). Called on
/// the thread that called relay_session_for_each_ctf_trace(), with no
/// library lock held: it may call any function of this library.
pub type relay_ctf_trace_visit_func =
    Option<unsafe extern "C" fn(trace: *mut ctf_trace, data: *mut c_void) -> c_int>;

/// Visitor of relay_session_for_each_stream() and
/// relay_ctf_trace_for_each_stream(): return 0 to go on, non-zero to stop.
/// `stream` carries a reference valid during the call only (take one of
/// your own with relay_stream_get() to keep it). Called on the thread that
/// called the walk, with no library lock held: it may call any function of
/// this library.
pub type relay_stream_visit_func =
    Option<unsafe extern "C" fn(stream: *mut relay_stream, data: *mut c_void) -> c_int>;

/// Visitor of relay_session_for_each_viewer_stream(): return 0 to go on,
/// non-zero to stop. `vstream` carries a reference valid during the call
/// only (take one of your own with relay_viewer_stream_get() to keep it).
/// Called on the thread that called relay_session_for_each_viewer_stream(),
/// with no library lock held: it may call any function of this library.
pub type relay_viewer_stream_visit_func =
    Option<unsafe extern "C" fn(vstream: *mut relay_viewer_stream, data: *mut c_void) -> c_int>;

/// Visitor of relay_connection_table_for_each(): return 0 to go on,
/// non-zero to stop. `conn` carries a reference valid during the call only
/// (take one of your own with relay_connection_get() to keep it). Called on
/// the thread that called relay_connection_table_for_each(), with no
/// library lock held: it may call any function of this library.
pub type relay_connection_visit_func =
    Option<unsafe extern "C" fn(conn: *mut relay_connection, data: *mut c_void) -> c_int>;

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

/// Visit, in order, the object of each entry that `take` gives a reference
/// on right before its turn (None: skipped), putting that reference after
/// the visit, and count visits. Stops when `visit` returns non-zero.
fn visit_taken<E, T: RelayObject>(
    func: &str,
    entries: Vec<E>,
    take: impl Fn(&E) -> Option<Ptr<T>>,
    mut visit: impl FnMut(Ptr<T>) -> c_int,
) -> c_int {
    let mut n = 0;
    for e in &entries {
        let Some(p) = take(e) else {
            continue;
        };
        n += 1;
        let stop = visit(p) != 0;
        // SAFETY: the reference `take` gave, dropped once.
        unsafe { object::put(func, p.get()) };
        if stop {
            break;
        }
    }
    n
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

/// Set the functions the library's reclaim thread calls first, when it
/// starts (before it runs any free function or payload destructor), and
/// last, when it ends at process exit; either may be NULL. A program whose
/// free functions need the thread registered with something (liburcu's
/// rcu_register_thread() and rcu_unregister_thread(), a logging context)
/// sets them here. The thread starts at the first release of a relay
/// object or an object of a C kind, so call this before any is created:
/// returns 0, or -1 (nothing changed) once the thread has started in this
/// process. Frees made by traceref_reclaim_barrier() run on the thread that
/// calls it, which runs neither function: that thread is the caller's own.
/// After a fork(), the child's reclaim thread runs the same functions. Any
/// thread; `start` and `stop` run on the reclaim thread, with no library
/// lock held.
#[no_mangle]
pub extern "C" fn traceref_set_reclaim_thread_hooks(
    start: Option<extern "C" fn()>,
    stop: Option<extern "C" fn()>,
) -> c_int {
    ffi_guard!("traceref_set_reclaim_thread_hooks", -1, {
        if reclaim::set_thread_hooks(reclaim::ThreadHooks { start, stop }) {
            0
        } else {
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

mod connections;
mod indexes;
mod sessions;
mod streams;
mod traces;
mod viewer_sessions;
mod viewer_streams;

pub use connections::*;
pub use indexes::*;
pub use sessions::*;
pub use streams::*;
pub use traces::*;
pub use viewer_sessions::*;
pub use viewer_streams::*;
