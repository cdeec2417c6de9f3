//! Deferred reclamation: the `call_rcu`, `rcu_read_lock` and `rcu_barrier`
//! of this library, built on crossbeam-epoch.
//!
//! Readers run inside an epoch pin (a read-side section). An object whose
//! last reference is dropped is first unlinked from every table, then
//! *retired*: its memory is freed only once every thread that was inside a
//! read-side section at that time has left it.
//!
//! Retired objects are gathered in a few striped lists and handed to
//! crossbeam-epoch in batches (one deferred closure per batch). The striped
//! lists are global rather than thread-local so that [`barrier`] can hand
//! every pending object over and then wait for exactly the batches that were
//! outstanding when it was called.

use crossbeam_epoch::{self as epoch, Guard};
use parking_lot::Mutex;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

/// An object waiting for its grace period.
struct Retired {
    ptr: *mut (),
    free: unsafe fn(*mut ()),
}

// SAFETY: a retired object is unreachable from every table and has no
// counted reference left: only the reclaiming thread touches it, once.
unsafe impl Send for Retired {}

const STRIPES: usize = 8;
const BATCH: usize = 32;

#[repr(align(128))]
struct Stripe(Mutex<Vec<Retired>>);

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Stripe = Stripe(Mutex::new(Vec::new()));
static PENDING: [Stripe; STRIPES] = [EMPTY; STRIPES];
static NEXT_BATCH: AtomicU64 = AtomicU64::new(1);
/// Batches handed to crossbeam-epoch and not yet freed.
static OUTSTANDING: Mutex<BTreeSet<u64>> = Mutex::new(BTreeSet::new());

thread_local! {
    static STRIPE: usize = {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        (NEXT.fetch_add(1, Ordering::Relaxed) as usize) % STRIPES
    };
    /// Guard of an explicit read-side section, and its nesting depth.
    static READ_SECTION: RefCell<(usize, Option<Guard>)> = const { RefCell::new((0, None)) };
}

/// Retire `ptr`: `free(ptr)` runs after a grace period, on some thread.
///
/// # Safety
/// `ptr` is unreachable from every table and list that readers walk, and no
/// counted reference to it remains. `free` frees it exactly once.
pub unsafe fn retire(ptr: *mut (), free: unsafe fn(*mut ())) {
    let s = STRIPE.try_with(|s| *s).unwrap_or(0);
    let (batch, seq) = {
        let mut list = PENDING[s].0.lock();
        list.push(Retired { ptr, free });
        if list.len() < BATCH {
            return;
        }
        take(&mut list)
    };
    submit(batch, seq);
}

/// Take a stripe's pending objects as a batch and register its number as
/// outstanding, both under the stripe's lock: a barrier that visits the
/// stripe afterwards waits for that batch.
fn take(list: &mut Vec<Retired>) -> (Vec<Retired>, u64) {
    let seq = NEXT_BATCH.fetch_add(1, Ordering::Relaxed);
    OUTSTANDING.lock().insert(seq);
    (std::mem::take(list), seq)
}

/// Hand a registered batch to crossbeam-epoch.
fn submit(batch: Vec<Retired>, seq: u64) {
    let guard = epoch::pin();
    let work = move || {
        for r in batch {
            // SAFETY: per `retire`'s contract, each entry is freed once, now
            // that its grace period has elapsed.
            unsafe { (r.free)(r.ptr) };
        }
        OUTSTANDING.lock().remove(&seq);
    };
    // SAFETY: the closure only frees objects that are no longer reachable
    // (see `retire`); crossbeam-epoch runs it after every thread pinned now
    // has unpinned, which is the grace period those objects need.
    unsafe { guard.defer_unchecked(work) };
    guard.flush();
}

/// Whether the calling thread is inside an explicit read-side section.
pub fn in_read_section() -> bool {
    READ_SECTION.try_with(|r| r.borrow().0 > 0).unwrap_or(false)
}

/// Enter an explicit, nestable read-side section.
pub fn read_lock() {
    let _ = READ_SECTION.try_with(|r| {
        let mut r = r.borrow_mut();
        if r.0 == 0 {
            r.1 = Some(epoch::pin());
        }
        r.0 += 1;
    });
}

/// Leave a read-side section. Returns false when none was entered.
pub fn read_unlock() -> bool {
    READ_SECTION
        .try_with(|r| {
            let mut r = r.borrow_mut();
            if r.0 == 0 {
                return false;
            }
            r.0 -= 1;
            if r.0 == 0 {
                r.1 = None;
            }
            true
        })
        .unwrap_or(false)
}

/// Wait until every object retired before the call has been freed. Must not
/// be called inside a read-side section (it would wait for itself): returns
/// false, doing nothing, in that case.
pub fn barrier() -> bool {
    if in_read_section() {
        return false;
    }
    for s in PENDING.iter() {
        let taken = {
            let mut list = s.0.lock();
            (!list.is_empty()).then(|| take(&mut list))
        };
        if let Some((batch, seq)) = taken {
            submit(batch, seq);
        }
    }
    let upto = NEXT_BATCH.load(Ordering::Relaxed);
    let mut spins = 0u32;
    loop {
        let done = OUTSTANDING
            .lock()
            .first()
            .is_none_or(|&first| first >= upto);
        if done {
            return true;
        }
        // Each pin-and-flush tries to advance the global epoch and runs the
        // deferred batches whose grace period is over.
        epoch::pin().flush();
        spins += 1;
        if spins > 64 {
            std::thread::sleep(std::time::Duration::from_micros(50));
        } else {
            std::thread::yield_now();
        }
    }
}
