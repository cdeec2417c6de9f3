//! C functions of the relay indexes.

use super::*;

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
        index_get_or_place(F, stream, net_seq_num, Place::Boxed)
    })
}

/// relay_index_get_by_id_or_create() with C code's own struct for a new
/// index: `fresh` points to a `struct relay_index` of the caller's whose
/// first member is a `struct relay_index_base`. Returns the index of
/// `stream` for `net_seq_num`, borrowed as relay_index_get_by_id_or_create()
/// returns it (no reference for the caller): either the existing one
/// (`fresh` is then untouched and still the caller's, to reuse or free), or
/// `fresh`, initialised (the caller's fields untouched) with its self
/// reference and a stream reference, whose `free_fn(fresh)` runs once its
/// grace period is over. NULL, `fresh` untouched, for NULL arguments,
/// misaligned `fresh`, a `fresh` that is live already, or (silently) a
/// closed stream. The caller must hold the stream's lock and a reference on
/// the stream, and own `fresh`.
#[no_mangle]
pub extern "C" fn relay_index_get_by_id_or_init(
    stream: *mut relay_stream,
    net_seq_num: u64,
    fresh: *mut relay_index,
    free_fn: relay_index_free_func,
) -> *mut relay_index {
    ffi_guard!("relay_index_get_by_id_or_init", ptr::null_mut(), {
        const F: &str = "relay_index_get_by_id_or_init";
        let Some(place) = caller_place(F, fresh, free_fn) else {
            return ptr::null_mut();
        };
        index_get_or_place(F, stream, net_seq_num, place)
    })
}

/// The body of both index getters.
fn index_get_or_place(
    func: &str,
    stream: *mut relay_stream,
    net_seq_num: u64,
    place: Place,
) -> *mut relay_index {
    let s = arg!(func, stream, Stream, ptr::null_mut());
    if !s.lock.held_by_me() {
        misuse!(func, "called without the lock of stream {}", s.id());
    }
    // SAFETY: a caller place is the caller's struct, sized and aligned for
    // the library's part, and the library's until its free function (contract
    // of relay_index_get_by_id_or_init()).
    match unsafe { Index::get_by_id_or_create(func, s, net_seq_num, place) } {
        Ok(i) => i.cast(),
        Err(IndexError::StreamClosed) => {
            // Not a misuse: a close by another thread, or by a call this
            // thread made under the lock, can cause it.
            trace_ref!(func, "stream {} is closed: no new index", s.id());
            ptr::null_mut()
        }
        Err(IndexError::Live) => {
            refused_live(func, place.at(), "index");
            ptr::null_mut()
        }
    }
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
