//! Keyed tables that hold no references: which object a key maps to when an
//! add races the last put of the object that holds the key. The rule of the
//! tables of C kinds (`relay::cobject::CTable`), written once.
//!
//! A table maps each key to at most one object and holds no reference on
//! it. Objects are counted with get-unless-zero (`LookupCount`): once the
//! last put took an object's count to zero, no get succeeds on it again,
//! and its release takes it out of every table it is in before it is
//! retired. Each object lists its memberships (table, key); writers of a
//! table serialise on the table's writer lock, and everything below runs
//! under it.
//!
//! The invariant: an entry `key -> obj` is in a table only while `obj`
//! lists the membership `(table, key)`, or while its release holds the list
//! it took and has yet to visit the table. Hence an entry never outlives the
//! release of its object, and reading an entry under the writer lock gives
//! an object that is not yet retired.
//!
//! * [`add_unique`] of `key -> obj`, when `key` maps to another object `e`:
//!   `e` wins if a get-unless-zero on it succeeds (the reference is the
//!   caller's, and `e` is not released before the caller puts it). If the
//!   get fails, `e` is on its way out and `obj` may take the key: `e`'s
//!   membership is forgotten *and* its entry removed, together, whether or
//!   not `obj` then goes in. (Forgetting the membership alone would break
//!   the invariant when `obj` is refused: `e`'s release would no longer
//!   visit the table, and the entry would outlive it.)
//! * The release's removal ([`without_if_mine`]) takes `key` out only if it
//!   still maps to the released object: when `add_unique` replaced the
//!   entry after the release had taken its membership list, the entry is
//!   the new object's and stays.
//!
//! So, for an add racing the last put of the holder, exactly one of them
//! wins: the add returns the holder with a reference taken before its
//! count reached zero, or the add inserts the new object and the table
//! maps the key to it afterwards; a released object is never left in the
//! table (the loom model `loom-tests/tests/keyed_table.rs` checks this with
//! these functions).
//!
//! The functions are generic over the map, the key and the object pointer,
//! and take the object-side steps (the get, the memberships) as closures, so
//! that the library and the loom model run the same decisions.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// The map of a keyed table: key to object pointer, no reference held.
pub trait Map<K, P> {
    /// The object `key` maps to.
    fn entry(&self, key: &K) -> Option<P>;
    /// Map `key` to `p`.
    fn set(&mut self, key: K, p: P);
    /// Remove `key`.
    fn unset(&mut self, key: &K);
}

impl<K: Eq + Hash, P: Copy, S: BuildHasher> Map<K, P> for HashMap<K, P, S> {
    fn entry(&self, key: &K) -> Option<P> {
        self.get(key).copied()
    }

    fn set(&mut self, key: K, p: P) {
        self.insert(key, p);
    }

    fn unset(&mut self, key: &K) {
        self.remove(key);
    }
}

/// What [`add_unique`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added<P> {
    /// The object holds the key now (or held it already).
    Inserted,
    /// A live object holds the key: `get_unless_zero` took a reference on
    /// it for the caller.
    Existing(P),
    /// `join` refused the object (it is in the table under another key).
    AlreadyIn,
}

/// The outcome of [`add_unique`]: what it did, and whether it changed the
/// map (which the caller then publishes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddUnique<P> {
    pub added: Added<P>,
    pub changed: bool,
}

