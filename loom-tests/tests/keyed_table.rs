//! The tables of C kinds (`relay::cobject::CTable`) under loom: an
//! `add_unique` of a new object racing the last put of the object that
//! holds the key, with the real `core::keyed` decisions and the real
//! `core::refcount::LookupCount`.
//!
//! `add_unique`, `remove_entry`, `get`, `put`, `release` and `leave_tables`
//! below are `CTable::add_unique`, `CTable::remove_entry`, `CTable::get`,
//! the relay object's get and put, `CObject::release` and
//! `CObject::leave_tables`, step for step, on an object reduced to its
//! count, its membership list (behind a loom `Mutex`, as the object's
//! `links`) and the state its kind's release writes. The decisions (is the
//! holder live: take a reference or replace it; does the key still map to
//! me) are `core::keyed`'s, called here as the library calls them.
//!
//! The table is the library's: a copy-on-write map published with one
//! atomic store, read without locks, written under a writer lock (a loom
//! `Mutex` here, so that the models explore the interleavings around it).
//! Maps replaced are kept until the model ends (the library frees them
//! after a grace period; that reclamation is crossbeam-epoch's, modelled in
//! `table.rs`), and objects are never freed during a model: what is checked
//! is that nobody takes a reference on a released object, that nobody
//! reads the object's state after its release began (a loom `UnsafeCell`
//! the release writes), and that no released object is left in the table.
//!
//! The properties, for `add_unique(key, new)` racing the last put of `old`
//! (which holds `key`): exactly one of
//!
//! * `add_unique` returns `old` with a reference taken before `old`'s count
//!   reached zero (and `old` is released only after that reference is put);
//!   `new` is not in the table;
//! * it inserts `new`, and afterwards the table maps `key` to `new` (`old`'s
//!   release never removes `new`'s entry);
//!
//! never both; `old` is released once; the table never maps `key` to a
//! released object once every thread finished; and the counts end balanced
//! (each object's last put releases it, and the table is empty then).

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicPtr, AtomicUsize, Ordering, Ordering::SeqCst};
use loom::sync::Mutex;
use loom::thread;
use std::collections::HashMap;
use std::ptr::NonNull;
use traceref_loom_tests::core::keyed::{self, Added};
use traceref_loom_tests::core::refcount::{Dec, Inc, LookupCount};
use traceref_loom_tests::model;

const KEY: u64 = 7;
const OTHER_KEY: u64 = 8;
/// The object's state while it lives, and once its kind's release ran.
const LIVE: u64 = 0x11fe;
const RELEASED: u64 = 0xdead;

/// A membership: (table, key), as `cobject::Membership`.
struct Membership {
    table: *const Tbl,
    key: u64,
}

struct Obj {
    name: &'static str,
    count: LookupCount,
    /// The object's `links.tables`.
    links: Mutex<Vec<Membership>>,
    /// Written by the release (as the kind's release may), read by holders
    /// of references.
    state: UnsafeCell<u64>,
    releases: AtomicUsize,
    /// References held by the model's code (besides the count, which is
    /// the library's): a release with one outstanding is a failure.
    held: AtomicUsize,
}

// SAFETY: the memberships' table pointers are only dereferenced while the
// table lives (until the model ends); `state` is what the models check.
unsafe impl Sync for Obj {}
unsafe impl Send for Obj {}

/// An object pointer as the table stores it (`Ptr<CObject>`): compared by
/// address.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct P(NonNull<Obj>);

// SAFETY: see `Obj`.
unsafe impl Send for P {}

impl P {
    fn new(name: &'static str) -> Self {
        P(NonNull::from(Box::leak(Box::new(Obj {
            name,
            count: LookupCount::new(),
            links: Mutex::new(Vec::new()),
            state: UnsafeCell::new(LIVE),
            releases: AtomicUsize::new(0),
            held: AtomicUsize::new(0),
        }))))
    }

