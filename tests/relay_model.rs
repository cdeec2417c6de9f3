//! Model-based test of the relay model: random sequences of operations on
//! sessions, ctf-traces, streams, indexes, viewer streams, viewer sessions
//! and connections, driven through the C functions, each mirrored on a
//! reference model that tracks who holds what. After every step, every live
//! object's count must be the model's, and every id lookup must find the
//! object exactly when the model says it is in its table with a non-zero
//! count.
//!
//! Two variants: many seeds one after the other on one thread; and several
//! threads, each running its own sequences on its own objects at the same
//! time. Both end with everything closed, the reclaim barrier, and the census
//! back to where it started.
//!
//! One exception to "own objects" exists in the library: closing a viewer
//! session that has sessions attached briefly takes a reference on every
//! viewer stream of the process. The threaded variant runs those steps (and
//! the connection puts that may lead to them) exclusively, so that no other
//! thread compares counts while they run.

mod common;

use common::Rng;
use std::collections::BTreeMap;
use std::ffi::{c_void, CString};
use std::ptr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use traceref::ffi::bt::traceref_live_objects;
use traceref::ffi::relay::*;

const UNSET: u64 = u64::MAX;

/// The two tests share the process-wide census: they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());
static ATTACHED: AtomicUsize = AtomicUsize::new(0);
static DESTROYED: AtomicUsize = AtomicUsize::new(0);
static RUNS: AtomicU64 = AtomicU64::new(0);
/// How often each kind of step ran, with its outcome (printed at the end, to
/// see that the sequences reach the interesting states).
static STATS: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

fn stat(what: String) {
    *STATS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(what)
        .or_insert(0) += 1;
}

unsafe extern "C" fn destroy_payload(data: *mut c_void) {
    DESTROYED.fetch_add(1, Ordering::SeqCst);
    drop(unsafe { Box::from_raw(data.cast::<u64>()) });
}

// ---------------------------------------------------------------------------
// The reference model.

struct MSession {
    ptr: *mut relay_session,
    id: u64,
    count: i64,
    alive: bool,
    closed: bool,
    aborted: bool,
    /// The owner reference is the test's (not handed to a connection).
    owner_test: bool,
    user: u32,
    attached: Option<usize>,
    traces: BTreeMap<usize, usize>, // path index -> trace
    streams: Vec<usize>,            // not yet unlinked
    pay: *mut c_void,
}

struct MTrace {
    ptr: *mut ctf_trace,
    session: usize,
    path: usize,
    count: i64,
    alive: bool,
    user: u32,
    vmeta: Option<usize>,
    pay: *mut c_void,
}

struct MStream {
    ptr: *mut relay_stream,
    handle: u64,
    trace: usize,
    count: i64,
    alive: bool,
    closed: bool,
    published: bool,
    requested: bool,
    last: u64,
    recv: u64,
    user: u32,
    metadata: bool,
    indexes: BTreeMap<u64, usize>,
    pay: *mut c_void,
}

struct MIndex {
    ptr: *mut relay_index,
    stream: usize,
    seq: u64,
    count: i64,
    alive: bool,
    self_ref: bool,
    user: u32,
    pay: *mut c_void,
}

struct MViewer {
    ptr: *mut relay_viewer_stream,
    stream: usize,
    handle: u64,
    count: i64,
    alive: bool,
    closed: bool,
    user: u32,
    pay: *mut c_void,
}

struct MVs {
    ptr: *mut relay_viewer_session,
    destroyed: bool,
    closed: bool,
    owner: Option<usize>,
    sessions: Vec<usize>,
}

struct MConn {
    ptr: *mut relay_connection,
    sock: i32,
    count: i64,
    alive: bool,
    closed: bool,
    user: u32,
    in_table: bool,
    session: Option<usize>,
    vs: Option<usize>,
    pay: *mut c_void,
}

#[derive(Default)]
struct Model {
    s: Vec<MSession>,
    t: Vec<MTrace>,
    st: Vec<MStream>,
    i: Vec<MIndex>,
    v: Vec<MViewer>,
    vs: Vec<MVs>,
    c: Vec<MConn>,
}

impl Model {
    fn put_session(&mut self, s: usize) {
        let o = &mut self.s[s];
        assert!(o.count > 0, "model: put on dead session");
        o.count -= 1;
        if o.count == 0 {
            o.alive = false;
        }
    }

    fn put_trace(&mut self, t: usize) {
        let o = &mut self.t[t];
        assert!(o.count > 0, "model: put on dead trace");
        o.count -= 1;
        if o.count == 0 {
            o.alive = false;
            let (s, path) = (o.session, o.path);
            if self.s[s].traces.get(&path) == Some(&t) {
                self.s[s].traces.remove(&path);
            }
            self.put_session(s);
        }
    }

    fn put_stream(&mut self, st: usize) {
        let o = &mut self.st[st];
        assert!(o.count > 0, "model: put on dead stream");
        o.count -= 1;
        if o.count == 0 {
            o.alive = false;
            let t = o.trace;
            let s = self.t[t].session;
            self.s[s].streams.retain(|&x| x != st);
            self.put_trace(t);
        }
    }

    fn put_index(&mut self, i: usize) {
        let o = &mut self.i[i];
        assert!(o.count > 0, "model: put on dead index");
        o.count -= 1;
        if o.count == 0 {
            o.alive = false;
            let (st, seq) = (o.stream, o.seq);
            if self.st[st].indexes.get(&seq) == Some(&i) {
                self.st[st].indexes.remove(&seq);
            }
            self.put_stream(st);
        }
    }

    fn put_viewer(&mut self, v: usize) {
        let o = &mut self.v[v];
        assert!(o.count > 0, "model: put on dead viewer stream");
        o.count -= 1;
        if o.count == 0 {
            o.alive = false;
            let st = o.stream;
            let t = self.st[st].trace;
            if self.t[t].vmeta == Some(v) {
                self.t[t].vmeta = None;
            }
            self.put_stream(st);
        }
    }

    fn put_conn(&mut self, c: usize) {
        let o = &mut self.c[c];
        assert!(o.count > 0, "model: put on dead connection");
        o.count -= 1;
        if o.count == 0 {
            o.alive = false;
            o.in_table = false;
            let (vs, s) = (o.vs.take(), o.session.take());
            if let Some(vs) = vs {
                self.vs_destroy(vs);
            }
            if let Some(s) = s {
                self.close_session(s);
                self.put_session(s);
            }
        }
    }

