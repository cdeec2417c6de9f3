//! The library's `core`: the real counter, tags, table, keyed-table rule and
//! membership; loom's atomics in `sync`; stubs for the census, the
//! diagnostics and the hooks (probes, tracking).

pub mod census;
#[macro_use]
pub mod diag;
pub mod hooks;
#[path = "../../../src/core/keyed.rs"]
pub mod keyed;
#[path = "../../../src/core/kind.rs"]
pub mod kind;
#[path = "../../../src/core/live.rs"]
pub mod live;
#[path = "../../../src/core/member.rs"]
pub mod member;
#[path = "../../../src/core/refcount.rs"]
pub mod refcount;
pub mod sync;
#[path = "../../../src/core/table.rs"]
pub mod table;
pub mod track;
