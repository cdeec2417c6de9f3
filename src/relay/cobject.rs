//! Objects of kinds that C code defines, in the C code's own memory, and the
//! tables that find them by key.
//!
//! A [`CObject`] is a relay object like the others (the life of
//! [`object`]: count 1 at init, gets refused at zero, release at zero, free
//! after a grace period), placed in a `struct traceref_object` that C code
//! embeds in its struct ([`Place::Caller`]): at the end of the grace period
//! its state is dropped in place and the kind's free function gives the
//! memory back.
//!
//! A [`CTable`] maps keys (`u64` or whole strings) to objects without
//! holding references. Its keys are spread over [`SHARDS`] maps by hash.
//! Readers load the current map of a key's shard inside an epoch pin and
//! never block; writers serialise on the table's mutex and publish a new
//! map for the shard they change (copy on write: a write copies one shard,
//! a 64th of the table), the old one being freed after a grace period. Each
//! object keeps the list of its memberships (table, key), so that its
//! release takes it out of every table before the kind's release runs.
//!
//! Lock order: a table's writer lock, then an object's membership lock. The
//! release takes the membership list out under the object's lock alone and
//! only then visits the tables, inside a pin that keeps a table destroyed
//! meanwhile allocated.

use super::object::{self, Head, Place, RelayObject};
use super::Ptr;
use crate::core::census;
use crate::core::hash::FastMap;
use crate::core::kind::{Kind, Tag};
use crate::core::reclaim;
use crossbeam_epoch::{self as epoch, Atomic, Guard, Owned};
use libc::{c_char, c_void};
use parking_lot::Mutex;
use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

/// The function table of a C kind (`struct traceref_kind`, same layout).
#[repr(C)]
pub struct KindFns {
    pub name: *const c_char,
    pub release: Option<unsafe extern "C" fn(obj: *mut c_void)>,
    pub free: Option<unsafe extern "C" fn(obj: *mut c_void)>,
}

impl KindFns {
    /// The kind's name, or "C object" when it has none.
    pub fn name(&self) -> String {
        if self.name.is_null() {
            Kind::CObject.name().to_string()
        } else {
            // SAFETY: a non-null name is a NUL-terminated string that lives as
            // long as the kind (the documented contract).
            unsafe { CStr::from_ptr(self.name) }
                .to_string_lossy()
                .into_owned()
        }
    }
}

/// A key: a number, or a whole string (compared in full).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Key {
    Id(u64),
    Str(Box<[u8]>),
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Id(k) => write!(f, "{k}"),
            Key::Str(s) => write!(f, "\"{}\"", String::from_utf8_lossy(s)),
        }
    }
}

struct Membership {
    table: *const CTable,
    key: Key,
}

/// An object's memberships: most objects are in one table, kept inline
/// (no allocation); more go to a vector.
#[derive(Default)]
struct Memberships {
    first: Option<Membership>,
    more: Vec<Membership>,
}

impl Memberships {
    fn iter(&self) -> impl Iterator<Item = &Membership> {
        self.first.iter().chain(self.more.iter())
    }

    fn has(&self, table: *const CTable) -> bool {
        self.iter().any(|m| std::ptr::eq(m.table, table))
    }

    fn push(&mut self, m: Membership) {
        match self.first {
            None => self.first = Some(m),
            Some(_) => self.more.push(m),
        }
    }

    /// Take out the membership of `table`, if any.
    fn take(&mut self, table: *const CTable) -> Option<Membership> {
        if self
            .first
            .as_ref()
            .is_some_and(|m| std::ptr::eq(m.table, table))
        {
            let m = self.first.take();
            self.first = self.more.pop();
            return m;
        }
        let i = self
            .more
            .iter()
            .position(|m| std::ptr::eq(m.table, table))?;
        Some(self.more.swap_remove(i))
    }

    fn into_all(self) -> impl Iterator<Item = Membership> {
        self.first.into_iter().chain(self.more)
    }
}

struct Links {
    tables: Memberships,
    /// The first key the object was added with, for diagnostics.
    label: Option<Key>,
}

