//! Graphviz picture of a Babeltrace object tree: nodes with their counts,
//! claiming aggregation edges from parent to child, and reverse component
//! edges from child to parent while the child's count is above zero.

use super::object::BtObject;
use crate::core::kind::Kind;
use std::ffi::CStr;
use std::fmt::Write;

fn label(o: &BtObject) -> String {
    let kind = o.kind();
    let name = match kind {
        Kind::CtfStreamClass | Kind::CtfEventClass => {
            let p = super::ctf_ir::name(o);
            if p.is_null() {
                " (anonymous)".to_string()
            } else {
                // SAFETY: a named kind's name is NUL-terminated, valid while
                // the object is.
                let n = unsafe { CStr::from_ptr(p) };
                format!(" {}", n.to_string_lossy())
            }
        }
        _ => String::new(),
    };
    let count = match o.ref_count() {
        c if c > crate::core::refcount::MAX => "saturated".to_string(),
        c => c.to_string(),
    };
    format!("{}{}\\ncount {}", kind.name(), name, count)
}

/// The tree containing `obj` (from its root), as a DOT digraph. The caller
/// holds a reference on `obj`, which keeps the whole tree alive.
pub fn tree(obj: &BtObject) -> String {
    super::object::with_stable_tree(|| draw(obj))
}

/// [`tree`], with the forest's shape frozen by the caller.
fn draw(obj: &BtObject) -> String {
    let mut root: &BtObject = obj;
    loop {
        let p = root.parent_ptr();
        if p.is_null() {
            break;
        }
        // SAFETY: ancestors of a held object are alive.
        root = unsafe { &*p };
    }
    let mut out = String::from("digraph bt {\n  node [shape=box, fontname=\"monospace\"];\n");
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        let id = n as *const BtObject as usize;
        let style = if n.ref_count() == 0 {
            ", style=dashed"
        } else {
            ""
        };
        let _ = writeln!(out, "  n{id:x} [label=\"{}\"{style}];", label(n));
        for c in n.children() {
            // SAFETY: children are alive while their parent is.
            let child = unsafe { c.0.as_ref() };
            let cid = child as *const BtObject as usize;
            let _ = writeln!(out, "  n{id:x} -> n{cid:x} [label=\"claims\"];");
            if child.ref_count() > 0 {
                let _ = writeln!(
                    out,
                    "  n{cid:x} -> n{id:x} [label=\"ref\", style=dashed, constraint=false];"
                );
            }
            stack.push(child);
        }
    }
    out.push_str("}\n");
    out
}
