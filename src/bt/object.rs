//! The Babeltrace object: count, parent link, children, release.
//!
//! Rules (from the Babeltrace design, made thread-safe):
//!
//! * A child holds exactly one reference on its parent while its own count is
//!   above zero, none at zero. The 0→1 transition of a count takes that
//!   reference, the 1→0 transition drops it. Both transitions are decided by a
//!   single atomic operation on the count, so exactly one thread performs each.
//! * Parents hold no counted references on their children: the parent's
//!   `children` list is a claiming aggregation. A child at zero stays alive as
//!   long as its parent does.
//! * Only a root whose count reaches zero destroys anything. Destruction first
//!   parks every count in the tree in the dead region (so release functions
//!   that touch references cannot re-enter destruction), then calls release
//!   functions in reverse pre-order: every child before its parent, so a
//!   child's parent pointer is valid in its release function.
//! * An object with no release function is static: gets and puts on it are
//!   no-ops and it is never released.
//! * The shape of the forest (parent pointers and children lists) changes
//!   only under the write side of [`TOPOLOGY`]; whatever follows a parent
//!   pointer of an object it does not itself hold a reference on (the parent
//!   getter, the cycle check, pictures) runs under its read side. A link
//!   drops the reference its child held on the old parent only after leaving
//!   the lock, so no reader under the lock can reach an old parent that this
//!   put destroys, and no release function runs under the lock.

use crate::core::census;
use crate::core::diag::{misuse, trace_ref};
use crate::core::hooks;
use crate::core::kind::{Kind, Tag, TagCheck};
use crate::core::live;
use crate::core::refcount::{Dec, Inc, RefCount};
use crate::core::sync::{AtomicPtr, GlobalRwLock, Ordering};
use parking_lot::Mutex;
use std::mem::ManuallyDrop;
use std::ptr::{self, NonNull};

/// Release function of an object: frees that object's own memory only.
pub type ReleaseFn = unsafe extern "C" fn(obj: *mut crate::ffi::bt::bt_object);

/// The forest's shape lock: written by [`link`], read by the walks that
/// follow parent pointers ([`get_parent`], [`with_stable_tree`]). Links are
/// rare (building and rearranging trees); gets and puts never take it.
static TOPOLOGY: GlobalRwLock = GlobalRwLock::new();

/// Whether the memory at `p` holds a live counted object that C code
/// initialised (`bt_object_init` with a release function) and that was not
/// destroyed since.
pub fn is_live_embedded(p: *const BtObject) -> bool {
    live::is_live(p as usize)
}

/// A pointer to a child in its parent's list.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Child(pub NonNull<BtObject>);
// SAFETY: a `Child` is only dereferenced while the tree it belongs to is kept
// alive by a reference (or by the destroying thread, which owns the whole tree
// once the root reached zero); the pointee is itself `Sync`.
unsafe impl Send for Child {}

/// The common head of every object of this model. `repr(C)` so that it can
/// sit at offset 0 of C structs (through `struct bt_object`) and of the
/// CTF-IR objects.
#[repr(C)]
pub struct BtObject {
    tag: Tag,
    count: RefCount,
    release: Option<ReleaseFn>,
    parent: AtomicPtr<BtObject>,
    /// Children, in insertion order. Dropped by [`destroy`] only (the memory
    /// may belong to C code that frees it without running Rust drops).
    children: ManuallyDrop<Mutex<Vec<Child>>>,
}

/// Where the tag, the count and the release function are in a `BtObject`:
/// the part of the layout the header's inline fast paths read
/// (`TRACEREF_BT_*_OFFSET`, part of the ABI).
#[cfg(test)]
pub(crate) const LAYOUT: (usize, usize, usize) = (
    std::mem::offset_of!(BtObject, tag),
    std::mem::offset_of!(BtObject, count),
    std::mem::offset_of!(BtObject, release),
);

impl BtObject {
    /// A fresh object: count 1, no parent, no children.
    pub fn new(kind: Kind, release: Option<ReleaseFn>) -> Self {
        BtObject {
            tag: Tag::new(kind),
            count: RefCount::new(1),
            release,
            parent: AtomicPtr::new(ptr::null_mut()),
            children: ManuallyDrop::new(Mutex::new(Vec::new())),
        }
    }

    /// Register a newly placed object with the census.
    pub fn born(&self) {
        if self.release.is_some() {
            if self.kind() == Kind::BtObject {
                live::enroll(self as *const Self as usize, 0);
            }
            census::register(self.kind(), (self as *const Self).cast(), describe);
        }
    }

