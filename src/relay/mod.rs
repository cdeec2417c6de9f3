//! The LTTng relay daemon's object model.
//!
//! Connections own sessions; sessions contain ctf-traces; traces contain
//! streams; streams have indexes and viewer streams; live connections own
//! viewer sessions. Sessions, streams and viewer streams are found by id in
//! global tables read without locks ([`crate::core::table`]); connections in
//! per-thread connection tables. Every refcounted object follows the life
//! written once in [`object`]; each file here adds only what its kind holds.

pub mod cobject;
pub mod connection;
pub mod dot;
pub mod index;
pub mod lock;
pub mod object;
pub mod session;
pub mod stream;
pub mod trace;
pub mod viewer;

use crate::core::table::{Keyed, Table};
use object::RelayObject;

/// A pointer to a relay object stored in a table or list. Lists hold no
/// counted references: entries are removed by the object's release, under
/// the list's lock, before the object is retired.
pub struct Ptr<T>(pub *const T);

impl<T> Clone for Ptr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Ptr<T> {}
impl<T> PartialEq for Ptr<T> {
    fn eq(&self, o: &Self) -> bool {
        std::ptr::eq(self.0, o.0)
    }
}
impl<T> Eq for Ptr<T> {}
impl<T> std::hash::Hash for Ptr<T> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_usize(self.0 as usize)
    }
}
// SAFETY: a `Ptr` is only dereferenced under the rules above (entry present
// under its list lock, or a counted reference held); the pointees are Sync.
unsafe impl<T: Sync> Send for Ptr<T> {}
unsafe impl<T: Sync> Sync for Ptr<T> {}

impl<T> Ptr<T> {
    pub fn of(r: &T) -> Self {
        Ptr(r as *const T)
    }
    /// # Safety
    /// The pointee is alive for `'a` (a reference is held, or the entry was
    /// read under the lock that its release takes).
    pub unsafe fn get<'a>(self) -> &'a T {
        // SAFETY: per the contract.
        unsafe { &*self.0 }
    }
}

/// Sessions by id.
pub static SESSIONS: Table<session::Session> = Table::new();
/// Streams by handle (published or not; a closed stream leaves it).
pub static STREAMS: Table<stream::Stream> = Table::new();
/// Viewer streams by stream handle.
pub static VIEWER_STREAMS: Table<viewer::ViewerStream> = Table::new();

/// Look `id` up in `table` and take a reference, inside a read-side section.
/// NULL when absent or when the object's count is already zero.
#[inline]
pub fn get_by_id<T: RelayObject + Keyed>(func: &str, table: &Table<T>, id: u64) -> *mut T {
    let guard = crossbeam_epoch::pin();
    match table.lookup(id, &guard) {
        Some(o) if object::get(func, o) => o as *const T as *mut T,
        _ => std::ptr::null_mut(),
    }
}

/// Take references on every object of `table` whose count is not zero,
/// inside one read-side section, so that callers can visit them afterwards
/// without pinning (each entry carries a reference to put).
pub fn table_snapshot<T: RelayObject + Keyed>(func: &str, table: &Table<T>) -> Vec<Ptr<T>> {
    let mut all = Vec::new();
    let guard = crossbeam_epoch::pin();
    table.for_each(&guard, |o| {
        if object::get(func, o) {
            all.push(Ptr::of(o));
        }
    });
    all
}

/// Take references on the live members of `list` (under its lock), so that
/// callers can visit them without holding it.
pub fn snapshot<'a, T: RelayObject, I: IntoIterator<Item = &'a Ptr<T>>>(
    func: &str,
    list: I,
) -> Vec<Ptr<T>> {
    list.into_iter()
        .copied()
        .filter(|p| {
            // SAFETY: the caller holds the list's lock; entries are removed
            // under that lock before their object is retired.
            object::get(func, unsafe { p.get() })
        })
        .collect()
}
