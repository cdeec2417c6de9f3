//! Membership: an object in at most one container, and only while it is
//! open. The rule of the relay connection tables, written once.
//!
//! The object's side is a [`Membership`]: which container it is in (if any)
//! and whether it was closed, both behind one lock per object. The
//! container's side is a [`Gate`]: whether it still takes members, behind a
//! lock of its own. Every change of membership happens under the object's
//! lock, together with the change of the container's contents that goes with
//! it (the `insert` and `remove` the callers pass), so that:
//!
//! * a join and a close of the same object are ordered: a join that comes
//!   first is undone by the close, one that comes second is refused;
//! * a close leaves the container exactly once, and a closed object joins
//!   nothing;
//! * a join checks the gate under the gate's lock and inserts before letting
//!   it go, so that once [`Gate::shut`] returns, no join is in progress and
//!   every later one is refused: the members the container holds then are
//!   all it will ever hold, and its destruction takes them out (with
//!   [`Membership::evict`] or by closing them).
//!
//! Locks nest object, then gate (then the container's own, inside `insert`
//! and `remove`); `shut` takes the gate's alone. The closures passed here
//! run under the object's lock: they must not call back into the object's
//! membership, nor into code outside the library.
//!
//! Under `--cfg loom` (the loom models, `loom-tests/`) the locks are loom's,
//! so that the models explore the interleavings around them.

use crossbeam_epoch as epoch;

#[cfg(loom)]
use loom::sync::{Mutex, MutexGuard};
#[cfg(not(loom))]
use parking_lot::{Mutex, MutexGuard};

#[cfg(not(loom))]
#[inline]
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock()
}

#[cfg(loom)]
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap()
}

/// A container's side: whether it still takes members.
pub struct Gate {
    open: Mutex<bool>,
}

impl Gate {
    pub fn new() -> Self {
        Gate {
            open: Mutex::new(true),
        }
    }

    /// Refuse every later join, after waiting for a join in progress. False
    /// when the gate was already shut.
    pub fn shut(&self) -> bool {
        std::mem::replace(&mut *lock(&self.open), false)
    }

    /// Whether the gate still takes members.
    pub fn is_open(&self) -> bool {
        *lock(&self.open)
    }
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a join was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum JoinError<E> {
    /// The object was closed.
    Closed,
    /// The object is already in a container.
    AlreadyMember,
    /// The container's gate is shut: it is being destroyed.
    GateShut,
    /// The container refused the object (the error of `insert`).
    Refused(E),
}

struct State<C> {
    /// The container the object is in, or null.
    container: *const C,
    closed: bool,
}

// SAFETY: the pointer is only dereferenced under the object's lock, as
// `Membership::join`'s contract allows, and the containers are `Sync`.
unsafe impl<C: Sync> Send for State<C> {}

/// An object's side: the container it is in, and whether it was closed.
pub struct Membership<C> {
    state: Mutex<State<C>>,
}

impl<C> Membership<C> {
    /// Open, in no container.
    pub fn new() -> Self {
        Membership {
            state: Mutex::new(State {
                container: std::ptr::null(),
                closed: false,
            }),
        }
    }

    /// Join `container`, whose gate is `gate`: unless the object is closed
    /// or already in a container, and the gate is open, `insert` runs (under
    /// both locks) and its success makes the object a member.
    ///
    /// # Safety
    /// `container` stays allocated until a grace period (crossbeam-epoch's,
    /// as `reclaim::retire` waits for) that begins after `gate.shut()`
    /// returned and after [`Membership::evict`] (or a close) ran for every
    /// member that the container still holds at that point: its destruction
    /// looks for its members only once its gate is shut, and takes out each
    /// one it finds.
    pub unsafe fn join<E>(
        &self,
        container: &C,
        gate: &Gate,
        insert: impl FnOnce() -> Result<(), E>,
    ) -> Result<(), JoinError<E>> {
        let mut st = lock(&self.state);
        if st.closed {
            return Err(JoinError::Closed);
        }
        if !st.container.is_null() {
            return Err(JoinError::AlreadyMember);
        }
        {
            let open = lock(&gate.open);
            if !*open {
                return Err(JoinError::GateShut);
            }
            insert().map_err(JoinError::Refused)?;
        }
        st.container = container;
        Ok(())
    }

    /// Close the object, once: it leaves its container (`remove` runs under
    /// the object's lock) and will join none. False, doing nothing, when it
    /// was already closed.
    pub fn close(&self, remove: impl FnOnce(&C) -> bool) -> bool {
        // Pinned before the lock: see `leave_locked`.
        let _pin = epoch::pin();
        let mut st = lock(&self.state);
        if st.closed {
            return false;
        }
        st.closed = true;
        Self::leave_locked(&mut st, remove);
        true
    }

    /// Leave the container, if in one (the object's release). Returns
    /// whether it was in one.
    pub fn leave(&self, remove: impl FnOnce(&C) -> bool) -> bool {
        let _pin = epoch::pin();
        let mut st = lock(&self.state);
        Self::leave_locked(&mut st, remove)
    }

    /// Take the object out of `container` if it is still in it: the
    /// container's destruction, for a member it does not close. Returns
    /// whether it was in it.
    pub fn evict(&self, container: &C, remove: impl FnOnce(&C) -> bool) -> bool {
        let _pin = epoch::pin();
        let mut st = lock(&self.state);
        if !std::ptr::eq(st.container, container) {
            return false;
        }
        Self::leave_locked(&mut st, remove)
    }

    /// Whether the object was closed.
    pub fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    /// Leave the container named by `st` (the object's lock held), with the
    /// caller pinned since before it took the lock.
    fn leave_locked(st: &mut State<C>, remove: impl FnOnce(&C) -> bool) -> bool {
        let c = std::mem::replace(&mut st.container, std::ptr::null());
        // SAFETY: `c` was set by `join`, whose contract keeps the container
        // allocated until a grace period that begins after its destruction
        // shut the gate and took out each member it found. This object's
        // lock is held and `c` was still recorded, so the object is in the
        // container (it leaves it only here, under this lock): either the
        // destruction has not looked for it yet, and then it waits for this
        // lock before its grace period can begin, or it looked and did not
        // find it because `remove` below already took it out of the
        // container's table; the rest of that removal then runs under the
        // pin the caller took before the lock, which holds the grace period
        // back.
        let Some(container) = (unsafe { c.as_ref() }) else {
            return false;
        };
        let removed = remove(container);
        debug_assert!(removed, "a member was not in its container");
        true
    }
}

impl<C> Default for Membership<C> {
    fn default() -> Self {
        Self::new()
    }
}
