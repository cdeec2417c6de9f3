//! C functions of the relay viewer streams.

use super::*;

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
        // SAFETY: the library allocates.
        match unsafe { ViewerStream::create(F, Place::Boxed, s, seek) } {
            Ok(v) => v.cast(),
            Err(e) => {
                misuse!(F, "viewer stream {} not created: {:?}", s.id(), e);
                ptr::null_mut()
            }
        }
    })
}

/// relay_viewer_stream_create() in C code's own struct: `vstream` points to
/// a `struct relay_viewer_stream` of the caller's whose first member is a
/// `struct relay_viewer_stream_base`; the library initialises that member
/// (the caller's fields untouched) and calls `free_fn(vstream)` once the
/// viewer stream's grace period is over. The viewer stream is then the same
/// as one relay_viewer_stream_create() made, and lookups (and
/// relay_ctf_trace_get_viewer_metadata_stream()) return `vstream`. Returns
/// 0, or -1 with nothing done (`free_fn` not called) where
/// relay_viewer_stream_create() returns NULL, and for misaligned `vstream`,
/// NULL `free_fn` or a `vstream` already live. The caller must hold a
/// reference on `stream` and own the memory of `vstream`; any thread.
#[no_mangle]
pub extern "C" fn relay_viewer_stream_init(
    vstream: *mut relay_viewer_stream,
    free_fn: relay_viewer_stream_free_func,
    stream: *mut relay_stream,
    seek: u32,
) -> c_int {
    ffi_guard!("relay_viewer_stream_init", -1, {
        const F: &str = "relay_viewer_stream_init";
        let s = arg!(F, stream, Stream, -1);
        let Some(place) = caller_place(F, vstream, free_fn) else {
            return -1;
        };
        // SAFETY: the caller's struct starts with a relay_viewer_stream_base,
        // sized and aligned for the library's part, and is the library's
        // until `free_fn` (contract).
        match unsafe { ViewerStream::create(F, place, s, seek) } {
            Ok(_) => 0,
            Err(crate::relay::viewer::CreateError::Live) => {
                refused_live(F, vstream.cast(), "viewer stream");
                -1
            }
            Err(e) => {
                misuse!(F, "viewer stream {} not created: {:?}", s.id(), e);
                -1
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