    fn session_of_stream(&self, st: usize) -> usize {
        self.t[self.st[st].trace].session
    }

    fn close_session(&mut self, s: usize) -> i32 {
        if self.s[s].closed {
            return -1;
        }
        self.s[s].closed = true;
        for st in self.s[s].streams.clone() {
            self.try_close(st);
        }
        self.put_session(s);
        0
    }

    fn abort(&mut self, s: usize) {
        self.s[s].aborted = true;
        for st in self.s[s].streams.clone() {
            self.try_close(st);
        }
    }

    fn data_complete(&self, st: usize) -> bool {
        let o = &self.st[st];
        o.last == UNSET
            || (o.recv != UNSET && o.recv >= o.last)
            || self.s[self.session_of_stream(st)].aborted
    }

    fn try_close(&mut self, st: usize) -> i32 {
        if self.st[st].closed {
            return -1;
        }
        if !self.data_complete(st) {
            self.st[st].requested = true;
            return 1;
        }
        self.close_stream(st)
    }

    fn close_stream(&mut self, st: usize) -> i32 {
        if self.st[st].closed {
            return -1;
        }
        self.st[st].closed = true;
        let s = self.session_of_stream(st);
        self.s[s].streams.retain(|&x| x != st);
        self.close_all(st);
        self.put_stream(st);
        0
    }

    fn close_if_requested(&mut self, st: usize) {
        if self.st[st].requested && self.data_complete(st) {
            self.try_close(st);
        }
    }

    fn set_last(&mut self, st: usize, n: u64) {
        self.st[st].last = n;
        self.close_if_requested(st);
    }

    fn set_recv(&mut self, st: usize, n: u64) {
        let o = &mut self.st[st];
        if o.recv == UNSET || n > o.recv {
            o.recv = n;
        }
        self.close_if_requested(st);
    }

    fn drop_self_ref(&mut self, i: usize) -> bool {
        if !self.i[i].self_ref {
            return false;
        }
        self.i[i].self_ref = false;
        let (st, seq) = (self.i[i].stream, self.i[i].seq);
        if self.st[st].indexes.get(&seq) == Some(&i) {
            self.st[st].indexes.remove(&seq);
        }
        self.put_index(i);
        true
    }

    fn close_all(&mut self, st: usize) {
        let all: Vec<usize> = self.st[st].indexes.values().copied().collect();
        for i in all {
            self.drop_self_ref(i);
        }
    }

    /// 0 when flushed now, 1 when not (data not there yet, or already
    /// flushed or closed).
    fn try_flush(&mut self, i: usize) -> i32 {
        let recv = self.st[self.i[i].stream].recv;
        if recv == UNSET || recv < self.i[i].seq {
            return 1;
        }
        if self.drop_self_ref(i) {
            0
        } else {
            1
        }
    }

    fn close_viewer(&mut self, v: usize) -> i32 {
        if self.v[v].closed {
            return -1;
        }
        self.v[v].closed = true;
        self.put_viewer(v);
        0
    }

    fn vs_close(&mut self, vs: usize) -> i32 {
        if self.vs[vs].closed {
            return -1;
        }
        self.vs[vs].closed = true;
        let sessions = std::mem::take(&mut self.vs[vs].sessions);
        if !sessions.is_empty() {
            for v in 0..self.v.len() {
                if self.v[v].alive && !self.v[v].closed {
                    let s = self.session_of_stream(self.v[v].stream);
                    if sessions.contains(&s) {
                        self.close_viewer(v);
                    }
                }
            }
        }
        for s in sessions {
            self.s[s].attached = None;
            self.put_session(s);
        }
        0
    }

    fn vs_destroy(&mut self, vs: usize) {
        self.vs_close(vs);
        self.vs[vs].destroyed = true;
    }

    /// Objects the census counts, for this model.
    fn live(&self) -> usize {
        self.s.iter().filter(|o| o.alive).count()
            + self.t.iter().filter(|o| o.alive).count()
            + self.st.iter().filter(|o| o.alive).count()
            + self.i.iter().filter(|o| o.alive).count()
            + self.v.iter().filter(|o| o.alive).count()
            + self.c.iter().filter(|o| o.alive).count()
            + self.vs.iter().filter(|o| !o.destroyed).count()
    }

    // What the test may pass to the library (it holds a reference).
    fn s_held(&self, s: usize) -> bool {
        let o = &self.s[s];
        o.alive && ((o.owner_test && !o.closed) || o.user > 0)
    }
    fn t_held(&self, t: usize) -> bool {
        self.t[t].user > 0
    }
    fn st_held(&self, st: usize) -> bool {
        let o = &self.st[st];
        o.alive && (!o.closed || o.user > 0)
    }
    fn i_held(&self, i: usize) -> bool {
        self.i[i].user > 0
    }
    fn v_held(&self, v: usize) -> bool {
        let o = &self.v[v];
        o.alive && (!o.closed || o.user > 0)
    }
    fn c_held(&self, c: usize) -> bool {
        let o = &self.c[c];
        o.alive && (!o.closed || o.user > 0)
    }
}

// ---------------------------------------------------------------------------
// Operations.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Obj {
    S(usize),
    T(usize),
    St(usize),
    I(usize),
    V(usize),
    C(usize),
}

#[derive(Clone, Copy, Debug)]
enum Op {
    SessionCreate,
    TraceGet(usize, usize),
    StreamCreate(usize, u64, bool),
    Publish(usize),
    ViewerCreate(usize, u32),
    Get(Obj),
    Put(Obj),
    SessionClose(usize),
    SessionAbort(usize),
    StreamClose(usize),
    StreamTryClose(usize),
    SetLast(usize, u64),
    SetRecv(usize, u64),
    /// Under the stream lock; then, if asked, a reference of our own.
    IndexGet(usize, u64, bool),
    /// Under the stream lock when asked (required for a borrowed index).
    IndexFlush(usize, bool),
    IndexCloseAll(usize),
    VsCreate,
    VsAttach(usize, usize),
    VsDetach(usize, usize),
    VsClose(usize),
    VsDestroy(usize),
    ConnCreate(i32, i32),
    TableAdd(usize),
    SetSession(usize, usize),
    SetVs(usize, usize),
    ConnClose(usize),
    MetaGet(usize),
    ViewerClose(usize),
}

