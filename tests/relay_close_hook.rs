//! The stream close hook (relay_stream_set_close_hook()): called once for
//! each stream that closes, whichever call closes it, where the close
//! completes: with the stream's lock held by the thread completing it and
//! the owner's reference not yet put; never for a stream released without a
//! close. The hook is process-wide, so the tests of this file run one at a
//! time.

mod common;

use std::collections::HashMap;
use std::ffi::CString;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex, MutexGuard};
use std::thread::{self, ThreadId};
use traceref::ffi::bt::traceref_live_objects;
use traceref::ffi::relay::*;

/// What the hook saw, once per call.
#[derive(Debug, Clone)]
struct Call {
    handle: u64,
    thread: ThreadId,
    /// relay_stream_lock() on the stream inside the hook.
    lock_rc: i32,
    count: i64,
    closed: bool,
    /// Whether relay_stream_get_by_id() still found the stream.
    found: bool,
}

static CALLS: Mutex<Vec<Call>> = Mutex::new(Vec::new());
static SERIAL: Mutex<()> = Mutex::new(());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

unsafe extern "C" fn record(stream: *mut relay_stream) {
    let handle = relay_stream_get_handle(stream);
    let found = relay_stream_get_by_id(handle);
    if !found.is_null() {
        relay_stream_put(found);
    }
    let call = Call {
        handle,
        thread: thread::current().id(),
        lock_rc: relay_stream_lock(stream),
        count: relay_stream_get_ref_count(stream) as i64,
        closed: relay_stream_is_closed(stream),
        found: !found.is_null(),
    };
    lock(&CALLS).push(call);
}

/// Start a test: alone, with the recording hook set and no call recorded.
fn start() -> MutexGuard<'static, ()> {
    common::quiet();
    let serial = lock(&SERIAL);
    lock(&CALLS).clear();
    relay_stream_set_close_hook(Some(record));
    serial
}

fn calls_of(handle: u64) -> Vec<Call> {
    lock(&CALLS)
        .iter()
        .filter(|c| c.handle == handle)
        .cloned()
        .collect()
}

/// The one call for `handle`, checked: made on `on`, under the stream's
/// lock, the stream closed and out of the stream table, with the owner's
/// reference still counted.
fn one_call(handle: u64, on: ThreadId) -> Call {
    let calls = calls_of(handle);
    assert_eq!(calls.len(), 1, "stream {handle}: hook calls {calls:?}");
    let c = calls[0].clone();
    assert_eq!(c.thread, on, "stream {handle}: hook on another thread");
    assert_eq!(c.lock_rc, -1, "stream {handle}: lock not held in the hook");
    assert!(
        c.count >= 1,
        "stream {handle}: owner's reference already put"
    );
    assert!(c.closed && !c.found, "stream {handle}: {c:?}");
    c
}

struct Fixture {
    session: *mut relay_session,
    trace: *mut ctf_trace,
}

fn fixture(name: &str) -> Fixture {
    let n = CString::new(name).unwrap();
    let path = CString::new(format!("host/{name}/ust")).unwrap();
    let session = relay_session_create(n.as_ptr(), n.as_ptr(), 0, false, 2, 11);
    assert!(!session.is_null());
    let trace = relay_ctf_trace_get_by_path_or_create(session, path.as_ptr());
    assert!(!trace.is_null());
    Fixture { session, trace }
}

fn stream(f: &Fixture, handle: u64) -> *mut relay_stream {
    let p = CString::new("path").unwrap();
    let c = CString::new("chan").unwrap();
    let st = relay_stream_create(f.trace, handle, p.as_ptr(), c.as_ptr(), 0, 0);
    assert!(!st.is_null());
    st
}

fn finish(f: Fixture) {
    relay_ctf_trace_put(f.trace);
    if !relay_session_is_closed(f.session) {
        assert_eq!(relay_session_close(f.session), 0);
    }
}

