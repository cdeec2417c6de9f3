//! C functions of the objects of kinds that C code defines
//! (`struct traceref_object` embedded in a C struct).
#![allow(non_camel_case_types)]

use super::{ffi_guard, null_check};
use crate::core::diag::misuse;
use crate::relay::cobject::{CObject, InitError, KindFns};
use crate::relay::object::{self, RelayObject};
use libc::{c_char, c_int, c_long, c_void};

/// The library's part of an object of your own kind. Embed it anywhere in
/// your struct (fixed size; its contents are the library's) and find your
/// struct again with TRACEREF_CONTAINER_OF(). Initialise it with
/// traceref_object_init(); the memory must stay valid until the kind's free
/// function is called for it.
#[repr(C)]
pub struct traceref_object {
    _opaque: [u64; 16],
}

const _: () = assert!(std::mem::size_of::<CObject>() <= std::mem::size_of::<traceref_object>());
const _: () = assert!(std::mem::align_of::<CObject>() <= std::mem::align_of::<traceref_object>());

/// Called once per object, by the put that drops its count to 0, after the
/// object left every table it was in and before its reference on its
/// container is dropped. Runs on the thread of that put, with no library
/// lock held: it may get and put other objects (not this one) and call any
/// function of this library except traceref_reclaim_barrier(). The object's
/// memory stays valid until the free function.
pub type traceref_release_func = Option<unsafe extern "C" fn(obj: *mut traceref_object)>;

/// Called once per object after its grace period, on the traceref-reclaim
/// thread or inside traceref_reclaim_barrier(): free the struct that embeds
/// `obj`. The library touches the object no more.
pub type traceref_free_func = Option<unsafe extern "C" fn(obj: *mut traceref_object)>;

/// A kind of objects that C code defines. The library only reads it; it
/// must outlive every object of the kind (a static constant, typically).
#[repr(C)]
pub struct traceref_kind {
    /// The kind's name, in diagnostics, leak reports and pictures (may be
    /// NULL: "C object").
    pub name: *const c_char,
    /// Called at the put that drops the count to 0; may be NULL.
    pub release: traceref_release_func,
    /// Frees your struct after the grace period; required.
    pub free: traceref_free_func,
}

const _: () = assert!(std::mem::size_of::<traceref_kind>() == std::mem::size_of::<KindFns>());

/// A validated object argument, or return `$default`.
macro_rules! obj_arg {
    ($func:expr, $p:expr, $default:expr) => {{
        null_check!($func, $p, $default);
        // SAFETY: a non-null object pointer is, by the documented contract,
        // a `struct traceref_object` (initialised or zeroed), so its tag word
        // is readable.
        match unsafe { object::checked::<CObject>($func, $p.cast::<c_void>()) } {
            Some(o) => o,
            None => return $default,
        }
    }};
}
pub(crate) use obj_arg;

/// Initialise `obj` as an object of `kind` with a count of 1: the owner's
/// reference, dropped by traceref_object_close() (or by a put). The memory
/// need not be zeroed. Returns 0, or -1 (nothing done) when `obj` or `kind`
/// is NULL, when `kind` has no free function, or when `obj` is a live
/// object already (initialised and not yet freed). The caller must own the
/// memory of `obj` and must not have shared it yet; any thread.
#[no_mangle]
pub extern "C" fn traceref_object_init(
    obj: *mut traceref_object,
    kind: *const traceref_kind,
) -> c_int {
    ffi_guard!("traceref_object_init", -1, {
        const F: &str = "traceref_object_init";
        null_check!(F, obj, -1);
        null_check!(F, kind, -1);
        // SAFETY: `obj` is a writable `struct traceref_object`, `kind` a
        // valid kind that outlives it (contract); the layouts match.
        match unsafe { CObject::init(obj.cast(), kind.cast()) } {
            Ok(()) => 0,
            Err(InitError::NoFree) => {
                // SAFETY: `kind` is a valid kind (contract).
                let name = unsafe { &*kind.cast::<KindFns>() }.name();
                misuse!(
                    F,
                    "kind {} has no free function; {:p} not initialised",
                    name,
                    obj
                );
                -1
            }
            Err(InitError::Live) => {
                // SAFETY: the registry says `obj` holds a live object.
                let o = unsafe { &*obj.cast::<CObject>() };
                misuse!(
                    F,
                    "{} at {:p} is live: initialised again; nothing done",
                    o.who(),
                    obj
                );
                -1
            }
        }
    })
}

