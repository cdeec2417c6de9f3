//! Two concurrent maps from crates.io (scc's `HashIndex`, papaya's
//! `HashMap`) behind the C functions of `bench/rust_maps.h`, used as the
//! library uses its own u64 table: a map from a u64 id to a pointer to an
//! object allocated by C, each lookup inside the map's own guard (the
//! library's epoch pin), then a get-unless-zero on the object's count, then
//! a put.
//!
//! The object's count is the first 32-bit word of the object (C's
//! `struct map_obj`), with the library's scheme (`LookupCount` in the
//! library's src/core/refcount.rs): a get is one `fetch_add`, a put a
//! compare-and-swap loop that releases in one step at the last reference.

use std::ffi::c_void;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{fence, AtomicU32, Ordering};

/// The library's own hasher (src/core/hash.rs, included as is), so the
/// maps do not pay for SipHash where the library does not.
#[path = "../../../src/core/hash.rs"]
#[allow(dead_code)]
mod hash;

type Build = BuildHasherDefault<hash::FastHasher>;

/// Counts from this value up are refused (released, or saturated).
const MAXREF: u32 = 0x7fff_ffff;

/// The count at the start of `obj` (C keeps it 4-byte aligned there).
#[inline(always)]
unsafe fn count<'a>(obj: *mut c_void) -> &'a AtomicU32 {
    // SAFETY: the caller passes a live `struct map_obj`.
    unsafe { &*(obj as *const AtomicU32) }
}

/// Take a reference unless the count is zero (`urcu_ref_get_unless_zero`
/// with the library's single `fetch_add`).
#[inline(always)]
unsafe fn get_unless_zero(obj: *mut c_void) -> bool {
    // SAFETY: per the caller.
    let c = unsafe { count(obj) };
    let old = c.fetch_add(1, Ordering::Acquire);
    if old != 0 && old < MAXREF {
        return true;
    }
    c.fetch_sub(1, Ordering::Relaxed);
    false
}

/// Drop a reference; 1 when it was the last (the caller then releases).
///
/// # Safety
/// `obj` is a live `struct map_obj` on which the caller holds a reference.
#[no_mangle]
pub unsafe extern "C" fn rm_obj_put(obj: *mut c_void) -> i32 {
    // SAFETY: per the contract.
    let c = unsafe { count(obj) };
    let mut cur = c.load(Ordering::Relaxed);
    loop {
        if cur == 0 || cur >= MAXREF {
            return -1;
        }
        let new = if cur == 1 { MAXREF } else { cur - 1 };
        match c.compare_exchange_weak(cur, new, Ordering::Release, Ordering::Relaxed) {
            Ok(_) if cur == 1 => {
                fence(Ordering::Acquire);
                return 1;
            }
            Ok(_) => return 0,
            Err(now) => cur = now,
        }
    }
}

/// A pointer that the maps may share between threads.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Obj(*mut c_void);
// SAFETY: the objects are C's, shared by the benchmark's threads under its
// own rules; the maps only store and return the pointer.
unsafe impl Send for Obj {}
unsafe impl Sync for Obj {}

// ---- scc::HashIndex --------------------------------------------------------

pub struct SccMap(scc::HashIndex<u64, Obj, Build>);

/// A map sized for `capacity` entries (0: the map's default).
#[no_mangle]
pub extern "C" fn rm_scc_create(capacity: usize) -> *mut SccMap {
    Box::into_raw(Box::new(SccMap(scc::HashIndex::with_capacity_and_hasher(
        capacity,
        Build::default(),
    ))))
}

