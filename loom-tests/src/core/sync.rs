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

loom::lazy_static! {
    static ref GLOBAL_RWLOCK: loom::sync::RwLock<()> = loom::sync::RwLock::new(());
}

/// The library's `GlobalRwLock` as loom's `RwLock` (one per loom execution,
/// through loom's `lazy_static`). The library has one such lock, so every
/// value of this type stands for that one.
pub struct GlobalRwLock;

impl GlobalRwLock {
    pub const fn new() -> Self {
        GlobalRwLock
    }

    pub fn read(&self) -> impl Drop + '_ {
        GLOBAL_RWLOCK.read().unwrap()
    }

    pub fn write(&self) -> impl Drop + '_ {
        GLOBAL_RWLOCK.write().unwrap()
    }
}
