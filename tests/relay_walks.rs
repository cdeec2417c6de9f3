//! The walks over the relay model's containers, driven through the C
//! functions: the ctf-traces of a session, the published streams of a
//! trace, the viewer streams of a session, the sessions of a viewer session
//! and the connections of a table; and the close of one session of a viewer
//! session.
//!
//! * On one thread: each walk visits exactly what it should (which objects,
//!   how many), each with a reference during its visit; stops when its
//!   visitor returns non-zero; skips what an earlier visit closed or
//!   released; leaves out what was added meanwhile. Closing one session of a
//!   viewer session closes its viewer streams and detaches it, and nothing
//!   else.
//! * On several threads: owners build a session with traces, streams,
//!   viewer streams, a viewer session and connections, then close and put
//!   everything in a random order, while walkers walk all of it (their
//!   visitors closing some of what they visit); every visited object is
//!   held and belongs where it was found. At the end the census is back to
//!   its start and every payload was destroyed once.
//!
//! `TRACEREF_SEED=<n>` replays the concurrent test; the seed is printed.

mod common;

use common::Rng;
use std::collections::BTreeSet;
use std::ffi::{c_int, c_void, CString};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use traceref::ffi::bt::traceref_live_objects;
use traceref::ffi::relay::*;

/// The tests share the process-wide census: they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn cs(s: &str) -> CString {
    CString::new(s).unwrap()
}

// ---------------------------------------------------------------------------
// Visitors of the single-thread test: they record what they see.

/// What a visitor records, and how it behaves.
#[derive(Default)]
struct Seen {
    objs: Vec<usize>,
    /// Counts read during each visit.
    counts: Vec<i64>,
    /// Return non-zero at this visit (1-based), if set.
    stop_at: usize,
    /// Called at each visit, before returning.
    act: Option<Box<dyn FnMut(usize, usize)>>,
}

impl Seen {
    fn stopping_at(n: usize) -> Self {
        Seen {
            stop_at: n,
            ..Seen::default()
        }
    }
    fn acting(f: impl FnMut(usize, usize) + 'static) -> Self {
        Seen {
            act: Some(Box::new(f)),
            ..Seen::default()
        }
    }
    fn set(&self) -> BTreeSet<usize> {
        self.objs.iter().copied().collect()
    }
    fn record(&mut self, obj: usize, count: i64) -> c_int {
        self.objs.push(obj);
        self.counts.push(count);
        let n = self.objs.len();
        if let Some(f) = self.act.as_mut() {
            f(n, obj);
        }
        c_int::from(self.stop_at == n)
    }
}

unsafe extern "C" fn seen_trace(t: *mut ctf_trace, data: *mut c_void) -> c_int {
    // SAFETY: `data` is the `Seen` the walk was given, borrowed nowhere else.
    let seen = unsafe { &mut *data.cast::<Seen>() };
    seen.record(t as usize, relay_ctf_trace_get_ref_count(t) as i64)
}

unsafe extern "C" fn seen_stream(s: *mut relay_stream, data: *mut c_void) -> c_int {
    // SAFETY: `data` is the `Seen` the walk was given, borrowed nowhere else.
    let seen = unsafe { &mut *data.cast::<Seen>() };
    seen.record(s as usize, relay_stream_get_ref_count(s) as i64)
}

unsafe extern "C" fn seen_vstream(v: *mut relay_viewer_stream, data: *mut c_void) -> c_int {
    // SAFETY: `data` is the `Seen` the walk was given, borrowed nowhere else.
    let seen = unsafe { &mut *data.cast::<Seen>() };
    seen.record(v as usize, relay_viewer_stream_get_ref_count(v) as i64)
}

unsafe extern "C" fn seen_session(s: *mut relay_session, data: *mut c_void) -> c_int {
    // SAFETY: `data` is the `Seen` the walk was given, borrowed nowhere else.
    let seen = unsafe { &mut *data.cast::<Seen>() };
    seen.record(s as usize, relay_session_get_ref_count(s) as i64)
}

unsafe extern "C" fn seen_conn(c: *mut relay_connection, data: *mut c_void) -> c_int {
    // SAFETY: `data` is the `Seen` the walk was given, borrowed nowhere else.
    let seen = unsafe { &mut *data.cast::<Seen>() };
    seen.record(c as usize, relay_connection_get_ref_count(c) as i64)
}

fn walk_traces(s: *mut relay_session, seen: &mut Seen) -> c_int {
    relay_session_for_each_ctf_trace(s, Some(seen_trace), (seen as *mut Seen).cast())
}

fn walk_streams(t: *mut ctf_trace, seen: &mut Seen) -> c_int {
    relay_ctf_trace_for_each_stream(t, Some(seen_stream), (seen as *mut Seen).cast())
}

fn walk_vstreams(s: *mut relay_session, seen: &mut Seen) -> c_int {
    relay_session_for_each_viewer_stream(s, Some(seen_vstream), (seen as *mut Seen).cast())
}

fn walk_sessions(vs: *mut relay_viewer_session, seen: &mut Seen) -> c_int {
    relay_viewer_session_for_each_session(vs, Some(seen_session), (seen as *mut Seen).cast())
}

fn walk_conns(t: *mut relay_connection_table, seen: &mut Seen) -> c_int {
    relay_connection_table_for_each(t, Some(seen_conn), (seen as *mut Seen).cast())
}

fn set_of<T>(ps: &[*mut T]) -> BTreeSet<usize> {
    ps.iter().map(|p| *p as usize).collect()
}

