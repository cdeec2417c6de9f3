//! The counters: every rule about a reference count lives here.
//!
//! Two counters, one per model:
//!
//! * [`RefCount`], the Babeltrace count: unconditional gets (0→1 is legal, it
//!   takes the parent) and puts that report the 1→0 transition;
//! * [`LookupCount`], the relay count: objects are found by lookups that race
//!   the last put, so a get must refuse an object on its way out.
//!
//! Both saturate: a count that would overflow is parked in a *saturated*
//! region and never moves again, so the object leaks instead of being freed
//! early (the Linux `refcount_t` rule). Parked regions have the top bit set
//! and are wide: read-modify-writes that find a parked count put it back, so
//! racing operations move it by a few units at most and it never leaves.
//!
//! Memory ordering follows `refcount_t`: increments are relaxed (the caller
//! already holds a reference; a lookup's get is acquire), decrements are
//! release, and the decrement that releases is followed by an acquire so that
//! the releasing thread sees every write made under the references dropped.

use super::sync::{const_fn, fence, AtomicU32, Ordering};

/// Largest count that still moves.
pub(crate) const MAX: u32 = 0x7FFF_FFFF;
const PARKED_BIT: u32 = 0x8000_0000;
/// Where an overflowing count is parked.
pub(crate) const SATURATED: u32 = 0xC000_0000;
/// Where the count of an object under destruction is parked.
pub(crate) const DEAD: u32 = 0xE000_0000;
const DEAD_FLOOR: u32 = 0xD000_0000;

/// What an increment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inc {
    /// The count went from 0 to 1.
    FromZero,
    /// The count went from n (the value carried) to n + 1: n > 0, or n = 0
    /// for a [`LookupCount`] get that revived a count whose last put had not
    /// yet confirmed the release.
    Up(u32),
    /// The count would have passed [`MAX`]; it is now saturated. Report once.
    Saturated,
    /// The count is parked (saturated or dead) and did not move.
    Parked,
}

/// What a decrement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dec {
    /// The count went from 1 to 0: the caller now runs the release.
    ToZero,
    /// The count went from n (the value carried) to n - 1 and the object
    /// lives on (n > 1; or n = 1 for a [`LookupCount`] that a get revived
    /// before the put could confirm it was the last).
    Down(u32),
    /// The count was already 0 (or, for a [`LookupCount`], the object was
    /// already released): nothing was released. Report it.
    Underflow,
    /// The count is parked and did not move.
    Parked,
}

/// Whether a parked count is parked because of saturation or destruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parked {
    Saturated,
    Dead,
}

/// The Babeltrace count: a `u32` that is an ordinary count in `0..=MAX`,
/// parked at [`SATURATED`] after an overflow, or parked at [`DEAD`] once the
/// destruction of its tree began (so that a release function that takes and
/// drops a reference on an object being torn down cannot start a second
/// destruction).
#[repr(transparent)]
#[derive(Debug)]
pub struct RefCount(AtomicU32);

impl RefCount {
    const_fn! {
        pub fn new(n: u32) -> Self {
            RefCount(AtomicU32::new(n))
        }
    }

    /// The current value, for diagnostics and tests. Parked counts read as
    /// their parking value.
    #[inline]
    pub fn load(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    /// Which parked region `v` is in, if any.
    #[inline]
    pub fn parked(v: u32) -> Option<Parked> {
        if v & PARKED_BIT == 0 {
            None
        } else if v >= DEAD_FLOOR {
            Some(Parked::Dead)
        } else {
            Some(Parked::Saturated)
        }
    }

    #[inline]
    fn repark(&self, old: u32) {
        let to = match Self::parked(old) {
            Some(Parked::Dead) => DEAD,
            _ => SATURATED,
        };
        self.0.store(to, Ordering::Relaxed);
    }

    /// Unconditional increment (the Babeltrace `bt_get`): 0 to 1 is legal.
    #[inline]
    pub fn inc(&self) -> Inc {
        let old = self.0.fetch_add(1, Ordering::Relaxed);
        if old == 0 {
            Inc::FromZero
        } else if old < MAX {
            Inc::Up(old)
        } else if old == MAX {
            self.0.store(SATURATED, Ordering::Relaxed);
            Inc::Saturated
        } else {
            self.repark(old);
            Inc::Parked
        }
    }

    /// Decrement. A count of zero is left alone (`Underflow`), never wrapped
    /// even for an instant: an increment racing a double put must see 0 and
    /// make its 0→1 transition. A parked count is left alone (`Parked`).
    #[inline]
    pub fn dec(&self) -> Dec {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            if cur == 0 {
                return Dec::Underflow;
            }
            if cur & PARKED_BIT != 0 {
                return Dec::Parked;
            }
            match self
                .0
                .compare_exchange_weak(cur, cur - 1, Ordering::Release, Ordering::Relaxed)
            {
                Ok(1) => {
                    fence(Ordering::Acquire);
                    return Dec::ToZero;
                }
                Ok(old) => return Dec::Down(old),
                Err(v) => cur = v,
            }
        }
    }

