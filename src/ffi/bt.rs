//! C functions of the Babeltrace object model.
#![allow(non_camel_case_types)]

use super::{ffi_guard, null_check};
use crate::bt::ctf_ir;
use crate::bt::field_type::{self, Want};
use crate::bt::object::{self, BtObject, LinkError};
use crate::core::census;
use crate::core::diag::misuse;
use crate::core::kind::Kind;
use libc::{c_char, c_int, c_long, c_uint, c_void};
use std::ffi::CStr;
use std::mem::{align_of, size_of};
use std::ptr;

/// Header of every object of the Babeltrace model. A C structure that wants
/// to be reference counted by this library embeds it as its FIRST member and
/// calls bt_object_init() on it. Its contents are private: never read or
/// write them directly.
#[repr(C)]
pub struct bt_object {
    _private: [u64; 8],
}

const _: () = assert!(size_of::<BtObject>() <= size_of::<bt_object>());
const _: () = assert!(align_of::<BtObject>() <= align_of::<bt_object>());

/// A trace (root of the CTF-IR example hierarchy).
pub struct bt_ctf_trace {
    _private: [u8; 0],
}

/// A stream class: a child of a trace.
pub struct bt_ctf_stream_class {
    _private: [u8; 0],
}

/// An event class: a child of a stream class.
pub struct bt_ctf_event_class {
    _private: [u8; 0],
}

/// A field type (integer or structure): a shared root object, held by the
/// structures that have it as a member and the event classes that have it
/// as their payload type.
pub struct bt_ctf_field_type {
    _private: [u8; 0],
}

/// Release function of an embedded object: called once, when the object is
/// destroyed (after all of its children). It must free the object's own
/// memory and nothing else: the library releases the children itself.
///
/// It runs on the thread whose call destroyed the tree, before that call
/// returns: the put (bt_put() or a typed put) that dropped the last
/// reference on the tree's root, directly or through a child whose count
/// went to 0, or the bt_object_set_parent() whose move dropped the last
/// reference on the old parent's tree. So it runs wherever that call was
/// made, under the locks its caller held then: it must not take a lock that
/// a thread may hold while it puts. No library lock is held while it runs.
///
/// It may call any function on objects of other trees, put the references
/// its object held on them for instance (such a put may destroy that other
/// tree in turn, on the same thread). On objects of its own tree gets and
/// puts do nothing (every count of the tree stays parked as dead while it is
/// destroyed) and nothing else may be done: its object's ancestors are still
/// allocated, but every other object of its own tree may already be freed.
pub type bt_object_release_func = Option<unsafe extern "C" fn(obj: *mut bt_object)>;

/// Validate a pointer as an object of this model, or return `$default`.
macro_rules! bt_arg {
    ($func:expr, $p:expr, $default:expr) => {{
        null_check!($func, $p, $default);
        // SAFETY: a non-null pointer handed to this library by C is, by the
        // documented contract, a pointer it returned or initialised, so its
        // tag word is readable.
        match unsafe { object::checked($func, $p.cast::<BtObject>()) } {
            Some(o) => o,
            None => return $default,
        }
    }};
    ($func:expr, $p:expr, $kind:expr, $default:expr) => {{
        null_check!($func, $p, $default);
        // SAFETY: as above.
        match unsafe { ctf_ir::typed($func, $p.cast::<BtObject>(), $kind) } {
            Some(o) => o,
            None => return $default,
        }
    }};
}

/// Validate a pointer as a field type of the kind `$want` asks for, or
/// return `$default`.
macro_rules! ft_arg {
    ($func:expr, $p:expr, $want:expr, $default:expr) => {{
        null_check!($func, $p, $default);
        // SAFETY: a non-null pointer handed to this library by C is, by the
        // documented contract, a pointer it returned, so its tag word is
        // readable.
        match unsafe { field_type::checked($func, $p.cast::<BtObject>(), $want) } {
            Some(o) => o,
            None => return $default,
        }
    }};
}

