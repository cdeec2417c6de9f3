//! C functions of the relay streams.

use super::*;

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
        let (size, count) = (tracefile_size, tracefile_count);
        // SAFETY: the library allocates.
        match unsafe { Stream::create(F, Place::Boxed, t, handle, p, c, size, count) } {
            Ok(s) => s.cast(),
            Err(e) => {
                stream_refused(F, handle, e);
                ptr::null_mut()
            }
        }
    })
}

/// relay_stream_create() in C code's own struct: `stream` points to a
/// `struct relay_stream` of the caller's whose first member is a
/// `struct relay_stream_base`; the library initialises that member (the
/// caller's fields untouched) and calls `free_fn(stream)` once the stream's
/// grace period is over. The stream is then the same as one
/// relay_stream_create() made (count 1, the owner's reference; a trace
/// reference; in its session and the stream table), and lookups return
/// `stream`. Returns 0, or -1 with nothing done (`free_fn` not called) for
/// the cases where relay_stream_create() returns NULL, and for misaligned
/// `stream`, NULL `free_fn` or a `stream` already live. The caller must hold
/// a reference on `trace` and own the memory of `stream`; any thread.
#[no_mangle]
pub extern "C" fn relay_stream_init(
    stream: *mut relay_stream,
    free_fn: relay_stream_free_func,
    trace: *mut ctf_trace,
    handle: u64,
    path_name: *const c_char,
    channel_name: *const c_char,
    tracefile_size: u64,
    tracefile_count: u64,
) -> c_int {
    ffi_guard!("relay_stream_init", -1, {
        const F: &str = "relay_stream_init";
        let t = arg!(F, trace, CtfTrace, -1);
        let p = cstr_arg!(F, path_name, -1);
        let c = cstr_arg!(F, channel_name, -1);
        let Some(place) = caller_place(F, stream, free_fn) else {
            return -1;
        };
        let (size, count) = (tracefile_size, tracefile_count);
        // SAFETY: the caller's struct starts with a relay_stream_base, sized
        // and aligned for the library's part, and is the library's until
        // `free_fn` (contract).
        match unsafe { Stream::create(F, place, t, handle, p, c, size, count) } {
            Ok(_) => 0,
            Err(stream::CreateError::Live) => {
                refused_live(F, stream.cast(), "stream");
                -1
            }
            Err(e) => {
                stream_refused(F, handle, e);
                -1
            }
        }
    })
}

/// Set the process-wide stream close hook, or remove it with NULL. The
/// library calls `hook(stream)` exactly once for each stream that closes,
/// whichever call closes it: relay_stream_close(); relay_stream_try_close(),
/// at once or when the close it left pending completes in
/// relay_stream_set_received_seq_num(), relay_stream_set_last_net_seq_num()
/// or relay_session_abort(); its session's relay_session_close() or
/// relay_session_abort(); its control connection's final put. Streams of
/// relay_stream_create() and of relay_stream_init() alike: C code embedding
/// a `struct relay_stream_base` releases its own per-stream resources (files,
/// trace chunks) there.
///
/// The hook runs where the close completes (see relay_stream_close()), after
/// every index of the stream dropped its self reference, with the stream's
/// lock held by the calling thread, before that lock is released and before
/// the owner's reference is put: the stream is still fully valid. It runs on
/// the thread that completes the close, inside its call: the thread calling
/// the closing function, or, when another thread held the stream's lock
/// meanwhile, that thread, in its relay_stream_unlock(). The library itself
/// completes no close on its reclaim thread: the hook runs there only when
/// a payload destructor or free function of the program, which run there,
/// calls a closing function itself. So it runs with whatever locks that
/// thread holds, and inside a read-side section of the library's own.
///
/// Inside the hook, the caller may read the stream (relay_stream_get_handle()
/// and the other getters, its own fields) and release its own resources. It
/// must not close, lock or unlock that stream (relay_stream_lock() on it
/// returns -1: this thread holds its lock already), nor close or abort its
/// session, nor call traceref_reclaim_barrier() or
/// relay_connection_table_destroy(), which would wait for the read-side
/// section the hook runs in. A stream that never closes gets no call: one
/// whose owner's reference is put without a close (relay_stream_put(),
/// released at count 0), or one whose pending close never completes.
///
/// Process-wide, meant to be set once before streams are created. Setting it
/// while streams close is allowed: each close calls the hook it reads, so a
/// close completing meanwhile may still call the previous one. Needs nothing;
/// any thread.
#[no_mangle]
pub extern "C" fn relay_stream_set_close_hook(hook: relay_stream_close_hook) {
    ffi_guard!("relay_stream_set_close_hook", (), {
        let hook = hook.map(|f| {
            // SAFETY: a function taking one pointer argument is called the
            // same way whatever the pointee type; the library calls it with
            // the `struct relay_stream` it was given for.
            unsafe {
                std::mem::transmute::<unsafe extern "C" fn(*mut relay_stream), stream::CloseHook>(f)
            }
        });
        stream::set_close_hook(hook);
    })
}

/// Report why a stream was not created.
fn stream_refused(func: &str, handle: u64, e: stream::CreateError) {
    if e == stream::CreateError::SessionClosed {
        // Not a misuse: another thread's close can cause it.
        trace_ref!(func, "stream {} not created: its session is closed", handle);
    } else {
        misuse!(func, "stream {} not created: {:?}", handle, e);
    }
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
/// closed from then on), every index drops its self reference, the close
/// hook runs if one is set (relay_stream_set_close_hook()), and the owner's
/// reference is put. Those last steps belong to a release of the
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
