//! Sessions: created by a control connection, found by id, closed once.

use super::lock::ObjLock;
use super::object::{self, Head, Place, PlaceError, RelayObject};
use super::stream::Stream;
use super::trace::CtfTrace;
use super::{Ptr, SESSIONS};
use crate::core::hash::{FastMap, FastSet};
use crate::core::kind::Kind;
use crate::core::table::Keyed;
use parking_lot::Mutex;
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

#[repr(C)]
pub struct Session {
    head: Head,
    id: u64,
    pub name: CString,
    pub hostname: CString,
    pub live_timer: u32,
    pub major: u32,
    pub minor: u32,
    pub snapshot: bool,
    closed: AtomicBool,
    aborted: AtomicBool,
    /// Set while a viewer session holds this session.
    pub(crate) viewer_attached: AtomicBool,
    pub lock: ObjLock,
    /// Traces by path (no counted references).
    pub(crate) traces: Mutex<FastMap<CString, Ptr<CtfTrace>>>,
    /// Streams not yet closed, published or not (no counted references).
    pub(crate) streams: Mutex<FastSet<Ptr<Stream>>>,
}

impl Keyed for Session {
    #[inline]
    fn key(&self) -> u64 {
        self.id
    }
}

impl RelayObject for Session {
    const KIND: Kind = Kind::RelaySession;
    fn head(&self) -> &Head {
        &self.head
    }
    fn id(&self) -> u64 {
        self.id
    }
    fn release(&self) {
        SESSIONS.remove(self);
    }
}

impl Session {
    /// A new session with count 1 (the owner's reference), in the table.
    ///
    /// # Safety
    /// As for [`object::place`].
    pub unsafe fn create(
        place: Place,
        name: &CStr,
        hostname: &CStr,
        live_timer: u32,
        snapshot: bool,
        major: u32,
        minor: u32,
    ) -> Result<*mut Session, PlaceError> {
        let obj = Session {
            head: Head::new_in(Kind::RelaySession, place),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            name: name.to_owned(),
            hostname: hostname.to_owned(),
            live_timer,
            major,
            minor,
            snapshot,
            closed: AtomicBool::new(false),
            aborted: AtomicBool::new(false),
            viewer_attached: AtomicBool::new(false),
            lock: ObjLock::new(),
            traces: Mutex::new(FastMap::default()),
            streams: Mutex::new(FastSet::default()),
        };
        // SAFETY: per the contract.
        let s = unsafe { object::place(obj, place) }?;
        // SAFETY: `s` is fully initialised (count 1) before it is published,
        // and ids are unique, so the insertion cannot fail.
        let _ = SESSIONS.insert(unsafe { &*s });
        Ok(s)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Whether a viewer session has this session attached.
    pub fn is_viewer_attached(&self) -> bool {
        self.viewer_attached.load(Ordering::Acquire)
    }

    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::SeqCst)
    }

    /// Mark closed, close every stream (those still waiting for data close
    /// when it arrives or when the session is aborted) and put the owner's
    /// reference. Returns false, changing nothing, when already closed.
    ///
    /// # Safety
    /// The caller holds a reference (the owner's, which this consumes).
    pub unsafe fn close(&self, func: &str) -> bool {
        {
            // Under the streams lock, so that a stream being created either
            // sees the session closed or is in the list closed below.
            let _streams = self.streams.lock();
            if self.closed.swap(true, Ordering::AcqRel) {
                return false;
            }
        }
        self.try_close_streams(func);
        // SAFETY: the owner's reference, dropped once (guarded by `closed`).
        unsafe { object::put(func, self) };
        true
    }

    /// Mark aborted: streams waiting for data close now.
    pub fn abort(&self, func: &str) {
        self.aborted.store(true, Ordering::SeqCst);
        self.try_close_streams(func);
    }

    fn try_close_streams(&self, func: &str) {
        let streams = super::snapshot(func, self.streams.lock().iter());
        for s in streams {
            // SAFETY: `snapshot` took a reference on each.
            let st = unsafe { s.get() };
            st.try_close(func, super::stream::Closer::Teardown);
            // SAFETY: the reference taken by `snapshot`.
            unsafe { object::put(func, st) };
        }
    }

    /// References on the live streams of this session.
    pub fn streams_snapshot(&self, func: &str) -> Vec<Ptr<Stream>> {
        super::snapshot(func, self.streams.lock().iter())
    }

    /// The traces of this session now, without references: a walk gets each
    /// one when its turn comes, with [`Session::get_trace_at`].
    pub fn traces_now(&self) -> Vec<TraceAt> {
        self.traces
            .lock()
            .iter()
            .map(|(path, t)| TraceAt {
                path: path.clone(),
                trace: *t,
                // SAFETY: read under the lock of the map; entries leave it
                // under that lock before their trace is retired.
                id: unsafe { t.get() }.id(),
            })
            .collect()
    }

    /// A new reference on the trace of `at`, if it is still this session's
    /// trace at its path (the same trace: its id says so, whatever its
    /// address) and its count is not zero.
    pub fn get_trace_at(&self, func: &str, at: &TraceAt) -> Option<Ptr<CtfTrace>> {
        let traces = self.traces.lock();
        let t = traces.get(at.path.as_c_str()).filter(|t| **t == at.trace)?;
        // SAFETY: the entry was read under the lock of the map, which the
        // trace's release takes to remove it before the trace is retired.
        let tr = unsafe { t.get() };
        (tr.id() == at.id && object::get(func, tr)).then_some(*t)
    }
}

/// Where a trace of a session was when a walk began: its path, its address
/// and its id (ids are never reused: a new trace at the same address is not
/// taken for it).
pub struct TraceAt {
    path: CString,
    trace: Ptr<CtfTrace>,
    id: u64,
}