    fn get<'a>(self) -> &'a Obj {
        // SAFETY: objects are freed only by `dealloc`, at the end.
        unsafe { self.0.as_ref() }
    }

    /// # Safety
    /// No thread touches the object any more.
    unsafe fn dealloc(self) {
        // SAFETY: per the contract; allocated by `new`.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

type Map = HashMap<u64, P>;

struct Tbl {
    /// The current map (the library's `Atomic<Map>`).
    map: AtomicPtr<Map>,
    /// The writer lock, guarding the maps ever published (freed at the
    /// end, standing for the library's grace period).
    writer: Mutex<Vec<*mut Map>>,
}

// SAFETY: the maps are immutable once published and freed only at the end.
unsafe impl Sync for Tbl {}
unsafe impl Send for Tbl {}

#[derive(Clone, Copy)]
struct T(NonNull<Tbl>);
// SAFETY: see `Tbl`.
unsafe impl Send for T {}

impl T {
    fn new() -> Self {
        T(NonNull::from(Box::leak(Box::new(Tbl {
            map: AtomicPtr::new(std::ptr::null_mut()),
            writer: Mutex::new(Vec::new()),
        }))))
    }

    fn get<'a>(self) -> &'a Tbl {
        // SAFETY: freed only by `dealloc`, at the end.
        unsafe { self.0.as_ref() }
    }

    /// # Safety
    /// No thread touches the table any more.
    unsafe fn dealloc(self) {
        // SAFETY: per the contract; the maps were published by `publish`
        // and are freed once, here.
        unsafe {
            let t = Box::from_raw(self.0.as_ptr());
            for m in t.writer.lock().unwrap().drain(..) {
                drop(Box::from_raw(m));
            }
        }
    }
}

impl Tbl {
    /// The current map (`CTable::current`).
    fn current(&self) -> Option<&Map> {
        // SAFETY: maps are freed only at the end of the model.
        unsafe { self.map.load(Ordering::Acquire).as_ref() }
    }

    /// Publish `m` (`CTable::publish`), the writer lock held.
    fn publish(&self, maps: &mut Vec<*mut Map>, m: Map) {
        let p = Box::into_raw(Box::new(m));
        maps.push(p);
        self.map.swap(p, Ordering::AcqRel);
    }

    /// The object `key` maps to, read without locks.
    fn lookup(&self, key: u64) -> Option<P> {
        self.current().and_then(|m| m.get(&key).copied())
    }
}

/// The relay object's get (get-unless-zero).
fn get_ref(o: P) -> bool {
    match o.get().count.get() {
        Some(Inc::Up(_)) => true,
        None => false,
        other => panic!("get on {} returned {other:?}", o.get().name),
    }
}

/// A reference just taken by the model's code: check the object is live.
fn hold(o: P) {
    let obj = o.get();
    obj.held.fetch_add(1, SeqCst);
    assert_eq!(
        obj.releases.load(SeqCst),
        0,
        "{} held once released",
        obj.name
    );
    // SAFETY: a read, checked by loom against the release's write.
    obj.state
        .with(|s| assert_eq!(unsafe { *s }, LIVE, "{}", obj.name));
}

/// Put a reference taken by the model's code.
fn unhold(o: P) {
    o.get().held.fetch_sub(1, SeqCst);
    put(o);
}

/// The relay object's put: the last one releases the object.
fn put(o: P) {
    match o.get().count.put() {
        Dec::ToZero => release(o),
        Dec::Down(_) => {}
        other => panic!("put on {} returned {other:?}", o.get().name),
    }
}

/// `CObject::release`: leave every table, then the kind's release (which
/// writes the object's state).
fn release(o: P) {
    let obj = o.get();
    assert_eq!(
        obj.releases.fetch_add(1, SeqCst),
        0,
        "{} released twice",
        obj.name
    );
    assert_eq!(obj.held.load(SeqCst), 0, "{} released while held", obj.name);
    leave_tables(o);
    // SAFETY: a write, checked by loom against the holders' reads.
    obj.state.with_mut(|s| unsafe { *s = RELEASED });
}

/// `CObject::leave_tables`: take the list under the object's lock alone,
/// then visit each table.
fn leave_tables(o: P) {
    let list = std::mem::take(&mut *o.get().links.lock().unwrap());
    for m in list {
        // SAFETY: tables live until the model ends.
        remove_entry(unsafe { &*m.table }, m.key, o);
    }
}

/// `CTable::remove_entry`.
fn remove_entry(t: &Tbl, key: u64, o: P) {
    let mut w = t.writer.lock().unwrap();
    let Some(cur) = t.current() else {
        return;
    };
    if let Some(m) = keyed::without_if_mine(cur, &key, o) {
        t.publish(&mut w, m);
    }
}

/// `CTable::add_unique`.
fn add_unique(t: &Tbl, key: u64, obj: P) -> Added<P> {
    let mut w = t.writer.lock().unwrap();
    let me = t as *const Tbl;
    let mut map = t.current().cloned().unwrap_or_default();
    let done = keyed::add_unique(
        &mut map,
        key,
        obj,
        get_ref,
        |e| {
            e.get()
                .links
                .lock()
                .unwrap()
                .retain(|m| !std::ptr::eq(m.table, me))
        },
        |key| {
            let mut links = obj.get().links.lock().unwrap();
            if links.iter().any(|m| std::ptr::eq(m.table, me)) {
                return false;
            }
            links.push(Membership {
                table: me,
                key: *key,
            });
            true
        },
    );
    if done.changed {
        t.publish(&mut w, map);
    }
    done.added
}

/// `CTable::get`: look up without locks, take a reference unless the count
/// is zero. The reference is held, checked and put.
fn lookup_get(t: &Tbl, key: u64) -> Option<P> {
    let o = t.lookup(key)?;
    if !get_ref(o) {
        return None;
    }
    hold(o);
    unhold(o);
    Some(o)
}

/// The adder's side: `add_unique(key, new)`; on `Existing`, the reference
/// on the holder is used and put (as the C caller does).
fn adder(t: T, key: u64, new: P) -> Added<P> {
    let added = add_unique(t.get(), key, new);
    if let Added::Existing(e) = added {
        hold(e);
        unhold(e);
    }
    added
}

/// `old` in the table under `KEY` with one reference (its owner's, put by
/// the final put), and `new` with one (the adder's caller's).
fn setup() -> (T, P, P) {
    let t = T::new();
    let old = P::new("old");
    let new = P::new("new");
    assert_eq!(add_unique(t.get(), KEY, old), Added::Inserted);
    (t, old, new)
}

/// After every thread finished: no released object in the table, `old`
/// released once, each new object's membership matching the table; then
/// their last puts empty the table.
fn finish(t: T, old: P, news: &[P]) {
    let tbl = t.get();
    if let Some(m) = tbl.current() {
        for (k, o) in m {
            let o = o.get();
            assert_eq!(
                o.releases.load(SeqCst),
                0,
                "key {k} maps to released {}",
                o.name
            );
        }
    }
    assert_eq!(old.get().releases.load(SeqCst), 1, "old not released once");
    assert_eq!(old.get().count.refs(), 0);
    assert!(old.get().links.lock().unwrap().is_empty());
    for &new in news {
        assert_eq!(new.get().releases.load(SeqCst), 0);
        assert_eq!(new.get().count.refs(), 1);
        let in_table = tbl
            .current()
            .map_or(0, |m| m.values().filter(|&&o| o == new).count());
        assert_eq!(new.get().links.lock().unwrap().len(), in_table);
        put(new);
        assert_eq!(new.get().releases.load(SeqCst), 1);
    }
    assert!(
        tbl.current().is_none_or(|m| m.is_empty()),
        "table not empty"
    );
    // SAFETY: every thread finished.
    unsafe {
        old.dealloc();
        for &new in news {
            new.dealloc();
        }
        t.dealloc();
    }
}

/// Check the add's outcome against the table once both finished.
fn check_one_winner(t: T, old: P, new: P, added: Added<P>) {
    match added {
        Added::Existing(e) => {
            assert_eq!(e, old);
            assert_eq!(t.get().lookup(KEY), None, "old's release left its key");
        }
        Added::Inserted => {
            assert_eq!(t.get().lookup(KEY), Some(new), "new's entry lost");
        }
        Added::AlreadyIn => panic!("new refused"),
    }
}

/// `add_unique(KEY, new)` races the last put of `old`, which holds `KEY`.
#[test]
fn add_unique_races_last_put() {
    model("add_unique_races_last_put", 10, || {
        let (t, old, new) = setup();

        let a = thread::spawn(move || adder(t, KEY, new));
        put(old);
        let added = a.join().unwrap();

        check_one_winner(t, old, new, added);
        finish(t, old, &[new]);
    });
}

/// The same, with a third thread looking `KEY` up (`CTable::get`) and
/// holding what it found for a while: it finds `old` before its count
/// reached zero, `new` once inserted, or nothing; what it holds is live, and
/// if it found `new` the add inserted it.
#[test]
fn add_unique_races_last_put_and_get() {
    model("add_unique_races_last_put_and_get", 5, || {
        let (t, old, new) = setup();

        let a = thread::spawn(move || adder(t, KEY, new));
        let g = thread::spawn(move || lookup_get(t.get(), KEY));
        put(old);
        let added = a.join().unwrap();
        let got = g.join().unwrap();

        check_one_winner(t, old, new, added);
        if got == Some(new) {
            assert_eq!(added, Added::Inserted);
        }
        finish(t, old, &[new]);
    });
}

/// `new` is in the table already, under `OTHER_KEY`, when it is added under
/// `KEY` racing the last put of `old`: the add is refused (or gets `old`),
/// and the refusal must not leave `old`'s entry behind once `old` is
/// released.
#[test]
fn refused_add_races_last_put() {
    model("refused_add_races_last_put", 10, || {
        let (t, old, new) = setup();
        assert_eq!(add_unique(t.get(), OTHER_KEY, new), Added::Inserted);

        let a = thread::spawn(move || adder(t, KEY, new));
        put(old);
        let added = a.join().unwrap();

        match added {
            Added::Existing(e) => assert_eq!(e, old),
            Added::AlreadyIn => {}
            Added::Inserted => panic!("new inserted twice"),
        }
        assert_eq!(t.get().lookup(KEY), None, "released old left in the table");
        assert_eq!(t.get().lookup(OTHER_KEY), Some(new));
        finish(t, old, &[new]);
    });
}

/// Two adders of `KEY` (objects `new` and `new2`) race the last put of
/// `old`: at most one of them inserts, and then the table maps `KEY` to it;
/// the other gets `old` (before its count reached zero) or the winner;
/// with no insertion, `KEY` is gone with `old`.
#[test]
fn two_add_uniques_race_last_put() {
    model("two_add_uniques_race_last_put", 5, || {
        let (t, old, new) = setup();
        let new2 = P::new("new2");

        let a = thread::spawn(move || adder(t, KEY, new));
        let b = thread::spawn(move || adder(t, KEY, new2));
        put(old);
        let added = [(new, a.join().unwrap()), (new2, b.join().unwrap())];

        let inserted: Vec<P> = added
            .iter()
            .filter(|(_, r)| *r == Added::Inserted)
            .map(|&(n, _)| n)
            .collect();
        assert!(inserted.len() <= 1, "two winners");
        assert_eq!(t.get().lookup(KEY), inserted.first().copied());
        for (_, r) in added {
            match r {
                Added::Inserted => {}
                Added::Existing(e) => assert!(e == old || inserted == [e], "got {e:?}"),
                Added::AlreadyIn => panic!("refused"),
            }
        }
        finish(t, old, &[new, new2]);
    });
}
