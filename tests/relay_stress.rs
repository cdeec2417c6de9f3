//! Stress of the relay model through the C functions, many threads at once:
//!
//! * creator threads build sessions, traces, streams (each thread in its own
//!   handle range), publish them, create viewer streams and indexes under the
//!   stream lock, then close and put everything in a random order;
//! * reader threads look random ids up in the live ranges (sometimes several
//!   lookups batched in one read-side section) and check that every object
//!   they get is the one asked for, alive and counted while they hold it;
//! * an iterator thread walks every session and every stream of each;
//! * a connection thread opens and closes connections of one connection
//!   table while another looks them up by socket;
//! * a racer thread creates streams on a session while another thread closes
//!   that session: each stream is refused or closed by the close.
//!
//! Every object carries a payload whose destructor counts; at the end, after
//! the reclaim barrier, the census is back to its start and every payload
//! was destroyed exactly once.
//!
//! `TRACEREF_SEED=<n>` replays a run; the seed is printed at the start.

mod common;

use common::Rng;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use traceref::ffi::bt::traceref_live_objects;
use traceref::ffi::relay::*;

const CREATORS: usize = 2;
const READERS: usize = 2;
const ROUNDS: usize = 3000;
const STREAMS_PER_ROUND: usize = 3;
const INDEXES_PER_STREAM: u64 = 3;
/// Chains of pending close actions a creator keeps before draining some.
const POOL: usize = 20;
const CONN_ROUNDS: usize = 3000;
const SOCKS: i32 = 8;

static ATTACHED: AtomicUsize = AtomicUsize::new(0);
static DESTROYED: AtomicUsize = AtomicUsize::new(0);
/// Highest session id handed out so far (readers look up to it).
static MAX_SID: AtomicU64 = AtomicU64::new(0);
/// Handle ranges: one per creator, and the last one for the racer.
const RANGES: usize = CREATORS + 1;
const RACER: usize = CREATORS;
const RACE_ROUNDS: usize = 400;
const RACE_STREAMS: usize = 24;
/// Handles allocated so far in each range.
static NEXT_HANDLE: [AtomicU64; RANGES] = [const { AtomicU64::new(0) }; RANGES];
/// The session the racer hands to the closer, each round.
static RACE_SESSION: AtomicUsize = AtomicUsize::new(0);
static RACE_FAILURES: Mutex<Vec<String>> = Mutex::new(Vec::new());
static RACE_STATS: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];
static CREATORS_DONE: AtomicUsize = AtomicUsize::new(0);
static CONN_DONE: AtomicBool = AtomicBool::new(false);
/// Set by a thread that fails, so that the others stop.
static STOP: AtomicBool = AtomicBool::new(false);
/// Failures seen inside C callbacks (which must not unwind).
static CALLBACK_ERRORS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static VISITED_SESSIONS: AtomicUsize = AtomicUsize::new(0);
static VISITED_STREAMS: AtomicUsize = AtomicUsize::new(0);
static FOUND: AtomicUsize = AtomicUsize::new(0);
static CONN_FOUND: AtomicUsize = AtomicUsize::new(0);

fn handle_base(t: usize) -> u64 {
    (t as u64 + 1) << 32
}

/// Which creator range `h` belongs to, if any.
fn handle_owner(h: u64) -> Option<usize> {
    (0..RANGES).find(|&t| {
        let b = handle_base(t);
        h >= b && h < b + NEXT_HANDLE[t].load(Ordering::SeqCst) + 1
    })
}

unsafe extern "C" fn destroy_payload(data: *mut c_void) {
    DESTROYED.fetch_add(1, Ordering::SeqCst);
    drop(unsafe { Box::from_raw(data.cast::<u64>()) });
}

/// Attach a payload holding `v` to `obj`.
fn attach(obj: *mut c_void, v: u64) {
    let data = Box::into_raw(Box::new(v));
    let rc = traceref_payload_set(obj, data.cast(), Some(destroy_payload));
    assert_eq!(rc, 0, "payload_set on a fresh object");
    ATTACHED.fetch_add(1, Ordering::SeqCst);
}

/// The payload of a held object is absent (not yet attached) or `v`.
fn payload_ok(obj: *mut c_void, v: u64) -> bool {
    let p = traceref_payload_get(obj);
    p.is_null() || unsafe { *p.cast::<u64>() } == v
}