#[test]
fn session_traces_walk() {
    let _s = serial();
    common::quiet();
    let base = traceref_live_objects();
    let s = relay_session_create(cs("w1").as_ptr(), cs("h").as_ptr(), 0, false, 2, 11);
    let other = relay_session_create(cs("w1o").as_ptr(), cs("h").as_ptr(), 0, false, 2, 11);
    let paths: Vec<CString> = (0..4).map(|i| cs(&format!("h/w1/t{i}"))).collect();
    let traces: Vec<*mut ctf_trace> = paths
        .iter()
        .map(|p| relay_ctf_trace_get_by_path_or_create(s, p.as_ptr()))
        .collect();
    let elsewhere = relay_ctf_trace_get_by_path_or_create(other, paths[0].as_ptr());
    assert!(traces.iter().all(|t| !t.is_null()) && !elsewhere.is_null());

    // Every trace of the session, each held during its visit (the caller's
    // reference and the walk's), none of the other session's.
    let mut seen = Seen::default();
    assert_eq!(walk_traces(s, &mut seen), 4);
    assert_eq!(seen.set(), set_of(&traces));
    assert!(seen.counts.iter().all(|&c| c == 2), "{:?}", seen.counts);
    for t in &traces {
        assert_eq!(relay_ctf_trace_get_ref_count(*t), 1);
    }

    // Stops on non-zero.
    let mut seen = Seen::stopping_at(2);
    assert_eq!(walk_traces(s, &mut seen), 2);
    assert_eq!(seen.objs.len(), 2);

    // A trace whose last reference an earlier visit puts is not visited;
    // one created during the walk is not either.
    let dropped = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let d = dropped.clone();
    let all: Vec<usize> = traces.iter().map(|t| *t as usize).collect();
    let late = cs("h/w1/late");
    let s_addr = s as usize;
    let late_trace = std::rc::Rc::new(std::cell::Cell::new(0usize));
    let lt = late_trace.clone();
    let mut seen = Seen::acting(move |n, me| {
        if n == 1 {
            for &t in &all {
                if t != me && d.borrow().len() < 2 {
                    relay_ctf_trace_put(t as *mut ctf_trace);
                    d.borrow_mut().push(t);
                }
            }
            let t =
                relay_ctf_trace_get_by_path_or_create(s_addr as *mut relay_session, late.as_ptr());
            lt.set(t as usize);
        }
    });
    assert_eq!(walk_traces(s, &mut seen), 2);
    let dropped = dropped.borrow().clone();
    assert_eq!(dropped.len(), 2);
    assert!(seen.set().is_disjoint(&dropped.iter().copied().collect()));
    assert!(!seen.set().contains(&late_trace.get()));
    // The session has three traces now: two of the first ones and the late
    // one.
    let mut seen = Seen::default();
    assert_eq!(walk_traces(s, &mut seen), 3);
    assert!(seen.set().contains(&late_trace.get()));

    // A session with no trace; NULL arguments.
    let mut seen = Seen::default();
    let empty = relay_session_create(cs("w1e").as_ptr(), cs("h").as_ptr(), 0, false, 2, 11);
    assert_eq!(walk_traces(empty, &mut seen), 0);
    assert_eq!(
        relay_session_for_each_ctf_trace(ptr::null_mut(), Some(seen_trace), ptr::null_mut()),
        -1
    );
    assert_eq!(
        relay_session_for_each_ctf_trace(s, None, ptr::null_mut()),
        -1
    );

    relay_ctf_trace_put(late_trace.get() as *mut ctf_trace);
    for t in &traces {
        if !dropped.contains(&(*t as usize)) {
            relay_ctf_trace_put(*t);
        }
    }
    relay_ctf_trace_put(elsewhere);
    for x in [s, other, empty] {
        assert_eq!(relay_session_close(x), 0);
    }
    assert_eq!(traceref_reclaim_barrier(), 0);
    assert_eq!(traceref_live_objects(), base);
}

