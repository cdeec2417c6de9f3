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
use crate::core::live;
use crate::core::reclaim;
use crate::core::refcount::{Dec, Inc, LookupCount};
use crate::core::{hooks, track};
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

    /// The head of an object that will live where `place` says.
    pub fn new_in(kind: Kind, place: Place) -> Self {
        Head {
            tag: place.tag(kind),
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
    /// The object's name in diagnostics: kind and id by default.
    fn who(&self) -> String {
        format!("{} {}", Self::KIND.name(), self.id())
    }
}

/// The function C code gives, with its memory, to take that memory back
/// once the object is reclaimed (a `free` of the struct that embeds it).
pub type GiveBack = unsafe extern "C" fn(p: *mut c_void);

/// Where a new object lives.
#[derive(Clone, Copy)]
pub enum Place {
    /// A `Box` the library allocates and frees.
    Boxed,
    /// C code's own struct at `at` (the library's part first), given back
    /// through `free` at the end of the object's grace period, on the
    /// reclaim thread or in a barrier.
    Caller { at: *mut c_void, free: GiveBack },
}

impl Place {
    /// The tag of a new object of `kind` placed here.
    pub fn tag(&self, kind: Kind) -> Tag {
        match self {
            Place::Boxed => Tag::new(kind),
            Place::Caller { .. } => Tag::new_in_caller_memory(kind),
        }
    }

    /// The caller's memory, or NULL for a library box.
    pub fn at(&self) -> *const c_void {
        match self {
            Place::Boxed => std::ptr::null(),
            Place::Caller { at, .. } => *at,
        }
    }
}

/// Why an object could not be placed.
#[derive(Debug, PartialEq, Eq)]
pub enum PlaceError {
    /// The caller's memory holds a live object already.
    Live,
}

/// Place a new object (count 1) where `place` says and count it in the
/// census: the one way objects of every form come to life.
///
/// For [`Place::Caller`], `obj`'s tag must say so
/// ([`Head::new_in`]); the memory is recorded as live until its object is
/// reclaimed, so that a second init of it is refused.
///
/// # Safety
/// For [`Place::Caller`], `at` is writable memory of the size of `T`,
/// aligned for it, that the caller does not use until `free` is called
/// (or until this object is discarded).
pub unsafe fn place<T: RelayObject>(obj: T, place: Place) -> Result<*mut T, PlaceError> {
    match place {
        Place::Boxed => Ok(create(obj)),
        Place::Caller { at, free } => {
            debug_assert!(obj.head().tag().in_caller_memory());
            // SAFETY: per the contract.
            let p = unsafe { place_at(obj, at, free, T::KIND, describe::<T>) }?;
            // SAFETY: just placed.
            trace_ref!("init", "{}: initialised, count 1", unsafe { &*p }.who());
            Ok(p)
        }
    }
}

/// Write `obj` into caller memory at `at`, record the memory as live with
/// its free function, and count it in the census as a `kind`.
///
/// # Safety
/// As for [`place`] with [`Place::Caller`].
pub(crate) unsafe fn place_at<T>(
    obj: T,
    at: *mut c_void,
    free: GiveBack,
    kind: Kind,
    describe: census::Describe,
) -> Result<*mut T, PlaceError> {
    if !live::enroll(at as usize, free as usize) {
        return Err(PlaceError::Live);
    }
    reclaim::free_handed_back();
    let p = at.cast::<T>();
    // SAFETY: per the contract `at` is writable and sized for `T`.
    unsafe { keep_before(at, std::mem::size_of::<T>()) };
    // SAFETY: per the contract `at` is writable and sized and aligned for
    // `T`; the registry says it holds no live object.
    unsafe { p.write(obj) };
    census::register(kind, p as *const (), describe);
    Ok(p)
}

thread_local! {
    /// What the caller's memory held before this thread's last placement
    /// there: a creation refused after placing (a duplicate handle, found
    /// only once the object exists) leaves the memory as it found it.
    static BEFORE: std::cell::RefCell<(usize, Vec<std::mem::MaybeUninit<u8>>)> =
        const { std::cell::RefCell::new((0, Vec::new())) };
}

/// Keep a copy of the `len` bytes at `at` (for [`discard`]).
///
/// # Safety
/// `at` is readable for `len` bytes (their values may be uninitialised:
/// they are copied as such).
unsafe fn keep_before(at: *mut c_void, len: usize) {
    let _ = BEFORE.try_with(|b| {
        let mut b = b.borrow_mut();
        b.0 = at as usize;
        b.1.clear();
        b.1.reserve(len);
        // SAFETY: per the contract; `MaybeUninit` bytes may hold anything,
        // and the vector has room for `len` of them.
        unsafe {
            std::ptr::copy_nonoverlapping(
                at.cast::<std::mem::MaybeUninit<u8>>(),
                b.1.as_mut_ptr(),
                len,
            );
            b.1.set_len(len);
        }
    });
}

/// Put back the bytes [`keep_before`] copied from `at`, if it was the last
/// placement of this thread.
///
/// # Safety
/// `at` is writable for as many bytes as were kept, and holds no object.
unsafe fn restore_before(at: *mut c_void) {
    let _ = BEFORE.try_with(|b| {
        let b = b.borrow();
        if b.0 == at as usize {
            // SAFETY: per the contract.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    b.1.as_ptr(),
                    at.cast::<std::mem::MaybeUninit<u8>>(),
                    b.1.len(),
                )
            };
        }
    });
}