/// Take a reference on `obj`: any object of this model (embedded or CTF-IR).
///
/// If the object has a parent and its count was 0, it first takes a
/// reference on its parent (and so on up the tree). Gets on a static object
/// (initialised with no release function) do nothing. A count that would
/// overflow saturates: the object leaks and one warning is printed.
///
/// Returns `obj`; NULL gives NULL, and so does a pointer that is not an
/// object of this model (with a warning). The caller must hold a reference
/// on `obj` or on an object from which `obj` is reachable; any thread.
#[no_mangle]
pub extern "C" fn bt_get(obj: *mut c_void) -> *mut c_void {
    ffi_guard!("bt_get", ptr::null_mut(), {
        if obj.is_null() {
            return ptr::null_mut();
        }
        let o = bt_arg!("bt_get", obj, ptr::null_mut());
        object::get("bt_get", o);
        obj
    })
}

/// Drop a reference on `obj`. NULL does nothing.
///
/// When the count reaches 0, a parented object drops its reference on its
/// parent and is NOT freed; a root destroys its whole tree: every release
/// function runs once, children before their parent. A put on a count of 0
/// releases nothing and prints one warning. The caller gives up the
/// reference it owned: `obj` may be freed before this returns.
#[no_mangle]
pub extern "C" fn bt_put(obj: *mut c_void) {
    ffi_guard!("bt_put", (), {
        if obj.is_null() {
            return;
        }
        let o = bt_arg!("bt_put", obj, ());
        // SAFETY: the caller owns the reference being dropped.
        unsafe { object::put("bt_put", o) };
    })
}

/// The current reference count of `obj`, for tests and diagnostics; -1 for
/// NULL or a pointer that is not an object of this model. A saturated count
/// reads as a large positive value. Takes no reference. The caller must hold
/// a reference on `obj` or on an object from which `obj` is reachable.
#[no_mangle]
pub extern "C" fn bt_object_get_ref_count(obj: *const c_void) -> c_long {
    ffi_guard!("bt_object_get_ref_count", -1, {
        let o = bt_arg!("bt_object_get_ref_count", obj, -1);
        o.ref_count() as c_long
    })
}

/// Initialise the `struct bt_object` at the start of a C object: count 1
/// (the caller's reference), no parent, no children. `release` frees the
/// object's memory when it is destroyed; NULL makes the object static (gets
/// and puts on it do nothing, it is never released and not counted in
/// traceref_live_objects()). `obj` must be 8-byte aligned; NULL does
/// nothing. Initialising an object that is already initialised and alive is
/// misuse: one warning line, nothing changed (a counted object is live from
/// this call until its destruction; memory of a destroyed object, or of a
/// static one, may be initialised again). Needs nothing but the memory at
/// `obj`, which no other thread may use during the call; any thread.
#[no_mangle]
pub extern "C" fn bt_object_init(obj: *mut c_void, release: bt_object_release_func) {
    ffi_guard!("bt_object_init", (), {
        null_check!("bt_object_init", obj, ());
        if (obj as usize) % align_of::<bt_object>() != 0 {
            misuse!("bt_object_init", "{:p} is not 8-byte aligned", obj);
            return;
        }
        let p = obj.cast::<BtObject>();
        if object::is_live_embedded(p) {
            // SAFETY: it holds a live object's header.
            let count = unsafe { (*p).ref_count() };
            misuse!(
                "bt_object_init",
                "{:p} is already initialised and alive (count {}); left unchanged",
                obj,
                count
            );
            return;
        }
        // SAFETY: the caller provides writable memory of at least
        // `sizeof(struct bt_object)` bytes at `obj`, aligned (checked above).
        unsafe {
            ptr::write(p, BtObject::new(Kind::BtObject, release));
            (*p).born();
        }
    })
}