#[test]
fn trace_streams_and_session_viewer_streams_walks() {
    let _s = serial();
    common::quiet();
    let base = traceref_live_objects();
    let s = relay_session_create(cs("w2").as_ptr(), cs("h").as_ptr(), 0, false, 2, 11);
    let other = relay_session_create(cs("w2o").as_ptr(), cs("h").as_ptr(), 0, false, 2, 11);
    let ta = relay_ctf_trace_get_by_path_or_create(s, cs("h/w2/a").as_ptr());
    let tb = relay_ctf_trace_get_by_path_or_create(s, cs("h/w2/b").as_ptr());
    let to = relay_ctf_trace_get_by_path_or_create(other, cs("h/w2o/a").as_ptr());
    let p = cs("p");
    let chan = cs("chan");
    let h0 = 0x7A1C_0000u64;
    let mk = |t, h| relay_stream_create(t, h, p.as_ptr(), chan.as_ptr(), 0, 0);
    // Trace a: four published streams and one not published; trace b: one
    // published; the other session: one published.
    let a: Vec<*mut relay_stream> = (0..5).map(|i| mk(ta, h0 + i)).collect();
    let b0 = mk(tb, h0 + 10);
    let o0 = mk(to, h0 + 20);
    for st in a[..4].iter().chain([&b0, &o0]) {
        assert_eq!(relay_stream_publish(*st), 0);
    }

    // The published streams of the trace, each held during its visit.
    let mut seen = Seen::default();
    assert_eq!(walk_streams(ta, &mut seen), 4);
    assert_eq!(seen.set(), set_of(&a[..4]));
    assert!(seen.counts.iter().all(|&c| c == 2), "{:?}", seen.counts);
    let mut seen = Seen::default();
    assert_eq!(walk_streams(tb, &mut seen), 1);
    assert_eq!(seen.set(), set_of(&[b0]));
    let mut seen = Seen::stopping_at(1);
    assert_eq!(walk_streams(ta, &mut seen), 1);

    // A stream closed before the walk, or by an earlier visit, is skipped.
    assert_eq!(relay_stream_close(a[3]), 0);
    let rest: Vec<usize> = a[..3].iter().map(|x| *x as usize).collect();
    let mut seen = Seen::acting(move |n, me| {
        if n == 1 {
            for &x in &rest {
                if x != me {
                    assert_eq!(relay_stream_close(x as *mut relay_stream), 0);
                }
            }
        }
    });
    assert_eq!(walk_streams(ta, &mut seen), 1);
    let survivor = seen.objs[0] as *mut relay_stream;
    assert!(!relay_stream_is_closed(survivor));
    let mut seen = Seen::default();
    assert_eq!(walk_streams(ta, &mut seen), 1);
    assert_eq!(seen.objs, vec![survivor as usize]);

    // Viewer streams: of the survivor, of the unpublished stream, of b0 (its
    // stream closed below: still visited), and one of the other session.
    let v_surv = relay_viewer_stream_create(survivor, 0);
    let v_unpub = relay_viewer_stream_create(a[4], 0);
    let v_b0 = relay_viewer_stream_create(b0, 0);
    let v_o0 = relay_viewer_stream_create(o0, 0);
    assert_eq!(relay_stream_close(b0), 0);
    let mut seen = Seen::default();
    assert_eq!(walk_vstreams(s, &mut seen), 3);
    assert_eq!(seen.set(), set_of(&[v_surv, v_unpub, v_b0]));
    assert!(seen.counts.iter().all(|&c| c == 2), "{:?}", seen.counts);
    let mut seen = Seen::default();
    assert_eq!(walk_vstreams(other, &mut seen), 1);
    assert_eq!(seen.set(), set_of(&[v_o0]));
    let mut seen = Seen::stopping_at(2);
    assert_eq!(walk_vstreams(s, &mut seen), 2);

    // A viewer stream closed before the walk, or by an earlier visit, is
    // skipped; one closed during its own visit was visited.
    assert_eq!(relay_viewer_stream_close(v_unpub), 0);
    let pair = [v_surv as usize, v_b0 as usize];
    let mut seen = Seen::acting(move |n, me| {
        if n == 1 {
            for &v in &pair {
                assert_eq!(relay_viewer_stream_close(v as *mut relay_viewer_stream), 0);
            }
            assert!(pair.contains(&me));
        }
    });
    assert_eq!(walk_vstreams(s, &mut seen), 1);
    let mut seen = Seen::default();
    assert_eq!(walk_vstreams(s, &mut seen), 0);

    assert_eq!(
        relay_ctf_trace_for_each_stream(ptr::null_mut(), Some(seen_stream), ptr::null_mut()),
        -1
    );
    assert_eq!(
        relay_ctf_trace_for_each_stream(ta, None, ptr::null_mut()),
        -1
    );
    assert_eq!(
        relay_session_for_each_viewer_stream(ptr::null_mut(), Some(seen_vstream), ptr::null_mut()),
        -1
    );
    assert_eq!(
        relay_session_for_each_viewer_stream(s, None, ptr::null_mut()),
        -1
    );

    assert_eq!(relay_viewer_stream_close(v_o0), 0);
    assert_eq!(relay_stream_close(survivor), 0);
    assert_eq!(relay_stream_close(a[4]), 0);
    assert_eq!(relay_stream_close(o0), 0);
    for t in [ta, tb, to] {
        relay_ctf_trace_put(t);
    }
    assert_eq!(relay_session_close(s), 0);
    assert_eq!(relay_session_close(other), 0);
    assert_eq!(traceref_reclaim_barrier(), 0);
    assert_eq!(traceref_live_objects(), base);
}

