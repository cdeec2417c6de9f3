//! The counters (`core::refcount`) under loom: the relay model's
//! `LookupCount` (gets that race the last put) and the Babeltrace model's
//! `RefCount` (unconditional gets, 0→1 transitions).
//!
//! A relay object here is a count, the object's contents (a loom `UnsafeCell`,
//! read by whoever holds a reference and overwritten by the release, as a
//! free would) and a count of releases. loom reports any read of the contents
//! that is not ordered before the release: a release that could run while a
//! reference is still held, or a missing acquire on the way to zero.

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use traceref_loom_tests::core::refcount::{Dec, Inc, LookupCount, Parked, RefCount};
use traceref_loom_tests::limits::{DEAD, MAX, SATURATED};
use traceref_loom_tests::model;

const LIVE: u32 = 0x11fe;
const FREED: u32 = 0xdead;

struct Obj {
    count: LookupCount,
    data: UnsafeCell<u32>,
    releases: AtomicUsize,
}

impl Obj {
    /// One reference.
    fn new() -> Self {
        Obj {
            count: LookupCount::new(),
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
        let d = self.count.put();
        match d {
            Dec::ToZero => {
                self.releases.fetch_add(1, SeqCst);
                self.data.with_mut(|p| unsafe { *p = FREED });
            }
            Dec::Down(n) => assert!(n >= 1),
            other => panic!("put on a held reference returned {other:?}"),
        }
        d
    }

    /// The relay getter: take a reference unless the object is released.
    /// `Up(0)`: it revived a count whose last put had not confirmed yet.
    fn try_get(&self) -> bool {
        match self.count.get() {
            None => false,
            Some(Inc::Up(_)) => true,
            Some(other) => panic!("get on a small count returned {other:?}"),
        }
    }
}

/// Thread A drops the only reference; thread B tries a get. B either fails
/// (A's put was confirmed first), or succeeds before the put or before its
/// confirmation, and then A's put does not release: the release runs once,
/// after B's use.
#[test]
fn get_races_last_put() {
    model("get_races_last_put", 3, || {
        let o = Arc::new(Obj::new());
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
        assert_eq!(o.count.refs(), 0);
    });
}

/// The same with two getters, each using the object and dropping its
/// reference: the release runs exactly once, after every successful getter
/// is done with the object.
#[test]
fn two_getters_race_last_put() {
    model("two_getters_race_last_put", 3, || {
        let o = Arc::new(Obj::new());
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
        assert_eq!(o.count.refs(), 0);
    });
}

/// A double put (a caller's misuse) racing the last put and a getter. A
/// getter only takes a reference from an ordinary count (`try_get` panics
/// otherwise); the object is released at most once (a double put may make
/// it leak, parked as released, never free it twice), and the count ends at
/// zero.
#[test]
fn double_put_races_getter() {
    model("double_put_races_getter", 3, || {
        let o = Arc::new(Obj::new());
        let put = |o: &Obj| {
            if o.count.put() == Dec::ToZero {
                o.releases.fetch_add(1, SeqCst);
            }
        };
        let misuse = {
            let o = o.clone();
            thread::spawn(move || put(&o))
        };
        let getter = {
            let o = o.clone();
            thread::spawn(move || {
                if o.try_get() {
                    put(&o);
                }
            })
        };
        put(&o);
        misuse.join().unwrap();
        getter.join().unwrap();
        assert!(o.releases.load(SeqCst) <= 1);
        assert_eq!(o.count.refs(), 0);
    });
}

/// Two double puts on a released object (still inside its grace period)
/// racing a getter: both are reported, the getter is refused, and the count
/// stays released.
#[test]
fn double_puts_after_release_race_getter() {
    model("double_puts_after_release_race_getter", 3, || {
        let c = Arc::new(LookupCount::new());
        assert_eq!(c.put(), Dec::ToZero);
        let putters: Vec<_> = (0..2)
            .map(|_| {
                let c = c.clone();
                thread::spawn(move || assert_eq!(c.put(), Dec::Underflow))
            })
            .collect();
        assert_eq!(c.get(), None);
        for p in putters {
            p.join().unwrap();
        }
        assert_eq!(c.refs(), 0);
        assert_eq!(c.get(), None);
    });
}

/// Unconditional gets (0→1 is legal for the Babeltrace model) racing puts
/// that reach zero: each 1→0 is answered by one release, and every 0→1 by
/// an object that is live again, so the number of ToZero results is the
/// number of FromZero results plus one (the initial reference).
#[test]
fn zero_transitions_race() {
    model("zero_transitions_race", 3, || {
        let c = Arc::new(RefCount::new(1));
        let t = {
            let c = c.clone();
            thread::spawn(move || {
                let from_zero = matches!(c.inc(), Inc::FromZero);
                let to_zero = matches!(c.dec(), Dec::ToZero);
                (from_zero as u32, to_zero as u32)
            })
        };
        let main_to_zero = matches!(c.dec(), Dec::ToZero) as u32;
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

/// Increments racing at the limit: three on a count at `MAX`. The first in
/// the count's modification order reports the saturation, the others find it
/// parked, and the count ends parked as saturated.
#[test]
fn saturation_increments_race() {
    model("saturation_increments_race", 3, || {
        let c = Arc::new(RefCount::new(MAX));
        let reports = Arc::new(AtomicUsize::new(0));
        let inc = |c: &RefCount, reports: &AtomicUsize| match c.inc() {
            Inc::Saturated => {
                reports.fetch_add(1, SeqCst);
            }
            Inc::Parked => {}
            other => panic!("increment at the limit returned {other:?}"),
        };
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let (c, reports) = (c.clone(), reports.clone());
                thread::spawn(move || inc(&c, &reports))
            })
            .collect();
        inc(&c, &reports);
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(reports.load(SeqCst), 1);
        let end = c.load();
        assert_eq!(RefCount::parked(end), Some(Parked::Saturated), "{end:#x}");
    });
}

/// Two gets and a put racing on a lookup count at its limit. Each get
/// reports the saturation or finds the count parked; two reports are
/// possible (the put can take the count back to the limit before the first
/// get parks it), more are not; the count ends saturated.
#[test]
fn lookup_saturation_race() {
    model("lookup_saturation_race", 3, || {
        // MAX + 1 references: the largest ordinary count.
        let c = Arc::new(LookupCount::new());
        c.set_refs_for_test(MAX + 1);
        let reports = Arc::new(AtomicUsize::new(0));
        let get = |c: &LookupCount, reports: &AtomicUsize| match c.get() {
            Some(Inc::Saturated) => {
                reports.fetch_add(1, SeqCst);
            }
            Some(Inc::Parked) | Some(Inc::Up(_)) => {}
            other => panic!("get at the limit returned {other:?}"),
        };
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let (c, reports) = (c.clone(), reports.clone());
                thread::spawn(move || get(&c, &reports))
            })
            .collect();
        let d = c.put();
        assert!(matches!(d, Dec::Parked | Dec::Down(_)), "{d:?}");
        for t in ts {
            t.join().unwrap();
        }
        let n = reports.load(SeqCst);
        assert!((1..=2).contains(&n), "{n} saturation reports");
        assert_eq!(c.refs(), SATURATED);
    });
}