/// Make `parent` the parent of `child`: the child joins the parent's children
/// (destroyed with it) and leaves its old parent's. A child whose count is
/// above 0 holds one reference on its new parent and drops the one it held
/// on its old parent. `child` must be an embedded object (initialised with
/// bt_object_init()); `parent` may be an embedded object or a CTF-IR one
/// (trace, stream class, event class), whose typed getters (counts, get by
/// index) do not list such own children. CTF-IR children use their typed
/// add functions. A NULL `parent` detaches `child`: it leaves its parent's
/// children, drops the reference it held on it, and becomes a root,
/// destroyed when its count reaches 0 (nothing happens for a root).
/// Refused, with a warning, for a NULL `child`, for static objects and when
/// `parent` is `child` or one of its descendants.
///
/// The caller must hold a reference on both; any thread. Meanwhile other
/// threads may get and put any node of either tree, call
/// bt_object_get_parent() or traceref_dump_dot() on them, and link other
/// objects: the cycle check and the move are one step (of two links that
/// would close a cycle between them, one is refused), and the old parent is
/// released, if this move drops its last reference, only once no other
/// thread can reach it through `child`. Not supported: moving a child while
/// another thread's bt_get() takes its count from 0 to 1 or bt_put() takes
/// it from 1 to 0; with the caller's reference held, only a get or put that
/// began before that reference was taken can be doing so.
#[no_mangle]
pub extern "C" fn bt_object_set_parent(child: *mut c_void, parent: *mut c_void) {
    ffi_guard!("bt_object_set_parent", (), {
        const F: &str = "bt_object_set_parent";
        let c = bt_arg!(F, child, Kind::BtObject, ());
        if parent.is_null() {
            object::detach(F, c);
            return;
        }
        let p = bt_arg!(F, parent, ());
        match object::link::<()>(F, p, c, true, |_| Ok(())) {
            Ok(()) => {}
            Err(Ok(LinkError::Cycle)) => {
                misuse!(F, "{:p} is {:p} or one of its descendants", parent, child)
            }
            Err(e) => misuse!(F, "cannot link {:p} under {:p}: {:?}", child, parent, e),
        }
    })
}

/// A new reference on the parent of `obj` (put it when done), or NULL when
/// `obj` is NULL, not an object of this model, or a root. The caller must
/// hold a reference on `obj`; any thread. The parent returned is alive and
/// counted even when another thread moves `obj` to another parent at the
/// same time (it is then the old or the new parent).
///
/// The pointer is the parent object itself (every object of this model
/// starts with its `struct bt_object`), so it may be cast to the parent's
/// own type when the caller knows it: `struct bt_ctf_trace *` for the parent
/// of a stream class, `struct bt_ctf_stream_class *` for that of an event
/// class, the caller's structure for an embedded parent. The library does
/// not tell the kind: a typed function given a parent of another kind
/// refuses it with a warning. Put it with bt_put() or the typed put.
#[no_mangle]
pub extern "C" fn bt_object_get_parent(obj: *mut c_void) -> *mut bt_object {
    ffi_guard!("bt_object_get_parent", ptr::null_mut(), {
        let o = bt_arg!("bt_object_get_parent", obj, ptr::null_mut());
        ctf_ir::parent_of("bt_object_get_parent", o).cast()
    })
}

/// A new trace, count 1 (the caller's reference), with no stream class.
/// NULL only if memory runs out. Needs nothing; any thread.
#[no_mangle]
pub extern "C" fn bt_ctf_trace_create() -> *mut bt_ctf_trace {
    ffi_guard!("bt_ctf_trace_create", ptr::null_mut(), {
        ctf_ir::create_trace().cast()
    })
}

/// A new stream class named `name` (copied), count 1 (the caller's
/// reference), with no parent. A NULL `name` makes an anonymous stream
/// class (its name is NULL), as upstream allows. NULL only if memory runs
/// out. Needs nothing; any thread.
#[no_mangle]
pub extern "C" fn bt_ctf_stream_class_create(name: *const c_char) -> *mut bt_ctf_stream_class {
    ffi_guard!("bt_ctf_stream_class_create", ptr::null_mut(), {
        // SAFETY: a non-null `name` is a NUL-terminated C string.
        let n = (!name.is_null()).then(|| unsafe { CStr::from_ptr(name) });
        ctf_ir::create_named(Kind::CtfStreamClass, n).cast()
    })
}

/// A new event class named `name` (copied), count 1 (the caller's
/// reference), with no parent. NULL when `name` is NULL. Needs nothing; any
/// thread.
#[no_mangle]
pub extern "C" fn bt_ctf_event_class_create(name: *const c_char) -> *mut bt_ctf_event_class {
    ffi_guard!("bt_ctf_event_class_create", ptr::null_mut(), {
        null_check!("bt_ctf_event_class_create", name, ptr::null_mut());
        // SAFETY: a non-null `name` is a NUL-terminated C string.
        let n = unsafe { CStr::from_ptr(name) };
        ctf_ir::create_named(Kind::CtfEventClass, Some(n)).cast()
    })
}