impl Op {
    /// Steps that may take references on other threads' objects (a viewer
    /// session's close walks every viewer stream of the process).
    fn exclusive(self) -> bool {
        matches!(
            self,
            Op::VsClose(_) | Op::VsDestroy(_) | Op::ConnClose(_) | Op::Put(Obj::C(_))
        )
    }
}

struct Run {
    m: Model,
    rng: Rng,
    what: String,
    table: *mut relay_connection_table,
    hbase: u64,
    handles: Vec<u64>,
    socks: Vec<i32>,
    step: usize,
    /// Whether census checks may run during the sequence (one thread only).
    census_base: Option<usize>,
    /// Times a closed session still gave its existing trace.
    closed_session_trace: usize,
}

const PATHS: [&str; 2] = ["host/s/ust", "host/s/kernel"];

fn pick<T: Copy>(rng: &mut Rng, v: &[T]) -> Option<T> {
    if v.is_empty() {
        None
    } else {
        Some(v[rng.below(v.len())])
    }
}

impl Run {
    fn new(seed: u64, thread: Option<usize>, census_base: Option<usize>) -> Run {
        let run = RUNS.fetch_add(1, Ordering::SeqCst) + 1;
        let table = relay_connection_table_create();
        assert!(!table.is_null());
        Run {
            m: Model::default(),
            rng: Rng::new(seed),
            what: match thread {
                Some(t) => format!("thread {t} seed {seed}"),
                None => format!("seed {seed}"),
            },
            table,
            hbase: run << 24,
            handles: Vec::new(),
            socks: Vec::new(),
            step: 0,
            census_base,
            closed_session_trace: 0,
        }
    }

    fn ctx(&self) -> String {
        format!("{} step {}", self.what, self.step)
    }

    fn payload(&mut self, obj: *mut c_void) -> *mut c_void {
        if !self.rng.chance(50) {
            return ptr::null_mut();
        }
        let data = Box::into_raw(Box::new(self.rng.next())).cast::<c_void>();
        assert_eq!(
            traceref_payload_set(obj, data, Some(destroy_payload)),
            0,
            "{}",
            self.ctx()
        );
        ATTACHED.fetch_add(1, Ordering::SeqCst);
        // A second payload is refused.
        assert_eq!(traceref_payload_set(obj, data, None), -1, "{}", self.ctx());
        data
    }

    fn pick_op(&mut self) -> Option<Op> {
        let m = &self.m;
        let rng = &mut self.rng;
        let sessions: Vec<usize> = (0..m.s.len()).filter(|&s| m.s_held(s)).collect();
        let traces: Vec<usize> = (0..m.t.len()).filter(|&t| m.t_held(t)).collect();
        let streams: Vec<usize> = (0..m.st.len()).filter(|&s| m.st_held(s)).collect();
        let indexes: Vec<usize> = (0..m.i.len()).filter(|&i| m.i_held(i)).collect();
        let viewers: Vec<usize> = (0..m.v.len()).filter(|&v| m.v_held(v)).collect();
        let conns: Vec<usize> = (0..m.c.len()).filter(|&c| m.c_held(c)).collect();
        let vss: Vec<usize> = (0..m.vs.len()).filter(|&v| !m.vs[v].destroyed).collect();
        let live_s = m.s.iter().filter(|o| o.alive).count();
        let live_st = m.st.iter().filter(|o| o.alive).count();
        let live_c = m.c.iter().filter(|o| o.alive).count();
        let op = match rng.below(44) {
            0 | 1 if live_s < 4 => Op::SessionCreate,
            2 | 3 => Op::TraceGet(pick(rng, &sessions)?, rng.below(2)),
            4..=6 if live_st < 8 => {
                let h = self.hbase + rng.below(6) as u64;
                Op::StreamCreate(pick(rng, &traces)?, h, rng.chance(40))
            }
            7 => Op::Publish(pick(rng, &streams)?),
            8 | 9 => Op::ViewerCreate(pick(rng, &streams)?, rng.below(3) as u32),
            10 | 11 => {
                let mut all = Vec::new();
                all.extend(sessions.iter().map(|&x| Obj::S(x)));
                all.extend(traces.iter().map(|&x| Obj::T(x)));
                all.extend(streams.iter().map(|&x| Obj::St(x)));
                all.extend(indexes.iter().map(|&x| Obj::I(x)));
                all.extend(viewers.iter().map(|&x| Obj::V(x)));
                all.extend(conns.iter().map(|&x| Obj::C(x)));
                Op::Get(pick(rng, &all)?)
            }
            12..=15 => {
                let mut all = Vec::new();
                all.extend((0..m.s.len()).filter(|&x| m.s[x].user > 0).map(Obj::S));
                all.extend((0..m.t.len()).filter(|&x| m.t[x].user > 0).map(Obj::T));
                all.extend((0..m.st.len()).filter(|&x| m.st[x].user > 0).map(Obj::St));
                all.extend((0..m.i.len()).filter(|&x| m.i[x].user > 0).map(Obj::I));
                all.extend((0..m.v.len()).filter(|&x| m.v[x].user > 0).map(Obj::V));
                all.extend((0..m.c.len()).filter(|&x| m.c[x].user > 0).map(Obj::C));
                Op::Put(pick(rng, &all)?)
            }
            16 if rng.chance(60) => {
                // The owner's close, or a second close through a held
                // reference (refused).
                let c: Vec<usize> = (0..m.s.len())
                    .filter(|&s| {
                        let o = &m.s[s];
                        o.alive && ((o.owner_test && !o.closed) || (o.closed && o.user > 0))
                    })
                    .collect();
                Op::SessionClose(pick(rng, &c)?)
            }
            17 if rng.chance(25) => Op::SessionAbort(pick(rng, &sessions)?),
            18 => Op::StreamClose(pick(rng, &streams)?),
            19 | 20 => Op::StreamTryClose(pick(rng, &streams)?),
            21 | 22 => Op::SetLast(pick(rng, &streams)?, rng.below(5) as u64),
            23 | 24 => Op::SetRecv(pick(rng, &streams)?, rng.below(5) as u64),
            25..=27 => Op::IndexGet(pick(rng, &streams)?, rng.below(5) as u64, rng.chance(60)),
            28 | 29 => {
                // A held index (lock or not), or a borrowed one (under the
                // lock of its stream, which the test holds a reference on).
                let borrowed: Vec<usize> = (0..m.i.len())
                    .filter(|&i| m.i[i].alive && m.i[i].self_ref && m.st_held(m.i[i].stream))
                    .collect();
                if rng.chance(50) {
                    Op::IndexFlush(pick(rng, &indexes)?, rng.chance(50))
                } else {
                    Op::IndexFlush(pick(rng, &borrowed)?, true)
                }
            }
            30 => Op::IndexCloseAll(pick(rng, &streams)?),
            31 if vss.len() < 3 => Op::VsCreate,
            32 => Op::VsAttach(pick(rng, &vss)?, pick(rng, &sessions)?),
            33 => Op::VsDetach(pick(rng, &vss)?, pick(rng, &sessions)?),
            34 => {
                let v = pick(rng, &vss)?;
                if rng.chance(50) && m.vs[v].owner.is_none() {
                    Op::VsDestroy(v)
                } else {
                    Op::VsClose(v)
                }
            }
            35 if live_c < 5 => Op::ConnCreate(
                rng.below(4) as i32,
                [RELAY_DATA, RELAY_CONTROL, RELAY_VIEWER_COMMAND][rng.below(3)],
            ),
            36 => Op::TableAdd(pick(rng, &conns)?),
            37 => Op::SetSession(pick(rng, &conns)?, pick(rng, &sessions)?),
            38 => Op::SetVs(pick(rng, &conns)?, pick(rng, &vss)?),
            39 => Op::ConnClose(pick(rng, &conns)?),
            40 | 41 => Op::MetaGet(pick(rng, &traces)?),
            42 | 43 => Op::ViewerClose(pick(rng, &viewers)?),
            _ => return None,
        };
        Some(op)
    }