#[test]
fn every_way_of_closing_calls_the_hook_once_under_the_lock() {
    let _serial = start();
    let base = traceref_live_objects();
    let me = thread::current().id();

    // relay_stream_close().
    let f = fixture("close");
    let st = stream(&f, 0xC1_0001);
    assert_eq!(relay_stream_close(st), 0);
    let c = one_call(0xC1_0001, me);
    assert_eq!(c.count, 1, "only the owner's reference is left");

    // relay_stream_try_close(), at once.
    let st = stream(&f, 0xC1_0002);
    assert_eq!(relay_stream_try_close(st), 0);
    one_call(0xC1_0002, me);

    // Pending, completed by relay_stream_set_received_seq_num().
    let st = stream(&f, 0xC1_0003);
    assert!(relay_stream_get(st));
    assert_eq!(relay_stream_set_last_net_seq_num(st, 7), 0);
    assert_eq!(relay_stream_try_close(st), 1);
    assert_eq!(relay_stream_set_received_seq_num(st, 6), 0);
    assert!(calls_of(0xC1_0003).is_empty(), "called before the close");
    assert_eq!(relay_stream_set_received_seq_num(st, 7), 0);
    let c = one_call(0xC1_0003, me);
    assert_eq!(c.count, 2, "the owner's and ours");
    relay_stream_put(st);

    // Pending, completed by relay_stream_set_last_net_seq_num().
    let st = stream(&f, 0xC1_0004);
    assert!(relay_stream_get(st));
    assert_eq!(relay_stream_set_last_net_seq_num(st, 9), 0);
    assert_eq!(relay_stream_set_received_seq_num(st, 3), 0);
    assert_eq!(relay_stream_try_close(st), 1);
    assert!(calls_of(0xC1_0004).is_empty(), "called before the close");
    assert_eq!(relay_stream_set_last_net_seq_num(st, 3), 0);
    one_call(0xC1_0004, me);
    relay_stream_put(st);

    // A stream released without a close: no call, not even at the
    // session's close.
    let st = stream(&f, 0xC1_0005);
    relay_stream_put(st);
    finish(f);
    assert!(
        calls_of(0xC1_0005).is_empty(),
        "hook of a stream never closed"
    );

    // Pending, completed by relay_session_abort(); the abort closes the
    // session's other streams too.
    let f = fixture("abort");
    let pending = stream(&f, 0xC1_0011);
    stream(&f, 0xC1_0012);
    assert_eq!(relay_stream_set_last_net_seq_num(pending, 4), 0);
    assert_eq!(relay_stream_try_close(pending), 1);
    assert!(calls_of(0xC1_0011).is_empty());
    assert_eq!(relay_session_abort(f.session), 0);
    one_call(0xC1_0011, me);
    one_call(0xC1_0012, me);
    finish(f);

    // relay_session_close().
    let f = fixture("session-close");
    stream(&f, 0xC1_0021);
    stream(&f, 0xC1_0022);
    assert!(calls_of(0xC1_0021).is_empty());
    finish(f);
    one_call(0xC1_0021, me);
    one_call(0xC1_0022, me);

    // A control connection's final put, from relay_connection_close().
    let f = fixture("connection");
    let conn = relay_connection_create(41, RELAY_CONTROL);
    // The connection owns the session now: its final put closes it.
    assert_eq!(relay_connection_set_session(conn, f.session), 0);
    stream(&f, 0xC1_0031);
    relay_ctf_trace_put(f.trace);
    assert_eq!(relay_connection_close(conn), 0);
    one_call(0xC1_0031, me);

    // Nothing called twice, and nothing else.
    assert_eq!(lock(&CALLS).len(), 9);
    assert_eq!(traceref_reclaim_barrier(), 0);
    assert_eq!(traceref_live_objects(), base);
    relay_stream_set_close_hook(None);
}

#[test]
fn a_close_made_under_a_held_lock_calls_the_hook_at_the_unlock() {
    let _serial = start();
    let base = traceref_live_objects();
    let me = thread::current().id();
    let f = fixture("held");

    // This thread holds the lock: the close completes at its unlock.
    let st = stream(&f, 0xC2_0001);
    assert_eq!(relay_stream_lock(st), 0);
    assert_eq!(relay_stream_close(st), 0);
    assert!(
        calls_of(0xC2_0001).is_empty(),
        "called under the caller's lock"
    );
    assert_eq!(relay_stream_unlock(st), 0);
    one_call(0xC2_0001, me);

    // Another thread holds it: the hook runs on that thread, at its unlock.
    let st = stream(&f, 0xC2_0002);
    let sp = st as usize;
    let locked = Barrier::new(2);
    let closed = Barrier::new(2);
    let holder = thread::scope(|sc| {
        let h = sc.spawn(|| {
            let st = sp as *mut relay_stream;
            assert_eq!(relay_stream_lock(st), 0);
            locked.wait();
            closed.wait();
            assert!(calls_of(0xC2_0002).is_empty(), "called before the unlock");
            assert_eq!(relay_stream_unlock(st), 0);
            thread::current().id()
        });
        locked.wait();
        // The session's teardown of a stream locked elsewhere: never waits.
        assert_eq!(relay_session_abort(f.session), 0);
        assert!(calls_of(0xC2_0002).is_empty(), "called by the closer");
        closed.wait();
        h.join().unwrap()
    });
    assert_ne!(holder, me);
    one_call(0xC2_0002, holder);
    finish(f);
    assert_eq!(lock(&CALLS).len(), 2);
    assert_eq!(traceref_reclaim_barrier(), 0);
    assert_eq!(traceref_live_objects(), base);
    relay_stream_set_close_hook(None);
}

/// A stream in a struct of the test's own, as C code embeds it.
#[repr(C)]
struct OwnStream {
    base: MaybeUninit<relay_stream_base>,
    closes: AtomicU32,
    files_open: AtomicU32,
}

