//! The probes and reference tracking, reduced to no-ops: they observe the
//! engines without changing what they do.

use super::kind::Kind;

#[inline]
pub fn got(_obj: *const (), _kind: impl FnOnce() -> Kind, _id: impl FnOnce() -> u64, _count: u32) {}

#[inline]
pub fn dropped(_obj: *const (), _kind: impl FnOnce() -> Kind, _id: impl FnOnce() -> u64, _count: u32) {}

macro_rules! watch {
    ($obj:expr, $get:expr, $log:expr) => {
        if false {
            let _ = ($obj, $get);
            let _ = || $log;
        }
    };
}
pub(crate) use watch;

#[inline]
pub fn released(_obj: *const (), _kind: impl FnOnce() -> Kind, _id: impl FnOnce() -> u64) {}

#[inline]
pub fn refused(_obj: *const (), _kind: impl FnOnce() -> Kind, _id: impl FnOnce() -> u64) {}
