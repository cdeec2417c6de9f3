//! CTF-IR field types: integers and structures.
//!
//! A field type is an object of this model like any other: its head is a
//! [`BtObject`], so `bt_get`/`bt_put` and the census work on it, and it is
//! always a root (no parent), destroyed by [`object`] when its count reaches
//! zero. Field types are shared, not owned: a structure holds one counted
//! reference on each of its member types and an event class one on its
//! payload type, each a [`TypeRef`], taken when the member or payload is set
//! and put when the holder is released (or the payload replaced). A holder
//! is released after its children, and that put may destroy the type, a
//! tree of its own, from inside the holder's release: the destruction of a
//! tree parks the counts of that tree only, so the nested destruction runs
//! like any other.
//!
//! Members are never removed: a structure only grows. Its one shape rule,
//! "no structure contains itself, directly or through its members", is
//! checked and the member inserted as one step under [`EDITS`], the
//! process-wide lock of structure edits: of two adds that would close a
//! cycle between them (A into B, B into A), the second to take the lock
//! sees the first's member and is refused. Readers (counts, getters) take
//! only the read side of one structure's member list.

use super::ctf_ir::CtfNamed;
use super::object::{self, BtObject};
use crate::core::diag::misuse;
use crate::core::kind::{Kind, TagCheck};
use parking_lot::{Mutex, RwLock};
use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::ptr::{self, NonNull};

/// Widest integer field type, in bits (as upstream).
pub const MAX_INTEGER_SIZE: u32 = 64;

/// The lock of structure edits: every insertion of a member, with its
/// containment check, is made under it. Gets, puts and readers never take it.
static EDITS: Mutex<()> = parking_lot::const_mutex(());

/// One counted reference on a field type, owned by a holder (a structure's
/// member, an event class's payload): taken when made, put when dropped.
pub struct TypeRef(NonNull<BtObject>);

// SAFETY: a `TypeRef` owns a counted reference, so the object it points to
// stays alive as long as it exists, and `BtObject` is `Sync` (its count, tag
// and parent are atomics, its children list is behind a lock): the
// reference may move to, and be used from, any thread.
unsafe impl Send for TypeRef {}
// SAFETY: as above; `&TypeRef` only reads the pointer.
unsafe impl Sync for TypeRef {}

impl TypeRef {
    /// Take a new reference on `ty`, which the caller holds.
    fn take(func: &str, ty: &BtObject) -> TypeRef {
        object::get(func, ty);
        TypeRef(NonNull::from(ty))
    }

    fn obj(&self) -> &BtObject {
        // SAFETY: the reference this `TypeRef` owns keeps the object alive.
        unsafe { self.0.as_ref() }
    }

    /// A new reference for a caller (a getter's result), who puts it.
    fn new_ref(&self, func: &str) -> *mut BtObject {
        object::get(func, self.obj());
        self.0.as_ptr()
    }
}

impl Drop for TypeRef {
    fn drop(&mut self) {
        // SAFETY: this `TypeRef` owns the reference it drops, so the object
        // is alive on entry; the put may destroy it (it is a root).
        unsafe { object::put("bt_put", self.0.as_ref()) };
    }
}

/// The payload type of an event class (empty for a stream class), kept in
/// the class itself and put when the class is released.
#[derive(Default)]
pub struct PayloadSlot(Mutex<Option<TypeRef>>);

/// An integer field type.
#[repr(C)]
pub struct IntegerType {
    pub base: BtObject,
    size: u32,
}

/// A structure field type: named members, in insertion order.
#[repr(C)]
pub struct StructureType {
    pub base: BtObject,
    members: RwLock<Vec<Member>>,
}

struct Member {
    /// Owned here, never removed nor moved while the structure is alive (the
    /// heap buffer stays where it is when the list grows): names handed out
    /// by [`field_at`] are valid as long as the structure.
    name: CString,
    ty: TypeRef,
}

