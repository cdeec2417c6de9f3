//! The relay object: a count that getters only move from non-zero, a release
//! that runs at zero, and a free deferred past a grace period.
//!
//! Every refcounted relay object starts with a [`Head`] and implements
//! [`RelayObject`]. The life of each is the same, written once here:
//!
//! 1. created with count 1 (its owner's reference);
//! 2. `get` succeeds only while the count is not zero, so a lookup that finds
//!    an object on its way out acts as if it were absent;
//! 3. the put that reaches zero calls [`RelayObject::release`], which unlinks
//!    the object from its tables and lists and puts its references on its
//!    containers;
//! 4. the memory (and the caller's payload, through its destructor) is freed
//!    after a grace period, by `core::reclaim`.

use crate::core::census;
use crate::core::diag::{misuse, trace_ref};
use crate::core::kind::{Kind, Tag, TagCheck};
use crate::core::reclaim;
use crate::core::refcount::{Dec, Inc, LookupCount};
use libc::c_void;
use std::sync::atomic::{AtomicPtr, Ordering};

/// Destructor of a caller payload.
pub type PayloadDtor = unsafe extern "C" fn(data: *mut c_void);

struct Payload {
    data: *mut c_void,
    dtor: Option<PayloadDtor>,
}

/// The common head: tag, count, payload.
#[repr(C)]
pub struct Head {
    tag: Tag,
    count: LookupCount,
    payload: AtomicPtr<Payload>,
}

impl Head {
    pub fn new(kind: Kind) -> Self {
        Head {
            tag: Tag::new(kind),
            count: LookupCount::new(),
            payload: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    pub fn tag(&self) -> &Tag {
        &self.tag
    }

    /// The number of references (0 once released).
    pub fn count(&self) -> u32 {
        self.count.refs()
    }

    #[cfg(test)]
    pub(crate) fn count_for_test(&self) -> &LookupCount {
        &self.count
    }

    /// Attach a payload. Refused (false) when one is already attached.
    pub fn set_payload(&self, data: *mut c_void, dtor: Option<PayloadDtor>) -> bool {
        let p = Box::into_raw(Box::new(Payload { data, dtor }));
        match self.payload.compare_exchange(
            std::ptr::null_mut(),
            p,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => true,
            Err(_) => {
                // SAFETY: `p` was never published.
                drop(unsafe { Box::from_raw(p) });
                false
            }
        }
    }

    /// Whether a payload is attached.
    pub fn has_payload(&self) -> bool {
        !self.payload.load(Ordering::Acquire).is_null()
    }

    pub fn payload(&self) -> *mut c_void {
        let p = self.payload.load(Ordering::Acquire);
        // SAFETY: a published payload lives as long as the object.
        unsafe { p.as_ref() }.map_or(std::ptr::null_mut(), |p| p.data)
    }
}

impl Head {
    /// Detach the payload and run its destructor (once: the payload is
    /// gone afterwards). Called when the object is reclaimed, on the
    /// reclaim thread or in a barrier (see `reclaim`).
    pub fn destroy_payload(&self) {
        let p = self.payload.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if !p.is_null() {
            // SAFETY: the payload box is owned by the head; the swap took it
            // out, so it is dropped once.
            let p = unsafe { Box::from_raw(p) };
            if let Some(d) = p.dtor {
                // SAFETY: the caller registered `d` for `data`; it runs once.
                unsafe { d(p.data) };
            }
        }
    }
}

impl Drop for Head {
    fn drop(&mut self) {
        // Reclaimed objects were finished already; this covers objects
        // discarded before they were ever published.
        self.destroy_payload();
    }
}

/// A refcounted relay object.
pub trait RelayObject: Sized + Send + Sync + 'static {
    const KIND: Kind;
    fn head(&self) -> &Head;
    /// Identifier used in diagnostics (session id, stream handle, ...).
    fn id(&self) -> u64;
    /// Called once, by the put that reached zero: leave every table and
    /// list, and put the references held on containers. The memory stays
    /// valid until the grace period ends.
    fn release(&self);
    /// Whose memory the object lives in: [`Memory::Boxed`] (made by
    /// [`create`], freed by dropping the box) or [`Memory::Caller`] (C
    /// code's own struct: the Rust state is dropped in place, then
    /// [`RelayObject::hand_back`] returns the memory to its owner).
    const MEMORY: Memory = Memory::Boxed;
    /// For [`Memory::Caller`] objects: give the memory back to the
    /// application (its free function), after the Rust state was dropped.
    /// Runs application code: only in a finisher (reclaim thread or
    /// barrier).
    ///
    /// # Safety
    /// `p` is the object's address, its state already dropped in place.
    unsafe fn hand_back(_p: *mut Self, _giver: *const c_void) {}
    /// What [`RelayObject::hand_back`] needs, read before the state is
    /// dropped (a C kind's function table).
    fn giver(&self) -> *const c_void {
        std::ptr::null()
    }
    /// The object's name in diagnostics: kind and id by default.
    fn who(&self) -> String {
        format!("{} {}", Self::KIND.name(), self.id())
    }
    /// Called once when the object is reclaimed, before its memory goes
    /// (drop it from registries of live addresses).
    fn forget(&self) {}
}

/// Where an object's memory comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Memory {
    /// A `Box` allocated by [`create`].
    Boxed,
    /// The caller's struct (an embedded `traceref_object`).
    Caller,
}

/// Box a new object and count it in the census. The result has count 1.
/// First frees the memory of objects this thread retired earlier whose
/// reclamation is done (no application code runs; see `reclaim`).
pub fn create<T: RelayObject>(obj: T) -> *mut T {
    reclaim::free_handed_back();
    let p = Box::into_raw(Box::new(obj));
    census::register(T::KIND, p as *const (), describe::<T>);
    trace_ref!("create", "{} {:p}: created, count 1", T::KIND.name(), p);
    p
}

