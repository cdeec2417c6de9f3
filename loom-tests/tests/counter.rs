//! The counter (`core::refcount`) under loom.
//!
//! An object here is a count, the object's contents (a loom `UnsafeCell`,
//! read by whoever holds a reference and overwritten by the release, as a
//! free would) and a count of releases. loom reports any read of the contents
//! that is not ordered before the release: a release that could run while a
//! reference is still held, or a missing acquire on the way to zero.

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use traceref_loom_tests::core::refcount::{Dec, Inc, Parked, RefCount};
use traceref_loom_tests::limits::{DEAD, MAX, SATURATED};
use traceref_loom_tests::model;

const LIVE: u32 = 0x11fe;
const FREED: u32 = 0xdead;

struct Obj {
    count: RefCount,
    data: UnsafeCell<u32>,
    releases: AtomicUsize,
}

impl Obj {
    fn new(count: u32) -> Self {
        Obj {
            count: RefCount::new(count),
            data: UnsafeCell::new(LIVE),
            releases: AtomicUsize::new(0),
        }
    }

    /// Read the contents under a held reference: they must still be there.
    fn use_it(&self) {
        assert_eq!(self.releases.load(SeqCst), 0, "released under a reference");
        self.data.with(|p| assert_eq!(unsafe { *p }, LIVE));
    }

    /// Drop a reference; the put that reaches zero releases.
    fn put(&self) -> Dec {
        let d = self.count.dec();
        match d {
            Dec::ToZero => {
                self.releases.fetch_add(1, SeqCst);
                self.data.with_mut(|p| unsafe { *p = FREED });
            }
            Dec::Down(n) => assert!(n > 1),
            other => panic!("put on a held reference returned {other:?}"),
        }
        d
    }

    /// The relay getter: take a reference unless the count is zero.
    fn try_get(&self) -> bool {
        match self.count.inc_not_zero() {
            None => false,
            Some(Inc::Up(n)) => {
                assert!(n >= 1);
                true
            }
            Some(other) => panic!("inc_not_zero on a small count returned {other:?}"),
        }
    }
}

/// Thread A drops the only reference; thread B tries increment-unless-zero.
/// B either fails (A's put reached zero first), or succeeds before the put,
/// which then does not reach zero: the release runs once, after B's use.
#[test]
fn inc_not_zero_races_last_put() {
    model("inc_not_zero_races_last_put", 3, || {
        let o = Arc::new(Obj::new(1));
        let b = {
            let o = o.clone();
            thread::spawn(move || {
                if !o.try_get() {
                    return None;
                }
                o.use_it();
                Some(o.put())
            })
        };
        let a = o.put();
        let b = b.join().unwrap();
        match b {
            None => assert_eq!(a, Dec::ToZero),
            Some(b) => {
                // Exactly one of the two puts reached zero.
                assert!(
                    (a == Dec::ToZero) != (b == Dec::ToZero),
                    "A put {a:?}, B put {b:?}"
                );
            }
        }
        assert_eq!(o.releases.load(SeqCst), 1);
        assert_eq!(o.count.load(), 0);
    });
}

/// The same with two getters, each using the object and dropping its
/// reference: the release runs exactly once, after every successful getter
/// is done with the object.
#[test]
fn two_getters_race_last_put() {
    model("two_getters_race_last_put", 3, || {
        let o = Arc::new(Obj::new(1));
        let getters: Vec<_> = (0..2)
            .map(|_| {
                let o = o.clone();
                thread::spawn(move || {
                    if o.try_get() {
                        o.use_it();
                        o.put();
                    }
                })
            })
            .collect();
        o.put();
        for g in getters {
            g.join().unwrap();
        }
        assert_eq!(o.releases.load(SeqCst), 1);
        assert_eq!(o.count.load(), 0);
    });
}

/// A double put (a caller's misuse) racing the last put and a getter, with
/// puts as one `fetch_sub`: the put on zero wraps for an instant and undoes
/// its step. A getter never takes a reference from anything but an ordinary
/// count (`Inc::Up(n)`, n >= 1; `try_get` panics otherwise), whatever it
/// catches; the object is released once and the count ends at zero.
#[test]
fn double_put_races_getter() {
    model("double_put_races_getter", 3, || {
        let o = Arc::new(Obj::new(1));
        let misuse = {
            let o = o.clone();
            thread::spawn(move || {
                if o.count.dec() == Dec::ToZero {
                    o.releases.fetch_add(1, SeqCst);
                }
            })
        };
        let getter = {
            let o = o.clone();
            thread::spawn(move || {
                if o.try_get() && o.count.dec() == Dec::ToZero {
                    o.releases.fetch_add(1, SeqCst);
                }
            })
        };
        if o.count.dec() == Dec::ToZero {
            o.releases.fetch_add(1, SeqCst);
        }
        misuse.join().unwrap();
        getter.join().unwrap();
        assert_eq!(o.releases.load(SeqCst), 1);
        assert_eq!(o.count.load(), 0);
    });
}

/// Two double puts on a count already at zero (a released object still
/// inside its grace period), overlapping so that the count wraps twice
/// before either undoes, racing a getter: both report the underflow, the
/// getter is refused, and the count ends at zero.
#[test]
fn double_puts_at_zero_race_getter() {
    model("double_puts_at_zero_race_getter", 3, || {
        let c = Arc::new(RefCount::new(0));
        let putters: Vec<_> = (0..2)
            .map(|_| {
                let c = c.clone();
                thread::spawn(move || assert_eq!(c.dec(), Dec::Underflow))
            })
            .collect();
        assert_eq!(c.inc_not_zero(), None);
        for p in putters {
            p.join().unwrap();
        }
        assert_eq!(c.load(), 0);
    });
}

