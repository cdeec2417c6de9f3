//! Viewer streams (refcounted, holding a stream reference, owned by the live
//! connection that created them) and viewer sessions (not refcounted: created
//! and destroyed by their live connection, freed after a grace period).

use super::object::{self, Head, Place, PlaceError, RelayObject};
use super::session::Session;
use super::stream::Stream;
use super::{Ptr, VIEWER_STREAMS};
use crate::core::census;
use crate::core::kind::{Kind, Tag};
use crate::core::reclaim;
use crate::core::table::Keyed;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[repr(C)]
pub struct ViewerStream {
    head: Head,
    handle: u64,
    /// Counted reference on the stream.
    pub stream: Ptr<Stream>,
    pub seek: u32,
    /// Whether the ownership reference is still held; cleared exactly once
    /// by `close`, which then puts it.
    owned: AtomicBool,
}

impl Keyed for ViewerStream {
    #[inline]
    fn key(&self) -> u64 {
        self.handle
    }
}

impl RelayObject for ViewerStream {
    const KIND: Kind = Kind::RelayViewerStream;
    fn head(&self) -> &Head {
        &self.head
    }
    fn id(&self) -> u64 {
        self.handle
    }
    fn release(&self) {
        VIEWER_STREAMS.remove(self);
        // SAFETY: the stream reference is held until the put below, and the
        // stream holds its trace.
        let stream = unsafe { self.stream.get() };
        let trace = unsafe { stream.trace.get() };
        {
            let mut slot = trace.viewer_metadata.lock();
            if *slot == Some(Ptr::of(self)) {
                *slot = None;
            }
        }
        // SAFETY: the reference taken at creation, dropped once.
        unsafe { object::put("relay_viewer_stream_put", stream) };
    }
}

/// Why a viewer stream could not be created.
#[derive(Debug, PartialEq, Eq)]
pub enum CreateError {
    StreamGone,
    Duplicate,
    /// The caller's memory holds a live object.
    Live,
}

impl ViewerStream {
    /// A new viewer stream of `stream`, count 1 (the ownership reference),
    /// holding a stream reference, in the viewer stream table. A metadata
    /// stream's trace points at it without a reference.
    ///
    /// # Safety
    /// As for [`object::place`].
    pub unsafe fn create(
        func: &str,
        place: Place,
        stream: &Stream,
        seek: u32,
    ) -> Result<*mut ViewerStream, CreateError> {
        if !object::get(func, stream) {
            return Err(CreateError::StreamGone);
        }
        let obj = ViewerStream {
            head: Head::new_in(Kind::RelayViewerStream, place),
            handle: stream.key(),
            stream: Ptr::of(stream),
            seek,
            owned: AtomicBool::new(true),
        };
        // SAFETY: per the contract.
        let v = match unsafe { object::place(obj, place) } {
            Ok(v) => v,
            Err(PlaceError::Live) => {
                // SAFETY: the reference taken above, returned.
                unsafe { object::put(func, stream) };
                return Err(CreateError::Live);
            }
        };
        // Pinned from publication on: another thread may find, close and
        // release the new viewer stream at once, and its memory must stay
        // valid until this function is done with it.
        let _guard = crossbeam_epoch::pin();
        // SAFETY: fully initialised (count 1) before it is published.
        let vs = unsafe { &*v };
        if VIEWER_STREAMS.insert(vs).is_err() {
            // SAFETY: never published; return the stream reference.
            unsafe {
                object::discard(v);
                object::put(func, stream);
            }
            return Err(CreateError::Duplicate);
        }
        if stream.is_metadata {
            // SAFETY: the stream holds its trace.
            let trace = unsafe { stream.trace.get() };
            let mut slot = trace.viewer_metadata.lock();
            // Another thread may already have closed and released it (its
            // release clears the slot under this lock, after the count
            // reached zero): then it must not be recorded.
            if vs.head().count() != 0 {
                *slot = Some(Ptr(v));
            }
        }
        Ok(v)
    }

