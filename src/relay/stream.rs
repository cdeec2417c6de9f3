//! Streams: unique by handle, holding a trace reference, owned by their
//! creator until closed.

use super::index::Index;
use super::lock::{Level, ObjLock};
use super::object::{self, Head, Place, PlaceError, RelayObject};
use super::session::Session;
use super::trace::CtfTrace;
use super::{Ptr, STREAMS};
use crate::core::hash::FastMap;
use crate::core::kind::Kind;
use crate::core::reclaim;
use crate::core::table::Keyed;
use libc::c_void;
use parking_lot::Mutex;
use std::ffi::{CStr, CString};
use std::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU64, AtomicU8, Ordering};

/// `last_net_seq_num` and the received sequence number before any is known.
pub(crate) const SEQ_UNSET: u64 = u64::MAX;

/// C code's function called where a stream's close completes, with the
/// stream (its `struct relay_stream`) as argument: see [`set_close_hook`].
pub type CloseHook = unsafe extern "C" fn(stream: *mut c_void);

/// The process-wide close hook: null, or a [`CloseHook`] stored as a
/// pointer (an atomic pointer, so that it can be replaced while streams
/// close; each close calls the one it reads).
static CLOSE_HOOK: AtomicPtr<()> = AtomicPtr::new(std::ptr::null_mut());

/// Set the function that every stream's close calls where it completes
/// ([`Stream::unlock`]), or remove it (`None`). Process-wide; a close that
/// read the previous value may still call the previous hook.
pub fn set_close_hook(hook: Option<CloseHook>) {
    let p = hook.map_or(std::ptr::null_mut(), |f| f as *mut ());
    CLOSE_HOOK.store(p, Ordering::Release);
}

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
    /// [`OPEN`], or who closed the stream ([`Closer`] as a `u8`).
    closed: AtomicU8,
    /// Who asked for a close that waits for data ([`Closer`] bits).
    close_requested: AtomicU8,
    /// Set by the first `unlink` (close or release): later ones do nothing.
    unlinked: AtomicBool,
    /// Set by the close that won `closed`; taken, under this stream's lock,
    /// by a release of that lock, which finishes the close (see
    /// [`Stream::unlock`]).
    finish_close: AtomicBool,
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
    /// The caller's memory holds a live object.
    Live,
}

/// Who closes a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closer {
    /// Its owner: `relay_stream_close`, `relay_stream_try_close` (and the
    /// completion of a close it left pending).
    Owner = 1,
    /// The teardown of its session: the session's close or abort, or its
    /// connection's final put.
    Teardown = 2,
}

/// Why a stream was not published.
#[derive(Debug, PartialEq, Eq)]
pub enum Unpublished {
    Closed(Closer),
    AlreadyPublished,
}

/// `closed` of a stream still open.
const OPEN: u8 = 0;

/// What a close attempt did.
#[derive(Debug, PartialEq, Eq)]
pub enum Close {
    Closed,
    /// Data up to `last_net_seq_num` has not arrived: closes when it does.
    Pending,
    /// Closed before, by this one.
    AlreadyClosed(Closer),
}

impl Stream {
    /// A new stream with count 1 (the owner's reference), holding a trace
    /// reference, in the stream table and its session's list.
    ///
    /// # Safety
    /// As for [`object::place`].
    pub unsafe fn create(
        func: &str,
        place: Place,
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
        let obj = Stream {
            head: Head::new_in(Kind::RelayStream, place),
            handle,
            trace: Ptr::of(trace),
            path_name: path_name.to_owned(),
            channel_name: channel_name.to_owned(),
            tracefile_size,
            tracefile_count,
            is_metadata: channel_name.to_bytes() == b"metadata",
            published: AtomicBool::new(false),
            closed: AtomicU8::new(OPEN),
            close_requested: AtomicU8::new(0),
            unlinked: AtomicBool::new(false),
            finish_close: AtomicBool::new(false),
            last_net_seq_num: AtomicU64::new(SEQ_UNSET),
            received_seq_num: AtomicU64::new(SEQ_UNSET),
            lock: ObjLock::new(),
            indexes: Mutex::new(FastMap::default()),
        };
        // SAFETY: per the contract.
        let s = match unsafe { object::place(obj, place) } {
            Ok(s) => s,
            Err(PlaceError::Live) => {
                // SAFETY: the reference taken above, returned.
                unsafe { object::put(func, trace) };
                return Err(CreateError::Live);
            }
        };
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
        self.closed.load(Ordering::Acquire) != OPEN
    }

