//! C functions of the relay viewer sessions.

use super::*;

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
        // SAFETY: the library allocates.
        match unsafe { ViewerSession::create(Place::Boxed) } {
            Ok(v) => v.cast(),
            Err(PlaceError::Live) => ptr::null_mut(),
        }
    })
}

/// relay_viewer_session_create() in C code's own struct: `vs` points to a
/// `struct relay_viewer_session` of the caller's whose first member is a
/// `struct relay_viewer_session_base`; the library initialises that member
/// (the caller's fields untouched). relay_viewer_session_destroy() (or the
/// final put of the connection that owns it) closes it, and `free_fn(vs)`
/// runs once the grace period after that is over. Returns 0, or -1 with
/// nothing done (`free_fn` not called) for NULL or misaligned `vs`, NULL
/// `free_fn`, or a `vs` already live. The caller must own the memory of
/// `vs`; any thread.
#[no_mangle]
pub extern "C" fn relay_viewer_session_init(
    vs: *mut relay_viewer_session,
    free_fn: relay_viewer_session_free_func,
) -> c_int {
    ffi_guard!("relay_viewer_session_init", -1, {
        const F: &str = "relay_viewer_session_init";
        let Some(place) = caller_place(F, vs, free_fn) else {
            return -1;
        };
        // SAFETY: the caller's struct starts with a
        // relay_viewer_session_base, sized and aligned for the library's
        // part, and is the library's until `free_fn` (contract).
        match unsafe { ViewerSession::create(place) } {
            Ok(_) => 0,
            Err(PlaceError::Live) => {
                refused_live(F, vs.cast(), "viewer session");
                -1
            }
        }
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

/// Close the viewer streams of `session` and detach it from `vs`: what
/// relay_viewer_session_close() does for each attached session, for this
/// one only, by the same rule. Every viewer stream of `session` (one whose
/// stream belongs to `session`, closed or not) still in the viewer stream
/// table is closed as by relay_viewer_stream_close(): its ownership
/// reference is put and a later relay_viewer_stream_close() of it returns
/// -1. Then `session` is detached, the reference taken by the attach put:
/// it may be attached again, to `vs` or another viewer session. The other
/// sessions of `vs` and their viewer streams stay as they are, and `vs`
/// stays open. A viewer stream created during the call may be left open.
/// Returns 0, or -1 (one warning line; nothing closed, nothing detached)
/// for NULL arguments or when `session` is not attached to `vs` (never
/// attached, already detached, taken by another call of this function or by
/// relay_viewer_session_close() of `vs`): of two calls for the same session,
/// one acts and the other returns -1.
///
/// The caller must hold `vs` (see relay_viewer_session_create()) and a
/// reference on `session` (or know it attached to `vs`, whose reference
/// keeps it; that reference may then be its last, and `session` is
/// released here). The call takes none of the relay locks (session,
/// ctf-trace, stream) and waits for none: it may be called holding any of
/// them, the lock of `session` included, and inside a read-side section.
/// What it takes is the library's own: the list of `vs` and the viewer
/// stream table; the puts it makes may release viewer streams, their
/// streams and traces, and `session`, none of which takes a relay lock or
/// calls the caller's code (payload destructors and free functions run
/// after the grace period, on the traceref-reclaim thread or inside
/// traceref_reclaim_barrier()). Any thread.
#[no_mangle]
pub extern "C" fn relay_viewer_session_close_one_session(
    vs: *mut relay_viewer_session,
    session: *mut relay_session,
) -> c_int {
    ffi_guard!("relay_viewer_session_close_one_session", -1, {
        const F: &str = "relay_viewer_session_close_one_session";
        let v = vs_arg!(F, vs, -1);
        let s = arg!(F, session, Session, -1);
        if v.close_one_session(F, s) {
            0
        } else {
            misuse!(
                F,
                "session {} is not attached to this viewer session; nothing closed",
                s.id()
            );
            -1
        }
    })
}

/// Call `visit` on every session attached to `vs` when the walk starts
/// whose get succeeds (an attached session has a count above 0: `vs` holds
/// a reference on it), with a reference valid during the call (put by the
/// library afterwards). A session attached meanwhile is not visited; one
/// detached meanwhile, by an earlier visit or another thread, still is (the
/// walk took its reference when it started). Stops when `visit` returns
/// non-zero. Returns the number visited, or -1 when an argument is NULL.
/// The walk reads `vs` only when it starts, before the first visit. The
/// caller must hold `vs` (see relay_viewer_session_create()); no library
/// lock is held during the calls, so `visit` may call any function of this
/// library (on `vs` too: detach, close_one_session, close). Any thread,
/// holding any relay lock or none (the walk takes none).
#[no_mangle]
pub extern "C" fn relay_viewer_session_for_each_session(
    vs: *mut relay_viewer_session,
    visit: relay_session_visit_func,
    data: *mut c_void,
) -> c_int {
    ffi_guard!("relay_viewer_session_for_each_session", -1, {
        const F: &str = "relay_viewer_session_for_each_session";
        let v = vs_arg!(F, vs, -1);
        let visit = fn_arg!(F, visit, -1);
        visit_all(
            F,
            v.sessions_snapshot(F),
            |_| false,
            |p| {
                // SAFETY: the visitor is a C function given by the caller.
                unsafe { visit(p.0 as *mut relay_session, data) }
            },
        )
    })
}

/// Close `vs` if needed (see relay_viewer_session_close()) and free it after
/// a grace period. NULL does nothing. Refused, with a warning, for a viewer
/// session owned by a connection (given to one with
/// relay_connection_set_viewer_session()): that connection's final put
/// destroys it. The caller gives up `vs`: no call on it may start after this
/// one. A call on `vs` made by another thread at the same time (attach,
/// detach, is_attached, close, close_one_session or for_each_session, which
/// then act before the close or find `vs` closed) must be made inside a
/// read-side section entered before this call began: that keeps its memory
/// valid until the section ends.
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
