//! The table (`core::table`) with crossbeam-epoch's loom build: lookups
//! racing removal and deferred free, and racing an insertion that rebuilds
//! the slot array.
//!
//! Objects are retired as `core::reclaim` does it: after leaving the table,
//! a closure handed to crossbeam-epoch with `defer_unchecked` (then a flush)
//! frees them once every thread pinned at that time has unpinned. Here the
//! "free" marks the object freed and overwrites its contents (a loom
//! `UnsafeCell`); the memory itself is released when the model ends, so that
//! a free that came too early shows up as a failed check or a loom causality
//! violation rather than as a use after free of the model's own memory.
//! (The real `reclaim` batches retired objects in global lists, which would
//! outlive a loom execution; the grace period it relies on is this one.)
//!
//! The table's writer lock is a `parking_lot::Mutex`, which loom does not
//! see: that is sound here because only one thread writes to the table
//! during each race (the remover, or the inserter), so it is never contended.

use crossbeam_epoch as epoch;
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use std::ptr::NonNull;
use traceref_loom_tests::core::refcount::{Dec, Inc, LookupCount};
use traceref_loom_tests::core::table::{Keyed, Table};
use traceref_loom_tests::model;

const LIVE: u64 = 0x11fe;
const FREED: u64 = 0xdead;

struct Obj {
    key: u64,
    count: LookupCount,
    data: UnsafeCell<u64>,
    freed: AtomicBool,
}

// SAFETY: `data` is written only by the deferred free, which the grace period
// orders after every reader (that is what the models check).
unsafe impl Sync for Obj {}
unsafe impl Send for Obj {}

impl Keyed for Obj {
    fn key(&self) -> u64 {
        self.key
    }
}

impl Obj {
    /// Check, under a pin or a reference that keeps the object's memory
    /// valid, that it was not freed.
    fn check_live(&self) {
        assert!(
            !self.freed.load(SeqCst),
            "object {} freed under a reader",
            self.key
        );
        self.data.with(|d| assert_eq!(unsafe { *d }, LIVE));
    }
}

/// An object shared between the model's threads.
#[derive(Clone, Copy)]
struct ObjRef(NonNull<Obj>);
// SAFETY: see `Obj`.
unsafe impl Send for ObjRef {}

impl ObjRef {
    fn new(key: u64) -> Self {
        let o = Box::new(Obj {
            key,
            count: LookupCount::new(),
            data: UnsafeCell::new(LIVE),
            freed: AtomicBool::new(false),
        });
        ObjRef(NonNull::from(Box::leak(o)))
    }

    fn from(o: &Obj) -> Self {
        ObjRef(NonNull::from(o))
    }

    fn get(&self) -> &Obj {
        // SAFETY: the memory is released only by `dealloc`, at the end.
        unsafe { self.0.as_ref() }
    }

    /// Retire the object, as `reclaim::retire` does: free it after a grace
    /// period.
    fn retire(self) {
        let guard = epoch::pin();
        let work = move || {
            let o = self.get();
            o.data.with_mut(|d| unsafe { *d = FREED });
            o.freed.store(true, SeqCst);
        };
        // SAFETY: the object has left the table and has no reference left.
        unsafe { guard.defer_unchecked(work) };
        guard.flush();
        drop(guard);
        // A free is due two epochs after its retirement: pin and flush twice
        // more (as `reclaim::barrier` does), so that the free may run while
        // the other thread is still at work, unless a pin holds it back.
        for _ in 0..2 {
            epoch::pin().flush();
        }
    }

