//! The counter: every rule about a reference count lives here.
//!
//! A count is a `u32` in one of four regions:
//!
//! * `0..=MAX`: an ordinary count that moves with gets and puts;
//! * the *saturated* region: a count that would have overflowed is parked at
//!   [`SATURATED`] and never moves again, so the object leaks instead of being
//!   freed early (the Linux `refcount_t` rule);
//! * the *dead* region: an object whose destruction has begun is parked at
//!   [`DEAD`], so that a release function that takes and drops a reference on
//!   an object being torn down cannot start a second destruction;
//! * the *underflow* region, the top of the range: where a put on a count of
//!   zero (a double put) lands for an instant when puts are one `fetch_sub`
//!   ([`RefCount::dec`]), before it undoes its own step. Increment-unless-zero
//!   treats it as zero, so a getter racing a double put can never take a
//!   reference on a released object.
//!
//! The parked regions have the top bit set. Read-modify-writes that find a
//! parked count undo their own step (or put it back), so racing operations
//! move a parked value by a few units at most; the regions are wide enough
//! that it never leaves them.
//!
//! Two decrements: [`RefCount::dec`], one `fetch_sub`, for counts that only
//! grow by increment-unless-zero (the relay model: nothing may revive a count
//! from zero, so the transient wrap of a double put harms no one); and
//! [`RefCount::dec_revivable`], a compare-and-swap that never moves a zero
//! count, for counts that unconditional increments may take from 0 to 1 (the
//! Babeltrace model), where a transient wrap and its undo would let a racing
//! 0→1 transition go unseen.
//!
//! Memory ordering follows `refcount_t`: increments are relaxed (the caller
//! already holds a reference, or, for increment-unless-zero, the successful
//! compare-and-swap gives a control dependency), decrements are release, and
//! the decrement that reaches zero is followed by an acquire fence so that the
//! releasing thread sees every write made under the references just dropped.

use super::sync::{const_fn, fence, AtomicU32, Ordering};

/// Largest count that still moves.
pub(crate) const MAX: u32 = 0x7FFF_FFFF;
const PARKED_BIT: u32 = 0x8000_0000;
/// Where an overflowing count is parked.
pub(crate) const SATURATED: u32 = 0xC000_0000;
/// Where the count of an object under destruction is parked.
pub(crate) const DEAD: u32 = 0xE000_0000;
const DEAD_FLOOR: u32 = 0xD000_0000;
/// Lowest value of the underflow region (a put on zero wraps above it).
const UNDERFLOW_FLOOR: u32 = 0xF000_0000;

/// What an increment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inc {
    /// The count went from 0 to 1.
    FromZero,
    /// The count went from n > 0 (the value carried) to n + 1.
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
    /// The count went from n > 1 (the value carried) to n - 1.
    Down(u32),
    /// The count was already 0: nothing changed (a transient wrap was
    /// undone). Report it.
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

