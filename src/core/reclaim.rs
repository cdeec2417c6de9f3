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
//! Where the frees run: crossbeam-epoch runs a deferred closure on whichever
//! thread next collects, and every pin may collect, so a closure can run
//! inside an application's lookup, get or put. The closure therefore frees
//! nothing: it moves its batch to the *ready* list. Ready batches are freed
//! (their payload destructors run) only by the library's reclaim thread,
//! which also drives the epoch while batches are outstanding, and by
//! [`barrier`], documented to reclaim on its caller's thread. So no
//! destructor runs where the application may hold a lock that it takes
//! (liburcu's `call_rcu` thread, for the same reason).

use crossbeam_epoch::{self as epoch, Guard};
use parking_lot::{Condvar, Mutex};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
/// How often the reclaim thread tries to advance the epoch while batches
/// are outstanding.
const POLL: Duration = Duration::from_millis(1);

#[repr(align(128))]
struct Stripe(Mutex<Vec<Retired>>);

/// A batch past its grace period, waiting to be freed.
struct Ready {
    seq: u64,
    objs: Vec<Retired>,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Stripe = Stripe(Mutex::new(Vec::new()));
static PENDING: [Stripe; STRIPES] = [EMPTY; STRIPES];
static NEXT_BATCH: AtomicU64 = AtomicU64::new(1);
/// Batches handed to crossbeam-epoch and not yet freed.
static OUTSTANDING: Mutex<BTreeSet<u64>> = Mutex::new(BTreeSet::new());

/// The reclaim thread's mailbox.
struct Reclaimer {
    /// Batches whose grace period ended.
    ready: Vec<Ready>,
    /// The thread, once started (in this process).
    thread: Option<std::thread::JoinHandle<()>>,
    /// Whether it waits for work (and must be woken by a new batch).
    idle: bool,
    /// Asked to stop (at process exit), and whether it did.
    stop: bool,
    stopped: bool,
}

static RECLAIMER: Mutex<Reclaimer> = Mutex::new(Reclaimer {
    ready: Vec::new(),
    thread: None,
    idle: false,
    stop: false,
    stopped: false,
});
/// Wakes the reclaim thread (new batch, stop request) and the exit handler
/// waiting for it to stop.
static WAKE: Condvar = Condvar::new();

thread_local! {
    static STRIPE: usize = {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        (NEXT.fetch_add(1, Ordering::Relaxed) as usize) % STRIPES
    };
    /// Guard of an explicit read-side section, and its nesting depth.
    static READ_SECTION: RefCell<(usize, Option<Guard>)> = const { RefCell::new((0, None)) };
}

/// Retire `ptr`: `free(ptr)` runs after a grace period, on the reclaim
/// thread or inside a [`barrier`], never on the calling thread otherwise.
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
    wake_reclaimer();
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

/// Free every ready batch, on the calling thread (the reclaim thread, or a
/// barrier's caller).
fn drain_ready() -> bool {
    let ready = std::mem::take(&mut RECLAIMER.lock().ready);
    let any = !ready.is_empty();
    for b in ready {
        run(b.objs, b.seq);
    }
    any
}

/// Take a stripe's pending objects as a batch and register its number as
/// outstanding, both under the stripe's lock: a barrier that visits the
/// stripe afterwards waits for that batch.
fn take(list: &mut Vec<Retired>) -> (Vec<Retired>, u64) {
    let seq = NEXT_BATCH.fetch_add(1, Ordering::Relaxed);
    OUTSTANDING.lock().insert(seq);
    (std::mem::take(list), seq)
}

/// Hand a registered batch to crossbeam-epoch. Its closure, run after the
/// grace period on whatever thread collects, only moves the batch to the
/// ready list.
fn submit(objs: Vec<Retired>, seq: u64) {
    let guard = epoch::pin();
    let work = move || RECLAIMER.lock().ready.push(Ready { seq, objs });
    // SAFETY: the closure only hands over objects that are no longer
    // reachable (see `retire`); crossbeam-epoch runs it after every thread
    // pinned now has unpinned, which is the grace period those objects need.
    unsafe { guard.defer_unchecked(work) };
    guard.flush();
}

/// Start the reclaim thread on first use, or wake it if it waits for work.
fn wake_reclaimer() {
    let mut r = RECLAIMER.lock();
    if r.thread.is_none() && !r.stop {
        let spawned = std::thread::Builder::new()
            .name("traceref-reclaim".into())
            .spawn(reclaim_thread);
        match spawned {
            Ok(t) => {
                r.thread = Some(t);
                register_process_handlers();
            }
            Err(e) => crate::core::diag::misuse!(
                "traceref",
                "cannot start the reclaim thread ({e}); objects are freed only by traceref_reclaim_barrier()"
            ),
        }
    } else if r.idle {
        r.idle = false;
        WAKE.notify_all();
    }
}

/// The reclaim thread: while batches are outstanding, advance the epoch
/// (which moves expired batches to the ready list) and free what is ready;
/// otherwise sleep until a batch is submitted. Stops when asked at exit.
fn reclaim_thread() {
    loop {
        let freed = drain_ready();
        let outstanding = !OUTSTANDING.lock().is_empty();
        let mut r = RECLAIMER.lock();
        if r.stop {
            r.stopped = true;
            WAKE.notify_all();
            return;
        }
        if !r.ready.is_empty() {
            continue;
        }
        if outstanding {
            drop(r);
            epoch::pin().flush();
            if !freed {
                let mut r = RECLAIMER.lock();
                if r.ready.is_empty() && !r.stop {
                    WAKE.wait_for(&mut r, POLL);
                }
            }
        } else {
            r.idle = true;
            while r.idle && !r.stop {
                WAKE.wait(&mut r);
            }
        }
    }
}

/// At process exit, stop the reclaim thread and join it, so that nothing of
/// it is left (memory checkers report a running thread's TLS as leaked).
/// Waits at most a second: a payload destructor that blocks is not waited
/// for.
extern "C" fn stop_at_exit() {
    let mut r = RECLAIMER.lock();
    if r.thread.is_none() {
        return;
    }
    r.stop = true;
    WAKE.notify_all();
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while !r.stopped {
        if WAKE.wait_until(&mut r, deadline).timed_out() {
            return;
        }
    }
    let t = r.thread.take();
    drop(r);
    if let Some(t) = t {
        let _ = t.join();
        // The thread's epoch registration is unlinked and freed by later
        // collections only: run a few, so that it is not left behind.
        for _ in 0..8 {
            epoch::pin().flush();
        }
    }
}

/// A lock that a fork's child may find held by a thread that did not follow.
trait ForceUnlock {
    /// # Safety
    /// Only in a fork's child, before it starts threads.
    unsafe fn force_unlock_if_locked(&self);
}

impl<T> ForceUnlock for Mutex<T> {
    unsafe fn force_unlock_if_locked(&self) {
        if self.is_locked() {
            // SAFETY: per the trait's contract, the holder is gone.
            unsafe { self.force_unlock() };
        }
    }
}

/// Register, once, the exit handler and the fork handler: after a fork the
/// child has no reclaim thread, and the next batch starts one.
fn register_process_handlers() {
    extern "C" fn in_child() {
        // The fork copied the forking thread alone, which holds none of
        // these locks (fork is not called from inside this library); a lock
        // held at that instant belonged to a thread that is gone.
        for m in [&OUTSTANDING as &dyn ForceUnlock, &RECLAIMER] {
            // SAFETY: no other thread runs in the child yet, and the lock's
            // holder, if any, does not exist here.
            unsafe { m.force_unlock_if_locked() };
        }
        let mut r = RECLAIMER.lock();
        // The handle names the parent's thread: never join or detach it.
        std::mem::forget(r.thread.take());
        r.idle = false;
        r.stop = false;
        r.stopped = false;
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: both handlers touch only this module's statics;
        // pthread_atfork and atexit have no other precondition.
        unsafe {
            libc::pthread_atfork(None, None, Some(in_child));
            libc::atexit(stop_at_exit);
        }
    });
}