/// Map `key` to `obj` in `map` (the writer's copy, the writer lock held)
/// unless a live object holds the key.
///
/// * `key` maps to `obj`: [`Added::Inserted`], nothing changes.
/// * `key` maps to `e` and `get_unless_zero(e)` succeeds:
///   [`Added::Existing`]`(e)`, nothing changes.
/// * `key` maps to `e` and the get fails (`e` is being released): `forget(e)`
///   takes the table out of `e`'s memberships and the entry is removed;
///   then as for an absent key.
/// * `key` is absent: `join(&key)` records the membership of `obj` (it
///   returns false, recording nothing, when `obj` is in the table already:
///   [`Added::AlreadyIn`]), and `key` maps to `obj`: [`Added::Inserted`].
///
/// `changed` says whether `map` changed (also on [`Added::AlreadyIn`],
/// when a released entry was removed).
pub fn add_unique<K, P, M>(
    map: &mut M,
    key: K,
    obj: P,
    get_unless_zero: impl FnOnce(P) -> bool,
    forget: impl FnOnce(P),
    join: impl FnOnce(&K) -> bool,
) -> AddUnique<P>
where
    P: Copy + PartialEq,
    M: Map<K, P>,
{
    let mut changed = false;
    if let Some(e) = map.entry(&key) {
        if e == obj {
            return AddUnique {
                added: Added::Inserted,
                changed,
            };
        }
        if get_unless_zero(e) {
            return AddUnique {
                added: Added::Existing(e),
                changed,
            };
        }
        // On its way out: its release either took its membership list
        // already (and will find the key gone or someone else's), or will
        // not find this table in it.
        forget(e);
        map.unset(&key);
        changed = true;
    }
    if !join(&key) {
        return AddUnique {
            added: Added::AlreadyIn,
            changed,
        };
    }
    map.set(key, obj);
    AddUnique {
        added: Added::Inserted,
        changed: true,
    }
}

/// The release's removal of `obj`'s membership `(table, key)`, the writer
/// lock held: a copy of `map` without `key` if `key` still maps to `obj`,
/// or `None` (leave the map alone) when it maps to another object (one that
/// [`add_unique`] put in its place once `obj`'s count was zero) or to none.
pub fn without_if_mine<K, P, M>(map: &M, key: &K, obj: P) -> Option<M>
where
    P: Copy + PartialEq,
    M: Map<K, P> + Clone,
{
    if map.entry(key) != Some(obj) {
        return None;
    }
    let mut m = map.clone();
    m.unset(key);
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    type M = HashMap<u32, u8>;

    #[test]
    fn inserts_into_a_free_key() {
        let mut m = M::new();
        let r = add_unique(&mut m, 1, 10, |_| panic!(), |_| panic!(), |_| true);
        assert_eq!(r.added, Added::Inserted);
        assert!(r.changed);
        assert_eq!(m.entry(&1), Some(10));
    }

    #[test]
    fn a_live_holder_wins() {
        let mut m = M::from([(1, 10)]);
        let r = add_unique(&mut m, 1, 20, |e| e == 10, |_| panic!(), |_| panic!());
        assert_eq!(r.added, Added::Existing(10));
        assert!(!r.changed);
        assert_eq!(m.entry(&1), Some(10));
    }

    #[test]
    fn a_released_holder_is_replaced_and_forgotten() {
        let mut m = M::from([(1, 10)]);
        let mut forgot = None;
        let r = add_unique(&mut m, 1, 20, |_| false, |e| forgot = Some(e), |_| true);
        assert_eq!(r.added, Added::Inserted);
        assert_eq!(forgot, Some(10));
        assert_eq!(m.entry(&1), Some(20));
        // The holder's release leaves the replacement alone.
        assert!(without_if_mine(&m, &1, 10).is_none());
        assert_eq!(without_if_mine(&m, &1, 20), Some(M::new()));
    }

    #[test]
    fn a_refused_add_still_removes_the_released_holder() {
        let mut m = M::from([(1, 10), (2, 20)]);
        let r = add_unique(&mut m, 1, 20, |_| false, |_| {}, |_| false);
        assert_eq!(r.added, Added::AlreadyIn);
        assert!(r.changed);
        assert_eq!(m.entry(&1), None);
        assert_eq!(m.entry(&2), Some(20));
    }

    #[test]
    fn adding_the_holder_again_changes_nothing() {
        let mut m = M::from([(1, 10)]);
        let r = add_unique(&mut m, 1, 10, |_| panic!(), |_| panic!(), |_| panic!());
        assert_eq!(r.added, Added::Inserted);
        assert!(!r.changed);
    }
}