    /// The object's address, as the hooks and registries key it.
    #[inline(always)]
    pub fn addr(&self) -> *const () {
        self as *const Self as *const ()
    }

    pub fn kind(&self) -> Kind {
        match self.tag.read() {
            TagCheck::Ok(k) => k,
            _ => Kind::BtObject,
        }
    }

    pub fn tag(&self) -> &Tag {
        &self.tag
    }

    pub fn is_static(&self) -> bool {
        self.release.is_none()
    }

    /// The count as C sees it (`bt_object_get_ref_count`).
    pub fn ref_count(&self) -> u32 {
        self.count.load()
    }

    #[cfg(test)]
    pub(crate) fn count_for_test(&self) -> &RefCount {
        &self.count
    }

    /// The parent pointer, without taking a reference.
    pub fn parent_ptr(&self) -> *mut BtObject {
        self.parent.load(Ordering::Acquire)
    }

    /// A snapshot of the children.
    pub fn children(&self) -> Vec<Child> {
        self.children.lock().clone()
    }

    /// Run `f` on the children list under its lock.
    pub fn with_children<R>(&self, f: impl FnOnce(&mut Vec<Child>) -> R) -> R {
        f(&mut self.children.lock())
    }
}

/// Leak report line of a live object.
unsafe fn describe(p: *const ()) -> String {
    // SAFETY: called on tracked (live) objects only.
    let o = unsafe { &*p.cast::<BtObject>() };
    format!("{} at {:p}, count {}", o.kind().name(), p, o.ref_count())
}

/// Check that `p` points to a live object of this model, reporting
/// misuse in the name of `func`. Returns the object on success.
///
/// # Safety
/// `p` must be non-null and point to readable memory at least as large as
/// the tag (true for any pointer a C caller obtained from this library).
#[inline(always)]
pub unsafe fn checked<'a>(func: &str, p: *const BtObject) -> Option<&'a BtObject> {
    // SAFETY: per the contract, the tag word is readable.
    let obj = unsafe { &*p };
    if obj.tag.is_bt() {
        return Some(obj);
    }
    match obj.tag.read() {
        TagCheck::Ok(k) if k.is_bt() => Some(obj),
        TagCheck::Ok(k) => {
            misuse!(func, "{:p} is a {}, not a Babeltrace object", p, k.name());
            None
        }
        TagCheck::Reclaimed => {
            misuse!(func, "object {:p} was already reclaimed", p);
            None
        }
        TagCheck::Wrong(_) | TagCheck::Unknown(_) => {
            misuse!(func, "{:p} is not an object initialised by this library", p);
            None
        }
    }
}

/// `bt_get`: take a reference; at 0→1, take the reference on the parent.
///
/// The common cases (a count already above zero, or a 0→1 transition whose
/// parent's count is above zero) are inlined into the exported function;
/// longer chains and limits go through [`get_chain`].
#[inline(always)]
pub fn get(func: &str, obj: &BtObject) {
    if obj.is_static() {
        return;
    }
    match obj.count.inc() {
        Inc::Up(old) => took_up(func, obj, old),
        Inc::FromZero => {
            took_from_zero(func, obj);
            if let Some(parent) = gained(obj) {
                match parent.count.inc() {
                    Inc::Up(old) => parent_took_up(func, parent, old),
                    next => get_chain(func, parent, next),
                }
            }
        }
        first => get_chain(func, obj, first),
    }
}

/// A reference the caller takes on `o`, whose count was `old`: the probe,
/// then the watchers (reference tracking, the debug log).
#[inline(always)]
fn took_up(func: &str, o: &BtObject, old: u32) {
    hooks::got(o.addr(), || o.kind(), || 0, old + 1);
    hooks::watch!(o.addr(), true, trace_up(func, o, old));
}

/// The reference a child takes on its parent at its own 0→1: the watchers
/// only (reference tracking names the caller's site for it, the debug log
/// prints it). The probes fire for the object the call names; the parent's
/// count they do not report here shows in the next probe on the parent.
#[inline(always)]
fn parent_took_up(func: &str, parent: &BtObject, old: u32) {
    hooks::watch!(parent.addr(), true, trace_up(func, parent, old));
}

/// [`took_up`] for a 0→1 transition of `o`.
#[inline(always)]
fn took_from_zero(func: &str, o: &BtObject) {
    hooks::got(o.addr(), || o.kind(), || 0, 1);
    hooks::watch!(o.addr(), true, trace_from_zero(func, o));
}

#[inline(always)]
fn trace_from_zero(func: &str, o: &BtObject) {
    trace_ref!(func, "{} {:p}: 0 -> 1", o.kind().name(), o);
}

