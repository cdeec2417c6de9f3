//! The census, reduced to no-ops: it counts objects in statics that would
//! outlive each loom execution, and the models check lifetimes themselves.

use super::kind::Kind;

pub type Describe = unsafe fn(*const ()) -> String;

#[inline]
pub fn register(_kind: Kind, _obj: *const (), _describe: Describe) {}

#[inline]
pub fn unregister(_kind: Kind, _obj: *const ()) {}