/// An increment and a decrement racing on a count at `MAX`: either the
/// increment saturates the count first, and the decrement finds it parked;
/// or the decrement comes first and both are ordinary.
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

/// A parked Babeltrace count (saturated, or dead: under destruction) never
/// leaves its region and never reports a transition, whatever gets and puts
/// race on it: a racing increment moves it by a unit or two at most before
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
                    assert_eq!(c.inc(), Inc::Parked);
                })
            };
            assert_eq!(c.dec(), Dec::Parked);
            in_region(&c);
            assert_eq!(c.inc(), Inc::Parked);
            t.join().unwrap();
            in_region(&c);
        });
    }
}

/// A released lookup count stays released: racing gets are refused and
/// racing puts are reported, and none of them revives it.
#[test]
fn released_region_holds() {
    model("released_region_holds", 3, || {
        let c = Arc::new(LookupCount::new());
        assert_eq!(c.put(), Dec::ToZero);
        let t = {
            let c = c.clone();
            thread::spawn(move || {
                assert_eq!(c.get(), None);
                assert_eq!(c.put(), Dec::Underflow);
                assert_eq!(c.get(), None);
            })
        };
        assert_eq!(c.get(), None);
        assert_eq!(c.put(), Dec::Underflow);
        t.join().unwrap();
        assert_eq!(c.refs(), 0);
        assert_eq!(c.get(), None);
    });
}
