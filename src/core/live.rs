//! The addresses of the live objects that C code initialised in its own
//! memory (`bt_object_init`, `traceref_object_init`, the relay kinds'
//! `_init`), so that initialising one again is caught without reading memory
//! that may be uninitialised, each with what gives its memory back (the
//! owner's free function, kept here rather than in every object).
//! Sharded by address.

use parking_lot::Mutex;
use std::collections::BTreeMap;

const SHARDS: usize = 16;
// A B-tree rather than a hash map: its allocations are reached through
// pointers to their starts, so memory checkers see what a program that exits
// with live objects leaves as reachable, not as possibly lost.
#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Mutex<BTreeMap<usize, usize>> = Mutex::new(BTreeMap::new());
static LIVE: [Mutex<BTreeMap<usize, usize>>; SHARDS] = [EMPTY; SHARDS];

fn shard(p: usize) -> &'static Mutex<BTreeMap<usize, usize>> {
    &LIVE[(p >> 6) % SHARDS]
}

/// Record `p` as live, with `giver` (the address of what gives its memory
/// back, or 0); false, changing nothing, when it already was live.
pub fn enroll(p: usize, giver: usize) -> bool {
    match shard(p).lock().entry(p) {
        std::collections::btree_map::Entry::Occupied(_) => false,
        std::collections::btree_map::Entry::Vacant(v) => {
            v.insert(giver);
            true
        }
    }
}

pub fn is_live(p: usize) -> bool {
    shard(p).lock().contains_key(&p)
}

/// Forget `p`; returns its giver.
pub fn withdraw(p: usize) -> Option<usize> {
    shard(p).lock().remove(&p)
}
