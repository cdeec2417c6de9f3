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
//! nothing: it moves its batch to the *ready* list. A ready batch is
//! *finished* (its objects' finishers run: the application's payload
//! destructors) only by the library's reclaim thread, which also drives the
//! epoch while batches are outstanding, and by [`barrier`], documented to
//! reclaim on its caller's thread. So no destructor runs where the
//! application may hold a lock that it takes (liburcu's `call_rcu` thread,
//! for the same reason).
//!
//! The memory itself is the library's and its free runs no application
//! code: a finished batch is *handed back* to the stripe that retired it,
//! and a thread of that stripe frees it at its next object creation
//! ([`free_handed_back`]), so that memory is freed by the thread that
//! allocated it (glibc's per-thread arenas contend otherwise, and the
//! allocation that follows reuses what was just freed). A batch with
//! nothing to finish goes back to its stripe straight from the deferred
//! closure (which only moves it). Whatever a stripe has not taken back
//! after [`STALE`] the reclaim thread frees, and [`barrier`] frees
//! everything.

use crossbeam_epoch::{self as epoch, Guard};
use parking_lot::{Condvar, Mutex};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// An object waiting for its grace period.
struct Retired {
    ptr: *mut (),
    /// Runs the application's code that goes with the object (its payload
    /// destructor), on the reclaim thread or in a barrier.
    finish: Option<unsafe fn(*mut ())>,
    /// Frees the object's memory; runs no application code.
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

/// How long a batch handed back to its stripe waits for a thread of that
/// stripe to free it before the reclaim thread frees it itself (the
/// stripe's threads may have stopped creating objects).
const STALE: Duration = Duration::from_millis(20);

/// How long retired objects wait in their stripe for a batch to fill before
/// the reclaim thread submits them as they are. It bounds the time from an
/// object's last put to its free, and so to its owner's free function,
/// which may release files and other resources that wait on it.
const LINGER: Duration = Duration::from_millis(10);

/// A batch past its grace period, waiting to be finished and freed.
struct Ready {
    seq: u64,
    /// The stripe that retired it.
    stripe: usize,
    objs: Vec<Retired>,
    /// When it was handed back to its stripe.
    handed_at: Option<Instant>,
}

/// Finished batches handed back to a stripe, and their number (read without
/// the lock by creations that find nothing to free).
#[repr(align(128))]
struct HandBack {
    batches: Mutex<Vec<Ready>>,
    len: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Stripe = Stripe(Mutex::new(Vec::new()));
static PENDING: [Stripe; STRIPES] = [EMPTY; STRIPES];
#[allow(clippy::declare_interior_mutable_const)]
const NO_HAND_BACK: HandBack = HandBack {
    batches: Mutex::new(Vec::new()),
    len: AtomicUsize::new(0),
};
static HANDED_BACK: [HandBack; STRIPES] = [NO_HAND_BACK; STRIPES];
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
    /// The application's functions the thread runs first and last (see
    /// [`set_thread_hooks`]).
    hooks: ThreadHooks,
}

/// Functions of the application that the reclaim thread calls when it
/// starts, before any free function or payload destructor, and when it ends.
#[derive(Clone, Copy)]
pub struct ThreadHooks {
    pub start: Option<extern "C" fn()>,
    pub stop: Option<extern "C" fn()>,
}

static RECLAIMER: Mutex<Reclaimer> = Mutex::new(Reclaimer {
    ready: Vec::new(),
    thread: None,
    idle: false,
    stop: false,
    stopped: false,
    hooks: ThreadHooks {
        start: None,
        stop: None,
    },
});

/// Set the functions the reclaim thread calls when it starts and when it
/// ends. False, changing nothing, once the thread has started in this
/// process: the hooks of a thread are those it started with.
pub fn set_thread_hooks(hooks: ThreadHooks) -> bool {
    let mut r = RECLAIMER.lock();
    if r.thread.is_some() {
        return false;
    }
    r.hooks = hooks;
    true
}
/// Wakes the reclaim thread (new batch, stop request) and the exit handler
/// waiting for it to stop.
static WAKE: Condvar = Condvar::new();

thread_local! {
    static STRIPE: usize = {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        (NEXT.fetch_add(1, Ordering::Relaxed) as usize) % STRIPES
    };
    /// Whether this thread is running finishers (application code).
    static FINISHING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Guard of an explicit read-side section, and its nesting depth.
    static READ_SECTION: RefCell<(usize, Option<Guard>)> = const { RefCell::new((0, None)) };
}

/// Objects retired by finishers (application code run at reclamation, a C
/// kind's free function say, that dropped a last reference): [`barrier`]
/// goes round again while this grows, so that a chain of such frees is
/// reclaimed by one barrier.
static RETIRED_IN_FINISH: AtomicU64 = AtomicU64::new(0);

/// The calling thread's stripe.
fn my_stripe() -> usize {
    STRIPE.try_with(|s| *s).unwrap_or(0)
}

/// Retire `ptr`: after a grace period, `free(ptr)` frees it, on a thread of
/// the calling thread's stripe in a later object creation, on the reclaim
/// thread, or inside a [`barrier`]; never in a lookup, get or put.
///
/// # Safety
/// `ptr` is unreachable from every table and list that readers walk, and no
/// counted reference to it remains. `free` frees it exactly once and runs
/// no application code.
pub unsafe fn retire(ptr: *mut (), free: unsafe fn(*mut ())) {
    // SAFETY: per this function's contract.
    unsafe { retire_with(ptr, None, free) }
}

/// [`retire`], with `finish(ptr)` run first, after the grace period, on the
/// reclaim thread or inside a [`barrier`] only: the application's code that
/// goes with the object (its payload destructor).
///
/// # Safety
/// As for [`retire`]; `finish`, if any, runs once, before `free`.
pub unsafe fn retire_with(
    ptr: *mut (),
    finish: Option<unsafe fn(*mut ())>,
    free: unsafe fn(*mut ()),
) {
    if FINISHING.try_with(|f| f.get()).unwrap_or(false) {
        RETIRED_IN_FINISH.fetch_add(1, Ordering::AcqRel);
    }
    let s = my_stripe();
    let (batch, seq) = {
        let mut list = PENDING[s].0.lock();
        list.push(Retired { ptr, finish, free });
        if list.len() < BATCH {
            let first = list.len() == 1;
            drop(list);
            if first {
                // Let the reclaim thread submit it after LINGER, should the
                // batch not fill by then.
                wake_reclaimer();
            }
            return;
        }
        take(&mut list)
    };
    submit(batch, seq, s);
    wake_reclaimer();
}

/// Run the finishers of a batch whose grace period ended.
fn finish(b: &Ready) {
    let _ = FINISHING.try_with(|f| f.set(true));
    for r in &b.objs {
        if let Some(f) = r.finish {
            // SAFETY: per `retire_with`'s contract, once, after the grace
            // period (only ready batches get here, each once).
            unsafe { f(r.ptr) };
        }
    }
    let _ = FINISHING.try_with(|f| f.set(false));
}

/// Free a finished batch and mark it done.
fn free_batch(b: Ready) {
    for r in b.objs {
        // SAFETY: per `retire`'s contract, each entry is freed once, after
        // its grace period and its finisher.
        unsafe { (r.free)(r.ptr) };
    }
    OUTSTANDING.lock().remove(&b.seq);
}

/// Finish every ready batch, on the calling thread (the reclaim thread, or a
/// barrier's caller), then hand it back to its stripe, or free it at once
/// (`hand_back` false: the barrier).
fn drain_ready(hand_back: bool) -> bool {
    let ready = std::mem::take(&mut RECLAIMER.lock().ready);
    let any = !ready.is_empty();
    for b in ready {
        finish(&b);
        if hand_back {
            give_back(b);
        } else {
            free_batch(b);
        }
    }
    any
}

/// Hand a finished batch back to its stripe. Frees nothing: this may run
/// inside any pin (see `submit`).
fn give_back(mut b: Ready) {
    b.handed_at = Some(Instant::now());
    let h = &HANDED_BACK[b.stripe];
    let mut l = h.batches.lock();
    l.push(b);
    h.len.store(l.len(), Ordering::Relaxed);
}

/// Free the batches that have waited for their stripe longer than
/// [`STALE`] (the reclaim thread's part).
fn free_stale() {
    for h in HANDED_BACK.iter() {
        if h.len.load(Ordering::Relaxed) == 0 {
            continue;
        }
        let stale: Vec<Ready> = {
            let mut l = h.batches.lock();
            let now = Instant::now();
            let n = l
                .iter()
                .take_while(|b| b.handed_at.is_some_and(|t| now - t >= STALE))
                .count();
            let old = l.drain(..n).collect();
            h.len.store(l.len(), Ordering::Relaxed);
            old
        };
        stale.into_iter().for_each(free_batch);
    }
}

/// Free the batches handed back to stripe `s`.
fn free_stripe(s: usize) {
    let h = &HANDED_BACK[s];
    let batches = {
        let mut l = h.batches.lock();
        h.len.store(0, Ordering::Relaxed);
        std::mem::take(&mut *l)
    };
    batches.into_iter().for_each(free_batch);
}

/// Free the memory of the objects that the calling thread's stripe retired,
/// whose grace period ended and whose finishers ran: called by the relay
/// objects' creation, so that memory is freed where it was allocated, just
/// before the next allocation. Runs no application code; takes no lock when
/// there is nothing to free.
#[inline]
pub fn free_handed_back() {
    let s = my_stripe();
    if HANDED_BACK[s].len.load(Ordering::Relaxed) != 0 {
        free_stripe(s);
    }
}

/// Whether any stripe has batches handed back.
fn any_handed_back() -> bool {
    HANDED_BACK
        .iter()
        .any(|h| h.len.load(Ordering::Relaxed) != 0)
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
fn submit(objs: Vec<Retired>, seq: u64, stripe: usize) {
    let guard = epoch::pin();
    let work = move || {
        let b = Ready {
            seq,
            stripe,
            objs,
            handed_at: None,
        };
        if b.objs.iter().all(|r| r.finish.is_none()) {
            // Nothing to finish: straight back to its stripe.
            give_back(b);
        } else {
            RECLAIMER.lock().ready.push(b);
        }
    };
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
/// submit objects that waited [`LINGER`] in a stripe whose batch did not
/// fill; otherwise sleep until a batch is submitted or an object retired.
/// Stops when asked at exit.
fn reclaim_thread() {
    super::track::own_thread();
    let hooks = RECLAIMER.lock().hooks;
    if let Some(start) = hooks.start {
        start();
    }
    // Since when objects wait in a stripe, as first seen by this thread.
    let mut lingering: Option<Instant> = None;
    loop {
        let freed = drain_ready(true);
        free_stale();
        if lingering.is_some_and(|at| at.elapsed() >= LINGER) {
            submit_pending();
            lingering = None;
        }
        let outstanding = !OUTSTANDING.lock().is_empty();
        let mut r = RECLAIMER.lock();
        if r.stop {
            if let Some(stop) = hooks.stop {
                drop(r);
                stop();
                r = RECLAIMER.lock();
            }
            r.stopped = true;
            WAKE.notify_all();
            return;
        }
        if !r.ready.is_empty() {
            continue;
        }
        // Checked under the reclaimer's lock: a retirement into an empty
        // stripe after this check wakes this thread (`wake_reclaimer` takes
        // that lock), so an object never waits for a wake-up that came
        // before this thread went to sleep.
        if lingering.is_none() && any_pending() {
            lingering = Some(Instant::now());
        }
        let linger_left = lingering.map(|at| LINGER.saturating_sub(at.elapsed()));
        if outstanding {
            drop(r);
            epoch::pin().flush();
            if !freed {
                let mut r = RECLAIMER.lock();
                if r.ready.is_empty() && !r.stop {
                    WAKE.wait_for(&mut r, POLL);
                }
            }
        } else if any_handed_back() {
            // Nothing outstanding but memory its stripes have not taken
            // back: leave it to them a little, then free what is stale.
            r.idle = true;
            WAKE.wait_for(&mut r, linger_left.map_or(STALE, |l| l.min(STALE)));
            r.idle = false;
        } else if let Some(left) = linger_left {
            r.idle = true;
            WAKE.wait_for(&mut r, left);
            r.idle = false;
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

/// Wait until every object retired before the call has been freed, and
/// those that their finishers retired in turn (rounds until none). Must not
/// be called inside a read-side section (it would wait for itself): returns
/// false, doing nothing, in that case.
pub fn barrier() -> bool {
    if in_read_section() {
        return false;
    }
    loop {
        let before = RETIRED_IN_FINISH.load(Ordering::Acquire);
        barrier_once();
        if RETIRED_IN_FINISH.load(Ordering::Acquire) == before {
            return true;
        }
    }
}

/// Whether any stripe holds retired objects not yet submitted.
fn any_pending() -> bool {
    PENDING.iter().any(|s| !s.0.lock().is_empty())
}

/// Submit every stripe's retired objects as a batch, full or not.
fn submit_pending() {
    for (i, s) in PENDING.iter().enumerate() {
        let taken = {
            let mut list = s.0.lock();
            (!list.is_empty()).then(|| take(&mut list))
        };
        if let Some((batch, seq)) = taken {
            submit(batch, seq, i);
        }
    }
}

/// One round of [`barrier`]: the objects retired before it.
fn barrier_once() {
    submit_pending();
    let upto = NEXT_BATCH.load(Ordering::Relaxed);
    let mut spins = 0u32;
    loop {
        let done = OUTSTANDING
            .lock()
            .first()
            .is_none_or(|&first| first >= upto);
        if done {
            return;
        }
        // Each pin-and-flush tries to advance the global epoch and runs the
        // deferred batches whose grace period is over; those handed back to
        // their stripes are freed here.
        epoch::pin().flush();
        drain_ready(false);
        (0..STRIPES).for_each(free_stripe);
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

    static LONE_FREED: AtomicUsize = AtomicUsize::new(0);

    unsafe fn count_lone_free(p: *mut ()) {
        // SAFETY: `p` is a `Box<u64>` leaked by the test below.
        drop(unsafe { Box::from_raw(p.cast::<u64>()) });
        LONE_FREED.fetch_add(1, Ordering::Relaxed);
    }

    /// A few objects retired by a thread that then stops retiring (fewer
    /// than a batch) are freed in bounded time without a barrier: a caller's
    /// free function that releases files must not wait for unrelated
    /// objects to fill the batch.
    #[test]
    fn lone_objects_are_freed_without_a_barrier() {
        std::thread::spawn(|| {
            for i in 0..3 {
                let p = Box::into_raw(Box::new(i as u64)).cast::<()>();
                // SAFETY: reachable from nowhere else; freed once.
                unsafe { retire(p, count_lone_free) };
            }
        })
        .join()
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while LONE_FREED.load(Ordering::Relaxed) < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(LONE_FREED.load(Ordering::Relaxed), 3);
    }

    static FREED_HERE: AtomicUsize = AtomicUsize::new(0);

    thread_local! {
        static FREEING_HERE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    static FREED_ANYWHERE: AtomicUsize = AtomicUsize::new(0);

    unsafe fn count_free_here(p: *mut ()) {
        if FREEING_HERE.with(|f| f.get()) {
            FREED_HERE.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: `p` is a `Box<u64>` leaked by the test below.
        drop(unsafe { Box::from_raw(p.cast::<u64>()) });
        FREED_ANYWHERE.fetch_add(1, Ordering::Relaxed);
    }

    /// A batch with nothing to finish goes back to the stripe that retired
    /// it once its grace period ends, and that stripe's thread frees it in
    /// `free_handed_back` (what object creation calls), where its memory
    /// was allocated.
    #[test]
    fn handed_back_batches_are_freed_by_their_stripe() {
        std::thread::spawn(|| {
            for i in 0..BATCH {
                let p = Box::into_raw(Box::new(i as u64)).cast::<()>();
                // SAFETY: reachable from nowhere else; freed once.
                unsafe { retire(p, count_free_here) };
            }
            let s = my_stripe();
            let deadline = Instant::now() + Duration::from_secs(20);
            while HANDED_BACK[s].len.load(Ordering::Relaxed) == 0 && Instant::now() < deadline {
                epoch::pin().flush();
                std::thread::yield_now();
            }
            FREEING_HERE.with(|f| f.set(true));
            free_handed_back();
            FREEING_HERE.with(|f| f.set(false));
        })
        .join()
        .unwrap();
        assert!(barrier());
        assert_eq!(FREED_ANYWHERE.load(Ordering::Relaxed), BATCH);
        // Taken back well before the reclaim thread would find it stale.
        assert_eq!(FREED_HERE.load(Ordering::Relaxed), BATCH);
    }
}