    /// Who closed the stream, if it is closed.
    fn closed_by(&self) -> Option<Closer> {
        match self.closed.load(Ordering::Acquire) {
            OPEN => None,
            1 => Some(Closer::Owner),
            _ => Some(Closer::Teardown),
        }
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
        let asked = self.close_requested.load(Ordering::SeqCst);
        if asked != 0 && self.data_complete() {
            // The completion of a pending close: the owner's, if it asked.
            let by = if asked & Closer::Owner as u8 != 0 {
                Closer::Owner
            } else {
                Closer::Teardown
            };
            self.try_close(func, by);
        }
    }

    fn data_complete(&self) -> bool {
        let last = self.last_net_seq_num.load(Ordering::SeqCst);
        let got = self.received_seq_num.load(Ordering::SeqCst);
        last == SEQ_UNSET || (got != SEQ_UNSET && got >= last) || self.session().is_aborted()
    }

    /// Move the stream to its trace's published list. Returns false when it
    /// is closed or already published.
    pub fn publish(&self) -> Result<(), Unpublished> {
        // SAFETY: the trace reference is held.
        let trace = unsafe { self.trace.get() };
        let mut list = trace.streams.lock();
        if let Some(by) = self.closed_by() {
            return Err(Unpublished::Closed(by));
        }
        if self.published.swap(true, Ordering::AcqRel) {
            return Err(Unpublished::AlreadyPublished);
        }
        list.insert(Ptr::of(self));
        Ok(())
    }

    /// Close once the data up to `last_net_seq_num` has arrived (or the
    /// session was aborted); until then the close is remembered.
    pub fn try_close(&self, func: &str, by: Closer) -> Close {
        if let Some(first) = self.closed_by() {
            return Close::AlreadyClosed(first);
        }
        if !self.data_complete() {
            self.close_requested.fetch_or(by as u8, Ordering::SeqCst);
            // Data may have completed between the check and the flag: the
            // arriving side reads the flag after writing its sequence number.
            if !self.data_complete() {
                return Close::Pending;
            }
        }
        self.close(func, by)
    }

    /// Hold this stream's lock for the library's own use inside `func`,
    /// unless the calling thread already holds it (then the guard does
    /// nothing). Released through [`unlock`](Self::unlock) when the guard is
    /// dropped.
    pub fn hold_lock<'a>(&'a self, func: &'a str) -> StreamHold<'a> {
        let taken = self
            .lock
            .take_unless_held(func, Level::Stream, Kind::RelayStream, self.handle);
        StreamHold {
            stream: taken.then_some(self),
            func,
        }
    }

    /// Close now: leave the stream table and lists at once; the rest (every
    /// index's self reference, then the owner's reference) belongs to a
    /// release of this stream's lock ([`unlock`](Self::unlock)), so that no
    /// index borrowed under the lock loses its self reference while the lock
    /// is held. When the calling thread holds the lock, its
    /// `relay_stream_unlock` completes the close; when no thread does, it is
    /// taken and released here, so the close completes before returning;
    /// when another thread holds it, that thread's release completes it (the
    /// lock is never waited for: a close made by a session's teardown under
    /// another stream's lock cannot deadlock). Exactly one close succeeds.
    pub fn close(&self, func: &str, by: Closer) -> Close {
        {
            // Under the trace's list lock so that `publish` cannot race it.
            // SAFETY: the trace reference is held.
            let _list = unsafe { self.trace.get() }.streams.lock();
            if let Err(first) =
                self.closed
                    .compare_exchange(OPEN, by as u8, Ordering::AcqRel, Ordering::Acquire)
            {
                return Close::AlreadyClosed(if first == 1 {
                    Closer::Owner
                } else {
                    Closer::Teardown
                });
            }
        }
        self.unlink();
        // Only this close sets it (it won `closed`).
        self.finish_close.store(true, Ordering::SeqCst);
        if !self.lock.held_by_me() {
            self.finish_if_unlocked(func);
        }
        Close::Closed
    }