/// Unconditional gets (0→1 is legal for the Babeltrace model) racing puts
/// that reach zero: each 1→0 is answered by one release, and every 0→1 by
/// an object that is live again, so the number of ToZero results is the
/// number of FromZero results plus one (the initial reference). The
/// Babeltrace model's puts are the compare-and-swap `dec_revivable`.
#[test]
fn zero_transitions_race() {
    model("zero_transitions_race", 3, || {
        let c = Arc::new(RefCount::new(1));
        let t = {
            let c = c.clone();
            thread::spawn(move || {
                let from_zero = matches!(c.inc(), Inc::FromZero);
                let to_zero = matches!(c.dec_revivable(), Dec::ToZero);
                (from_zero as u32, to_zero as u32)
            })
        };
        let main_to_zero = matches!(c.dec_revivable(), Dec::ToZero) as u32;
        let (from_zero, to_zero) = t.join().unwrap();
        assert_eq!(c.load(), 0);
        assert_eq!(to_zero + main_to_zero, from_zero + 1);
    });
}

// On the saturation and parked paths the counter mixes plain stores (putting
// a parked count back to its parking value) with read-modify-writes. loom
// orders a plain store that races a read-modify-write less strictly than the
// C++ model does (a later load of the storing thread may still return the
// other thread's older value), so these models check what holds under both:
// the results of the operations, the region the count is in, and final
// values that no such race can leave stale.

/// Increments racing at the limit: an increment, an increment-unless-zero
/// and a second increment on a count at `MAX`. Each reports the saturation
/// or finds the count parked, and the count ends parked as saturated. Two
/// reports are possible (an increment-unless-zero that read `MAX` stores the
/// parking value without a read-modify-write, so it and an increment can
/// both see `MAX`); more are not.
#[test]
fn saturation_increments_race() {
    model("saturation_increments_race", 3, || {
        let c = Arc::new(RefCount::new(MAX));
        let reports = Arc::new(AtomicUsize::new(0));
        let check = |r: Option<Inc>, reports: &AtomicUsize| match r {
            Some(Inc::Saturated) => {
                reports.fetch_add(1, SeqCst);
            }
            Some(Inc::Parked) => {}
            other => panic!("increment at the limit returned {other:?}"),
        };
        let spawn = |f: fn(&RefCount) -> Option<Inc>| {
            let c = c.clone();
            let reports = reports.clone();
            thread::spawn(move || check(f(&c), &reports))
        };
        let t1 = spawn(|c| Some(c.inc()));
        let t2 = spawn(|c| c.inc_not_zero());
        check(Some(c.inc()), &reports);
        t1.join().unwrap();
        t2.join().unwrap();
        let n = reports.load(SeqCst);
        assert!((1..=2).contains(&n), "{n} saturation reports");
        let end = c.load();
        assert_eq!(RefCount::parked(end), Some(Parked::Saturated), "{end:#x}");
    });
}

/// An increment and a decrement racing on a count at `MAX`: either the
/// increment saturates the count first, and the decrement finds it parked
/// and gives its unit back; or the decrement comes first and both are
/// ordinary.
#[test]
fn saturation_races_decrement() {
    model("saturation_races_decrement", 3, || {
        let c = Arc::new(RefCount::new(MAX));
        let t = {
            let c = c.clone();
            thread::spawn(move || c.inc())
        };
        let d = c.dec();
        let i = t.join().unwrap();
        match (i, d) {
            (Inc::Saturated, Dec::Parked) => {
                let end = c.load();
                assert_eq!(RefCount::parked(end), Some(Parked::Saturated), "{end:#x}");
            }
            (Inc::Up(n), Dec::Down(m)) => {
                assert_eq!((n, m), (MAX - 1, MAX));
                assert_eq!(c.load(), MAX);
            }
            other => panic!("increment and decrement at the limit returned {other:?}"),
        }
    });
}

/// A parked count (saturated, or dead: under destruction) never leaves its
/// region and never reports a transition, whatever gets and puts race on
/// it: a racing read-modify-write moves it by a unit or two at most before
/// it is put back.
#[test]
fn parked_regions_hold() {
    for (start, region) in [(SATURATED, Parked::Saturated), (DEAD, Parked::Dead)] {
        model("parked_regions_hold", 3, move || {
            let c = Arc::new(RefCount::new(start));
            if region == Parked::Dead {
                // As the destruction parks it.
                c.mark_dead();
            }
            let in_region = move |c: &RefCount| {
                let v = c.load();
                assert_eq!(RefCount::parked(v), Some(region), "{v:#x}");
            };
            let t = {
                let c = c.clone();
                thread::spawn(move || {
                    assert_eq!(c.inc(), Inc::Parked);
                    in_region(&c);
                    assert_eq!(c.inc_not_zero(), Some(Inc::Parked));
                })
            };
            assert_eq!(c.dec(), Dec::Parked);
            in_region(&c);
            assert_eq!(c.inc_not_zero(), Some(Inc::Parked));
            t.join().unwrap();
            in_region(&c);
        });
    }
}
