//! Graphviz picture of the relay registry: connections, sessions, traces,
//! streams, indexes and viewer streams, with counts and state. Edges go from
//! each object to what it holds a reference on (or owns).

use super::connection::ConnectionTable;
use super::object::{self, RelayObject};
use super::session::Session;
use super::stream::Stream;
use super::trace::CtfTrace;
use super::viewer::ViewerStream;
use super::{Ptr, SESSIONS, VIEWER_STREAMS};
use crate::core::hash::FastSet;
use std::fmt::Write;

const F: &str = "traceref_dump_dot";

/// A node; every object drawn is held by the dump itself while it is drawn,
/// so that reference is left out of the count shown.
fn node<T: RelayObject>(out: &mut String, o: &T, extra: &str) {
    let _ = writeln!(
        out,
        "  {} [label=\"{} {}\\ncount {}{}\"];",
        key(o),
        T::KIND.name(),
        o.id(),
        o.head().count().saturating_sub(1),
        extra
    );
}

fn key<T>(o: &T) -> String {
    format!("n{:x}", o as *const T as usize)
}

fn edge<A, B>(out: &mut String, from: &A, to: &B, label: &str) {
    let _ = writeln!(out, "  {} -> {} [label=\"{label}\"];", key(from), key(to));
}

/// Take references on everything reachable, describe it, then put them.
pub fn registry(table: Option<&ConnectionTable>) -> String {
    let mut out = String::from(
        "digraph relay {\n  rankdir=BT;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    let held_sessions: Vec<Ptr<Session>> = super::table_snapshot(F, &SESSIONS);
    let held_vstreams: Vec<Ptr<ViewerStream>> = super::table_snapshot(F, &VIEWER_STREAMS);
    let conns = table.map_or_else(Vec::new, |t| super::table_snapshot(F, &t.table));
    let mut held_streams: Vec<Ptr<Stream>> = Vec::new();
    let mut seen_streams: FastSet<Ptr<Stream>> = FastSet::default();
    for s in &held_sessions {
        // SAFETY: a reference was taken above.
        let session = unsafe { s.get() };
        let state = if session.is_closed() { "\\nclosed" } else { "" };
        node(
            &mut out,
            session,
            &format!("\\n{}{}", session.name.to_string_lossy(), state),
        );
        let traces = super::snapshot(F, session.traces.lock().values());
        for t in traces {
            // SAFETY: `snapshot` took a reference.
            let trace = unsafe { t.get() };
            node(
                &mut out,
                trace,
                &format!("\\n{}", trace.path.to_string_lossy()),
            );
            edge(&mut out, trace, session, "ref");
            // SAFETY: the reference taken by `snapshot`.
            unsafe { object::put(F, trace) };
        }
        for st in session.streams_snapshot(F) {
            seen_streams.insert(st);
            held_streams.push(st);
        }
    }
    for v in &held_vstreams {
        // SAFETY: a reference was taken above; the viewer stream holds its
        // stream.
        let st = unsafe { v.get() }.stream;
        if seen_streams.insert(st) && object::get(F, unsafe { st.get() }) {
            held_streams.push(st);
        }
    }
    for st in &held_streams {
        // SAFETY: a reference was taken above.
        let stream = unsafe { st.get() };
        let mut state = String::new();
        if stream.is_published() {
            state.push_str("\\npublished");
        }
        if stream.is_closed() {
            state.push_str("\\nclosed");
        }
        node(&mut out, stream, &state);
        // SAFETY: the stream holds its trace.
        let trace: &CtfTrace = unsafe { stream.trace.get() };
        edge(&mut out, stream, trace, "ref");
        let indexes = super::snapshot(F, stream.indexes.lock().values());
        for i in indexes {
            // SAFETY: `snapshot` took a reference.
            let idx = unsafe { i.get() };
            node(&mut out, idx, "");
            edge(&mut out, idx, stream, "ref");
            // SAFETY: the reference taken by `snapshot`.
            unsafe { object::put(F, idx) };
        }
    }
    for v in &held_vstreams {
        // SAFETY: a reference was taken above.
        let vs = unsafe { v.get() };
        node(&mut out, vs, "");
        // SAFETY: the viewer stream holds its stream.
        edge(&mut out, vs, unsafe { vs.stream.get() }, "ref");
    }
    for c in &conns {
        // SAFETY: a reference was taken above.
        let conn = unsafe { c.get() };
        node(&mut out, conn, &format!("\\ntype {}", conn.ctype));
        // SAFETY: the connection holds a reference on its session.
        if let Some(s) = unsafe { conn.session_ptr().as_ref() } {
            edge(&mut out, conn, s, "owns");
        }
    }
    out.push_str("}\n");
    // SAFETY: every reference taken above is put exactly once.
    unsafe {
        for c in conns {
            object::put(F, c.get());
        }
        for v in held_vstreams {
            object::put(F, v.get());
        }
        for s in held_streams {
            object::put(F, s.get());
        }
        for s in held_sessions {
            object::put(F, s.get());
        }
    }
    out
}