/// The library's state inside a `struct traceref_object`.
#[repr(C)]
pub struct CObject {
    head: Head,
    kind: *const KindFns,
    closed: AtomicBool,
    container: AtomicPtr<CObject>,
    links: Mutex<Links>,
}

// SAFETY: the raw pointers are the kind (immutable, shared by contract) and
// tables (reached under the rules of the module comment); the rest is
// synchronised.
unsafe impl Send for CObject {}
unsafe impl Sync for CObject {}

/// Why `init` refused.
#[derive(Debug, PartialEq, Eq)]
pub enum InitError {
    /// The kind has no free function.
    NoFree,
    /// The memory holds a live object already.
    Live,
}

impl CObject {
    /// Place a new object (count 1) at `p`.
    ///
    /// # Safety
    /// `p` is writable memory of the size of `struct traceref_object`, aligned
    /// for it, and `kind` a valid kind that outlives the object.
    pub unsafe fn init(p: *mut CObject, kind: *const KindFns) -> Result<(), InitError> {
        // SAFETY: per the contract.
        let free = unsafe { (*kind).free }.ok_or(InitError::NoFree)?;
        let place = Place::Caller { at: p.cast(), free };
        let obj = CObject {
            head: Head::new_in(Kind::CObject, place),
            kind,
            closed: AtomicBool::new(false),
            container: AtomicPtr::new(std::ptr::null_mut()),
            links: Mutex::new(Links {
                tables: Memberships::default(),
                label: None,
            }),
        };
        // SAFETY: per the contract `p` is writable and sized and aligned for
        // a `CObject`, and stays the library's until the free function.
        unsafe { object::place(obj, place) }.map_err(|_| InitError::Live)?;
        Ok(())
    }

    fn kind(&self) -> &KindFns {
        // SAFETY: the kind outlives its objects (contract of `init`).
        unsafe { &*self.kind }
    }

    /// The name of the object's kind.
    pub fn kind_name(&self) -> String {
        self.kind().name()
    }

    pub fn kind_ptr(&self) -> *const KindFns {
        self.kind
    }

    /// Mark closed; false when it already was.
    pub fn close(&self) -> bool {
        !self.closed.swap(true, Ordering::AcqRel)
    }

    pub fn container(&self) -> *mut CObject {
        self.container.load(Ordering::Acquire)
    }

    /// Make `self` hold a reference on `container`. Refused when it has one
    /// already (`Err(false)`), when the container is at zero, or when it
    /// would close a cycle (`Err(true)`).
    pub fn set_container(&self, func: &str, container: &CObject) -> Result<(), bool> {
        // Walk up from `container`: each link is held by the reference its
        // child holds, and the caller holds `container`.
        let mut c: *const CObject = container;
        while !c.is_null() {
            if std::ptr::eq(c, self) {
                return Err(true);
            }
            // SAFETY: see above: every object on the chain is held.
            c = unsafe { &*c }.container();
        }
        if !object::get(func, container) {
            return Err(false);
        }
        let p = container as *const CObject as *mut CObject;
        if self
            .container
            .compare_exchange(std::ptr::null_mut(), p, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // SAFETY: the reference just taken.
            unsafe { object::put(func, container) };
            return Err(false);
        }
        Ok(())
    }

    /// Leave every table, inside a pin (see the module comment).
    fn leave_tables(&self) {
        let _pin = epoch::pin();
        let list = std::mem::take(&mut self.links.lock().tables);
        for m in list.into_all() {
            // SAFETY: a table is retired by its destroy only after it took
            // itself out of the lists of its objects; this list was taken
            // before, inside the pin, so the table is still allocated.
            unsafe { &*m.table }.remove_entry(&m.key, self);
        }
    }
}

impl RelayObject for CObject {
    const KIND: Kind = Kind::CObject;

    fn head(&self) -> &Head {
        &self.head
    }

    fn id(&self) -> u64 {
        match &self.links.lock().label {
            Some(Key::Id(k)) => *k,
            _ => self as *const Self as u64,
        }
    }

    fn who(&self) -> String {
        match &self.links.lock().label {
            Some(k) => format!("{} {}", self.kind_name(), k),
            None => format!("{} {:p}", self.kind_name(), self),
        }
    }