#[test]
fn viewer_session_walk_and_close_one_session() {
    let _s = serial();
    common::quiet();
    let base = traceref_live_objects();
    let sessions: Vec<*mut relay_session> = (0..3)
        .map(|i| {
            relay_session_create(
                cs(&format!("w3-{i}")).as_ptr(),
                cs("h").as_ptr(),
                0,
                false,
                2,
                11,
            )
        })
        .collect();
    let p = cs("p");
    let chan = cs("chan");
    let h0 = 0x7A2C_0000u64;
    // Two streams and two viewer streams per session.
    let mut traces = Vec::new();
    let mut streams = Vec::new();
    let mut vstreams = Vec::new();
    for (i, s) in sessions.iter().enumerate() {
        let t = relay_ctf_trace_get_by_path_or_create(*s, cs(&format!("h/w3-{i}")).as_ptr());
        traces.push(t);
        let mut mine = Vec::new();
        for j in 0..2u64 {
            let st =
                relay_stream_create(t, h0 + i as u64 * 16 + j, p.as_ptr(), chan.as_ptr(), 0, 0);
            streams.push(st);
            mine.push(relay_viewer_stream_create(st, 0));
        }
        vstreams.push(mine);
    }
    let vs = relay_viewer_session_create();
    for s in &sessions[..2] {
        assert!(!relay_session_is_viewer_attached(*s));
        assert_eq!(relay_viewer_session_attach(vs, *s), 0);
        assert!(relay_session_is_viewer_attached(*s));
    }

    // The attached sessions, each held during its visit (the owner's, the
    // trace's, the attach's and the walk's references).
    let mut seen = Seen::default();
    assert_eq!(walk_sessions(vs, &mut seen), 2);
    assert_eq!(seen.set(), set_of(&sessions[..2]));
    assert!(seen.counts.iter().all(|&c| c == 4), "{:?}", seen.counts);
    let mut seen = Seen::stopping_at(1);
    assert_eq!(walk_sessions(vs, &mut seen), 1);
    // Detached by an earlier visit: still visited (attached when the walk
    // started); attached meanwhile: not visited.
    let vs_addr = vs as usize;
    let (s0, s1, s2) = (
        sessions[0] as usize,
        sessions[1] as usize,
        sessions[2] as usize,
    );
    let mut seen = Seen::acting(move |n, me| {
        if n == 1 {
            let other = if me == s0 { s1 } else { s0 };
            let v = vs_addr as *mut relay_viewer_session;
            assert_eq!(
                relay_viewer_session_detach(v, other as *mut relay_session),
                0
            );
            assert_eq!(relay_viewer_session_attach(v, s2 as *mut relay_session), 0);
        }
    });
    assert_eq!(walk_sessions(vs, &mut seen), 2);
    assert_eq!(seen.set(), set_of(&sessions[..2]));
    // Back to sessions 0 and 1 attached.
    let again = if relay_viewer_session_is_attached(vs, sessions[0]) {
        sessions[1]
    } else {
        sessions[0]
    };
    assert_eq!(relay_viewer_session_detach(vs, sessions[2]), 0);
    assert_eq!(relay_viewer_session_attach(vs, again), 0);

    // Close one session: its viewer streams (its first stream closed
    // beforehand: its viewer stream still goes), and only them; it is
    // detached, the others stay attached.
    assert_eq!(relay_stream_close(streams[0]), 0);
    assert_eq!(relay_session_get_ref_count(sessions[0]), 3);
    // Holding the session's lock is allowed.
    assert_eq!(relay_session_lock(sessions[0]), 0);
    assert_eq!(relay_viewer_session_close_one_session(vs, sessions[0]), 0);
    assert_eq!(relay_session_unlock(sessions[0]), 0);
    assert_eq!(relay_session_get_ref_count(sessions[0]), 2);
    assert!(!relay_viewer_session_is_attached(vs, sessions[0]));
    assert!(!relay_session_is_viewer_attached(sessions[0]));
    assert!(relay_viewer_session_is_attached(vs, sessions[1]));
    for v in &vstreams[0] {
        assert_eq!(
            relay_viewer_stream_close(*v),
            -1,
            "closed by close_one_session"
        );
    }
    let mut seen = Seen::default();
    assert_eq!(walk_vstreams(sessions[0], &mut seen), 0);
    for (i, s) in sessions.iter().enumerate().skip(1) {
        let mut seen = Seen::default();
        assert_eq!(walk_vstreams(*s, &mut seen), 2);
        assert_eq!(seen.set(), set_of(&vstreams[i]));
    }
    // A second call, and one for a session never attached: refused.
    assert_eq!(relay_viewer_session_close_one_session(vs, sessions[0]), -1);
    assert_eq!(relay_viewer_session_close_one_session(vs, sessions[2]), -1);
    let mut seen = Seen::default();
    assert_eq!(walk_vstreams(sessions[2], &mut seen), 2);
    // It may be attached again.
    assert_eq!(relay_viewer_session_attach(vs, sessions[0]), 0);
    let mut seen = Seen::default();
    assert_eq!(walk_sessions(vs, &mut seen), 2);
    assert_eq!(seen.set(), set_of(&sessions[..2]));

    // The attach reference as the session's last (its trace put, its
    // session closed, which closes its second stream): closed out of the
    // viewer session, it is released.
    let id0 = relay_session_get_id(sessions[0]);
    relay_ctf_trace_put(traces[0]);
    assert_eq!(relay_session_close(sessions[0]), 0);
    assert_eq!(relay_session_get_ref_count(sessions[0]), 1);
    assert!(session_found(id0));
    assert_eq!(relay_viewer_session_close_one_session(vs, sessions[0]), 0);
    assert!(!session_found(id0));

    // NULL arguments.
    assert_eq!(
        relay_viewer_session_close_one_session(ptr::null_mut(), sessions[1]),
        -1
    );
    assert_eq!(
        relay_viewer_session_close_one_session(vs, ptr::null_mut()),
        -1
    );
    assert_eq!(
        relay_viewer_session_for_each_session(ptr::null_mut(), Some(seen_session), ptr::null_mut()),
        -1
    );
    assert_eq!(
        relay_viewer_session_for_each_session(vs, None, ptr::null_mut()),
        -1
    );
    assert!(relay_viewer_session_is_attached(vs, sessions[1]));

    // The viewer session's close closes what is left of session 1.
    assert!(relay_session_is_viewer_attached(sessions[1]));
    assert_eq!(relay_viewer_session_close(vs), 0);
    assert!(!relay_session_is_viewer_attached(sessions[1]));
    let mut seen = Seen::default();
    assert_eq!(walk_vstreams(sessions[1], &mut seen), 0);
    assert_eq!(relay_viewer_session_close_one_session(vs, sessions[1]), -1);
    relay_viewer_session_destroy(vs);
    for v in &vstreams[2] {
        assert_eq!(relay_viewer_stream_close(*v), 0);
    }
    for st in &streams[2..] {
        assert_eq!(relay_stream_close(*st), 0);
    }
    for t in &traces[1..] {
        relay_ctf_trace_put(*t);
    }
    for s in &sessions[1..] {
        assert_eq!(relay_session_close(*s), 0);
    }
    assert_eq!(traceref_reclaim_barrier(), 0);
    assert_eq!(traceref_live_objects(), base);
}