    fn exec(&mut self, op: Op) {
        let ctx = self.ctx();
        let ctx = &ctx;
        match op {
            Op::SessionCreate => {
                let name = CString::new("model").unwrap();
                let p = relay_session_create(name.as_ptr(), name.as_ptr(), 1, false, 2, 11);
                assert!(!p.is_null(), "{ctx}");
                let id = relay_session_get_id(p);
                let pay = self.payload(p.cast());
                self.m.s.push(MSession {
                    ptr: p,
                    id,
                    count: 1,
                    alive: true,
                    closed: false,
                    aborted: false,
                    owner_test: true,
                    user: 0,
                    attached: None,
                    traces: BTreeMap::new(),
                    streams: Vec::new(),
                    pay,
                });
            }
            Op::TraceGet(s, path) => {
                let cpath = CString::new(PATHS[path]).unwrap();
                let p = relay_ctf_trace_get_by_path_or_create(self.m.s[s].ptr, cpath.as_ptr());
                match self.m.s[s].traces.get(&path).copied() {
                    // A closed session makes no trace, but still hands out
                    // an existing one.
                    Some(t) => {
                        assert_eq!(p, self.m.t[t].ptr, "{ctx}: existing trace");
                        if self.m.s[s].closed {
                            self.closed_session_trace += 1;
                        }
                        self.m.t[t].user += 1;
                        self.m.t[t].count += 1;
                    }
                    None if self.m.s[s].closed => {
                        assert!(p.is_null(), "{ctx}: trace created in a closed session")
                    }
                    None => {
                        assert!(!p.is_null(), "{ctx}: trace not created");
                        let pay = self.payload(p.cast());
                        let t = self.m.t.len();
                        self.m.t.push(MTrace {
                            ptr: p,
                            session: s,
                            path,
                            count: 1,
                            alive: true,
                            user: 1,
                            vmeta: None,
                            pay,
                        });
                        self.m.s[s].traces.insert(path, t);
                        self.m.s[s].count += 1;
                    }
                }
            }
            Op::StreamCreate(t, h, meta) => {
                if !self.handles.contains(&h) {
                    self.handles.push(h);
                }
                let path = CString::new("chan_0").unwrap();
                let chan = CString::new(if meta { "metadata" } else { "chan" }).unwrap();
                let p =
                    relay_stream_create(self.m.t[t].ptr, h, path.as_ptr(), chan.as_ptr(), 4096, 2);
                let s = self.m.t[t].session;
                let dup = self.m.st.iter().any(|o| o.handle == h && !o.closed);
                if self.m.s[s].closed || dup {
                    assert!(
                        p.is_null(),
                        "{ctx}: stream {h:#x} created (closed session {}, duplicate {dup})",
                        self.m.s[s].closed
                    );
                } else {
                    assert!(!p.is_null(), "{ctx}: stream {h:#x} not created");
                    assert_eq!(relay_stream_get_handle(p), h, "{ctx}");
                    assert_eq!(relay_stream_is_metadata(p), meta, "{ctx}");
                    assert_eq!(relay_stream_get_trace(p), self.m.t[t].ptr, "{ctx}");
                    assert_eq!(relay_stream_get_tracefile_size(p), 4096, "{ctx}");
                    assert_eq!(relay_stream_get_tracefile_count(p), 2, "{ctx}");
                    assert_eq!(relay_stream_get_last_net_seq_num(p), UNSET, "{ctx}");
                    assert_eq!(relay_stream_get_received_seq_num(p), UNSET, "{ctx}");
                    let pay = self.payload(p.cast());
                    let st = self.m.st.len();
                    self.m.st.push(MStream {
                        ptr: p,
                        handle: h,
                        trace: t,
                        count: 1,
                        alive: true,
                        closed: false,
                        published: false,
                        requested: false,
                        last: UNSET,
                        recv: UNSET,
                        user: 0,
                        metadata: meta,
                        indexes: BTreeMap::new(),
                        pay,
                    });
                    self.m.t[t].count += 1;
                    self.m.s[s].streams.push(st);
                }
            }
            Op::Publish(st) => {
                let rc = relay_stream_publish(self.m.st[st].ptr);
                let o = &mut self.m.st[st];
                let want = if o.closed || o.published { -1 } else { 0 };
                assert_eq!(rc, want, "{ctx}: publish");
                if want == 0 {
                    o.published = true;
                }
            }
            Op::ViewerCreate(st, seek) => {
                let p = relay_viewer_stream_create(self.m.st[st].ptr, seek);
                let h = self.m.st[st].handle;
                let dup = self.m.v.iter().any(|o| o.handle == h && !o.closed);
                if dup {
                    assert!(p.is_null(), "{ctx}: second viewer stream for {h:#x}");
                } else {
                    assert!(!p.is_null(), "{ctx}: viewer stream for {h:#x} not created");
                    assert_eq!(
                        relay_viewer_stream_get_stream(p),
                        self.m.st[st].ptr,
                        "{ctx}"
                    );
                    assert_eq!(relay_viewer_stream_get_seek(p), seek, "{ctx}");
                    let pay = self.payload(p.cast());
                    let v = self.m.v.len();
                    self.m.v.push(MViewer {
                        ptr: p,
                        stream: st,
                        handle: h,
                        count: 1,
                        alive: true,
                        closed: false,
                        user: 0,
                        pay,
                    });
                    self.m.st[st].count += 1;
                    if self.m.st[st].metadata {
                        let t = self.m.st[st].trace;
                        self.m.t[t].vmeta = Some(v);
                    }
                }
            }
            Op::Get(o) => {
                let ok = match o {
                    Obj::S(x) => relay_session_get(self.m.s[x].ptr),
                    Obj::T(x) => relay_ctf_trace_get(self.m.t[x].ptr),
                    Obj::St(x) => relay_stream_get(self.m.st[x].ptr),
                    Obj::I(x) => relay_index_get(self.m.i[x].ptr),
                    Obj::V(x) => relay_viewer_stream_get(self.m.v[x].ptr),
                    Obj::C(x) => relay_connection_get(self.m.c[x].ptr),
                };
                assert!(ok, "{ctx}: get on a held {o:?} refused");
                self.user_got(o);
            }
            Op::Put(o) => match o {
                Obj::S(x) => {
                    relay_session_put(self.m.s[x].ptr);
                    self.m.s[x].user -= 1;
                    self.m.put_session(x);
                }
                Obj::T(x) => {
                    relay_ctf_trace_put(self.m.t[x].ptr);
                    self.m.t[x].user -= 1;
                    self.m.put_trace(x);
                }
                Obj::St(x) => {
                    relay_stream_put(self.m.st[x].ptr);
                    self.m.st[x].user -= 1;
                    self.m.put_stream(x);
                }
                Obj::I(x) => {
                    relay_index_put(self.m.i[x].ptr);
                    self.m.i[x].user -= 1;
                    self.m.put_index(x);
                }
                Obj::V(x) => {
                    relay_viewer_stream_put(self.m.v[x].ptr);
                    self.m.v[x].user -= 1;
                    self.m.put_viewer(x);
                }
                Obj::C(x) => {
                    relay_connection_put(self.m.c[x].ptr);
                    self.m.c[x].user -= 1;
                    self.m.put_conn(x);
                }
            },
            Op::SessionClose(s) => {
                let rc = relay_session_close(self.m.s[s].ptr);
                assert_eq!(rc, self.m.close_session(s), "{ctx}: session close");
            }
            Op::SessionAbort(s) => {
                assert_eq!(relay_session_abort(self.m.s[s].ptr), 0, "{ctx}");
                self.m.abort(s);
            }
            Op::StreamClose(st) => {
                let rc = relay_stream_close(self.m.st[st].ptr);
                assert_eq!(rc, self.m.close_stream(st), "{ctx}: stream close");
            }
            Op::StreamTryClose(st) => {
                let rc = relay_stream_try_close(self.m.st[st].ptr);
                assert_eq!(rc, self.m.try_close(st), "{ctx}: stream try_close");
            }
            Op::SetLast(st, n) => {
                assert_eq!(relay_stream_set_last_net_seq_num(self.m.st[st].ptr, n), 0);
                self.m.set_last(st, n);
            }
            Op::SetRecv(st, n) => {
                assert_eq!(relay_stream_set_received_seq_num(self.m.st[st].ptr, n), 0);
                self.m.set_recv(st, n);
            }
            Op::IndexGet(st, seq, hold) => {
                let sp = self.m.st[st].ptr;
                assert_eq!(relay_stream_lock(sp), 0, "{ctx}");
                let p = relay_index_get_by_id_or_create(sp, seq);
                // Borrowed: no reference of ours.
                let i = match self.m.st[st].indexes.get(&seq).copied() {
                    Some(i) => {
                        assert_eq!(p, self.m.i[i].ptr, "{ctx}: existing index {seq}");
                        Some(i)
                    }
                    None if self.m.st[st].closed => {
                        assert!(p.is_null(), "{ctx}: index {seq} of a closed stream");
                        None
                    }
                    None => {
                        assert!(!p.is_null(), "{ctx}: index {seq} not created");
                        assert_eq!(relay_index_get_net_seq_num(p), seq, "{ctx}");
                        assert_eq!(relay_index_get_ref_count(p), 1, "{ctx}: new index");
                        let pay = self.payload(p.cast());
                        let i = self.m.i.len();
                        self.m.i.push(MIndex {
                            ptr: p,
                            stream: st,
                            seq,
                            count: 1,
                            alive: true,
                            self_ref: true,
                            user: 0,
                            pay,
                        });
                        self.m.st[st].indexes.insert(seq, i);
                        self.m.st[st].count += 1;
                        Some(i)
                    }
                };
                if let (Some(i), true) = (i, hold) {
                    assert!(relay_index_get(p), "{ctx}: get on a borrowed index");
                    self.user_got(Obj::I(i));
                }
                assert_eq!(relay_stream_unlock(sp), 0, "{ctx}");
            }
            Op::IndexFlush(i, locked) => {
                let sp = self.m.st[self.m.i[i].stream].ptr;
                if locked {
                    assert_eq!(relay_stream_lock(sp), 0, "{ctx}");
                }
                let rc = relay_index_try_flush(self.m.i[i].ptr);
                assert_eq!(rc, self.m.try_flush(i), "{ctx}: try_flush");
                if locked {
                    assert_eq!(relay_stream_unlock(sp), 0, "{ctx}");
                }
            }
            Op::IndexCloseAll(st) => {
                assert_eq!(relay_index_close_all(self.m.st[st].ptr), 0, "{ctx}");
                self.m.close_all(st);
            }
            Op::VsCreate => {
                let p = relay_viewer_session_create();
                assert!(!p.is_null(), "{ctx}");
                self.m.vs.push(MVs {
                    ptr: p,
                    destroyed: false,
                    closed: false,
                    owner: None,
                    sessions: Vec::new(),
                });
            }
            Op::VsAttach(vs, s) => {
                let rc = relay_viewer_session_attach(self.m.vs[vs].ptr, self.m.s[s].ptr);
                let want = if self.m.vs[vs].closed || self.m.s[s].attached.is_some() {
                    -1
                } else {
                    0
                };
                assert_eq!(rc, want, "{ctx}: attach");
                if want == 0 {
                    self.m.s[s].attached = Some(vs);
                    self.m.s[s].count += 1;
                    self.m.vs[vs].sessions.push(s);
                }
            }
            Op::VsDetach(vs, s) => {
                let rc = relay_viewer_session_detach(self.m.vs[vs].ptr, self.m.s[s].ptr);
                let attached = self.m.vs[vs].sessions.contains(&s);
                assert_eq!(rc, if attached { 0 } else { -1 }, "{ctx}: detach");
                if attached {
                    self.m.vs[vs].sessions.retain(|&x| x != s);
                    self.m.s[s].attached = None;
                    self.m.put_session(s);
                }
            }
            Op::VsClose(vs) => {
                let rc = relay_viewer_session_close(self.m.vs[vs].ptr);
                assert_eq!(rc, self.m.vs_close(vs), "{ctx}: viewer session close");
            }
            Op::VsDestroy(vs) => {
                relay_viewer_session_destroy(self.m.vs[vs].ptr);
                self.m.vs_destroy(vs);
            }
            Op::ConnCreate(sock, ty) => {
                if !self.socks.contains(&sock) {
                    self.socks.push(sock);
                }
                let p = relay_connection_create(sock, ty);
                assert!(!p.is_null(), "{ctx}");
                assert_eq!(relay_connection_get_sock(p), sock, "{ctx}");
                assert_eq!(relay_connection_get_type(p), ty, "{ctx}");
                let pay = self.payload(p.cast());
                self.m.c.push(MConn {
                    ptr: p,
                    sock,
                    count: 1,
                    alive: true,
                    closed: false,
                    user: 0,
                    in_table: false,
                    session: None,
                    vs: None,
                    pay,
                });
            }
            Op::TableAdd(c) => {
                let rc = relay_connection_table_add(self.table, self.m.c[c].ptr);
                let o = &self.m.c[c];
                let taken = self.m.c.iter().any(|x| x.in_table && x.sock == o.sock);
                let want = if o.in_table || o.closed || taken {
                    -1
                } else {
                    0
                };
                assert_eq!(rc, want, "{ctx}: table add");
                if want == 0 {
                    self.m.c[c].in_table = true;
                }
            }
            Op::SetSession(c, s) => {
                let rc = relay_connection_set_session(self.m.c[c].ptr, self.m.s[s].ptr);
                let want = if self.m.c[c].session.is_some() { -1 } else { 0 };
                assert_eq!(rc, want, "{ctx}: set_session");
                if want == 0 {
                    self.m.c[c].session = Some(s);
                    self.m.s[s].count += 1;
                    // The session's owner reference is the connection's now.
                    self.m.s[s].owner_test = false;
                }
            }
            Op::SetVs(c, vs) => {
                let rc = relay_connection_set_viewer_session(self.m.c[c].ptr, self.m.vs[vs].ptr);
                let want = if self.m.vs[vs].owner.is_some() || self.m.c[c].vs.is_some() {
                    -1
                } else {
                    0
                };
                assert_eq!(rc, want, "{ctx}: set_viewer_session");
                if want == 0 {
                    self.m.c[c].vs = Some(vs);
                    self.m.vs[vs].owner = Some(c);
                }
            }
            Op::ConnClose(c) => {
                let rc = relay_connection_close(self.m.c[c].ptr);
                let want = if self.m.c[c].closed { -1 } else { 0 };
                assert_eq!(rc, want, "{ctx}: connection close");
                if want == 0 {
                    self.m.c[c].closed = true;
                    self.m.c[c].in_table = false;
                    self.m.put_conn(c);
                }
            }
            Op::MetaGet(t) => {
                let p = relay_ctf_trace_get_viewer_metadata_stream(self.m.t[t].ptr);
                match self.m.t[t].vmeta {
                    Some(v) if self.m.v[v].alive => {
                        assert_eq!(p, self.m.v[v].ptr, "{ctx}: metadata viewer stream");
                        self.user_got(Obj::V(v));
                    }
                    _ => assert!(p.is_null(), "{ctx}: stale metadata viewer stream"),
                }
            }
            Op::ViewerClose(v) => {
                let rc = relay_viewer_stream_close(self.m.v[v].ptr);
                assert_eq!(rc, self.m.close_viewer(v), "{ctx}: viewer stream close");
            }
        }
    }

