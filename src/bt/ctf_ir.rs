//! The CTF-IR objects of the Babeltrace example: trace, stream class, event
//! class. A trace is a root; stream classes are its children; event classes
//! are children of stream classes. Everything about counts and parents is
//! [`super::object`]'s; this file only adds names and typed containers.

use super::object::{self, BtObject, Child, LinkError};
use crate::core::diag::misuse;
use crate::core::kind::{Kind, TagCheck};
use std::ffi::{CStr, CString};
use std::ptr;

/// A trace: the root of the example's hierarchy.
#[repr(C)]
pub struct CtfTrace {
    pub base: BtObject,
}

/// A stream class (child of a trace) or an event class (child of a stream
/// class): both are named, but a stream class may be anonymous.
#[repr(C)]
pub struct CtfNamed {
    pub base: BtObject,
    name: Option<CString>,
    /// An event class's payload type (see `field_type`; empty for a stream
    /// class): its counted reference is put when the class is released.
    pub(super) payload: super::field_type::PayloadSlot,
}

unsafe extern "C" fn release_trace(obj: *mut crate::ffi::bt::bt_object) {
    // SAFETY: `obj` was made by `Box::into_raw` in `create_trace` and is
    // released exactly once, by `object::destroy`.
    drop(unsafe { Box::from_raw(obj.cast::<CtfTrace>()) });
}

unsafe extern "C" fn release_named(obj: *mut crate::ffi::bt::bt_object) {
    // SAFETY: `obj` was made by `Box::into_raw` in `create_named` and is
    // released exactly once, by `object::destroy`.
    drop(unsafe { Box::from_raw(obj.cast::<CtfNamed>()) });
}

/// A new trace with count 1.
pub fn create_trace() -> *mut BtObject {
    let b = Box::new(CtfTrace {
        base: BtObject::new(Kind::CtfTrace, Some(release_trace)),
    });
    b.base.born();
    Box::into_raw(b).cast()
}

/// A new stream class or event class with count 1 (`name` None: an
/// anonymous stream class).
pub fn create_named(kind: Kind, name: Option<&CStr>) -> *mut BtObject {
    let b = Box::new(CtfNamed {
        base: BtObject::new(kind, Some(release_named)),
        name: name.map(CStr::to_owned),
        payload: Default::default(),
    });
    b.base.born();
    Box::into_raw(b).cast()
}

/// The name of a stream class or event class (valid while it is), NULL for
/// an anonymous stream class.
pub fn name(obj: &BtObject) -> *const libc::c_char {
    // SAFETY: callers check that `obj` is a named kind, whose memory is a
    // `CtfNamed` (it starts with its `BtObject`, `repr(C)`).
    let named = unsafe { &*(obj as *const BtObject).cast::<CtfNamed>() };
    named.name.as_ref().map_or(ptr::null(), |n| n.as_ptr())
}

/// The kind of the typed children of `parent` (stream classes of a trace,
/// event classes of a stream class). A CTF-IR object may also have C code's
/// own embedded objects as children, which its typed getters do not list.
fn typed_children(parent: &BtObject) -> Option<Kind> {
    match parent.kind() {
        Kind::CtfTrace => Some(Kind::CtfStreamClass),
        Kind::CtfStreamClass => Some(Kind::CtfEventClass),
        _ => None,
    }
}

/// Whether `c` is one of the typed children of `parent`.
fn is_typed_child(parent: &BtObject, c: &Child) -> bool {
    // SAFETY: children are alive while their parent is, and callers hold
    // the parent.
    typed_children(parent) == Some(unsafe { c.0.as_ref() }.kind())
}

/// Check that `p` is a live object of kind `want`.
///
/// # Safety
/// `p` is non-null and points to at least a readable tag.
pub unsafe fn typed<'a>(func: &str, p: *const BtObject, want: Kind) -> Option<&'a BtObject> {
    // SAFETY: per the contract.
    let obj = unsafe { &*p };
    match obj.tag().check(want) {
        TagCheck::Ok(_) => Some(obj),
        TagCheck::Wrong(k) => {
            misuse!(func, "{:p} is a {}, not a {}", p, k.name(), want.name());
            None
        }
        TagCheck::Reclaimed => {
            misuse!(func, "{} {:p} was already reclaimed", want.name(), p);
            None
        }
        TagCheck::Unknown(_) => {
            misuse!(
                func,
                "{:p} is not a {} made by this library",
                p,
                want.name()
            );
            None
        }
    }
}

/// Add `child` (a stream class or event class) to `parent`. Refused, with a
/// negative return, when the child already has a parent, or, for event
/// classes, when the stream class already has one of the same name.
pub fn add(func: &str, parent: &BtObject, child: &BtObject) -> i32 {
    let by_name = child.kind() == Kind::CtfEventClass;
    let child_name = if by_name {
        // SAFETY: the pointer returned by `name` is valid while `child` is.
        Some(unsafe { CStr::from_ptr(name(child)) })
    } else {
        None
    };
    let res = object::link(func, parent, child, false, |kids: &[Child]| {
        if let Some(n) = child_name {
            for c in kids.iter().filter(|c| is_typed_child(parent, c)) {
                // SAFETY: children are alive while their parent is, and the
                // parent is held by the caller.
                let c = unsafe { c.0.as_ref() };
                // SAFETY: as above, for the name pointer (an event class
                // always has one).
                if unsafe { CStr::from_ptr(name(c)) } == n {
                    return Err(());
                }
            }
        }
        Ok(())
    });
    match res {
        Ok(()) => 0,
        Err(Ok(LinkError::HasParent)) => {
            misuse!(
                func,
                "{} {:p} already has a parent",
                child.kind().name(),
                child
            );
            -1
        }
        Err(Ok(e)) => {
            misuse!(
                func,
                "cannot add {} {:p}: {:?}",
                child.kind().name(),
                child,
                e
            );
            -1
        }
        Err(Err(())) => {
            misuse!(
                func,
                "{} {:p} already has an event class named {:?}",
                parent.kind().name(),
                parent,
                child_name.unwrap_or_default()
            );
            -1
        }
    }
}

/// Number of typed children of `parent`.
pub fn child_count(parent: &BtObject) -> i32 {
    parent.with_children(|k| {
        let n = k.iter().filter(|c| is_typed_child(parent, c)).count();
        i32::try_from(n).unwrap_or(i32::MAX)
    })
}

/// A new reference on the child at `index`, or NULL when out of range.
pub fn child_at(func: &str, parent: &BtObject, index: i32) -> *mut BtObject {
    let Ok(i) = usize::try_from(index) else {
        misuse!(func, "negative index {}", index);
        return ptr::null_mut();
    };
    parent.with_children(|kids| {
        let mut typed = kids.iter().filter(|c| is_typed_child(parent, c));
        match typed.clone().nth(i) {
            Some(c) => {
                // SAFETY: children are alive while their parent is. The reference
                // is taken under the list lock, so a concurrent add cannot move it.
                object::get(func, unsafe { c.0.as_ref() });
                c.0.as_ptr()
            }
            None => {
                misuse!(
                    func,
                    "index {} out of range ({} children)",
                    index,
                    typed.by_ref().count()
                );
                ptr::null_mut()
            }
        }
    })
}

/// A new reference on the parent of `obj`, or NULL for a root.
pub fn parent_of(func: &str, obj: &BtObject) -> *mut BtObject {
    object::get_parent(func, obj)
}
