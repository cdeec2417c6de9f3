//! Streams: unique by handle, holding a trace reference, owned by their
//! creator until closed.

use super::index::Index;
use super::lock::{Hold, Level, ObjLock};
use super::object::{self, Head, RelayObject};
use super::session::Session;
use super::trace::CtfTrace;
use super::{Ptr, STREAMS};
use crate::core::hash::FastMap;
use crate::core::kind::Kind;
use crate::core::table::Keyed;
use parking_lot::Mutex;
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// `last_net_seq_num` and the received sequence number before any is known.
pub(crate) const SEQ_UNSET: u64 = u64::MAX;

#[repr(C)]
pub struct Stream {
    head: Head,
    handle: u64,
    /// Counted reference on the container.
    pub trace: Ptr<CtfTrace>,
    pub path_name: CString,
    pub channel_name: CString,
    pub tracefile_size: u64,
    pub tracefile_count: u64,
    pub is_metadata: bool,
    published: AtomicBool,
    closed: AtomicBool,
    close_requested: AtomicBool,
    /// Set by the first `unlink` (close or release): later ones do nothing.
    unlinked: AtomicBool,
    last_net_seq_num: AtomicU64,
    received_seq_num: AtomicU64,
    pub lock: ObjLock,
    /// Indexes by `net_seq_num` (no counted references).
    pub(crate) indexes: Mutex<FastMap<u64, Ptr<Index>>>,
}

impl Keyed for Stream {
    #[inline]
    fn key(&self) -> u64 {
        self.handle
    }
}

impl RelayObject for Stream {
    const KIND: Kind = Kind::RelayStream;
    fn head(&self) -> &Head {
        &self.head
    }
    fn id(&self) -> u64 {
        self.handle
    }
    fn release(&self) {
        // A stream released without being closed (its owner reference was
        // put directly) still leaves every table and list.
        self.unlink();
        // SAFETY: the stream holds a reference on its trace until this put.
        unsafe { object::put("relay_stream_put", self.trace.get()) };
    }
}

/// Why a stream could not be created.
#[derive(Debug, PartialEq, Eq)]
pub enum CreateError {
    DuplicateHandle,
    SessionClosed,
    TraceGone,
}

/// What a close attempt did.
#[derive(Debug, PartialEq, Eq)]
pub enum Close {
    Closed,
    /// Data up to `last_net_seq_num` has not arrived: closes when it does.
    Pending,
    AlreadyClosed,
}

impl Stream {
    /// A new stream with count 1 (the owner's reference), holding a trace
    /// reference, in the stream table and its session's list.
    pub fn create(
        func: &str,
        trace: &CtfTrace,
        handle: u64,
        path_name: &CStr,
        channel_name: &CStr,
        tracefile_size: u64,
        tracefile_count: u64,
    ) -> Result<*mut Stream, CreateError> {
        // SAFETY: the trace holds a reference on its session.
        let session = unsafe { trace.session.get() };
        if !object::get(func, trace) {
            return Err(CreateError::TraceGone);
        }
        let s = object::create(Stream {
            head: Head::new(Kind::RelayStream),
            handle,
            trace: Ptr::of(trace),
            path_name: path_name.to_owned(),
            channel_name: channel_name.to_owned(),
            tracefile_size,
            tracefile_count,
            is_metadata: channel_name.to_bytes() == b"metadata",
            published: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            close_requested: AtomicBool::new(false),
            unlinked: AtomicBool::new(false),
            last_net_seq_num: AtomicU64::new(SEQ_UNSET),
            received_seq_num: AtomicU64::new(SEQ_UNSET),
            lock: ObjLock::new(),
            indexes: Mutex::new(FastMap::default()),
        });
        // SAFETY: `s` is fully initialised, count 1, before it is published.
        let st = unsafe { &*s };
        {
            // The closed check and both insertions happen under the session's
            // list lock: `Session::close` sets its flag under it, so a stream
            // is either refused here or in the list it closes; and a refused
            // duplicate was never visible to anyone, so it is simply freed.
            let mut list = session.streams.lock();
            let refused = if session.is_closed() {
                Some(CreateError::SessionClosed)
            } else if STREAMS.insert(st).is_err() {
                Some(CreateError::DuplicateHandle)
            } else {
                None
            };
            if let Some(e) = refused {
                drop(list);
                // SAFETY: never published; the trace reference taken above
                // is returned.
                unsafe {
                    object::discard(s);
                    object::put(func, trace);
                }
                return Err(e);
            }
            list.insert(Ptr(s));
        }
        Ok(s)
    }