    /// A short description of a step and the state it left, for the stats.
    fn outcome(&self, op: Op) -> String {
        let m = &self.m;
        match op {
            Op::StreamCreate(t, h, _) => {
                let made =
                    m.st.iter()
                        .any(|o| o.handle == h && o.trace == t && o.count > 0 && !o.closed);
                format!(
                    "StreamCreate made={made} closed_session={}",
                    m.s[m.t[t].session].closed
                )
            }
            Op::StreamTryClose(st)
            | Op::StreamClose(st)
            | Op::SetLast(st, _)
            | Op::SetRecv(st, _) => {
                let o = &m.st[st];
                let name = format!("{op:?}");
                let name = name.split('(').next().unwrap_or("");
                format!(
                    "{name} closed={} pending={}",
                    o.closed,
                    o.requested && !o.closed
                )
            }
            Op::IndexFlush(i, locked) => format!(
                "IndexFlush locked={locked} self={} alive={}",
                m.i[i].self_ref, m.i[i].alive
            ),
            Op::TraceGet(s, _) => format!("TraceGet closed_session={}", m.s[s].closed),
            Op::VsAttach(_, s) => format!("VsAttach attached={}", m.s[s].attached.is_some()),
            Op::ViewerCreate(st, _) => format!("ViewerCreate closed_stream={}", m.st[st].closed),
            Op::SessionClose(s) => format!("SessionClose alive_after={}", m.s[s].alive),
            Op::MetaGet(t) => format!("MetaGet some={}", m.t[t].vmeta.is_some()),
            Op::Put(o) => format!("Put {}", format!("{o:?}").split('(').next().unwrap_or("")),
            _ => format!("{op:?}")
                .split('(')
                .next()
                .unwrap_or("")
                .to_string(),
        }
    }