    /// Leave the table and put the ownership reference. False when it was
    /// already closed.
    pub fn close(&self, func: &str) -> bool {
        if !self.owned.swap(false, Ordering::AcqRel) {
            return false;
        }
        VIEWER_STREAMS.remove(self);
        // SAFETY: the ownership reference, dropped once (guarded by `owned`).
        unsafe { object::put(func, self) };
        true
    }

    /// Whether it was closed (its ownership reference put): it left the
    /// viewer stream table then.
    pub fn is_closed(&self) -> bool {
        !self.owned.load(Ordering::Acquire)
    }

    pub fn session(&self) -> &Session {
        // SAFETY: viewer stream → stream → trace → session references held.
        unsafe { self.stream.get().session() }
    }

    /// References on the viewer streams of the viewer stream table whose
    /// count is not zero and whose stream belongs to a session for which
    /// `of` is true (closed streams included).
    pub fn of_sessions(func: &str, of: impl Fn(&Session) -> bool) -> Vec<Ptr<ViewerStream>> {
        let mut all = super::table_snapshot(func, &VIEWER_STREAMS);
        all.retain(|v| {
            // SAFETY: `table_snapshot` took a reference on each.
            let vs = unsafe { v.get() };
            let keep = of(vs.session());
            if !keep {
                // SAFETY: the reference taken by `table_snapshot`, dropped
                // once (the entry leaves the list).
                unsafe { object::put(func, vs) };
            }
            keep
        });
        all
    }
}

static NEXT_VIEWER_SESSION: AtomicU64 = AtomicU64::new(1);

/// Leak report line of a live viewer session.
unsafe fn describe_vs(p: *const ()) -> String {
    // SAFETY: called on tracked (live) viewer sessions only.
    let v = unsafe { &*p.cast::<ViewerSession>() };
    format!(
        "viewer session {}, {} session(s) attached",
        v.id,
        v.sessions.lock().len()
    )
}

/// A viewer session: the sessions a live client is attached to.
#[repr(C)]
pub struct ViewerSession {
    tag: Tag,
    pub id: u64,
    /// Attached sessions, each with a counted reference.
    sessions: Mutex<Vec<Ptr<Session>>>,
    closed: AtomicBool,
    /// Set when a connection took ownership.
    pub(crate) owned: AtomicBool,
}

/// Why an attach was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum AttachError {
    Closed,
    AlreadyAttached,
    SessionGone,
}

impl ViewerSession {
    /// A new viewer session, where `place` says.
    ///
    /// # Safety
    /// As for [`object::place`].
    pub unsafe fn create(place: Place) -> Result<*mut ViewerSession, PlaceError> {
        let obj = ViewerSession {
            tag: place.tag(Kind::RelayViewerSession),
            id: NEXT_VIEWER_SESSION.fetch_add(1, Ordering::Relaxed),
            sessions: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            owned: AtomicBool::new(false),
        };
        match place {
            Place::Boxed => {
                let p = Box::into_raw(Box::new(obj));
                census::register(Kind::RelayViewerSession, p as *const (), describe_vs);
                Ok(p)
            }
            // SAFETY: per the contract.
            Place::Caller { at, free } => unsafe {
                object::place_at(obj, at, free, Kind::RelayViewerSession, describe_vs)
            },
        }
    }

    pub fn tag(&self) -> &Tag {
        &self.tag
    }

    /// Attach `session`, taking a reference on it. A session is attached to
    /// at most one viewer session at a time.
    pub fn attach(&self, func: &str, session: &Session) -> Result<(), AttachError> {
        let mut list = self.sessions.lock();
        if self.closed.load(Ordering::Acquire) {
            return Err(AttachError::Closed);
        }
        if session.viewer_attached.swap(true, Ordering::AcqRel) {
            return Err(AttachError::AlreadyAttached);
        }
        if !object::get(func, session) {
            session.viewer_attached.store(false, Ordering::Release);
            return Err(AttachError::SessionGone);
        }
        list.push(Ptr::of(session));
        Ok(())
    }

    /// Detach `session`, putting the reference taken by `attach`. False when
    /// it was not attached here.
    pub fn detach(&self, func: &str, session: &Session) -> bool {
        match self.take_session(session) {
            Some(s) => {
                // SAFETY: the list's reference, taken out by `take_session`.
                Self::release_session(func, unsafe { s.get() });
                true
            }
            None => false,
        }
    }

