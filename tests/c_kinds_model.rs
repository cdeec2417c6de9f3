//! Property test of the objects of C kinds (`struct traceref_object`,
//! `struct traceref_kind`) and their tables (`struct traceref_table`),
//! driven through the C functions with random operation sequences generated
//! by `proptest`, each mirrored on a reference model of who holds what.
//!
//! The objects live in boxed Rust structs that embed `traceref_object`
//! first, of two kinds: one with a release function, one without. Both
//! kinds' callbacks record into one process-wide log: the release (with
//! what it saw: its count, whether a table still held it, its container's
//! count), and the free, which gives the box back.
//!
//! After every step:
//! * the releases logged during the step are exactly the model's, in order
//!   (an object, then the containers its release let go), each seeing a
//!   count of 0, no table holding it and its container still held;
//! * every free logged is that of a released object, once, after its
//!   release;
//! * every object the test holds has the model's count;
//! * every key of every live table finds exactly the model's object;
//! * stderr got one line per misuse the step committed on purpose (refused
//!   containers, a second close, an init of a live object, an add of an
//!   object to a table it is in) and none otherwise.
//!
//! At a barrier step and at the end of each sequence (everything put, the
//! tables destroyed, then a barrier), every released object has been freed
//! exactly once and the census is the model's. One `#[test]` only: the
//! census and the log are process-wide.

#![cfg(unix)]

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ffi::{c_int, c_void, CStr};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::mem::{size_of, MaybeUninit};
use std::os::unix::io::AsRawFd;
use std::ptr::{self, addr_of_mut};
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::Mutex;
use traceref::ffi::bt::traceref_live_objects;
use traceref::ffi::object::*;
use traceref::ffi::relay::traceref_reclaim_barrier;
use traceref::ffi::table::*;

// ---------------------------------------------------------------------------
// The objects and their kinds.

/// A test object: the library's part first, so that the `traceref_object *`
/// the callbacks receive is also a pointer to the whole struct.
#[repr(C)]
struct TestObj {
    header: traceref_object,
    /// Unique over the whole run (addresses are reused after a free).
    id: u64,
    /// The container the test set (read by the release function).
    container: AtomicPtr<TestObj>,
}

#[derive(Debug)]
enum Event {
    Release {
        id: u64,
        /// `traceref_object_get_ref_count` of the object in its release.
        count: i64,
        /// How many of the live tables still held it in its release.
        tables_in: usize,
        /// The count of its container in its release, if it has one.
        container_count: Option<i64>,
    },
    Free {
        id: u64,
    },
}

/// Written by the release functions (on the thread of the put) and the free
/// functions (on the reclaim thread or in a barrier).
static LOG: Mutex<Vec<Event>> = Mutex::new(Vec::new());

fn log(e: Event) {
    LOG.lock().unwrap_or_else(|e| e.into_inner()).push(e);
}

fn drain_log() -> Vec<Event> {
    std::mem::take(&mut *LOG.lock().unwrap_or_else(|e| e.into_inner()))
}