static OWN_FREED: AtomicUsize = AtomicUsize::new(0);
static OWN_CLOSES_AT_FREE: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn own_free(stream: *mut relay_stream) {
    // SAFETY: every stream given this function is a boxed `OwnStream`
    // (its first member the library's part), freed once, here.
    let own = unsafe { Box::from_raw(stream.cast::<OwnStream>()) };
    OWN_CLOSES_AT_FREE.fetch_add(own.closes.load(Ordering::SeqCst) as usize, Ordering::SeqCst);
    OWN_FREED.fetch_add(1, Ordering::SeqCst);
}

unsafe extern "C" fn own_hook(stream: *mut relay_stream) {
    // SAFETY: this hook is set only while every stream is an `OwnStream`,
    // valid during the call (the owner's reference is still held).
    let own = unsafe { &*stream.cast::<OwnStream>() };
    own.closes.fetch_add(1, Ordering::SeqCst);
    own.files_open.store(0, Ordering::SeqCst);
    // SAFETY: as `record`'s contract.
    unsafe { record(stream) };
}

#[test]
fn embedded_streams_release_their_own_resources_in_the_hook() {
    let _serial = start();
    relay_stream_set_close_hook(Some(own_hook));
    let base = traceref_live_objects();
    let me = thread::current().id();
    let f = fixture("embedded");
    let p = CString::new("path").unwrap();
    let c = CString::new("chan").unwrap();
    let mut own = Vec::new();
    for i in 0..4u64 {
        let s = Box::into_raw(Box::new(OwnStream {
            base: MaybeUninit::uninit(),
            closes: AtomicU32::new(0),
            files_open: AtomicU32::new(2),
        }));
        let st = s.cast::<relay_stream>();
        let rc = relay_stream_init(
            st,
            Some(own_free),
            f.trace,
            0xC3_0000 + i,
            p.as_ptr(),
            c.as_ptr(),
            0,
            0,
        );
        assert_eq!(rc, 0);
        // A reference of the test's own, but on the stream released
        // without a close (its owner's reference put: count 0).
        if i != 2 {
            assert!(relay_stream_get(st));
        }
        own.push(s);
    }
    let before = OWN_FREED.load(Ordering::SeqCst);
    let at_free = OWN_CLOSES_AT_FREE.load(Ordering::SeqCst);
    // One closed by its owner, one pending until its data, one released
    // without a close, the last by the session's close.
    assert_eq!(relay_stream_close(own[0].cast()), 0);
    assert_eq!(relay_stream_set_last_net_seq_num(own[1].cast(), 2), 0);
    assert_eq!(relay_stream_try_close(own[1].cast()), 1);
    relay_stream_put(own[2].cast()); // the owner's reference, no close
    finish(f);
    assert_eq!(relay_stream_set_received_seq_num(own[1].cast(), 2), 0);
    for (i, s) in own.iter().enumerate().filter(|(i, _)| *i != 2) {
        // SAFETY: the test still holds a reference on each of these.
        let s = unsafe { &**s };
        assert_eq!(s.closes.load(Ordering::SeqCst), 1, "stream {i}");
        assert_eq!(s.files_open.load(Ordering::SeqCst), 0, "stream {i}");
        one_call(0xC3_0000 + i as u64, me);
        relay_stream_put((s as *const OwnStream).cast_mut().cast());
    }
    assert!(
        calls_of(0xC3_0002).is_empty(),
        "hook of a stream never closed"
    );
    assert_eq!(traceref_reclaim_barrier(), 0);
    // Every struct freed once; three closes counted in all (the stream
    // released without a close had none).
    assert_eq!(OWN_FREED.load(Ordering::SeqCst) - before, 4);
    assert_eq!(OWN_CLOSES_AT_FREE.load(Ordering::SeqCst) - at_free, 3);
    assert_eq!(traceref_live_objects(), base);
    relay_stream_set_close_hook(None);
}

#[test]
fn a_null_hook_is_none_and_a_new_hook_replaces_the_old() {
    let _serial = start();
    let base = traceref_live_objects();
    let f = fixture("replace");
    relay_stream_set_close_hook(None);
    let st = stream(&f, 0xC4_0001);
    assert_eq!(relay_stream_close(st), 0);
    assert!(calls_of(0xC4_0001).is_empty(), "NULL hook called");

    static OTHER: AtomicUsize = AtomicUsize::new(0);
    unsafe extern "C" fn other(_stream: *mut relay_stream) {
        OTHER.fetch_add(1, Ordering::SeqCst);
    }
    relay_stream_set_close_hook(Some(other));
    relay_stream_set_close_hook(Some(record));
    let st = stream(&f, 0xC4_0002);
    assert_eq!(relay_stream_close(st), 0);
    one_call(0xC4_0002, thread::current().id());
    assert_eq!(OTHER.load(Ordering::SeqCst), 0);
    finish(f);

    let counts: HashMap<u64, usize> = lock(&CALLS).iter().fold(HashMap::new(), |mut m, c| {
        *m.entry(c.handle).or_default() += 1;
        m
    });
    assert_eq!(counts.len(), 1);
    assert_eq!(traceref_reclaim_barrier(), 0);
    assert_eq!(traceref_live_objects(), base);
    relay_stream_set_close_hook(None);
}
