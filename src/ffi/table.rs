//! C functions of the tables that find objects of C kinds by key.
#![allow(non_camel_case_types)]

use super::object::{obj_arg, traceref_object};
use super::{ffi_guard, fn_arg, null_check};
use crate::core::diag::misuse;
use crate::core::kind::{Kind, TagCheck};
use crate::relay::cobject::{Added, CObject, CTable, Key};
use crate::relay::object::{self, RelayObject};
use libc::{c_char, c_int, c_void};
use std::ffi::CStr;

/// A table of objects of C kinds by key (uint64_t or string), read without
/// locks. It holds no references.
pub struct traceref_table {
    _private: [u8; 0],
}

/// Visitor of traceref_table_for_each(): return 0 to go on, non-zero to
/// stop. `obj` carries a reference valid during the call only (take one of
/// your own with traceref_object_get() to keep it). Called on the thread
/// that called traceref_table_for_each(), with no library lock held: it may
/// call any function of this library.
pub type traceref_table_visit_func =
    Option<unsafe extern "C" fn(obj: *mut traceref_object, data: *mut c_void) -> c_int>;

macro_rules! ctable_arg {
    ($func:expr, $p:expr, $default:expr) => {{
        null_check!($func, $p, $default);
        // SAFETY: non-null, and a pointer from this library (contract); the
        // tag is the first field.
        let t = unsafe { &*$p.cast::<CTable>() };
        match t.tag().check(Kind::CTable) {
            TagCheck::Ok(_) => t,
            other => {
                misuse!($func, "{:p} is not a live object table ({:?})", $p, other);
                return $default;
            }
        }
    }};
}

/// Create an empty table. Returns it, to be destroyed with
/// traceref_table_destroy(). Needs nothing; any thread.
#[no_mangle]
pub extern "C" fn traceref_table_create() -> *mut traceref_table {
    ffi_guard!("traceref_table_create", std::ptr::null_mut(), {
        CTable::create().cast()
    })
}

/// Destroy `table`: the objects still in it stay alive, out of it. Its
/// memory is freed after a grace period (lookups running meanwhile find
/// nothing). Returns 0, or -1 for NULL or a pointer that is not a live
/// table. The caller gives up `table`: no call may use it afterwards or
/// concurrently, and the calling thread must not be inside a read-side
/// section that found objects through it and uses them afterwards. Any
/// thread.
#[no_mangle]
pub extern "C" fn traceref_table_destroy(table: *mut traceref_table) -> c_int {
    ffi_guard!("traceref_table_destroy", -1, {
        ctable_arg!("traceref_table_destroy", table, -1);
        // SAFETY: a live table, given up by the caller.
        unsafe { CTable::destroy(table.cast()) };
        0
    })
}

fn add(func: &str, table: &CTable, key: Key, obj: *mut traceref_object) -> *mut traceref_object {
    let o = obj_arg!(func, obj, std::ptr::null_mut());
    if o.head().count() == 0 {
        misuse!(func, "{}: count is 0; not added", o.who());
        return std::ptr::null_mut();
    }
    match table.add_unique(func, key.clone(), o) {
        Added::Inserted => obj,
        Added::Existing(e) => e.cast(),
        Added::AlreadyIn => {
            misuse!(
                func,
                "{} is in this table already; not added under {}",
                o.who(),
                key
            );
            std::ptr::null_mut()
        }
    }
}

/// Add `obj` to `table` under `key`, unless a live object has that key.
/// Returns `obj` when it went in (no reference taken: the table holds
/// none); the object that has the key, with a new reference for the caller
/// (who puts it), leaving `obj` out; `obj` again, changing nothing and
/// taking no reference, when it is in the table under `key` already; or
/// NULL for NULL arguments, pointers of the wrong kind, an object at count
/// 0, or one that is in this table under another key. An object whose count
/// is 0 holding the key is replaced. Racing
/// adders of one key get one winner: the others get the winner. The caller
/// must hold a reference on `obj`; any thread.
#[no_mangle]
pub extern "C" fn traceref_table_add_unique(
    table: *mut traceref_table,
    key: u64,
    obj: *mut traceref_object,
) -> *mut traceref_object {
    ffi_guard!("traceref_table_add_unique", std::ptr::null_mut(), {
        const F: &str = "traceref_table_add_unique";
        let t = ctable_arg!(F, table, std::ptr::null_mut());
        add(F, t, Key::Id(key), obj)
    })
}

