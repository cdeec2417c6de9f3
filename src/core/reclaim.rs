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
//!
//! A batch whose grace period ended is freed by the thread that retired it
//! when possible: crossbeam-epoch runs deferred closures on whichever thread
//! collects, and memory freed by a thread other than the one that allocated
//! it makes the allocator's per-thread arenas contend. So a closure that runs
//! on another thread parks its batch in the retiring stripe's *ready* list,
//! which that stripe's threads drain at their next batch; a ready list that
//! holds [`READY_LIMIT`] batches is drained by whoever adds to it, and
//! [`barrier`] drains them all, so nothing waits there unboundedly.

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
/// Batches a ready list holds before the thread adding one frees them all.
const READY_LIMIT: usize = 4;

#[repr(align(128))]
struct Stripe(Mutex<Vec<Retired>>);

/// A batch past its grace period, waiting for a thread of its stripe.
struct Ready {
    seq: u64,
    objs: Vec<Retired>,
}

#[repr(align(128))]
struct ReadyList(Mutex<Vec<Ready>>);

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Stripe = Stripe(Mutex::new(Vec::new()));
static PENDING: [Stripe; STRIPES] = [EMPTY; STRIPES];
#[allow(clippy::declare_interior_mutable_const)]
const NONE_READY: ReadyList = ReadyList(Mutex::new(Vec::new()));
static READY: [ReadyList; STRIPES] = [NONE_READY; STRIPES];
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
    let s = my_stripe().unwrap_or(0);
    let (batch, seq) = {
        let mut list = PENDING[s].0.lock();
        list.push(Retired { ptr, free });
        if list.len() < BATCH {
            return;
        }
        take(&mut list)
    };
    submit(batch, seq, s);
    drain_ready(s);
}

/// The calling thread's stripe, if it has one.
fn my_stripe() -> Option<usize> {
    STRIPE.try_with(|s| *s).ok()
}

/// Free a batch whose grace period ended and mark it done.
fn run(objs: Vec<Retired>, seq: u64) {
    for r in objs {
        // SAFETY: per `retire`'s contract, each entry is freed once, now that
        // its grace period has elapsed (callers pass only such batches).
        unsafe { (r.free)(r.ptr) };
    }
    OUTSTANDING.lock().remove(&seq);
}

/// Free the batches waiting in stripe `s`'s ready list.
fn drain_ready(s: usize) {
    let ready = std::mem::take(&mut *READY[s].0.lock());
    for b in ready {
        run(b.objs, b.seq);
    }
}

/// A batch's grace period ended, on some thread: free it here if this thread
/// retired it (or shares its stripe), else leave it to the stripe.
fn hand_back(s: usize, objs: Vec<Retired>, seq: u64) {
    if my_stripe() == Some(s) {
        run(objs, seq);
        return;
    }
    let overflow = {
        let mut ready = READY[s].0.lock();
        ready.push(Ready { seq, objs });
        if ready.len() < READY_LIMIT {
            return;
        }
        std::mem::take(&mut *ready)
    };
    for b in overflow {
        run(b.objs, b.seq);
    }
}

/// Take a stripe's pending objects as a batch and register its number as
/// outstanding, both under the stripe's lock: a barrier that visits the
/// stripe afterwards waits for that batch.
fn take(list: &mut Vec<Retired>) -> (Vec<Retired>, u64) {
    let seq = NEXT_BATCH.fetch_add(1, Ordering::Relaxed);
    OUTSTANDING.lock().insert(seq);
    (std::mem::take(list), seq)
}

/// Hand a registered batch of stripe `s` to crossbeam-epoch.
fn submit(batch: Vec<Retired>, seq: u64, s: usize) {
    let guard = epoch::pin();
    let work = move || hand_back(s, batch, seq);
    // SAFETY: the closure only frees (or hands over for freeing) objects that
    // are no longer reachable (see `retire`); crossbeam-epoch runs it after
    // every thread pinned now has unpinned, which is the grace period those
    // objects need.
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
    for (i, s) in PENDING.iter().enumerate() {
        let taken = {
            let mut list = s.0.lock();
            (!list.is_empty()).then(|| take(&mut list))
        };
        if let Some((batch, seq)) = taken {
            submit(batch, seq, i);
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
        // deferred batches whose grace period is over; those handed back to
        // their stripes are freed here.
        epoch::pin().flush();
        for s in 0..STRIPES {
            drain_ready(s);
        }
        spins += 1;
        if spins > 64 {
            std::thread::sleep(std::time::Duration::from_micros(50));
        } else {
            std::thread::yield_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    static FREED: AtomicUsize = AtomicUsize::new(0);

    unsafe fn count_free(p: *mut ()) {
        // SAFETY: `p` is a `Box<u64>` leaked by the test below.
        drop(unsafe { Box::from_raw(p.cast::<u64>()) });
        FREED.fetch_add(1, Ordering::Relaxed);
    }

    /// Batches retired by threads that exit before their grace period ends
    /// are handed back to stripes no thread drains any more: the barrier
    /// frees them, and the overflow rule frees them when other threads keep
    /// collecting.
    #[test]
    fn batches_of_exited_threads_are_freed() {
        const PER_THREAD: usize = BATCH * (READY_LIMIT + 2) + 5;
        let threads: Vec<_> = (0..3)
            .map(|_| {
                std::thread::spawn(|| {
                    for i in 0..PER_THREAD {
                        let p = Box::into_raw(Box::new(i as u64)).cast::<()>();
                        // SAFETY: `p` is reachable from nowhere else and
                        // `count_free` frees it once.
                        unsafe { retire(p, count_free) };
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        for _ in 0..1000 {
            epoch::pin().flush();
        }
        assert!(barrier());
        assert_eq!(FREED.load(Ordering::Relaxed), 3 * PER_THREAD);
    }
}