/// Count an object that C code placed in its own memory
/// ([`Memory::Caller`]) in the census: the counterpart of [`create`].
pub fn adopt<T: RelayObject>(o: &T) {
    census::register(T::KIND, o as *const T as *const (), describe::<T>);
    trace_ref!("init", "{}: initialised, count 1", o.who());
}

/// Leak report line of a live object.
unsafe fn describe<T: RelayObject>(p: *const ()) -> String {
    // SAFETY: called on tracked (live) objects only.
    let o = unsafe { &*p.cast::<T>() };
    format!("{}, count {}", o.who(), o.head().count())
}

/// Free an object that was never published (creation failed half-way).
///
/// # Safety
/// `p` comes from [`create`] and was never visible to another thread.
pub unsafe fn discard<T: RelayObject>(p: *mut T) {
    // SAFETY: per the contract.
    drop(unsafe { Box::from_raw(p) });
    census::unregister(T::KIND, p as *const ());
}

/// Check that `p` is a live object of kind `T`, reporting misuse for `func`.
///
/// # Safety
/// `p` is non-null and its tag word is readable.
#[inline(always)]
pub unsafe fn checked<'a, T: RelayObject>(func: &str, p: *const c_void) -> Option<&'a T> {
    // SAFETY: every relay object starts with its `Head`, which starts with
    // the tag; per the contract the word is readable.
    let head = unsafe { &*p.cast::<Head>() };
    match head.tag.check(T::KIND) {
        // SAFETY: the tag says this memory holds a live `T`.
        TagCheck::Ok(_) => Some(unsafe { &*p.cast::<T>() }),
        TagCheck::Wrong(k) => {
            misuse!(func, "{:p} is a {}, not a {}", p, k.name(), T::KIND.name());
            None
        }
        TagCheck::Reclaimed => {
            misuse!(func, "{} {:p} was already reclaimed", T::KIND.name(), p);
            None
        }
        TagCheck::Unknown(_) => {
            misuse!(
                func,
                "{:p} is not a {} made by this library",
                p,
                T::KIND.name()
            );
            None
        }
    }
}

/// Take a reference unless the count is zero.
#[inline(always)]
pub fn get<T: RelayObject>(func: &str, o: &T) -> bool {
    match o.head().count.get() {
        Some(Inc::Up(old)) => {
            trace_ref!(func, "{}: {} -> {}", o.who(), old, old + 1);
            true
        }
        Some(Inc::FromZero) => true,
        Some(Inc::Saturated) => {
            misuse!(
                func,
                "{}: reference count overflow; the count is saturated and the object leaks",
                o.who()
            );
            true
        }
        Some(Inc::Parked) => true,
        None => {
            trace_ref!(func, "{}: count is 0, get refused", o.who());
            false
        }
    }
}

/// Drop a reference; at zero, release and retire the object.
///
/// # Safety
/// `o` comes from [`create`] and the caller owns the reference it drops.
#[inline(always)]
pub unsafe fn put<T: RelayObject>(func: &str, o: &T) {
    match o.head().count.put() {
        Dec::Down(old) => {
            trace_ref!(func, "{}: {} -> {}", o.who(), old, old - 1);
        }
        Dec::ToZero => {
            trace_ref!(func, "{}: 1 -> 0, released", o.who());
            o.release();
            // A payload can no longer be attached (that needs a reference):
            // only an object that has one needs finishing.
            // Caller memory is handed back by application code, which runs
            // only in finishers.
            let finisher = (T::MEMORY == Memory::Caller || o.head().has_payload())
                .then_some(finish::<T> as unsafe fn(*mut ()));
            // SAFETY: `release` unlinked the object from every table and list
            // readers walk, and the count is zero, so it is unreachable except
            // to readers already inside a read-side section.
            unsafe { reclaim::retire_with(o as *const T as *mut (), finisher, free::<T>) };
        }
        Dec::Underflow => misuse!(
            func,
            "{}: put on a reference count of zero; nothing released",
            o.who()
        ),
        Dec::Parked => {}
    }
}

/// Run the application's code that goes with a retired object, after its
/// grace period: its payload destructor.
///
/// # Safety
/// `p` is a retired `T` from [`create`], finished once, before [`free`].
unsafe fn finish<T: RelayObject>(p: *mut ()) {
    // SAFETY: per the contract, the object is still allocated.
    unsafe { (*p.cast::<T>()).head().destroy_payload() };
    if T::MEMORY == Memory::Caller {
        let p = p.cast::<T>();
        // SAFETY: the object is retired and finished once: nothing else
        // reads it. What gives it back is read before the state goes; the memory is
        // the caller's, handed back once the state is dropped in place.
        unsafe {
            let giver = (*p).giver();
            (*p).forget();
            census::unregister(T::KIND, p as *const ());
            (*p).head().tag.mark_reclaimed();
            std::ptr::drop_in_place(p);
            T::hand_back(p, giver);
        }
    }
}

/// Free a retired object after its grace period.
///
/// # Safety
/// `p` is a retired `T` from [`create`], freed exactly once.
unsafe fn free<T: RelayObject>(p: *mut ()) {
    if T::MEMORY == Memory::Caller {
        // Handed back by `finish` already.
        return;
    }
    let p = p.cast::<T>();
    // SAFETY: per the contract.
    unsafe {
        (*p).head().tag.mark_reclaimed();
        drop(Box::from_raw(p));
    }
    census::unregister(T::KIND, p as *const ());
}
