//! Per-object `lock`s, with their nesting order checked.
//!
//! Locks nest from the outermost object to the innermost: session, then
//! ctf-trace, then stream (viewer streams and indexes use their stream's).
//! Each thread remembers the locks it holds; taking a lock of a level at or
//! above one already held is reported with both locks named (it is still
//! taken, as a C caller expects, and may deadlock). Taking a lock the thread
//! already holds would deadlock for certain: it is refused. The locks the
//! library takes itself inside a call (a stream's, to close its indexes)
//! are checked against the caller's the same way.

use crate::core::diag::misuse;
use crate::core::kind::Kind;
use parking_lot::lock_api::RawMutex as _;
use parking_lot::RawMutex;
use std::cell::RefCell;

/// Nesting level of a lock: lower is outer. The relay locks have fixed
/// levels; a mutex of a C kind ([`crate::ffi::mutex`]) has the one its
/// owner gives, in the same order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Level(pub u32);

#[allow(non_upper_case_globals)]
impl Level {
    pub const Session: Level = Level(1000);
    pub const Trace: Level = Level(2000);
    pub const Stream: Level = Level(3000);
}

/// Whose lock it is, for the messages.
#[derive(Clone, Copy)]
pub enum Who {
    /// A relay object's: kind and id.
    Relay(Kind, u64),
    /// A named mutex of C code (its name, a C string that outlives it).
    Named(*const libc::c_char),
}

impl std::fmt::Display for Who {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Who::Relay(k, id) => write!(f, "the lock of {} {}", k.name(), id),
            Who::Named(n) if n.is_null() => write!(f, "a mutex"),
            // SAFETY: a non-null name is a C string that outlives its mutex.
            Who::Named(n) => write!(
                f,
                "mutex {}",
                unsafe { std::ffi::CStr::from_ptr(n) }.to_string_lossy()
            ),
        }
    }
}

/// A lock the C caller takes and releases explicitly.
pub struct ObjLock(RawMutex);

struct Held {
    lock: *const ObjLock,
    level: Level,
    who: Who,
}

thread_local! {
    static HELD: RefCell<Vec<Held>> = const { RefCell::new(Vec::new()) };
}

/// What a lock call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locked {
    Ok,
    /// Taken, but out of order (reported).
    OutOfOrder,
    /// Refused: this thread already holds it.
    Recursive,
}

impl ObjLock {
    pub const fn new() -> Self {
        ObjLock(RawMutex::INIT)
    }

    /// Where taking this lock (of object `kind` `id` at `level`) stands
    /// against the locks this thread holds; an order violation is reported.
    fn check(&self, func: &str, level: Level, who: Who) -> Locked {
        let me = self as *const ObjLock;
        HELD.try_with(|h| {
            let h = h.borrow();
            if h.iter().any(|e| e.lock == me) {
                return Locked::Recursive;
            }
            if let Some(inner) = h.iter().rev().find(|e| e.level >= level) {
                let rule = match (who, inner.who) {
                    (Who::Relay(..), Who::Relay(..)) => {
                        "locks nest session, then ctf-trace, then stream".to_string()
                    }
                    _ => format!(
                        "locks nest by increasing level: {} is at {}, {} at {}",
                        who, level.0, inner.who, inner.level.0
                    ),
                };
                crate::core::probes::lock_order(me.cast(), inner.lock.cast());
                misuse!(
                    func,
                    "lock order violation: taking {} while holding {} ({})",
                    who,
                    inner.who,
                    rule
                );
                return Locked::OutOfOrder;
            }
            Locked::Ok
        })
        .unwrap_or(Locked::Ok)
    }

    /// Take the raw lock and record it as held by this thread.
    fn acquire(&self, level: Level, who: Who) {
        self.0.lock();
        let _ = HELD.try_with(|h| {
            h.borrow_mut().push(Held {
                lock: self,
                level,
                who,
            })
        });
    }

    /// Forget this lock in this thread's held list. False when not there.
    fn forget(&self) -> bool {
        let me = self as *const ObjLock;
        HELD.try_with(|h| {
            let mut h = h.borrow_mut();
            match h.iter().rposition(|e| e.lock == me) {
                Some(i) => {
                    h.remove(i);
                    true
                }
                None => false,
            }
        })
        .unwrap_or(false)
    }

    /// Take the lock of object `kind` `id` at `level`.
    pub fn lock(&self, func: &str, level: Level, kind: Kind, id: u64) -> Locked {
        self.lock_as(func, level, Who::Relay(kind, id))
    }

    /// Take the lock of `who` at `level`.
    pub fn lock_as(&self, func: &str, level: Level, who: Who) -> Locked {
        let verdict = self.check(func, level, who);
        if verdict == Locked::Recursive {
            misuse!(func, "this thread already holds {}; not taken again", who);
            return verdict;
        }
        self.acquire(level, who);
        verdict
    }

    /// Release the lock. Refused (false) when this thread does not hold it.
    pub fn unlock(&self, func: &str, kind: Kind, id: u64) -> bool {
        self.unlock_as(func, Who::Relay(kind, id))
    }

    /// Release the lock of `who`. Refused (false) when this thread does not
    /// hold it.
    pub fn unlock_as(&self, func: &str, who: Who) -> bool {
        if !self.forget() {
            misuse!(func, "this thread does not hold {}; not released", who);
            return false;
        }
        // SAFETY: this thread took the lock (it was in its held list).
        unsafe { self.0.unlock() };
        true
    }

    /// Take the lock for the library's own use inside `func`, unless the
    /// calling thread already holds it. True when taken here: the caller
    /// then releases it with [`unlock`](Self::unlock) (a stream's through
    /// [`Stream::unlock`](super::stream::Stream::unlock), from its guard
    /// [`StreamHold`](super::stream::StreamHold)). Checked against the locks
    /// the caller holds, as [`lock`](Self::lock) is: a violation is reported
    /// naming both locks (the lock is still taken).
    pub fn take_unless_held(&self, func: &str, level: Level, kind: Kind, id: u64) -> bool {
        if self.check(func, level, Who::Relay(kind, id)) == Locked::Recursive {
            return false;
        }
        self.acquire(level, Who::Relay(kind, id));
        true
    }

    /// Take the lock for the library's own use if no thread holds it, without
    /// waiting: true when taken (release it with [`unlock`](Self::unlock)).
    /// Not order-checked: a lock that is never waited for cannot deadlock.
    pub fn try_take(&self, level: Level, kind: Kind, id: u64) -> bool {
        if !self.0.try_lock() {
            return false;
        }
        let _ = HELD.try_with(|h| {
            h.borrow_mut().push(Held {
                lock: self,
                level,
                who: Who::Relay(kind, id),
            })
        });
        true
    }

    /// Whether any thread holds this lock.
    pub fn is_locked(&self) -> bool {
        self.0.is_locked()
    }

    /// Whether the calling thread holds this lock.
    pub fn held_by_me(&self) -> bool {
        let me = self as *const ObjLock;
        HELD.try_with(|h| h.borrow().iter().any(|e| e.lock == me))
            .unwrap_or(false)
    }
}

impl Default for ObjLock {
    fn default() -> Self {
        Self::new()
    }
}