    fn user_got(&mut self, o: Obj) {
        let m = &mut self.m;
        match o {
            Obj::S(x) => {
                m.s[x].user += 1;
                m.s[x].count += 1;
            }
            Obj::T(x) => {
                m.t[x].user += 1;
                m.t[x].count += 1;
            }
            Obj::St(x) => {
                m.st[x].user += 1;
                m.st[x].count += 1;
            }
            Obj::I(x) => {
                m.i[x].user += 1;
                m.i[x].count += 1;
            }
            Obj::V(x) => {
                m.v[x].user += 1;
                m.v[x].count += 1;
            }
            Obj::C(x) => {
                m.c[x].user += 1;
                m.c[x].count += 1;
            }
        }
    }

    /// Compare every live object with the model, and every lookup.
    fn check(&mut self, last: Option<Op>) {
        let ctx = format!("{} after {:?}", self.ctx(), last);
        let m = &self.m;
        for o in m.s.iter().filter(|o| o.alive) {
            assert_eq!(
                relay_session_get_ref_count(o.ptr),
                o.count,
                "{ctx}: count of session {}",
                o.id
            );
            assert_eq!(relay_session_is_closed(o.ptr), o.closed, "{ctx}");
            assert_eq!(relay_session_is_aborted(o.ptr), o.aborted, "{ctx}");
            assert_eq!(traceref_payload_get(o.ptr.cast()), o.pay, "{ctx}");
        }
        for o in &m.s {
            let p = relay_session_get_by_id(o.id);
            if o.alive {
                assert_eq!(p, o.ptr, "{ctx}: session {} not found", o.id);
                relay_session_put(p);
            } else {
                assert!(p.is_null(), "{ctx}: released session {} found", o.id);
            }
        }
        for (k, o) in m.t.iter().enumerate().filter(|(_, o)| o.alive) {
            assert_eq!(
                relay_ctf_trace_get_ref_count(o.ptr),
                o.count,
                "{ctx}: count of trace {k}"
            );
            assert_eq!(
                relay_ctf_trace_get_session(o.ptr),
                m.s[o.session].ptr,
                "{ctx}"
            );
            assert_eq!(traceref_payload_get(o.ptr.cast()), o.pay, "{ctx}");
        }
        for o in m.st.iter().filter(|o| o.alive) {
            assert_eq!(
                relay_stream_get_ref_count(o.ptr),
                o.count,
                "{ctx}: count of stream {:#x}",
                o.handle
            );
            assert_eq!(
                relay_stream_is_closed(o.ptr),
                o.closed,
                "{ctx}: closed {:#x}",
                o.handle
            );
            assert_eq!(relay_stream_is_published(o.ptr), o.published, "{ctx}");
            assert_eq!(relay_stream_get_last_net_seq_num(o.ptr), o.last, "{ctx}");
            assert_eq!(relay_stream_get_received_seq_num(o.ptr), o.recv, "{ctx}");
            assert_eq!(traceref_payload_get(o.ptr.cast()), o.pay, "{ctx}");
        }
        for &h in &self.handles {
            let want =
                m.st.iter()
                    .find(|o| o.handle == h && !o.closed)
                    .map_or(ptr::null_mut(), |o| o.ptr);
            let p = relay_stream_get_by_id(h);
            assert_eq!(p, want, "{ctx}: lookup of stream {h:#x}");
            relay_stream_put(p);
            let want =
                m.v.iter()
                    .find(|o| o.handle == h && !o.closed)
                    .map_or(ptr::null_mut(), |o| o.ptr);
            let p = relay_viewer_stream_get_by_id(h);
            assert_eq!(p, want, "{ctx}: lookup of viewer stream {h:#x}");
            relay_viewer_stream_put(p);
        }
        for o in m.i.iter().filter(|o| o.alive) {
            assert_eq!(
                relay_index_get_ref_count(o.ptr),
                o.count,
                "{ctx}: count of index {} of stream {:#x}",
                o.seq,
                m.st[o.stream].handle
            );
            assert_eq!(traceref_payload_get(o.ptr.cast()), o.pay, "{ctx}");
        }
        for o in m.v.iter().filter(|o| o.alive) {
            assert_eq!(
                relay_viewer_stream_get_ref_count(o.ptr),
                o.count,
                "{ctx}: count of viewer stream {:#x}",
                o.handle
            );
            assert_eq!(traceref_payload_get(o.ptr.cast()), o.pay, "{ctx}");
        }
        for o in m.c.iter().filter(|o| o.alive) {
            assert_eq!(
                relay_connection_get_ref_count(o.ptr),
                o.count,
                "{ctx}: count of connection {}",
                o.sock
            );
            let s = o.session.map_or(ptr::null_mut(), |s| m.s[s].ptr);
            assert_eq!(relay_connection_get_session(o.ptr), s, "{ctx}");
            let vs = o.vs.map_or(ptr::null_mut(), |v| m.vs[v].ptr);
            assert_eq!(relay_connection_get_viewer_session(o.ptr), vs, "{ctx}");
            assert_eq!(traceref_payload_get(o.ptr.cast()), o.pay, "{ctx}");
        }
        for &sock in &self.socks {
            let want =
                m.c.iter()
                    .find(|o| o.in_table && o.sock == sock)
                    .map_or(ptr::null_mut(), |o| o.ptr);
            let p = relay_connection_get_by_sock(self.table, sock);
            assert_eq!(p, want, "{ctx}: lookup of connection {sock}");
            relay_connection_put(p);
        }
        for (k, vs) in m.vs.iter().enumerate().filter(|(_, v)| !v.destroyed) {
            for (j, s) in m.s.iter().enumerate().filter(|(_, s)| s.alive) {
                assert_eq!(
                    relay_viewer_session_is_attached(vs.ptr, s.ptr),
                    s.attached == Some(k),
                    "{ctx}: viewer session {k} and session {j}"
                );
            }
        }
        if let Some(base) = self.census_base {
            if self.step % 16 == 0 {
                assert_eq!(traceref_reclaim_barrier(), 0);
                assert_eq!(
                    traceref_live_objects() - base,
                    m.live() + 1,
                    "{ctx}: census (objects of the model plus the table)"
                );
            }
        }
    }