    /// Set the count, for unit tests that start near a limit.
    #[cfg(test)]
    pub(crate) fn set_for_test(&self, n: u32) {
        self.0.store(n, Ordering::Relaxed);
    }

    /// Park the count in the dead region: gets and puts become no-ops.
    #[inline]
    pub fn mark_dead(&self) {
        self.0.store(DEAD, Ordering::Relaxed);
    }
}

/// Largest stored value of a [`LookupCount`] that is an ordinary count
/// (`MAX + 1` references).
const L_MAXREF: u32 = 0x7FFF_FFFF;
/// Where an overflowing lookup count is parked (`0x8000_0000..L_RELEASED`).
const L_SATURATED: u32 = 0xA000_0000;
/// Lowest stored value of the released region (`L_RELEASED..=u32::MAX`).
const L_RELEASED: u32 = 0xC000_0000;
/// Where the count of a released object is parked.
const L_DEAD: u32 = 0xE000_0000;
/// No reference left, release not confirmed: the value a `fetch_sub` put
/// would leave; puts never store it now, but a get that finds it still
/// takes it back to one reference (the unit tests and loom models set it).
const L_NOREF: u32 = 0xFFFF_FFFF;

/// The relay count: a get is one `fetch_add` (threads sharing a hot object
/// never retry a get), and it refuses an object on its way out; a put is a
/// compare-and-swap that releases in one step.
///
/// The stored value is the number of references minus one. The put that
/// drops the last reference takes it from 0 straight to `L_DEAD`, the
/// released region (the top quarter of the range), where every get fails
/// and is put back to `L_DEAD`, and a put is reported as a put on a
/// released object. The regions are wide, so concurrent gets cannot move a
/// parked value out of them before it is put back.
///
/// A put is not one `fetch_sub` (as Linux's `rcuref_put`): with one, the
/// last put's decrement and its confirmation could be separated by a get
/// that revives the count and whose own put confirms the release; the
/// object could then be freed before the first put's confirmation touched
/// the count (a use after free, unless every put runs inside a read-side
/// section, as `rcuref_put` requires, which cost more here than the
/// retries of a compare-and-swap).
///
/// Safety argument: a release happens only through the compare-and-swap
/// from 0 (one reference) to `L_DEAD`, which succeeds once (afterwards the
/// value stays near `L_DEAD`, where puts change nothing). A get succeeds
/// only when its `fetch_add` left an ordinary value, so the release's
/// compare-and-swap then fails until that reference is put again. A put
/// touches the count only before its own compare-and-swap succeeds. A
/// double put (a caller's misuse) is refused and reported; it never
/// releases twice, and a put racing a get never releases under the
/// reference that get took.
#[repr(transparent)]
#[derive(Debug)]
pub struct LookupCount(AtomicU32);

impl LookupCount {
    const_fn! {
        /// A count of one reference.
        pub fn new() -> Self {
            LookupCount(AtomicU32::new(0))
        }
    }

    /// The number of references, for diagnostics and tests: 0 once the last
    /// one was dropped, [`SATURATED`] when saturated.
    #[inline]
    pub fn refs(&self) -> u32 {
        let s = self.0.load(Ordering::Relaxed);
        if s <= L_MAXREF {
            s + 1
        } else if s < L_RELEASED {
            SATURATED
        } else {
            0
        }
    }

    /// Take a reference unless the object is released (the relay getters'
    /// `urcu_ref_get_unless_zero`). `None` when refused.
    #[inline]
    pub fn get(&self) -> Option<Inc> {
        // Acquire: a reference taken from a count that other threads just
        // dropped sees their writes to the object.
        let old = self.0.fetch_add(1, Ordering::Acquire);
        if old < L_MAXREF {
            return Some(Inc::Up(old + 1));
        }
        if old == L_NOREF {
            // Revived between the last put and its confirmation.
            return Some(Inc::Up(0));
        }
        self.get_slow(old)
    }

    #[cold]
    #[inline(never)]
    fn get_slow(&self, old: u32) -> Option<Inc> {
        if old >= L_RELEASED {
            self.0.store(L_DEAD, Ordering::Relaxed);
            None
        } else {
            self.0.store(L_SATURATED, Ordering::Relaxed);
            Some(if old == L_MAXREF {
                Inc::Saturated
            } else {
                Inc::Parked
            })
        }
    }

