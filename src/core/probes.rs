//! Static probes (USDT / SystemTap SDT), provider `traceref`.
//! Placeholder: every probe is a no-op for now.

use super::kind::Kind;

#[inline(always)]
pub fn get(_obj: *const (), _kind: impl FnOnce() -> Kind, _id: impl FnOnce() -> u64, _count: u32) {}
#[inline(always)]
pub fn put(_obj: *const (), _kind: impl FnOnce() -> Kind, _id: impl FnOnce() -> u64, _count: u32) {}
#[inline(always)]
pub fn release(_obj: *const (), _kind: impl FnOnce() -> Kind, _id: impl FnOnce() -> u64) {}
#[inline(always)]
pub fn get_refused(_obj: *const (), _kind: impl FnOnce() -> Kind, _id: impl FnOnce() -> u64) {}
#[inline(always)]
pub fn free(_obj: *const (), _kind: Kind) {}
#[inline(always)]
pub fn misuse(_func: &str, _what: &std::fmt::Arguments<'_>) {}
#[inline(always)]
pub fn lock_order(_taking: *const (), _held: *const ()) {}
