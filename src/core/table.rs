//! The table: a hash table from `u64` keys to objects, read without locks.
//!
//! Lookups run inside an epoch pin and never block: they load the current
//! slot array and probe it linearly. Writers serialise on a mutex. Each slot
//! holds the key beside the object pointer, so probing touches only the slot
//! array until the key matches; the object itself is then read once (its key
//! is checked again there, and the caller's getter touches the same line).
//!
//! Removal writes a tombstone; the array is rebuilt (grown or cleaned) by a
//! writer, published with one atomic store, and the old array is freed after
//! a grace period. Objects are never freed by the table: the table only
//! forgets them, and the object's owner retires it (see `reclaim`).

use super::sync::{const_fn, AtomicPtr, AtomicU64, Ordering};
use crossbeam_epoch::{self as epoch, Atomic, Guard, Owned, Shared};
use parking_lot::Mutex;
use std::ptr;

/// An object that can live in a [`Table`]: its key never changes.
pub trait Keyed {
    fn key(&self) -> u64;
}

struct Slot<T> {
    key: AtomicU64,
    ptr: AtomicPtr<T>,
}

struct Slots<T> {
    mask: usize,
    slots: Box<[Slot<T>]>,
}

impl<T> Slots<T> {
    fn new(cap: usize) -> Self {
        debug_assert!(cap.is_power_of_two());
        let slots = (0..cap)
            .map(|_| Slot {
                key: AtomicU64::new(0),
                ptr: AtomicPtr::new(ptr::null_mut()),
            })
            .collect();
        Slots {
            mask: cap - 1,
            slots,
        }
    }
}

fn tombstone<T>() -> *mut T {
    ptr::dangling_mut::<T>()
}

#[inline]
fn home(key: u64, mask: usize) -> usize {
    // Fibonacci hashing: spreads sequential and strided ids alike.
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & mask
}

struct Counts {
    live: usize,
    dead: usize,
}

/// A lock-free-read hash table of `*const T` keyed by `T::key()`.
pub struct Table<T> {
    slots: Atomic<Slots<T>>,
    writer: Mutex<Counts>,
}

// SAFETY: the table hands out shared references to `T` across threads, and
// its slot arrays are published and reclaimed through crossbeam-epoch.
unsafe impl<T: Sync> Sync for Table<T> {}
unsafe impl<T: Sync> Send for Table<T> {}

/// Why an insertion was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct Duplicate;