thread_local! {
    /// The tables alive now (the release function checks that none of them
    /// still holds the object it releases). Only the test thread creates,
    /// destroys and releases, so a thread-local list is the whole list.
    static LIVE_TABLES: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

unsafe extern "C" fn release_obj(obj: *mut traceref_object) {
    let p = obj.cast::<TestObj>();
    // SAFETY: `obj` is the header, at offset 0, of a `TestObj` this test
    // boxed; its memory stays valid until the free function, and `id` was
    // written before the object was initialised.
    let id = unsafe { (*p).id };
    let count = traceref_object_get_ref_count(obj) as i64;
    let tables = LIVE_TABLES
        .try_with(|t| t.borrow().clone())
        .unwrap_or_default();
    let tables_in = tables
        .into_iter()
        // A live table and an object whose memory is valid: -1 unless the
        // table still holds the object (which would be the bug looked for).
        .filter(|&t| traceref_table_remove(t as *mut traceref_table, obj) == 0)
        .count();
    // SAFETY: as above; `container` is an atomic, written by the test thread
    // before any release could see it.
    let c = unsafe { (*p).container.load(Ordering::Acquire) };
    // The container is still held by this object's reference, dropped only
    // after this function returns.
    let container_count = (!c.is_null()).then(|| traceref_object_get_ref_count(c.cast()) as i64);
    log(Event::Release {
        id,
        count,
        tables_in,
        container_count,
    });
}

unsafe extern "C" fn free_obj(obj: *mut traceref_object) {
    let p = obj.cast::<TestObj>();
    // SAFETY: as in `release_obj`: the memory is still ours until we free it
    // just below, and the library touches it no more.
    let id = unsafe { (*p).id };
    // SAFETY: `p` came from `Box::<MaybeUninit<TestObj>>::into_raw` in
    // `Harness::init` and the free function runs once per object (what this
    // test checks through the log, by id); a `MaybeUninit` box makes no
    // claim on what the library left in the header.
    drop(unsafe { Box::from_raw(p.cast::<MaybeUninit<TestObj>>()) });
    log(Event::Free { id });
}

/// A `traceref_kind` holds a raw name pointer: wrap it to make it a static.
struct StaticKind(traceref_kind);
// SAFETY: the kind is immutable and its pointers are a string literal and
// functions, all valid from any thread.
unsafe impl Sync for StaticKind {}

static WITH_RELEASE: StaticKind = StaticKind(traceref_kind {
    name: c"model object".as_ptr(),
    release: Some(release_obj),
    free: Some(free_obj),
});

static WITHOUT_RELEASE: StaticKind = StaticKind(traceref_kind {
    name: ptr::null(),
    release: None,
    free: Some(free_obj),
});

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

// ---------------------------------------------------------------------------
// Keys and operations.

const ID_KEYS: [u64; 4] = [0, 1, 2, u64::MAX];
/// "1" also exists as a number: the two key spaces must stay apart; "a",
/// "ab" and "abc" are prefixes of each other: keys compare in full.
const STR_KEYS: [&CStr; 5] = [c"", c"a", c"ab", c"abc", c"1"];

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Key {
    Id(u64),
    Str(usize),
}

fn all_keys() -> impl Iterator<Item = Key> {
    ID_KEYS
        .iter()
        .map(|&k| Key::Id(k))
        .chain((0..STR_KEYS.len()).map(Key::Str))
}

/// A key for an add or a lookup: any key, or one the table has now (so
/// that lookups find something and adds meet taken keys often enough).
#[derive(Clone, Copy, Debug)]
enum KeySel {
    Any(Key),
    Member(usize),
}

/// Operations name objects and tables by selectors, resolved modulo the
/// objects the test holds and the live tables when the step runs (so any
/// sequence is valid, and shrinks well).
#[derive(Clone, Debug)]
enum Op {
    Init {
        release: bool,
    },
    Get(usize),
    Put(usize),
    Close(usize),
    SetContainer(usize, usize),
    InitLive(usize),
    TableCreate,
    TableDestroy(usize),
    Add(usize, usize, KeySel),
    Lookup(usize, KeySel),
    Remove(usize, usize),
    ForEach {
        table: usize,
        stop_after: usize,
        keep: bool,
    },
    Barrier,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let sel = || 0..16usize;
    let key = prop_oneof![
        (0..ID_KEYS.len()).prop_map(|i| Key::Id(ID_KEYS[i])),
        (0..STR_KEYS.len()).prop_map(Key::Str),
    ];
    let key_sel = prop_oneof![
        2 => key.prop_map(KeySel::Any),
        1 => sel().prop_map(KeySel::Member),
    ];
    prop_oneof![
        3 => any::<bool>().prop_map(|release| Op::Init { release }),
        4 => sel().prop_map(Op::Get),
        3 => sel().prop_map(Op::Put),
        2 => sel().prop_map(Op::Close),
        3 => (sel(), sel()).prop_map(|(a, b)| Op::SetContainer(a, b)),
        1 => sel().prop_map(Op::InitLive),
        1 => Just(Op::TableCreate),
        1 => sel().prop_map(Op::TableDestroy),
        6 => (sel(), sel(), key_sel.clone()).prop_map(|(t, o, k)| Op::Add(t, o, k)),
        4 => (sel(), key_sel).prop_map(|(t, k)| Op::Lookup(t, k)),
        2 => (sel(), sel()).prop_map(|(t, o)| Op::Remove(t, o)),
        3 => (sel(), 0..4usize, any::<bool>())
            .prop_map(|(table, stop_after, keep)| Op::ForEach { table, stop_after, keep }),
        1 => Just(Op::Barrier),
    ]
}

/// How often each kind of step ran, with its outcome (printed at the end, to
/// see that the sequences reach the interesting states).
static STATS: Mutex<BTreeMap<&'static str, usize>> = Mutex::new(BTreeMap::new());

fn stat(what: &'static str) {
    *STATS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(what)
        .or_insert(0) += 1;
}

// ---------------------------------------------------------------------------
// The reference model.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Owner {
    /// The test holds the owner's reference.
    Held,
    /// Dropped by `traceref_object_close`.
    Closed,
    /// Dropped by a put (so the test never closes the object).
    Put,
}

