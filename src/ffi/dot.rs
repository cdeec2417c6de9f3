//! C function drawing either model as a Graphviz digraph.

use super::ffi_guard;
use crate::bt::object::BtObject;
use crate::core::diag::misuse;
use crate::core::kind::{Kind, Tag, TagCheck};
use crate::relay::connection::ConnectionTable;
use libc::{c_int, c_void};

/// Write a Graphviz (DOT) picture to file descriptor `fd`.
///
/// With a Babeltrace object (any node of a tree; the caller must hold a
/// reference on it, or on an object from which it is reachable): the whole
/// tree from its root, each node with its count, "claims" edges from parent
/// to child, and dashed "ref" edges from child to parent while the child's
/// count is above 0. The tree's shape is frozen while it draws: links made
/// by other threads wait until the picture is taken. Its counts are read one
/// by one while other threads may get and put: each was true at some moment
/// of the drawing, not all at the same one.
///
/// With NULL or a relay connection table: the relay registry (sessions,
/// ctf-traces, streams with their published and closed state, indexes,
/// viewer streams, and the table's connections if given), each with its id
/// and count, and an edge from each object to what it holds a reference on.
/// Objects whose count is 0 are left out. This is not a snapshot: the
/// registry is walked while other threads go on creating, closing and
/// putting, so an object created or released meanwhile may be drawn or
/// not, and counts may move. Each object drawn is held by a reference of
/// the dump while it draws (left out of the count shown); when the dump's
/// put of it is the last one, the object is released there. A connection
/// table that another thread may be destroying follows the rule of
/// relay_connection_table_destroy().
///
/// With a table of objects of C kinds (`struct traceref_table`): its live
/// objects, each with its kind, key and count, and dashed "ref" edges from
/// each object to its container, up the chain. With an object of a C kind
/// (`struct traceref_object`, held by the caller): that object and its
/// containers. The same rules as for the relay registry apply (not a
/// snapshot; each object drawn is held by the dump while it draws).
///
/// Any thread; it takes no relay lock, so it may be called holding any, and
/// inside a read-side section; not from a release function of the tree it
/// would draw, nor from a payload destructor. The picture is built in
/// memory, then written with no library lock held (a write may block on
/// `fd`). Returns 0, or -1 when `obj` is of another kind or writing fails
/// (part of the picture may have been written).
#[no_mangle]
pub extern "C" fn traceref_dump_dot(obj: *const c_void, fd: c_int) -> c_int {
    ffi_guard!("traceref_dump_dot", -1, {
        const F: &str = "traceref_dump_dot";
        let text = if obj.is_null() {
            crate::relay::dot::registry(None)
        } else {
            // SAFETY: a pointer from this library (contract): every library
            // object starts with its tag.
            let tag = unsafe { &*obj.cast::<Tag>() };
            match tag.read() {
                TagCheck::Ok(k) if k.is_bt() => {
                    // SAFETY: the tag says this is a live object of the model.
                    crate::bt::dot::tree(unsafe { &*obj.cast::<BtObject>() })
                }
                TagCheck::Ok(Kind::RelayConnectionTable) => {
                    // SAFETY: the tag says this is a live connection table.
                    crate::relay::dot::registry(Some(unsafe { &*obj.cast::<ConnectionTable>() }))
                }
                TagCheck::Ok(Kind::CTable) => {
                    // SAFETY: the tag says this is a live table of C objects.
                    let t = unsafe { &*obj.cast::<crate::relay::cobject::CTable>() };
                    crate::relay::cobject::dot(Some(t), None)
                }
                TagCheck::Ok(Kind::CObject) => {
                    // SAFETY: the tag says this is an object of a C kind.
                    let o = unsafe { &*obj.cast::<crate::relay::cobject::CObject>() };
                    crate::relay::cobject::dot(None, Some(o))
                }
                other => {
                    misuse!(F, "{:p} cannot be drawn ({:?})", obj, other);
                    return -1;
                }
            }
        };
        super::write_fd(F, fd, text.as_bytes())
    })
}