    /// A close is flagged: finish it now, if no thread holds the lock. A
    /// holder's release finishes it otherwise: either that release takes the
    /// flag, or it comes after it and sees the flag again (the fences order
    /// the flag against the lock word on both sides).
    fn finish_if_unlocked(&self, func: &str) {
        fence(Ordering::SeqCst);
        if self
            .lock
            .try_take(Level::Stream, Kind::RelayStream, self.handle)
        {
            self.unlock(func);
        }
    }

    /// Release this stream's lock, which the calling thread holds (taken by
    /// `relay_stream_lock`, [`hold_lock`](Self::hold_lock) or a close). This
    /// is where a close completes: an index borrowed under a stream's lock
    /// (`relay_index_get_by_id_or_create`) is valid while that lock is held,
    /// so no index of the stream loses its self reference to a close while a
    /// thread holds the lock; a release of the lock does it, once per close:
    /// every index's self reference, then the close hook (still under the
    /// lock, on this thread), then, after the release, the owner's
    /// reference. False, releasing and finishing nothing, when this thread
    /// does not hold the lock (reported).
    pub fn unlock(&self, func: &str) -> bool {
        if !self.lock.held_by_me() {
            // Reported by the lock.
            return self.lock.unlock(func, Kind::RelayStream, self.handle);
        }
        // Keeps the stream allocated past the release below, should another
        // thread finish a close and drop the last reference meanwhile.
        let _section = reclaim::section();
        let finish = self.finish_close.swap(false, Ordering::SeqCst);
        if finish {
            // Still under the lock: the thread that borrowed indexes under it
            // is the caller, releasing it now.
            Index::close_all(func, self);
            // Once per close (as the put below), under the lock, with the
            // owner's reference still held.
            self.run_close_hook();
        }
        self.lock.unlock(func, Kind::RelayStream, self.handle);
        if finish {
            // SAFETY: the owner's reference, dropped once: `finish_close` is
            // set only by the close that won `closed`, and taken once. Put
            // after the release, since at zero the stream is retired.
            unsafe { object::put(func, self) };
        } else {
            // A close flagged after the swap above, whose own attempt found
            // the lock held: finish it now that it is free.
            fence(Ordering::SeqCst);
            if self.finish_close.load(Ordering::SeqCst) {
                self.finish_if_unlocked(func);
            }
        }
        true
    }

    /// Call the close hook, if one is set, on this stream: only from
    /// [`unlock`](Self::unlock), where a close completes, this thread holding
    /// the lock and the owner's reference not yet put.
    fn run_close_hook(&self) {
        let p = CLOSE_HOOK.load(Ordering::Acquire);
        if p.is_null() {
            return;
        }
        // SAFETY: a non-null value was stored by `set_close_hook` from a
        // `CloseHook`, a function pointer, which has the size and
        // representation of a data pointer on every target this library
        // builds for (transmute checks the size); turned back into the
        // same function pointer type.
        let hook = unsafe { std::mem::transmute::<*mut (), CloseHook>(p) };
        // SAFETY: the hook was registered for streams and is called as its
        // contract says: with the stream's address (its C struct's, the
        // library's part first), valid since the owner's reference is still
        // held, and its lock held by this thread.
        unsafe { hook(self as *const Stream as *mut c_void) };
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

/// Guard of [`Stream::hold_lock`]: releases the stream's lock through
/// [`Stream::unlock`] when the lock was taken for it.
pub struct StreamHold<'a> {
    stream: Option<&'a Stream>,
    func: &'a str,
}

impl Drop for StreamHold<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.stream {
            s.unlock(self.func);
        }
    }
}
