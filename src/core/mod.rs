//! Machinery shared by both models: the counter, object tags, the census,
//! diagnostics, membership of objects in containers and deferred
//! reclamation.

pub mod census;
pub mod hash;
#[macro_use]
pub mod diag;
pub mod hooks;
pub mod keyed;
pub mod kind;
pub mod live;
pub mod member;
pub mod probes;
pub mod reclaim;
pub mod refcount;
pub mod sync;
pub mod table;
pub mod track;