/// Add `stream_class` to `trace`, which becomes its parent and is destroyed
/// with it. The caller keeps its own references on both; while the stream
/// class's count is above 0 it holds one reference on the trace.
///
/// Returns 0, or -1 (nothing changed) when an argument is NULL or of the
/// wrong kind, or the stream class already has a parent. The caller must
/// hold a reference on both. Safe while other threads enumerate the trace.
#[no_mangle]
pub extern "C" fn bt_ctf_trace_add_stream_class(
    trace: *mut bt_ctf_trace,
    stream_class: *mut bt_ctf_stream_class,
) -> c_int {
    ffi_guard!("bt_ctf_trace_add_stream_class", -1, {
        const F: &str = "bt_ctf_trace_add_stream_class";
        let t = bt_arg!(F, trace, Kind::CtfTrace, -1);
        let sc = bt_arg!(F, stream_class, Kind::CtfStreamClass, -1);
        ctf_ir::add(F, t, sc)
    })
}

/// Add `event_class` to `stream_class`, which becomes its parent. Returns 0,
/// or -1 (nothing changed) when an argument is NULL or of the wrong kind, the
/// event class already has a parent, or the stream class already has an
/// event class of the same name. The caller must hold a reference on both.
#[no_mangle]
pub extern "C" fn bt_ctf_stream_class_add_event_class(
    stream_class: *mut bt_ctf_stream_class,
    event_class: *mut bt_ctf_event_class,
) -> c_int {
    ffi_guard!("bt_ctf_stream_class_add_event_class", -1, {
        const F: &str = "bt_ctf_stream_class_add_event_class";
        let sc = bt_arg!(F, stream_class, Kind::CtfStreamClass, -1);
        let ec = bt_arg!(F, event_class, Kind::CtfEventClass, -1);
        ctf_ir::add(F, sc, ec)
    })
}

/// Number of stream classes of `trace`; -1 for NULL or a wrong kind. The
/// caller must hold a reference on `trace`.
#[no_mangle]
pub extern "C" fn bt_ctf_trace_get_stream_class_count(trace: *mut bt_ctf_trace) -> c_int {
    ffi_guard!("bt_ctf_trace_get_stream_class_count", -1, {
        let t = bt_arg!(
            "bt_ctf_trace_get_stream_class_count",
            trace,
            Kind::CtfTrace,
            -1
        );
        ctf_ir::child_count(t)
    })
}

/// A new reference (put it when done) on the stream class at `index` (in the
/// order they were added), or NULL for NULL, a wrong kind or an index out of
/// range. Taking it may move the stream class from 0 to 1, which takes a
/// reference on the trace. The caller must hold a reference on `trace`.
#[no_mangle]
pub extern "C" fn bt_ctf_trace_get_stream_class(
    trace: *mut bt_ctf_trace,
    index: c_int,
) -> *mut bt_ctf_stream_class {
    ffi_guard!("bt_ctf_trace_get_stream_class", ptr::null_mut(), {
        const F: &str = "bt_ctf_trace_get_stream_class";
        let t = bt_arg!(F, trace, Kind::CtfTrace, ptr::null_mut());
        ctf_ir::child_at(F, t, index).cast()
    })
}

/// Number of event classes of `stream_class`; -1 for NULL or a wrong kind.
/// The caller must hold a reference on `stream_class`.
#[no_mangle]
pub extern "C" fn bt_ctf_stream_class_get_event_class_count(
    stream_class: *mut bt_ctf_stream_class,
) -> c_int {
    ffi_guard!("bt_ctf_stream_class_get_event_class_count", -1, {
        const F: &str = "bt_ctf_stream_class_get_event_class_count";
        let sc = bt_arg!(F, stream_class, Kind::CtfStreamClass, -1);
        ctf_ir::child_count(sc)
    })
}

