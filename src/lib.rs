//! # traceref
//!
//! Tracing programs written in C carry their own reference counting, and its
//! bugs: counts that wrap, parents freed before their children, objects freed
//! while a reader still walks a table. This library gives them two proven
//! object-lifetime models, thread-safe, behind a C ABI:
//!
//! * [`bt`]: Babeltrace's parent/child model. Children hold a reference on
//!   their parent only while their own count is above zero; only a root
//!   reaching zero destroys, children first. Holding any node keeps the whole
//!   reachable graph alive.
//! * [`relay`]: the LTTng relay daemon's model. Objects are found by id in
//!   global tables read without locks; a getter refuses an object whose count
//!   is already zero; children hold references on their containers; memory
//!   is reclaimed after a grace period.
//!
//! The pieces: [`core`] holds what both models share (the counter, object
//! tags, the census, diagnostics); [`ffi`] is the C boundary, where every
//! exported function lives behind one panic guard.

pub mod bt;
pub mod core;
pub mod ffi;
pub mod relay;
