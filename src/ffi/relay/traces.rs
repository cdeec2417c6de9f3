//! C functions of the relay ctf-traces.

use super::*;

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
        trace_get_or_place(F, session, path, Place::Boxed)
    })
}

/// relay_ctf_trace_get_by_path_or_create() with C code's own struct for a
/// new trace: `fresh` points to a `struct ctf_trace` of the caller's whose
/// first member is a `struct ctf_trace_base`. Returns the trace of
/// `session` at `path` with a new reference the caller puts: either the
/// existing one (`fresh` is then untouched and still the caller's, to reuse
/// or free), or `fresh`, initialised (the caller's fields untouched) and
/// holding a reference on the session, whose `free_fn(fresh)` runs once its
/// grace period is over. NULL, `fresh` untouched, for NULL arguments,
/// misaligned `fresh`, a `fresh` that is live already, or (silently) when
/// there is no trace at `path` and the session is closed. The caller must
/// hold a reference on `session` and own `fresh`; any thread.
#[no_mangle]
pub extern "C" fn relay_ctf_trace_get_by_path_or_init(
    session: *mut relay_session,
    path: *const c_char,
    fresh: *mut ctf_trace,
    free_fn: ctf_trace_free_func,
) -> *mut ctf_trace {
    ffi_guard!("relay_ctf_trace_get_by_path_or_init", ptr::null_mut(), {
        const F: &str = "relay_ctf_trace_get_by_path_or_init";
        let Some(place) = caller_place(F, fresh, free_fn) else {
            return ptr::null_mut();
        };
        trace_get_or_place(F, session, path, place)
    })
}

/// The body of both trace getters: the trace at `path`, or a new one placed
/// where `place` says.
fn trace_get_or_place(
    func: &str,
    session: *mut relay_session,
    path: *const c_char,
    place: Place,
) -> *mut ctf_trace {
    let s = arg!(func, session, Session, ptr::null_mut());
    let p = cstr_arg!(func, path, ptr::null_mut());
    // SAFETY: a caller place is the caller's struct, sized and aligned for
    // the library's part, and the library's until its free function (contract
    // of relay_ctf_trace_get_by_path_or_init()).
    match unsafe { CtfTrace::get_by_path_or_create(func, s, p, place) } {
        Ok(t) => t.cast(),
        Err(TraceError::SessionClosed) => {
            // Not a misuse: another thread's close can cause it.
            trace_ref!(func, "session {} is closed: no new trace", s.id());
            ptr::null_mut()
        }
        Err(TraceError::SessionGone) => {
            misuse!(func, "session {} has a count of zero", s.id());
            ptr::null_mut()
        }
        Err(TraceError::Live) => {
            refused_live(func, place.at(), "ctf-trace");
            ptr::null_mut()
        }
    }
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

/// Call `visit` on every published stream of `trace` (its stream list: a
/// stream joins it with relay_stream_publish()) that is not closed when its
/// turn comes, with a reference valid during the call (put by the library
/// afterwards). The walk goes over the published streams the trace had when
/// it started (one published meanwhile is not visited) and checks each
/// right before its visit: a stream closed by an earlier visit, or by
/// another thread, before its turn is skipped (one closed during its own
/// visit stays valid until the call returns). Stops when `visit` returns
/// non-zero. Returns the number visited, or -1 when an argument is NULL.
/// The caller must hold a reference on `trace`; no library lock is held
/// during the calls, so `visit` may call any function of this library. Any
/// thread, holding any relay lock or none (the walk takes none).
#[no_mangle]
pub extern "C" fn relay_ctf_trace_for_each_stream(
    trace: *mut ctf_trace,
    visit: relay_stream_visit_func,
    data: *mut c_void,
) -> c_int {
    ffi_guard!("relay_ctf_trace_for_each_stream", -1, {
        const F: &str = "relay_ctf_trace_for_each_stream";
        let t = arg!(F, trace, CtfTrace, -1);
        let visit = fn_arg!(F, visit, -1);
        visit_all(F, t.streams_snapshot(F), Stream::is_closed, |p| {
            // SAFETY: the visitor is a C function given by the caller.
            unsafe { visit(p.0 as *mut relay_stream, data) }
        })
    })
}
