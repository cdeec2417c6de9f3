//! A mutex that C kinds embed, with the run-time lock-order check of the
//! relay locks: each has a nesting level, and a thread that takes a mutex
//! at or above the level of one it holds gets one line naming both.
#![allow(non_camel_case_types)]

use super::{ffi_guard, null_check};
use crate::core::diag::misuse;
use crate::core::kind::{Kind, Tag, TagCheck};
use crate::relay::lock::{Level, Locked, ObjLock, Who};
use libc::{c_char, c_int, c_void};

/// A mutex with a nesting level, to embed anywhere in your struct (fixed
/// size; its contents are the library's). Initialise it with
/// traceref_mutex_init(), destroy it with traceref_mutex_destroy().
#[repr(C)]
pub struct traceref_mutex {
    _opaque: [u64; 4],
}

/// Level of the relay session locks, for traceref_mutex_init(): lower
/// levels are taken first (outer), higher ones inside.
pub const TRACEREF_LEVEL_SESSION: u32 = 1000;
/// Level of the relay ctf-trace locks.
pub const TRACEREF_LEVEL_CTF_TRACE: u32 = 2000;
/// Level of the relay stream locks.
pub const TRACEREF_LEVEL_STREAM: u32 = 3000;
const _: () = assert!(TRACEREF_LEVEL_SESSION == Level::Session.0);
const _: () = assert!(TRACEREF_LEVEL_CTF_TRACE == Level::Trace.0);
const _: () = assert!(TRACEREF_LEVEL_STREAM == Level::Stream.0);

#[repr(C)]
struct CMutex {
    tag: Tag,
    level: u32,
    name: *const c_char,
    lock: ObjLock,
}

const _: () = assert!(std::mem::size_of::<CMutex>() <= std::mem::size_of::<traceref_mutex>());
const _: () = assert!(std::mem::align_of::<CMutex>() <= std::mem::align_of::<traceref_mutex>());

impl CMutex {
    fn who(&self) -> Who {
        Who::Named(self.name)
    }
}

macro_rules! mutex_arg {
    ($func:expr, $p:expr, $default:expr) => {{
        null_check!($func, $p, $default);
        // SAFETY: a non-null mutex pointer is, by the documented contract, a
        // `struct traceref_mutex` (initialised or zeroed): its tag word is
        // readable.
        let m = unsafe { &*$p.cast::<CMutex>() };
        match m.tag.check(Kind::CMutex) {
            TagCheck::Ok(_) => m,
            _ => {
                misuse!(
                    $func,
                    "{:p} is not an initialised mutex",
                    $p.cast::<c_void>()
                );
                return $default;
            }
        }
    }};
}

/// Initialise `mutex`, unlocked, with a `name` for the messages (a string
/// that outlives the mutex; may be NULL) and its nesting `level`: a thread
/// may take it while holding only mutexes or relay locks of lower levels
/// (the relay locks are at TRACEREF_LEVEL_SESSION, TRACEREF_LEVEL_CTF_TRACE
/// and TRACEREF_LEVEL_STREAM). The memory need not be zeroed. Returns 0, or
/// -1 for NULL `mutex`. The caller must own the memory of `mutex` and not
/// have shared it yet; any thread.
#[no_mangle]
pub extern "C" fn traceref_mutex_init(
    mutex: *mut traceref_mutex,
    name: *const c_char,
    level: u32,
) -> c_int {
    ffi_guard!("traceref_mutex_init", -1, {
        null_check!("traceref_mutex_init", mutex, -1);
        // SAFETY: writable, aligned memory of the mutex's size (contract).
        unsafe {
            mutex.cast::<CMutex>().write(CMutex {
                tag: Tag::new(Kind::CMutex),
                level,
                name,
                lock: ObjLock::new(),
            })
        };
        0
    })
}

/// Take `mutex`, waiting for it. Returns 0; 1 when taken out of order
/// (reported with both locks named: this thread holds a mutex or relay lock
/// of the same or a higher level); -1, not taken, for NULL, an uninitialised
/// mutex, or one this thread holds already (reported). The caller must hold
/// whatever keeps the struct embedding `mutex` alive (a reference); any
/// thread.
#[no_mangle]
pub extern "C" fn traceref_mutex_lock(mutex: *mut traceref_mutex) -> c_int {
    ffi_guard!("traceref_mutex_lock", -1, {
        const F: &str = "traceref_mutex_lock";
        let m = mutex_arg!(F, mutex, -1);
        match m.lock.lock_as(F, Level(m.level), m.who()) {
            Locked::Ok => 0,
            Locked::OutOfOrder => 1,
            Locked::Recursive => -1,
        }
    })
}

/// Release `mutex`. Returns 0, or -1 for NULL, an uninitialised mutex, or
/// one this thread does not hold (reported, nothing released). The caller
/// must hold the mutex (taken by this thread); any thread that does.
#[no_mangle]
pub extern "C" fn traceref_mutex_unlock(mutex: *mut traceref_mutex) -> c_int {
    ffi_guard!("traceref_mutex_unlock", -1, {
        const F: &str = "traceref_mutex_unlock";
        let m = mutex_arg!(F, mutex, -1);
        if m.lock.unlock_as(F, m.who()) {
            0
        } else {
            -1
        }
    })
}

/// Destroy `mutex` (before freeing its memory): later calls on it are
/// refused. Returns 0, or -1 for NULL, an uninitialised mutex, or one
/// that a thread holds (reported, nothing done). The caller gives up the
/// mutex: no other thread may use it any more; any thread.
#[no_mangle]
pub extern "C" fn traceref_mutex_destroy(mutex: *mut traceref_mutex) -> c_int {
    ffi_guard!("traceref_mutex_destroy", -1, {
        const F: &str = "traceref_mutex_destroy";
        let m = mutex_arg!(F, mutex, -1);
        if m.lock.is_locked() {
            misuse!(F, "{} is held; not destroyed", m.who());
            return -1;
        }
        m.tag.mark_reclaimed();
        0
    })
}
