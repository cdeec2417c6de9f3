//! The census: how many library objects are alive, per kind.
//!
//! An object is counted from its creation (or `bt_object_init`) until it is
//! reclaimed. Counters are striped over cache lines so that threads creating
//! and reclaiming objects concurrently do not all hit one line.

use super::kind::{Kind, ALL};
use std::sync::atomic::{AtomicIsize, Ordering};

const STRIPES: usize = 16;

#[repr(align(128))]
struct Stripe([AtomicIsize; ALL.len()]);

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicIsize = AtomicIsize::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const STRIPE: Stripe = Stripe([ZERO; ALL.len()]);
static CENSUS: [Stripe; STRIPES] = [STRIPE; STRIPES];

#[inline]
fn stripe() -> &'static Stripe {
    thread_local! {
        static SLOT: usize = {
            use std::sync::atomic::AtomicUsize;
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES
        };
    }
    let i = SLOT.try_with(|s| *s).unwrap_or(0);
    &CENSUS[i]
}

/// An object of `kind` came to life.
#[inline]
pub fn born(kind: Kind) {
    stripe().0[kind.index()].fetch_add(1, Ordering::Relaxed);
}

/// An object of `kind` was reclaimed.
#[inline]
pub fn died(kind: Kind) {
    stripe().0[kind.index()].fetch_sub(1, Ordering::Relaxed);
}

/// Live objects of one kind.
pub fn live_of(kind: Kind) -> usize {
    let i = kind.index();
    let n: isize = CENSUS.iter().map(|s| s.0[i].load(Ordering::Relaxed)).sum();
    n.max(0) as usize
}

/// Live objects of every kind.
pub fn live() -> usize {
    ALL.iter().map(|k| live_of(*k)).sum()
}
