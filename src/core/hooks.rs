//! What the lifetime engines tell the outside about each reference
//! operation: the static probes (`probes`) and reference tracking
//! (`track`). The engines call these at one place each (the relay get and
//! put in `relay::object`, the Babeltrace get and put in `bt::object`,
//! births and deaths in `census`); off, each costs a load and a branch.

use super::kind::Kind;
use super::{probes, track};

/// A reference was taken on `obj`; `count` is the count after it.
#[inline(always)]
pub fn got(obj: *const (), kind: impl FnOnce() -> Kind, id: impl FnOnce() -> u64, count: u32) {
    probes::get(obj, kind, id, count);
    if track::enabled() {
        track::moved(obj, true);
    }
}

/// A reference on `obj` was dropped; `count` is the count after it.
#[inline(always)]
pub fn dropped(obj: *const (), kind: impl FnOnce() -> Kind, id: impl FnOnce() -> u64, count: u32) {
    probes::put(obj, kind, id, count);
    if track::enabled() {
        track::moved(obj, false);
    }
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