    fn release(&self) {
        self.leave_tables();
        if let Some(r) = self.kind().release {
            // SAFETY: the kind's release runs once, here, on the object it
            // was registered for (its memory stays valid until the free).
            unsafe { r(self as *const Self as *mut c_void) };
        }
        let c = self.container.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if !c.is_null() {
            // SAFETY: the reference taken by `set_container`, dropped once.
            unsafe { object::put("traceref_object_put", &*c) };
        }
    }
}

/// One shard of a table: number keys and string keys in maps of their own,
/// so that a number is hashed and compared as one `u64`. Keys are the
/// program's (numbers and strings it chooses), not an adversary's: the
/// library's fast hasher.
#[derive(Default, Clone)]
struct Map {
    ids: FastMap<u64, Ptr<CObject>>,
    strs: FastMap<Box<[u8]>, Ptr<CObject>>,
}

impl Map {
    fn get(&self, key: &Key) -> Option<&Ptr<CObject>> {
        match key {
            Key::Id(k) => self.ids.get(k),
            Key::Str(s) => self.strs.get(s),
        }
    }

    fn remove(&mut self, key: &Key) {
        match key {
            Key::Id(k) => self.ids.remove(k),
            Key::Str(s) => self.strs.remove(s),
        };
    }

    fn values(&self) -> impl Iterator<Item = &Ptr<CObject>> {
        self.ids.values().chain(self.strs.values())
    }

    fn len(&self) -> usize {
        self.ids.len() + self.strs.len()
    }
}

impl crate::core::keyed::Map<Key, Ptr<CObject>> for Map {
    fn entry(&self, key: &Key) -> Option<Ptr<CObject>> {
        self.get(key).copied()
    }

    fn set(&mut self, key: Key, p: Ptr<CObject>) {
        match key {
            Key::Id(k) => self.ids.insert(k, p),
            Key::Str(s) => self.strs.insert(s, p),
        };
    }

    fn unset(&mut self, key: &Key) {
        self.remove(key);
    }
}

/// How many maps a table's keys are spread over.
const SHARDS: usize = 64;

