//! relay_index_get_by_id_or_create() hands out an index without a reference
//! for the caller: "the pointer stays valid while the caller holds the
//! stream's lock, since the self reference is only dropped under it". Each
//! thread below keeps to the documented contract of what it calls:
//!
//! * thread A holds the stream's lock and the index it was handed;
//! * thread B holds a reference on the same index (taken earlier with
//!   relay_index_get()) and flushes it with relay_index_try_flush(), whose
//!   caller "must hold the stream's lock (or a reference on `index`)", then
//!   puts its reference.
//!
//! While A still holds the lock, its index must still be there: its count
//! is at least 1. (A looks inside a read-side section, so that even a
//! wrongly released index stays readable.) If the flush waits for the
//! stream's lock, A stops waiting for it after a while and the check holds.

mod common;

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};
use traceref::ffi::bt::traceref_live_objects;
use traceref::ffi::relay::*;

#[derive(Clone, Copy)]
struct P(usize);

#[test]
fn an_index_borrowed_under_the_stream_lock_outlives_a_flush_by_another_thread() {
    common::quiet();
    let base = traceref_live_objects();
    let name = CString::new("borrow").unwrap();
    let path = CString::new("borrow/ust").unwrap();
    let chan = CString::new("chan").unwrap();
    let s = relay_session_create(name.as_ptr(), name.as_ptr(), 0, false, 2, 11);
    let t = relay_ctf_trace_get_by_path_or_create(s, path.as_ptr());
    let st = relay_stream_create(t, 0xB0_0000, path.as_ptr(), chan.as_ptr(), 0, 0);
    assert!(!st.is_null());
    // The data of the index has arrived: a flush would flush it.
    assert_eq!(relay_stream_set_received_seq_num(st, 10), 0);

    // B's reference, taken under the lock as the contract asks.
    assert_eq!(relay_stream_lock(st), 0);
    let idx = relay_index_get_by_id_or_create(st, 5);
    assert!(!idx.is_null());
    assert!(relay_index_get(idx));
    assert_eq!(relay_stream_unlock(st), 0);
    assert_eq!(relay_index_get_ref_count(idx), 2);

    let (sp, ip) = (P(st as usize), P(idx as usize));
    let locked = Barrier::new(2);
    let flushed = AtomicBool::new(false);
    let mut count_under_lock = -1;
    let mut flush_rc = -2;
    thread::scope(|sc| {
        let a = sc.spawn(|| {
            let st = sp.0 as *mut relay_stream;
            assert_eq!(relay_stream_lock(st), 0);
            let mine = relay_index_get_by_id_or_create(st, 5);
            assert_eq!(mine as usize, ip.0, "the same index is handed out");
            traceref_read_lock();
            locked.wait();
            // Give B's flush time to finish, or to wait for the lock.
            let start = Instant::now();
            while !flushed.load(Ordering::SeqCst) && start.elapsed() < Duration::from_millis(300) {
                thread::sleep(Duration::from_millis(1));
            }
            let n = relay_index_get_ref_count(mine);
            traceref_read_unlock();
            assert_eq!(relay_stream_unlock(st), 0);
            n
        });
        let b = sc.spawn(|| {
            let idx = ip.0 as *mut relay_index;
            locked.wait();
            let rc = relay_index_try_flush(idx);
            relay_index_put(idx);
            flushed.store(true, Ordering::SeqCst);
            rc
        });
        count_under_lock = a.join().unwrap();
        flush_rc = b.join().unwrap();
    });
    assert_eq!(flush_rc, 0, "the flush was done");
    assert!(
        count_under_lock >= 1,
        "an index handed out under the stream lock was released while that lock was \
         still held (count {count_under_lock}): relay_index_try_flush() called with a \
         reference on the index, without the stream lock, dropped its self reference"
    );

    assert_eq!(relay_stream_close(st), 0);
    relay_ctf_trace_put(t);
    assert_eq!(relay_session_close(s), 0);
    assert_eq!(traceref_reclaim_barrier(), 0);
    assert_eq!(traceref_live_objects(), base);
}