/// Take a reference on `obj` unless its count is already 0. Returns true
/// when it took one (the caller puts it), false when the count is 0 (the
/// object is on its way out: reported, since the caller claims to hold a
/// reference), for NULL and for a pointer that is not an initialised
/// object. The caller must hold a reference on `obj`, or have it from a
/// table inside a read-side section. Any thread.
#[no_mangle]
pub extern "C" fn traceref_object_get(obj: *mut traceref_object) -> bool {
    ffi_guard!("traceref_object_get", false, {
        const F: &str = "traceref_object_get";
        let o = obj_arg!(F, obj, false);
        if object::get(F, o) {
            return true;
        }
        misuse!(F, "{}: get on a reference count of zero; refused", o.who());
        false
    })
}

/// Drop a reference on `obj`. The put that drops the count to 0 takes the
/// object out of every table, runs the kind's release function, drops the
/// object's reference on its container, and the kind's free function runs
/// after a grace period. NULL does nothing; a put at 0 is reported and
/// releases nothing. The caller gives up the reference it drops. Any thread.
#[no_mangle]
pub extern "C" fn traceref_object_put(obj: *mut traceref_object) {
    ffi_guard!("traceref_object_put", (), {
        const F: &str = "traceref_object_put";
        if obj.is_null() {
            return;
        }
        let o = obj_arg!(F, obj, ());
        // SAFETY: the caller owns the reference it drops.
        unsafe { object::put(F, o) };
    })
}

/// The count of `obj` (0 once released), or -1 for NULL or a pointer that
/// is not an initialised object. The caller must hold a reference on `obj`
/// (or be inside a read-side section that found it). Any thread.
#[no_mangle]
pub extern "C" fn traceref_object_get_ref_count(obj: *const traceref_object) -> c_long {
    ffi_guard!("traceref_object_get_ref_count", -1, {
        let o = obj_arg!("traceref_object_get_ref_count", obj, -1);
        o.head().count() as c_long
    })
}

/// Put the owner's reference of `obj`, once. Returns 0, or -1 for NULL, a
/// pointer that is not an initialised object, or a second close (reported;
/// nothing is put). The caller gives up the owner's reference: it must hold
/// another reference to use `obj` afterwards. Any thread.
#[no_mangle]
pub extern "C" fn traceref_object_close(obj: *mut traceref_object) -> c_int {
    ffi_guard!("traceref_object_close", -1, {
        const F: &str = "traceref_object_close";
        let o = obj_arg!(F, obj, -1);
        if !o.close() {
            misuse!(F, "{} is already closed", o.who());
            return -1;
        }
        // SAFETY: the owner's reference, dropped once (the flag above).
        unsafe { object::put(F, o) };
        0
    })
}

/// Make `obj` hold a new reference on `container`, dropped after the
/// release of `obj` (so a container outlives what it contains). Returns 0,
/// or -1 (nothing done, reported) for NULL, pointers that are not
/// initialised objects, a `container` whose count is 0, an `obj` that has a
/// container already, or a `container` that is `obj` or contained in it (a
/// cycle). The caller must hold references on both. Any thread.
#[no_mangle]
pub extern "C" fn traceref_object_set_container(
    obj: *mut traceref_object,
    container: *mut traceref_object,
) -> c_int {
    ffi_guard!("traceref_object_set_container", -1, {
        const F: &str = "traceref_object_set_container";
        let o = obj_arg!(F, obj, -1);
        let c = obj_arg!(F, container, -1);
        match o.set_container(F, c) {
            Ok(()) => 0,
            Err(true) => {
                misuse!(F, "{} in {}: a container cycle; refused", c.who(), o.who());
                -1
            }
            Err(false) => {
                misuse!(
                    F,
                    "{} cannot be the container of {} (it has one, or the container's count is 0)",
                    c.who(),
                    o.who()
                );
                -1
            }
        }
    })
}