/// The shard of `key`: the high bits of a multiplicative hash (the maps
/// themselves use the low bits of theirs).
fn shard_of(key: &Key) -> usize {
    let h = match key {
        Key::Id(k) => *k,
        Key::Str(s) => {
            use std::hash::BuildHasher;
            std::hash::BuildHasherDefault::<crate::core::hash::FastHasher>::default().hash_one(s)
        }
    };
    (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize % SHARDS
}

/// A table of C objects by key. Holds no references.
#[repr(C)]
pub struct CTable {
    tag: Tag,
    maps: [Atomic<Map>; SHARDS],
    /// Writers' lock; true once destroyed.
    writer: Mutex<bool>,
}

/// What `add_unique` did.
pub enum Added {
    /// The object went in.
    Inserted,
    /// A live object had the key: a new reference on it for the caller.
    Existing(*mut CObject),
    /// The object is in this table already (under another key).
    AlreadyIn,
}

impl CTable {
    pub fn create() -> *mut CTable {
        reclaim::free_handed_back();
        let p = Box::into_raw(Box::new(CTable {
            tag: Tag::new(Kind::CTable),
            maps: std::array::from_fn(|_| Atomic::null()),
            writer: Mutex::new(false),
        }));
        census::register(Kind::CTable, p as *const (), describe_table);
        p
    }

    pub fn tag(&self) -> &Tag {
        &self.tag
    }

    fn lookup<'g>(&self, key: &Key, guard: &'g Guard) -> Option<&'g CObject> {
        let m = self.current(shard_of(key), guard)?;
        // SAFETY: objects leave the map before they are retired.
        m.get(key).map(|p| unsafe { &*p.0 })
    }

    /// The object with `key` with a new reference, or NULL (absent, or
    /// count 0). Never blocks.
    pub fn get(&self, func: &str, key: &Key) -> *mut CObject {
        let guard = epoch::pin();
        match self.lookup(key, &guard) {
            Some(o) if object::get(func, o) => o as *const CObject as *mut CObject,
            _ => std::ptr::null_mut(),
        }
    }

    /// Publish `m` as the map of `shard` (writer lock held).
    fn publish(&self, shard: usize, m: Map, guard: &Guard) {
        let old = self.maps[shard].swap(Owned::new(m), Ordering::AcqRel, guard);
        if !old.is_null() {
            // SAFETY: `old` is unreachable now; readers that loaded it are
            // pinned, so it is freed after they unpin.
            unsafe { guard.defer_destroy(old) };
        }
    }

    /// The current map of `shard`.
    fn current<'g>(&self, shard: usize, guard: &'g Guard) -> Option<&'g Map> {
        // SAFETY: maps are freed a grace period after they are replaced.
        unsafe { self.maps[shard].load(Ordering::Acquire, guard).as_ref() }
    }

    /// The current maps of every shard.
    fn all<'g>(&'g self, guard: &'g Guard) -> impl Iterator<Item = &'g Map> + 'g {
        (0..SHARDS).filter_map(move |s| self.current(s, guard))
    }

    /// Insert `obj` under `key` unless a live object has it (see [`Added`]).
    /// An object at count 0 holding the key is replaced. The decisions, and
    /// why they are right when the add races the holder's last put, are
    /// [`crate::core::keyed::add_unique`]'s.
    pub fn add_unique(&self, func: &str, key: Key, obj: &CObject) -> Added {
        use crate::core::keyed;
        let guard = epoch::pin();
        let w = self.writer.lock();
        debug_assert!(!*w);
        let me = self as *const CTable;
        let shard = shard_of(&key);
        let mut map = self.current(shard, &guard).cloned().unwrap_or_default();
        let done = keyed::add_unique(
            &mut map,
            key,
            Ptr::of(obj),
            // SAFETY: `e` was read from the map under the writer lock, so it
            // is not yet retired: its entry leaves the map, under this lock,
            // before its release finishes (the invariant of `core::keyed`).
            |e| object::get(func, unsafe { e.get() }),
            |e| {
                // SAFETY: as for the get just above.
                let e = unsafe { e.get() };
                e.links.lock().tables.take(me);
            },
            |key| {
                let mut links = obj.links.lock();
                if links.tables.has(me) {
                    return false;
                }
                links.tables.push(Membership {
                    table: me,
                    key: key.clone(),
                });
                links.label.get_or_insert_with(|| key.clone());
                true
            },
        );
        if done.changed {
            self.publish(shard, map, &guard);
        }
        match done.added {
            keyed::Added::Inserted => Added::Inserted,
            keyed::Added::Existing(e) => Added::Existing(e.0 as *mut CObject),
            keyed::Added::AlreadyIn => Added::AlreadyIn,
        }
    }

    /// Remove the entry `key` if it is still `obj`'s (the object's release;
    /// the rule is [`crate::core::keyed::without_if_mine`]'s).
    fn remove_entry(&self, key: &Key, obj: &CObject) {
        let guard = epoch::pin();
        let _w = self.writer.lock();
        let shard = shard_of(key);
        let Some(cur) = self.current(shard, &guard) else {
            return;
        };
        if let Some(m) = crate::core::keyed::without_if_mine(cur, key, Ptr::of(obj)) {
            self.publish(shard, m, &guard);
        }
    }

    /// Take `obj` out (before its release). False when it was not in.
    pub fn remove(&self, obj: &CObject) -> bool {
        let guard = epoch::pin();
        let _w = self.writer.lock();
        let me = self as *const CTable;
        let key = {
            let Some(m) = obj.links.lock().tables.take(me) else {
                return false;
            };
            m.key
        };
        let shard = shard_of(&key);
        if let Some(cur) = self.current(shard, &guard) {
            let mut m = cur.clone();
            m.remove(&key);
            self.publish(shard, m, &guard);
        }
        true
    }

    /// The live objects, each with a new reference.
    pub fn snapshot(&self, func: &str) -> Vec<Ptr<CObject>> {
        let guard = epoch::pin();
        self.all(&guard)
            .flat_map(|m| m.values())
            .copied()
            .filter(|p| {
                // SAFETY: in the map read inside the pin.
                object::get(func, unsafe { p.get() })
            })
            .collect()
    }

    /// Empty the table (its objects stay alive, out of it) and free it after
    /// a grace period.
    ///
    /// # Safety
    /// `p` comes from [`CTable::create`], destroyed once.
    pub unsafe fn destroy(p: *mut CTable) {
        // SAFETY: per the contract.
        let t = unsafe { &*p };
        {
            let guard = epoch::pin();
            let mut w = t.writer.lock();
            *w = true;
            for o in t.all(&guard).flat_map(|m| m.values()) {
                // SAFETY: in the map: not yet retired.
                unsafe { o.get() }.links.lock().tables.take(p);
            }
            for shard in 0..SHARDS {
                if t.current(shard, &guard).is_some() {
                    t.publish(shard, Map::default(), &guard);
                }
            }
        }
        // SAFETY: no object lists the table any more; lookups that found it
        // are pinned and the free waits for them.
        unsafe { reclaim::retire(p.cast(), free_table) };
    }
}

