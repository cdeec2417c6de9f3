//! C functions of the relay sessions.

use super::*;

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
        // SAFETY: the library allocates.
        match unsafe { Session::create(Place::Boxed, n, h, live_timer, snapshot, major, minor) } {
            Ok(s) => s.cast(),
            Err(PlaceError::Live) => ptr::null_mut(),
        }
    })
}

/// relay_session_create() in C code's own struct: `session` points to a
/// `struct relay_session` of the caller's, whose first member is a
/// `struct relay_session_base`; the library initialises that member (and
/// touches none of the caller's fields) and calls `free_fn(session)` once the
/// session's grace period is over. The session is then the same as one
/// relay_session_create() made: count 1 (the owner's reference), in the
/// session table, and every relay_session_* function takes it; lookups
/// (relay_session_get_by_id(), relay_ctf_trace_get_session(), ...) return
/// `session`, the caller's struct. Returns 0, or -1 with nothing done (the
/// memory stays the caller's, `free_fn` is not called) for NULL or
/// misaligned `session`, NULL `free_fn`, `name` or `hostname`, or a
/// `session` already live (initialised and not yet freed). The caller must
/// own the memory and not have shared it; any thread.
#[no_mangle]
pub extern "C" fn relay_session_init(
    session: *mut relay_session,
    free_fn: relay_session_free_func,
    name: *const c_char,
    hostname: *const c_char,
    live_timer: u32,
    snapshot: bool,
    major: u32,
    minor: u32,
) -> c_int {
    ffi_guard!("relay_session_init", -1, {
        const F: &str = "relay_session_init";
        let n = cstr_arg!(F, name, -1);
        let h = cstr_arg!(F, hostname, -1);
        let Some(place) = caller_place(F, session, free_fn) else {
            return -1;
        };
        // SAFETY: the caller's struct starts with a relay_session_base, sized
        // and aligned for the library's part, and is the library's until
        // `free_fn` (contract).
        match unsafe { Session::create(place, n, h, live_timer, snapshot, major, minor) } {
            Ok(_) => 0,
            Err(PlaceError::Live) => {
                refused_live(F, session.cast(), "session");
                -1
            }
        }
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

/// Whether a viewer session has `session` attached (false for NULL): true
/// from relay_viewer_session_attach() until the detach, or the close of
/// that viewer session (by relay_viewer_session_close(), its destruction,
/// or its connection's final put). The caller must hold a reference on
/// `session`; any thread, holding any lock.
#[no_mangle]
pub extern "C" fn relay_session_is_viewer_attached(session: *mut relay_session) -> bool {
    ffi_guard!("relay_session_is_viewer_attached", false, {
        arg!("relay_session_is_viewer_attached", session, Session, false).is_viewer_attached()
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
        let visit = fn_arg!(F, visit, -1);
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
        let visit = fn_arg!(F, visit, -1);
        visit_all(F, s.streams_snapshot(F), Stream::is_closed, |p| {
            // SAFETY: the visitor is a C function given by the caller.
            unsafe { visit(p.0 as *mut relay_stream, data) }
        })
    })
}

/// Call `visit` on every ctf-trace of `session` (its traces by path) whose
/// get succeeds when its turn comes, with a reference valid during the call
/// (put by the library afterwards). The walk goes over the traces the
/// session had when it started (one created meanwhile is not visited, nor
/// one that replaced at its path a trace on its way out) and gets each
/// right before its visit: a trace whose count reached 0 before its turn,
/// its last reference put by an earlier visit or by another thread, is
/// skipped. Stops when `visit` returns non-zero. Returns the number
/// visited, or -1 when an argument is NULL. The caller must hold a
/// reference on `session`; no library lock is held during the calls, so
/// `visit` may call any function of this library. Any thread, holding any
/// relay lock or none (the walk takes none).
#[no_mangle]
pub extern "C" fn relay_session_for_each_ctf_trace(
    session: *mut relay_session,
    visit: relay_ctf_trace_visit_func,
    data: *mut c_void,
) -> c_int {
    ffi_guard!("relay_session_for_each_ctf_trace", -1, {
        const F: &str = "relay_session_for_each_ctf_trace";
        let s = arg!(F, session, Session, -1);
        let visit = fn_arg!(F, visit, -1);
        visit_taken(
            F,
            s.traces_now(),
            |at| s.get_trace_at(F, at),
            |p| {
                // SAFETY: the visitor is a C function given by the caller.
                unsafe { visit(p.0 as *mut ctf_trace, data) }
            },
        )
    })
}

/// Call `visit` on every viewer stream of `session` (one whose stream
/// belongs to `session`, whether that stream is closed or not: a viewer may
/// still be reading the tail of a closed stream) that is still in the
/// viewer stream table, not closed, when its turn comes, with a reference
/// valid during the call (put by the library afterwards). The walk goes
/// over the viewer streams the table held when it started (one created
/// meanwhile is not visited, nor one whose count was already 0) and checks
/// each right before its visit: a viewer stream closed before its turn
/// (relay_viewer_stream_close(), or relay_viewer_session_close() or
/// relay_viewer_session_close_one_session() of a viewer session `session`
/// is attached to), by an earlier visit or by another thread, is skipped
/// (one closed during its own visit stays valid until the call returns).
/// Stops when `visit` returns non-zero. Returns the number visited, or -1
/// when an argument is NULL. The caller must hold a reference on
/// `session`; no library lock is held during the calls, so `visit` may call
/// any function of this library. Any thread, holding any relay lock or none
/// (the walk takes none).
#[no_mangle]
pub extern "C" fn relay_session_for_each_viewer_stream(
    session: *mut relay_session,
    visit: relay_viewer_stream_visit_func,
    data: *mut c_void,
) -> c_int {
    ffi_guard!("relay_session_for_each_viewer_stream", -1, {
        const F: &str = "relay_session_for_each_viewer_stream";
        let s = arg!(F, session, Session, -1);
        let visit = fn_arg!(F, visit, -1);
        let mine = ViewerStream::of_sessions(F, |of| std::ptr::eq(of, s));
        visit_all(F, mine, ViewerStream::is_closed, |p| {
            // SAFETY: the visitor is a C function given by the caller.
            unsafe { visit(p.0 as *mut relay_viewer_stream, data) }
        })
    })
}