    /// Give up every reference and ownership the test holds; destroy the
    /// table. Afterwards the model has nothing alive.
    fn finish(&mut self) {
        let ctx = format!("{} cleanup", self.what);
        // User references, in a random order.
        loop {
            let m = &self.m;
            let mut all = Vec::new();
            all.extend((0..m.s.len()).filter(|&x| m.s[x].user > 0).map(Obj::S));
            all.extend((0..m.t.len()).filter(|&x| m.t[x].user > 0).map(Obj::T));
            all.extend((0..m.st.len()).filter(|&x| m.st[x].user > 0).map(Obj::St));
            all.extend((0..m.i.len()).filter(|&x| m.i[x].user > 0).map(Obj::I));
            all.extend((0..m.v.len()).filter(|&x| m.v[x].user > 0).map(Obj::V));
            all.extend((0..m.c.len()).filter(|&x| m.c[x].user > 0).map(Obj::C));
            let Some(o) = pick(&mut self.rng, &all) else {
                break;
            };
            self.exec(Op::Put(o));
            self.check(Some(Op::Put(o)));
        }
        // Ownerships.
        for v in 0..self.m.v.len() {
            if self.m.v[v].alive && !self.m.v[v].closed {
                self.exec(Op::ViewerClose(v));
            }
        }
        for st in 0..self.m.st.len() {
            if self.m.st[st].alive && !self.m.st[st].closed {
                self.exec(Op::StreamClose(st));
            }
        }
        for s in 0..self.m.s.len() {
            let o = &self.m.s[s];
            if o.alive && o.owner_test && !o.closed {
                self.exec(Op::SessionClose(s));
            }
        }
        for vs in 0..self.m.vs.len() {
            if !self.m.vs[vs].destroyed && self.m.vs[vs].owner.is_none() {
                self.exec(Op::VsDestroy(vs));
            }
        }
        // Connections: those in the table are closed by its destruction.
        for c in 0..self.m.c.len() {
            if self.m.c[c].alive && !self.m.c[c].closed && !self.m.c[c].in_table {
                self.exec(Op::ConnClose(c));
            }
        }
        self.check(None);
        assert_eq!(relay_connection_table_destroy(self.table), 0, "{ctx}");
        for c in 0..self.m.c.len() {
            if self.m.c[c].in_table {
                self.m.c[c].closed = true;
                self.m.c[c].in_table = false;
                self.m.put_conn(c);
            }
        }
        let m = &self.m;
        assert!(
            m.s.iter().all(|o| !o.alive),
            "{ctx}: a session outlives the cleanup"
        );
        assert!(
            m.t.iter().all(|o| !o.alive),
            "{ctx}: a trace outlives the cleanup"
        );
        assert!(
            m.st.iter().all(|o| !o.alive),
            "{ctx}: a stream outlives the cleanup"
        );
        assert!(
            m.i.iter().all(|o| !o.alive),
            "{ctx}: an index outlives the cleanup"
        );
        assert!(
            m.v.iter().all(|o| !o.alive),
            "{ctx}: a viewer stream outlives the cleanup"
        );
        assert!(
            m.c.iter().all(|o| !o.alive),
            "{ctx}: a connection outlives the cleanup"
        );
        assert!(
            m.vs.iter().all(|o| o.destroyed),
            "{ctx}: a viewer session outlives the cleanup"
        );
        for o in &m.s {
            assert!(
                relay_session_get_by_id(o.id).is_null(),
                "{ctx}: session {}",
                o.id
            );
        }
        for &h in &self.handles {
            assert!(relay_stream_get_by_id(h).is_null(), "{ctx}: stream {h:#x}");
            assert!(
                relay_viewer_stream_get_by_id(h).is_null(),
                "{ctx}: viewer {h:#x}"
            );
        }
    }
}

