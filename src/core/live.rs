//! The addresses of the live objects that C code initialised in its own
//! memory (`bt_object_init`, `traceref_object_init`), so that initialising
//! one again is caught without reading memory that may be uninitialised.
//! Sharded by address.

use parking_lot::Mutex;
use std::collections::BTreeSet;

const SHARDS: usize = 16;
// A B-tree rather than a hash map: its allocations are reached through
// pointers to their starts, so memory checkers see what a program that exits
// with live objects leaves as reachable, not as possibly lost.
#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());
static LIVE: [Mutex<BTreeSet<usize>>; SHARDS] = [EMPTY; SHARDS];

fn shard(p: usize) -> &'static Mutex<BTreeSet<usize>> {
    &LIVE[(p >> 6) % SHARDS]
}

/// Record `p` as live; false when it already was.
pub fn enroll(p: usize) -> bool {
    shard(p).lock().insert(p)
}

pub fn is_live(p: usize) -> bool {
    shard(p).lock().contains(&p)
}

pub fn withdraw(p: usize) {
    shard(p).lock().remove(&p);
}