#[inline(always)]
fn trace_up(func: &str, o: &BtObject, old: u32) {
    trace_ref!(func, "{} {:p}: {} -> {}", o.kind().name(), o, old, old + 1);
}

/// `cur` went from 0 to 1: the parent it must now take a reference on, if
/// any (none for a root or under a static parent).
#[inline(always)]
fn gained<'a>(cur: &'a BtObject) -> Option<&'a BtObject> {
    let p = cur.parent_ptr();
    if p.is_null() {
        return None;
    }
    // SAFETY: a child's parent outlives it (parents destroy their children
    // before being reclaimed), and the caller's access to `cur` keeps the
    // tree alive.
    let parent = unsafe { &*p };
    (!parent.is_static()).then_some(parent)
}

/// The rest of a get whose increment of `obj` gave `first`: after a 0→1
/// transition, take the reference on the parent, and so on up the tree.
#[inline(never)]
fn get_chain(func: &str, obj: &BtObject, first: Inc) {
    let mut cur = obj;
    let mut inc = first;
    loop {
        match inc {
            // `cur` is a parent here (the caller's own object went through
            // `get`'s hooks): the watchers only, as [`parent_took_up`].
            Inc::FromZero => match {
                hooks::watch!(cur.addr(), true, trace_from_zero(func, cur));
                gained(cur)
            } {
                Some(parent) => cur = parent,
                None => return,
            },
            Inc::Up(old) => return parent_took_up(func, cur, old),
            Inc::Saturated => {
                misuse!(
                    func,
                    "{} {:p}: reference count overflow; the count is saturated and the object leaks",
                    cur.kind().name(),
                    cur
                );
                return;
            }
            Inc::Parked => return,
        }
        inc = cur.count.inc();
    }
}

/// `bt_put`: drop a reference; at 1→0, drop the reference on the parent, or,
/// for a root, destroy the tree.
///
/// The common cases (a count that stays above zero, or a 1→0 transition,
/// with its parent's count staying above zero or the tree's destruction) are
/// inlined into the exported function; longer chains and misuse go through
/// [`put_chain`].
///
/// # Safety
/// The caller owns the reference it drops, so the tree is alive on entry.
#[inline(always)]
pub unsafe fn put(func: &str, obj: &BtObject) {
    if obj.is_static() {
        return;
    }
    match obj.count.dec() {
        Dec::Down(old) => dropped_down(func, obj, old),
        // SAFETY: per this function's contract.
        // SAFETY: per this function's contract.
        Dec::ToZero => match {
            dropped_to_zero(func, obj);
            unsafe { lost(obj) }
        } {
            Lost::Parent(parent) => match parent.count.dec() {
                Dec::Down(old) => parent_dropped_down(func, parent, old),
                // SAFETY: per this function's contract.
                next => unsafe { put_chain(func, parent, next) },
            },
            Lost::Done => {}
        },
        // SAFETY: per this function's contract.
        first => unsafe { put_chain(func, obj, first) },
    }
}

/// A reference the caller drops on `o`, whose count was `old`: the probe,
/// then the watchers.
#[inline(always)]
fn dropped_down(func: &str, o: &BtObject, old: u32) {
    hooks::dropped(o.addr(), || o.kind(), || 0, old - 1);
    hooks::watch!(o.addr(), false, trace_down(func, o, old));
}

/// The reference a child drops on its parent at its own 1→0: the watchers
/// only, as [`parent_took_up`].
#[inline(always)]
fn parent_dropped_down(func: &str, parent: &BtObject, old: u32) {
    hooks::watch!(parent.addr(), false, trace_down(func, parent, old));
}

/// [`dropped_down`] for a 1→0 transition of `o`.
#[inline(always)]
fn dropped_to_zero(func: &str, o: &BtObject) {
    hooks::dropped(o.addr(), || o.kind(), || 0, 0);
    hooks::watch!(o.addr(), false, trace_to_zero(func, o));
}

#[inline(always)]
fn trace_to_zero(func: &str, o: &BtObject) {
    trace_ref!(func, "{} {:p}: 1 -> 0", o.kind().name(), o);
}

#[inline(always)]
fn trace_down(func: &str, o: &BtObject, old: u32) {
    trace_ref!(func, "{} {:p}: {} -> {}", o.kind().name(), o, old, old - 1);
}

/// What follows a 1→0 transition.
enum Lost<'a> {
    /// Drop the reference held on this parent.
    Parent(&'a BtObject),
    /// Nothing more: the parent is static, or `cur` was a root and its tree
    /// is destroyed.
    Done,
}