    /// Release the memory once the model is over.
    ///
    /// # Safety
    /// No thread touches the object any more.
    unsafe fn dealloc(self) {
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

/// At the end of a model, with every other thread finished: let the epoch
/// advance until the deferred frees have run, and check that they did. (The
/// yield tells loom that this is a retry loop: without it, loom may keep
/// answering the loads of the epoch with an older value.)
fn collect_until_freed(objs: &[ObjRef]) {
    for _ in 0..8 {
        if objs.iter().all(|o| o.get().freed.load(SeqCst)) {
            return;
        }
        epoch::pin().flush();
        thread::yield_now();
    }
    panic!("a retired object was not freed after the grace period");
}

/// A reader pins, looks the key up and reads the object, while the owner
/// removes it from the table and retires it. The reader finds it or not, but
/// an object it found is not freed before it unpins.
#[test]
fn lookup_races_remove_and_deferred_free() {
    model("lookup_races_remove_and_deferred_free", 2, || {
        let table = Arc::new(Table::<Obj>::new());
        let o = ObjRef::new(7);
        table.insert(o.get()).unwrap();

        let reader = {
            let table = table.clone();
            thread::spawn(move || {
                let guard = epoch::pin();
                if let Some(found) = table.lookup(7, &guard) {
                    assert_eq!(found.key, 7);
                    found.check_live();
                }
                drop(guard);
            })
        };
        assert!(table.remove(o.get()));
        o.retire();
        reader.join().unwrap();

        collect_until_freed(&[o]);
        assert!(table.is_empty());
        drop(table);
        unsafe { o.dealloc() };
    });
}

/// Drop a reference on a table object; the put that reaches zero unlinks it
/// and retires it (the relay object's release).
fn put(table: &Table<Obj>, o: ObjRef) {
    match o.get().count.put() {
        Dec::ToZero => {
            assert!(table.remove(o.get()));
            o.retire();
        }
        Dec::Down(_) => {}
        other => panic!("put on a held reference returned {other:?}"),
    }
}

/// The relay getter (`get_by_id`) racing the owner's last put: the reader
/// pins, looks the key up, takes a reference unless the count is zero, and
/// unpins; holding the reference it reads the object, then drops it. The
/// owner drops its reference meanwhile; whichever put reaches zero removes
/// the object and retires it. A getter that succeeded reads a live object
/// after unpinning; one that failed never uses it.
#[test]
fn getter_races_last_put() {
    model("getter_races_last_put", 2, || {
        let table = Arc::new(Table::<Obj>::new());
        let o = ObjRef::new(7);
        table.insert(o.get()).unwrap();

        let reader = {
            let table = table.clone();
            thread::spawn(move || {
                let guard = epoch::pin();
                let got = table.lookup(7, &guard).and_then(|found| {
                    found.check_live();
                    match found.count.get() {
                        None => None,
                        Some(Inc::Up(_)) => Some(ObjRef::from(found)),
                        Some(other) => panic!("get returned {other:?}"),
                    }
                });
                drop(guard);
                if let Some(held) = got {
                    held.get().check_live();
                    put(&table, held);
                }
            })
        };
        put(&table, o);
        reader.join().unwrap();

        collect_until_freed(&[o]);
        assert!(table.is_empty());
        drop(table);
        unsafe { o.dealloc() };
    });
}

/// A reader looks up keys that stay present, and the key being inserted,
/// while the insertion grows the table: a rebuild into a new slot array,
/// published with one store, the old array retired. The present keys are
/// always found, through the old array or the new one; the new key is found
/// as the inserted object or not at all. (loom does not see the old array's
/// memory being freed: that its grace period holds is crossbeam-epoch's
/// part, here only exercised.)
#[test]
fn lookup_races_rebuild() {
    // The first insertion makes 16 slots; a table with 12 entries is full
    // (three quarters), so the 13th insertion rebuilds it.
    const PRESENT: u64 = 12;
    model("lookup_races_rebuild", 2, || {
        let table = Arc::new(Table::<Obj>::new());
        let objs: Vec<ObjRef> = (1..=PRESENT + 1).map(ObjRef::new).collect();
        for o in &objs[..PRESENT as usize] {
            table.insert(o.get()).unwrap();
        }
        let new = objs[PRESENT as usize];

        let reader = {
            let table = table.clone();
            thread::spawn(move || {
                let guard = epoch::pin();
                let first = table.lookup(1, &guard).expect("present key not found");
                assert_eq!(first.key, 1);
                if let Some(found) = table.lookup(PRESENT + 1, &guard) {
                    assert!(std::ptr::eq(found, new.get()));
                }
                let last = table
                    .lookup(PRESENT, &guard)
                    .expect("present key not found");
                assert_eq!(last.key, PRESENT);
                drop(guard);
            })
        };
        table.insert(new.get()).unwrap();
        // Let the retired array's grace period run out while the reader may
        // still be at work (it holds the array back while pinned on it).
        for _ in 0..2 {
            epoch::pin().flush();
        }
        reader.join().unwrap();

        assert_eq!(table.len(), PRESENT as usize + 1);
        drop(table);
        for o in objs {
            unsafe { o.dealloc() };
        }
    });
}
