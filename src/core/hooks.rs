//! What the lifetime engines tell the outside about each reference
//! operation: the static probes (`probes`), and the watchers that see every
//! operation, debug logging (`TRACEREF_LOG=debug`) and reference tracking
//! (`track`). The engines call these at one place each (the relay get and
//! put in `relay::object`, the Babeltrace get and put in `bt::object`,
//! births and deaths in `census`). Off, a get or put pays two loads and two
//! branches: the probe's semaphore, and one flag for both watchers.

use super::kind::Kind;
use super::{diag, probes, track};
use std::sync::atomic::{AtomicU8, Ordering};

/// Whether a watcher is on: 0 not known yet, 1 none, 2 some.
static WATCHED: AtomicU8 = AtomicU8::new(0);

/// Whether debug logging or tracking may be on (true until known).
#[inline(always)]
pub fn watched() -> bool {
    WATCHED.load(Ordering::Relaxed) != 1
}

/// The watchers' part of a get (`get`) or put, out of the hot path: `log`
/// prints the debug line. Called through [`watch!`].
#[cold]
#[inline(never)]
pub fn tell_watchers(obj: *const (), get: bool, log: impl FnOnce()) {
    let debug = diag::debug_enabled();
    let tracking = track::enabled();
    WATCHED.store(if debug || tracking { 2 } else { 1 }, Ordering::Relaxed);
    if debug {
        log();
    }
    if tracking {
        track::moved(obj, get);
    }
}

/// Tell the watchers of a get (`true`) or put (`false`) of `obj`, the debug
/// line being `$log` (evaluated only when a watcher is on): one load and a
/// branch otherwise, with nothing set up before it.
macro_rules! watch {
    ($obj:expr, $get:expr, $log:expr) => {
        if $crate::core::hooks::watched() {
            $crate::core::hooks::tell_watchers($obj, $get, || $log);
        }
    };
}
pub(crate) use watch;

/// A reference was taken on `obj`; `count` is the count after it (the
/// probe; the watchers are told through [`watch!`]).
#[inline(always)]
pub fn got(obj: *const (), kind: impl FnOnce() -> Kind, id: impl FnOnce() -> u64, count: u32) {
    probes::get(obj, kind, id, count);
}

/// A reference on `obj` was dropped; `count` is the count after it (the
/// probe; the watchers are told through [`watch!`]).
#[inline(always)]
pub fn dropped(obj: *const (), kind: impl FnOnce() -> Kind, id: impl FnOnce() -> u64, count: u32) {
    probes::put(obj, kind, id, count);
}

/// `obj` reached count 0 and is released.
#[inline(always)]
pub fn released(obj: *const (), kind: impl FnOnce() -> Kind, id: impl FnOnce() -> u64) {
    probes::release(obj, kind, id);
}

/// A get of `obj` was refused: its count was already 0.
#[inline(always)]
pub fn refused(obj: *const (), kind: impl FnOnce() -> Kind, id: impl FnOnce() -> u64) {
    probes::get_refused(obj, kind, id);
}