/// traceref_table_add_unique() with a string key (compared in full; the
/// table keeps its own copy). NULL `key` returns NULL. The caller must hold
/// a reference on `obj`; any thread.
#[no_mangle]
pub extern "C" fn traceref_table_add_unique_str(
    table: *mut traceref_table,
    key: *const c_char,
    obj: *mut traceref_object,
) -> *mut traceref_object {
    ffi_guard!("traceref_table_add_unique_str", std::ptr::null_mut(), {
        const F: &str = "traceref_table_add_unique_str";
        let t = ctable_arg!(F, table, std::ptr::null_mut());
        null_check!(F, key, std::ptr::null_mut());
        // SAFETY: a non-null key is NUL-terminated (contract).
        let k = unsafe { CStr::from_ptr(key) }.to_bytes().into();
        add(F, t, Key::Str(k), obj)
    })
}

/// The object with `key` in `table`, with a new reference for the caller
/// (who puts it); NULL when absent, when its count is 0, or for a bad
/// `table`. Never blocks. Needs nothing but a live `table`; any thread.
#[no_mangle]
pub extern "C" fn traceref_table_get(table: *mut traceref_table, key: u64) -> *mut traceref_object {
    ffi_guard!("traceref_table_get", std::ptr::null_mut(), {
        let t = ctable_arg!("traceref_table_get", table, std::ptr::null_mut());
        t.get("traceref_table_get", &Key::Id(key)).cast()
    })
}

/// traceref_table_get() with a string key (compared in full). NULL `key`
/// returns NULL. Needs nothing but a live `table`; any thread.
#[no_mangle]
pub extern "C" fn traceref_table_get_str(
    table: *mut traceref_table,
    key: *const c_char,
) -> *mut traceref_object {
    ffi_guard!("traceref_table_get_str", std::ptr::null_mut(), {
        const F: &str = "traceref_table_get_str";
        let t = ctable_arg!(F, table, std::ptr::null_mut());
        null_check!(F, key, std::ptr::null_mut());
        // SAFETY: a non-null key is NUL-terminated (contract).
        let k = unsafe { CStr::from_ptr(key) }.to_bytes().into();
        t.get(F, &Key::Str(k)).cast()
    })
}

/// Take `obj` out of `table` before its release (a closed object that is
/// still referenced, say). Takes and drops no reference. Returns 0, or -1
/// when `obj` is not in `table`, and for NULL or wrong pointers. The caller
/// must hold a reference on `obj`; any thread.
#[no_mangle]
pub extern "C" fn traceref_table_remove(
    table: *mut traceref_table,
    obj: *mut traceref_object,
) -> c_int {
    ffi_guard!("traceref_table_remove", -1, {
        const F: &str = "traceref_table_remove";
        let t = ctable_arg!(F, table, -1);
        let o = obj_arg!(F, obj, -1);
        if t.remove(o) {
            0
        } else {
            -1
        }
    })
}

/// Call `visit(obj, data)` on each live object of `table` (those whose count
/// is not 0 when the walk starts), each with a reference held during the
/// visit; stop at the first non-zero return. Returns the number of objects
/// visited, or -1 for NULL `table` or `visit`. Objects added during the walk
/// may be missed. Needs nothing but a live `table`; any thread, no lock held
/// by the library during the visits.
#[no_mangle]
pub extern "C" fn traceref_table_for_each(
    table: *mut traceref_table,
    visit: super::table::traceref_table_visit_func,
    data: *mut c_void,
) -> c_int {
    ffi_guard!("traceref_table_for_each", -1, {
        const F: &str = "traceref_table_for_each";
        let t = ctable_arg!(F, table, -1);
        let visit = fn_arg!(F, visit, -1);
        let all = t.snapshot(F);
        let mut n = 0;
        let mut stopped = false;
        for p in all {
            // SAFETY: the snapshot holds a reference on each.
            let o: &CObject = unsafe { p.get() };
            if !stopped {
                n += 1;
                // SAFETY: the visitor is the caller's; `o` is held.
                stopped = unsafe { visit(o as *const CObject as *mut traceref_object, data) } != 0;
            }
            // SAFETY: the reference the snapshot took.
            unsafe { object::put(F, o) };
        }
        n
    })
}