/// A new reference (put it when done) on the event class at `index`, or NULL
/// for NULL, a wrong kind or an index out of range. The caller must hold a
/// reference on `stream_class`.
#[no_mangle]
pub extern "C" fn bt_ctf_stream_class_get_event_class(
    stream_class: *mut bt_ctf_stream_class,
    index: c_int,
) -> *mut bt_ctf_event_class {
    ffi_guard!("bt_ctf_stream_class_get_event_class", ptr::null_mut(), {
        const F: &str = "bt_ctf_stream_class_get_event_class";
        let sc = bt_arg!(F, stream_class, Kind::CtfStreamClass, ptr::null_mut());
        ctf_ir::child_at(F, sc, index).cast()
    })
}

/// A new reference (put it when done) on the trace of `stream_class`, or
/// NULL when it was never added to one (or for NULL, a wrong kind). The
/// caller must hold a reference on `stream_class`.
#[no_mangle]
pub extern "C" fn bt_ctf_stream_class_get_trace(
    stream_class: *mut bt_ctf_stream_class,
) -> *mut bt_ctf_trace {
    ffi_guard!("bt_ctf_stream_class_get_trace", ptr::null_mut(), {
        const F: &str = "bt_ctf_stream_class_get_trace";
        let sc = bt_arg!(F, stream_class, Kind::CtfStreamClass, ptr::null_mut());
        ctf_ir::parent_of(F, sc).cast()
    })
}

/// A new reference (put it when done) on the stream class of `event_class`,
/// or NULL when it was never added to one (or for NULL, a wrong kind). The
/// caller must hold a reference on `event_class`.
#[no_mangle]
pub extern "C" fn bt_ctf_event_class_get_stream_class(
    event_class: *mut bt_ctf_event_class,
) -> *mut bt_ctf_stream_class {
    ffi_guard!("bt_ctf_event_class_get_stream_class", ptr::null_mut(), {
        const F: &str = "bt_ctf_event_class_get_stream_class";
        let ec = bt_arg!(F, event_class, Kind::CtfEventClass, ptr::null_mut());
        ctf_ir::parent_of(F, ec).cast()
    })
}

/// The name of `stream_class`, valid as long as the stream class is; NULL
/// for an anonymous stream class, NULL or a wrong kind. Takes no reference.
/// The caller must hold a reference on `stream_class` or on an object from
/// which it is reachable.
#[no_mangle]
pub extern "C" fn bt_ctf_stream_class_get_name(
    stream_class: *mut bt_ctf_stream_class,
) -> *const c_char {
    ffi_guard!("bt_ctf_stream_class_get_name", ptr::null(), {
        const F: &str = "bt_ctf_stream_class_get_name";
        let sc = bt_arg!(F, stream_class, Kind::CtfStreamClass, ptr::null());
        ctf_ir::name(sc)
    })
}

/// The name of `event_class`, valid as long as the event class is; NULL for
/// NULL or a wrong kind. Takes no reference. The caller must hold a
/// reference on `event_class` or on an object from which it is reachable.
#[no_mangle]
pub extern "C" fn bt_ctf_event_class_get_name(
    event_class: *mut bt_ctf_event_class,
) -> *const c_char {
    ffi_guard!("bt_ctf_event_class_get_name", ptr::null(), {
        const F: &str = "bt_ctf_event_class_get_name";
        let ec = bt_arg!(F, event_class, Kind::CtfEventClass, ptr::null());
        ctf_ir::name(ec)
    })
}

fn typed_get(func: &str, obj: *mut c_void, kind: Kind) {
    if obj.is_null() {
        return;
    }
    let o = bt_arg!(func, obj, kind, ());
    object::get(func, o);
}

fn typed_put(func: &str, obj: *mut c_void, kind: Kind) {
    if obj.is_null() {
        return;
    }
    let o = bt_arg!(func, obj, kind, ());
    // SAFETY: the caller owns the reference being dropped.
    unsafe { object::put(func, o) };
}

/// Take a reference on `trace` (see bt_get()). NULL does nothing; a pointer
/// of another kind is refused with a warning.
/// The caller must hold a reference on `trace` or on an object from which
/// it is reachable; any thread.
#[no_mangle]
pub extern "C" fn bt_ctf_trace_get(trace: *mut bt_ctf_trace) {
    ffi_guard!("bt_ctf_trace_get", (), {
        typed_get("bt_ctf_trace_get", trace.cast(), Kind::CtfTrace)
    })
}

