//! The relay model's whole hierarchy, driven through the C functions: a
//! control connection with a session, a trace, streams and indexes; a live
//! connection with a viewer session and viewer streams; both connections
//! closed; after the barrier every object and payload is reclaimed.

mod common;

use std::ffi::{c_void, CString};
use std::sync::atomic::{AtomicUsize, Ordering};
use traceref::ffi::bt::traceref_live_objects;
use traceref::ffi::relay::*;

static DESTROYED: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn destroy_payload(data: *mut c_void) {
    DESTROYED.fetch_add(1, Ordering::SeqCst);
    drop(unsafe { Box::from_raw(data.cast::<u64>()) });
}

fn payload(obj: *mut c_void, v: u64) {
    let data = Box::into_raw(Box::new(v)).cast();
    assert_eq!(traceref_payload_set(obj, data, Some(destroy_payload)), 0);
    assert_eq!(traceref_payload_get(obj), data);
}

fn run(live_first: bool) {
    let base = traceref_live_objects();
    DESTROYED.store(0, Ordering::SeqCst);
    let name = CString::new("s").unwrap();
    let host = CString::new("h").unwrap();
    let path = CString::new("host/s/ust").unwrap();
    let chan = CString::new("chan").unwrap();
    let meta = CString::new("metadata").unwrap();

    let table = relay_connection_table_create();
    let control = relay_connection_create(10, RELAY_CONTROL);
    assert_eq!(relay_connection_table_add(table, control), 0);
    let session = relay_session_create(name.as_ptr(), host.as_ptr(), 0, false, 2, 11);
    let id = relay_session_get_id(session);
    payload(session.cast(), 1);
    assert_eq!(relay_connection_set_session(control, session), 0);
    assert_eq!(relay_session_get_ref_count(session), 2);
    let trace = relay_ctf_trace_get_by_path_or_create(session, path.as_ptr());
    assert_eq!(
        relay_ctf_trace_get_by_path_or_create(session, path.as_ptr()),
        trace
    );
    relay_ctf_trace_put(trace);
    payload(trace.cast(), 2);
    let handle0 = 1000 + id * 10;
    let s0 = relay_stream_create(trace, handle0, path.as_ptr(), chan.as_ptr(), 0, 0);
    let s1 = relay_stream_create(trace, handle0 + 1, path.as_ptr(), meta.as_ptr(), 0, 0);
    assert!(!s0.is_null() && !s1.is_null());
    assert!(relay_stream_create(trace, handle0, path.as_ptr(), chan.as_ptr(), 0, 0).is_null());
    payload(s0.cast(), 3);
    assert_eq!(relay_stream_publish(s0), 0);
    assert_eq!(relay_stream_publish(s1), 0);
    relay_stream_lock(s0);
    let i0 = relay_index_get_by_id_or_create(s0, 1);
    let i1 = relay_index_get_by_id_or_create(s0, 2);
    assert_eq!(relay_index_get_by_id_or_create(s0, 1), i0);
    payload(i0.cast(), 4);
    // The self reference only: the caller borrows under the stream lock.
    assert_eq!(relay_index_get_ref_count(i0), 1);
    relay_stream_set_received_seq_num(s0, 1);
    assert_eq!(relay_index_try_flush(i0), 0);
    assert_eq!(relay_index_try_flush(i1), 1);
    relay_stream_unlock(s0);

    let live = relay_connection_create(11, RELAY_VIEWER_COMMAND);
    assert_eq!(relay_connection_table_add(table, live), 0);
    let vs = relay_viewer_session_create();
    assert_eq!(relay_connection_set_viewer_session(live, vs), 0);
    assert_eq!(relay_viewer_session_attach(vs, session), 0);
    assert_eq!(relay_viewer_session_attach(vs, session), -1);
    let v0 = relay_viewer_stream_create(s0, 1);
    let v1 = relay_viewer_stream_create(s1, 1);
    payload(v0.cast(), 5);
    let m = relay_ctf_trace_get_viewer_metadata_stream(trace);
    assert_eq!(m, v1);
    relay_viewer_stream_put(m);
    relay_ctf_trace_put(trace);
    assert_eq!(relay_viewer_stream_get_by_id(handle0), v0);
    relay_viewer_stream_put(v0);

    let close = |c| assert_eq!(relay_connection_close(c), 0);
    if live_first {
        close(live);
        close(control);
    } else {
        close(control);
        close(live);
    }
    assert!(relay_session_get_by_id(id).is_null());
    assert!(relay_stream_get_by_id(handle0).is_null());
    assert_eq!(relay_connection_table_destroy(table), 0);
    assert_eq!(traceref_reclaim_barrier(), 0);
    assert_eq!(DESTROYED.load(Ordering::SeqCst), 5);
    assert_eq!(traceref_live_objects(), base);
}

#[test]
fn whole_hierarchy_both_close_orders() {
    common::quiet();
    run(true);
    run(false);
}