    /// Drop a reference. `ToZero` when it was the last: the caller now
    /// releases the object.
    ///
    /// A compare-and-swap, from "one reference" straight to the released
    /// region for the last: the release is decided in one step, so no get
    /// can revive the count between a put's decrement and its confirmation
    /// and no put touches the count after another thread may have released
    /// (and freed) the object. (A `fetch_sub` put, as Linux's `rcuref_put`,
    /// needs its caller inside a read-side section for that: here, that
    /// section cost more than the retries.)
    #[inline]
    pub fn put(&self) -> Dec {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            if cur > L_MAXREF {
                return Self::put_refused(cur);
            }
            let last = cur == 0;
            let new = if last { L_DEAD } else { cur - 1 };
            match self
                .0
                .compare_exchange_weak(cur, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) if last => {
                    fence(Ordering::Acquire);
                    return Dec::ToZero;
                }
                Ok(_) => return Dec::Down(cur + 1),
                Err(v) => cur = v,
            }
        }
    }

    /// A put that found the count parked: saturated (it stays), or released
    /// (a double put: nothing changes, the caller reports it).
    #[cold]
    #[inline(never)]
    fn put_refused(cur: u32) -> Dec {
        if cur < L_RELEASED {
            Dec::Parked
        } else {
            Dec::Underflow
        }
    }

    /// Set the number of references (at least 1), for unit tests and loom
    /// models that start near a limit.
    #[cfg(any(test, loom))]
    pub fn set_refs_for_test(&self, refs: u32) {
        self.0.store(refs - 1, Ordering::Relaxed);
    }
}

impl Default for LookupCount {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_and_reports_transitions() {
        let c = RefCount::new(0);
        assert_eq!(c.inc(), Inc::FromZero);
        assert_eq!(c.inc(), Inc::Up(1));
        assert_eq!(c.dec(), Dec::Down(2));
        assert_eq!(c.dec(), Dec::ToZero);
        assert_eq!(c.dec(), Dec::Underflow);
        assert_eq!(c.load(), 0);
    }

    #[test]
    fn saturates_and_stays() {
        let c = RefCount::new(MAX);
        assert_eq!(c.inc(), Inc::Saturated);
        assert_eq!(c.inc(), Inc::Parked);
        assert_eq!(c.dec(), Dec::Parked);
        assert_eq!(c.load(), SATURATED);
        assert_eq!(RefCount::parked(c.load()), Some(Parked::Saturated));
    }

    #[test]
    fn dead_is_inert() {
        let c = RefCount::new(0);
        c.mark_dead();
        assert_eq!(c.inc(), Inc::Parked);
        assert_eq!(c.dec(), Dec::Parked);
        assert_eq!(RefCount::parked(c.load()), Some(Parked::Dead));
    }

    #[test]
    fn lookup_count_moves_and_refuses_once_released() {
        let c = LookupCount::new();
        assert_eq!(c.refs(), 1);
        assert_eq!(c.get(), Some(Inc::Up(1)));
        assert_eq!(c.refs(), 2);
        assert_eq!(c.put(), Dec::Down(2));
        assert_eq!(c.put(), Dec::ToZero);
        assert_eq!(c.refs(), 0);
        assert_eq!(c.get(), None);
        assert_eq!(c.put(), Dec::Underflow);
        assert_eq!(c.get(), None);
        assert_eq!(c.refs(), 0);
        assert_eq!(c.0.load(Ordering::Relaxed), L_DEAD);
    }

    #[test]
    fn lookup_count_revived_before_confirmation() {
        // The state between the last put's fetch_sub and its confirmation.
        let c = LookupCount::new();
        c.0.store(L_NOREF, Ordering::Relaxed);
        assert_eq!(c.refs(), 0);
        assert_eq!(c.get(), Some(Inc::Up(0)));
        assert_eq!(c.refs(), 1);
        assert_eq!(c.put(), Dec::ToZero);
    }

    #[test]
    fn lookup_count_saturates_and_stays() {
        let c = LookupCount::new();
        c.set_refs_for_test(MAX + 1);
        assert_eq!(c.get(), Some(Inc::Saturated));
        assert_eq!(c.get(), Some(Inc::Parked));
        assert_eq!(c.put(), Dec::Parked);
        assert_eq!(c.refs(), SATURATED);
        assert_eq!(c.0.load(Ordering::Relaxed), L_SATURATED);
    }
}