    /// Take `session` out of the list, with the reference the list held on
    /// it. None when it is not attached here.
    fn take_session(&self, session: &Session) -> Option<Ptr<Session>> {
        let mut list = self.sessions.lock();
        let i = list.iter().position(|p| *p == Ptr::of(session))?;
        Some(list.swap_remove(i))
    }

    fn release_session(func: &str, session: &Session) {
        session.viewer_attached.store(false, Ordering::Release);
        // SAFETY: the reference taken by `attach`, dropped once (the entry
        // was removed from the list by the caller).
        unsafe { object::put(func, session) };
    }

    pub fn is_attached(&self, session: &Session) -> bool {
        self.sessions.lock().contains(&Ptr::of(session))
    }

    /// References on the sessions attached now (each put by the caller).
    pub fn sessions_snapshot(&self, func: &str) -> Vec<Ptr<Session>> {
        super::snapshot(func, self.sessions.lock().iter())
    }

    /// Close every viewer stream of the attached sessions (their ownership
    /// references) and detach every session. False when already closed.
    pub fn close(&self, func: &str) -> bool {
        let sessions = {
            let mut list = self.sessions.lock();
            if self.closed.swap(true, Ordering::AcqRel) {
                return false;
            }
            std::mem::take(&mut *list)
        };
        Self::close_sessions(func, sessions);
        true
    }

    /// Close the viewer streams of `session` (their ownership references),
    /// then detach it. False, closing nothing, when it is not attached here.
    pub fn close_one_session(&self, func: &str, session: &Session) -> bool {
        match self.take_session(session) {
            Some(s) => {
                Self::close_sessions(func, vec![s]);
                true
            }
            None => false,
        }
    }

    /// The part of a close that concerns each session: `sessions`, already
    /// taken out of the list (with the references it held), have their
    /// viewer streams closed, whether their streams are closed or not, and
    /// are then released (detached for good: `viewer_attached` cleared, the
    /// attach reference put). Takes no relay lock (session, ctf-trace or
    /// stream) and calls no code of the caller's.
    fn close_sessions(func: &str, sessions: Vec<Ptr<Session>>) {
        if !sessions.is_empty() {
            let of = |s: &Session| sessions.iter().any(|p| std::ptr::eq(p.0, s));
            for v in ViewerStream::of_sessions(func, of) {
                // SAFETY: `of_sessions` took a reference on each.
                let vs = unsafe { v.get() };
                vs.close(func);
                // SAFETY: the reference taken by `of_sessions`.
                unsafe { object::put(func, vs) };
            }
        }
        for s in sessions {
            // SAFETY: the list held a reference on each session.
            Self::release_session(func, unsafe { s.get() });
        }
    }

    /// Close (if needed) and free after a grace period.
    ///
    /// # Safety
    /// `p` comes from [`ViewerSession::create`]; no other thread uses it
    /// after this call except readers already inside a read-side section.
    pub unsafe fn destroy(func: &str, p: *mut ViewerSession) {
        // SAFETY: per the contract.
        let vs = unsafe { &*p };
        vs.close(func);
        unsafe fn free(p: *mut ()) {
            // SAFETY: retired once by `destroy`.
            let vs = unsafe { Box::from_raw(p.cast::<ViewerSession>()) };
            vs.tag.mark_reclaimed();
            drop(vs);
            census::unregister(Kind::RelayViewerSession, p as *const ());
        }
        unsafe fn give_back(p: *mut ()) {
            // SAFETY: retired once by `destroy`, placed in caller memory.
            unsafe {
                object::give_back_memory(
                    p.cast::<ViewerSession>(),
                    Kind::RelayViewerSession,
                    ViewerSession::tag,
                )
            };
        }
        // SAFETY: per the contract, nothing reaches `p` any more but readers
        // inside a read-side section, which the grace period waits for.
        unsafe {
            if vs.tag.in_caller_memory() {
                reclaim::retire_with(p.cast(), Some(give_back), object::nothing);
            } else {
                reclaim::retire(p.cast(), free);
            }
        }
    }
}