/// Drop a reference on `trace` (see bt_put()). NULL does nothing; a pointer
/// of another kind is refused with a warning.
/// The caller gives up the reference it drops; any thread.
#[no_mangle]
pub extern "C" fn bt_ctf_trace_put(trace: *mut bt_ctf_trace) {
    ffi_guard!("bt_ctf_trace_put", (), {
        typed_put("bt_ctf_trace_put", trace.cast(), Kind::CtfTrace)
    })
}

/// Take a reference on `stream_class` (see bt_get()). NULL does nothing; a
/// pointer of another kind is refused with a warning.
/// The caller must hold a reference on `stream_class` or on an object from which
/// it is reachable; any thread.
#[no_mangle]
pub extern "C" fn bt_ctf_stream_class_get(stream_class: *mut bt_ctf_stream_class) {
    ffi_guard!("bt_ctf_stream_class_get", (), {
        typed_get(
            "bt_ctf_stream_class_get",
            stream_class.cast(),
            Kind::CtfStreamClass,
        )
    })
}

/// Drop a reference on `stream_class` (see bt_put()). NULL does nothing; a
/// pointer of another kind is refused with a warning.
/// The caller gives up the reference it drops; any thread.
#[no_mangle]
pub extern "C" fn bt_ctf_stream_class_put(stream_class: *mut bt_ctf_stream_class) {
    ffi_guard!("bt_ctf_stream_class_put", (), {
        typed_put(
            "bt_ctf_stream_class_put",
            stream_class.cast(),
            Kind::CtfStreamClass,
        )
    })
}

/// Take a reference on `event_class` (see bt_get()). NULL does nothing; a
/// pointer of another kind is refused with a warning.
/// The caller must hold a reference on `event_class` or on an object from which
/// it is reachable; any thread.
#[no_mangle]
pub extern "C" fn bt_ctf_event_class_get(event_class: *mut bt_ctf_event_class) {
    ffi_guard!("bt_ctf_event_class_get", (), {
        typed_get(
            "bt_ctf_event_class_get",
            event_class.cast(),
            Kind::CtfEventClass,
        )
    })
}

/// Drop a reference on `event_class` (see bt_put()). NULL does nothing; a
/// pointer of another kind is refused with a warning.
/// The caller gives up the reference it drops; any thread.
#[no_mangle]
pub extern "C" fn bt_ctf_event_class_put(event_class: *mut bt_ctf_event_class) {
    ffi_guard!("bt_ctf_event_class_put", (), {
        typed_put(
            "bt_ctf_event_class_put",
            event_class.cast(),
            Kind::CtfEventClass,
        )
    })
}

/// A new integer field type of `size` bits, count 1 (the caller's
/// reference; put it with bt_ctf_field_type_put() or bt_put()). A field type
/// is a root: it has no parent and is destroyed when its count reaches 0.
/// NULL, with a warning, unless 1 <= `size` <= 64; NULL also if memory runs
/// out. Any thread.
#[no_mangle]
pub extern "C" fn bt_ctf_field_type_integer_create(size: c_uint) -> *mut bt_ctf_field_type {
    ffi_guard!("bt_ctf_field_type_integer_create", ptr::null_mut(), {
        field_type::create_integer("bt_ctf_field_type_integer_create", size).cast()
    })
}

/// The size in bits of the integer field type `integer`; negative, with a
/// warning, for NULL or another kind. Takes no reference. The caller must
/// hold a reference on `integer`; any thread.
#[no_mangle]
pub extern "C" fn bt_ctf_field_type_integer_get_size(integer: *mut bt_ctf_field_type) -> c_int {
    ffi_guard!("bt_ctf_field_type_integer_get_size", -1, {
        const F: &str = "bt_ctf_field_type_integer_get_size";
        let i = ft_arg!(F, integer, Want::Integer, -1);
        field_type::integer_size(i)
    })
}

/// A new structure field type with no field, count 1 (the caller's
/// reference). A root, like every field type. NULL only if memory runs
/// out. Any thread.
#[no_mangle]
pub extern "C" fn bt_ctf_field_type_structure_create() -> *mut bt_ctf_field_type {
    ffi_guard!("bt_ctf_field_type_structure_create", ptr::null_mut(), {
        field_type::create_structure().cast()
    })
}