/// An atomic reference count with saturation and a destruction guard.
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

    /// Which parked region `v` is in, if any (the transient underflow region
    /// is not a parking place: `None`).
    #[inline]
    pub fn parked(v: u32) -> Option<Parked> {
        if v & PARKED_BIT == 0 || v >= UNDERFLOW_FLOOR {
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

    /// Increment unless the count is zero (the relay getters'
    /// `urcu_ref_get_unless_zero`). Returns `None` at zero, and in the
    /// underflow region (zero with a double put in flight).
    #[inline]
    pub fn inc_not_zero(&self) -> Option<Inc> {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            if cur == 0 || cur >= UNDERFLOW_FLOOR {
                return None;
            }
            if cur >= MAX {
                if cur == MAX {
                    self.0.store(SATURATED, Ordering::Relaxed);
                    return Some(Inc::Saturated);
                }
                return Some(Inc::Parked);
            }
            // Relaxed suffices: success depends on reading a non-zero count,
            // and the caller's subsequent reads of the object are ordered after
            // it by that control dependency together with the epoch pin (or
            // the reference) that kept the memory valid during the lookup.
            match self
                .0
                .compare_exchange_weak(cur, cur + 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return Some(Inc::Up(cur)),
                Err(v) => cur = v,
            }
        }
    }

    /// Decrement with one `fetch_sub`, for counts that only grow by
    /// [`inc_not_zero`](Self::inc_not_zero). A put on zero wraps into the
    /// underflow region, where getters see zero, and undoes its step
    /// (`Underflow`); a put on a parked count undoes its step (`Parked`).
    #[inline]
    pub fn dec(&self) -> Dec {
        let old = self.0.fetch_sub(1, Ordering::Release);
        if old.wrapping_sub(2) < MAX - 1 {
            // 2..=MAX
            return Dec::Down(old);
        }
        if old == 1 {
            fence(Ordering::Acquire);
            return Dec::ToZero;
        }
        self.undo_dec(old)
    }

    /// A decrement found 0 or a parked count: give the unit back.
    #[cold]
    #[inline(never)]
    fn undo_dec(&self, old: u32) -> Dec {
        self.0.fetch_add(1, Ordering::Relaxed);
        if old == 0 || old >= UNDERFLOW_FLOOR {
            Dec::Underflow
        } else {
            Dec::Parked
        }
    }

    /// Decrement with a compare-and-swap, for counts that unconditional
    /// increments ([`inc`](Self::inc)) may take from 0 to 1. A count of zero
    /// is left alone (`Underflow`), never wrapped even for an instant: an
    /// increment racing a double put must see 0 and make its 0→1 transition.
    /// A parked count is left alone (`Parked`).
    #[inline]
    pub fn dec_revivable(&self) -> Dec {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_and_reports_transitions() {
        let c = RefCount::new(0);
        assert_eq!(c.inc(), Inc::FromZero);
        assert_eq!(c.inc(), Inc::Up(1));
        assert_eq!(c.dec_revivable(), Dec::Down(2));
        assert_eq!(c.dec_revivable(), Dec::ToZero);
        assert_eq!(c.dec_revivable(), Dec::Underflow);
        assert_eq!(c.load(), 0);
        assert_eq!(c.inc_not_zero(), None);
    }

    #[test]
    fn fetch_sub_put_undoes_a_put_on_zero() {
        let c = RefCount::new(2);
        assert_eq!(c.dec(), Dec::Down(2));
        assert_eq!(c.dec(), Dec::ToZero);
        assert_eq!(c.dec(), Dec::Underflow);
        assert_eq!(c.load(), 0);
        // A getter that catches the transient wrap refuses, as at zero.
        c.set_for_test(u32::MAX);
        assert_eq!(c.inc_not_zero(), None);
        assert_eq!(RefCount::parked(u32::MAX), None);
        c.set_for_test(MAX);
        assert_eq!(c.dec(), Dec::Down(MAX));
    }

    #[test]
    fn saturates_and_stays() {
        let c = RefCount::new(MAX);
        assert_eq!(c.inc(), Inc::Saturated);
        assert_eq!(c.inc(), Inc::Parked);
        assert_eq!(c.dec(), Dec::Parked);
        assert_eq!(c.dec_revivable(), Dec::Parked);
        assert_eq!(c.load(), SATURATED);
        let d = RefCount::new(MAX);
        assert_eq!(d.inc_not_zero(), Some(Inc::Saturated));
        assert_eq!(d.inc_not_zero(), Some(Inc::Parked));
        assert_eq!(RefCount::parked(d.load()), Some(Parked::Saturated));
    }

    #[test]
    fn dead_is_inert() {
        let c = RefCount::new(0);
        c.mark_dead();
        assert_eq!(c.inc(), Inc::Parked);
        assert_eq!(c.dec(), Dec::Parked);
        assert_eq!(c.dec_revivable(), Dec::Parked);
        assert_eq!(c.inc_not_zero(), Some(Inc::Parked));
        assert_eq!(c.load(), DEAD);
        assert_eq!(RefCount::parked(c.load()), Some(Parked::Dead));
    }
}