struct MObj {
    ptr: *mut TestObj,
    id: u64,
    has_release: bool,
    owner: Owner,
    /// References the test holds besides the owner's.
    extras: u32,
    /// Objects not yet released whose container this is (one reference each).
    children: u32,
    container: Option<usize>,
    /// Table index -> key.
    tables: BTreeMap<usize, Key>,
    released: bool,
    releases_seen: u32,
    frees_seen: u32,
}

impl MObj {
    fn count(&self) -> i64 {
        (self.owner == Owner::Held) as i64 + self.extras as i64 + self.children as i64
    }
    /// Whether the test holds a reference, and so may use the object.
    fn usable(&self) -> bool {
        !self.released && ((self.owner == Owner::Held) || self.extras > 0)
    }
}

struct MTable {
    ptr: *mut traceref_table,
    map: BTreeMap<Key, usize>,
    live: bool,
}

struct Harness {
    objs: Vec<MObj>,
    by_id: HashMap<u64, usize>,
    tables: Vec<MTable>,
    /// Releases the model expects since the last check: id and the count its
    /// container should show in the release.
    expected_releases: VecDeque<(u64, Option<i64>)>,
    /// Misuse lines the current step should print.
    reports: usize,
    census_base: usize,
}

/// Fail the case with a message (like `prop_assert!`, usable in helpers).
macro_rules! check {
    ($cond:expr, $($fmt:tt)*) => {
        if !$cond {
            return Err(TestCaseError::fail(format!($($fmt)*)));
        }
    };
}

impl Harness {
    fn new() -> Result<Self, TestCaseError> {
        check!(traceref_reclaim_barrier() == 0, "barrier refused");
        // Leftovers of an earlier (failed) case: not this case's business.
        drain_log();
        Ok(Harness {
            objs: Vec::new(),
            by_id: HashMap::new(),
            tables: Vec::new(),
            expected_releases: VecDeque::new(),
            reports: 0,
            census_base: traceref_live_objects(),
        })
    }

    fn usable(&self) -> Vec<usize> {
        (0..self.objs.len())
            .filter(|&i| self.objs[i].usable())
            .collect()
    }

    fn live_tables(&self) -> Vec<usize> {
        (0..self.tables.len())
            .filter(|&i| self.tables[i].live)
            .collect()
    }

    fn pick_obj(&self, sel: usize) -> Option<usize> {
        let u = self.usable();
        (!u.is_empty()).then(|| u[sel % u.len()])
    }

    fn pick_table(&self, sel: usize) -> Option<usize> {
        let t = self.live_tables();
        (!t.is_empty()).then(|| t[sel % t.len()])
    }

    fn resolve_key(&self, t: usize, ks: KeySel) -> Key {
        match ks {
            KeySel::Any(k) => k,
            KeySel::Member(s) => {
                let keys: Vec<Key> = self.tables[t].map.keys().copied().collect();
                if keys.is_empty() {
                    Key::Id(ID_KEYS[s % ID_KEYS.len()])
                } else {
                    keys[s % keys.len()]
                }
            }
        }
    }

    fn hdr(&self, i: usize) -> *mut traceref_object {
        self.objs[i].ptr.cast()
    }

    /// The model's side of dropping one reference on `i` (its fields already
    /// updated by the caller): release at 0, then let go of the container.
    fn after_drop(&mut self, i: usize) {
        if self.objs[i].count() != 0 {
            return;
        }
        let o = &mut self.objs[i];
        o.released = true;
        for (t, k) in std::mem::take(&mut o.tables) {
            self.tables[t].map.remove(&k);
        }
        let container = self.objs[i].container.take();
        if self.objs[i].has_release {
            let cc = container.map(|c| self.objs[c].count());
            self.expected_releases.push_back((self.objs[i].id, cc));
        }
        if let Some(c) = container {
            self.objs[c].children -= 1;
            self.after_drop(c);
        }
    }