    pub fn session(&self) -> &Session {
        // SAFETY: stream → trace → session references are held.
        unsafe { self.trace.get().session.get() }
    }

    pub fn is_published(&self) -> bool {
        self.published.load(Ordering::Acquire)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn last_net_seq_num(&self) -> u64 {
        self.last_net_seq_num.load(Ordering::SeqCst)
    }

    pub fn set_last_net_seq_num(&self, func: &str, seq: u64) {
        self.last_net_seq_num.store(seq, Ordering::SeqCst);
        self.close_if_requested(func);
    }

    pub fn received_seq_num(&self) -> u64 {
        self.received_seq_num.load(Ordering::SeqCst)
    }

    /// Record that data up to `seq` has arrived; a pending close completes
    /// once the announced `last_net_seq_num` is reached.
    pub fn set_received_seq_num(&self, func: &str, seq: u64) {
        self.received_seq_num
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |cur| {
                (cur == SEQ_UNSET || seq > cur).then_some(seq)
            })
            .ok();
        self.close_if_requested(func);
    }

    fn close_if_requested(&self, func: &str) {
        if self.close_requested.load(Ordering::SeqCst) && self.data_complete() {
            self.try_close(func);
        }
    }

    fn data_complete(&self) -> bool {
        let last = self.last_net_seq_num.load(Ordering::SeqCst);
        let got = self.received_seq_num.load(Ordering::SeqCst);
        last == SEQ_UNSET || (got != SEQ_UNSET && got >= last) || self.session().is_aborted()
    }

    /// Move the stream to its trace's published list. Returns false when it
    /// is closed or already published.
    pub fn publish(&self) -> bool {
        // SAFETY: the trace reference is held.
        let trace = unsafe { self.trace.get() };
        let mut list = trace.streams.lock();
        if self.is_closed() || self.published.swap(true, Ordering::AcqRel) {
            return false;
        }
        list.insert(Ptr::of(self));
        true
    }

    /// Close once the data up to `last_net_seq_num` has arrived (or the
    /// session was aborted); until then the close is remembered.
    pub fn try_close(&self, func: &str) -> Close {
        if self.is_closed() {
            return Close::AlreadyClosed;
        }
        if !self.data_complete() {
            self.close_requested.store(true, Ordering::SeqCst);
            // Data may have completed between the check and the flag: the
            // arriving side reads the flag after writing its sequence number.
            if !self.data_complete() {
                return Close::Pending;
            }
        }
        self.close(func)
    }

    /// Close now: leave the stream table and lists, close every index, put
    /// the owner's reference. Exactly one close succeeds.
    /// Hold this stream's lock for the library's own use inside `func`
    /// (see [`ObjLock::hold`]).
    pub fn hold_lock(&self, func: &str) -> Hold<'_> {
        self.lock
            .hold(func, Level::Stream, Kind::RelayStream, self.handle)
    }

    pub fn close(&self, func: &str) -> Close {
        {
            // Under the trace's list lock so that `publish` cannot race it.
            // SAFETY: the trace reference is held.
            let _list = unsafe { self.trace.get() }.streams.lock();
            if self.closed.swap(true, Ordering::AcqRel) {
                return Close::AlreadyClosed;
            }
        }
        self.unlink();
        {
            // Index pointers handed out by `relay_index_get_by_id_or_create`
            // are valid while their user holds the stream lock: self
            // references are dropped under it.
            let _lock = self.hold_lock(func);
            Index::close_all(func, self);
        }
        // SAFETY: the owner's reference, dropped once (guarded by `closed`).
        unsafe { object::put(func, self) };
        Close::Closed
    }

    /// Leave the stream table, the trace's published list and the session's
    /// list. Only the first call does anything.
    fn unlink(&self) {
        if self.unlinked.swap(true, Ordering::AcqRel) {
            return;
        }
        STREAMS.remove(self);
        // SAFETY: the trace reference is held.
        let trace = unsafe { self.trace.get() };
        trace.streams.lock().remove(&Ptr::of(self));
        self.session().streams.lock().remove(&Ptr::of(self));
    }
}