/// Give memory placed by [`place_at`] back to its owner, at the end of the
/// object's grace period: drop the library's state in place (after marking
/// its `tag` reclaimed), then call the owner's free function.
///
/// # Safety
/// `p` was placed by [`place_at`] as a `kind`, is retired, and nothing else
/// reads it; given back once.
pub(crate) unsafe fn give_back_memory<T>(p: *mut T, kind: Kind, tag: fn(&T) -> &Tag) {
    // The free function is read before the state goes; the memory is the
    // caller's again once the state is dropped.
    let free = live::withdraw(p as usize);
    census::unregister(kind, p as *const ());
    // SAFETY: per the contract, the object is still there.
    tag(unsafe { &*p }).mark_reclaimed();
    // SAFETY: per the contract.
    unsafe {
        std::ptr::drop_in_place(p);
        if let Some(f) = free {
            // SAFETY: `place_at` recorded a `GiveBack` for this address.
            let f = std::mem::transmute::<usize, GiveBack>(f);
            f(p.cast());
        }
    }
}

/// Box a new object and count it in the census. The result has count 1.
/// First frees the memory of objects this thread retired earlier whose
/// reclamation is done (no application code runs; see `reclaim`).
fn create<T: RelayObject>(obj: T) -> *mut T {
    reclaim::free_handed_back();
    let p = Box::into_raw(Box::new(obj));
    census::register(T::KIND, p as *const (), describe::<T>);
    trace_ref!("create", "{} {:p}: created, count 1", T::KIND.name(), p);
    p
}

/// Leak report line of a live object.
unsafe fn describe<T: RelayObject>(p: *const ()) -> String {
    // SAFETY: called on tracked (live) objects only.
    let o = unsafe { &*p.cast::<T>() };
    format!("{}, count {}", o.who(), o.head().count())
}

