//! Machinery shared by both models: the counter, object tags, the census,
//! diagnostics and deferred reclamation.

pub mod census;
#[macro_use]
pub mod diag;
pub mod kind;
pub mod refcount;
