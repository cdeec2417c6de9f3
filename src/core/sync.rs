//! The atomics of the counter, the table and the Babeltrace object, imported
//! from one place so that the loom models (`loom-tests/`) can compile those
//! same files against loom's atomics: their version of this module re-exports
//! `loom::sync::atomic` instead.

pub use std::sync::atomic::{fence, AtomicPtr, AtomicU32, AtomicU64, Ordering};

/// Defines a `const fn`. The loom models' version of this macro defines a
/// plain `fn`: loom's atomics and crossbeam-epoch under loom have no `const`
/// constructors.
macro_rules! const_fn {
    ($(#[$attr:meta])* $vis:vis fn $($rest:tt)*) => {
        $(#[$attr])* $vis const fn $($rest)*
    };
}

pub(crate) use const_fn;

/// A process-wide reader-writer lock for a `static` (the Babeltrace forest's
/// shape lock). The loom models' version is loom's `RwLock`, so that the
/// models explore the interleavings around it.
pub struct GlobalRwLock(parking_lot::RwLock<()>);

impl Default for GlobalRwLock {
    fn default() -> Self {
        Self::new()
    }
}

impl GlobalRwLock {
    pub const fn new() -> Self {
        GlobalRwLock(parking_lot::const_rwlock(()))
    }

    #[inline]
    pub fn read(&self) -> impl Drop + '_ {
        self.0.read()
    }

    #[inline]
    pub fn write(&self) -> impl Drop + '_ {
        self.0.write()
    }
}