unsafe extern "C" fn release_integer(obj: *mut crate::ffi::bt::bt_object) {
    // SAFETY: `obj` was made by `Box::into_raw` in `create_integer` and is
    // released exactly once, by `object::destroy`.
    drop(unsafe { Box::from_raw(obj.cast::<IntegerType>()) });
}

unsafe extern "C" fn release_structure(obj: *mut crate::ffi::bt::bt_object) {
    // SAFETY: `obj` was made by `Box::into_raw` in `create_structure` and is
    // released exactly once, by `object::destroy`. Dropping it drops the
    // members, which puts the reference held on each member type.
    drop(unsafe { Box::from_raw(obj.cast::<StructureType>()) });
}

/// What a function accepts as a field type argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Any,
    Integer,
    Structure,
}

impl Want {
    fn accepts(self, k: Kind) -> bool {
        match self {
            Want::Any => matches!(k, Kind::CtfIntegerType | Kind::CtfStructureType),
            Want::Integer => k == Kind::CtfIntegerType,
            Want::Structure => k == Kind::CtfStructureType,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Want::Any => "a field type",
            Want::Integer => "an integer field type",
            Want::Structure => "a structure field type",
        }
    }
}

/// Check that `p` is a live field type of the kind `want` asks for,
/// reporting misuse in the name of `func` (one line) otherwise.
///
/// # Safety
/// `p` is non-null and points to at least a readable tag.
pub unsafe fn checked<'a>(func: &str, p: *const BtObject, want: Want) -> Option<&'a BtObject> {
    // SAFETY: per the contract.
    let obj = unsafe { &*p };
    match obj.tag().read() {
        TagCheck::Ok(k) if want.accepts(k) => Some(obj),
        TagCheck::Ok(k) => {
            let article = if k.name().starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            misuse!(
                func,
                "{:p} is {} {}, not {}",
                p,
                article,
                k.name(),
                want.describe()
            );
            None
        }
        TagCheck::Reclaimed => {
            misuse!(func, "field type {:p} was already reclaimed", p);
            None
        }
        TagCheck::Wrong(_) | TagCheck::Unknown(_) => {
            misuse!(
                func,
                "{:p} is not {} made by this library",
                p,
                want.describe()
            );
            None
        }
    }
}

fn as_integer(obj: &BtObject) -> Option<&IntegerType> {
    // SAFETY: an object with this tag was made by `create_integer`: its
    // memory is an `IntegerType` (it starts with its `BtObject`, `repr(C)`).
    (obj.kind() == Kind::CtfIntegerType)
        .then(|| unsafe { &*(obj as *const BtObject).cast::<IntegerType>() })
}

fn as_structure(obj: &BtObject) -> Option<&StructureType> {
    // SAFETY: an object with this tag was made by `create_structure`: its
    // memory is a `StructureType` (it starts with its `BtObject`, `repr(C)`).
    (obj.kind() == Kind::CtfStructureType)
        .then(|| unsafe { &*(obj as *const BtObject).cast::<StructureType>() })
}

fn payload_slot(obj: &BtObject) -> Option<&PayloadSlot> {
    // SAFETY: an event class was made by `ctf_ir::create_named`: its memory
    // is a `CtfNamed` (it starts with its `BtObject`, `repr(C)`).
    (obj.kind() == Kind::CtfEventClass)
        .then(|| unsafe { &(*(obj as *const BtObject).cast::<CtfNamed>()).payload })
}

/// A new integer field type of `size` bits, count 1; NULL (one warning)
/// unless 1 <= `size` <= 64.
pub fn create_integer(func: &str, size: u32) -> *mut BtObject {
    if size == 0 || size > MAX_INTEGER_SIZE {
        misuse!(
            func,
            "an integer field type has 1 to {} bits, not {}",
            MAX_INTEGER_SIZE,
            size
        );
        return ptr::null_mut();
    }
    let b = Box::new(IntegerType {
        base: BtObject::new(Kind::CtfIntegerType, Some(release_integer)),
        size,
    });
    b.base.born();
    Box::into_raw(b).cast()
}

