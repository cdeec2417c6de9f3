//! The library's counter, table, keyed-table rule, membership and Babeltrace
//! object, compiled against loom.
//!
//! The module tree mirrors the library's (`crate::core::...`, `crate::bt::...`,
//! `crate::ffi::bt::bt_object`) so that the real source files, included with
//! `#[path]`, resolve their imports here. `core::sync` re-exports loom's
//! atomics where the library's re-exports std's; the census and the
//! diagnostics are stubs (a misuse report fails the model); everything else
//! is the library's own code.
//!
//! The models are in `tests/`.

#[cfg(not(crossbeam_loom))]
compile_error!(
    "the loom models need crossbeam-epoch's loom build: \
     RUSTFLAGS=\"--cfg loom --cfg crossbeam_loom\" cargo test --release"
);

pub mod bt;
pub mod core;

pub mod ffi {
    pub mod bt {
        /// Stand-in for the C-visible object head; the models never look
        /// inside it.
        #[allow(non_camel_case_types)]
        #[repr(C)]
        pub struct bt_object {
            _private: [u64; 8],
        }
    }
}

/// The counter's limits (crate-private in the library).
pub mod limits {
    use crate::core::refcount;

    pub const MAX: u32 = refcount::MAX;
    pub const SATURATED: u32 = refcount::SATURATED;
    pub const DEAD: u32 = refcount::DEAD;
}

/// Check `f` under loom, exploring every interleaving with at most
/// `preemption_bound` preemptions, and print how many executions that took.
pub fn model<F>(name: &str, preemption_bound: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let start = std::time::Instant::now();
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(preemption_bound);
    b.check(move || {
        counted.fetch_add(1, Ordering::Relaxed);
        f()
    });
    eprintln!(
        "loom model {name}: {} executions, preemption bound {preemption_bound}, {:.2?}",
        runs.load(Ordering::Relaxed),
        start.elapsed()
    );
}
