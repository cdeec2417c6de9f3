//! Indexes: one per `net_seq_num` of a stream, holding a stream reference
//! and, until flushed or closed, a self reference.

use super::object::{self, Head, Place, RelayObject};
use super::stream::{Stream, SEQ_UNSET};
use super::Ptr;
use crate::core::kind::Kind;
use std::sync::atomic::{AtomicBool, Ordering};

#[repr(C)]
pub struct Index {
    head: Head,
    pub net_seq_num: u64,
    /// Counted reference on the container.
    pub stream: Ptr<Stream>,
    /// Whether the self reference is still held. Cleared exactly once, by a
    /// flush or by `close_all`, which then put that reference.
    self_ref: AtomicBool,
}

impl RelayObject for Index {
    const KIND: Kind = Kind::RelayIndex;
    fn head(&self) -> &Head {
        &self.head
    }
    fn id(&self) -> u64 {
        self.net_seq_num
    }
    fn release(&self) {
        // SAFETY: the index holds a reference on its stream until the put.
        let stream = unsafe { self.stream.get() };
        {
            let mut map = stream.indexes.lock();
            if map.get(&self.net_seq_num) == Some(&Ptr::of(self)) {
                map.remove(&self.net_seq_num);
            }
        }
        // SAFETY: the reference taken at creation, dropped once.
        unsafe { object::put("relay_index_put", stream) };
    }
}

/// What a flush attempt did.
#[derive(Debug, PartialEq, Eq)]
pub enum Flush {
    Flushed,
    NotReady,
    AlreadyFlushed,
}

/// Why an index could not be had.
#[derive(Debug, PartialEq, Eq)]
pub enum IndexError {
    /// The stream is closed (or its count is 0): no new index.
    StreamClosed,
    /// The caller's memory holds a live object.
    Live,
}

impl Index {
    /// The index of `stream` for `net_seq_num`, created (with a stream
    /// reference and a self reference) if absent. No reference is taken for
    /// the caller: the index lives until its self reference is dropped, which
    /// happens under the stream lock, and never by a stream close while a
    /// thread holds that lock (the lock's release finishes the close, see
    /// [`Stream::unlock`]): only the caller's own flush of it, or
    /// `close_all`, drops it then. Refused when the stream is closed, or
    /// when the caller's memory holds a live object.
    ///
    /// # Safety
    /// As for [`object::place`].
    pub unsafe fn get_by_id_or_create(
        func: &str,
        stream: &Stream,
        net_seq_num: u64,
        place: Place,
    ) -> Result<*mut Index, IndexError> {
        let mut map = stream.indexes.lock();
        if let Some(p) = map.get(&net_seq_num) {
            // SAFETY: entries are removed under this lock by the index's
            // release, before it is retired.
            if unsafe { p.get() }.self_ref.load(Ordering::Acquire) {
                return Ok(p.0 as *mut Index);
            }
        }
        if stream.is_closed() || !object::get(func, stream) {
            return Err(IndexError::StreamClosed);
        }
        let obj = Index {
            head: Head::new_in(Kind::RelayIndex, place),
            net_seq_num,
            stream: Ptr::of(stream),
            self_ref: AtomicBool::new(true),
        };
        // SAFETY: per the contract.
        let Ok(idx) = (unsafe { object::place(obj, place) }) else {
            // SAFETY: the reference taken above, returned.
            unsafe { object::put(func, stream) };
            return Err(IndexError::Live);
        };
        map.insert(net_seq_num, Ptr(idx));
        Ok(idx)
    }

    /// Drop the self reference once the stream's data up to this index has
    /// arrived.
    pub fn try_flush(&self, func: &str) -> Flush {
        // SAFETY: the stream reference is held.
        let got = unsafe { self.stream.get() }.received_seq_num();
        if got == SEQ_UNSET || got < self.net_seq_num {
            return if self.self_ref.load(Ordering::Acquire) {
                Flush::NotReady
            } else {
                Flush::AlreadyFlushed
            };
        }
        // Under the stream lock (unless the caller holds it), so that an
        // index borrowed by a thread holding that lock stays valid.
        // SAFETY: the stream reference is held.
        let _lock = unsafe { self.stream.get() }.hold_lock(func);
        if self.drop_self_ref(func) {
            Flush::Flushed
        } else {
            Flush::AlreadyFlushed
        }
    }

    fn drop_self_ref(&self, func: &str) -> bool {
        if !self.self_ref.swap(false, Ordering::AcqRel) {
            return false;
        }
        // Leave the stream's map now: a flushed index is not found again.
        {
            // SAFETY: the stream reference is held.
            let mut map = unsafe { self.stream.get() }.indexes.lock();
            if map.get(&self.net_seq_num) == Some(&Ptr::of(self)) {
                map.remove(&self.net_seq_num);
            }
        }
        // SAFETY: the self reference, dropped once (guarded by `self_ref`).
        unsafe { object::put(func, self) };
        true
    }

    /// Put the self reference of every index of `stream` still holding one.
    pub fn close_all(func: &str, stream: &Stream) {
        let live = super::snapshot(func, stream.indexes.lock().values());
        for p in live {
            // SAFETY: `snapshot` took a reference on each.
            let idx = unsafe { p.get() };
            idx.drop_self_ref(func);
            // SAFETY: the reference taken by `snapshot`.
            unsafe { object::put(func, idx) };
        }
    }
}