/// Whether a lookup finds session `id` (the reference it gives is put).
fn session_found(id: u64) -> bool {
    let s = relay_session_get_by_id(id);
    relay_session_put(s);
    !s.is_null()
}

#[test]
fn connection_table_walk() {
    let _s = serial();
    common::quiet();
    let base = traceref_live_objects();
    let table = relay_connection_table_create();
    let conns: Vec<*mut relay_connection> = (0..4)
        .map(|sock| {
            let c = relay_connection_create(100 + sock, RELAY_DATA);
            assert_eq!(relay_connection_table_add(table, c), 0);
            c
        })
        .collect();
    // Not in the table: not visited.
    let outside = relay_connection_create(200, RELAY_DATA);

    let mut seen = Seen::default();
    assert_eq!(walk_conns(table, &mut seen), 4);
    assert_eq!(seen.set(), set_of(&conns));
    assert!(seen.counts.iter().all(|&c| c == 2), "{:?}", seen.counts);
    let mut seen = Seen::stopping_at(3);
    assert_eq!(walk_conns(table, &mut seen), 3);

    // Closed before the walk, or by an earlier visit: skipped.
    assert_eq!(relay_connection_close(conns[3]), 0);
    let first_three: Vec<usize> = conns[..3].iter().map(|c| *c as usize).collect();
    let closed = std::rc::Rc::new(std::cell::Cell::new(0usize));
    let cl = closed.clone();
    let mut seen = Seen::acting(move |n, me| {
        if n == 1 {
            let victim = *first_three.iter().find(|&&c| c != me).unwrap();
            assert_eq!(relay_connection_close(victim as *mut relay_connection), 0);
            cl.set(victim);
        }
    });
    assert_eq!(walk_conns(table, &mut seen), 2);
    assert!(!seen.set().contains(&closed.get()));

    // A visitor that destroys the table: the walk goes on, finding the
    // others closed by the destruction.
    let t_addr = table as usize;
    let mut seen = Seen::acting(move |n, _| {
        if n == 1 {
            assert_eq!(
                relay_connection_table_destroy(t_addr as *mut relay_connection_table),
                0
            );
        }
    });
    assert_eq!(walk_conns(table, &mut seen), 1);

    assert_eq!(
        relay_connection_table_for_each(ptr::null_mut(), Some(seen_conn), ptr::null_mut()),
        -1
    );
    assert_eq!(relay_connection_close(outside), 0);
    assert_eq!(traceref_reclaim_barrier(), 0);
    assert_eq!(traceref_live_objects(), base);
}

// ---------------------------------------------------------------------------
// The concurrent test.

const OWNERS: usize = 2;
const WALKERS: usize = 2;
const ROUNDS: usize = 1500;
const TRACES: usize = 3;
const STREAMS_PER_TRACE: usize = 3;

static ATTACHED: AtomicUsize = AtomicUsize::new(0);
static DESTROYED: AtomicUsize = AtomicUsize::new(0);
static OWNERS_DONE: AtomicUsize = AtomicUsize::new(0);
static STOP: AtomicBool = AtomicBool::new(false);
/// The session id of each owner's current round (0: none).
static SLOT: [AtomicU64; OWNERS] = [const { AtomicU64::new(0) }; OWNERS];
/// Failures seen inside C callbacks (which must not unwind).
static ERRORS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static VISITS: [AtomicUsize; 5] = [const { AtomicUsize::new(0) }; 5];
static WALKER_CLOSES: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn destroy_payload(data: *mut c_void) {
    DESTROYED.fetch_add(1, Ordering::SeqCst);
    // SAFETY: `data` is the box `attach` leaked, destroyed once.
    drop(unsafe { Box::from_raw(data.cast::<u64>()) });
}

fn attach(obj: *mut c_void, v: u64) {
    let data = Box::into_raw(Box::new(v));
    assert_eq!(
        traceref_payload_set(obj, data.cast(), Some(destroy_payload)),
        0
    );
    ATTACHED.fetch_add(1, Ordering::SeqCst);
}