impl<T: Keyed + 'static> Table<T> {
    const_fn! {
        pub fn new() -> Self {
            Table {
                slots: Atomic::null(),
                writer: Mutex::new(Counts { live: 0, dead: 0 }),
            }
        }
    }

    /// Find the object with `key`, without taking a reference. The result is
    /// valid for as long as `guard` is held (the object may be on its way out:
    /// callers confirm it with their getter).
    #[inline]
    pub fn lookup<'g>(&self, key: u64, guard: &'g Guard) -> Option<&'g T> {
        let s = self.slots.load(Ordering::Acquire, guard);
        // SAFETY: slot arrays are freed only after a grace period, and
        // `guard` pins the current epoch.
        let s = unsafe { s.as_ref() }?;
        let mut i = home(key, s.mask);
        loop {
            let slot = &s.slots[i];
            let p = slot.ptr.load(Ordering::Acquire);
            if p.is_null() {
                return None;
            }
            if p != tombstone() && slot.key.load(Ordering::Relaxed) == key {
                // SAFETY: objects stay allocated until a grace period after
                // they left the table, and `guard` is pinned.
                let o = unsafe { &*p };
                if o.key() == key {
                    return Some(o);
                }
            }
            i = (i + 1) & s.mask;
        }
    }

    /// Insert `obj` unless an object with the same key is present.
    pub fn insert(&self, obj: &T) -> Result<(), Duplicate> {
        let guard = epoch::pin();
        let mut counts = self.writer.lock();
        let key = obj.key();
        let mut s = self.slots.load(Ordering::Acquire, &guard);
        // SAFETY: the array is current (writer lock held) and pinned.
        let cap = unsafe { s.as_ref() }.map_or(0, |s| s.slots.len());
        if (counts.live + counts.dead + 1) * 4 > cap * 3 {
            let want = counts.live + 1;
            s = self.rebuild(&mut counts, want, s, &guard);
        }
        // SAFETY: `s` is the current array, non-null after `rebuild`, and only
        // writers (serialised by `writer`) replace it.
        let sl = unsafe { s.deref() };
        let mut i = home(key, sl.mask);
        let mut free: Option<usize> = None;
        loop {
            let slot = &sl.slots[i];
            let p = slot.ptr.load(Ordering::Relaxed);
            if p.is_null() {
                break;
            }
            if p == tombstone() {
                free.get_or_insert(i);
            } else if slot.key.load(Ordering::Relaxed) == key {
                return Err(Duplicate);
            }
            i = (i + 1) & sl.mask;
        }
        let at = match free {
            Some(t) => {
                counts.dead -= 1;
                t
            }
            None => i,
        };
        let slot = &sl.slots[at];
        slot.key.store(key, Ordering::Relaxed);
        slot.ptr.store(obj as *const T as *mut T, Ordering::Release);
        counts.live += 1;
        Ok(())
    }

    /// Remove `obj` (by identity). Returns whether it was present.
    pub fn remove(&self, obj: &T) -> bool {
        let guard = epoch::pin();
        let mut counts = self.writer.lock();
        let s = self.slots.load(Ordering::Acquire, &guard);
        // SAFETY: as in `insert`.
        let Some(sl) = (unsafe { s.as_ref() }) else {
            return false;
        };
        let key = obj.key();
        let target = obj as *const T as *mut T;
        let mut i = home(key, sl.mask);
        loop {
            let slot = &sl.slots[i];
            let p = slot.ptr.load(Ordering::Relaxed);
            if p.is_null() {
                return false;
            }
            if p == target {
                slot.ptr.store(tombstone(), Ordering::Release);
                counts.live -= 1;
                counts.dead += 1;
                if counts.dead > 64 && counts.dead > counts.live {
                    let want = counts.live;
                    self.rebuild(&mut counts, want, s, &guard);
                }
                return true;
            }
            i = (i + 1) & sl.mask;
        }
    }

    /// Replace the array by one sized for `want` entries without tombstones.
    fn rebuild<'g>(
        &self,
        counts: &mut Counts,
        want: usize,
        old: Shared<'g, Slots<T>>,
        guard: &'g Guard,
    ) -> Shared<'g, Slots<T>> {
        let cap = (want.max(8) * 2).next_power_of_two();
        let fresh = Slots::<T>::new(cap);
        // SAFETY: `old` is the current array (writer lock held).
        if let Some(o) = unsafe { old.as_ref() } {
            for slot in o.slots.iter() {
                let p = slot.ptr.load(Ordering::Relaxed);
                if p.is_null() || p == tombstone() {
                    continue;
                }
                let key = slot.key.load(Ordering::Relaxed);
                let mut i = home(key, fresh.mask);
                while !fresh.slots[i].ptr.load(Ordering::Relaxed).is_null() {
                    i = (i + 1) & fresh.mask;
                }
                fresh.slots[i].key.store(key, Ordering::Relaxed);
                fresh.slots[i].ptr.store(p, Ordering::Relaxed);
            }
        }
        counts.dead = 0;
        let new = Owned::new(fresh).into_shared(guard);
        self.slots.store(new, Ordering::Release);
        if !old.is_null() {
            // SAFETY: `old` is no longer reachable from the table; readers
            // that loaded it are pinned, so it is freed after they unpin.
            unsafe { guard.defer_destroy(old) };
        }
        new
    }

    /// Visit every object present, without taking references. `f` runs with
    /// the pin held: it must not block.
    pub fn for_each<'g>(&self, guard: &'g Guard, mut f: impl FnMut(&'g T)) {
        let s = self.slots.load(Ordering::Acquire, guard);
        // SAFETY: as in `lookup`.
        let Some(sl) = (unsafe { s.as_ref() }) else {
            return;
        };
        for slot in sl.slots.iter() {
            let p = slot.ptr.load(Ordering::Acquire);
            if !p.is_null() && p != tombstone() {
                // SAFETY: as in `lookup`.
                f(unsafe { &*p });
            }
        }
    }

    /// Number of objects present.
    pub fn len(&self) -> usize {
        self.writer.lock().live
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: Keyed + 'static> Default for Table<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for Table<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no reader can hold the array any more... except
        // readers pinned before the table itself became unreachable; tables
        // are dropped only after a grace period (see the connection table).
        unsafe {
            let g = epoch::unprotected();
            let s = self.slots.load(Ordering::Relaxed, g);
            if !s.is_null() {
                drop(s.into_owned());
            }
        }
    }
}