/// A read-side section for the library's own use: whatever is retired while
/// the guard lives stays allocated until it is dropped.
pub fn section() -> Guard {
    epoch::pin()
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
        // deferred batches whose grace period is over; those handed back to
        // their stripes are freed here.
        epoch::pin().flush();
        drain_ready();
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

    static FREED_ELSEWHERE: AtomicUsize = AtomicUsize::new(0);

    thread_local! {
        static RETIRING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    unsafe fn count_free_checked(p: *mut ()) {
        if RETIRING.with(|r| r.get()) {
            FREED_ELSEWHERE.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as in `count_free`.
        unsafe { count_free(p) };
    }

    /// Objects retired by threads that keep pinning (as lookups do) and then
    /// exit are freed by the reclaim thread without a barrier, never on a
    /// retiring thread; the barrier then finds nothing left.
    #[test]
    fn batches_are_freed_by_the_reclaim_thread() {
        const PER_THREAD: usize = BATCH * 6 + 5;
        let before = FREED.load(Ordering::Relaxed);
        let threads: Vec<_> = (0..3)
            .map(|_| {
                std::thread::spawn(|| {
                    RETIRING.with(|r| r.set(true));
                    for i in 0..PER_THREAD {
                        let p = Box::into_raw(Box::new(i as u64)).cast::<()>();
                        // SAFETY: `p` is reachable from nowhere else and
                        // `count_free_checked` frees it once.
                        unsafe { retire(p, count_free_checked) };
                        for _ in 0..200 {
                            drop(epoch::pin());
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let full_batches = 3 * (PER_THREAD / BATCH) * BATCH;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while FREED.load(Ordering::Relaxed) - before < full_batches / 2
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(FREED.load(Ordering::Relaxed) - before >= full_batches / 2);
        assert!(barrier());
        assert_eq!(FREED.load(Ordering::Relaxed) - before, 3 * PER_THREAD);
        assert_eq!(FREED_ELSEWHERE.load(Ordering::Relaxed), 0);
    }
}