/// Add `obj` under `key`: 0, or -1 when the key is present.
///
/// # Safety
/// `m` comes from `rm_scc_create` and is not destroyed.
#[no_mangle]
pub unsafe extern "C" fn rm_scc_insert(m: *mut SccMap, key: u64, obj: *mut c_void) -> i32 {
    // SAFETY: per the contract.
    let m = unsafe { &*m };
    match m.0.insert_sync(key, Obj(obj)) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

/// The object under `key` with a reference taken, or NULL.
///
/// # Safety
/// As `rm_scc_insert`; the objects in the map are live.
#[no_mangle]
pub unsafe extern "C" fn rm_scc_get(m: *mut SccMap, key: u64) -> *mut c_void {
    // SAFETY: per the contract.
    let m = unsafe { &*m };
    let guard = scc::Guard::new();
    match m.0.peek(&key, &guard) {
        // SAFETY: objects stay allocated while they are in the map.
        Some(o) if unsafe { get_unless_zero(o.0) } => o.0,
        _ => std::ptr::null_mut(),
    }
}

/// Remove `key`: 0, or -1 when absent.
///
/// # Safety
/// As `rm_scc_insert`.
#[no_mangle]
pub unsafe extern "C" fn rm_scc_remove(m: *mut SccMap, key: u64) -> i32 {
    // SAFETY: per the contract.
    let m = unsafe { &*m };
    if m.0.remove_sync(&key) {
        0
    } else {
        -1
    }
}

/// Free the map (not the objects).
///
/// # Safety
/// As `rm_scc_insert`; no other thread uses the map.
#[no_mangle]
pub unsafe extern "C" fn rm_scc_destroy(m: *mut SccMap) {
    // SAFETY: per the contract.
    drop(unsafe { Box::from_raw(m) });
}

// ---- papaya::HashMap -------------------------------------------------------

pub struct PapayaMap(papaya::HashMap<u64, Obj, Build>);

/// A map sized for `capacity` entries (0: the map's default).
#[no_mangle]
pub extern "C" fn rm_papaya_create(capacity: usize) -> *mut PapayaMap {
    Box::into_raw(Box::new(PapayaMap(papaya::HashMap::with_capacity_and_hasher(
        capacity,
        Build::default(),
    ))))
}

/// Add `obj` under `key`: 0, or -1 when the key is present.
///
/// # Safety
/// `m` comes from `rm_papaya_create` and is not destroyed.
#[no_mangle]
pub unsafe extern "C" fn rm_papaya_insert(m: *mut PapayaMap, key: u64, obj: *mut c_void) -> i32 {
    // SAFETY: per the contract.
    let m = unsafe { &*m };
    let guard = m.0.guard();
    match m.0.try_insert(key, Obj(obj), &guard) {
        Ok(_) => 0,
        Err(_) => -1,
    }
}

/// The object under `key` with a reference taken, or NULL.
///
/// # Safety
/// As `rm_papaya_insert`; the objects in the map are live.
#[no_mangle]
pub unsafe extern "C" fn rm_papaya_get(m: *mut PapayaMap, key: u64) -> *mut c_void {
    // SAFETY: per the contract.
    let m = unsafe { &*m };
    let guard = m.0.guard();
    match m.0.get(&key, &guard) {
        // SAFETY: objects stay allocated while they are in the map.
        Some(o) if unsafe { get_unless_zero(o.0) } => o.0,
        _ => std::ptr::null_mut(),
    }
}

/// Remove `key`: 0, or -1 when absent.
///
/// # Safety
/// As `rm_papaya_insert`.
#[no_mangle]
pub unsafe extern "C" fn rm_papaya_remove(m: *mut PapayaMap, key: u64) -> i32 {
    // SAFETY: per the contract.
    let m = unsafe { &*m };
    let guard = m.0.guard();
    match m.0.remove(&key, &guard) {
        Some(_) => 0,
        None => -1,
    }
}

/// Free the map (not the objects).
///
/// # Safety
/// As `rm_papaya_insert`; no other thread uses the map.
#[no_mangle]
pub unsafe extern "C" fn rm_papaya_destroy(m: *mut PapayaMap) {
    // SAFETY: per the contract.
    drop(unsafe { Box::from_raw(m) });
}