    fn init(&mut self, release: bool) -> Result<(), TestCaseError> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let p = Box::into_raw(Box::<MaybeUninit<TestObj>>::new_uninit()).cast::<TestObj>();
        // SAFETY: `p` is a fresh allocation of a `TestObj`; the header is
        // filled with garbage (the library must not need zeroed memory), the
        // other fields are written in place, without reading anything.
        unsafe {
            ptr::write_bytes(
                addr_of_mut!((*p).header).cast::<u8>(),
                0xA5,
                size_of::<traceref_object>(),
            );
            addr_of_mut!((*p).id).write(id);
            addr_of_mut!((*p).container).write(AtomicPtr::new(ptr::null_mut()));
        }
        let kind = if release {
            &WITH_RELEASE.0
        } else {
            &WITHOUT_RELEASE.0
        };
        let rc = traceref_object_init(p.cast(), kind);
        if rc != 0 {
            // SAFETY: the library refused the memory, so it is still only
            // ours; it came from the `Box::into_raw` above.
            drop(unsafe { Box::from_raw(p.cast::<MaybeUninit<TestObj>>()) });
            check!(false, "traceref_object_init on fresh memory returned {rc}");
        }
        self.by_id.insert(id, self.objs.len());
        self.objs.push(MObj {
            ptr: p,
            id,
            has_release: release,
            owner: Owner::Held,
            extras: 0,
            children: 0,
            container: None,
            tables: BTreeMap::new(),
            released: false,
            releases_seen: 0,
            frees_seen: 0,
        });
        stat(if release {
            "init (with release)"
        } else {
            "init (no release)"
        });
        Ok(())
    }

    /// Put one reference the test holds on `i`: an extra one first, else
    /// the owner's (by a put).
    fn put(&mut self, i: usize) {
        let o = &mut self.objs[i];
        if o.extras > 0 {
            o.extras -= 1;
        } else {
            assert_eq!(o.owner, Owner::Held, "put without a reference");
            o.owner = Owner::Put;
            stat("put of the owner's reference");
        }
        traceref_object_put(self.hdr(i));
        self.after_drop(i);
    }

    fn lookup(&mut self, t: usize, key: Key) -> *mut traceref_object {
        let tp = self.tables[t].ptr;
        match key {
            Key::Id(k) => traceref_table_get(tp, k),
            Key::Str(s) => traceref_table_get_str(tp, STR_KEYS[s].as_ptr()),
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Init { release } => self.init(release)?,
            Op::Get(s) => {
                let Some(i) = self.pick_obj(s) else {
                    return self.init(true);
                };
                check!(
                    traceref_object_get(self.hdr(i)),
                    "get refused on a held object"
                );
                self.objs[i].extras += 1;
                stat("get");
            }
            Op::Put(s) => {
                let Some(i) = self.pick_obj(s) else {
                    return self.init(true);
                };
                self.put(i);
                stat(if self.objs[i].released {
                    "put (released)"
                } else {
                    "put"
                });
            }
            Op::Close(s) => {
                let Some(i) = self.pick_obj(s) else {
                    return self.init(true);
                };
                match self.objs[i].owner {
                    Owner::Held => {
                        let rc = traceref_object_close(self.hdr(i));
                        check!(rc == 0, "first close returned {rc}");
                        self.objs[i].owner = Owner::Closed;
                        self.after_drop(i);
                        stat(if self.objs[i].released {
                            "close (released)"
                        } else {
                            "close"
                        });
                    }
                    Owner::Closed => {
                        // Usable, so the test holds another reference.
                        let rc = traceref_object_close(self.hdr(i));
                        check!(rc == -1, "second close returned {rc}");
                        self.reports += 1;
                        stat("close again (refused)");
                    }
                    // The library could not tell that the owner's
                    // reference is gone: closing would put one of ours.
                    Owner::Put => stat("close skipped (owner's reference put)"),
                }
            }
            Op::SetContainer(sa, d) => {
                // `d` 0 makes `a` its own container; otherwise `b` is
                // another held object (made first if there is none).
                let u = self.usable();
                if u.is_empty() || (u.len() == 1 && d != 0) {
                    return self.init(true);
                }
                let pa = sa % u.len();
                let pb = if d == 0 {
                    pa
                } else {
                    (pa + 1 + (d - 1) % (u.len() - 1)) % u.len()
                };
                let (a, b) = (u[pa], u[pb]);
                let rc = traceref_object_set_container(self.hdr(a), self.hdr(b));
                // Walk up from `b`: reaching `a` would close a cycle.
                let mut c = Some(b);
                let mut cycle = false;
                while let Some(x) = c {
                    if x == a {
                        cycle = true;
                        break;
                    }
                    c = self.objs[x].container;
                }
                if cycle || self.objs[a].container.is_some() {
                    check!(rc == -1, "refused set_container returned {rc}");
                    self.reports += 1;
                    stat(if a == b {
                        "set_container (itself, refused)"
                    } else if cycle {
                        "set_container (cycle, refused)"
                    } else {
                        "set_container (has one, refused)"
                    });
                } else {
                    check!(rc == 0, "set_container returned {rc}");
                    self.objs[a].container = Some(b);
                    self.objs[b].children += 1;
                    let bp = self.objs[b].ptr;
                    // SAFETY: `a` is held by the test, so its box is alive;
                    // the field is atomic.
                    unsafe { (*self.objs[a].ptr).container.store(bp, Ordering::Release) };
                    stat("set_container");
                }
            }
            Op::InitLive(s) => {
                let Some(i) = self.pick_obj(s) else {
                    return self.init(true);
                };
                let rc = traceref_object_init(self.hdr(i), &WITH_RELEASE.0);
                check!(rc == -1, "init of a live object returned {rc}");
                self.reports += 1;
                stat("init of a live object (refused)");
            }
            Op::TableCreate => self.table_create()?,
            Op::TableDestroy(s) => {
                let Some(t) = self.pick_table(s) else {
                    return self.table_create();
                };
                self.table_destroy(t)?;
                stat("table destroy");
            }
            Op::Add(ts, os, ks) => {
                let Some(t) = self.pick_table(ts) else {
                    return self.table_create();
                };
                let key = self.resolve_key(t, ks);
                let Some(i) = self.pick_obj(os) else {
                    return self.init(true);
                };
                let (tp, op) = (self.tables[t].ptr, self.hdr(i));
                let r = match key {
                    Key::Id(k) => traceref_table_add_unique(tp, k, op),
                    Key::Str(s) => traceref_table_add_unique_str(tp, STR_KEYS[s].as_ptr(), op),
                };
                match self.tables[t].map.get(&key).copied() {
                    Some(e) if e == i => {
                        // In under this key already: `obj` again, nothing
                        // changed, no reference taken (the header's answer).
                        check!(r == op, "re-add under its own key returned {r:p}");
                        stat("add under its own key again");
                    }
                    Some(e) => {
                        check!(
                            r == self.hdr(e),
                            "add of a taken key returned {r:p}, not the holder {:p}",
                            self.hdr(e)
                        );
                        self.objs[e].extras += 1;
                        stat("add (key taken: holder returned)");
                    }
                    None if self.objs[i].tables.contains_key(&t) => {
                        check!(
                            r.is_null(),
                            "add of a member under a new key returned {r:p}"
                        );
                        self.reports += 1;
                        stat("add (in the table already, refused)");
                    }
                    None => {
                        check!(r == op, "add returned {r:p}, not the object {op:p}");
                        self.tables[t].map.insert(key, i);
                        self.objs[i].tables.insert(t, key);
                        stat("add");
                    }
                }
            }
            Op::Lookup(ts, ks) => {
                let Some(t) = self.pick_table(ts) else {
                    return self.table_create();
                };
                let key = self.resolve_key(t, ks);
                let r = self.lookup(t, key);
                match self.tables[t].map.get(&key).copied() {
                    Some(e) => {
                        check!(r == self.hdr(e), "lookup {key:?} returned {r:p}");
                        self.objs[e].extras += 1;
                        stat("lookup (found)");
                    }
                    None => {
                        check!(r.is_null(), "lookup of absent {key:?} returned {r:p}");
                        stat("lookup (absent)");
                    }
                }
            }
            Op::Remove(ts, os) => {
                let Some(t) = self.pick_table(ts) else {
                    return self.table_create();
                };
                let Some(i) = self.pick_obj(os) else {
                    return self.init(true);
                };
                let rc = traceref_table_remove(self.tables[t].ptr, self.hdr(i));
                match self.objs[i].tables.remove(&t) {
                    Some(k) => {
                        check!(rc == 0, "remove of a member returned {rc}");
                        self.tables[t].map.remove(&k);
                        stat("remove");
                    }
                    None => {
                        check!(rc == -1, "remove of a non-member returned {rc}");
                        stat("remove (not in)");
                    }
                }
            }
            Op::ForEach {
                table,
                stop_after,
                keep,
            } => {
                let Some(t) = self.pick_table(table) else {
                    return self.table_create();
                };
                self.for_each(t, stop_after, keep)?;
            }
            Op::Barrier => {
                self.barrier()?;
                stat("barrier");
            }
        }
        Ok(())
    }

    fn table_create(&mut self) -> Result<(), TestCaseError> {
        let p = traceref_table_create();
        check!(!p.is_null(), "traceref_table_create returned NULL");
        LIVE_TABLES.with(|t| t.borrow_mut().push(p as usize));
        self.tables.push(MTable {
            ptr: p,
            map: BTreeMap::new(),
            live: true,
        });
        stat("table create");
        Ok(())
    }

    fn table_destroy(&mut self, t: usize) -> Result<(), TestCaseError> {
        let p = self.tables[t].ptr;
        LIVE_TABLES.with(|l| l.borrow_mut().retain(|&x| x != p as usize));
        let rc = traceref_table_destroy(p);
        check!(rc == 0, "traceref_table_destroy returned {rc}");
        let tb = &mut self.tables[t];
        tb.live = false;
        for (_, i) in std::mem::take(&mut tb.map) {
            self.objs[i].tables.remove(&t);
        }
        Ok(())
    }

    fn for_each(&mut self, t: usize, stop_after: usize, keep: bool) -> Result<(), TestCaseError> {
        struct Visit {
            stop_after: usize,
            keep: bool,
            /// Id, count seen in the visit, whether the visitor's get worked.
            seen: Vec<(u64, i64, bool)>,
        }
        unsafe extern "C" fn visit(obj: *mut traceref_object, data: *mut c_void) -> c_int {
            // SAFETY: `data` is the `Visit` below, alive and not otherwise
            // borrowed during the walk (one thread, no reentry).
            let v = unsafe { &mut *data.cast::<Visit>() };
            // SAFETY: the visit holds a reference on `obj`, the header of one
            // of this test's boxes.
            let id = unsafe { (*obj.cast::<TestObj>()).id };
            let count = traceref_object_get_ref_count(obj) as i64;
            let kept = v.keep && traceref_object_get(obj);
            v.seen.push((id, count, kept));
            (v.stop_after != 0 && v.seen.len() >= v.stop_after) as c_int
        }
        let mut v = Visit {
            stop_after,
            keep,
            seen: Vec::new(),
        };
        let n = traceref_table_for_each(
            self.tables[t].ptr,
            Some(visit),
            (&mut v as *mut Visit).cast(),
        );
        let members: BTreeSet<u64> = self.tables[t]
            .map
            .values()
            .map(|&i| self.objs[i].id)
            .collect();
        check!(
            n >= 0 && n as usize == v.seen.len(),
            "for_each returned {n} after {} visits",
            v.seen.len()
        );
        let seen: BTreeSet<u64> = v.seen.iter().map(|s| s.0).collect();
        check!(
            seen.len() == v.seen.len(),
            "for_each visited an object twice: {:?}",
            v.seen
        );
        check!(
            seen.is_subset(&members),
            "for_each visited {seen:?}, members {members:?}"
        );
        if stop_after == 0 || stop_after >= members.len() {
            check!(
                seen == members,
                "for_each visited {seen:?}, members {members:?}"
            );
        } else {
            check!(
                seen.len() == stop_after,
                "for_each did not stop after {stop_after}: {seen:?}"
            );
        }
        for &(id, count, kept) in &v.seen {
            let i = self.by_id[&id];
            check!(
                count == self.objs[i].count() + 1,
                "object {id} counted {count} in a visit, model {} + the walk's",
                self.objs[i].count()
            );
            check!(kept == keep, "visitor's get on object {id}: {kept}");
            if kept {
                self.objs[i].extras += 1;
            }
        }
        stat(match (v.seen.len() < members.len(), keep) {
            (true, _) => "for_each (stopped)",
            (false, true) => "for_each (all, kept)",
            (false, false) => "for_each (all)",
        });
        Ok(())
    }

    fn barrier(&mut self) -> Result<(), TestCaseError> {
        check!(traceref_reclaim_barrier() == 0, "barrier refused");
        self.check_events()?;
        for o in &self.objs {
            check!(
                o.frees_seen == o.released as u32,
                "object {} (released: {}) freed {} times after a barrier",
                o.id,
                o.released,
                o.frees_seen
            );
        }
        let live = self.objs.iter().filter(|o| !o.released).count()
            + self.tables.iter().filter(|t| t.live).count();
        let census = traceref_live_objects();
        check!(
            census == self.census_base + live,
            "census {census} after a barrier, expected {} + {live}",
            self.census_base
        );
        Ok(())
    }

    /// Match the logged releases and frees against the model.
    fn check_events(&mut self) -> Result<(), TestCaseError> {
        for e in drain_log() {
            match e {
                Event::Release {
                    id,
                    count,
                    tables_in,
                    container_count,
                } => {
                    let Some(&i) = self.by_id.get(&id) else {
                        continue;
                    };
                    let want = self.expected_releases.pop_front();
                    check!(
                        want.map(|w| w.0) == Some(id),
                        "object {id} released; the model expected {want:?} next"
                    );
                    let o = &mut self.objs[i];
                    o.releases_seen += 1;
                    check!(
                        o.released && o.releases_seen == 1 && o.frees_seen == 0,
                        "object {id}: release {} (freed {} times, model released: {})",
                        o.releases_seen,
                        o.frees_seen,
                        o.released
                    );
                    check!(count == 0, "object {id} counted {count} in its release");
                    check!(
                        tables_in == 0,
                        "object {id} still in {tables_in} tables in its release"
                    );
                    check!(
                        container_count == want.and_then(|w| w.1),
                        "object {id}'s container counted {container_count:?} in its release, \
                         model {:?}",
                        want.and_then(|w| w.1)
                    );
                }
                Event::Free { id } => {
                    let Some(&i) = self.by_id.get(&id) else {
                        continue;
                    };
                    let o = &mut self.objs[i];
                    o.frees_seen += 1;
                    check!(
                        o.released && o.frees_seen == 1,
                        "object {id} freed ({} times) while the model says released: {}",
                        o.frees_seen,
                        o.released
                    );
                    check!(
                        !o.has_release || o.releases_seen == 1,
                        "object {id} freed before its release"
                    );
                }
            }
        }
        check!(
            self.expected_releases.is_empty(),
            "releases that did not happen: {:?}",
            self.expected_releases
        );
        Ok(())
    }

    /// Counts of the held objects, and every key of every live table.
    fn check_state(&mut self) -> Result<(), TestCaseError> {
        for i in self.usable() {
            let c = traceref_object_get_ref_count(self.hdr(i)) as i64;
            check!(
                c == self.objs[i].count(),
                "object {} counts {c}, model {}",
                self.objs[i].id,
                self.objs[i].count()
            );
        }
        for t in self.live_tables() {
            for key in all_keys() {
                let r = self.lookup(t, key);
                let want = self.tables[t].map.get(&key).map(|&i| self.hdr(i));
                // The lookup's reference (the object is held by the model's
                // references too, so this put releases nothing).
                traceref_object_put(r);
                check!(
                    r == want.unwrap_or(ptr::null_mut()),
                    "table {t}, key {key:?}: found {r:p}, model {want:?}"
                );
            }
        }
        Ok(())
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        self.reports = 0;
        self.apply(op)?;
        self.check_events()?;
        self.check_state()
    }

    /// Put everything, destroy the tables, and check that every object was
    /// released and freed once and the census is back where it started.
    fn finish(&mut self) -> Result<(), TestCaseError> {
        self.reports = 0;
        for i in 0..self.objs.len() {
            while self.objs[i].usable() {
                if self.objs[i].extras == 0 && self.objs[i].owner == Owner::Held {
                    let rc = traceref_object_close(self.hdr(i));
                    check!(rc == 0, "final close returned {rc}");
                    self.objs[i].owner = Owner::Closed;
                    self.after_drop(i);
                } else {
                    self.put(i);
                }
            }
        }
        for t in self.live_tables() {
            self.table_destroy(t)?;
        }
        self.check_events()?;
        check!(traceref_reclaim_barrier() == 0, "final barrier refused");
        self.check_events()?;
        for o in &self.objs {
            check!(
                o.released && o.frees_seen == 1 && o.releases_seen == o.has_release as u32,
                "object {}: released {}, release ran {} times, free ran {} times",
                o.id,
                o.released,
                o.releases_seen,
                o.frees_seen
            );
        }
        let census = traceref_live_objects();
        check!(
            census == self.census_base,
            "census {census} at the end, {} at the start",
            self.census_base
        );
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Stderr capture (the library reports misuse there, one line each).

struct StderrCapture {
    file: File,
    saved: c_int,
}

/// Puts the saved stderr back, even if the captured code panics.
struct Restore(c_int);

impl Drop for Restore {
    fn drop(&mut self) {
        // SAFETY: `self.0` is the descriptor `dup` made of the original
        // stderr, open until the capture is dropped.
        unsafe { libc::dup2(self.0, 2) };
    }
}

impl StderrCapture {
    fn new() -> Self {
        let path =
            std::env::temp_dir().join(format!("c_kinds_model-{}.stderr", std::process::id()));
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .expect("temporary file for stderr");
        let _ = std::fs::remove_file(&path);
        // SAFETY: duplicating descriptor 2, which the process has open.
        let saved = unsafe { libc::dup(2) };
        assert!(saved >= 0, "dup(2) failed");
        StderrCapture { file, saved }
    }

    /// Run `f` with stderr going to the file; returns its result and what
    /// it printed.
    fn run<R>(&mut self, f: impl FnOnce() -> R) -> (R, String) {
        self.file.set_len(0).expect("truncate");
        self.file.seek(SeekFrom::Start(0)).expect("seek");
        // SAFETY: both descriptors are open; the `Restore` guard puts the
        // original stderr back on every path out of this function.
        let rc = unsafe { libc::dup2(self.file.as_raw_fd(), 2) };
        assert!(rc == 2, "dup2 failed");
        let r = {
            let _restore = Restore(self.saved);
            f()
        };
        let mut text = String::new();
        self.file.seek(SeekFrom::Start(0)).expect("seek");
        self.file.read_to_string(&mut text).expect("read");
        (r, text)
    }
}

impl Drop for StderrCapture {
    fn drop(&mut self) {
        // SAFETY: `saved` is our own descriptor, closed once.
        unsafe { libc::close(self.saved) };
    }
}

/// Lines one misuse prints at the configured level; None when reference
/// operations are traced too (stderr is then not checked).
fn lines_per_misuse() -> Option<usize> {
    match std::env::var("TRACEREF_LOG").as_deref() {
        Ok("off") | Ok("none") | Ok("0") => Some(0),
        Ok("debug") | Ok("trace") => None,
        _ => Some(1),
    }
}

fn run_case(ops: &[Op], cap: &mut StderrCapture) -> Result<(), TestCaseError> {
    let per = lines_per_misuse();
    let mut h = Harness::new()?;
    let mut result = Ok(());
    for (n, op) in ops.iter().enumerate() {
        let (r, text) = cap.run(|| h.step(op));
        result = r.and_then(|()| match per {
            Some(per) if text.lines().count() != h.reports * per => {
                Err(TestCaseError::fail(format!(
                    "step {n} ({op:?}) should have printed {} lines on stderr, printed:\n{text}",
                    h.reports * per
                )))
            }
            _ => Ok(()),
        });
        if result.is_err() {
            break;
        }
    }
    // Clean up even after a failure, so that the next case starts afresh.
    let (end, text) = cap.run(|| h.finish());
    let end = end.and_then(|()| match per {
        Some(_) if result.is_ok() && !text.is_empty() => Err(TestCaseError::fail(format!(
            "the final puts printed on stderr:\n{text}"
        ))),
        _ => Ok(()),
    });
    result.and(end)
}

#[test]
fn c_kinds_model() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(128);
    let mut runner = TestRunner::new(Config {
        cases,
        // No regression files written into tests/.
        failure_persistence: None,
        ..Config::default()
    });
    // The runner takes an `Fn`: the capture is borrowed inside each case.
    let cap = RefCell::new(StderrCapture::new());
    let result = runner.run(&proptest::collection::vec(op_strategy(), 1..60), |ops| {
        run_case(&ops, &mut cap.borrow_mut())
    });
    let stats = STATS.lock().unwrap_or_else(|e| e.into_inner());
    for (what, n) in stats.iter() {
        println!("{n:>6}  {what}");
    }
    if let Err(e) = result {
        panic!("{e}");
    }
}
