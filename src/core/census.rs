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

/// Describes a live object for the leak report: its id (or address) and
/// count, as one line.
/// The line names the object in full: its kind first.
pub type Describe = unsafe fn(*const ()) -> String;

/// Objects alive, by address, while `TRACEREF_LEAK_CHECK=1`.
static TRACKED: parking_lot::Mutex<Option<crate::core::hash::FastMap<usize, (Kind, Describe)>>> =
    parking_lot::Mutex::new(None);

/// Whether leak checking is on (`TRACEREF_LEAK_CHECK=1`), read once.
fn leak_check() -> bool {
    use std::sync::atomic::AtomicU8;
    static STATE: AtomicU8 = AtomicU8::new(0);
    match STATE.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let on = std::env::var("TRACEREF_LEAK_CHECK").is_ok_and(|v| v == "1");
            if STATE
                .compare_exchange(
                    0,
                    if on { 2 } else { 1 },
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
                && on
            {
                // SAFETY: `report_leaks` is an `extern "C" fn()` that does not
                // unwind.
                unsafe { libc::atexit(report_leaks) };
            }
            on
        }
    }
}

/// Register a new object with the census (and the leak registry when on).
#[inline]
pub fn register(kind: Kind, obj: *const (), describe: Describe) {
    born(kind);
    if super::track::enabled() {
        super::track::born(obj, describe);
    }
    if leak_check() {
        TRACKED
            .lock()
            .get_or_insert_with(Default::default)
            .insert(obj as usize, (kind, describe));
    }
}

/// Remove a reclaimed object from the census (and the leak registry).
#[inline]
pub fn unregister(kind: Kind, obj: *const ()) {
    died(kind);
    super::probes::free(obj, kind);
    if super::track::enabled() {
        super::track::gone(obj);
    }
    if leak_check() {
        if let Some(m) = TRACKED.lock().as_mut() {
            m.remove(&(obj as usize));
        }
    }
}

/// At exit: reclaim what waits for a grace period, then list every object
/// still alive and exit with status 1 if there is any.
extern "C" fn report_leaks() {
    let _ = std::panic::catch_unwind(|| {
        crate::core::reclaim::barrier();
        let leaks: Vec<String> = {
            let t = TRACKED.lock();
            let Some(m) = t.as_ref() else { return };
            let mut v: Vec<_> = m
                .iter()
                .map(|(&p, &(_, describe))| {
                    // SAFETY: a tracked object is alive (it is removed from
                    // the registry when reclaimed).
                    let what = unsafe { describe(p as *const ()) };
                    let sites = super::track::leak_sites(p as *const ());
                    format!("{what}{sites}")
                })
                .collect();
            v.sort();
            v
        };
        if leaks.is_empty() {
            // Nothing left to track: free the registry, so that memory
            // checkers run with the leak check see nothing of it.
            drop(TRACKED.lock().take());
            return;
        }
        let mut err = std::io::stderr().lock();
        use std::io::Write;
        let _ = writeln!(
            err,
            "traceref: leak check: {} object(s) still alive at exit:",
            leaks.len()
        );
        for l in &leaks {
            let _ = writeln!(err, "traceref: leak check:   {l}");
        }
        drop(err);
        // SAFETY: flush C stdio buffers, then end the process with status 1
        // (exit() may not be called again from an atexit handler).
        unsafe {
            libc::fflush(std::ptr::null_mut());
            libc::_exit(1);
        }
    });
}
