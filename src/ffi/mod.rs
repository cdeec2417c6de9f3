//! The C boundary: panic containment and pointer conversion. Every exported
//! function lives in this folder and goes through [`ffi_guard!`], so no panic
//! unwinds into C and every argument check is written at the function itself.

// The exported functions take raw pointers from C by design and cannot be
// `unsafe` to call from C's point of view; each documents what the caller
// must guarantee, and checks what it can (NULL, tag). Argument macros
// return `()` from functions that return nothing.
#![allow(clippy::not_unsafe_ptr_arg_deref, clippy::unused_unit)]

pub mod bt;
pub mod dot;
pub mod mutex;
pub mod object;
pub mod relay;
pub mod table;

#[cfg(test)]
mod misuse_tests;

/// Run `body`, turning a panic into `$default` after one diagnostic line.
///
/// Used by every exported function: `ffi_guard!("name", default, { body })`.
macro_rules! ffi_guard {
    ($func:expr, $default:expr, $body:block) => {{
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(v) => v,
            Err(_) => {
                $crate::core::diag::misuse!($func, "internal error (panic contained)");
                $default
            }
        }
    }};
}
pub(crate) use ffi_guard;

/// Return `$default` from the enclosing function when `$ptr` is NULL,
/// reporting the argument by name when `$report` is true.
macro_rules! null_check {
    ($func:expr, $ptr:expr, $default:expr) => {
        if $ptr.is_null() {
            $crate::core::diag::misuse!($func, "{} is NULL", stringify!($ptr));
            return $default;
        }
    };
}
pub(crate) use null_check;
