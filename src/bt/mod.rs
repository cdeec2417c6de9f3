//! The Babeltrace object model: parent/child reference counting in which
//! holding any node keeps the whole reachable graph alive, and only a root
//! reaching zero destroys, children first.

pub mod ctf_ir;
pub mod dot;
pub mod field_type;
pub mod object;