/// A new structure field type with no member, count 1.
pub fn create_structure() -> *mut BtObject {
    let b = Box::new(StructureType {
        base: BtObject::new(Kind::CtfStructureType, Some(release_structure)),
        members: RwLock::new(Vec::new()),
    });
    b.base.born();
    Box::into_raw(b).cast()
}

/// The size in bits of an integer field type (-1 for another kind: callers
/// check the kind first).
pub fn integer_size(ty: &BtObject) -> i32 {
    as_integer(ty).map_or(-1, |i| i.size as i32)
}

/// Whether `target` is `from` or reachable from it through members. Run
/// under [`EDITS`], so that no member is added meanwhile.
fn contains(from: &BtObject, target: &BtObject) -> bool {
    let mut stack: Vec<*const BtObject> = vec![from];
    let mut seen: HashSet<*const BtObject> = HashSet::new();
    while let Some(p) = stack.pop() {
        if ptr::eq(p, target) {
            return true;
        }
        if !seen.insert(p) {
            continue;
        }
        // SAFETY: `p` is `from`, held by the caller, or a member of a
        // structure reachable from it, held by that structure (members are
        // never removed while their structure is alive).
        let o = unsafe { &*p };
        if let Some(s) = as_structure(o) {
            stack.extend(
                s.members
                    .read()
                    .iter()
                    .map(|m| m.ty.0.as_ptr().cast_const()),
            );
        }
    }
    false
}

/// Add `ty` to the structure `st` as a member named `name` (copied), which
/// takes a reference on `ty`. Returns 0, or -1 with one warning (nothing
/// changed) when `st` already has a member of that name or when `st` would
/// contain itself (`ty` is `st` or contains it). The caller holds both, of
/// the kinds checked by the C boundary.
pub fn add_field(func: &str, st: &BtObject, ty: &BtObject, name: &CStr) -> i32 {
    let Some(s) = as_structure(st) else {
        misuse!(func, "{:p} is not a structure field type", st);
        return -1;
    };
    let _edit = EDITS.lock();
    if contains(ty, st) {
        misuse!(
            func,
            "adding {} {:p} to structure field type {:p} would make it contain itself",
            ty.kind().name(),
            ty,
            st
        );
        return -1;
    }
    let mut members = s.members.write();
    if members.iter().any(|m| m.name.as_c_str() == name) {
        misuse!(
            func,
            "structure field type {:p} already has a field named {:?}",
            st,
            name
        );
        return -1;
    }
    members.push(Member {
        name: name.to_owned(),
        ty: TypeRef::take(func, ty),
    });
    0
}

/// Number of members of a structure (-1 for another kind).
pub fn field_count(st: &BtObject) -> i32 {
    as_structure(st).map_or(-1, |s| {
        i32::try_from(s.members.read().len()).unwrap_or(i32::MAX)
    })
}

/// The member at `index`: its name (valid while the structure is) and, when
/// `want_type`, a new reference on its type (else NULL). None, with one
/// warning, for an index out of range.
pub fn field_at(
    func: &str,
    st: &BtObject,
    index: i32,
    want_type: bool,
) -> Option<(*const libc::c_char, *mut BtObject)> {
    let Some(s) = as_structure(st) else {
        misuse!(func, "{:p} is not a structure field type", st);
        return None;
    };
    let members = s.members.read();
    let Some(m) = usize::try_from(index).ok().and_then(|i| members.get(i)) else {
        misuse!(
            func,
            "index {} out of range (structure field type {:p} has {} fields)",
            index,
            st,
            members.len()
        );
        return None;
    };
    // The reference is taken under the read lock: the member (and its
    // structure's reference on the type) cannot go meanwhile.
    let ty = if want_type {
        m.ty.new_ref(func)
    } else {
        ptr::null_mut()
    };
    Some((m.name.as_ptr(), ty))
}