/// Add a field named `field_name` (copied) of type `field_type` (an integer
/// or a structure) at the end of `structure`, which takes a reference on
/// `field_type`, dropped when `structure` is destroyed. The same type may
/// be added several times (a reference each).
///
/// Returns 0, or -1 with a warning (nothing changed) when an argument is
/// NULL or of the wrong kind, `structure` already has a field of that
/// name, or `structure` would contain itself (`field_type` is `structure`
/// or contains it, directly or through its fields). The caller must hold a
/// reference on both; any thread: two threads adding A into B and B into A
/// at the same time cannot both succeed.
#[no_mangle]
pub extern "C" fn bt_ctf_field_type_structure_add_field(
    structure: *mut bt_ctf_field_type,
    field_type: *mut bt_ctf_field_type,
    field_name: *const c_char,
) -> c_int {
    ffi_guard!("bt_ctf_field_type_structure_add_field", -1, {
        const F: &str = "bt_ctf_field_type_structure_add_field";
        let s = ft_arg!(F, structure, Want::Structure, -1);
        let t = ft_arg!(F, field_type, Want::Any, -1);
        null_check!(F, field_name, -1);
        // SAFETY: a non-null `field_name` is a NUL-terminated C string.
        let n = unsafe { CStr::from_ptr(field_name) };
        field_type::add_field(F, s, t, n)
    })
}

/// Number of fields of `structure`; -1, with a warning, for NULL or another
/// kind. The caller must hold a reference on `structure`; any thread.
#[no_mangle]
pub extern "C" fn bt_ctf_field_type_structure_get_field_count(
    structure: *mut bt_ctf_field_type,
) -> c_int {
    ffi_guard!("bt_ctf_field_type_structure_get_field_count", -1, {
        const F: &str = "bt_ctf_field_type_structure_get_field_count";
        let s = ft_arg!(F, structure, Want::Structure, -1);
        field_type::field_count(s)
    })
}

/// The field of `structure` at `index` (in the order they were added):
/// its name in `*field_name` (valid as long as `structure` is; no
/// reference) and a new reference on its type in `*field_type` (put it
/// when done). Either out pointer may be NULL: that part is not returned
/// (and no reference is taken for a NULL `field_type`).
///
/// Returns 0, or -1 with a warning (nothing written) when `structure` is
/// NULL or not a structure, or `index` is out of range. The caller must
/// hold a reference on `structure`; any thread.
#[no_mangle]
pub extern "C" fn bt_ctf_field_type_structure_get_field(
    structure: *mut bt_ctf_field_type,
    field_name: *mut *const c_char,
    field_type: *mut *mut bt_ctf_field_type,
    index: c_int,
) -> c_int {
    ffi_guard!("bt_ctf_field_type_structure_get_field", -1, {
        const F: &str = "bt_ctf_field_type_structure_get_field";
        let s = ft_arg!(F, structure, Want::Structure, -1);
        let Some((name, ty)) = field_type::field_at(F, s, index, !field_type.is_null()) else {
            return -1;
        };
        if !field_name.is_null() {
            // SAFETY: a non-null out pointer points to writable storage for
            // a `const char *` (the caller's contract).
            unsafe { *field_name = name };
        }
        if !field_type.is_null() {
            // SAFETY: as above, for a `struct bt_ctf_field_type *`.
            unsafe { *field_type = ty.cast() };
        }
        0
    })
}

/// A new reference (put it when done) on the type of the field of
/// `structure` named `field_name`; NULL, without a warning, when there is
/// no such field, and NULL with a warning for a NULL argument or a
/// `structure` that is not a structure. The caller must hold a reference on
/// `structure`; any thread.
#[no_mangle]
pub extern "C" fn bt_ctf_field_type_structure_get_field_type_by_name(
    structure: *mut bt_ctf_field_type,
    field_name: *const c_char,
) -> *mut bt_ctf_field_type {
    ffi_guard!(
        "bt_ctf_field_type_structure_get_field_type_by_name",
        ptr::null_mut(),
        {
            const F: &str = "bt_ctf_field_type_structure_get_field_type_by_name";
            let s = ft_arg!(F, structure, Want::Structure, ptr::null_mut());
            null_check!(F, field_name, ptr::null_mut());
            // SAFETY: a non-null `field_name` is a NUL-terminated C string.
            let n = unsafe { CStr::from_ptr(field_name) };
            field_type::field_type_by_name(F, s, n).cast()
        }
    )
}