fn record(msg: String) {
    ERRORS.lock().unwrap_or_else(|e| e.into_inner()).push(msg);
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

fn handle_of(owner: usize, round: usize, i: usize) -> u64 {
    ((owner as u64 + 1) << 40) | ((round as u64) << 8) | i as u64
}

fn sock_of(owner: usize, live: bool) -> i32 {
    1000 + owner as i32 * 2 + i32::from(live)
}

/// What a walker's visitor knows.
struct Walk {
    session: *mut relay_session,
    trace: *mut ctf_trace,
    rng: Rng,
}

impl Walk {
    fn maybe_stop(&mut self) -> c_int {
        c_int::from(self.rng.chance(5))
    }
}

/// The walker's state behind a visitor's `data`, borrowed briefly: never
/// across a nested walk, whose visitors borrow it too.
///
/// # Safety
/// `data` is the walker's `Walk`, and no other borrow of it is alive.
unsafe fn walk_of<'a>(data: *mut c_void) -> &'a mut Walk {
    // SAFETY: per the contract.
    unsafe { &mut *data.cast::<Walk>() }
}

unsafe extern "C" fn w_stream(st: *mut relay_stream, data: *mut c_void) -> c_int {
    VISITS[1].fetch_add(1, Ordering::Relaxed);
    // SAFETY: the walker's `Walk`, no other borrow of it alive here.
    let w = unsafe { walk_of(data) };
    if relay_stream_get_ref_count(st) < 1 {
        record(format!("visited stream {st:p} with count < 1"));
    }
    if relay_stream_get_trace(st) != w.trace {
        record(format!("stream {st:p} visited under another trace"));
    }
    if !relay_stream_is_published(st) {
        record(format!("unpublished stream {st:p} visited"));
    }
    if w.rng.chance(3) && relay_stream_close(st) == 0 {
        WALKER_CLOSES.fetch_add(1, Ordering::Relaxed);
    }
    w.maybe_stop()
}

unsafe extern "C" fn w_trace(t: *mut ctf_trace, data: *mut c_void) -> c_int {
    VISITS[0].fetch_add(1, Ordering::Relaxed);
    {
        // SAFETY: the walker's `Walk`, no other borrow of it alive here.
        let w = unsafe { walk_of(data) };
        if relay_ctf_trace_get_ref_count(t) < 1 {
            record(format!("visited trace {t:p} with count < 1"));
        }
        if relay_ctf_trace_get_session(t) != w.session {
            record(format!("trace {t:p} visited under another session"));
        }
        w.trace = t;
    }
    let n = relay_ctf_trace_for_each_stream(t, Some(w_stream), data);
    if !(0..=STREAMS_PER_TRACE as c_int).contains(&n) {
        record(format!("stream walk of trace {t:p} gave {n}"));
    }
    // SAFETY: the walker's `Walk`, no other borrow of it alive here.
    unsafe { walk_of(data) }.maybe_stop()
}

unsafe extern "C" fn w_vstream(v: *mut relay_viewer_stream, data: *mut c_void) -> c_int {
    VISITS[2].fetch_add(1, Ordering::Relaxed);
    // SAFETY: the walker's `Walk`, no other borrow of it alive here.
    let w = unsafe { walk_of(data) };
    if relay_viewer_stream_get_ref_count(v) < 1 {
        record(format!("visited viewer stream {v:p} with count < 1"));
    }
    let st = relay_viewer_stream_get_stream(v);
    if relay_ctf_trace_get_session(relay_stream_get_trace(st)) != w.session {
        record(format!("viewer stream {v:p} visited under another session"));
    }
    if w.rng.chance(3) && relay_viewer_stream_close(v) == 0 {
        WALKER_CLOSES.fetch_add(1, Ordering::Relaxed);
    }
    w.maybe_stop()
}

unsafe extern "C" fn w_vs_session(s: *mut relay_session, data: *mut c_void) -> c_int {
    VISITS[3].fetch_add(1, Ordering::Relaxed);
    if relay_session_get_ref_count(s) < 1 {
        record(format!("visited session {s:p} with count < 1"));
    }
    walk_session(s, data);
    // SAFETY: the walker's `Walk`, no other borrow of it alive here.
    unsafe { walk_of(data) }.maybe_stop()
}

unsafe extern "C" fn w_conn(c: *mut relay_connection, data: *mut c_void) -> c_int {
    VISITS[4].fetch_add(1, Ordering::Relaxed);
    if relay_connection_get_ref_count(c) < 1 {
        record(format!("visited connection {c:p} with count < 1"));
    }
    let sock = relay_connection_get_sock(c);
    if !(1000..1000 + 2 * OWNERS as i32).contains(&sock) {
        record(format!("connection of socket {sock} visited"));
    }
    // The viewer session of a live connection stays while it is held.
    let vs = relay_connection_get_viewer_session(c);
    if !vs.is_null() {
        let n = relay_viewer_session_for_each_session(vs, Some(w_vs_session), data);
        if !(0..=1).contains(&n) {
            record(format!("viewer session walk gave {n}"));
        }
    }
    // SAFETY: the walker's `Walk`, no other borrow of it alive here.
    unsafe { walk_of(data) }.maybe_stop()
}

/// Walk the traces (and their streams) and the viewer streams of `s`,
/// which the caller holds; `data` is the walker's `Walk`.
fn walk_session(s: *mut relay_session, data: *mut c_void) {
    // SAFETY: the walker's `Walk`, no other borrow of it alive here.
    unsafe { walk_of(data) }.session = s;
    let n = relay_session_for_each_ctf_trace(s, Some(w_trace), data);
    if !(0..=TRACES as c_int).contains(&n) {
        record(format!("trace walk gave {n}"));
    }
    // SAFETY: the walker's `Walk`, no other borrow of it alive here.
    unsafe { walk_of(data) }.session = s;
    let n = relay_session_for_each_viewer_stream(s, Some(w_vstream), data);
    if !(0..=(TRACES * STREAMS_PER_TRACE) as c_int).contains(&n) {
        record(format!("viewer stream walk gave {n}"));
    }
}

fn walker(table: usize, seed: u64) {
    let _g = StopOnPanic;
    let table = table as *mut relay_connection_table;
    let mut w = Walk {
        session: ptr::null_mut(),
        trace: ptr::null_mut(),
        rng: Rng::new(seed),
    };
    let data: *mut c_void = (&mut w as *mut Walk).cast();
    while OWNERS_DONE.load(Ordering::SeqCst) < OWNERS && !STOP.load(Ordering::SeqCst) {
        let (o, by_id) = {
            // SAFETY: the walker's `Walk`, no other borrow of it alive here.
            let w = unsafe { walk_of(data) };
            (w.rng.below(OWNERS), w.rng.chance(50))
        };
        if by_id {
            let s = relay_session_get_by_id(SLOT[o].load(Ordering::SeqCst));
            if s.is_null() {
                continue;
            }
            walk_session(s, data);
            relay_session_put(s);
        } else {
            let n = relay_connection_table_for_each(table, Some(w_conn), data);
            assert!((0..=2 * OWNERS as c_int).contains(&n), "seed {seed}: {n}");
        }
    }
}

/// One round of an owner: build, publish the session id, then close and
/// put everything in a random order while the walkers walk.
fn owner_round(o: usize, round: usize, table: *mut relay_connection_table, rng: &mut Rng) {
    let name = cs(&format!("walks-{o}"));
    let host = cs("h");
    let p = cs("p");
    let chan = cs("chan");
    let s = relay_session_create(name.as_ptr(), host.as_ptr(), 0, false, 2, 11);
    let id = relay_session_get_id(s);
    attach(s.cast(), id);
    let control = relay_connection_create(sock_of(o, false), RELAY_CONTROL);
    attach(control.cast(), 1);
    assert_eq!(relay_connection_set_session(control, s), 0);
    // The owner's own references, beside the ones closes drop.
    assert!(relay_session_get(s));
    assert!(relay_connection_get(control));
    assert_eq!(relay_connection_table_add(table, control), 0);
    let mut traces = Vec::new();
    let mut streams = Vec::new();
    let mut vstreams = Vec::new();
    for t in 0..TRACES {
        let tr = relay_ctf_trace_get_by_path_or_create(s, cs(&format!("h/w/{t}")).as_ptr());
        assert!(!tr.is_null());
        attach(tr.cast(), t as u64);
        traces.push(tr);
        for i in 0..STREAMS_PER_TRACE {
            let h = handle_of(o, round, t * STREAMS_PER_TRACE + i);
            let st = relay_stream_create(tr, h, p.as_ptr(), chan.as_ptr(), 0, 0);
            assert!(!st.is_null(), "stream {h:#x}");
            attach(st.cast(), h);
            assert!(relay_stream_get(st));
            if rng.chance(70) {
                assert_eq!(relay_stream_publish(st), 0);
            }
            let v = relay_viewer_stream_create(st, 0);
            assert!(!v.is_null());
            attach(v.cast(), h);
            assert!(relay_viewer_stream_get(v));
            streams.push(st);
            vstreams.push(v);
        }
    }
    let live = relay_connection_create(sock_of(o, true), RELAY_VIEWER_COMMAND);
    attach(live.cast(), 2);
    let vs = relay_viewer_session_create();
    assert_eq!(relay_viewer_session_attach(vs, s), 0);
    assert_eq!(relay_connection_set_viewer_session(live, vs), 0);
    assert!(relay_connection_get(live));
    assert_eq!(relay_connection_table_add(table, live), 0);
    SLOT[o].store(id, Ordering::SeqCst);

    #[derive(Clone, Copy)]
    enum Act {
        StreamClose(usize),
        VstreamClose(usize),
        TracePut(usize),
        CloseOneSession,
        SessionClose,
        ControlClose,
        LiveClose,
    }
    let mut acts: Vec<Act> = (0..streams.len())
        .map(Act::StreamClose)
        .chain((0..vstreams.len()).map(Act::VstreamClose))
        .chain((0..traces.len()).map(Act::TracePut))
        .chain([
            Act::CloseOneSession,
            Act::SessionClose,
            Act::ControlClose,
            Act::LiveClose,
        ])
        .collect();
    while !acts.is_empty() {
        let a = acts.swap_remove(rng.below(acts.len()));
        if rng.chance(30) {
            thread::yield_now();
        }
        match a {
            // Each may have been closed already: by a walker's visitor, by
            // the session's close, or by the viewer session's.
            Act::StreamClose(i) => {
                relay_stream_close(streams[i]);
            }
            Act::VstreamClose(i) => {
                relay_viewer_stream_close(vstreams[i]);
            }
            Act::TracePut(i) => relay_ctf_trace_put(traces[i]),
            Act::CloseOneSession => {
                // The owner holds `live`, hence its viewer session.
                assert_eq!(relay_viewer_session_close_one_session(vs, s), 0);
            }
            Act::SessionClose => assert_eq!(relay_session_close(s), 0),
            Act::ControlClose => assert_eq!(relay_connection_close(control), 0),
            Act::LiveClose => assert_eq!(relay_connection_close(live), 0),
        }
    }
    // The owner's own references last, in a random order.
    let mut puts: Vec<Box<dyn FnOnce()>> = Vec::new();
    for st in streams {
        puts.push(Box::new(move || relay_stream_put(st)));
    }
    for v in vstreams {
        puts.push(Box::new(move || relay_viewer_stream_put(v)));
    }
    puts.push(Box::new(move || relay_session_put(s)));
    puts.push(Box::new(move || relay_connection_put(control)));
    puts.push(Box::new(move || relay_connection_put(live)));
    while !puts.is_empty() {
        let f = puts.swap_remove(rng.below(puts.len()));
        f();
    }
    SLOT[o].store(0, Ordering::SeqCst);
}

fn owner(o: usize, table: usize, seed: u64) {
    let _g = StopOnPanic;
    let mut rng = Rng::new(seed ^ ((o as u64 + 1) * 0x51ED));
    let table = table as *mut relay_connection_table;
    for round in 0..ROUNDS {
        if STOP.load(Ordering::SeqCst) {
            break;
        }
        owner_round(o, round, table, &mut rng);
    }
    OWNERS_DONE.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn walks_race_closes_and_releases() {
    let _s = serial();
    common::quiet();
    let seed = common::seed("walks_race_closes_and_releases");
    let base = traceref_live_objects();
    let (att, des) = (
        ATTACHED.load(Ordering::SeqCst),
        DESTROYED.load(Ordering::SeqCst),
    );
    let table = relay_connection_table_create() as usize;
    thread::scope(|sc| {
        let mut hs = Vec::new();
        for o in 0..OWNERS {
            hs.push(sc.spawn(move || owner(o, table, seed)));
        }
        for k in 0..WALKERS {
            hs.push(sc.spawn(move || walker(table, seed ^ (0xA11C + k as u64))));
        }
        for h in hs {
            if let Err(e) = h.join() {
                std::panic::resume_unwind(e);
            }
        }
    });
    let errors = ERRORS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(errors.is_empty(), "seed {seed}: {errors:#?}");
    let visits: Vec<usize> = VISITS.iter().map(|v| v.load(Ordering::SeqCst)).collect();
    println!(
        "visits: {} traces, {} streams, {} viewer streams, {} viewer-session sessions, \
         {} connections; {} closes made by visitors",
        visits[0],
        visits[1],
        visits[2],
        visits[3],
        visits[4],
        WALKER_CLOSES.load(Ordering::SeqCst)
    );
    assert!(
        visits.iter().all(|&v| v > 0),
        "seed {seed}: a walk never visited anything: {visits:?}"
    );
    assert_eq!(
        relay_connection_table_destroy(table as *mut relay_connection_table),
        0
    );
    assert_eq!(traceref_reclaim_barrier(), 0);
    assert_eq!(traceref_live_objects(), base, "seed {seed}: census");
    assert_eq!(
        DESTROYED.load(Ordering::SeqCst) - des,
        ATTACHED.load(Ordering::SeqCst) - att,
        "seed {seed}: payload destructors"
    );
}

/// Two closes of the same session of a viewer session at once, and
/// sometimes the viewer session's own close meanwhile: of the calls that may
/// take the session, exactly one does (without the viewer session's close,
/// one close_one_session returns 0 and the other -1); every viewer stream of
/// the session is closed once, whoever took it; the session ends detached,
/// and the census returns to its start. Run under ASan by the test script.
#[test]
fn close_one_session_races_itself_and_the_viewer_session_close() {
    let _g = serial();
    common::quiet();
    assert_eq!(traceref_reclaim_barrier(), 0);
    let base = traceref_live_objects();
    const ROUNDS: u64 = 300;
    const PER: u64 = 3;
    let (name, host, path) = (cs("race-one"), cs("h"), cs("race/path"));
    let (p, chan) = (cs("p"), cs("chan"));
    for round in 0..ROUNDS {
        let s = relay_session_create(name.as_ptr(), host.as_ptr(), 0, false, 2, 11);
        let t = relay_ctf_trace_get_by_path_or_create(s, path.as_ptr());
        assert!(!s.is_null() && !t.is_null());
        let mut streams = Vec::new();
        let mut handles = Vec::new();
        for i in 0..PER {
            let h = 0x5EED_0000 + round * PER + i;
            let st = relay_stream_create(t, h, p.as_ptr(), chan.as_ptr(), 0, 0);
            assert!(!st.is_null());
            assert_eq!(relay_stream_publish(st), 0);
            assert!(!relay_viewer_stream_create(st, 0).is_null());
            streams.push(st);
            handles.push(h);
        }
        let vs = relay_viewer_session_create();
        assert_eq!(relay_viewer_session_attach(vs, s), 0);
        let with_close = round % 2 == 1;
        let (vsu, su) = (vs as usize, s as usize);
        let [a, b, c] = thread::scope(|sc| {
            let one = move || {
                relay_viewer_session_close_one_session(
                    vsu as *mut relay_viewer_session,
                    su as *mut relay_session,
                )
            };
            let ha = sc.spawn(one);
            let hb = sc.spawn(one);
            let hc = sc.spawn(move || {
                if with_close {
                    relay_viewer_session_close(vsu as *mut relay_viewer_session)
                } else {
                    1
                }
            });
            [ha, hb, hc].map(|h| h.join().unwrap())
        });
        let took = [a, b].iter().filter(|&&r| r == 0).count();
        assert!(
            [a, b].iter().all(|&r| r == 0 || r == -1),
            "round {round}: {a} {b}"
        );
        if with_close {
            assert_eq!(c, 0, "round {round}: the viewer session's close");
            assert!(took <= 1, "round {round}: both close_one_session took it");
        } else {
            assert_eq!(took, 1, "round {round}: {a} {b}");
        }
        assert!(!relay_viewer_session_is_attached(vs, s), "round {round}");
        assert!(!relay_session_is_viewer_attached(s), "round {round}");
        for h in &handles {
            // Closed: out of the viewer stream table (its owner's reference
            // put once, or the count would not have let it go).
            assert!(relay_viewer_stream_get_by_id(*h).is_null(), "round {round}");
        }
        relay_viewer_session_destroy(vs);
        for st in streams {
            assert_eq!(relay_stream_close(st), 0);
        }
        relay_ctf_trace_put(t);
        assert_eq!(relay_session_close(s), 0);
    }
    assert_eq!(traceref_reclaim_barrier(), 0);
    assert_eq!(traceref_live_objects(), base);
}