/// `cur` went from 1 to 0: a root destroys its tree; a child must drop the
/// reference it held on its parent, returned here unless it is static.
///
/// # Safety
/// As for [`put`]: the reference just dropped was the caller's.
#[inline(always)]
unsafe fn lost<'a>(cur: &'a BtObject) -> Lost<'a> {
    let p = cur.parent_ptr();
    if p.is_null() {
        // SAFETY: the root reached zero: no reference to any node of its
        // tree remains, so this thread owns the tree.
        unsafe { destroy(cur) };
        return Lost::Done;
    }
    // SAFETY: the reference being dropped is the one `cur` held on its
    // parent, which is therefore still alive.
    let parent = unsafe { &*p };
    if parent.is_static() {
        Lost::Done
    } else {
        Lost::Parent(parent)
    }
}

/// The rest of a put whose decrement of `obj` gave `first`: after a 1→0
/// transition, drop the reference on the parent, and so on up the tree; a
/// root that reaches zero destroys its tree.
///
/// # Safety
/// As for [`put`].
#[inline(never)]
unsafe fn put_chain(func: &str, obj: &BtObject, first: Dec) {
    let mut cur = obj;
    let mut dec = first;
    loop {
        match dec {
            // SAFETY: per this function's contract.
            // `cur` is a parent here (as in `get_chain`).
            Dec::ToZero => match {
                hooks::watch!(cur.addr(), false, trace_to_zero(func, cur));
                // SAFETY: per this function's contract.
                unsafe { lost(cur) }
            } {
                Lost::Parent(parent) => cur = parent,
                Lost::Done => return,
            },
            Dec::Down(old) => return parent_dropped_down(func, cur, old),
            Dec::Underflow => {
                misuse!(
                    func,
                    "{} {:p}: put on a reference count of zero; nothing released{}",
                    cur.kind().name(),
                    cur,
                    crate::core::track::over_put(cur.addr())
                );
                return;
            }
            Dec::Parked => return,
        }
        dec = cur.count.dec();
    }
}

/// Destroy the tree rooted at `root`, whose count just reached zero.
///
/// # Safety
/// The caller owns the whole tree: `root` is a root at count zero.
unsafe fn destroy(root: &BtObject) {
    // Pre-order walk: park each count in the dead region and collect nodes.
    let mut order: Vec<NonNull<BtObject>> = Vec::new();
    let mut stack: Vec<NonNull<BtObject>> = vec![NonNull::from(root)];
    while let Some(n) = stack.pop() {
        // SAFETY: every node of the tree is alive until released below.
        let node = unsafe { n.as_ref() };
        node.count.mark_dead();
        order.push(n);
        let kids = node.children.lock();
        // Push in reverse so that children are visited in insertion order.
        for c in kids.iter().rev() {
            // SAFETY: children are alive while their parent is.
            if unsafe { c.0.as_ref() }.is_static() {
                continue;
            }
            stack.push(c.0);
        }
    }
    // Reverse pre-order: every descendant before its ancestors.
    for n in order.into_iter().rev() {
        let p = n.as_ptr();
        // SAFETY: `p` is alive and owned by this thread. Its children were
        // released before it; their list is dropped here exactly once (the
        // field is `ManuallyDrop` and nothing else drops it). The tag stays
        // valid until the release function frees the memory, so gets and puts
        // made by that function find a parked count and do nothing.
        unsafe {
            trace_ref!("bt_put", "{} {:p}: released", (*p).kind().name(), p);
            hooks::released(p as *const (), || (*p).kind(), || 0);
            ManuallyDrop::drop(&mut (*p).children);
            let kind = (*p).kind();
            let release = (*p).release;
            census::unregister(kind, p as *const ());
            if kind == Kind::BtObject && release.is_some() {
                live::withdraw(p as usize);
            }
            if let Some(f) = release {
                f(p.cast());
            }
        }
    }
}

/// A new reference on the parent of `obj`, or NULL for a root.
///
/// The caller holds a reference on `obj`, so `obj` holds one on its parent;
/// under the read side of [`TOPOLOGY`] that parent cannot be swapped out (and
/// so released) before the reference taken here is counted.
pub fn get_parent(func: &str, obj: &BtObject) -> *mut BtObject {
    let _shape = TOPOLOGY.read();
    let p = obj.parent_ptr();
    if !p.is_null() {
        // SAFETY: `obj` is held by the caller and holds a reference on its
        // parent, which no link can move away while the read lock is held.
        get(func, unsafe { &*p });
    }
    p
}