/// A new reference on the type of the member named `name`, or NULL (no
/// warning) when there is none.
pub fn field_type_by_name(func: &str, st: &BtObject, name: &CStr) -> *mut BtObject {
    let Some(s) = as_structure(st) else {
        misuse!(func, "{:p} is not a structure field type", st);
        return ptr::null_mut();
    };
    let members = s.members.read();
    members
        .iter()
        .find(|m| m.name.as_c_str() == name)
        .map_or(ptr::null_mut(), |m| m.ty.new_ref(func))
}

/// Make the structure `ty` the payload type of the event class `ec`: the
/// class takes a reference on it and drops the one it held on its previous
/// payload type, if any (after the swap, outside the slot's lock: that put
/// may destroy the old type). The caller holds both, of the kinds checked by
/// the C boundary.
pub fn set_payload(func: &str, ec: &BtObject, ty: &BtObject) -> i32 {
    let Some(slot) = payload_slot(ec) else {
        misuse!(func, "{:p} is not an event class", ec);
        return -1;
    };
    if as_structure(ty).is_none() {
        misuse!(func, "{:p} is not a structure field type", ty);
        return -1;
    }
    let new = TypeRef::take(func, ty);
    let old = slot.0.lock().replace(new);
    drop(old);
    0
}

/// A new reference on the payload type of `ec`, or NULL (no warning) when
/// it has none.
pub fn payload(func: &str, ec: &BtObject) -> *mut BtObject {
    let Some(slot) = payload_slot(ec) else {
        misuse!(func, "{:p} is not an event class", ec);
        return ptr::null_mut();
    };
    // Taken under the slot's lock: a replacement cannot put the type before
    // this reference is counted.
    let held = slot.0.lock();
    held.as_ref().map_or(ptr::null_mut(), |t| t.new_ref(func))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::census;

    fn obj<'a>(p: *mut BtObject) -> &'a BtObject {
        assert!(!p.is_null());
        // SAFETY: a live object made by this module, held by the test.
        unsafe { &*p }
    }

    fn put(p: *mut BtObject) {
        // SAFETY: the test owns the reference it drops.
        unsafe { object::put("test", obj(p)) };
    }

    #[test]
    fn members_hold_references_and_go_with_their_structure() {
        let before = census::live_of(Kind::CtfIntegerType);
        let i = create_integer("test", 32);
        let s = create_structure();
        assert_eq!(integer_size(obj(i)), 32);
        assert_eq!(add_field("test", obj(s), obj(i), c"a"), 0);
        assert_eq!(add_field("test", obj(s), obj(i), c"b"), 0);
        assert_eq!(obj(i).ref_count(), 3);
        assert_eq!(field_count(obj(s)), 2);
        put(i);
        assert_eq!(census::live_of(Kind::CtfIntegerType), before + 1);
        put(s);
        assert_eq!(census::live_of(Kind::CtfIntegerType), before);
    }

    #[test]
    fn refusals_change_nothing() {
        let s = create_structure();
        let t = create_structure();
        let lines = crate::core::diag::capture(|| {
            assert!(create_integer("test", 0).is_null());
            assert!(create_integer("test", 65).is_null());
            assert_eq!(add_field("test", obj(s), obj(s), c"self"), -1);
            assert_eq!(add_field("test", obj(t), obj(s), c"s"), 0);
            assert_eq!(add_field("test", obj(s), obj(t), c"t"), -1);
            assert_eq!(add_field("test", obj(t), obj(s), c"s"), -1);
            assert!(field_at("test", obj(t), 1, true).is_none());
            assert!(field_at("test", obj(t), -1, true).is_none());
        });
        assert_eq!(lines.len(), 7, "{lines:?}");
        assert!(lines[2].contains("contain itself"), "{lines:?}");
        assert!(lines[4].contains("already has a field named"), "{lines:?}");
        assert_eq!(obj(s).ref_count(), 2);
        assert_eq!(field_count(obj(s)), 0);
        assert_eq!(field_count(obj(t)), 1);
        put(s);
        put(t);
    }
}