/// Undo [`place`] for an object that was never published (creation failed
/// half-way): a library box is freed; the caller's memory is left to the
/// caller as it was before, its free function not called.
///
/// # Safety
/// `p` comes from [`place`] and was never visible to another thread.
pub unsafe fn discard<T: RelayObject>(p: *mut T) {
    census::unregister(T::KIND, p as *const ());
    // SAFETY: per the contract, `p` is a placed `T` no one else saw.
    unsafe {
        if (*p).head().tag().in_caller_memory() {
            live::withdraw(p as usize);
            std::ptr::drop_in_place(p);
            restore_before(p.cast());
        } else {
            drop(Box::from_raw(p));
        }
    }
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
    let p = o as *const T as *const ();
    match o.head().count.get() {
        Some(Inc::Up(old)) => {
            hooks::got(p, || T::KIND, || o.id(), old + 1);
            hooks::watch!(
                p,
                true,
                trace_ref!(func, "{}: {} -> {}", o.who(), old, old + 1)
            );
            true
        }
        Some(Inc::FromZero) => {
            hooks::got(p, || T::KIND, || o.id(), 1);
            hooks::watch!(p, true, trace_ref!(func, "{}: 0 -> 1 (revived)", o.who()));
            true
        }
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
            hooks::refused(p, || T::KIND, || o.id());
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
    let p = o as *const T as *const ();
    match o.head().count.put() {
        Dec::Down(old) => {
            hooks::dropped(p, || T::KIND, || o.id(), old - 1);
            hooks::watch!(
                p,
                false,
                trace_ref!(func, "{}: {} -> {}", o.who(), old, old - 1)
            );
        }
        Dec::ToZero => {
            hooks::dropped(p, || T::KIND, || o.id(), 0);
            hooks::watch!(p, false, trace_ref!(func, "{}: 1 -> 0, released", o.who()));
            hooks::released(p, || T::KIND, || o.id());
            o.release();
            // SAFETY: `release` unlinked the object from every table and list
            // readers walk, and the count is zero, so it is unreachable except
            // to readers already inside a read-side section.
            unsafe { retire(o) };
        }
        Dec::Underflow => misuse!(
            func,
            "{}: put on a reference count of zero; nothing released{}",
            o.who(),
            track::over_put(p)
        ),
        Dec::Parked => {}
    }
}

/// Hand a released object to `reclaim`: freed after its grace period.
///
/// Application code (a payload destructor, the free function of caller
/// memory) runs only in finishers, on the reclaim thread or in a barrier:
/// an object with neither needs no finishing. A payload can no longer be
/// attached once the count is zero (that needs a reference).
///
/// # Safety
/// `o` is released: unreachable but to readers inside read-side sections,
/// and retired once.
pub unsafe fn retire<T: RelayObject>(o: &T) {
    let p = o as *const T as *mut ();
    // SAFETY: per the contract.
    unsafe {
        if o.head().tag().in_caller_memory() {
            reclaim::retire_with(p, Some(give_back::<T>), nothing);
        } else if o.head().has_payload() {
            reclaim::retire_with(p, Some(finish::<T>), free::<T>);
        } else {
            reclaim::retire_with(p, None, free::<T>);
        }
    }
}

/// Run a retired object's payload destructor, after its grace period.
///
/// # Safety
/// `p` is a retired `T`, finished once, before its memory goes.
unsafe fn finish<T: RelayObject>(p: *mut ()) {
    // SAFETY: per the contract, the object is still allocated.
    unsafe { (*p.cast::<T>()).head().destroy_payload() };
}

/// Finish a retired object in caller memory and give the memory back.
///
/// # Safety
/// `p` is a retired `T` placed in caller memory, given back once.
unsafe fn give_back<T: RelayObject>(p: *mut ()) {
    // SAFETY: per the contract, nothing else reads the object.
    unsafe {
        finish::<T>(p);
        let p = p.cast::<T>();
        give_back_memory(p, T::KIND, |o: &T| o.head().tag());
    }
}

/// The free step of an object whose memory [`give_back`] returned.
pub(crate) unsafe fn nothing(_p: *mut ()) {}

/// Free a retired library-allocated object after its grace period.
///
/// # Safety
/// `p` is a retired `T` from [`create`], freed exactly once.
unsafe fn free<T: RelayObject>(p: *mut ()) {
    let p = p.cast::<T>();
    // SAFETY: per the contract.
    unsafe {
        (*p).head().tag.mark_reclaimed();
        drop(Box::from_raw(p));
    }
    census::unregister(T::KIND, p as *const ());
}