/// Run `walk` with the forest's shape frozen: every ancestor of an object the
/// caller holds, and every node below them, stays allocated meanwhile (only a
/// root reaching zero destroys, and holding any node holds its root).
pub fn with_stable_tree<R>(walk: impl FnOnce() -> R) -> R {
    let _shape = TOPOLOGY.read();
    walk()
}

/// Why linking a child to a parent was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// The child already has a parent and re-parenting was not asked for.
    HasParent,
    /// The parent is the child or one of its descendants.
    Cycle,
    /// A static object cannot be parented, nor parent a counted object.
    Static,
}

/// Link `child` under `parent`: set the parent pointer, move the child from
/// its old parent's list to the new one, and move the reverse reference the
/// child holds (if its count is above zero) from the old parent to the new.
///
/// `check` runs under the new parent's children lock before anything changes
/// (duplicate checks of typed containers); an error from it aborts the link.
///
/// The caller must hold a reference on `child` and on `parent`. The cycle
/// check and the change are one step under the write side of [`TOPOLOGY`],
/// so two links made at the same time cannot close a cycle between them.
pub fn link<E>(
    func: &str,
    parent: &BtObject,
    child: &BtObject,
    reparent: bool,
    check: impl FnOnce(&[Child]) -> Result<(), E>,
) -> Result<(), Result<LinkError, E>> {
    if child.is_static() || parent.is_static() {
        return Err(Ok(LinkError::Static));
    }
    let old = {
        let _shape = TOPOLOGY.write();
        relink(func, parent, child, reparent, check)?
    };
    if let Some(oldp) = old {
        // SAFETY: the reverse reference the child held on its old parent,
        // dropped outside the lock: this put may destroy the old parent's
        // tree and run release functions, which may call back in here.
        unsafe { put(func, oldp) };
    }
    Ok(())
}

/// Detach `child` from its parent, if it has one: it leaves the parent's
/// children and becomes a root (destroyed when its count reaches zero), and
/// the reference it held on the parent is dropped, outside the lock as in
/// [`link`]. The caller must hold a reference on `child` (so its count is
/// above zero and it holds exactly that one reference on its parent).
pub fn detach(func: &str, child: &BtObject) {
    let old = {
        let _shape = TOPOLOGY.write();
        let old = child.parent_ptr();
        if old.is_null() {
            return;
        }
        // SAFETY: the old parent is alive: the child still holds its
        // reference on it, dropped below.
        let oldp = unsafe { &*old };
        oldp.children
            .lock()
            .retain(|c| !ptr::eq(c.0.as_ptr(), child));
        child.parent.store(ptr::null_mut(), Ordering::Release);
        oldp
    };
    // SAFETY: the reverse reference the child held on its old parent (none
    // for a static parent, on which a put does nothing).
    unsafe { put(func, old) };
}

/// The part of [`link`] made under the write side of [`TOPOLOGY`]: returns
/// the old parent whose reference the caller must drop (None for a former
/// root, or when linked again under the same parent: nothing moves then).
fn relink<'a, E>(
    func: &str,
    parent: &'a BtObject,
    child: &'a BtObject,
    reparent: bool,
    check: impl FnOnce(&[Child]) -> Result<(), E>,
) -> Result<Option<&'a BtObject>, Result<LinkError, E>> {
    // Refuse cycles: the parent must not be the child or below it.
    let mut a: *const BtObject = parent;
    while !a.is_null() {
        if ptr::eq(a, child) {
            return Err(Ok(LinkError::Cycle));
        }
        // SAFETY: ancestors of a held object are alive, and the shape cannot
        // change under the write lock.
        a = unsafe { (*a).parent_ptr() };
    }
    let old = child.parent_ptr();
    if !old.is_null() && !reparent {
        return Err(Ok(LinkError::HasParent));
    }
    {
        let mut kids = parent.children.lock();
        check(&kids).map_err(Err)?;
        if ptr::eq(old, parent) {
            // Linked again under the same parent: nothing moves.
            return Ok(None);
        }
        // The child's count is above zero (the caller holds it), so it holds
        // exactly one reverse reference: take the new one before the pointer
        // moves, so that the new parent cannot reach zero in between. The
        // caller holds `parent`, so this get never crosses a 0->1 edge.
        get(func, parent);
        child
            .parent
            .store(parent as *const _ as *mut _, Ordering::Release);
        kids.push(Child(NonNull::from(child)));
    }
    if old.is_null() {
        return Ok(None);
    }
    // SAFETY: the old parent is alive: the child still holds its reference
    // on it, dropped by the caller after the lock.
    let oldp = unsafe { &*old };
    oldp.children
        .lock()
        .retain(|c| !ptr::eq(c.0.as_ptr(), child));
    Ok(Some(oldp))
}
