//! The library's `core::sync`, with loom's atomics instead of std's.

pub use loom::sync::atomic::{fence, AtomicPtr, AtomicU32, AtomicU64, Ordering};

/// A plain `fn`: loom's atomics and crossbeam-epoch under loom have no `const`
/// constructors. (The library's version defines a `const fn`.)
macro_rules! const_fn {
    ($(#[$attr:meta])* $vis:vis fn $($rest:tt)*) => {
        $(#[$attr])* $vis fn $($rest)*
    };
}

pub(crate) use const_fn;
