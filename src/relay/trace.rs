//! Ctf-traces: one per path within a session, holding a session reference.

use super::lock::ObjLock;
use super::object::{self, Head, Place, PlaceError, RelayObject};
use super::session::Session;
use super::stream::Stream;
use super::viewer::ViewerStream;
use super::Ptr;
use crate::core::hash::FastSet;
use crate::core::kind::Kind;
use parking_lot::Mutex;
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

#[repr(C)]
pub struct CtfTrace {
    head: Head,
    id: u64,
    pub path: CString,
    /// Counted reference on the container.
    pub session: Ptr<Session>,
    pub lock: ObjLock,
    /// Published streams (no counted references).
    pub(crate) streams: Mutex<FastSet<Ptr<Stream>>>,
    /// The metadata viewer stream, without a reference: set by its creation
    /// only while its count is not zero, cleared by its release, both under
    /// this lock.
    pub(crate) viewer_metadata: Mutex<Option<Ptr<ViewerStream>>>,
}

impl RelayObject for CtfTrace {
    const KIND: Kind = Kind::RelayCtfTrace;
    fn head(&self) -> &Head {
        &self.head
    }
    fn id(&self) -> u64 {
        self.id
    }
    fn release(&self) {
        // SAFETY: the trace holds a reference on its session until the put
        // below.
        let session = unsafe { self.session.get() };
        {
            let mut traces = session.traces.lock();
            if traces.get(self.path.as_c_str()) == Some(&Ptr::of(self)) {
                traces.remove(self.path.as_c_str());
            }
        }
        // SAFETY: the reference taken at creation, dropped once.
        unsafe { object::put("relay_ctf_trace_put", session) };
    }
}

/// Why a trace could not be had.
#[derive(Debug, PartialEq, Eq)]
pub enum TraceError {
    SessionClosed,
    SessionGone,
    /// The caller's memory holds a live object.
    Live,
}

impl CtfTrace {
    /// The trace of `session` at `path`, with a new reference for the caller;
    /// created (holding a session reference) if there is none. Two racing
    /// callers get the same trace.
    ///
    /// # Safety
    /// As for [`object::place`].
    pub unsafe fn get_by_path_or_create(
        func: &str,
        session: &Session,
        path: &CStr,
        place: Place,
    ) -> Result<*mut CtfTrace, TraceError> {
        let mut traces = session.traces.lock();
        if let Some(t) = traces.get(path) {
            // SAFETY: entries are removed under this lock before release
            // completes, so the trace is at least allocated.
            let tr = unsafe { t.get() };
            if object::get(func, tr) {
                return Ok(t.0 as *mut CtfTrace);
            }
            // On its way out: a new trace replaces it below.
        }
        if session.is_closed() {
            return Err(TraceError::SessionClosed);
        }
        if !object::get(func, session) {
            return Err(TraceError::SessionGone);
        }
        let obj = CtfTrace {
            head: Head::new_in(Kind::RelayCtfTrace, place),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            path: path.to_owned(),
            session: Ptr::of(session),
            lock: ObjLock::new(),
            streams: Mutex::new(FastSet::default()),
            viewer_metadata: Mutex::new(None),
        };
        // SAFETY: per the contract.
        let t = match unsafe { object::place(obj, place) } {
            Ok(t) => t,
            Err(PlaceError::Live) => {
                // SAFETY: the reference taken above, returned.
                unsafe { object::put(func, session) };
                return Err(TraceError::Live);
            }
        };
        traces.insert(path.to_owned(), Ptr(t));
        Ok(t)
    }

    /// References on the live published streams of this trace.
    pub fn streams_snapshot(&self, func: &str) -> Vec<Ptr<Stream>> {
        super::snapshot(func, self.streams.lock().iter())
    }

    /// A new reference on the metadata viewer stream, if there is one alive.
    pub fn viewer_metadata_stream(&self, func: &str) -> *mut ViewerStream {
        let slot = self.viewer_metadata.lock();
        match *slot {
            // SAFETY: the viewer stream clears this slot, under its lock, in
            // its release, before it is retired.
            Some(v) if object::get(func, unsafe { v.get() }) => v.0 as *mut ViewerStream,
            _ => std::ptr::null_mut(),
        }
    }
}