fn cstr<'a>(p: *const c_char) -> Option<&'a CStr> {
    if p.is_null() {
        None
    } else {
        Some(unsafe { CStr::from_ptr(p) })
    }
}

fn record(msg: String) {
    CALLBACK_ERRORS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(msg);
}

/// Sets STOP when the thread that owns it unwinds.
struct StopOnPanic;
impl Drop for StopOnPanic {
    fn drop(&mut self) {
        if thread::panicking() {
            STOP.store(true, Ordering::SeqCst);
        }
    }
}

#[derive(Clone, Copy)]
struct SendPtr(usize);
impl SendPtr {
    fn get<T>(self) -> *mut T {
        self.0 as *mut T
    }
}

// ---------------------------------------------------------------------------
// Checks of held objects, shared by readers and the iterator.

fn check_session(s: *mut relay_session, id: u64) -> Result<(), String> {
    if relay_session_get_id(s) != id {
        return Err(format!(
            "session lookup {id} gave session {}",
            relay_session_get_id(s)
        ));
    }
    let n = relay_session_get_ref_count(s);
    if n < 1 {
        return Err(format!("held session {id} has count {n}"));
    }
    match cstr(relay_session_get_name(s)).map(|c| c.to_bytes()) {
        Some(b"stress") | Some(b"conn") => {}
        other => return Err(format!("session {id} has name {other:?}")),
    }
    if !payload_ok(s.cast(), id) {
        return Err(format!("session {id}: wrong payload"));
    }
    Ok(())
}

fn check_stream(st: *mut relay_stream, h: u64) -> Result<(), String> {
    if relay_stream_get_handle(st) != h {
        return Err(format!(
            "stream lookup {h:#x} gave stream {:#x}",
            relay_stream_get_handle(st)
        ));
    }
    let n = relay_stream_get_ref_count(st);
    if n < 1 {
        return Err(format!("held stream {h:#x} has count {n}"));
    }
    if !payload_ok(st.cast(), h) {
        return Err(format!("stream {h:#x}: wrong payload"));
    }
    match cstr(relay_stream_get_channel_name(st)).map(|c| c.to_bytes()) {
        Some(b"chan") | Some(b"metadata") => {}
        other => return Err(format!("stream {h:#x}: channel {other:?}")),
    }
    let trace = relay_stream_get_trace(st);
    if trace.is_null() {
        return Err(format!("stream {h:#x} has no trace"));
    }
    let tn = relay_ctf_trace_get_ref_count(trace);
    if tn < 1 {
        return Err(format!("trace of held stream {h:#x} has count {tn}"));
    }
    let session = relay_ctf_trace_get_session(trace);
    let sn = relay_session_get_ref_count(session);
    if sn < 1 {
        return Err(format!("session of held stream {h:#x} has count {sn}"));
    }
    Ok(())
}