/// Make the structure field type `payload` the payload type of
/// `event_class`, which takes a reference on it, dropped when the event
/// class is destroyed (with its tree, or alone if it never joined one) or
/// when another payload type replaces it: a previous payload type's
/// reference is dropped here (setting the same one again changes nothing).
///
/// Returns 0, or -1 with a warning (nothing changed) when an argument is
/// NULL or of the wrong kind, including a `payload` that is not a
/// structure. The caller must hold a reference on both; any thread.
#[no_mangle]
pub extern "C" fn bt_ctf_event_class_set_payload_type(
    event_class: *mut bt_ctf_event_class,
    payload: *mut bt_ctf_field_type,
) -> c_int {
    ffi_guard!("bt_ctf_event_class_set_payload_type", -1, {
        const F: &str = "bt_ctf_event_class_set_payload_type";
        let ec = bt_arg!(F, event_class, Kind::CtfEventClass, -1);
        let p = ft_arg!(F, payload, Want::Structure, -1);
        field_type::set_payload(F, ec, p)
    })
}

/// A new reference (put it when done) on the payload type of
/// `event_class`; NULL, without a warning, when none was set, and NULL with
/// a warning for NULL or another kind. The caller must hold a reference on
/// `event_class`; any thread (the type returned is counted even when
/// another thread replaces the payload type at the same time).
#[no_mangle]
pub extern "C" fn bt_ctf_event_class_get_payload_type(
    event_class: *mut bt_ctf_event_class,
) -> *mut bt_ctf_field_type {
    ffi_guard!("bt_ctf_event_class_get_payload_type", ptr::null_mut(), {
        const F: &str = "bt_ctf_event_class_get_payload_type";
        let ec = bt_arg!(F, event_class, Kind::CtfEventClass, ptr::null_mut());
        field_type::payload(F, ec).cast()
    })
}

/// Take a reference on the field type `field_type` (see bt_get()). NULL
/// does nothing; a pointer of another kind is refused with a warning. The
/// caller must hold a reference on it, or on a structure or event class
/// that holds it; any thread.
#[no_mangle]
pub extern "C" fn bt_ctf_field_type_get(field_type: *mut bt_ctf_field_type) {
    ffi_guard!("bt_ctf_field_type_get", (), {
        const F: &str = "bt_ctf_field_type_get";
        if field_type.is_null() {
            return;
        }
        let t = ft_arg!(F, field_type, Want::Any, ());
        object::get(F, t);
    })
}

/// Drop a reference on the field type `field_type` (see bt_put()): the last
/// one destroys it, which drops the references it held on its fields'
/// types. NULL does nothing; a pointer of another kind is refused with a
/// warning. The caller gives up the reference it owned; any thread.
#[no_mangle]
pub extern "C" fn bt_ctf_field_type_put(field_type: *mut bt_ctf_field_type) {
    ffi_guard!("bt_ctf_field_type_put", (), {
        const F: &str = "bt_ctf_field_type_put";
        if field_type.is_null() {
            return;
        }
        let t = ft_arg!(F, field_type, Want::Any, ());
        // SAFETY: the caller owns the reference being dropped.
        unsafe { object::put(F, t) };
    })
}

/// Number of objects made by this library (or initialised through it) and
/// not yet reclaimed, over both models. Static objects are not counted. A
/// Babeltrace object stops being counted when its tree is destroyed, inside
/// the put that destroys it; a relay object, viewer session or connection
/// table only when it is freed, after its grace period, so the number may
/// still include objects whose last reference is gone: call
/// traceref_reclaim_barrier() first. A leak check compares the number
/// before and after a piece of work, each taken after a barrier. The number
/// is a sum of per-thread tallies, exact when no other thread creates or
/// reclaims objects meanwhile. Needs nothing; any thread.
#[no_mangle]
pub extern "C" fn traceref_live_objects() -> usize {
    ffi_guard!("traceref_live_objects", 0, { census::live() })
}