/// One sequence. `lock` serialises the exclusive steps of the threaded
/// variant.
fn sequence(
    seed: u64,
    steps: usize,
    thread: Option<usize>,
    census_base: Option<usize>,
    lock: Option<&RwLock<()>>,
) -> usize {
    let mut run = Run::new(seed, thread, census_base);
    while run.step < steps {
        let Some(op) = run.pick_op() else {
            continue;
        };
        run.step += 1;
        let _guard_w;
        let _guard_r;
        if let Some(l) = lock {
            if op.exclusive() {
                _guard_w = l.write().unwrap_or_else(|e| e.into_inner());
            } else {
                _guard_r = l.read().unwrap_or_else(|e| e.into_inner());
            }
        }
        run.exec(op);
        run.check(Some(op));
        stat(run.outcome(op));
    }
    {
        let _g = lock.map(|l| l.write().unwrap_or_else(|e| e.into_inner()));
        run.finish();
    }
    run.closed_session_trace
}

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn random_sequences_match_the_reference_model() {
    let _s = serial();
    common::quiet();
    let base = traceref_live_objects();
    let (att, des) = (
        ATTACHED.load(Ordering::SeqCst),
        DESTROYED.load(Ordering::SeqCst),
    );
    let mut closed_session_trace = 0;
    for seed in 1..=150 {
        closed_session_trace += sequence(seed, 250, None, Some(base), None);
        assert_eq!(traceref_reclaim_barrier(), 0);
        assert_eq!(
            traceref_live_objects(),
            base,
            "seed {seed}: census after cleanup"
        );
        assert_eq!(
            DESTROYED.load(Ordering::SeqCst) - des,
            ATTACHED.load(Ordering::SeqCst) - att,
            "seed {seed}: payload destructors"
        );
    }
    println!("existing traces handed out by closed sessions: {closed_session_trace}");
    for (k, v) in STATS.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        println!("{v:8} {k}");
    }
}

#[test]
fn concurrent_sequences_on_separate_objects_match_the_model() {
    let _s = serial();
    common::quiet();
    const THREADS: usize = 4;
    let base = traceref_live_objects();
    let (att, des) = (
        ATTACHED.load(Ordering::SeqCst),
        DESTROYED.load(Ordering::SeqCst),
    );
    let lock = RwLock::new(());
    std::thread::scope(|sc| {
        let lock = &lock;
        let hs: Vec<_> = (0..THREADS)
            .map(|t| {
                sc.spawn(move || {
                    for k in 0..12u64 {
                        let seed = 1000 + (t as u64) * 100 + k;
                        sequence(seed, 250, Some(t), None, Some(lock));
                    }
                })
            })
            .collect();
        for h in hs {
            if let Err(e) = h.join() {
                std::panic::resume_unwind(e);
            }
        }
    });
    assert_eq!(traceref_reclaim_barrier(), 0);
    assert_eq!(traceref_live_objects(), base, "census after every thread");
    assert_eq!(
        DESTROYED.load(Ordering::SeqCst) - des,
        ATTACHED.load(Ordering::SeqCst) - att,
        "payload destructors"
    );
}