fn check_viewer(v: *mut relay_viewer_stream, h: u64) -> Result<(), String> {
    let n = relay_viewer_stream_get_ref_count(v);
    if n < 1 {
        return Err(format!("held viewer stream {h:#x} has count {n}"));
    }
    if !payload_ok(v.cast(), h) {
        return Err(format!("viewer stream {h:#x}: wrong payload"));
    }
    let st = relay_viewer_stream_get_stream(v);
    if relay_stream_get_handle(st) != h {
        return Err(format!(
            "viewer stream {h:#x} is of stream {:#x}",
            relay_stream_get_handle(st)
        ));
    }
    let sn = relay_stream_get_ref_count(st);
    if sn < 1 {
        return Err(format!(
            "stream of held viewer stream {h:#x} has count {sn}"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Creators.

/// One step of tearing down what a creator built. Each chain of steps runs
/// in order; chains are interleaved at random.
enum Act {
    SessionAbort(*mut relay_session),
    SessionClose(*mut relay_session),
    TracePut(*mut ctf_trace),
    StreamClose(*mut relay_stream),
    StreamTryClose(*mut relay_stream),
    StreamSetLast(*mut relay_stream, u64),
    StreamSetRecv(*mut relay_stream, u64),
    StreamCheckClosed(*mut relay_stream),
    StreamPut(*mut relay_stream),
    IndexFlush(*mut relay_index),
    IndexPut(*mut relay_index),
    ViewerClose(*mut relay_viewer_stream),
    ViewerPut(*mut relay_viewer_stream),
    VsDestroy(*mut relay_viewer_session),
}

fn run_act(a: Act, seed: u64) {
    match a {
        Act::SessionAbort(s) => assert_eq!(relay_session_abort(s), 0, "seed {seed}"),
        Act::SessionClose(s) => assert_eq!(relay_session_close(s), 0, "seed {seed}"),
        Act::TracePut(t) => relay_ctf_trace_put(t),
        Act::StreamClose(st) => {
            // Already closed by its session's close or abort: -1.
            let rc = relay_stream_close(st);
            assert!(rc == 0 || rc == -1, "seed {seed}: stream close gave {rc}");
        }
        Act::StreamTryClose(st) => {
            let rc = relay_stream_try_close(st);
            assert!((-1..=1).contains(&rc), "seed {seed}: try_close gave {rc}");
        }
        Act::StreamSetLast(st, n) => {
            assert_eq!(relay_stream_set_last_net_seq_num(st, n), 0, "seed {seed}")
        }
        Act::StreamSetRecv(st, n) => {
            assert_eq!(relay_stream_set_received_seq_num(st, n), 0, "seed {seed}")
        }
        Act::StreamCheckClosed(st) => assert!(
            relay_stream_is_closed(st),
            "seed {seed}: stream {:#x} still open after its close and its data",
            relay_stream_get_handle(st)
        ),
        Act::StreamPut(st) => relay_stream_put(st),
        Act::IndexFlush(i) => {
            // 0: flushed now; 1: not ready, or already flushed or closed.
            let rc = relay_index_try_flush(i);
            assert!(rc == 0 || rc == 1, "seed {seed}: try_flush gave {rc}");
        }
        Act::IndexPut(i) => relay_index_put(i),
        Act::ViewerClose(v) => {
            // Already closed by its viewer session's close: -1.
            let rc = relay_viewer_stream_close(v);
            assert!(rc == 0 || rc == -1, "seed {seed}: viewer close gave {rc}");
        }
        Act::ViewerPut(v) => relay_viewer_stream_put(v),
        Act::VsDestroy(vs) => relay_viewer_session_destroy(vs),
    }
}

fn creator(t: usize, seed: u64) {
    let _g = StopOnPanic;
    let mut rng = Rng::new(seed ^ (0xC0FFEE + t as u64));
    let name = CString::new("stress").unwrap();
    let host = CString::new("host").unwrap();
    let paths = [CString::new("p0").unwrap(), CString::new("p1").unwrap()];
    let chan = CString::new("chan").unwrap();
    let meta = CString::new("metadata").unwrap();
    let mut pool: Vec<Vec<Act>> = Vec::new(); // each chain reversed: pop() is next

    let step = |pool: &mut Vec<Vec<Act>>, rng: &mut Rng| {
        let c = rng.below(pool.len());
        let a = pool[c].pop().unwrap();
        if pool[c].is_empty() {
            pool.swap_remove(c);
        }
        run_act(a, seed);
    };

    for round in 0..ROUNDS {
        if STOP.load(Ordering::SeqCst) {
            break;
        }
        let s = relay_session_create(name.as_ptr(), host.as_ptr(), 0, false, 2, 11);
        assert!(!s.is_null());
        let id = relay_session_get_id(s);
        attach(s.cast(), id);
        MAX_SID.fetch_max(id, Ordering::SeqCst);
        let trace = relay_ctf_trace_get_by_path_or_create(s, paths[round % 2].as_ptr());
        assert!(!trace.is_null(), "seed {seed}");
        attach(trace.cast(), id);

        let mut vs = ptr::null_mut();
        if rng.chance(40) {
            vs = relay_viewer_session_create();
            assert_eq!(relay_viewer_session_attach(vs, s), 0, "seed {seed}");
        }

        let mut chains: Vec<Vec<Act>> = Vec::new();
        for k in 0..STREAMS_PER_ROUND {
            let h = handle_base(t) + NEXT_HANDLE[t].load(Ordering::SeqCst);
            let ch = if k == 0 && rng.chance(50) {
                &meta
            } else {
                &chan
            };
            let st = relay_stream_create(trace, h, paths[0].as_ptr(), ch.as_ptr(), 0, 0);
            NEXT_HANDLE[t].fetch_add(1, Ordering::SeqCst);
            assert!(!st.is_null(), "seed {seed}: stream {h:#x} not created");
            attach(st.cast(), h);
            assert!(relay_stream_get(st), "seed {seed}");
            if rng.chance(70) {
                assert_eq!(relay_stream_publish(st), 0, "seed {seed}");
            }

            assert_eq!(relay_stream_lock(st), 0, "seed {seed}");
            let v = relay_viewer_stream_create(st, 0);
            assert!(!v.is_null(), "seed {seed}: viewer stream {h:#x}");
            attach(v.cast(), h);
            assert!(relay_viewer_stream_get(v), "seed {seed}");
            let mut idx = Vec::new();
            for seq in 0..INDEXES_PER_STREAM {
                // Borrowed under the stream lock (its self reference only);
                // a reference of our own keeps it past the lock.
                let i = relay_index_get_by_id_or_create(st, seq);
                assert!(!i.is_null(), "seed {seed}: index {seq} of {h:#x}");
                assert_eq!(relay_index_get_ref_count(i), 1, "seed {seed}");
                assert_eq!(relay_index_get_by_id_or_create(st, seq), i, "seed {seed}");
                attach(i.cast(), seq);
                if rng.chance(70) {
                    assert!(relay_index_get(i), "seed {seed}");
                    idx.push(i);
                }
            }
            assert_eq!(relay_stream_unlock(st), 0, "seed {seed}");

            let mut chain = match rng.below(3) {
                0 => vec![Act::StreamClose(st)],
                1 => vec![Act::StreamTryClose(st)],
                _ => {
                    let last = INDEXES_PER_STREAM - 1;
                    vec![
                        Act::StreamSetLast(st, last),
                        Act::StreamTryClose(st),
                        Act::StreamSetRecv(st, last - 1),
                        Act::StreamSetRecv(st, last),
                    ]
                }
            };
            chain.push(Act::StreamCheckClosed(st));
            chain.push(Act::StreamPut(st));
            chains.push(chain);
            for i in idx {
                if rng.chance(50) {
                    chains.push(vec![Act::IndexFlush(i), Act::IndexPut(i)]);
                } else {
                    chains.push(vec![Act::IndexPut(i)]);
                }
            }
            chains.push(vec![Act::ViewerClose(v), Act::ViewerPut(v)]);
        }
        chains.push(vec![Act::TracePut(trace)]);
        if rng.chance(20) {
            chains.push(vec![Act::SessionAbort(s), Act::SessionClose(s)]);
        } else {
            chains.push(vec![Act::SessionClose(s)]);
        }
        if !vs.is_null() {
            chains.push(vec![Act::VsDestroy(vs)]);
        }
        for mut c in chains {
            c.reverse();
            pool.push(c);
        }
        while pool.len() > POOL {
            step(&mut pool, &mut rng);
        }
    }
    while !pool.is_empty() {
        step(&mut pool, &mut rng);
    }
    CREATORS_DONE.fetch_add(1, Ordering::SeqCst);
}

// ---------------------------------------------------------------------------
// Readers.

#[derive(Clone, Copy)]
enum Found {
    Session(*mut relay_session, u64),
    Stream(*mut relay_stream, u64),
    Viewer(*mut relay_viewer_stream, u64),
}

/// A value in `lo..=hi + 2`, mostly among the most recent ones (where the
/// live objects are), sometimes anywhere.
fn recent(rng: &mut Rng, lo: u64, hi: u64) -> u64 {
    let hi = hi.max(lo);
    let from = if rng.chance(85) {
        hi.saturating_sub(48).max(lo)
    } else {
        lo
    };
    from + rng.below((hi - from) as usize + 3) as u64
}

fn random_handle(rng: &mut Rng) -> u64 {
    let t = rng.below(RANGES);
    let n = NEXT_HANDLE[t].load(Ordering::SeqCst);
    let b = handle_base(t);
    recent(rng, b, b + n)
}

/// One random lookup; checks and returns what was found (still held).
fn lookup(rng: &mut Rng) -> Option<Found> {
    match rng.below(3) {
        0 => {
            let max = MAX_SID.load(Ordering::SeqCst);
            let id = recent(rng, 1, max);
            let s = relay_session_get_by_id(id);
            (!s.is_null()).then_some(Found::Session(s, id))
        }
        1 => {
            let h = random_handle(rng);
            let s = relay_stream_get_by_id(h);
            (!s.is_null()).then_some(Found::Stream(s, h))
        }
        _ => {
            let h = random_handle(rng);
            let v = relay_viewer_stream_get_by_id(h);
            (!v.is_null()).then_some(Found::Viewer(v, h))
        }
    }
}

fn check_found(f: Found) -> Result<(), String> {
    match f {
        Found::Session(s, id) => check_session(s, id),
        Found::Stream(s, h) => check_stream(s, h),
        Found::Viewer(v, h) => check_viewer(v, h),
    }
}

fn put_found(f: Found) {
    match f {
        Found::Session(s, _) => relay_session_put(s),
        Found::Stream(s, _) => relay_stream_put(s),
        Found::Viewer(v, _) => relay_viewer_stream_put(v),
    }
}

/// Take a new reference on an object seen earlier in the current read-side
/// section (it is still allocated, perhaps at count 0).
fn regain(f: Found) -> bool {
    match f {
        Found::Session(s, _) => relay_session_get(s),
        Found::Stream(s, _) => relay_stream_get(s),
        Found::Viewer(v, _) => relay_viewer_stream_get(v),
    }
}

fn reader(r: usize, seed: u64) {
    let _g = StopOnPanic;
    let mut rng = Rng::new(seed ^ (0xBEEF + r as u64));
    while CREATORS_DONE.load(Ordering::SeqCst) < CREATORS && !STOP.load(Ordering::SeqCst) {
        if rng.chance(30) {
            // Batched lookups in one read-side section (sometimes nested).
            traceref_read_lock();
            let nested = rng.chance(30);
            if nested {
                traceref_read_lock();
            }
            let mut seen = Vec::new();
            for _ in 0..6 {
                if let Some(f) = lookup(&mut rng) {
                    FOUND.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = check_found(f) {
                        panic!("seed {seed}: {e}");
                    }
                    put_found(f);
                    seen.push(f);
                }
            }
            // Everything seen stays allocated until the section ends: a get
            // either fails (count 0) or gives a live object again.
            for f in seen {
                if regain(f) {
                    if let Err(e) = check_found(f) {
                        panic!("seed {seed}: after regain: {e}");
                    }
                    put_found(f);
                }
            }
            if nested {
                traceref_read_unlock();
            }
            traceref_read_unlock();
        } else if let Some(f) = lookup(&mut rng) {
            FOUND.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = check_found(f) {
                panic!("seed {seed}: {e}");
            }
            // Hold it a little while others close and put.
            if rng.chance(10) {
                thread::yield_now();
                if let Err(e) = check_found(f) {
                    panic!("seed {seed}: after yield: {e}");
                }
            }
            put_found(f);
        }
    }
}

// ---------------------------------------------------------------------------
// Iterator.

unsafe extern "C" fn visit_stream(stream: *mut relay_stream, data: *mut c_void) -> c_int {
    VISITED_STREAMS.fetch_add(1, Ordering::Relaxed);
    let session = data.cast::<relay_session>();
    let h = relay_stream_get_handle(stream);
    if handle_owner(h).is_none() {
        record(format!("visited stream {h:#x} is in no creator range"));
        return 1;
    }
    if let Err(e) = check_stream(stream, h) {
        record(format!("visited stream: {e}"));
        return 1;
    }
    let trace = relay_stream_get_trace(stream);
    if relay_ctf_trace_get_session(trace) != session {
        record(format!("stream {h:#x} visited under another session"));
        return 1;
    }
    let m = relay_ctf_trace_get_viewer_metadata_stream(trace);
    if !m.is_null() {
        let st = relay_viewer_stream_get_stream(m);
        if relay_viewer_stream_get_ref_count(m) < 1
            || relay_stream_get_trace(st) != trace
            || !relay_stream_is_metadata(st)
        {
            record(format!("bad metadata viewer stream of the trace of {h:#x}"));
        }
        relay_viewer_stream_put(m);
    }
    0
}

unsafe extern "C" fn visit_session(session: *mut relay_session, data: *mut c_void) -> c_int {
    VISITED_SESSIONS.fetch_add(1, Ordering::Relaxed);
    let id = relay_session_get_id(session);
    if let Err(e) = check_session(session, id) {
        record(format!("visited session: {e}"));
        return 1;
    }
    let stop_early = !data.is_null();
    let n = relay_session_for_each_stream(session, Some(visit_stream), session.cast());
    if n < 0 {
        record(format!("for_each_stream of session {id} gave {n}"));
        return 1;
    }
    c_int::from(stop_early)
}

fn iterator(seed: u64) {
    let _g = StopOnPanic;
    let mut rng = Rng::new(seed ^ 0x17E2);
    while CREATORS_DONE.load(Ordering::SeqCst) < CREATORS && !STOP.load(Ordering::SeqCst) {
        if rng.chance(20) {
            // A visitor that stops at once visits at most one session.
            let n =
                relay_sessions_for_each(Some(visit_session), std::ptr::dangling_mut::<c_void>());
            assert!(n == 0 || n == 1, "seed {seed}: early stop visited {n}");
        } else {
            let n = relay_sessions_for_each(Some(visit_session), ptr::null_mut());
            assert!(n >= 0, "seed {seed}: sessions_for_each gave {n}");
        }
    }
}

// ---------------------------------------------------------------------------
// Connections.

fn conn_owner(table: SendPtr, seed: u64) {
    let _g = StopOnPanic;
    let table = table.get::<relay_connection_table>();
    let mut rng = Rng::new(seed ^ 0xC044);
    let name = CString::new("conn").unwrap();
    let host = CString::new("host").unwrap();
    let path = CString::new("c").unwrap();
    for round in 0..CONN_ROUNDS {
        if STOP.load(Ordering::SeqCst) {
            break;
        }
        let mut conns = Vec::new();
        let mut control_session: *mut relay_session = ptr::null_mut();
        let mut attached = false;
        for sock in 0..SOCKS {
            let ty = [RELAY_DATA, RELAY_CONTROL, RELAY_VIEWER_COMMAND][rng.below(3)];
            let c = relay_connection_create(sock, ty);
            assert!(!c.is_null());
            attach(c.cast(), ((ty as u64) << 32) | sock as u64);
            if ty == RELAY_CONTROL {
                let s = relay_session_create(name.as_ptr(), host.as_ptr(), 0, false, 2, 11);
                let id = relay_session_get_id(s);
                attach(s.cast(), id);
                MAX_SID.fetch_max(id, Ordering::SeqCst);
                let t = relay_ctf_trace_get_by_path_or_create(s, path.as_ptr());
                assert!(!t.is_null(), "seed {seed}");
                relay_ctf_trace_put(t);
                // The session's owner reference now belongs to the connection.
                assert_eq!(relay_connection_set_session(c, s), 0, "seed {seed}");
                control_session = s;
            } else if ty == RELAY_VIEWER_COMMAND {
                let vs = relay_viewer_session_create();
                if !control_session.is_null() && !attached {
                    // Reachable through a connection this thread holds.
                    assert!(relay_session_get(control_session), "seed {seed}");
                    assert_eq!(
                        relay_viewer_session_attach(vs, control_session),
                        0,
                        "seed {seed}"
                    );
                    relay_session_put(control_session);
                    attached = true;
                }
                assert_eq!(relay_connection_set_viewer_session(c, vs), 0, "seed {seed}");
            }
            assert_eq!(
                relay_connection_table_add(table, c),
                0,
                "seed {seed}: sock {sock}"
            );
            conns.push(c);
        }
        // Close in a random order; some keep an extra reference whose put
        // (the final one) comes later; in the last round some stay open for
        // the table's destruction.
        let mut late = Vec::new();
        while !conns.is_empty() {
            let c = conns.swap_remove(rng.below(conns.len()));
            if round + 1 == CONN_ROUNDS && rng.chance(50) {
                continue;
            }
            if rng.chance(30) {
                assert!(relay_connection_get(c), "seed {seed}");
                late.push(c);
            }
            assert_eq!(relay_connection_close(c), 0, "seed {seed}");
            if !late.is_empty() && rng.chance(40) {
                let l = late.swap_remove(rng.below(late.len()));
                relay_connection_put(l);
            }
        }
        for l in late {
            relay_connection_put(l);
        }
    }
    CONN_DONE.store(true, Ordering::SeqCst);
}

fn check_conn(c: *mut relay_connection, sock: i32) -> Result<(), String> {
    if relay_connection_get_sock(c) != sock {
        return Err(format!(
            "lookup of sock {sock} gave sock {}",
            relay_connection_get_sock(c)
        ));
    }
    let ty = relay_connection_get_type(c);
    if ![RELAY_DATA, RELAY_CONTROL, RELAY_VIEWER_COMMAND].contains(&ty) {
        return Err(format!("sock {sock}: type {ty}"));
    }
    let n = relay_connection_get_ref_count(c);
    if n < 1 {
        return Err(format!("held connection {sock} has count {n}"));
    }
    if !payload_ok(c.cast(), ((ty as u64) << 32) | sock as u64) {
        return Err(format!("connection {sock}: wrong payload"));
    }
    let s = relay_connection_get_session(c);
    if !s.is_null() {
        if ty != RELAY_CONTROL {
            return Err(format!("connection {sock} of type {ty} has a session"));
        }
        let id = relay_session_get_id(s);
        check_session(s, id)?;
    }
    let vs = relay_connection_get_viewer_session(c);
    if !vs.is_null() && ty != RELAY_VIEWER_COMMAND {
        return Err(format!(
            "connection {sock} of type {ty} has a viewer session"
        ));
    }
    Ok(())
}

fn conn_looker(table: SendPtr, seed: u64) {
    let _g = StopOnPanic;
    let table = table.get::<relay_connection_table>();
    let mut rng = Rng::new(seed ^ 0x100C);
    while !CONN_DONE.load(Ordering::SeqCst) && !STOP.load(Ordering::SeqCst) {
        let batch = rng.chance(25);
        if batch {
            traceref_read_lock();
        }
        for _ in 0..if batch { 4 } else { 1 } {
            let sock = rng.below(SOCKS as usize + 1) as i32;
            let c = relay_connection_get_by_sock(table, sock);
            if c.is_null() {
                continue;
            }
            CONN_FOUND.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = check_conn(c, sock) {
                panic!("seed {seed}: {e}");
            }
            relay_connection_put(c);
        }
        if batch {
            traceref_read_unlock();
        }
    }
}

// ---------------------------------------------------------------------------
// Stream creation racing the close of its session.

/// Each round: a session and a trace; streams are created on the trace while
/// the closer thread closes the session. Every stream made must either be
/// refused (the session is closed) or be closed by the session's close.
/// Failures are collected, not asserted, so that neither thread is left
/// waiting at the barrier.
fn racer(seed: u64, barrier: &Barrier) {
    let _g = StopOnPanic;
    let mut rng = Rng::new(seed ^ 0x2ACE);
    let name = CString::new("stress").unwrap();
    let host = CString::new("host").unwrap();
    let path = CString::new("race").unwrap();
    let chan = CString::new("chan").unwrap();
    let fail = |m: String| {
        RACE_FAILURES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(m)
    };
    for round in 0..RACE_ROUNDS {
        let s = relay_session_create(name.as_ptr(), host.as_ptr(), 0, false, 2, 11);
        let id = relay_session_get_id(s);
        attach(s.cast(), id);
        MAX_SID.fetch_max(id, Ordering::SeqCst);
        let t = relay_ctf_trace_get_by_path_or_create(s, path.as_ptr());
        if t.is_null() {
            fail(format!("round {round}: no trace"));
        }
        // Our own session reference: the owner's goes to the closer.
        if !relay_session_get(s) {
            fail(format!("round {round}: session get refused"));
        }
        RACE_SESSION.store(s as usize, Ordering::SeqCst);
        barrier.wait();
        let mut held = Vec::new();
        let mut refused = false;
        for _ in 0..RACE_STREAMS {
            let h = handle_base(RACER) + NEXT_HANDLE[RACER].load(Ordering::SeqCst);
            let st = relay_stream_create(t, h, path.as_ptr(), chan.as_ptr(), 0, 0);
            NEXT_HANDLE[RACER].fetch_add(1, Ordering::SeqCst);
            if st.is_null() {
                refused = true;
                break;
            }
            // The close may already have closed and released it: take a
            // reference through the table (absent once closed), not `st`.
            let got = relay_stream_get_by_id(h);
            if !got.is_null() {
                if got != st {
                    fail(format!(
                        "round {round}: lookup of {h:#x} gave another stream"
                    ));
                }
                attach(got.cast(), h);
                held.push(got);
            }
            if rng.chance(30) {
                thread::yield_now();
            }
        }
        barrier.wait();
        // The session is closed now: every stream it had is closed.
        if !relay_session_is_closed(s) {
            fail(format!("round {round}: session not closed"));
        }
        let open = held
            .iter()
            .filter(|&&st| !relay_stream_is_closed(st))
            .count();
        if open > 0 {
            fail(format!(
                "round {round}: {open} stream(s) created during the close are still open"
            ));
        }
        if !refused {
            // The close came after the last creation (or none was refused).
            RACE_STATS[0].fetch_add(1, Ordering::Relaxed);
        } else if held.is_empty() {
            RACE_STATS[1].fetch_add(1, Ordering::Relaxed);
        } else {
            RACE_STATS[2].fetch_add(1, Ordering::Relaxed);
        }
        for st in held {
            relay_stream_put(st);
        }
        relay_ctf_trace_put(t);
        relay_session_put(s);
    }
}

fn closer(seed: u64, barrier: &Barrier) {
    let _g = StopOnPanic;
    let mut rng = Rng::new(seed ^ 0xC105E);
    for round in 0..RACE_ROUNDS {
        barrier.wait();
        let s = RACE_SESSION.load(Ordering::SeqCst) as *mut relay_session;
        for _ in 0..rng.below(40) {
            thread::yield_now();
        }
        if relay_session_close(s) != 0 {
            RACE_FAILURES
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("round {round}: session close refused"));
        }
        barrier.wait();
    }
}
// ---------------------------------------------------------------------------

#[test]
fn many_threads_create_look_up_iterate_and_close() {
    common::quiet();
    let seed = common::seed("relay_stress");
    let base = traceref_live_objects();
    let table = relay_connection_table_create();
    assert!(!table.is_null());
    let tp = SendPtr(table as usize);

    let mut handles = Vec::new();
    for t in 0..CREATORS {
        handles.push(thread::spawn(move || creator(t, seed)));
    }
    for r in 0..READERS {
        handles.push(thread::spawn(move || reader(r, seed)));
    }
    handles.push(thread::spawn(move || iterator(seed)));
    handles.push(thread::spawn(move || conn_owner(tp, seed)));
    handles.push(thread::spawn(move || conn_looker(tp, seed)));
    let barrier = Arc::new(Barrier::new(2));
    let b2 = Arc::clone(&barrier);
    handles.push(thread::spawn(move || racer(seed, &barrier)));
    handles.push(thread::spawn(move || closer(seed, &b2)));
    let mut failed = None;
    for h in handles {
        if let Err(e) = h.join() {
            failed.get_or_insert(e);
        }
    }
    if let Some(e) = failed {
        eprintln!("relay_stress: failed with seed {seed}");
        std::panic::resume_unwind(e);
    }
    let errors = std::mem::take(&mut *CALLBACK_ERRORS.lock().unwrap());
    assert!(errors.is_empty(), "seed {seed}: {errors:#?}");
    let errors = std::mem::take(&mut *RACE_FAILURES.lock().unwrap());
    assert!(
        errors.is_empty(),
        "seed {seed}: creation racing close: {errors:#?}"
    );

    assert_eq!(relay_connection_table_destroy(table), 0);
    // Nothing is findable any more.
    for id in 1..=MAX_SID.load(Ordering::SeqCst) {
        assert!(
            relay_session_get_by_id(id).is_null(),
            "seed {seed}: session {id}"
        );
    }
    for (t, next) in NEXT_HANDLE.iter().enumerate() {
        for k in 0..next.load(Ordering::SeqCst) {
            let h = handle_base(t) + k;
            assert!(relay_stream_get_by_id(h).is_null(), "seed {seed}: {h:#x}");
            assert!(
                relay_viewer_stream_get_by_id(h).is_null(),
                "seed {seed}: viewer {h:#x}"
            );
        }
    }
    assert_eq!(traceref_reclaim_barrier(), 0);
    println!(
        "relay_stress: {} lookups hit, {} connection hits, {} sessions and {} streams visited",
        FOUND.load(Ordering::Relaxed),
        CONN_FOUND.load(Ordering::Relaxed),
        VISITED_SESSIONS.load(Ordering::Relaxed),
        VISITED_STREAMS.load(Ordering::Relaxed)
    );
    println!(
        "relay_stress: close races: {} after every creation, {} before any, {} in between",
        RACE_STATS[0].load(Ordering::Relaxed),
        RACE_STATS[1].load(Ordering::Relaxed),
        RACE_STATS[2].load(Ordering::Relaxed)
    );
    assert_eq!(
        DESTROYED.load(Ordering::SeqCst),
        ATTACHED.load(Ordering::SeqCst),
        "seed {seed}: payload destructors"
    );
    assert_eq!(traceref_live_objects(), base, "seed {seed}: census");
}