impl Drop for CTable {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: the table is unreachable (freed after a grace
        // period), so is its map.
        unsafe {
            let g = epoch::unprotected();
            for map in &self.maps {
                let m = map.load(Ordering::Relaxed, g);
                if !m.is_null() {
                    drop(m.into_owned());
                }
            }
        }
    }
}

unsafe fn free_table(p: *mut ()) {
    let p = p.cast::<CTable>();
    // SAFETY: retired by `destroy`, freed once.
    unsafe {
        (*p).tag.mark_reclaimed();
        drop(Box::from_raw(p));
    }
    census::unregister(Kind::CTable, p as *const ());
}

unsafe fn describe_table(p: *const ()) -> String {
    // SAFETY: called on tracked (live) tables only.
    let t = unsafe { &*p.cast::<CTable>() };
    let guard = epoch::pin();
    format!(
        "object table at {:p}, {} objects",
        p,
        t.all(&guard).map(|m| m.len()).sum::<usize>()
    )
}

/// Graphviz picture of a table of C objects (its live objects, each with
/// its kind, key and count, and the chain of containers above each), or of
/// one object and its containers. Objects are held by the dump while it
/// draws (that reference is left out of the counts shown); containers are
/// held by what they contain.
pub fn dot(table: Option<&CTable>, obj: Option<&CObject>) -> String {
    use std::fmt::Write;
    const F: &str = "traceref_dump_dot";
    let mut out = String::from("digraph traceref {\n  node [shape=box];\n");
    let mut held: Vec<Ptr<CObject>> = Vec::new();
    if let Some(t) = table {
        let _ = writeln!(
            out,
            "  t{:x} [label=\"object table\", shape=folder];",
            t as *const _ as usize
        );
        held = t.snapshot(F);
    }
    if let Some(o) = obj {
        if object::get(F, o) {
            held.push(Ptr::of(o));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for p in &held {
        // SAFETY: the snapshot (or the get above) holds a reference.
        let o = unsafe { p.get() };
        if let Some(t) = table {
            let _ = writeln!(
                out,
                "  t{:x} -> n{:x};",
                t as *const _ as usize, p.0 as usize
            );
        }
        let mut c: *const CObject = o;
        let mut own = 1;
        while !c.is_null() && seen.insert(c as usize) {
            // SAFETY: `o` is held, and each container by what it contains.
            let co = unsafe { &*c };
            let _ = writeln!(
                out,
                "  n{:x} [label=\"{}\\ncount {}\"];",
                c as usize,
                co.who().replace('"', "\\\""),
                co.head().count().saturating_sub(own)
            );
            own = 0;
            let up = co.container();
            if !up.is_null() {
                let _ = writeln!(
                    out,
                    "  n{:x} -> n{:x} [style=dashed, label=\"ref\"];",
                    c as usize, up as usize
                );
            }
            c = up;
        }
    }
    out.push_str("}\n");
    for p in held {
        // SAFETY: the reference taken above, dropped once.
        unsafe { object::put(F, p.get()) };
    }
    out
}
